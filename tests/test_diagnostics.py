"""Diagnostics: logit/sigmoid report on hand-made arrays, gradient norms, fusion weights, and the seeds/001
saturation reproduced by real training on the tiny preset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recengine import diagnostics as D
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import load_dataset
from recengine.data.synthetic import generate
from recengine.errors import InputError
from recengine.text import get_embedder
from recengine.train.api import train_run
from recengine.train.runs import load_run
from recengine.train.trainer import Trainer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "tiny"
    generate("tiny", 0, folder)
    return folder


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    config = RunConfig(ModelConfig(fusion="attention", embedder="hashing"), TrainConfig(epochs=1))
    out = tmp_path_factory.mktemp("runs") / "run"
    # Module-scoped, so conftest's per-test home is not set yet: keep the embedding cache out of the checkout.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECENGINE_HOME", str(tmp_path_factory.mktemp("home")))
        return train_run(tiny, config, out=out, embedder=get_embedder("hashing"))


# ------------------------------------------------------------------------------------------ logit_report

# Logits far from every threshold, so each one's class is plain arithmetic:
# sigmoid(-200) underflows to exactly 0.0 in float32, sigmoid(20) and sigmoid(100) round to exactly 1.0,
# sigmoid(-20) = 2e-9 is saturated but not 0.0; -3, 0 and 3 give 0.047, 0.5 and 0.953.
SCORES = np.array([-200.0, -20.0, -3.0, 0.0, 3.0, 20.0, 100.0, np.nan])
LABELS = np.array([0, 0, 1, 0, 1, 0, 1, 1], dtype=np.int8)


def test_logit_report_shares_and_counts():
    report = D.logit_report(SCORES, LABELS, bins=3)
    assert report["candidates"] == 8
    assert report["non_finite"] == 1
    assert (report["clicks"], report["non_clicks"]) == (3, 4)
    # Of the 7 finite logits: -200, -20 below 0.01; 20, 100 above 0.99; -200 pinned at 0; 20, 100 at 1.
    assert report["saturated_share"] == pytest.approx(4 / 7)
    assert report["saturated_low_share"] == pytest.approx(2 / 7)
    assert report["saturated_high_share"] == pytest.approx(2 / 7)
    assert report["pinned_share"] == pytest.approx(3 / 7)
    assert report["pinned_one_share"] == pytest.approx(2 / 7)
    assert report["pinned_zero_share"] == pytest.approx(1 / 7)
    logits = report["logits"]
    assert logits["all"]["min"] == -200.0 and logits["all"]["max"] == 100.0
    assert logits["all"]["mean"] == pytest.approx(-100 / 7)
    assert logits["clicks"]["mean"] == pytest.approx(100 / 3)
    assert logits["non_clicks"]["percentiles"]["p50"] == pytest.approx(-10.0)
    assert report["sigmoid"]["clicks"]["max"] == 1.0
    assert report["thresholds"]["logit_high"] == pytest.approx(math.log(99))


def test_logit_report_histograms():
    report = D.logit_report(SCORES, LABELS, bins=3)
    logits = report["histograms"]["logits"]
    # Three equal bins over [-200, 100]: [-200, -100), [-100, 0), [0, 100].
    np.testing.assert_allclose(logits["edges"], [-200, -100, 0, 100])
    assert list(logits["clicks"]) == [0, 1, 2]  # -3 | 3, 100
    assert list(logits["non_clicks"]) == [1, 1, 2]  # -200 | -20 | 0, 20
    sigmoid = report["histograms"]["sigmoid"]
    np.testing.assert_allclose(sigmoid["edges"], [0, 1 / 3, 2 / 3, 1])
    assert list(sigmoid["clicks"]) == [1, 0, 2]  # 0.047 | - | 0.953, 1.0
    assert list(sigmoid["non_clicks"]) == [2, 1, 1]  # 0.0, 2e-9 | 0.5 | 1.0


def test_logit_report_empty_and_bad_input():
    empty = D.logit_report(np.array([]), np.array([]))
    assert empty["candidates"] == 0 and empty["saturated_share"] is None
    assert empty["logits"]["all"]["mean"] is None
    assert empty["histograms"]["logits"]["clicks"].sum() == 0
    with pytest.raises(InputError, match="one length"):
        D.logit_report(np.zeros(3), np.zeros(2))
    with pytest.raises(InputError, match="bins"):
        D.logit_report(np.zeros(3), np.zeros(3), bins=0)


def test_gradient_norms_from_history():
    history = [
        {"epoch": 1, "train_loss": 1.0, "grad_norms": {"text": 1.5, "fusion": 0.25}},
        {"epoch": 2, "train_loss": 0.9, "grad_norms": {"text": 0.5}},
    ]
    frame = D.gradient_norms(history)
    assert list(frame.index) == [1, 2] and frame.index.name == "epoch"
    assert sorted(frame.columns) == ["fusion", "text"]
    assert frame.loc[1, "text"] == 1.5 and frame.loc[1, "fusion"] == 0.25 and frame.loc[2, "text"] == 0.5
    assert math.isnan(frame.loc[2, "fusion"])
    assert D.gradient_norms([]).empty


def test_data_statistics(tiny):
    dataset = load_dataset(tiny)
    stats = D.data_statistics(dataset)
    for name, split in dataset.splits.items():
        labels = split.behaviors.labels
        assert stats["click_rate"][name] == pytest.approx((labels == 1).sum() / len(labels), abs=1e-6)
        assert len(stats["history_lengths"][name]) == len(split.behaviors)
    assert stats["categories"].sum() == len(dataset.news)
    assert list(stats["categories"]) == sorted(stats["categories"], reverse=True)


# ------------------------------------------------------------------------------------------ one run


def test_run_diagnostics_of_a_trained_and_a_loaded_run(tiny, trained):
    report = D.run_diagnostics(trained)
    dev = load_dataset(tiny).dev.behaviors
    clicks, candidates = int((dev.labels == 1).sum()), len(dev.labels)
    balance = report["label_balance"]
    # Every tiny dev candidate names an article of news.tsv, so nothing is dropped.
    assert (balance["clicks"], balance["candidates"], balance["impressions"]) == (clicks, candidates, len(dev))
    assert balance["click_rate"] == pytest.approx(clicks / candidates)
    assert report["logits"]["candidates"] == candidates
    weights = report["fusion_weights"]
    assert list(weights.index) == ["id", "text", "graph"]
    assert weights["all"].sum() == pytest.approx(1.0, abs=1e-5)  # attention weights are a softmax over views
    assert weights.attrs["articles"]["new"] > 0  # tiny's dev has articles published after training
    assert weights["new"].sum() == pytest.approx(1.0, abs=1e-5)
    assert list(report["gradient_norms"].index) == [1]
    assert report["coverage"]["text_coverage"] == 1.0 and report["coverage"]["text_warning"] is None

    loaded = D.run_diagnostics(load_run(trained.path, embedder=get_embedder("hashing")))
    assert loaded["logits"]["candidates"] == candidates
    assert loaded["logits"]["logits"]["all"]["mean"] == pytest.approx(report["logits"]["logits"]["all"]["mean"], rel=1e-4)
    # The calibrated report uses the run's fitted calibration (not the identity) for a trained and a loaded run,
    # and its click probabilities average near the split's click rate.
    for diagnosed in (report, loaded):
        fit = diagnosed["calibration"]
        assert fit == trained.result.recommender.calibration.to_dict() and fit["candidates"] > 0
        calibrated = diagnosed["calibrated"]["logits"]["all"]["mean"]
        assert calibrated == pytest.approx(fit["scale"] * diagnosed["logits"]["logits"]["all"]["mean"] + fit["shift"], rel=1e-4)
        assert 0.01 < 1 / (1 + math.exp(-calibrated)) < 0.1  # tiny's click rate is about 0.04


def test_fusion_weights_for_concat_give_a_reason(trained):
    concat = RunConfig(ModelConfig(fusion="concat", embedder="hashing"), TrainConfig(epochs=1))
    model = Trainer(trained.prepared, concat).evaluation_model()
    frame = D.fusion_weights(model)
    assert frame.empty and "concat" in frame.attrs["reason"]


# ------------------------------------------------------------------------------------------ seeds/001


def test_saturation_reproduces_seeds_001_and_the_fix(tiny):
    demo = D.saturation_demo(tiny, epochs=3, embedder=get_embedder("hashing"))
    broken, fixed = demo["broken"], demo["fixed"]
    # Nearly every sigmoid sits at exactly 1.0, so BCE on a non-click takes log(0), clamped to -100: the loss
    # is 100 x the non-clicks' weight share (50 here) and no gradient flows, so it never moves.
    assert len(broken["loss"]) == 3
    assert all(abs(loss - broken["loss"][0]) < 1e-3 for loss in broken["loss"])
    assert broken["loss"][0] > 40
    assert broken["after"]["pinned_share"] > 0.9
    assert len(set(broken["valid_auc"])) == 1  # nothing learned
    assert fixed["loss"][-1] < 0.9 * fixed["loss"][0]
    assert fixed["after"]["saturated_share"] < 0.1
    assert max(fixed["saturated_share"]) < 0.1
    assert set(demo) == {"broken", "x10", "fixed"}
