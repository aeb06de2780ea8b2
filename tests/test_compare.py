"""Comparison tables: summaries, CSV and the compare CLI (the grid itself: tests/test_experiments.py)."""

from __future__ import annotations

import json
import statistics

import pandas as pd
import pytest

from recengine.cli import main
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.store import Store
from recengine.data.synthetic import generate
from recengine.errors import InputError
from recengine.eval.compare import grid_to_csv, summarize_grid

BASE = RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=1))
METRICS = ["auc", "mrr", "ndcg@5", "ndcg@10", "warm_auc", "new_articles_auc", "cold_users_auc", "random_auc", "oracle_auc"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "tiny"
    generate("tiny", 0, folder)
    return folder


def _grid_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "fusion": ["concat", "concat", "gate", "gate"],
        "temperature": [0.1, 0.1, 0.1, 0.1],
        "loss": ["listwise"] * 4,
        "seed": [0, 1, 0, 1],
        "auc": [0.61, 0.65, 0.58, 0.58],
        "ndcg@10": [0.30, 0.34, 0.20, 0.26],
    })


def test_summarize_over_seeds():
    summary = summarize_grid(_grid_frame())
    assert list(summary["fusion"]) == ["concat", "gate"] and list(summary["seeds"]) == [2, 2]
    concat = summary.iloc[0]
    assert concat["auc_mean"] == pytest.approx(statistics.mean([0.61, 0.65]))
    assert concat["auc_std"] == pytest.approx(statistics.stdev([0.61, 0.65]))
    assert concat["ndcg@10_std"] == pytest.approx(statistics.stdev([0.30, 0.34]))
    assert summary.iloc[1]["auc_std"] == pytest.approx(0.0)
    with pytest.raises(InputError, match="seed"):
        summarize_grid(_grid_frame().drop(columns="seed"))


def test_csv_round_trip(tmp_path):
    frame = _grid_frame()
    path = tmp_path / "out" / "grid.csv"
    grid_to_csv(frame, path)
    pd.testing.assert_frame_equal(pd.read_csv(path), frame)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--fusion", "concat,bogus", "--temperature", "0.1"], "unknown fusion 'bogus'"),
        (["--fusion", "concat", "--temperature", "0.1,0"], "temperatures must be numbers > 0"),
        (["--fusion", "concat", "--temperature", "-1"], "temperatures must be numbers > 0"),
        (["--fusion", "", "--temperature", "0.1"], "--fusion needs a comma-separated list"),
        (["--fusion", "concat,,gate", "--temperature", "0.1"], "--fusion needs a comma-separated list"),
        (["--fusion", "concat", "--temperature", "hot"], "'hot' is not a number"),
        (["--fusion", "concat", "--temperature", "0.1", "--seeds", "0,1.5"], "'1.5' is not a whole number"),
        (["--fusion", "concat", "--temperature", "0.1", "--loss", "bce,bce"], "losses repeat"),
    ],
)
def test_cli_bad_lists_exit_2_with_one_line(tiny, capsys, flags, message):
    assert main(["compare", "--data", str(tiny), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_prints_the_cells_as_runs_and_stores_them(tiny, tmp_path, capsys):
    store_path, csv_path = tmp_path / "store.db", tmp_path / "grid.csv"
    code = main([
        "compare", "--data", str(tiny), "--fusion", "gate", "--temperature", "0.5", "--epochs", "1",
        "--embedder", "hashing", "--store", str(store_path), "--csv", str(csv_path),
    ])
    assert code == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    (summary,) = printed["summary"]
    assert (summary["fusion"], summary["temperature"], summary["loss"], summary["seeds"]) == ("gate", 0.5, "listwise", 1)
    assert summary["auc_std"] is None  # one seed
    (row,) = printed["rows"]
    assert summary["auc_mean"] == pytest.approx(row["auc"]) and printed["best_run_id"] == row["run_id"]
    # The one cell is the best cell: no difference from itself, p = 1, and stderr says nothing is close to it.
    assert (row["auc_diff_vs_best"], row["auc_ci_low"], row["auc_ci_high"], row["auc_p"]) == (0.0, 0.0, 0.0, 1.0)
    assert printed["against_best"]["cells"][0]["best"] is True
    assert "every other cell's AUC is distinguishable" in err
    grid = pd.read_csv(csv_path)
    assert (grid["auc"].iloc[0], grid["run_id"].iloc[0]) == (pytest.approx(row["auc"]), row["run_id"])
    store = Store(store_path)
    (record,) = store.comparisons(dataset="tiny")
    assert record["status"] == "complete" and record["grid"]["base"]["train"]["epochs"] == 1
    # The cell is a run of its own in the same store, with the grid's settings.
    run = store.run(row["run_id"])
    assert (run["dataset"], run["config"]["model"]["fusion"], run["config"]["model"]["temperature"]) == ("tiny", "gate", 0.5)


def test_cli_refuses_a_csv_over_an_input_before_training(tiny, tmp_path, capsys):
    """--csv naming a dataset file is refused at once (exit 2, one line): the input is never overwritten, and no
    grid trains first."""
    news = tiny / "train" / "news.tsv"
    before = news.read_bytes()
    code = main(["compare", "--data", str(tiny), "--fusion", "gate", "--temperature", "0.5",
                 "--store", str(tmp_path / "s.db"), "--csv", str(news)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "an input is never written to" in err
    assert news.read_bytes() == before and not (tmp_path / "s.db").exists()


def test_significance_values_flatten_a_paired_comparison_and_flag_intervals_off_zero():
    from recengine.eval.compare import SIGNIFICANCE_COLUMNS, distinguishable, significance_values

    cell = {"difference": -0.02, "ci_low": -0.03, "ci_high": -0.01, "p_value": 0.004}
    from recengine.eval.metrics import METRICS as REGISTRY

    values = significance_values({m: cell for m in REGISTRY})
    assert set(values) == set(SIGNIFICANCE_COLUMNS)
    assert (values["auc_diff_vs_best"], values["auc_ci_low"], values["auc_ci_high"], values["auc_p"]) == (
        -0.02, -0.03, -0.01, 0.004)
    assert distinguishable(values) is True
    assert distinguishable({"auc_ci_low": -0.01, "auc_ci_high": 0.02}) is False
    assert distinguishable({"auc_ci_low": 0.0, "auc_ci_high": 0.0}) is False  # the best cell itself
    assert distinguishable({"auc": 0.7}) is None and distinguishable({"auc_ci_low": float("nan"), "auc_ci_high": 1}) is None
