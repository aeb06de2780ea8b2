"""Saved runs side by side: one chart, a group of bars per slice (one bar per run), with random and the oracle
as labelled reference segments over each group."""

from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go

from recengine.eval.metrics import METRIC_LABELS
from recengine.plots._style import (FONT_SIZE, ORACLE, PATTERNS, RANDOM, SERIES, SLICE_LABELS, bar_labels,
                                    empty_figure, fmt, is_missing, metric_of, style_figure)

HALF_GROUP = 0.45  # half the width a slice's group of bars takes on the axis (one slice = 1)


def runs_chart(metrics_by_run: Mapping[str, Mapping | None], metric: str = "auc") -> go.Figure:
    """``metric`` of each run (``{run id: evaluation dict}``, as :func:`recengine.eval.evaluate.evaluate_scores`
    returns) overall and per slice. Random and the oracle are a dotted and a dashed segment across each slice's
    group, labelled once per slice (random below its segment, the oracle above); where the runs' references
    differ (other seeds), the label gives their range."""
    label = METRIC_LABELS.get(metric, metric)
    title = f"{label} per slice: each run beside random and the oracle"
    runs = {run_id: m for run_id, m in metrics_by_run.items() if m and m.get("model")}
    if not runs:
        return empty_figure(title, "No evaluated run to compare.")
    slices = _slices(runs.values())
    fig = go.Figure()
    for i, (run_id, metrics) in enumerate(runs.items()):
        values = [metric_of(_block(metrics, name, "model"), metric) for name in slices]
        bar = go.Bar(x=list(range(len(slices))), y=values, name=run_id,
                     marker=dict(color=SERIES[i % len(SERIES)], pattern_shape=PATTERNS[i % len(PATTERNS)]))
        fig.add_trace(bar_labels(bar, values))
    tops = [v for trace in fig.data for v in trace.y if not is_missing(v)]
    for name, colour, dash, below in (("random", RANDOM, "dot", True), ("oracle", ORACLE, "dash", False)):
        levels = [_levels(runs.values(), s, name, metric) for s in slices]
        tops += [high for _, high in filter(None, levels)]
        _references(fig, name, levels, colour, dash, below)
    fig.update_layout(barmode="group", bargap=1 - 2 * HALF_GROUP, bargroupgap=0.05)
    fig.update_xaxes(tickvals=list(range(len(slices))), ticktext=[SLICE_LABELS.get(s, s) for s in slices],
                     range=[-0.5, len(slices) - 0.5])
    fig.update_yaxes(range=[0, min(1.0, max(tops) * 1.12) if max(tops) <= 1 else max(tops) * 1.12])
    return style_figure(fig, title, "slice", label)


def _slices(evaluations) -> list[str]:
    """overall, then every slice some run has, in the registry's order."""
    present = {name for m in evaluations for name in (m.get("slices") or {})}
    return ["overall", *[name for name in SLICE_LABELS if name in present and name != "overall"]]


def _block(metrics: Mapping, slice_name: str, scorer: str) -> Mapping | None:
    if slice_name == "overall":
        return metrics.get(scorer)
    if scorer == "model":
        return (metrics.get("slices") or {}).get(slice_name)
    return ((metrics.get("baselines") or {}).get(slice_name) or {}).get(scorer)


def _levels(evaluations, slice_name: str, scorer: str, metric: str) -> tuple[float, float] | None:
    """(lowest, highest) of a reference over the runs, None when no run has it."""
    values = [metric_of(_block(m, slice_name, scorer), metric) for m in evaluations]
    known = [v for v in values if not is_missing(v)]
    return (min(known), max(known)) if known else None


def _references(fig: go.Figure, name: str, levels: list, colour: str, dash: str, below: bool) -> None:
    """One legend entry and a segment per slice at the runs' mean level, its label at the segment's right end."""
    x: list = []
    y: list = []
    for i, level in enumerate(levels):
        if level is None:
            continue
        low, high = level
        mean = (low + high) / 2
        x += [i - HALF_GROUP, i + HALF_GROUP, None]
        y += [mean, mean, None]
        value = fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}–{fmt(high)}"
        fig.add_annotation(x=i + HALF_GROUP, y=mean, text=f"{name} {value}", showarrow=False, xanchor="right",
                           yanchor="top" if below else "bottom", font=dict(color=colour, size=FONT_SIZE - 1),
                           bgcolor="rgba(255,255,255,0.85)")
    if x:
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines", line=dict(color=colour, dash=dash, width=2),
                                 hoverinfo="skip"))
