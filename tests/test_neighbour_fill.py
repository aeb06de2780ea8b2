"""The ID vector of an unseen article: a blend of its nearest trained articles, found exactly or by IVF."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from recengine.data.mind import load_dataset
from recengine.model import recommender as recommender_module
from recengine.model.recommender import NEIGHBOUR_TEMPERATURE, NEIGHBOURS, nearest
from recengine.text import get_embedder
from recengine.train.runs import load_run, split_view


def clustered(n: int, dim: int, centres: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    points = centres[rng.integers(len(centres), size=n)] + 0.3 * rng.standard_normal((n, dim))
    return F.normalize(torch.from_numpy(points.astype(np.float32)), dim=1)


def brute_force(queries: torch.Tensor, keys: torch.Tensor, k: int) -> np.ndarray:
    similarity = queries.numpy() @ keys.numpy().T
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def test_exact_search_is_brute_force_top_k():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 16))
    keys, queries = clustered(3000, 16, centres, rng), clustered(5000, 16, centres, rng)  # 3 chunks of queries
    similarity, rows = nearest(queries, keys, 7)
    np.testing.assert_array_equal(rows.numpy(), brute_force(queries, keys, 7))
    expected = np.take_along_axis(queries.numpy() @ keys.numpy().T, rows.numpy(), axis=1)
    np.testing.assert_allclose(similarity.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_ivf_search_above_the_exact_limit_finds_nearly_all_true_neighbours(monkeypatch):
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((200, 32))
    keys, queries = clustered(40_000, 32, centres, rng), clustered(1_000, 32, centres, rng)
    monkeypatch.setattr(recommender_module, "EXACT_NEIGHBOUR_PAIRS", 0)
    similarity, rows = nearest(queries, keys, 10)
    truth = brute_force(queries, keys, 10)
    recall = np.mean([len(set(found) & set(true)) / 10 for found, true in zip(rows.numpy(), truth)])
    assert recall > 0.9
    assert (rows >= 0).all()
    # Scores are the true inner products of the rows returned, best first.
    expected = np.take_along_axis(queries.numpy() @ keys.numpy().T, rows.numpy(), axis=1)
    np.testing.assert_allclose(similarity.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert (np.diff(similarity.numpy(), axis=1) <= 1e-6).all()


def id_parts_on_dev(tiny_run, tiny_data, tiny_cache):
    """ID vectors and biases of the dev catalogue (train articles plus dev's unseen ones), and what is needed to check them."""
    embedder = get_embedder("hashing")
    recommender = load_run(tiny_run, embedder=embedder, cache=tiny_cache).recommender
    catalog, _, _ = split_view(recommender.catalog, recommender.users, load_dataset(tiny_data), "dev",
                               embedder=embedder, cache=tiny_cache)
    model = recommender.over(catalog)
    net = model.net.eval()
    with torch.no_grad():
        text = model.text_tensor()
        graph_out = net.graph_outputs(catalog.graph.tensors(), text)
        vectors, biases = model._id_parts(torch.arange(len(catalog)), text, graph_out)
    content = model.content_vectors()
    assert torch.allclose(content.norm(dim=1), torch.ones(len(catalog)), atol=1e-5)
    trained = np.zeros(len(catalog), dtype=bool)
    trained[: net.article_ids.num_embeddings] = net.article_trained.numpy()
    return net, vectors, biases, content, trained


def test_unseen_articles_blend_the_id_vectors_of_their_most_similar_trained_articles(tiny_run, tiny_data, tiny_cache):
    net, vectors, biases, content, trained = id_parts_on_dev(tiny_run, tiny_data, tiny_cache)
    seen, unseen = np.flatnonzero(trained), np.flatnonzero(~trained)
    assert len(unseen) > 20 and len(seen) > NEIGHBOURS
    similarity = content[unseen].numpy() @ content[seen].numpy().T
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :NEIGHBOURS]
    top_similarity = np.take_along_axis(similarity, top, axis=1) / NEIGHBOUR_TEMPERATURE
    weight = np.exp(top_similarity - top_similarity.max(1, keepdims=True))
    weight /= weight.sum(1, keepdims=True)
    table = net.article_ids.weight.detach().numpy()[seen]
    table_bias = net.article_bias.weight.detach().numpy()[seen]
    np.testing.assert_allclose(vectors[unseen].numpy(), np.einsum("uk,ukd->ud", weight, table[top]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(biases[unseen].numpy(), np.einsum("uk,ukd->ud", weight, table_bias[top]), rtol=1e-4, atol=1e-5)
    # Trained articles keep their own rows.
    np.testing.assert_array_equal(vectors[seen].numpy(), net.article_ids.weight.detach().numpy()[seen])


def test_the_ivf_path_fills_the_same_vectors_when_it_probes_every_list(tiny_run, tiny_data, tiny_cache, monkeypatch):
    _, exact_vectors, exact_biases, _, trained = id_parts_on_dev(tiny_run, tiny_data, tiny_cache)
    # tiny has a few hundred trained articles: IVF makes fewer lists than its 16 probes, so it is exact too.
    monkeypatch.setattr(recommender_module, "EXACT_NEIGHBOUR_PAIRS", 0)
    _, ivf_vectors, ivf_biases, _, _ = id_parts_on_dev(tiny_run, tiny_data, tiny_cache)
    np.testing.assert_allclose(ivf_vectors.numpy(), exact_vectors.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ivf_biases.numpy(), exact_biases.numpy(), rtol=1e-4, atol=1e-5)
    assert (~trained).sum() > 0
