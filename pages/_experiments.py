"""The experiment table (drawn on Compare): every stored run in one sortable table, Cornac-style, with CSV export."""

from __future__ import annotations

import streamlit as st

from recengine.data.store import Store
from recengine.eval.compare import METRIC_COLUMNS
from recengine.eval.metrics import METRIC_LABELS
from recengine.tables import experiment_table


def render_experiment_table(store: Store) -> None:
    """Every run: its setting differences, the AUC it was selected on, dev metrics with 95% intervals, costs."""
    st.subheader("Every run")
    table = experiment_table(store)
    if table.empty:
        st.info("No run yet: train one on the Train & load page.")
        return
    st.caption("Settings are those that differ from the defaults. The selection AUC is the best epoch's, on the "
               "split that chose it: the validation split (the end of the training period), or dev for runs "
               "marked “selected on dev”, whose dev figures are not independent of their selection. Dev figures "
               "carry a 95% bootstrap interval where the run keeps its dev scores. Click a column to sort.")
    shown = table.assign(selected_on=table["selected_on"].map(
        {"validation": "validation", "dev": "selected on dev"}).fillna("unknown"))
    st.dataframe(shown, hide_index=True, width="stretch", column_config=_columns())
    st.download_button("Download as CSV", table.to_csv(index=False), file_name="experiments.csv", mime="text/csv",
                       icon=":material/download:", key="experiments-csv")


def _columns() -> dict:
    number = st.column_config.NumberColumn
    config = {"run_id": "Run", "dataset": "Dataset", "mode": "Made by", "created_at": "Created",
              "configuration": "Settings changed", "selected_on": "Selected on",
              "selection_auc": number("Selection AUC", format="%.4f"),
              "train_seconds": number("Training (s)", format="%.1f"),
              "eval_seconds": number("Evaluation (s)", format="%.1f"),
              "peak_memory_mb": number("Peak memory (MB)", format="%.0f")}
    for metric in METRIC_COLUMNS:
        label = METRIC_LABELS[metric]
        config[metric] = number(f"{label} (dev)", format="%.4f")
        config[f"{metric}_low"] = number(f"{label} 95% from", format="%.4f")
        config[f"{metric}_high"] = number(f"{label} 95% to", format="%.4f")
    return config
