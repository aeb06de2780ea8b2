"""The article-entity graph: articles linked both ways to the Wikidata entities they mention.

Entity features come from ONE source for the whole graph, chosen by :func:`build_graph`:

1. ``'vectors'`` when an entity-vectors file is given and covers at least
   :data:`COVERAGE_THRESHOLD` of the graph's entities. Entities it lacks get the mean vector of
   the covered ones and are counted (``entities_missing_vectors``).
2. else ``'text'`` when an embedder is given and at least :data:`COVERAGE_THRESHOLD` of the
   entities have a non-blank label: each label is embedded; entities without one get the mean of
   the embedded ones (``entities_missing_labels``).
3. else ``'learned'``: no features; the encoder owns an ``nn.Embedding`` over entities.

One source, not a per-entity mix, because vectors from two spaces (the knowledge-graph file and a
text model) side by side in one feature matrix would be fed through one input projection that
cannot tell them apart.

The graph grows one article at a time (:meth:`ArticleGraph.add_article`); its entity set is fixed
at build time, so a trained encoder's entity inputs stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

from recengine.data.mind import ENTITY_DIM, EntityVectors, News
from recengine.errors import InputError

ARTICLE = "article"
ENTITY = "entity"
MENTIONS = (ARTICLE, "mentions", ENTITY)
MENTIONED_BY = (ENTITY, "mentioned_by", ARTICLE)
COVERAGE_THRESHOLD = 0.9
# How many offending ids an error message lists before it says "and N more".
_LIST_IN_MESSAGE = 10


class Embedder(Protocol):
    """What the graph needs from a text embedder (see :mod:`recengine.text`)."""

    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class GraphTensors:
    """Everything a :class:`~recengine.graph.gnn.GraphEncoder` forward pass needs, as tensors.

    ``mentions`` is (2, M) int64 with article rows on top and entity rows below; ``mentioned_by`` is
    the same M edges reversed. ``entity_features`` is (E, F) float32, or None when entities are learned.
    """

    num_articles: int
    num_entities: int
    mentions: Tensor
    mentioned_by: Tensor
    entity_features: Tensor | None
    # (A+1,) CSR offsets of each article's edges in ``mentions`` (edges are kept in article order).
    article_ptr: Tensor

    @property
    def edge_index_dict(self) -> dict[tuple[str, str, str], Tensor]:
        return {MENTIONS: self.mentions, MENTIONED_BY: self.mentioned_by}

    def to(self, device: torch.device | str) -> "GraphTensors":
        return GraphTensors(
            self.num_articles,
            self.num_entities,
            self.mentions.to(device),
            self.mentioned_by.to(device),
            None if self.entity_features is None else self.entity_features.to(device),
            self.article_ptr.to(device),
        )


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LIST_IN_MESSAGE])
    more = len(items) - _LIST_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


def _entity_list(entity_ids: Sequence[str], article_id: str) -> list[str]:
    """The distinct entity ids of one article, in order; InputError for anything but non-empty strings."""
    # A bare string is a Sequence[str] too; iterating it would make one "entity" per character.
    if isinstance(entity_ids, (str, bytes)) or not isinstance(entity_ids, Sequence):
        kind = type(entity_ids).__name__
        raise InputError(f"article {article_id}: entities must be a list of WikidataIds, got {kind}")
    for entity in entity_ids:
        if not isinstance(entity, str) or not entity.strip():
            raise InputError(f"article {article_id}: entity id {entity!r} is not a non-empty string")
    return list(dict.fromkeys(entity_ids))


def _check_article_id(article_id: object) -> None:
    if not isinstance(article_id, str) or not article_id.strip():
        raise InputError(f"article id {article_id!r} is not a non-empty string")


def _check_vectors(vectors: EntityVectors) -> None:
    matrix = vectors.matrix
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        raise InputError(f"entity vectors must be a 2-d matrix, got shape {np.shape(matrix)}")
    if matrix.shape[1] != ENTITY_DIM:
        raise InputError(f"entity vectors are {matrix.shape[1]}-d; expected {ENTITY_DIM}-d")
    if matrix.shape[0] != len(vectors.ids):
        raise InputError(f"entity vectors have {matrix.shape[0]} rows for {len(vectors.ids)} ids")
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = [vectors.ids[i] for i in np.flatnonzero(~finite)]
        raise InputError(f"entity vectors contain NaN or Inf for {len(bad)} entities: {_listing(bad)}")


def _fill_missing(rows: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(E, d) float32: rows where ``present`` is False replaced by the mean of the present rows."""
    out = rows.astype(np.float32, copy=True)
    if present.any() and not present.all():
        out[~present] = out[present].mean(axis=0)
    return out


class ArticleGraph:
    """Articles and the entities they mention, with edges both ways.

    Article row ``i`` is the i-th article given to :func:`build_graph` (then each added one in turn);
    entity rows are in order of first mention. Edges live in over-allocated numpy buffers so that
    :meth:`add_article` is an amortised O(k) append; tensors are made on demand and cached until the
    next append.
    """

    def __init__(
        self,
        article_ids: list[str],
        entity_ids: list[str],
        src: np.ndarray,
        dst: np.ndarray,
        entity_features: np.ndarray | None,
        feature_source: str,
        *,
        entities_missing_vectors: int,
        entities_missing_labels: int | None,
        vector_coverage: float | None,
        label_coverage: float | None,
    ):
        self._article_ids = article_ids
        self._article_row = {a: i for i, a in enumerate(article_ids)}
        self._entity_ids = entity_ids
        self._entity_row = {e: i for i, e in enumerate(entity_ids)}
        self._src = src
        self._dst = dst
        self._num_edges = len(src)
        self._without_entities = len(article_ids) - len(np.unique(src))
        self._entity_features = entity_features
        self.entity_feature_source = feature_source
        self._build_stats = {
            "entities_missing_vectors": entities_missing_vectors,
            "entities_missing_labels": entities_missing_labels,
            "vector_coverage": vector_coverage,
            "label_coverage": label_coverage,
        }
        self._tensors: GraphTensors | None = None
        self._data: HeteroData | None = None

    # ------------------------------------------------------------------ sizes and lookups

    @property
    def num_articles(self) -> int:
        return len(self._article_ids)

    @property
    def num_entities(self) -> int:
        return len(self._entity_ids)

    @property
    def num_mentions(self) -> int:
        """Distinct (article, entity) pairs; each is two directed edges."""
        return self._num_edges

    @property
    def article_ids(self) -> list[str]:
        """A copy of the article ids in row order."""
        return list(self._article_ids)

    @property
    def entity_ids(self) -> list[str]:
        """A copy of the entity ids in row order."""
        return list(self._entity_ids)

    def article_row(self, article_id: str) -> int:
        try:
            return self._article_row[article_id]
        except KeyError:
            raise InputError(f"article {article_id} is not in the graph") from None

    def entity_row(self, entity_id: str) -> int:
        try:
            return self._entity_row[entity_id]
        except KeyError:
            raise InputError(f"entity {entity_id} is not in the graph") from None

    @property
    def entity_features(self) -> np.ndarray | None:
        """(E, F) float32 entity features, or None when the source is 'learned'. Do not modify."""
        return self._entity_features

    @property
    def entity_feature_dim(self) -> int | None:
        return None if self._entity_features is None else int(self._entity_features.shape[1])

    def unknown_entities(self, entity_ids: Sequence[str]) -> list[str]:
        """The ids (each once, in the given order) that are not entity nodes of this graph."""
        return [e for e in dict.fromkeys(entity_ids) if e not in self._entity_row]

    def stats(self) -> dict:
        """Counts for reports.

        ``mentions`` counts distinct (article, entity) pairs and ``edges`` the directed edges, both
        directions (2 x ``mentions``). ``entities_missing_vectors`` counts entity nodes without a row in
        the vectors file (all of them when no file was given); ``entities_missing_labels`` is None
        unless the source is 'text'; the coverages are None where no vectors file / embedder was given.
        """
        return {
            "article_nodes": self.num_articles,
            "entity_nodes": self.num_entities,
            "mentions": self._num_edges,
            "edges": 2 * self._num_edges,
            "articles_without_entities": self._without_entities,
            "entity_feature_source": self.entity_feature_source,
            "entity_feature_dim": self.entity_feature_dim,
            **self._build_stats,
        }

    # ------------------------------------------------------------------ growth

    def add_article(self, article_id: str, entity_ids: Sequence[str]) -> int:
        """Append one article node and its edges; return its row.

        Raises InputError (and changes nothing) for an id already in the graph or entity ids the
        graph does not know (check first with :meth:`unknown_entities`). Repeated entity ids give one edge.
        """
        _check_article_id(article_id)
        if article_id in self._article_row:
            raise InputError(f"article {article_id} is already in the graph (row {self._article_row[article_id]})")
        entities = _entity_list(entity_ids, article_id)
        unknown = self.unknown_entities(entities)
        if unknown:
            raise InputError(
                f"article {article_id}: {len(unknown)} entities are not in the graph: {_listing(unknown)}"
            )
        # Validation is complete: nothing below can fail on input.
        row = len(self._article_ids)
        k = len(entities)
        needed = self._num_edges + k
        if needed > len(self._src):
            capacity = max(needed, 2 * len(self._src), 16)
            self._src = np.resize(self._src, capacity)
            self._dst = np.resize(self._dst, capacity)
        self._src[self._num_edges : needed] = row
        self._dst[self._num_edges : needed] = [self._entity_row[e] for e in entities]
        self._num_edges = needed
        self._article_ids.append(article_id)
        self._article_row[article_id] = row
        self._without_entities += k == 0
        self._tensors = None
        self._data = None
        return row

    # ------------------------------------------------------------------ tensors

    def tensors(self) -> GraphTensors:
        """The graph as tensors for the encoder; cached, so calling it every training step is free."""
        if self._tensors is None:
            n = self._num_edges
            mentions = torch.from_numpy(np.stack([self._src[:n], self._dst[:n]]))
            features = None if self._entity_features is None else torch.from_numpy(self._entity_features)
            ptr = torch.zeros(self.num_articles + 1, dtype=torch.long)
            ptr[1:] = torch.cumsum(torch.bincount(mentions[0], minlength=self.num_articles), 0)
            self._tensors = GraphTensors(
                self.num_articles, self.num_entities, mentions, mentions.flip(0).contiguous(), features, ptr
            )
        return self._tensors

    @property
    def data(self) -> HeteroData:
        """The graph as a PyG ``HeteroData`` (entity ``x`` present unless features are learned); cached."""
        if self._data is None:
            from torch_geometric.data import HeteroData  # imported on use: see GraphEncoder.__init__

            t = self.tensors()
            data = HeteroData()
            data[ARTICLE].num_nodes = t.num_articles
            data[ENTITY].num_nodes = t.num_entities
            if t.entity_features is not None:
                data[ENTITY].x = t.entity_features
            data[MENTIONS].edge_index = t.mentions
            data[MENTIONED_BY].edge_index = t.mentioned_by
            self._data = data
        return self._data

    def __repr__(self) -> str:
        return (
            f"ArticleGraph(articles={self.num_articles}, entities={self.num_entities}, "
            f"mentions={self._num_edges}, features={self.entity_feature_source!r})"
        )


def _coverage(covered: int, total: int) -> float:
    # An entity-free graph is vacuously covered: there is nothing to fill.
    return 1.0 if total == 0 else covered / total


def build_graph(
    article_ids: Sequence[str],
    article_entities: Sequence[Sequence[str]],
    *,
    entity_vectors: EntityVectors | None = None,
    entity_labels: dict[str, str] | None = None,
    embedder: Embedder | None = None,
    cache=None,
) -> ArticleGraph:
    """Build the graph: article row i is ``article_ids[i]``, mentioning ``article_entities[i]``.

    ``cache`` (a :class:`recengine.text.EmbeddingCache`) keeps entity-label embeddings between builds.

    Entity features follow the module's rule (vectors, else text on labels, else learned). Raises
    InputError for duplicate or blank article ids, malformed entity lists, or an entity-vectors
    matrix of the wrong width or with non-finite values.
    """
    if len(article_ids) != len(article_entities):
        raise InputError(f"{len(article_ids)} article ids but {len(article_entities)} entity lists")
    if not len(article_ids):
        raise InputError("no articles to build a graph from")
    ids = list(article_ids)
    for article_id in ids:
        _check_article_id(article_id)
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = list(dict.fromkeys(a for a in ids if a in seen or seen.add(a)))
        raise InputError(f"{len(repeated)} article ids appear more than once: {_listing(repeated)}")
    if entity_vectors is not None:
        _check_vectors(entity_vectors)

    entity_row: dict[str, int] = {}
    src: list[int] = []
    dst: list[int] = []
    for row, (article_id, entities) in enumerate(zip(ids, article_entities)):
        for entity in _entity_list(entities, article_id):
            src.append(row)
            dst.append(entity_row.setdefault(entity, len(entity_row)))
    entity_ids = list(entity_row)
    n_entities = len(entity_ids)

    vec_rows = None
    missing_vectors = n_entities
    vector_coverage = None
    if entity_vectors is not None:
        position = entity_vectors.position
        vec_rows = np.array([position.get(e, -1) for e in entity_ids], dtype=np.int64)
        missing_vectors = int((vec_rows < 0).sum())
        vector_coverage = _coverage(n_entities - missing_vectors, n_entities)

    labels = entity_labels or {}
    labelled: list[bool] = []
    label_coverage = None
    if embedder is not None:
        labelled = [isinstance(labels.get(e), str) and bool(labels[e].strip()) for e in entity_ids]
        label_coverage = _coverage(sum(labelled), n_entities)

    features: np.ndarray | None = None
    missing_labels: int | None = None
    if vector_coverage is not None and vector_coverage >= COVERAGE_THRESHOLD:
        source = "vectors"
        present = vec_rows >= 0
        features = _fill_missing(entity_vectors.matrix[np.where(present, vec_rows, 0)], present)
    elif label_coverage is not None and label_coverage >= COVERAGE_THRESHOLD:
        source = "text"
        present = np.array(labelled, dtype=bool)
        missing_labels = int((~present).sum())
        features = np.zeros((n_entities, embedder.dim), dtype=np.float32)
        if present.any():
            texts = [labels[e] for e, ok in zip(entity_ids, labelled) if ok]
            if cache is not None:
                from recengine.text import embed_texts

                embedded = embed_texts(texts, embedder, cache)[0]
            else:
                embedded = np.asarray(embedder.embed(texts), dtype=np.float32)
            if embedded.shape != (len(texts), embedder.dim) or not np.isfinite(embedded).all():
                raise InputError(
                    f"the embedder returned {embedded.shape} (finite: {bool(np.isfinite(embedded).all())}) "
                    f"for {len(texts)} labels; expected ({len(texts)}, {embedder.dim}), all finite"
                )
            features[present] = embedded
        features = _fill_missing(features, present)
    else:
        source = "learned"

    return ArticleGraph(
        ids,
        entity_ids,
        np.array(src, dtype=np.int64),
        np.array(dst, dtype=np.int64),
        features,
        source,
        entities_missing_vectors=missing_vectors,
        entities_missing_labels=missing_labels,
        vector_coverage=None if vector_coverage is None else round(vector_coverage, 6),
        label_coverage=None if label_coverage is None else round(label_coverage, 6),
    )


def graph_from_news(
    news: News, entity_vectors: EntityVectors | None = None, embedder: Embedder | None = None
) -> ArticleGraph:
    """The graph over ``news`` (rows in ``news`` order), with its entity labels for the 'text' source."""
    return build_graph(
        news.ids.tolist(),
        news.entities,
        entity_vectors=entity_vectors,
        entity_labels=news.entity_labels,
        embedder=embedder,
    )
