"""ArticleIndex: exact search against brute force, approximate recall, stable ids, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from recengine import index as index_module
from recengine.errors import InputError, RecengineError
from recengine.index import ArticleIndex


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(n: int, dim: int = 32, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Points around the same ``clusters`` centres whatever the seed, so queries fall where the data is."""
    centres = np.random.default_rng(dim).normal(size=(clusters, dim))
    rng = np.random.default_rng(seed)
    return (centres[rng.integers(0, clusters, n)] + 0.4 * rng.normal(size=(n, dim))).astype(np.float32)


def _brute(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = _unit(queries.astype(np.float64)) @ _unit(vectors.astype(np.float64)).T
    order = np.argsort(-scores, axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), ids[order]


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def test_flat_search_equals_brute_force():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3000, 24))
    ids = rng.permutation(10_000)[:3000] + 7
    queries = rng.normal(size=(50, 24)) * 5  # not unit length: the index normalises
    index = ArticleIndex.build(vectors, ids, "flat")
    scores, found = index.search(queries, 20)
    expected_scores, expected_ids = _brute(vectors, ids, queries, 20)
    assert index.kind == "flat" and len(index) == 3000
    np.testing.assert_array_equal(found, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_auto_rule(monkeypatch):
    vectors = _clustered(2000)
    assert ArticleIndex.build(vectors, np.arange(2000)).kind == "flat"
    monkeypatch.setattr(index_module, "AUTO_EXACT_LIMIT", 1000)
    assert ArticleIndex.build(vectors, np.arange(2000)).kind == "ivf"


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_is_high(kind):
    vectors = _clustered(20_000)
    queries = _clustered(200, seed=5)
    ids = np.arange(20_000) * 3
    index = ArticleIndex.build(vectors, ids, kind)
    _, found = index.search(queries, 50)
    _, truth = _brute(vectors, ids, queries, 50)
    assert index.kind == kind
    assert _recall(found, truth) > 0.9


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_ids_stable_after_add_and_remove(kind):
    rng = np.random.default_rng(2)
    vectors = _clustered(4000, seed=3)
    ids = rng.permutation(4000).astype(np.int64) * 10 + 1
    index = ArticleIndex.build(vectors[:3000], ids[:3000], kind)
    if kind == "ivf":
        index.nprobe = 10_000  # every list: exact, so the comparison below is exact
    index.add(vectors[3000:], ids[3000:])
    removed = ids[rng.choice(4000, 500, replace=False)]
    assert index.remove(removed) == 500
    keep = ~np.isin(ids, removed)
    queries = _clustered(30, seed=4)
    _, found = index.search(queries, 15)
    _, expected = _brute(vectors[keep], ids[keep], queries, 15)
    np.testing.assert_array_equal(found, expected)
    assert len(index) == 3500
    assert not np.isin(found, removed).any()
    assert removed[0] not in index and ids[keep][0] in index
    # a removed id can come back
    index.add(vectors[~keep][:1], removed_first := ids[~keep][:1])
    assert removed_first[0] in index


def test_hnsw_cannot_remove():
    index = ArticleIndex.build(_clustered(500), np.arange(500), "hnsw")
    with pytest.raises(RecengineError, match="HNSW"):
        index.remove([1])
    assert len(index) == 500


def test_fewer_results_than_k_are_padded():
    index = ArticleIndex.build(_clustered(5), np.arange(5) + 100, "flat")
    scores, found = index.search(_clustered(2, seed=9), 8)
    assert found.shape == (2, 8)
    assert (found[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()
    assert sorted(found[0, :5].tolist()) == [100, 101, 102, 103, 104]
    empty = ArticleIndex.build(np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.int64), "flat")
    assert (empty.search(np.ones((1, 4)), 3)[1] == -1).all()


@pytest.mark.parametrize(
    "vectors, ids, match",
    [
        (np.full((3, 4), np.nan), [0, 1, 2], "NaN"),
        (np.ones(4), [0], "2-d"),
        (np.array([["a", "b"]]), [0], "numeric"),
        (np.ones((3, 4)), [0, 1], "3 vectors"),
        (np.ones((3, 4)), [0, 1, 1], "repeat"),
        (np.ones((3, 4)), [0, -1, 2], ">= 0"),
        (np.ones((3, 4)), [0.5, 1.5, 2.5], "integer"),
        (np.ones((3, 0)), [0, 1, 2], "zero dimensions"),
    ],
)
def test_bad_build_input(vectors, ids, match):
    with pytest.raises(InputError, match=match):
        ArticleIndex.build(vectors, ids, "flat")


def test_bad_changes_and_queries():
    index = ArticleIndex.build(_clustered(100, dim=8), np.arange(100), "flat")
    with pytest.raises(InputError, match="already in the index"):
        index.add(_clustered(1, dim=8), [5])
    with pytest.raises(InputError, match="dimensions"):
        index.add(np.ones((1, 9)), [500])
    with pytest.raises(InputError, match="not in the index"):
        index.remove([5, 1000])
    for k in (0, -1, 10**9, 2.5, True):
        with pytest.raises(InputError, match="k must be"):
            index.search(np.ones((1, 8)), k)
    with pytest.raises(InputError, match="Inf"):
        index.search(np.full((1, 8), np.inf), 3)
    with pytest.raises(InputError, match="index kind"):
        ArticleIndex.build(np.ones((3, 8)), [0, 1, 2], "annoy")
    with pytest.raises(InputError, match="needs at least"):
        ArticleIndex.build(np.ones((3, 8)), [0, 1, 2], "ivf", nlist=8)
    with pytest.raises(RecengineError, match="IVF"):
        index.nprobe = 4
    assert len(index) == 100  # nothing above changed it
