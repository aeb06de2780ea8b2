"""The dashboard's layout, measured in the real DOM of headless Chromium at 1440 px (``scripts/browser.py``'s
``layout_problems``): no text of a chart runs past its chart or its clip area or overlaps another, and no table
needs sideways scrolling while it shows only its key columns. Every page is checked in every main state of
``scripts/screenshots.py`` that trains nothing (the training, the demonstration and the grid are left to the
script: they take minutes and would leave runs and a comparison in the workspace the other UI tests share), and a
planted page shows that the check finds what it should and nothing more. Skips without Chromium, like
``tests/ui/test_browser.py``.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from .test_browser import browser, require_tools, server  # noqa: F401  (fixtures, and the scripts/ import path)
from browser import HEIGHT, WIDTH, chromium, layout_problems, serving, viewport, wait_rendered  # noqa: E402
from screenshots import STATES, State, enter  # noqa: E402  (scripts/screenshots.py)

pytestmark = pytest.mark.browser

PLANTED = textwrap.dedent('''
    import pandas as pd
    import plotly.graph_objects as go
    import streamlit as st

    st.title("Planted")
    both = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout={"title": {"text": "Two labels in one place"}})
    both.add_annotation(x="a", y=1.5, text="first label", showarrow=False)
    both.add_annotation(x="a", y=1.5, text="second label", showarrow=False)
    st.plotly_chart(both)
    cut = go.Figure(go.Bar(x=[481, 121], y=["long", "short"], orientation="h", text=["481", "121"],
                           textposition="outside", cliponaxis=True), layout={"title": {"text": "A cut label"}})
    st.plotly_chart(cut.update_xaxes(range=[0, 490]))
    # Close, parallel, turned tick labels: their screen rectangles overlap, the labels do not.
    turned = go.Figure(go.Bar(x=[f"a long tick label {i}" for i in range(4)], y=[1, 2, 3, 4]),
                       layout={"title": {"text": "Clean"}, "xaxis": {"tickangle": -45}})
    st.columns(3)[0].plotly_chart(turned)
    wide = pd.DataFrame({f"a rather long column name {i}": range(3) for i in range(30)})
    st.dataframe(wide)
    st.dataframe(wide.iloc[:, :3])
    if st.toggle("Show all 30 columns", value=True):
        st.dataframe(wide)
''')


@pytest.mark.parametrize("state", [s for s in STATES if s.cheap], ids=lambda s: s.label)
def test_page_state_has_no_layout_problems_at_1440_px(browser: WebDriver, server: str, state: State):  # noqa: F811
    enter(browser, server, state)
    assert layout_problems(browser) == []


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """A Streamlit script with known defects, served like the dashboard and drawn at 1440 px."""
    require_tools()
    folder = tmp_path_factory.mktemp("planted")
    (folder / "planted.py").write_text(PLANTED)
    with serving(dict(os.environ), folder / "server.log", script=str(folder / "planted.py")) as url, \
            chromium(folder / "profile") as driver:
        driver.get(url)
        wait_rendered(driver, "Planted", timeout=90)
        yield driver


def test_check_finds_overlapping_chart_texts(planted: WebDriver):
    problems = layout_problems(planted)
    assert any(p.startswith('chart "Two labels in one place"') and '"first label" overlaps "second label"' in p
               for p in problems), problems


def test_check_finds_a_bar_label_cut_by_the_plot_area(planted: WebDriver):
    problems = layout_problems(planted)
    assert any(p.startswith('chart "A cut label"') and '"481": cut by its clip area' in p for p in problems), problems
    assert not any('"121"' in p for p in problems), problems


def test_check_finds_a_table_that_needs_sideways_scrolling_and_only_that(planted: WebDriver):
    tables = [p for p in layout_problems(planted) if p.startswith("table")]
    assert len(tables) == 1 and tables[0].startswith("table #1 (a rather long column name 0,"), tables
    needed, shown = map(int, re.search(r"columns need (\d+) px; (\d+) px are shown", tables[0]).groups())
    assert needed > 30 * 100 > shown  # thirty long headers cannot fit a 1440 px page


def test_check_leaves_close_turned_labels_alone(planted: WebDriver):
    corners = planted.execute_script("""
        const clean = [...document.querySelectorAll('.js-plotly-plot')].find(
            c => c.querySelector('.gtitle')?.textContent === 'Clean');
        return [...clean.querySelectorAll('.xtick text')].map(t => t.getBoundingClientRect())
            .map(r => [r.left, r.right]);""")
    assert len(corners) == 4
    assert any(a[1] > b[0] for a, b in zip(corners, corners[1:]))  # their rectangles do overlap sideways
    assert not [p for p in layout_problems(planted) if p.startswith('chart "Clean"')]


def test_viewport_width_is_a_parameter(planted: WebDriver):
    try:
        viewport(planted, HEIGHT, 1024)
        assert planted.execute_script("return window.innerWidth") == 1024
    finally:
        viewport(planted, HEIGHT)
    assert planted.execute_script("return window.innerWidth") == WIDTH == 1440
