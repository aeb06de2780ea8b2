"""Evaluate a recommender on a split: the model beside a random scorer and the oracle, overall and by slice.

Slices (:data:`SLICE_UNITS`) restrict each impression to part of it (MIND's per-impression metrics are then
averaged as usual; impressions left single-class are skipped for AUC and counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from recengine.eval.metrics import mind_metrics_csr
from recengine.model.interactions import Interactions

if TYPE_CHECKING:
    from recengine.model.catalog import Catalog
    from recengine.model.recommender import Recommender



@dataclass(frozen=True)
class Slice:
    """A part of every impression: ``keep(warm_user (n,), warm_article (C,), owner_warm (C,))`` gives the
    impressions (n,) and candidates (C,) it keeps, from who and what was seen in training."""

    name: str
    label: str
    description: str
    keep: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


# The one place a slice is declared; results, tables and plots follow this order.
SLICE_UNITS = (
    Slice("warm", "warm", "users seen in training, candidates seen in training",
          lambda warm_user, warm_article, owner_warm: (warm_user, owner_warm & warm_article)),
    Slice("new_articles", "new articles", "all users, candidates never seen in training (zero-shot)",
          lambda warm_user, warm_article, owner_warm: (np.ones(len(warm_user), dtype=bool), ~warm_article)),
    Slice("cold_users", "cold users", "users never seen in training, all candidates",
          lambda warm_user, warm_article, owner_warm: (~warm_user, ~owner_warm)),
)
SLICES = tuple(s.name for s in SLICE_UNITS)


def align_truth(inter: Interactions, catalog: "Catalog", truth: pd.DataFrame) -> np.ndarray:
    """(C,) true click probability of every candidate, matched on (impression id, article id); NaN if absent."""
    owner = inter.candidate_rows
    keys = pd.DataFrame(
        {
            "impression_id": inter.impression_ids[owner],
            "news_id": np.asarray(catalog.articles.ids, dtype=object)[inter.candidates],
        }
    )
    unique_truth = truth.drop_duplicates(["impression_id", "news_id"])
    merged = keys.merge(unique_truth, on=["impression_id", "news_id"], how="left", sort=False)
    return merged["probability"].to_numpy(dtype=np.float64)


def slice_masks(recommender: "Recommender", inter: Interactions) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per slice: (impressions kept (n,), candidates kept (C,)) boolean masks."""
    warm_article = recommender.trained_articles()[inter.candidates]
    warm_user = recommender.trained_users(inter.user_rows)
    owner_warm = warm_user[inter.candidate_rows]
    return {s.name: s.keep(warm_user, warm_article, owner_warm) for s in SLICE_UNITS}


def _restrict(inter: Interactions, impressions: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR offsets and the flat candidate index of the kept candidates of the kept impressions."""
    keep = candidates & impressions[inter.candidate_rows]
    rows = inter.candidate_rows[keep]
    ptr = np.zeros(len(inter) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(inter)), out=ptr[1:])
    # Impressions without candidates left are dropped from the offsets entirely.
    nonempty = np.diff(ptr) > 0
    ptr = np.concatenate([[0], ptr[1:][nonempty]])
    return ptr, np.flatnonzero(keep)


def evaluate_scores(
    inter: Interactions,
    scores: np.ndarray,
    masks: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    truth: np.ndarray | None = None,
    seed: int = 0,
) -> dict:
    """Metrics of given (C,) scores beside random and oracle, overall and per slice.

    Returns ``{"model", "random", "oracle", "slices": {name: M}, "baselines": {name: {"random": M, "oracle": M}}}``.
    """
    random_scores = np.random.default_rng(seed).random(len(scores))
    has_truth = truth is not None and len(truth) == len(scores) and not np.isnan(truth).any()
    scorers = {"model": scores, "random": random_scores}
    if has_truth:
        scorers["oracle"] = truth
    full = {name: mind_metrics_csr(inter.labels, s, inter.candidate_ptr) for name, s in scorers.items()}
    result = {"model": full["model"], "random": full["random"], "oracle": full.get("oracle"), "slices": {}, "baselines": {}}
    for name, (impressions, candidates) in (masks or {}).items():
        ptr, index = _restrict(inter, impressions, candidates)
        per = {scorer: mind_metrics_csr(inter.labels[index], s[index], ptr) for scorer, s in scorers.items()}
        result["slices"][name] = per["model"]
        result["baselines"][name] = {"random": per["random"], "oracle": per.get("oracle")}
    return result


def evaluate_interactions(
    recommender: "Recommender", inter: Interactions, *, truth: np.ndarray | None = None, seed: int = 0
) -> dict:
    """Score every candidate with the model, then :func:`evaluate_scores` with the standard slices."""
    scores = recommender.score(inter)
    return evaluate_scores(inter, scores, slice_masks(recommender, inter), truth=truth, seed=seed)


def share_of_oracle(model: float | None, random: float | None, oracle: float | None) -> float | None:
    """How far the model got from random to oracle: 0 = random, 1 = oracle."""
    if model is None or random is None or oracle is None or oracle == random:
        return None
    return (model - random) / (oracle - random)
