"""AppTest fixtures: one warm workspace for the whole session (tiny preset, hashing embedder, one epoch).

torch, torch_geometric and streamlit.testing are imported here, once, so that AppTest's per-run timeout does not
pay for them. Every test starts from empty Streamlit caches and with the default dataset and run active.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
import torch  # noqa: F401  (slow import, paid here)
import torch_geometric  # noqa: F401  (slow import, paid here)
from streamlit.testing.v1 import AppTest  # noqa: F401  (slow import, paid here)

from recengine.bootstrap import ACTIVE_DATASET, ACTIVE_RUN, ensure_ready
from recengine.data.store import Store
from recengine.workspace import Workspace

ENV = {"RECENGINE_DEFAULT_PRESET": "tiny", "RECENGINE_DEFAULT_EMBEDDER": "hashing", "RECENGINE_DEFAULT_EPOCHS": "1"}


@pytest.fixture(scope="session")
def ui_workspace(tmp_path_factory: pytest.TempPathFactory):
    """A workspace with the tiny dataset and its one-epoch model, made once for every UI test."""
    home = tmp_path_factory.mktemp("ui") / "home"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {**ENV, "RECENGINE_HOME": str(home)}.items():
            patch.setenv(key, value)
        workspace = Workspace(home)
        store = Store(workspace.store_path)
        ready = ensure_ready(workspace, store)
        yield workspace, ready
        store.close()


@pytest.fixture(autouse=True)
def home(ui_workspace, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Replaces the suite's per-test empty home: UI tests share the warm workspace, reset to its defaults."""
    workspace, ready = ui_workspace
    for key, value in {**ENV, "RECENGINE_HOME": str(workspace.home)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RECENGINE_IMPORT_ROOTS", raising=False)
    with Store(workspace.store_path) as store:
        store.set_setting(ACTIVE_DATASET, ready.dataset)
        store.set_setting(ACTIVE_RUN, ready.run_id)
    st.cache_data.clear()
    st.cache_resource.clear()
    return workspace.home
