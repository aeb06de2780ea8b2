"""Recommendations: recall by cosine from the article index, rerank by the model, and cold start (stated interests
interleaved with the clicks, then the popularity prior) for users with few or no clicks.

No served list holds two articles with the same normalised title (:func:`title_key`: lowercase, every run of
characters other than letters and digits collapsed to one space, trimmed): while the top ``k`` is filled, a
candidate whose title duplicates one already in the list is skipped (the synthetic world, like MIND, repeats
titles).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch

from recengine.errors import InputError
from recengine.serve import checks, coldstart
from recengine.serve.explain import Explanation
from recengine.serve.state import ServingState
from recengine.text import embed_texts

EXCLUDE_LIMIT = 100_000  # clicks read per user to exclude what they already read
USER_CACHE_SIZE = 10_000  # user vectors kept (LRU); one is d floats
_NOT_WORD = re.compile(r"[\W_]+")


def title_key(title: str) -> str:
    """A title as the duplicate rule reads it: lowercase, runs of non-letters/digits collapsed to one space."""
    return _NOT_WORD.sub(" ", str(title).casefold()).strip()


class UserVectorCache:
    """An LRU of user vectors keyed by everything a vector depends on (see :meth:`Ranking.recommend`), so a stale
    entry is never hit: a click changes the history read from the store, hence the key. Thread-safe."""

    def __init__(self, size: int = USER_CACHE_SIZE):
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> torch.Tensor | None:
        with self._lock:
            vector = self._entries.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, key: tuple, vector: torch.Tensor) -> None:
        with self._lock:
            self._entries[key] = vector
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class Ranking:
    """The two-stage recommender over a :class:`ServingState`; items carry the explanation's view contributions."""

    def __init__(self, state: ServingState, explanation: Explanation):
        self.state = state
        self.explanation = explanation
        self.user_cache = UserVectorCache()
        self._titles: tuple[int, np.ndarray] | None = None  # title keys, for a catalogue size

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
        categories: Sequence[str] | None = None,
        explain: bool = True,
    ) -> list[dict]:
        """The top ``k`` articles for ``user_id``, best first, no two with the same normalised title.

        Two stages: the user vector (from the history in the store, read now, or ``history`` when
        given) recalls the ``candidates`` nearest articles by cosine from the FAISS index; the full
        model reranks them (``score_pairs``: cosine/tau or dot, plus the ID bias and the freshness
        bonus at ``now``). Articles in the history are dropped when ``exclude_clicked``. Stated interests
        (picked ``categories`` and the clauses of ``interest_text``) each give their own ranking, interleaved
        with the clicks' ranking, whose share grows as n / (n + c) with the n clicks
        (:mod:`recengine.serve.coldstart`); with neither clicks nor interests the popularity prior answers.

        Each item: ``article_id``, ``title``, ``category``, ``subcategory``, ``score`` (logit),
        ``probability`` (the calibrated click probability), ``recall_score`` (cosine), ``view_weights`` (the fusion's
        per-view weights, None for concat), ``contributions`` and ``top_view``, ``source``
        ("model" or "popularity"), ``reason`` (the interest it serves: a picked category, a clause of the text,
        "your clicks"; None without stated interests). ``contributions[view]`` is leave-one-view-out on the article
        side: the logit minus the logit of the same article with that view's input replaced by
        its neutral value (the catalogue's mean text embedding, mean GNN output, or mean trained
        ID vector and bias), the user unchanged. Positive: the view pushed this article up.
        ``top_view`` is the view whose removal costs the most. Popularity items carry the prior
        as ``score`` (the order of the list), ``clicks``, and None for the model's fields. ``explain=False`` skips the
        contributions (one extra scoring per view): ``contributions`` is then ``{}`` and ``top_view`` None.

        The clicks' user vector is cached (:class:`UserVectorCache`) under the user, the history rows, ``now``, the
        catalogue's size and the weights' version: a click changes the history read from the store and so misses
        the cache, in this process and in any other sharing the store.
        """
        user_id, k, candidates = checks.check_request(user_id, k, candidates)
        picks = coldstart.check_picks(categories)
        now = self.state.clock(now)
        if history is None:
            clicked, strict = self.state.store.user_history(self.state.dataset, user_id, limit=EXCLUDE_LIMIT), False
        else:
            clicked, strict = checks.history_ids(history), True
        said = self._embed_interest(interest_text)
        with self.state.lock:
            user_row = self.state.recommender.users.position.get(user_id, -1)
            return self._serve(clicked, (user_id, user_row), picks, said, k, candidates, exclude_clicked,
                               now, strict, explain)

    def score(self, user_id: str, article_ids: Sequence[str], *, now=None) -> list[dict]:
        """``article_id``, ``score`` (logit) and ``probability`` of each of ``article_ids`` for ``user_id``, in the given
        order (the rerank stage alone: no recall, nothing excluded). Unknown article ids are refused."""
        user_id = checks.token(user_id, "user id")
        article_ids = checks.history_ids(article_ids)
        if not article_ids:
            raise InputError("no article ids to score")
        if len(article_ids) > checks.MAX_CANDIDATES:
            raise InputError(f"{len(article_ids):,} article ids to score; the limit is {checks.MAX_CANDIDATES:,}")
        now = self.state.clock(now)
        clicked = self.state.store.user_history(self.state.dataset, user_id, limit=EXCLUDE_LIMIT)
        with self.state.lock:
            rows = self.state.catalog.articles.rows(article_ids)
            if (rows < 0).any():
                unknown = [a for a, r in zip(article_ids, rows) if r < 0]
                raise InputError(f"unknown article ids: {', '.join(unknown[:10])}")
            history = self.state.catalog.articles.rows(clicked)
            user = self._user_vector((user_id, self.state.recommender.users.position.get(user_id, -1)),
                                     history[history >= 0], now)
            logits = self.state.recommender.score_pairs(user.expand(len(rows), -1), rows, np.full(len(rows), now))
            logits = logits.float().cpu().numpy()
        probabilities = self.state.recommender.probabilities(logits)
        return [
            {"article_id": a, "score": round(float(s), 4), "probability": round(float(p), 4)}
            for a, s, p in zip(article_ids, logits.tolist(), probabilities.tolist())
        ]

    def cold_start(
        self,
        interest_text: str | None = None,
        clicks: Sequence[str] = (),
        k: int = 10,
        *,
        categories: Sequence[str] | None = None,
        candidates: int = 200,
        now=None,
    ) -> list[dict]:
        """Recommendations for a brand-new user who picked ``categories``, typed ``interest_text`` and clicked
        ``clicks`` (oldest first).

        Nothing is stored. The same items as :meth:`recommend`.
        """
        k = checks.whole(k, "k", 1, checks.MAX_K)
        candidates = checks.whole(candidates, "candidates", 1, checks.MAX_CANDIDATES)
        clicked = checks.history_ids(clicks)
        picks = coldstart.check_picks(categories)
        said = self._embed_interest(interest_text)
        with self.state.lock:
            return self._serve(clicked, (None, -1), picks, said, k, candidates, True,
                               self.state.clock(now), True, True)

    def _embed_interest(self, text: str | None) -> list[tuple[str, np.ndarray]]:
        """(clause, embedding) of each clause of an interest text (none without one)."""
        if text is None:
            return []
        text = checks.text(text, "interest text", checks.MAX_INTEREST_CHARS, required=True)
        parts = coldstart.clauses(text)
        matrix, _ = embed_texts(parts, self.state.embedder, cache=self.state.cache)
        return list(zip(parts, matrix))

    def _serve(
        self,
        clicked: list[str],
        user: tuple[str | None, int],
        picks: list[str],
        said: list[tuple[str, np.ndarray]],
        k: int,
        candidates: int,
        exclude_clicked: bool,
        now: int,
        strict: bool,
        explain: bool,
    ) -> list[dict]:
        """The list for a user (id, row) whose history is ``clicked`` and who stated ``picks`` and ``said`` (caller
        holds the lock)."""
        rows = self.state.catalog.articles.rows(clicked)
        if strict and (rows < 0).any():
            unknown = [a for a, r in zip(clicked, rows) if r < 0]
            raise InputError(f"unknown article ids in the history: {', '.join(unknown[:10])}")
        rows = rows[rows >= 0]
        # A mask over the catalogue, not np.isin: the history can be long, and the sort isin does was a sixth of
        # a request's time.
        excluded = np.zeros(len(self.state.catalog), dtype=bool)
        if exclude_clicked:
            excluded[rows] = True
        interests = self._interests(picks, said, now)  # unknown picks fail here, before any scoring
        if not len(rows) and not interests:
            return self._popular_items(k, now, excluded)
        pool = max(candidates, 2 * k)  # room for the titles the duplicate rule skips
        sources = [self._stated_ranking(interest, excluded, pool, now) for interest in interests]
        if len(rows):
            vector = self._user_vector(user, rows, now)
            sources.append((coldstart.CLICKS, vector, *self._recalled(vector, excluded, pool, now)))
        return self._mixed(sources, coldstart.shares(len(interests), len(rows)), k, explain,
                           reasons=bool(interests))

    def _interests(self, picks: list[str], said: list[tuple[str, np.ndarray]], now: int) -> list[coldstart.Interest]:
        rec = self.state.recommender
        out = []
        for pick in picks:
            own = coldstart.pick_rows(self.state.catalog, pick)
            out.append(coldstart.Interest(pick, coldstart.prototype(rec, own, now), own))
        for clause, vector in said:
            out.append(coldstart.Interest(clause, coldstart.interest_item(rec, self.state.view_inputs(), vector)))
        return out

    def _stated_ranking(self, interest: coldstart.Interest, excluded: np.ndarray, candidates: int, now: int) -> tuple:
        """(label, user vector, rows, logits, cosine) of one interest, best first: a pick's own articles, scored; a
        clause's recall from the index, reranked."""
        rec = self.state.recommender
        vector = coldstart.user_vector(rec, np.zeros(0, dtype=np.int64), -1, now, interest.item)
        if interest.rows is None:
            return (interest.label, vector, *self._recalled(vector, excluded, candidates, now))
        own = interest.rows[~excluded[interest.rows]]
        logits = rec.score_pairs(vector.expand(len(own), -1), own, np.full(len(own), now)).float().cpu().numpy()
        unit = vector.float().cpu().numpy()[0]
        cosine = self.state.indexed[own] @ (unit / max(float(np.linalg.norm(unit)), 1e-12))
        order = np.argsort(-logits, kind="stable")
        return interest.label, vector, own[order], logits[order], cosine[order]

    def _recalled(self, user: torch.Tensor, excluded: np.ndarray, candidates: int, now: int) -> tuple:
        """(rows, logits, cosine) of the ``candidates`` nearest articles not ``excluded``, reranked, best first."""
        cosine, found = self.state.index.search(user.float().cpu().numpy(),
                                                min(len(self.state.index), candidates + int(excluded.sum())) or 1)
        keep = (found[0] >= 0) & ~excluded[np.maximum(found[0], 0)]
        found, cosine = found[0][keep][:candidates], cosine[0][keep][:candidates]
        logits = self.state.recommender.score_pairs(user.expand(len(found), -1), found, np.full(len(found), now))
        logits = logits.float().cpu().numpy()
        order = np.argsort(-logits, kind="stable")
        return found[order], logits[order], cosine[order]

    def _mixed(self, sources: list[tuple], weights: list[float], k: int, explain: bool, reasons: bool) -> list[dict]:
        """The top ``k`` interleaved from ``sources`` (label, user vector, rows, logits, cosine) in proportion to
        ``weights``, no two with the same title key; each item names its source as ``reason`` when ``reasons``."""
        keys = self._title_keys()
        seen: set[str] = set()

        def accept(row: int) -> bool:
            if keys[row] in seen:  # also catches a row another source already served
                return False
            seen.add(keys[row])
            return True

        position = [{int(r): i for i, r in enumerate(rows)} for _, _, rows, _, _ in sources]
        chosen = coldstart.interleave([rows for _, _, rows, _, _ in sources], weights, k, accept)
        items: list[dict | None] = [None] * len(chosen)
        for s, (label, user, rows, logits, cosine) in enumerate(sources):
            slots = [i for i, (_, source) in enumerate(chosen) if source == s]
            at = np.array([position[s][chosen[i][0]] for i in slots], dtype=np.int64)
            for i, item in zip(slots, self._model_items(user, rows[at], logits[at], cosine[at], explain)):
                items[i] = {**item, "reason": label if reasons else None}
        return items

    def _title_keys(self) -> np.ndarray:
        """(A,) :func:`title_key` of every catalogue title (cached until the catalogue grows)."""
        size = len(self.state.catalog)
        if self._titles is None or self._titles[0] != size:
            titles = self.state.catalog.frame["title"].astype(str).tolist()
            self._titles = (size, np.array([title_key(t) for t in titles], dtype=object))
        return self._titles[1]

    def _user_vector(self, user: tuple[str | None, int], rows: np.ndarray, now: int) -> torch.Tensor:
        """(1, d) vector of ``user`` (id, row) with history ``rows`` (caller holds the lock).

        Cached when the user has an id (cold-start callers pass none); the vector reads the last ``max_history``
        rows only, so the key holds those.
        """
        rec = self.state.recommender
        recent = rows[-rec.config.model.max_history:]
        key = None
        if user[0] is not None:
            key = (user[0], recent.tobytes(), now, len(self.state.catalog), rec.weights_version)
            cached = self.user_cache.get(key)
            if cached is not None:
                return cached
        vector = coldstart.user_vector(rec, recent, user[1], now)
        if key is not None:
            self.user_cache.put(key, vector)
        return vector

    def _model_items(
        self, user: torch.Tensor, rows: np.ndarray, logits: np.ndarray, cosine: np.ndarray, explain: bool
    ) -> list[dict]:
        if not len(rows):
            return []
        contributions = self.explanation.contributions(user, rows) if explain else {}
        probabilities = self.state.recommender.probabilities(logits)
        art = self.state.recommender.article_vectors()
        weights = None if art.weights is None else art.weights[torch.from_numpy(rows)].float().cpu().numpy()
        items = []
        for i, described in enumerate(self.state.describe(rows)):
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
        """The popularity prior's top ``k`` in prior-score order, without the rows ``excluded`` (a mask over the
        catalogue) and without repeated titles."""
        rows, clicks, scores, _ = self.state.popular(now)
        keys = self._title_keys()
        seen: set[str] = set()
        keep = []
        for i in np.flatnonzero(~excluded[rows]):
            if len(keep) == k:
                break
            if keys[rows[i]] not in seen:
                seen.add(keys[rows[i]])
                keep.append(i)
        rows, clicks, scores = rows[keep], clicks[keep], scores[keep]
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
                "reason": None,
                "clicks": int(count),
            }
            for described, count, score in zip(self.state.describe(rows), clicks.tolist(), scores.tolist())
        ]
