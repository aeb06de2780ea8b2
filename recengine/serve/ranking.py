"""Recommendations: recall by cosine from the article index, rerank by the model, and cold start (interest text,
then the popularity prior) for users with few or no clicks."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from recengine.errors import InputError
from recengine.serve import checks, coldstart
from recengine.serve.explain import Explanation
from recengine.serve.state import ServingState
from recengine.text import embed_texts

EXCLUDE_LIMIT = 100_000  # clicks read per user to exclude what they already read


class Ranking:
    """The two-stage recommender over a :class:`ServingState`; items carry the explanation's view contributions."""

    def __init__(self, state: ServingState, explanation: Explanation):
        self.state = state
        self.explanation = explanation

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
        user_id, k, candidates = checks.check_request(user_id, k, candidates)
        now = self.state.clock(now)
        if history is None:
            clicked, strict = self.state.store.user_history(self.state.dataset, user_id, limit=EXCLUDE_LIMIT), False
        else:
            clicked, strict = checks.history_ids(history), True
        interest = self._embed_interest(interest_text)
        with self.state.lock:
            user_row = self.state.recommender.users.position.get(user_id, -1)
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
        k = checks.whole(k, "k", 1, checks.MAX_K)
        candidates = checks.whole(candidates, "candidates", 1, checks.MAX_CANDIDATES)
        clicked = checks.history_ids(clicks)
        interest = self._embed_interest(interest_text)
        with self.state.lock:
            return self._serve(clicked, -1, interest, k, candidates, True, self.state.clock(now), True)

    def _embed_interest(self, text: str | None) -> np.ndarray | None:
        if text is None:
            return None
        text = checks.text(text, "interest text", checks.MAX_INTEREST_CHARS, required=True)
        matrix, _ = embed_texts([text], self.state.embedder, cache=self.state.cache)
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
        rows = self.state.catalog.articles.rows(clicked)
        if strict and (rows < 0).any():
            unknown = [a for a, r in zip(clicked, rows) if r < 0]
            raise InputError(f"unknown article ids in the history: {', '.join(unknown[:10])}")
        rows = rows[rows >= 0]
        excluded = np.unique(rows) if exclude_clicked else np.empty(0, dtype=np.int64)
        use_interest = interest is not None and len(rows) < coldstart.INTEREST_UNTIL_CLICKS
        if not len(rows) and not use_interest:
            return self._popular_items(k, now, excluded)
        prefix = coldstart.interest_item(self.state.recommender, self.state.view_inputs(), interest) if use_interest else None
        user = coldstart.user_vector(self.state.recommender, rows, user_row, now, prefix)
        pool = max(candidates, k)
        cosine, found = self.state.index.search(user.float().cpu().numpy(), min(len(self.state.index), pool + len(excluded)) or 1)
        keep = (found[0] >= 0) & ~np.isin(found[0], excluded)
        found, cosine = found[0][keep][:pool], cosine[0][keep][:pool]
        if not len(found):
            return []
        logits = self.state.recommender.score_pairs(user.expand(len(found), -1), found, np.full(len(found), now))
        logits = logits.float().cpu().numpy()
        order = np.argsort(-logits, kind="stable")[:k]
        return self._model_items(user, found[order], logits[order], cosine[order])

    def _model_items(self, user: torch.Tensor, rows: np.ndarray, logits: np.ndarray, cosine: np.ndarray) -> list[dict]:
        contributions = self.explanation.contributions(user, rows)
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
        rows, clicks, scores, _ = coldstart.popular(self.state.store, self.state.dataset, self.state.catalog, now)
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
            for described, count, score in zip(self.state.describe(rows), clicks.tolist(), scores.tolist())
        ]
