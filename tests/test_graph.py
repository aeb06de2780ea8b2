"""The knowledge-graph view: graph construction, feature-source rule, incremental growth, GNN encoders, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recengine.cli import main
from recengine.data.mind import ENTITY_DIM, EntityVectors, load_dataset, parse_entities
from recengine.data.synthetic import generate
from recengine.errors import InputError
from recengine.graph import COVERAGE_THRESHOLD, GraphEncoder, build_graph, graph_from_news
from recengine.text import get_embedder

REPO = Path(__file__).resolve().parent.parent

# A hand-made catalogue. Counted by hand: entities Q1..Q4 (4); distinct mentions
# a1-Q1 a1-Q2 a2-Q2 a2-Q3 a4-Q1 a4-Q4 (6; a4 names Q1 twice), so 12 directed edges; a3 has none.
IDS = ["a1", "a2", "a3", "a4"]
ENTS = [["Q1", "Q2"], ["Q2", "Q3"], [], ["Q1", "Q1", "Q4"]]
PAIRS = {("a1", "Q1"), ("a1", "Q2"), ("a2", "Q2"), ("a2", "Q3"), ("a4", "Q1"), ("a4", "Q4")}
LABELS = {"Q1": "Barack Obama", "Q2": "White House", "Q3": "Chicago Bulls", "Q4": "Seattle Seahawks"}


def vectors_for(ids: list[str], seed: int = 0, dim: int = ENTITY_DIM) -> EntityVectors:
    rng = np.random.default_rng(seed)
    return EntityVectors(list(ids), rng.normal(size=(len(ids), dim)).astype(np.float32))


def pairs_of(graph) -> set[tuple[str, str]]:
    """(article id, entity id) for every article -> entity edge."""
    t = graph.tensors()
    arts, ents = graph.article_ids, graph.entity_ids
    return {(arts[a], ents[e]) for a, e in t.mentions.T.tolist()}


def reversed_pairs_of(graph) -> set[tuple[str, str]]:
    """(article id, entity id) for every entity -> article edge."""
    t = graph.tensors()
    arts, ents = graph.article_ids, graph.entity_ids
    return {(arts[a], ents[e]) for e, a in t.mentioned_by.T.tolist()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("graph") / "tiny"
    generate("tiny", 0, folder)
    return folder


# --------------------------------------------------------------------------- construction


def test_hand_made_counts_and_edges_both_ways() -> None:
    graph = build_graph(IDS, ENTS)
    stats = graph.stats()
    assert stats["article_nodes"] == 4
    assert stats["entity_nodes"] == 4
    assert stats["mentions"] == 6
    assert stats["edges"] == 12
    assert stats["articles_without_entities"] == 1
    assert graph.article_ids == IDS  # row i is article_ids[i]
    assert sorted(graph.entity_ids) == ["Q1", "Q2", "Q3", "Q4"]
    assert pairs_of(graph) == PAIRS
    assert reversed_pairs_of(graph) == PAIRS
    t = graph.tensors()
    assert t.mentions.dtype == torch.int64 and t.mentions.shape == (2, 6)
    assert torch.equal(t.mentioned_by, t.mentions.flip(0))


def test_hetero_data_holds_both_relations() -> None:
    graph = build_graph(IDS, ENTS, entity_vectors=vectors_for(["Q1", "Q2", "Q3", "Q4"]))
    data = graph.data
    data.validate()
    assert data["article"].num_nodes == 4
    assert data["entity"].num_nodes == 4
    assert data["entity"].x.shape == (4, ENTITY_DIM)
    assert data["article", "mentions", "entity"].edge_index.shape == (2, 6)
    assert data["entity", "mentioned_by", "article"].edge_index.shape == (2, 6)


def test_graph_from_news_uses_news_order_and_labels(tiny: Path) -> None:
    news = load_dataset(tiny).news
    embedder = get_embedder("hashing", dim=32)
    graph = graph_from_news(news, None, embedder)
    assert graph.article_ids == news.ids.tolist()
    assert graph.entity_feature_source == "text"
    row = graph.entity_ids.index(news.entities[0][0])
    expected = embedder.embed([news.entity_labels[news.entities[0][0]]])[0]
    np.testing.assert_allclose(graph.entity_features[row], expected, rtol=1e-6)


# --------------------------------------------------------------------------- feature-source rule


def test_vectors_when_they_cover_every_entity() -> None:
    vectors = vectors_for(["Q4", "Q3", "Q2", "Q1", "Q99"])
    graph = build_graph(IDS, ENTS, entity_vectors=vectors)
    stats = graph.stats()
    assert stats["entity_feature_source"] == "vectors"
    assert stats["entities_missing_vectors"] == 0
    for entity in ["Q1", "Q2", "Q3", "Q4"]:
        np.testing.assert_array_equal(
            graph.entity_features[graph.entity_row(entity)], vectors.matrix[vectors.ids.index(entity)]
        )


def test_vectors_above_threshold_fill_missing_with_mean() -> None:
    entities = [f"Q{i}" for i in range(10)]
    graph_ids = [f"a{i}" for i in range(10)]
    vectors = vectors_for(entities[:9])  # 9 of 10 = 90%, the threshold
    assert 9 / 10 >= COVERAGE_THRESHOLD
    graph = build_graph(graph_ids, [[e] for e in entities], entity_vectors=vectors)
    assert graph.stats()["entity_feature_source"] == "vectors"
    assert graph.stats()["entities_missing_vectors"] == 1
    np.testing.assert_allclose(graph.entity_features[graph.entity_row("Q9")], vectors.matrix.mean(axis=0), rtol=1e-5)


def test_text_when_vectors_fall_short_and_labels_exist() -> None:
    embedder = get_embedder("hashing", dim=48)
    vectors = vectors_for(["Q1", "Q2", "Q3"])  # 3 of 4 = 75%
    graph = build_graph(IDS, ENTS, entity_vectors=vectors, entity_labels=LABELS, embedder=embedder)
    stats = graph.stats()
    assert stats["entity_feature_source"] == "text"
    assert stats["entities_missing_vectors"] == 1
    assert stats["entities_missing_labels"] == 0
    assert graph.entity_feature_dim == 48
    expected = embedder.embed([LABELS["Q3"]])[0]
    np.testing.assert_allclose(graph.entity_features[graph.entity_row("Q3")], expected, rtol=1e-6)


def test_learned_without_enough_vectors_or_labels() -> None:
    short = vectors_for(["Q1", "Q2", "Q3"])
    assert build_graph(IDS, ENTS, entity_vectors=short).stats()["entity_feature_source"] == "learned"
    # Labels for 2 of 4 entities are not enough for the text source either.
    few_labels = {"Q1": "Barack Obama", "Q2": "White House"}
    graph = build_graph(IDS, ENTS, entity_labels=few_labels, embedder=get_embedder("hashing", dim=16))
    assert graph.stats()["entity_feature_source"] == "learned"
    assert graph.entity_features is None
    assert graph.stats()["entities_missing_vectors"] == 4  # no vectors file: every entity lacks one


# --------------------------------------------------------------------------- incremental growth


def test_add_article_appends_and_keeps_previous_edges() -> None:
    graph = build_graph(IDS, ENTS)
    before = graph.tensors().mentions.clone()
    row = graph.add_article("a5", ["Q3", "Q4", "Q3"])
    assert row == 4
    assert graph.article_ids == IDS + ["a5"]
    after = graph.tensors()
    assert after.num_articles == 5
    assert torch.equal(after.mentions[:, : before.shape[1]], before)
    assert pairs_of(graph) == PAIRS | {("a5", "Q3"), ("a5", "Q4")}
    assert reversed_pairs_of(graph) == pairs_of(graph)
    assert graph.stats()["edges"] == 16
    graph.add_article("a6", [])
    assert graph.stats()["articles_without_entities"] == 2
    assert graph.article_row("a6") == 5


def test_add_article_does_not_touch_tensors_handed_out() -> None:
    graph = build_graph(IDS, ENTS)
    handed_out = graph.tensors()
    snapshot = handed_out.mentions.clone()
    for i in range(50):  # past the initial buffer capacity
        graph.add_article(f"n{i}", ["Q1"])
    assert torch.equal(handed_out.mentions, snapshot)
    assert handed_out.num_articles == 4
    assert graph.stats()["mentions"] == 56


def _state(graph) -> tuple:
    t = graph.tensors()
    return graph.stats(), graph.article_ids, t.mentions.clone(), t.mentioned_by.clone()


def test_add_article_rejects_duplicates_and_unknown_entities_without_change() -> None:
    graph = build_graph(IDS, ENTS)
    stats, ids, mentions, mentioned_by = _state(graph)
    with pytest.raises(InputError, match="a2 is already in the graph"):
        graph.add_article("a2", ["Q1"])
    assert graph.unknown_entities(["Q1", "Q77", "Q88", "Q77"]) == ["Q77", "Q88"]
    with pytest.raises(InputError, match="2 entities are not in the graph: Q77, Q88"):
        graph.add_article("a9", ["Q1", "Q77", "Q88"])
    with pytest.raises(InputError, match="list of WikidataIds"):
        graph.add_article("a9", "Q1")
    with pytest.raises(InputError, match="not a non-empty string"):
        graph.add_article("", ["Q1"])
    new_stats, new_ids, new_mentions, new_mentioned_by = _state(graph)
    assert new_stats == stats and new_ids == ids
    assert torch.equal(new_mentions, mentions) and torch.equal(new_mentioned_by, mentioned_by)
    assert graph.add_article("a9", ["Q1"]) == 4  # the failed attempts left no trace


@settings(max_examples=40, deadline=None)
@given(
    lists=st.lists(st.lists(st.sampled_from(["Q1", "Q2", "Q3", "Q4", "Q5"]), max_size=4), min_size=2, max_size=30),
    split=st.integers(min_value=1, max_value=29),
)
def test_growing_equals_building_at_once(lists: list[list[str]], split: int) -> None:
    split = min(split, len(lists) - 1)
    ids = [f"n{i}" for i in range(len(lists))]
    lists[0] = ["Q1", "Q2", "Q3", "Q4", "Q5"]  # every entity known from the start, in this order
    grown = build_graph(ids[:split], lists[:split])
    for article_id, entities in zip(ids[split:], lists[split:]):
        grown.add_article(article_id, entities)
    whole = build_graph(ids, lists)
    assert grown.stats() == whole.stats()
    assert grown.entity_ids == whole.entity_ids
    assert torch.equal(grown.tensors().mentions, whole.tensors().mentions)
    assert torch.equal(grown.tensors().mentioned_by, whole.tensors().mentioned_by)


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("kind", ["sage", "gat"])
@pytest.mark.parametrize("source", ["vectors", "learned"])
def test_forward_shape_finite_and_entityless_articles(kind: str, source: str) -> None:
    torch.manual_seed(0)
    vectors = vectors_for(["Q1", "Q2", "Q3", "Q4"]) if source == "vectors" else None
    graph = build_graph(IDS, ENTS, entity_vectors=vectors)
    assert graph.entity_feature_source == source
    encoder = GraphEncoder.for_graph(kind, graph, 12, hidden=16, out_dim=8).eval()
    features = torch.randn(4, 12)
    out = encoder(graph.tensors(), features)
    assert out.shape == (4, 8)
    assert torch.isfinite(out).all()
    # a3 mentions nothing: its vector still depends on its own features (root weight / residual).
    changed = features.clone()
    changed[2] += 1.0
    out2 = encoder(graph.tensors(), changed)
    assert not torch.allclose(out[2], out2[2])
    assert torch.allclose(out[0], out2[0]) and torch.allclose(out[3], out2[3])  # no path from a3 to them


@pytest.mark.parametrize("kind", ["sage", "gat"])
def test_graph_without_any_entity(kind: str) -> None:
    graph = build_graph(["x", "y"], [[], []], entity_vectors=vectors_for(["Q1"]))
    assert graph.stats()["entity_nodes"] == 0 and graph.stats()["articles_without_entities"] == 2
    out = GraphEncoder.for_graph(kind, graph, 4).eval()(graph.tensors(), torch.randn(2, 4))
    assert out.shape == (2, 64) and torch.isfinite(out).all()


@pytest.mark.parametrize("kind", ["sage", "gat"])
def test_inductive_after_add_article(kind: str) -> None:
    torch.manual_seed(1)
    graph = build_graph(IDS, ENTS, entity_vectors=vectors_for(["Q1", "Q2", "Q3", "Q4"]))
    encoder = GraphEncoder.for_graph(kind, graph, 6, hidden=16, out_dim=8).eval()
    features = torch.randn(5, 6)
    before = encoder(graph.tensors(), features[:4])
    graph.add_article("a5", ["Q3"])
    after = encoder(graph.tensors(), features)
    assert after.shape == (5, 8) and torch.isfinite(after).all()
    # a5 is two hops from a2 (through Q3) only: a1, a3, a4 are untouched.
    for row in (0, 2, 3):
        assert torch.allclose(after[row], before[row], atol=1e-6)
    assert not torch.allclose(after[1], before[1])
    # The new vector is exactly what a graph built with a5 from the start gives.
    rebuilt = build_graph(IDS + ["a5"], ENTS + [["Q3"]], entity_vectors=vectors_for(["Q1", "Q2", "Q3", "Q4"]))
    assert rebuilt.entity_ids == graph.entity_ids
    assert torch.allclose(encoder(rebuilt.tensors(), features), after, atol=1e-6)


@pytest.mark.parametrize("kind", ["sage", "gat"])
def test_gradients_reach_every_parameter(kind: str) -> None:
    torch.manual_seed(2)
    graph = build_graph(IDS, ENTS)  # learned entities: the embedding must train too
    encoder = GraphEncoder.for_graph(kind, graph, 5, hidden=8, out_dim=4).train()
    out = encoder(graph.tensors(), torch.randn(4, 5))
    (out * torch.randn_like(out)).sum().backward()
    for name, param in encoder.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("kind", ["sage", "gat"])
def test_gradients_reach_learned_starting_vectors(kind: str) -> None:
    # (With identical article starts, GAT's attention over articles has nothing to tell apart: its
    # article-side attention gets zero gradient, so only the learned inputs are checked here.)
    torch.manual_seed(3)
    graph = build_graph(IDS, ENTS)
    encoder = GraphEncoder.for_graph(kind, graph, None, hidden=8, out_dim=4).train()
    out = encoder(graph.tensors())
    (out * torch.randn_like(out)).sum().backward()
    assert encoder.article_start.grad.abs().sum() > 0
    embedding_grad = encoder.entity_embedding.weight.grad
    assert (embedding_grad.abs().sum(dim=1) > 0).all()  # every entity is mentioned, so every row learns


def test_no_warnings_about_missing_extensions() -> None:
    graph = build_graph(IDS, ENTS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kind in ("sage", "gat"):
            GraphEncoder.for_graph(kind, graph, 3)(graph.tensors(), torch.randn(4, 3))
    messages = [str(w.message).lower() for w in caught if not issubclass(w.category, DeprecationWarning)]
    assert messages == []


def test_encoder_rejects_mismatched_inputs() -> None:
    graph = build_graph(IDS, ENTS, entity_vectors=vectors_for(["Q1", "Q2", "Q3", "Q4"]))
    encoder = GraphEncoder.for_graph("sage", graph, 6)
    with pytest.raises(InputError, match=r"shape \(4, 5\); expected \(4, 6\)"):
        encoder(graph.tensors(), torch.randn(4, 5))
    with pytest.raises(InputError, match="expected"):
        encoder(graph.tensors(), None)
    with pytest.raises(InputError, match="floating point"):
        encoder(graph.tensors(), torch.ones(4, 6, dtype=torch.int64))
    other = build_graph(["z"], [["Q1", "Q2"]])
    with pytest.raises(InputError, match="2 entities; this encoder was built for 4"):
        encoder(other.tensors(), torch.randn(1, 6))
    with pytest.raises(InputError, match="unknown GNN"):
        GraphEncoder("gcn", None, None, 4)
    with pytest.raises(InputError, match="multiple of heads"):
        GraphEncoder("gat", None, None, 4, hidden=10, heads=4)


# --------------------------------------------------------------------------- real and synthetic data


def _independent_counts(news_tsv: Path) -> tuple[int, set[str], set[tuple[str, str]], int]:
    """Articles, entity ids, (article, entity) pairs and entity-less articles, read straight from news.tsv."""
    articles, entities, pairs, empty = 0, set(), set(), 0
    for line in news_tsv.read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        articles += 1
        ids = {item["WikidataId"] for col in cols[6:8] for item in parse_entities(col)}
        entities |= ids
        pairs |= {(cols[0], e) for e in ids}
        empty += not ids
    return articles, entities, pairs, empty


def test_real_mind_sample(mind_sample: Path) -> None:
    dataset = load_dataset(mind_sample)
    assert dataset.entity_vectors is None
    graph = graph_from_news(dataset.news)
    articles, entities, pairs, empty = _independent_counts(mind_sample / "news.tsv")
    stats = graph.stats()
    assert stats["article_nodes"] == articles == 2000
    assert stats["entity_nodes"] == len(entities) == 2861  # as mind_sample/README.md says
    assert stats["edges"] == 2 * len(pairs)
    assert stats["articles_without_entities"] == empty
    assert stats["entity_feature_source"] == "learned"
    assert stats["entities_missing_vectors"] == len(entities)
    text = graph_from_news(dataset.news, embedder=get_embedder("hashing"))
    assert text.stats()["entity_feature_source"] == "text"
    assert text.stats()["entities_missing_labels"] == 0
    out = GraphEncoder.for_graph("sage", text, None).eval()(text.tensors())
    assert out.shape == (2000, 64) and torch.isfinite(out).all()


def test_synthetic_tiny_uses_vectors(tiny: Path) -> None:
    dataset = load_dataset(tiny)
    graph = graph_from_news(dataset.news, dataset.entity_vectors)
    stats = graph.stats()
    assert stats["entity_feature_source"] == "vectors"
    assert stats["entities_missing_vectors"] == 0
    assert stats["article_nodes"] == len(dataset.news) == 600
    expected_pairs = sum(len(set(e)) for e in dataset.news.entities)
    assert stats["edges"] == 2 * expected_pairs


def _centered_unit(out: torch.Tensor) -> np.ndarray:
    # Untrained layers share biases, so raw outputs all point one way; cosine is read after removing the mean.
    x = out.detach().numpy()
    x = x - x.mean(axis=0)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _mean_cosine(unit: np.ndarray, pairs: np.ndarray) -> float:
    return float(np.mean(np.sum(unit[pairs[:, 0]] * unit[pairs[:, 1]], axis=1)))


def _untrained_sage_output(graph, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    encoder = GraphEncoder.for_graph("sage", graph, None).eval()
    with torch.no_grad():
        return _centered_unit(encoder(graph.tensors()))


def test_output_carries_entity_signal(tiny: Path) -> None:
    dataset = load_dataset(tiny)
    ids, ents = dataset.news.ids.tolist(), dataset.news.entities
    rng = np.random.default_rng(0)
    by_entity: dict[str, list[int]] = {}
    for row, entities in enumerate(ents):
        for entity in entities:
            by_entity.setdefault(entity, []).append(row)
    sharing = np.array([rng.choice(rows, 2, replace=False) for rows in by_entity.values() if len(rows) > 1])
    random_pairs = rng.integers(0, len(ids), size=(3000, 2))
    random_pairs = random_pairs[random_pairs[:, 0] != random_pairs[:, 1]]
    assert len(sharing) > 50

    graph = graph_from_news(dataset.news, dataset.entity_vectors)
    unit = _untrained_sage_output(graph)
    assert _mean_cosine(unit, sharing) > _mean_cosine(unit, random_pairs) + 0.3

    # Control: the same encoder over entity lists shuffled between articles loses that signal.
    perm = rng.permutation(len(ids))
    shuffled = build_graph(ids, [ents[p] for p in perm], entity_vectors=dataset.entity_vectors)
    unit = _untrained_sage_output(shuffled)
    assert abs(_mean_cosine(unit, sharing) - _mean_cosine(unit, random_pairs)) < 0.1


def test_entity_vectors_carry_signal_beyond_shared_entities(tiny: Path) -> None:
    """Articles with no entity in common but similar entity vectors end up closer, only with vector features."""
    dataset = load_dataset(tiny)
    ents = dataset.news.entities
    vectors = dataset.entity_vectors
    mean_vec = np.stack([vectors.matrix[[vectors.position[e] for e in row]].mean(axis=0) for row in ents])
    mean_vec /= np.linalg.norm(mean_vec, axis=1, keepdims=True)
    i, j = np.triu_indices(len(ents), 1)
    disjoint = np.array([not set(ents[a]) & set(ents[b]) for a, b in zip(i, j)])
    similar = np.sum(mean_vec[i] * mean_vec[j], axis=1) > 0.4
    close_pairs = np.stack([i, j], axis=1)[disjoint & similar]
    other_pairs = np.stack([i, j], axis=1)[disjoint]
    assert len(close_pairs) > 100

    unit = _untrained_sage_output(graph_from_news(dataset.news, vectors))
    assert _mean_cosine(unit, close_pairs) > _mean_cosine(unit, other_pairs) + 0.2
    unit = _untrained_sage_output(graph_from_news(dataset.news))  # learned: random entity starts
    assert abs(_mean_cosine(unit, close_pairs) - _mean_cosine(unit, other_pairs)) < 0.1


# --------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_input_error() -> None:
    with pytest.raises(InputError, match="a1, a3"):
        build_graph(["a1", "a2", "a1", "a3", "a3"], [[]] * 5)
    with pytest.raises(InputError, match="3 article ids but 2 entity lists"):
        build_graph(["a", "b", "c"], [[], []])
    with pytest.raises(InputError, match="no articles"):
        build_graph([], [])
    with pytest.raises(InputError, match="article a: entities must be a list"):
        build_graph(["a"], ["Q1"])
    with pytest.raises(InputError, match="entity id None"):
        build_graph(["a"], [["Q1", None]])
    with pytest.raises(InputError, match="50-d; expected 100-d"):
        build_graph(IDS, ENTS, entity_vectors=vectors_for(["Q1", "Q2", "Q3", "Q4"], dim=50))
    bad = vectors_for(["Q1", "Q2", "Q3", "Q4"])
    bad.matrix[1, 7] = np.nan
    bad.matrix[3, 0] = np.inf
    with pytest.raises(InputError, match="NaN or Inf for 2 entities: Q2, Q4"):
        build_graph(IDS, ENTS, entity_vectors=bad)


# --------------------------------------------------------------------------- CLI

KEYS = {
    "article_nodes",
    "entity_nodes",
    "edges",
    "articles_without_entities",
    "entity_feature_source",
    "entities_missing_vectors",
    "build_seconds",
}


def test_cli_in_process(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--data", str(tiny), "--gnn", "gat", "--forward"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert KEYS | {"forward_seconds", "output_shape"} <= report.keys()
    assert report["article_nodes"] == 600
    assert report["entity_feature_source"] == "vectors"
    assert report["output_shape"] == [600, 64]
    assert report["gnn"] == "gat"


def test_cli_text_source_on_real_sample(mind_sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--data", str(mind_sample), "--embedder", "hashing"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["entity_feature_source"] == "text"
    assert report["entity_nodes"] == 2861
    assert "forward_seconds" not in report


def test_cli_bad_flags(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--data", str(tiny), "--gnn", "gcn"]) == 2
    assert "unknown GNN 'gcn'" in capsys.readouterr().err
    assert main(["graph", "--data", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_subprocess(tiny: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "recengine", "graph", "--data", str(tiny), "--forward"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert KEYS <= report.keys()
    assert report["entities_missing_vectors"] == 0


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("article_dim", [16, None])
def test_forward_rows_equals_the_full_graph_forward(layers, article_dim):
    """The batched mean-SAGE path is exact, also for an article with no entity and repeated rows."""
    graph = build_graph(["a", "b", "c", "d"], [["Q1", "Q2"], ["Q2"], [], ["Q1", "Q3"]])
    graph.add_article("e", ["Q3"])
    tensors = graph.tensors()
    torch.manual_seed(0)
    encoder = GraphEncoder("sage", article_dim, None, graph.num_entities, hidden=8, out_dim=4, layers=layers)
    features = torch.randn(graph.num_articles, 16) if article_dim else None
    rows = torch.tensor([4, 2, 0, 2])
    full = encoder(tensors, features)[rows]
    assert torch.allclose(encoder.forward_rows(tensors, features, rows), full, atol=1e-6)
    # Isolating an article is the same as it mentioning nothing: give "a" the features of entity-less "c".
    if features is not None:
        features[0] = features[2]
    isolated = encoder.forward_rows(tensors, features, torch.tensor([0, 2]), torch.tensor([True, False]))
    assert torch.allclose(isolated[0], isolated[1], atol=1e-6)
    assert not torch.allclose(encoder.forward_rows(tensors, features, torch.tensor([0]))[0], isolated[1], atol=1e-4)


def test_forward_rows_is_refused_where_it_would_not_be_exact():
    graph = build_graph(["a"], [["Q1"]])
    for encoder in (GraphEncoder("gat", 4, None, 1, hidden=8, out_dim=4), GraphEncoder("sage", 4, None, 1, layers=3)):
        assert not encoder.supports_rows
        with pytest.raises(InputError, match="forward_rows"):
            encoder.forward_rows(graph.tensors(), torch.randn(1, 4), torch.tensor([0]))
