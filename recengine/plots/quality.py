"""Quality charts: a model beside random and the oracle, overall and per slice, grid heatmaps, zero-shot comparisons and beyond-accuracy measures."""

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
from recengine.eval.evaluate import selected_on
from recengine.eval.metrics import METRIC_LABELS, METRICS
from recengine.plots._style import MODEL, ORACLE, PALETTE, PATTERNS, RANDOM, SERIES, SLICE_LABELS, empty_figure, fmt, fmt_percent, is_missing, metric_of, style_figure


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
    model = [metric_of(block, metric) for _, block, _, _ in groups]
    fig = go.Figure(go.Bar(x=x, y=model, name="model", text=[fmt(v) for v in model], textposition="inside",
                           marker=dict(color=MODEL)))
    for label, index, colour, position in (("random", 2, RANDOM, "bottom center"), ("oracle", 3, ORACLE, "top center")):
        levels = [metric_of(group[index], metric) for group in groups]
        if all(is_missing(v) for v in levels):
            continue
        fig.add_trace(go.Scatter(
            x=x, y=levels, name=label, mode="markers+text", textposition=position,
            text=["" if is_missing(v) else f"{label} {fmt(v)}" for v in levels],
            marker=dict(symbol="line-ew", size=60, line=dict(width=4, color=colour), color=colour),
        ))
    return style_figure(fig, title, "slice", metric)



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
            z_row.append(None if is_missing(mean) else float(mean))
            mark = marks.get((fusion, t), "")
            text_row.append(fmt(mean) + ("" if is_missing(std) else f" ± {std:.3f}") + (f" {mark}" if mark else ""))
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
    return style_figure(fig, f"{title} ({loss}, mean over {seeds} seed{'s' if seeds != 1 else ''})", "temperature", "fusion")



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
    if is_missing(random) or is_missing(oracle) or not values:
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
            x=methods, y=values, name=metric, text=[fmt(v) for v in values], textposition="outside",
            marker=dict(color=SERIES[i % len(SERIES)], pattern=dict(shape=PATTERNS[i % len(PATTERNS)])),
        ))
    fig.update_layout(barmode="group")
    return style_figure(fig, title, "method", "score on the new-article slice")



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
                text=[fmt_percent(value) if measure.share else fmt(value, 2)], textposition="outside",
                marker=dict(color=colour, pattern=dict(shape=PATTERNS[j % len(PATTERNS)])),
            ), row=row + 1, col=col + 1)
        top = max((v for v in values if not is_missing(v)), default=0.0)
        # Headroom above the tallest bar keeps its label inside the panel.
        fig.update_yaxes(range=[0, top * 1.35 if top > 0 else 1], showticklabels=False, row=row + 1, col=col + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_annotations(font=dict(size=12))
    fig.update_layout(height=230 * rows + 80, bargap=0.2, legend=dict(orientation="h", y=-0.05))
    return style_figure(fig, title)



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
        text=[fmt(v) for v in rows["model"]], textposition="inside", insidetextanchor="end",
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
    return style_figure(fig, title, label, None)

