"""The external-predictions section (drawn on Compare): upload another system's prediction file, pick the dataset
and optionally a stored run, and read the same table as a run's (beside random and the oracle, every slice) with
the paired comparison against the run."""

from __future__ import annotations

import streamlit as st

from pages import _ui
from pages._significance import show_comparison, why_paired
from recengine import plots
from recengine.app import datasets, external, runs
from recengine.data.store import Store
from recengine.eval.compare import METRIC_COLUMNS
from recengine.eval.evaluate import share_of_oracle, slice_table
from recengine.eval.metrics import METRIC_LABELS
from recengine.tables import SCORED_INTERVAL, scored_table

RESULT = "external_result"
NO_RUN = "(none)"
FORMATS = {"auto": "decide from the file", "ranks": "ranks (1 = top)", "scores": "scores (higher = better)"}
SCORED_KEYS = ("scorer", "impressions", *(METRIC_LABELS["auc"] + part for part in ("", *SCORED_INTERVAL)),
               *(METRIC_LABELS[m] for m in ("mrr", "ndcg@5", "ndcg@10")))
SLICE_NAMES = {"group": "slice_group", "value": "slice", "model": "this_system"}


def render_external(store: Store) -> None:
    """Upload, score, show: a bad file is one readable message naming its line."""
    st.subheader("Score another system's predictions")
    st.caption("One line per impression of the split, in any order: the impression id, then a list with one value "
               "per candidate in the order behaviors.tsv gives them, e.g. `17 [3,1,2]` (ranks, 1 = top: MIND's "
               "leaderboard format, what `recengine predict` writes) or `17 [0.12,0.93,0.40]` (scores, higher = "
               "better).")
    names = [d["name"] for d in datasets.list_datasets(store)]
    if not names:
        st.info("There is no dataset yet. Generate or import one on the Data page.")
        return
    active = _ui.active_dataset()
    c = st.columns(3)
    dataset = c[0].selectbox("Dataset", names, index=names.index(active["name"]) if active and active["name"] in
                             names else 0, key="external_dataset",
                             help="The dataset whose impressions the file ranks.")
    against = c[1].selectbox("Compare with the run", [NO_RUN, *(r["run_id"] for r in runs.list_runs(store, dataset))],
                             key="external_run", help="A trained run to set the file against, impression by "
                             "impression; (none) scores the file alone.")
    kind = c[2].selectbox("The lists hold", list(FORMATS), format_func=FORMATS.get, key="external_format",
                          help="Whether each list gives ranks (1 = best) or scores (higher = better).")
    upload = st.file_uploader("Prediction file", key="external_upload",
                              help="A text file, one line per impression, as described above.")
    if st.button("Score the file", disabled=upload is None, icon=":material/play_arrow:", key="external_score"):
        st.session_state.pop(RESULT, None)
        with _ui.boundary("scoring the prediction file") as scored:
            result = external.evaluate_prediction(store, upload.getvalue(), name=upload.name, data=dataset,
                                                  against=None if against == NO_RUN else against, format=kind)
        if scored.ok:
            st.session_state[RESULT] = result
    if RESULT in st.session_state:
        _show(st.session_state[RESULT])


def _show(result: dict) -> None:
    read = result["prediction"]
    st.caption(f"{_ui.literal(read['file'])}: {read['impressions']:,} impressions and {read['candidates']:,} "
               f"candidates of {_ui.literal(read['dataset'])} ({read['split']}), read as {read['format']}.")
    low, high = (result.get("ci") or {}).get("auc") or (None, None)
    share = share_of_oracle(*((result.get(key) or {}).get("auc") for key in ("model", "random", "oracle")))
    st.markdown(f"**AUC {_ui.fmt(result['model']['auc'])}** (95% interval {_ui.fmt(low)} to {_ui.fmt(high)}), "
                f"random {_ui.fmt((result.get('random') or {}).get('auc'))}, oracle "
                f"{_ui.fmt((result.get('oracle') or {}).get('auc'))}: {_ui.percent(share)} of the way from random "
                "to the oracle.")
    _ui.chart(plots.metrics_chart(result), key="external-metrics")
    scored = scored_table(result)
    _ui.show_table(scored, SCORED_KEYS, key="external-scored",
                   kinds={c: "metric" for c in scored.columns[2:]} | {"impressions": "count"})
    st.caption("One row each for this file, a random scorer (the floor) and the oracle (the true click "
               "probabilities: the ceiling). The 95% interval (low to high) is the range this file's true value "
               "likely lies in, from resampling the impressions.")
    metric = st.selectbox("Slices by", list(METRIC_COLUMNS), format_func=METRIC_LABELS.get, key="external_metric",
                          help="The measure of ranking quality the slice table shows.")
    slices = slice_table(result, metric).rename(columns=SLICE_NAMES)
    _ui.show_table(slices, [c for c in slices.columns if c != "scored"], key="external-slices",
                   kinds={"this_system": "metric", "random": "metric", "oracle": "metric", "impressions": "count",
                          "scored": "count"})
    st.caption("Each slice is a part of the impressions: by whether the reader and the articles were seen in "
               "training, then by every slice group the evaluation knows. Way to oracle: 0% is random, 100% the "
               "oracle.")
    if result.get("against"):
        _show_against(result["against"])


def _show_against(against: dict) -> None:
    st.markdown(f"**This file against the run {_ui.literal(against['run_b'])}**, on the same "
                f"{against['impressions']:,} impressions. Difference: the file minus the run; not distinguishable "
                "means the gap could be chance.")
    show_comparison(against, "This file", "The run")
    with st.expander("Why this exists", icon=":material/help:"):
        st.markdown(why_paired(against["resamples"]))
