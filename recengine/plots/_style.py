"""The one look every chart shares: palette, markers, title and legend placement, reference lines, value labels
and log axes. Chart modules build their traces and then call :func:`style_figure`; they never set margins,
fonts or legend positions themselves, so a rule changed here changes every chart.

The rules, which ``tests/ui/test_layout.py`` checks in a real browser:

- nothing is clipped: titles wrap instead of running off, and axis titles and tick labels push the margins
  (``automargin``) instead of being cut;
- nothing overlaps: the legend sits in one row above the plot area, value labels go outside a bar unless it is
  the longest (:func:`bar_labels`), and random and oracle are lines with their label at the line's right end;
- every series differs in colour *and* marker or pattern, from the Okabe-Ito palette (colour-blind safe);
- log axes label decades only (:func:`log_axis`).
"""

from __future__ import annotations

import math
import textwrap
from typing import Mapping

import plotly.graph_objects as go

from recengine.eval.evaluate import SLICE_UNITS

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
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
TEMPLATE = "plotly_white"
FONT_SIZE = 13
TITLE_WIDTH = 48  # characters per title line: a half-width chart at 1024 px holds about 36-40 at 16 px
LEGEND_ROW = 36  # legend characters per row in a half-width chart (about 300 px) at 12 px
SLICE_LABELS = {"overall": "overall", **{s.name: s.label for s in SLICE_UNITS}}


def series_style(index: int) -> dict:
    """Colour, marker and dash of the ``index``-th series of a line chart: no two series share all three."""
    return dict(line=dict(color=SERIES[index % len(SERIES)], dash=DASHES[index % len(DASHES)]),
                # The marker shifts by one each time the colours wrap, so (colour, marker) pairs stay distinct.
                marker=dict(symbol=SYMBOLS[(index + index // len(SERIES)) % len(SYMBOLS)], size=8,
                            color=SERIES[index % len(SERIES)]))


def wrap(text: str, width: int = TITLE_WIDTH) -> str:
    """``text`` broken into lines of at most ``width`` characters with ``<br>`` (Plotly never wraps by itself)."""
    return "<br>".join(textwrap.wrap(text, width)) or text


def style_figure(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None,
                 *, legend: bool = True) -> go.Figure:
    """Apply the shared look. ``legend=False`` hides it (a single series, or labels that already name it)."""
    lines = wrap(title).count("<br>") + 1
    shown = legend and any(trace.showlegend is not False and trace.name for trace in fig.data)
    fig.update_layout(
        template=TEMPLATE, font=dict(size=FONT_SIZE),
        title=dict(text=wrap(title), x=0, xanchor="left", xref="container", y=1, yanchor="top", yref="container",
                   pad=dict(t=12, l=8), font=dict(size=FONT_SIZE + 3)),
        showlegend=shown,
        legend=dict(title_text="", orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom",
                    font=dict(size=FONT_SIZE - 1)),
        # The title's lines, then room for the legend's rows as they wrap in a half-width chart: Plotly grows a
        # wrapped legend upwards from the plot, into the title, unless the margin already holds it.
        margin=dict(t=12 + 24 * lines + (24 * _legend_rows(fig) + 8 if shown else 8), l=10, r=20, b=10,
                    autoexpand=True),
    )
    fig.update_xaxes(automargin=True, title_standoff=8)
    fig.update_yaxes(automargin=True, title_standoff=8)
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def _legend_rows(fig: go.Figure) -> int:
    """Rows a one-row-above-the-plot legend takes in a half-width chart (about LEGEND_ROW characters a row)."""
    characters = sum(len(trace.name) + 7 for trace in fig.data if trace.showlegend is not False and trace.name)
    return max(1, math.ceil(characters / LEGEND_ROW))


def side_legend(fig: go.Figure) -> go.Figure:
    """The legend as one column right of the plot, which pushes the right margin: for more series than one row
    above the plot holds (a wrapped row grows up into the title)."""
    fig.update_layout(legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top"))
    return fig


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure with no data and ``message`` in the middle: what a chart shows before there is anything to draw."""
    fig = go.Figure()
    fig.add_annotation(text=wrap(message, 60), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=15))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style_figure(fig, title, legend=False)


def add_references(fig: go.Figure, random: float | None, oracle: float | None, *, row: int | None = None,
                   col: int | None = None, suffix: str = "") -> go.Figure:
    """Random and the oracle as labelled horizontal lines across the plot: random dotted grey with its label
    below the line, the oracle dashed green with its label above, both at the right end, so the two labels
    never meet however close the values are. A missing value draws nothing."""
    for value, name, colour, dash, position in ((random, "random", RANDOM, "dot", "bottom right"),
                                                (oracle, "oracle", ORACLE, "dash", "top right")):
        if is_missing(value):
            continue
        fig.add_hline(y=value, row=row, col=col, line=dict(color=colour, dash=dash, width=2),
                      annotation=dict(text=f"{name}{suffix} {value:.3f}", font=dict(color=colour, size=FONT_SIZE - 1),
                                      bgcolor="rgba(255,255,255,0.85)"),
                      annotation_position=position)
    return fig


def quality_range(values, random: float | None = None, oracle: float | None = None) -> list[float]:
    """A y range for a quality figure that holds the values and both references with a little room, and never
    runs past 1 (an axis to 1.5 for an AUC misleads)."""
    known = [v for v in (*values, random, oracle) if not is_missing(v)]
    if not known:
        return [0.0, 1.0]
    low, high = min(known), max(known)
    pad = max(0.02, (high - low) * 0.15)
    return [max(0.0, low - pad), min(1.0, high + pad) if high <= 1 else high + pad]


def bar_labels(trace: go.Bar, values, digits: int = 3, *, percent: bool = False) -> go.Bar:
    """Value labels on a bar trace that are never cut: outside the bar, not clipped by the axis. Pair with
    :func:`pad_value_axis` so the longest bar's label has room."""
    trace.update(text=[fmt_percent(v) if percent else fmt(v, digits) for v in values], textposition="outside",
                 cliponaxis=False, textfont=dict(size=FONT_SIZE - 1))
    return trace


def pad_value_axis(fig: go.Figure, values, *, axis: str = "y", share: float = 0.15, low: float = 0.0) -> go.Figure:
    """Extend the value axis ``share`` past the largest value so outside labels fit inside the figure."""
    known = [v for v in values if not is_missing(v)]
    if known:
        (fig.update_xaxes if axis == "x" else fig.update_yaxes)(range=[low, max(known) * (1 + share) or 1])
    return fig


def log_axis(fig: go.Figure, *, axis: str = "y", row: int | None = None, col: int | None = None) -> go.Figure:
    """A log axis labelled at powers of ten only (``10⁻²``), with unlabelled minor grid lines between."""
    (fig.update_xaxes if axis == "x" else fig.update_yaxes)(
        type="log", dtick=1, exponentformat="power", showexponent="all",
        minor=dict(ticks="inside", showgrid=True, gridcolor="#f0f0f0"), row=row, col=col)
    return fig


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value, digits: int = 3) -> str:
    return "n/a" if is_missing(value) else f"{value:.{digits}f}"


def fmt_percent(share: float | None, digits: int = 1) -> str:
    return "n/a" if is_missing(share) else f"{share:.{digits}%}"


def metric_of(block: Mapping | None, metric: str) -> float | None:
    """One metric of an evaluation block; None where the block (e.g. the oracle without truth) is absent."""
    return None if not block else block.get(metric)
