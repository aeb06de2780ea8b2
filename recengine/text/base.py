"""The one interface every text embedder implements (:mod:`recengine.text.registry` builds them by name)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np


class TextEmbedder(ABC):
    """Turns texts into unit-length float32 vectors.

    ``backend`` and ``model`` together name the vector space (the embedding cache is keyed by
    them), ``dim`` is its width. ``batch_size`` is how many texts a caller should hand to one
    :meth:`embed` call; the embedding cache writes after each such batch.
    """

    backend: str
    model: str
    dim: int
    batch_size: int = 64

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, one L2-normalised row per text, in input order.

        Texts should not be blank (callers such as :func:`recengine.text.embed_texts` leave
        blank texts without a vector rather than asking the model about them).
        """

    def __repr__(self) -> str:
        # Deliberately only these fields: an embedder may hold a credential, and reprs end up in logs.
        return f"{type(self).__name__}(backend={self.backend!r}, model={self.model!r}, dim={self.dim})"


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """(n, d) float32 copy with unit-length rows; all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
