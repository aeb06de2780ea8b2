"""Training curves: train loss and the selection split's AUC per epoch, live or finished, with random and the
oracle as labelled references."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recengine.plots._style import (MODEL, PALETTE, add_references, empty_figure, fmt, is_missing, quality_range,
                                    style_figure)

LOSS = PALETTE["orange"]
ONE_POINT = "one point per finished epoch"


def selection_split(entry: dict) -> str:
    """The split an epoch's history entry was scored on: "validation" or "dev" (runs before the validation
    split kept dev's metrics under "dev")."""
    return entry.get("split") or "dev"


def selection_auc(entry: dict) -> float | None:
    """An epoch's AUC on its selection split, or None when it had none."""
    return (entry.get("valid") or entry.get("dev") or {}).get("auc")


def training_curves(
    history: Sequence[dict] | None, *, random_auc: float | None = None, oracle_auc: float | None = None,
    random_split: str | None = None, oracle_split: str | None = None, split: str | None = None,
    steps: Sequence[tuple[float, float]] | None = None,
) -> go.Figure:
    """Train loss and the selection split's AUC side by side; works on a partial history (live training).

    Loss: a marker per finished epoch (at x = epoch) and, from ``steps`` ((epochs done, loss) pairs, e.g. 0.5 =
    half-way through the first epoch), a thin line of the latest batches' loss, so an epoch in progress shows.
    AUC: random and the oracle are drawn whenever given, even before the first epoch ends; a reference measured
    on another split than the panel's (``random_split``/``oracle_split``, default the panel's) says so in its
    label. ``split`` names the panel's split before any epoch has (default dev). The AUC axis never passes 1."""
    epochs = [entry for entry in history or [] if "epoch" in entry]
    references = [v for v in (random_auc, oracle_auc) if not is_missing(v)]
    if not epochs and not steps and not references:
        return empty_figure("Training", "No epoch has finished yet.")
    split = selection_split(epochs[-1]) if epochs else split or "dev"
    title = f"Loss and {split} AUC, {ONE_POINT}"  # one line: the caption says the rest
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12)
    _loss_panel(fig, epochs, steps or [])
    aucs = [(e["epoch"], selection_auc(e)) for e in epochs if selection_auc(e) is not None]
    _auc_panel(fig, aucs, split)
    add_references(fig, random_auc, None, row=1, col=2, suffix=_elsewhere(random_split, split))
    add_references(fig, None, oracle_auc, row=1, col=2, suffix=_elsewhere(oracle_split, split))
    fig.update_yaxes(range=quality_range([auc for _, auc in aucs], random_auc, oracle_auc), row=1, col=2)
    last = max([e["epoch"] for e in epochs] + [x for x, _ in steps or []] + [1])
    fig.update_xaxes(title_text="epochs done", range=[0, last + 0.3], tick0=0, dtick=1)
    fig.update_yaxes(title_text="train loss", row=1, col=1)
    fig.update_yaxes(title_text=f"{split} AUC", row=1, col=2)
    return style_figure(fig, title, legend=False)


def _elsewhere(measured_on: str | None, split: str) -> str:
    return "" if not measured_on or measured_on == split else f" ({measured_on})"


def _loss_panel(fig: go.Figure, epochs: list[dict], steps: Sequence[tuple[float, float]]) -> None:
    if steps:
        fig.add_trace(go.Scatter(x=[x for x, _ in steps], y=[loss for _, loss in steps], name="latest batches",
                                 mode="lines", line=dict(color=LOSS, width=1.5, dash="dot"), hoverinfo="x+y"),
                      row=1, col=1)
    losses = [(e["epoch"], e.get("train_loss")) for e in epochs]
    values = [y for _, y in losses]
    fig.add_trace(go.Scatter(
        x=[x for x, _ in losses], y=values, name="train loss (epoch mean)", mode="lines+markers+text",
        text=_last_label(values), textposition=_label_side(values), cliponaxis=False,
        line=dict(color=LOSS), marker=dict(symbol="square", size=10, color=LOSS),
    ), row=1, col=1)
    known = [v for v in values + [loss for _, loss in steps] if not is_missing(v)]
    if known:  # room above and below for the latest value's label
        pad = max((max(known) - min(known)) * 0.15, abs(max(known)) * 0.02, 1e-3)
        fig.update_yaxes(range=[min(known) - pad, max(known) + pad], row=1, col=1)


def _auc_panel(fig: go.Figure, aucs: list[tuple[int, float]], split: str) -> None:
    values = [y for _, y in aucs]
    fig.add_trace(go.Scatter(
        x=[x for x, _ in aucs], y=values, name=f"{split} AUC", mode="lines+markers+text",
        text=_last_label(values), textposition=_label_side(values), cliponaxis=False,
        line=dict(color=MODEL), marker=dict(symbol="circle", size=10, color=MODEL),
    ), row=1, col=2)
    if not aucs:
        fig.add_annotation(text="no epoch scored yet", x=0.5, y=0.5, xref="x2 domain", yref="y2 domain",
                           showarrow=False, font=dict(color=PALETTE["grey"]))


def _label_side(values: list) -> str:
    """Where the latest value's label goes: on the side away from the line that arrives at it."""
    rising = len(values) < 2 or is_missing(values[-2]) or values[-1] >= values[-2]
    return "top left" if rising else "bottom left"


def _last_label(values: list) -> list[str]:
    """Only the latest value is written out (labels on every point would run into each other)."""
    return ["" for _ in values[:-1]] + [fmt(values[-1])] if values else []
