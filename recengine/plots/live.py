"""Live-traffic charts: CTR of new vs old articles per hour with the monitor's threshold, and CTR per A/B arm."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from recengine.plots._style import (PALETTE, PATTERNS, SERIES, empty_figure, fmt_percent, pad_value_axis, series_style,
                                    style_figure)

NO_TRAFFIC = "No logged traffic in this window yet."


def ctr_timeline_chart(timeline: pd.DataFrame | None, threshold: float) -> go.Figure:
    """CTR per hour of new and old articles (``timeline``: hour, group, items, clicks, ctr, from
    :func:`recengine.app.monitor.hourly`), and ``threshold`` × the old CTR: the level the new CTR must stay
    above before the monitor triggers an update."""
    title = "CTR per hour: new vs old articles"
    if timeline is None or timeline.empty:
        return empty_figure(title, NO_TRAFFIC)
    fig = go.Figure()
    for index, group in enumerate(("new", "old")):
        part = timeline[timeline["group"] == group].sort_values("hour")
        if part.empty:
            continue
        fig.add_trace(go.Scatter(x=part["hour"], y=part["ctr"], mode="lines+markers", name=f"{group} articles",
                                 customdata=part[["clicks", "items"]], **series_style(index),
                                 hovertemplate="%{y:.2%} (%{customdata[0]} of %{customdata[1]} items)<extra></extra>"))
    old = timeline[timeline["group"] == "old"].sort_values("hour")
    if not old.empty:
        fig.add_trace(go.Scatter(x=old["hour"], y=old["ctr"] * threshold, mode="lines",
                                 name=f"threshold ({threshold:g} × old)",
                                 line=dict(color=PALETTE["grey"], dash="dot", width=2)))
    fig.update_yaxes(tickformat=".1%", rangemode="tozero")
    return style_figure(fig, title, "hour (UTC)", "clicks / items shown")


def arm_ctr_chart(arms: Sequence[dict] | None) -> go.Figure:
    """CTR per A/B arm with its 95 % Wilson interval as error bars (``arms`` from the monitor's report)."""
    title = "CTR per A/B arm (95% interval)"
    shown = [arm for arm in arms or () if arm.get("ctr") is not None]
    if not shown:
        return empty_figure(title, NO_TRAFFIC)
    values = [arm["ctr"] for arm in shown]
    fig = go.Figure(go.Bar(
        # The value goes under the bar, in the axis label: above it the interval's whisker would cover it.
        x=[f"{arm['arm']} · {arm['run_id']}<br>{fmt_percent(arm['ctr'], 2)}" for arm in shown], y=values, name="CTR",
        marker=dict(color=[SERIES[i % len(SERIES)] for i in range(len(shown))],
                    pattern=dict(shape=[PATTERNS[i % len(PATTERNS)] for i in range(len(shown))])),
        error_y=dict(type="data", symmetric=False, array=[arm["ci"][1] - arm["ctr"] for arm in shown],
                     arrayminus=[arm["ctr"] - arm["ci"][0] for arm in shown]),
        hovertemplate="%{y:.2%}<extra></extra>",
    ))
    pad_value_axis(fig, [arm["ci"][1] for arm in shown])
    fig.update_yaxes(tickformat=".1%")
    return style_figure(fig, title, "arm · run", "clicks / items shown", legend=False)
