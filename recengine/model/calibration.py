"""Click probabilities from logits: Platt scaling, p = sigmoid(scale * logit + shift).

A listwise or InfoNCE loss only cares about the order of an impression's logits, so their
level is arbitrary and the raw sigmoid means nothing (it often sits near 1.0). After
training, two numbers are fitted by maximum likelihood on training impressions; being
monotone, the map changes no ranking metric, and no dev data is used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Calibration:
    scale: float = 1.0
    shift: float = 0.0
    candidates: int = 0  # how many candidates it was fitted on (0: identity, never fitted)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """(n,) click probabilities for (n,) logits."""
        z = self.scale * np.asarray(logits, dtype=np.float64) + self.shift
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Calibration":
        return cls(**data) if data else cls()


def fit_platt(logits: np.ndarray, labels: np.ndarray, iterations: int = 100) -> Calibration:
    """Maximum-likelihood (scale, shift) by Newton's method on the logistic log-likelihood.

    logits (n,) and labels (n,) in {0, 1}. A tiny ridge keeps the Hessian invertible when the
    logits are constant (a saturated model): the fit then falls back to the base rate.
    """
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(x) == 0 or y.min() == y.max():
        return Calibration()
    x_mean, x_std = x.mean(), x.std() or 1.0
    u = (x - x_mean) / x_std  # standardised for a well-conditioned Newton step
    params = np.array([0.0, np.log(y.mean() / (1 - y.mean()))])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(params[0] * u + params[1])))
        w = p * (1 - p)
        gradient = np.array([np.dot(p - y, u), np.sum(p - y)])
        hessian = np.array([[np.dot(w, u * u), np.dot(w, u)], [np.dot(w, u), w.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        params -= step
        if np.abs(step).max() < 1e-10:
            break
    scale = params[0] / x_std
    return Calibration(scale=float(scale), shift=float(params[1] - scale * x_mean), candidates=len(x))


def calibrate(recommender, inter, *, seed: int = 0, max_impressions: int = 20_000) -> Calibration:
    """Fit the calibration of ``recommender`` on (a sample of) the given training impressions."""
    if len(inter) > max_impressions:
        inter = inter.select(np.sort(np.random.default_rng(seed).choice(len(inter), size=max_impressions, replace=False)))
    return fit_platt(recommender.score(inter), inter.labels)
