"""Outputs never destroy inputs: ``--force`` replaces only a run or an empty folder, an input folder is never an
output (resolving symbolic links), and an unwritable location is refused before any work."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from recengine.cli import main
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.errors import InputError
from recengine.outputs import check_output_file, check_output_folder, is_run_folder
from recengine.train.api import train_run
from recengine.train.incremental import update_run


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def entries(archive: Path) -> list[str]:
    """Everything in the archive but its lock."""
    return sorted(p.name for p in archive.iterdir() if p.name != ".lock") if archive.is_dir() else []


def one_error(capsys, *words: str) -> str:
    """The CLI's single ``error:`` line (exit 2 is asserted by the caller), checked to name ``words``."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def data_copy(tiny_data: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(tiny_data, target)
    return target


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(tiny_run, target)
    return target


def train_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--embedder", "hashing", "--epochs", "1", *extra]


# --------------------------------------------------------------------------- the rules, one by one


def test_a_run_folder_is_recognised_and_nothing_else(run_copy, data_copy, tmp_path):
    assert is_run_folder(run_copy)
    assert not is_run_folder(data_copy)
    assert not is_run_folder(tmp_path / "absent")
    (run_copy / "weights.safetensors").write_bytes(b"not weights at all")
    assert not is_run_folder(run_copy)


@pytest.mark.parametrize("damage", ["config.json", "meta.json"])
def test_a_folder_missing_a_marker_or_its_format_version_is_not_a_run(run_copy, damage):
    meta = json.loads((run_copy / damage).read_text())
    del meta["format_version"]
    (run_copy / damage).write_text(json.dumps(meta))
    assert not is_run_folder(run_copy)
    (run_copy / damage).unlink()
    assert not is_run_folder(run_copy)


def test_force_replaces_a_run_or_an_empty_folder_only(run_copy, tmp_path):
    assert check_output_folder(run_copy, force=True) == run_copy
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_output_folder(empty, force=True) == empty
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    (stray / "photos").mkdir()
    with pytest.raises(InputError, match=r"is not a recengine run \(it holds notes.txt, photos/\)"):
        check_output_folder(stray, force=True)
    with pytest.raises(InputError, match="use --force"):
        check_output_folder(empty, force=False)


@pytest.mark.parametrize("where", ["is", "inside", "contains"])
def test_an_input_is_never_an_output(data_copy, where):
    out = {"is": data_copy, "inside": data_copy / "train" / "run", "contains": data_copy.parent}[where]
    words = {"is": "is the dataset", "inside": "sits inside the dataset", "contains": "contains the dataset"}[where]
    with pytest.raises(InputError, match=words):
        check_output_folder(out, force=True, inputs=[("dataset", data_copy)])


def test_symbolic_links_are_resolved_before_comparing(data_copy, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(data_copy, target_is_directory=True)
    with pytest.raises(InputError, match="sits inside the dataset"):
        check_output_folder(link / "run", force=True, inputs=[("dataset", data_copy)])
    with pytest.raises(InputError, match="symbolic link"):
        check_output_folder(link, force=True)


def test_a_file_on_the_way_or_an_unwritable_place_is_refused(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(InputError, match="file.txt is not a folder"):
        check_output_folder(blocker / "deeper" / "run", force=False)
    with pytest.raises(InputError, match="exists and is not a folder"):
        check_output_folder(blocker, force=True)
    if Path("/sys").is_dir():  # read-only even for root
        with pytest.raises(InputError, match="does not take new files"):
            check_output_folder("/sys/recengine-run", force=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InputError, match="does not take new files"):
            check_output_folder(locked / "run", force=False)
    finally:
        locked.chmod(0o700)


def test_a_result_file_is_not_a_folder_nor_inside_an_input(data_copy, tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(InputError, match="sits inside the dataset"):
        check_output_file(data_copy / "prediction.txt", inputs=[("dataset", data_copy)])
    assert check_output_file(tmp_path / "out" / "prediction.txt") == tmp_path / "out" / "prediction.txt"


# --------------------------------------------------------------------------- the commands


def test_train_onto_its_own_data_is_refused_and_the_data_is_intact(data_copy, capsys):
    before = digest(data_copy)
    assert main(train_argv(data_copy, data_copy, "--force")) == 2
    one_error(capsys, str(data_copy), "is the dataset")
    assert main(train_argv(data_copy, data_copy / "dev", "--force")) == 2
    one_error(capsys, "sits inside the dataset")
    assert digest(data_copy) == before


def test_train_force_over_a_stray_folder_is_refused(data_copy, tmp_path, capsys):
    stray = tmp_path / "mine"
    stray.mkdir()
    (stray / "thesis.tex").write_text("years of work")
    assert main(train_argv(data_copy, stray, "--force")) == 2
    one_error(capsys, str(stray), "is not a recengine run (it holds thesis.tex)")
    assert (stray / "thesis.tex").read_text() == "years of work"
    assert main(train_argv(data_copy, stray)) == 2
    one_error(capsys, "use --force")


def test_train_into_an_unwritable_place_is_refused_before_training(data_copy, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(train_argv(data_copy, blocker / "run")) == 2
    one_error(capsys, str(blocker / "run"), "is not a folder")
    assert "epoch" not in capsys.readouterr().err


def test_train_force_over_a_real_run_replaces_it(tiny_data, run_copy, tiny_cache, capsys):
    old_weights = (run_copy / "weights.safetensors").read_bytes()
    code = main(train_argv(tiny_data, run_copy, "--force", "--seed", "7", "--cache", str(tiny_cache.folder)))
    assert code == 0, capsys.readouterr().err
    assert is_run_folder(run_copy)
    assert (run_copy / "weights.safetensors").read_bytes() != old_weights
    assert json.loads((run_copy / "config.json").read_text())["train"]["seed"] == 7
    assert sorted(p.name for p in run_copy.parent.iterdir() if p.name.startswith(".")) == []


def test_the_library_refuses_a_non_run_out_too(data_copy, tmp_path, tiny_cache):
    before = digest(data_copy)
    config = RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=1))
    with pytest.raises(InputError, match="is the dataset"):
        train_run(data_copy, config, out=data_copy, cache=tiny_cache)
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="is not a recengine run"):
        train_run(data_copy, config, out=stray, cache=tiny_cache)
    assert digest(data_copy) == before and (stray / "keep.txt").exists()


def test_update_onto_its_new_data_or_into_its_parent_is_refused(tiny_run, run_copy, data_copy, tmp_path, capsys):
    new = data_copy / "dev"
    new_before, parent_before = digest(new), digest(run_copy)
    base = ["update", "--run", str(run_copy), "--new-data", str(new), "--archive", str(tmp_path / "archive")]
    assert main([*base, "--out", str(new), "--force"]) == 2
    one_error(capsys, "is the new data")
    assert main([*base, "--out", str(run_copy / "child")]) == 2
    one_error(capsys, "sits inside the parent run")
    assert main([*base, "--out", str(tmp_path / "archive" / "child")]) == 2
    one_error(capsys, "sits inside the archive")
    assert main([*base, "--out", str(tmp_path / "child"), "--archive", str(new / "archive")]) == 2
    one_error(capsys, "the archive sits inside the new data")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main([*base, "--out", str(mine)]) == 2
    one_error(capsys, str(mine), "use --force")
    assert main([*base, "--out", str(mine), "--force"]) == 2
    one_error(capsys, "is not a recengine run (it holds notes.txt)")
    assert digest(new) == new_before and digest(run_copy) == parent_before
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "child").exists() and entries(tmp_path / "archive") == []
    with pytest.raises(InputError, match="sits inside the parent run"):
        update_run(run_copy, new, run_copy / "child", archive=tmp_path / "archive")


def test_predict_writes_a_file_outside_its_inputs(run_copy, tiny_data, tmp_path, capsys):
    assert main(["predict", "--run", str(run_copy), "--split", "dev", "--out", str(tmp_path)]) == 2
    one_error(capsys, "is a folder")
    assert main(["predict", "--run", str(run_copy), "--split", "dev", "--out", str(tiny_data / "prediction.txt")]) == 2
    one_error(capsys, "sits inside the dataset")
    assert main(["predict", "--run", str(run_copy), "--split", "dev", "--out", str(run_copy / "p.txt")]) == 2
    one_error(capsys, "sits inside the run")
    assert not (tiny_data / "prediction.txt").exists() and not (run_copy / "p.txt").exists()
