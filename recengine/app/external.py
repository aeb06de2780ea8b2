"""Score an external system's predictions on the same table as a run: the model beside random and the oracle,
every slice, a confidence interval per metric, and paired significance against a stored run.

The prediction file has one line per impression of the split, in any order: ``<impression id> [v1,v2,...]``
with one value per candidate in the order behaviors.tsv lists them. The values are either ranks (MIND's
leaderboard format, what ``recengine predict`` writes: a permutation of 1..n, 1 = top) or scores (any finite
numbers, higher = better); see :func:`recengine.eval.metrics.read_predictions`. Every candidate listed in
behaviors.tsv is scored, as MIND's official scorer does; "seen in training" for the slices is read from the
dataset's train split (a user with a train impression, an article in a train history or candidate list; see
:func:`recengine.eval.evaluate.data_slice_facts`, which also cuts the slice groups: category, history length,
article age, user activity).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recengine.app import datasets, runs
from recengine.data.mind import Behaviors, MindDataset, load_dataset
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.eval.evaluate import data_slice_facts, evaluate_scores
from recengine.eval.metrics import per_impression_metrics_csr, read_predictions
from recengine.eval.significance import CONFIDENCE, RESAMPLES, TEST, ZERO_METHOD, paired_comparison
from recengine.model.interactions import Interactions
from recengine.train.api import predict_run
from recengine.train.runs import check_dataset, read_dev_scores, read_run_files


def evaluate_prediction(
    store: Store,
    prediction: str | Path | bytes,
    *,
    data: str | Path | None = None,
    against: str | Path | None = None,
    split: str = "dev",
    format: str = "auto",
    name: str | None = None,
    seed: int = 0,
) -> dict:
    """Score a prediction file (a path, or an upload's bytes called ``name``) on ``split`` of ``data`` (a store
    dataset name or folder; default: the dataset of ``against``, else the active dataset).

    Returns the evaluation dict of a run (``model``, ``random``, ``oracle``, ``slices``, ``baselines``,
    ``slice_groups``, ``ci``: {metric: [low, high]}, the 95% bootstrap interval of the model's mean) plus
    ``prediction`` (what was read) and, with ``against`` (a stored run id or run folder), ``against``: the paired
    comparison prediction - run per metric (:func:`recengine.eval.significance.paired_comparison`), shaped as
    :func:`recengine.app.runs.compare_runs` returns it. The file and the run are checked before any metric is
    computed.
    """
    name = name or ("upload" if isinstance(prediction, bytes) else str(prediction))
    run = runs.find_run(store, against) if against is not None else None
    record = _dataset_record(store, data, run)
    dataset = load_dataset(record["path"])
    part = _labeled(dataset, split)
    scores, used = read_predictions(prediction, part.impression_ids, part.candidate_ptr, format=format, name=name,
                                    split=split)
    if run is not None:  # refuse a run of other data before the work
        check_dataset(Path(run["path"]), read_run_files(run["path"])[1], record["path"])
    inter = split_interactions(part)
    facts = data_slice_facts(dataset.train.behaviors, part, _categories(dataset))
    result = evaluate_scores(inter, scores, truth=split_truth(dataset, part, split), seed=seed, facts=facts)
    result["prediction"] = {"file": name, "format": used, "dataset": record["name"],
                            "split": split, "impressions": len(part), "candidates": int(len(scores))}
    if run is not None:
        theirs = _run_per_impression(run, record["path"], part, split)
        result["against"] = {"run_a": name, "run_b": run["run_id"], "split": split, "impressions": len(part),
                             "resamples": RESAMPLES, "confidence": CONFIDENCE, "test": f"{TEST} ({ZERO_METHOD})",
                             "metrics": paired_comparison(
                                 per_impression_metrics_csr(inter.labels, scores, inter.candidate_ptr), theirs)}
    return result


def _dataset_record(store: Store, data: str | Path | None, run: dict | None) -> dict:
    if data is not None:
        return datasets.resolve(store, data)
    if run is not None:
        return datasets.resolve(store, run["dataset"])
    active = datasets.active(store)
    if active is None:
        raise InputError("no dataset given and none is active: name one (--data DIR or a store name)")
    return active


def _labeled(dataset: MindDataset, split: str) -> Behaviors:
    if split not in dataset.splits:
        raise InputError(f"dataset {dataset.root} has no {split!r} split (has: {', '.join(dataset.splits)})")
    part = dataset.splits[split]
    if not part.behaviors.labeled:
        raise InputError(f"the {split} split has no click labels to score against", path=part.path)
    return part.behaviors


def split_interactions(part: Behaviors) -> Interactions:
    """A split's impressions as :class:`Interactions` in the split's own article codes, every candidate kept (no
    model, so no user table: every ``user_rows`` is -1)."""
    return Interactions(
        impression_ids=part.impression_ids, user_ids=part.impression_user_ids,
        user_rows=np.full(len(part), -1, dtype=np.int64),
        times=part.times.astype("datetime64[s]").astype(np.int64),
        history_ptr=part.history_ptr, history=part.history.astype(np.int64),
        candidate_ptr=part.candidate_ptr, candidates=part.candidates.astype(np.int64), labels=part.labels,
    )


def _categories(dataset: MindDataset) -> pd.Series:
    """news id -> category, over every split's news.tsv."""
    frame = dataset.news.frame
    return pd.Series(frame["category"].to_numpy(dtype=object), index=frame["news_id"].to_numpy(dtype=object))


def split_truth(dataset: MindDataset, part: Behaviors, split: str) -> np.ndarray | None:
    """(C,) true click probability of every candidate of a synthetic dataset's dev split (else None)."""
    if dataset.truth is None or split != "dev":
        return None
    keys = pd.DataFrame({"impression_id": part.impression_ids[part.candidate_rows],
                         "news_id": part.articles[part.candidates]})
    truth = dataset.truth.drop_duplicates(["impression_id", "news_id"])
    return keys.merge(truth, on=["impression_id", "news_id"], how="left", sort=False)["probability"].to_numpy(
        dtype=np.float64)


def _run_per_impression(run: dict, root: str | Path, part: Behaviors, split: str) -> pd.DataFrame:
    """A stored run's per-impression metrics on the split's candidates: the scores its folder keeps when they cover
    exactly these candidates, else scored now, with articles missing from news.tsv (which the run cannot score)
    ranked last."""
    kept = read_dev_scores(run["path"]) if split == "dev" else None
    if kept is not None and np.array_equal(kept.ptr, part.candidate_ptr) and np.array_equal(kept.labels, part.labels):
        return kept.per_impression()
    _, scores, ptr = predict_run(run["path"], root, split=split)
    unknown = np.isneginf(scores)
    if unknown.any():
        scores[unknown] = (scores[~unknown].min() if (~unknown).any() else 0.0) - 1.0
    return per_impression_metrics_csr(part.labels, scores, ptr)
