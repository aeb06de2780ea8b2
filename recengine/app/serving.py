"""Serving a stored run: the recommender service every face uses (recommend, add an article, record a click,
explain), opened the same way by each.

Every face serves a run against the one store dataset that holds its data, found by content (see
:meth:`recengine.data.store.Store.dataset_for`), so clicks and added articles made on one face are seen by every
other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from recengine.app import runs
from recengine.data.mind import MindDataset, load_dataset
from recengine.data.store import Store
from recengine.serve.accelerate import check_inference
from recengine.serve.coldstart import CLICKS_CROSSOVER  # noqa: F401 (the pages show it)
from recengine.serve.service import RecommenderService
from recengine.tables import read_benchmark_json
from recengine.text import TextEmbedder
from recengine.train.runs import load_run


def open_service(
    store: Store,
    run: str | Path,
    *,
    data: str | Path | MindDataset | None = None,
    allow_dataset_change: bool = False,
    cache=None,
    embedder: TextEmbedder | None = None,
    **options,
) -> RecommenderService:
    """The recommender service of ``run`` (a run folder or stored run id) over its store dataset, found by content
    (imported when new).

    ``data`` is the run's dataset (a folder, or one already loaded) when it moved; data other than what the run was
    trained on is refused unless ``allow_dataset_change``. ``embedder`` spares loading the run's own; ``options``
    go to :class:`RecommenderService` (``dataset``, ``index_kind``, ``now``, ``inference``).
    """
    store.check()  # a damaged or unopenable store fails before the run loads
    check_inference(options.get("inference", "torch"))
    dataset = load_dataset(data) if isinstance(data, (str, Path)) else data
    folder = runs.run_path(store, run)
    loaded = load_run(folder, dataset=dataset, embedder=embedder, cache=cache, allow_dataset_change=allow_dataset_change)
    recorded = runs.recorded_at(store, folder)  # added articles name the run by its store id
    return RecommenderService(loaded, store, embedder=embedder, cache=cache,
                              run_id=recorded["run_id"] if recorded else None, **options)


# benchmarks/cold_start.py --preset demo --embedder minilm --epochs 6 (world v3, seed 0): the curve the Cold start
# page draws.
SHIPPED_COLD_START = Path(__file__).resolve().parent.parent / "resources" / "cold_start_demo.json"


def cold_start(service: RecommenderService, *, categories: Sequence[str] = (), interest_text: str | None = None,
               clicks: Sequence[str] = (), k: int = 10) -> list[dict]:
    """A brand-new reader's list (nothing stored): the picked ``categories`` and the clauses of ``interest_text``
    served as a mixture, beside the ``clicks`` made so far (see :mod:`recengine.serve.coldstart`)."""
    text = interest_text.strip() if interest_text else None
    return service.cold_start(text or None, list(clicks), k, categories=list(categories))


def cold_start_curve(path: str | Path = SHIPPED_COLD_START) -> dict | None:
    """The cold-start benchmark's JSON object (AUC and nDCG@10 per method at 0, 1, 3, 5 clicks), None when absent."""
    return read_benchmark_json(path, "cold_start.py", "revealed")
