"""recengine.app.samples: a dataset's own dev day as new data for an incremental update. The folder is a copy of
the dev split, written all or nothing and reused; the update job accepts it; a day already folded in, a dataset
without a labelled dev split and an unknown dataset are refused in one line, from the library and the CLI."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recengine.app import datasets, jobs, samples
from recengine.app.first_start import Defaults, ensure_ready
from recengine.cli import main
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.workspace import Workspace

TINY = Defaults(preset="tiny", embedder="hashing", epochs=1)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ready(tmp_path_factory: pytest.TempPathFactory):
    """A workspace with the tiny dataset and its one-epoch model (shared by the module: the update consumes the
    sample, so the tests that need it unconsumed run first)."""
    workspace = Workspace(tmp_path_factory.mktemp("samples") / "home")
    with Store(workspace.store_path) as store:
        made = ensure_ready(workspace, store, defaults=TINY)
    return workspace, made


def staging_left(workspace: Workspace) -> list[str]:
    return [p.name for p in samples.inbox(workspace).iterdir() if p.name.startswith(".")]


def test_the_dev_day_is_copied_once_as_a_split_folder(ready):
    workspace, made = ready
    dev = made.dataset_path / "dev"
    with Store(workspace.store_path) as store:
        sample = samples.dev_day_as_new_data(workspace, store, made.dataset)
        again = samples.dev_day_as_new_data(workspace, store, made.dataset)
    folder = sample["folder"]
    assert folder.parent == workspace.home / "inbox" and not sample["reused"]
    for name in ("news.tsv", "behaviors.tsv"):
        assert filecmp.cmp(folder / name, dev / name, shallow=False)
    impressions = len((dev / "behaviors.tsv").read_text(encoding="utf-8").splitlines())
    assert sample["impressions"] == impressions > 0
    assert again["reused"] and again["folder"] == folder
    assert staging_left(workspace) == []
    assert samples.is_sample(workspace, folder) and not samples.is_sample(workspace, dev)


def test_a_failed_copy_leaves_nothing(ready, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    workspace, made = ready
    elsewhere = Workspace(tmp_path / "home")  # same dataset, an empty inbox
    real = shutil.copyfile

    def failing(source, target, *args, **kwargs):
        if Path(target).name == "behaviors.tsv":
            raise OSError(28, "No space left on device")
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", failing)
    with Store(workspace.store_path) as store, pytest.raises(InputError, match="could not write the sample"):
        samples.dev_day_as_new_data(elsewhere, store, made.dataset)
    assert not samples.dev_day_folder(elsewhere, made.dataset).exists()
    assert staging_left(elsewhere) == []


def test_a_dataset_without_a_labelled_dev_split_is_refused(ready, tmp_path: Path):
    workspace, made = ready
    bare = tmp_path / "bare"
    shutil.copytree(made.dataset_path / "train", bare / "train")
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(made.dataset_path / "train", unlabelled / "train")
    (unlabelled / "dev").mkdir()
    shutil.copy(made.dataset_path / "dev" / "news.tsv", unlabelled / "dev" / "news.tsv")
    lines = (made.dataset_path / "dev" / "behaviors.tsv").read_text(encoding="utf-8").splitlines()
    stripped = ["\t".join([*cols[:4], " ".join(c.rsplit("-", 1)[0] for c in cols[4].split())])
                for cols in (line.split("\t") for line in lines)]
    (unlabelled / "dev" / "behaviors.tsv").write_text("\n".join(stripped) + "\n", encoding="utf-8")
    with Store(workspace.store_path) as store:
        for folder, message in ((bare, "has no dev split"), (unlabelled, "no labelled clicks")):
            name = datasets.import_folder(workspace, store, folder, folder.name, anywhere=True)["dataset"]
            with pytest.raises(InputError, match=message):
                samples.dev_day_as_new_data(workspace, store, name)
        with pytest.raises(InputError, match="unknown dataset 'nope'"):
            samples.dev_day_as_new_data(workspace, store, "nope")
    assert not samples.dev_day_folder(workspace, "bare").exists()


def test_the_update_job_runs_on_the_sample_and_the_day_is_then_refused(ready):
    workspace, made = ready
    with Store(workspace.store_path) as store:
        folder = samples.dev_day_as_new_data(workspace, store, made.dataset)["folder"]
        job_id = jobs.submit(workspace, store, "update", {"parent": made.run_id, "new_data": str(folder),
                                                          "epochs": 1, "full_epochs": 0, "lr_decay": 0.3},
                             start=False)
        job = jobs.run_job(workspace, store, job_id)
        assert job["status"] == "done", job.get("error")
        child = store.run(job["result"]["run_id"])
        assert child["mode"] == "incremental" and child["parent"] == made.run_id
        with pytest.raises(InputError, match="already folded into a model"):
            samples.dev_day_as_new_data(workspace, store, made.dataset)


@pytest.mark.slow  # a fresh interpreter imports torch: ~30 s on a busy two-core machine
def test_the_cli_prints_the_folder_or_one_line(ready, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    _, made = ready
    other = Workspace(tmp_path / "home")  # the tiny dataset in a workspace whose archive is empty
    with Store(other.store_path) as store:
        datasets.import_folder(other, store, made.dataset_path, "tiny", anywhere=True)
    monkeypatch.setenv("RECENGINE_HOME", str(other.home))
    assert main(["sample-new-data", "--dataset", "nope"]) == 2
    refused = capsys.readouterr().err
    assert "unknown dataset 'nope'" in refused and len(refused.strip().splitlines()) == 1
    printed = subprocess.run([sys.executable, "-m", "recengine", "sample-new-data", "--dataset", "tiny"], cwd=REPO,
                             env={**os.environ, "RECENGINE_HOME": str(other.home)}, capture_output=True, text=True,
                             timeout=300)
    assert printed.returncode == 0, printed.stderr
    folder = Path(json.loads(printed.stdout)["folder"])
    assert folder == samples.dev_day_folder(other, "tiny") and (folder / "behaviors.tsv").is_file()
