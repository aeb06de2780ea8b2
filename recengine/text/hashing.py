"""Signed feature hashing: a deterministic, dependency-free embedder (numpy only) for tests and quick runs.

Features are lowercase word unigrams, word bigrams and the character trigrams of each word, each
hashed with BLAKE2b (never Python's per-process salted ``hash()``) to a bucket and a sign. Texts
that share words share buckets, so they end up closer than unrelated texts; the same text gives
the same bytes in every process.
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from itertools import repeat
from typing import Sequence

import numpy as np

from recengine.errors import InputError
from recengine.text.base import TextEmbedder, normalise_rows

DEFAULT_DIM = 256
# Part of the model name, hence of the cache key: change it whenever the features or weights change,
# or vectors cached under the old scheme would be mixed with new ones.
SCHEME = "hash-v1"
BIGRAM_WEIGHT = 0.5
# Total weight of one word's trigrams (spread over them), so long words do not outweigh short ones.
TRIGRAM_WEIGHT = 0.5
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1 << 18)
def _code(feature: str, dim: int) -> int:
    """2 * bucket + sign bit of one feature string (bucket in [0, dim)); cached because vocabularies repeat."""
    value = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return ((value >> 1) % dim) * 2 + (value & 1)


def _features(text: str) -> tuple[list[str], list[float]]:
    """The feature strings of one text and their weights."""
    lowered = text.lower()
    # A text of punctuation only still gets features, so that only blank text has no vector.
    words = _WORD.findall(lowered) or lowered.split()
    features = ["w:" + w for w in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    weights = [1.0] * len(words) + [BIGRAM_WEIGHT] * (len(features) - len(words))
    for word in words:
        padded = f"<{word}>"
        trigrams = len(padded) - 2
        features += ["c:" + padded[i : i + 3] for i in range(trigrams)]
        weights += [TRIGRAM_WEIGHT / math.sqrt(trigrams)] * trigrams
    return features, weights


class HashingEmbedder(TextEmbedder):
    """Feature-hashing embedder; ``dim`` buckets (default 256)."""

    backend = "hashing"

    def __init__(self, dim: int = DEFAULT_DIM, batch_size: int = 1024):
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise InputError(f"hashing dim must be an integer >= 2, got {dim!r}")
        self.dim = dim
        self.model = f"{SCHEME}-{dim}d"
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 with unit rows (a blank text gives a zero row)."""
        features: list[str] = []
        weights: list[float] = []
        counts = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            text_features, text_weights = _features(text)
            features += text_features
            weights += text_weights
            counts[row] = len(text_features)
        codes = np.fromiter(map(_code, features, repeat(self.dim)), dtype=np.int64, count=len(features))
        signed = np.asarray(weights, dtype=np.float64) * np.where(codes & 1, 1.0, -1.0)
        cells = np.repeat(np.arange(len(texts), dtype=np.int64), counts) * self.dim + (codes >> 1)
        matrix = np.bincount(cells, weights=signed, minlength=len(texts) * self.dim)
        return normalise_rows(matrix.reshape(len(texts), self.dim))
