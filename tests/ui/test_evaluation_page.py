"""The Evaluation page under AppTest: the overall figures beside random and the oracle with an interval, every
slice in one table and one chart, the explanations, and an old evaluation without slice groups re-evaluated
from the page."""

from __future__ import annotations

from apptest_kit import by_label, chart_specs, metric, run, start, table
from recengine.app.runs import ACTIVE_RUN
from recengine.data.store import Store
from recengine.eval.evaluate import SLICE_GROUP_UNITS, SLICE_UNITS
from recengine.eval.metrics import METRIC_LABELS, METRICS
from recengine.workspace import Workspace


def test_evaluation_page_shows_every_slice_beside_random_and_the_oracle():
    at = start("evaluation")
    assert at.title[0].value == "Evaluation"
    auc = float(metric(at, "Dev AUC"))
    random, oracle = (float(v) for v in metric(at, "Random / oracle AUC").split(" / "))
    assert random < auc < oracle
    low, high = (float(v) for v in metric(at, "95% interval").split(" to "))
    assert low < auc < high
    assert metric(at, "Way to the oracle").endswith("%")
    figures = table(at, "Model 95% interval")
    assert list(figures["Metric"]) == [METRIC_LABELS[m] for m in METRICS]
    assert figures["Model 95% interval"].iloc[0] == f"{low:.3f} to {high:.3f}"
    assert round(figures["Random"].iloc[0], 3) == random and round(figures["Oracle"].iloc[0], 3) == oracle
    slices = table(at, "Slice group")
    groups = list(dict.fromkeys(slices["Slice group"]))
    assert groups == ["overall", "seen in training", *(g.label for g in SLICE_GROUP_UNITS)]
    assert list(slices["Slice"])[:4] == ["all impressions", *(s.label for s in SLICE_UNITS)]
    history = slices[slices["Slice group"] == "history length"]
    assert list(history["Slice"]) == ["0", "1-4", "5-19", "20+"]
    assert history["Impressions"].sum() == slices["Impressions"].iloc[0]  # the buckets cover every impression
    assert all(v.endswith("%") or v == "—" for v in slices["Way to the oracle"])  # — where undefined
    assert not {"share_of_oracle", "impressions"} & set(slices.columns)  # plain column names
    spec = chart_specs(at)[0]
    assert "by slice" in spec and "random" in spec and "oracle" in spec
    text = " ".join(m.value for m in at.markdown)
    for group in SLICE_GROUP_UNITS:
        assert group.description in text
    run(at.segmented_control(key="evaluation-metric").set_value("mrr"))
    assert "MRR by slice" in chart_specs(at)[0]
    assert any(h.value.startswith("Beyond accuracy") for h in at.subheader)


def test_an_evaluation_without_slice_groups_is_offered_a_new_one(home):
    with Store(Workspace(home).store_path) as store:
        run_id = store.get_setting(ACTIVE_RUN)
        stored = store.run(run_id)["metrics"]
        old = {key: stored[key] for key in ("model", "random", "oracle", "slices", "baselines")}
        store.set_run_metrics(run_id, old)
    try:
        at = start("evaluation")
        assert any("evaluated before the slices" in i.value for i in at.info)
        assert set(table(at, "Slice group")["Slice group"]) == {"overall", "seen in training"}
        at = run(by_label(at.button, "Evaluate again").click())
        assert not any("evaluated before the slices" in i.value for i in at.info)
        assert "category" in set(table(at, "Slice group")["Slice group"])
    finally:
        with Store(Workspace(home).store_path) as store:
            store.set_run_metrics(run_id, stored)


def test_diagnostics_draws_the_reliability_curves_with_their_errors(home):
    with Store(Workspace(home).store_path) as store:
        report = store.run(store.get_setting(ACTIVE_RUN))["metrics"]["reliability"]
    at = start("diagnostics")
    [spec] = [s for s in chart_specs(at) if "Reliability" in s]
    assert "raw prediction (sigmoid of the logit)" in spec and "calibrated prediction" in spec
    assert "perfect calibration" in spec
    assert any("expected calibration error" in c.value for c in at.caption)
    for kind in ("raw", "calibrated"):  # each panel's ECEs are written in its corner, to 3 decimals
        assert f"ECE vs truth {report[kind]['ece_vs_truth']:.3f}" in spec
        assert f"ECE vs observed {report[kind]['ece_vs_observed']:.3f}" in spec
