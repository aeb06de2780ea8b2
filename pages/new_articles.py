"""New articles: write an article and see it scored zero-shot (who it reaches first, its nearest articles);
fold new MIND data into the model (incremental update); zero-shot vs incremental vs retrain from the benchmark."""

import pandas as pd
import streamlit as st

from pages import _inbox, _jobs, _ui
from recengine import formats, plots
from recengine.app import experiments, samples, tasks
from recengine.tables import PAIRED_COLUMNS, metric_summary, zero_shot_rows, zero_shot_significance

UPDATE_DEFAULTS = {"epochs": 2, "full_epochs": 0, "lr_decay": 0.3}


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
        title = st.text_input("Title", placeholder="Central bank holds rates as inflation cools",
                              help="The headline; required. The text model reads it with the abstract.")
        abstract = st.text_area("Abstract", height=100, help="A sentence or two about the article (optional).")
        c = st.columns(3)
        category = c[0].selectbox("Category", categories, index=None, accept_new_options=True,
                                  placeholder="pick or type one",
                                  help="One of the dataset's categories, or a new one typed in.")
        subcategory = c[1].text_input("Subcategory", help="A finer topic inside the category (optional).")
        top_users = c[2].number_input("Users to list", min_value=1, max_value=100, value=10,
                                      help="How many of the readers most likely to click it to list (1–100).")
        entity_text = st.text_input("Entities (WikidataIds, comma-separated)", placeholder="Q1234, Q5678",
                                    help="Knowledge-graph entities the article mentions; see the list below.")
        add = st.form_submit_button("Add and score", type="primary", icon=":material/post_add:")
    with st.expander(f"The knowledge graph's {len(entities):,} entities"):
        _ui.show_table(entities, ["entity", "label"], key="entities")

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
    cols[0].metric("Users scored", f"{summary['users']:,}",
                   help="Readers it was scored for: a fixed sample of the dataset's readers.")
    cols[1].metric("Mean logit", _ui.fmt(summary.get("mean")),
                   help="The model's average score for it over those readers (a logit: higher means more likely "
                        "to be clicked; what counts is the order, not the size).")
    cols[2].metric("Median logit", _ui.fmt(summary.get("p50")), help="Half of the readers score it below this.")
    cols[3].metric("90th percentile", _ui.fmt(summary.get("p90")),
                   help="One reader in ten scores it above this: how it does with its best audience.")
    cols[4].metric("Mean click probability", _ui.percent(summary.get("mean_probability")),
                   help="The model's calibrated chance of a click, averaged over the readers.")
    st.markdown("**Users it reaches first**")
    _ui.show_table(pd.DataFrame(result["top_users"]), ["user_id", "probability", "score"], key="added-users",
                   kinds={"probability": "share", "score": "metric"})
    st.caption("Probability: the calibrated chance that the reader clicks it; score: the model's logit.")
    st.markdown("**Nearest existing articles**")
    _ui.show_table(pd.DataFrame(result["nearest_articles"]), ["title", "category", "similarity"],
                   key="added-nearest", kinds={"similarity": "metric"}, widths={"title": "medium"})
    st.caption("Similarity: the cosine between the articles' vectors (1: the same direction). The new article's ID "
               "vector is filled from such neighbours.")

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
                             accept_multiple_files=True,
                             help="The two files of one MIND split (entity_embedding.vec too, if you have it), or "
                                  "one .zip of a MIND folder.")
    c = st.columns(3)
    epochs = c[0].number_input("Epochs on the new rows", min_value=0, max_value=50, value=UPDATE_DEFAULTS["epochs"],
                               help="Passes over the new clicks that train only the new articles' and users' rows.")
    full_epochs = c[1].number_input("Epochs on everything", min_value=0, max_value=50,
                                    value=UPDATE_DEFAULTS["full_epochs"],
                                    help="Then passes that train the whole model (0: leave the old model as it is).")
    lr_decay = c[2].number_input("Learning-rate factor for everything", min_value=0.01, max_value=1.0,
                                 value=UPDATE_DEFAULTS["lr_decay"],
                                 help="The original learning rate is multiplied by this in the passes on "
                                      "everything, so the trained model moves only a little.")
    b = st.columns([2, 3])
    update = b[0].form_submit_button("Update the model", icon=":material/update:")
    sample = b[1].form_submit_button("Update with a sample: the dev day", icon=":material/science:",
                                     help="No new data at hand? This copies the active dataset's dev day to the "
                                          "workspace's inbox folder and updates the model with it.")
st.caption("The sample's clicks are the same dev day the update is then judged on, so the updated run's figures "
           "are optimistic: the sample shows how an update works, not how much it helps (the comparison at the "
           "bottom of the page measures that). An updated run made from it is not made active on its own.")

if update or sample:
    with _ui.boundary("preparing the new data") as staged:
        if sample:
            made = samples.dev_day_as_new_data(workspace, _ui.store(), run["dataset"])
            source = {"new_data": str(made["folder"]), "scratch": None}
        else:
            source = tasks.stage_update_input(workspace, folder, [(f.name, f.getvalue()) for f in files])
    if staged.ok:
        if sample:
            st.caption(f"Sample: {made['impressions']:,} impressions of {made['users']:,} readers over "
                       f"{made['articles']:,} articles, in {_ui.literal(made['folder'])}.")
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
    from_sample = samples.is_sample(workspace, job["params"]["new_data"])
    if result["better_than_parent"] and not from_sample and _jobs.started_here(job) and job["id"] not in activated:
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
        if from_sample:
            st.caption("Made from the sample: it learnt from the dev day it is judged on, so its figures below are "
                       "optimistic, and it is not made active on its own.")
        if st.button("Make the updated run active", key=f"activate-{job['id']}", icon=":material/check_circle:"):
            _ui.activate(run=child)
    both = pd.DataFrame([{"run_id": parent, "role": "before (parent)", **metric_summary(result["parent_metrics"])},
                         {"run_id": child, "role": "updated", **metric_summary(result["metrics"])}])
    _ui.show_table(both, ["run_id", "role", "auc", "mrr", "ndcg@10", "share_of_oracle"], key=f"update-{job['id']}")
    st.caption("Both runs on the parent's dev data. Way to oracle: how far the AUC has come from random (0%) to "
               "the oracle (100%).")


_jobs.detail("update", run["dataset"], on_done=show_update)
_inbox.render(workspace, _ui.store())

st.subheader("Zero-shot vs incremental update vs full retrain")
with _ui.boundary("reading the zero-shot comparison"):
    shown = experiments.shown_zero_shot(_ui.store())
    benchmark = shown["result"]
    _ui.chart(plots.zero_shot_chart(zero_shot_rows(benchmark)), key="zero-shot-chart")
    paired = zero_shot_significance(benchmark)
    if paired.empty:
        st.caption("This result was recorded before the paired comparison existed: run the comparison again to see "
                   "each method against the full retrain with a 95% interval and a p-value.")
    else:
        st.caption("AUC of each method minus the full retrain's, on the same impressions: a 95% paired-bootstrap "
                   f"interval ({benchmark['against_retrain']['resamples']:,} resamples) and a Wilcoxon signed-rank "
                   "p-value. Not distinguishable: the interval includes zero.")
        _ui.show_table(paired, ["method", "slice", *PAIRED_COLUMNS], key="zero-shot-paired")
    seconds = benchmark.get("seconds") or {}
    st.caption(f"Articles published after training, judged on the afternoon of day 6. Preset "
               f"{_ui.literal(benchmark.get('preset') or '?')}, text embedder "
               f"{_ui.literal(benchmark.get('embedder') or '?')}; incremental update "
               f"{formats.seconds(seconds.get('incremental_update'))} vs full retrain "
               f"{formats.seconds(seconds.get('full_retrain'))}.")
    if not shown["shipped"]:
        st.caption(f"Measured in this workspace on {formats.timestamp(shown['created_at'])} UTC.")
    with st.expander("Why this exists", expanded=shown["shipped"]):
        st.markdown("A news site publishes articles all day; retraining for each is slow. This compares three "
                    "answers on articles the model has never seen: score them **zero-shot** (their ID vector "
                    "filled with the mean, or from their nearest neighbours), fold the morning's clicks in with an "
                    "**incremental update**, or **retrain** from scratch. The comparison trains a model on days 1–5, "
                    "treats day 6's articles as new, folds day 6's morning in and judges all three on the "
                    "afternoon. Random and the oracle (which scores with the synthetic world's true click "
                    "chances: the ceiling a model can reach) frame the bars.")
        if shown["shipped"]:
            st.caption("Shown: the result shipped with recengine (demo preset, seed 0, default model, measured on a "
                       "2-core CPU). To measure it on this machine (the result is kept and shown here), run from "
                       "the repository root:")
            st.code(".venv/bin/python -m recengine zero-shot-compare --preset demo", language="bash")
