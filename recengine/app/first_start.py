"""The workspace's default state: a dataset and a trained model ready to explore.

On a fresh machine :func:`ensure_ready` generates the ``demo`` world, imports it into the
store, embeds it, trains the default model and remembers all of it in the store, so the
next start is instant. The dashboard runs it as a job on start; so can a notebook.

``RECENGINE_DEFAULT_PRESET``, ``RECENGINE_DEFAULT_EMBEDDER`` and ``RECENGINE_DEFAULT_EPOCHS``
override the defaults (tests use the ``tiny`` preset and the ``hashing`` embedder).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from recengine.app import datasets, runs
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.store import Store
from recengine.errors import InputError, RunFormatError
from recengine.workspace import Workspace


@dataclass(frozen=True)
class Defaults:
    preset: str = "demo"
    seed: int = 0
    embedder: str = "minilm"
    epochs: int = TrainConfig().epochs

    @classmethod
    def from_env(cls) -> "Defaults":
        base = cls()
        epochs = os.environ.get("RECENGINE_DEFAULT_EPOCHS", str(base.epochs))
        if not epochs.isdigit():
            raise InputError(f"RECENGINE_DEFAULT_EPOCHS must be a whole number, got {epochs!r}")
        return cls(
            preset=os.environ.get("RECENGINE_DEFAULT_PRESET", base.preset),
            embedder=os.environ.get("RECENGINE_DEFAULT_EMBEDDER", base.embedder),
            epochs=int(epochs),
        )

    def config(self) -> RunConfig:
        return RunConfig(ModelConfig(embedder=self.embedder).validate(), TrainConfig(epochs=self.epochs).validate())


@dataclass
class Ready:
    dataset: str
    dataset_path: Path
    run_id: str
    run_path: Path
    created: bool  # whether this call had to train the default model


def ensure_ready(
    workspace: Workspace | None = None,
    store: Store | None = None,
    *,
    defaults: Defaults | None = None,
    progress: Callable[[str, object], None] | None = None,
) -> Ready:
    """Make sure an active dataset and a trained active run exist; create the defaults if not.

    ``progress(stage, payload)`` receives stage messages (payload None) and training events.
    A file lock makes concurrent first starts wait for one another instead of racing.
    """
    workspace = workspace or Workspace.default()
    store = store or Store(workspace.store_path)
    defaults = defaults or Defaults.from_env()
    report = progress or (lambda stage, payload: None)
    workspace.home.mkdir(parents=True, exist_ok=True)
    with open(workspace.home / ".bootstrap.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ready = _active(store) or _adopt_newest(store)
            if ready is not None:
                return ready
            name = defaults.preset
            folder = workspace.dataset(name)
            if not (folder / "train").is_dir():  # a folder there that this program did not generate is refused
                report(f"generating the {name} dataset", None)
                datasets.write_world(name, defaults.seed, folder, force=True)
            report("importing it into the store", None)
            record = datasets.resolve(store, folder)
            run_path = workspace.run(f"{name}-default")
            report("embedding the articles and training the default model", None)
            trained = runs.train(workspace, store, record["name"], defaults.config(), out=run_path, force=True,
                                 progress=lambda event: report("training", event))
            runs.activate_run(store, trained["run_id"])
            return Ready(record["name"], folder, trained["run_id"], run_path, created=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ready(store: Store) -> Ready | None:
    """The remembered defaults when they are all in place (or the newest recorded run, made active), else None;
    trains nothing (the dashboard checks this before it starts the first start as a job)."""
    return _active(store) or _adopt_newest(store)


def _adopt_newest(store: Store) -> Ready | None:
    """With nothing active yet, the newest recorded run whose folder and dataset are in place, made active: a
    workspace whose first runs came from the CLI or Python opens on them instead of training a default model."""
    for run in store.runs():
        dataset = store.dataset(run["dataset"])
        if dataset and (Path(run["path"]) / "config.json").is_file() and Path(dataset["path"]).is_dir():
            try:
                runs.activate_run(store, run["run_id"])
            except RunFormatError:  # a damaged run is skipped here; the Train & load page lists it
                continue
            return _active(store)
    return None


def _active(store: Store) -> Ready | None:
    """The remembered active dataset and run, if both still exist on disk."""
    name, run_id = store.get_setting(datasets.ACTIVE_DATASET), store.get_setting(runs.ACTIVE_RUN)
    dataset = store.dataset(name) if name else None
    run = store.run(run_id) if run_id else None
    if not dataset or not run:
        return None
    dataset_path, run_path = Path(dataset["path"]), Path(run["path"])
    if not (dataset_path / "train").is_dir() and not (dataset_path / "news.tsv").is_file():
        return None
    if not (run_path / "config.json").is_file():
        return None
    return Ready(name, dataset_path, run_id, run_path, False)
