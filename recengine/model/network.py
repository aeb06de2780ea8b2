"""The recommender network: three article views fused into one vector, a user encoder, a scorer.

Shapes: A catalogue articles, N articles in a batch, B users, L history length,
C candidates per user, d = ``ModelConfig.dim``, T text-embedding width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recengine.config import ModelConfig
from recengine.graph import GraphEncoder, GraphTensors
from recengine.model.catalog import UNKNOWN_TIME, Catalog

# Article age buckets (hours) for the freshness bonus; one more bucket for "never seen before".
AGE_EDGES_HOURS = (1, 2, 4, 8, 12, 18, 24, 30, 36, 48, 72, 120, 240)
# Gaps between clicks, in log2 hours: 0..GAP_BUCKETS-1, plus one for "unknown".
GAP_BUCKETS = 12


class ConcatFusion(nn.Module):
    """Concatenate the views, then an MLP back to d. No per-view weights to show."""

    def __init__(self, n_views: int, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_views * dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """views (N, V, d) -> fused (N, d), None."""
        return self.mlp(views.flatten(1)), None


class AttentionFusion(nn.Module):
    """A learned query scores each view; the softmax weights (N, V) are the per-view weights shown."""

    def __init__(self, n_views: int, dim: int):
        super().__init__()
        self.key = nn.Linear(dim, dim)
        self.query = nn.Parameter(torch.zeros(dim))

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(torch.tanh(self.key(views)) @ self.query, dim=1)
        return (weights.unsqueeze(-1) * views).sum(1), weights


class GateFusion(nn.Module):
    """Element-wise sigmoid gates per view, computed from all views; weights = mean gate per view."""

    def __init__(self, n_views: int, dim: int):
        super().__init__()
        self.gates = nn.Linear(n_views * dim, n_views * dim)

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gates = torch.sigmoid(self.gates(views.flatten(1))).view_as(views)
        return (gates * views).sum(1), gates.mean(-1)


class CategoryHead(nn.Module):
    """The auxiliary task's head: a linear map from a fused article vector (N, d) to category logits (N, n).

    A training aid (``TrainConfig.category_aux_weight``): the trainer owns it, it is not part of a saved run."""

    def __init__(self, dim: int, n_categories: int):
        super().__init__()
        self.linear = nn.Linear(dim, n_categories)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.linear(vectors)


# The implementation of each name in ``recengine.config.FUSIONS`` (the names live there, in the schema).
FUSION_MODULES: dict[str, type[nn.Module]] = {"concat": ConcatFusion, "attention": AttentionFusion, "gate": GateFusion}


def _time_parts(seconds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hour of day (0-23, 24 unknown) and day of week (0 Monday - 6, 7 unknown) of unix seconds."""
    known = seconds != UNKNOWN_TIME
    safe = torch.where(known, seconds, torch.zeros_like(seconds))
    hour = torch.where(known, torch.div(safe, 3600, rounding_mode="floor") % 24, torch.full_like(safe, 24))
    # 1970-01-01 was a Thursday (weekday 3).
    dow = torch.where(known, (torch.div(safe, 86400, rounding_mode="floor") + 3) % 7, torch.full_like(safe, 7))
    return hour, dow


def _gap_bucket(later: torch.Tensor, earlier: torch.Tensor) -> torch.Tensor:
    known = (later != UNKNOWN_TIME) & (earlier != UNKNOWN_TIME)
    hours = (later - earlier).clamp(min=0).double() / 3600
    bucket = torch.log2(1 + hours).floor().long().clamp(max=GAP_BUCKETS - 1)
    return torch.where(known, bucket, torch.full_like(bucket, GAP_BUCKETS))


class AttentionUserEncoder(nn.Module):
    """Additive attention over the history's article vectors, plus a small user-ID vector and the
    impression's context (hour of day, day of week): what a reader wants shifts with the time of day."""

    def __init__(self, dim: int, user_id_dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))
        self.empty = nn.Parameter(torch.zeros(dim))
        self.user = nn.Linear(user_id_dim, dim, bias=False) if user_id_dim else None
        self.hour = nn.Embedding(25, dim)
        self.dow = nn.Embedding(8, dim)
        nn.init.zeros_(self.hour.weight)  # starts as plain history attention
        nn.init.zeros_(self.dow.weight)

    def forward(self, history, mask, user_vec, history_times=None, now=None) -> torch.Tensor:
        """history (B, L, d), mask (B, L), user_vec (B, u) or None, now (B,) unix seconds -> (B, d)."""
        scores = self.score(history).squeeze(-1).masked_fill(~mask, float("-inf"))
        has_history = mask.any(1, keepdim=True)
        weights = torch.softmax(torch.where(has_history, scores, torch.zeros_like(scores)), dim=1) * mask
        pooled = torch.where(has_history, (weights.unsqueeze(-1) * history).sum(1), self.empty)
        if self.user is not None and user_vec is not None:
            pooled = pooled + self.user(user_vec)
        if now is not None:
            hour, dow = _time_parts(now)
            pooled = pooled + self.hour(hour) + self.dow(dow)
        return pooled


class TransformerUserEncoder(nn.Module):
    """A pre-LayerNorm transformer over the history with time features.

    Each click token gets hour-of-day, day-of-week, time-since-previous-click and recency
    embeddings; a final query token carries the impression's own time, and its output is the user.
    """

    def __init__(self, dim: int, user_id_dim: int, max_history: int, layers: int = 2, heads: int = 2):
        super().__init__()
        self.hour = nn.Embedding(25, dim)
        self.dow = nn.Embedding(8, dim)
        self.gap = nn.Embedding(GAP_BUCKETS + 1, dim)
        self.recency = nn.Embedding(max_history + 1, dim)
        for table in (self.hour, self.dow, self.gap, self.recency):
            nn.init.normal_(table.weight, std=0.02)
        self.query = nn.Parameter(torch.randn(dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=0.1, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.user = nn.Linear(user_id_dim, dim, bias=False) if user_id_dim else None

    def forward(self, history, mask, user_vec, history_times, now) -> torch.Tensor:
        """history (B, L, d), mask (B, L), user_vec (B, u), history_times (B, L), now (B,) -> (B, d)."""
        batch, length, _ = history.shape
        times = torch.where(mask, history_times, torch.full_like(history_times, UNKNOWN_TIME))
        hour, dow = _time_parts(times)
        previous = torch.cat([torch.full_like(times[:, :1], UNKNOWN_TIME), times[:, :-1]], dim=1)
        counts = mask.sum(1, keepdim=True)
        recency = (counts - 1 - torch.arange(length, device=history.device)).clamp(min=0)
        tokens = history + self.hour(hour) + self.dow(dow) + self.gap(_gap_bucket(times, previous)) + self.recency(recency)
        last = times.gather(1, (counts - 1).clamp(min=0)).squeeze(1)
        last = torch.where(counts.squeeze(1) > 0, last, torch.full_like(last, UNKNOWN_TIME))
        now_hour, now_dow = _time_parts(now)
        query = self.query + self.hour(now_hour) + self.dow(now_dow) + self.gap(_gap_bucket(now, last))
        sequence = torch.cat([tokens, query.unsqueeze(1)], dim=1)
        padding = torch.cat([~mask, torch.zeros(batch, 1, dtype=torch.bool, device=mask.device)], dim=1)
        out = self.norm(self.encoder(sequence, src_key_padding_mask=padding)[:, -1])
        if self.user is not None and user_vec is not None:
            out = out + self.user(user_vec)
        return out


class RecommenderNet(nn.Module):
    """Article views -> fusion -> article vector; history -> user vector; cosine/tau or dot -> logit."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        n_articles: int,
        n_users: int,
        text_dim: int,
        num_entities: int,
        entity_dim: int | None,
    ):
        super().__init__()
        self.config = config
        dim = config.dim
        self.views = tuple(v for v in ("id", "text", "graph") if v in config.views)
        # Which articles and users were seen in training: the rest are scored with neutral ID vectors,
        # and evaluation slices (warm / new articles / cold users) are cut by these masks.
        self.register_buffer("article_trained", torch.zeros(n_articles, dtype=torch.bool))
        self.register_buffer("user_trained", torch.zeros(n_users, dtype=torch.bool))
        if "id" in self.views:
            self.article_ids = nn.Embedding(n_articles, dim, sparse=True)
            self.article_bias = nn.Embedding(n_articles, 1, sparse=True)
            nn.init.normal_(self.article_ids.weight, std=0.1)
            nn.init.zeros_(self.article_bias.weight)
        if "text" in self.views:
            self.text = nn.Sequential(nn.Linear(text_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        if "graph" in self.views:
            self.graph = GraphEncoder(
                config.gnn,
                article_in_dim=text_dim,
                entity_in_dim=entity_dim,
                num_entities=num_entities,
                hidden=dim,
                out_dim=dim,
                layers=config.gnn_layers,
            )
        self.view_norms = nn.ModuleList(nn.LayerNorm(dim) for _ in self.views)
        self.fusion = FUSION_MODULES[config.fusion](len(self.views), dim)
        self.user_ids = nn.Embedding(n_users, config.user_id_dim, sparse=True) if config.user_id_dim else None
        if self.user_ids is not None:
            nn.init.normal_(self.user_ids.weight, std=0.1)
        if config.user_encoder == "transformer":
            self.user_encoder = TransformerUserEncoder(dim, config.user_id_dim, config.max_history)
        else:
            self.user_encoder = AttentionUserEncoder(dim, config.user_id_dim)
        # Retrieval-augmented users (off unless user_retrieval > 0): the bank is data, not a parameter, and
        # is attached by the trainer or the loader; the gate starts mostly closed.
        self.user_bank = None
        if config.user_retrieval:
            self.retrieval_gate = nn.Linear(2 * dim, dim)
            nn.init.constant_(self.retrieval_gate.bias, -2.0)
        self.freshness = nn.Embedding(len(AGE_EDGES_HOURS) + 2, 1) if config.freshness else None
        if self.freshness is not None:
            nn.init.zeros_(self.freshness.weight)
        self.register_buffer("age_edges", torch.tensor(AGE_EDGES_HOURS, dtype=torch.float64) * 3600)

    @classmethod
    def for_catalog(cls, config: ModelConfig, catalog: Catalog, n_users: int) -> "RecommenderNet":
        """A fresh network sized for ``catalog`` and ``n_users`` users: the one place a network is assembled."""
        return cls(
            config,
            n_articles=len(catalog),
            n_users=max(n_users, 1),
            text_dim=catalog.text.shape[1],
            num_entities=catalog.graph.num_entities,
            entity_dim=catalog.graph.entity_feature_dim,
        )

    # ------------------------------------------------------------------ articles

    def neutral_article(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ID vector (d,) and bias (1,) of the trained rows: what an unseen article starts from."""
        trained = self.article_trained
        if not trained.any():
            return torch.zeros_like(self.article_ids.weight[0]), torch.zeros_like(self.article_bias.weight[0])
        return self.article_ids.weight[trained].mean(0).detach(), self.article_bias.weight[trained].mean(0).detach()

    def graph_outputs(self, graph: GraphTensors, text: torch.Tensor) -> torch.Tensor | None:
        """(A, d) GNN vector of every catalogue article, or None without the graph view."""
        return self.graph(graph, text) if "graph" in self.views else None

    def id_parts(
        self, rows: torch.Tensor, fill: tuple[torch.Tensor, torch.Tensor] | None = None, drop: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ID vectors (N, d) and biases (N, 1) of catalogue ``rows``; unseen rows get ``fill``.

        ``fill`` is (vectors, biases) of shape (N, d)/(N, 1) or (d,)/(1,); default the neutral article.
        ``drop`` randomly treats trained rows as unseen so fusion learns to do without the ID view.
        """
        n_table = self.article_ids.num_embeddings
        in_table = rows < n_table
        safe = torch.where(in_table, rows, torch.zeros_like(rows))
        known = in_table & self.article_trained[safe]
        if drop > 0:
            known = known & (torch.rand(rows.shape, device=rows.device) >= drop)
        vectors = self.article_ids(safe)
        biases = self.article_bias(safe)
        fill_vec, fill_bias = fill if fill is not None else self.neutral_article()
        known = known.unsqueeze(-1)
        return torch.where(known, vectors, fill_vec), torch.where(known, biases, fill_bias)

    def articles(
        self,
        rows: torch.Tensor,
        text: torch.Tensor,
        graph_out: torch.Tensor | None,
        id_parts: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Article vectors (N, d), per-view fusion weights (N, V) or None, and biases (N,) for catalogue ``rows``.

        ``text`` is the (A, T) text matrix, ``graph_out`` the (A, d) GNN output, ``id_parts`` the
        (N, d)/(N, 1) ID vectors and biases (from :meth:`id_parts`).
        """
        views = []
        bias = torch.zeros(rows.shape[0], device=rows.device)
        for name in self.views:
            if name == "id":
                vectors, biases = id_parts if id_parts is not None else self.id_parts(rows)
                views.append(vectors)
                bias = biases.squeeze(-1)
            elif name == "text":
                views.append(self.text(text[rows]))
            else:
                views.append(graph_out[rows])
        stacked = torch.stack([norm(v) for norm, v in zip(self.view_norms, views)], dim=1)
        fused, weights = self.fusion(stacked)
        if self.config.output_relu:
            fused = F.relu(fused)
        return fused, weights, bias

    # ------------------------------------------------------------------ users and scores

    def user_vectors(self, user_rows: torch.Tensor, drop: float = 0.0) -> torch.Tensor | None:
        """(B, u) user-ID vectors; unseen users (row -1) and dropped ones get zeros."""
        if self.user_ids is None:
            return None
        in_table = (user_rows >= 0) & (user_rows < self.user_ids.num_embeddings)
        safe = torch.where(in_table, user_rows, torch.zeros_like(user_rows))
        known = in_table & self.user_trained[safe]
        if drop > 0:
            known = known & (torch.rand(user_rows.shape, device=user_rows.device) >= drop)
        return self.user_ids(safe) * known.unsqueeze(-1)

    def users(self, history, mask, user_rows, history_times, now, drop: float = 0.0) -> torch.Tensor:
        """history (B, L, d) article vectors, mask (B, L), user_rows (B,), times -> (B, d)."""
        users = self.user_encoder(history, mask, self.user_vectors(user_rows, drop), history_times, now)
        if self.config.user_retrieval and self.user_bank is not None:
            retrieved, found = self.user_bank.retrieve(
                users, user_rows, self.config.user_retrieval, self.config.retrieval_threshold
            )
            gate = torch.sigmoid(self.retrieval_gate(torch.cat([users, retrieved], dim=-1)))
            users = torch.where(found.unsqueeze(-1), (1 - gate) * users + gate * retrieved, users)
        return F.relu(users) if self.config.output_relu else users

    def logits(self, users: torch.Tensor, candidates: torch.Tensor, bias: torch.Tensor, age_seconds: torch.Tensor) -> torch.Tensor:
        """users (B, d), candidates (B, C, d), bias (B, C), age_seconds (B, C) (negative = unknown) -> (B, C)."""
        if self.config.scoring == "cosine":
            scores = (F.normalize(users, dim=-1).unsqueeze(1) * F.normalize(candidates, dim=-1)).sum(-1)
            scores = scores / self.config.temperature
        else:
            scores = (users.unsqueeze(1) * candidates).sum(-1)
        if "id" in self.views:
            scores = scores + bias
        if self.freshness is not None:
            scores = scores + self.freshness(self.age_bucket(age_seconds)).squeeze(-1)
        return scores

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        text: torch.Tensor,
        graph: GraphTensors | None,
        first_seen: torch.Tensor,
        id_dropout: float = 0.0,
        in_batch: bool = False,
        with_articles: bool = False,
    ) -> tuple[torch.Tensor, ...]:
        """Training forward pass: logits (B, M) and the catalogue rows (B, M) they score; with ``with_articles``
        also the batch's distinct catalogue rows (N,) and their fused vectors (N, d) (the auxiliary task reads them).

        ``batch``: history (B, L) rows (-1 padded), mask (B, L), candidates (B, C) with the click in
        column 0, user_rows (B,), history_times (B, L), now (B,). Each distinct article is encoded
        once. With ``in_batch`` the other users' clicks are appended as extra candidates (M = C + B).
        """
        history, mask, candidates = batch["history"], batch["mask"], batch["candidates"]
        n_users, length = history.shape
        flat = torch.cat([history[mask], candidates.flatten()])
        unique, inverse = torch.unique(flat, return_inverse=True)
        graph_out = self._batch_graph_outputs(graph, text, unique)
        id_parts = self.id_parts(unique, drop=id_dropout) if "id" in self.views else None
        vectors, _, bias = self.articles(unique, text, graph_out, id_parts)
        n_history = int(mask.sum())
        history_vectors = vectors.new_zeros(n_users, length, vectors.shape[1])
        history_vectors[mask] = vectors[inverse[:n_history]]
        index = inverse[n_history:].view(candidates.shape)
        if in_batch:
            index = torch.cat([index, index[:, 0].unsqueeze(0).expand(n_users, n_users)], dim=1)
        users = self.users(history_vectors, mask, batch["user_rows"], batch["history_times"], batch["now"], id_dropout)
        rows = unique[index]
        seen = first_seen[rows]
        age = torch.where(seen == UNKNOWN_TIME, torch.full_like(seen, -1), batch["now"].unsqueeze(1) - seen)
        logits = self.logits(users, vectors[index], bias[index], age)
        return (logits, rows, unique, vectors) if with_articles else (logits, rows)

    def _batch_graph_outputs(self, graph: GraphTensors | None, text: torch.Tensor, rows: torch.Tensor) -> torch.Tensor | None:
        """(A, d) GNN vectors with (at least) ``rows`` filled: exactly and only those rows when the encoder
        can compute a subset (mean-SAGE), else the full graph. In training a share of the rows is seen
        without its entities (``entity_dropout``)."""
        if "graph" not in self.views:
            return None
        if not self.graph.supports_rows:
            return self.graph(graph, text)
        isolate = None
        if self.training and self.config.entity_dropout > 0:
            isolate = torch.rand(rows.shape, device=rows.device) < self.config.entity_dropout
        vectors = self.graph.forward_rows(graph, text, rows, isolate)
        return vectors.new_zeros(text.shape[0], vectors.shape[1]).index_copy(0, rows, vectors)

    def age_bucket(self, age_seconds: torch.Tensor) -> torch.Tensor:
        bucket = torch.bucketize(age_seconds.double(), self.age_edges)
        return torch.where(age_seconds < 0, torch.full_like(bucket, len(AGE_EDGES_HOURS) + 1), bucket)
