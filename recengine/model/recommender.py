"""A trained network bound to its catalogue and user table: batched, gradient-free inference.

Article vectors are computed once for the whole catalogue and cached until the
catalogue grows or the weights change; users are encoded from their histories at
inference time, so new clicks change recommendations without retraining.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from recengine.config import RunConfig
from recengine.index import ArticleIndex
from recengine.model.calibration import Calibration
from recengine.model.catalog import UNKNOWN_TIME, Catalog, IdMap
from recengine.model.interactions import Interactions, pad_last
from recengine.model.network import RecommenderNet

# How many existing articles lend their ID vector to an unseen one (Graph Meta Embedding style).
NEIGHBOURS = 10
NEIGHBOUR_TEMPERATURE = 0.05
# Up to this many (unseen x trained) article pairs the neighbour search is exact (about 15 s on two
# CPU cores); beyond it an IVF index searches a few lists per article. On the large preset (2e11
# pairs) the exact pass would take ~26 minutes at every evaluation; IVF takes 88 s at recall@10 0.985.
EXACT_NEIGHBOUR_PAIRS = 2_000_000_000
NEIGHBOUR_NPROBE = 16
NEIGHBOUR_CHUNK = 2048


@dataclass
class ArticleVectors:
    vectors: torch.Tensor  # (A, d) fused article vectors
    bias: torch.Tensor  # (A,) ID-view bias (neutral for unseen articles)
    weights: torch.Tensor | None  # (A, V) fusion weights per view, None for concat
    views: tuple[str, ...]


class Recommender:
    """Network + catalogue + user table. All methods are inference-only (no gradients)."""

    def __init__(self, config: RunConfig, catalog: Catalog, users: IdMap, net: RecommenderNet, device: str = "cpu"):
        self.config = config
        self.catalog = catalog
        self.users = users
        self.net = net.to(device)
        self.device = torch.device(device)
        self._cache_key: tuple | None = None
        self._vectors: ArticleVectors | None = None
        self.weights_version = 0
        self.calibration = Calibration()  # logit -> click probability; fitted after training

    def over(self, catalog: Catalog) -> "Recommender":
        """The same model over another catalogue (a split's, its unseen articles added zero-shot): it shares the
        network, users, device and calibration."""
        extended = Recommender(self.config, catalog, self.users, self.net, str(self.device))
        extended.calibration = self.calibration
        return extended

    def invalidate(self) -> None:
        """Forget cached article vectors (call after changing the weights)."""
        self.weights_version += 1

    # ------------------------------------------------------------------ articles

    def _key(self) -> tuple:
        return (len(self.catalog), self.weights_version)

    def text_tensor(self) -> torch.Tensor:
        return self.catalog.text.to(self.device)

    def first_seen_tensor(self) -> torch.Tensor:
        return torch.from_numpy(self.catalog.first_seen).to(self.device)

    @torch.no_grad()
    def article_vectors(self) -> ArticleVectors:
        """Vectors of every catalogue article (cached until the catalogue or the weights change)."""
        if self._vectors is not None and self._cache_key == self._key():
            return self._vectors
        net = self.net.eval()
        text = self.text_tensor()
        graph_out = net.graph_outputs(self.catalog.graph.tensors().to(self.device), text)
        rows = torch.arange(len(self.catalog), device=self.device)
        id_parts = self._id_parts(rows, text, graph_out) if "id" in net.views else None
        vectors, weights, bias = net.articles(rows, text, graph_out, id_parts)
        self._vectors = ArticleVectors(vectors, bias, weights, net.views)
        self._cache_key = self._key()
        return self._vectors

    def _id_parts(self, rows: torch.Tensor, text: torch.Tensor, graph_out: torch.Tensor | None):
        """ID vectors for all rows; unseen articles get the configured fill (table mean or neighbours)."""
        net = self.net
        if self.config.model.new_article_id == "mean" or not any(v in net.views for v in ("text", "graph")):
            return net.id_parts(rows)
        n_table = net.article_ids.num_embeddings
        trained = torch.zeros(len(rows), dtype=torch.bool, device=self.device)
        trained[:n_table] = net.article_trained[: min(n_table, len(rows))]
        vectors, biases = net.id_parts(rows)
        unseen = torch.nonzero(~trained).squeeze(1)
        seen = torch.nonzero(trained).squeeze(1)
        if len(unseen) == 0 or len(seen) == 0:
            return vectors, biases
        content = self._content(text, graph_out)
        similarity, neighbour = nearest(content[unseen], content[seen], min(NEIGHBOURS, len(seen)))
        table = net.article_ids.weight[seen]
        table_bias = net.article_bias.weight[seen]
        for start in range(0, len(unseen), NEIGHBOUR_CHUNK):
            part = slice(start, start + NEIGHBOUR_CHUNK)
            # An IVF search can come back short (-inf, -1); those places get no weight.
            weight = torch.nan_to_num(torch.softmax(similarity[part] / NEIGHBOUR_TEMPERATURE, dim=1)).unsqueeze(-1)
            rows_here = neighbour[part].clamp(min=0)
            vectors[unseen[part]] = (weight * table[rows_here]).sum(1)
            biases[unseen[part]] = (weight * table_bias[rows_here]).sum(1)
        return vectors, biases

    @torch.no_grad()
    def content_vectors(self) -> torch.Tensor:
        """(A, k*d) unit content vectors (text and graph views) in which unseen articles find their neighbours."""
        text = self.text_tensor()
        return self._content(text, self.net.eval().graph_outputs(self.catalog.graph.tensors().to(self.device), text))

    def _content(self, text: torch.Tensor, graph_out: torch.Tensor | None) -> torch.Tensor:
        """(A, k*d) normalised content views (text, graph) used to find an unseen article's neighbours."""
        net = self.net
        parts = []
        for name, norm in zip(net.views, net.view_norms):
            if name == "text":
                parts.append(F.normalize(norm(net.text(text)), dim=-1))
            elif name == "graph":
                parts.append(F.normalize(norm(graph_out), dim=-1))
        return F.normalize(torch.cat(parts, dim=1), dim=-1)

    # ------------------------------------------------------------------ users and scores

    @torch.no_grad()
    def user_vectors(
        self,
        history: np.ndarray,
        mask: np.ndarray,
        user_rows: np.ndarray,
        now: np.ndarray,
        history_times: np.ndarray | None = None,
    ) -> torch.Tensor:
        """history (B, L) catalogue rows (-1 padded) with mask (B, L), user_rows (B,), now (B,) seconds -> (B, d)."""
        art = self.article_vectors()
        dev = self.device
        hist = torch.from_numpy(np.where(mask, history, 0)).to(dev)
        mask_t = torch.from_numpy(mask).to(dev)
        vectors = art.vectors[hist] * mask_t.unsqueeze(-1)
        times = torch.from_numpy(
            np.where(mask, history_times if history_times is not None else UNKNOWN_TIME, UNKNOWN_TIME).astype(np.int64)
        ).to(dev)
        return self.net.eval().users(
            vectors, mask_t, torch.from_numpy(np.asarray(user_rows, dtype=np.int64)).to(dev), times,
            torch.from_numpy(np.asarray(now, dtype=np.int64)).to(dev),
        )

    @torch.no_grad()
    def score_pairs(self, users: torch.Tensor, rows: np.ndarray, now: np.ndarray) -> torch.Tensor:
        """users (N, d) against catalogue rows (N,) at times now (N,) -> logits (N,)."""
        art = self.article_vectors()
        rows_t = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.device)
        age = torch.from_numpy(np.asarray(now, dtype=np.int64)).to(self.device) - self.first_seen_tensor()[rows_t]
        age = torch.where(self.first_seen_tensor()[rows_t] == UNKNOWN_TIME, torch.full_like(age, -1), age)
        logits = self.net.logits(users, art.vectors[rows_t].unsqueeze(1), art.bias[rows_t].unsqueeze(1), age.unsqueeze(1))
        return logits.squeeze(1)

    @torch.no_grad()
    def score(self, inter: Interactions, batch_size: int = 4096) -> np.ndarray:
        """Logit of every candidate of every impression, (C,), in candidate order; batched, no per-impression loop."""
        out = np.empty(len(inter.candidates), dtype=np.float32)
        max_history = self.config.model.max_history
        for start in range(0, len(inter), batch_size):
            rows = np.arange(start, min(start + batch_size, len(inter)))
            history, mask = pad_last(inter.history_ptr, inter.history, rows, max_history)
            times = None
            if inter.history_times is not None:
                times, _ = pad_last(inter.history_ptr, inter.history_times, rows, max_history, pad=UNKNOWN_TIME)
            users = self.user_vectors(history, mask, inter.user_rows[rows], inter.times[rows], times)
            c0, c1 = inter.candidate_ptr[rows[0]], inter.candidate_ptr[rows[-1] + 1]
            owner = np.repeat(np.arange(len(rows)), np.diff(inter.candidate_ptr[rows[0] : rows[-1] + 2]))
            logits = self.score_pairs(users[torch.from_numpy(owner).to(self.device)], inter.candidates[c0:c1], inter.times[rows][owner])
            out[c0:c1] = logits.float().cpu().numpy()
        return out

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated click probabilities of logits (see :mod:`recengine.model.calibration`)."""
        return self.calibration.probabilities(logits)

    def trained_articles(self) -> np.ndarray:
        """(A,) bool: catalogue rows seen in training (their ID vectors were learned from clicks)."""
        out = np.zeros(len(self.catalog), dtype=bool)
        trained = self.net.article_trained.cpu().numpy()
        out[: min(len(trained), len(out))] = trained[: len(out)]
        return out

    def trained_users(self, user_rows: np.ndarray) -> np.ndarray:
        """(n,) bool: users seen in training."""
        trained = self.net.user_trained.cpu().numpy()
        safe = np.clip(user_rows, 0, max(len(trained) - 1, 0))
        return (user_rows >= 0) & (user_rows < len(trained)) & trained[safe]


@torch.no_grad()
def nearest(queries: torch.Tensor, keys: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``k`` keys by inner product for each query: queries (Q, d) and keys (N, d), unit rows ->
    similarity (Q, k) and key rows (Q, k) on the queries' device.

    Exact while Q x N <= :data:`EXACT_NEIGHBOUR_PAIRS`; above it a FAISS IVF index over the keys (nprobe
    :data:`NEIGHBOUR_NPROBE`), whose short answers are padded with -inf and -1.
    """
    if len(queries) * len(keys) <= EXACT_NEIGHBOUR_PAIRS:
        similarity = torch.empty(len(queries), k, device=queries.device)
        rows = torch.empty(len(queries), k, dtype=torch.long, device=queries.device)
        for start in range(0, len(queries), NEIGHBOUR_CHUNK):
            part = slice(start, start + NEIGHBOUR_CHUNK)
            similarity[part], rows[part] = (queries[part] @ keys.T).topk(k, dim=1)
        return similarity, rows
    index = ArticleIndex.build(keys.float().cpu().numpy(), np.arange(len(keys)), kind="ivf", nprobe=NEIGHBOUR_NPROBE)
    found_similarity, found_rows = index.search(queries.float().cpu().numpy(), k)
    return torch.from_numpy(found_similarity).to(queries.device), torch.from_numpy(found_rows).to(queries.device)
