"""Figure builders: traces carry the data they were given; empty inputs give an empty-state figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from recengine import plots
from recengine.diagnostics import logit_report
from recengine.errors import InputError


def _is_empty_state(fig: go.Figure, words: str) -> bool:
    return isinstance(fig, go.Figure) and not fig.data and any(words in a.text for a in fig.layout.annotations)


def _values(trace, axis: str) -> list:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in getattr(trace, axis)]


def test_logit_and_sigmoid_histograms_carry_the_report():
    scores = np.array([-8.0, -1.0, 0.0, 1.0, 8.0, 30.0])
    labels = np.array([0, 0, 1, 0, 1, 1])
    report = logit_report(scores, labels, bins=4)
    fig = plots.logit_histogram(report, normalize=False)
    by_name = {t.name.split(" ")[0]: t for t in fig.data}
    np.testing.assert_array_equal(by_name["clicks"].y, report["histograms"]["logits"]["clicks"])
    np.testing.assert_array_equal(by_name["non-clicks"].y, report["histograms"]["logits"]["non_clicks"])
    edges = report["histograms"]["logits"]["edges"]
    np.testing.assert_allclose(by_name["clicks"].x, (edges[:-1] + edges[1:]) / 2)
    np.testing.assert_array_equal(by_name["clicks"].customdata, report["histograms"]["logits"]["clicks"])  # on hover
    assert "saturated" in fig.layout.title.text.replace("<br>", " ")
    # Both saturation thresholds are marked with a line and a text label.
    assert len(fig.layout.shapes) == 2 and len(fig.layout.annotations) == 2

    shares = plots.sigmoid_histogram(report)
    for trace in shares.data:
        assert sum(trace.y) == pytest.approx(1.0)  # normalised per class
    assert "pinned" in shares.layout.title.text.replace("<br>", " ")


def test_histograms_empty_state():
    assert _is_empty_state(plots.logit_histogram(None), "No labelled")
    assert _is_empty_state(plots.sigmoid_histogram(logit_report(np.array([]), np.array([]))), "No labelled")


def test_gradient_norms_chart_lines_per_module():
    frame = pd.DataFrame({"text": [1.0, 0.5], "fusion": [0.2, 0.1], "frozen": [0.0, 0.0]}, index=[1, 2])
    fig = plots.gradient_norms_chart(frame)
    traces = {t.name: t for t in fig.data}
    assert _values(traces["text"], "y") == [1.0, 0.5]
    assert list(traces["text"].x) == [1, 2]
    assert fig.layout.yaxis.type == "log"
    # A log axis cannot draw zero: the legend says so.
    assert _values(traces["frozen: no gradient"], "y") == [None, None]
    assert _is_empty_state(plots.gradient_norms_chart(pd.DataFrame()), "No gradient")


def test_training_curves_with_partial_history():
    history = [
        {"epoch": 1, "train_loss": 1.2, "dev": {"auc": 0.55}},
        {"epoch": 2, "train_loss": 1.0, "dev": None},  # live: dev not scored yet
    ]
    fig = plots.training_curves(history, random_auc=0.5, oracle_auc=0.8)
    loss, auc = fig.data
    assert list(loss.x) == [1, 2] and list(loss.y) == [1.2, 1.0]
    assert list(auc.x) == [1] and list(auc.y) == [0.55]
    assert {a.text for a in fig.layout.annotations} >= {"random 0.500", "oracle 0.800"}
    assert _is_empty_state(plots.training_curves([]), "No epoch")


def test_fusion_weights_chart_and_concat_reason():
    frame = pd.DataFrame({"all": [0.5, 0.3, 0.2], "warm": [0.6, 0.3, 0.1], "new": [0.1, 0.6, 0.3]},
                         index=pd.Index(["id", "text", "graph"], name="view"))
    frame.attrs["articles"] = {"all": 10, "warm": 8, "new": 2}
    fig = plots.fusion_weights_chart(frame)
    assert len(fig.data) == 3
    new = next(t for t in fig.data if t.name.startswith("never seen"))
    assert list(new.y) == ["id", "text", "graph"] and list(new.x) == [0.1, 0.6, 0.3]
    assert list(new.text) == ["0.10", "0.60", "0.30"] and "(n=2)" in new.name
    empty = pd.DataFrame(columns=["all", "warm", "new"])
    empty.attrs["reason"] = "concat fusion mixes the views in an MLP"
    assert _is_empty_state(plots.fusion_weights_chart(empty), "concat fusion")


def test_metrics_chart_bars_for_model_random_and_oracle_per_slice():
    def m(auc: float) -> dict:
        return {"auc": auc, "mrr": auc / 2}

    metrics = {
        "model": m(0.7), "random": m(0.5), "oracle": m(0.9),
        "slices": {"new_articles": m(0.6), "warm": m(0.75)},  # stored JSON may sort the slices
        "baselines": {"warm": {"random": m(0.49), "oracle": m(0.91)}, "new_articles": {"random": m(0.51), "oracle": None}},
    }
    bars = plots.metrics_chart(metrics, "auc").data[0]
    shown = dict(zip(zip(*bars.y), bars.x))
    assert list(dict.fromkeys(bars.y[0])) == ["overall", "warm", "new<br>articles"]  # fixed order
    assert shown[("overall", "model")] == 0.7 and shown[("warm", "random")] == 0.49
    assert shown[("new<br>articles", "oracle")] is None
    assert list(bars.text[:3]) == ["0.700", "0.500", "0.900"]
    assert plots.metrics_chart(metrics, "mrr").data[0].x[0] == 0.35
    assert _is_empty_state(plots.metrics_chart(None), "No evaluation")


def test_comparison_heatmap_mean_and_std_over_seeds():
    frame = pd.DataFrame({
        "fusion": ["concat", "concat", "concat", "concat", "gate", "gate"],
        "temperature": [0.1, 0.1, 0.5, 0.5, 0.1, 0.1],
        "loss": ["listwise"] * 6,
        "seed": [0, 1, 0, 1, 0, 1],
        "auc": [0.60, 0.64, 0.70, 0.70, 0.50, 0.54],
    })
    fig = plots.comparison_heatmap(frame, "auc")
    heat = fig.data[0]
    assert list(heat.x) == ["0.1", "0.5"] and list(heat.y) == ["concat", "gate"]
    z = [[None if v is None else round(v, 6) for v in row] for row in heat.z]
    assert z == [[0.62, 0.70], [0.52, None]]
    # Sample std of (0.60, 0.64) is 0.02 * sqrt(2) = 0.028.
    assert heat.text[0][0] == "0.620 ± 0.028" and heat.text[1][1] == "n/a"
    assert "2 seeds" in fig.layout.title.text.replace("<br>", " ")
    with pytest.raises(InputError, match="ndcg"):
        plots.comparison_heatmap(frame, "ndcg@10")
    assert _is_empty_state(plots.comparison_heatmap(frame.iloc[:0]), "No comparison")


def test_zero_shot_chart():
    rows = [
        {"method": "zero-shot", "auc": 0.6, "mrr": 0.2, "random_auc": 0.5, "oracle_auc": 0.8},
        {"method": "incremental", "auc": 0.65},
        {"method": "full retrain", "auc": 0.7, "mrr": 0.3},
    ]
    fig = plots.zero_shot_chart(rows)
    [auc] = fig.data
    assert list(auc.x) == ["zero-shot", "incremental", "full retrain"] and list(auc.y) == [0.6, 0.65, 0.7]
    assert list(auc.text) == ["0.600", "0.650", "0.700"]
    assert _values(plots.zero_shot_chart(rows, "mrr").data[0], "y") == [0.2, None, 0.3]
    with pytest.raises(InputError, match="method"):
        plots.zero_shot_chart([{"auc": 0.5}])
    assert _is_empty_state(plots.zero_shot_chart([]), "No results")


def test_data_charts():
    rates = plots.click_rate_chart({"train": 0.04, "dev": 0.05, "test": None})
    assert list(rates.data[0].x) == ["train", "dev"] and list(rates.data[0].y) == [0.04, 0.05]
    assert list(rates.data[0].text) == ["4.0%", "5.0%"]
    lengths = plots.history_length_chart({"train": [0, 1, 1, 5], "dev": [2, 3]})
    assert [list(t.x) for t in lengths.data] == [[0, 1, 1, 5], [2, 3]]
    categories = plots.category_chart(pd.Series({"news": 5, "sports": 9}))
    assert list(categories.data[0].y) == ["news", "sports"] and list(categories.data[0].x) == [5, 9]
    coverage = plots.coverage_chart({"embedder": "hashing", "embedded": 300, "embedded_share": 0.5,
                                     "graph_coverage": 1.0})
    assert list(coverage.data[0].x) == [1.0, 0.5] and list(coverage.data[0].text) == ["100.0%", "50.0%"]
    assert _is_empty_state(plots.click_rate_chart({}), "No labelled")
    assert _is_empty_state(plots.history_length_chart({"dev": []}), "No impressions")
    assert _is_empty_state(plots.category_chart({}), "No articles")
    assert _is_empty_state(plots.coverage_chart(None), "No catalogue")


def test_saturation_chart():
    demo = {"broken": {"loss": [50.0, 50.0], "saturated_share": [0.98, 0.98]},
            "fixed": {"loss": [0.9, 0.7], "saturated_share": [0.0, 0.0]}}
    fig = plots.saturation_chart(demo)
    assert [list(t.y) for t in fig.data] == [[50.0, 50.0], [0.98, 0.98], [0.9, 0.7], [0.0, 0.0]]
    assert _is_empty_state(plots.saturation_chart({}), "Run the demonstration")


def test_palette_is_one_constant_of_distinct_colours():
    assert len(set(plots.PALETTE.values())) == len(plots.PALETTE)
    assert plots.CLICK != plots.NON_CLICK and plots.RANDOM != plots.ORACLE


def test_comparison_heatmap_anchors_on_random_and_oracle_and_marks_cells_close_to_the_best():
    frame = pd.DataFrame({
        "fusion": ["concat", "concat", "gate", "attention"],
        "temperature": [0.1, 0.1, 0.1, 0.1],
        "loss": ["listwise"] * 4,
        "seed": [0, 1, 0, 0],
        "auc": [0.70, 0.72, 0.66, 0.71],
        "random_auc": [0.5, 0.5, 0.5, 0.5],
        "oracle_auc": [0.9, 0.9, 0.9, 0.9],
        # concat seed 1 is the best cell; gate is clearly worse; attention's interval crosses zero.
        "auc_diff_vs_best": [-0.02, 0.0, -0.06, -0.01],
        "auc_ci_low": [-0.03, 0.0, -0.08, -0.02],
        "auc_ci_high": [-0.01, 0.0, -0.04, 0.005],
        "auc_p": [0.001, 1.0, 1e-6, 0.2],
    })
    heat = plots.comparison_heatmap(frame, "auc").data[0]
    assert (heat.zmin, heat.zmax) == (0.5, 0.9)
    assert heat.colorbar.ticktext[0] == "random 0.500" and heat.colorbar.ticktext[-1] == "oracle 0.900"
    text = dict(zip(heat.y, (row[0] for row in heat.text)))
    assert text["concat"].endswith("★") and text["attention"] == "0.710 ≈" and text["gate"] == "0.660"
    # A cell beyond the oracle widens the scale rather than being clipped.
    above = plots.comparison_heatmap(frame.assign(oracle_auc=0.7), "auc").data[0]
    assert above.zmax == pytest.approx(0.71) and above.colorbar.ticktext[-1] == "0.710"
