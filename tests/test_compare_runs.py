"""Stored runs compared impression by impression (recengine.app.runs.compare_runs) from the dev scores a run keeps,
or from scoring it again when it keeps none."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recengine.app.runs import compare_runs, split_scores
from recengine.cli import main
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.errors import InputError, RunFormatError
from recengine.eval.metrics import METRICS, mind_metrics_csr
from recengine.train.api import train_run
from recengine.train.runs import DEV_SCORES_FILE, read_dev_scores

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def other_run(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path, tiny_cache) -> Path:
    """A second run on tiny: one epoch, another seed."""
    out = tmp_path_factory.mktemp("runs") / "other"
    config = RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=1, seed=5))
    train_run(tiny_data, config, out=out, cache=tiny_cache)
    return out


def _copy(run: Path, to: Path, *, scores: bool = True) -> Path:
    shutil.copytree(run, to)
    if not scores:
        (to / DEV_SCORES_FILE).unlink()
    return to


def test_a_run_keeps_the_dev_scores_its_metrics_were_computed_from(tiny_run: Path) -> None:
    kept = read_dev_scores(tiny_run)
    assert kept is not None and kept.scores.dtype == np.float32
    recomputed = mind_metrics_csr(kept.labels, kept.scores, kept.ptr)
    stored = json.loads((tiny_run / "metrics.json").read_text())["model"]
    for metric in METRICS:
        assert recomputed[metric] == pytest.approx(stored[metric], abs=1e-12), metric


def test_a_run_without_kept_scores_is_scored_again_to_the_same_values(store, tiny_run: Path, tmp_path: Path,
                                                                     tiny_cache) -> None:
    bare = _copy(tiny_run, tmp_path / "bare", scores=False)
    again = split_scores(store, bare, cache=tiny_cache)
    kept = read_dev_scores(tiny_run)
    assert again.same_impressions(kept)
    np.testing.assert_allclose(again.scores, kept.scores, rtol=1e-6, atol=1e-6)


def test_a_run_against_itself_differs_by_nothing(store, tiny_run: Path) -> None:
    result = compare_runs(store, tiny_run, tiny_run, resamples=200)
    assert result["impressions"] == 300  # the tiny preset's dev impressions
    for metric, cell in result["metrics"].items():
        assert cell["difference"] == 0.0 and cell["p_value"] == 1.0, metric
        assert cell["ci_low"] <= 0 <= cell["ci_high"] and not cell["distinguishable"]


def test_two_runs_differ_by_their_stored_metrics(store, tiny_run: Path, other_run: Path, tmp_path: Path,
                                                 tiny_cache) -> None:
    bare = _copy(other_run, tmp_path / "bare", scores=False)  # one side scored again, the other from its file
    result = compare_runs(store, tiny_run, bare, cache=tiny_cache, resamples=500)
    a = json.loads((tiny_run / "metrics.json").read_text())["model"]
    b = json.loads((other_run / "metrics.json").read_text())["model"]
    for metric in METRICS:
        cell = result["metrics"][metric]
        assert cell["a"] == pytest.approx(a[metric], abs=1e-6)
        assert cell["b"] == pytest.approx(b[metric], abs=1e-6)
        assert cell["difference"] == pytest.approx(a[metric] - b[metric], abs=1e-6)
        assert cell["ci_low"] <= cell["difference"] <= cell["ci_high"]
        assert 0 <= cell["p_value"] <= 1 and cell["resamples"] == 500
    assert result["metrics"]["auc"]["impressions"] == 300 - a["skipped"]


def test_runs_on_different_data_are_refused_naming_both(store, tiny_run: Path, tmp_path: Path) -> None:
    moved = _copy(tiny_run, tmp_path / "elsewhere")
    meta = json.loads((moved / "meta.json").read_text())
    meta["dataset"]["fingerprint"] = "v2-0000000000000000"
    (moved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="different data") as caught:
        compare_runs(store, tiny_run, moved)
    assert str(tiny_run) in str(caught.value) and str(moved) in str(caught.value)


def test_damaged_kept_scores_are_refused(tiny_run: Path, tmp_path: Path) -> None:
    broken = _copy(tiny_run, tmp_path / "broken")
    (broken / DEV_SCORES_FILE).write_bytes(b"not a numpy file")
    with pytest.raises(RunFormatError, match="damaged dev scores"):
        read_dev_scores(broken)


def test_a_trained_run_reports_an_interval_around_each_metric(tiny_run: Path) -> None:
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for metric in METRICS:
        low, high = metrics["ci"][metric]
        assert low < metrics["model"][metric] < high, metric


def test_evaluate_against_another_run_on_the_command_line(tiny_run: Path, other_run: Path, tiny_cache, capsys) -> None:
    code = main(["evaluate", "--run", str(tiny_run), "--against", str(other_run), "--cache", str(tiny_cache.folder)])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    a = json.loads((tiny_run / "metrics.json").read_text())["model"]
    b = json.loads((other_run / "metrics.json").read_text())["model"]
    against = result["against"]
    assert against["run_b"] == str(other_run) and against["resamples"] == 2000
    assert against["metrics"]["auc"]["difference"] == pytest.approx(a["auc"] - b["auc"], abs=1e-6)
    assert result["model"]["auc"] == pytest.approx(a["auc"], abs=1e-6)  # the existing keys stay


def test_evaluate_against_a_run_on_other_data_exits_2_in_one_line(tiny_run: Path, tmp_path: Path) -> None:
    moved = _copy(tiny_run, tmp_path / "elsewhere")
    meta = json.loads((moved / "meta.json").read_text())
    meta["dataset"]["fingerprint"] = "v2-0000000000000000"
    (moved / "meta.json").write_text(json.dumps(meta))
    done = subprocess.run([sys.executable, "-m", "recengine", "evaluate", "--run", str(tiny_run), "--against",
                           str(moved)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: runs ") and "different data" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
