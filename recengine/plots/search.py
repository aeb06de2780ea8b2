"""Search charts (the Optuna search on Compare) in the shared look: each trial's validation AUC with the best so far
beside a random scorer's expected AUC, and how much each searched setting mattered."""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from recengine.plots._style import (MODEL, PALETTE, add_references, bar_labels, empty_figure, is_missing,
                                    pad_value_axis, quality_range, style_figure)

RANDOM_EXPECTED = 0.5  # a random scorer's AUC, in expectation, on any split


def search_history(trials: Sequence[Mapping]) -> go.Figure:
    """Validation AUC per finished trial (``number``, ``value`` as :func:`recengine.app.tune.summary` lists them)
    and the best so far, with a random scorer's expected AUC as a labelled reference. The oracle is not drawn: the
    search never measures it on the validation split."""
    title = "Validation AUC by trial"
    done = [t for t in trials if not is_missing(t.get("value"))]
    if not done:
        return empty_figure(title, "No trial has finished yet.")
    numbers = [t["number"] for t in done]
    values = [t["value"] for t in done]
    best = [max(values[: i + 1]) for i in range(len(values))]
    fig = go.Figure([
        go.Scatter(x=numbers, y=values, name="trial", mode="markers", marker=dict(color=MODEL, size=9)),
        go.Scatter(x=numbers, y=best, name="best so far", mode="lines", line=dict(color=PALETTE["orange"],
                                                                                   dash="dash", shape="hv")),
    ])
    add_references(fig, RANDOM_EXPECTED, None, suffix=" (expected)")
    fig.update_yaxes(range=quality_range(values, RANDOM_EXPECTED))
    fig.update_xaxes(dtick=1, tickformat="d")
    return style_figure(fig, title, "trial", "validation AUC")


def search_importances(importances: Mapping[str, float]) -> go.Figure:
    """How much each searched setting (by its label) mattered to the validation AUC across the finished trials
    (Optuna's importances: shares that sum to 1), largest on top, each bar labelled outside its end."""
    title = "How much each setting mattered"
    if not importances:
        return empty_figure(title, "Needs at least two finished trials with different settings.")
    ranked = sorted(importances.items(), key=lambda item: item[1])  # Plotly draws the first bar at the bottom
    labels, shares = [name for name, _ in ranked], [share for _, share in ranked]
    fig = go.Figure(bar_labels(go.Bar(x=shares, y=labels, orientation="h", marker=dict(color=MODEL)), shares,
                               percent=True))
    pad_value_axis(fig, shares, axis="x", share=0.25)
    fig.update_xaxes(tickformat=".0%")
    return style_figure(fig, title, "importance (shares sum to 100%)", None, legend=False)
