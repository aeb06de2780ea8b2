"""Ingestion: clicks into the store, and articles added after training (stored, embedded, appended to the
catalogue and the index, scored zero-shot against a sample of users)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Sequence

import numpy as np
import pandas as pd

from recengine.data.mind import NEWS_COLUMNS, News, parse_entities
from recengine.errors import InputError
from recengine.model.catalog import UNKNOWN_TIME
from recengine.model.interactions import pad_last
from recengine.serve import checks
from recengine.serve.explain import Explanation
from recengine.serve.state import ServingState
from recengine.text import embed_news

USER_BATCH = 1024
SUMMARY_PERCENTILES = (10, 25, 50, 75, 90)


class DuplicateArticle(InputError):
    """The article id is taken (the HTTP face answers 409 Conflict)."""


class Ingestion:
    """What arrives after training: clicks and articles, written to the store and to the served catalogue."""

    def __init__(self, state: ServingState, explanation: Explanation):
        self.state = state
        self.explanation = explanation

    def load_catalog(self) -> None:
        """Add the dataset's non-train articles (day 6 is servable) and the articles added through the store."""
        catalog, data = self.state.catalog, self.state.run.dataset
        for name, split in data.splits.items():
            if name != "train":
                catalog.extend(split.news, self.state.embedder, cache=self.state.cache)
                catalog.note_first_seen(split.behaviors)
        self._adopt(self.state.store.added_articles(self.state.dataset))

    def refresh(self) -> int:
        """Adopt the articles added to the store (by another service or process) that the catalogue lacks; the
        index follows. Returns how many were adopted."""
        added = self.state.store.added_articles(self.state.dataset)
        with self.state.lock:
            added = added[~added["news_id"].isin(self.state.catalog.articles.position.keys())]
            if added.empty:
                return 0
            self._adopt(added)
            self.state.sync_index()
        return len(added)

    def _adopt(self, added: pd.DataFrame) -> None:
        """Append store-added articles (rows of :meth:`Store.added_articles`) to the catalogue (caller holds the lock
        once the service is built)."""
        if added.empty:
            return
        catalog = self.state.catalog
        entities = [
            tuple(dict.fromkeys(e["WikidataId"] for column in ("title_entities", "abstract_entities")
                                for e in parse_entities(raw[column])))
            for _, raw in added.iterrows()
        ]
        catalog.extend(
            News(added[list(NEWS_COLUMNS)].reset_index(drop=True), entities), self.state.embedder, cache=self.state.cache
        )
        # Rows just appended, and rows a run updated on logged traffic already holds without a first-seen time (its
        # dataset never showed them): the store stamps added_at with the wall clock, years after the dataset's
        # clock, so an added article counts as first seen no later than the service's now.
        rows = catalog.articles.rows(added["news_id"].tolist())
        unseen = catalog.first_seen[rows] == UNKNOWN_TIME
        seconds = pd.to_datetime(added["added_at"]).to_numpy(dtype="datetime64[s]").astype(np.int64)
        catalog.first_seen[rows[unseen]] = np.minimum(seconds[unseen], self.state.now)

    def record_click(self, user_id: str, article_id: str, time: datetime | None = None) -> None:
        """Store a click (default time: the wall clock, which keeps live clicks in order); the next
        :meth:`~recengine.serve.ranking.Ranking.recommend` reads it."""
        self.state.store.record_click(self.state.dataset, user_id, article_id, time)
        self.state.clicks_version += 1

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

        Validates everything (see :func:`~recengine.serve.checks.check_article`: empty or over-long fields are refused,
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
        fields = checks.check_article(
            title=title, abstract=abstract, category=category, subcategory=subcategory,
            entities=entities, article_id=article_id,
        )
        top_users = checks.whole(top_users, "top_users", 0, checks.MAX_K)
        sample_users = checks.whole(sample_users, "sample_users", 1, checks.MAX_SAMPLE_USERS)
        article_id = fields["article_id"] or f"N_added_{uuid.uuid4().hex[:12]}"
        with self.state.lock:
            self._check_new(article_id, fields["entities"])
            text_fields = self.state.catalog.text_info["fields"]
        row = self._store_row(article_id, fields)
        news = News(pd.DataFrame([row], columns=list(NEWS_COLUMNS)), [tuple(fields["entities"])])
        vector = embed_news(news, self.state.embedder, cache=self.state.cache, fields=text_fields).matrix[0]
        with self.state.lock:
            self._check_new(article_id, fields["entities"])  # another thread may have added it meanwhile
            self.state.store.add_article(self.state.dataset, row, run_id=self.state.run_id)
            position = self.state.catalog.add_article(
                article_id, title=fields["title"], abstract=fields["abstract"], category=fields["category"],
                subcategory=fields["subcategory"], entities=fields["entities"], vector=vector, first_seen=self.state.now,
            )
            self.state.sync_index()
            nearest = self.explanation.nearest(position, 10)
        reach = self._reach(position, top_users, sample_users)
        return {"article_id": article_id, "row": position, **reach, "nearest_articles": nearest}

    def _check_new(self, article_id: str, entities: list[str]) -> None:
        if article_id in self.state.catalog.articles.position:
            raise DuplicateArticle(f"article id {article_id!r} already exists")
        if self.state.store.article(self.state.dataset, article_id) is not None:
            raise DuplicateArticle(f"article id {article_id!r} already exists in the store (added by another process?)")
        unknown = self.state.catalog.graph.unknown_entities(entities)
        if unknown:
            raise InputError(f"unknown entities (not in the knowledge graph): {', '.join(unknown[:10])}")

    def _store_row(self, article_id: str, fields: dict) -> dict:
        labels = self.state.run.dataset.news.entity_labels
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
        users = self.state.store.users(self.state.dataset)["user_id"].to_numpy(dtype=object)
        if len(users) > sample_users:
            users = np.sort(users[np.random.default_rng(0).permutation(len(users))[:sample_users]])
        length = self.state.recommender.config.model.max_history
        histories = [self.state.store.user_history(self.state.dataset, u, limit=length) for u in users]
        with self.state.lock:
            logits = self._score_users(users, histories, row)
        probabilities = self.state.recommender.probabilities(logits)
        order = np.argsort(-logits, kind="stable")[:top_users]
        top = [
            {"user_id": users[i], "score": round(float(logits[i]), 4),
             "probability": round(float(probabilities[i]), 4)}
            for i in order.tolist()
        ]
        return {"top_users": top, "score_summary": _summary(logits, probabilities)}

    def _score_users(self, users: np.ndarray, histories: list[list[str]], row: int) -> np.ndarray:
        """(n,) logits of catalogue ``row`` for users with these histories, at the service's clock."""
        rec = self.state.recommender
        out = np.empty(len(users), dtype=np.float32)
        for start in range(0, len(users), USER_BATCH):
            chunk = histories[start : start + USER_BATCH]
            mapped = [rows[rows >= 0] for rows in (rec.catalog.articles.rows(h) for h in chunk)]
            ptr = np.zeros(len(mapped) + 1, dtype=np.int64)
            np.cumsum([len(m) for m in mapped], out=ptr[1:])
            flat = np.concatenate(mapped) if mapped else np.empty(0, dtype=np.int64)
            history, mask = pad_last(ptr, flat, np.arange(len(mapped)), max(1, rec.config.model.max_history))
            n = len(mapped)
            now = np.full(n, self.state.now)
            vectors = rec.user_vectors(history, mask, rec.users.rows(users[start : start + n].tolist()), now)
            out[start : start + n] = rec.score_pairs(vectors, np.full(n, row), now).float().cpu().numpy()
        return out


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
