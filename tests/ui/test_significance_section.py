"""The run-pair section (pages/_significance.py) under AppTest on the warm tiny workspace: nothing until the button;
then one row per metric with the difference, its interval and p-value; the same run twice differs by nothing."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from apptest_kit import TIMEOUT, by_label, check, run, table
from recengine.eval.metrics import METRIC_LABELS, METRICS

SCRIPT = """
from pages import _ui
from pages._significance import render_run_pair
render_run_pair(_ui.store(), {a!r}, {b!r})
"""


def test_a_run_against_itself_shows_no_difference_and_says_so(ui_workspace):
    run_id = ui_workspace[1].run_id
    at = check(AppTest.from_string(SCRIPT.format(a=run_id, b=run_id), default_timeout=TIMEOUT).run())
    assert not at.dataframe
    at = run(by_label(at.button, "Compare on the same dev impressions").click())
    shown = table(at, "difference")
    assert shown["metric"].tolist() == [METRIC_LABELS[m] for m in METRICS]
    assert (shown["difference"] == 0).all() and (shown["p_value"] == 1).all()
    assert set(shown["verdict"]) == {"not distinguishable"}
    assert any("resampled 2,000 times" in m.value for box in at.expander for m in box.markdown)  # in words
    assert list(next(d for d in at.dataframe if "verdict" in d.value.columns).proto.column_order)[1:3] == [
        "First run", "Second run"]


def test_an_unknown_run_is_refused_in_one_message(ui_workspace):
    run_id = ui_workspace[1].run_id
    at = check(AppTest.from_string(SCRIPT.format(a=run_id, b="no-such-run"), default_timeout=TIMEOUT).run())
    at = run(by_label(at.button, "Compare on the same dev impressions").click())
    assert len(at.error) == 1 and "no such run folder, nor a run id" in at.error[0].value and not at.dataframe
