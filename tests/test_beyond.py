"""Beyond-accuracy measures (recengine.eval.beyond) against hand-computed values on tiny lists, and the served-list
evaluation of a trained run (recengine.app.evaluation) beside random and most-popular lists."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from recengine.errors import InputError
from recengine.eval import beyond
from recengine.eval.beyond import MEASURES, Catalogue, ServedLists, beyond_metrics

HOUR = 3600

# Five articles. Text vectors: 0 and 1 identical, 2 orthogonal to them, 3 at 45 degrees, 4 has no text.
VECTORS = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
CLICKS = np.array([6, 2, 0, 0, 0])
FIRST_SEEN = np.array([0, 10 * HOUR, 20 * HOUR, beyond.UNDATED, 30 * HOUR])
AFTER_TRAINING = np.array([False, False, True, False, True])
CATALOGUE = Catalogue(VECTORS, CLICKS, FIRST_SEEN, AFTER_TRAINING)
# Three users' lists of up to three items (-1 pads the last one); all served at hour 25.
ITEMS = np.array([[0, 1, 2], [0, 2, 3], [4, 0, -1]])
LISTS = ServedLists(ITEMS, np.full(3, 25 * HOUR))


def cosine(a, b) -> float:
    na, nb = math.hypot(*a), math.hypot(*b)
    return 0.0 if na == 0 or nb == 0 else (a[0] * b[0] + a[1] * b[1]) / (na * nb)


def served(items):
    return [[i for i in row if i >= 0] for row in items.tolist()]


def test_each_measure_equals_a_hand_computation():
    result = beyond_metrics(LISTS, CATALOGUE)
    lists = served(ITEMS)
    # Coverage: articles 0, 1, 2, 3, 4 all appear -> 5 of 5.
    assert result["coverage"] == 1.0
    # Diversity: list 1 pairs (0,1)=1, (0,2)=0, (1,2)=0; list 2 (0,2)=0, (0,3)=cos45, (2,3)=cos45; list 3 (4,0)=0.
    c45 = 1 / math.sqrt(2)
    assert result["diversity"] == pytest.approx(((1 - 1 / 3) + (1 - 2 * c45 / 3) + 1) / 3, abs=1e-12)
    assert result["diversity"] == pytest.approx(
        np.mean([1 - np.mean([cosine(VECTORS[a], VECTORS[b]) for a, b in combinations(row, 2)]) for row in lists]))
    # Novelty: p = (clicks + 1) / (8 + 5) -> self-information per article, then list means.
    bits = [-math.log2((c + 1) / 13) for c in CLICKS]
    assert result["novelty"] == pytest.approx(np.mean([np.mean([bits[i] for i in row]) for row in lists]), abs=1e-12)
    # Average popularity: (6+2+0)/3, (6+0+0)/3, (0+6)/2.
    assert result["popularity"] == pytest.approx((8 / 3 + 6 / 3 + 3) / 3, abs=1e-12)
    # Exposure 0:3, 1:1, 2:2, 3:1, 4:1 -> sorted 1,1,1,2,3; Gini = mean |xi - xj| over all ordered pairs / (2 mean).
    exposure = [3, 1, 2, 1, 1]
    gini = sum(abs(x - y) for x in exposure for y in exposure) / (2 * len(exposure) ** 2 * np.mean(exposure))
    assert result["exposure_gini"] == pytest.approx(gini, abs=1e-12)
    # Personalisation: Jaccard {0,1,2}&{0,2,3} = 2/4, {0,1,2}&{0,4} = 1/4, {0,2,3}&{0,4} = 1/4.
    assert result["personalisation"] == pytest.approx(1 - (2 / 4 + 1 / 4 + 1 / 4) / 3, abs=1e-12)
    assert (result["pairs"], result["pairs_sampled"], result["lists"]) == (3, False, 3)
    # Freshness at hour 25: ages 25, 15, 5 | 25, 5, (3 undated) | (4 first seen at 30: later) 25.
    assert result["freshness"] == pytest.approx((15 + 15 + 25) / 3, abs=1e-12)
    # New-article exposure: items 2, 2, 4 of the 8 served are after training.
    assert result["new_articles"] == 3 / 8
    assert list(result)[: len(MEASURES)] == list(MEASURES)


def test_identical_lists_are_not_personal_and_one_list_everywhere_is_unequal():
    same = ServedLists(np.array([[0, 1], [0, 1], [0, 1]]), np.zeros(3, dtype=np.int64))
    result = beyond_metrics(same, CATALOGUE)
    assert result["personalisation"] == 0.0
    assert result["coverage"] == 2 / 5
    # Exposure 3, 3, 0, 0, 0: Gini = (2*4-6)*3 + (2*5-6)*3 over 5 * 6 = 18 / 30.
    assert result["exposure_gini"] == pytest.approx(0.6, abs=1e-12)
    disjoint = ServedLists(np.array([[0, 1], [2, 3]]), np.zeros(2, dtype=np.int64))
    assert beyond_metrics(disjoint, CATALOGUE)["personalisation"] == 1.0


def test_personalisation_samples_pairs_beyond_the_limit(monkeypatch):
    monkeypatch.setattr(beyond, "PAIR_LIMIT", 4)
    first, second, sampled = beyond.user_pairs(10, seed=3)
    assert sampled and len(first) == 4 and (first != second).all()
    assert np.array_equal(beyond.user_pairs(10, seed=3)[0], first)  # seeded
    assert beyond.user_pairs(3)[2] is False  # 3 pairs fit under the limit: all of them


def test_undefined_measures_are_none():
    result = beyond_metrics(ServedLists(np.full((1, 2), -1), np.zeros(1, dtype=np.int64)), CATALOGUE)
    for name in ("diversity", "novelty", "popularity", "exposure_gini", "personalisation", "freshness",
                 "new_articles"):
        assert result[name] is None, name
    assert result["coverage"] == 0.0


@pytest.mark.parametrize(("items", "times", "words"), [
    (np.array([[0, 7]]), np.zeros(1, dtype=np.int64), "outside the catalogue"),
    (np.array([[0, 0]]), np.zeros(1, dtype=np.int64), "same article twice"),
    (np.array([[0, 1]]), np.zeros(2, dtype=np.int64), "1 lists but 2 serving times"),
    (np.array([0.5, 1.0]), np.zeros(1, dtype=np.int64), "integer array"),
])
def test_bad_lists_are_refused(items, times, words):
    with pytest.raises(InputError, match=words):
        beyond_metrics(ServedLists(items, times), CATALOGUE)


# --------------------------------------------------------------------------------------------- served lists


@pytest.fixture
def recorded_run(store, tiny_run) -> str:
    from recengine.app import runs

    return runs.register_run(store, tiny_run)["run_id"]


def test_served_lists_beside_random_and_most_popular_as_a_job(workspace, store, recorded_run):
    from recengine import plots
    from recengine.app import evaluation, jobs

    job_id = jobs.submit(workspace, store, "beyond", {"run": recorded_run, "users": 60}, start=False)
    finished = jobs.run_job(workspace, store, job_id)
    assert finished["status"] == "done", finished["error"]
    saved = evaluation.saved_beyond(store, recorded_run)
    assert saved["id"] == finished["result"]["result_id"]
    result = saved["result"]
    assert (result["k"], result["users"], result["cap"], result["sampled"]) == (10, 60, 60, True)
    model, random, popular = result["model"], result["random"], result["popular"]
    # The most-popular lists concentrate on a few heavily clicked articles; random lists spread over the catalogue.
    assert popular["popularity"] > model["popularity"] and popular["popularity"] > random["popularity"]
    assert popular["coverage"] < model["coverage"] < random["coverage"]
    assert popular["exposure_gini"] > random["exposure_gini"]
    assert popular["personalisation"] < model["personalisation"]
    assert popular["new_articles"] == 0.0  # never clicked in training, so never the most popular
    assert model["lists"] == 60 and model["pairs"] == 60 * 59 // 2
    table = evaluation.beyond_table(result)
    assert table["Measure"].tolist()[0] == "Catalogue coverage"
    assert table.loc[0, "Most popular"] == f"{popular['coverage']:.1%}"
    figure = plots.beyond_chart(result)
    assert len(figure.data) == len(MEASURES) and all(len(trace.x) == 3 for trace in figure.data)  # a panel each
    assert plots.beyond_chart(None).layout.annotations[0].text == "No served lists measured yet."


def test_served_lists_are_the_service_top_k_at_each_first_dev_impression(store, recorded_run):
    from recengine.app import evaluation, serving

    result = evaluation.beyond_accuracy(store, recorded_run, k=5, users=10_000)
    # Independently: every dev user's first impression, the service asked for 5 as of that impression.
    service = serving.open_service(store, recorded_run)
    dev = service.run.dataset.dev.behaviors
    firsts = {}
    for i in np.argsort(dev.times, kind="stable").tolist():
        firsts.setdefault(str(dev.impression_user_ids[i]), i)
    lists = []
    for user, i in firsts.items():
        items = service.recommend(user, 5, history=dev.history_ids(i), now=dev.times[i])
        lists.append({item["article_id"] for item in items})
        assert not lists[-1] & set(dev.history_ids(i))  # what the reader already read is never served
    assert (result["users"], result["sampled"]) == (len(firsts), False)
    assert result["model"]["coverage"] == pytest.approx(len(set().union(*lists)) / len(service.catalog))
    jaccard = [len(a & b) / len(a | b) for a, b in combinations(lists, 2)]
    assert result["model"]["personalisation"] == pytest.approx(1 - np.mean(jaccard))


def test_cli_evaluate_adds_beyond_and_precision_recall(tiny_run, capsys):
    import json

    from recengine.cli import main
    from recengine.eval.metrics import METRICS

    assert main(["evaluate", "--run", str(tiny_run), "--beyond"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(METRICS) <= set(result["model"]) and 0 <= result["model"]["p@10"] <= 1
    assert set(MEASURES) <= set(result["beyond"]["popular"]) and result["beyond"]["users"] > 0
    assert "beyond" not in json.loads((main(["evaluate", "--run", str(tiny_run)]), capsys.readouterr().out)[1])


@pytest.mark.parametrize(("flags", "words"), [
    (["--split", "test"], "needs --run and the dev split"),
])
def test_cli_refuses_beyond_without_dev_lists(tiny_run, capsys, flags, words):
    from recengine.cli import main

    assert main(["evaluate", "--run", str(tiny_run), "--beyond", *flags]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(("params", "words"), [
    ({"k": 0}, "'k'"),
    ({"users": 1}, "'users'"),
    ({"colour": "red"}, "unknown job parameter"),
])
def test_bad_job_parameters_are_refused(workspace, store, recorded_run, params, words):
    from recengine.app import jobs

    with pytest.raises(InputError, match=words):
        jobs.submit(workspace, store, "beyond", {"run": recorded_run, **params}, start=False)


def test_bad_arguments_are_refused_before_any_work(store, recorded_run):
    from recengine.app import evaluation

    with pytest.raises(InputError, match="k must be"):
        evaluation.beyond_accuracy(store, recorded_run, k=0)
    with pytest.raises(InputError, match="users must be"):
        evaluation.beyond_accuracy(store, recorded_run, users=1)
