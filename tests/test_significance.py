"""Paired significance (recengine.eval.significance): identical scorers, a planted better scorer, and the
interval and p-value against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recengine.data.mind import load_dataset
from recengine.errors import InputError
from recengine.eval.metrics import METRICS, per_impression_metrics_csr
from recengine.eval.significance import RESAMPLES, mean_interval, paired_comparison


def _random_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame({m: rng.random(n) for m in METRICS})
    frame.loc[rng.random(n) < 0.2, "auc"] = np.nan  # single-class impressions have no AUC
    return frame


def test_identical_scores_give_zero_difference_an_interval_around_zero_and_p_one() -> None:
    rng = np.random.default_rng(7)
    for trial in range(25):
        n = int(rng.integers(1, 60))
        ptr = np.concatenate([[0], np.cumsum(rng.integers(1, 8, n))])
        labels = (rng.random(ptr[-1]) < 0.3).astype(np.int8)
        scores = rng.normal(size=ptr[-1]).round(int(rng.integers(0, 3)))  # rounding plants ties
        per = per_impression_metrics_csr(labels, scores, ptr)
        result = paired_comparison(per, per.copy(), resamples=200, seed=trial)
        for metric, cell in result.items():
            if cell["impressions"] == 0:
                assert cell["difference"] is None and not cell["distinguishable"], (trial, metric)
                continue
            assert cell["difference"] == 0.0, (trial, metric)
            assert cell["ci_low"] <= 0.0 <= cell["ci_high"], (trial, metric)
            assert cell["p_value"] == 1.0, (trial, metric)
            assert cell["a"] == cell["b"] and not cell["distinguishable"]


def _dev_truth(root) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dev labels, CSR offsets and each candidate's true click probability, matched by hand."""
    dev = load_dataset(root).splits["dev"].behaviors
    keys = pd.DataFrame({"impression_id": dev.impression_ids[dev.candidate_rows],
                         "news_id": dev.articles[dev.candidates]})
    truth = load_dataset(root).truth.drop_duplicates(["impression_id", "news_id"])
    probability = keys.merge(truth, on=["impression_id", "news_id"], how="left")["probability"].to_numpy()
    return dev.labels, dev.candidate_ptr, probability


def test_a_planted_better_scorer_is_significant_on_tiny(tiny_data) -> None:
    labels, ptr, probability = _dev_truth(tiny_data)
    assert not np.isnan(probability).any()
    random_scores = np.random.default_rng(3).random(len(labels))
    better = per_impression_metrics_csr(labels, probability, ptr)
    worse = per_impression_metrics_csr(labels, random_scores, ptr)
    result = paired_comparison(better, worse)
    for metric in METRICS:
        cell = result[metric]
        assert cell["difference"] > 0 and cell["ci_low"] > 0, metric
        assert cell["p_value"] < 0.01 and cell["distinguishable"], metric
        assert cell["resamples"] == RESAMPLES and cell["test"] == "wilcoxon"
    # The reverse comparison is the mirror image.
    reverse = paired_comparison(worse, better)["auc"]
    assert reverse["difference"] == pytest.approx(-result["auc"]["difference"])
    assert reverse["ci_high"] < 0


def test_the_interval_matches_an_independent_percentile_bootstrap() -> None:
    rng = np.random.default_rng(11)
    a = pd.DataFrame({"auc": rng.random(80)})
    b = pd.DataFrame({"auc": a["auc"] - 0.05 + rng.normal(0, 0.2, 80)})
    cell = paired_comparison(a, b, metrics=("auc",), resamples=4000, seed=1)["auc"]
    differences = (a["auc"] - b["auc"]).to_numpy()
    draws = np.random.default_rng(99).integers(0, 80, (20000, 80))
    means = differences[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    width = high - low
    assert cell["ci_low"] == pytest.approx(low, abs=0.05 * width)
    assert cell["ci_high"] == pytest.approx(high, abs=0.05 * width)
    assert cell["difference"] == pytest.approx(differences.mean())


def test_the_interval_is_scipys_paired_bootstrap() -> None:
    rng = np.random.default_rng(5)
    a = pd.DataFrame({"mrr": rng.random(300)})
    b = pd.DataFrame({"mrr": rng.random(300)})
    cell = paired_comparison(a, b, metrics=("mrr",), resamples=500, seed=4)["mrr"]
    direct = stats.bootstrap(
        (a["mrr"].to_numpy(), b["mrr"].to_numpy()), lambda x, y, axis: np.mean(x - y, axis=axis), paired=True,
        vectorized=True, n_resamples=500, method="percentile", rng=np.random.default_rng(4),
    ).confidence_interval
    assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((direct.low, direct.high), rel=1e-12)


def test_the_p_value_is_scipys_wilcoxon_on_the_shared_impressions() -> None:
    rng = np.random.default_rng(2)
    a, b = _random_frame(rng, 200), _random_frame(rng, 200)
    b.loc[:30, "mrr"] = a.loc[:30, "mrr"]  # ties stay in the test (zsplit)
    result = paired_comparison(a, b, resamples=100)
    for metric in METRICS:
        both = a[metric].notna() & b[metric].notna()
        expected = stats.wilcoxon(a[metric][both], b[metric][both], zero_method="zsplit").pvalue
        assert result[metric]["p_value"] == pytest.approx(expected, rel=1e-12)
        assert result[metric]["impressions"] == int(both.sum())
        assert result[metric]["a"] == pytest.approx(a[metric][both].mean())


def test_mean_interval_drops_nan_and_brackets_the_mean() -> None:
    values = np.r_[np.random.default_rng(0).normal(0.7, 0.1, 500), [np.nan] * 20]
    low, high = mean_interval(values, resamples=1000)
    mean = np.nanmean(values)
    assert low < mean < high
    sd = np.nanstd(values, ddof=1) / np.sqrt(500)
    assert high - low == pytest.approx(2 * 1.96 * sd, rel=0.15)
    assert mean_interval(np.full(5, 0.25)) == (0.25, 0.25)
    assert all(np.isnan(mean_interval(np.array([np.nan]))))


def test_bad_input_is_refused_with_one_line() -> None:
    a = pd.DataFrame({m: [0.5, 0.6] for m in METRICS})
    with pytest.raises(InputError, match="same impressions"):
        paired_comparison(a, a.iloc[:1])
    with pytest.raises(InputError, match="'hit'"):
        paired_comparison(a, a, metrics=("hit",))
    with pytest.raises(InputError, match="resamples"):
        paired_comparison(a, a, resamples=0)
    with pytest.raises(InputError, match="confidence"):
        mean_interval(np.ones(3), confidence=1.5)


def test_the_retrieval_dual_evaluation_compares_with_and_without_retrieved_users(tiny_data, tiny_cache) -> None:
    from recengine.config import ModelConfig, RunConfig, TrainConfig
    from recengine.train.api import train_run

    config = RunConfig(ModelConfig(embedder="hashing", dim=32, user_retrieval=5), TrainConfig(epochs=1))
    retrieval = train_run(tiny_data, config, cache=tiny_cache).meta["retrieval"]
    paired = retrieval["significance"]
    assert paired["resamples"] == RESAMPLES and paired["test"] == "wilcoxon (zsplit)"
    for metric in METRICS:
        cell = paired["metrics"][metric]
        # The paired means are the dual evaluation's own figures, with retrieval (a) and without (b).
        assert cell["a"] == pytest.approx(retrieval["with"][metric], abs=1e-9)
        assert cell["b"] == pytest.approx(retrieval["without"][metric], abs=1e-9)
        assert cell["ci_low"] <= cell["difference"] <= cell["ci_high"]
