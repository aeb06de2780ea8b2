"""Training losses. Every batch row holds one click (column 0) and K non-clicks of the same impression."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def listwise(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over 1 click + K non-clicks (the MIND standard). logits (B, 1+K) -> scalar."""
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def bce(logits: torch.Tensor, pos_weight: float, on_probabilities: bool = False) -> torch.Tensor:
    """Pointwise binary cross-entropy; the click in column 0 weighs ``pos_weight`` times a non-click.

    ``on_probabilities`` reproduces seeds/001's pipeline: sigmoid first, then BCE on probabilities.
    In float32 a logit above ~17 rounds the sigmoid to exactly 1.0, BCE clamps log(0) to -100 and the
    gradient vanishes: the loss sits near 100 x (share of non-clicks) and does not fall.
    """
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    weights = torch.ones_like(logits)
    weights[:, 0] = pos_weight
    if on_probabilities:
        return F.binary_cross_entropy(torch.sigmoid(logits), labels, weight=weights, reduction="sum") / weights.sum()
    return F.binary_cross_entropy_with_logits(logits, labels, weight=weights, reduction="sum") / weights.sum()


def infonce(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """InfoNCE with in-batch negatives: column 0 is the user's click; invalid columns are masked.

    logits (B, M) over the user's own candidates followed by the other users' clicks; valid (B, M) bool.
    """
    masked = logits.masked_fill(~valid, float("-inf"))
    return F.cross_entropy(masked, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
