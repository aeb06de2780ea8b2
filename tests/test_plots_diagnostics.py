"""The diagnostics charts are legible: threshold labels cannot meet, log axes label decades only, every series
differs in colour and marker, bar labels are short and have room, titles fit a narrow column, and the
calibration diagonal is a labelled reference. Checked on the figures, with values computed here."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from recengine import plots
from recengine.diagnostics import logit_report
from recengine.plots._style import series_style

NARROW_TITLE = 28  # characters of a 16-pixel title that fit a third of a 1024-pixel page


def _report(scores, labels) -> dict:
    return logit_report(np.asarray(scores, dtype=float), np.asarray(labels), bins=20)


@pytest.fixture
def saturated() -> dict:
    """Most sigmoids past 0.99, a few below 0.01: both threshold labels carry a share."""
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(8, 0.5, 90), rng.normal(-6, 0.5, 10)])
    return _report(scores, (np.arange(100) % 10 == 0).astype(int))


def _threshold_labels(fig):
    """The two threshold annotations, the low one first."""
    labels = sorted(fig.layout.annotations, key=lambda a: a.x)
    assert len(labels) == 2
    return labels


@pytest.mark.parametrize("build", [plots.logit_histogram, plots.sigmoid_histogram,
                                   lambda r: plots.sigmoid_histogram(r, compact=True)])
def test_threshold_labels_face_each_other_on_separate_rows_above_the_bars(build, saturated):
    fig = build(saturated)
    low, high = _threshold_labels(fig)
    # Each label extends from its line towards the other line, so neither runs off the plot...
    assert (low.xanchor, high.xanchor) == ("left", "right")
    # ...and they sit on different rows, a label's height (about 0.06 of the plot) or more apart.
    assert low.yref == high.yref == "paper" and abs(low.y - high.y) >= 0.1
    # The bars stay below both rows of labels.
    tallest = max(max(trace.y) for trace in fig.data)
    assert tallest / fig.layout.yaxis.range[1] < min(low.y, high.y) - 0.1


def test_sigmoid_threshold_labels_give_the_share_beyond_each_line(saturated):
    low, high = _threshold_labels(plots.sigmoid_histogram(saturated))
    # Ninety scores drawn around 8 and ten around -6, all far past the thresholds at ±4.6.
    assert low.text == "< 0.01: 10.0%" and high.text == "> 0.99: 90.0%"


def test_logit_axis_shows_both_thresholds_when_every_logit_sits_on_one_side():
    fig = plots.logit_histogram(_report([8.0, 9.0, 9.5, 10.0], [0, 1, 0, 1]))
    left, right = fig.layout.xaxis.range
    threshold = np.log(0.99 / 0.01)
    assert left < -threshold and right > 10.0


def test_histogram_titles_fit_a_narrow_column(saturated):
    for fig in (plots.logit_histogram(saturated), plots.sigmoid_histogram(saturated, compact=True)):
        assert len(fig.layout.title.text) <= NARROW_TITLE and "<br>" not in fig.layout.title.text
    # Legend entries short enough for one row in half a 1024-pixel page; a third of it has room for none.
    assert {t.name for t in plots.logit_histogram(saturated).data} == {"clicks", "non-clicks"}
    assert plots.sigmoid_histogram(saturated, compact=True).layout.showlegend is False
    assert plots.sigmoid_histogram(saturated, compact=True, title="raw dot product").layout.title.text == \
        "raw dot product"


def test_gradient_norms_use_decade_ticks_and_a_distinct_colour_and_marker_per_module():
    modules = [f"module_{i}" for i in range(11)]  # more modules than the palette has colours
    frame = pd.DataFrame({m: [10.0 ** -(i % 4), 10.0 ** -(i % 3)] for i, m in enumerate(modules)}, index=[1, 2])
    fig = plots.gradient_norms_chart(frame)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick == 1
    assert fig.layout.yaxis.exponentformat == "power"
    assert fig.layout.xaxis.dtick == 1  # whole epochs, no "1.5"
    pairs = [(t.line.color, t.marker.symbol) for t in fig.data]
    assert len(set(pairs)) == len(modules)
    assert all("text" not in t.mode for t in fig.data)  # names sit in the legend, not on lines that meet
    assert [t.name for t in fig.data] == [m.replace("_", " ") for m in modules]
    # Eleven entries would wrap a legend row above the plot up into the title: they stand in a column beside it.
    assert fig.layout.legend.orientation == "v" and fig.layout.legend.x > 1


def test_series_styles_never_repeat_colour_and_marker():
    pairs = {(s["line"]["color"], s["marker"]["symbol"]) for s in map(series_style, range(64))}
    assert len(pairs) == 64


def test_saturation_loss_is_on_a_log_axis_so_every_setting_reads():
    demo = {"broken": {"loss": [50.0, 50.0], "saturated_share": [0.99, 0.99]},
            "x10": {"loss": [1.9, 1.2], "saturated_share": [0.8, 0.15]},
            "fixed": {"loss": [0.9, 0.7], "saturated_share": [0.0, 0.0]}}
    fig = plots.saturation_chart(demo, {"broken": "raw dot product"})
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick == 1
    assert fig.layout.yaxis2.tickformat == ".0%"
    losses = fig.data[::2]
    assert [t.name for t in losses] == ["raw dot product", "x10", "fixed"]
    assert len({(t.line.color, t.marker.symbol, t.line.dash) for t in losses}) == 3
    assert all(t.legendgroup == s.legendgroup and t.line.color == s.line.color
               for t, s in zip(fig.data[::2], fig.data[1::2]))  # a setting looks the same in both panels
    # No subplot titles: they would sit where the legend row sits, above the plot area.
    assert not fig.layout.annotations


def test_fusion_labels_have_two_decimals_and_room_on_horizontal_bars():
    frame = pd.DataFrame({"all": [0.171, 0.18, 0.649], "warm": [0.17, 0.176, 0.654], "new": [0.3, 0.2, 0.5]},
                         index=pd.Index(["id", "text", "graph"], name="view"))
    fig = plots.fusion_weights_chart(frame)
    assert all(t.orientation == "h" for t in fig.data)  # one row per label: they cannot overlap sideways
    labels = [text for t in fig.data for text in t.text]
    assert all(re.fullmatch(r"\d\.\d{2}", text) for text in labels), labels
    assert all(t.textposition == "outside" and t.cliponaxis is False for t in fig.data)
    assert fig.layout.xaxis.range[1] >= 0.654 * 1.15  # room past the longest bar for its label
    assert fig.layout.yaxis.autorange == "reversed"  # the first view on top


@pytest.fixture
def reliability() -> dict:
    def curve(predicted, truth, observed, ece_truth, ece_observed):
        bins = [{"candidates": 10, "low": p, "high": p, "predicted": p, "truth": t, "observed": o}
                for p, t, o in zip(predicted, truth, observed)]
        return {"bins": bins, "ece_vs_truth": ece_truth, "ece_vs_observed": ece_observed, "candidates": 20}

    return {"raw": curve([0.98, 0.99], [0.02, 0.05], [0.0, 0.1], 0.95, 0.93),
            "calibrated": curve([0.02, 0.06], [0.03, 0.05], [0.0, 0.1], 0.0123, 0.0456), "bins": 2}


def test_reliability_draws_the_labelled_diagonal_once_and_ece_in_each_panel(reliability):
    fig = plots.reliability_chart(reliability)
    diagonals = [t for t in fig.data if t.legendgroup == "diagonal"]
    assert len(diagonals) == 2 and all(list(t.x) == list(t.y) and t.x[0] == 0 for t in diagonals)
    shown = [t.name for t in fig.data if t.showlegend is not False]
    assert sorted(shown) == ["observed click rate", "perfect calibration", "true click probability"]
    notes = sorted(a.text for a in fig.layout.annotations)
    assert notes == ["calibrated<br>ECE vs truth 0.012<br>ECE vs observed 0.046",
                     "raw<br>ECE vs truth 0.950<br>ECE vs observed 0.930"]
    # The notes sit inside their panels (a subplot title above would share the legend's row).
    assert all(a.yref.endswith("domain") and a.y <= 1 for a in fig.layout.annotations)


def test_reliability_names_a_panel_that_was_never_fitted(reliability):
    fig = plots.reliability_chart({**reliability, "calibrated": None})
    assert any(a.text == "calibrated: not fitted for this run" for a in fig.layout.annotations)
    assert {t.name for t in fig.data} == {"perfect calibration", "true click probability", "observed click rate"}
