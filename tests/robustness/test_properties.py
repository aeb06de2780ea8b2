"""Properties of the metrics that tests/test_metrics.py does not state: on tie-free impressions every metric
depends on the order of the scores only (any relabelling that keeps the order, any shuffle of the candidates, any
order of the impressions), a perfect ranking scores the maximum, and a non-click appended below every candidate
leaves MRR and nDCG unchanged and never lowers AUC.

Already in tests/test_metrics.py: bounded in [0, 1], AUC independent of candidate order with ties, equal to the
official scorer on tie-free input (bit for bit) and to sklearn's AUC with ties. The MIND reader/writer round trips
are in tests/test_mind.py; arbitrary bytes and garbage lines are in test_bad_data_files.py.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recengine.eval.metrics import METRICS, mind_metrics, per_impression_metrics_csr

SCORE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def impression(draw, min_size: int = 0):
    length = draw(st.integers(min_size, 20))
    labels = draw(st.lists(st.integers(0, 1), min_size=length, max_size=length))
    scores = draw(st.lists(SCORE, min_size=length, max_size=length, unique=True))
    return labels, scores


IMPRESSIONS = st.lists(impression(), max_size=10)


def per_impression(pairs) -> dict[str, list[float]]:
    labels = np.array([v for ls, _ in pairs for v in ls], dtype=np.int64)
    scores = np.array([v for _, ss in pairs for v in ss], dtype=np.float64)
    ptr = np.cumsum([0] + [len(ls) for ls, _ in pairs])
    frame = per_impression_metrics_csr(labels, scores, ptr)
    return {name: frame[name].tolist() for name in METRICS}


def same(a: dict[str, list[float]], b: dict[str, list[float]]) -> bool:
    return all(
        len(a[n]) == len(b[n]) and all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a[n], b[n]))
        for n in METRICS
    )


def ranks(scores: list[float]) -> list[float]:
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    out = [0.0] * len(scores)
    for rank, i in enumerate(order):
        out[i] = float(rank)
    return out


@settings(max_examples=150, deadline=None)
@given(IMPRESSIONS, st.sampled_from(["ranks", "times4", "negate_twice", "cube"]))
def test_only_the_order_of_the_scores_matters(pairs, transform):
    change = {
        "ranks": ranks,
        "times4": lambda s: [4.0 * v for v in s],  # exact in binary floating point
        "negate_twice": lambda s: [-(-v) for v in s],
        "cube": lambda s: [float(np.cbrt(v)) for v in ranks(s)],  # strictly increasing on distinct ranks
    }[transform]
    assert same(per_impression(pairs), per_impression([(ls, change(ss)) for ls, ss in pairs]))


@settings(max_examples=150, deadline=None)
@given(IMPRESSIONS, st.randoms(use_true_random=False))
def test_shuffling_the_candidates_changes_nothing_without_ties(pairs, random):
    shuffled = []
    for labels, scores in pairs:
        order = list(range(len(labels)))
        random.shuffle(order)
        shuffled.append(([labels[i] for i in order], [scores[i] for i in order]))
    assert same(per_impression(pairs), per_impression(shuffled))


@settings(max_examples=150, deadline=None)
@given(IMPRESSIONS, st.randoms(use_true_random=False))
def test_the_order_of_the_impressions_does_not_matter(pairs, random):
    shuffled = list(pairs)
    random.shuffle(shuffled)
    before, after = mind_metrics(pairs), mind_metrics(shuffled)
    assert (before["impressions"], before["skipped"]) == (after["impressions"], after["skipped"])
    for name in METRICS:
        assert (before[name] is None) == (after[name] is None)
        if before[name] is not None:
            assert math.isclose(before[name], after[name], rel_tol=1e-12, abs_tol=1e-15)


@settings(max_examples=150, deadline=None)
@given(st.lists(impression(min_size=1), min_size=1, max_size=10))
def test_a_perfect_ranking_scores_the_maximum(pairs):
    """Clicks above non-clicks: AUC and nDCG are 1; MRR is the mean of 1/1 .. 1/c over the c clicks (1 for one
    click: MIND's MRR averages the reciprocal rank of every clicked candidate)."""
    perfect = [(labels, [label + 0.001 * i for i, label in enumerate(labels)]) for labels, _ in pairs]
    got = per_impression(perfect)
    for i, (labels, _) in enumerate(perfect):
        clicks = sum(labels)
        if 0 < clicks < len(labels):
            assert got["auc"][i] == 1.0
        if clicks:
            assert got["ndcg@5"][i] == got["ndcg@10"][i] == 1.0
            assert math.isclose(got["mrr"][i], sum(1 / r for r in range(1, clicks + 1)) / clicks, rel_tol=1e-12)


@settings(max_examples=150, deadline=None)
@given(IMPRESSIONS)
def test_a_non_click_below_every_candidate(pairs):
    lowered = [(labels + [0], scores + [min(scores, default=0.0) - 1.0]) for labels, scores in pairs]
    before, after = per_impression(pairs), per_impression(lowered)
    for name in ("mrr", "ndcg@5", "ndcg@10"):
        for x, y in zip(before[name], after[name]):
            assert (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-12), name
    for (labels, _), x, y in zip(pairs, before["auc"], after["auc"]):
        if math.isnan(x):  # single-class before: defined now only if it had clicks
            assert math.isnan(y) == (sum(labels) == 0)
        else:
            assert y >= x - 1e-12
