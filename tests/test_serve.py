"""RecommenderService on one tiny run: two-stage recommendations, live clicks, added articles, cold start."""

from __future__ import annotations

import math
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from recengine.data.mind import load_dataset
from recengine.data.store import Store
from recengine.data.world_vocab import TOPIC_WORDS_V3
from recengine.errors import InputError, RecengineError
from recengine.serve import RecommenderService
from recengine.serve.coldstart import POPULAR_WINDOW_HOURS

# what the default (v3) world writes its training articles from
TRAIN_WORDS = {sub: pools[0] for sub, pools in TOPIC_WORDS_V3.items()}


@pytest.fixture(scope="module")
def trained(tiny_data, tiny_run, tmp_path_factory: pytest.TempPathFactory):
    """(dataset folder, run folder, temporary folder): the session's tiny run (read-only)."""
    return tiny_data, tiny_run, tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def service(trained) -> RecommenderService:
    """A service for tests that change nothing."""
    _, run, root = trained
    return RecommenderService(run, Store(root / "shared.db"))


@pytest.fixture
def fresh(trained, tmp_path: Path) -> RecommenderService:
    """A service over an empty store of its own, for tests that click or add."""
    return RecommenderService(trained[1], Store(tmp_path / "store.db"))


@pytest.fixture(scope="module")
def dataset(trained):
    return load_dataset(trained[0])


def _seconds(times: np.ndarray) -> np.ndarray:
    return times.astype("datetime64[s]").astype(np.int64)


def _articles_of(service: RecommenderService, subcategory: str) -> list[str]:
    frame = service.catalog.frame
    return frame.loc[frame["subcategory"] == subcategory, "news_id"].tolist()


def _largest_subcategories(service: RecommenderService, n: int) -> list[str]:
    return service.catalog.frame["subcategory"].value_counts().index[:n].tolist()


# --------------------------------------------------------------------------- construction


def test_serves_every_dataset_article_on_the_dataset_clock(service, dataset):
    assert len(service.catalog) == len(dataset.news)  # dev-only (day 6) articles are servable
    assert set(service.catalog.articles.ids) == set(dataset.news.ids)
    assert len(service.index) == len(service.catalog)
    latest = max(_seconds(split.behaviors.times).max() for split in dataset.splits.values())
    assert service.now == latest
    assert service.dataset == "tiny" and service.store.dataset("tiny") is not None


# --------------------------------------------------------------------------- recommend


def test_recommend_items(service):
    user = service.store.users("tiny")["user_id"].iloc[0]
    clicked = set(service.store.user_history("tiny", user, limit=10_000))
    items = service.recommend(user, k=12)
    assert len(items) == 12 and len({i["article_id"] for i in items}) == 12
    assert not clicked & {i["article_id"] for i in items}
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    frame = service.catalog.frame.set_index("news_id")
    for item in items:
        assert item["source"] == "model"
        assert item["title"] == frame.at[item["article_id"], "title"]
        # The calibrated click probability: sigmoid(scale * logit + shift), fitted on training clicks.
        fit = service.recommender.calibration
        assert fit.candidates > 0
        assert item["probability"] == pytest.approx(1 / (1 + math.exp(-(fit.scale * item["score"] + fit.shift))), abs=1e-3)
        assert -1.0001 <= item["recall_score"] <= 1.0001
        assert set(item["contributions"]) == {"id", "text", "graph"} == set(item["view_weights"])
        assert all(math.isfinite(v) for v in item["contributions"].values())
        assert item["top_view"] == max(item["contributions"], key=item["contributions"].get)


def test_two_stages_with_full_recall_equal_exhaustive_scoring(service):
    """Recalling the whole catalogue, the rerank must equal scoring every unread article with the model."""
    rec = service.recommender
    user = service.store.users("tiny")["user_id"].iloc[3]
    history = service.store.user_history("tiny", user, limit=rec.config.model.max_history)
    rows = rec.catalog.articles.rows(history)
    n = len(rec.catalog)
    with torch.no_grad():
        mask = np.ones((1, len(rows)), bool)
        vector = rec.user_vectors(rows[None, :], mask, rec.users.rows([user]), np.array([service.now]))
        logits = rec.score_pairs(vector.expand(n, -1), np.arange(n), np.full(n, service.now)).numpy()
    logits[rows] = -np.inf
    expected = [rec.catalog.articles.ids[r] for r in np.argsort(-logits, kind="stable")[:10]]
    got = service.recommend(user, k=10, candidates=n)
    assert [i["article_id"] for i in got] == expected
    np.testing.assert_allclose([i["score"] for i in got], np.sort(logits)[::-1][:10], atol=1e-3)


@pytest.mark.parametrize("k", [0, -3, 1001, 10**9, 2.5, "10", True])
def test_k_out_of_range_is_refused(service, k):
    with pytest.raises(InputError, match="k must be"):
        service.recommend("U1", k=k)


def test_bad_requests_are_refused(service):
    with pytest.raises(InputError, match="candidates"):
        service.recommend("U1", candidates=0)
    with pytest.raises(InputError, match="user id"):
        service.recommend("two words")
    with pytest.raises(InputError, match="unknown article"):
        service.recommend("U1", history=["N_nowhere"])
    with pytest.raises(InputError, match="list of article ids"):
        service.recommend("U1", history="N10000")
    with pytest.raises(InputError, match="interest text is empty"):
        service.recommend("U1", interest_text="   ")
    with pytest.raises(InputError, match="unknown article"):
        service.nearest_articles("N_nowhere")


def test_clicks_change_recommendations_without_retraining(fresh):
    topic = _largest_subcategories(fresh, 1)[0]
    clicks = _articles_of(fresh, topic)[:6]
    before = fresh.recommend("U_reader", k=10)
    assert {i["source"] for i in before} == {"popularity"}  # no clicks yet: a cold user
    for article in clicks:
        fresh.record_click("U_reader", article)
    after = fresh.recommend("U_reader", k=10)
    assert {i["source"] for i in after} == {"model"}
    assert [i["article_id"] for i in after] != [i["article_id"] for i in before]
    assert not set(clicks) & {i["article_id"] for i in after}
    share = np.mean([i["subcategory"] == topic for i in after])
    base = np.mean(fresh.catalog.frame["subcategory"] == topic)
    assert share > 2 * base
    # without exclusion, the clicked articles may come back
    assert fresh.recommend("U_reader", k=10, exclude_clicked=False, candidates=len(fresh.catalog)) != after


# --------------------------------------------------------------------------- add_article


def _topic_article(topic: str, service: RecommenderService, dataset) -> dict:
    """An article written from ``topic``'s words, tagged with the entities its articles mention most."""
    words = TRAIN_WORDS[topic]
    position = dataset.news.position
    mentions = Counter(e for a in _articles_of(service, topic) for e in dataset.news.entities[position[a]])
    return {
        "title": f"{words[0].capitalize()} and {words[1]}: the {words[2]} nobody expected",
        "abstract": f"Fans of {words[3]} and {words[4]} talk about {words[5]} and {words[6]}.",
        "category": service.catalog.frame.loc[service.catalog.frame["subcategory"] == topic, "category"].iloc[0],
        "subcategory": topic,
        "entities": [e for e, _ in mentions.most_common(2)],
    }


def test_added_article_is_recommended_zero_shot(fresh, dataset):
    store = fresh.store
    size = len(fresh.catalog)
    topic = _largest_subcategories(fresh, 1)[0]
    result = fresh.add_article(**_topic_article(topic, fresh, dataset), article_id="N_f1_new", top_users=5)
    assert result["article_id"] == "N_f1_new" and result["row"] == size
    assert len(fresh.catalog) == size + 1 and len(fresh.index) == size + 1
    stored = store.article("tiny", "N_f1_new")
    assert stored["source"] == "added" and stored["added_by_run"] == fresh.run.path.name
    history = [a for a in _articles_of(fresh, topic) if a != "N_f1_new"][:10]
    # among the top 50 of the catalogue's ~600 articles for a reader of its topic (a random rank is ~300): the topic's
    # own trained articles compete for the first places
    items = fresh.recommend("U_f1_fan", k=50, history=history)
    assert "N_f1_new" in [i["article_id"] for i in items]
    # what add_article reports
    users = store.users("tiny")
    assert len(result["top_users"]) == 5
    top = [u["score"] for u in result["top_users"]]
    assert top == sorted(top, reverse=True) and set(u["user_id"] for u in result["top_users"]) <= set(users["user_id"])
    summary = result["score_summary"]
    assert summary["users"] == len(users)
    assert summary["min"] <= summary["p10"] <= summary["p50"] <= summary["p90"] <= summary["max"] == top[0]
    nearest = result["nearest_articles"]
    assert len(nearest) == 10 and "N_f1_new" not in [n["article_id"] for n in nearest]
    assert np.mean([n["subcategory"] == topic for n in nearest]) >= 0.5


def test_generated_ids_and_reload_from_the_store(trained, fresh, dataset):
    result = fresh.add_article(**_topic_article("tennis", fresh, dataset))
    assert result["article_id"].startswith("N_added_")
    again = RecommenderService(trained[1], fresh.store)
    row = again.catalog.articles.position[result["article_id"]]
    assert again.catalog.frame.at[row, "subcategory"] == "tennis"
    assert again.catalog.first_seen[row] == again.now  # the wall-clock added_at is clamped to the dataset clock
    everything = again.nearest_articles(dataset.news.ids[0], k=len(again.catalog) - 1)
    assert result["article_id"] in [n["article_id"] for n in everything]


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"title": ""}, "title is empty"),
        ({"title": " \t\n "}, "title is empty"),
        ({"title": "x" * 100_000}, "limit is 1,000"),
        ({"title": "ok", "abstract": "y" * 20_000}, "limit is 10,000"),
        ({"title": "ok", "article_id": "N10000"}, "already exists"),
        ({"title": "ok", "article_id": "has space"}, "article id"),
        ({"title": "ok", "entities": ["Q1"]}, "unknown entities"),
        ({"title": "ok", "entities": "Q100001"}, "list of WikidataIds"),
        ({"title": 5}, "must be text"),
        ({"title": "ok", "top_users": 5000}, "top_users"),
    ],
)
def test_bad_article_changes_nothing(fresh, dataset, fields, match):
    if fields.get("article_id") == "N10000":
        fields["article_id"] = dataset.news.ids[0]
    size, indexed = len(fresh.catalog), len(fresh.index)
    with pytest.raises(InputError, match=match):
        fresh.add_article(**fields)
    assert len(fresh.catalog) == size and len(fresh.index) == indexed
    assert len(fresh.catalog.graph.article_ids) == size
    assert fresh.store.added_articles("tiny").empty


def test_failed_store_write_leaves_memory_unchanged(fresh, monkeypatch):
    size, indexed = len(fresh.catalog), len(fresh.index)

    def broken(*args, **kwargs):
        raise RecengineError("disk full")

    monkeypatch.setattr(fresh.store, "add_article", broken)
    with pytest.raises(RecengineError, match="disk full"):
        fresh.add_article(title="A perfectly good title")
    assert len(fresh.catalog) == size and len(fresh.index) == indexed
    assert len(fresh.catalog.graph.article_ids) == size and len(fresh.catalog.text) == size


# --------------------------------------------------------------------------- cold start


def test_popularity_prior_returns_the_most_clicked_recent_articles(service, dataset):
    start = service.now - POPULAR_WINDOW_HOURS * 3600
    clicks: Counter = Counter()
    for split in dataset.splits.values():
        b = split.behaviors
        times = _seconds(b.times)[b.candidate_rows]
        recent = (b.labels == 1) & (times >= start)
        clicks.update(b.articles[b.candidates[recent]].tolist())
    items = service.recommend("U_never_seen", k=10)
    assert {i["source"] for i in items} == {"popularity"}
    assert [i["clicks"] for i in items] == [clicks[i["article_id"]] for i in items]
    most = max(clicks.values())
    assert items[0]["clicks"] >= 0.7 * most
    assert np.mean([i["clicks"] for i in items]) > np.percentile(list(clicks.values()), 90)


def test_live_clicks_make_an_article_popular(fresh):
    quiet = fresh.catalog.articles.ids[5]
    for n in range(60):
        fresh.record_click(f"U_crowd{n}", quiet)
    assert fresh.cold_start(k=1)[0]["article_id"] == quiet


def test_interest_text_ranks_its_topic_first(service):
    base = service.catalog.frame["subcategory"].value_counts(normalize=True)
    for topic in _largest_subcategories(service, 3):
        items = service.cold_start(interest_text=" ".join(TRAIN_WORDS[topic]), k=20)
        assert {i["source"] for i in items} == {"model"}
        share = np.mean([i["subcategory"] == topic for i in items])
        assert share > 3 * base[topic], topic


def test_interest_never_vanishes_with_clicks(service):
    topic = _largest_subcategories(service, 1)[0]
    interest = " ".join(TRAIN_WORDS[topic])
    other = [a for a in service.catalog.articles.ids if a not in set(_articles_of(service, topic))]
    ids = lambda items: [i["article_id"] for i in items]  # noqa: E731
    for clicks in (other[:1], other[:5]):
        assert ids(service.cold_start(interest, clicks)) != ids(service.cold_start(None, clicks))
    assert ids(service.recommend("U_x", history=other[:5], interest_text=interest)) == \
        ids(service.cold_start(interest, other[:5]))


# --------------------------------------------------------------------------- helpers and threads


def test_nearest_articles_and_user_profile(service):
    article = service.catalog.articles.ids[0]
    nearest = service.nearest_articles(article, k=5)
    similarities = [n["similarity"] for n in nearest]
    assert len(nearest) == 5 and article not in [n["article_id"] for n in nearest]
    assert similarities == sorted(similarities, reverse=True)
    user = service.store.users("tiny")["user_id"].iloc[0]
    profile = service.user_profile(user)
    history = service.store.user_history("tiny", user, limit=50)
    assert [h["article_id"] for h in profile["history"]] == history
    assert all(h["title"] for h in profile["history"]) and profile["known"]
    assert service.user_profile("U_nobody") == {"user_id": "U_nobody", "known": False, "in_training": False, "history": []}


def test_concurrent_recommend_and_add(fresh):
    users = fresh.store.users("tiny")["user_id"].iloc[:8].tolist()
    errors: list[BaseException] = []

    def read(user: str) -> None:
        try:
            for _ in range(5):
                for item in fresh.recommend(user, k=5):
                    assert item["article_id"] in fresh.catalog.articles.position
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def write() -> None:
        try:
            for n in range(5):
                fresh.add_article(title=f"Breaking story number {n}", article_id=f"N_thread{n}", sample_users=20)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(u,)) for u in users] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(fresh.index) == len(fresh.catalog)
    assert len(fresh.store.added_articles("tiny")) == 5
