"""Hyperparameter search with Optuna over the configuration schema.

Each searchable setting declares its range in the schema (``Setting.search`` in :mod:`recengine.config`), beside
its validation range. A study lives in the workspace's own SQLite file (``recengine.db``) through Optuna's RDB
storage, beside the store's tables: the store is opened first (its schema created or checked, its pages
quick-checked), then Optuna adds its own tables (``studies``, ``trials``, ...) and, like the store, waits up to
``$RECENGINE_STORE_TIMEOUT`` seconds for a busy file. Trials are suggested by a seeded TPE sampler and pruned by
Optuna's median pruner on the validation AUC each epoch reports: the selection split carved from train, never dev.

Every finished trial is a normal run, trained, saved under ``runs/`` and registered (load it, make it active). Its
run id carries the study and trial number (``<dataset>-tune<study id>-t<trial>-<time>``) and the trial keeps the
run id as its user attribute ``run_id``. A pruned or cancelled trial saves nothing. A trial's value is the best
validation AUC over its epochs, the epoch the trainer keeps.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc

from recengine.app import datasets, runs
from recengine.app.experiments import PartEvent
from recengine.config import RunConfig, Setting, every_setting
from recengine.data.store import Store, timeout_s
from recengine.errors import InputError, RecengineError
from recengine.jsonable import plain
from recengine.train.trainer import TrainEvent
from recengine.workspace import Workspace

MAX_TRIALS = 10_000
PRUNER_STARTUP_TRIALS = 3  # trials that run to the end before any is compared with their median
PRUNE_FROM_EPOCH = 2  # a trial's first epoch is never pruned: one epoch says little about the rest
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")

Progress = Callable[[PartEvent], None]


# --------------------------------------------------------------------------------------------- the search space


def searchable() -> dict[str, tuple[str, Setting]]:
    """Every setting with a search range: name -> (part, setting), in schema order."""
    return {s.name: (part, s) for part, s in every_setting() if s.search is not None}


def check_search(search: str | Sequence[str] | None) -> tuple[str, ...]:
    """The names of the settings to search (comma-separated text or a list); all searchable ones for None."""
    known = searchable()
    if search is None:
        return tuple(known)
    names = [n.strip() for n in search.split(",")] if isinstance(search, str) else list(search)
    if not names or any(not isinstance(n, str) or not n for n in names):
        raise InputError(f"the settings to search are names separated by commas; got {search!r}")
    fields = {s.name for _, s in every_setting()}
    for name in names:
        if name not in fields:
            raise InputError(f"unknown setting {name!r} to search; searchable: {', '.join(known)}")
        if name not in known:
            raise InputError(f"setting {name!r} has no search range; searchable: {', '.join(known)}")
    if len(set(names)) != len(names):
        raise InputError(f"a setting is named twice in the search: {','.join(names)}")
    return tuple(names)


def suggest(trial: optuna.Trial, names: Sequence[str], base: RunConfig) -> RunConfig:
    """``base`` with the trial's values for ``names``, validated."""
    known = searchable()
    parts: dict[str, dict] = {"model": {}, "train": {}}
    for name in names:
        part, s = known[name]
        parts[part][name] = _suggest(trial, s)
    return RunConfig(replace(base.model, **parts["model"]), replace(base.train, **parts["train"])).validate()


def _suggest(trial: optuna.Trial, s: Setting) -> Any:
    if s.search is True:
        return trial.suggest_categorical(s.name, list(s.choices))
    low, high, scale = s.search
    log = scale == "log"
    if s.kind == "int":  # a linear integer range moves in the widget's steps (dimensions in eights)
        return trial.suggest_int(s.name, int(low), int(high), step=1 if log else int(s.step or 1), log=log)
    return trial.suggest_float(s.name, float(low), float(high), log=log)


# --------------------------------------------------------------------------------------------- storage


def storage(store: Store) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on the store's own file. The store is opened first: a new file must become a recengine
    store (its schema, its version) before Optuna's tables are added, or the store would refuse it as foreign."""
    store.check()
    _ = store.db
    with _faults(store):
        return optuna.storages.RDBStorage(f"sqlite:///{store.path.resolve()}",
                                          engine_kwargs={"connect_args": {"timeout": timeout_s()}})


@contextmanager
def _faults(store: Store) -> Iterator[None]:
    """Faults of the shared file (busy, read-only, full) as one line naming it, as the store says its own."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, sqlite3.Error) as exc:
        cause = exc.__cause__ if isinstance(exc, optuna.exceptions.StorageInternalError) else exc
        text = str(getattr(cause, "orig", None) or cause).splitlines()[0]
        if "locked" in text or "busy" in text:
            text = f"the store is busy: another writer kept it for over {timeout_s():g} s"
        raise RecengineError(f"{store.path}: the tuning study could not be read or written ({text})") from None


@contextmanager
def _storage(store: Store) -> Iterator[optuna.storages.RDBStorage]:
    """:func:`storage` for one look: its pooled connections are closed afterwards, so that pages drawn again and
    again keep no connection to the shared file."""
    rdb = storage(store)
    try:
        yield rdb
    finally:
        rdb.engine.dispose()


def _has_studies(store: Store) -> bool:
    """Whether Optuna's tables are in the store yet (looking must not create them)."""
    if not store.path.exists():
        return False
    return bool(store.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'studies'"))


def studies(store: Store, dataset: str | None = None) -> list[dict]:
    """The studies in the store (of ``dataset`` when given), newest first: name, dataset, search, trials, best."""
    if not _has_studies(store):
        return []
    found = []
    with _faults(store), _storage(store) as rdb:
        for summary in optuna.get_all_study_summaries(rdb, include_best_trial=True):
            attrs = summary.user_attrs
            if dataset is not None and attrs.get("dataset") != dataset:
                continue
            best = summary.best_trial
            found.append({"study": summary.study_name, "dataset": attrs.get("dataset"),
                          "search": attrs.get("search"), "created_at": attrs.get("created_at"),
                          "trials": summary.n_trials, "best_value": None if best is None else best.value,
                          "best_run_id": None if best is None else best.user_attrs.get("run_id")})
    return sorted(found, key=lambda s: s["created_at"] or "", reverse=True)


def load(store: Store, study_name: str) -> optuna.Study:
    """A stored study (for Optuna's figures); InputError when the store has none of that name."""
    if not _has_studies(store) or study_name not in _names(store):
        raise InputError(f"no tuning study {study_name!r} in {store.path}; `recengine tune` makes one")
    with _faults(store):
        return optuna.load_study(study_name=study_name, storage=storage(store))


def _names(store: Store) -> list[str]:
    return [row["study_name"] for row in store.query("SELECT study_name FROM studies")]


# --------------------------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Plan:
    """A checked tuning request."""

    dataset: str  # the store name
    trials: int
    search: tuple[str, ...]
    base: RunConfig
    seed: int
    timeout: float | None
    study: str
    resumed: bool  # the study exists: its trials so far count for the sampler and the pruner

    def to_params(self) -> dict:
        """As a job's parameters (plain JSON)."""
        return {"dataset": self.dataset, "trials": self.trials, "search": list(self.search),
                "base_config": self.base.to_dict(), "seed": self.seed, "timeout": self.timeout, "study": self.study}


def check(store: Store, *, data: str | Path, trials: int, search: str | Sequence[str] | None = None,
          base: RunConfig | None = None, seed: int | None = None, timeout: float | None = None,
          study_name: str | None = None) -> Plan:
    """Everything :func:`tune` checks before it trains: trials >= 1, known searchable settings, a base config that
    selects on validation, a dataset that resolves, a study name that is free or names a study of the same dataset
    and search."""
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        raise InputError(f"trials must be a whole number between 1 and {MAX_TRIALS}, got {trials!r}")
    names = check_search(search)
    base = (base or RunConfig()).validate()
    if base.train.select_on != "validation":
        raise InputError("tuning selects on the validation split, never on dev: use --select-on validation")
    seed = base.train.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InputError(f"the tuning seed must be a whole number between 0 and {2**32 - 1}, got {seed!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout < float("inf")):
        raise InputError(f"the tuning timeout must be a number of seconds above 0, got {timeout!r}")
    dataset = datasets.resolve(store, data)["name"]
    study = study_name or f"{dataset}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    if not isinstance(study, str) or not STUDY_NAME.fullmatch(study):
        raise InputError(f"a study name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit; "
                         f"got {study!r}")
    resumed = _check_resume(store, study, dataset, names)
    return Plan(dataset, trials, names, base, seed, None if timeout is None else float(timeout), study, resumed)


def _check_resume(store: Store, study: str, dataset: str, names: tuple[str, ...]) -> bool:
    """Whether ``study`` exists already; InputError when it searched another dataset or other settings (its
    trials would mislead the sampler)."""
    if not _has_studies(store) or study not in _names(store):
        return False
    with _faults(store), _storage(store) as rdb:
        attrs = optuna.load_study(study_name=study, storage=rdb).user_attrs
    if attrs.get("dataset") != dataset or tuple(attrs.get("search") or ()) != names:
        raise InputError(f"study {study!r} searched {','.join(attrs.get('search') or ())} on "
                         f"{attrs.get('dataset')!r}; continue it with the same dataset and settings, or name a new one")
    return True


# --------------------------------------------------------------------------------------------- tuning


def tune(
    workspace: Workspace,
    store: Store,
    *,
    data: str | Path,
    trials: int,
    search: str | Sequence[str] | None = None,
    base: RunConfig | None = None,
    seed: int | None = None,
    timeout: float | None = None,
    study_name: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Run ``trials`` more trials of a study (a new one, or ``study_name`` continued) on ``data`` (a store name or
    folder): each a training of ``base`` with the searched settings (default: every searchable one) suggested by
    TPE (seeded with ``seed``, default the base's seed), pruned at the median of earlier trials' validation AUC
    per epoch, and saved as a registered run. Stops early after ``timeout`` seconds (between trials).

    ``progress`` receives :class:`~recengine.app.experiments.PartEvent`\\ s, one part per trial. Returns
    :func:`summary` of the study.
    """
    plan = check(store, data=data, trials=trials, search=search, base=base, seed=seed, timeout=timeout,
                 study_name=study_name)
    return run(workspace, store, plan, progress=progress)


def run(workspace: Workspace, store: Store, plan: Plan, *, progress: Progress | None = None) -> dict:
    """Run a checked :class:`Plan` (what the tune job does)."""
    with _faults(store), _storage(store) as rdb:
        study = _study(rdb, plan)
        study_id = rdb.get_study_id_from_name(plan.study)
        numbering = count(1)

        def objective(trial: optuna.Trial) -> float:
            return _trial(workspace, store, plan, trial, next(numbering), study_id, progress)

        study.optimize(objective, n_trials=plan.trials, timeout=plan.timeout)
        return summary(study)


def _study(rdb: optuna.storages.RDBStorage, plan: Plan) -> optuna.Study:
    # A continued study draws from a sampler seeded past its earlier trials, so it does not repeat their draws.
    done = len(optuna.load_study(study_name=plan.study, storage=rdb).trials) if plan.resumed else 0
    study = optuna.create_study(
        study_name=plan.study, storage=rdb, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=(plan.seed + done) % 2**32),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS,
                                           n_warmup_steps=PRUNE_FROM_EPOCH),
    )
    if "dataset" not in study.user_attrs:  # new (a study of the same name started meanwhile has them already)
        study.set_user_attr("dataset", plan.dataset)
        study.set_user_attr("search", list(plan.search))
        study.set_user_attr("base_config", plan.base.to_dict())
        study.set_user_attr("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
    return study


def _trial(workspace: Workspace, store: Store, plan: Plan, trial: optuna.Trial, index: int, study_id: int,
           progress: Progress | None) -> float:
    """Train one suggested configuration as a registered run; its value is its best validation AUC."""
    config = suggest(trial, plan.search, plan.base)
    label = f"trial {trial.number}"
    aucs: list[float] = []

    def report(event: TrainEvent) -> None:
        if progress is not None:
            progress(PartEvent(index, plan.trials, label, event, dict(trial.params)))
        auc = (event.metrics or {}).get("auc") if event.kind == "epoch" else None
        if auc is None:
            return
        aucs.append(float(auc))
        trial.report(float(auc), event.epoch)
        if trial.should_prune():  # raised inside the training: nothing of the trial is saved
            raise optuna.TrialPruned(f"validation AUC {auc:.4f} at epoch {event.epoch} is below the median")

    if progress is not None:
        settings = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in trial.params.items())
        progress(PartEvent(index, plan.trials, label, TrainEvent("prepare", message=f"{label}: {settings}")))
    trained = runs.train(workspace, store, plan.dataset, config, label=f"tune{study_id}-t{trial.number}",
                         progress=report)
    if not aucs:
        raise RecengineError(f"{label} reported no validation AUC to optimise (is the validation split empty?)")
    trial.set_user_attr("run_id", trained["run_id"])
    trial.set_user_attr("best_epoch", trained["result"].best_epoch)
    trial.set_user_attr("dev_auc", ((trained["metrics"] or {}).get("model") or {}).get("auc"))
    return max(aucs)


# --------------------------------------------------------------------------------------------- results


def summary(study: optuna.Study) -> dict:
    """A study as JSON: its name, dataset, search, every trial (number, state, validation AUC, settings, run id,
    dev AUC) and the best finished trial (None before one finished)."""
    rows = [_trial_row(t) for t in study.trials]
    finished = [r for r in rows if r["state"] == "COMPLETE"]
    best = max(finished, key=lambda r: r["value"]) if finished else None
    counts = {state.lower(): sum(r["state"] == state for r in rows) for state in STATES}
    return plain({"study": study.study_name, "dataset": study.user_attrs.get("dataset"),
                  "search": study.user_attrs.get("search"), "objective": "validation AUC (maximised)",
                  "trials": rows, "counts": counts, "best": best})


def _trial_row(trial: optuna.trial.FrozenTrial) -> dict:
    return {"number": trial.number, "state": trial.state.name, "value": trial.value, "params": trial.params,
            "run_id": trial.user_attrs.get("run_id"), "best_epoch": trial.user_attrs.get("best_epoch"),
            "dev_auc": trial.user_attrs.get("dev_auc"),
            "epochs_reported": len(trial.intermediate_values)}


def best_run(store: Store, study_name: str) -> dict:
    """The store record of the best finished trial's run; InputError when the study has none yet."""
    best = summary(load(store, study_name))["best"]
    if best is None or best["run_id"] is None or store.run(best["run_id"]) is None:
        raise InputError(f"study {study_name!r} has no finished trial with a stored run yet")
    return store.run(best["run_id"])
