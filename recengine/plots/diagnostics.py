"""Charts of the model's inner state: logit and sigmoid histograms, gradient norms, the saturation demonstration, fusion weights and reliability."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recengine.plots._style import CLICK, NON_CLICK, PALETTE, PATTERNS, SERIES, SYMBOLS, empty_figure, fmt, fmt_percent, style_figure


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
    return style_figure(fig, title, x_title, "share of the class" if normalize else "candidates")



def logit_histogram(report: dict | None, *, normalize: bool = True) -> go.Figure:
    """Logits of clicks and non-clicks overlaid (bars per bin of a :func:`~recengine.diagnostics.logit_report`),
    with the logits where the sigmoid saturates (< 0.01, > 0.99) marked. ``normalize``: each class sums to 1."""
    title = "Logits"
    if report and report["candidates"]:
        title += f": {fmt_percent(report['saturated_share'])} saturated"
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
        title += f": {fmt_percent(report['pinned_share'])} pinned at exactly 0 or 1"
    fig = _class_histogram(report, "sigmoid", title, "sigmoid(logit)", normalize)
    if fig.data:
        t = report["thresholds"]
        fig.add_vline(x=t["sigmoid_low"], line_dash="dash", line_color=PALETTE["grey"],
                      annotation_text=f"< {t['sigmoid_low']}: {fmt_percent(report['saturated_low_share'])}",
                      annotation_position="top right")
        fig.add_vline(x=t["sigmoid_high"], line_dash="dash", line_color=PALETTE["grey"],
                      annotation_text=f"> {t['sigmoid_high']}: {fmt_percent(report['saturated_high_share'])}",
                      annotation_position="top left")
        fig.update_xaxes(range=[0, 1])
    return fig



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
    return style_figure(fig, title, "epoch", "mean gradient L2 norm per step")



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
            mode="lines+markers+text", text=[fmt_percent(s) for s in shares], textposition="top center", **style,
        ), row=1, col=2)
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="share of predictions", tickformat=".0%", range=[0, 1.05], row=1, col=2)
    return style_figure(fig, title)



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
            text=[fmt(v, 2) for v in values], textposition="outside",
            marker=dict(color=SERIES[i], pattern=dict(shape=PATTERNS[i])),
        ))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.1])
    return style_figure(fig, title, "view", "mean weight")



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
                marker=dict(symbol=symbol, size=8), name=f"{kind}: {label} (ECE {fmt(ece, 4)})",
                customdata=[b["candidates"] for b in bins],
                hovertemplate=f"mean prediction %{{x:.4f}}<br>{label} %{{y:.4f}}<br>%{{customdata:,}} candidates"
                              "<extra></extra>",
            ), row=1, col=col)
        fig.update_xaxes(range=[0, top], title_text="mean predicted probability (equal-mass bins)", row=1, col=col)
        fig.update_yaxes(range=[0, top], title_text="mean true probability / click rate", row=1, col=col)
    fig.update_layout(height=480, legend=dict(orientation="h", y=-0.25))
    return style_figure(fig, title)

