"""The on-disk embedding cache, and cached embedding of texts and of a dataset's articles.

One SQLite file per (backend, model) holds ``embeddings(text_hash TEXT PRIMARY KEY, vector BLOB)``,
the vector being the float32 bytes of one unit row and the hash the SHA-256 of the UTF-8 text. The
files are in WAL mode with a busy timeout, so several processes can read and write one cache at
once, and each batch is written in one transaction, so a crash never leaves a half-written vector.
A second run over the same texts embeds nothing; a new article embeds only itself.
"""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from recengine.errors import InputError, RecengineError
from recengine.text.base import TextEmbedder
from recengine.workspace import Workspace

if TYPE_CHECKING:
    from recengine.data.mind import News

FIELDS = ("title", "title+abstract")
MISSING_MODES = ("embed", "skip")
BUSY_TIMEOUT_S = 60.0
# SQLite's limit on bound parameters was 999 before 3.32; stay under it for old builds.
_MAX_PARAMS = 900
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

Progress = Callable[[int, int], None]


def text_hash(text: str) -> str:
    """The cache key of one text: SHA-256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Embedding vectors on disk under ``folder`` (default ``<workspace>/cache/embeddings``), one file per model."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else Workspace.default().cache / "embeddings"

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.folder)!r})"

    def path(self, embedder: TextEmbedder) -> Path:
        """The SQLite file of ``embedder``'s (backend, model)."""
        return self.folder / f"{_UNSAFE.sub('_', embedder.backend)}__{_UNSAFE.sub('_', embedder.model)}.sqlite"

    @contextmanager
    def _connect(self, embedder: TextEmbedder) -> Iterator[sqlite3.Connection]:
        """An open connection to ``embedder``'s file (created if needed); SQLite errors become RecengineErrors."""
        path = self.path(embedder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecengineError(f"cannot create the embedding cache folder {self.folder}: {exc.strerror}") from None
        try:
            # IMMEDIATE: a writer takes the write lock when its transaction starts, so two writers
            # queue on the busy timeout instead of failing while upgrading a read lock.
            with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level="IMMEDIATE")) as conn:
                _use_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS embeddings (text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL)"
                )
                conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                expected = {"backend": embedder.backend, "model": embedder.model, "dim": str(embedder.dim)}
                found = dict(conn.execute("SELECT key, value FROM meta"))
                if not found:  # a new file; checked first so that plain readers never take the write lock
                    with conn:
                        conn.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", expected.items())
                    found = dict(conn.execute("SELECT key, value FROM meta"))
                if any(found.get(k) != v for k, v in expected.items()):
                    raise RecengineError(
                        f"embedding cache {path} holds {found.get('backend')}/{found.get('model')} vectors of "
                        f"dimension {found.get('dim')}, not {embedder.backend}/{embedder.model} ({embedder.dim}); "
                        "move it away or delete it"
                    )
                yield conn
        except sqlite3.Error as exc:
            raise RecengineError(
                f"embedding cache {path} cannot be used ({exc}); if it is damaged, delete it and embed again"
            ) from None

    def lookup(self, embedder: TextEmbedder, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors ((dim,) float32 each) of those ``hashes`` that have one; never creates a file."""
        if not self.path(embedder).exists():
            return {}
        found: dict[str, np.ndarray] = {}
        with self._connect(embedder) as conn:
            for start in range(0, len(hashes), _MAX_PARAMS):
                chunk = list(hashes[start : start + _MAX_PARAMS])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT text_hash, vector FROM embeddings WHERE text_hash IN ({marks})", chunk)
                for key, blob in rows:
                    # A row of the wrong size or with NaN/Inf (damage, or another program's) counts as missing and
                    # is embedded again, which overwrites it.
                    if isinstance(blob, bytes) and len(blob) == 4 * embedder.dim:
                        vector = np.frombuffer(blob, dtype="<f4")
                        if np.isfinite(vector).all():
                            found[key] = vector
        return found

    def store(self, embedder: TextEmbedder, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Write ``vectors`` ((len(hashes), dim) float32) under ``hashes``, all in one transaction."""
        rows = [(key, np.asarray(vector, dtype="<f4").tobytes()) for key, vector in zip(hashes, vectors)]
        with self._connect(embedder) as conn, conn:
            conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", rows)

    def count(self, embedder: TextEmbedder) -> int:
        """How many vectors are cached for ``embedder``'s (backend, model)."""
        if not self.path(embedder).exists():
            return 0
        with self._connect(embedder) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])


def _embed(
    texts: Sequence[str],
    embedder: TextEmbedder,
    cache: EmbeddingCache | str | Path | None,
    progress: Progress | None,
    missing: str,
) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`embed_texts`, plus how many distinct texts were sent to the embedder."""
    if missing not in MISSING_MODES:
        raise InputError(f"missing must be one of {', '.join(MISSING_MODES)}, got {missing!r}")
    if cache is not None and not isinstance(cache, EmbeddingCache):
        cache = EmbeddingCache(cache)
    matrix = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    has_vector = np.zeros(len(texts), dtype=bool)
    rows_of: dict[str, list[int]] = {}  # distinct text hash -> rows holding that text, first-seen order
    text_of: dict[str, str] = {}
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {row} is a {type(text).__name__}, not a string")
        if not text.strip():
            continue  # nothing to embed: the row keeps no vector
        key = text_hash(text)
        rows_of.setdefault(key, []).append(row)
        text_of.setdefault(key, text)

    def fill(key: str, vector: np.ndarray) -> None:
        matrix[rows_of[key]] = vector
        has_vector[rows_of[key]] = True

    cached = cache.lookup(embedder, list(rows_of)) if cache is not None else {}
    for key, vector in cached.items():
        fill(key, vector)
    todo = [key for key in rows_of if key not in cached]
    if missing == "skip" or not todo:
        return matrix, has_vector, 0
    if progress is not None:
        progress(0, len(todo))
    for start in range(0, len(todo), embedder.batch_size):
        batch = todo[start : start + embedder.batch_size]
        vectors = np.asarray(embedder.embed([text_of[key] for key in batch]), dtype=np.float32)
        if vectors.shape != (len(batch), embedder.dim):
            raise RecengineError(
                f"the {embedder.backend} embedder returned shape {vectors.shape} for {len(batch)} texts "
                f"(expected ({len(batch)}, {embedder.dim}))"
            )
        # Written batch by batch, so an interrupted run keeps what it finished.
        if cache is not None:
            cache.store(embedder, batch, vectors)
        for key, vector in zip(batch, vectors):
            fill(key, vector)
        if progress is not None:
            progress(start + len(batch), len(todo))
    return matrix, has_vector, len(todo)


def embed_texts(
    texts: Sequence[str],
    embedder: TextEmbedder,
    cache: EmbeddingCache | str | Path | None = None,
    progress: Progress | None = None,
    missing: str = "embed",
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of ``texts``: (matrix (n, dim) float32, has_vector (n,) bool).

    Cached vectors are read from ``cache`` (an :class:`EmbeddingCache` or its folder; None: no cache).
    With ``missing="embed"`` the distinct uncached texts go to ``embedder`` in batches of
    ``embedder.batch_size``, each batch cached as soon as it is done, and ``progress(done, total)`` is
    called over those distinct texts. With ``missing="skip"`` nothing is computed. Blank texts, and
    texts skipped, get a zero row and ``has_vector`` False.
    """
    matrix, has_vector, _ = _embed(texts, embedder, cache, progress, missing)
    return matrix, has_vector


@dataclass
class ArticleTexts:
    """Text vectors of a dataset's articles: ``matrix[i]`` belongs to ``ids[i]`` (the news order)."""

    ids: np.ndarray  # (n,) object: article ids
    matrix: np.ndarray  # (n, dim) float32; zero rows where has_vector is False
    has_vector: np.ndarray  # (n,) bool
    backend: str
    model: str
    dim: int
    fields: str
    newly_embedded: int  # distinct texts computed by this call (0 when everything was cached)

    @property
    def coverage(self) -> float:
        """Fraction of articles that have a vector (0.0 when there are no articles)."""
        return float(self.has_vector.mean()) if len(self.has_vector) else 0.0


def check_fields(fields: str) -> None:
    """Raise InputError unless ``fields`` is one of :data:`FIELDS`."""
    if fields not in FIELDS:
        raise InputError(f"fields must be one of {', '.join(FIELDS)}, got {fields!r}")


def embed_news(
    news: "News",
    embedder: TextEmbedder,
    cache: EmbeddingCache | str | Path | None = None,
    fields: str = "title+abstract",
    progress: Progress | None = None,
    missing: str = "embed",
) -> ArticleTexts:
    """Embed every article's ``fields`` text ('title' or 'title+abstract'); see :func:`embed_texts`."""
    check_fields(fields)
    matrix, has_vector, computed = _embed(news.texts(fields), embedder, cache, progress, missing)
    return ArticleTexts(
        ids=news.ids,
        matrix=matrix,
        has_vector=has_vector,
        backend=embedder.backend,
        model=embedder.model,
        dim=embedder.dim,
        fields=fields,
        newly_embedded=computed,
    )


def _percent(fraction: float) -> str:
    # Rounded down, so that 99.999% never reads as 100%.
    return f"{math.floor(fraction * 10000) / 100:.2f}%"


def coverage_warning(coverage: float) -> str | None:
    """None when every article has a text vector; otherwise a warning sentence that is hard to miss."""
    if not 0.0 <= coverage <= 1.0:
        raise ValueError(f"coverage must be a fraction in [0, 1], got {coverage!r}")
    if coverage == 1.0:
        return None
    shortfall = f"only {_percent(coverage)} of articles have a text vector; the others get a zero text view"
    fix = "Embed them first (python -m recengine embed --data DIR --embedder NAME, without --only-cached)."
    if coverage >= 0.5:
        return f"WARNING: {shortfall}. {fix}"
    return (
        f"WARNING: {shortfall}, so a model trained like this learns to ignore the text view "
        f"(a past run trained at 2.94% coverage and concluded that nothing worked). {fix}"
    )


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so). Two processes creating the same new file both switch it, and
    SQLite can answer the second "database is locked" at once, without waiting on the busy timeout: retry until
    the timeout has passed, as the busy handler would have."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
