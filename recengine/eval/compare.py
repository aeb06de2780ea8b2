"""Comparisons: train and evaluate a grid of settings (fusion x temperature x loss x seed) on one dataset.

The data is embedded and mapped once; each grid cell trains a fresh network on it. With a store, the
grid and every finished cell are recorded as they finish, so a crash keeps what was done.
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import pandas as pd

from recengine import atomic
from recengine.config import FUSIONS, LOSSES, RunConfig
from recengine.data.mind import MindDataset, load_dataset
from recengine.errors import InputError
from recengine.eval.evaluate import SLICES, evaluate_interactions
from recengine.text import TextEmbedder
from recengine.train.trainer import Prepared, ProgressCallback, Trainer, TrainEvent, TrainResult, prepare

if TYPE_CHECKING:
    from recengine.data.store import Store

GRID_KEYS = ("fusion", "temperature", "loss", "seed")
METRIC_COLUMNS = ("auc", "mrr", "ndcg@5", "ndcg@10")
SLICE_COLUMNS = tuple(f"{name}_auc" for name in SLICES)
RESULT_COLUMNS = (*METRIC_COLUMNS, *SLICE_COLUMNS, "random_auc", "oracle_auc")


@dataclass
class GridEvent:
    """Progress of a grid: cell ``cell`` of ``cells`` (1-based; 0 while preparing the data) with its
    settings (empty while preparing), and the training event inside it."""

    cell: int
    cells: int
    settings: dict
    event: TrainEvent


GridProgress = Callable[[GridEvent], None]


def check_grid(
    fusions: Sequence[str], temperatures: Sequence[float], losses: Sequence[str], seeds: Sequence[int]
) -> None:
    """Raise :class:`InputError` for an empty list, a repeated value, an unknown fusion or loss,
    a temperature that is not a positive number, or a seed that is not a whole number >= 0."""
    for what, values in (("fusions", fusions), ("temperatures", temperatures), ("losses", losses), ("seeds", seeds)):
        if len(values) == 0:
            raise InputError(f"the grid needs at least one of {what}")
        if len(set(values)) != len(values):
            raise InputError(f"{what} repeat: {', '.join(map(str, values))}")
    for name, values, known in (("fusion", fusions, FUSIONS), ("loss", losses, LOSSES)):
        unknown = [v for v in values if v not in known]
        if unknown:
            raise InputError(f"unknown {name} {unknown[0]!r}; choose from {', '.join(known)}")
    for t in temperatures:
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t <= 0:
            raise InputError(f"temperatures must be numbers > 0; got {t!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            raise InputError(f"seeds must be whole numbers >= 0; got {s!r}")


def grid_configs(
    base: RunConfig,
    *,
    fusions: Sequence[str],
    temperatures: Sequence[float],
    losses: Sequence[str],
    seeds: Sequence[int],
) -> list[tuple[dict, RunConfig]]:
    """Every combination as (settings, validated config), fusion outermost and seed innermost."""
    check_grid(fusions, temperatures, losses, seeds)
    if base.model.scoring == "dot" and len(temperatures) > 1:
        raise InputError("temperatures only change cosine scoring; the base config scores with a raw dot product")
    cells = []
    for fusion, temperature, loss, seed in itertools.product(fusions, temperatures, losses, seeds):
        config = copy.deepcopy(base)
        config.model.fusion, config.model.temperature = fusion, float(temperature)
        config.train.loss, config.train.seed = loss, int(seed)
        config.model.validate()
        config.train.validate()
        cells.append(({"fusion": fusion, "temperature": float(temperature), "loss": loss, "seed": int(seed)}, config))
    return cells


def train_and_evaluate(
    prepared: Prepared, config: RunConfig, *, progress: ProgressCallback | None = None
) -> tuple[TrainResult, dict]:
    """Train a fresh network on already prepared data and evaluate it on dev (model, random, oracle, slices).

    ``prepared`` is only read (training builds its own network and batches), so one preparation serves
    every config that shares its embedder, text fields and user encoder.
    """
    if prepared.dev is None:
        raise InputError("evaluation needs a dev split with click labels")
    trainer = Trainer(prepared, config, progress=progress)
    result = trainer.fit()
    model = trainer.evaluation_model()
    metrics = evaluate_interactions(model, prepared.dev, truth=prepared.truth, seed=config.train.seed)
    return result, metrics


def result_row(settings: dict, metrics: dict) -> dict:
    """One grid row: the settings, the model's metrics, each slice's AUC, and random and oracle AUC."""
    model = metrics["model"]
    row = {**settings, **{name: model[name] for name in METRIC_COLUMNS}}
    for name, column in zip(SLICES, SLICE_COLUMNS):
        row[column] = (metrics["slices"].get(name) or {}).get("auc")
    row["random_auc"] = metrics["random"]["auc"]
    row["oracle_auc"] = (metrics["oracle"] or {}).get("auc")
    return row


def run_grid(
    data: MindDataset | str | Path,
    base: RunConfig,
    *,
    fusions: Sequence[str],
    temperatures: Sequence[float],
    losses: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    embedder: TextEmbedder | None = None,
    cache=None,
    store: "Store | None" = None,
    dataset_name: str | None = None,
    progress: GridProgress | None = None,
) -> pd.DataFrame:
    """Train and evaluate every (fusion, temperature, loss, seed); one row per combination.

    Columns: fusion, temperature, loss, seed, auc, mrr, ndcg@5, ndcg@10, warm_auc, new_articles_auc,
    cold_users_auc, random_auc, oracle_auc, best_epoch, seconds. ``losses`` defaults to the base config's.
    With ``store``, the comparison is recorded under ``dataset_name`` (default: the dataset folder's name)
    and its id is in ``frame.attrs["comparison_id"]``; it ends 'complete', or 'failed' if anything raised.
    """
    losses = tuple(losses) if losses is not None else (base.train.loss,)
    base = copy.deepcopy(base)
    if embedder is not None:
        base.model.embedder = embedder.backend  # the configs say which vectors they were trained on
    cells = grid_configs(base, fusions=fusions, temperatures=temperatures, losses=losses, seeds=seeds)
    dataset = data if isinstance(data, MindDataset) else load_dataset(data)
    if dataset.dev is None or not dataset.dev.behaviors.labeled:
        raise InputError("a comparison needs a dev split with click labels", path=dataset.root)
    report = progress or (lambda event: None)
    comparison_id = None
    if store is not None:
        grid = {"fusions": list(fusions), "temperatures": [float(t) for t in temperatures], "losses": list(losses),
                "seeds": [int(s) for s in seeds], "base": base.to_dict()}
        comparison_id = store.start_comparison(dataset_name or Path(dataset.root).resolve().name, grid)
    rows = []
    try:
        prepared = prepare(dataset, base, embedder=embedder, cache=cache,
                           progress=lambda event: report(GridEvent(0, len(cells), {}, event)))
        for index, (settings, config) in enumerate(cells, start=1):
            started = time.perf_counter()
            result, metrics = train_and_evaluate(
                prepared, config, progress=lambda event, i=index, s=settings: report(GridEvent(i, len(cells), s, event))
            )
            row = {**result_row(settings, metrics), "best_epoch": result.best_epoch,
                   "seconds": round(time.perf_counter() - started, 2)}
            rows.append(row)
            if store is not None:
                store.add_comparison_result(comparison_id, row)
            done = TrainEvent("done", epoch=result.best_epoch, metrics=metrics["model"])
            report(GridEvent(index, len(cells), settings, done))
    except BaseException:
        if store is not None:
            store.finish_comparison(comparison_id, "failed")
        raise
    if store is not None:
        store.finish_comparison(comparison_id, "complete")
    frame = pd.DataFrame(rows, columns=[*GRID_KEYS, *RESULT_COLUMNS, "best_epoch", "seconds"])
    frame.attrs["comparison_id"] = comparison_id
    return frame


def summarize_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per (fusion, temperature, loss).

    Columns: fusion, temperature, loss, seeds (how many), then ``<metric>_mean`` and ``<metric>_std`` for
    every metric column present (std is the sample std: NaN for a single seed).
    """
    missing = [key for key in GRID_KEYS if key not in frame.columns]
    if missing:
        raise InputError(f"a comparison frame needs columns {', '.join(GRID_KEYS)}; missing {', '.join(missing)}")
    metrics = [c for c in RESULT_COLUMNS if c in frame.columns]
    keys = list(GRID_KEYS[:-1])
    columns = [*keys, "seeds", *(f"{m}_{stat}" for m in metrics for stat in ("mean", "std"))]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby(keys, sort=False)
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary.insert(0, "seeds", grouped.size())
    return summary.reset_index()[columns]


def grid_to_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a grid (or its summary) as CSV, atomically."""
    atomic.write_text(path, frame.to_csv(index=False))
