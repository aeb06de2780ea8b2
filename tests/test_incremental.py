"""Incremental updates: tables grow, old rows stay bit-for-bit, the parent is untouched, the input is archived
and never consumed twice, bad input changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from recengine.cli import main
from recengine.data.mind import load_dataset, split_by_time, write_split
from recengine.errors import InputError
from recengine.train.incremental import AlreadyConsumedError, update_run


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def morning(tiny_data: Path, tmp_path_factory) -> Path:
    """Day 6 before noon as a bare MIND split: new clicks, new articles, new users."""
    dataset = load_dataset(tiny_data)
    before, _ = split_by_time(dataset.dev, np.datetime64("2019-11-14T12:00:00"))
    folder = tmp_path_factory.mktemp("new") / "morning"
    write_split(folder, before)
    return folder


@pytest.fixture(scope="module")
def update(tiny_run: Path, morning: Path, tiny_cache, tmp_path_factory):
    """One update shared by the checks below: 1 epoch on new rows only."""
    home = tmp_path_factory.mktemp("upd")
    parent_before = folder_digest(tiny_run)
    result = update_run(tiny_run, morning, home / "updated", epochs=1, full_epochs=0, archive=home / "archive", cache=tiny_cache)
    return result, home, parent_before


def test_the_parent_run_is_never_modified(update, tiny_run):
    _, _, parent_before = update
    assert folder_digest(tiny_run) == parent_before


def test_tables_grow_and_old_rows_stay_bit_for_bit(update, tiny_run):
    result, _, _ = update
    old = load_file(str(tiny_run / "weights.safetensors"))
    new = load_file(str(result.path / "weights.safetensors"))
    n_old = old["article_ids.weight"].shape[0]
    assert new["article_ids.weight"].shape[0] == n_old + result.meta["new_articles"] > n_old
    assert (new["article_ids.weight"][:n_old] == old["article_ids.weight"]).all()
    assert (new["article_bias.weight"][:n_old] == old["article_bias.weight"]).all()
    n_old_users = old["user_ids.weight"].shape[0]
    assert new["user_ids.weight"].shape[0] == n_old_users + result.meta["new_users"]
    assert (new["user_ids.weight"][:n_old_users] == old["user_ids.weight"]).all()
    # Phase 1 trains only the ID tables: every dense weight is the parent's.
    dense = [k for k in old if not k.startswith(("article_ids", "article_bias", "user_ids", "article_trained", "user_trained"))]
    assert dense and all((new[k] == old[k]).all() for k in dense)
    # ...and the new rows did move away from their starting point.
    assert new["article_trained"].sum() > old["article_trained"].sum()


def test_the_new_run_records_its_parent_and_counts(update, tiny_run, morning):
    result, _, _ = update
    meta = json.loads((result.path / "meta.json").read_text())
    parent_meta = json.loads((tiny_run / "meta.json").read_text())
    assert meta["mode"] == "incremental" and meta["parent"] == str(tiny_run.resolve())
    assert meta["samples_seen"] > parent_meta["samples_seen"]
    assert meta["update"]["input"] == str(morning.resolve()) and meta["last_update"]
    assert result.metrics is not None and 0 <= result.metrics["model"]["auc"] <= 1


def test_the_input_is_archived_and_never_consumed_twice(update, tiny_run, morning, tiny_cache):
    _, home, _ = update
    archived = list((home / "archive").glob("*-*"))
    assert len(archived) == 1
    assert folder_digest(archived[0] / "input") == folder_digest(morning)
    manifest = json.loads((archived[0] / "manifest.json").read_text())
    assert manifest["consumed_by"].endswith("updated")
    with pytest.raises(AlreadyConsumedError, match="already consumed"):
        update_run(tiny_run, morning, home / "again", epochs=1, archive=home / "archive", cache=tiny_cache)
    assert not (home / "again").exists()


def test_the_cli_says_so_on_a_second_update(update, tiny_run, morning, capsys):
    _, home, _ = update
    code = main(["update", "--run", str(tiny_run), "--new-data", str(morning), "--out", str(home / "cli"),
                 "--archive", str(home / "archive")])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["status"] == "already_consumed"
    assert not (home / "cli").exists()


def test_bad_update_requests_change_nothing(tiny_run, morning, tmp_path, tiny_cache):
    with pytest.raises(InputError, match="at least one epoch"):
        update_run(tiny_run, morning, tmp_path / "u", epochs=0, full_epochs=0, archive=tmp_path / "a")
    with pytest.raises(InputError, match="not replace its parent"):
        update_run(tiny_run, morning, tiny_run, archive=tmp_path / "a")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no files"):
        update_run(tiny_run, empty, tmp_path / "u", archive=tmp_path / "a")
    assert not (tmp_path / "u").exists()
    assert not list((tmp_path / "a").glob("*-*"))


def test_a_full_pass_after_the_new_rows(tiny_run, morning, tmp_path, tiny_cache):
    copy = tmp_path / "morning"
    shutil.copytree(morning, copy)
    result = update_run(tiny_run, copy, tmp_path / "u", epochs=1, full_epochs=1, lr_decay=0.5,
                        archive=tmp_path / "a", cache=tiny_cache)
    phases = [h["phase"] for h in result.history]
    assert phases == ["new_rows", "all"]
    old = load_file(str(tiny_run / "weights.safetensors"))
    new = load_file(str(result.path / "weights.safetensors"))
    assert not (new["fusion.key.weight"] == old["fusion.key.weight"]).all()  # phase 2 moves dense weights


# --------------------------------------------------------------------------- a faster update, the same guarantees


def test_the_update_records_where_its_time_went(update):
    result, _, _ = update
    stages = result.meta["update"]["stages"]
    assert {"load_parent", "grow", "train_new_rows", "calibrate", "evaluate"} <= set(stages)
    assert "train_all" not in stages  # the fixture's update has no phase 2
    assert all(seconds >= 0 for seconds in stages.values())
    assert sum(stages.values()) <= result.meta["update"]["seconds"] + 0.05


def test_the_dev_split_is_scored_once_at_the_end_not_after_every_pass(tiny_run, tiny_data, morning, tiny_cache,
                                                                      tmp_path, monkeypatch):
    """Three passes, each validated on the split carved from the new data; dev is scored once, for the child (the
    parent's dev metrics are the ones its training recorded on the same impressions)."""
    from recengine.model.recommender import Recommender

    scored: list[int] = []
    score = Recommender.score

    def counting(self, inter, *args, **kwargs):
        scored.append(len(inter))
        return score(self, inter, *args, **kwargs)

    monkeypatch.setattr(Recommender, "score", counting)
    copy = tmp_path / "morning"
    shutil.copytree(morning, copy)
    result = update_run(tiny_run, copy, tmp_path / "u", epochs=2, full_epochs=1, archive=tmp_path / "a",
                        cache=tiny_cache)
    n_dev = len(load_dataset(tiny_data).dev.behaviors)
    carved = result.meta["selection"]["validation_impressions"]
    assert carved < n_dev
    assert scored.count(n_dev) == 1
    assert [h["split"] for h in result.history] == ["validation"] * 3
    assert all(h["valid"]["impressions"] == carved for h in result.history)
    assert result.meta["evaluation"]["parent_metrics"] == "recorded by the parent"
    recorded = json.loads((tiny_run / "metrics.json").read_text())
    assert result.parent_metrics["model"] == recorded["model"]


@pytest.fixture(scope="module")
def afternoon_parent(tiny_data: Path, tiny_cache, tmp_path_factory):
    """A parent that selects on dev, trained on days 1-5 and judged on day 6's afternoon (its dev split):
    ``(run folder, the dataset in memory: train days 1-5, dev the afternoon)``."""
    from recengine.config import ModelConfig, RunConfig, TrainConfig
    from recengine.data.mind import MindDataset
    from recengine.train.api import train_run

    data = load_dataset(tiny_data)
    _, afternoon = split_by_time(data.dev, np.datetime64("2019-11-14T12:00:00"))
    judged = MindDataset(data.root, {"train": data.train, "dev": afternoon}, data.report, data.truth, data.meta)
    out = tmp_path_factory.mktemp("runs") / "afternoon"
    config = RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=1, select_on="dev"))
    train_run(judged, config, out=out, cache=tiny_cache)
    return out, judged


def test_a_parent_selecting_on_dev_does_not_make_the_update_look_at_dev(afternoon_parent, morning, tiny_cache,
                                                                        tmp_path):
    """No pass is validated on the evaluation split (nothing is carved: each pass runs as asked), and the
    parent's recorded metrics are used when the evaluation data, given in memory, holds its very impressions."""
    parent, judged = afternoon_parent
    copy = tmp_path / "morning"
    shutil.copytree(morning, copy)
    result = update_run(parent, copy, tmp_path / "u", epochs=1, full_epochs=1, eval_data=judged,
                        archive=tmp_path / "a", cache=tiny_cache)
    assert [h["valid"] for h in result.history] == [None, None]
    assert result.metrics["selected_on"] is None and result.meta["selection"] == {"split": None}
    assert result.meta["evaluation"]["parent_metrics"] == "recorded by the parent"
    assert result.metrics["model"]["impressions"] == result.parent_metrics["model"]["impressions"] == len(
        judged.dev.behaviors)


def test_other_evaluation_impressions_measure_the_parent_again(tiny_run, tiny_data, morning, tiny_cache, tmp_path):
    """Evaluation data of the parent's own folder but other impressions (the afternoon only): its recorded dev
    metrics do not apply, so the parent is scored on these impressions, as the child is."""
    from recengine.data.mind import MindDataset

    data = load_dataset(tiny_data)
    _, afternoon = split_by_time(data.dev, np.datetime64("2019-11-14T12:00:00"))
    judged = MindDataset(data.root, {"train": data.train, "dev": afternoon}, data.report, data.truth, data.meta)
    copy = tmp_path / "morning"
    shutil.copytree(morning, copy)
    result = update_run(tiny_run, copy, tmp_path / "u", epochs=1, eval_data=judged, archive=tmp_path / "a",
                        cache=tiny_cache)
    recorded = json.loads((tiny_run / "metrics.json").read_text())
    assert result.meta["evaluation"]["parent_metrics"] == "measured"
    assert result.parent_metrics["model"]["impressions"] == len(afternoon.behaviors)
    assert recorded["model"]["impressions"] == len(data.dev.behaviors) != len(afternoon.behaviors)


def test_phase_one_looks_up_the_frozen_graph_view_and_puts_the_encoder_back(tiny_run, tiny_cache):
    """The lookup phase 1 trains against is the encoder's own output (as served: no dropout), row by row."""
    import torch

    from recengine.train.incremental import _graph_frozen, frozen_graph_outputs
    from recengine.train.runs import load_run

    recommender = load_run(tiny_run, cache=tiny_cache).recommender
    net, catalog = recommender.net, recommender.catalog
    assert "graph" in net.views
    table = frozen_graph_outputs(recommender, catalog)
    rows = torch.tensor([0, 5, len(catalog) - 1])
    encoder = net.graph
    net.eval()
    with torch.no_grad():
        direct = encoder.forward_rows(catalog.graph.tensors(), catalog.text, rows)
        with _graph_frozen(net, table):
            assert net.graph is not encoder
            looked_up = net.graph.forward_rows(catalog.graph.tensors(), catalog.text, rows)
    assert net.graph is encoder
    assert torch.allclose(looked_up, direct, atol=1e-5)


def test_the_same_update_gives_the_same_child_whatever_ran_before(tiny_run, morning, tiny_cache, tmp_path):
    """New user rows start from the run's seed, not from the process's random state."""
    import torch

    children = []
    for draw in (1, 2):
        torch.manual_seed(draw)  # what the process did before differs
        copy = tmp_path / f"morning{draw}"
        shutil.copytree(morning, copy)
        result = update_run(tiny_run, copy, tmp_path / f"u{draw}", epochs=1, archive=tmp_path / f"a{draw}",
                            cache=tiny_cache)
        assert result.meta["new_users"] > 0
        children.append(load_file(str(result.path / "weights.safetensors")))
    assert children[0].keys() == children[1].keys()
    assert all(torch.equal(children[0][k], children[1][k]) for k in children[0])
