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
from recengine.eval.evaluate import SLICE_UNITS
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


def training_curves(
    history: Sequence[dict] | None, *, random_auc: float | None = None, oracle_auc: float | None = None
) -> go.Figure:
    """Train loss and dev AUC per epoch side by side; works on a partial history (live training).
    ``random_auc`` and ``oracle_auc`` are drawn as reference lines on the AUC panel."""
    title = "Training"
    epochs = [entry for entry in history or [] if "epoch" in entry]
    if not epochs:
        return empty_figure(title, "No epoch has finished yet.")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("train loss", "dev AUC"))
    fig.add_trace(go.Scatter(
        x=[e["epoch"] for e in epochs], y=[e.get("train_loss") for e in epochs], name="train loss",
        mode="lines+markers+text", text=[_fmt(e.get("train_loss")) for e in epochs], textposition="top center",
        line=dict(color=PALETTE["orange"]), marker=dict(symbol="square"),
    ), row=1, col=1)
    scored = [e for e in epochs if (e.get("dev") or {}).get("auc") is not None]
    fig.add_trace(go.Scatter(
        x=[e["epoch"] for e in scored], y=[e["dev"]["auc"] for e in scored], name="dev AUC",
        mode="lines+markers+text", text=[_fmt(e["dev"]["auc"]) for e in scored], textposition="top center",
        line=dict(color=MODEL), marker=dict(symbol="circle"),
    ), row=1, col=2)
    for value, label, colour, dash in ((random_auc, "random", RANDOM, "dot"), (oracle_auc, "oracle", ORACLE, "dash")):
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


def comparison_heatmap(frame: pd.DataFrame | None, metric: str = "auc", *, loss: str | None = None) -> go.Figure:
    """``metric`` by fusion (rows) x temperature (columns), mean over seeds, cells labelled mean ± std,
    from a comparison frame (:func:`recengine.tables.stored_comparison`). ``loss`` picks one loss (default: the first)."""
    title = f"{metric} by fusion and temperature"
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
    z, text = [], []
    for fusion in fusions:
        z_row, text_row = [], []
        for t in temperatures:
            mean = cell[f"{metric}_mean"].get((fusion, t), np.nan)
            std = cell[f"{metric}_std"].get((fusion, t), np.nan)
            z_row.append(None if _is_missing(mean) else float(mean))
            text_row.append(_fmt(mean) + ("" if _is_missing(std) else f" ± {std:.3f}"))
        z.append(z_row)
        text.append(text_row)
    seeds = int(summary["seeds"].max())
    fig = go.Figure(go.Heatmap(
        x=[f"{t:g}" for t in temperatures], y=fusions, z=z, text=text, texttemplate="%{text}",
        colorscale="Viridis", colorbar=dict(title=dict(text=metric)),
        hovertemplate="fusion %{y}<br>temperature %{x}<br>%{text}<extra></extra>",
    ))
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return _style(fig, f"{title} ({loss}, mean over {seeds} seed{'s' if seeds != 1 else ''})", "temperature", "fusion")


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
