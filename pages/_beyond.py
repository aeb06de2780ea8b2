"""The "Beyond accuracy" section: what the lists a run serves look like (coverage, diversity, novelty, popularity,
personalisation, freshness), beside random and most-popular lists. Serving one list per dev user takes tens of
seconds on the demo preset, so the work runs as a job and its result is kept in the store."""

from __future__ import annotations

import streamlit as st

from pages import _jobs, _ui
from recengine import plots
from recengine.app import estimate, evaluation
from recengine.data.store import Store


def render_beyond(store: Store, run_id: str, *, origin: str = "evaluation") -> None:
    """The section for ``run_id``: a button that measures its served lists (a job started from the page
    ``origin``), then the newest saved measurement as a table with plain explanations and a chart."""
    st.subheader("Beyond accuracy: the lists the recommender serves")
    st.markdown(
        "For each reader of the evaluation period (up to "
        f"{evaluation.USER_CAP:,}), the recommender serves its top 10 articles as it would have at the moment of "
        "that reader's visit. The same readers also get **random** lists and **most popular** lists (the articles "
        "clicked most in training), so each figure has two references."
    )
    record = store.run(run_id)
    if record is None:
        st.info("This run is not in the store.")
        return
    params = {"run": run_id, "dataset": record["dataset"], "users": None}
    st.caption(f"Takes about {_ui.literal(estimate.duration(evaluation.estimated_seconds(store, params)))} "
               "on this dataset.")
    if st.button("Measure the served lists", key=f"beyond-{run_id}", icon=":material/insights:"):
        _jobs.start("beyond", {"run": run_id}, origin=origin)
    _jobs.detail("beyond", record["dataset"], key=f"beyond-job-{run_id}",
                 on_done=lambda job: st.success("Measured; the figures below are the new ones."))
    saved = None
    with _ui.boundary("reading the served-list measures"):
        saved = evaluation.saved_beyond(store, run_id)
    if saved is None:
        st.info("Not measured for this run yet.")
        return
    result = saved["result"]
    sampled = "a random sample of " if result["sampled"] else ""
    st.caption(f"Measured {saved['created_at'][:16].replace('T', ' ')} UTC: top {result['k']} for "
               f"{sampled}{result['users']:,} readers, in {result['seconds']:.0f} s. Personalisation compares "
               f"{result['model']['pairs']:,} pairs of readers"
               f"{' (a random sample of pairs)' if result['model']['pairs_sampled'] else ''}.")
    table = evaluation.beyond_table(result)
    # The explanations are long: the numbers fit the page, "What it means" is one toggle away.
    _ui.show_table(table, [c for c in table.columns if c != "What it means"], key=f"beyond-table-{run_id}",
                   kinds={c: "text" for c in table.columns})
    _ui.chart(plots.beyond_chart(result), key=f"beyond-chart-{run_id}")
