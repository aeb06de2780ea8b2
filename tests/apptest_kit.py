"""Shared pieces of the dashboard tests under ``streamlit.testing`` (tests/ui and tests/robustness): a warm
workspace (tiny preset, hashing embedder, one epoch), the reset every test starts from, and helpers that read
a page. torch, torch_geometric and streamlit.testing are imported here, once, so that AppTest's per-run timeout
does not pay for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import streamlit as st
import torch  # noqa: F401  (slow import, paid here)
import torch_geometric  # noqa: F401  (slow import, paid here)
from streamlit.testing.v1 import AppTest

from recengine.app.datasets import ACTIVE_DATASET
from recengine.app.first_start import Ready, ensure_ready
from recengine.app.runs import ACTIVE_RUN
from recengine.data.store import Store
from recengine.workspace import Workspace

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 600  # a run that trains (one epoch of the tiny world) on a busy two-core machine
ENV = {"RECENGINE_DEFAULT_PRESET": "tiny", "RECENGINE_DEFAULT_EMBEDDER": "hashing", "RECENGINE_DEFAULT_EPOCHS": "1"}


@contextmanager
def warm_workspace(home: Path) -> Iterator[tuple[Workspace, Ready]]:
    """A workspace at ``home`` with the tiny dataset and its one-epoch model (the first start, done once)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {**ENV, "RECENGINE_HOME": str(home)}.items():
            patch.setenv(key, value)
        workspace = Workspace(home)
        with Store(workspace.store_path) as store:
            ready = ensure_ready(workspace, store)
        yield workspace, ready


def reset(workspace: Workspace, ready: Ready, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the environment at ``workspace``, make its default dataset and run active, empty Streamlit's caches."""
    for key, value in {**ENV, "RECENGINE_HOME": str(workspace.home)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RECENGINE_IMPORT_ROOTS", raising=False)
    with Store(workspace.store_path) as store:
        store.set_setting(ACTIVE_DATASET, ready.dataset)
        store.set_setting(ACTIVE_RUN, ready.run_id)
    st.cache_data.clear()
    st.cache_resource.clear()
    return workspace.home


def elements(block):
    """Every element under a block of the element tree, depth first."""
    for child in getattr(block, "children", {}).values():
        if getattr(child, "children", None):
            yield from elements(child)
        else:
            yield child


def everything(at: AppTest) -> str:
    return "\n".join(str(getattr(node, "proto", "")) for block in (at.main, at.sidebar) for node in elements(block))


def check(at: AppTest) -> AppTest:
    """No uncaught exception, no traceback and no generic failure text in any element of the page."""
    assert not at.exception, [e.value for e in at.exception]
    text = everything(at)
    assert "Traceback" not in text and "Something went wrong" not in text, [e.value for e in at.error]
    return at


def start(page: str | None = None) -> AppTest:
    """app.py run once, then ``page`` (a file name under pages/, without .py)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    return check(at)


def run(at: AppTest) -> AppTest:
    return check(at.run())


def after_jobs(at: AppTest) -> AppTest:
    """Wait until every job of the workspace has ended (long work runs in its own process), then rerun the page,
    which then shows what the jobs made."""
    from recengine.app import jobs

    with Store(Workspace.default().store_path) as store:
        for job in jobs.active_jobs(store):
            jobs.wait(store, job["id"], timeout=TIMEOUT)
    return run(at)


def by_label(widgets, label: str):
    matches = [w for w in widgets if w.label == label]
    assert matches, f"no widget labelled {label!r}: {[w.label for w in widgets]}"
    return matches[0]


def plain(text: str) -> str:
    """An alert's text without the markdown escapes the dashboard adds to names and messages."""
    return text.replace("\\", "")


def errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error]


def successes(at: AppTest) -> list[str]:
    return [plain(s.value) for s in at.success]


def metric(at: AppTest, label: str) -> str:
    return by_label(at.metric, label).value


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def chart_specs(at: AppTest) -> list[str]:
    """Each plotly chart's figure as the JSON the browser receives."""
    return [chart.proto.spec for chart in at.get("plotly_chart")]


def table(at: AppTest, column: str | None = None, *, row: str | None = None):
    """The first table on the page with ``column`` among its columns (or ``row`` in its index)."""
    for frame in (d.value for d in at.dataframe):
        if (column is None or column in frame.columns) and (row is None or row in frame.index):
            return frame
    raise AssertionError(f"no table with column {column!r} / row {row!r}")
