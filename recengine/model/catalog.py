"""The article catalogue: every article the model can score, its content features, in one row order.

Row ``i`` is the same article in the text matrix, the knowledge graph and the
display frame. The catalogue grows (new articles are appended, nothing is
rebuilt), which is how articles that arrive after training are scored zero-shot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from recengine.data.mind import Behaviors, EntityVectors, News
from recengine.errors import InputError
from recengine.graph import ArticleGraph, build_graph
from recengine.text import EmbeddingCache, TextEmbedder, coverage_warning, embed_news

# The one "time unknown" sentinel (unix seconds), for NumPy arrays and torch tensors alike.
UNKNOWN_TIME = int(np.iinfo(np.int64).min)
DISPLAY_COLUMNS = ("news_id", "category", "subcategory", "title", "abstract")


class IdMap:
    """Ids <-> rows of an embedding table; grows by appending."""

    def __init__(self, ids: Sequence[str] = ()):
        self.ids: list[str] = []
        self.position: dict[str, int] = {}
        self.extend(ids)

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, ids: Sequence[str]) -> list[str]:
        """Append the ids not present yet; returns those appended."""
        added = [i for i in dict.fromkeys(ids) if i not in self.position]
        for i in added:
            self.position[i] = len(self.ids)
            self.ids.append(i)
        return added

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """(n,) int64 rows, -1 for unknown ids."""
        get = self.position.get
        return np.fromiter((get(i, -1) for i in ids), dtype=np.int64, count=len(ids))


@dataclass
class Catalog:
    """Articles with their text vectors (A, T), knowledge-graph nodes and first-seen times."""

    articles: IdMap
    frame: pd.DataFrame  # DISPLAY_COLUMNS, row i = article i
    text: torch.Tensor  # (A, T) float32, zero rows where has_text is False
    has_text: np.ndarray  # (A,) bool
    graph: ArticleGraph
    first_seen: np.ndarray  # (A,) int64 unix seconds, UNKNOWN_TIME when never shown
    text_info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.articles)

    @property
    def coverage(self) -> float:
        return float(self.has_text.mean()) if len(self.has_text) else 0.0

    @classmethod
    def build(
        cls,
        news: News,
        embedder: TextEmbedder,
        *,
        fields: str,
        entity_vectors: EntityVectors | None,
        cache=None,
        progress: Callable[[int, int], None] | None = None,
        missing: str = "embed",
    ) -> "Catalog":
        cache = _cache(cache)
        texts = embed_news(news, embedder, cache=cache, fields=fields, progress=progress, missing=missing)
        ids = news.frame["news_id"].tolist()
        graph = build_graph(
            ids, news.entities, entity_vectors=entity_vectors, entity_labels=news.entity_labels,
            embedder=embedder, cache=cache,
        )
        return cls(
            articles=IdMap(ids),
            frame=_display_frame(news),
            text=torch.from_numpy(np.ascontiguousarray(texts.matrix, dtype=np.float32)),
            has_text=np.asarray(texts.has_vector, dtype=bool),
            graph=graph,
            first_seen=np.full(len(ids), UNKNOWN_TIME, dtype=np.int64),
            text_info={
                "backend": texts.backend,
                "model": texts.model,
                "dim": texts.dim,
                "fields": texts.fields,
                "coverage": texts.coverage,
                "warning": coverage_warning(texts.coverage),
            },
        )

    def extend(
        self,
        news: News,
        embedder: TextEmbedder,
        *,
        cache=None,
        missing: str = "embed",
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Append the articles of ``news`` not in the catalogue yet; returns their rows.

        Entities unknown to the graph are dropped from the new article's edges (the graph only
        knows entities it has features for); an article with none is still scored from its text.
        """
        fresh = ~news.frame["news_id"].isin(self.articles.position).to_numpy()
        if not fresh.any():
            return np.empty(0, dtype=np.int64)
        keep = np.flatnonzero(fresh)
        subset = News(news.frame.iloc[keep].reset_index(drop=True), [news.entities[i] for i in keep], news.entity_labels)
        texts = embed_news(
            subset, embedder, cache=_cache(cache), fields=self.text_info["fields"], progress=progress, missing=missing
        )
        start = len(self)
        for article_id, entities in zip(subset.frame["news_id"], subset.entities):
            unknown = set(self.graph.unknown_entities(list(entities)))
            self.graph.add_article(article_id, [e for e in entities if e not in unknown])
        self.articles.extend(subset.frame["news_id"].tolist())
        self.frame = pd.concat([self.frame, _display_frame(subset)], ignore_index=True)
        self.text = torch.cat([self.text, torch.from_numpy(np.ascontiguousarray(texts.matrix, dtype=np.float32))])
        self.has_text = np.concatenate([self.has_text, texts.has_vector])
        self.first_seen = np.concatenate([self.first_seen, np.full(len(keep), UNKNOWN_TIME, dtype=np.int64)])
        return np.arange(start, len(self))

    def add_article(
        self,
        article_id: str,
        *,
        title: str,
        abstract: str = "",
        category: str = "",
        subcategory: str = "",
        entities: Sequence[str] = (),
        vector: np.ndarray,
        first_seen: int | None = None,
    ) -> int:
        """Append one article whose text vector is already computed; returns its row.

        Validates everything before changing anything: a duplicate id, an empty title or unknown
        entities raise :class:`InputError` and leave the catalogue as it was.
        """
        if article_id in self.articles.position:
            raise InputError(f"article id {article_id!r} already exists")
        if not title.strip():
            raise InputError("the title is empty")
        unknown = self.graph.unknown_entities(list(entities))
        if unknown:
            raise InputError(f"unknown entities (not in the knowledge graph): {', '.join(unknown)}")
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] != self.text.shape[1]:
            raise InputError(f"text vector has {vector.shape[1]} dimensions, the catalogue uses {self.text.shape[1]}")
        row = self.graph.add_article(article_id, list(entities))
        self.articles.extend([article_id])
        extra = pd.DataFrame([[article_id, category, subcategory, title, abstract]], columns=list(DISPLAY_COLUMNS))
        self.frame = pd.concat([self.frame, extra], ignore_index=True)
        self.text = torch.cat([self.text, torch.from_numpy(vector)])
        self.has_text = np.append(self.has_text, True)
        self.first_seen = np.append(self.first_seen, UNKNOWN_TIME if first_seen is None else first_seen)
        return row

    def note_first_seen(self, behaviors: Behaviors) -> None:
        """Lower each article's first-seen time to its earliest impression in ``behaviors``.

        MIND has no publish times; the first impression is the product's estimate of one.
        """
        rows = self.articles.rows(behaviors.articles)
        seconds = behaviors.times.astype("datetime64[s]").astype(np.int64)[behaviors.candidate_rows]
        cand_rows = rows[behaviors.candidates]
        known = cand_rows >= 0
        earliest = np.full(len(self), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, cand_rows[known], seconds[known])
        seen = earliest != np.iinfo(np.int64).max
        current = np.where(self.first_seen == UNKNOWN_TIME, np.iinfo(np.int64).max, self.first_seen)
        self.first_seen = np.where(seen | (self.first_seen != UNKNOWN_TIME), np.minimum(current, earliest), UNKNOWN_TIME)


def _cache(cache):
    """The embedding cache to use: the one given, else the workspace's (a run never re-embeds a text)."""
    return EmbeddingCache() if cache is None else cache


def _display_frame(news: News) -> pd.DataFrame:
    return news.frame[list(DISPLAY_COLUMNS)].astype(object).reset_index(drop=True)
