"""Serving a stored run: recommendations for a user, adding an article, recording a click.

Every face serves a run against the store dataset the run is recorded under (see
:func:`recengine.app.runs.find_run`), so clicks and added articles made on one face are seen by every other.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from recengine.app import runs
from recengine.data.store import Store
from recengine.serve.service import RecommenderService


def open_service(store: Store, run: str | Path, *, cache=None, **options) -> RecommenderService:
    """The recommender service of ``run`` (a run id or folder) over its recorded store dataset.

    ``options`` go to :class:`RecommenderService` (e.g. ``embedder``, ``index_kind``, ``now``).
    """
    record = runs.find_run(store, run)
    return RecommenderService(record["path"], store, record["dataset"], cache=cache, **options)


def recommend(service: RecommenderService, user: str, k: int = 10, *, candidates: int = 200,
              interest: str | None = None) -> list[dict]:
    """The top ``k`` articles for ``user`` (two-stage: recall, then the model), or a cold start."""
    return service.recommend(user, k, candidates=candidates, interest_text=interest)


def add_article(service: RecommenderService, **fields) -> dict:
    """Add an article (embedded, linked to its entities, stored) and score it zero-shot."""
    return service.add_article(**fields)


def record_click(service: RecommenderService, user: str, article: str, time: datetime | None = None) -> None:
    service.record_click(user, article, time)
