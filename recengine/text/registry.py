"""Text embedders by name: the names are the run schema's (``recengine.config.EMBEDDERS``), each backend class
says which name it implements (its ``backend``), and :func:`get_embedder` builds one.

To add an embedder: a module with a :class:`~recengine.text.base.TextEmbedder` subclass, its class in
``BACKENDS`` below, and its name in ``recengine.config.EMBEDDERS``; tests/test_text.py checks the two agree.
"""

from __future__ import annotations

from typing import Any

from recengine.config import EMBEDDERS
from recengine.errors import InputError
from recengine.text.base import TextEmbedder
from recengine.text.hashing import HashingEmbedder
from recengine.text.minilm import MiniLMEmbedder
from recengine.text.openai_backend import OpenAIEmbedder

BACKENDS: dict[str, type[TextEmbedder]] = {cls.backend: cls for cls in (MiniLMEmbedder, OpenAIEmbedder, HashingEmbedder)}


def get_embedder(name: str, **options: Any) -> TextEmbedder:
    """Build the embedder called ``name`` (one of ``EMBEDDERS``); ``options`` go to its constructor.

    Construction is cheap: models load on first use, and no network call is made.
    """
    if name not in BACKENDS:
        raise InputError(f"unknown embedder {name!r}; choose one of: {', '.join(EMBEDDERS)}")
    return BACKENDS[name](**options)
