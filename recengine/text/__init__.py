"""The text view: embedders that turn article text into unit vectors, and the on-disk cache.

Three backends behind one interface (:class:`TextEmbedder`): ``minilm`` (the default, a local
all-MiniLM-L6-v2, 384-d), ``openai`` (text-embedding-3-small, 1536-d) and ``hashing``
(deterministic feature hashing, for tests). Build one with :func:`get_embedder`; embed a dataset's
articles through the cache with :func:`embed_news`, and warn with :func:`coverage_warning` when
some articles still lack a vector.
"""

from recengine.config import EMBEDDERS
from recengine.text.base import TextEmbedder, normalise_rows
from recengine.text.cache import (
    FIELDS,
    ArticleTexts,
    EmbeddingCache,
    coverage_warning,
    embed_news,
    embed_texts,
    text_hash,
)
from recengine.text.hashing import HashingEmbedder
from recengine.text.minilm import MiniLMEmbedder
from recengine.text.openai_backend import OpenAIEmbedder, openai_key_configured
from recengine.text.registry import BACKENDS, get_embedder

__all__ = [
    "BACKENDS",
    "EMBEDDERS",
    "FIELDS",
    "ArticleTexts",
    "EmbeddingCache",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "TextEmbedder",
    "coverage_warning",
    "embed_news",
    "embed_texts",
    "get_embedder",
    "normalise_rows",
    "openai_key_configured",
    "text_hash",
]
