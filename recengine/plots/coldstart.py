"""The cold-start curve: quality on cold users as their first clicks arrive, per way of stating interests, beside
random and the oracle (the JSON ``benchmarks/cold_start.py`` prints)."""

from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go

from recengine.errors import InputError
from recengine.eval.metrics import METRIC_LABELS
from recengine.plots._style import add_references, empty_figure, quality_range, series_style, style_figure

# The methods drawn, in legend order, with the words a reader of the chart needs.
METHODS = {
    "popularity": "no interests stated",
    "picks": "picked categories",
    "text": "typed sentence",
    "picks_text": "picks + sentence",
}


def cold_start_chart(result: Mapping | None, metric: str = "auc") -> go.Figure:
    """``metric`` on dev cold users at 0, 1, 3 and 5 revealed clicks, one line per method of :data:`METHODS`
    present in ``result``, with random and the oracle as labelled lines (measured on the same impressions)."""
    label = METRIC_LABELS.get(metric, metric)
    title = f"{label} on cold users as clicks arrive"
    if not result or not result.get("revealed"):
        return empty_figure(title, "No cold-start benchmark result yet.")
    revealed = result["revealed"]
    try:
        clicks = sorted(revealed, key=int)
    except ValueError:
        raise InputError(f"cold-start result: 'revealed' keys must be click counts, got {', '.join(revealed)}") from None
    fig = go.Figure()
    values = []
    for i, (method, name) in enumerate((m, n) for m, n in METHODS.items() if m in revealed[clicks[0]]):
        ys = [(revealed[n].get(method) or {}).get(metric) for n in clicks]
        values += ys
        fig.add_trace(go.Scatter(x=[int(n) for n in clicks], y=ys, name=name, mode="lines+markers",
                                 hovertemplate=f"{name}<br>%{{x}} clicks<br>{label} %{{y:.3f}}<extra></extra>",
                                 **series_style(i)))
    random, oracle = ((result.get(ref) or {}).get(metric) for ref in ("random", "oracle"))
    add_references(fig, random, oracle)
    fig.update_yaxes(range=quality_range(values, random, oracle))
    # Room right of the last point for the reference labels.
    fig.update_xaxes(tickvals=[int(n) for n in clicks], range=[-0.3, int(clicks[-1]) + 1.2])
    return style_figure(fig, title, "clicks revealed", label)
