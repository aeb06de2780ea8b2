"""Hyperparameter search (recengine.app.tune): the schema's search ranges, a real Optuna study in the workspace's
SQLite file on the tiny preset with the hashing embedder, from Python, the CLI and a background job; median pruning;
refusals before any work."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from pages._tune import STUDY_PICK
from recengine.app import datasets, jobs, runs, tune
from recengine.cli import main
from recengine.config import ModelConfig, RunConfig, TrainConfig, every_setting
from recengine.data.store import SCHEMA_VERSION, Store
from recengine.errors import InputError, RecengineError
from recengine.train.runs import load_run
from recengine.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 240


def base(epochs: int = 2) -> RunConfig:
    return RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=epochs))


@pytest.fixture
def tiny(store, tiny_data: Path) -> str:
    return datasets.resolve(store, tiny_data)["name"]


# --------------------------------------------------------------------------------------------- the schema


def test_every_search_range_lies_inside_its_validation_range():
    searched = [(part, s) for part, s in every_setting() if s.search is not None]
    assert {s.name for _, s in searched} >= {"lr", "temperature", "dim", "id_dropout", "negatives", "loss", "fusion",
                                             "weight_decay"}
    for _, s in searched:
        if s.search is True:
            assert s.kind == "choice", s.name
            continue
        assert s.kind in ("int", "float"), s.name
        low, high, scale = s.search
        assert scale in ("log", "linear") and low < high, s.name
        assert (low > s.low if s.low_open else low >= s.low), s.name
        assert (high < s.high if s.high_open else high <= s.high), s.name
        if scale == "log":
            assert low > 0, s.name
        if s.kind == "int":
            assert low == int(low) and high == int(high), s.name
            if scale == "linear" and s.step:
                assert (high - low) % s.step == 0, s.name  # Optuna's integer steps reach the top end
        for value in (low, high):  # both ends pass the field's own validation
            s.check(int(value) if s.kind == "int" else float(value))


def test_suggested_configs_stay_inside_the_search_ranges():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    names = tune.check_search(None)
    for _ in range(30):
        config = tune.suggest(study.ask(), names, base())
        for part, s in every_setting():
            value = getattr(getattr(config, part), s.name)
            if s.search is True:
                assert value in s.choices
            elif s.search is not None:
                assert s.search[0] <= value <= s.search[1], (s.name, value)
            else:
                assert value == getattr(getattr(base(), part), s.name), s.name  # not searched: the base's


@pytest.mark.parametrize("search, message", [
    ("lr,nope", "unknown setting 'nope'"),
    ("views", "setting 'views' has no search range"),
    ("lr,lr", "named twice"),
    ("lr,,fusion", "names separated by commas"),
])
def test_bad_search_names_are_refused(search, message):
    with pytest.raises(InputError, match=message):
        tune.check_search(search)


# --------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("options, message", [
    ({"trials": 0}, "trials must be a whole number between 1"),
    ({"trials": 2.5}, "trials must be a whole number"),
    ({"search": "views"}, "no search range"),
    ({"base": RunConfig(ModelConfig(embedder="hashing"), TrainConfig(select_on="dev"))}, "never on dev"),
    ({"study_name": "bad name"}, "a study name is"),
    ({"timeout": -1}, "timeout must be a number of seconds above 0"),
    ({"data": "no-such-dataset"}, "no-such-dataset"),
])
def test_bad_requests_are_refused_before_any_work(workspace, store, tiny, options, message):
    request = {"data": tiny, "trials": 1, "base": base(), **options}
    with pytest.raises(InputError, match=message):
        tune.tune(workspace, store, **request)
    assert store.runs() == [] and tune.studies(store) == []
    assert not store.query("SELECT name FROM sqlite_master WHERE name = 'studies'")  # Optuna's tables not made


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "trials must be a whole number between 1"),
    (["--trials", "three"], "--trials must be a whole number"),
    (["--trials", "1", "--search", "views"], "no search range"),
    (["--trials", "1", "--select-on", "dev"], "never on dev"),
    (["--trials", "1", "--lr", "-1"], "--lr must be"),
    (["--trials", "1", "--study", "a b"], "a study name is"),
])
def test_cli_refuses_bad_input_with_one_line_and_exit_2(capsys, tiny_data, args, message):
    code = main(["tune", "--data", str(tiny_data), "--embedder", "hashing", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_a_job_is_refused_before_anything_is_recorded(workspace, store, tiny):
    with pytest.raises(InputError, match="no search range"):
        jobs.submit(workspace, store, "tune", {"dataset": tiny, "trials": 1, "search": ["views"],
                                               "base_config": base().to_dict()})
    assert jobs.list_jobs(store) == []


# --------------------------------------------------------------------------------------------- a study end to end


@dataclass
class Studied:
    workspace: Workspace
    store: Store
    dataset: str
    result: dict
    parts: list  # (part, event kind, label) of every progress event


@pytest.fixture(scope="module")
def studied(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Iterator[Studied]:
    """A 3-trial study (learning rate and fusion, 2 epochs each) from Python, in a workspace of its own."""
    workspace = Workspace(tmp_path_factory.mktemp("studied"))
    parts: list = []
    with Store(workspace.store_path) as store:
        result = tune.tune(workspace, store, data=tiny_data, trials=3, search="lr,fusion", base=base(), seed=7,
                           study_name="py-study", progress=lambda e: parts.append((e.part, e.kind, e.label)))
        yield Studied(workspace, store, datasets.resolve(store, tiny_data)["name"], result, parts)


def test_three_trial_study_from_python_is_stored_in_the_workspace_file(studied):
    workspace, store, tiny, result = studied.workspace, studied.store, studied.dataset, studied.result
    parts = studied.parts

    assert result["study"] == "py-study" and result["dataset"] == tiny and result["search"] == ["lr", "fusion"]
    assert [t["number"] for t in result["trials"]] == [0, 1, 2]
    assert result["counts"]["complete"] == 3  # the median pruner starts after three finished trials
    assert {p for p, kind, _ in parts if kind == "epoch"} == {1, 2, 3}
    assert {label for _, _, label in parts} == {"trial 0", "trial 1", "trial 2"}

    # Read back by Optuna itself from the workspace's own SQLite file, next to the store's tables.
    study = optuna.load_study(study_name="py-study", storage=f"sqlite:///{workspace.store_path}")
    assert [t.value for t in study.trials] == pytest.approx([t["value"] for t in result["trials"]])
    for trial in study.trials:
        assert set(trial.params) == {"lr", "fusion"} and 1e-4 <= trial.params["lr"] <= 3e-2
        assert trial.value == pytest.approx(max(trial.intermediate_values.values()))  # the best epoch's AUC
        assert sorted(trial.intermediate_values) == [1, 2]
    best = max(study.trials, key=lambda t: t.value)
    assert result["best"]["number"] == best.number and result["best"]["value"] == pytest.approx(best.value)

    # Every trial is a normal run: registered, tagged with the study and trial, its settings as suggested.
    for trial in study.trials:
        record = store.run(trial.user_attrs["run_id"])
        assert record is not None and record["dataset"] == tiny
        assert f"-tune{study._study_id}-t{trial.number}-" in record["run_id"]
        assert record["config"]["train"]["lr"] == pytest.approx(trial.params["lr"])
        assert record["config"]["model"]["fusion"] == trial.params["fusion"]
        assert record["config"]["train"]["epochs"] == 2 and record["config"]["model"]["embedder"] == "hashing"
    best_run = tune.best_run(store, "py-study")
    assert best_run["run_id"] == best.user_attrs["run_id"]
    assert runs.activate_run(store, best_run["run_id"])["run_id"] == runs.active_run(store)["run_id"]
    assert load_run(best_run["path"]).recommender.config.model.fusion == best.params["fusion"]

    # The store still opens in a fresh process: its schema version, quick_check and its own tables unharmed.
    check = ("import sys; from recengine.data.store import Store; s = Store(sys.argv[1]); "
             "print(s.db.execute('PRAGMA user_version').fetchone()[0], len(s.runs()))")
    opened = subprocess.run([sys.executable, "-c", check, str(workspace.store_path)], cwd=REPO, capture_output=True,
                            text=True, timeout=WAIT_S)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.split() == [str(SCHEMA_VERSION), "3"]
    assert [s["study"] for s in tune.studies(store, tiny)] == ["py-study"]


def test_tune_section_shows_the_study_and_activates_its_best_trial(studied, monkeypatch):
    from streamlit.testing.v1 import AppTest

    def section(dataset: str) -> None:
        import streamlit as st

        from pages import _ui
        from pages._tune import render_tune

        st.session_state.setdefault(_ui.CHOICE_KEY, {"dataset": dataset, "run": None})
        _ui.sidebar()
        render_tune(_ui.store())

    monkeypatch.setenv("RECENGINE_HOME", str(studied.workspace.home))
    monkeypatch.setenv("RECENGINE_DEFAULT_EMBEDDER", "hashing")
    best = studied.result["best"]
    other = next(t["run_id"] for t in studied.result["trials"] if t["number"] != best["number"])
    runs.activate_run(studied.store, other)
    at = AppTest.from_function(section, args=(studied.dataset,), default_timeout=120).run()

    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.subheader] == ["Tune"]
    assert at.selectbox(key=STUDY_PICK).value == "py-study"
    shown = {m.label: m.value for m in at.metric}
    assert shown[f"Best trial ({best['number']}): validation AUC"] == f"{best['value']:.3f}"
    assert len(at.get("plotly_chart")) == 2  # the optimisation history and the settings' importances
    history = at.get("plotly_chart")[0].proto.spec
    assert "random (expected) 0.500" in history and "best so far" in history
    table = at.dataframe[0].value
    assert list(table["trial"]) == [0, 1, 2] and list(table["outcome"]) == ["finished"] * 3
    assert "run_id" not in at.dataframe[0].proto.column_order  # on demand
    assert "Learning rate" in table.columns and "lr" not in table.columns  # labels, not field names

    at.button(key="tune-activate-py-study").click().run()

    assert not at.exception, [e.value for e in at.exception]
    assert runs.active_run(studied.store)["run_id"] == best["run_id"]

    by_label = {w.label: w for w in at.number_input}
    by_label["Trials"].set_value(2)
    by_label["Epochs per trial"].set_value(1)
    at.multiselect[0].set_value(["temperature", "negatives"])
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, [e.value for e in at.exception]

    job = jobs.latest(studied.store, "tune")
    assert job is not None and job["origin"] == "compare" and job["estimate_seconds"] > 0
    assert job["params"]["trials"] == 2 and job["params"]["search"] == ["temperature", "negatives"]
    assert job["params"]["base_config"]["train"]["epochs"] == 1
    assert job["params"]["base_config"]["model"]["embedder"] == "hashing"
    jobs.cancel(studied.store, job["id"])
    assert jobs.wait(studied.store, job["id"], timeout=WAIT_S)["status"] == "cancelled"


def test_a_continued_study_prunes_a_trial_below_the_median(workspace, store, tiny):
    """Three earlier trials that reached AUC 0.99 at every epoch: a new trial's epoch-2 AUC is below their median,
    so it is pruned there and saves no run."""
    plan = tune.check(store, data=tiny, trials=1, search="lr", base=base(), study_name="prune-me")
    rdb = tune.storage(store)
    study = optuna.create_study(study_name="prune-me", storage=rdb, direction="maximize")
    study.set_user_attr("dataset", tiny)
    study.set_user_attr("search", ["lr"])
    distribution = optuna.distributions.FloatDistribution(1e-4, 3e-2, log=True)
    for _ in range(3):
        study.add_trial(optuna.trial.create_trial(params={"lr": 3e-3}, distributions={"lr": distribution},
                                                  value=0.99, intermediate_values={1: 0.99, 2: 0.99}))
    rdb.engine.dispose()

    result = tune.tune(workspace, store, data=tiny, trials=1, search="lr", base=base(), study_name="prune-me")

    assert plan.resumed is False  # checked before the study existed
    new = result["trials"][3]
    assert new["state"] == "PRUNED" and new["run_id"] is None and new["epochs_reported"] == 2
    assert result["counts"] == {"complete": 3, "pruned": 1, "fail": 0, "running": 0, "waiting": 0}
    assert store.runs() == []
    with pytest.raises(InputError, match="searched lr on"):  # continued only with the same settings
        tune.check(store, data=tiny, trials=1, search="lr,fusion", base=base(), study_name="prune-me")


def test_a_busy_store_file_is_one_line(workspace, store, tiny, monkeypatch):
    monkeypatch.setenv("RECENGINE_STORE_TIMEOUT", "0.2")
    holder = sqlite3.connect(workspace.store_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer keeps the file
    try:
        with pytest.raises(RecengineError, match="busy") as caught:
            tune.tune(workspace, store, data=tiny, trials=1, search="lr", base=base(), study_name="busy")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "\n" not in str(caught.value) and str(workspace.store_path) in str(caught.value)


def test_cli_runs_a_study_and_prints_the_best_trial(tiny_data, home, cli_main):
    # In this process (the CLI's own main): the study's trials, not the interpreter's start, are what is tested.
    done = cli_main("tune", "--data", str(tiny_data), "--trials", "2", "--search", "temperature,loss", "--embedder",
                    "hashing", "--epochs", "1", "--study", "cli-study", home=home)

    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("estimated ~") and "best: trial" in done.stderr
    printed = json.loads(done.stdout)
    assert printed["study"] == "cli-study" and len(printed["trials"]) == 2
    assert Path(printed["storage"]) == home / "recengine.db"
    values = [t["value"] for t in printed["trials"] if t["state"] == "COMPLETE"]
    assert printed["best"]["value"] == max(values)
    with Store(home / "recengine.db") as store:
        record = store.run(printed["best"]["run_id"])
        assert record is not None and math.isclose(record["config"]["model"]["temperature"],
                                                    printed["best"]["params"]["temperature"])
        study = tune.load(store, "cli-study")
        assert [t.number for t in study.trials] == [0, 1]


def test_background_job_runs_each_trial_as_a_stage(workspace, store, tiny):
    job_id = jobs.submit(workspace, store, "tune", {"dataset": tiny, "trials": 2, "search": ["id_dropout"],
                                                    "base_config": base(epochs=1).to_dict(), "study": "job-study"})
    assert jobs.get(store, job_id)["estimate_seconds"] > 0

    job = jobs.wait(store, job_id, timeout=WAIT_S)

    assert job["status"] == "done", job["error"]
    assert job["result"]["study"] == "job-study" and job["result"]["counts"]["complete"] == 2
    epochs = [e for e in jobs.events(store, job_id) if e["kind"] == "epoch"]
    assert [e["label"] for e in epochs] == ["trial 0 · ", "trial 1 · "]
    assert store.run(job["result"]["best"]["run_id"]) is not None
