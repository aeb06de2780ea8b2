"""Dataset charts: click rate per split, history lengths, articles per category and feature coverage."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from recengine.plots._style import (MODEL, PALETTE, PATTERNS, SERIES, bar_labels, empty_figure, is_missing,
                                    pad_value_axis, style_figure)

NOT_EMBEDDED = "not embedded yet"


def click_rate_chart(rates: Mapping[str, float | None] | None) -> go.Figure:
    """Click rate (clicks / candidates) per split, as bars with percentage labels."""
    title = "Click rate per split"
    known = {split: rate for split, rate in (rates or {}).items() if not is_missing(rate)}
    if not known:
        return empty_figure(title, "No labelled split to count clicks in.")
    trace = go.Bar(x=list(known), y=list(known.values()), marker=dict(color=MODEL), name="click rate")
    fig = go.Figure(bar_labels(trace, list(known.values()), percent=True))
    fig.update_yaxes(tickformat=".1%")
    pad_value_axis(fig, list(known.values()))
    return style_figure(fig, title, "split", "clicks / candidates", legend=False)


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
    """Articles per category, largest at the top, with counts as labels outside the bars (never cut)."""
    title = "Articles per category"
    series = pd.Series(counts if counts is not None else {}, dtype=float)
    if series.empty:
        return empty_figure(title, "No articles to count.")
    series = series.sort_values()
    trace = go.Bar(x=series.tolist(), y=[str(c) for c in series.index], orientation="h", name="articles",
                   marker=dict(color=MODEL))
    fig = go.Figure(bar_labels(trace, series.tolist(), digits=0))
    fig.update_traces(text=[f"{int(v):,}" for v in series])  # counts with separators, not 3 decimals
    pad_value_axis(fig, series.tolist(), axis="x")
    fig.update_yaxes(dtick=1)  # every category named, none skipped when the chart is short
    return style_figure(fig, title, "articles", None, legend=False)


def coverage_chart(coverage: Mapping | None, trained: Mapping | None = None) -> go.Figure:
    """Share of articles linked to knowledge-graph entities and of articles whose text the embedding cache
    already holds for the chosen embedder (from :func:`recengine.app.datasets.coverage`), and, given the run's
    coverage (``trained``, from :func:`recengine.app.datasets.coverage_from_meta`), the share that had a text
    vector when the model trained. An embedder that has embedded nothing yet reads "not embedded yet", not 0%:
    training embeds what the cache lacks. Warnings belong to the page, not to the figure."""
    title = "Feature coverage"
    coverage = coverage or {}
    rows = _coverage_rows(coverage, trained)
    if not rows:
        return empty_figure(title, "No catalogue to measure.")
    labels, values = list(rows), list(rows.values())
    colours = [PALETTE["green"] if v >= 1.0 else PALETTE["orange"] for v in values]
    trace = go.Bar(x=values, y=labels, orientation="h", name="coverage", marker=dict(color=colours))
    fig = go.Figure(bar_labels(trace, values, percent=True))
    embedded = _embedded_label(coverage)
    if embedded in rows and coverage.get("embedded") == 0:
        fig.update_traces(text=[NOT_EMBEDDED if label == embedded else text
                                for label, text in zip(labels, fig.data[0].text)])
    # Room right of a full bar for its label; three ticks stay level on a narrow chart.
    fig.update_xaxes(tickformat=".0%", range=[0, 1.3], tickvals=[0, 0.5, 1.0])
    return style_figure(fig, title, "share of articles", None, legend=False)


def _embedded_label(coverage: Mapping) -> str:
    return f"text cached<br>({coverage.get('embedder') or 'embedder'})"


def _coverage_rows(coverage: Mapping, trained: Mapping | None) -> dict[str, float]:
    """Bar label -> share, bottom to top, leaving out what is unknown."""
    rows = {
        "graph<br>entities": coverage.get("graph_coverage"),
        _embedded_label(coverage): coverage.get("embedded_share"),
        "text in<br>the model": (trained or {}).get("text_coverage"),
    }
    return {label: share for label, share in rows.items() if not is_missing(share)}
