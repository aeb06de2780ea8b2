"""One workspace, three faces: what the CLI makes the store (and so the dashboard) lists, and the reverse.

The first test runs the real CLI in subprocesses against the test's RECENGINE_HOME, as a user would; the others
call the CLI's own ``main`` in this process (fixture ``cli_main``), which runs the same commands on the same store
without paying the torch import per command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recengine.app import datasets, runs
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.workspace import Workspace

TINY_FLAGS = ["--embedder", "hashing", "--epochs", "1"]


def process(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The command in a new process, as a user runs it."""
    env = {**os.environ, "RECENGINE_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "recengine", *args], capture_output=True, text=True, env=env,
                          timeout=600)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def cli(cli_main):
    """``cli(home, *args, check=True)``: the command through the CLI's ``main`` in this process."""

    def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = cli_main(*args, home=home)
        if check:
            assert done.returncode == 0, done.stderr
        return done

    return run


def test_a_cli_generated_dataset_and_trained_run_are_in_the_store(home: Path, tmp_path: Path, cli):
    data, out = tmp_path / "world", tmp_path / "first"
    process(home, "data", "generate", "--preset", "tiny", "--seed", "0", "--out", str(data))
    process(home, "train", "--data", str(data), "--out", str(out), *TINY_FLAGS)
    with Store(Workspace(home).store_path) as store:
        [dataset] = store.datasets()
        assert Path(dataset["path"]) == data.resolve()
        [run] = store.runs()
        assert Path(run["path"]) == out.resolve() and run["dataset"] == dataset["name"]
        assert run["metrics"]["model"]["auc"] > run["metrics"]["random"]["auc"]
    listed = json.loads(cli(home, "runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listed] == [run["run_id"]]


def test_the_same_folder_resolves_to_one_store_dataset(store: Store, tiny_data: Path, tmp_path: Path):
    first = datasets.resolve(store, tiny_data)
    again = datasets.resolve(store, tiny_data)
    assert first["name"] == again["name"] and len(store.datasets()) == 1
    assert datasets.resolve(store, first["name"])["path"] == first["path"]
    with pytest.raises(InputError, match="unknown dataset 'nope'"):
        datasets.resolve(store, "nope")


def test_an_unrecorded_run_folder_is_registered_and_shown_with_its_command_line(home: Path, tiny_run: Path,
                                                                                  tmp_path: Path, cli):
    folder = tmp_path / "made elsewhere"
    shutil.copytree(tiny_run, folder)
    registered = json.loads(cli(home, "runs", "register", str(folder)).stdout)
    assert registered["path"] == str(folder.resolve()) and registered["run_id"] == "made_elsewhere"
    again = json.loads(cli(home, "runs", "register", str(folder)).stdout)
    assert again["run_id"] == registered["run_id"]  # registering twice refreshes, never duplicates
    shown = json.loads(cli(home, "runs", "show", registered["run_id"]).stdout)
    command = shown["reproduce"]
    assert command.startswith("python -m recengine train --data ") and "--embedder hashing" in command
    assert "--epochs 2" in command


def test_a_damaged_folder_is_not_registered(home: Path, tiny_run: Path, tmp_path: Path, cli):
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_run, folder)
    (folder / "weights.safetensors").write_bytes(b"not weights")
    done = cli(home, "runs", "register", str(folder), check=False)
    assert done.returncode == 2 and "weights are damaged" in done.stderr
    assert json.loads(cli(home, "runs", "list", "--json").stdout) == []


def test_activate_and_delete_from_the_cli(home: Path, tiny_run: Path, cli):
    workspace = Workspace(home)
    for name in ("kept", "gone"):
        shutil.copytree(tiny_run, workspace.run(name))
        cli(home, "runs", "register", str(workspace.run(name)))
    cli(home, "runs", "activate", "kept")
    refused = cli(home, "runs", "delete", "kept", check=False)
    assert refused.returncode == 2 and "active model" in refused.stderr and refused.stderr.count("\n") == 1
    cli(home, "runs", "delete", "gone")
    assert not workspace.run("gone").exists()
    listing = cli(home, "runs", "list").stdout
    assert "kept" in listing and "gone" not in listing and "*" in listing
    unknown = cli(home, "runs", "show", "nope", check=False)
    assert unknown.returncode == 2 and "unknown run 'nope'" in unknown.stderr


def test_a_python_trained_run_is_listed_by_the_cli(home: Path, tiny_data: Path, tiny_cache, cli):
    workspace = Workspace(home)
    with Store(workspace.store_path) as store:
        trained = runs.train(workspace, store, tiny_data, RunConfig(ModelConfig(embedder="hashing"),
                                                                     TrainConfig(epochs=1)))
    assert trained["path"].parent == workspace.runs
    listed = json.loads(cli(home, "runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listed] == [trained["run_id"]]
    assert listed[0]["auc"] == pytest.approx(trained["metrics"]["model"]["auc"])


def test_data_import_and_list(home: Path, tiny_data: Path, cli):
    imported = json.loads(cli(home, "data", "import", str(tiny_data), "--name", "mine").stdout)
    assert imported["name"] == "mine" and imported["path"] == str(tiny_data.resolve())
    assert "mine" in cli(home, "data", "list").stdout
    twice = cli(home, "data", "import", str(tiny_data), "--name", "mine", check=False)
    assert twice.returncode == 2 and "already exists" in twice.stderr


def test_an_article_added_through_a_run_names_its_store_id(store: Store, tiny_run: Path, tmp_path: Path, tiny_cache):
    """Two run folders of the same name get two store ids; an article added through the second names that id."""
    from recengine.app import serving

    first, second = tmp_path / "a" / "made", tmp_path / "b" / "made"
    for folder in (first, second):
        shutil.copytree(tiny_run, folder)
    ids = [runs.register_run(store, folder)["run_id"] for folder in (first, second)]
    assert ids == ["made", "made-2"]
    service = serving.open_service(store, "made-2", cache=tiny_cache)
    added = service.add_article(title="Striker scores a late penalty kick", abstract="", entities=[])
    rows = store.added_articles(service.dataset)
    assert list(rows.loc[rows["news_id"] == added["article_id"], "added_by_run"]) == ["made-2"]
