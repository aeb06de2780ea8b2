"""The application layer: every user-level action is one function here.

The CLI (``recengine/commands``), the dashboard (``pages/``) and Python callers are thin adapters over these
functions: they collect input, call one function and show its result. A function here decides what is written
where (run folders, the store, the archive) so that every face sees what every other face made.

Modules: :mod:`~recengine.app.datasets` (generate, import, resolve), :mod:`~recengine.app.runs` (train, update,
evaluate, predict, register, activate, delete), :mod:`~recengine.app.first_start` (the default workspace),
:mod:`~recengine.app.serving` (the recommender service over a stored run), :mod:`~recengine.app.experiments`
(compare grids, the saturation demonstration, diagnostics, zero-shot vs incremental vs retrain) and
:mod:`~recengine.app.jobs` (long work in a background process that survives the page).
"""

from __future__ import annotations

from pathlib import Path

from recengine.data.store import Store
from recengine.workspace import Workspace


def open_workspace(home: str | Path | None = None) -> tuple[Workspace, Store]:
    """The workspace at ``home`` (default: ``$RECENGINE_HOME`` or ``./data``) and its store."""
    workspace = Workspace(Path(home).resolve()) if home is not None else Workspace.default()
    return workspace, Store(workspace.store_path)
