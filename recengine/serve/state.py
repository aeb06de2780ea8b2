"""What the serving parts share: the run's model and catalogue, the store and the dataset's name in it, the
clock, the article index, and the one lock that guards the in-memory model (see :mod:`recengine.serve.service`)."""

from __future__ import annotations

import threading
import time
from typing import Sequence

import numpy as np

from recengine.data.store import Store
from recengine.index import ArticleIndex
from recengine.model.catalog import Catalog
from recengine.model.recommender import Recommender
from recengine.serve import coldstart
from recengine.serve.checks import to_seconds
from recengine.text import EmbeddingCache, TextEmbedder
from recengine.train.runs import LoadedRun


POPULAR_TTL_S = 5.0


class ServingState:
    """A loaded run bound to a store dataset; the index is built by :meth:`build_index` once the catalogue is
    complete. Methods that touch the model, the catalogue or the index must run under ``lock``."""

    def __init__(
        self,
        run: LoadedRun,
        store: Store,
        dataset: str,
        embedder: TextEmbedder,
        cache: EmbeddingCache | None,
        now: int,
        run_id: str | None,
    ):
        self.run = run
        self.recommender: Recommender = run.recommender
        self.store = store
        self.dataset = dataset
        self.embedder = embedder
        self.cache = cache
        self.now = now
        self.run_id = run_id
        self.lock = threading.RLock()
        self.index: ArticleIndex | None = None
        self.indexed: np.ndarray | None = None  # what the index holds, to find rows whose vectors moved
        self._inputs_key: tuple | None = None
        self._inputs: coldstart.ViewInputs | None = None
        self.clicks_version = 0  # bumped by every click this process records (see popular)
        self._popular: tuple[tuple, float, tuple] | None = None
        self._columns: tuple[int, list[np.ndarray]] | None = None  # describe's columns, for a catalogue size

    @property
    def catalog(self) -> Catalog:
        return self.recommender.catalog

    def clock(self, now) -> int:
        """Unix seconds of ``now``, or the service's clock when None."""
        return self.now if now is None else to_seconds(now)

    def build_index(self, kind: str) -> None:
        vectors = self.normalised_vectors()
        self.index = ArticleIndex.build(vectors, np.arange(len(vectors)), kind)
        self.indexed = vectors

    def normalised_vectors(self) -> np.ndarray:
        vectors = self.recommender.article_vectors().vectors.float().cpu().numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def sync_index(self) -> None:
        """Append new rows to the index; re-index old rows whose vectors moved.

        Adding an article changes its entities' GNN inputs, which moves the graph view of the
        articles that share them. Flat and IVF replace those rows; HNSW cannot remove, so there
        they keep their old vector for recall (the rerank always uses the current one).
        """
        vectors = self.normalised_vectors()
        old = len(self.indexed)
        if self.index.kind != "hnsw" and old:
            moved = np.flatnonzero(np.abs(vectors[:old] - self.indexed).max(axis=1) > 1e-5)
            if len(moved):
                self.index.remove(moved)
                self.index.add(vectors[moved], moved)
        self.index.add(vectors[old:], np.arange(old, len(vectors)))
        self.indexed = vectors

    def popular(self, now: int) -> tuple:
        """:func:`coldstart.popular` at ``now``, cached: its store query groups every recent click, tens of ms on
        MIND-small, for every request of a user without clicks. A click this process records, a catalogue change
        or another ``now`` recomputes it at once; another process's clicks count within ``POPULAR_TTL_S``."""
        key = (now, len(self.catalog), self.clicks_version)
        cached = self._popular
        if cached is None or cached[0] != key or time.monotonic() - cached[1] > POPULAR_TTL_S:
            cached = (key, time.monotonic(), coldstart.popular(self.store, self.dataset, self.catalog, now))
            self._popular = cached
        return cached[2]

    def view_inputs(self) -> coldstart.ViewInputs:
        """Each view's input and neutral value for the current catalogue and weights (cached until either changes)."""
        key = (len(self.catalog), self.recommender.weights_version)
        if self._inputs is None or self._inputs_key != key:
            self._inputs = coldstart.neutral_views(self.recommender)
            self._inputs_key = key
        return self._inputs

    def describe(self, rows: Sequence[int]) -> list[dict]:
        """article_id, title, category and subcategory of each catalogue row."""
        rows = np.asarray(rows, dtype=np.int64)
        # Taking columns out of the (Arrow-backed) frame costs more than the rest of a recommendation: kept as
        # object arrays until the catalogue grows.
        if self._columns is None or self._columns[0] != len(self.catalog):
            frame = self.catalog.frame
            names = ("news_id", "title", "category", "subcategory")
            self._columns = (len(self.catalog), [frame[name].to_numpy(dtype=object) for name in names])
        columns = [column[rows] for column in self._columns[1]]
        return [
            {"article_id": a, "title": title, "category": category, "subcategory": sub}
            for a, title, category, sub in zip(*columns)
        ]
