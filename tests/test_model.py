"""The network, the catalogue and the losses: shapes, switches, neutral vectors, validation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import load_dataset
from recengine.errors import InputError
from recengine.model.catalog import UNKNOWN_TIME, Catalog, IdMap
from recengine.model.interactions import build_interactions, pad_last
from recengine.model.network import RecommenderNet, _time_parts
from recengine.text import get_embedder
from recengine.train import losses


@pytest.fixture(scope="module")
def catalog(tiny_data, tiny_cache) -> Catalog:
    dataset = load_dataset(tiny_data)
    return Catalog.build(
        dataset.train.news, get_embedder("hashing"), fields="title+abstract",
        entity_vectors=dataset.entity_vectors, cache=tiny_cache,
    )


def make_net(catalog: Catalog, **options) -> RecommenderNet:
    torch.manual_seed(0)
    config = ModelConfig(embedder="hashing", **options).validate()
    net = RecommenderNet.for_catalog(config, catalog, 5)
    net.article_trained[: len(catalog) // 2] = True
    net.user_trained[:] = True
    return net


def batch(catalog: Catalog, n_users: int = 3, length: int = 4, candidates: int = 5) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(0)
    history = torch.from_numpy(rng.integers(0, len(catalog), size=(n_users, length)))
    mask = torch.ones(n_users, length, dtype=torch.bool)
    mask[0, 2:] = False  # a short history
    mask[1] = False  # an empty history
    return {
        "history": torch.where(mask, history, torch.full_like(history, -1)),
        "mask": mask,
        "candidates": torch.from_numpy(rng.integers(0, len(catalog), size=(n_users, candidates))),
        "user_rows": torch.tensor([0, -1, 2]),
        "history_times": torch.full((n_users, length), UNKNOWN_TIME),
        "now": torch.full((n_users,), 1_573_700_000),
    }


def first_seen(catalog: Catalog) -> torch.Tensor:
    return torch.full((len(catalog),), UNKNOWN_TIME, dtype=torch.long)


@pytest.mark.parametrize("fusion", ["concat", "attention", "gate"])
@pytest.mark.parametrize("encoder", ["attention", "transformer"])
def test_forward_shapes_for_every_fusion_and_user_encoder(catalog, fusion, encoder):
    net = make_net(catalog, fusion=fusion, user_encoder=encoder)
    logits, rows = net(batch(catalog), catalog.text, catalog.graph.tensors(), first_seen(catalog))
    assert logits.shape == rows.shape == (3, 5)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert net.fusion.parameters().__next__().grad is not None


def test_in_batch_candidates_are_appended(catalog):
    net = make_net(catalog)
    b = batch(catalog)
    logits, rows = net(b, catalog.text, catalog.graph.tensors(), first_seen(catalog), in_batch=True)
    assert logits.shape == (3, 5 + 3)
    # The extra columns are every user's click (column 0), in batch order.
    assert torch.equal(rows[:, 5:], b["candidates"][:, 0].expand(3, 3))


@pytest.mark.parametrize("views", [("id",), ("text",), ("graph",), ("text", "graph"), ("id", "text", "graph")])
def test_each_view_can_be_switched_off(catalog, views):
    net = make_net(catalog, views=views)
    assert net.views == tuple(v for v in ("id", "text", "graph") if v in views)
    assert hasattr(net, "article_ids") == ("id" in views)
    assert hasattr(net, "graph") == ("graph" in views)
    logits, _ = net(batch(catalog), catalog.text, catalog.graph.tensors(), first_seen(catalog))
    assert torch.isfinite(logits).all()


def test_attention_fusion_weights_are_a_distribution_over_views(catalog):
    net = make_net(catalog, fusion="attention")
    rows = torch.arange(10)
    graph_out = net.graph_outputs(catalog.graph.tensors(), catalog.text)
    _, weights, _ = net.articles(rows, catalog.text, graph_out)
    assert weights.shape == (10, 3)
    assert torch.allclose(weights.sum(1), torch.ones(10))
    assert net.articles(rows, catalog.text, graph_out)[1] is not None
    assert make_net(catalog, fusion="concat").articles(rows, catalog.text, graph_out)[1] is None


def test_unseen_articles_get_the_neutral_id_vector(catalog):
    net = make_net(catalog)
    seen, unseen = 0, len(catalog) - 1  # make_net marks the first half trained
    vectors, biases = net.id_parts(torch.tensor([seen, unseen, len(catalog) + 5]))
    mean_vector = net.article_ids.weight[net.article_trained].mean(0)
    assert torch.equal(vectors[0], net.article_ids.weight[seen])
    assert torch.allclose(vectors[1], mean_vector) and torch.allclose(vectors[2], mean_vector)
    # The neutral vector is a constant: no gradient flows into the table through it.
    vectors[1].sum().backward()
    grad = net.article_ids.weight.grad
    assert grad is None or grad.coalesce().values().abs().sum() == 0


def test_id_dropout_replaces_trained_rows_in_training(catalog):
    net = make_net(catalog)
    rows = torch.zeros(2000, dtype=torch.long)  # a trained row, many times
    torch.manual_seed(1)
    vectors, _ = net.id_parts(rows, drop=0.3)
    own = (vectors == net.article_ids.weight[0]).all(1).float().mean().item()
    assert 0.62 < own < 0.78


def test_cosine_scores_are_bounded_by_one_over_tau_and_dot_is_not(catalog):
    users = torch.randn(4, 64) * 50
    candidates = torch.randn(4, 6, 64) * 50
    zeros = torch.zeros(4, 6)
    cosine = make_net(catalog, temperature=0.2, freshness=False, views=("text",))
    assert cosine.logits(users, candidates, zeros, zeros).abs().max() <= 5.0 + 1e-5
    dot = make_net(catalog, scoring="dot", freshness=False, views=("text",))
    assert dot.logits(users, candidates, zeros, zeros).abs().max() > 100


def test_time_parts_match_python_datetime():
    import datetime as dt

    stamps = [1_573_700_000, 1_573_300_123, 0]
    hour, dow = _time_parts(torch.tensor(stamps + [UNKNOWN_TIME]))
    for i, s in enumerate(stamps):
        d = dt.datetime.fromtimestamp(s, dt.timezone.utc)
        assert (hour[i].item(), dow[i].item()) == (d.hour, d.weekday())
    assert (hour[-1].item(), dow[-1].item()) == (24, 7)


def test_listwise_loss_is_cross_entropy_on_column_zero():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    expected = -(torch.log_softmax(logits, 1)[:, 0]).mean()
    assert torch.allclose(losses.listwise(logits), expected)


def test_bce_weights_the_click_and_the_probability_variant_saturates():
    logits = torch.tensor([[1.0, -1.0, 0.5]])
    manual = (3 * F.softplus(-logits[0, 0]) + F.softplus(logits[0, 1]) + F.softplus(logits[0, 2])) / 5
    assert torch.allclose(losses.bce(logits, pos_weight=3.0), manual)
    assert torch.allclose(losses.bce(logits, 3.0, on_probabilities=True), manual, atol=1e-6)
    # A non-click logit of 40: the sigmoid is exactly 1.0 in float32, BCE clamps log(0) to -100, no gradient.
    saturated = torch.tensor([[40.0, 40.0]], requires_grad=True)
    loss = losses.bce(saturated, 1.0, on_probabilities=True)
    loss.backward()
    assert loss.item() == pytest.approx(50.0)
    assert saturated.grad[0, 1].item() == 0.0
    stable = torch.tensor([[40.0, 40.0]], requires_grad=True)
    losses.bce(stable, 1.0).backward()
    assert stable.grad[0, 1].item() > 0.1


def test_infonce_ignores_masked_columns():
    logits = torch.tensor([[1.0, 0.0, 5.0]])
    valid = torch.tensor([[True, True, False]])
    assert torch.allclose(losses.infonce(logits, valid), losses.listwise(logits[:, :2]))


def test_catalog_add_article_validates_before_changing_anything(catalog):
    cat = copy.deepcopy(catalog)
    size, graph_edges = len(cat), cat.graph.num_mentions
    vector = np.ones(cat.text.shape[1], dtype=np.float32)
    existing = cat.articles.ids[0]
    known_entity = cat.graph.entity_ids[0]
    cases = [
        (dict(article_id=existing, title="t", vector=vector), "already exists"),
        (dict(article_id="Nnew", title="   ", vector=vector), "title is empty"),
        (dict(article_id="Nnew", title="t", entities=["Q_nope"], vector=vector), "unknown entities"),
        (dict(article_id="Nnew", title="t", vector=vector[:3]), "dimensions"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message):
            cat.add_article(**kwargs)
        assert len(cat) == size and cat.graph.num_mentions == graph_edges and len(cat.frame) == size
    row = cat.add_article(article_id="Nnew", title="A title", entities=[known_entity], vector=vector, first_seen=123)
    assert row == size and cat.articles.position["Nnew"] == size and cat.first_seen[row] == 123
    assert cat.graph.num_mentions == graph_edges + 1 and cat.text.shape[0] == size + 1


def test_interactions_drop_unknown_articles_and_pad_histories(tiny_data, catalog):
    dataset = load_dataset(tiny_data)
    users = IdMap(dataset.train.behaviors.users)
    inter = build_interactions(dataset.dev.behaviors, catalog, users)
    dev_only = set(dataset.dev.news.frame["news_id"]) - set(catalog.articles.ids)
    referenced = dataset.dev.behaviors.articles[dataset.dev.behaviors.candidates]
    assert inter.dropped_candidates == sum(a in dev_only for a in referenced)
    assert len(inter.candidates) + inter.dropped_candidates == len(referenced)
    values = np.arange(10)
    ptr = np.array([0, 3, 3, 10])
    padded, mask = pad_last(ptr, values, np.array([0, 1, 2]), 4)
    assert padded.tolist() == [[0, 1, 2, -1], [-1, -1, -1, -1], [6, 7, 8, 9]]
    assert mask.sum(1).tolist() == [3, 0, 4]


def test_configs_reject_bad_values():
    with pytest.raises(InputError, match="fusion"):
        ModelConfig(fusion="sum").validate()
    with pytest.raises(InputError, match="temperature"):
        ModelConfig(temperature=0).validate()
    with pytest.raises(InputError, match="views"):
        ModelConfig(views=("id", "id")).validate()
    with pytest.raises(InputError, match="negatives"):
        TrainConfig(negatives=0).validate()
    assert TrainConfig(loss="infonce", negatives=0).validate().negatives == 0
    assert RunConfig.from_dict(RunConfig().to_dict()).model == ModelConfig()
