"""Beyond-accuracy evaluation of the lists a run actually serves, beside random and most-popular lists.

For a sample of dev users, each user's top-k list is asked of the run's two-stage recommender (the serving path
every face uses: :func:`recengine.app.serving.open_service`, then ``recommend``) as of their first dev impression:
the history that impression carries, the clock at its time. Beside it, for the same users and the same candidate
pool (every article the service can recommend, minus what the user already read):

- random lists: k articles drawn uniformly (seeded);
- most-popular lists: the k articles with the most training clicks (ties by catalogue order).

The measures are :data:`recengine.eval.beyond.MEASURE_UNITS`; popularity and novelty read the training clicks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from recengine.app import experiments, runs, serving
from recengine.data.mind import MindDataset
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.eval.beyond import MEASURE_UNITS, UNDATED, Catalogue, Measure, ServedLists, beyond_metrics
from recengine.serve.checks import to_seconds
from recengine.serve.service import RecommenderService

USER_CAP = 2000  # dev users evaluated at most (a seeded sample beyond that): about 30 s of serving
# Measured on tiny (benchmarks/beyond_cost.py): one served list (recall, rerank, explanation) and opening the service.
SECONDS_PER_LIST = 0.016
OPEN_SECONDS = 3.0
SCORER_LABELS = {"model": "Recommender", "random": "Random", "popular": "Most popular"}
RESULT_KIND = "beyond"  # experiment results of one run are kind "beyond/<run id>"

Progress = Callable[[int, int], None]


def beyond_accuracy(store: Store, run: str | Path, *, k: int = 10, users: int | None = None, seed: int = 0,
                    progress: Progress | None = None) -> dict:
    """Beyond-accuracy measures of the top-``k`` lists the run serves to ``users`` dev users (None: all, at most
    :data:`USER_CAP`; a seeded sample beyond), beside random and most-popular lists for the same users.

    Returns ``{"model", "random", "popular": {measure: value}, "k", "users", "cap", "sampled", "seconds",
    "serving_seconds"}`` (all of it, and the making of the three sets of lists); ``progress(done, total)`` is called
    as users are served.
    """
    k, cap = _checked(k, users)
    started = time.perf_counter()
    service = serving.open_service(store, run)
    dataset = service.run.dataset
    sample = _sample_users(dataset, cap, seed)
    catalogue = _catalogue(service, dataset)
    histories = [_known_history(service, dataset, i) for i in sample]
    times = dataset.dev.behaviors.times[sample].astype("datetime64[s]").astype(np.int64)
    read = [service.catalog.articles.rows(history) for history in histories]
    serving_started = time.perf_counter()
    lists = {
        "model": _model_lists(service, dataset, sample, histories, times, k, progress),
        "random": _random_lists(len(catalogue), read, k, seed),
        "popular": _popular_lists(catalogue.clicks, read, k),
    }
    serving_finished = time.perf_counter()
    result: dict = {name: beyond_metrics(ServedLists(items, times, seed), catalogue) for name, items in lists.items()}
    dev_users = len(np.unique(dataset.dev.behaviors.user_index))
    return {**result, "k": k, "users": len(sample), "cap": cap, "sampled": len(sample) < dev_users,
            "seconds": round(time.perf_counter() - started, 2),
            "serving_seconds": round(serving_finished - serving_started, 2)}


def evaluate_and_save(store: Store, run: str | Path, *, k: int = 10, users: int | None = None, seed: int = 0,
                      progress: Progress | None = None) -> dict:
    """:func:`beyond_accuracy` of a run, saved for the dashboard under the run's store id; returns the saved record
    (see :func:`recengine.app.experiments.save_result`)."""
    record = runs.find_run(store, run)
    result = beyond_accuracy(store, record["run_id"], k=k, users=users, seed=seed, progress=progress)
    return experiments.save_result(store, f"{RESULT_KIND}/{record['run_id']}", record["dataset"],
                                   {"run_id": record["run_id"], "k": k, "users": users, "seed": seed}, result)


def saved_beyond(store: Store, run_id: str) -> dict | None:
    """The newest saved beyond-accuracy record of a run (see :func:`evaluate_and_save`), or None."""
    return experiments.latest_result(store, f"{RESULT_KIND}/{run_id}")


def estimated_seconds(store: Store, params: dict) -> float:
    """Rough seconds of a beyond-accuracy job with checked ``params`` (``dataset``, ``users``): one served list
    per sampled dev user."""
    summary = (store.dataset(params["dataset"]) or {}).get("summary") or {}
    # The store counts users and each split's impressions; dev users are at most both.
    dev_users = min(summary.get("users") or USER_CAP, (summary.get("splits") or {}).get("dev") or USER_CAP)
    return OPEN_SECONDS + min(dev_users, params["users"] or USER_CAP) * SECONDS_PER_LIST


def beyond_table(result: dict) -> pd.DataFrame:
    """One row per measure: its label, the recommender's, random and most-popular values as display text
    (shares as "80.6%"), and a one-line plain explanation; ``result`` as :func:`beyond_accuracy` returns it."""
    def shown(value: float | None, measure: Measure) -> str:
        if value is None:
            return "—"
        return f"{value:.1%}" if measure.share else f"{value:.3g}"

    return pd.DataFrame([
        {"Measure": m.label, **{label: shown(result[name].get(m.name), m) for name, label in SCORER_LABELS.items()},
         "What it means": m.description}
        for m in MEASURE_UNITS
    ])


def _checked(k: int, users: int | None) -> tuple[int, int]:
    """(k, cap) after checking both, before any work."""
    if type(k) is not int or not 1 <= k <= 100:
        raise InputError(f"k must be a whole number from 1 to 100, got {k!r}")
    if users is not None and (type(users) is not int or users < 2):
        raise InputError(f"users must be a whole number of at least 2 (two lists to compare), got {users!r}")
    return k, USER_CAP if users is None else users


def _sample_users(dataset: MindDataset, cap: int, seed: int) -> np.ndarray:
    """Dev impression indices, one per user (their first by time), at most ``cap`` users (a seeded sample)."""
    if "dev" not in dataset.splits or not len(dataset.dev.behaviors):
        raise InputError(f"dataset {dataset.root} has no dev impressions to serve lists for")
    behaviors = dataset.dev.behaviors
    by_time = np.argsort(behaviors.times, kind="stable")
    _, first = np.unique(behaviors.user_index[by_time], return_index=True)
    impressions = by_time[first]
    if len(impressions) > cap:
        impressions = np.random.default_rng(seed).choice(impressions, cap, replace=False)
    return np.sort(impressions)


def _catalogue(service: RecommenderService, dataset: MindDataset) -> Catalogue:
    """What the measures need of every article the service can recommend."""
    catalog = service.catalog
    train = dataset.train.behaviors
    clicked = train.articles[train.candidates[train.labels == 1]]
    rows = catalog.articles.rows(clicked.tolist())
    clicks = np.bincount(rows[rows >= 0], minlength=len(catalog))
    end = to_seconds(train.times.max()) if len(train) else UNDATED
    first_seen = np.asarray(catalog.first_seen, dtype=np.int64)
    return Catalogue(vectors=catalog.text.numpy(), clicks=clicks, first_seen=first_seen,
                     after_training=(first_seen != UNDATED) & (first_seen > end))


def _known_history(service: RecommenderService, dataset: MindDataset, impression: int) -> list[str]:
    """The impression's history, less articles the service does not know (it refuses unknown ids)."""
    position = service.catalog.articles.position
    return [a for a in dataset.dev.behaviors.history_ids(int(impression)) if a in position]


def _model_lists(service: RecommenderService, dataset: MindDataset, sample: np.ndarray, histories: list[list[str]],
                 times: np.ndarray, k: int, progress: Progress | None) -> np.ndarray:
    users = dataset.dev.behaviors.impression_user_ids[sample]
    items = np.full((len(sample), k), -1, dtype=np.int64)
    for i, (user, history, now) in enumerate(zip(users, histories, times.tolist())):
        served = service.recommend(str(user), k, history=history, now=now)
        rows = service.catalog.articles.rows([item["article_id"] for item in served])
        items[i, : len(rows)] = rows
        if progress is not None:
            progress(i + 1, len(sample))
    return items


def _random_lists(articles: int, read: list[np.ndarray], k: int, seed: int) -> np.ndarray:
    """k articles per user drawn uniformly from the ``articles`` rows less the user's ``read`` rows."""
    rng = np.random.default_rng(seed)
    items = np.full((len(read), k), -1, dtype=np.int64)
    for i, rows in enumerate(read):
        # A random prefix of a permutation, history removed: a uniform sample of the pool, in random order.
        drawn = rng.choice(articles, min(articles, k + len(rows)), replace=False)
        kept = drawn[~np.isin(drawn, rows)][:k]
        items[i, : len(kept)] = kept
    return items


def _popular_lists(clicks: np.ndarray, read: list[np.ndarray], k: int) -> np.ndarray:
    """The k most clicked articles in training per user, less the user's ``read`` rows (ties by row order)."""
    order = np.argsort(-clicks, kind="stable")
    items = np.full((len(read), k), -1, dtype=np.int64)
    for i, rows in enumerate(read):
        head = order[: k + len(rows)]
        kept = head[~np.isin(head, rows)][:k]
        items[i, : len(kept)] = kept
    return items
