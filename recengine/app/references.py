"""The references a training curve is read against, from the data alone (no model, no earlier run): a random
scorer's AUC on the split that picks the best epoch, and the oracle's AUC (the planted click probabilities of a
synthetic dataset), which exists for dev only.

Random is scored as :func:`recengine.eval.evaluate.evaluate_scores` scores it (uniform scores from a seeded
generator, the mean per-impression AUC); the validation split is carved as the trainer carves it
(:func:`recengine.model.interactions.carve_validation`).
"""

from __future__ import annotations

import numpy as np

from recengine.app.external import split_truth
from recengine.data.mind import Behaviors, MindDataset
from recengine.eval.evaluate import random_scores
from recengine.eval.metrics import mind_metrics_csr
from recengine.model.interactions import carve_validation


def selection_references(dataset: MindDataset, *, select_on: str, validation_fraction: float, seed: int = 0) -> dict:
    """``{"split", "random_auc", "oracle_auc", "oracle_split"}`` for a training on ``dataset``:
    ``split`` is the split the curve's AUC is measured on (validation or dev), ``random_auc`` is on that split,
    ``oracle_auc`` on dev (``oracle_split``), since only dev has the truth; None where a split or the truth is
    missing."""
    dev = dataset.dev.behaviors if dataset.dev is not None and dataset.dev.behaviors.labeled else None
    if select_on == "validation":
        train = dataset.train.behaviors
        selection = train.select(carve_validation(train.times, validation_fraction)[1]) if train.labeled else None
    else:
        selection = dev
    truth = split_truth(dataset, dev, "dev") if dev is not None else None
    oracle = None if truth is None or np.isnan(truth).any() else _auc(dev, truth)
    return {"split": select_on, "random_auc": None if selection is None else random_auc(selection, seed),
            "oracle_auc": oracle, "oracle_split": None if oracle is None else "dev"}


def random_auc(part: Behaviors, seed: int = 0) -> float | None:
    """The mean per-impression AUC of uniform random scores (seeded) over ``part``'s candidates."""
    return _auc(part, random_scores(len(part.candidates), seed))


def _auc(part: Behaviors, scores: np.ndarray) -> float | None:
    return mind_metrics_csr(part.labels, scores, part.candidate_ptr)["auc"]
