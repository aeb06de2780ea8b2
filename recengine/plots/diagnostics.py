"""Charts of the model's inner state: logit and sigmoid histograms, gradient norms, the saturation demonstration,
fusion weights and reliability. Titles stay short (they must fit a third of a 1024-pixel page); the page's
captions carry the detail."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recengine.formats import column_label
from recengine.plots._style import (
    CLICK, FONT_SIZE, NON_CLICK, PALETTE, PATTERNS, SERIES, bar_labels, empty_figure, fmt, fmt_percent, log_axis,
    pad_value_axis, series_style, side_legend, style_figure,
)

# Histogram headroom: the top of the plot stays empty so the threshold labels never sit on the bars.
HEADROOM = 1.35
# Paper heights of the two threshold labels: one above the other, so they cannot meet however close the lines.
LOW_LABEL_Y, HIGH_LABEL_Y = 1.0, 0.88
COMPACT_HEIGHT = 360


def _class_histogram(report: dict | None, kind: str, title: str, x_title: str, normalize: bool,
                     compact: bool) -> go.Figure:
    """Clicks and non-clicks overlaid per bin of ``report``'s ``kind`` histogram, with headroom for labels."""
    if not report or report["clicks"] + report["non_clicks"] == 0:
        return empty_figure(title, "No labelled predictions to show yet.")
    hist = report["histograms"][kind]
    edges = np.asarray(hist["edges"], dtype=float)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig = go.Figure()
    top = 0.0
    classes = (("non_clicks", "non-clicks", NON_CLICK, ""), ("clicks", "clicks", CLICK, "/"))
    for key, label, colour, pattern in classes:
        counts = np.asarray(hist[key], dtype=float)
        total = counts.sum()
        y = counts / total if normalize and total else counts
        top = max(top, float(y.max(initial=0.0)))
        fig.add_trace(go.Bar(
            x=centres, y=y, width=widths, name=label, customdata=counts,
            marker=dict(color=colour, pattern=dict(shape=pattern), line=dict(width=0)),
            opacity=0.65, hovertemplate=f"{label}<br>bin %{{x:.3g}}<br>%{{customdata:,.0f}} candidates<extra></extra>",
        ))
    fig.update_layout(barmode="overlay", bargap=0, **({"height": COMPACT_HEIGHT} if compact else {}))
    fig.update_yaxes(range=[0, (top or 1.0) * HEADROOM])
    # A compact chart is too narrow for a legend row; its page says which colour is which.
    return style_figure(fig, title, x_title, "share of the class" if normalize else "candidates", legend=not compact)


def _thresholds(fig: go.Figure, low: float, high: float, low_text: str, high_text: str) -> go.Figure:
    """Dashed lines at the two saturation thresholds. Each label sits at its line on the side facing the other
    line, the low one at the top and the high one a row lower, so the two can never overlap."""
    for x, text, anchor, y in ((low, low_text, "left", LOW_LABEL_Y), (high, high_text, "right", HIGH_LABEL_Y)):
        fig.add_vline(x=x, line_dash="dash", line_color=PALETTE["grey"])
        fig.add_annotation(x=x, y=y, xref="x", yref="paper", text=text, showarrow=False, xanchor=anchor,
                           yanchor="top", xshift=4 if anchor == "left" else -4, bgcolor="rgba(255,255,255,0.85)",
                           font=dict(size=FONT_SIZE - 1, color="#444"))
    return fig


def logit_histogram(report: dict | None, *, normalize: bool = True) -> go.Figure:
    """Logits of clicks and non-clicks overlaid (bars per bin of a :func:`~recengine.diagnostics.logit_report`),
    with the logits where the sigmoid saturates (< 0.01, > 0.99) marked. ``normalize``: each class sums to 1."""
    title = "Logits"
    if report and report["candidates"]:
        title += f": {fmt_percent(report['saturated_share'])} saturated"
    fig = _class_histogram(report, "logits", title, "logit", normalize, compact=False)
    if fig.data:
        t = report["thresholds"]
        _thresholds(fig, t["logit_low"], t["logit_high"], "σ < 0.01", "σ > 0.99")
        # Both lines stay in view even when every logit sits on one side of them.
        edges = report["histograms"]["logits"]["edges"]
        low, high = min(edges[0], t["logit_low"]), max(edges[-1], t["logit_high"])
        pad = (high - low) * 0.05
        fig.update_xaxes(range=[low - pad, high + pad])
    return fig


def sigmoid_histogram(report: dict | None, *, normalize: bool = True, compact: bool = False,
                      title: str | None = None) -> go.Figure:
    """Sigmoid outputs of clicks and non-clicks overlaid, saturation thresholds marked with the share beyond
    each; the title gives the share pinned at exactly 0.0 or 1.0 in float32 (where no gradient flows).
    ``compact``: lower and without a legend, for a chart a third of the page wide; ``title`` replaces the
    default one (a third of a 1024-pixel page holds about 16 characters)."""
    if title is None:
        title = "Sigmoid outputs"
        if report and report["candidates"]:
            title += f": {fmt_percent(report['pinned_share'])} pinned"
    fig = _class_histogram(report, "sigmoid", title, "sigmoid(logit)", normalize, compact)
    if fig.data:
        t = report["thresholds"]
        _thresholds(fig, t["sigmoid_low"], t["sigmoid_high"],
                    f"< {t['sigmoid_low']}: {fmt_percent(report['saturated_low_share'])}",
                    f"> {t['sigmoid_high']}: {fmt_percent(report['saturated_high_share'])}")
        fig.update_xaxes(range=[0, 1])
    return fig


def gradient_norms_chart(frame: pd.DataFrame | None) -> go.Figure:
    """Mean gradient norm per module over epochs (an epoch x module frame from
    :func:`~recengine.diagnostics.gradient_norms`) on a log axis; a module whose gradient is zero throughout
    cannot be drawn on it and says so in its legend entry."""
    title = "Gradient norm by module"
    if frame is None or frame.empty or frame.notna().sum().sum() == 0:
        return empty_figure(title, "No gradient norms recorded yet (they appear after the first epoch).")
    fig = go.Figure()
    for i, module in enumerate(frame.columns):
        values = frame[module].astype(float)
        name = column_label(module)
        if (values.fillna(0) == 0).all():
            name += ": no gradient"
        fig.add_trace(go.Scatter(
            x=list(frame.index), y=values.where(values > 0).tolist(), name=name, mode="lines+markers",
            hovertemplate=f"{column_label(module)}<br>epoch %{{x}}<br>%{{y:.3g}}<extra></extra>", **series_style(i),
        ))
    log_axis(fig)
    fig.update_xaxes(dtick=1)
    # More modules than one legend row holds at 1024 px: the legend goes to the side.
    return side_legend(style_figure(fig, title, "epoch", "mean gradient norm per step"))


def saturation_chart(demo: Mapping[str, dict] | None, labels: Mapping[str, str] | None = None) -> go.Figure:
    """The saturation demonstration (:func:`~recengine.diagnostics.saturation_demo`): train loss (log axis, so a
    loss stuck at 50 and one falling below 1 are both readable) and the share of saturated dev predictions per
    epoch, one line per setting, named by ``labels`` where given."""
    title = "Saturation demonstration: three scorings"
    if not demo:
        return empty_figure(title, "Run the demonstration to see the three settings train.")
    labels = labels or {}
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.16)
    for i, (name, result) in enumerate(demo.items()):
        label = labels.get(name, name)
        losses, shares = result.get("loss") or [], result.get("saturated_share") or []
        fig.add_trace(go.Scatter(
            x=list(range(1, len(losses) + 1)), y=losses, name=label, legendgroup=name, mode="lines+markers",
            hovertemplate=f"{label}<br>epoch %{{x}}<br>loss %{{y:.3g}}<extra></extra>", **series_style(i),
        ), row=1, col=1)
        fig.add_trace(go.Scatter(
            x=list(range(1, len(shares) + 1)), y=shares, name=label, legendgroup=name, showlegend=False,
            mode="lines+markers", hovertemplate=f"{label}<br>epoch %{{x}}<br>%{{y:.1%}} saturated<extra></extra>",
            **series_style(i),
        ), row=1, col=2)
    fig.update_xaxes(title_text="epoch", dtick=1)
    log_axis(fig, row=1, col=1)
    fig.update_yaxes(title_text="train loss (log scale)", row=1, col=1)
    fig.update_yaxes(title_text="saturated dev predictions", tickformat=".0%", range=[0, 1.05], row=1, col=2)
    return style_figure(fig, title)


FUSION_GROUPS = {"all": "all articles", "warm": "seen in training", "new": "never seen"}


def fusion_weights_chart(frame: pd.DataFrame | None) -> go.Figure:
    """Mean fusion weight per view for all, warm and never-seen articles (a frame from
    :func:`~recengine.diagnostics.fusion_weights`) as horizontal grouped bars: each value label has a row of its
    own, so labels cannot overlap at any width. Concat fusion shows the reason it has none."""
    title = "Fusion weight per view"
    if frame is None or frame.empty:
        reason = (frame.attrs.get("reason") if frame is not None else None) or "No fusion weights to show."
        return empty_figure(title, reason)
    counts = frame.attrs.get("articles") or {}
    fig, shown = go.Figure(), []
    for i, column in enumerate(c for c in FUSION_GROUPS if c in frame.columns):
        values = frame[column].astype(float)
        if values.isna().all():
            continue
        count = f" (n={counts[column]:,})" if column in counts else ""
        trace = go.Bar(y=[str(v) for v in frame.index], x=values.tolist(), orientation="h",
                       name=FUSION_GROUPS[column] + count,
                       marker=dict(color=SERIES[i], pattern=dict(shape=PATTERNS[i])))
        fig.add_trace(bar_labels(trace, values.tolist(), digits=2))
        shown.extend(values.tolist())
    fig.update_layout(barmode="group", bargap=0.25, height=160 + 60 * len(frame.index),
                      legend=dict(traceorder="normal"))
    # First view on top, and the groups in legend order from top to bottom.
    fig.update_yaxes(autorange="reversed")
    pad_value_axis(fig, shown, axis="x", share=0.2)
    return style_figure(fig, title, "mean weight (the views' weights sum to 1)", "view")


def reliability_chart(report: Mapping | None) -> go.Figure:
    """Reliability curves (:func:`recengine.eval.reliability.reliability_report`): one panel for the raw sigmoid
    and one for the calibrated probabilities, each with the mean true click probability and the observed click
    rate per bin against the mean prediction, and the diagonal of perfect calibration as the reference. Each
    panel's ECEs are written in its empty top-left corner (above the diagonal nothing is drawn)."""
    title = "Reliability: predicted against actual click probability"
    panels = [(kind, (report or {}).get(kind)) for kind in ("raw", "calibrated")]
    if not any(curve and curve.get("bins") for _, curve in panels):
        return empty_figure(title, "No predictions to show yet.")
    names = {"raw": "mean raw prediction (sigmoid of the logit)", "calibrated": "mean calibrated prediction"}
    series = (("truth", "true click probability", PALETTE["green"], "circle", "solid"),
              ("observed", "observed click rate", PALETTE["vermillion"], "square", "dash"))
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12)
    legend_done: set[str] = set()
    first = next(col for col, (_, curve) in enumerate(panels, start=1) if curve and curve.get("bins"))
    for col, (kind, curve) in enumerate(panels, start=1):
        if not curve or not curve.get("bins"):
            _panel_note(fig, col, f"{kind}: not fitted for this run")
            fig.update_xaxes(title_text=names[kind], row=1, col=col)
            continue
        bins = curve["bins"]
        predicted = [b["predicted"] for b in bins]
        top = max([*predicted, *(b[key] for key, *_ in series for b in bins if b[key] is not None)])
        top = min(1.0, top * 1.1) or 1.0
        fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                                 legendgroup="diagonal", showlegend=col == first, hoverinfo="skip",
                                 line=dict(color=PALETTE["grey"], dash="dot")), row=1, col=col)
        for key, label, colour, symbol, dash in series:
            if any(b[key] is None for b in bins):
                continue
            fig.add_trace(go.Scatter(
                x=predicted, y=[b[key] for b in bins], mode="lines+markers", name=label, legendgroup=key,
                showlegend=key not in legend_done, line=dict(color=colour, dash=dash),
                marker=dict(symbol=symbol, size=8), customdata=[b["candidates"] for b in bins],
                hovertemplate=f"mean prediction %{{x:.4f}}<br>{label} %{{y:.4f}}<br>%{{customdata:,}} candidates"
                              "<extra></extra>",
            ), row=1, col=col)
            legend_done.add(key)
        eces = [f"ECE vs {target} {fmt(curve.get(f'ece_vs_{target}'))}" for target in ("truth", "observed")
                if curve.get(f"ece_vs_{target}") is not None]
        _panel_note(fig, col, "<br>".join([kind, *eces]), corner=True)
        fig.update_xaxes(range=[0, top], title_text=names[kind], row=1, col=col)
        fig.update_yaxes(range=[0, top], row=1, col=col)
    fig.update_yaxes(title_text="actual click probability / rate", row=1, col=1)
    fig.update_layout(height=460)
    return style_figure(fig, title)


def _panel_note(fig: go.Figure, col: int, text: str, *, corner: bool = False) -> None:
    """A note inside panel ``col``: in its top-left corner, or in its middle for a panel with nothing drawn."""
    axis = "" if col == 1 else str(col)
    fig.add_annotation(text=text, xref=f"x{axis} domain", yref=f"y{axis} domain", x=0.03 if corner else 0.5,
                       y=0.97 if corner else 0.5, xanchor="left" if corner else "center",
                       yanchor="top" if corner else "middle", align="left", showarrow=False,
                       bgcolor="rgba(255,255,255,0.85)", font=dict(size=FONT_SIZE - 1))
