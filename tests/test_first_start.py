"""The first start: the default dataset and model are created once, remembered, and rebuilt if lost."""

from __future__ import annotations

import shutil
import threading

import pytest

from recengine.app.datasets import ACTIVE_DATASET
from recengine.app.first_start import Defaults, ensure_ready
from recengine.app.runs import ACTIVE_RUN
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.workspace import Workspace

TINY = Defaults(preset="tiny", embedder="hashing", epochs=1)


def test_first_start_creates_and_remembers_everything(home):
    workspace = Workspace(home)
    stages: list[str] = []
    ready = ensure_ready(workspace, defaults=TINY, progress=lambda stage, payload: stages.append(stage))
    assert ready.created and ready.dataset == "tiny"
    assert (ready.dataset_path / "train" / "news.tsv").is_file() and (ready.run_path / "weights.safetensors").is_file()
    assert stages[:3] == ["generating the tiny dataset", "importing it into the store",
                          "embedding the articles and training the default model"]
    store = Store(workspace.store_path)
    assert store.get_setting(ACTIVE_DATASET) == "tiny" and store.get_setting(ACTIVE_RUN) == ready.run_id
    assert store.run(ready.run_id)["metrics"]["model"]["auc"] is not None
    assert store.dataset("tiny")["summary"]

    again = ensure_ready(workspace, defaults=TINY)
    assert not again.created and again.run_id == ready.run_id


def test_a_lost_run_folder_is_rebuilt(home):
    workspace = Workspace(home)
    ready = ensure_ready(workspace, defaults=TINY)
    shutil.rmtree(ready.run_path)
    rebuilt = ensure_ready(workspace, defaults=TINY)
    assert rebuilt.created and (rebuilt.run_path / "config.json").is_file()


def test_concurrent_first_starts_train_once(home):
    workspace = Workspace(home)
    results, errors = [], []

    def start():
        try:
            results.append(ensure_ready(workspace, defaults=TINY))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.created for r in results) == [False, True]
    assert len({r.run_id for r in results}) == 1


def test_defaults_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("RECENGINE_DEFAULT_PRESET", "tiny")
    monkeypatch.setenv("RECENGINE_DEFAULT_EMBEDDER", "hashing")
    monkeypatch.setenv("RECENGINE_DEFAULT_EPOCHS", "3")
    defaults = Defaults.from_env()
    assert (defaults.preset, defaults.embedder, defaults.epochs) == ("tiny", "hashing", 3)
    assert defaults.config().model.embedder == "hashing"
    monkeypatch.setenv("RECENGINE_DEFAULT_EPOCHS", "lots")
    with pytest.raises(InputError, match="RECENGINE_DEFAULT_EPOCHS must be a whole number"):
        Defaults.from_env()


def test_a_workspace_with_cli_made_runs_opens_on_the_newest_instead_of_training(home, tiny_run, tmp_path):
    """A newcomer who trained from the CLI first, then opens the dashboard, sees that run: nothing is trained."""
    from recengine.app import runs

    folder = tmp_path / "from-the-cli"
    shutil.copytree(tiny_run, folder)
    workspace = Workspace(home)
    with Store(workspace.store_path) as store:
        recorded = runs.register_run(store, folder)
    stages: list[str] = []
    ready = ensure_ready(workspace, defaults=TINY, progress=lambda stage, payload: stages.append(stage))
    assert not ready.created and ready.run_id == recorded["run_id"] and stages == []
    assert not workspace.runs.exists() or not any(workspace.runs.iterdir())
    with Store(workspace.store_path) as store:
        assert store.get_setting(ACTIVE_RUN) == recorded["run_id"]
