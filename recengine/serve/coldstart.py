"""Cold start: what a user with few or no clicks is shown, read as a mixture of what they said and what they clicked.

A reader states interests two ways, and every stated interest is served on its own (:func:`interleave`):

1. **Picked categories** (or subcategories) are read as categories, not as words: each maps to a
   prototype in the model's own article space, the mean fused article vector of its articles first
   seen in the :data:`PROTOTYPE_WINDOW_HOURS` before ``now`` (all of its articles when none are that
   recent; :func:`prototype`). The prototype is the user's one history item; the pick's ranking is
   its own articles scored by the model with that user vector (a reader who picks "sports" is
   served sports).
2. An **interest text** ("I follow Formula 1 and central banks") is split into clauses
   (:func:`clauses`: on " and ", "," and ";" when every part has a word of its own), and each clause is
   an interest. A clause is embedded by the run's own text embedder and passed through the model's
   article encoder as if it were an article with that text: its text view is the clause's embedding
   through the text tower; its ID and graph views, which a sentence does not have, are filled the way
   the model fills an unseen article's ID (Graph Meta Embedding style): the softmax-weighted mean of
   those views over its nearest catalogue articles by text embedding (:func:`interest_item`; the
   catalogue mean instead ranked the interest's own subcategory at AUC 0.53 after one tiny epoch,
   the neighbour fill 0.76). The clause's ranking is the index's recall for that user vector,
   reranked by the model.

The stated interests form a **mixture**, never one averaged vector (which lands between topics): each
gives its own ranking and the served list interleaves them in proportion to their shares. Clicks are one
more source, the model over the clicked history, whose share grows with the number of clicks ``n`` as
``n / (n + CLICKS_CROSSOVER)`` (:func:`shares`); the stated interests share the rest equally, so they
fade as clicks arrive but never vanish. ``CLICKS_CROSSOVER`` is measured by ``benchmarks/cold_start.py``.

With neither interests nor clicks, a **popularity prior** answers: articles clicked in the
:data:`POPULAR_WINDOW_HOURS` before ``now``, scored ``log(1 + clicks) + FRESH_WEIGHT *
2 ** (-age_hours / FRESH_HALF_LIFE_HOURS)`` (:func:`prior_scores`), so a fresh article with few clicks can
beat an old one with a few more; articles first seen inside the window enter even with no clicks. The
list is in the order of that prior score, which every face shows beside the clicks. When nothing was
clicked in the window, clicks of all time are used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from recengine.data.store import Store
from recengine.errors import InputError
from recengine.model.catalog import UNKNOWN_TIME, Catalog
from recengine.model.recommender import NEIGHBOUR_TEMPERATURE, NEIGHBOURS, Recommender
from recengine.serve import checks

# c in the clicks' share n / (n + c). benchmarks/cold_start.py on demo v3 (MiniLM, 6 epochs): the picks+text blend's mean
# AUC at 1, 3 and 5 clicks is flat from c = 3 to c = 5 (0.7442, 0.7441; c = 1: 0.7394, c = 8: 0.7429), and the
# history alone stays below the stated interests alone through 20 clicks (0.715 vs 0.736). Of the flat optimum the
# larger c keeps the stated interests longer, which the history-alone curve supports.
CLICKS_CROSSOVER = 5.0
PROTOTYPE_WINDOW_HOURS = 72  # a category's prototype reads its articles first seen this long before now
MAX_PICKS = 20  # picked categories per request
CLICKS = "your clicks"  # the clicks' source label, beside the interests' own
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


@dataclass(frozen=True)
class Interest:
    """One stated interest: its ``label`` (the pick, or the clause as typed), its pseudo-history ``item`` (1, d) in
    article space, and for a pick the catalogue ``rows`` it serves (None for a clause: recalled from the index)."""

    label: str
    item: torch.Tensor
    rows: np.ndarray | None = None


def check_picks(picks: Sequence[str] | None) -> list[str]:
    """Picked labels stripped, blanks refused, duplicates dropped (first kept), at most :data:`MAX_PICKS`."""
    if picks is None:
        return []
    if isinstance(picks, str):
        picks = [picks]
    out: list[str] = []
    for pick in picks:
        if not isinstance(pick, str) or not pick.strip():
            raise InputError(f"picked category {pick!r}: must be a non-blank category or subcategory name")
        if len(pick) > checks.MAX_LABEL_CHARS:
            raise InputError(f"picked category {pick[:20]!r}...: longer than {checks.MAX_LABEL_CHARS} characters")
        if pick.strip() not in out:
            out.append(pick.strip())
    if len(out) > MAX_PICKS:
        raise InputError(f"{len(out)} picked categories; the limit is {MAX_PICKS}")
    return out


def pick_rows(catalog: Catalog, pick: str) -> np.ndarray:
    """Catalogue rows of ``pick``, a category or (when no category has that name) a subcategory; case-insensitive."""
    frame = catalog.frame
    wanted = pick.casefold()
    for column in ("category", "subcategory"):
        rows = np.flatnonzero(frame[column].astype(str).str.casefold().to_numpy() == wanted)
        if len(rows):
            return rows
    raise InputError(f"picked category {pick!r} is neither a category nor a subcategory of this catalogue")


def prototype(recommender: Recommender, rows: np.ndarray, now: int,
              window_hours: float = PROTOTYPE_WINDOW_HOURS) -> torch.Tensor:
    """(1, d) mean fused vector of ``rows`` first seen in the window before ``now`` (all ``rows`` when none are)."""
    first = recommender.catalog.first_seen[rows]
    recent = rows[(first != UNKNOWN_TIME) & (first <= now) & (first >= now - int(window_hours * 3600))]
    chosen = torch.from_numpy(recent if len(recent) else rows).to(recommender.device)
    return recommender.article_vectors().vectors[chosen].mean(0, keepdim=True)


_CLAUSE_SPLIT = re.compile(r"\s+and\s+|[,;]", flags=re.IGNORECASE)


def clauses(text: str) -> list[str]:
    """``text`` split into its interests on " and ", "," and ";" when every part has a word of its own, else whole.

    ("I follow Formula 1 and central banks" -> ["I follow Formula 1", "central banks"]; "rock and roll" stays
    split too, which costs one more interest, not a wrong one.)
    """
    parts = [part.strip() for part in _CLAUSE_SPLIT.split(text)]
    if len(parts) > 1 and all(re.search(r"\w", part) for part in parts):
        return parts
    return [text.strip()]


def click_share(n_clicks: int, crossover: float = CLICKS_CROSSOVER) -> float:
    """The clicks' share of the list after ``n_clicks`` clicks when interests were stated: n / (n + c)."""
    return n_clicks / (n_clicks + crossover) if n_clicks > 0 else 0.0


def shares(n_interests: int, n_clicks: int, crossover: float = CLICKS_CROSSOVER) -> list[float]:
    """Each source's share of the list: the interests' equal parts, then the clicks' (when there are clicks)."""
    clicked = click_share(n_clicks, crossover) if n_interests else 1.0
    stated = [(1.0 - clicked) / n_interests] * n_interests if n_interests else []
    return stated + ([clicked] if n_clicks > 0 else [])


def interleave(rankings: Sequence[Iterable[int]], weights: Sequence[float], k: int,
               accept: Callable[[int], bool]) -> list[tuple[int, int]]:
    """Up to ``k`` (row, source) pairs taken from ``rankings`` (each best first) in proportion to ``weights``.

    Each slot goes to the source furthest below its share so far (largest deficit; ties to the earlier source);
    a source skips rows ``accept`` refuses (already served, excluded, a duplicate title) and drops out when spent.
    """
    sources = [iter(r) for r in rankings]
    taken = np.zeros(len(sources))
    live = np.array([w > 0 for w in weights])
    out: list[tuple[int, int]] = []
    while len(out) < k and live.any():
        deficit = np.where(live, np.asarray(weights) * (len(out) + 1) - taken, -np.inf)
        source = int(np.argmax(deficit))
        row = next((r for r in sources[source] if accept(int(r))), None)
        if row is None:
            live[source] = False
            continue
        out.append((int(row), source))
        taken[source] += 1
    return out


def interleaved_scores(scores: np.ndarray, weights: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """(C,) scores whose order within each impression is :func:`interleave`'s: ``weight / (rank + 1)``, best source.

    ``scores`` (m, C) per source, ``weights`` (m, G) per source and impression, ``ptr`` (G + 1,) the impressions'
    candidate offsets. A candidate ranked r-th (from 0) by a source with share w sits near slot (r + 1) / w of the
    interleaved list, so its merged score is the largest w / (r + 1) over the sources.
    """
    group = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    merged = np.full(scores.shape[1], -np.inf)
    for source, weight in zip(scores, weights):
        order = np.lexsort((-source, group))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - ptr[group[order]]
        merged = np.maximum(merged, weight[group] / (rank + 1))
    return merged
