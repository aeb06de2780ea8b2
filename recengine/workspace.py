"""Where recengine keeps its files: datasets, runs, caches, archives and the SQLite store.

The home folder is ``$RECENGINE_HOME`` when set, else ``./data`` (the repository's
``data/`` when run from its root, which is what the dashboard does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_home() -> Path:
    return Path(os.environ.get("RECENGINE_HOME") or Path.cwd() / "data").resolve()


@dataclass(frozen=True)
class Workspace:
    """Paths under one home folder; creating the object touches nothing on disk."""

    home: Path

    @classmethod
    def default(cls) -> "Workspace":
        return cls(default_home())

    @property
    def datasets(self) -> Path:
        return self.home / "datasets"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def store_path(self) -> Path:
        return self.home / "recengine.db"

    def dataset(self, name: str) -> Path:
        return self.datasets / name

    def run(self, run_id: str) -> Path:
        return self.runs / run_id
