"""The experiment table (drawn on Compare): every stored run in one sortable table, Cornac-style, with CSV export."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _ui
from recengine.data.store import Store
from recengine.eval.compare import METRIC_COLUMNS
from recengine.eval.metrics import METRIC_LABELS
from recengine.tables import distinct_settings, experiment_table

KEYS = ("run_id", "configuration", "selected_on", "auc", "auc_low", "auc_high")  # fit 1024 px; the rest on demand
WHY = ("Runs differ in how their best epoch was picked. Most pick it on a **validation split**: the latest part of "
       "the training period, held out from training, so the dev figures stay an honest test. Runs marked **dev** "
       "picked it on the dev split itself, as many papers do: their dev figures are a little optimistic. The 95% "
       "interval is a bootstrap over dev impressions: the impressions are resampled and the middle 95% of the "
       "resulting metric kept; it is blank for a run that does not keep its dev scores.")


def render_experiment_table(store: Store) -> None:
    """Every run: its setting differences, the AUC it was selected on, dev metrics with 95% intervals, costs."""
    st.subheader("Every run")
    table = experiment_table(store)
    if table.empty:
        st.info("No run yet: train one on the Train & load page.")
        return
    st.caption("One row per trained run, newest first. Settings changed: what differs from the defaults (the "
               "changes every run shares are named once, below). Selected on: the split that picked "
               "the best epoch (its AUC is one toggle away). AUC (dev): the run's AUC on dev, with its 95% "
               "interval (low to high): the range the true value likely lies in. Click a header to sort.")
    with st.expander("Why this exists", icon=":material/help:"):
        st.markdown(WHY)
    distinct, shared = distinct_settings(list(table["configuration"]))
    if shared:
        st.caption(f"Every run: {_ui.literal(shared)}.")
    shown, kinds = _display(table.assign(configuration=distinct))
    _ui.show_table(shown, [column(c) for c in KEYS], key="experiments", kinds=kinds,
                   widths={"run_id": "medium", "settings_changed": "small", "selected_on": "small"})
    st.download_button("Download as CSV", table.to_csv(index=False), file_name="experiments.csv", mime="text/csv",
                       icon=":material/download:", key="experiments-csv",
                       help="Every column of every run, numbers unrounded.")


def column(name: str) -> str:
    """The displayed name of an experiment-table column: a metric's interval ends in words (AUC's, beside it
    among the key columns, in two: the table must fit the page)."""
    for suffix, words in (("_low", "95% low"), ("_high", "95% high")):
        metric = name.removesuffix(suffix)
        if name.endswith(suffix) and metric in METRIC_LABELS:
            return words if metric == "auc" else f"{METRIC_LABELS[metric]} {words}"
    return {"configuration": "settings_changed", "peak_memory_mb": "peak memory (MB)",
            **{m: f"{METRIC_LABELS[m]} (dev)" for m in METRIC_COLUMNS}}.get(name, name)


def _display(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table with worded interval columns, and the kind of each renamed number column."""
    shown = table.rename(columns=column)
    kinds = {column(c): "metric" for c in table.columns if column(c) != c}
    kinds.update({"settings_changed": "text", "peak memory (MB)": "count"})
    return shown, kinds
