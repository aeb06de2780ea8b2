"""The search charts (recengine.plots.search): each finished trial's validation AUC with the best so far beside a
random scorer's expected AUC, and the settings' importances as labelled shares."""

from __future__ import annotations

from recengine.plots.search import search_history, search_importances


def test_history_draws_finished_trials_the_best_so_far_and_the_random_reference():
    trials = [{"number": 0, "value": 0.61}, {"number": 1, "value": None},  # pruned: no final value
              {"number": 2, "value": 0.58}, {"number": 3, "value": 0.66}]
    fig = search_history(trials)
    points, best = fig.data
    assert list(points.x) == [0, 2, 3] and list(points.y) == [0.61, 0.58, 0.66]
    assert list(best.y) == [0.61, 0.61, 0.66]
    [line] = fig.layout.shapes
    assert line.y0 == line.y1 == 0.5
    assert [a.text for a in fig.layout.annotations] == ["random (expected) 0.500"]
    low, high = fig.layout.yaxis.range
    assert low < 0.5 and 0.66 < high <= 1.0


def test_history_without_a_finished_trial_says_so():
    fig = search_history([{"number": 0, "value": None}])
    assert not fig.data and "No trial has finished yet." in fig.layout.annotations[0].text


def test_importances_are_labelled_shares_largest_on_top_never_clipped():
    fig = search_importances({"Temperature τ": 0.59, "Learning rate": 0.41, "Fusion": 0.004})
    [bars] = fig.data
    assert list(bars.y) == ["Fusion", "Learning rate", "Temperature τ"]  # Plotly draws the last on top
    assert list(bars.text) == ["0.4%", "41.0%", "59.0%"]
    assert bars.textposition == "outside" and bars.cliponaxis is False
    assert fig.layout.xaxis.range[1] > 0.59 * 1.2  # room for the longest bar's label
