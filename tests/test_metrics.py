"""recengine.eval.metrics against the official MIND scorer's definitions, hand-computed cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from recengine.errors import InputError
from recengine.eval import metrics
from recengine.eval.metrics import METRICS, mind_metrics, mind_metrics_csr, per_impression_metrics_csr

# --------------------------------------------------------------------------- the official scorer
# dcg_score / ndcg_score / mrr_score as in MIND's evaluate.py, and its conversions (labels as float32).


def official_dcg(y_true, y_score, k=10):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order[:k])
    gains = 2**y_true - 1
    discounts = np.log2(np.arange(len(y_true)) + 2)
    return np.sum(gains / discounts)


def official_ndcg(y_true, y_score, k=10):
    best = official_dcg(y_true, y_true, k)
    actual = official_dcg(y_true, y_score, k)
    return actual / best


def official_mrr(y_true, y_score):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order)
    rr_score = y_true / (np.arange(len(y_true)) + 1)
    return np.sum(rr_score) / np.sum(y_true)


def top_k_clicks(y_true, y_score, k):
    """Clicks among the top k in the official scorer's order (not an official metric: P@k and R@k build on it)."""
    return int(np.take(y_true, np.argsort(y_score)[::-1][:k]).sum())


def official_per_impression(labels, scores) -> dict[str, float]:
    """The official numbers of one impression (and P@k, R@k in its ranking order); NaN where undefined."""
    y_true = np.array(labels, dtype="float32")
    y_score = [float(s) for s in scores]
    clicks = int(y_true.sum())
    nan = float("nan")
    return {
        "auc": roc_auc_score(y_true, y_score) if 0 < clicks < len(y_true) else nan,
        "mrr": official_mrr(y_true, y_score) if clicks else nan,
        "ndcg@5": official_ndcg(y_true, y_score, 5) if clicks else nan,
        "ndcg@10": official_ndcg(y_true, y_score, 10) if clicks else nan,
        **{f"p@{k}": top_k_clicks(y_true, y_score, k) / k if clicks else nan for k in (5, 10)},
        **{f"r@{k}": top_k_clicks(y_true, y_score, k) / clicks if clicks else nan for k in (5, 10)},
    }


def official_metrics(pairs) -> dict:
    """Plain means over the impressions where each metric is defined, as the official scorer's np.mean."""
    per = [official_per_impression(labels, scores) for labels, scores in pairs]
    result = {}
    for name in METRICS:
        values = [p[name] for p in per if not math.isnan(p[name])]
        result[name] = float(np.mean(values)) if values else None
    result["impressions"] = len(per)
    result["skipped"] = sum(math.isnan(p["auc"]) for p in per)
    return result


def to_csr(pairs):
    labels = [v for ls, _ in pairs for v in ls]
    scores = [v for _, ss in pairs for v in ss]
    ptr = [0]
    for ls, _ in pairs:
        ptr.append(ptr[-1] + len(ls))
    return np.array(labels, dtype=np.int64), np.array(scores, dtype=np.float64), np.array(ptr, dtype=np.int64)


# --------------------------------------------------------------------------- hand-computed


def test_hand_computed_impression():
    # Order by score: c1 (0.9, click), c2 (0.4), c3 (0.3, click), c0 (0.1): clicks at ranks 1 and 3.
    # AUC: click/non-click pairs (0.9>0.1, 0.9>0.4, 0.3>0.1, 0.3<0.4) -> 3 of 4 = 0.75.
    # MRR: (1/1 + 1/3) / 2 = 2/3.
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1/log2(2) + 1/log2(3); 4 candidates, so @5 = @10.
    result = mind_metrics([([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3])])
    ndcg = 1.5 / (1 + 1 / math.log2(3))
    assert result["auc"] == 0.75
    assert result["mrr"] == pytest.approx(2 / 3, abs=1e-15)
    assert result["ndcg@5"] == pytest.approx(ndcg, abs=1e-15)
    assert result["ndcg@10"] == pytest.approx(ndcg, abs=1e-15)
    assert (result["impressions"], result["skipped"]) == (1, 0)


def test_hand_computed_precision_and_recall():
    # 12 candidates in score order, clicks at ranks 2, 5 and 11: top 5 holds 2 clicks, top 10 the same 2.
    labels = [0] * 12
    labels[1] = labels[4] = labels[10] = 1
    result = mind_metrics([(labels, list(range(12, 0, -1)))])
    assert (result["p@5"], result["p@10"]) == (2 / 5, 2 / 10)
    assert (result["r@5"], result["r@10"]) == (2 / 3, 2 / 3)
    # Three candidates, one click at rank 3: P@5 = 1/5 (divisor k), R@5 = 1; no click: undefined, left out.
    short = mind_metrics([([0, 0, 1], [3.0, 2.0, 1.0]), ([0, 0], [1.0, 2.0])])
    assert (short["p@5"], short["r@5"], short["p@10"]) == (1 / 5, 1.0, 1 / 10)


def test_hand_computed_cutoffs():
    # 12 candidates, scores 12..1 in order, one click on the 6th: rank 6.
    # AUC: the click beats the 6 non-clicks below it, of 11 -> 6/11. MRR = 1/6.
    # nDCG@5 = 0 (the click is below the cut); nDCG@10 = (1/log2(7)) / (1/log2(2)) = 1/log2(7).
    labels = [0] * 12
    labels[5] = 1
    result = mind_metrics([(labels, list(range(12, 0, -1)))])
    assert result["auc"] == pytest.approx(6 / 11, abs=1e-15)
    assert result["mrr"] == pytest.approx(1 / 6, abs=1e-15)
    assert result["ndcg@5"] == 0.0
    assert result["ndcg@10"] == pytest.approx(1 / math.log2(7), abs=1e-15)


def test_ties_count_half_for_auc_and_keep_input_order_for_ranking():
    # Equal scores: AUC counts the pair half -> 0.5. For MRR/nDCG the earlier candidate (the non-click)
    # ranks first, so the click is at rank 2: MRR = 1/2, nDCG = (1/log2(3)) / 1.
    result = mind_metrics([([0, 1], [0.5, 0.5])])
    assert result["auc"] == 0.5
    assert result["mrr"] == 0.5
    assert result["ndcg@10"] == pytest.approx(1 / math.log2(3), abs=1e-15)
    # Reversed input order: the click comes first now, rank 1.
    flipped = mind_metrics([([1, 0], [0.5, 0.5])])
    assert (flipped["auc"], flipped["mrr"], flipped["ndcg@10"]) == (0.5, 1.0, 1.0)


def test_single_class_and_no_click_impressions_are_skipped_and_counted():
    pairs = [
        ([1, 1], [0.2, 0.1]),  # all clicked: no AUC; MRR (1 + 1/2) / 2 = 0.75, nDCG 1
        ([0, 0, 0], [0.3, 0.4, 0.1]),  # no click: no AUC, no MRR, no nDCG
        ([], []),  # no candidates: nothing is defined
        ([1, 0], [0.9, 0.1]),  # AUC 1, MRR 1, nDCG 1
    ]
    result = mind_metrics(pairs)
    assert result == {
        "auc": 1.0,
        "mrr": (0.75 + 1.0) / 2,
        "ndcg@5": 1.0,
        "ndcg@10": 1.0,
        "p@5": (2 / 5 + 1 / 5) / 2,  # the divisor is k even for 2 candidates
        "p@10": (2 / 10 + 1 / 10) / 2,
        "r@5": 1.0,
        "r@10": 1.0,
        "impressions": 4,
        "skipped": 3,
    }
    frame = per_impression_metrics_csr(*to_csr(pairs))
    assert list(frame.columns) == list(METRICS)
    assert frame["auc"].isna().tolist() == [True, True, True, False]
    assert frame["mrr"].isna().tolist() == [False, True, True, False]


def test_nothing_qualifies_gives_none():
    assert mind_metrics([]) == dict.fromkeys(METRICS) | {"impressions": 0, "skipped": 0}
    assert mind_metrics([([0, 0], [1.0, 2.0])]) == dict.fromkeys(METRICS) | {"impressions": 1, "skipped": 1}
    only_clicks = mind_metrics([([1], [3.0])])
    assert only_clicks["auc"] is None
    assert (only_clicks["mrr"], only_clicks["ndcg@5"], only_clicks["skipped"]) == (1.0, 1.0, 1)


def test_result_types():
    result = mind_metrics([([0, 1], np.array([0.2, 0.7], dtype=np.float32))])
    assert list(result) == [*METRICS, "impressions", "skipped"]
    assert all(type(result[name]) is float for name in METRICS)
    assert type(result["impressions"]) is int and type(result["skipped"]) is int


# --------------------------------------------------------------------------- against the official scorer


def test_long_and_varied_impressions_equal_official_bit_for_bit():
    # Lengths up to 300 cross NumPy's pairwise-summation block (128) and the nDCG cut-offs.
    rng = np.random.default_rng(7)
    pairs = []
    for length in [*range(1, 40), 127, 128, 129, 200, 300, *rng.integers(1, 300, 60)]:
        labels = (rng.random(length) < 0.2).astype(int)
        labels[rng.integers(length)] = 1
        pairs.append((labels.tolist(), rng.permutation(length * 3)[:length] / 7.0))
    frame = per_impression_metrics_csr(*to_csr(pairs))
    expected = [official_per_impression(labels, scores) for labels, scores in pairs]
    for name in METRICS:
        np.testing.assert_array_equal(frame[name].to_numpy(), [e[name] for e in expected])
    assert mind_metrics(pairs) == official_metrics(pairs)


def test_small_blocks_give_the_same_numbers(monkeypatch):
    rng = np.random.default_rng(3)
    pairs = [((rng.random(n) < 0.3).astype(int), rng.random(n)) for n in rng.integers(0, 30, 300)]
    whole = per_impression_metrics_csr(*to_csr(pairs))
    monkeypatch.setattr(metrics, "BLOCK_CANDIDATES", 7)
    pieces = per_impression_metrics_csr(*to_csr(pairs))
    for name in METRICS:
        np.testing.assert_array_equal(pieces[name].to_numpy(), whole[name].to_numpy())


# --------------------------------------------------------------------------- properties

any_float = st.floats(allow_nan=False, allow_infinity=False)
tied_float = st.sampled_from([-1.0, 0.0, 0.25, 0.5, 2.0])


@st.composite
def impression(draw, distinct: bool):
    length = draw(st.integers(0, 24))
    labels = draw(st.lists(st.integers(0, 1), min_size=length, max_size=length))
    if distinct:
        scores = draw(st.lists(any_float, min_size=length, max_size=length, unique=True))
    else:
        scores = draw(st.lists(tied_float, min_size=length, max_size=length))
    return labels, scores


tie_free = st.lists(impression(distinct=True), max_size=12)
with_ties = st.lists(impression(distinct=False), max_size=12)


@given(tie_free)
def test_equals_official_on_tie_free_scores(pairs):
    frame = per_impression_metrics_csr(*to_csr(pairs))
    expected = [official_per_impression(labels, scores) for labels, scores in pairs]
    for name in METRICS:
        np.testing.assert_array_equal(frame[name].to_numpy(), [e[name] for e in expected])
    assert mind_metrics(pairs) == official_metrics(pairs)


@given(with_ties)
def test_auc_equals_sklearn_with_ties(pairs):
    frame = per_impression_metrics_csr(*to_csr(pairs))
    expected = [official_per_impression(labels, scores)["auc"] for labels, scores in pairs]
    np.testing.assert_array_equal(frame["auc"].to_numpy(), expected)


@given(with_ties)
def test_ties_rank_the_earlier_candidate_first(pairs):
    # Replace tied scores by distinct ones that encode "higher score first, then earlier candidate first";
    # the official scorer on those must give our numbers for the tied originals.
    untied = []
    for labels, scores in pairs:
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        distinct = [0.0] * len(scores)
        for rank, i in enumerate(order):
            distinct[i] = float(len(scores) - rank)
        untied.append((labels, distinct))
    got = mind_metrics(pairs)
    want = official_metrics(untied)
    for name in ("mrr", "ndcg@5", "ndcg@10", "p@5", "p@10", "r@5", "r@10"):
        assert got[name] == want[name]


@given(with_ties | tie_free)
def test_metrics_are_bounded(pairs):
    frame = per_impression_metrics_csr(*to_csr(pairs))
    for name in METRICS:
        values = frame[name].dropna()
        assert ((values >= 0) & (values <= 1)).all()


@given(with_ties, st.randoms(use_true_random=False))
def test_auc_does_not_depend_on_candidate_order(pairs, random):
    shuffled = []
    for labels, scores in pairs:
        order = list(range(len(labels)))
        random.shuffle(order)
        shuffled.append(([labels[i] for i in order], [scores[i] for i in order]))
    before = per_impression_metrics_csr(*to_csr(pairs))["auc"].to_numpy()
    after = per_impression_metrics_csr(*to_csr(shuffled))["auc"].to_numpy()
    np.testing.assert_array_equal(after, before)


@given(with_ties | tie_free)
def test_pairs_form_equals_csr_form(pairs):
    assert mind_metrics(pairs) == mind_metrics_csr(*to_csr(pairs))
    as_arrays = [(np.array(labels, dtype=bool), np.array(scores, dtype=np.float64)) for labels, scores in pairs]
    assert mind_metrics(as_arrays) == mind_metrics(pairs)


@given(with_ties | tie_free)
def test_per_impression_frame_averages_to_the_aggregate(pairs):
    csr = to_csr(pairs)
    frame = per_impression_metrics_csr(*csr)
    result = mind_metrics_csr(*csr)
    assert len(frame) == result["impressions"] == len(pairs)
    assert int(frame["auc"].isna().sum()) == result["skipped"]
    for name in METRICS:
        column = frame[name].dropna()
        if column.empty:
            assert result[name] is None
        else:
            assert column.to_numpy().mean() == result[name]
            assert frame[name].mean() == pytest.approx(result[name], abs=1e-12)


@settings(max_examples=50)
@given(tie_free)
def test_skipped_counts_single_class_impressions(pairs):
    result = mind_metrics(pairs)
    single_class = sum(len(set(labels)) < 2 for labels, _ in pairs)
    assert result["skipped"] == single_class
    assert result["impressions"] == len(pairs)


# --------------------------------------------------------------------------- bad input

GOOD = ([0, 1], [0.3, 0.6])


@pytest.mark.parametrize(
    ("bad_pair", "words"),
    [
        (([0, 2], [0.1, 0.2]), "label 2 of candidate 1 is not 0 or 1"),
        (([0, 0.5], [0.1, 0.2]), "label 0.5 of candidate 1"),
        (([0, float("nan")], [0.1, 0.2]), "not 0 or 1"),
        (([0, -1], [0.1, 0.2]), "label -1"),
        (([0, 1, 0], [0.1, 0.2]), "3 labels but 2 scores"),
        (([0, 1], [0.1, float("nan")]), "score nan of candidate 1 is not finite"),
        (([0, 1], [float("-inf"), 0.2]), "score -inf of candidate 0 is not finite"),
        ((["a", "b"], [0.1, 0.2]), "labels must be a flat sequence of numbers"),
        (([0, 1], [[0.1], [0.2]]), "scores must be a flat sequence of numbers"),
        (([0, 1], [0.1, [0.2, 0.3]]), "scores must be a flat sequence of numbers"),
        (([0, 1], None), "scores must be a flat sequence of numbers"),
        ((3,), "expected a (labels, scores) pair"),
    ],
)
def test_bad_impression_names_its_index(bad_pair, words):
    with pytest.raises(InputError) as caught:
        mind_metrics([GOOD, ([], []), bad_pair, GOOD])
    assert str(caught.value).startswith("impression 2: ")
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("labels", "scores", "ptr", "words"),
    [
        ([0, 1, 1], [0.1, 0.2, 0.3], [0, 2, 2, 3.0], "ptr must be a flat integer array"),
        ([0, 1, 1], [0.1, 0.2, 0.3], [], "ptr must be a flat integer array"),
        ([0, 1, 1], [0.1, 0.2, 0.3], [0, 2], "ptr must run from 0 to 3"),
        ([0, 1, 1], [0.1, 0.2, 0.3], [1, 2, 3], "ptr must run from 0 to 3"),
        ([0, 1, 1], [0.1, 0.2, 0.3], [0, 2, 1, 3], "ptr decreases at impression 1"),
        ([0, 1, 1], [0.1, 0.2], [0, 2, 3], "3 labels but 2 scores"),
        ([0, 1, 1, 3], [0.1, 0.2, 0.3, 0.4], [0, 2, 2, 4], "impression 2: label 3 of candidate 1"),
        ([0, 1, 1], [0.1, np.inf, 0.3], [0, 2, 3], "impression 0: score inf of candidate 1"),
    ],
)
def test_bad_csr_input(labels, scores, ptr, words):
    with pytest.raises(InputError, match=None) as caught:
        mind_metrics_csr(np.array(labels), np.array(scores), np.array(ptr))
    assert words in str(caught.value)
    with pytest.raises(InputError):
        per_impression_metrics_csr(np.array(labels), np.array(scores), np.array(ptr))
