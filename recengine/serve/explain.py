"""Explanations of what the model serves: each view's contribution to a score, the nearest articles, a user's
profile."""

from __future__ import annotations

import numpy as np
import torch

from recengine.errors import InputError
from recengine.serve import checks
from recengine.serve.state import ServingState


class Explanation:
    """Read-only views of the served model. The public methods take the lock; :meth:`contributions` and
    :meth:`nearest` expect the caller to hold it."""

    def __init__(self, state: ServingState):
        self.state = state

    @torch.no_grad()
    def contributions(self, user: torch.Tensor, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Per view, (n,) logit drop when that view's input is replaced by its neutral value (see
        :meth:`~recengine.serve.ranking.Ranking.recommend`)."""
        inputs = self.state.view_inputs()
        net = self.state.recommender.net.eval()
        n = len(rows)
        index = torch.from_numpy(rows).to(self.state.recommender.device)
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

    def nearest_articles(self, article_id: str, k: int = 10) -> list[dict]:
        """The ``k`` articles closest to ``article_id`` by cosine of their vectors: id, title, category, similarity."""
        k = checks.whole(k, "k", 1, checks.MAX_K)
        with self.state.lock:
            row = self.state.catalog.articles.position.get(article_id)
            if row is None:
                raise InputError(f"unknown article {article_id!r}")
            return self.nearest(row, k)

    def nearest(self, row: int, k: int) -> list[dict]:
        """The ``k`` indexed articles closest to catalogue ``row``, with their cosine similarity."""
        cosine, found = self.state.index.search(self.state.indexed[row : row + 1], min(k + 1, max(len(self.state.index), 1)))
        keep = (found[0] >= 0) & (found[0] != row)
        rows, similarity = found[0][keep][:k], cosine[0][keep][:k]
        return [{**d, "similarity": round(float(s), 4)} for d, s in zip(self.state.describe(rows), similarity.tolist())]

    def user_profile(self, user_id: str) -> dict:
        """``user_id``, ``known`` (in the store), ``in_training`` and ``history`` (oldest first, what the model reads)."""
        user_id = checks.token(user_id, "user id")
        history = self.state.store.user_history(self.state.dataset, user_id, limit=self.state.recommender.config.model.max_history)
        known = self.state.store.user_exists(self.state.dataset, user_id)
        with self.state.lock:
            rows = self.state.catalog.articles.rows(history)
            described = iter(self.state.describe(rows[rows >= 0]))
            items = [
                next(described) if r >= 0 else {"article_id": a, "title": None, "category": None, "subcategory": None}
                for a, r in zip(history, rows.tolist())
            ]
            in_training = bool(self.state.recommender.trained_users(self.state.recommender.users.rows([user_id]))[0])
        return {"user_id": user_id, "known": known, "in_training": in_training, "history": items}
