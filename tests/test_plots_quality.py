"""The quality charts' legibility rules, read off the figures: random and the oracle beside the model wherever a
quality figure is drawn, a value axis that never runs past 1, labels that cannot sit on each other or be cut,
and the heatmap's colour scale anchored on random and the oracle."""

from __future__ import annotations

import pandas as pd

from recengine import plots
from recengine.eval.evaluate import slice_table
from recengine.plots.quality import LABEL_COLUMN, NOT_MEASURED, REFERENCE_SLOT, ROOM
from recengine.tables import SHIPPED_ZERO_SHOT, read_zero_shot, zero_shot_rows


def _block(auc: float) -> dict:
    return {"auc": auc, "mrr": auc / 2, "impressions": 100}


def _evaluation(oracle: float = 0.9) -> dict:
    return {
        "model": _block(0.7), "random": _block(0.5), "oracle": _block(oracle),
        "slices": {"cold_users": _block(0.72), "warm": _block(0.75), "new_articles": _block(0.6)},
        "baselines": {name: {"random": _block(0.5), "oracle": _block(oracle)}
                      for name in ("warm", "new_articles", "cold_users")},
    }


def _rows(bars) -> list[tuple[str, str]]:
    return list(zip(*bars.y))


def test_metrics_chart_has_random_and_oracle_for_every_slice_in_a_fixed_order():
    bars = plots.metrics_chart(_evaluation()).data[0]
    rows = _rows(bars)
    slices = [s.replace("<br>", " ") for s in dict.fromkeys(s for s, _ in rows)]
    assert slices == ["overall", "warm", "new articles", "cold users"]
    assert rows == [(s, scorer) for s in dict.fromkeys(s for s, _ in rows) for scorer in ("model", "random", "oracle")]
    assert all(v is not None for v in bars.x)
    # Each scorer differs in colour and pattern; the names sit on the axis, so no legend has to wrap.
    styles = {scorer: (colour, shape) for (_, scorer), colour, shape in zip(rows, bars.marker.color,
                                                                             bars.marker.pattern.shape)}
    assert len(set(styles.values())) == 3 and len({c for c, _ in styles.values()}) == 3


def test_metrics_chart_labels_sit_outside_each_bar_with_room_and_the_axis_stops_at_1():
    for oracle in (0.9, 0.99):
        fig = plots.metrics_chart(_evaluation(oracle))
        bars = fig.data[0]
        low, high = fig.layout.xaxis.range
        assert high <= 1.0 and low <= min(bars.x)
        assert bars.textposition == "outside" and bars.cliponaxis is False
        assert len(bars.text) == len(set(_rows(bars)))  # one label per bar, each on its own row
        top = max(bars.x)
        # Either the axis leaves ROOM past the longest bar, or the plot gives up a label column at the right.
        assert high - top >= ROOM * (top - low) - 1e-9 or fig.layout.xaxis.domain[1] == 1 - LABEL_COLUMN
    assert plots.metrics_chart(_evaluation(0.99)).layout.xaxis.domain[1] == 1 - LABEL_COLUMN
    assert plots.metrics_chart(_evaluation(0.9)).layout.xaxis.domain[1] == 1


def test_metrics_chart_says_which_references_were_not_measured():
    metrics = _evaluation()
    metrics["baselines"] = {"warm": {"random": _block(0.52)}}
    fig = plots.metrics_chart(metrics)
    note = fig.data[1]
    assert note.mode == "text" and note.text == NOT_MEASURED
    missing = set(zip(*note.y))
    assert ("warm", "oracle") in missing and ("warm", "random") not in missing
    assert {scorer for _, scorer in missing} == {"random", "oracle"} and len(missing) == 5


def test_metrics_chart_title_names_the_metric_in_its_official_spelling():
    fig = plots.metrics_chart(_evaluation(), "ndcg@10")
    assert fig.layout.title.text.startswith("nDCG@10 beside random")
    assert fig.layout.xaxis.title.text == "nDCG@10"
    assert plots.metrics_chart(_evaluation()).layout.xaxis.title.text == "AUC"


def _slice_result() -> dict:
    result = _evaluation()
    result["slice_groups"] = {"category": {
        "sports": {"impressions": 40, "model": _block(0.8), "random": _block(0.5), "oracle": _block(1.0)},
        "news": {"impressions": 30, "model": _block(0.65), "random": _block(0.45), "oracle": _block(0.85)},
        "empty": {"impressions": 0, "model": _block(0.0), "random": _block(0.0), "oracle": _block(0.0)},
    }}
    return result


def test_slice_chart_marks_random_and_oracle_on_every_slice_and_keeps_labels_off_the_plot():
    table = slice_table(_slice_result())
    fig = plots.slice_chart(table)
    model, random, oracle, labels = fig.data
    shown = table[table["impressions"] > 0]
    assert len(model.x) == len(random.x) == len(oracle.x) == len(shown)  # the empty slice is left out
    assert list(random.x) == shown["random"].tolist() and list(oracle.x) == shown["oracle"].tolist()
    assert random.marker.symbol != oracle.marker.symbol and random.marker.color != oracle.marker.color
    # The model's values stand in their own column right of the plot: no bar or mark can cover them.
    assert labels.xaxis == "x2" and list(labels.text) == [f"{v:.3f}" for v in shown["model"]]
    assert fig.layout.xaxis2.domain[0] > fig.layout.xaxis.domain[1]
    assert fig.layout.xaxis.range[1] <= 1.0


def test_comparison_heatmap_colour_scale_runs_from_random_to_the_oracle():
    frame = pd.DataFrame({"fusion": ["gate", "attention"], "temperature": [0.1, 0.1], "loss": ["listwise"] * 2,
                          "seed": [0, 0], "auc": [0.753, 0.762], "random_auc": [0.5, 0.5], "oracle_auc": [0.86, 0.86]})
    heat = plots.comparison_heatmap(frame).data[0]
    assert (heat.zmin, heat.zmax) == (0.5, 0.86)  # not the cells' own 0.753-0.762
    assert heat.colorbar.ticktext[0].startswith("random") and heat.colorbar.ticktext[-1].startswith("oracle")


def test_zero_shot_chart_draws_the_shipped_benchmarks_random_and_oracle_as_labelled_lines():
    rows = zero_shot_rows(read_zero_shot(SHIPPED_ZERO_SHOT))
    fig = plots.zero_shot_chart(rows)
    lines = {round(shape.y0, 4) for shape in fig.layout.shapes}
    assert lines == {rows[0]["random_auc"], rows[0]["oracle_auc"]}
    texts = [a.text for a in fig.layout.annotations]
    assert f"random {rows[0]['random_auc']:.3f}" in texts and f"oracle {rows[0]['oracle_auc']:.3f}" in texts
    assert fig.layout.yaxis.range[1] <= 1.0 and fig.layout.yaxis.range[0] < rows[0]["random_auc"]
    # The reference labels sit at the right end, over a slot kept free of bars.
    assert fig.layout.xaxis.range[1] == len(rows) - 0.5 + REFERENCE_SLOT
    assert not plots.zero_shot_chart([{"method": "x", "auc": 0.7}]).layout.shapes  # none known, none drawn


def test_beyond_chart_leaves_room_for_every_label_in_its_panel():
    from recengine.eval.beyond import MEASURE_UNITS

    result = {name: {m.name: value for m in MEASURE_UNITS} for name, value in
              (("model", 0.4), ("random", 0.9), ("popular", 0.1))}
    fig = plots.beyond_chart(result)
    assert len(fig.data) == len(MEASURE_UNITS)
    for trace in fig.data:
        axis = fig.layout[f"xaxis{trace.xaxis[1:]}"]
        assert axis.range[1] >= 1.4 * max(trace.x)  # the longest bar's outside label fits
        assert trace.textposition == "outside" and len(set(trace.y)) == len(trace.y)
    assert len({(tuple(t.marker.color), tuple(t.marker.pattern.shape)) for t in fig.data}) == 1  # same look
