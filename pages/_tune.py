"""The Tune section (drawn on Compare): search the configuration with Optuna as a background job, then read the
study with Optuna's own figures and make its best trial the active model.

Everything shown is read from the store: the job's progress (:mod:`pages._jobs`) and the study, which Optuna keeps
in the same SQLite file (:mod:`recengine.app.tune`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _jobs, _ui
from recengine.app import tune
from recengine.app.first_start import Defaults
from recengine.data.store import Store
from recengine.plots import search_history, search_importances

STUDY_PICK = "tune_study_pick"
KEY_COUNT = 7  # trial, outcome, both AUCs and the first three settings searched fit at 1024 px
WHY = ("Each trial is a full training with settings Optuna picks from what earlier trials scored (a TPE sampler). A "
       "trial whose validation AUC falls below the median of earlier trials at the same epoch is stopped early "
       "(pruned) to save time. Choosing on validation, not dev, keeps the dev figures an honest test. The history "
       "chart shows each trial's validation AUC and the best so far beside a random scorer's expected AUC (0.5); "
       "the oracle is not drawn because the search never measures it on the validation split (the dev figures "
       "above show it). The importance chart says how much each setting moved the validation AUC across the "
       "finished trials (Optuna's default estimate, PED-ANOVA), as shares that sum to 100%.")
OUTCOMES = {"COMPLETE": "finished", "PRUNED": "stopped early (below the median)", "FAIL": "failed or cancelled",
            "RUNNING": "running", "WAITING": "waiting"}


def _label(name: str) -> str:
    return tune.searchable()[name][1].label


def render_tune(store: Store) -> None:
    """The Tune section: a form (settings searched, trials, epochs), the job, then the studies of the dataset."""
    st.subheader("Tune")
    record = _ui.active_dataset()
    if record is None:
        st.info("There is no dataset yet. Generate or import one on the Data page.")
        return
    st.caption("The search tries settings one trial after another, each a full training saved as a run, and keeps "
               "the best by its AUC on the validation split (the end of the training period, held out from "
               "training), never on dev, so the dev figures stay an honest test.")
    with st.expander("Why this exists", icon=":material/help:"):
        st.markdown(WHY)
    defaults = Defaults.from_env()
    _jobs.estimate_caption(record["name"], defaults.epochs, trainings=10, what="Each trial, a training")
    _form(record["name"], defaults)
    _jobs.detail("tune", record["name"], on_done=_show_done, key="tune")
    _studies(store, record["name"])


def _form(dataset: str, defaults: Defaults) -> None:
    names = list(tune.searchable())
    with st.form("tune"):
        c = st.columns([3, 1, 1])
        search = c[0].multiselect("Settings searched", names, default=["lr", "fusion", "temperature"],
                                  format_func=_label, help="The settings the search may change, each within its "
                                  "allowed range; none chosen searches every one of them.")
        trials = c[1].number_input("Trials", min_value=1, max_value=tune.MAX_TRIALS, value=10, step=1,
                                   help="How many settings to try; each trial is one full training.")
        epochs = c[2].number_input("Epochs per trial", min_value=1, max_value=1000, value=defaults.epochs, step=1,
                                   help="How many passes over the training clicks each trial gets at most.")
        submitted = st.form_submit_button("Start the search", type="primary", icon=":material/play_arrow:")
    if not submitted:
        return
    with _ui.boundary("checking the search") as checked:
        base = defaults.config()
        base.model.embedder = _ui.default_embedder()  # the active run's: its text is already embedded
        base.train.epochs = int(epochs)
        params = {"dataset": dataset, "trials": int(trials), "search": search or None, "base_config": base.to_dict()}
    if checked.ok:
        _jobs.start("tune", params, origin="compare")


def _show_done(job: dict) -> None:
    result = job["result"]
    best = result["best"]
    counts = result["counts"]
    text = (f"Finished the search {_ui.literal(result['study'])}: {counts['complete']} trial(s) finished, "
            f"{counts['pruned']} stopped early.")
    if best is not None:
        text += f" Best: trial {best['number']}, validation AUC {_ui.fmt(best['value'])}."
    st.success(text)
    st.session_state[STUDY_PICK] = result["study"]


def _studies(store: Store, dataset: str) -> None:
    with _ui.boundary("reading the searches") as read:
        found = tune.studies(store, dataset)
    if not read.ok:
        return
    if not found:
        st.info("No search on this dataset yet.")
        return
    by_name = {s["study"]: s for s in found}
    if st.session_state.get(STUDY_PICK) not in by_name:
        st.session_state[STUDY_PICK] = found[0]["study"]
    chosen = st.selectbox("Search", list(by_name), key=STUDY_PICK, help="A search run earlier on this dataset.",
                          format_func=lambda n: f"{n} · {by_name[n]['trials']} trial(s) · settings: "
                                                f"{', '.join(map(_label, by_name[n]['search'] or []))}")
    with _ui.boundary("reading the search") as read:
        study = tune.load(store, chosen)
        summary = tune.summary(study)
    if read.ok:
        _best(store, summary)
        _figures(study, summary)
        trials = _trials_table(summary)
        if trials.empty:
            return
        keys = [c for c in trials.columns if c not in ("best_epoch", "run_id")][:KEY_COUNT]
        _ui.show_table(trials, keys, key="tune-trials", kinds=_kinds(trials))
        st.caption("One row per trial. Validation AUC: what the search maximised. Dev AUC: reported only, never "
                   "used to choose.")


def _best(store: Store, summary: dict) -> None:
    best = summary["best"]
    if best is None:
        st.info("No trial of this search has finished yet.")
        return
    run = store.run(best["run_id"]) if best["run_id"] else None
    numbers = (run or {}).get("metrics") or {}
    cols = st.columns(4)
    cols[0].metric(f"Best trial ({best['number']}): validation AUC", _ui.fmt(best["value"]),
                   help="The AUC the search maximised, on the held-out end of the training period.")
    cols[1].metric("Its dev AUC", _ui.fmt(best["dev_auc"]), help="Reported only: the search never looked at dev.")
    cols[2].metric("Random dev AUC", _ui.fmt(((numbers.get("random") or {}).get("auc"))),
                   help="A scorer that guesses at random on the same impressions: the floor (about 0.5).")
    cols[3].metric("Oracle dev AUC", _ui.fmt(((numbers.get("oracle") or {}).get("auc"))),
                   help="The true click probabilities of the synthetic world: the best any model can do.")
    settings = ", ".join(f"{_label(k)} {v:.4g}" if isinstance(v, float) else f"{_label(k)} {v}"
                         for k, v in best["params"].items())
    st.caption(f"Settings of the best trial: {_ui.literal(settings)}.")
    if run is None:
        st.warning(f"The best trial's run {_ui.literal(best['run_id'] or '')} is no longer stored.")
        return
    active = _ui.active_run()
    if active and active["run_id"] == run["run_id"]:
        st.caption(f"Run {_ui.literal(run['run_id'])} is the active model.")
    elif st.button("Make the best trial the active model", key=f"tune-activate-{summary['study']}",
                   icon=":material/check_circle:"):
        with _ui.boundary("making the best trial active") as activated:
            tune.best_run(store, summary["study"])  # still stored and whole
        if activated.ok:
            _ui.activate(dataset=run["dataset"], run=run["run_id"])


def _figures(study, summary: dict) -> None:
    """Each trial's validation AUC with the best so far, and how much each setting mattered (needs two finished
    trials; Optuna refuses, e.g., when every finished trial had the same settings)."""
    from optuna.importance import get_param_importances

    left, right = st.columns(2)
    with left:
        _ui.chart(search_history(summary["trials"]), key="tune-history")
    if summary["counts"]["complete"] < 2:
        right.caption("The importance of each setting needs at least two finished trials.")
        return
    try:
        importances = get_param_importances(study)
    except (ValueError, RuntimeError) as exc:
        right.caption(f"No setting importance yet: {_ui.literal(str(exc))}")
        return
    with right:
        _ui.chart(search_importances({_label(k): v for k, v in importances.items()}), key="tune-importances")


def _trials_table(summary: dict) -> pd.DataFrame:
    """One row per trial: outcome, validation and dev AUC, best epoch, each searched setting (by its label), run."""
    rows = []
    for trial in summary["trials"]:
        row = {"trial": trial["number"], "outcome": OUTCOMES.get(trial["state"], trial["state"].lower()),
               "validation_auc": trial["value"], "dev_auc": trial["dev_auc"], "best_epoch": trial["best_epoch"]}
        row.update({_label(k): v for k, v in trial["params"].items()})
        row["run_id"] = trial["run_id"]
        rows.append(row)
    return pd.DataFrame(rows)


def _kinds(trials: pd.DataFrame) -> dict[str, str]:
    """The AUCs are metrics; a searched setting is a plain number or text (a label like "Learning rate" is no
    share, whatever its name suggests)."""
    settings = trials.columns[5:-1]
    return {"validation_auc": "metric", "dev_auc": "metric",
            **{c: "number" if pd.api.types.is_numeric_dtype(trials[c]) else "text" for c in settings}}
