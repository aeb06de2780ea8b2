"""Cold start that honours a new reader: picked categories, a mixture of stated interests, the blend with clicks,
no repeated titles, the popularity prior's order; on the service, the application function, HTTP and the CLI."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from recengine.app import open_workspace, serving
from recengine.app.live import LiveService
from recengine.cli import main
from recengine.data import world_vocab
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.serve import RecommenderService
from recengine.serve.coldstart import CLICKS, CLICKS_CROSSOVER, MAX_PICKS, clauses, interleave, interleaved_scores, shares
from recengine.serve.ranking import title_key

TRAIN_WORDS = {sub: pools[0] for sub, pools in getattr(world_vocab, "TOPIC_WORDS_V3", {}).items()} or {
    sub: words for _, subs in world_vocab.TAXONOMY.values() for sub, words in subs.items()}


@pytest.fixture(scope="module")
def service(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> RecommenderService:
    """The session's tiny run over a store of this module's own (tests that change nothing)."""
    return RecommenderService(tiny_run, Store(tmp_path_factory.mktemp("cold") / "store.db"))


@pytest.fixture
def fresh(tiny_run, tmp_path: Path) -> RecommenderService:
    """A service over an empty store of its own, for tests that click or add."""
    return RecommenderService(tiny_run, Store(tmp_path / "store.db"))


def _largest(service: RecommenderService, column: str, n: int) -> list[str]:
    return service.catalog.frame[column].value_counts().index[:n].tolist()


def _share(items: list[dict], column: str, wanted) -> float:
    return sum(item[column] in set(wanted) for item in items) / len(items)


def _no_repeated_titles(items: list[dict]) -> bool:
    keys = [title_key(item["title"]) for item in items]
    return len(keys) == len(set(keys))


# --------------------------------------------------------------------------------------------- the rules


def test_title_rule_ignores_case_punctuation_and_spacing():
    assert title_key("Why the Sports Car matters — for…  Detroit!") == title_key("why the sports car matters for detroit")
    assert title_key("Rates rise") != title_key("Rates rise again")


def test_clauses_split_a_sentence_with_two_topics():
    assert clauses("I follow Formula 1 and central banks") == ["I follow Formula 1", "central banks"]
    assert clauses("stocks, bonds; rates") == ["stocks", "bonds", "rates"]
    assert clauses("rates ,") == ["rates ,"]  # a part without a word of its own: not split


def test_shares_fade_the_stated_interests_but_never_to_zero():
    assert shares(2, 0) == [0.5, 0.5]
    assert shares(1, 3, crossover=3.0) == [0.5, 0.5]
    stated = [shares(1, n, crossover=3.0)[0] for n in (1, 3, 10, 100)]
    assert stated == sorted(stated, reverse=True) and stated[-1] > 0
    assert shares(0, 4) == [1.0]


def test_interleave_serves_in_proportion_and_skips_refused_rows():
    served = interleave([[1, 2, 3, 4, 5, 6], [10, 11, 12]], [0.75, 0.25], 8, accept=lambda row: row != 2)
    # By hand: slot t goes to the larger of 0.75 t - taken0 and 0.25 t - taken1 (ties to source 0); source 0 runs
    # out after 6, so the last slot is source 1's.
    assert [row for row, _ in served] == [1, 3, 10, 4, 5, 6, 11, 12]
    assert Counter(source for _, source in served[:4]) == {0: 3, 1: 1}


def test_interleaved_scores_order_candidates_as_the_interleaved_list():
    # One impression of four candidates: source 0 ranks a > b > c > d, source 1 ranks d > c > b > a, equal shares.
    merged = interleaved_scores(np.array([[4.0, 3, 2, 1], [1.0, 2, 3, 4]]), np.array([[0.5], [0.5]]),
                                np.array([0, 4]))
    assert merged[0] == merged[3] > merged[1] == merged[2]


# --------------------------------------------------------------------------------------------- the service


def test_two_picked_categories_fill_most_of_the_list(service):
    for pair in itertools.combinations(_largest(service, "category", 4), 2):
        items = service.cold_start(categories=list(pair), k=10)
        assert _share(items, "category", pair) >= 0.8, (pair, [i["category"] for i in items])
        assert {i["category"] for i in items} >= set(pair), pair  # both are served, not one
        assert all(i["reason"] == i["category"] for i in items if i["category"] in pair)
        assert _no_repeated_titles(items)


def test_the_application_function_serves_the_page_the_same_list(service):
    pair = _largest(service, "category", 2)
    items = serving.cold_start(service, categories=pair, interest_text="  ", k=10)
    assert [i["article_id"] for i in items] == [i["article_id"] for i in service.cold_start(categories=pair)]


def test_a_picked_subcategory_is_read_as_that_subcategory(service):
    sub = _largest(service, "subcategory", 1)[0]
    items = service.cold_start(categories=[sub.upper()], k=5)
    assert _share(items, "subcategory", [sub]) >= 0.8


def test_a_sentence_with_two_topics_serves_both(service):
    # On tiny with the hashing embedder only the training vocabulary can be read: the sentence uses it.
    first, second = _largest(service, "subcategory", 2)
    text = f"I follow {' '.join(TRAIN_WORDS[first][:3])} and {' '.join(TRAIN_WORDS[second][:3])}"
    items = service.cold_start(interest_text=text, k=10)
    counts = Counter(i["subcategory"] for i in items)
    assert counts[first] >= 2 and counts[second] >= 2, (text, counts)
    assert {i["reason"] for i in items} == set(clauses(text))


def test_clicks_take_a_growing_share_and_the_picks_stay(service):
    category, other = _largest(service, "category", 2)
    frame = service.catalog.frame
    clicked = frame.loc[frame["category"] == other, "news_id"].tolist()
    from_clicks, from_pick = [], []
    for n in (1, 3, 10):
        items = service.cold_start(categories=[category], clicks=clicked[:n], k=20)
        from_clicks.append(sum(i["reason"] == CLICKS for i in items))
        from_pick.append(sum(i["reason"] == category for i in items))
        assert not {i["article_id"] for i in items} & set(clicked[:n])
    assert from_clicks[0] < from_clicks[1] < from_clicks[2]
    # The picks' share after 10 clicks is c / (10 + c) of 20, give or take the rounding of one slot.
    assert from_pick[2] >= 20 * CLICKS_CROSSOVER / (10 + CLICKS_CROSSOVER) - 1


def test_no_list_repeats_a_title(fresh):
    original = fresh.cold_start(k=1)[0]  # the top of the popularity prior
    copy = fresh.add_article(title=original["title"].upper() + " !", category=original["category"],
                             subcategory=original["subcategory"])["article_id"]
    for n in range(40):  # both the original and its copy become the most clicked articles
        fresh.record_click(f"U_crowd{n}", original["article_id"])
        fresh.record_click(f"U_crowd{n}", copy)
    lists = [fresh.cold_start(k=10), fresh.cold_start(categories=[original["category"]], k=10),
             fresh.cold_start(interest_text=original["title"], k=10),
             fresh.recommend(fresh.store.users(fresh.dataset)["user_id"].iloc[0], k=10)]
    for items in lists:
        assert _no_repeated_titles(items), [i["title"] for i in items]
    assert {original["article_id"], copy} & {i["article_id"] for i in lists[0]}  # one of them is served


def test_the_popularity_list_is_in_the_order_of_the_score_it_shows(service):
    items = service.cold_start(k=20)
    assert {i["source"] for i in items} == {"popularity"}
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    now = service.state.now
    for item in items:  # the shown score is the prior: log(1 + clicks) + the freshness boost, computed here
        first = service.catalog.first_seen[service.catalog.articles.rows([item["article_id"]])[0]]
        age = (now - first) / 3600
        boost = 2 ** (-age / 12.0) if 0 <= age else 0.0
        assert item["score"] == pytest.approx(math.log1p(item["clicks"]) + boost, abs=1e-3)


@pytest.mark.parametrize("categories, message", [
    (["no_such_topic"], "'no_such_topic' is neither a category nor a subcategory"),
    (["  "], "must be a non-blank"),
    ([f"c{i}" for i in range(MAX_PICKS + 1)], f"the limit is {MAX_PICKS}"),
])
def test_bad_picks_are_refused_with_one_line(service, categories, message):
    with pytest.raises(InputError, match=message) as raised:
        service.cold_start(categories=categories)
    assert "\n" not in str(raised.value)


# --------------------------------------------------------------------------------------------- HTTP and CLI


@pytest.fixture(scope="module")
def served(tiny_run, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    from tests.test_http_service import Served

    workspace, store = open_workspace(tmp_path_factory.mktemp("cold-http"))
    served = Served(LiveService(workspace, store, tiny_run, cache=tiny_cache))
    yield served
    served.close()


def test_http_recommendations_serve_the_picked_categories(served, service):
    pair = _largest(service, "category", 2)
    response = served.client.get("/v1/users/U_brand_new/recommendations",
                                 params={"k": 10, "category": pair})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 10 and _share(items, "category", pair) >= 0.8
    assert {i["reason"] for i in items} == set(pair)
    refused = served.client.get("/v1/users/U_brand_new/recommendations", params={"category": "no_such_topic"})
    assert refused.status_code == 400 and "no_such_topic" in refused.json()["error"]
    blank = served.client.get("/v1/users/U_brand_new/recommendations", params={"category": " "})
    assert blank.status_code == 422 and blank.json()["error"].startswith("query.category")


def test_cli_category_flags(tiny_run, service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    pair = _largest(service, "category", 2)
    monkeypatch.setenv("RECENGINE_HOME", str(tmp_path / "home"))
    base = ["recommend", "--run", str(tiny_run), "--store", str(tmp_path / "store.db"), "--user", "U_brand_new"]
    assert main([*base, "--category", pair[0], "--category", pair[1], "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == 10 and _share(items, "category", pair) >= 0.8
    assert main([*base, "--category", pair[0]]) == 0
    table = capsys.readouterr().out
    assert table.count(f" {pair[0]} ") >= 8  # the "for" column names the pick
    assert main([*base, "--category", "no_such_topic"]) == 2
    err = capsys.readouterr().err  # the progress line, then one error line (the names need the catalogue)
    assert err.strip().splitlines()[-1].startswith("error: picked category 'no_such_topic'")
    assert "Traceback" not in err
    assert main([*base, "--category", " "]) == 2  # a blank pick is refused before the run loads
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: picked category ' ': must be a non-blank category or subcategory name"]
