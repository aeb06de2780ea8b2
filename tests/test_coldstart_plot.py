"""The cold-start curve: the chart the Cold start page draws and the stored result it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recengine import plots
from recengine.app import serving
from recengine.errors import InputError


def _result() -> dict:
    point = {"popularity": {"auc": 0.55, "ndcg@10": 0.2}, "picks": {"auc": 0.72, "ndcg@10": 0.4},
             "text": {"auc": 0.6, "ndcg@10": 0.3}, "picks_text": {"auc": 0.7, "ndcg@10": 0.35},
             "picks_model_only": {"auc": 0.71, "ndcg@10": 0.38}}
    return {"revealed": {n: point for n in ("0", "1", "3", "5")}, "random": {"auc": 0.5, "ndcg@10": 0.1},
            "oracle": {"auc": 0.85, "ndcg@10": 0.6}, "preset": "demo"}


def test_one_labelled_line_per_method_with_random_and_the_oracle():
    fig = plots.cold_start_chart(_result())
    assert [t.name for t in fig.data] == ["no interests stated", "picked categories", "typed sentence",
                                          "picks + sentence"]
    assert all(list(t.x) == [0, 1, 3, 5] for t in fig.data)
    assert list(fig.data[1].y) == [0.72] * 4
    looks = {(t.line.color, t.marker.symbol) for t in fig.data}
    assert len(looks) == len(fig.data) and len({t.line.color for t in fig.data}) == len(fig.data)
    labels = [a.text for a in fig.layout.annotations]
    assert "random 0.500" in labels and "oracle 0.850" in labels
    assert plots.cold_start_chart(_result(), "ndcg@10").data[1].y[0] == 0.4


def test_empty_and_malformed_results():
    empty = plots.cold_start_chart(None)
    assert not empty.data and "No cold-start benchmark" in empty.layout.annotations[0].text
    with pytest.raises(InputError, match="click counts"):
        plots.cold_start_chart({"revealed": {"zero": {}}})


def test_the_stored_result_is_read_and_checked(tmp_path: Path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_result()))
    assert serving.cold_start_curve(good)["revealed"]["3"]["picks"]["auc"] == 0.72
    assert serving.cold_start_curve(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        serving.cold_start_curve(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("[]")
    with pytest.raises(InputError, match="revealed"):
        serving.cold_start_curve(tmp_path / "other.json")


def test_the_shipped_demo_result_meets_the_target():
    shipped = serving.cold_start_curve()
    assert shipped is not None and shipped["preset"] == "demo"
    assert shipped["revealed"]["0"]["picks"]["auc"] >= 0.70
