"""Training curves and the saved-runs chart: random and the oracle are always labelled references, the AUC axis
never passes 1, an epoch in progress shows, and labels never print over each other. And the references a live
curve is drawn against, measured from the data alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from recengine.app.references import selection_references
from recengine.data.mind import load_dataset
from recengine.plots import training_curves
from recengine.plots.runs import runs_chart


def texts(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def auc_range(fig) -> list[float]:
    return list(fig.layout.yaxis2.range)


# --------------------------------------------------------------------------------------------- training curves


def test_references_are_drawn_before_any_epoch_and_the_axis_stops_at_1():
    fig = training_curves([], random_auc=0.46, oracle_auc=0.87, random_split="validation", oracle_split="dev",
                          split="validation")
    assert "random 0.460" in texts(fig) and "oracle (dev) 0.870" in texts(fig)
    assert fig.layout.yaxis2.title.text == "validation AUC" and "validation AUC" in fig.layout.title.text
    assert any(t == "no epoch scored yet" for t in texts(fig))
    low, high = auc_range(fig)
    assert low <= 0.46 and 0.87 < high <= 1.0
    assert {shape.line.dash for shape in fig.layout.shapes} == {"dot", "dash"}


def test_a_high_auc_never_stretches_the_axis_past_1():
    history = [{"epoch": 1, "train_loss": 0.4, "split": "validation", "valid": {"auc": 0.97}}]
    fig = training_curves(history, random_auc=0.5, oracle_auc=0.99, random_split="validation", oracle_split="dev")
    assert auc_range(fig)[1] == 1.0


def test_a_single_epoch_is_a_visible_marker_and_batches_show_within_the_epoch():
    history = [{"epoch": 1, "train_loss": 0.9, "split": "validation", "valid": {"auc": 0.61}}]
    steps = [(0.25, 1.4), (0.5, 1.1), (1.3, 0.8)]
    fig = training_curves(history, steps=steps)
    batches, loss, auc = fig.data
    assert list(batches.x) == [0.25, 0.5, 1.3] and list(batches.y) == [1.4, 1.1, 0.8]
    for trace in (loss, auc):
        assert "markers" in trace.mode and trace.marker.size >= 8
    assert list(loss.text) == ["0.900"] and list(auc.text) == ["0.610"]
    assert "one point per finished epoch" in fig.layout.title.text.replace("<br>", " ")
    assert fig.layout.xaxis.range[1] > 1.3  # the batches of the epoch under way fit


def test_only_the_latest_value_is_labelled():
    history = [{"epoch": n, "train_loss": 1 / n, "split": "dev", "dev": {"auc": 0.5 + n / 20}} for n in (1, 2, 3)]
    loss, auc = training_curves(history).data
    assert list(loss.text) == ["", "", "0.333"] and list(auc.text) == ["", "", "0.650"]
    # each label sits on the side away from the line arriving at it: below a falling one, above a rising one
    assert loss.textposition == "bottom left" and auc.textposition == "top left"


def test_nothing_to_draw_is_an_empty_state():
    fig = training_curves(None)
    assert not fig.data and any("No epoch" in t for t in texts(fig))


# --------------------------------------------------------------------------------------------- saved runs


def evaluation(model: float, random: float, oracle: float | None, slices: dict[str, float]) -> dict:
    return {"model": {"auc": model}, "random": {"auc": random}, "oracle": None if oracle is None else {"auc": oracle},
            "slices": {name: {"auc": v} for name, v in slices.items()},
            "baselines": {name: {"random": {"auc": random}, "oracle": {"auc": oracle}} for name in slices}}


def test_runs_chart_has_a_bar_trace_per_run_and_labelled_references():
    fig = runs_chart({
        "run-a": evaluation(0.70, 0.504, 0.87, {"warm": 0.72, "new_articles": 0.66}),
        "run-b": evaluation(0.68, 0.502, 0.87, {"warm": 0.71, "new_articles": 0.61}),
    })
    bars = [t for t in fig.data if t.type == "bar"]
    assert [t.name for t in bars] == ["run-a", "run-b"]
    assert list(bars[0].y) == [0.70, 0.72, 0.66] and list(bars[1].text) == ["0.680", "0.710", "0.610"]
    assert all(t.textposition == "outside" and t.cliponaxis is False for t in bars)
    assert len({t.marker.color for t in bars}) == 2 and len({t.marker.pattern.shape for t in bars}) == 2
    assert sorted(t.name for t in fig.data if t.type == "scatter") == ["oracle", "random"]
    labels = texts(fig)
    assert labels.count("random 0.502–0.504") == 3  # once per slice; the runs' random differs: a range
    assert labels.count("oracle 0.870") == 3
    assert fig.layout.yaxis.range[1] <= 1.0


def test_runs_chart_labels_never_print_over_each_other():
    fig = runs_chart({"a": evaluation(0.7, 0.5, 0.51, {"warm": 0.7, "cold_users": 0.6}),
                      "b": evaluation(0.6, 0.5, 0.51, {"warm": 0.6, "cold_users": 0.5})})
    notes = list(fig.layout.annotations)
    assert len(notes) == 6  # random and oracle once per slice (3), not once per run
    assert len({(a.x, a.y, a.yanchor) for a in notes}) == len(notes)
    for x in {a.x for a in notes}:  # in one slice, random hangs below its line and the oracle sits above
        here = {a.text.split()[0]: a for a in notes if a.x == x}
        assert here["random"].yanchor == "top" and here["oracle"].yanchor == "bottom"
        assert here["random"].y <= here["oracle"].y
    xs = sorted({a.x for a in notes})
    assert all(b - a == pytest.approx(1.0) for a, b in zip(xs, xs[1:]))  # one slice apart: separate groups


def test_runs_chart_without_an_oracle_draws_random_only_and_empty_runs_say_so():
    fig = runs_chart({"a": evaluation(0.7, 0.5, None, {})})
    assert [t.name for t in fig.data] == ["a", "random"] and texts(fig) == ["random 0.500"]
    empty = runs_chart({"a": None})
    assert not empty.data and "No evaluated run" in texts(empty)[0]


# --------------------------------------------------------------------------------------------- references


def read_split(folder: Path) -> tuple[pd.DataFrame, list[list[str]], list[list[int]]]:
    """behaviors.tsv read here, independently of recengine's reader: rows, candidate ids and labels."""
    frame = pd.read_csv(folder / "behaviors.tsv", sep="\t", header=None, names=["id", "user", "time", "history", "shown"],
                        dtype={"id": str}, keep_default_na=False)
    pairs = [[item.rsplit("-", 1) for item in shown.split()] for shown in frame["shown"]]
    return frame, [[news for news, _ in p] for p in pairs], [[int(label) for _, label in p] for p in pairs]


def mean_auc(labels: list[list[int]], scores: list[np.ndarray]) -> float:
    return float(np.mean([roc_auc_score(y, s) for y, s in zip(labels, scores) if 0 < sum(y) < len(y)]))


def as_impressions(flat: np.ndarray, labels: list[list[int]]) -> list[np.ndarray]:
    return np.split(flat, np.cumsum([len(y) for y in labels])[:-1])


def test_dev_references_match_sklearn_over_random_scores_and_the_truth(tiny_data: Path):
    found = selection_references(load_dataset(tiny_data), select_on="dev", validation_fraction=0.1, seed=3)
    frame, news, labels = read_split(tiny_data / "dev")
    random = np.random.default_rng(3).random(sum(len(y) for y in labels))
    truth = pd.read_csv(tiny_data / "dev" / "truth.tsv", sep="\t", header=None, names=["id", "news", "p"],
                        dtype={"id": str}).drop_duplicates(["id", "news"]).set_index(["id", "news"])["p"]
    oracle = [truth.loc[list(zip([i] * len(n), n))].to_numpy() for i, n in zip(frame["id"], news)]
    assert found["split"] == "dev" and found["oracle_split"] == "dev"
    assert found["random_auc"] == pytest.approx(mean_auc(labels, as_impressions(random, labels)), abs=1e-12)
    assert found["oracle_auc"] == pytest.approx(mean_auc(labels, oracle), abs=1e-12)


def test_validation_random_is_scored_on_the_latest_train_impressions(tiny_data: Path):
    found = selection_references(load_dataset(tiny_data), select_on="validation", validation_fraction=0.2, seed=0)
    frame, _, labels = read_split(tiny_data / "train")
    times = pd.to_datetime(frame["time"], format="%m/%d/%Y %I:%M:%S %p").to_numpy()
    order = np.argsort(times, kind="stable")
    latest = np.sort(order[len(order) - round(len(order) * 0.2):])
    kept = [labels[i] for i in latest]
    random = np.random.default_rng(0).random(sum(len(y) for y in kept))
    assert found["split"] == "validation" and found["oracle_split"] == "dev"
    assert found["random_auc"] == pytest.approx(mean_auc(kept, as_impressions(random, kept)), abs=1e-12)
    assert 0.3 < found["random_auc"] < 0.7 and found["oracle_auc"] > 0.7
