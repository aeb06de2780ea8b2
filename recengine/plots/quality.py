"""Quality charts: a model beside random and the oracle, overall and per slice, grid heatmaps, zero-shot comparisons
and beyond-accuracy measures. Random and the oracle appear wherever a quality figure is drawn, labelled."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recengine import formats
from recengine.errors import InputError
from recengine.eval.compare import summarize_grid
from recengine.eval.evaluate import SLICES, selected_on
from recengine.eval.metrics import METRIC_LABELS
from recengine.plots._style import (FONT_SIZE, MODEL, ORACLE, PALETTE, PATTERNS, RANDOM, SLICE_LABELS, add_references,
                                    empty_figure, fmt, fmt_percent, is_missing, metric_of, quality_range, style_figure,
                                    wrap)

# Model, random and the oracle: a colour and a pattern each, the same in every quality chart.
SCORERS = (("model", MODEL, ""), ("random", RANDOM, "/"), ("oracle", ORACLE, "."))
SLICE_ORDER = ("overall", *SLICES)  # overall, warm, new articles, cold users
NOT_MEASURED = "not measured"
ROOM = 0.18  # share of the value axis left past the furthest mark for the labels drawn there
BAR_PX = 20  # height of one horizontal bar
LABEL_COLUMN = 0.12  # share of the width a chart gives to value labels right of the plot
NARROW_TITLE = 36  # characters a title line holds in a half-width column at 1024 px
REFERENCE_SLOT = 1.6  # bar slots kept free right of the last bar for the reference lines' labels


def metrics_chart(metrics: dict | None, metric: str = "auc") -> go.Figure:
    """``metric`` of the model, random and the oracle per slice (overall, warm, new articles, cold users, in that
    order): one horizontal bar each, named on the axis (no legend to wrap in a narrow column), distinct in colour
    and pattern, its value just past its end (``metrics`` as :func:`~recengine.eval.evaluate.evaluate_scores`
    returns it). A reference a slice lacks reads "not measured" instead of leaving the model bar alone."""
    label = METRIC_LABELS.get(metric, metric)
    title = f"{label} beside random and the oracle"
    if not metrics or not metrics.get("model"):
        return empty_figure(title, "No evaluation to show yet.")
    if selected_on(metrics) == "dev":
        title += "<br>(selected on dev)"  # its own line: the chart may sit in a half-width column
    bars = [(SLICE_LABELS.get(name, name).replace(" ", "<br>"), scorer, colour, pattern, metric_of(blocks[i], metric))
            for name, *blocks in _slice_groups(metrics) for i, (scorer, colour, pattern) in enumerate(SCORERS)]
    y = [[outer for outer, *_ in bars], [scorer for _, scorer, *_ in bars]]
    values = [value for *_, value in bars]
    fig = go.Figure(go.Bar(
        y=y, x=values, orientation="h", cliponaxis=False, showlegend=False,
        marker=dict(color=[colour for _, _, colour, _, _ in bars],
                    pattern=dict(shape=[pattern for _, _, _, pattern, _ in bars], fgcolor="white", solidity=0.25)),
        text=[fmt(v) for v in values], textposition="outside", constraintext="none", textfont=dict(size=FONT_SIZE - 1),
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    ))
    _value_axis(fig, values)
    missing = [i for i, value in enumerate(values) if is_missing(value)]
    if missing:
        fig.add_trace(go.Scatter(y=[[y[0][i] for i in missing], [y[1][i] for i in missing]],
                                 x=[fig.layout.xaxis.range[0]] * len(missing), mode="text", text=NOT_MEASURED,
                                 textposition="middle right", textfont=dict(color=RANDOM, size=FONT_SIZE - 1),
                                 showlegend=False, hoverinfo="skip"))
    fig.update_layout(height=len(bars) * BAR_PX * 3 // 2 + 140, bargap=0.25)
    # Overall on top, and within a slice model, random, oracle from the top.
    fig.update_yaxes(type="multicategory", autorange="reversed")
    return style_figure(fig, title, label, None, legend=False)


def _value_axis(fig: go.Figure, values: Sequence) -> None:
    """A quality axis (:func:`quality_range`) with room past the furthest bar for its outside label. The axis
    never passes 1, so where that leaves too little room the plot gives up the right :data:`LABEL_COLUMN` of the
    figure to the labels instead."""
    span, capped = _room(values)
    fig.update_xaxes(range=span, domain=[0, 1 - LABEL_COLUMN] if capped else [0, 1])


def _room(values: Sequence) -> tuple[list[float], bool]:
    """A quality axis holding ``values`` with :data:`ROOM` past the largest for its label, and whether the cap
    at 1 took that room away."""
    low, high = quality_range(values)
    top = max((v for v in values if not is_missing(v)), default=high)
    wanted = top + (top - low) * ROOM
    capped = top <= 1 < wanted
    return [low, 1.0 if capped else wanted], capped


def _slice_groups(metrics: Mapping) -> list[tuple[str, Mapping | None, Mapping | None, Mapping | None]]:
    """(slice, model, random, oracle) blocks in the fixed slice order, then any other slice as given."""
    slices = metrics.get("slices") or {}
    baselines = metrics.get("baselines") or {}
    groups = {"overall": (metrics["model"], metrics.get("random"), metrics.get("oracle"))}
    for name, block in slices.items():
        base = baselines.get(name) or {}
        groups[name] = (block, base.get("random"), base.get("oracle"))
    order = [n for n in SLICE_ORDER if n in groups] + [n for n in groups if n not in SLICE_ORDER]
    return [(name, *groups[name]) for name in order]


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


def zero_shot_chart(rows: Sequence[Mapping] | None, metric: str = "auc") -> go.Figure:
    """``metric`` on the new-article slice per method (zero-shot, incremental update, full retrain), one bar each,
    with random and the oracle as labelled lines where the rows carry ``random_<metric>``/``oracle_<metric>``
    (every method is scored on the same impressions, so the first row that has them gives them). ``rows``:
    dicts with ``method`` and ``auc``, as :func:`recengine.tables.zero_shot_rows` returns them."""
    label = METRIC_LABELS.get(metric, metric)
    title = wrap(f"{label} on articles new since training, by method", NARROW_TITLE)
    if not rows:
        return empty_figure(title, "No results for the new-article slice yet.")
    for i, row in enumerate(rows):
        if "method" not in row or "auc" not in row:
            keys = ", ".join(map(str, row)) or "none"
            raise InputError(f"zero-shot row {i} needs keys 'method' and 'auc'; got {keys}")
    methods = [str(row["method"]) for row in rows]
    values = [row.get(metric) for row in rows]
    random, oracle = (_first(rows, f"{name}_{metric}") for name in ("random", "oracle"))
    fig = go.Figure(go.Bar(
        x=methods, y=values, name=label, marker=dict(color=MODEL), cliponaxis=False, text=[fmt(v) for v in values],
        textposition="outside", textfont=dict(size=FONT_SIZE - 1), hovertemplate="%{x}<br>" + label + " %{y:.3f}<extra></extra>",
    ))
    add_references(fig, random, oracle)
    fig.update_yaxes(range=_room([*values, random, oracle])[0])
    # An empty slot right of the last bar: the reference lines' labels sit there, clear of every bar's label.
    fig.update_xaxes(type="category", range=[-0.5, len(methods) - 0.5 + REFERENCE_SLOT])
    return style_figure(fig, title, "method", label, legend=False)



def _first(rows: Sequence[Mapping], key: str) -> float | None:
    return next((row[key] for row in rows if not is_missing(row.get(key))), None)


def beyond_chart(result: Mapping | None) -> go.Figure:
    """Each beyond-accuracy measure (:data:`recengine.eval.beyond.MEASURE_UNITS`) of the recommender's served lists
    beside random and most-popular lists, one small panel per measure (the measures have different scales), each
    value written at its bar's end; ``result`` as :func:`recengine.app.evaluation.beyond_accuracy` returns it."""
    from recengine.eval.beyond import MEASURE_UNITS

    title = "Served lists beside random and most-popular lists"
    scorers = (("model", "recommender", MODEL, PATTERNS[0]), ("random", "random", RANDOM, PATTERNS[1]),
               ("popular", "most popular", PALETTE["orange"], PATTERNS[2]))
    present = [scorer for scorer in scorers if result and result.get(scorer[0])]
    if not present:
        return empty_figure(title, "No served lists measured yet.")
    cols = 2  # two panels a row: each keeps room for its labels in a half-width column too
    rows = math.ceil(len(MEASURE_UNITS) / cols)
    # Shared y: the scorers are named once, left of the first column, and every panel keeps its width.
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, horizontal_spacing=0.06, vertical_spacing=0.5 / rows,
                        subplot_titles=[wrap(m.label, 30) for m in MEASURE_UNITS])
    for i, measure in enumerate(MEASURE_UNITS):
        row, col = divmod(i, cols)
        values = [result[name].get(measure.name) for name, *_ in present]
        fig.add_trace(go.Bar(
            y=[label for _, label, _, _ in present], x=values, orientation="h", showlegend=False, cliponaxis=False,
            text=[fmt_percent(v) if measure.share else formats.number(v) for v in values], textposition="outside",
            textfont=dict(size=FONT_SIZE - 1), constraintext="none",
            marker=dict(color=[c for *_, c, _ in present], pattern=dict(shape=[p for *_, p in present], fgcolor="white",
                                                                          solidity=0.25)),
            hovertemplate=f"{measure.label}<br>%{{y}} %{{text}}<extra></extra>",
        ), row=row + 1, col=col + 1)
        top = max((v for v in values if not is_missing(v)), default=0.0)
        # Room past the longest bar keeps its label inside the panel.
        fig.update_xaxes(range=[0, top * 1.45 if top > 0 else 1], showticklabels=False, showgrid=False,
                         row=row + 1, col=col + 1)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_annotations(font=dict(size=FONT_SIZE - 1))
    fig.update_layout(height=(len(present) * BAR_PX + 80) * rows + 60, bargap=0.2)
    return style_figure(fig, title, legend=False)


def slice_chart(table: pd.DataFrame | None, metric: str = "auc") -> go.Figure:
    """``metric`` per slice value as horizontal bars grouped by slice group, random (grey tick) and the oracle
    (green diamond) marked on every row that has them, and the model's value in a column of its own at the
    right, where no bar or mark can cover it (``table`` from :func:`recengine.eval.evaluate.slice_table`);
    slices without impressions are left out."""
    label = METRIC_LABELS.get(metric, metric)
    title = f"{label} by slice, beside random and the oracle"
    rows = None if table is None else table[table["impressions"].fillna(0) > 0]
    if rows is None or rows.empty or rows["model"].isna().all():
        return empty_figure(title, "No evaluation to show yet.")
    # n counts the impressions the metric is averaged over (with a click and a non-click among the slice's candidates).
    y = [rows["group"].tolist(), [f"{v} (n={int(n):,})" for v, n in zip(rows["value"], rows["scored"])]]
    model = rows["model"].astype(float).tolist()
    fig = go.Figure(go.Bar(y=y, x=model, orientation="h", name="model", marker=dict(color=MODEL),
                           hovertemplate="%{y}<br>model %{x:.3f}<extra></extra>"))
    for name, colour, marker in (("random", RANDOM, dict(symbol="line-ns", size=BAR_PX, line=dict(width=4, color=RANDOM))),
                                 ("oracle", ORACLE, dict(symbol="diamond-tall", size=14, color=ORACLE,
                                                         line=dict(width=1, color="white")))):
        levels = rows[name].astype(float)
        if levels.isna().all():
            continue
        fig.add_trace(go.Scatter(y=y, x=levels.tolist(), name=name, mode="markers", marker=marker, cliponaxis=False,
                                 hovertemplate=f"%{{y}}<br>{name} %{{x:.3f}}<extra></extra>"))
    # Right-aligned at the column's right end, so the widest value still ends inside the figure.
    fig.add_trace(go.Scatter(y=y, x=[1] * len(model), xaxis="x2", mode="text", text=[fmt(v) for v in model],
                             textposition="middle left", textfont=dict(color=MODEL, size=FONT_SIZE - 1),
                             cliponaxis=False, showlegend=False, hoverinfo="skip"))
    values = [v for column in ("model", "random", "oracle") for v in rows[column].astype(float) if not is_missing(v)]
    fig.update_layout(
        height=BAR_PX * len(rows) * 13 // 10 + 170,
        xaxis=dict(domain=[0, 1 - LABEL_COLUMN], range=quality_range(values)),
        xaxis2=dict(domain=[1 - LABEL_COLUMN + 0.03, 1], range=[0, 1], visible=False, fixedrange=True),
    )
    fig.add_annotation(text="model", xref="x2 domain", yref="paper", x=1, y=1, xanchor="right",
                       yanchor="bottom", showarrow=False, font=dict(color=MODEL, size=FONT_SIZE - 1))
    fig.update_yaxes(type="multicategory", autorange="reversed")
    return style_figure(fig, title, label, None)

