"""Reliability curve and expected calibration error: against values worked out by hand, the perfectly
calibrated predictor, and the report a run's evaluation carries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recengine.eval.reliability import expected_calibration_error, reliability_curve, reliability_report
from recengine.model.calibration import Calibration


def test_ece_matches_a_hand_computed_value_on_equal_mass_bins():
    predicted = np.array([0.4, 0.1, 0.3, 0.2, 0.9])
    clicks = np.array([1, 0, 1, 0, 1])
    # Two equal-mass bins of the sorted predictions: {0.1, 0.2, 0.3} (clicks 0, 0, 1) and {0.4, 0.9} (1, 1).
    # |0.2 - 1/3| * 3/5 + |0.65 - 1| * 2/5 = 0.08 + 0.14 = 0.22.
    assert expected_calibration_error(predicted, clicks, bins=2) == pytest.approx(0.22)
    curve = reliability_curve(predicted, clicks, bins=2)
    assert [b["candidates"] for b in curve["bins"]] == [3, 2]
    assert [b["predicted"] for b in curve["bins"]] == pytest.approx([0.2, 0.65])
    assert [b["observed"] for b in curve["bins"]] == pytest.approx([1 / 3, 1.0])
    assert [(b["low"], b["high"]) for b in curve["bins"]] == [(0.1, 0.3), (0.4, 0.9)]
    assert curve["ece_vs_observed"] == pytest.approx(0.22)
    assert curve["ece_vs_truth"] is None and curve["bins"][0]["truth"] is None


def test_ece_against_the_truth_by_hand_and_zero_for_a_perfect_predictor():
    truth = np.array([0.05, 0.02, 0.3, 0.1])
    predicted = np.array([0.1, 0.0, 0.2, 0.2])
    clicks = np.array([0, 0, 1, 0])
    # Two bins by prediction: {0.0, 0.1} (truth 0.02, 0.05) and {0.2, 0.2} (truth 0.3, 0.1, in candidate order).
    # |0.05 - 0.035| / 2 + |0.2 - 0.2| / 2 = 0.0075.
    curve = reliability_curve(predicted, clicks, truth, bins=2)
    assert curve["ece_vs_truth"] == pytest.approx(0.0075)
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.beta(0.5, 10, size=int(rng.integers(1, 500)))
        y = (rng.random(len(p)) < p).astype(int)
        perfect = reliability_curve(p, y, p, bins=int(rng.integers(1, 30)))
        assert perfect["ece_vs_truth"] == 0.0
        assert perfect["ece_vs_observed"] >= 0.0


def test_no_candidates_and_partly_known_truth():
    empty = reliability_curve(np.zeros(0), np.zeros(0))
    assert empty["bins"] == [] and empty["ece_vs_observed"] is None
    # A truth with holes is not used at all rather than compared on part of the candidates.
    holes = reliability_curve(np.array([0.1, 0.2]), np.array([0, 1]), np.array([0.1, np.nan]))
    assert holes["ece_vs_truth"] is None


def test_report_compares_the_raw_sigmoid_and_the_fitted_calibration():
    logits = np.array([-3.0, -1.0, 0.5, 2.0, 4.0, -2.0])
    labels = np.array([0, 0, 1, 1, 1, 0])
    fitted = Calibration(scale=0.5, shift=-1.0, candidates=100)
    report = reliability_report(logits, fitted, labels, bins=3)
    sigmoid = 1 / (1 + np.exp(-logits))
    assert report["raw"] == reliability_curve(sigmoid, labels, bins=3)
    calibrated = 1 / (1 + np.exp(-(0.5 * logits - 1.0)))
    assert report["calibrated"]["ece_vs_observed"] == pytest.approx(
        expected_calibration_error(calibrated, labels, bins=3))
    assert report["binning"] == "equal-mass" and report["bins"] == 3
    assert reliability_report(logits, Calibration(), labels)["calibrated"] is None  # never fitted


def test_a_trained_runs_evaluation_reports_reliability_vs_truth(tiny_run: Path, tiny_cache):
    from recengine.train.api import evaluate_run

    report = evaluate_run(tiny_run, cache=tiny_cache)["reliability"]
    for kind in ("raw", "calibrated"):
        curve = report[kind]
        assert curve["ece_vs_truth"] is not None and 0 <= curve["ece_vs_truth"] <= 1
        assert sum(b["candidates"] for b in curve["bins"]) == curve["candidates"]
    # Platt scaling fitted on held-out clicks brings the probabilities nearer the truth than the raw sigmoid.
    assert report["calibrated"]["ece_vs_truth"] < report["raw"]["ece_vs_truth"]
