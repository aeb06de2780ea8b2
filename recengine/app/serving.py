"""Serving a stored run: the recommender service every face uses (recommend, add an article, record a click,
explain), opened the same way by each.

Every face serves a run against the one store dataset that holds its data, found by content (see
:meth:`recengine.data.store.Store.dataset_for`), so clicks and added articles made on one face are seen by every
other.
"""

from __future__ import annotations

from pathlib import Path

from recengine.app import runs
from recengine.data.mind import MindDataset, load_dataset
from recengine.data.store import Store
from recengine.serve.accelerate import check_inference
from recengine.serve.service import RecommenderService
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
