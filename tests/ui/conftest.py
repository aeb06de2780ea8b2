"""AppTest fixtures: one warm workspace for the whole session (tiny preset, hashing embedder, one epoch); every
test starts from empty Streamlit caches and with the default dataset and run active (see tests/apptest_kit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apptest_kit import reset, warm_workspace


@pytest.fixture(scope="session")
def ui_workspace(tmp_path_factory: pytest.TempPathFactory):
    """A workspace with the tiny dataset and its one-epoch model, made once for every UI test."""
    with warm_workspace(tmp_path_factory.mktemp("ui") / "home") as made:
        yield made


@pytest.fixture(autouse=True)
def home(ui_workspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Replaces the suite's per-test empty home: UI tests share the warm workspace, reset to its defaults."""
    return reset(*ui_workspace, monkeypatch)
