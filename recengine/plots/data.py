"""Dataset charts: click rate per split, history lengths, articles per category and feature coverage."""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from recengine.plots._style import MODEL, PALETTE, PATTERNS, SERIES, empty_figure, fmt_percent, is_missing, style_figure


def click_rate_chart(rates: Mapping[str, float | None] | None) -> go.Figure:
    """Click rate (clicks / candidates) per split, as bars with percentage labels."""
    title = "Click rate per split"
    known = {split: rate for split, rate in (rates or {}).items() if not is_missing(rate)}
    if not known:
        return empty_figure(title, "No labelled split to count clicks in.")
    fig = go.Figure(go.Bar(x=list(known), y=list(known.values()), text=[fmt_percent(r) for r in known.values()],
                           textposition="outside", marker=dict(color=MODEL), name="click rate"))
    fig.update_yaxes(tickformat=".1%", rangemode="tozero")
    return style_figure(fig, title, "split", "clicks / candidates")



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
    return style_figure(fig, title, "clicks in the history", "impressions")



def category_chart(counts: Mapping[str, int] | pd.Series | None) -> go.Figure:
    """Articles per category, largest at the top, with counts as labels."""
    title = "Articles per category"
    series = pd.Series(counts if counts is not None else {}, dtype=float)
    if series.empty:
        return empty_figure(title, "No articles to count.")
    series = series.sort_values()
    fig = go.Figure(go.Bar(x=series.tolist(), y=[str(c) for c in series.index], orientation="h", name="articles",
                           text=[f"{int(v):,}" for v in series], textposition="outside", marker=dict(color=MODEL)))
    return style_figure(fig, title, "articles", "category")



def coverage_chart(coverage: Mapping | None) -> go.Figure:
    """Share of articles with a text vector and with knowledge-graph entities (from
    :func:`~recengine.diagnostics.coverage`), against 100%; the text warning, if any, is shown under it."""
    title = "Feature coverage"
    coverage = coverage or {}
    shares = {"text vector": coverage.get("text_coverage"), "graph entities": coverage.get("graph_coverage")}
    shares = {k: v for k, v in shares.items() if not is_missing(v)}
    if not shares:
        return empty_figure(title, "No catalogue to measure.")
    colours = [PALETTE["green"] if v >= 1.0 else PALETTE["vermillion"] for v in shares.values()]
    fig = go.Figure(go.Bar(
        x=list(shares.values()), y=list(shares), orientation="h", name="coverage",
        text=[fmt_percent(v) for v in shares.values()], textposition="outside", marker=dict(color=colours),
    ))
    fig.add_vline(x=1.0, line_dash="dash", line_color=PALETTE["grey"], annotation_text="100%")
    fig.update_xaxes(tickformat=".0%", range=[0, 1.15])
    warning = coverage.get("text_warning")
    if warning:
        fig.add_annotation(
            text="<br>".join(textwrap.wrap(warning, 90)), x=0, y=-0.35, xref="paper", yref="paper",
            showarrow=False, xanchor="left", font=dict(color=PALETTE["vermillion"]),
        )
    return style_figure(fig, title, "share of articles", None)

