"""Home and Evaluation read at a glance (issue 15): tiles in rows narrow enough for 1024 px, the ranking metrics as
one small table beside random and the oracle, the slices explained in words, charts without Plotly's toolbar,
and no "None" or "n/a" where a value is missing."""

from __future__ import annotations

import json

from apptest_kit import chart_specs, everything, start, table
from recengine.eval.evaluate import SLICE_UNITS
from recengine.eval.metrics import METRIC_UNITS


def _widest_row(at) -> int:
    """The most columns any row of the page has (a tile row of 7 cut its values at 1024 px)."""
    return max(len(block.children) for block in at.get("horizontal_block")) if at.get("horizontal_block") else 0


def test_home_tiles_fit_and_the_slices_and_metrics_are_explained():
    at = start()
    assert _widest_row(at) <= 4
    ranking = table(at, "mrr")
    assert list(ranking["scorer"]) == ["model", "random", "oracle"]
    assert ranking.loc[0, "mrr"] > ranking.loc[1, "mrr"]  # the trained model ranks better than chance
    captions = " ".join(c.value for c in at.caption)
    for unit in SLICE_UNITS:
        assert f"**{unit.label}**: {unit.description}" in captions
    for metric in METRIC_UNITS[1:]:
        assert metric.description in captions
    [chart] = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "AUC"
    assert {"model", "random", "oracle"} <= set(spec["data"][0]["y"][1])
    assert '"displayModeBar": false' in chart.proto.config.replace(":false", ": false")


def test_evaluation_shows_missing_values_as_a_dash_and_keeps_wide_columns_on_demand():
    at = start("evaluation")
    assert _widest_row(at) <= 2 or all(len(b.children) <= 4 for b in at.get("horizontal_block"))
    slices = table(at, "Slice group")
    empty = slices[slices["Impressions"] == 0]
    assert (empty["Way to the oracle"] == "—").all()
    text = everything(at)
    assert "None" not in text.replace("NoneType", "")
    assert any("Show all" in toggle.label for toggle in at.toggle)  # Impressions are a toggle away
    assert all("displayModeBar" in c.proto.config for c in at.get("plotly_chart"))
    spec = chart_specs(at)[0]
    assert '"xaxis2"' in spec  # the model's values stand in their own column
