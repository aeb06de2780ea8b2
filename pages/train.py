"""Train & load: a form with every model and training option, live training progress, and the saved runs
(listed with their metrics, made active, compared side by side, deleted after a confirmation)."""

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from pages import _forms, _jobs, _ui
from pages._significance import render_run_pair
from recengine import formats, plots
from recengine.app import runs as app_runs
from recengine.app.first_start import Defaults
from recengine.config import every_setting
from recengine.plots import runs_chart
from recengine.tables import compare_runs, runs_table, selection_text

DEFAULTS = Defaults.from_env()
RUN_KEY_COLUMNS = ["run_id", "auc", "share_of_oracle", "created_at", "views", "fusion"]  # fits 1024 px
COMPARE_KEY_COLUMNS = ["run_id", "auc", "share_of_oracle", "random_auc", "oracle_auc"]
SETTING_LABELS = {f"{part}.{s.name}": s.label for part, s in every_setting()}


def settings_by_run(settings: pd.DataFrame) -> pd.DataFrame:
    """The settings that differ (setting x run, from :func:`compare_runs`) as one row per run, headed by labels."""
    by_run = settings.T.rename(columns=lambda key: SETTING_LABELS.get(key, key))
    return by_run.rename_axis("run_id").reset_index()


def run_facts(details: Mapping) -> pd.DataFrame:
    """What a run's meta.json says about how it was made, as (fact, value) text rows."""
    meta = details["meta"]
    text = meta.get("text") or {}
    rows = [
        ("dataset", details["dataset"]),
        ("kind", "incremental update" if details["mode"] != "full" else "full training"),
        ("created (UTC)", formats.timestamp(details["created_at"])),
        ("best epoch", formats.count(meta.get("best_epoch"))),
        ("stopped early", {True: "yes", False: "no"}.get(meta.get("stopped_early"), "—")),
        ("training time", formats.seconds(meta.get("train_seconds"))),
        ("evaluation time", formats.seconds(meta.get("eval_seconds"))),
        ("peak memory", "—" if meta.get("peak_memory_mb") is None else f"{meta['peak_memory_mb']:,.0f} MB"),
        ("device", meta.get("device")),
        ("articles / readers known", f"{formats.count(meta.get('n_articles'))} / {formats.count(meta.get('n_users'))}"),
        ("text", f"{text.get('model', '—')}, {formats.share(text.get('coverage'))} of articles with text"),
        ("folder", details["path"]),
    ]
    return pd.DataFrame(rows, columns=["fact", "value"]).fillna("—")


_ui.frame()
st.title("Train & load")
record = _ui.require_dataset()
store = _ui.store()
runs = store.runs(record["name"])

if message := st.session_state.pop("runs_message", None):
    st.success(_ui.literal(message))

st.subheader(f"Train a model on {_ui.literal(record['name'])}")
st.caption("OpenAI key: " + ("configured (never shown)" if _ui.openai_configured() else
                             "not configured; the openai embedder needs OPENAI_API_KEY in the environment or in "
                             ".streamlit/secrets.toml"))
_jobs.estimate_caption(record["name"], DEFAULTS.epochs)
with st.form("train"):
    form = _forms.config_form(DEFAULTS.config(), key="train")
    submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")

if submitted:
    with _ui.boundary("checking the settings") as checked:
        config = form.config()
    if checked.ok:
        _jobs.start("train", {"dataset": record["name"], "config": config.to_dict()}, origin="train")


def show_trained(job: dict) -> None:
    """A finished training: its run, made active once when this session started it, and its curves."""
    result = job["result"]
    run_id = result["run_id"]
    if store.run(run_id) is None:
        st.info(f"Job {job['id']} trained run {_ui.literal(run_id)}, which has since been deleted.")
        return
    activated = st.session_state.setdefault("jobs_activated", [])
    if _jobs.started_here(job) and job["id"] not in activated:
        activated.append(job["id"])
        _ui.activate(run=run_id)
    active = _ui.active_run()
    if active and active["run_id"] == run_id:
        st.success(f"Trained and saved run {_ui.literal(run_id)}; it is now the active model.")
    else:
        st.success(f"Trained and saved run {_ui.literal(run_id)}.")
        if st.button("Make it the active model", key=f"activate-{job['id']}", icon=":material/check_circle:"):
            _ui.activate(run=run_id)
    references = _jobs.train_references(job["params"])
    _ui.chart(plots.training_curves(result["history"], **_jobs.curve_references(references)), key="trained-curves")
    st.caption(_jobs.curve_caption(references))


_jobs.detail("train", record["name"], on_done=show_trained)

st.subheader("Saved runs")
if not runs:
    st.info("No run is saved for this dataset yet.")
    st.stop()
active = _ui.active_run()
active_id = active["run_id"] if active else None
st.caption("AUC: how often the model ranks a clicked article above a non-clicked one on dev (0.5 = chance, "
           "1 = perfect). Way to oracle: how far it got from random (0%) to the oracle, the best possible (100%). "
           "Times are UTC.")
_ui.show_table(runs_table(runs), RUN_KEY_COLUMNS, key="saved-runs")
run_ids = [run["run_id"] for run in runs]

load_col, delete_col = st.columns(2, gap="large")
with load_col, st.form("load-run", border=False):
    chosen = st.selectbox("Load", run_ids, index=run_ids.index(active_id) if active_id in run_ids else 0,
                          help="The run every page then uses as the model (also chosen in the sidebar).")
    if st.form_submit_button("Make active", icon=":material/check_circle:"):
        with _ui.boundary("checking the run") as checked:
            app_runs.activate_run(store, chosen)  # checks the folder first: a damaged run is refused
        if checked.ok:
            st.session_state["runs_message"] = f"Run {chosen} is now the active model."
            _ui.activate(run=chosen)

with delete_col:
    deletable = [run_id for run_id in run_ids if run_id != active_id]
    pending = st.session_state.get("confirm_delete")
    if pending not in deletable:
        victim = st.selectbox("Delete", deletable, index=None, placeholder="a run that is not active",
                              help="The active model cannot be deleted: make another run active first.")
        if st.button("Delete…", icon=":material/delete:", disabled=victim is None):
            st.session_state["confirm_delete"] = victim
            st.rerun()
    else:
        st.warning(f"Delete run {_ui.literal(pending)}? Its folder and its row in the store are removed for good.")
        yes, no = st.columns(2)
        if yes.button("Yes, delete it", type="primary", icon=":material/delete_forever:"):
            del st.session_state["confirm_delete"]
            with _ui.boundary("deleting the run") as done:
                app_runs.delete_run(_ui.workspace(), store, pending)
            if done.ok:
                st.session_state["runs_message"] = f"Deleted run {pending}."
                st.rerun()
        if no.button("Cancel"):
            del st.session_state["confirm_delete"]
            st.rerun()

with st.expander("Run details and the command line that reproduces it", icon=":material/terminal:"):
    shown_id = st.selectbox("Run", run_ids, index=run_ids.index(active_id) if active_id in run_ids else 0,
                            key="run-details")
    with _ui.boundary("reading the run"):
        details = app_runs.show_run(store, shown_id)
        _ui.show_table(run_facts(details), ["fact", "value"], key="run-facts", kinds={"value": "text"})
        st.caption(selection_text(details["meta"].get("selection")))
        st.code(details["reproduce"], language="bash", wrap_lines=True)

with st.expander("Register a run folder made elsewhere", icon=":material/create_new_folder:"):
    st.caption("A run trained by `python -m recengine train` or from Python is listed here at once. A run folder "
               "made before runs were recorded, or copied from another machine, is added here (or with "
               "`recengine runs register FOLDER`).")
    with st.form("register-run", border=False):
        folder_text = st.text_input("Run folder", placeholder=str(_ui.workspace().runs / "my-run"))
        if st.form_submit_button("Register", icon=":material/add:"):
            with _ui.boundary("registering the run") as done:
                registered = app_runs.register_folder(_ui.workspace(), store, folder_text)
            if done.ok:
                st.session_state["runs_message"] = f"Registered run {registered['run_id']}."
                st.rerun()

st.subheader("Compare saved runs")
picked = st.multiselect("Runs to compare", run_ids, default=run_ids[:2] if len(run_ids) >= 2 else [],
                        help="Pick two or more saved runs to see their metrics, differing settings and a chart "
                             "side by side.")
if len(picked) >= 2:
    chosen_runs = [run for run in runs if run["run_id"] in picked]
    metrics, settings = compare_runs(chosen_runs)
    by_run = metrics.T.rename_axis("run_id").reset_index()
    _ui.show_table(by_run, COMPARE_KEY_COLUMNS, key="compare-metrics")
    if settings.empty:
        st.caption("The runs share every setting.")
    else:
        st.caption("Settings that differ between the runs:")
        by_setting = settings_by_run(settings)
        _ui.show_table(by_setting, list(by_setting.columns[:6]), key="compare-settings",
                       kinds={c: "text" for c in by_setting.columns})
    _ui.chart(runs_chart({run["run_id"]: run["metrics"] for run in chosen_runs}), key="compare-chart")
    render_run_pair(store, picked[0], picked[1])
elif picked:
    st.caption("Pick at least two runs.")
