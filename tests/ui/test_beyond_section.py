"""The beyond-accuracy section (pages/_beyond.py) under AppTest on the warm tiny workspace: nothing measured at
first; the button runs the measurement as a job; then one row per measure for the recommender, random and most
popular, with its explanation, and the chart."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from apptest_kit import TIMEOUT, after_jobs, by_label, chart_specs, check, run, table
from recengine.eval.beyond import MEASURE_UNITS

SCRIPT = """
from pages import _ui
from pages._beyond import render_beyond
render_beyond(_ui.store(), {run_id!r})
"""


def test_the_button_measures_the_served_lists_and_the_table_explains_them(ui_workspace):
    run_id = ui_workspace[1].run_id
    at = check(AppTest.from_string(SCRIPT.format(run_id=run_id), default_timeout=TIMEOUT).run())
    assert any("Not measured for this run yet." in info.value for info in at.info)
    at = after_jobs(run(by_label(at.button, "Measure the served lists").click()))
    shown = table(at, "Most popular")
    assert shown["Measure"].tolist() == [m.label for m in MEASURE_UNITS]
    assert list(shown.columns) == ["Measure", "Recommender", "Random", "Most popular", "What it means"]
    assert shown.loc[0, "Recommender"].endswith("%")  # coverage is a share, shown as a percentage
    titles = [json.loads(spec)["layout"]["title"]["text"].replace("<br>", " ") for spec in chart_specs(at)]
    assert "Served lists beside random and most-popular lists" in titles
    assert any("readers" in caption.value for caption in at.caption)
