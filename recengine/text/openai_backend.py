"""OpenAI embeddings (``text-embedding-3-small``, 1536-d) through the official ``openai`` client.

The API key comes from an explicit argument, else ``$OPENAI_API_KEY``, else ``OPENAI_API_KEY`` in
``.streamlit/secrets.toml`` of the current folder. It is handed to the SDK client and kept nowhere
else: no attribute, repr, log line or error message of ours contains it, and our error messages
never quote the server's text (OpenAI's 401 body echoes part of the key).

Retries are ours, not the SDK's (the SDK client is built with ``max_retries=0``): rate limits,
timeouts, connection errors and 5xx answers are retried with exponential backoff and jitter.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import random
import re
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from recengine.errors import InputError, MissingDependencyError, RecengineError
from recengine.text.base import TextEmbedder, normalise_rows

DEFAULT_MODEL = "text-embedding-3-small"
MODEL_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
KEY_NAME = "OPENAI_API_KEY"
SECRETS_FILE = Path(".streamlit") / "secrets.toml"
MAX_BATCH = 2048  # the API's limit on inputs per request
RETRY_STATUSES = (408, 409, 429)  # plus every 5xx
# Server-supplied error codes are quoted only when they look like OpenAI's (``invalid_api_key``), never free
# text: a pattern that admitted capitals or dashes would admit an echoed key.
_ERROR_CODE = re.compile(r"^[a-z0-9_]{1,64}$")

log = logging.getLogger(__name__)


def _key_from_secrets(folder: Path) -> str | None:
    path = folder / SECRETS_FILE
    if not path.is_file():
        return None
    try:
        secrets = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        # The parser's message may quote the offending line, which could be the key itself.
        raise RecengineError(f"{path} is not valid TOML, so {KEY_NAME} cannot be read from it") from None
    value = secrets.get(KEY_NAME)
    return value.strip() if isinstance(value, str) and value.strip() else None


def resolve_api_key(api_key: str | None = None) -> str | None:
    """The key to use: ``api_key``, else ``$OPENAI_API_KEY``, else ``.streamlit/secrets.toml`` here; None if none."""
    if api_key and api_key.strip():
        return api_key.strip()
    from_env = os.environ.get(KEY_NAME, "").strip()
    if from_env:
        return from_env
    return _key_from_secrets(Path.cwd())


def openai_key_configured() -> bool:
    """Whether an OpenAI API key is available (environment or secrets file), without revealing it."""
    try:
        return resolve_api_key() is not None
    except RecengineError:
        return False


def _error_code(exc: Any) -> str:
    body = getattr(exc, "body", None)
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else ""


def _retry_after(exc: Any) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` / ``retry-after``), if it said."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(response.headers[header]) * scale
        except (KeyError, ValueError):
            continue
    return None


def _decode(values: Any) -> np.ndarray | None:
    """One embedding as (d,) float64: base64 little-endian float32 (what we ask for) or, from servers that
    ignore ``encoding_format``, a JSON list of numbers; None if it is neither."""
    if isinstance(values, str):
        try:
            raw = base64.b64decode(values, validate=True)
        except binascii.Error:
            return None
        return np.frombuffer(raw, dtype="<f4").astype(np.float64) if len(raw) % 4 == 0 else None
    # Exact types: numpy would happily turn "0.5" or True into a number.
    if isinstance(values, list) and all(type(v) in (float, int) for v in values):
        return np.asarray(values, dtype=np.float64)
    return None


class OpenAIEmbedder(TextEmbedder):
    """``text-embedding-3-small`` vectors (1536-d, unit rows), ``batch_size`` inputs per request.

    ``client`` (an ``openai.OpenAI``) replaces the one built from the key; build it with
    ``max_retries=0`` so that only this class retries. A failed request is retried up to
    ``max_retries`` times; before retry k (1, 2, ...) it waits a random time between half and all of
    ``min(max_delay, base_delay * 2**(k-1))`` seconds, or what the server's Retry-After asks if that
    is longer (up to ``max_delay``). ``sleep`` is how it waits; ``timeout`` (seconds per request) applies to
    the client built here.
    """

    backend = "openai"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        client: Any = None,
        batch_size: int = MAX_BATCH,
        max_retries: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if model not in MODEL_DIMS:
            raise InputError(f"unknown OpenAI embedding model {model!r}; choose one of: {', '.join(MODEL_DIMS)}")
        if not 1 <= batch_size <= MAX_BATCH:
            raise InputError(f"OpenAI batch size must be between 1 and {MAX_BATCH}, got {batch_size}")
        if max_retries < 0 or base_delay < 0 or max_delay < 0:
            raise InputError("OpenAI max_retries, base_delay and max_delay must not be negative")
        self.model = model
        self.dim = MODEL_DIMS[model]
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        try:
            import openai
        except ImportError:
            raise MissingDependencyError(
                "the openai embedder needs the OpenAI SDK: pip install -r requirements.txt"
            ) from None
        self._openai = openai
        if client is None:
            key = resolve_api_key(api_key)
            if key is None:
                raise RecengineError(
                    f"no OpenAI API key: set {KEY_NAME} in the environment or in {SECRETS_FILE} "
                    "(or use --embedder minilm, which runs locally)"
                )
            client = openai.OpenAI(api_key=key, max_retries=0, timeout=timeout)
        self._client = client

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 with unit rows, in input order; one request per ``batch_size`` texts."""
        texts = list(texts)
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        parts = [self._parse(self._request(batch), len(batch)) for batch in batches]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)

    def _request(self, texts: list[str]) -> Any:
        """One embeddings request, retried on transient failures; SDK errors become one-line RecengineErrors."""
        openai = self._openai
        attempt = 0
        while True:
            try:
                # base64 float32 is what the service sends by default: a list of 1536 JSON floats per
                # text would cost the SDK ~1 s per thousand texts to turn into Python objects.
                return self._client.embeddings.create(model=self.model, input=texts, encoding_format="base64")
            except openai.AuthenticationError:
                raise RecengineError(
                    f"OpenAI rejected the API key (HTTP 401): check {KEY_NAME} in the environment or {SECRETS_FILE}"
                ) from None
            except openai.APIStatusError as exc:
                code = _error_code(exc)
                transient = exc.status_code in RETRY_STATUSES or exc.status_code >= 500
                if code == "insufficient_quota" or not transient:
                    detail = f" ({code})" if code else ""
                    raise RecengineError(
                        f"OpenAI embeddings request failed with HTTP {exc.status_code}{detail} for model {self.model}"
                    ) from None
                reason = f"HTTP {exc.status_code}" + (f" ({code})" if code else "")
                wait = _retry_after(exc)
            except openai.APITimeoutError:
                reason, wait = "timed out", None
            except openai.APIConnectionError:
                reason, wait = "connection failed", None
            except json.JSONDecodeError:
                # The SDK lets a 200 answer whose body is not JSON escape as a JSONDecodeError.
                raise RecengineError("OpenAI returned a malformed embeddings response: the body is not JSON") from None
            attempt += 1
            if attempt > self.max_retries:
                raise RecengineError(
                    f"OpenAI embeddings failed after {attempt} attempts (last: {reason}); "
                    "the service is unreachable or overloaded, try again later"
                )
            ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
            # "Equal jitter": at least half the exponential step, so retries from many processes spread out
            # without collapsing to near-zero waits.
            delay = random.uniform(ceiling / 2, ceiling)
            if wait is not None:
                delay = max(delay, min(wait, self.max_delay))
            log.warning("OpenAI embeddings %s; retry %d of %d in %.1f s", reason, attempt, self.max_retries, delay)
            self._sleep(delay)

    def _parse(self, response: Any, count: int) -> np.ndarray:
        """(count, dim) float32 from a response, placed by each item's ``index``; RecengineError if malformed."""

        def malformed(why: str) -> RecengineError:
            return RecengineError(f"OpenAI returned a malformed embeddings response: {why}")

        data = getattr(response, "data", None)
        if not isinstance(data, list):
            raise malformed(f"no list of embeddings (got {type(response).__name__})")
        if len(data) != count:
            raise malformed(f"{len(data)} embeddings for {count} inputs")
        out = np.empty((count, self.dim), dtype=np.float32)
        seen = np.zeros(count, dtype=bool)
        for item in data:
            index = getattr(item, "index", None)
            if type(index) is not int or not 0 <= index < count or seen[index]:
                raise malformed(f"bad or repeated index {index!r}")
            vector = _decode(getattr(item, "embedding", None))
            if vector is None:
                raise malformed(f"embedding {index} is neither base64 float32 nor a list of numbers")
            if vector.shape != (self.dim,):
                raise malformed(f"embedding {index} has {vector.size} values, expected {self.dim}")
            if not np.isfinite(vector).all() or not vector.any():
                raise malformed(f"embedding {index} is zero or not finite")
            out[index] = vector
            seen[index] = True
        return normalise_rows(out)
