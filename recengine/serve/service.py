"""Serving a trained run: two-stage recommendations, live clicks, articles added after training, cold start.

A :class:`RecommenderService` binds a run to the store. Histories are read from the store at
request time, so a click recorded a moment ago changes the next recommendation without any
retraining; an added article is embedded, appended to the catalogue and the index, and can be
recommended at once (its text and graph views need no training, its ID view is neutral).

The service is a facade over three parts sharing one :class:`~recengine.serve.state.ServingState`:
:mod:`~recengine.serve.ranking` (recall, rerank, cold start), :mod:`~recengine.serve.explain` (view
contributions, nearest articles, user profiles) and :mod:`~recengine.serve.ingest` (clicks, added articles).
Input checks are in :mod:`~recengine.serve.checks`.

Recall ranks by cosine (the index holds unit vectors). With ``scoring="cosine"`` that is the model's
own similarity term; with ``"dot"`` it is an approximation, and a larger ``candidates`` compensates.

Threads: the dashboard keeps one service per run and calls it from several threads. Every use
of the in-memory model (catalogue, cached vectors, FAISS index) happens under one lock, so a
request sees the catalogue either before or after an added article, never half of it; store
reads and text embedding happen outside it. The model work of one request is milliseconds, so
serialising it costs little (torch already spreads one request over the cores).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Sequence

from recengine.data.store import Store
from recengine.index import ArticleIndex
from recengine.model.catalog import Catalog
from recengine.model.recommender import Recommender
from recengine.serve.accelerate import accelerated, check_inference
from recengine.serve.checks import latest_impression, to_seconds
from recengine.serve.explain import Explanation
from recengine.serve.ingest import Ingestion
from recengine.serve.ranking import Ranking
from recengine.serve.state import ServingState
from recengine.text import EmbeddingCache, TextEmbedder, get_embedder
from recengine.train.runs import LoadedRun, load_run, read_run_files


class RecommenderService:
    """A trained run served against the store (see the module notes on threads).

    ``run`` is a :class:`LoadedRun` or a run folder; the service extends its catalogue in place.
    ``dataset`` is the store's name for the run's data (default: found by the data's fingerprint, see
    :meth:`Store.dataset_for`); the data is imported into the store when new. ``now`` is the default clock
    (unix seconds or datetime; default: the dataset's latest impression, because the data is from 2019 and the
    wall clock would make every article look years old). ``index_kind`` goes to :meth:`ArticleIndex.build`.
    ``inference``: ``"torch"``, or ``"onnx"`` / ``"int8"`` to run the per-request user encoder and scorer in
    onnxruntime (exported and checked against torch when the service opens; see ``benchmarks/inference.py``).

    The methods are those of :class:`Ranking` (``recommend``, ``score``, ``cold_start``), :class:`Explanation`
    (``nearest_articles``, ``user_profile``) and :class:`Ingestion` (``record_click``, ``add_article``, ``refresh``).
    """

    def __init__(
        self,
        run: LoadedRun | str | Path,
        store: Store | None = None,
        dataset: str | None = None,
        *,
        embedder: TextEmbedder | None = None,
        cache: EmbeddingCache | str | Path | None = None,
        index_kind: str = "auto",
        now=None,
        run_id: str | None = None,
        inference: str = "torch",
    ):
        check_inference(inference)  # before loading anything
        if isinstance(run, LoadedRun):
            self.run = run
            self.embedder = embedder or get_embedder(run.recommender.config.model.embedder)
        else:
            config, _, _ = read_run_files(run)
            self.embedder = embedder or get_embedder(config.model.embedder)
            self.run = load_run(run, embedder=self.embedder, cache=cache)
        self.cache = EmbeddingCache(cache) if cache is not None and not isinstance(cache, EmbeddingCache) else cache
        self.store = store or Store.default()
        data = self.run.dataset
        # The one resolver: the store dataset holding this content (by fingerprint), imported under the name the
        # run recorded when new. A ``dataset`` given must be exactly that one.
        recorded = (self.run.meta.get("dataset") or {}).get("store_name")
        self.dataset = self.store.dataset_for(data, name=dataset or recorded, exact=dataset is not None)
        # The store's id of the run when the caller knows it; else its folder's name (run ids are single tokens, so
        # a folder name with spaces still names its run).
        self.run_id = run_id or "_".join(Path(self.run.path).name.split()) or None
        self.now = latest_impression(data) if now is None else to_seconds(now)
        self.state = ServingState(self.run, self.store, self.dataset, self.embedder, self.cache, self.now, self.run_id)
        # ONNX / INT8 per-request path (recengine.serve.accelerate), checked against torch when exported.
        self.state.recommender = accelerated(self.state.recommender, inference)
        self._explanation = Explanation(self.state)
        self._ingestion = Ingestion(self.state, self._explanation)
        self._ingestion.load_catalog()
        self.state.build_index(index_kind)
        self._ranking = Ranking(self.state, self._explanation)

    @property
    def recommender(self) -> Recommender:
        return self.state.recommender

    @property
    def catalog(self) -> Catalog:
        return self.state.catalog

    @property
    def index(self) -> ArticleIndex:
        return self.state.index

    def recommend(self, user_id: str, k: int = 10, **options) -> list[dict]:
        """:meth:`Ranking.recommend`: the top ``k`` articles for ``user_id``, best first."""
        return self._ranking.recommend(user_id, k, **options)

    def score(self, user_id: str, article_ids: Sequence[str], **options) -> list[dict]:
        """:meth:`Ranking.score`: the model's score of each given article for ``user_id``."""
        return self._ranking.score(user_id, article_ids, **options)

    @property
    def user_cache(self):
        """The :class:`~recengine.serve.ranking.UserVectorCache` (its ``hits`` and ``misses`` are counted)."""
        return self._ranking.user_cache

    def refresh(self) -> int:
        """:meth:`Ingestion.refresh`: adopt articles another service or process added to the store."""
        return self._ingestion.refresh()

    def cold_start(self, interest_text: str | None = None, clicks: Sequence[str] = (), k: int = 10, **options) -> list[dict]:
        """:meth:`Ranking.cold_start`: recommendations for a brand-new user (``categories=`` picked, the clauses of
        ``interest_text`` and the ``clicks`` served as a mixture); nothing is stored."""
        return self._ranking.cold_start(interest_text, clicks, k, **options)

    def nearest_articles(self, article_id: str, k: int = 10) -> list[dict]:
        """:meth:`Explanation.nearest_articles`: the ``k`` articles closest to ``article_id``."""
        return self._explanation.nearest_articles(article_id, k)

    def user_profile(self, user_id: str) -> dict:
        """:meth:`Explanation.user_profile`: what the store and the model know of ``user_id``."""
        return self._explanation.user_profile(user_id)

    def record_click(self, user_id: str, article_id: str, time: datetime | None = None) -> None:
        """:meth:`Ingestion.record_click`: store a click; the next recommendation reads it."""
        self._ingestion.record_click(user_id, article_id, time)

    def add_article(self, **fields) -> dict:
        """:meth:`Ingestion.add_article`: add an article after training and score it zero-shot."""
        return self._ingestion.add_article(**fields)
