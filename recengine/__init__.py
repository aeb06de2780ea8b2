"""recengine: a news recommender that reads an article three ways (a learned ID vector, a language-model
text embedding and a knowledge-graph GNN vector), learns users from their clicks, and keeps working when
new articles and users arrive after training.

The names below load lazily, so ``import recengine`` is cheap::

    import recengine
    recengine.generate("demo", seed=0, out="data/datasets/demo")
    run = recengine.train_run("data/datasets/demo", recengine.RunConfig(), out="data/runs/first")
    print(run.metrics["model"], run.metrics["oracle"])
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
