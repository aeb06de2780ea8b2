"""The Compare page's results (pages/compare.py) on a real grid trained on tiny: the exported CSV names each cell's
run, a comparison stored without runs exports no empty run column, each cell's chart data carries random and the
oracle on every slice, and the results table shows oracle, best epoch and seconds among its key columns.

The grid runs on a dataset of its own (tiny with another seed) so the shared workspace's default dataset keeps no
comparison (tests/ui/test_pages.py starts from none)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from apptest_kit import by_label, chart_specs, start, table
from recengine.app import datasets, experiments
from recengine.app.datasets import ACTIVE_DATASET
from recengine.app.runs import ACTIVE_RUN
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.store import Store
from recengine.data.synthetic import generate
from recengine.eval.evaluate import SLICES
from recengine.eval.metrics import METRICS
from recengine.tables import comparison_evaluations, distinct_settings, stored_comparison

GRID = {"fusions": ["attention"], "temperatures": [0.1, 0.5]}
BASE = RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=1))


@pytest.fixture(scope="module")
def grid(ui_workspace, tmp_path_factory: pytest.TempPathFactory):
    """A 2-cell grid (τ 0.1 and 0.5), one epoch each, on a dataset of its own in the shared UI workspace."""
    workspace = ui_workspace[0]
    root = tmp_path_factory.mktemp("grid-data") / "tiny-grid"
    generate("tiny", 1, root)  # another seed: the same rows would resolve to the shared "tiny" dataset
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECENGINE_HOME", str(workspace.home))
        with Store(workspace.store_path) as store:
            name = datasets.resolve(store, root)["name"]
            assert name != ui_workspace[1].dataset
            result = experiments.compare_grid(workspace, store, name, GRID, BASE)
            stored = {r["run_id"] for r in store.runs(name)}
    return SimpleNamespace(workspace=workspace, dataset=name, result=result, runs=stored)


def exported(store: Store, comparison_id: int) -> pd.DataFrame:
    """The CSV the page's download button offers, read back."""
    text = experiments.comparison_table(stored_comparison(store, comparison_id)).to_csv(index=False)
    return pd.read_csv(io.StringIO(text))


def test_the_exported_csv_names_the_run_of_every_cell(grid):
    with Store(grid.workspace.store_path) as store:
        csv = exported(store, grid.result["comparison_id"])
    assert len(csv) == 2 and csv["run_id"].notna().all()
    assert set(csv["run_id"]) == {row["run_id"] for row in grid.result["rows"]} <= grid.runs
    # Way to oracle, computed here from the exported AUCs.
    expected = (csv["auc"] - csv["random_auc"]) / (csv["oracle_auc"] - csv["random_auc"])
    assert csv["share_of_oracle"].tolist() == pytest.approx(expected.tolist())


def test_a_comparison_stored_without_runs_exports_no_empty_run_column(tmp_path: Path):
    """Cells stored before grid cells were saved as runs have no run id, best epoch or seconds."""
    with Store(tmp_path / "old.db") as store:
        comparison = store.start_comparison("tiny", {"fusions": ["gate"]})
        evaluation = {"model": {"auc": 0.7}, "random": {"auc": 0.5}, "oracle": {"auc": 0.9}, "slices": {}}
        store.add_comparison_cell(comparison, 1, {"fusion": "gate", "temperature": 0.1, "loss": "listwise",
                                                  "seed": 0}, evaluation)
        csv = exported(store, comparison)
    assert not {"run_id", "best_epoch", "seconds"} & set(csv.columns)
    assert csv["share_of_oracle"].tolist() == pytest.approx([0.5])  # (0.7 - 0.5) / (0.9 - 0.5)


def test_each_cell_carries_random_and_the_oracle_on_every_slice(grid):
    with Store(grid.workspace.store_path) as store:
        comparison = grid.result["comparison_id"]
        evaluations = comparison_evaluations(store, comparison)
        long = store.comparison_metrics(comparison)
    assert len(evaluations) == 2 and {e["selected_on"] for e in evaluations} == {"validation"}
    for cell, (evaluation, row) in enumerate(zip(evaluations, grid.result["rows"]), start=1):
        assert evaluation["model"]["auc"] == pytest.approx(row["auc"])
        assert set(evaluation["model"]) >= set(METRICS) and "auc_p" not in evaluation["model"]
        assert list(evaluation["slices"]) == list(SLICES)
        for name in SLICES:
            for scorer in ("random", "oracle"):
                stored = long[(long["cell"] == cell) & (long["scorer"] == scorer) & (long["slice"] == name)
                              & (long["metric"] == "auc")]["value"].item()
                assert evaluation["baselines"][name][scorer]["auc"] == pytest.approx(stored)
            # On every slice of tiny a 1-epoch model sits between random and the oracle (measured: see
            # tests/test_experiments.py).
            random, oracle = (evaluation["baselines"][name][s]["auc"] for s in ("random", "oracle"))
            assert random < evaluation["slices"][name]["auc"] < oracle


def test_the_results_table_shows_oracle_best_epoch_and_seconds_and_every_slice_reference(grid, home):
    with Store(grid.workspace.store_path) as store:
        store.set_setting(ACTIVE_DATASET, grid.dataset)
        store.set_setting(ACTIVE_RUN, grid.result["best_run_id"])
    at = start("compare")
    results = next(d for d in at.dataframe if "oracle_auc" in d.value.columns)
    shown = list(results.proto.column_order)
    assert {"temperature", "auc", "share_of_oracle", "oracle_auc", "best_epoch", "seconds"} <= set(shown)
    assert not {"loss", "seed", "run_id"} & set(shown)  # the same in every cell: said once, in the caption
    assert any("Every cell: fusion attention · loss listwise · seed 0." in c.value for c in at.caption)
    assert not any(c.endswith("_p") or c.endswith("_ci_low") for c in results.value.columns)
    assert results.value["best_epoch"].tolist() == [1, 1]
    against = table(at, "difference_from_best")
    best = grid.result["rows"].index(max(grid.result["rows"], key=lambda r: r["auc"]))
    assert against["distinguishable"][best] == "best (★)"
    assert set(against["distinguishable"].drop(index=best)) <= {"yes", "no (≈)"}
    assert (against["difference_from_best"] <= 0).all() and (against["ci_low"] <= against["ci_high"]).all()
    [download] = [b for b in at.get("download_button") if b.proto.label == "Download CSV"]
    assert download.proto.help.startswith("Every column")
    assert by_label(at.selectbox, "Cell").value == 0
    with Store(grid.workspace.store_path) as store:
        first = comparison_evaluations(store, grid.result["comparison_id"])[0]
    cell_chart = chart_specs(at)[-1]  # the chosen cell: every slice with its own random and oracle
    for name in SLICES:
        for scorer in ("random", "oracle"):
            assert f"{first['baselines'][name][scorer]['auc']:.3f}" in cell_chart


def test_run_settings_side_by_side_name_shared_changes_once_and_round_numbers():
    texts = ["fusion=gate, temperature=0.026406942985185436, embedder=hashing, epochs=2",
             "fusion=concat, embedder=hashing, epochs=2", "embedder=hashing, epochs=2"]
    shown, shared = distinct_settings(texts)
    assert shared == "embedder=hashing, epochs=2"
    assert shown == ["fusion=gate, temperature=0.02641", "fusion=concat", ""]
    assert distinct_settings(["fusion=gate"]) == (["fusion=gate"], "")  # one run: nothing is "shared"
