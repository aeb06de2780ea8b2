"""Recommendations: recall by cosine from the article index, rerank by the model, and cold start (interest text,
then the popularity prior) for users with few or no clicks."""

from __future__ import annotations

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
        explain: bool = True,
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
        as ``score``, ``clicks``, and None for the model's fields. ``explain=False`` skips the contributions (one
        extra scoring per view): ``contributions`` is then ``{}`` and ``top_view`` None.

        The user vector is cached (:class:`UserVectorCache`) under the user, the history rows, the interest, ``now``,
        the catalogue's size and the weights' version: a click changes the history read from the store and so
        misses the cache, in this process and in any other sharing the store.
        """
        user_id, k, candidates = checks.check_request(user_id, k, candidates)
        now = self.state.clock(now)
        if history is None:
            clicked, strict = self.state.store.user_history(self.state.dataset, user_id, limit=EXCLUDE_LIMIT), False
        else:
            clicked, strict = checks.history_ids(history), True
        interest = self._embed_interest(interest_text)
        with self.state.lock:
            user_row = self.state.recommender.users.position.get(user_id, -1)
            return self._serve(clicked, (user_id, user_row), interest_text, interest, k, candidates, exclude_clicked,
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
                                     history[history >= 0], None, None, now)
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
        candidates: int = 200,
        now=None,
    ) -> list[dict]:
        """Recommendations for a brand-new user who typed ``interest_text`` and clicked ``clicks`` (oldest first).

        Nothing is stored. The same items as :meth:`recommend`.
        """
        k = checks.whole(k, "k", 1, checks.MAX_K)
        candidates = checks.whole(candidates, "candidates", 1, checks.MAX_CANDIDATES)
        clicked = checks.history_ids(clicks)
        interest = self._embed_interest(interest_text)
        with self.state.lock:
            return self._serve(clicked, (None, -1), interest_text, interest, k, candidates, True,
                               self.state.clock(now), True, True)

    def _embed_interest(self, text: str | None) -> np.ndarray | None:
        if text is None:
            return None
        text = checks.text(text, "interest text", checks.MAX_INTEREST_CHARS, required=True)
        matrix, _ = embed_texts([text], self.state.embedder, cache=self.state.cache)
        return matrix[0]

    def _serve(
        self,
        clicked: list[str],
        user: tuple[str | None, int],
        interest_text: str | None,
        interest: np.ndarray | None,
        k: int,
        candidates: int,
        exclude_clicked: bool,
        now: int,
        strict: bool,
        explain: bool,
    ) -> list[dict]:
        """Recall and rerank for a user (id, row) whose history is ``clicked`` (caller holds the lock)."""
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
        use_interest = interest is not None and len(rows) < coldstart.INTEREST_UNTIL_CLICKS
        if not len(rows) and not use_interest:
            return self._popular_items(k, now, excluded)
        user = self._user_vector(user, rows, interest_text if use_interest else None,
                                 interest if use_interest else None, now)
        pool = max(candidates, k)
        cosine, found = self.state.index.search(user.float().cpu().numpy(), min(len(self.state.index), pool + int(excluded.sum())) or 1)
        keep = (found[0] >= 0) & ~excluded[np.maximum(found[0], 0)]
        found, cosine = found[0][keep][:pool], cosine[0][keep][:pool]
        if not len(found):
            return []
        logits = self.state.recommender.score_pairs(user.expand(len(found), -1), found, np.full(len(found), now))
        logits = logits.float().cpu().numpy()
        order = np.argsort(-logits, kind="stable")[:k]
        return self._model_items(user, found[order], logits[order], cosine[order], explain)

    def _user_vector(
        self, user: tuple[str | None, int], rows: np.ndarray, interest_text: str | None, interest: np.ndarray | None,
        now: int,
    ) -> torch.Tensor:
        """(1, d) vector of ``user`` (id, row) with history ``rows`` and an optional interest (caller holds the lock).

        Cached when the user has an id (cold-start callers pass none); the vector reads the last ``max_history``
        rows only, so the key holds those.
        """
        rec = self.state.recommender
        recent = rows[-rec.config.model.max_history:]
        key = None
        if user[0] is not None:
            key = (user[0], recent.tobytes(), interest_text, now, len(self.state.catalog), rec.weights_version)
            cached = self.user_cache.get(key)
            if cached is not None:
                return cached
        prefix = None if interest is None else coldstart.interest_item(rec, self.state.view_inputs(), interest)
        vector = coldstart.user_vector(rec, recent, user[1], now, prefix)
        if key is not None:
            self.user_cache.put(key, vector)
        return vector

    def _model_items(
        self, user: torch.Tensor, rows: np.ndarray, logits: np.ndarray, cosine: np.ndarray, explain: bool
    ) -> list[dict]:
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
        """The popularity prior's top ``k``, without the rows ``excluded`` (a mask over the catalogue)."""
        rows, clicks, scores, _ = self.state.popular(now)
        keep = ~excluded[rows]
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
            for described, count, score in zip(self.state.describe(rows), clicks.tolist(), scores.tolist())
        ]
