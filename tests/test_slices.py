"""Slice groups (category, history length, article age, user activity): the cuts, the metrics per slice value
against MIND's metrics computed on hand-restricted impressions, the facts built from the data alone, and the
groups flowing through a run's evaluation and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recengine.data.mind import load_dataset
from recengine.eval.evaluate import (
    AGE_LABELS, HISTORY_LABELS, SLICE_GROUP_UNITS, SLICE_GROUPS, SLICES, SliceFacts, data_slice_facts,
    evaluate_scores, slice_table,
)
from recengine.eval.metrics import METRICS, mind_metrics
from recengine.model.interactions import Interactions


def _toy() -> tuple[Interactions, np.ndarray, np.ndarray, SliceFacts]:
    """Three impressions of 4, 3 and 3 candidates with categories, ages and histories chosen by hand."""
    labels = np.array([1, 0, 0, 1, 0, 1, 0, 1, 0, 0], dtype=np.int8)
    scores = np.array([0.9, 0.2, 0.4, 0.3, 0.8, 0.1, 0.5, 0.7, 0.6, 0.2])
    truth = np.array([0.5, 0.1, 0.2, 0.4, 0.1, 0.3, 0.1, 0.6, 0.2, 0.1])
    inter = Interactions(
        impression_ids=np.array([1, 2, 3]), user_ids=np.array(["a", "b", "a"], dtype=object),
        user_rows=np.array([0, -1, 0]), times=np.zeros(3, dtype=np.int64),
        history_ptr=np.array([0, 0, 3, 28]), history=np.zeros(28, dtype=np.int64),
        candidate_ptr=np.array([0, 4, 7, 10]), candidates=np.arange(10), labels=labels,
    )
    facts = SliceFacts(
        candidate_rows=inter.candidate_rows, warm_user=np.array([True, False, True]),
        warm_article=np.array([True, True, False, True, True, False, True, True, True, False]),
        history_length=np.diff(inter.history_ptr),
        category=np.array(["news", "sports", "news", "sports", "news", "news", "", "sports", "news", "news"],
                          dtype=object),
        age_hours=np.array([1.0, 7.0, 30.0, 2.0, np.nan, 13.0, 5.9, 6.0, 50.0, 0.0]),
        train_impressions=np.array([12, 0, 12]),
    )
    return inter, scores, truth, facts


def _expected(inter: Interactions, scores: np.ndarray, keep: np.ndarray) -> dict:
    """MIND metrics over the kept candidates of each impression, impressions left empty dropped, by hand."""
    pairs = []
    for i in range(len(inter)):
        part = slice(inter.candidate_ptr[i], inter.candidate_ptr[i + 1])
        kept = keep[part]
        if kept.any():
            pairs.append((inter.labels[part][kept], scores[part][kept]))
    return mind_metrics(pairs)


def test_every_slice_value_is_scored_as_its_restricted_impressions():
    inter, scores, truth, facts = _toy()
    result = evaluate_scores(inter, scores, truth=truth, facts=facts)
    groups = result["slice_groups"]
    assert list(groups) == list(SLICE_GROUPS)
    category = facts.category
    cases = {
        ("category", "news"): category == "news",
        ("category", "sports"): category == "sports",
        ("category", "(none)"): category == "",
        ("article_age", "under 6 h"): np.array([1, 0, 0, 1, 0, 0, 1, 0, 0, 1], dtype=bool),
        ("article_age", "6-12 h"): np.array([0, 1, 0, 0, 0, 0, 0, 1, 0, 0], dtype=bool),
        ("article_age", "24-48 h"): np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool),
        ("article_age", "48 h or more"): np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 0], dtype=bool),
        ("history_length", "0"): np.repeat([True, False, False], [4, 3, 3]),
        ("history_length", "1-4"): np.repeat([False, True, False], [4, 3, 3]),
        ("history_length", "20+"): np.repeat([False, False, True], [4, 3, 3]),
        ("user_activity", "0 (new)"): np.repeat([False, True, False], [4, 3, 3]),
        ("user_activity", "10+"): np.repeat([True, False, True], [4, 3, 3]),
    }
    for (group, value), keep in cases.items():
        entry = groups[group][value]
        for scorer, values in (("model", scores), ("oracle", truth)):
            expected = _expected(inter, values, keep)
            assert entry[scorer] == expected, (group, value, scorer)
        assert entry["impressions"] == _expected(inter, scores, keep)["impressions"]
    # The most frequent category first; a category nobody has is absent, fixed buckets are always listed.
    assert list(groups["category"]) == ["news", "sports", "(none)"]
    assert list(groups["history_length"]) == list(HISTORY_LABELS)
    assert groups["history_length"]["5-19"]["impressions"] == 0
    assert groups["history_length"]["5-19"]["model"]["auc"] is None
    # Sub-impressions per age bucket: 3 in the first impression, 2 in the second (its NaN age, an unknown
    # first-seen time, is in no bucket), 3 in the third.
    assert sum(v["impressions"] for v in groups["article_age"].values()) == 8
    assert list(groups["article_age"]) == list(AGE_LABELS)
    # The standard slices are unchanged in shape.
    assert list(result["slices"]) == list(SLICES)


def test_user_activity_is_left_out_without_train_counts_and_random_is_the_overall_random():
    inter, scores, truth, facts = _toy()
    facts = SliceFacts(**{**facts.__dict__, "train_impressions": None})
    result = evaluate_scores(inter, scores, facts=facts, seed=3)
    assert "user_activity" not in result["slice_groups"]
    assert result["oracle"] is None
    assert all(entry["oracle"] is None for entry in result["slice_groups"]["category"].values())
    random = np.random.default_rng(3).random(len(scores))
    assert result["slice_groups"]["category"]["news"]["random"] == _expected(inter, random, facts.category == "news")


def test_bucket_edges_are_the_stated_ones():
    history = {group.name: group for group in SLICE_GROUP_UNITS}["history_length"]
    lengths = np.array([0, 1, 4, 5, 19, 20, 300])
    facts = SliceFacts(np.zeros(0, np.int64), np.ones(7, bool), np.zeros(0, bool), lengths,
                       np.zeros(0, object), np.zeros(0), np.array([0, 1, 2, 3, 9, 10, 99]))
    codes, labels = history.cut(facts)
    assert [labels[c] for c in codes] == ["0", "1-4", "1-4", "5-19", "5-19", "20+", "20+"]
    activity = {group.name: group for group in SLICE_GROUP_UNITS}["user_activity"]
    codes, labels = activity.cut(facts)
    assert [labels[c] for c in codes] == ["0 (new)", "1-2", "1-2", "3-9", "3-9", "10+", "10+"]


def test_slice_table_has_one_row_per_slice_value_with_the_share_of_the_oracle():
    inter, scores, truth, facts = _toy()
    result = evaluate_scores(inter, scores, truth=truth, facts=facts)
    table = slice_table(result)
    n_values = sum(len(values) for values in result["slice_groups"].values())
    assert len(table) == 1 + len(SLICES) + n_values
    row = table[(table["group"] == "category") & (table["value"] == "news")].iloc[0]
    entry = result["slice_groups"]["category"]["news"]
    assert row["model"] == entry["model"]["auc"] and row["oracle"] == entry["oracle"]["auc"]
    if row["oracle"] != row["random"]:
        assert row["share_of_oracle"] == pytest.approx((row["model"] - row["random"]) / (row["oracle"] - row["random"]))
    # An old result without slice groups still makes a table (overall and the standard slices).
    old = {key: result[key] for key in ("model", "random", "oracle", "slices", "baselines")}
    assert list(slice_table(old)["group"]) == ["overall", *["seen in training"] * len(SLICES)]


def test_data_facts_read_seen_users_articles_first_seen_and_categories_from_the_data(tiny_data: Path):
    dataset = load_dataset(tiny_data)
    train, dev = dataset.train.behaviors, dataset.dev.behaviors
    categories = dataset.news.frame.set_index("news_id")["category"]
    facts = data_slice_facts(train, dev, categories)
    train_users = set(train.impression_user_ids.tolist())
    assert facts.warm_user.tolist() == [u in train_users for u in dev.impression_user_ids]
    seen = set(train.articles[train.history].tolist()) | set(train.articles[train.candidates].tolist())
    ids = dev.articles[dev.candidates]
    assert facts.warm_article.tolist() == [a in seen for a in ids]
    counts = pd.Series(train.impression_user_ids).value_counts()
    assert facts.train_impressions.tolist() == [int(counts.get(u, 0)) for u in dev.impression_user_ids]
    assert facts.category.tolist() == [categories.get(a, "") for a in ids]
    # Ages from each article's earliest impression in train or dev, computed here with a plain loop.
    first: dict[str, int] = {}
    for behaviors in (train, dev):
        seconds = behaviors.times.astype("datetime64[s]").astype(np.int64)
        for row in range(len(behaviors)):
            for article in behaviors.candidate_ids(row):
                first[article] = min(first.get(article, seconds[row]), seconds[row])
    dev_seconds = dev.times.astype("datetime64[s]").astype(np.int64)[dev.candidate_rows]
    expected = (dev_seconds - np.array([first[a] for a in ids])) / 3600
    assert np.allclose(facts.age_hours, expected) and (facts.age_hours >= 0).all()
    assert facts.age_hours.min() == 0.0  # an article first shown in dev is 0 hours old at its first impression


def test_a_runs_evaluation_carries_every_group_and_the_cli_prints_them(tiny_run: Path, tiny_cache, cli_main):
    from recengine.train.api import evaluate_run

    result = evaluate_run(tiny_run, cache=tiny_cache)
    groups = result["slice_groups"]
    assert list(groups) == list(SLICE_GROUPS)
    n_with_candidates = result["model"]["impressions"]
    for name in ("history_length", "user_activity"):  # these partition the impressions
        assert sum(entry["impressions"] for entry in groups[name].values()) == n_with_candidates
    for entry in groups["category"].values():
        assert set(entry) == {"impressions", "model", "random", "oracle"}
        assert set(METRICS) <= set(entry["model"]) and entry["oracle"] is not None
    assert json.loads(json.dumps(result))["slice_groups"] == groups
    done = cli_main("evaluate", "--run", tiny_run, "--cache", tiny_cache.folder)  # the CLI's main, in this process
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["slice_groups"] == json.loads(json.dumps(groups))
    assert set(printed["reliability"]) >= {"raw", "calibrated"}
