"""Training losses. Every batch row holds one click (column 0) and K non-clicks of the same impression.

``gamma`` > 0 turns each loss into its focal form (Lin et al. 2017): every example's term is multiplied by
(1 - p_t)^gamma, p_t being the probability the model gives to the right answer, so that examples it already
gets right count less. At gamma 0 each loss is exactly its plain form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _focal_softmax(logits: torch.Tensor, gamma: float) -> torch.Tensor:
    """Mean over rows of (1 - p_click)^gamma * -log p_click, the click in column 0 (masked columns at -inf)."""
    log_p = F.log_softmax(logits, dim=1)[:, 0]
    if gamma == 0:
        return -log_p.mean()
    return (-(1 - log_p.exp()).pow(gamma) * log_p).mean()


def listwise(logits: torch.Tensor, gamma: float = 0.0) -> torch.Tensor:
    """Softmax over 1 click + K non-clicks (the MIND standard). logits (B, 1+K) -> scalar."""
    return _focal_softmax(logits, gamma)


def bce(
    logits: torch.Tensor,
    pos_weight: float = 1.0,
    on_probabilities: bool = False,
    gamma: float = 0.0,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pointwise binary cross-entropy, the click in column 0; a weighted mean. The click weighs ``pos_weight``
    times a non-click, unless ``weights`` (B, 1+K) gives every term's weight (oversampling zeroes the unused
    columns of its extra click rows).

    ``on_probabilities`` reproduces seeds/001's pipeline: sigmoid first, then BCE on probabilities.
    In float32 a logit above ~17 rounds the sigmoid to exactly 1.0, BCE clamps log(0) to -100 and the
    gradient vanishes: the loss sits near 100 x (share of non-clicks) and does not fall.
    """
    if weights is None:
        weights = torch.ones_like(logits)
        weights[:, 0] = pos_weight
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    if on_probabilities:
        terms = F.binary_cross_entropy(torch.sigmoid(logits), labels, reduction="none")
    else:
        terms = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    if gamma > 0:
        terms = (1 - torch.exp(-terms)).pow(gamma) * terms  # exp(-BCE) is p_t, the right answer's probability
    return (terms * weights).sum() / weights.sum()


def infonce(logits: torch.Tensor, valid: torch.Tensor, gamma: float = 0.0) -> torch.Tensor:
    """InfoNCE with in-batch negatives: column 0 is the user's click; invalid columns are masked.

    logits (B, M) over the user's own candidates followed by the other users' clicks; valid (B, M) bool.
    """
    return _focal_softmax(logits.masked_fill(~valid, float("-inf")), gamma)


def category(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The auxiliary task: cross-entropy of (N, n_categories) logits against (N,) category indices."""
    return F.cross_entropy(logits, labels)
