"""The inbox section (pages/_inbox.py) under AppTest, in a workspace of its own that serves the warm tiny run: the
folders by state; the button processes the inbox as a job; the outcome names the run; the table follows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_kit import TIMEOUT, after_jobs, by_label, check, run, successes, table
from recengine.app import inbox, runs
from recengine.data.mind import load_dataset, split_by_time, write_split
from recengine.data.store import Store
from recengine.workspace import Workspace

SCRIPT = """
from pages import _inbox, _ui
_inbox.render(_ui.workspace(), _ui.store())
"""


def states(at: AppTest) -> dict[str, str]:
    shown = table(at, "folder")
    return dict(zip(shown["folder"], shown["state"]))


def test_the_section_lists_the_folders_and_processes_the_inbox_as_a_job(ui_workspace, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    _, ready = ui_workspace
    own = Workspace(tmp_path / "home")  # the job's runs and archive stay out of the shared workspace
    monkeypatch.setenv("RECENGINE_HOME", str(own.home))
    with Store(own.store_path) as store:
        served = runs.register_run(store, ready.run_path)
        runs.activate_run(store, served["run_id"])
    morning, afternoon = split_by_time(load_dataset(ready.dataset_path).dev, np.datetime64("2019-11-14T12:00:00"))
    box = inbox.folder(own, create=True)
    write_split(box / "morning", morning)
    (box / "morning" / inbox.MARKER).touch()
    write_split(box / "afternoon", afternoon)  # no marker: still being written

    at = check(AppTest.from_string(SCRIPT, default_timeout=TIMEOUT).run())
    assert states(at) == {"morning": "pending", "afternoon": "waiting"}
    at = after_jobs(run(by_label(at.button, "Process the inbox").click()))
    assert any("processed 1 folder(s)" in s for s in successes(at)), [e.value for e in at.error]
    assert states(at) == {"afternoon": "waiting", "morning": "done"}
    with Store(own.store_path) as store:
        (child,) = [r for r in store.runs() if r["mode"] == "incremental"]
        assert child["parent"] == served["run_id"]
    assert (box / inbox.DONE / "morning" / inbox.RESULT_FILE).is_file()
    shutil.rmtree(box)

