"""recengine: a news recommender that reads an article three ways (a learned ID vector, a language-model
text embedding and a knowledge-graph GNN vector), learns users from their clicks, and keeps working when
new articles and users arrive after training.

The names below load lazily, so ``import recengine`` is cheap. User-level actions live in the application
layer, :mod:`recengine.app`, and record what they make in the workspace store, so the CLI and the dashboard see
it::

    import recengine
    from recengine.app import datasets, runs

    workspace, store = recengine.open_workspace()          # $RECENGINE_HOME or ./data
    datasets.generate(workspace, store, "demo", seed=0)     # -> data/datasets/demo-seed0, recorded
    run = runs.train(workspace, store, "demo-seed0", recengine.RunConfig())
    print(run["run_id"], run["metrics"]["model"]["auc"], run["metrics"]["oracle"]["auc"])
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_dataset": "recengine.data.mind",
    "generate": "recengine.data.synthetic",
    "PRESETS": "recengine.data.synthetic",
    "Store": "recengine.data.store",
    "Workspace": "recengine.workspace",
    "open_workspace": "recengine.app",
    "get_embedder": "recengine.text",
    "RunConfig": "recengine.config",
    "ModelConfig": "recengine.config",
    "TrainConfig": "recengine.config",
    "train_run": "recengine.train.api",
    "evaluate_run": "recengine.train.api",
    "load_run": "recengine.train.runs",
    "mind_metrics": "recengine.eval.metrics",
    "RecengineError": "recengine.errors",
    "InputError": "recengine.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recengine' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
