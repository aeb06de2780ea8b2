"""Serving a trained run: two-stage recommendations, live clicks, articles added after training, cold start.

A :class:`RecommenderService` binds a run to the store. Histories are read from the store at
request time, so a click recorded a moment ago changes the next recommendation without any
retraining; an added article is embedded, appended to the catalogue and the index, and can be
recommended at once (its text and graph views need no training, its ID view is neutral).

Recall ranks by cosine (the index holds unit vectors). With ``scoring="cosine"`` that is the model's
own similarity term; with ``"dot"`` it is an approximation, and a larger ``candidates`` compensates.

Threads: the dashboard keeps one service per run and calls it from several threads. Every use
of the in-memory model (catalogue, cached vectors, FAISS index) happens under one lock, so a
request sees the catalogue either before or after an added article, never half of it; store
reads and text embedding happen outside it. The model work of one request is milliseconds, so
serialising it costs little (torch already spreads one request over the cores).
"""

from __future__ import annotations

import math
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from recengine.data.mind import NEWS_COLUMNS, MindDataset, News, parse_entities
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.index import ArticleIndex
from recengine.model.catalog import Catalog
from recengine.model.interactions import pad_last
from recengine.model.recommender import Recommender
from recengine.serve import coldstart
from recengine.text import EmbeddingCache, TextEmbedder, embed_news, embed_texts, get_embedder
from recengine.train.runs import LoadedRun, load_run, read_run_files

MAX_K = 1000
MAX_CANDIDATES = 10_000
MAX_TITLE_CHARS = 1_000
MAX_ABSTRACT_CHARS = 10_000
MAX_LABEL_CHARS = 100  # category, subcategory, ids
MAX_ENTITIES = 100
MAX_INTEREST_CHARS = 2_000
MAX_SAMPLE_USERS = 100_000
EXCLUDE_LIMIT = 100_000  # clicks read per user to exclude what they already read
USER_BATCH = 1024
SUMMARY_PERCENTILES = (10, 25, 50, 75, 90)


# --------------------------------------------------------------------------- validation


def _whole(value, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{what} must be a whole number from {low:,} to {high:,}, got {value!r}")
    return int(value)


def _token(value, what: str) -> str:
    """An id: a non-empty string without whitespace, at most MAX_LABEL_CHARS long."""
    if not isinstance(value, str) or not value or value != "".join(value.split()):
        raise InputError(f"bad {what} {value!r}: expected a non-empty string without spaces")
    if len(value) > MAX_LABEL_CHARS:
        raise InputError(f"{what} is {len(value):,} characters long; the limit is {MAX_LABEL_CHARS}")
    return value


def _text(value, what: str, limit: int, *, required: bool = False) -> str:
    """Text with its whitespace runs (tabs and line breaks included) collapsed to single spaces."""
    if not isinstance(value, str):
        raise InputError(f"the {what} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise InputError(f"the {what} is {len(value):,} characters long; the limit is {limit:,}")
    text = " ".join(value.split())
    if required and not text:
        raise InputError(f"the {what} is empty")
    return text


def _entity_ids(entities) -> list[str]:
    if isinstance(entities, (str, bytes)) or not isinstance(entities, Sequence):
        raise InputError(f"entities must be a list of WikidataIds, got {type(entities).__name__}")
    if len(entities) > MAX_ENTITIES:
        raise InputError(f"{len(entities)} entities given; the limit is {MAX_ENTITIES}")
    return list(dict.fromkeys(_token(e, "entity id") for e in entities))


def check_article(
    *,
    title,
    abstract="",
    category="",
    subcategory="",
    entities=(),
    article_id=None,
) -> dict:
    """The validated fields of an article to add (whitespace collapsed); InputError naming the first problem.

    Needs no model or store, so callers can refuse bad input before loading anything.
    """
    return {
        "article_id": None if article_id is None else _token(article_id, "article id"),
        "title": _text(title, "title", MAX_TITLE_CHARS, required=True),
        "abstract": _text(abstract, "abstract", MAX_ABSTRACT_CHARS),
        "category": _text(category, "category", MAX_LABEL_CHARS),
        "subcategory": _text(subcategory, "subcategory", MAX_LABEL_CHARS),
        "entities": _entity_ids(entities),
    }


def check_request(user_id, k, candidates) -> tuple[str, int, int]:
    """A recommendation request's user id, ``k`` (1..MAX_K) and ``candidates`` (1..MAX_CANDIDATES), checked."""
    return (
        _token(user_id, "user id"),
        _whole(k, "k", 1, MAX_K),
        _whole(candidates, "candidates", 1, MAX_CANDIDATES),
    )


def to_seconds(value) -> int:
    """Unix seconds of an int/float (seconds), a datetime (naive = UTC) or a numpy datetime64."""
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[s]").astype(np.int64))
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    raise InputError(f"a time must be unix seconds or a datetime, got {value!r}")


def _summary(logits: np.ndarray, probabilities: np.ndarray) -> dict:
    if not len(logits):
        return {"users": 0}
    values = np.percentile(logits, SUMMARY_PERCENTILES)
    return {
        "users": int(len(logits)),
        "mean": round(float(logits.mean()), 4),
        "std": round(float(logits.std()), 4),
        "min": round(float(logits.min()), 4),
        **{f"p{p}": round(float(v), 4) for p, v in zip(SUMMARY_PERCENTILES, values)},
        "max": round(float(logits.max()), 4),
        "mean_probability": round(float(probabilities.mean()), 4),
    }


def latest_impression(dataset: MindDataset) -> int:
    """Unix seconds of the dataset's latest impression: the serving clock's default."""
    times = [split.behaviors.times.max() for split in dataset.splits.values() if len(split.behaviors)]
    if not times:
        raise InputError("the dataset has no impressions to take the time from; pass now=")
    return to_seconds(max(times))


# --------------------------------------------------------------------------- service


class RecommenderService:
    """A trained run served against the store (see the module notes on threads).

    ``run`` is a :class:`LoadedRun` or a run folder; the service extends its catalogue in place.
    ``dataset`` is the store's name for the run's data (default: the dataset folder's name); it is
    imported into the store when missing. ``now`` is the default clock (unix seconds or datetime;
    default: the dataset's latest impression, because the data is from 2019 and the wall clock
    would make every article look years old). ``index_kind`` goes to :meth:`ArticleIndex.build`.
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
    ):
        if isinstance(run, LoadedRun):
            self.run = run
            self.embedder = embedder or get_embedder(run.recommender.config.model.embedder)
        else:
            config, _, _ = read_run_files(run)
            self.embedder = embedder or get_embedder(config.model.embedder)
            self.run = load_run(run, embedder=self.embedder, cache=cache)
        self.cache = EmbeddingCache(cache) if cache is not None and not isinstance(cache, EmbeddingCache) else cache
        self.recommender: Recommender = self.run.recommender
        self.store = store or Store.default()
        data = self.run.dataset
        self.dataset = _token(dataset or Path(data.root).resolve().name, "dataset name")
        # Run ids in the store are single tokens; a folder name with spaces still names its run.
        self.run_id = "_".join(Path(self.run.path).name.split()) or None
        self.now = latest_impression(data) if now is None else to_seconds(now)
        self._lock = threading.RLock()
        self._inputs_key: tuple | None = None
        self._inputs: coldstart.ViewInputs | None = None
        if self.store.dataset(self.dataset) is None:
            meta = data.meta or {}
            self.store.import_dataset(
                self.dataset, data, source="generated" if meta.get("generator") else "imported",
                preset=meta.get("preset"), seed=meta.get("seed"),
            )
        self._extend_catalog()
        vectors = self._normalised_vectors()
        self.index = ArticleIndex.build(vectors, np.arange(len(vectors)), index_kind)
        self._indexed = vectors  # what the index holds, to find rows whose vectors moved

    @property
    def catalog(self) -> Catalog:
        return self.recommender.catalog

    def _extend_catalog(self) -> None:
        """Add the dataset's non-train articles (day 6 is servable) and the articles added through the store."""
        catalog, data = self.catalog, self.run.dataset
        for name, split in data.splits.items():
            if name != "train":
                catalog.extend(split.news, self.embedder, cache=self.cache)
                catalog.note_first_seen(split.behaviors)
        added = self.store.added_articles(self.dataset)
        if added.empty:
            return
        entities = [
            tuple(dict.fromkeys(e["WikidataId"] for column in ("title_entities", "abstract_entities")
                                for e in parse_entities(raw[column])))
            for _, raw in added.iterrows()
        ]
        rows = catalog.extend(
            News(added[list(NEWS_COLUMNS)].reset_index(drop=True), entities), self.embedder, cache=self.cache
        )
        # The store stamps added_at with the wall clock, years after the dataset's clock: an added
        # article counts as first seen no later than the service's now.
        stamps = pd.to_datetime(added.set_index("news_id").loc[[catalog.articles.ids[r] for r in rows], "added_at"])
        seconds = stamps.to_numpy(dtype="datetime64[s]").astype(np.int64)
        catalog.first_seen[rows] = np.minimum(seconds, self.now)

    # ------------------------------------------------------------------ model state (call under the lock)

    def _normalised_vectors(self) -> np.ndarray:
        vectors = self.recommender.article_vectors().vectors.float().cpu().numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def _sync_index(self) -> None:
        """Append new rows to the index; re-index old rows whose vectors moved.

        Adding an article changes its entities' GNN inputs, which moves the graph view of the
        articles that share them. Flat and IVF replace those rows; HNSW cannot remove, so there
        they keep their old vector for recall (the rerank always uses the current one).
        """
        vectors = self._normalised_vectors()
        old = len(self._indexed)
        if self.index.kind != "hnsw" and old:
            moved = np.flatnonzero(np.abs(vectors[:old] - self._indexed).max(axis=1) > 1e-5)
            if len(moved):
                self.index.remove(moved)
                self.index.add(vectors[moved], moved)
        self.index.add(vectors[old:], np.arange(old, len(vectors)))
        self._indexed = vectors

    def _view_inputs(self) -> coldstart.ViewInputs:
        key = (len(self.catalog), self.recommender.weights_version)
        if self._inputs is None or self._inputs_key != key:
            self._inputs = coldstart.neutral_views(self.recommender)
            self._inputs_key = key
        return self._inputs

    def _now(self, now) -> int:
        return self.now if now is None else to_seconds(now)

    # ------------------------------------------------------------------ recommendations

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        history: Sequence[str] | None = None,
        candidates: int = 200,
        exclude_clicked: bool = True,
        now=None,
        interest_text: str | None = None,
    ) -> list[dict]:
        """The top ``k`` articles for ``user_id``, best first.

        Two stages: the user vector (from the history in the store, read now, or ``history`` when
        given) recalls the ``candidates`` nearest articles by cosine from the FAISS index; the full
        model reranks them (``score_pairs``: cosine/tau or dot, plus the ID bias and the freshness
        bonus at ``now``). Articles in the history are dropped when ``exclude_clicked``. An unknown
        user is a cold user: with an ``interest_text`` it becomes the oldest history item until the
        user has 3 clicks; with neither clicks nor interest the popularity prior answers
        (:mod:`recengine.serve.coldstart`).

        Each item: ``article_id``, ``title``, ``category``, ``subcategory``, ``score`` (logit),
        ``probability`` (the calibrated click probability), ``recall_score`` (cosine), ``view_weights`` (the fusion's
        per-view weights, None for concat), ``contributions`` and ``top_view``, ``source``
        ("model" or "popularity"). ``contributions[view]`` is leave-one-view-out on the article
        side: the logit minus the logit of the same article with that view's input replaced by
        its neutral value (the catalogue's mean text embedding, mean GNN output, or mean trained
        ID vector and bias), the user unchanged. Positive: the view pushed this article up.
        ``top_view`` is the view whose removal costs the most. Popularity items carry the prior
        as ``score``, ``clicks``, and None for the model's fields.
        """
        user_id, k, candidates = check_request(user_id, k, candidates)
        now = self._now(now)
        if history is None:
            clicked, strict = self.store.user_history(self.dataset, user_id, limit=EXCLUDE_LIMIT), False
        else:
            clicked, strict = self._history_ids(history), True
        interest = self._embed_interest(interest_text)
        with self._lock:
            user_row = self.recommender.users.position.get(user_id, -1)
            return self._serve(clicked, user_row, interest, k, candidates, exclude_clicked, now, strict)

    def cold_start(
        self,
        interest_text: str | None = None,
        clicks: Sequence[str] = (),
        k: int = 10,
        *,
        candidates: int = 200,
        now=None,
    ) -> list[dict]:
        """Recommendations for a brand-new user who typed ``interest_text`` and clicked ``clicks`` (oldest first).

        Nothing is stored. The same items as :meth:`recommend`.
        """
        k = _whole(k, "k", 1, MAX_K)
        candidates = _whole(candidates, "candidates", 1, MAX_CANDIDATES)
        clicked = self._history_ids(clicks)
        interest = self._embed_interest(interest_text)
        with self._lock:
            return self._serve(clicked, -1, interest, k, candidates, True, self._now(now), True)

    @staticmethod
    def _history_ids(history: Sequence[str]) -> list[str]:
        if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
            raise InputError(f"a history must be a list of article ids, got {type(history).__name__}")
        return [_token(a, "article id") for a in history]

    def _embed_interest(self, text: str | None) -> np.ndarray | None:
        if text is None:
            return None
        text = _text(text, "interest text", MAX_INTEREST_CHARS, required=True)
        matrix, _ = embed_texts([text], self.embedder, cache=self.cache)
        return matrix[0]

    def _serve(
        self,
        clicked: list[str],
        user_row: int,
        interest: np.ndarray | None,
        k: int,
        candidates: int,
        exclude_clicked: bool,
        now: int,
        strict: bool,
    ) -> list[dict]:
        rows = self.catalog.articles.rows(clicked)
        if strict and (rows < 0).any():
            unknown = [a for a, r in zip(clicked, rows) if r < 0]
            raise InputError(f"unknown article ids in the history: {', '.join(unknown[:10])}")
        rows = rows[rows >= 0]
        excluded = np.unique(rows) if exclude_clicked else np.empty(0, dtype=np.int64)
        use_interest = interest is not None and len(rows) < coldstart.INTEREST_UNTIL_CLICKS
        if not len(rows) and not use_interest:
            return self._popular_items(k, now, excluded)
        prefix = coldstart.interest_item(self.recommender, self._view_inputs(), interest) if use_interest else None
        user = coldstart.user_vector(self.recommender, rows, user_row, now, prefix)
        pool = max(candidates, k)
        cosine, found = self.index.search(user.float().cpu().numpy(), min(len(self.index), pool + len(excluded)) or 1)
        keep = (found[0] >= 0) & ~np.isin(found[0], excluded)
        found, cosine = found[0][keep][:pool], cosine[0][keep][:pool]
        if not len(found):
            return []
        logits = self.recommender.score_pairs(user.expand(len(found), -1), found, np.full(len(found), now))
        logits = logits.float().cpu().numpy()
        order = np.argsort(-logits, kind="stable")[:k]
        return self._model_items(user, found[order], logits[order], cosine[order])

    @torch.no_grad()
    def _contributions(self, user: torch.Tensor, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Per view, (n,) logit drop when that view's input is replaced by its neutral value (see recommend)."""
        inputs = self._view_inputs()
        net = self.recommender.net.eval()
        n = len(rows)
        index = torch.from_numpy(rows).to(self.recommender.device)
        local = torch.arange(n, device=index.device)
        text = inputs.text[index]
        graph = None if inputs.graph_out is None else inputs.graph_out[index]
        id_parts = None if inputs.id_vectors is None else (inputs.id_vectors[index], inputs.id_bias[index])
        # Age unknown for both: the freshness bonus does not depend on the views, so it cancels.
        age = torch.full((1, n), -1, dtype=torch.long, device=index.device)

        def logits(text, graph, id_parts) -> torch.Tensor:
            vectors, _, bias = net.articles(local, text, graph, id_parts)
            return net.logits(user, vectors.unsqueeze(0), bias.unsqueeze(0), age)[0]

        full = logits(text, graph, id_parts)
        out = {}
        for view in net.views:
            if view == "text":
                without = logits(inputs.neutral_text.expand(n, -1), graph, id_parts)
            elif view == "graph":
                without = logits(text, inputs.neutral_graph.expand(n, -1), id_parts)
            else:
                neutral = (inputs.neutral_id.expand(n, -1), inputs.neutral_bias.expand(n, -1))
                without = logits(text, graph, neutral)
            out[view] = (full - without).float().cpu().numpy()
        return out

    def _describe(self, rows: Sequence[int]) -> list[dict]:
        """article_id, title, category and subcategory of each catalogue row."""
        rows = np.asarray(rows, dtype=np.int64)
        frame = self.catalog.frame
        columns = [frame[name].to_numpy()[rows] for name in ("news_id", "title", "category", "subcategory")]
        return [
            {"article_id": a, "title": title, "category": category, "subcategory": sub}
            for a, title, category, sub in zip(*columns)
        ]

    def _model_items(self, user: torch.Tensor, rows: np.ndarray, logits: np.ndarray, cosine: np.ndarray) -> list[dict]:
        contributions = self._contributions(user, rows)
        probabilities = self.recommender.probabilities(logits)
        art = self.recommender.article_vectors()
        weights = None if art.weights is None else art.weights[torch.from_numpy(rows)].float().cpu().numpy()
        items = []
        for i, described in enumerate(self._describe(rows)):
            parts = {view: round(float(values[i]), 4) for view, values in contributions.items()}
            items.append({
                **described,
                "score": round(float(logits[i]), 4),
                "probability": round(float(probabilities[i]), 4),
                "recall_score": round(float(cosine[i]), 4),
                "view_weights": None if weights is None else {
                    view: round(float(w), 4) for view, w in zip(art.views, weights[i])
                },
                "contributions": parts,
                "top_view": max(parts, key=parts.get) if parts else None,
                "source": "model",
            })
        return items

    def _popular_items(self, k: int, now: int, excluded: np.ndarray) -> list[dict]:
        rows, clicks, scores, _ = coldstart.popular(self.store, self.dataset, self.catalog, now)
        keep = ~np.isin(rows, excluded)
        rows, clicks, scores = rows[keep][:k], clicks[keep][:k], scores[keep][:k]
        return [
            {
                **described,
                "score": round(float(score), 4),
                "probability": None,
                "recall_score": None,
                "view_weights": None,
                "contributions": {},
                "top_view": None,
                "source": "popularity",
                "clicks": int(count),
            }
            for described, count, score in zip(self._describe(rows), clicks.tolist(), scores.tolist())
        ]

    # ------------------------------------------------------------------ clicks and articles

    def record_click(self, user_id: str, article_id: str, time: datetime | None = None) -> None:
        """Store a click (default time: the wall clock, which keeps live clicks in order); the next
        :meth:`recommend` reads it."""
        self.store.record_click(self.dataset, user_id, article_id, time)

    def add_article(
        self,
        *,
        title: str,
        abstract: str = "",
        category: str = "",
        subcategory: str = "",
        entities: Sequence[str] = (),
        article_id: str | None = None,
        top_users: int = 10,
        sample_users: int = 2000,
    ) -> dict:
        """Add an article after training and score it zero-shot; nothing is half-written on failure.

        Validates everything (see :func:`check_article`: empty or over-long fields are refused,
        whitespace is collapsed; a duplicate id and entities the knowledge graph lacks are refused),
        embeds the text, then writes the store row, then appends to the catalogue and the index
        (no rebuild). If the store write fails, memory is unchanged. The ID view gets the run's
        neutral fill (``new_article_id``: table mean or nearest neighbours). The id defaults to
        ``N_added_<12 hex digits>``.

        Returns ``article_id``, ``row``, ``top_users`` (the ``top_users`` users, out of a fixed sample
        of ``sample_users`` known users, it would reach first: their current vectors scored
        against it, highest first), ``score_summary`` (its logits over that sample: mean, std,
        percentiles, mean probability) and ``nearest_articles`` (by cosine in the index).
        """
        fields = check_article(
            title=title, abstract=abstract, category=category, subcategory=subcategory,
            entities=entities, article_id=article_id,
        )
        top_users = _whole(top_users, "top_users", 0, MAX_K)
        sample_users = _whole(sample_users, "sample_users", 1, MAX_SAMPLE_USERS)
        article_id = fields["article_id"] or f"N_added_{uuid.uuid4().hex[:12]}"
        with self._lock:
            self._check_new(article_id, fields["entities"])
            text_fields = self.catalog.text_info["fields"]
        row = self._store_row(article_id, fields)
        news = News(pd.DataFrame([row], columns=list(NEWS_COLUMNS)), [tuple(fields["entities"])])
        vector = embed_news(news, self.embedder, cache=self.cache, fields=text_fields).matrix[0]
        with self._lock:
            self._check_new(article_id, fields["entities"])  # another thread may have added it meanwhile
            self.store.add_article(self.dataset, row, run_id=self.run_id)
            position = self.catalog.add_article(
                article_id, title=fields["title"], abstract=fields["abstract"], category=fields["category"],
                subcategory=fields["subcategory"], entities=fields["entities"], vector=vector, first_seen=self.now,
            )
            self._sync_index()
            nearest = self._nearest(position, 10)
        reach = self._reach(position, top_users, sample_users)
        return {"article_id": article_id, "row": position, **reach, "nearest_articles": nearest}

    def _check_new(self, article_id: str, entities: list[str]) -> None:
        if article_id in self.catalog.articles.position:
            raise InputError(f"article id {article_id!r} already exists")
        if self.store.article(self.dataset, article_id) is not None:
            raise InputError(f"article id {article_id!r} already exists in the store (added by another process?)")
        unknown = self.catalog.graph.unknown_entities(entities)
        if unknown:
            raise InputError(f"unknown entities (not in the knowledge graph): {', '.join(unknown[:10])}")

    def _store_row(self, article_id: str, fields: dict) -> dict:
        labels = self.run.dataset.news.entity_labels
        mentions = [
            {"Label": labels.get(e, ""), "Type": "", "WikidataId": e, "Confidence": 1.0,
             "OccurrenceOffsets": [], "SurfaceForms": []}
            for e in fields["entities"]
        ]
        return {
            "news_id": article_id,
            "category": fields["category"],
            "subcategory": fields["subcategory"],
            "title": fields["title"],
            "abstract": fields["abstract"],
            "url": "",
            "title_entities": mentions,
            "abstract_entities": [],
        }

    def _reach(self, row: int, top_users: int, sample_users: int) -> dict:
        """Top users and the score summary of catalogue ``row`` over a fixed sample of known users."""
        users = self.store.users(self.dataset)["user_id"].to_numpy(dtype=object)
        if len(users) > sample_users:
            users = np.sort(users[np.random.default_rng(0).permutation(len(users))[:sample_users]])
        length = self.recommender.config.model.max_history
        histories = [self.store.user_history(self.dataset, u, limit=length) for u in users]
        with self._lock:
            logits = self._score_users(users, histories, row)
        probabilities = self.recommender.probabilities(logits)
        order = np.argsort(-logits, kind="stable")[:top_users]
        top = [
            {"user_id": users[i], "score": round(float(logits[i]), 4),
             "probability": round(float(probabilities[i]), 4)}
            for i in order.tolist()
        ]
        return {"top_users": top, "score_summary": _summary(logits, probabilities)}

    def _score_users(self, users: np.ndarray, histories: list[list[str]], row: int) -> np.ndarray:
        """(n,) logits of catalogue ``row`` for users with these histories, at the service's clock."""
        rec = self.recommender
        out = np.empty(len(users), dtype=np.float32)
        for start in range(0, len(users), USER_BATCH):
            chunk = histories[start : start + USER_BATCH]
            mapped = [rows[rows >= 0] for rows in (rec.catalog.articles.rows(h) for h in chunk)]
            ptr = np.zeros(len(mapped) + 1, dtype=np.int64)
            np.cumsum([len(m) for m in mapped], out=ptr[1:])
            flat = np.concatenate(mapped) if mapped else np.empty(0, dtype=np.int64)
            history, mask = pad_last(ptr, flat, np.arange(len(mapped)), max(1, rec.config.model.max_history))
            n = len(mapped)
            now = np.full(n, self.now)
            vectors = rec.user_vectors(history, mask, rec.users.rows(users[start : start + n].tolist()), now)
            out[start : start + n] = rec.score_pairs(vectors, np.full(n, row), now).float().cpu().numpy()
        return out

    # ------------------------------------------------------------------ dashboard helpers

    def nearest_articles(self, article_id: str, k: int = 10) -> list[dict]:
        """The ``k`` articles closest to ``article_id`` by cosine of their vectors: id, title, category, similarity."""
        k = _whole(k, "k", 1, MAX_K)
        with self._lock:
            row = self.catalog.articles.position.get(article_id)
            if row is None:
                raise InputError(f"unknown article {article_id!r}")
            return self._nearest(row, k)

    def _nearest(self, row: int, k: int) -> list[dict]:
        cosine, found = self.index.search(self._indexed[row : row + 1], min(k + 1, max(len(self.index), 1)))
        keep = (found[0] >= 0) & (found[0] != row)
        rows, similarity = found[0][keep][:k], cosine[0][keep][:k]
        return [{**d, "similarity": round(float(s), 4)} for d, s in zip(self._describe(rows), similarity.tolist())]

    def user_profile(self, user_id: str) -> dict:
        """``user_id``, ``known`` (in the store), ``in_training`` and ``history`` (oldest first, what the model reads)."""
        user_id = _token(user_id, "user id")
        history = self.store.user_history(self.dataset, user_id, limit=self.recommender.config.model.max_history)
        known = self.store.user_exists(self.dataset, user_id)
        with self._lock:
            rows = self.catalog.articles.rows(history)
            described = iter(self._describe(rows[rows >= 0]))
            items = [
                next(described) if r >= 0 else {"article_id": a, "title": None, "category": None, "subcategory": None}
                for a, r in zip(history, rows.tolist())
            ]
            in_training = bool(self.recommender.trained_users(self.recommender.users.rows([user_id]))[0])
        return {"user_id": user_id, "known": known, "in_training": in_training, "history": items}
