"""Train and evaluate a grid of settings (fusion x temperature x loss x seed) on one dataset.

The data is embedded and mapped once; each grid cell trains a fresh network on it. With a store, the
grid and every finished cell are recorded as they finish, so a crash keeps what was done. The grid's
settings and its result rows are :mod:`recengine.eval.compare`'s.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import pandas as pd

from recengine.config import RunConfig
from recengine.data.mind import MindDataset, load_dataset
from recengine.errors import InputError
from recengine.eval.compare import GRID_KEYS, RESULT_COLUMNS, grid_configs, result_row
from recengine.eval.evaluate import evaluate_interactions
from recengine.text import TextEmbedder
from recengine.train.trainer import Prepared, ProgressCallback, Trainer, TrainEvent, TrainResult, prepare

if TYPE_CHECKING:
    from recengine.data.store import Store


@dataclass
class GridEvent:
    """Progress of a grid: cell ``cell`` of ``cells`` (1-based; 0 while preparing the data) with its
    settings (empty while preparing), and the training event inside it."""

    cell: int
    cells: int
    settings: dict
    event: TrainEvent


GridProgress = Callable[[GridEvent], None]


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
