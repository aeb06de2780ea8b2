"""Serving a stored run: recommendations for a user, adding an article, recording a click.

Every face serves a run against the one store dataset that holds its data, found by content (see
:meth:`recengine.data.store.Store.dataset_for`), so clicks and added articles made on one face are seen by every
other.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from recengine.app import runs
from recengine.data.mind import load_dataset
from recengine.data.store import Store
from recengine.serve.service import RecommenderService
from recengine.train.runs import load_run


def open_service(
    store: Store,
    run: str | Path,
    *,
    data: str | Path | None = None,
    allow_dataset_change: bool = False,
    cache=None,
    **options,
) -> RecommenderService:
    """The recommender service of ``run`` (a run folder or stored run id) over its store dataset, found by content
    (imported when new).

    ``data`` is the run's dataset folder when it moved; data other than what the run was trained on is refused
    unless ``allow_dataset_change``. ``options`` go to :class:`RecommenderService` (``embedder``, ``index_kind``,
    ``now``).
    """
    store.check()  # a damaged or unopenable store fails before the run loads
    dataset = load_dataset(data) if data is not None else None
    loaded = load_run(runs.run_path(store, run), dataset=dataset, cache=cache, allow_dataset_change=allow_dataset_change)
    return RecommenderService(loaded, store, cache=cache, **options)


def recommend(service: RecommenderService, user: str, k: int = 10, *, candidates: int = 200,
              interest: str | None = None) -> list[dict]:
    """The top ``k`` articles for ``user`` (two-stage: recall, then the model), or a cold start."""
    return service.recommend(user, k, candidates=candidates, interest_text=interest)


def add_article(service: RecommenderService, **fields) -> dict:
    """Add an article (embedded, linked to its entities, stored) and score it zero-shot."""
    return service.add_article(**fields)


def record_click(service: RecommenderService, user: str, article: str, time: datetime | None = None) -> None:
    service.record_click(user, article, time)
