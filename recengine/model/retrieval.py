"""Retrieval-augmented user vectors (the FT-RAGRec idea of seeds/004).

A FAISS inner-product index holds the L2-normalised vectors of the training users; a user
retrieves its k most similar *other* users, keeps those above a similarity threshold (the
quality filter seeds/004 asks for), and a learned gate in the network fuses their
similarity-weighted mean into its own vector. The bank is rebuilt every epoch, so it does
not go stale while the encoder trains (another of seeds/004's findings).
"""

from __future__ import annotations

import faiss
import numpy as np
import torch
import torch.nn.functional as F

from recengine.model.catalog import UNKNOWN_TIME
from recengine.model.interactions import Interactions, pad_last

SIMILARITY_TEMPERATURE = 0.1


class UserBank:
    """Training users' vectors (N, d) in a FAISS index; ids are user-table rows."""

    def __init__(self, vectors: np.ndarray, user_rows: np.ndarray):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        faiss.normalize_L2(vectors)
        self.vectors = torch.from_numpy(vectors)
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        self.index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
        self.user_rows = torch.from_numpy(np.asarray(user_rows, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.user_rows)

    @torch.no_grad()
    def retrieve(
        self, queries: torch.Tensor, self_rows: torch.Tensor, k: int, threshold: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean of each query's k most similar other users above ``threshold``, (B, d), and whether any was found (B,).

        queries (B, d) user vectors; self_rows (B,) their user-table rows (-1 for users not in the bank).
        """
        q = F.normalize(queries.detach().float(), dim=-1).cpu().numpy()
        scores, slots = self.index.search(np.ascontiguousarray(q), min(k + 1, len(self)))
        scores, slots = torch.from_numpy(scores), torch.from_numpy(slots)
        found = slots >= 0
        rows = self.user_rows[slots.clamp(min=0)]
        keep = found & (rows != self_rows.cpu().unsqueeze(1)) & (scores >= threshold)
        # At most k others: the user itself may take one of the k + 1 places.
        keep &= torch.cumsum(keep.int(), dim=1) <= k
        weights = torch.softmax(scores.masked_fill(~keep, float("-inf")) / SIMILARITY_TEMPERATURE, dim=1)
        weights = torch.nan_to_num(weights) * keep
        retrieved = (weights.unsqueeze(-1) * self.vectors[slots.clamp(min=0)]).sum(1)
        return retrieved.to(queries.device), keep.any(1).to(queries.device)


def build_user_bank(recommender, inter: Interactions, batch_size: int = 4096) -> UserBank:
    """Each training user's vector from the history of their latest impression in ``inter`` (retrieval off)."""
    net = recommender.net
    bank, net.user_bank = net.user_bank, None  # the bank's own vectors are computed without retrieval
    try:
        known = inter.user_rows >= 0
        order = np.lexsort((inter.times, inter.user_rows))
        order = order[known[order]]
        last = np.flatnonzero(np.r_[inter.user_rows[order][1:] != inter.user_rows[order][:-1], True])
        rows = order[last]
        vectors = []
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            history, mask = pad_last(inter.history_ptr, inter.history, chunk, recommender.config.model.max_history)
            times = None
            if inter.history_times is not None:
                times, _ = pad_last(inter.history_ptr, inter.history_times, chunk, recommender.config.model.max_history, UNKNOWN_TIME)
            vectors.append(
                recommender.user_vectors(history, mask, inter.user_rows[chunk], inter.times[chunk], times).cpu().numpy()
            )
        return UserBank(np.concatenate(vectors), inter.user_rows[rows])
    finally:
        net.user_bank = bank
