"""The Cornac-style experiment table: every stored run with its setting differences, the AUC it was selected on,
dev metrics with 95% intervals and its costs; from Python, the CLI (`runs table --csv`) and the dashboard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recengine.app import runs
from recengine.cli import main
from recengine.tables import config_differences, experiment_table


def read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def old_run(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny run as a run made before the validation split: history under "dev", no selection,
    evaluation time, peak memory, intervals or kept dev scores."""
    folder = tmp_path / "old-run"
    shutil.copytree(tiny_run, folder)
    meta = read(folder / "meta.json")
    for key in ("selection", "eval_seconds", "peak_memory_mb"):
        meta.pop(key, None)
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    history = [{("dev" if key == "valid" else key): value for key, value in entry.items() if key != "split"}
               for entry in read(folder / "history.json")]
    metrics = read(folder / "metrics.json")
    for key in ("ci", "selected_on", "slice_groups", "reliability"):
        metrics.pop(key, None)
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (folder / "history.json").write_text(json.dumps(history), encoding="utf-8")
    (folder / "scores-dev.npz").unlink(missing_ok=True)
    return folder


def test_a_run_row_carries_its_settings_selection_metrics_and_costs(store, tiny_run):
    run_id = runs.register_run(store, tiny_run)["run_id"]
    row = experiment_table(store).set_index("run_id").loc[run_id]
    meta, metrics = read(tiny_run / "meta.json"), read(tiny_run / "metrics.json")
    best = next(e for e in read(tiny_run / "history.json") if e["epoch"] == meta["best_epoch"])
    assert row["configuration"] == "embedder=hashing, epochs=2, category_aux_weight=0.0"  # the tiny run's only changes (conftest)
    assert row["selected_on"] == "validation"
    assert row["selection_auc"] == best["valid"]["auc"]
    assert row["auc"] == metrics["model"]["auc"] and row["mrr"] == metrics["model"]["mrr"]
    assert row["auc_low"] < row["auc"] < row["auc_high"]
    assert row["auc_high"] - row["auc_low"] < 0.2
    for key in ("train_seconds", "eval_seconds", "peak_memory_mb"):
        assert row[key] == meta[key]


def test_an_old_run_is_labelled_selected_on_dev_with_blank_costs(store, old_run):
    run_id = runs.register_run(store, old_run)["run_id"]
    row = experiment_table(store).set_index("run_id").loc[run_id]
    history, meta = read(old_run / "history.json"), read(old_run / "meta.json")
    best = next(e for e in history if e["epoch"] == meta["best_epoch"])
    assert row["selected_on"] == "dev"
    assert row["selection_auc"] == best["dev"]["auc"]
    assert pd.isna(row["auc_low"]) and pd.isna(row["eval_seconds"]) and pd.isna(row["peak_memory_mb"])
    assert row["train_seconds"] == meta["train_seconds"]


def test_setting_differences_are_compact_and_empty_for_the_defaults():
    from recengine.config import RunConfig

    config = RunConfig().to_dict()
    assert config_differences(json.loads(json.dumps(config))) == ""
    config["model"]["fusion"], config["train"]["loss"] = "gate", "bce"
    config["model"]["views"] = ["id", "text"]
    assert config_differences(json.loads(json.dumps(config))) == "views=id+text, fusion=gate, loss=bce"


def test_the_cli_prints_the_table_and_writes_every_column_as_csv(store, tiny_run, old_run, tmp_path, capsys):
    ids = {runs.register_run(store, folder)["run_id"] for folder in (tiny_run, old_run)}
    store.close()
    out = tmp_path / "experiments.csv"
    assert main(["runs", "table", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert all(run_id in printed for run_id in ids)
    frame = pd.read_csv(out)
    assert set(frame["run_id"]) == ids
    assert {"configuration", "selected_on", "selection_auc", "auc", "auc_low", "auc_high", "train_seconds",
            "eval_seconds", "peak_memory_mb"} <= set(frame.columns)
    expected = read(tiny_run / "metrics.json")["model"]["auc"]  # the old run is a copy: the same dev AUC
    assert np.allclose(frame["auc"], expected, rtol=0, atol=1e-12)


def test_the_cli_refuses_a_folder_as_the_csv(tmp_path, capsys):
    assert main(["runs", "table", "--csv", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_intervals_come_from_the_kept_dev_scores_when_the_evaluation_has_none(store, tiny_run, tmp_path):
    folder = tmp_path / "no-ci"
    shutil.copytree(tiny_run, folder)
    metrics = read(folder / "metrics.json")
    stored = metrics.pop("ci")
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    run_id = runs.register_run(store, folder)["run_id"]
    row = experiment_table(store).set_index("run_id").loc[run_id]
    assert [row["auc_low"], row["auc_high"]] == pytest.approx(stored["auc"], abs=1e-12)
    assert [row["mrr_low"], row["mrr_high"]] == pytest.approx(stored["mrr"], abs=1e-12)
