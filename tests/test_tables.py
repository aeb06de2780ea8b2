"""recengine.tables and recengine.app.runs: run deletion, tables of runs and comparisons, benchmark results, interest
overlap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from recengine.app.runs import ACTIVE_RUN, delete_run, register_run
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.eval.compare import GRID_KEYS, RESULT_COLUMNS, result_row
from recengine.tables import (
    RECOMMENDATION_KEYS,
    article_topic,
    compare_runs,
    comparison_headline,
    interest_overlap,
    metric_summary,
    read_zero_shot,
    recommendations_table,
    runs_table,
    stored_comparison,
    zero_shot_rows,
    zero_shot_significance,
)

METRICS = {
    "model": {"auc": 0.7, "mrr": 0.3, "ndcg@5": 0.3, "ndcg@10": 0.4, "p@5": 0.2, "p@10": 0.1, "r@5": 0.6, "r@10": 0.8},
    "random": {"auc": 0.5, "mrr": 0.1, "ndcg@5": 0.1, "ndcg@10": 0.2},
    "oracle": {"auc": 0.9, "mrr": 0.5, "ndcg@5": 0.5, "ndcg@10": 0.6},
    "slices": {"warm": {"auc": 0.72}},
}


def registered(store: Store, folder: Path, tiny_run: Path, metrics: dict | None = METRICS) -> str:
    shutil.copytree(tiny_run, folder)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return register_run(store, folder, dataset="tiny")["run_id"]


def test_metric_summary_places_the_model_between_random_and_oracle():
    summary = metric_summary(METRICS)
    assert summary["share_of_oracle"] == pytest.approx((0.7 - 0.5) / (0.9 - 0.5))
    assert summary["warm_auc"] == 0.72 and summary["cold_users_auc"] is None
    assert set(metric_summary(None).values()) == {None}


def test_delete_run_refuses_the_active_run_and_removes_folder_and_row(workspace, store, tiny_run: Path):
    kept = registered(store, workspace.run("kept"), tiny_run)
    gone = registered(store, workspace.run("gone"), tiny_run)
    store.set_setting(ACTIVE_RUN, kept)
    with pytest.raises(InputError, match="active model"):
        delete_run(workspace, store, kept)
    assert delete_run(workspace, store, gone) == workspace.run("gone").resolve()
    assert not workspace.run("gone").exists() and store.run("gone") is None
    assert list(runs_table(store.runs())["run_id"]) == ["kept"]


def test_delete_run_outside_the_runs_folder_only_forgets_it(workspace, store, tiny_run: Path, tmp_path: Path):
    elsewhere = registered(store, tmp_path / "elsewhere", tiny_run)
    assert delete_run(workspace, store, elsewhere) is None
    assert (tmp_path / "elsewhere" / "config.json").is_file() and store.run(elsewhere) is None


def test_compare_runs_lists_only_the_settings_that_differ(workspace, store, tiny_run: Path):
    registered(store, workspace.run("a"), tiny_run)
    registered(store, workspace.run("b"), tiny_run, metrics={**METRICS, "model": {**METRICS["model"], "auc": 0.8}})
    metrics, settings = compare_runs(store.runs())
    assert metrics.loc["auc"].to_dict() == {"a": 0.7, "b": 0.8}
    assert settings.empty


def test_stored_comparison_pivots_the_long_values_to_the_grid_layout(store):
    comparison = store.start_comparison("tiny", {"fusions": ["gate"]})
    settings = {"fusion": "gate", "temperature": 0.1, "loss": "listwise", "seed": 0}
    evaluation = {**METRICS, "slices": {"warm": {"auc": 0.61, "mrr": 0.2}, "cold_users": {"auc": float("nan")}},
                  "baselines": {"warm": {"random": {"auc": 0.49}, "oracle": {"auc": 0.93}}}}
    store.add_comparison_cell(comparison, 1, {**settings, "best_epoch": 1, "seconds": 2.0, "run_id": "r1"}, evaluation)
    store.add_comparison_cell(comparison, 2, {**settings, "seed": 1}, {**METRICS, "oracle": None})
    frame = stored_comparison(store, comparison)
    # Every metric of the registry, each slice's AUC, random and oracle AUC: the columns of a grid row.
    assert frame.columns.tolist() == [*GRID_KEYS, *RESULT_COLUMNS, "best_epoch", "seconds", "run_id"]
    first, second = frame.to_dict("records")
    assert {key: first[key] for key in ("auc", "ndcg@5", "warm_auc", "random_auc", "oracle_auc", "run_id")} == {
        "auc": 0.7, "ndcg@5": 0.3, "warm_auc": 0.61, "random_auc": 0.5, "oracle_auc": 0.9, "run_id": "r1"}
    assert pd.isna(first["cold_users_auc"]) and pd.isna(first["new_articles_auc"])  # NaN stored, slice absent
    assert (second["seed"], second["auc"]) == (1, 0.7) and pd.isna(second["oracle_auc"]) and pd.isna(second["run_id"])
    assert frame.attrs["comparison_id"] == comparison
    # The same row as the grid reported: result_row over the evaluation it was stored from.
    expected = result_row(settings, evaluation)
    assert {key: first[key] for key in expected if pd.notna(first[key])} == {
        key: value for key, value in expected.items() if pd.notna(value)}
    assert comparison_headline(frame) == {"best_auc": 0.7, "random_auc": 0.5, "oracle_auc": 0.9}
    assert stored_comparison(store, store.start_comparison("tiny", {})).empty


def test_zero_shot_results(tmp_path: Path):
    assert read_zero_shot(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_zero_shot(tmp_path / "bad.json")
    (tmp_path / "ok.json").write_text(json.dumps({"methods": {"full_retrain": {"day6_articles": {"auc": 0.7}}}}))
    rows = zero_shot_rows(read_zero_shot(tmp_path / "ok.json"))
    assert rows == [{"method": "full retrain", "auc": 0.7, "random_auc": None, "oracle_auc": None}]


def test_article_topic_leaves_out_an_empty_subcategory():
    assert article_topic("finance", "markets") == "finance / markets"
    assert [article_topic("finance", empty) for empty in ("", " ", None, float("nan"))] == ["finance"] * 4
    assert article_topic("", "") == "no category"


def test_zero_shot_rows_carry_the_slice_baselines():
    baselines = {"day6_articles": {"random_auc": 0.49, "oracle_auc": 0.83}, "overall": {"random_auc": 0.5}}
    result = {"methods": {"incremental": {"day6_articles": {"auc": 0.75}, "baselines": baselines}}}
    (row,) = zero_shot_rows(result)
    assert (row["random_auc"], row["oracle_auc"]) == (0.49, 0.83)


def test_recommendations_table_keeps_only_columns_that_mean_something():
    model = [{"article_id": "N1", "title": "a", "category": "sports", "subcategory": "", "score": 1.5,
              "probability": 0.7, "recall_score": 0.4, "contributions": {"text": 0.2, "id": 0.1}, "top_view": "text",
              "source": "model"}]
    popular = [{"article_id": "N2", "title": "b", "category": "news", "subcategory": "", "score": 2.1,
                "probability": None, "recall_score": None, "contributions": {}, "top_view": None,
                "source": "popularity", "clicks": 7}]
    ranked = recommendations_table(model)
    assert {"probability", "score", "recall_score", "contribution_text", "top_view"} <= set(ranked.columns)
    assert "clicks" not in ranked.columns and "popularity_score" not in ranked.columns
    prior = recommendations_table(popular)
    assert list(prior[["popularity_score", "clicks"]].iloc[0]) == [2.1, 7]
    assert not {"probability", "score", "recall_score", "top_view"} & set(prior.columns)
    for source, table in (("model", ranked), ("popularity", prior)):
        assert set(RECOMMENDATION_KEYS[source]) <= set(table.columns)


def test_interest_overlap_against_the_base_rate():
    items = [{"category": c} for c in ("sports", "sports", "news", "tv")]
    result = interest_overlap(items, ["sports"], {"sports": 25, "news": 50, "tv": 25})
    assert result == {"share": 0.5, "base_rate": 0.25, "lift": 2.0, "items": 4}
    assert interest_overlap(items, [], {"sports": 1})["share"] is None


def test_zero_shot_significance_reads_each_method_against_the_retrain():
    paired = {"difference": -0.012, "ci_low": -0.02, "ci_high": -0.004, "p_value": 0.003, "distinguishable": True}
    same = {"difference": 0.001, "ci_low": -0.003, "ci_high": 0.005, "p_value": 0.6, "distinguishable": False}
    result = {"against_retrain": {"methods": {"zero_shot_mean": {"day6_articles": {"auc": paired}},
                                              "incremental_update": {"day6_articles": {"auc": same}}}}}
    table = zero_shot_significance(result)
    assert table.to_dict("records") == [
        {"method": "zero-shot, mean fill", "slice": "new articles (day 6)", "difference": -0.012,
         "ci_low": -0.02, "ci_high": -0.004, "p_value": 0.003, "verdict": "distinguishable"},
        {"method": "incremental update", "slice": "new articles (day 6)", "difference": 0.001, "ci_low": -0.003,
         "ci_high": 0.005, "p_value": 0.6, "verdict": "not distinguishable"}]
    assert zero_shot_significance({"methods": {}}).empty  # recorded before the paired comparison
