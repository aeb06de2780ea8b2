"""Training curves: train loss and the selection split's AUC per epoch, live or finished."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recengine.plots._style import MODEL, ORACLE, PALETTE, RANDOM, empty_figure, fmt, is_missing, style_figure


def selection_split(entry: dict) -> str:
    """The split an epoch's history entry was scored on: "validation" or "dev" (runs before the validation
    split kept dev's metrics under "dev")."""
    return entry.get("split") or "dev"



def selection_auc(entry: dict) -> float | None:
    """An epoch's AUC on its selection split, or None when it had none."""
    return (entry.get("valid") or entry.get("dev") or {}).get("auc")



def training_curves(
    history: Sequence[dict] | None, *, random_auc: float | None = None, oracle_auc: float | None = None
) -> go.Figure:
    """Train loss and the selection split's AUC per epoch side by side; works on a partial history (live
    training). ``random_auc`` and ``oracle_auc`` (dev's) are drawn as reference lines on the AUC panel."""
    title = "Training"
    epochs = [entry for entry in history or [] if "epoch" in entry]
    if not epochs:
        return empty_figure(title, "No epoch has finished yet.")
    split = selection_split(epochs[-1])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("train loss", f"{split} AUC (picks the best epoch)"))
    fig.add_trace(go.Scatter(
        x=[e["epoch"] for e in epochs], y=[e.get("train_loss") for e in epochs], name="train loss",
        mode="lines+markers+text", text=[fmt(e.get("train_loss")) for e in epochs], textposition="top center",
        line=dict(color=PALETTE["orange"]), marker=dict(symbol="square"),
    ), row=1, col=1)
    aucs = [(e["epoch"], selection_auc(e)) for e in epochs if selection_auc(e) is not None]
    fig.add_trace(go.Scatter(
        x=[epoch for epoch, _ in aucs], y=[auc for _, auc in aucs], name=f"{split} AUC",
        mode="lines+markers+text", text=[fmt(auc) for _, auc in aucs], textposition="top center",
        line=dict(color=MODEL), marker=dict(symbol="circle"),
    ), row=1, col=2)
    on = "" if split == "dev" else " (dev)"
    for value, label, colour, dash in ((random_auc, f"random{on}", RANDOM, "dot"),
                                       (oracle_auc, f"oracle{on}", ORACLE, "dash")):
        if not is_missing(value):
            fig.add_hline(y=value, row=1, col=2, line_dash=dash, line_color=colour,
                          annotation_text=f"{label} {value:.3f}", annotation_position="bottom right")
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="AUC", row=1, col=2)
    return style_figure(fig, title)

