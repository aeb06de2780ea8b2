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
    if st.button("Compare on the same dev impressions", icon=":material/difference:", key="run_pair_compare",
                 help="Scores both runs on the same dev impressions and tells whether their gap could be chance."):
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
               "impressions. Not distinguishable: the 95% interval of the difference includes zero, so the gap "
               "could be chance.")
    show_comparison(result, "First run", "Second run")
    with st.expander("Why this exists", icon=":material/help:"):
        st.markdown(why_paired(result["resamples"]))


def show_comparison(comparison: dict, first: str, second: str) -> None:
    """A paired comparison as one row per metric: both means (headed ``first`` and ``second``), the difference,
    its 95% interval, the p-value and the verdict."""
    table = significance_table(comparison).rename(columns={"a": first, "b": second})
    _ui.show_table(table, list(table.columns), key=f"paired-{first}-{second}",
                   kinds={first: "metric", second: "metric"})


def why_paired(resamples: int) -> str:
    """What the interval and the p-value of a paired comparison are, in words."""
    return (f"Two scorers can differ by chance alone. Both are scored on the same impressions, so the difference "
            f"is measured impression by impression (paired). The 95% interval comes from a paired bootstrap: the "
            f"impressions are resampled {resamples:,} times and the middle 95% of the differences kept. The p-value "
            f"is a Wilcoxon signed-rank test of the per-impression differences: small means the gap is unlikely to "
            f"be chance; 1 means no difference at all.")

