"""New articles: write an article and see it scored zero-shot (who it reaches first, its nearest articles);
fold new MIND data into the model (incremental update); zero-shot vs incremental vs retrain from the benchmark."""

import pandas as pd
import streamlit as st

from pages import _ui
from recengine import plots
from recengine.ui_support import (
    SHIPPED_ZERO_SHOT,
    metric_summary,
    read_zero_shot,
    update_and_register,
    zero_shot_path,
    zero_shot_rows,
)


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
           "becomes the active model; the current run stays as it is. The input is archived, so the same data is "
           "never consumed twice.")
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
    with _ui.boundary("updating the model") as done, st.status("Updating the model…", expanded=True) as status:
        progress = _ui.TrainingProgress()
        run_id, result = update_and_register(
            workspace, _ui.store(), run["run_id"], folder=folder, files=[(f.name, f.getvalue()) for f in files],
            epochs=int(epochs), full_epochs=int(full_epochs), lr_decay=float(lr_decay),
            embedder=_ui.embedder(run["config"]["model"]["embedder"]), progress=progress,
        )
        status.update(label="Updated and saved", state="complete")
    if done.ok:
        st.session_state["update_report"] = {
            "run_id": run_id, "new_articles": result.meta["new_articles"], "new_users": result.meta["new_users"],
            "metrics": {run["run_id"]: metric_summary(run["metrics"]), run_id: metric_summary(result.metrics)},
        }
        _ui.activate(run=run_id)

if report := st.session_state.pop("update_report", None):
    st.success(f"Saved run {_ui.literal(report['run_id'])} ({report['new_articles']:,} new articles, "
               f"{report['new_users']:,} new users); it is now the active model.")
    st.dataframe(pd.DataFrame(report["metrics"]))

st.subheader("Zero-shot vs incremental update vs full retrain")
path = zero_shot_path(workspace)
with _ui.boundary("reading the benchmark results"):
    benchmark = read_zero_shot(path)
    shipped = benchmark is None
    benchmark = benchmark or read_zero_shot(SHIPPED_ZERO_SHOT)
    st.plotly_chart(plots.zero_shot_chart(zero_shot_rows(benchmark)), key="zero-shot-chart")
    seconds = benchmark.get("seconds") or {}
    st.caption(f"Articles published after training, judged on the afternoon of day 6. Preset "
               f"{_ui.literal(benchmark.get('preset', '?'))}, text embedder {_ui.literal(benchmark.get('embedder', '?'))}; "
               f"incremental update {_ui.fmt(seconds.get('incremental_update'), 1)} s vs full retrain "
               f"{_ui.fmt(seconds.get('full_retrain'), 1)} s.")
    if shipped:
        st.caption("This is the result shipped with recengine (demo preset, seed 0, default model, measured on a "
                   "2-core CPU). The benchmark trains a model on days 1–5, scores day 6's articles zero-shot, folds "
                   "day 6's morning in incrementally, retrains from scratch on the same data and judges all three "
                   "on the afternoon. To measure it on this machine, run from the repository root:")
        st.code(f'mkdir -p "{path.parent}"\n.venv/bin/python benchmarks/zero_shot.py --preset demo > "{path}"',
                language="bash")
