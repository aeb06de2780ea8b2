"""Experiments: compare grids, the saturation demonstration, diagnostics, and zero-shot vs incremental vs retrain.

Each is one function that the CLI, Python and the dashboard's jobs call, and each keeps what it made in the store:
a grid's cells are runs (saved under ``runs/``, registered, loadable and activatable) and the grid is a stored
comparison naming them; a demonstration's or a zero-shot comparison's result is a row of the store's
``experiment_results`` table, so any face shows it again after a reload or a restart.

Progress callbacks receive :class:`PartEvent`: which part of the experiment is running (a grid cell, a
demonstration setting, a zero-shot stage) and the :class:`~recengine.train.trainer.TrainEvent` inside it; it also
reads like a TrainEvent itself (``kind``, ``epoch``, ``loss``, ...), and ``fraction`` says how far the whole is.
"""

from __future__ import annotations

import json
import math
import numbers
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recengine import diagnostics as diag
from recengine.app import datasets, runs
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import Behaviors, MindDataset, MindSplit, News, load_dataset, split_by_time, write_split
from recengine.data.store import Store
from recengine.data.synthetic import PRESETS, generate as generate_world
from recengine.errors import InputError, JobCancelled
from recengine.jsonable import plain
from recengine.eval.compare import (
    GRID_KEYS, RESULT_COLUMNS, distinguishable, grid_configs, result_row, significance_values, summarize_grid,
)
from recengine.eval.evaluate import evaluate_scores, share_of_oracle
from recengine.eval.metrics import METRICS, per_impression_metrics_csr
from recengine.eval.significance import CONFIDENCE, RESAMPLES, TEST, ZERO_METHOD, paired_comparison
from recengine.model.recommender import Recommender
from recengine.tables import SHIPPED_ZERO_SHOT, read_zero_shot
from recengine.text import EmbeddingCache, get_embedder
from recengine.train.api import train_run
from recengine.train.incremental import update_run
from recengine.train.runs import LoadedRun, load_run, split_view
from recengine.train.trainer import TrainEvent
from recengine.workspace import Workspace

GRID_AXES = ("fusions", "temperatures", "losses", "seeds")
SATURATION = "saturation"
ZERO_SHOT = "zero_shot"
ZERO_SHOT_SLICES = ("overall", "day6_articles", "day6_seen_in_morning", "day6_unseen")

_RESULTS_TABLE = """
CREATE TABLE IF NOT EXISTS experiment_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    dataset TEXT,
    created_at TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS experiment_results_by_kind ON experiment_results (kind, dataset, id);
"""


# --------------------------------------------------------------------------------------------- progress


@dataclass
class PartEvent:
    """Part ``part`` of ``parts`` (1-based; 0 while preparing shared data) of an experiment, named ``label``
    (with its ``settings`` for a grid cell), and the training event inside it."""

    part: int
    parts: int
    label: str
    event: TrainEvent
    settings: dict = field(default_factory=dict)

    # The TrainEvent's fields, so a consumer of training progress can read a PartEvent as one.
    kind = property(lambda self: self.event.kind)
    epoch = property(lambda self: self.event.epoch)
    epochs = property(lambda self: self.event.epochs)
    step = property(lambda self: self.event.step)
    steps = property(lambda self: self.event.steps)
    loss = property(lambda self: self.event.loss)
    lr = property(lambda self: self.event.lr)
    metrics = property(lambda self: self.event.metrics)

    @property
    def message(self) -> str:
        inner = self.event.message
        return f"{self.label}: {inner}" if inner else self.label

    @property
    def fraction(self) -> float:
        """How far the whole experiment is, 0..1, counting every part as the same amount of work."""
        if self.part <= 0 or self.parts <= 0:
            return 0.0
        return min(1.0, (self.part - 1 + _within(self.event)) / self.parts)


def _within(event: TrainEvent) -> float:
    """How far one training is, 0..1, from its latest event."""
    if event.kind == "done":
        return 1.0
    if not event.epochs:
        return 0.0
    if event.kind == "epoch":
        return min(1.0, event.epoch / event.epochs)
    if event.kind == "step" and event.steps:
        return min(1.0, (event.epoch - 1 + event.step / event.steps) / event.epochs)
    return 0.0


Progress = Callable[[PartEvent], None]


def _reporter(progress: Progress | None, part: int, parts: int, label: str, settings: dict | None = None):
    """A TrainEvent callback that reports each event as part ``part`` of ``parts``."""
    if progress is None:
        return None
    return lambda event: progress(PartEvent(part, parts, label, event, dict(settings or {})))


# --------------------------------------------------------------------------------------------- stored results


def save_result(store: Store, kind: str, dataset: str | None, params: Mapping, result: Mapping) -> dict:
    """Record an experiment's result; returns the record ``{"id", "kind", "dataset", "created_at", "params",
    "result"}`` as :func:`latest_result` will read it back."""
    params, result = plain(params), plain(result)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    store.ensure_tables(_RESULTS_TABLE)
    row_id = store.write(
        "INSERT INTO experiment_results (kind, dataset, created_at, params, result) VALUES (?, ?, ?, ?, ?)",
        (kind, dataset, created, json.dumps(params, allow_nan=False), json.dumps(result, allow_nan=False)),
    )
    return {"id": row_id, "kind": kind, "dataset": dataset, "created_at": created,
            "params": params, "result": result}


def latest_result(store: Store, kind: str, dataset: str | None = None) -> dict | None:
    """The newest recorded result of ``kind`` (of ``dataset`` when given), or None."""
    where, params = ("kind = ?", [kind]) if dataset is None else ("kind = ? AND dataset = ?", [kind, dataset])
    store.ensure_tables(_RESULTS_TABLE)
    rows = store.query(
        f"SELECT id, kind, dataset, created_at, params, result FROM experiment_results WHERE {where} "
        "ORDER BY id DESC LIMIT 1", params,
    )
    if not rows:
        return None
    return {**rows[0], "params": json.loads(rows[0]["params"]), "result": json.loads(rows[0]["result"])}


# --------------------------------------------------------------------------------------------- compare grid


def grid_lists(grid: Mapping, base: RunConfig) -> dict:
    """The grid's axes as lists; losses and seeds default to the base config's."""
    if not isinstance(grid, Mapping):
        raise InputError(f"a grid is a mapping of {', '.join(GRID_AXES)}; got {type(grid).__name__}")
    unknown = sorted(set(grid) - set(GRID_AXES))
    if unknown:
        raise InputError(f"unknown grid axis {unknown[0]!r}; the axes are {', '.join(GRID_AXES)}")
    defaults = {"losses": [base.train.loss], "seeds": [base.train.seed]}
    lists = {}
    for axis in GRID_AXES:
        values = grid.get(axis, defaults.get(axis))
        if values is None:
            raise InputError(f"the grid needs {axis}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise InputError(f"grid {axis} must be a list, got {values!r}")
        lists[axis] = list(values)
    return lists


def _cell_label(settings: Mapping) -> str:
    return f"{settings['fusion']} · τ {settings['temperature']:g} · {settings['loss']} · seed {settings['seed']}"


def compare_grid(
    workspace: Workspace,
    store: Store,
    dataset: str | Path,
    grid: Mapping,
    base: RunConfig,
    *,
    progress: Progress | None = None,
) -> dict:
    """Train and evaluate every (fusion, temperature, loss, seed) of ``grid`` on a dataset (store name or folder).

    ``grid`` maps ``fusions`` and ``temperatures`` (and optionally ``losses`` and ``seeds``, default the base
    config's) to lists; every other setting comes from ``base``. Each cell is a complete run, saved under
    ``runs/`` and registered (load it, make it active), and a row of the stored comparison naming its run id.
    The comparison ends 'complete'; 'cancelled' (Ctrl-C or a job's cancel) or 'failed' keep the cells finished
    so far, each a complete run. Returns ``{"comparison_id", "dataset", "status", "rows", "summary", "best_run_id",
    "against_best"}``: one row per cell (settings, metrics, slice AUCs, random and oracle AUC, best epoch, seconds,
    run id, and its paired difference from the best cell with interval and p-value per metric,
    :data:`~recengine.eval.compare.SIGNIFICANCE_COLUMNS`), the mean and std over seeds per setting, and the paired
    comparisons in full (:func:`against_best`).
    """
    axes = grid_lists(grid, base)
    cells = grid_configs(base, fusions=axes["fusions"], temperatures=axes["temperatures"], losses=axes["losses"],
                         seeds=axes["seeds"])
    record = datasets.resolve(store, dataset)
    _require_dev_labels(record, "a comparison")
    comparison_id = store.start_comparison(record["name"], {**plain(axes), "base": base.to_dict()})
    rows: list[dict] = []
    evaluations: list[dict] = []
    status = "failed"
    try:
        for index, (settings, config) in enumerate(cells, start=1):
            row, evaluation = _grid_cell(workspace, store, record["name"], comparison_id, index, len(cells),
                                         settings, config, progress)
            rows.append(row)
            evaluations.append(evaluation)
        compared = against_best(store, comparison_id, rows, evaluations)
        status = "complete"
    except BaseException as exc:
        status = "cancelled" if _is_cancel(exc) else "failed"
        raise
    finally:
        store.finish_comparison(comparison_id, status)
    return {"comparison_id": comparison_id, "dataset": record["name"], "status": status, "rows": rows,
            "summary": grid_summary(rows), "best_run_id": compared["best_run_id"], "against_best": compared}


def _is_cancel(exc: BaseException) -> bool:
    """Whether ``exc`` stops the work on purpose: Ctrl-C, or a job's cancel."""
    return isinstance(exc, (KeyboardInterrupt, JobCancelled))


def _grid_cell(
    workspace: Workspace, store: Store, dataset: str, comparison_id: int, index: int, cells: int, settings: dict,
    config: RunConfig, progress: Progress | None,
) -> tuple[dict, dict]:
    """Train one cell as a registered run, record it in the comparison (its whole evaluation, long) and return its
    row (settings, metrics, slice AUCs, random and oracle AUC, best epoch, seconds, run id) and its evaluation."""
    started = time.perf_counter()
    trained = runs.train(workspace, store, dataset, config, label=f"grid{comparison_id}-{index}",
                         progress=_reporter(progress, index, cells, _cell_label(settings), settings))
    run = {"best_epoch": trained["result"].best_epoch, "seconds": round(time.perf_counter() - started, 2),
           "run_id": trained["run_id"]}
    store.add_comparison_cell(comparison_id, index, {**settings, **run}, trained["metrics"])
    return plain({**result_row(settings, trained["metrics"]), **run}), trained["metrics"]


def against_best(store: Store, comparison_id: int, rows: list[dict], evaluations: Sequence[Mapping], *,
                 resamples: int = RESAMPLES) -> dict:
    """Every cell against the best cell (highest dev AUC, the first on a tie) on the same dev impressions, from the
    dev scores each cell's run keeps: per metric the paired difference (cell - best) with its bootstrap interval and
    Wilcoxon p-value. The values are added to ``rows`` and kept with each stored cell as extra metric values
    (:data:`~recengine.eval.compare.SIGNIFICANCE_COLUMNS`). Returns ``{"best_run_id", "resamples", "confidence",
    "test", "cells": [{"cell", "run_id", "best", "metrics": {metric: paired values}}]}``."""
    best = max(range(len(rows)), key=lambda i: rows[i]["auc"] if rows[i]["auc"] is not None else -math.inf)
    reference = runs.split_scores(store, rows[best]["run_id"])
    reference_values = reference.per_impression()
    cells = []
    for i, (row, evaluation) in enumerate(zip(rows, evaluations)):
        scores = reference if i == best else runs.split_scores(store, row["run_id"])
        if not scores.same_impressions(reference):
            raise InputError(f"grid cells {i + 1} and {best + 1} were scored on different dev impressions")
        compared = paired_comparison(scores.per_impression(), reference_values, resamples=resamples)
        values = significance_values(compared)
        row.update(plain(values))
        cell = {key: row[key] for key in (*GRID_KEYS, "best_epoch", "seconds", "run_id")}
        store.add_comparison_cell(comparison_id, i + 1, cell,
                                  {**evaluation, "model": {**evaluation["model"], **plain(values)}})
        cells.append({"cell": i + 1, "run_id": row["run_id"], "best": i == best, "metrics": plain(compared)})
    return {"best_run_id": rows[best]["run_id"], "resamples": resamples, "confidence": CONFIDENCE,
            "test": f"{TEST} ({ZERO_METHOD})", "cells": cells}


def comparison_references(store: Store, comparison_id: int) -> dict[str, tuple[float | None, float | None]]:
    """Per metric, the random scorer's and the oracle's overall values, averaged over a comparison's cells (they
    differ only by seed): the ends of the heatmaps' colour scales."""
    values = store.comparison_metrics(comparison_id)
    overall = values[values["slice"] == "all"].groupby(["scorer", "metric"])["value"].mean()

    def get(scorer: str, metric: str) -> float | None:
        value = overall.get((scorer, metric))
        return None if value is None or pd.isna(value) else float(value)

    return {m: (get("random", m), get("oracle", m)) for m in METRICS}


RESULT_KEYS = ("auc", "share_of_oracle", "oracle_auc", "best_epoch", "seconds")  # after the varying grid axes
VERDICTS = {True: "yes", False: "no (≈)", None: None}
BEST = "best (★)"
AGAINST_BEST_KEYS = ("difference_from_best", "ci_low", "ci_high", "distinguishable")  # fit the page at 1024 px


def comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A stored comparison (:func:`recengine.tables.stored_comparison`) to read and export: ``share_of_oracle`` (the
    way from random to the oracle) after the baselines, and no column that no cell fills. A comparison stored
    before grid cells were saved as runs has no run ids (nor best epoch and seconds): its export has no such
    column rather than an empty one. :func:`varying_keys` and :data:`RESULT_KEYS` name the columns that fit the
    page."""
    shares = [share_of_oracle(*values) for values in zip(frame["auc"], frame["random_auc"], frame["oracle_auc"])]
    table = frame.copy()
    table.insert(table.columns.get_loc("oracle_auc") + 1, "share_of_oracle",
                 pd.Series(shares, index=frame.index, dtype=float))
    return table.dropna(axis=1, how="all")


def varying_keys(frame: pd.DataFrame) -> list[str]:
    """The grid axes whose value differs between the cells (all of them for one cell): a constant one (one loss,
    one seed) is said once beside the table rather than repeated on every row."""
    varying = [key for key in GRID_KEYS if frame[key].nunique() > 1]
    return varying or list(GRID_KEYS)


def against_best_table(frame: pd.DataFrame, metric: str = "auc") -> pd.DataFrame:
    """One row per cell of a stored comparison (:func:`recengine.tables.stored_comparison`): its settings and
    ``metric``, the paired difference from the best cell with its 95% interval (``ci_low``, ``ci_high``), the
    ``p_value`` and whether the two can be told apart (``distinguishable``: "yes", "no (≈)", and "best (★)" for
    the best cell itself, the highest dev AUC as the grid chose it), numbers kept as numbers; empty when the
    comparison predates the comparison against the best cell."""
    columns = [*GRID_KEYS, metric, "difference_from_best", "ci_low", "ci_high", "p_value", "distinguishable"]
    if f"{metric}_ci_low" not in frame.columns:
        return pd.DataFrame(columns=columns)
    table = frame[[*GRID_KEYS, metric]].copy()
    for column, source in (("difference_from_best", "diff_vs_best"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                           ("p_value", "p")):
        table[column] = frame[f"{metric}_{source}"]
    table["distinguishable"] = [VERDICTS[distinguishable(row, metric)] for row in frame.to_dict("records")]
    if frame["auc"].notna().any():
        table.loc[frame["auc"].idxmax(), "distinguishable"] = BEST  # the cell the others are set against
    return table[columns]


def grid_summary(rows: Sequence[Mapping]) -> list[dict]:
    """Mean and std over seeds per (fusion, temperature, loss) of grid rows, as JSON records (NaN as None)."""
    frame = pd.DataFrame(list(rows), columns=[*GRID_KEYS, *RESULT_COLUMNS, "best_epoch", "seconds", "run_id"])
    return plain(summarize_grid(frame).to_dict("records"))


def _require_dev_labels(record: Mapping, what: str) -> MindDataset:
    """The dataset of a store record; InputError when it has no labelled dev split to evaluate on."""
    dataset = load_dataset(record["path"])
    if dataset.dev is None or not dataset.dev.behaviors.labeled:
        raise InputError(f"{what} needs a dev split with click labels", path=record["path"])
    return dataset


# --------------------------------------------------------------------------------------------- saturation


def saturation_demo(
    workspace: Workspace,
    store: Store,
    dataset: str | Path,
    *,
    epochs: int = 2,
    configs: Sequence[str] | None = None,
    embedder: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Reproduce seeds/001's saturation beside its fixes (:func:`recengine.diagnostics.saturation_demo`) on a
    dataset (store name or folder), and record the result in the store.

    ``configs`` picks settings among ``broken``, ``x10`` and ``fixed`` (default all three); ``embedder`` defaults to
    the workspace's default. Nothing else is saved (no runs). Returns the stored record
    (see :func:`latest_saturation`), whose ``result`` maps each setting to its losses, dev AUCs, saturated and
    pinned shares per epoch and its dev logit reports before and after training.
    """
    _whole(epochs, "epochs", 1)
    names = list(diag.saturation_configs(configs))
    embedder = embedder or _default_embedder()
    text = get_embedder(embedder)
    record = datasets.resolve(store, dataset)
    data = _require_dev_labels(record, "the saturation demonstration")

    def report(name: str, event: TrainEvent) -> None:
        if progress is not None:
            progress(PartEvent(names.index(name) + 1, len(names), name, event))

    demo = diag.saturation_demo(data, epochs=epochs, names=names, embedder=text,
                                cache=EmbeddingCache(workspace.cache / "embeddings"), progress=report)
    params = {"epochs": epochs, "configs": names, "embedder": embedder}
    return save_result(store, SATURATION, record["name"], params, demo)


def latest_saturation(store: Store, dataset: str | None = None) -> dict | None:
    """The newest recorded saturation demonstration (of ``dataset``, a store name, when given), or None."""
    return latest_result(store, SATURATION, dataset)


def saturation_aucs(demo: Mapping) -> tuple[list, str]:
    """One setting's AUC per epoch and the split they were measured on (demonstrations recorded before the
    validation split kept dev's under "dev_auc")."""
    if "valid_auc" in demo:
        return demo["valid_auc"], demo["valid_split"] or "dev"
    return demo["dev_auc"], "dev"


def saturation_summary(record: Mapping) -> dict:
    """The headline of a recorded demonstration: per setting its final loss and selection AUC, the shares of dev
    predictions saturated and pinned at exactly 0 or 1 after training, the logit range, best epoch and seconds."""
    settings = {}
    for name, demo in record["result"].items():
        after = demo["after"]
        settings[name] = {
            "final_loss": demo["loss"][-1] if demo["loss"] else None,
            "auc": (saturation_aucs(demo)[0] or [None])[-1],
            "auc_split": saturation_aucs(demo)[1],
            "saturated_share": after["saturated_share"],
            "pinned_share": after["pinned_share"],
            "logit_min": after["logits"]["all"]["min"],
            "logit_max": after["logits"]["all"]["max"],
            "best_epoch": demo["best_epoch"],
            "seconds": demo["seconds"],
        }
    return {"result_id": record["id"], "dataset": record["dataset"], "created_at": record["created_at"],
            **record["params"], "settings": settings}


def _default_embedder() -> str:
    from recengine.app.first_start import Defaults

    return Defaults.from_env().embedder


def _whole(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{what} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------- diagnostics


def diagnostics(
    workspace: Workspace,
    store: Store,
    run: str | Path | LoadedRun,
    *,
    split: str = "dev",
    bins: int = 50,
) -> dict:
    """Everything the Diagnostics page shows for a run (store id, run folder or loaded run) on ``split``
    (:func:`recengine.diagnostics.run_diagnostics`), plus ``run_id`` and ``headline``
    (:func:`diagnostics_headline`)."""
    _whole(bins, "bins", 1)
    if split not in ("train", "dev", "test"):
        raise InputError(f"split must be train, dev or test, got {split!r}")
    record = runs.find_run(store, run.path if isinstance(run, LoadedRun) else run)
    cache = EmbeddingCache(workspace.cache / "embeddings")
    loaded = run if isinstance(run, LoadedRun) else load_run(record["path"], cache=cache)
    report = diag.run_diagnostics(loaded, split, cache=cache, bins=bins)
    report["run_id"] = record["run_id"]
    report["headline"] = diagnostics_headline(report)
    return report


def diagnostics_headline(report: Mapping) -> dict:
    """The headline numbers of a diagnostics report as plain JSON: candidates and clicks, the shares saturated
    and pinned (raw and calibrated), the logit range, the calibration, fusion weights per view (or why there are
    none) and text coverage."""
    logits, calibrated = report["logits"], report["calibrated"]
    raw = logits["logits"]["all"]
    weights = report["fusion_weights"]
    return plain({
        "run_id": report.get("run_id"),
        "split": report["split"],
        "candidates": logits["candidates"],
        "clicks": logits["clicks"],
        "click_rate": report["label_balance"]["click_rate"],
        "saturated_share": logits["saturated_share"],
        "pinned_share": logits["pinned_share"],
        "logit_min": raw["min"],
        "logit_max": raw["max"],
        "logit_mean": raw["mean"],
        "logit_std": raw["std"],
        "calibrated_saturated_share": calibrated["saturated_share"],
        "calibration": report["calibration"],
        "fusion_weights": None if weights.empty else weights.to_dict("index"),
        "fusion_weights_note": weights.attrs.get("reason"),
        "text_coverage": report["coverage"]["text_coverage"],
    })


# --------------------------------------------------------------------------------------------- zero-shot


def zero_shot_compare(
    workspace: Workspace,
    store: Store,
    dataset: str | Path | None = None,
    *,
    preset: str | None = None,
    seed: int = 0,
    embedder: str | None = None,
    epochs: int = 6,
    update_epochs: int = 2,
    full_epochs: int = 1,
    lr_decay: float = 0.3,
    progress: Progress | None = None,
) -> dict:
    """Zero-shot vs incremental update vs full retrain on the articles published after training; recorded in
    the store.

    The data is ``dataset`` (a store name or folder) or a synthetic ``preset`` generated with ``seed`` into a
    scratch folder (give one of the two). Day 6 (dev) is cut at noon. The base model trains on days 1-5 and
    scores day 6's articles zero-shot (the ID vector filled with the mean, or from its text and graph
    neighbours); the incremental update folds the morning's clicks into a copy of it; the full retrain trains
    from scratch on days 1-5 plus the morning. All are judged on the afternoon, overall and on every day-6
    article, split into those seen in the morning and those no model has seen, each beside random and oracle.
    The three models are scratch work, deleted afterwards. Returns the stored record (see
    :func:`latest_zero_shot`); its ``result`` is what ``benchmarks/zero_shot.py`` prints.
    """
    if (dataset is None) == (preset is None):
        raise InputError("give either a dataset or a preset for the zero-shot comparison")
    if preset is not None and preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = RunConfig(ModelConfig(embedder=embedder or _default_embedder()), TrainConfig(epochs=epochs)).validate()
    _whole(update_epochs, "update epochs", 0)
    _whole(full_epochs, "full epochs", 0)
    if update_epochs + full_epochs == 0:
        raise InputError("the incremental update needs at least one epoch (update epochs and/or full epochs)")
    if isinstance(lr_decay, bool) or not isinstance(lr_decay, numbers.Real) or not 0.0 < lr_decay <= 1.0:
        raise InputError(f"lr decay must be a number in (0, 1], got {lr_decay!r}")
    _whole(seed, "seed", 0)
    record = None if dataset is None else datasets.resolve(store, dataset)
    workspace.home.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".zero-shot-", dir=workspace.home))
    try:
        if record is None:
            generate_world(preset, seed, work / preset)
        data = _require_dev_labels({"path": work / preset} if record is None else record, "the zero-shot comparison")
        result = _zero_shot(work, data, config, update_epochs, full_epochs, lr_decay, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    name = None if record is None else record["name"]
    result = {"preset": preset or record.get("preset"), "dataset": name, "embedder": config.model.embedder, **result}
    params = {"dataset": name, "preset": preset, "seed": seed if preset else None, "embedder": config.model.embedder,
              "epochs": epochs, "update_epochs": update_epochs, "full_epochs": full_epochs, "lr_decay": lr_decay}
    return save_result(store, ZERO_SHOT, name, params, result)


def latest_zero_shot(store: Store, dataset: str | None = None) -> dict | None:
    """The newest recorded zero-shot comparison (of ``dataset``, a store name, when given), or None."""
    return latest_result(store, ZERO_SHOT, dataset)


def shown_zero_shot(store: Store) -> dict:
    """What the New articles page shows: the workspace's newest zero-shot comparison, else the one shipped with
    recengine (demo preset, MiniLM, seed 0). ``{"result", "shipped", "created_at"}``."""
    latest = latest_zero_shot(store)
    if latest is not None:
        return {"result": latest["result"], "shipped": False, "created_at": latest["created_at"]}
    return {"result": read_zero_shot(SHIPPED_ZERO_SHOT), "shipped": True, "created_at": None}


@dataclass
class Day6:
    """Day 6 (dev) cut at noon: the morning an update learns from, the afternoon every model is judged on."""

    data: MindDataset
    cutoff: np.datetime64
    morning: MindSplit
    afternoon: MindSplit
    day6: set[str]  # every article published on day 6
    seen: set[str]  # the articles the morning showed

    @cached_property
    def judged(self) -> MindDataset:
        """Days 1-5 to train on, the afternoon as dev."""
        d = self.data
        return MindDataset(d.root, {"train": d.train, "dev": self.afternoon}, d.report, d.truth, d.meta)

    @cached_property
    def retrain(self) -> MindDataset:
        """Days 1-5 plus the morning to train on, the afternoon as dev."""
        d = self.data
        merged = MindSplit("train", d.train.path, News.concat([d.train.news, self.morning.news]),
                           Behaviors.concat([d.train.behaviors, self.morning.behaviors]), d.entity_vectors)
        return MindDataset(d.root, {"train": merged, "dev": self.afternoon}, d.report, d.truth, d.meta)

    def summary(self) -> dict:
        return {"cutoff": str(self.cutoff), "morning_impressions": len(self.morning.behaviors),
                "afternoon_impressions": len(self.afternoon.behaviors), "day6_articles": len(self.day6)}


def day6_cut(data: MindDataset) -> Day6:
    """``data``'s dev day cut at noon (refused when either half has no impression)."""
    day6 = (set(data.meta["new_articles"]) if data.meta and "new_articles" in data.meta
            else set(data.dev.news.frame["news_id"]) - set(data.train.news.frame["news_id"]))
    cutoff = np.datetime64(str(data.dev.behaviors.times.min().astype("datetime64[D]")) + "T12:00:00")
    morning, afternoon = split_by_time(data.dev, cutoff)
    if not len(morning.behaviors) or not len(afternoon.behaviors):
        raise InputError(f"the dev split needs impressions both before and after {cutoff}", path=data.dev.path)
    return Day6(data, cutoff, morning, afternoon, day6, set(morning.behaviors.articles.tolist()))


def judge_day6(recommender: Recommender, dataset: MindDataset, cut: Day6, embedder) -> tuple[dict, dict]:
    """One model judged on the afternoon, overall and per day-6 slice (see :func:`_judge`)."""
    return _judge(recommender, dataset, cut.day6, cut.seen, embedder)


def quality_ratios(methods: Mapping[str, Mapping], reference: str) -> dict:
    """Each method's AUC over ``reference``'s, per zero-shot slice."""
    return {name: {s: _ratio(methods[name][s]["auc"], methods[reference][s]["auc"]) for s in ZERO_SHOT_SLICES}
            for name in methods}


def _zero_shot(
    work: Path, data: MindDataset, config: RunConfig, update_epochs: int, full_epochs: int, lr_decay: float,
    progress: Progress | None,
) -> dict:
    """The comparison itself, with its scratch runs in ``work``."""
    cut = day6_cut(data)
    day6, seen, judged, morning = cut.day6, cut.seen, cut.judged, cut.morning
    embedder = get_embedder(config.model.embedder)
    out: dict = cut.summary()

    started = time.perf_counter()
    train_run(judged, config, out=work / "base", embedder=embedder,
              progress=_reporter(progress, 1, 3, "base model (days 1-5)"))
    base_seconds = time.perf_counter() - started
    base = load_run(work / "base", dataset=judged, embedder=embedder)
    methods, values = {}, {}
    for fill in ("mean", "neighbors"):
        base.recommender.config.model.new_article_id = fill
        base.recommender.invalidate()
        methods[f"zero_shot_{fill}"], values[f"zero_shot_{fill}"] = _judge(base.recommender, judged, day6, seen,
                                                                            embedder)

    write_split(work / "morning", morning)
    started = time.perf_counter()
    update = update_run(work / "base", work / "morning", work / "incremental", epochs=update_epochs,
                        full_epochs=full_epochs, lr_decay=lr_decay, eval_data=judged, embedder=embedder,
                        archive=work / "archive", progress=_reporter(progress, 2, 3, "incremental update"))
    update_seconds = time.perf_counter() - started
    methods["incremental"], values["incremental"] = _judge(update.recommender, judged, day6, seen, embedder)

    retrain_data = cut.retrain
    started = time.perf_counter()
    retrain = train_run(retrain_data, config, out=work / "retrain", embedder=embedder,
                        progress=_reporter(progress, 3, 3, "full retrain (days 1-5 + morning)"))
    retrain_seconds = time.perf_counter() - started
    methods["full_retrain"], values["full_retrain"] = _judge(retrain.result.recommender, retrain_data, day6, seen,
                                                             embedder)

    out["methods"] = methods
    out["against_retrain"] = against_reference(values, "full_retrain")
    out["seconds"] = {"base_train": round(base_seconds, 1), "incremental_update": round(update_seconds, 1),
                      "full_retrain": round(retrain_seconds, 1)}
    out["incremental_time_share_of_retrain"] = _ratio(update_seconds, retrain_seconds)
    out["quality_ratios_auc"] = quality_ratios(methods, "full_retrain")
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b in (None, 0) else round(a / b, 4)


def _day6_slices(inter, catalog, day6: set[str], seen: set[str]) -> dict:
    """Candidate masks: every day-6 article, those seen in the morning, those no model has seen."""
    ids = np.asarray(catalog.articles.ids, dtype=object)[inter.candidates]
    everyone = np.ones(len(inter), dtype=bool)
    is_new = np.fromiter((a in day6 for a in ids), dtype=bool, count=len(ids))
    in_morning = np.fromiter((a in seen for a in ids), dtype=bool, count=len(ids))
    return {
        "day6_articles": (everyone, is_new),
        "day6_seen_in_morning": (everyone, is_new & in_morning),
        "day6_unseen": (everyone, is_new & ~in_morning),
    }


def against_reference(values: Mapping[str, Mapping[str, tuple]], reference: str, *,
                      resamples: int = RESAMPLES) -> dict:
    """Every method against ``reference`` on each slice, paired on the same impressions: ``{"reference",
    "resamples", "confidence", "test", "methods": {method: {slice: {metric: paired values}}}}``. ``values``: per
    method, per slice, (labels, ptr, per-impression metric frame) as :func:`_judge` gives them."""
    methods = {}
    for method, slices in values.items():
        if method == reference:
            continue
        methods[method] = {}
        for name, (labels, ptr, frame) in slices.items():
            ref_labels, ref_ptr, ref_frame = values[reference][name]
            if not (np.array_equal(labels, ref_labels) and np.array_equal(ptr, ref_ptr)):
                raise InputError(f"{method} and {reference} were judged on different impressions ({name})")
            methods[method][name] = paired_comparison(frame, ref_frame, resamples=resamples)
    return {"reference": reference, "resamples": resamples, "confidence": CONFIDENCE,
            "test": f"{TEST} ({ZERO_METHOD})", "methods": plain(methods)}


def _slice_values(inter, scores: np.ndarray, candidates: np.ndarray) -> tuple:
    """(labels, ptr, per-impression metrics) of the kept candidates, every impression kept (NaN where none is
    left), so that two methods' rows are the same impressions."""
    ptr = np.zeros(len(inter) + 1, dtype=np.int64)
    np.cumsum(np.bincount(inter.candidate_rows[candidates], minlength=len(inter)), out=ptr[1:])
    labels = inter.labels[candidates]
    return labels, ptr, per_impression_metrics_csr(labels, scores[candidates], ptr)


def _judge(recommender: Recommender, dataset: MindDataset, day6: set[str], seen: set[str],
           embedder) -> tuple[dict, dict]:
    """One method's metrics on the afternoon: overall and per day-6 slice, and random and oracle per slice; and
    per slice its per-impression values (see :func:`against_reference`)."""
    catalog, inter, truth = split_view(
        recommender.catalog, recommender.users, dataset, "dev", embedder=embedder,
        with_times=recommender.config.model.user_encoder == "transformer",
    )
    scorer = recommender.over(catalog)
    scores = scorer.score(inter)
    masks = _day6_slices(inter, catalog, day6, seen)
    result = evaluate_scores(inter, scores, masks, truth=truth)
    everything = np.ones(len(scores), dtype=bool)
    values = {"overall": _slice_values(inter, scores, everything),
              **{name: _slice_values(inter, scores, candidates) for name, (_, candidates) in masks.items()}}

    def pick(metrics: Mapping) -> dict:
        return {k: None if metrics[k] is None else round(metrics[k], 4) for k in METRICS}

    return {
        "overall": pick(result["model"]),
        **{name: pick(m) for name, m in result["slices"].items()},
        "baselines": {name: {"random_auc": round(b["random"]["auc"], 4),
                             "oracle_auc": b["oracle"] and round(b["oracle"]["auc"], 4)}
                      for name, b in result["baselines"].items()},
    }, values
