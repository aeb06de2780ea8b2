"""Plotly figures for everything the dashboard draws, so a notebook gets the same charts.

Every builder returns a ``plotly.graph_objects.Figure`` and takes the plain outputs of
:mod:`recengine.diagnostics`, :mod:`recengine.eval` and the training history. Empty inputs give a figure
that says what is missing instead of raising. Colours come from one colour-blind-safe palette (Okabe-Ito),
and no chart relies on colour alone: series also differ in pattern or marker and carry text labels.
"""

from __future__ import annotations

import math
import textwrap
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recengine.errors import InputError
from recengine.eval.compare import summarize_grid
from recengine.eval.evaluate import SLICE_UNITS, selected_on
from recengine.eval.metrics import METRIC_LABELS, METRICS

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "grey": "#7F7F7F",
}
SERIES = tuple(PALETTE.values())
CLICK, NON_CLICK = PALETTE["vermillion"], PALETTE["blue"]
MODEL, RANDOM, ORACLE = PALETTE["blue"], PALETTE["grey"], PALETTE["green"]
PATTERNS = ("", "/", ".", "x", "\\", "+", "-", "|")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "triangle-down")
TEMPLATE = "plotly_white"
SLICE_LABELS = {"overall": "overall", **{s.name: s.label for s in SLICE_UNITS}}


def _style(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, legend_title_text="", margin=dict(t=70, l=60, r=30, b=50))
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure with no data and ``message`` in the middle: what a chart shows before there is anything to draw."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=15))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if _is_missing(value) else f"{value:.{digits}f}"


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def _metric(block: Mapping | None, metric: str) -> float | None:
    """One metric of an evaluation block; None where the block (e.g. the oracle without truth) is absent."""
    return None if not block else block.get(metric)


# ---------------------------------------------------------------------------------------- logits


def _class_histogram(report: dict | None, kind: str, title: str, x_title: str, normalize: bool) -> go.Figure:
    if not report or report["clicks"] + report["non_clicks"] == 0:
        return empty_figure(title, "No labelled predictions to show yet.")
    hist = report["histograms"][kind]
    edges = np.asarray(hist["edges"], dtype=float)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig = go.Figure()
    classes = (("non_clicks", "non-clicks", NON_CLICK, ""), ("clicks", "clicks", CLICK, "/"))
    for key, label, colour, pattern in classes:
        counts = np.asarray(hist[key], dtype=float)
        total = counts.sum()
        y = counts / total if normalize and total else counts
        fig.add_trace(go.Bar(
            x=centres, y=y, width=widths, name=f"{label} (n={int(total):,})", customdata=counts,
            marker=dict(color=colour, pattern=dict(shape=pattern), line=dict(width=0)), opacity=0.65,
            hovertemplate=f"{label}<br>bin %{{x:.3g}}<br>%{{customdata:,.0f}} candidates<extra></extra>",
        ))
    fig.update_layout(barmode="overlay", bargap=0)
    return _style(fig, title, x_title, "share of the class" if normalize else "candidates")


def logit_histogram(report: dict | None, *, normalize: bool = True) -> go.Figure:
    """Logits of clicks and non-clicks overlaid (bars per bin of a :func:`~recengine.diagnostics.logit_report`),
    with the logits where the sigmoid saturates (< 0.01, > 0.99) marked. ``normalize``: each class sums to 1."""
    title = "Logits"
    if report and report["candidates"]:
        title += f": {_percent(report['saturated_share'])} saturated"
    fig = _class_histogram(report, "logits", title, "logit", normalize)
    if fig.data:
        t = report["thresholds"]
        fig.add_vline(x=t["logit_low"], line_dash="dash", line_color=PALETTE["grey"],
                      annotation_text="sigmoid < 0.01", annotation_position="top left")
        fig.add_vline(x=t["logit_high"], line_dash="dash", line_color=PALETTE["grey"],
                      annotation_text="sigmoid > 0.99", annotation_position="top right")
    return fig


def sigmoid_histogram(report: dict | None, *, normalize: bool = True) -> go.Figure:
    """Sigmoid outputs of clicks and non-clicks overlaid, saturation thresholds marked; the title gives the
    share pinned at exactly 0.0 or 1.0 in float32 (where no gradient flows)."""
    title = "Sigmoid outputs"
    if report and report["candidates"]:
        title += f": {_percent(report['pinned_share'])} pinned at exactly 0 or 1"
    fig = _class_histogram(report, "sigmoid", title, "sigmoid(logit)", normalize)
    if fig.data:
        t = report["thresholds"]
        fig.add_vline(x=t["sigmoid_low"], line_dash="dash", line_color=PALETTE["grey"],
                      annotation_text=f"< {t['sigmoid_low']}: {_percent(report['saturated_low_share'])}",
                      annotation_position="top right")
        fig.add_vline(x=t["sigmoid_high"], line_dash="dash", line_color=PALETTE["grey"],
                      annotation_text=f"> {t['sigmoid_high']}: {_percent(report['saturated_high_share'])}",
                      annotation_position="top left")
        fig.update_xaxes(range=[0, 1])
    return fig


# ---------------------------------------------------------------------------------------- training


def gradient_norms_chart(frame: pd.DataFrame | None) -> go.Figure:
    """Mean gradient norm per module over epochs (an epoch x module frame from
    :func:`~recengine.diagnostics.gradient_norms`), log scale; modules whose gradient is zero are named."""
    title = "Gradient norm by module"
    if frame is None or frame.empty or frame.notna().sum().sum() == 0:
        return empty_figure(title, "No gradient norms recorded yet (they appear after the first epoch).")
    fig = go.Figure()
    silent = []
    for i, module in enumerate(frame.columns):
        values = frame[module].astype(float)
        if (values.fillna(0) == 0).all():
            silent.append(str(module))
        # A log axis cannot show zero; a zero gradient is listed in the note instead.
        y = values.where(values > 0)
        labels = [""] * len(y)
        if y.notna().any():
            labels[int(np.flatnonzero(y.notna().to_numpy())[-1])] = str(module)
        fig.add_trace(go.Scatter(
            x=list(frame.index), y=y.tolist(), name=str(module), mode="lines+markers+text", text=labels,
            textposition="middle right", line=dict(color=SERIES[i % len(SERIES)]),
            marker=dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=8),
        ))
    fig.update_yaxes(type="log")
    if silent:
        fig.add_annotation(text=f"no gradient: {', '.join(silent)}", x=0, y=1.06, xref="paper", yref="paper",
                           showarrow=False, xanchor="left")
    return _style(fig, title, "epoch", "mean gradient L2 norm per step")


def selection_split(entry: dict) -> str:
    """The split an epoch's history entry was scored on: "validation" or "dev" (runs before the validation
    split kept dev's metrics under "dev")."""
    return entry.get("split") or "dev"


def selection_auc(entry: dict) -> float | None:
    """An epoch's AUC on its selection split, or None when it had none."""
    return (entry.get("valid") or entry.get("dev") or {}).get("auc")


def training_curves(
    history: Sequence[dict] | None, *, random_auc: float | None = None, oracle_auc: float | None = None
) -> go.Figure:
    """Train loss and the selection split's AUC per epoch side by side; works on a partial history (live
    training). ``random_auc`` and ``oracle_auc`` (dev's) are drawn as reference lines on the AUC panel."""
    title = "Training"
    epochs = [entry for entry in history or [] if "epoch" in entry]
    if not epochs:
        return empty_figure(title, "No epoch has finished yet.")
    split = selection_split(epochs[-1])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("train loss", f"{split} AUC (picks the best epoch)"))
    fig.add_trace(go.Scatter(
        x=[e["epoch"] for e in epochs], y=[e.get("train_loss") for e in epochs], name="train loss",
        mode="lines+markers+text", text=[_fmt(e.get("train_loss")) for e in epochs], textposition="top center",
        line=dict(color=PALETTE["orange"]), marker=dict(symbol="square"),
    ), row=1, col=1)
    aucs = [(e["epoch"], selection_auc(e)) for e in epochs if selection_auc(e) is not None]
    fig.add_trace(go.Scatter(
        x=[epoch for epoch, _ in aucs], y=[auc for _, auc in aucs], name=f"{split} AUC",
        mode="lines+markers+text", text=[_fmt(auc) for _, auc in aucs], textposition="top center",
        line=dict(color=MODEL), marker=dict(symbol="circle"),
    ), row=1, col=2)
    on = "" if split == "dev" else " (dev)"
    for value, label, colour, dash in ((random_auc, f"random{on}", RANDOM, "dot"),
                                       (oracle_auc, f"oracle{on}", ORACLE, "dash")):
        if not _is_missing(value):
            fig.add_hline(y=value, row=1, col=2, line_dash=dash, line_color=colour,
                          annotation_text=f"{label} {value:.3f}", annotation_position="bottom right")
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="AUC", row=1, col=2)
    return _style(fig, title)


def saturation_chart(demo: Mapping[str, dict] | None) -> go.Figure:
    """The saturation demonstration (:func:`~recengine.diagnostics.saturation_demo`): train loss and the
    share of saturated dev predictions per epoch, one line per config."""
    title = "Saturation: raw dot product vs cosine / temperature"
    if not demo:
        return empty_figure(title, "Run the demonstration to see the three settings train.")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("train loss", "saturated dev predictions"))
    for i, (name, result) in enumerate(demo.items()):
        style = dict(line=dict(color=SERIES[i % len(SERIES)]), marker=dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=8))
        losses, shares = result.get("loss") or [], result.get("saturated_share") or []
        fig.add_trace(go.Scatter(
            x=list(range(1, len(losses) + 1)), y=losses, name=name, legendgroup=name, mode="lines+markers+text",
            text=[name if j == len(losses) - 1 else "" for j in range(len(losses))], textposition="top right", **style,
        ), row=1, col=1)
        fig.add_trace(go.Scatter(
            x=list(range(1, len(shares) + 1)), y=shares, name=name, legendgroup=name, showlegend=False,
            mode="lines+markers+text", text=[_percent(s) for s in shares], textposition="top center", **style,
        ), row=1, col=2)
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="share of predictions", tickformat=".0%", range=[0, 1.05], row=1, col=2)
    return _style(fig, title)


# ---------------------------------------------------------------------------------------- model


def fusion_weights_chart(frame: pd.DataFrame | None) -> go.Figure:
    """Mean fusion weight per view for all, warm and never-seen articles (a frame from
    :func:`~recengine.diagnostics.fusion_weights`); concat fusion shows the reason it has none."""
    title = "Fusion weight per view"
    if frame is None or frame.empty:
        reason = (frame.attrs.get("reason") if frame is not None else None) or "No fusion weights to show."
        return empty_figure(title, reason)
    counts = frame.attrs.get("articles") or {}
    labels = {"all": "all articles", "warm": "warm (seen in training)", "new": "new (never seen)"}
    fig = go.Figure()
    for i, column in enumerate(c for c in ("all", "warm", "new") if c in frame.columns):
        values = frame[column].astype(float)
        if values.isna().all():
            continue
        count = f" (n={counts[column]:,})" if column in counts else ""
        fig.add_trace(go.Bar(
            x=[str(v) for v in frame.index], y=values.tolist(), name=labels[column] + count,
            text=[_fmt(v, 2) for v in values], textposition="outside",
            marker=dict(color=SERIES[i], pattern=dict(shape=PATTERNS[i])),
        ))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.1])
    return _style(fig, title, "view", "mean weight")


def metrics_chart(metrics: dict | None, metric: str = "auc") -> go.Figure:
    """``metric`` of the model overall and per slice (bars), with random and oracle as level marks per bar
    (``metrics`` as returned by :func:`~recengine.eval.evaluate.evaluate_scores`)."""
    title = f"{METRIC_LABELS.get(metric, metric)} beside random and oracle"
    if not metrics or not metrics.get("model"):
        return empty_figure(title, "No evaluation to show yet.")
    if selected_on(metrics) == "dev":
        title += " (selected on dev)"
    groups = [("overall", metrics["model"], metrics.get("random"), metrics.get("oracle"))]
    for name, values in (metrics.get("slices") or {}).items():
        baselines = (metrics.get("baselines") or {}).get(name) or {}
        groups.append((name, values, baselines.get("random"), baselines.get("oracle")))
    x = [SLICE_LABELS.get(name, name) for name, *_ in groups]
    model = [_metric(block, metric) for _, block, _, _ in groups]
    fig = go.Figure(go.Bar(x=x, y=model, name="model", text=[_fmt(v) for v in model], textposition="inside",
                           marker=dict(color=MODEL)))
    for label, index, colour, position in (("random", 2, RANDOM, "bottom center"), ("oracle", 3, ORACLE, "top center")):
        levels = [_metric(group[index], metric) for group in groups]
        if all(_is_missing(v) for v in levels):
            continue
        fig.add_trace(go.Scatter(
            x=x, y=levels, name=label, mode="markers+text", textposition=position,
            text=["" if _is_missing(v) else f"{label} {_fmt(v)}" for v in levels],
            marker=dict(symbol="line-ew", size=60, line=dict(width=4, color=colour), color=colour),
        ))
    return _style(fig, title, "slice", metric)


NOT_DISTINGUISHABLE = "≈"  # a heatmap cell whose every seed's 95% interval against the best cell crosses zero
BEST_MARK = "★"


def comparison_heatmap(
    frame: pd.DataFrame | None, metric: str = "auc", *, loss: str | None = None,
    references: tuple[float | None, float | None] | None = None,
) -> go.Figure:
    """``metric`` by fusion (rows) x temperature (columns), mean over seeds, cells labelled mean ± std,
    from a comparison frame (:func:`recengine.tables.stored_comparison`). ``loss`` picks one loss (default: the first).

    The colour scale runs from random to the oracle (``references``, default the frame's ``random_<metric>`` and
    ``oracle_<metric>`` means), widened to the data if a cell falls outside, and the colour bar labels both ends.
    With the comparison against the best cell (``<metric>_ci_low``/``_ci_high`` columns), the best cell is marked
    ★ and a cell whose every seed's 95% interval of the difference from it crosses zero is marked ≈ (not
    distinguishable from the best)."""
    label = METRIC_LABELS.get(metric, metric)
    title = f"{label} by fusion and temperature"
    if frame is None or frame.empty:
        return empty_figure(title, "No comparison results yet.")
    if metric not in frame.columns:
        raise InputError(f"the comparison has no {metric!r} column")
    loss = loss if loss is not None else str(frame["loss"].iloc[0])
    chosen = frame[frame["loss"] == loss]
    if chosen.empty:
        return empty_figure(title, f"No results for loss {loss!r}.")
    summary = summarize_grid(chosen)
    fusions = list(dict.fromkeys(summary["fusion"]))
    temperatures = sorted(set(summary["temperature"]))
    cell = summary.set_index(["fusion", "temperature"])
    marks = _heatmap_marks(frame, loss, metric)
    z, text = [], []
    for fusion in fusions:
        z_row, text_row = [], []
        for t in temperatures:
            mean = cell[f"{metric}_mean"].get((fusion, t), np.nan)
            std = cell[f"{metric}_std"].get((fusion, t), np.nan)
            z_row.append(None if _is_missing(mean) else float(mean))
            mark = marks.get((fusion, t), "")
            text_row.append(_fmt(mean) + ("" if _is_missing(std) else f" ± {std:.3f}") + (f" {mark}" if mark else ""))
        z.append(z_row)
        text.append(text_row)
    seeds = int(summary["seeds"].max())
    fig = go.Figure(go.Heatmap(
        x=[f"{t:g}" for t in temperatures], y=fusions, z=z, text=text, texttemplate="%{text}",
        colorscale="Viridis", hovertemplate="fusion %{y}<br>temperature %{x}<br>%{text}<extra></extra>",
        **_anchored_scale(chosen, metric, label, z, references),
    ))
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return _style(fig, f"{title} ({loss}, mean over {seeds} seed{'s' if seeds != 1 else ''})", "temperature", "fusion")


def _heatmap_marks(frame: pd.DataFrame, loss: str, metric: str) -> dict[tuple, str]:
    """(fusion, temperature) of ``loss`` -> ★ for the best cell's setting (highest AUC, the first on a tie, as the
    grid chose it), ≈ where no seed's interval against the best cell excludes zero."""
    low, high = f"{metric}_ci_low", f"{metric}_ci_high"
    if low not in frame.columns or frame["auc"].isna().all():
        return {}
    best = frame.loc[frame["auc"].idxmax()]
    marks = {}
    for (fusion, t), rows in frame[frame["loss"] == loss].groupby(["fusion", "temperature"], sort=False):
        if (best["loss"], best["fusion"], best["temperature"]) == (loss, fusion, t):
            marks[(fusion, t)] = BEST_MARK
        elif rows[low].notna().all() and ((rows[low] <= 0) & (rows[high] >= 0)).all():
            marks[(fusion, t)] = NOT_DISTINGUISHABLE
    return marks


def _anchored_scale(frame: pd.DataFrame, metric: str, label: str, z: list[list], references) -> dict:
    """zmin/zmax at random and the oracle (widened to the data) and a colour bar naming both ends."""
    random, oracle = references if references is not None else (
        _column_mean(frame, f"random_{metric}"), _column_mean(frame, f"oracle_{metric}"))
    values = [v for row in z for v in row if v is not None]
    if _is_missing(random) or _is_missing(oracle) or not values:
        return {"colorbar": dict(title=dict(text=label))}
    low, high = min(random, *values), max(oracle, *values)
    ticks = [low, *np.linspace(low, high, 5)[1:-1], high]
    names = {low: f"random {random:.3f}" if low == random else f"{low:.3f}",
             high: f"oracle {oracle:.3f}" if high == oracle else f"{high:.3f}"}
    return {"zmin": low, "zmax": high, "colorbar": dict(
        title=dict(text=f"{label}<br>random → oracle"), tickvals=ticks,
        ticktext=[names.get(t, f"{t:.3f}") for t in ticks])}


def _column_mean(frame: pd.DataFrame, column: str) -> float | None:
    if column not in frame.columns or frame[column].isna().all():
        return None
    return float(frame[column].mean())


def zero_shot_chart(rows: Sequence[Mapping] | None) -> go.Figure:
    """New-article slice quality per method (zero-shot, incremental update, full retrain): one bar group per
    method, one bar per metric. ``rows``: dicts with ``method`` and ``auc``, optionally ``mrr``, ``ndcg@5``,
    ``ndcg@10`` or ``ndcg``."""
    title = "New articles: zero-shot vs incremental vs full retrain"
    if not rows:
        return empty_figure(title, "No results for the new-article slice yet.")
    for i, row in enumerate(rows):
        if "method" not in row or "auc" not in row:
            keys = ", ".join(map(str, row)) or "none"
            raise InputError(f"zero-shot row {i} needs keys 'method' and 'auc'; got {keys}")
    metrics = [m for m in (*METRICS, "ndcg") if any(m in row for row in rows)]
    methods = [str(row["method"]) for row in rows]
    fig = go.Figure()
    for i, metric in enumerate(metrics):
        values = [row.get(metric) for row in rows]
        fig.add_trace(go.Bar(
            x=methods, y=values, name=metric, text=[_fmt(v) for v in values], textposition="outside",
            marker=dict(color=SERIES[i % len(SERIES)], pattern=dict(shape=PATTERNS[i % len(PATTERNS)])),
        ))
    fig.update_layout(barmode="group")
    return _style(fig, title, "method", "score on the new-article slice")


# ---------------------------------------------------------------------------------------- data


def click_rate_chart(rates: Mapping[str, float | None] | None) -> go.Figure:
    """Click rate (clicks / candidates) per split, as bars with percentage labels."""
    title = "Click rate per split"
    known = {split: rate for split, rate in (rates or {}).items() if not _is_missing(rate)}
    if not known:
        return empty_figure(title, "No labelled split to count clicks in.")
    fig = go.Figure(go.Bar(x=list(known), y=list(known.values()), text=[_percent(r) for r in known.values()],
                           textposition="outside", marker=dict(color=MODEL), name="click rate"))
    fig.update_yaxes(tickformat=".1%", rangemode="tozero")
    return _style(fig, title, "split", "clicks / candidates")


def history_length_chart(lengths: Mapping[str, Sequence[int]] | None, *, bins: int = 40) -> go.Figure:
    """Histogram of history lengths (clicks before the impression) per split, overlaid."""
    title = "History length per impression"
    present = {split: np.asarray(values) for split, values in (lengths or {}).items() if len(values)}
    if not present:
        return empty_figure(title, "No impressions to show.")
    fig = go.Figure()
    for i, (split, values) in enumerate(present.items()):
        fig.add_trace(go.Histogram(
            x=values, name=f"{split} (median {np.median(values):g})", nbinsx=bins, opacity=0.65,
            marker=dict(color=SERIES[i % len(SERIES)], pattern=dict(shape=PATTERNS[i % len(PATTERNS)])),
        ))
    fig.update_layout(barmode="overlay")
    return _style(fig, title, "clicks in the history", "impressions")


def category_chart(counts: Mapping[str, int] | pd.Series | None) -> go.Figure:
    """Articles per category, largest at the top, with counts as labels."""
    title = "Articles per category"
    series = pd.Series(counts if counts is not None else {}, dtype=float)
    if series.empty:
        return empty_figure(title, "No articles to count.")
    series = series.sort_values()
    fig = go.Figure(go.Bar(x=series.tolist(), y=[str(c) for c in series.index], orientation="h", name="articles",
                           text=[f"{int(v):,}" for v in series], textposition="outside", marker=dict(color=MODEL)))
    return _style(fig, title, "articles", "category")


def coverage_chart(coverage: Mapping | None) -> go.Figure:
    """Share of articles with a text vector and with knowledge-graph entities (from
    :func:`~recengine.diagnostics.coverage`), against 100%; the text warning, if any, is shown under it."""
    title = "Feature coverage"
    coverage = coverage or {}
    shares = {"text vector": coverage.get("text_coverage"), "graph entities": coverage.get("graph_coverage")}
    shares = {k: v for k, v in shares.items() if not _is_missing(v)}
    if not shares:
        return empty_figure(title, "No catalogue to measure.")
    colours = [PALETTE["green"] if v >= 1.0 else PALETTE["vermillion"] for v in shares.values()]
    fig = go.Figure(go.Bar(
        x=list(shares.values()), y=list(shares), orientation="h", name="coverage",
        text=[_percent(v) for v in shares.values()], textposition="outside", marker=dict(color=colours),
    ))
    fig.add_vline(x=1.0, line_dash="dash", line_color=PALETTE["grey"], annotation_text="100%")
    fig.update_xaxes(tickformat=".0%", range=[0, 1.15])
    warning = coverage.get("text_warning")
    if warning:
        fig.add_annotation(
            text="<br>".join(textwrap.wrap(warning, 90)), x=0, y=-0.35, xref="paper", yref="paper",
            showarrow=False, xanchor="left", font=dict(color=PALETTE["vermillion"]),
        )
    return _style(fig, title, "share of articles", None)


def beyond_chart(result: Mapping | None) -> go.Figure:
    """Each beyond-accuracy measure (:data:`recengine.eval.beyond.MEASURE_UNITS`) of the recommender's served lists
    beside random and most-popular lists, one small panel per measure (the measures have different scales), the
    value written on each bar; ``result`` as :func:`recengine.app.evaluation.beyond_accuracy` returns it."""
    from recengine.eval.beyond import MEASURE_UNITS

    title = "Served lists beside random and most-popular lists"
    scorers = (("model", "recommender", MODEL), ("random", "random", RANDOM),
               ("popular", "most popular", PALETTE["orange"]))
    present = [scorer for scorer in scorers if result and result.get(scorer[0])]
    if not present:
        return empty_figure(title, "No served lists measured yet.")
    cols = 4
    rows = math.ceil(len(MEASURE_UNITS) / cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.05, vertical_spacing=0.22,
                        subplot_titles=["<br>".join(textwrap.wrap(m.label, 18)) for m in MEASURE_UNITS])
    for i, measure in enumerate(MEASURE_UNITS):
        row, col = divmod(i, cols)
        values = [result[name].get(measure.name) for name, _, _ in present]
        for j, ((name, label, colour), value) in enumerate(zip(present, values)):
            fig.add_trace(go.Bar(
                x=[label], y=[value], name=label, legendgroup=name, showlegend=i == 0, cliponaxis=False,
                text=[_percent(value) if measure.share else _fmt(value, 2)], textposition="outside",
                marker=dict(color=colour, pattern=dict(shape=PATTERNS[j % len(PATTERNS)])),
            ), row=row + 1, col=col + 1)
        top = max((v for v in values if not _is_missing(v)), default=0.0)
        # Headroom above the tallest bar keeps its label inside the panel.
        fig.update_yaxes(range=[0, top * 1.35 if top > 0 else 1], showticklabels=False, row=row + 1, col=col + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_annotations(font=dict(size=12))
    fig.update_layout(height=230 * rows + 80, bargap=0.2, legend=dict(orientation="h", y=-0.05))
    return _style(fig, title)


# ---------------------------------------------------------------------------------------- slices and reliability


def slice_chart(table: pd.DataFrame | None, metric: str = "auc") -> go.Figure:
    """``metric`` per slice value as horizontal bars grouped by slice group, random and oracle as labelled marks
    on each bar (``table`` from :func:`recengine.eval.evaluate.slice_table`); slices without impressions are left
    out."""
    label = METRIC_LABELS.get(metric, metric)
    title = f"{label} by slice, beside random and the oracle"
    rows = None if table is None else table[table["impressions"].fillna(0) > 0].iloc[::-1]
    if rows is None or rows.empty or rows["model"].isna().all():
        return empty_figure(title, "No evaluation to show yet.")
    # n counts the impressions the metric is averaged over (with a click and a non-click among the slice's candidates).
    y = [rows["group"].tolist(), [f"{v} (n={int(n):,})" for v, n in zip(rows["value"], rows["scored"])]]
    fig = go.Figure(go.Bar(
        y=y, x=rows["model"].tolist(), orientation="h", name="model", marker=dict(color=MODEL),
        text=[_fmt(v) for v in rows["model"]], textposition="inside", insidetextanchor="end",
        hovertemplate="%{y}<br>model %{x:.3f}<extra></extra>",
    ))
    for name, colour, symbol in (("random", RANDOM, "line-ns"), ("oracle", ORACLE, "line-ns")):
        levels = rows[name].astype(float)
        if levels.isna().all():
            continue
        fig.add_trace(go.Scatter(
            y=y, x=levels.tolist(), name=name, mode="markers", orientation="h",
            marker=dict(symbol=symbol, size=18, line=dict(width=4 if name == "oracle" else 3, color=colour)),
            hovertemplate=f"%{{y}}<br>{name} %{{x:.3f}}<extra></extra>",
        ))
    values = pd.concat([rows[c].astype(float) for c in ("model", "random", "oracle")]).dropna()
    low, high = float(values.min()), float(values.max())
    pad = max(0.02, (high - low) * 0.08)
    fig.update_xaxes(range=[max(0.0, low - pad), high + pad])
    fig.update_yaxes(type="multicategory", automargin=True)
    fig.update_layout(height=26 * len(rows) + 170, legend=dict(orientation="h", y=1.02, x=1, xanchor="right",
                                                               yanchor="bottom"))
    return _style(fig, title, label, None)


def reliability_chart(report: Mapping | None) -> go.Figure:
    """Reliability curves (:func:`recengine.eval.reliability.reliability_report`): one panel for the raw sigmoid
    and one for the calibrated probabilities, each with the mean true click probability and the observed click
    rate per bin against the mean prediction, the diagonal of perfect calibration, and the ECEs in the legend."""
    title = "Reliability: predicted click probability against the truth and the observed click rate"
    panels = [(kind, (report or {}).get(kind)) for kind in ("raw", "calibrated")]
    if not any(curve and curve.get("bins") for _, curve in panels):
        return empty_figure(title, "No predictions to show yet.")
    names = {"raw": "raw sigmoid of the logit", "calibrated": "calibrated (Platt)"}
    fig = make_subplots(rows=1, cols=2, subplot_titles=[names[k] if c else f"{names[k]}: not fitted for this run"
                                                        for k, c in panels], horizontal_spacing=0.1)
    for col, (kind, curve) in enumerate(panels, start=1):
        if not curve or not curve.get("bins"):
            continue
        bins = curve["bins"]
        predicted = [b["predicted"] for b in bins]
        series = [("truth", "true probability", curve.get("ece_vs_truth"), PALETTE["green"], "circle", "solid"),
                  ("observed", "observed click rate", curve.get("ece_vs_observed"), PALETTE["vermillion"], "square",
                   "dash")]
        top = max([*predicted, *(b[key] for key, *_ in series for b in bins if b[key] is not None)])
        top = min(1.0, top * 1.1) or 1.0
        fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                                 line=dict(color=PALETTE["grey"], dash="dot"), showlegend=col == 1,
                                 legendgroup="diagonal"), row=1, col=col)
        for key, label, ece, colour, symbol, dash in series:
            if any(b[key] is None for b in bins):
                continue
            fig.add_trace(go.Scatter(
                x=predicted, y=[b[key] for b in bins], mode="lines+markers", line=dict(color=colour, dash=dash),
                marker=dict(symbol=symbol, size=8), name=f"{kind}: {label} (ECE {_fmt(ece, 4)})",
                customdata=[b["candidates"] for b in bins],
                hovertemplate=f"mean prediction %{{x:.4f}}<br>{label} %{{y:.4f}}<br>%{{customdata:,}} candidates"
                              "<extra></extra>",
            ), row=1, col=col)
        fig.update_xaxes(range=[0, top], title_text="mean predicted probability (equal-mass bins)", row=1, col=col)
        fig.update_yaxes(range=[0, top], title_text="mean true probability / click rate", row=1, col=col)
    fig.update_layout(height=480, legend=dict(orientation="h", y=-0.25))
    return _style(fig, title)
