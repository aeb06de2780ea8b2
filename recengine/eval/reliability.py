"""Reliability of click probabilities: a reliability curve and the expected calibration error (ECE).

Candidates are sorted by predicted probability and cut into :data:`BINS` **equal-mass** bins (each holds the same
number of candidates, give or take one; ties keep candidate order). Click probabilities sit mostly near the click
rate (a few percent), so equal-width bins on [0, 1] would leave nearly everything in the first bin.

Per bin: the mean predicted probability, the mean true click probability (known only in the synthetic world) and
the observed click rate (all real data has). ECE = sum over bins of (bin share of candidates) x |mean predicted -
mean target|, with the target either the truth ("vs truth") or the clicks ("vs observed"). ECE vs observed also
holds the noise of the clicks drawn, so even a perfect predictor scores above 0 on it; ECE vs truth does not.
"""

from __future__ import annotations

import numpy as np

from recengine.model.calibration import Calibration

BINS = 10
BINNING = "equal-mass"


def _bins(predicted: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(the candidate order by prediction, ascending, ties in candidate order; the bin boundaries in that order):
    equal-mass bins, none empty."""
    order = np.argsort(predicted, kind="stable")
    n_bins = min(bins, len(order))
    # np.array_split's sizes: the first n % bins bins hold one more.
    sizes = np.full(n_bins, len(order) // n_bins if n_bins else 0) + (np.arange(n_bins) < (len(order) % max(n_bins, 1)))
    return order, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def expected_calibration_error(predicted: np.ndarray, target: np.ndarray, *, bins: int = BINS) -> float | None:
    """ECE of ``predicted`` (n,) probabilities against ``target`` (n,) (true probabilities or 0/1 clicks) over
    equal-mass bins; None for no candidates."""
    predicted, target = np.asarray(predicted, dtype=np.float64), np.asarray(target, dtype=np.float64)
    order, bounds = _bins(predicted, bins)
    return _ece(predicted[order], target[order], bounds)


def _ece(predicted: np.ndarray, target: np.ndarray, bounds: np.ndarray) -> float | None:
    """ECE of predictions and targets already in bin order, bins given by their boundaries."""
    if len(bounds) < 2:
        return None
    gaps = [(stop - start) * abs(predicted[start:stop].mean() - target[start:stop].mean())
            for start, stop in zip(bounds[:-1], bounds[1:])]
    return float(np.sum(gaps) / len(predicted))


def reliability_curve(
    predicted: np.ndarray, labels: np.ndarray, truth: np.ndarray | None = None, *, bins: int = BINS
) -> dict:
    """The curve and both ECEs of ``predicted`` (n,) click probabilities against ``labels`` (n,) 0/1 and, when
    given and fully known, ``truth`` (n,) true click probabilities (else every truth figure is None).

    Returns ``{"bins": [{"candidates", "low", "high", "predicted", "truth", "observed"}], "ece_vs_truth",
    "ece_vs_observed", "candidates"}``; low/high are the bin's smallest and largest prediction."""
    known = truth is not None and len(truth) == len(predicted) and not np.isnan(truth).any()
    order, bounds = _bins(np.asarray(predicted, dtype=np.float64), bins)  # sorted once for the curve and both ECEs
    predicted = np.asarray(predicted, dtype=np.float64)[order]
    observed = np.asarray(labels, dtype=np.float64)[order]
    truth = np.asarray(truth, dtype=np.float64)[order] if known else None
    rows = [
        {"candidates": int(stop - start), "low": float(predicted[start]), "high": float(predicted[stop - 1]),
         "predicted": float(predicted[start:stop].mean()),
         "truth": float(truth[start:stop].mean()) if known else None,
         "observed": float(observed[start:stop].mean())}
        for start, stop in zip(bounds[:-1], bounds[1:])
    ]
    return {
        "bins": rows,
        "ece_vs_truth": _ece(predicted, truth, bounds) if known else None,
        "ece_vs_observed": _ece(predicted, observed, bounds),
        "candidates": int(len(predicted)),
    }


def reliability_report(
    logits: np.ndarray, calibration: Calibration, labels: np.ndarray, truth: np.ndarray | None = None,
    *, bins: int = BINS,
) -> dict:
    """Reliability of the raw sigmoid of the logits and of the run's Platt calibration (None when the run has
    none fitted): ``{"raw": curve, "calibrated": curve or None, "bins", "binning", "calibration"}``."""
    raw = Calibration().probabilities(logits)
    calibrated = calibration.probabilities(logits) if calibration.candidates > 0 else None
    return {
        "raw": reliability_curve(raw, labels, truth, bins=bins),
        "calibrated": None if calibrated is None else reliability_curve(calibrated, labels, truth, bins=bins),
        "bins": bins,
        "binning": BINNING,
        "calibration": calibration.to_dict(),
    }
