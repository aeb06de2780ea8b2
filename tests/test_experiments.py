"""The application layer's experiments (recengine.app.experiments) and their CLI commands: compare grids whose
cells are registered runs, the saturation demonstration and the zero-shot comparison kept in the store,
diagnostics of a run. Real training on the tiny preset with the hashing embedder, one epoch."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from recengine.app import datasets, experiments, runs
from recengine.cli import main
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.store import Store
from recengine.errors import InputError, JobCancelled
from recengine.eval.evaluate import SLICES
from recengine.eval.metrics import METRICS
from recengine.tables import stored_comparison
from recengine.train.runs import check_run
from recengine.workspace import Workspace

BASE = RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=2))  # tiny v3's cold users need a second epoch
GRID = {"fusions": ["concat", "attention"], "temperatures": [0.5]}


def _dev_candidates(root: Path) -> int:
    """Candidates of the dev split, counted from behaviors.tsv's impressions column."""
    lines = (root / "dev" / "behaviors.tsv").read_text(encoding="utf-8").splitlines()
    return sum(len(line.split("\t")[4].split()) for line in lines if line)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:"), err
    return err


@pytest.fixture(scope="module")
def grid(tmp_path_factory, tiny_data):
    """A 2-cell grid (concat, attention) run once in a workspace of its own."""
    home = tmp_path_factory.mktemp("grid-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECENGINE_HOME", str(home))
        workspace = Workspace(home)
        with Store(workspace.store_path) as store:
            name = datasets.resolve(store, tiny_data)["name"]
            events = []
            result = experiments.compare_grid(workspace, store, name, GRID, BASE, progress=events.append)
    return SimpleNamespace(home=home, workspace=workspace, dataset=name, result=result, events=events)


# --------------------------------------------------------------------------------------------- compare grid


def test_every_grid_cell_is_a_registered_run_that_can_be_loaded_and_activated(grid):
    result = grid.result
    rows = result["rows"]
    assert [(r["fusion"], r["temperature"]) for r in rows] == [("concat", 0.5), ("attention", 0.5)]
    ids = [r["run_id"] for r in rows]
    assert len(set(ids)) == 2 and result["status"] == "complete"
    # Two epochs beat the random scorer in every cell and on every slice and stay below the oracle (on tiny v3 one
    # epoch left the cold users' slice at 0.525).
    for row in rows:
        assert row["random_auc"] + 0.03 < row["auc"] < row["oracle_auc"]
        assert min(row["warm_auc"], row["new_articles_auc"], row["cold_users_auc"]) > 0.55
    assert result["best_run_id"] == max(rows, key=lambda r: r["auc"])["run_id"]
    assert {(s["fusion"], s["seeds"]) for s in result["summary"]} == {("concat", 1), ("attention", 1)}

    with Store(grid.workspace.store_path) as store:  # a fresh store object reads what the grid wrote
        (comparison,) = store.comparisons(grid.dataset)
        assert (comparison["id"], comparison["status"]) == (result["comparison_id"], "complete")
        # The stored cells, read back through the long layout, are the rows the grid reported.
        stored_rows = stored_comparison(store, comparison["id"]).to_dict("records")
        assert stored_rows == [pytest.approx(row, nan_ok=True) for row in rows]
        assert store.comparison_cells(comparison["id"])["cell"].tolist() == [1, 2]
        # Each cell keeps its whole evaluation: every metric of the registry on every slice, for each scorer.
        values = store.comparison_metrics(comparison["id"])
        assert {(s, m) for s, m in zip(values["slice"], values["metric"])} >= {
            (s, m) for s in ("all", *SLICES) for m in METRICS}
        assert set(values["scorer"]) == {"model", "random", "oracle"}
        for row in rows:
            stored = store.run(row["run_id"])
            assert stored["dataset"] == grid.dataset
            assert stored["config"]["model"]["fusion"] == row["fusion"]
            folder = Path(stored["path"])
            assert folder.parent == grid.workspace.runs.resolve()
            check_run(folder)
        # The saved best cell scores what the grid reported for it when evaluated again from its folder.
        best = next(r for r in rows if r["run_id"] == result["best_run_id"])
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RECENGINE_HOME", str(grid.home))
            evaluated = runs.evaluate(store, best["run_id"])
        assert evaluated["model"]["auc"] == pytest.approx(best["auc"], abs=1e-9)
        runs.activate_run(store, best["run_id"])
        assert runs.active_run(store)["run_id"] == best["run_id"]


def test_every_grid_cell_is_compared_with_the_best_cell_on_the_same_impressions(grid):
    result = grid.result
    rows = {r["run_id"]: r for r in result["rows"]}
    best = rows[result["best_run_id"]]
    compared = result["against_best"]
    assert compared["best_run_id"] == best["run_id"] and compared["resamples"] == 2000
    for cell in compared["cells"]:
        row = rows[cell["run_id"]]
        assert cell["best"] == (row is best)
        for metric in METRICS:
            paired = cell["metrics"][metric]
            # The difference of the per-impression means is the difference of the reported metrics.
            assert paired["difference"] == pytest.approx(row[metric] - best[metric], abs=1e-9)
            assert row[f"{metric}_diff_vs_best"] == paired["difference"]
            assert (row[f"{metric}_ci_low"], row[f"{metric}_ci_high"], row[f"{metric}_p"]) == (
                paired["ci_low"], paired["ci_high"], paired["p_value"])
            assert paired["distinguishable"] == (paired["ci_low"] > 0 or paired["ci_high"] < 0)
            if row is best:
                assert (paired["difference"], paired["p_value"]) == (0.0, 1.0) and not paired["distinguishable"]
            else:
                assert paired["ci_low"] <= paired["difference"] <= paired["ci_high"]


def test_grid_progress_names_each_cell_and_reaches_the_end(grid):
    assert {(e.part, e.parts) for e in grid.events} == {(1, 2), (2, 2)}
    assert {e.label for e in grid.events if e.part == 2} == {"attention · τ 0.5 · listwise · seed 0"}
    fractions = [e.fraction for e in grid.events]
    assert fractions[-1] == 1.0 and max(f for e, f in zip(grid.events, fractions) if e.part == 1) <= 0.5


@pytest.mark.parametrize("error, status", [(JobCancelled, "cancelled"), (RuntimeError, "failed")])
def test_a_stopped_grid_keeps_its_finished_cells_as_runs(workspace, store, tiny_data, error, status):
    def stop_in_second_cell(event):
        if event.part == 2:
            raise error("stop")

    with pytest.raises(error):
        experiments.compare_grid(workspace, store, tiny_data, {"fusions": ["concat", "gate"], "temperatures": [0.5]},
                                 BASE, progress=stop_in_second_cell)
    (comparison,) = store.comparisons()
    assert comparison["status"] == status
    (run_id,) = store.comparison_cells(comparison["id"])["run_id"]
    assert [r["run_id"] for r in store.runs()] == [run_id]
    assert sorted(p.name for p in workspace.runs.iterdir() if not p.name.startswith(".")) == [run_id]


@pytest.mark.parametrize("grid_spec, message", [
    ({"fusions": ["concat", "bogus"], "temperatures": [0.1]}, "unknown fusion 'bogus'"),
    ({"fusions": ["concat"], "temperatures": "0.1"}, "grid temperatures must be a list"),
    ({"fusions": ["concat"]}, "the grid needs temperatures"),
    ({"fusions": ["concat"], "temperatures": [0.1], "fusion": ["gate"]}, "unknown grid axis 'fusion'"),
    ({"fusions": ["concat"], "temperatures": [0.1, 0.0]}, "temperatures must be numbers > 0"),
])
def test_a_bad_grid_is_refused_before_anything_is_recorded(workspace, store, tiny_data, grid_spec, message):
    with pytest.raises(InputError, match=message):
        experiments.compare_grid(workspace, store, tiny_data, grid_spec, BASE)
    assert store.comparisons() == [] and store.runs() == [] and store.datasets() == []


# --------------------------------------------------------------------------------------------- saturation


def test_saturation_demo_is_kept_in_the_store(workspace, tiny_data, capsys):
    code = main(["demo", "saturation", "--data", str(tiny_data), "--epochs", "1", "--settings", "fixed",
                 "--embedder", "hashing"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    with Store(workspace.store_path) as fresh:  # as after a reload: a new store object, nothing in memory
        record = experiments.latest_saturation(fresh, printed["dataset"])
        assert experiments.latest_saturation(fresh, "another-dataset") is None
    assert record["id"] == printed["result_id"] and experiments.saturation_summary(record) == printed
    assert list(record["result"]) == ["fixed"] and record["params"]["epochs"] == 1
    fixed = record["result"]["fixed"]
    assert len(fixed["loss"]) == len(fixed["saturated_share"]) == 1
    # cosine / 0.5 bounds every logit by 1 / 0.5 = 2, so nothing saturates (sigmoid(2) = 0.88).
    logits = fixed["after"]["logits"]["all"]
    assert -2.0 - 1e-5 <= logits["min"] <= logits["max"] <= 2.0 + 1e-5
    assert fixed["after"]["saturated_share"] == 0.0
    assert fixed["after"]["candidates"] == _dev_candidates(tiny_data)


@pytest.mark.parametrize("flags, message", [
    (["--settings", "fixed,bogus"], "saturation settings must be distinct names among broken, x10, fixed"),
    (["--epochs", "0"], "epochs must be a whole number >= 1"),
])
def test_saturation_cli_bad_input_exits_2_before_training(workspace, tiny_data, capsys, flags, message):
    assert main(["demo", "saturation", "--data", str(tiny_data), *flags]) == 2
    assert message in _one_line_error(capsys)
    with Store(workspace.store_path) as store:
        assert store.datasets() == []


# --------------------------------------------------------------------------------------------- diagnostics


def test_diagnostics_cli_json_and_table(grid, tiny_data, monkeypatch, capsys):
    monkeypatch.setenv("RECENGINE_HOME", str(grid.home))
    concat, attention = (r["run_id"] for r in grid.result["rows"])
    assert main(["diagnostics", "--run", attention, "--json"]) == 0
    headline = json.loads(capsys.readouterr().out)
    assert (headline["run_id"], headline["split"]) == (attention, "dev")
    assert headline["candidates"] == _dev_candidates(tiny_data)
    assert headline["logit_min"] <= headline["logit_mean"] <= headline["logit_max"]
    weights = headline["fusion_weights"]  # attention: a softmax over the views for every article
    assert set(weights) == set(BASE.model.views)
    assert sum(w["all"] for w in weights.values()) == pytest.approx(1.0, abs=1e-5)

    assert main(["diagnostics", "--run", concat]) == 0
    table = capsys.readouterr().out
    assert "saturated (sigmoid < 0.01 or > 0.99)" in table and concat in table
    assert "fusion weights: concat fusion mixes the views in an MLP" in table


def test_diagnostics_cli_unknown_run_exits_2(capsys):
    assert main(["diagnostics", "--run", "no-such-run"]) == 2
    assert "unknown run 'no-such-run'" in _one_line_error(capsys)


# --------------------------------------------------------------------------------------------- zero-shot


@pytest.mark.slow  # three trainings: about 20 s on a quiet 2-core machine
def test_zero_shot_compare_on_tiny_beside_random_and_oracle(workspace, store, tiny_data):
    assert experiments.shown_zero_shot(store)["shipped"] is True
    record = experiments.zero_shot_compare(workspace, store, preset="tiny", embedder="hashing", epochs=1,
                                           update_epochs=1, full_epochs=0)
    result = record["result"]
    assert set(result["methods"]) == {"zero_shot_mean", "zero_shot_neighbors", "incremental", "full_retrain"}
    new_articles = json.loads((tiny_data / "meta.json").read_text())["new_articles"]
    assert result["day6_articles"] == len(set(new_articles))  # the same world: tiny, seed 0
    for method in result["methods"].values():
        for slice_name in experiments.ZERO_SHOT_SLICES:
            assert 0.0 < method[slice_name]["auc"] < 1.0
        for baseline in method["baselines"].values():
            assert baseline["random_auc"] < baseline["oracle_auc"]
    assert not [p for p in workspace.home.iterdir() if p.name.startswith(".zero-shot-")]  # scratch removed
    # Each method against the full retrain, paired on the same afternoon impressions, overall and per slice.
    against = result["against_retrain"]
    assert against["reference"] == "full_retrain" and against["resamples"] == 2000
    assert set(against["methods"]) == {"zero_shot_mean", "zero_shot_neighbors", "incremental"}
    retrain = result["methods"]["full_retrain"]
    for name, slices in against["methods"].items():
        assert set(slices) == set(experiments.ZERO_SHOT_SLICES)
        for slice_name, paired in slices.items():
            auc = paired["auc"]
            # The paired means are the slice's reported AUCs (rounded to 4 places there).
            assert auc["a"] == pytest.approx(result["methods"][name][slice_name]["auc"], abs=6e-5)
            assert auc["b"] == pytest.approx(retrain[slice_name]["auc"], abs=6e-5)
            assert auc["ci_low"] <= auc["difference"] <= auc["ci_high"] and 0.0 <= auc["p_value"] <= 1.0

    with Store(workspace.store_path) as fresh:
        assert experiments.latest_zero_shot(fresh) == record
        shown = experiments.shown_zero_shot(fresh)
    assert shown["shipped"] is False and shown["result"] == result


@pytest.mark.parametrize("flags, message", [
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--preset", "tiny", "--lr-decay", "0"], "lr decay must be a number in (0, 1]"),
    (["--preset", "tiny", "--update-epochs", "0", "--full-epochs", "0"], "needs at least one epoch"),
    (["--dataset", "nothing-here"], "unknown dataset 'nothing-here'"),
])
def test_zero_shot_cli_bad_input_exits_2(capsys, flags, message):
    assert main(["zero-shot-compare", *flags]) == 2
    assert message in _one_line_error(capsys)
