"""Each name is declared once: the schema's choices, the implementations behind them, metrics and slices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recengine import config
from recengine.eval.compare import RESULT_COLUMNS, result_row
from recengine.eval.evaluate import SLICE_UNITS, SLICES, evaluate_scores
from recengine.eval.metrics import METRIC_LABELS, METRIC_UNITS, METRICS, mind_metrics
from recengine.model.network import FUSION_MODULES
from recengine.text import BACKENDS, get_embedder


def test_every_fusion_name_has_exactly_one_module():
    assert sorted(FUSION_MODULES) == sorted(config.FUSIONS)
    views = torch.randn(3, 2, 8)
    for name, module in FUSION_MODULES.items():
        fused, _ = module(2, 8)(views)
        assert fused.shape == (3, 8), name


def test_every_embedder_name_builds_the_backend_of_that_name(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # building makes no request; the key only has to exist
    assert sorted(BACKENDS) == sorted(config.EMBEDDERS)
    for name in config.EMBEDDERS:
        assert get_embedder(name).backend == name


def test_metric_units_are_what_every_result_reports():
    assert len(set(METRICS)) == len(METRICS) == len(METRIC_UNITS)
    assert set(METRIC_LABELS) == set(METRICS)
    # One impression, click ranked second of three: AUC 0.5, MRR 1/2, nDCG 1/log2(3) at both cut-offs.
    result = mind_metrics([([0, 1, 0], [0.9, 0.5, 0.1])])
    # P@k divides the one click by k; R@k is 1 (the click is in the top 3).
    expected = {"auc": 0.5, "mrr": 0.5, "ndcg@5": 1 / np.log2(3), "ndcg@10": 1 / np.log2(3),
                "p@5": 1 / 5, "p@10": 1 / 10, "r@5": 1.0, "r@10": 1.0}
    assert {name: result[name] for name in METRICS} == pytest.approx(expected)
    assert RESULT_COLUMNS[: len(METRICS)] == METRICS


def test_slice_units_cut_the_impressions_they_describe():
    from recengine.model.interactions import Interactions

    # Two impressions: a warm user with a trained and an untrained candidate, a cold user with the same two.
    inter = Interactions(
        impression_ids=np.array([1, 2]), user_ids=np.array(["u1", "u2"], dtype=object), user_rows=np.array([0, -1]),
        times=np.array([0, 0]), history_ptr=np.zeros(3, dtype=np.int64), history=np.zeros(0, dtype=np.int64),
        candidate_ptr=np.array([0, 2, 4]), candidates=np.array([0, 1, 0, 1]), labels=np.array([1, 0, 0, 1], dtype=np.int8),
    )
    warm_user, warm_article = np.array([True, False]), np.array([True, False, True, False])
    masks = {s.name: s.keep(warm_user, warm_article, warm_user[inter.candidate_rows]) for s in SLICE_UNITS}
    assert [name for name in masks] == list(SLICES)
    kept = {name: (imps.tolist(), cands.tolist()) for name, (imps, cands) in masks.items()}
    assert kept == {
        "warm": ([True, False], [True, False, False, False]),
        "new_articles": ([True, True], [False, True, False, True]),
        "cold_users": ([False, True], [False, False, True, True]),
    }
    metrics = evaluate_scores(inter, np.array([0.9, 0.1, 0.2, 0.8]), masks)
    row = result_row({}, metrics)
    assert RESULT_COLUMNS[len(METRICS) : len(METRICS) + len(SLICES)] == tuple(f"{name}_auc" for name in SLICES)
    assert row["auc"] == 1.0 and set(metrics["slices"]) == set(SLICES)
