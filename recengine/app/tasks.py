"""What a job can do: each kind of long work as a parameter check and an action, keyed by name.

``check(workspace, store, params) -> params`` refuses bad parameters with InputError before a job is recorded
(the same checks the action makes, done early so a page or the CLI can say so at once) and returns them
completed with defaults, as plain JSON. ``run(workspace, store, params, progress) -> result`` does the work
through the application layer's own function and returns a JSON-able result; ``progress`` is the job's
:class:`~recengine.app.jobs.Reporter`. Actions are imported inside the functions: a job imports only what it runs.
"""

from __future__ import annotations

import math
import numbers
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recengine.data.store import Store
from recengine.errors import InputError
from recengine.outputs import check_output_folder
from recengine.workspace import Workspace

Params = dict[str, Any]


@dataclass(frozen=True)
class Task:
    check: Callable[[Workspace, Store, Params], Params]
    run: Callable[[Workspace, Store, Params, Any], Any]
    title: str  # what the job is, for lists: "training", "compare grid", ...


# --------------------------------------------------------------------------------------------- checks


def _whole(params: Params, key: str, low: int, high: int, default: int | None = None) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise InputError(f"job parameter {key!r} must be a whole number in [{low}, {high}], got {value!r}")
    return int(value)


def _number(params: Params, key: str, low: float, high: float, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not low < value <= high:
        raise InputError(f"job parameter {key!r} must be a number in ({low:g}, {high:g}], got {value!r}")
    return float(value)


def _dataset(store: Store, params: Params) -> str:
    """The store name of the job's dataset (a folder is imported, as every face resolves datasets)."""
    from recengine.app import datasets

    if not params.get("dataset"):
        raise InputError("the job needs a dataset")
    return datasets.resolve(store, params["dataset"])["name"]


def _config(data: Any, key: str):
    from recengine.config import RunConfig

    if not isinstance(data, dict):
        raise InputError(f"job parameter {key!r} must be a run configuration (an object)")
    return RunConfig.from_dict(data, source=f"job parameter {key!r}")  # checked against the schema


def _known(params: Params, allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InputError(f"unknown job parameter(s): {', '.join(unknown)}")


def check_train(workspace: Workspace, store: Store, params: Params) -> Params:
    _known(params, {"dataset", "config", "label", "out", "force", "cache"})
    config = _config(params.get("config"), "config")
    out = params.get("out")
    force = bool(params.get("force", False))
    dataset = _dataset(store, params)
    if out is not None:  # refused now, not after the job has started (see recengine.outputs)
        check_output_folder(out, force=force, inputs=[("dataset", store.dataset(dataset)["path"])])
    label = params.get("label")
    if label is not None and (not isinstance(label, str) or not label.replace("-", "").isalnum()):
        raise InputError(f"a run label is letters, digits and '-', got {label!r}")
    cache = params.get("cache")
    return {"dataset": dataset, "config": config.to_dict(), "label": label,
            "out": None if out is None else str(Path(out).resolve()), "force": force,
            "cache": None if cache is None else str(Path(cache).resolve())}


def stage_update_input(workspace: Workspace, folder: str | None, files: Sequence[tuple[str, bytes]] = ()) -> Params:
    """The new data of an update job from the dashboard: a folder inside the import roots, or uploaded files
    unpacked to a scratch folder under ``uploads/`` that the job removes when it ends (or :func:`check_update`, when
    it refuses the job). Returns the job parameters ``new_data`` and ``scratch``."""
    from recengine.data import imports

    if (folder is not None and str(folder).strip() != "") == bool(files):
        raise InputError("give either a folder or uploaded files with the new data")
    if not files:
        return {"new_data": str(imports.allowed_folder(folder, workspace)), "scratch": None}
    scratch = imports.scratch_folder(workspace.home / "uploads")
    try:
        return {"new_data": str(imports.unpack_upload(files, scratch)), "scratch": str(scratch)}
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _scratch(workspace: Workspace, params: Params) -> Path | None:
    """The job's staged upload folder; only one under the workspace's ``uploads/`` is ever removed."""
    if params.get("scratch") is None:
        return None
    folder = Path(str(params["scratch"])).resolve()
    if not folder.is_relative_to((workspace.home / "uploads").resolve()):
        raise InputError("a staged upload lies under the workspace's uploads/ folder", path=folder)
    return folder


def check_update(workspace: Workspace, store: Store, params: Params) -> Params:
    try:
        return _check_update(workspace, store, params)
    except BaseException:
        scratch = _scratch(workspace, params)
        if scratch is not None:  # an upload staged for a job that will not run
            shutil.rmtree(scratch, ignore_errors=True)
        raise


def _check_update(workspace: Workspace, store: Store, params: Params) -> Params:
    from recengine.app.runs import find_run
    from recengine.train.incremental import check_update_options, find_archived, input_fingerprint

    _known(params, {"parent", "new_data", "epochs", "full_epochs", "lr_decay", "allow_conflicts", "scratch"})
    parent = find_run(store, params.get("parent") or "")
    folder = Path(str(params.get("new_data") or ""))
    if not str(params.get("new_data") or "").strip() or not folder.is_dir():
        raise InputError("the new data must be an existing MIND folder", path=folder)
    epochs = _whole(params, "epochs", 0, 1000, 2)
    full_epochs = _whole(params, "full_epochs", 0, 1000, 0)
    lr_decay = _number(params, "lr_decay", 0.0, 1.0, 0.3)
    check_update_options(epochs, full_epochs, lr_decay)
    consumed = find_archived(workspace.archive, input_fingerprint(folder))
    if consumed is not None:
        raise InputError(f"{folder} was already consumed (archived at {consumed}); nothing to do")
    scratch = _scratch(workspace, params)
    return {"parent": parent["run_id"], "dataset": parent["dataset"], "new_data": str(folder.resolve()),
            "epochs": epochs, "full_epochs": full_epochs, "lr_decay": lr_decay,
            "allow_conflicts": bool(params.get("allow_conflicts", False)),
            "scratch": None if scratch is None else str(scratch)}


def check_inbox(workspace: Workspace, store: Store, params: Params) -> Params:
    from recengine.app import inbox

    _known(params, {"inbox", "run", "activate", "ready", "epochs", "full_epochs", "lr_decay", "allow_conflicts"})
    options = {"epochs": _whole(params, "epochs", 0, 1000, 2), "full_epochs": _whole(params, "full_epochs", 0, 1000, 0),
               "lr_decay": _number(params, "lr_decay", 0.0, 1.0, 0.3),
               "allow_conflicts": bool(params.get("allow_conflicts", False))}
    activate, ready = params.get("activate", "if-better"), params.get("ready", "marker")
    parent = inbox.check_options(store, params.get("run"), activate, ready, options)
    box = inbox.folder(workspace, params.get("inbox"), create=True)
    return {"inbox": str(box), "run": parent["run_id"] if params.get("run") else None, "dataset": parent["dataset"],
            "activate": activate, "ready": ready, **options}


def check_compare(workspace: Workspace, store: Store, params: Params) -> Params:
    from recengine.app.experiments import grid_lists
    from recengine.eval.compare import grid_configs

    _known(params, {"dataset", "grid", "base_config"})
    base = _config(params.get("base_config"), "base_config")
    lists = grid_lists(params.get("grid"), base)
    grid_configs(base, **lists)  # every cell's config, validated
    return {"dataset": _dataset(store, params), "grid": lists, "base_config": base.to_dict()}


def check_saturation(workspace: Workspace, store: Store, params: Params) -> Params:
    from recengine.config import EMBEDDERS
    from recengine.diagnostics import saturation_configs

    _known(params, {"dataset", "epochs", "embedder", "configs"})
    embedder = params.get("embedder")
    if embedder is not None and embedder not in EMBEDDERS:
        raise InputError(f"unknown embedder {embedder!r}; choose one of {', '.join(EMBEDDERS)}")
    configs = params.get("configs")
    names = list(saturation_configs(configs))  # refuses an unknown setting
    return {"dataset": _dataset(store, params), "epochs": _whole(params, "epochs", 1, 100, 2), "embedder": embedder,
            "configs": names}


def check_embed(workspace: Workspace, store: Store, params: Params) -> Params:
    from recengine.config import EMBEDDERS
    from recengine.text.cache import check_fields

    _known(params, {"dataset", "embedder", "fields", "cache"})
    embedder = params.get("embedder")
    if embedder not in EMBEDDERS:
        raise InputError(f"unknown embedder {embedder!r}; choose one of {', '.join(EMBEDDERS)}")
    fields = params.get("fields", "title+abstract")
    check_fields(fields)
    cache = params.get("cache")
    return {"dataset": _dataset(store, params), "embedder": embedder, "fields": fields,
            "cache": None if cache is None else str(Path(cache).resolve())}


def check_tune(workspace: Workspace, store: Store, params: Params) -> Params:
    from recengine.app import tune
    from recengine.config import RunConfig

    _known(params, {"dataset", "trials", "search", "base_config", "seed", "timeout", "study"})
    base = _config(params.get("base_config", RunConfig().to_dict()), "base_config")
    return tune.check(store, data=_dataset(store, params), trials=params.get("trials"), search=params.get("search"),
                      base=base, seed=params.get("seed"), timeout=params.get("timeout"),
                      study_name=params.get("study")).to_params()


def check_beyond(workspace: Workspace, store: Store, params: Params) -> Params:
    from recengine.app.runs import find_run

    _known(params, {"run", "k", "users", "seed"})
    record = find_run(store, params.get("run") or "")
    users = params.get("users")
    return {"run": record["run_id"], "dataset": record["dataset"], "k": _whole(params, "k", 1, 100, 10),
            "users": None if users is None else _whole(params, "users", 2, 10**7),
            "seed": _whole(params, "seed", 0, 2**32 - 1, 0)}


def check_bootstrap(workspace: Workspace, store: Store, params: Params) -> Params:
    from recengine.app.first_start import Defaults

    _known(params, set())
    Defaults.from_env().config()  # refuses bad RECENGINE_DEFAULT_* values now, not in the job
    return {}


# --------------------------------------------------------------------------------------------- actions


def run_train(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.app import runs
    from recengine.config import RunConfig

    trained = runs.train(workspace, store, params["dataset"], RunConfig.from_dict(params["config"]),
                         out=params["out"], force=params["force"], cache=params["cache"], progress=progress,
                         label=params["label"])
    return {"run_id": trained["run_id"], "path": str(trained["path"]), "metrics": trained["metrics"],
            "history": trained["result"].history, "best_epoch": trained["meta"].get("best_epoch"),
            "samples_seen": trained["meta"].get("samples_seen"), "train_seconds": trained["meta"].get("train_seconds")}


def run_update(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.app import runs

    try:
        updated = runs.update(workspace, store, params["parent"], params["new_data"], epochs=params["epochs"],
                              full_epochs=params["full_epochs"], lr_decay=params["lr_decay"],
                              allow_conflicts=params["allow_conflicts"], progress=progress)
    finally:
        if params["scratch"]:  # an upload unpacked for this job only
            shutil.rmtree(params["scratch"], ignore_errors=True)
    meta = updated["meta"]
    return {"run_id": updated["run_id"], "parent": updated["parent"], "path": str(updated["path"]),
            "metrics": updated["metrics"], "parent_metrics": updated["parent_metrics"],
            "better_than_parent": updated["better_than_parent"],
            "new_articles": meta.get("new_articles"), "new_users": meta.get("new_users")}


def run_inbox(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.app import inbox

    options = {k: params[k] for k in ("epochs", "full_epochs", "lr_decay", "allow_conflicts")}
    return inbox.process(workspace, store, params["inbox"], run=params["run"], activate=params["activate"],
                         ready=params["ready"], progress=progress, **options)


def run_compare(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.app import experiments
    from recengine.config import RunConfig

    grid = experiments.compare_grid(workspace, store, params["dataset"], params["grid"],
                                    RunConfig.from_dict(params["base_config"]), progress=progress)
    return {"comparison_id": grid["comparison_id"], "status": grid["status"], "cells": len(grid["rows"]),
            "best_run_id": grid["best_run_id"]}


def run_saturation(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.app import experiments

    record = experiments.saturation_demo(workspace, store, params["dataset"], epochs=params["epochs"],
                                         configs=params["configs"], embedder=params["embedder"], progress=progress)
    return {"result_id": record["id"], "dataset": record["dataset"], "configs": params["configs"]}


def run_embed(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.data.mind import load_dataset
    from recengine.text import EmbeddingCache, embed_news, get_embedder

    record = store.dataset(params["dataset"])
    embedder = get_embedder(params["embedder"])
    dataset = load_dataset(record["path"])

    def report(done: int, total: int) -> None:
        progress.note(f"embedding article texts ({done:,}/{total:,})", fraction=done / max(total, 1))

    started = time.perf_counter()
    cache = EmbeddingCache(params["cache"] or workspace.cache / "embeddings")
    result = embed_news(dataset.news, embedder, cache=cache, fields=params["fields"], progress=report)
    return {"articles": len(result.ids), "newly_embedded": result.newly_embedded, "coverage": result.coverage,
            "embedder": params["embedder"], "seconds": round(time.perf_counter() - started, 3)}


def run_tune(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.app import tune

    plan = tune.check(store, data=params["dataset"], trials=params["trials"], search=params["search"],
                      base=_config(params["base_config"], "base_config"), seed=params["seed"],
                      timeout=params["timeout"], study_name=params["study"])
    result = tune.run(workspace, store, plan, progress=progress)
    return {"study": result["study"], "counts": result["counts"], "best": result["best"]}


def run_beyond(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.app import evaluation

    def report(done: int, total: int) -> None:
        progress.note(f"serving lists ({done:,}/{total:,} users)", fraction=done / total)

    record = evaluation.evaluate_and_save(store, params["run"], k=params["k"], users=params["users"],
                                          seed=params["seed"], progress=report)
    return {"result_id": record["id"], "run_id": params["run"], "users": record["result"]["users"],
            "seconds": record["result"]["seconds"]}


def run_bootstrap(workspace: Workspace, store: Store, params: Params, progress) -> dict:
    from recengine.app.first_start import ensure_ready

    def report(stage: str, event) -> None:
        if event is None:
            progress.note(stage)
        else:
            progress(event)

    ready = ensure_ready(workspace, store, progress=report)
    return {"dataset": ready.dataset, "run_id": ready.run_id, "created": ready.created}


TASKS: dict[str, Task] = {
    "train": Task(check_train, run_train, "training"),
    "update": Task(check_update, run_update, "incremental update"),
    "inbox": Task(check_inbox, run_inbox, "inbox processing"),
    "compare": Task(check_compare, run_compare, "compare grid"),
    "saturation": Task(check_saturation, run_saturation, "saturation demonstration"),
    "embed": Task(check_embed, run_embed, "embedding"),
    "bootstrap": Task(check_bootstrap, run_bootstrap, "first start"),
    "tune": Task(check_tune, run_tune, "hyperparameter search"),
    "beyond": Task(check_beyond, run_beyond, "beyond-accuracy evaluation"),
}


def get(kind: str) -> Task:
    """The task of ``kind``; InputError naming the kinds for an unknown one."""
    if kind not in TASKS:
        raise InputError(f"unknown job kind {kind!r}; choose one of {', '.join(TASKS)}")
    return TASKS[kind]
