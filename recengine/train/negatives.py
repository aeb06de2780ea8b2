"""Hard negatives and oversampled clicks: how a training batch departs from "each click with K random
non-clicks of its impression" (``hard_negatives``, ``class_balance`` in :class:`recengine.config.TrainConfig`).

Hard negatives are the non-clicks the current model scores highest, found without gradients before each step:
from the click's own impression, and (``impression+recall``) from a random sample of the trained catalogue,
excluding the articles the reader clicked. Only a share of the K negatives is hard; the rest stay random,
because all-hard negatives are full of articles the reader would have liked (false negatives).
"""

from __future__ import annotations

import numpy as np
import torch

RECALL_POOL = 256  # catalogue articles sampled per step as recall candidates (the same sample for every row)


def hard_counts(negatives: int, share: float, mode: str) -> tuple[int, int]:
    """(from the impression, from recall): how many of the K negatives are hard. At least one when on; with
    recall the impression keeps the larger half."""
    if mode == "none":
        return 0, 0
    hard = min(negatives, max(1, round(share * negatives)))
    recall = hard // 2 if mode == "impression+recall" else 0
    return hard - recall, recall


def top_valid(scores: torch.Tensor, valid: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the columns of the ``n`` highest ``scores`` among ``valid`` ones, best first: (B, n) column
    indices and (B, n) found (False where a row has fewer than ``n`` valid columns)."""
    masked = scores.masked_fill(~valid, float("-inf"))
    n = min(n, scores.shape[1])
    values, columns = masked.topk(n, dim=1)
    return columns, torch.isfinite(values)


def place(candidates: np.ndarray, first: int, pool: np.ndarray, columns: np.ndarray, found: np.ndarray) -> None:
    """Write ``pool[row, columns]`` into ``candidates[:, first:first + n]`` where ``found`` (in place); the
    random negatives stay where a row has too few hard ones."""
    n = columns.shape[1]
    picked = np.take_along_axis(pool, columns, axis=1)
    target = candidates[:, first : first + n]
    target[found] = picked[found]


def recall_valid(pool: np.ndarray, clicked: np.ndarray, history: np.ndarray) -> np.ndarray:
    """(B, P) bool: pool articles that are neither the row's click (B,) nor in its history (B, L, -1 padded)."""
    in_history = (pool[:, :, None] == history[:, None, :]).any(axis=2)
    return (pool != clicked[:, None]) & ~in_history


def oversampled(samples: np.ndarray, ratio: float, clicks: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` followed by round((ratio - 1) x len(samples)) more clicks drawn from all ``clicks`` with
    repeats: the batch then holds ``ratio`` click rows per row of K non-clicks."""
    extra = max(0, round((ratio - 1) * len(samples)))
    return np.concatenate([samples, rng.integers(0, clicks, size=extra)])


def oversample_weights(rows: int, primary: int, width: int, device: torch.device) -> torch.Tensor:
    """(rows, width) loss weights: 1 everywhere, except the non-click columns of the extra click rows (those
    repeat their click, so that encoding them costs nothing, and must not count)."""
    weights = torch.ones(rows, width, device=device)
    weights[primary:, 1:] = 0
    return weights
