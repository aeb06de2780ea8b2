"""Updates are guarded and all-or-nothing: another world's articles are refused before training, input is
identified by its rows, the archive keeps only regular files, a failed update leaves no child and consumes
nothing, a committed one interrupted is finished by ``recover``, and the parent is measured on the same data."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from recengine.cli import main
from recengine.data.mind import MindDataset, load_dataset, read_news, split_by_time, write_split
from recengine.errors import InputError, RecengineError
from recengine.train import incremental
from recengine.train.api import evaluate_run
from recengine.train.incremental import AlreadyConsumedError, input_fingerprint, recover, update_run
from recengine.train.runs import load_run, model_on_split

CUTOFF = np.datetime64("2019-11-14T12:00:00")


@pytest.fixture(scope="module")
def morning(tiny_data: Path, tmp_path_factory) -> Path:
    """Day 6 before noon as a bare MIND split: new clicks, new articles, new users."""
    before, _ = split_by_time(load_dataset(tiny_data).dev, CUTOFF)
    folder = tmp_path_factory.mktemp("new") / "morning"
    write_split(folder, before)
    return folder


@pytest.fixture(scope="module")
def other_world(tmp_path_factory) -> Path:
    """Clicks from the tiny world with seed 1 (every article, its first 60 impressions): its article ids collide
    with seed 0's, its content differs."""
    from recengine.data.synthetic import generate

    root = tmp_path_factory.mktemp("world1") / "tiny1"
    generate("tiny", 1, root)
    sample = root.parent / "sample"
    sample.mkdir()
    shutil.copy(root / "train" / "news.tsv", sample / "news.tsv")
    lines = (root / "train" / "behaviors.tsv").read_text().splitlines(keepends=True)
    (sample / "behaviors.tsv").write_text("".join(lines[:60]))
    return sample


@pytest.fixture(scope="module")
def consumed(tiny_run: Path, morning: Path, tiny_cache, tmp_path_factory):
    """``morning`` consumed once: ``(result, archive)``."""
    home = tmp_path_factory.mktemp("consumed")
    result = update_run(tiny_run, morning, home / "child", epochs=1, archive=home / "archive", cache=tiny_cache)
    return result, home / "archive"


def conflicting_ids(tiny_run: Path, tiny_data: Path, new_split: Path) -> list[str]:
    """Ids of the parent's catalogue that the new data gives another title or category, in the new file's order."""
    known = set(json.loads((tiny_run / "id_maps.json").read_text())["articles"])
    old = load_dataset(tiny_data).news.frame.set_index("news_id")
    new = read_news(new_split / "news.tsv").frame
    return [row.news_id for row in new.itertuples()
            if row.news_id in known and (row.title, row.category) != tuple(old.loc[row.news_id, ["title", "category"]])]


def hidden_leftovers(*folders: Path) -> list[str]:
    """Hidden names an update may leave behind (staging, journals, retired runs); the archive's .lock is allowed."""
    return [p.name for folder in folders if folder.is_dir() for p in folder.iterdir()
            if p.name.startswith(".") and p.name != ".lock"]


def entries(archive: Path) -> list[str]:
    return sorted(p.name for p in archive.iterdir() if not p.name.startswith(".")) if archive.is_dir() else []


# --------------------------------------------------------------------------- the guard


def test_another_worlds_articles_are_refused_before_training(tiny_run, tiny_data, other_world, tmp_path, capsys):
    expected = conflicting_ids(tiny_run, tiny_data, other_world)
    assert len(expected) > 100  # the premise: the two worlds share most ids
    archive = tmp_path / "archive"
    code = main(["update", "--run", str(tiny_run), "--new-data", str(other_world), "--out", str(tmp_path / "child"),
                 "--archive", str(archive), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    line = [x for x in err.splitlines() if x.startswith("error")][0]
    assert f"{len(expected)} article ids" in line and expected[0] in line and "--allow-conflicts" in line
    assert "(title, category" in line
    assert "phase 1" not in err  # refused before any training
    assert not (tmp_path / "child").exists() and entries(archive) == [] and hidden_leftovers(archive, tmp_path) == []


def test_allow_conflicts_keeps_the_parents_articles_and_says_how_many(tiny_run, tiny_data, other_world, tiny_cache,
                                                                       tmp_path, capsys):
    expected = conflicting_ids(tiny_run, tiny_data, other_world)
    code = main(["update", "--run", str(tiny_run), "--new-data", str(other_world), "--out", str(tmp_path / "child"),
                 "--archive", str(tmp_path / "archive"), "--epochs", "1", "--allow-conflicts",
                 "--cache", str(tiny_cache.folder)])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["status"] == "updated"
    # Every conflicting id differs in title, so the count is the one computed here from the files.
    assert printed["conflicting_articles_skipped"] == len(expected)
    assert printed["metrics"]["model"]["auc"] is not None and printed["parent_metrics"]["model"]["auc"] is not None
    assert load_run(tmp_path / "child", cache=tiny_cache).meta["update"]["conflicting_articles_skipped"] == len(expected)


def test_the_update_in_memory_keeps_the_parents_version_too(tiny_run, tiny_data, other_world, tiny_cache, tmp_path):
    """The catalogue the child was trained with (not just the one rebuilt on loading) holds the parent's text."""
    expected = conflicting_ids(tiny_run, tiny_data, other_world)
    result = update_run(tiny_run, other_world, tmp_path / "child", epochs=1, archive=tmp_path / "archive",
                        cache=tiny_cache, allow_conflicts=True)
    parent = load_run(tiny_run, cache=tiny_cache).recommender.catalog
    child = result.recommender.catalog
    for article in expected[:20]:
        old, new = parent.articles.position[article], child.articles.position[article]
        assert child.frame.at[new, "title"] == parent.frame.at[old, "title"]
        assert bool((child.text[new] == parent.text[old]).all())
    assert result.meta["update"]["conflicting_articles_skipped"] == len(expected)


# --------------------------------------------------------------------------- identity by rows


def shuffled_copy(source: Path, target: Path) -> Path:
    """The same rows in another order (header-less TSV files: every line is a row)."""
    target.mkdir(parents=True)
    rng = random.Random(3)
    for path in source.iterdir():
        lines = path.read_text().splitlines(keepends=True)
        rng.shuffle(lines)
        (target / path.name).write_text("".join(lines))
    return target


def test_the_same_rows_count_as_consumed_whatever_the_files(consumed, tiny_run, morning, tmp_path, tiny_cache):
    _, archive = consumed
    with_readme = tmp_path / "readme"
    shutil.copytree(morning, with_readme)
    (with_readme / "README.txt").write_text("the morning clicks")
    moved = tmp_path / "moved"
    shutil.copytree(morning, moved / "train")
    reordered = shuffled_copy(morning, tmp_path / "reordered")
    for variant in (with_readme, moved, reordered):
        with pytest.raises(AlreadyConsumedError, match="already consumed"):
            update_run(tiny_run, variant, tmp_path / "child", epochs=1, archive=archive, cache=tiny_cache)
    assert not (tmp_path / "child").exists() and len(entries(archive)) == 1


def test_other_rows_are_new_input(morning, tmp_path):
    fewer = tmp_path / "fewer"
    shutil.copytree(morning, fewer)
    lines = (fewer / "behaviors.tsv").read_text().splitlines(keepends=True)
    (fewer / "behaviors.tsv").write_text("".join(lines[1:]))
    assert input_fingerprint(fewer) != input_fingerprint(morning)


# --------------------------------------------------------------------------- the archive rule


@pytest.mark.parametrize("odd", ["fifo", "symlink", "loop"])
def test_links_and_special_files_are_refused_before_any_work(tiny_run, morning, tmp_path, odd):
    new = tmp_path / "new"
    shutil.copytree(morning, new)
    culprit = new / {"fifo": "pipe", "symlink": "news.tsv", "loop": "again"}[odd]
    if odd == "fifo":
        os.mkfifo(culprit)
    elif odd == "symlink":
        elsewhere = tmp_path / "news.tsv"
        culprit.rename(elsewhere)
        culprit.symlink_to(elsewhere)
    else:
        culprit.symlink_to(new, target_is_directory=True)
    kind = {"fifo": "a FIFO", "symlink": "a symbolic link", "loop": "a symbolic link"}[odd]
    with pytest.raises(InputError, match=f"{culprit}: is {kind}; the archive keeps only regular files"):
        update_run(tiny_run, new, tmp_path / "child", epochs=1, archive=tmp_path / "archive")
    assert not (tmp_path / "child").exists() and not (tmp_path / "archive").exists()


# --------------------------------------------------------------------------- all or nothing


def test_a_failed_update_leaves_no_child_and_consumes_nothing(tiny_run, morning, tmp_path, tiny_cache, monkeypatch):
    """The archive disk fills up while the entry is staged: one line naming the path, no child, nothing consumed.
    The same input then goes through once, with an editor's dangling lock link in it skipped."""
    new = tmp_path / "new"
    shutil.copytree(morning, new)
    (new / ".#news.tsv").symlink_to("user@host.1234:1700000000")  # what Emacs leaves while news.tsv is edited
    out, archive = tmp_path / "runs" / "child", tmp_path / "archive"

    def full_disk(journal, *args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(journal.staged_entry / "manifest.json"))

    monkeypatch.setattr(incremental, "_stage_entry", full_disk)
    with pytest.raises(InputError, match="No space left on device"):
        update_run(tiny_run, new, out, epochs=1, archive=archive, cache=tiny_cache)
    assert not out.exists() and entries(archive) == [] and hidden_leftovers(archive, out.parent) == []

    monkeypatch.undo()
    result = update_run(tiny_run, new, out, epochs=1, archive=archive, cache=tiny_cache)
    assert result.path == out and load_run(out, cache=tiny_cache)
    [entry] = entries(archive)
    manifest = json.loads((archive / entry / "manifest.json").read_text())
    assert manifest["consumed_by"] == str(out.resolve()) and ".#news.tsv" not in manifest["files"]
    assert sorted(p.name for p in (archive / entry / "input").iterdir()) == sorted(p.name for p in morning.iterdir())
    assert hidden_leftovers(archive, out.parent) == []


def test_an_update_waits_a_stated_time_for_another_then_says_so(tiny_run, morning, tmp_path, tiny_cache,
                                                                  monkeypatch):
    """Another update holds the archive (here: this test, through the same lock file): the update waits
    $RECENGINE_STORE_TIMEOUT seconds, then refuses in one line naming the archive; nothing is written."""
    import fcntl

    out, archive = tmp_path / "runs" / "child", tmp_path / "archive"
    archive.mkdir()
    monkeypatch.setenv("RECENGINE_STORE_TIMEOUT", "0.5")
    with open(archive / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="another update into this archive is running") as refused:
            update_run(tiny_run, morning, out, epochs=1, archive=archive, cache=tiny_cache)
    assert str(archive) in str(refused.value) and not out.exists() and entries(archive) == []


def test_a_committed_update_cut_short_is_finished_by_recover(tiny_run, morning, tmp_path, tiny_cache, monkeypatch):
    new = tmp_path / "new"
    shutil.copytree(morning, new)
    out, archive = tmp_path / "child", tmp_path / "archive"

    def cut(journal):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(journal.out))

    monkeypatch.setattr(incremental, "_roll_forward", cut)
    with pytest.raises(RecengineError, match="is committed but could not be put in place"):
        update_run(tiny_run, new, out, epochs=1, archive=archive, cache=tiny_cache)
    assert not out.exists() and entries(archive) == []
    monkeypatch.undo()
    assert recover(archive) == [f"finished an interrupted update into {out.resolve()}"]
    assert load_run(out, cache=tiny_cache).meta["mode"] == "incremental" and len(entries(archive)) == 1
    assert hidden_leftovers(archive, tmp_path) == [] and recover(archive) == []
    with pytest.raises(AlreadyConsumedError):
        update_run(tiny_run, new, tmp_path / "again", epochs=1, archive=archive, cache=tiny_cache)


def test_force_replaces_a_run_and_data_names_a_moved_dataset(tiny_run, tiny_data, morning, tmp_path, tiny_cache,
                                                              capsys):
    parent = tmp_path / "parent"
    shutil.copytree(tiny_run, parent)
    meta = json.loads((parent / "meta.json").read_text())
    meta["dataset"]["root"] = str(tmp_path / "moved-away")
    (parent / "meta.json").write_text(json.dumps(meta))
    existing = tmp_path / "existing"
    shutil.copytree(tiny_run, existing)
    argv = ["update", "--run", str(parent), "--new-data", str(morning), "--out", str(existing), "--force",
            "--archive", str(tmp_path / "archive"), "--epochs", "1", "--cache", str(tiny_cache.folder)]
    assert main(argv) == 2
    assert "moved-away" in capsys.readouterr().err
    assert main([*argv, "--data", str(tiny_data)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["status"] == "updated"
    assert json.loads((existing / "meta.json").read_text())["mode"] == "incremental"
    assert hidden_leftovers(tmp_path) == []


# --------------------------------------------------------------------------- the parent beside the child


def test_the_parent_is_measured_on_the_same_data(consumed, tiny_run, tiny_cache):
    result, _ = consumed
    again = evaluate_run(tiny_run, cache=tiny_cache)
    assert result.parent_metrics["model"] == pytest.approx(again["model"])
    assert result.meta["parent_metrics"]["model"] == pytest.approx(again["model"])
    assert result.metrics["model"]["auc"] != result.parent_metrics["model"]["auc"]


def slice_auc(recommender, judged: MindDataset, articles: set[str], cache) -> tuple[float, float]:
    """AUC of the model's scores on the candidates that are ``articles``: against the clicks, and against the true
    click probabilities (each candidate a positive with weight p and a negative with weight 1 - p)."""
    model, inter, truth = model_on_split(recommender, judged, "dev", cache=cache)
    ids = np.asarray(model.catalog.articles.ids, dtype=object)[inter.candidates]
    keep = np.fromiter((a in articles for a in ids), dtype=bool, count=len(ids))
    scores, p = model.score(inter)[keep], truth[keep]
    doubled = np.r_[scores, scores]
    soft = roc_auc_score(np.r_[np.ones(len(p)), np.zeros(len(p))], doubled, sample_weight=np.r_[p, 1 - p])
    return roc_auc_score(inter.labels[keep], scores), soft


@pytest.fixture(scope="module")
def tiny_v2(tmp_path_factory, tiny_cache) -> tuple[Path, Path, Path]:
    """(data, parent run, morning) in tiny world v2, where the margins below were measured: in tiny v3 the parent's
    neighbour-filled vectors already read the new articles' topics as well as two epochs over everything do."""
    from recengine.config import ModelConfig, RunConfig, TrainConfig
    from recengine.data.synthetic import generate
    from recengine.train.api import train_run

    root = tmp_path_factory.mktemp("v2")
    generate("tiny", 0, root / "data", world_version=2)
    config = RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=2, category_aux_weight=0.0))
    train_run(root / "data", config, out=root / "run", cache=tiny_cache)
    before, _ = split_by_time(load_dataset(root / "data").dev, CUTOFF)
    write_split(root / "morning", before)
    return root / "data", root / "run", root / "morning"


@pytest.mark.slow
def test_an_update_improves_the_articles_it_learned_about(tiny_v2, tmp_path, tiny_cache):
    """Judged on the afternoon after the morning it learned from, on the articles new to the parent that the
    morning showed: the update beats its parent by a clear margin, on the clicks and on the true probabilities.

    On tiny, training the new ID rows alone does not (their neighbour-filled start is already as good); two
    epochs over everything at the parent's rate do, by +0.012 AUC on the clicks and +0.008 on the truth. (Before
    the update selected its epoch on a validation split carved from the morning, it selected on this afternoon
    and showed +0.045 and +0.033: the difference was selection on the judged split.)"""
    tiny_data, tiny_run, morning = tiny_v2
    data = load_dataset(tiny_data)
    before, afternoon = split_by_time(data.dev, CUTOFF)
    judged = MindDataset(data.root, {"train": data.train, "dev": afternoon}, data.report, data.truth, data.meta)
    parent = load_run(tiny_run, cache=tiny_cache).recommender
    known = np.asarray(parent.catalog.articles.ids, dtype=object)[parent.trained_articles()]
    learned = set(before.behaviors.articles.tolist()) - set(known.tolist())
    assert len(learned) >= 20
    child = update_run(tiny_run, morning, tmp_path / "child", epochs=2, full_epochs=2, lr_decay=1.0, eval_data=judged,
                       archive=tmp_path / "archive", cache=tiny_cache).recommender
    parent_clicks, parent_truth = slice_auc(parent, judged, learned, tiny_cache)
    child_clicks, child_truth = slice_auc(child, judged, learned, tiny_cache)
    assert child_clicks > parent_clicks + 0.008
    assert child_truth > parent_truth + 0.005
