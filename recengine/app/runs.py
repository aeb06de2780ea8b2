"""Runs in the workspace: train, update, evaluate and predict; register, list, show, activate and delete.

A run made by any face (CLI, Python, dashboard, a job) is saved as a folder and recorded in the store at once,
so every other face lists it. Run folders made elsewhere, or before runs were recorded, are added with
:func:`register_run`.
"""

from __future__ import annotations

import os
import shlex
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recengine import atomic
from recengine.app import datasets
from recengine.config import RunConfig
from recengine.data.imports import import_roots
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.eval.metrics import rank_lines
from recengine.eval.significance import CONFIDENCE, RESAMPLES, TEST, ZERO_METHOD, paired_comparison
from recengine.outputs import check_output_file, check_output_folder, write_fault
from recengine.train import distributed
from recengine.train.api import evaluate_run, predict_run, train_run
from recengine.train.incremental import update_run
from recengine.train.runs import (
    LoadedRun, SplitScores, check_run, load_run, model_on_split, read_dev_scores, read_run_files,
)
from recengine.train.trainer import ProgressCallback
from recengine.workspace import Workspace

ACTIVE_RUN = "active_run"


# --------------------------------------------------------------------------------------------- ids


def new_run_id(workspace: Workspace, store: Store, dataset: str, label: str) -> str:
    """A fresh run id ``<dataset>-<label>-<UTC time>`` that names no stored run, no existing folder and no other
    session's reservation (the hidden folder ``runs/.<id>.reserved``, made by mkdir, which either creates it or
    fails); :func:`release_run_id` removes the reservation."""
    base = f"{dataset}-{label}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    workspace.runs.mkdir(parents=True, exist_ok=True)
    run_id, n = base, 1
    while True:
        if store.run(run_id) is None and not workspace.run(run_id).exists():
            try:
                _reservation(workspace, run_id).mkdir()
                return run_id
            except FileExistsError:
                pass
        n += 1
        run_id = f"{base}-{n}"


def _reservation(workspace: Workspace, run_id: str) -> Path:
    return workspace.runs / f".{run_id}.reserved"


def release_run_id(workspace: Workspace, run_id: str) -> None:
    shutil.rmtree(_reservation(workspace, run_id), ignore_errors=True)


def recorded_at(store: Store, folder: Path) -> dict | None:
    """The store record of the run in ``folder`` (resolved), or None."""
    return next((run for run in store.runs() if Path(run["path"]).resolve() == folder.resolve()), None)


def _id_for_folder(store: Store, folder: Path) -> str:
    """The run id of a folder: the id it is recorded under, else its name (with spaces joined), made unique."""
    recorded = recorded_at(store, folder)
    if recorded is not None:
        return recorded["run_id"]
    base = "_".join(folder.name.split()) or "run"
    run_id, n = base, 1
    while store.run(run_id) is not None:
        n += 1
        run_id = f"{base}-{n}"
    return run_id


# --------------------------------------------------------------------------------------------- registry


def register_run(store: Store, path: str | Path, *, dataset: str | None = None) -> dict:
    """Record the run folder ``path`` in the store (again: refreshed in place); returns its store record.

    The folder is checked first (every piece present, weights whole). The dataset is ``dataset`` (a store
    name), else the one the run records, resolved (and imported when new) the way every face resolves it.
    """
    folder = Path(path).resolve()
    check_run(folder)
    config, meta, _ = read_run_files(folder)
    metrics = _read_metrics(folder)
    name = dataset or _dataset_of(store, meta, folder)
    parent = meta.get("parent")
    parent_id = _id_for_folder(store, Path(parent).resolve()) if parent else None
    run_id = _id_for_folder(store, folder)
    store.register_run(run_id, dataset=name, path=str(folder), mode=meta.get("mode", "full"), parent=parent_id,
                       config=config.to_dict(), metrics=metrics)
    return store.run(run_id)


def _read_metrics(folder: Path) -> dict | None:
    from recengine.train.runs import METRICS_FILE, _read_json

    return _read_json(folder / METRICS_FILE) if (folder / METRICS_FILE).is_file() else None


def _dataset_of(store: Store, meta: dict, folder: Path) -> str:
    """The store name of the dataset a run trained on: the name it records when the store has it, else its
    folder resolved (imported when new)."""
    recorded = meta.get("dataset") or {}
    name = recorded.get("store_name")
    if name and store.dataset(name) is not None:
        return name
    root = recorded.get("root")
    if not root or not Path(root).is_dir():
        raise InputError(f"the run's dataset folder {root!r} is not there; give the dataset explicitly", path=folder)
    return datasets.resolve(store, Path(root))["name"]


def register_folder(workspace: Workspace, store: Store, path: str | Path) -> dict:
    """The dashboard's register: a run folder inside the workspace or an import root (a form field never makes
    the program read an arbitrary place on disk), recorded with :func:`register_run`."""
    text = str(path).strip()
    if not text:
        raise InputError("no run folder given")
    folder = Path(text).expanduser()
    folder = (folder if folder.is_absolute() else workspace.runs / folder).resolve()
    roots = [workspace.home.resolve(), *import_roots(workspace)]
    if not any(folder.is_relative_to(root) for root in roots):
        raise InputError(f"{folder} is outside the workspace ({workspace.home}) and the import roots; use "
                         "`recengine runs register FOLDER` on the command line")
    return register_run(store, folder)


def list_runs(store: Store, dataset: str | None = None) -> list[dict]:
    """Stored runs, newest first (optionally of one dataset)."""
    return store.runs(dataset)


def show_run(store: Store, run_id: str) -> dict:
    """A run's store record with its meta.json and the command line that reproduces it."""
    record = _record(store, run_id)
    _, meta, _ = read_run_files(record["path"])
    data = (meta.get("dataset") or {}).get("root") or "DATASET"
    return {**record, "meta": meta, "reproduce": reproduce_command(RunConfig.from_dict(record["config"]), data)}


def reproduce_command(config: RunConfig, data: str | Path, out: str = "RUN_FOLDER") -> str:
    """The CLI command line (quoted for a POSIX shell) that trains ``config`` again on ``data``."""
    return shlex.join(["python", "-m", "recengine", "train", "--data", str(data), "--out", out,
                       *config.to_cli_args()])


def _record(store: Store, run_id: str) -> dict:
    record = store.run(run_id)
    if record is None:
        raise InputError(f"unknown run {run_id!r}; `recengine runs list` shows the runs")
    return record


def find_run(store: Store, run: str | Path, *, dataset: str | Path | None = None) -> dict:
    """The store record of a run given by id or by folder (registered first when the folder is new; ``dataset``
    names its dataset, a store name or folder, when the folder it records has moved)."""
    folder = Path(run)
    if folder.is_dir():  # a folder wins over a run id of the same name: it is what the user pointed at
        recorded = recorded_at(store, folder) if dataset is None else None
        if recorded is not None:
            return recorded
        name = datasets.resolve(store, dataset)["name"] if dataset is not None else None
        return register_run(store, folder, dataset=name)
    if store.run(str(run)) is not None:
        return store.run(str(run))
    raise InputError(f"unknown run {str(run)!r}: neither a stored run id nor a run folder")


def run_path(store: Store, run: str | Path) -> Path:
    """The folder of a run given by folder or by stored run id (nothing is recorded)."""
    folder = Path(run)
    if folder.is_dir():
        return folder
    record = store.run(str(run)) if store.path.exists() else None  # a lookup must not create a store
    if record is not None:
        return Path(record["path"])
    raise InputError(f"no such run folder, nor a run id in {store.path}", path=folder)


def remember_active(store: Store, *, dataset: str | None = None, run: str | None = None) -> None:
    """Remember the dataset and/or run a face chose, so that every face starts with them next time (the dashboard's
    sidebar; it checked the run when it was picked, see :func:`activate_run`)."""
    if dataset:
        store.set_setting(datasets.ACTIVE_DATASET, dataset)
    if run:
        store.set_setting(ACTIVE_RUN, run)


def activate_run(store: Store, run_id: str) -> dict:
    """Make ``run_id`` (and its dataset) what every face starts with."""
    record = _record(store, run_id)
    check_run(record["path"])
    remember_active(store, dataset=record["dataset"], run=run_id)
    return record


def active_run(store: Store) -> dict | None:
    run_id = store.get_setting(ACTIVE_RUN)
    return store.run(run_id) if run_id else None


def delete_run(workspace: Workspace, store: Store, run_id: str) -> Path | None:
    """Forget a run and delete its folder when it lies under the workspace's ``runs/``; returns the folder
    deleted. The active run is refused. The folder is first renamed aside, so a failure never leaves a store row
    pointing at half a folder; a folder outside ``runs/`` is only forgotten, never deleted."""
    if run_id == store.get_setting(ACTIVE_RUN):
        raise InputError(f"run {run_id} is the active model; make another run active first")
    record = _record(store, run_id)
    runs = workspace.runs.resolve()
    folder = Path(record["path"]).resolve()
    if not (folder.is_relative_to(runs) and folder != runs and folder.is_dir()):
        store.delete_run(run_id)
        return None
    aside = folder.with_name(f".{folder.name}.deleting")
    os.replace(folder, aside)
    try:
        store.delete_run(run_id)
    except BaseException:
        os.replace(aside, folder)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return folder


# --------------------------------------------------------------------------------------------- work


def train(
    workspace: Workspace,
    store: Store,
    dataset: str | Path,
    config: RunConfig | None = None,
    *,
    out: str | Path | None = None,
    force: bool = False,
    cache=None,
    progress: ProgressCallback | None = None,
    label: str | None = None,
) -> dict:
    """Train ``config`` on ``dataset`` (a store name or a folder), save the run and record it in the store.

    ``out`` defaults to a fresh folder under the workspace's ``runs/``; an existing ``out`` is replaced only with
    ``force`` and only when it is a run (see :mod:`recengine.outputs`). ``cache`` is the embedding cache folder. Returns ``{"run_id", "path", "metrics",
    "meta", "result"}`` (``result`` is the trainer's :class:`~recengine.train.trainer.TrainResult`).
    """
    config = (config or RunConfig()).validate()
    context = distributed.from_environment(config.train.device)
    record = datasets.resolve(store, dataset)
    reserved = None
    if out is None:
        reserved = new_run_id(workspace, store, record["name"], label or config.model.fusion)
        out = workspace.run(reserved)
    elif context.is_main:  # rank 0 writes the run; the other ranks would see its folder appear
        check_output_folder(out, force=force, inputs=[("dataset", record["path"])])
    try:
        trained = train_run(record["path"], config, out=out, cache=cache, progress=progress,
                            store_name=record["name"])
        if not context.is_main:  # a distributed worker other than rank 0 saves and records nothing
            return {"run_id": None, "path": None, "metrics": None, "meta": trained.meta, "result": trained.result}
        stored = register_run(store, out, dataset=record["name"])
    finally:
        if reserved is not None:
            release_run_id(workspace, reserved)
    return {"run_id": stored["run_id"], "path": Path(out), "metrics": trained.metrics, "meta": trained.meta,
            "result": trained.result}


def update(
    workspace: Workspace,
    store: Store,
    parent: str | Path,
    new_data: str | Path,
    *,
    out: str | Path | None = None,
    dataset: str | Path | None = None,
    progress: ProgressCallback | None = None,
    **options,
) -> dict:
    """Fold ``new_data`` into a copy of ``parent`` (a run id or folder), save and record the child, all or nothing
    (see :func:`recengine.train.incremental.update_run`, which takes ``options``: epochs, full_epochs, lr_decay,
    eval_data, cache, allow_conflicts, force, allow_dataset_change).

    ``dataset`` is the parent's dataset folder when it moved. Returns ``{"run_id", "parent", "path", "metrics",
    "parent_metrics", "meta", "better_than_parent"}``. The child is never made active here: the caller shows both
    and lets the user choose (:func:`activate_run`).
    """
    record = find_run(store, parent, dataset=dataset)
    reserved = None
    if out is None:
        reserved = new_run_id(workspace, store, record["dataset"], "update")
        out = workspace.run(reserved)
    try:
        result = update_run(record["path"], new_data, out, dataset=dataset, archive=options.pop("archive", None)
                            or workspace.archive, progress=progress, **options)
        stored = register_run(store, out, dataset=record["dataset"])
    finally:
        if reserved is not None:
            release_run_id(workspace, reserved)
    return {"run_id": stored["run_id"], "parent": record["run_id"], "path": Path(out), "metrics": result.metrics,
            "parent_metrics": result.parent_metrics, "meta": result.meta,
            "better_than_parent": _better(result.metrics, result.parent_metrics)}


def _better(child: dict | None, parent: dict | None) -> bool | None:
    """Whether the child's AUC beats its parent's on the same evaluation data (None when either is missing)."""
    if not child or not parent:
        return None
    return child["model"]["auc"] >= parent["model"]["auc"]


def evaluate(store: Store, run: str | Path, *, data: str | Path | None = None, split: str = "dev",
             **options) -> dict:
    """Evaluate a run (folder or stored id) on a split of its dataset, or of ``data``: model, random, oracle, slices
    (``options``: cache, seed, allow_dataset_change; see :func:`recengine.train.api.evaluate_run`)."""
    return evaluate_run(run_path(store, run), data, split=split, **options)


def reevaluate(store: Store, run_id: str, *, loaded: LoadedRun | None = None, embedder=None) -> dict:
    """Evaluate a stored run on its dev split again and store the new metrics (training is saved and evaluation
    deterministic, so they match the stored ones). ``loaded`` and ``embedder`` spare the loading when the caller
    holds them."""
    record = _record(store, run_id)
    metrics = evaluate_run(loaded or record["path"], split="dev", embedder=embedder,
                           seed=record["config"]["train"]["seed"])
    store.set_run_metrics(run_id, metrics)
    return metrics


def predict(store: Store, run: str | Path, out: str | Path, *, data: str | Path | None = None, split: str = "test",
            **options) -> dict:
    """Write the leaderboard file of a split (MIND's ``prediction.txt`` format: each impression's candidate ranks)
    to ``out``; returns counts. ``options``: cache, allow_dataset_change (see :func:`predict_run`)."""
    folder = run_path(store, run)
    recorded = (read_run_files(folder)[1].get("dataset") or {}).get("root")
    check_output_file(out, inputs=[("dataset", data or recorded), ("run", folder)])
    impressions, scores, ptr = predict_run(folder, data, split=split, **options)
    try:
        atomic.write_text(out, "".join(line + "\n" for line in rank_lines(impressions, scores, ptr)))
    except OSError as exc:  # the disk filled up or the folder changed since the check
        raise write_fault(exc, out) from None
    return {"out": str(out), "impressions": int(len(impressions)),
            "candidates": int(len(scores)), "unknown_articles": int(np.isneginf(scores).sum())}


# --------------------------------------------------------------------------------------------- comparison


def split_scores(store: Store, run: str | Path, *, split: str = "dev", cache=None) -> SplitScores:
    """A run's score of every candidate of ``split`` of its own dataset: the dev scores its folder keeps, else
    scored now (the run loaded over the split, as :func:`evaluate` does)."""
    folder = run_path(store, run)
    kept = read_dev_scores(folder) if split == "dev" else None
    if kept is not None:
        return kept
    loaded = load_run(folder, cache=cache)
    model, inter, _ = model_on_split(loaded.recommender, loaded.dataset, split, cache=cache)
    return SplitScores.of(model, inter)


def _data_identity(store: Store, run: str | Path) -> tuple[str, str]:
    """(what names the run's data, the run's folder): the content fingerprint it records, else its folder."""
    folder = run_path(store, run)
    recorded = read_run_files(folder)[1].get("dataset") or {}
    identity = recorded.get("fingerprint") or str(Path(recorded.get("root") or "?").resolve())
    return identity, str(folder)


def compare_runs(store: Store, run_a: str | Path, run_b: str | Path, *, split: str = "dev", cache=None,
                 resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Run a against run b on the same impressions of ``split`` of their dataset: per metric the paired difference
    a - b with its bootstrap interval and Wilcoxon p-value (:func:`recengine.eval.significance.paired_comparison`).

    Runs trained on different data are refused before anything is scored. Returns ``{"run_a", "run_b", "split",
    "impressions", "resamples", "confidence", "test", "metrics": {metric: {...}}}``.
    """
    (data_a, folder_a), (data_b, folder_b) = _data_identity(store, run_a), _data_identity(store, run_b)
    if data_a != data_b:
        raise InputError(f"runs {run_a} and {run_b} were trained on different data ({data_a} and {data_b}); "
                         "a paired comparison needs the same impressions")
    a, b = split_scores(store, folder_a, split=split, cache=cache), split_scores(store, folder_b, split=split,
                                                                                  cache=cache)
    if not a.same_impressions(b):
        raise InputError(f"runs {run_a} and {run_b} were scored on different {split} impressions; score both "
                         "again (delete their scores-dev.npz)")
    return {"run_a": str(run_a), "run_b": str(run_b), "split": split, "impressions": int(len(a.impression_ids)),
            "resamples": resamples, "confidence": CONFIDENCE, "test": f"{TEST} ({ZERO_METHOD})",
            "metrics": paired_comparison(a.per_impression(), b.per_impression(), resamples=resamples, seed=seed)}
