"""Two saved runs compared impression by impression (drawn under "Compare saved runs" on Train & load): per metric
the difference, its 95% paired-bootstrap interval and a Wilcoxon p-value, from the dev scores each run keeps."""

from __future__ import annotations

import streamlit as st

from pages import _ui
from recengine.app import runs
from recengine.data.store import Store
from recengine.tables import significance_table

RESULT = "run_pair_comparison"


def render_run_pair(store: Store, run_a: str, run_b: str) -> None:
    """A button that compares ``run_a`` with ``run_b`` on the same dev impressions, and the result table."""
    pair = (run_a, run_b)
    st.markdown(f"**{_ui.literal(run_a)} against {_ui.literal(run_b)}, impression by impression**")
    if st.button("Compare on the same dev impressions", icon=":material/difference:", key="run_pair_compare"):
        st.session_state.pop(RESULT, None)
        with _ui.boundary("comparing the two runs") as done:
            result = runs.compare_runs(store, run_a, run_b)
        if done.ok:
            st.session_state[RESULT] = (pair, result)
    shown = st.session_state.get(RESULT)
    if shown is None or shown[0] != pair:
        return
    result = shown[1]
    st.caption(f"The difference is the first run minus the second, on the same {result['impressions']:,} dev "
               f"impressions, with a 95% interval from a paired bootstrap ({result['resamples']:,} resamples) and a "
               "Wilcoxon signed-rank p-value (1 means no difference at all). Not distinguishable: the interval "
               "includes zero.")
    show_comparison(result, "First run", "Second run")


def show_comparison(comparison: dict, first: str, second: str) -> None:
    """A paired comparison as one row per metric: both means (headed ``first`` and ``second``), the difference,
    its 95% interval, the p-value and the verdict."""
    st.dataframe(significance_table(comparison), hide_index=True, width="stretch", column_config={
        "metric": "Metric", "a": st.column_config.NumberColumn(first, format="%.4f"),
        "b": st.column_config.NumberColumn(second, format="%.4f"), **paired_columns()})


def paired_columns() -> dict:
    """Column settings of the paired-comparison cells (:data:`recengine.tables.PAIRED_COLUMNS`)."""
    return {"difference": st.column_config.NumberColumn("Difference", format="%+.4f"),
            "ci_low": st.column_config.NumberColumn("Interval from", format="%+.4f"),
            "ci_high": st.column_config.NumberColumn("Interval to", format="%+.4f"),
            "p_value": st.column_config.NumberColumn("p-value", format="%.3g"), "verdict": "Verdict"}
