"""Run folders under bad conditions: truncated weights, a newer format, missing pieces, a pickle that tries to
run code, and a crash in the middle of a save. Each gives a clear message, and nothing is ever unpickled."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest

from recengine.cli import main
from recengine.data import identity
from recengine.data.mind import load_dataset
from recengine.errors import RunFormatError
from recengine.train import runs
from recengine.train.runs import DatasetChangedError, load_run


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(tiny_run, target)
    return target


def test_a_good_run_loads(run_copy, tiny_cache):
    loaded = load_run(run_copy, cache=tiny_cache)
    assert len(loaded.recommender.catalog) == json.loads((run_copy / "meta.json").read_text())["n_articles"]


def test_truncated_weights(run_copy, tiny_cache):
    weights = run_copy / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(RunFormatError, match="damaged or truncated"):
        load_run(run_copy, cache=tiny_cache)


def test_a_config_from_a_newer_version(run_copy, tiny_cache):
    config = json.loads((run_copy / "config.json").read_text())
    config["format_version"] = 99
    (run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunFormatError, match="newer recengine"):
        load_run(run_copy, cache=tiny_cache)


def test_unknown_settings_in_the_config(run_copy, tiny_cache):
    config = json.loads((run_copy / "config.json").read_text())
    config["model"]["wings"] = 2
    (run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunFormatError, match="unknown ModelConfig settings wings"):
        load_run(run_copy, cache=tiny_cache)


@pytest.mark.parametrize("piece", ["config.json", "weights.safetensors", "id_maps.json", "meta.json"])
def test_a_run_folder_with_a_missing_piece(run_copy, tiny_cache, piece):
    (run_copy / piece).unlink()
    with pytest.raises(RunFormatError, match=f"missing {piece}"):
        load_run(run_copy, cache=tiny_cache)


def test_weights_that_do_not_fit_the_config(run_copy, tiny_cache):
    config = json.loads((run_copy / "config.json").read_text())
    config["model"]["dim"] = 32
    (run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunFormatError, match="do not fit"):
        load_run(run_copy, cache=tiny_cache)


class _Exploit:
    """Unpickling this would create a file: the proof that code ran."""

    marker: Path

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_a_pickle_that_tries_to_run_code_is_never_executed(run_copy, tiny_cache, tmp_path):
    marker = tmp_path / "executed"
    exploit = _Exploit()
    exploit.marker = marker
    payload = pickle.dumps(exploit)
    (run_copy / "weights.safetensors").write_bytes(payload)
    with pytest.raises(RunFormatError):
        load_run(run_copy, cache=tiny_cache)
    assert not marker.exists()
    # The same payload named like a torch checkpoint is not read at all: runs only know safetensors.
    (run_copy / "weights.pt").write_bytes(payload)
    with pytest.raises(RunFormatError):
        load_run(run_copy, cache=tiny_cache)
    assert not marker.exists()


def test_a_crash_in_the_middle_of_a_save_keeps_the_previous_run(run_copy, tiny_cache, monkeypatch):
    before = {p.name: p.read_bytes() for p in run_copy.iterdir()}
    loaded = load_run(run_copy, cache=tiny_cache)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runs, "save_file", crash)
    with pytest.raises(OSError):
        runs.save_run(run_copy, loaded.recommender, meta=loaded.meta, history=loaded.history, metrics=loaded.metrics)
    assert {p.name: p.read_bytes() for p in run_copy.iterdir()} == before
    assert not [p for p in run_copy.parent.iterdir() if ".staging" in p.name]


def test_the_cli_reports_a_broken_run_in_one_line(run_copy, capsys):
    (run_copy / "id_maps.json").write_text("{not json")
    assert main(["evaluate", "--run", str(run_copy)]) == 2
    err = capsys.readouterr().err
    assert "id_maps.json" in err and "not valid JSON" in err and "Traceback" not in err
    assert main(["evaluate", "--run", str(run_copy.parent / "nothing-here")]) == 2
    assert "no such run folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- the data a run was trained on


@pytest.fixture
def changed_data(tiny_data: Path, tmp_path: Path) -> Path:
    """The run's dataset with its last training impression dropped: the same articles, other data."""
    target = tmp_path / "changed"
    shutil.copytree(tiny_data, target)
    behaviors = target / "train" / "behaviors.tsv"
    behaviors.write_text("".join(behaviors.read_text().splitlines(keepends=True)[:-1]))
    return target


def edit_meta(run: Path, **dataset) -> dict:
    meta = json.loads((run / "meta.json").read_text())
    meta["dataset"] = {key: value for key, value in {**meta["dataset"], **dataset}.items() if value is not None}
    (run / "meta.json").write_text(json.dumps(meta))
    return meta["dataset"]


def test_a_run_refuses_data_other_than_it_was_trained_on(run_copy, tiny_data, changed_data, tiny_cache):
    recorded = json.loads((run_copy / "meta.json").read_text())["dataset"]
    assert recorded["root"] == str(tiny_data.resolve())
    with pytest.raises(DatasetChangedError) as caught:
        load_run(run_copy, dataset=load_dataset(changed_data), cache=tiny_cache)
    message = str(caught.value)
    assert recorded["fingerprint"] in message and identity.dataset_fingerprint(changed_data) in message
    assert str(tiny_data.resolve()) in message and str(changed_data) in message and "\n" not in message
    assert "--allow-dataset-change" in message
    loaded = load_run(run_copy, dataset=load_dataset(changed_data), cache=tiny_cache, allow_dataset_change=True)
    assert loaded.dataset.root == changed_data


def test_a_dataset_replaced_after_training_is_refused_by_every_command(run_copy, changed_data, tmp_path, capsys):
    edit_meta(run_copy, root=str(changed_data))  # the folder the run records now holds other data
    commands = {
        "evaluate": ["evaluate", "--run", run_copy],
        "predict": ["predict", "--run", run_copy, "--split", "dev", "--out", tmp_path / "prediction.txt"],
        "recommend": ["recommend", "--run", run_copy, "--user", "U1"],
        "add-article": ["add-article", "--run", run_copy, "--title", "A title", "--sample-users", "5"],
        "update": ["update", "--run", run_copy, "--new-data", shutil.copytree(changed_data / "dev", tmp_path / "new"),
                   "--out", tmp_path / "child", "--epochs", "1"],
    }
    for name, argv in commands.items():
        assert main([str(a) for a in argv]) == 2, name
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith(f"error: {run_copy}: the run was trained on data v2-"), (name, error)
        assert "--allow-dataset-change" in error
    assert not (tmp_path / "prediction.txt").exists() and not (tmp_path / "child").exists()
    for name, argv in commands.items():
        assert main([*map(str, argv), "--allow-dataset-change"]) == 0, (name, capsys.readouterr().err[-500:])
        capsys.readouterr()
    assert (tmp_path / "prediction.txt").exists() and (tmp_path / "child").exists()


def test_a_run_saved_without_a_fingerprint_loads_with_no_check(run_copy, changed_data, tiny_cache):
    edit_meta(run_copy, fingerprint=None)
    assert load_run(run_copy, dataset=load_dataset(changed_data), cache=tiny_cache).dataset.root == changed_data


def test_a_run_saved_before_content_fingerprints_is_checked_its_own_way(run_copy, tiny_data, changed_data, tiny_cache):
    """Runs used to record SHA-256 over the train split's news.tsv and behaviors.tsv, cut to 16 hex digits."""
    def old_fingerprint(root: Path) -> str:
        train = root / "train"
        content = (train / "news.tsv").read_bytes() + (train / "behaviors.tsv").read_bytes()
        return hashlib.sha256(content).hexdigest()[:16]

    edit_meta(run_copy, fingerprint=old_fingerprint(tiny_data))
    assert load_run(run_copy, cache=tiny_cache).dataset.root == Path(str(tiny_data.resolve()))
    with pytest.raises(DatasetChangedError, match=old_fingerprint(changed_data)):
        load_run(run_copy, dataset=load_dataset(changed_data), cache=tiny_cache)


def test_the_dataset_entry_of_meta_is_checked(run_copy, tiny_cache):
    edit_meta(run_copy, fingerprint=12)
    with pytest.raises(RunFormatError, match="text entries root, fingerprint and store_name"):
        load_run(run_copy, cache=tiny_cache)
