"""Train a run end to end, or evaluate a saved one: what the CLI, the dashboard and notebooks call."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recengine.config import RunConfig
from recengine.data.mind import MindDataset, load_dataset
from recengine.outputs import check_output_folder, write_fault
from recengine.eval.evaluate import evaluate_interactions, train_impression_users
from recengine.errors import InputError
from recengine.eval.metrics import METRICS
from recengine.eval.significance import user_bank_comparison
from recengine.text import TextEmbedder
from recengine.train.runs import (
    LoadedRun, SplitScores, check_dataset, dataset_fingerprint, load_run, model_on_split, now_iso, read_run_files,
    save_run,
)
from recengine.train import distributed
from recengine.train.trainer import (
    Prepared, ProgressCallback, Trainer, TrainEvent, TrainResult, fit_calibration, prepare,
)


@dataclass
class TrainedRun:
    result: TrainResult
    metrics: dict | None  # evaluation on dev: model, random, oracle, slices
    meta: dict
    prepared: Prepared
    path: Path | None


def _as_dataset(data: MindDataset | str | Path) -> MindDataset:
    return data if isinstance(data, MindDataset) else load_dataset(data)


def train_run(
    data: MindDataset | str | Path,
    config: RunConfig | None = None,
    *,
    out: str | Path | None = None,
    embedder: TextEmbedder | None = None,
    cache=None,
    progress: ProgressCallback | None = None,
    store_name: str | None = None,
) -> TrainedRun:
    """Prepare, train with early stopping on the selection split (validation by default), evaluate on dev (with
    slices, random and oracle) and save to ``out``.

    ``store_name`` is the store's name for the dataset, recorded in meta.json beside its folder and fingerprint.
    """
    config = (config or RunConfig()).validate()
    dataset = _as_dataset(data)
    context = distributed.from_environment(config.train.device)
    if out is not None and context.is_main:  # only a run or an empty folder is replaced, and never the data
        check_output_folder(out, force=True, inputs=[("dataset", dataset.root)])
    if not context.is_main:
        progress = None  # one progress report per job, from rank 0
    started = time.perf_counter()
    prepared = prepare(dataset, config, embedder=embedder, cache=cache, progress=progress)
    trainer = Trainer(prepared, config, progress=progress, context=context)
    result = trainer.fit()
    result.recommender.calibration = fit_calibration(result.recommender, prepared, seed=config.train.seed)
    train_seconds = time.perf_counter() - started
    metrics = None
    retrieval = None
    if prepared.dev is not None and context.is_main:
        if progress:
            progress(TrainEvent("prepare", message="evaluating on dev"))
        evaluator = trainer.evaluation_model()
        evaluator.calibration = result.recommender.calibration  # the reliability report reads it
        metrics = evaluate_interactions(evaluator, prepared.dev, truth=prepared.truth, seed=config.train.seed,
                                        train_users=train_impression_users(prepared.train, prepared.validation))
        metrics["selected_on"] = prepared.selected_on
        if config.model.user_retrieval:
            retrieval = dual_evaluation(evaluator, prepared, metrics, seed=config.train.seed)
    meta = {
        "mode": "full",
        "parent": None,
        "created_at": now_iso(),
        "last_update": now_iso(),
        "samples_seen": result.samples_seen,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(time.perf_counter() - started - train_seconds, 2),
        "peak_memory_mb": peak_memory_mb(),
        "selection": prepared.carve,
        "device": str(trainer.device),
        "world_size": context.world_size,
        "dataset": {"root": str(Path(dataset.root).resolve()), "fingerprint": dataset_fingerprint(dataset.root),
                    "store_name": store_name},
        "warnings": prepared.warnings,
        "calibration": result.recommender.calibration.to_dict(),
        "retrieval": retrieval,
    }
    if out is not None and context.is_main:  # checkpoints are written by rank 0 only
        _save(out, result.recommender, dataset, meta=meta, history=result.history, metrics=metrics,
              dev_scores=SplitScores.of(evaluator, prepared.dev) if metrics else None)
    distributed.barrier(context)
    if progress:
        progress(TrainEvent("done", epoch=result.best_epoch, metrics=metrics and metrics["model"]))
    return TrainedRun(result, metrics, meta, prepared, Path(out) if out is not None else None)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _save(out: str | Path, recommender, dataset: MindDataset, **parts) -> None:
    """Save the run, checking ``out`` again (it may have changed while training); a full disk or a permission
    fault is one line naming the path."""
    check_output_folder(out, force=True, inputs=[("dataset", dataset.root)])
    try:
        save_run(out, recommender, **parts)
    except OSError as exc:
        raise write_fault(exc, out) from None


def dual_evaluation(evaluator, prepared: Prepared, with_retrieval: dict, *, seed: int) -> dict:
    """seeds/004's dual evaluation: the same model scored with and without the retrieved users."""
    net = evaluator.net
    bank, net.user_bank = net.user_bank, None
    try:
        evaluator.invalidate()
        without = evaluate_interactions(evaluator, prepared.dev, truth=prepared.truth, seed=seed)
    finally:
        net.user_bank = bank
        evaluator.invalidate()
    pick = lambda m: {k: m["model"][k] for k in METRICS}  # noqa: E731
    return {"users_in_bank": len(bank) if bank is not None else 0, "with": pick(with_retrieval), "without": pick(without),
            "slices_with": {k: v["auc"] for k, v in with_retrieval["slices"].items()},
            "slices_without": {k: v["auc"] for k, v in without["slices"].items()},
            "significance": user_bank_comparison(evaluator, prepared.dev, seed=seed)}


def evaluate_run(
    run: LoadedRun | str | Path,
    data: MindDataset | str | Path | None = None,
    *,
    split: str = "dev",
    embedder: TextEmbedder | None = None,
    cache=None,
    seed: int = 0,
    allow_dataset_change: bool = False,
) -> dict:
    """Evaluate a saved run on a split: ``{"model", "random", "oracle", "slices", "baselines"}``.

    Data other than the run was trained on is refused unless ``allow_dataset_change``.
    """
    model, inter, truth, dataset = _on_split(run, data, split, embedder, cache, allow_dataset_change=allow_dataset_change)
    metrics = evaluate_interactions(model, inter, truth=truth, seed=seed,
                                    train_users=dataset.train.behaviors.impression_user_ids)
    return {**metrics, "selected_on": model.config.train.select_on}


def _checked_data(run, data, allow_dataset_change: bool) -> MindDataset | None:
    """``data`` loaded, once it is known to be the data the run was trained on (or that is allowed not to be)."""
    if data is None:
        return None
    if not allow_dataset_change:  # before loading it
        path, meta = (run.path, run.meta) if isinstance(run, LoadedRun) else (Path(run), read_run_files(run)[1])
        check_dataset(path, meta, data.root if isinstance(data, MindDataset) else data)
    return _as_dataset(data)


def _on_split(run, data, split: str, embedder, cache, *, require_labels: bool = True,
              allow_dataset_change: bool = False):
    """The run (loaded unless it already is) as a model over ``split``'s catalogue, its unseen articles added
    zero-shot: ``(model, the split's impressions, their truth or None, the dataset)``."""
    dataset = _checked_data(run, data, allow_dataset_change)
    loaded = run if isinstance(run, LoadedRun) else load_run(
        run, dataset=dataset, embedder=embedder, cache=cache, allow_dataset_change=allow_dataset_change
    )
    dataset = dataset or loaded.dataset
    model, inter, truth = model_on_split(loaded.recommender, dataset, split, embedder=embedder, cache=cache,
                                         require_labels=require_labels)
    return model, inter, truth, dataset


def predict_run(
    run: LoadedRun | str | Path,
    data: MindDataset | str | Path | None = None,
    *,
    split: str = "test",
    embedder: TextEmbedder | None = None,
    cache=None,
    allow_dataset_change: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores for every candidate of a split, labeled or not (MIND's test split has no labels).

    Returns impression ids (n,), scores (C,) in the file's candidate order, and CSR offsets (n+1,);
    a candidate whose article is missing from the split's news.tsv scores -inf (ranked last). Data other than
    the run was trained on is refused unless ``allow_dataset_change``.
    """
    scored, inter, _, dataset = _on_split(run, data, split, embedder, cache, require_labels=False,
                                          allow_dataset_change=allow_dataset_change)
    behaviors = dataset.splits[split].behaviors
    rows = scored.catalog.articles.rows(behaviors.articles)[behaviors.candidates]
    scores = np.full(len(rows), -np.inf)
    scores[rows >= 0] = scored.score(inter)
    return behaviors.impression_ids, scores, behaviors.candidate_ptr


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
    metrics = evaluate_interactions(model, prepared.dev, truth=prepared.truth, seed=config.train.seed,
                                    train_users=train_impression_users(prepared.train, prepared.validation))
    metrics["selected_on"] = prepared.selected_on
    return result, metrics
