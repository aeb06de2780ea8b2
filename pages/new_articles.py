"""New articles: write an article and see it scored zero-shot (who it reaches first, its nearest articles);
fold new MIND data into the model (incremental update); zero-shot vs incremental vs retrain from the benchmark."""

import pandas as pd
import streamlit as st

from pages import _jobs, _ui
from pages._significance import paired_columns
from recengine import plots
from recengine.app import experiments, tasks
from recengine.tables import metric_summary, zero_shot_rows, zero_shot_significance


@st.cache_data(show_spinner=False, max_entries=8)
def vocabulary(path: str, changed: int) -> tuple[list[str], pd.DataFrame]:
    """The dataset's categories and its knowledge-graph entities (id, label)."""
    data = _ui.dataset(path)
    categories = sorted(data.news.frame["category"].dropna().unique().tolist())
    labels = data.news.entity_labels
    entities = pd.DataFrame({"entity": list(labels), "label": list(labels.values())}).sort_values("label")
    return categories, entities


_ui.frame()
st.title("New articles")
run = _ui.require_run()
record = _ui.active_dataset()
workspace = _ui.workspace()

st.subheader("Write an article")
st.caption("Its text and knowledge-graph views need no training; its ID vector is filled from its nearest trained "
           "articles. It is stored, appended to the index, and can be recommended at once.")
with _ui.boundary("reading the dataset's vocabulary"):
    categories, entities = vocabulary(record["path"], _ui.stamp(record["path"]))
    with st.form("article"):
        title = st.text_input("Title", placeholder="Central bank holds rates as inflation cools")
        abstract = st.text_area("Abstract", height=100)
        c = st.columns(3)
        category = c[0].selectbox("Category", categories, index=None, accept_new_options=True,
                                  placeholder="pick or type one")
        subcategory = c[1].text_input("Subcategory")
        top_users = c[2].number_input("Users to list", min_value=1, max_value=100, value=10)
        entity_text = st.text_input("Entities (WikidataIds, comma-separated)", placeholder="Q1234, Q5678",
                                    help="Knowledge-graph entities the article mentions; see the list below.")
        add = st.form_submit_button("Add and score", type="primary", icon=":material/post_add:")
    with st.expander(f"The knowledge graph's {len(entities):,} entities"):
        st.dataframe(entities, hide_index=True)

if add:
    with _ui.boundary("adding the article") as done, st.spinner("Embedding and scoring the article…"):
        result = _ui.service(run["path"], run["dataset"]).add_article(
            title=title, abstract=abstract, category=category or "", subcategory=subcategory,
            entities=[e.strip() for e in entity_text.split(",") if e.strip()], top_users=int(top_users),
        )
    if done.ok:
        st.session_state["added_article"] = {"title": title, "result": result}

if added := st.session_state.get("added_article"):
    result, summary = added["result"], added["result"]["score_summary"]
    st.success(f"Added article {_ui.literal(result['article_id'])} and scored it zero-shot.")
    st.caption("Title")
    st.text(added["title"])
    cols = st.columns(5)
    cols[0].metric("Users scored", f"{summary['users']:,}")
    cols[1].metric("Mean logit", _ui.fmt(summary.get("mean")))
    cols[2].metric("Median logit", _ui.fmt(summary.get("p50")))
    cols[3].metric("90th percentile", _ui.fmt(summary.get("p90")))
    cols[4].metric("Mean click probability", _ui.fmt(summary.get("mean_probability")))
    st.dataframe(pd.DataFrame([summary]), hide_index=True)
    left, right = st.columns(2)
    left.markdown("**Users it reaches first**")
    left.dataframe(pd.DataFrame(result["top_users"]), hide_index=True)
    right.markdown("**Nearest existing articles**")
    right.dataframe(pd.DataFrame(result["nearest_articles"]), hide_index=True)

st.subheader("Fold in new data: incremental update")
st.caption("Grows the ID tables for the new articles and users, trains only the new rows (old rows stay "
           "bit-for-bit), optionally everything at a decayed learning rate, and saves the result as a new run, which "
           "becomes the active model when it scores at least as well as the current one on its dev data; the current "
           "run stays as it is. The input is archived, so the same data is never consumed twice. It runs in the "
           "background: you may leave the page.")
_jobs.estimate_caption(run["dataset"], 1, what="For scale, a full training")
with st.form("update"):
    folder = st.text_input("MIND folder with the new data",
                           help=f"A folder name under {workspace.datasets}, or an absolute path inside it or "
                                "inside a root listed in $RECENGINE_IMPORT_ROOTS.")
    files = st.file_uploader("…or upload news.tsv and behaviors.tsv (or a .zip)", type=["tsv", "vec", "zip"],
                             accept_multiple_files=True)
    c = st.columns(3)
    epochs = c[0].number_input("Epochs on the new rows", min_value=0, max_value=50, value=2)
    full_epochs = c[1].number_input("Epochs on everything", min_value=0, max_value=50, value=0)
    lr_decay = c[2].number_input("Learning-rate factor for everything", min_value=0.01, max_value=1.0, value=0.3)
    update = st.form_submit_button("Update the model", icon=":material/update:")

if update:
    with _ui.boundary("reading the new data") as staged:
        source = tasks.stage_update_input(workspace, folder, [(f.name, f.getvalue()) for f in files])
    if staged.ok:
        _jobs.start("update", {"parent": run["run_id"], **source, "epochs": int(epochs),
                               "full_epochs": int(full_epochs), "lr_decay": float(lr_decay)}, origin="new_articles")


def show_update(job: dict) -> None:
    """A finished update: the child beside its parent on the parent's dev data. It becomes the active model (once,
    in the session that started it) only when it scores at least as well; otherwise the choice is the user's."""
    result = job["result"]
    child, parent = result["run_id"], result["parent"]
    if _ui.store().run(child) is None:
        st.info(f"Job {job['id']} saved run {_ui.literal(child)}, which has since been deleted.")
        return
    activated = st.session_state.setdefault("jobs_activated", [])
    if result["better_than_parent"] and _jobs.started_here(job) and job["id"] not in activated:
        activated.append(job["id"])
        _ui.activate(run=child)
    made = (f"Saved run {_ui.literal(child)} ({result['new_articles']:,} new articles, "
            f"{result['new_users']:,} new users)")
    active = _ui.active_run()
    if active and active["run_id"] == child:
        st.success(f"{made}; it is now the active model.")
    else:
        if result["better_than_parent"] is False:
            st.warning(f"{made}. It scores worse than its parent {_ui.literal(parent)} on the parent's dev data, "
                       "so it was not made active.")
        else:
            st.success(f"{made}.")
        if st.button("Make the updated run active", key=f"activate-{job['id']}", icon=":material/check_circle:"):
            _ui.activate(run=child)
    st.dataframe(pd.DataFrame({parent: metric_summary(result["parent_metrics"]),
                               child: metric_summary(result["metrics"])}))


_jobs.detail("update", run["dataset"], on_done=show_update)

st.subheader("Zero-shot vs incremental update vs full retrain")
with _ui.boundary("reading the zero-shot comparison"):
    shown = experiments.shown_zero_shot(_ui.store())
    benchmark = shown["result"]
    st.plotly_chart(plots.zero_shot_chart(zero_shot_rows(benchmark)), key="zero-shot-chart")
    paired = zero_shot_significance(benchmark)
    if paired.empty:
        st.caption("This result was recorded before the paired comparison existed: run the comparison again to see "
                   "each method against the full retrain with a 95% interval and a p-value.")
    else:
        st.caption("AUC of each method minus the full retrain's, on the same impressions: a 95% paired-bootstrap "
                   f"interval ({benchmark['against_retrain']['resamples']:,} resamples) and a Wilcoxon signed-rank "
                   "p-value. Not distinguishable: the interval includes zero.")
        st.dataframe(paired, hide_index=True, width="stretch",
                     column_config={"method": "Method", "slice": "Slice", **paired_columns()})
    seconds = benchmark.get("seconds") or {}
    st.caption(f"Articles published after training, judged on the afternoon of day 6. Preset "
               f"{_ui.literal(benchmark.get('preset') or '?')}, text embedder "
               f"{_ui.literal(benchmark.get('embedder') or '?')}; incremental update "
               f"{_ui.fmt(seconds.get('incremental_update'), 1)} s vs full retrain "
               f"{_ui.fmt(seconds.get('full_retrain'), 1)} s.")
    if shown["shipped"]:
        st.caption("This is the result shipped with recengine (demo preset, seed 0, default model, measured on a "
                   "2-core CPU). The comparison trains a model on days 1–5, scores day 6's articles zero-shot, folds "
                   "day 6's morning in incrementally, retrains from scratch on the same data and judges all three "
                   "on the afternoon. To measure it on this machine (the result is kept and shown here), run from "
                   "the repository root:")
        st.code(".venv/bin/python -m recengine zero-shot-compare --preset demo", language="bash")
    else:
        st.caption(f"Measured in this workspace on {shown['created_at'][:16].replace('T', ' ')} UTC.")
