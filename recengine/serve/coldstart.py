"""Cold start: what a user with no clicks is shown, and how their first clicks take over.

Two sources, in this order of preference:

1. An **interest text** ("I follow Formula 1 and central banks"). It is embedded by the run's
   own text embedder and passed through the model's article encoder as if it were an article
   with that text: its text view is the interest's own embedding through the text tower; its ID
   and graph views, which a sentence does not have, are filled the way the model fills an unseen
   article's ID (Graph Meta Embedding style): the softmax-weighted mean of those views over its
   nearest catalogue articles by text embedding. (Filling them with the catalogue mean instead
   was measured on the tiny preset: the interest then ranked its own subcategory at AUC 0.53
   after one epoch and 0.61 after four; the neighbour fill gives 0.76 and 0.92, because an
   article's ID and graph components are as large as its text component and a mean carries no
   topic.) The result is a pseudo-history item, and the user vector comes from the same user
   encoder as everyone else's. As real clicks arrive they are appended after it; the interest
   item stays the oldest history item until the user has :data:`INTEREST_UNTIL_CLICKS` clicks,
   then it is dropped and the history alone speaks (three clicks say more about a reader than
   one sentence, and a stale sentence should not pin them).
2. Otherwise a **popularity prior**: articles clicked in the :data:`POPULAR_WINDOW_HOURS` before
   ``now``, scored ``log(1 + clicks) + FRESH_WEIGHT * 2 ** (-age_hours / FRESH_HALF_LIFE_HOURS)``
   (:func:`prior_scores`), so a fresh article with few clicks can beat an old one with a few more;
   articles first seen inside the window enter even with no clicks. When nothing was clicked in the
   window, clicks of all time are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import torch

from recengine.data.store import Store
from recengine.model.catalog import UNKNOWN_TIME, Catalog
from recengine.model.recommender import NEIGHBOUR_TEMPERATURE, NEIGHBOURS, Recommender

INTEREST_UNTIL_CLICKS = 3
POPULAR_WINDOW_HOURS = 36  # the synthetic world offers articles up to 36 hours old; MIND's are similar
FRESH_HALF_LIFE_HOURS = 12.0
FRESH_WEIGHT = 1.0  # a brand-new article counts like e - 1 ~ 1.7 clicks
POPULAR_POOL = 1000  # most clicked articles read from the store per request


@dataclass
class ViewInputs:
    """What the model's article encoder reads for every catalogue row, and each view's neutral value.

    ``text`` (A, T) and ``graph_out`` (A, d) are the text and GNN inputs of
    :meth:`RecommenderNet.articles`; ``id_vectors`` (A, d) and ``id_bias`` (A, 1) the ID view as
    scored (unseen articles already filled); ``has_text`` and ``trained`` (A,) bool masks. The
    neutral values (``neutral_text`` (1, T), ``neutral_graph`` (1, d), ``neutral_id`` (1, d),
    ``neutral_bias`` (1, 1)) are the catalogue's averages: the mean text embedding, the mean GNN
    output, and the mean trained ID vector and bias (what an unseen article gets with
    ``new_article_id="mean"``).
    """

    text: torch.Tensor
    graph_out: torch.Tensor | None
    id_vectors: torch.Tensor | None
    id_bias: torch.Tensor | None
    has_text: torch.Tensor
    trained: torch.Tensor
    neutral_text: torch.Tensor
    neutral_graph: torch.Tensor | None
    neutral_id: torch.Tensor | None
    neutral_bias: torch.Tensor | None


@torch.no_grad()
def neutral_views(recommender: Recommender) -> ViewInputs:
    """The article encoder's inputs for the whole catalogue, and each view's neutral value."""
    net = recommender.net.eval()
    catalog = recommender.catalog
    dev = recommender.device
    text = recommender.text_tensor()
    graph_out = net.graph_outputs(catalog.graph.tensors().to(dev), text)
    has_text = torch.from_numpy(catalog.has_text).to(dev)
    neutral_text = text[has_text].mean(0, keepdim=True) if bool(has_text.any()) else torch.zeros_like(text[:1])
    id_vectors = id_bias = neutral_id = neutral_bias = None
    if "id" in net.views:
        id_vectors, id_bias = recommender._id_parts(torch.arange(len(catalog), device=dev), text, graph_out)
        neutral_id, neutral_bias = (part.unsqueeze(0) for part in net.neutral_article())
    return ViewInputs(
        text=text,
        graph_out=graph_out,
        id_vectors=id_vectors,
        id_bias=id_bias,
        has_text=has_text,
        trained=torch.from_numpy(recommender.trained_articles()).to(dev),
        neutral_text=neutral_text,
        neutral_graph=None if graph_out is None else graph_out.mean(0, keepdim=True),
        neutral_id=neutral_id,
        neutral_bias=neutral_bias,
    )


def _blend(similarity: torch.Tensor, allowed: torch.Tensor, tables: list[torch.Tensor]) -> list[torch.Tensor] | None:
    """Softmax-weighted mean (1, ...) of each table's rows over the NEIGHBOURS most similar allowed rows."""
    pool = torch.nonzero(allowed).squeeze(1)
    if not len(pool):
        return None
    top, picked = similarity[pool].topk(min(NEIGHBOURS, len(pool)))
    weight = torch.softmax(top / NEIGHBOUR_TEMPERATURE, dim=0).unsqueeze(-1)
    return [(weight * table[pool[picked]]).sum(0, keepdim=True) for table in tables]


@torch.no_grad()
def interest_item(recommender: Recommender, inputs: ViewInputs, text_vector: np.ndarray) -> torch.Tensor:
    """(1, d) article-space vector of an interest text's embedding (T,) (see the module notes)."""
    net = recommender.net.eval()
    text = torch.from_numpy(np.asarray(text_vector, dtype=np.float32).reshape(1, -1)).to(recommender.device)
    similarity = inputs.text @ text[0]  # cosine: embedder rows are unit length
    graph = None
    if inputs.graph_out is not None:
        graph = (_blend(similarity, inputs.has_text, [inputs.graph_out]) or [inputs.neutral_graph])[0]
    id_parts = None
    if inputs.id_vectors is not None:
        blended = _blend(similarity, inputs.has_text & inputs.trained, [inputs.id_vectors, inputs.id_bias])
        id_parts = tuple(blended) if blended else (inputs.neutral_id, inputs.neutral_bias)
    vectors, _, _ = net.articles(torch.zeros(1, dtype=torch.long, device=text.device), text, graph, id_parts)
    return vectors


@torch.no_grad()
def user_vector(
    recommender: Recommender,
    history: np.ndarray,
    user_row: int,
    now: int,
    prefix: torch.Tensor | None = None,
) -> torch.Tensor:
    """(1, d) user vector from catalogue rows ``history`` (oldest first), after optional ``prefix`` items (P, d).

    Click times are unknown at serving time (live clicks are stamped with the wall clock, the
    dataset's clock is years behind), as for MIND's pre-period histories.
    """
    length = recommender.config.model.max_history
    history = np.asarray(history, dtype=np.int64)
    if prefix is None:
        rows = history[-length:][None, :]
        mask = np.ones(rows.shape, dtype=bool)
        if not rows.size:  # one masked slot: the encoder's own "no history" vector
            rows, mask = np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1), dtype=bool)
        return recommender.user_vectors(rows, mask, np.array([user_row]), np.array([now]))
    dev = recommender.device
    items = torch.cat([prefix, recommender.article_vectors().vectors[torch.from_numpy(history).to(dev)]])[-length:]
    mask = torch.ones(1, len(items), dtype=torch.bool, device=dev)
    times = torch.full((1, len(items)), UNKNOWN_TIME, dtype=torch.long, device=dev)
    return recommender.net.eval().users(
        items.unsqueeze(0), mask, torch.tensor([user_row], device=dev), times, torch.tensor([now], device=dev)
    )


def prior_scores(clicks: np.ndarray, age_seconds: np.ndarray) -> np.ndarray:
    """Popularity prior (n,) of articles with ``clicks`` (n,) in the window and ``age_seconds`` (n,).

    A negative age (unknown first-seen time, or first seen after ``now``) gets no freshness boost.
    """
    age_hours = np.asarray(age_seconds, dtype=np.float64) / 3600
    boost = np.where(age_hours >= 0, FRESH_WEIGHT * np.exp2(-np.maximum(age_hours, 0) / FRESH_HALF_LIFE_HOURS), 0.0)
    return np.log1p(np.asarray(clicks, dtype=np.float64)) + boost


def article_ages(catalog: Catalog, rows: np.ndarray, now: int | np.ndarray) -> np.ndarray:
    """(n,) seconds since each of ``rows`` was first seen at ``now`` (a time, or one per row); -1 when unknown."""
    first = catalog.first_seen[rows]
    return np.where(first == UNKNOWN_TIME, -1, now - first)


def popular(
    store: Store, dataset: str, catalog: Catalog, now: int, window_hours: float = POPULAR_WINDOW_HOURS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Popularity-prior candidates: catalogue rows (n,), clicks (n,), prior scores (n,), best first, and the source.

    The source is ``"recent"`` (clicks in the window before ``now``, plus articles first seen in
    it) or ``"all_time"`` when the window holds no clicks. The store's counts have no upper time
    bound, so with a ``now`` in the past, later clicks count too.
    """
    start = now - int(window_hours * 3600)
    frame = store.popular_articles(dataset, since=datetime.fromtimestamp(start, UTC), limit=POPULAR_POOL)
    source = "recent"
    if frame.empty:
        frame = store.popular_articles(dataset, limit=POPULAR_POOL)
        source = "all_time"
    rows = catalog.articles.rows(frame["news_id"].tolist())
    known = rows >= 0
    clicked_rows, clicks = rows[known], frame["clicks"].to_numpy(dtype=np.int64)[known]
    fresh = np.flatnonzero((catalog.first_seen >= start) & (catalog.first_seen <= now))
    fresh = fresh[~np.isin(fresh, clicked_rows)]
    rows = np.concatenate([clicked_rows, fresh])
    clicks = np.concatenate([clicks, np.zeros(len(fresh), dtype=np.int64)])
    scores = prior_scores(clicks, article_ages(catalog, rows, now))
    order = np.argsort(-scores, kind="stable")
    return rows[order], clicks[order], scores[order], source
