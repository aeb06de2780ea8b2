"""A FAISS index over article vectors: cosine search with stable ids (catalogue rows).

Serving recalls candidates with it (:mod:`recengine.serve`); the model finds the trained
neighbours of unseen articles with it (:meth:`recengine.model.recommender.Recommender.article_vectors`).

Vectors are L2-normalised on the way in, so inner product is cosine similarity. Ids are
the caller's (non-negative int64, normally catalogue rows) and never change: adding appends
without a rebuild, removing drops exactly the ids named.

Which index ``kind="auto"`` builds:

- under :data:`AUTO_EXACT_LIMIT` (100,000) vectors, ``flat``: exact inner product
  (``IndexIDMap2(IndexFlatIP)``). At 51,000 64-d vectors a recall-and-rerank request takes
  about a millisecond on one thread, so an approximate index would buy little and lose recall.
- from there on, ``ivf``: ``IndexIVFFlat`` (inner product, its own ids), nlist ~ 4 sqrt(N),
  nprobe nlist / 16. Not HNSW, although HNSW answers faster: FAISS's HNSW cannot remove ids,
  and a news catalogue changes daily (articles expire, are corrected, are taken down), so it
  would need rebuilding from scratch, and at a million articles that took 440 s against IVF's
  149 s. IVF removes ids in place and appends new ones to their nearest list. Measured by
  ``benchmarks/retrieval.py`` on 1,000,000 clustered 64-d vectors (a loaded 2-core machine):
  IVF recall@200 0.968 at 16 ms per request and 253 MB, HNSW (M 32, efSearch 128) 0.856 at
  0.9 ms and 511 MB, exact search 34 ms. Its centroids are trained once, at build time, on the
  vectors given (a sample when there are many); articles that arrive later join the existing
  lists, so rebuild it when the catalogue has drifted far from what it was trained on.

``hnsw`` (``IndexHNSWFlat``, inner product, M=32, efSearch 128, behind ``IndexIDMap2``)
stays available for catalogues that only grow; :meth:`ArticleIndex.remove` refuses it.
"""

from __future__ import annotations

import math
import os

import numpy as np

from recengine.errors import InputError, MissingDependencyError, RecengineError

KINDS = ("auto", "flat", "hnsw", "ivf")
AUTO_EXACT_LIMIT = 100_000
HNSW_M = 32
HNSW_EF_SEARCH = 128
HNSW_EF_CONSTRUCTION = 64
IVF_MIN_NPROBE = 16
IVF_PROBE_SHARE = 16  # default nprobe: one list in 16
# k-means wants 39+ points per centroid (FAISS warns below); more buys little and costs build time.
IVF_TRAIN_PER_LIST = 40
MAX_K = 100_000
PARALLEL_QUERIES = 16


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a pinned requirement
        raise MissingDependencyError("faiss is not installed: pip install faiss-cpu") from None
    return faiss


def cpu_threads() -> int:
    """The CPUs this process may run on (not the machine's count: containers are often limited)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


_threads = cpu_threads()


def set_threads(threads: int | None = None) -> int:
    """Set the OpenMP threads FAISS uses to build, add and search many queries at once (default: every
    CPU this process may use). Returns the number set.

    Searches of fewer than :data:`PARALLEL_QUERIES` queries run on one thread whatever this says: a
    single query gains nothing from a thread team, and on a loaded machine (or with several requests
    at once) waiting for its threads made one search 10-25x slower in ``benchmarks/retrieval.py``.
    """
    global _threads
    _threads = max(1, int(threads if threads is not None else cpu_threads()))
    _faiss().omp_set_num_threads(_threads)
    return _threads


def ivf_lists(n: int) -> int:
    """nlist for ``n`` training vectors: ~4 sqrt(n), but at least 39 vectors per list."""
    return max(1, min(int(round(4 * math.sqrt(n))), n // 39))


def _matrix(vectors, what: str, dim: int | None = None) -> np.ndarray:
    """(n, d) float32 C-contiguous copy with unit rows; InputError for bad shape, dtype or values."""
    array = np.asarray(vectors)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InputError(f"{what} must be a numeric array, got dtype {array.dtype}")
    if array.ndim != 2:
        raise InputError(f"{what} must be 2-d (n, d), got shape {array.shape}")
    if array.shape[1] == 0:
        raise InputError(f"{what} have zero dimensions")
    if dim is not None and array.shape[1] != dim:
        raise InputError(f"{what} have {array.shape[1]} dimensions, the index has {dim}")
    matrix = np.array(array, dtype=np.float32, order="C")  # a copy: normalised in place below
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise InputError(f"{what} contain NaN or Inf (row {int(np.flatnonzero(~finite)[0])})")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


def _ids(ids, n: int) -> np.ndarray:
    """(n,) int64 ids, non-negative and distinct; InputError otherwise."""
    array = np.asarray(ids)
    if array.size == 0:
        array = array.astype(np.int64)  # np.asarray([]) is float64
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"ids must be a 1-d integer array, got dtype {array.dtype} and shape {array.shape}")
    if len(array) != n:
        raise InputError(f"{len(array)} ids for {n} vectors")
    array = array.astype(np.int64)
    if len(array) and array.min() < 0:
        raise InputError("ids must be >= 0 (-1 marks an empty search result)")
    if len(np.unique(array)) != len(array):
        raise InputError("ids repeat")
    return array


class ArticleIndex:
    """Cosine top-k over article vectors with stable int64 ids. Not thread-safe: callers hold a lock."""

    def __init__(self, index, kind: str, dim: int, ids: np.ndarray):
        self._index = index
        self._kind = kind
        self._dim = dim
        self._present = np.sort(ids)  # sorted ids held, to refuse duplicates and unknown removals

    @classmethod
    def build(
        cls,
        vectors,
        ids,
        kind: str = "auto",
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        ef_search: int = HNSW_EF_SEARCH,
        seed: int = 0,
    ) -> "ArticleIndex":
        """Index ``vectors`` (N, d) under ``ids`` (N,); ``kind`` auto, flat, hnsw or ivf (see the module notes).

        ``nlist`` (IVF lists, default ~4 sqrt(N)) and ``nprobe`` (lists scanned per query, default
        nlist / 16, at least 16) apply to IVF, ``ef_search`` to HNSW; ``seed`` picks the IVF training sample.
        """
        if kind not in KINDS:
            raise InputError(f"index kind must be one of {', '.join(KINDS)}, got {kind!r}")
        matrix = _matrix(vectors, "vectors")
        ids = _ids(ids, len(matrix))
        n, dim = matrix.shape
        if kind == "auto":
            kind = "flat" if n < AUTO_EXACT_LIMIT else "ivf"
        faiss = _faiss()
        faiss.omp_set_num_threads(_threads)
        if kind == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif kind == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = _positive(ef_search, "ef_search")
            index = faiss.IndexIDMap2(inner)
        else:
            index = cls._ivf(matrix, nlist, None if nprobe is None else _positive(nprobe, "nprobe"), seed)
        if n:
            index.add_with_ids(matrix, ids)
        return cls(index, kind, dim, ids)

    @staticmethod
    def _ivf(matrix: np.ndarray, nlist: int | None, nprobe: int | None, seed: int):
        faiss = _faiss()
        n, dim = matrix.shape
        nlist = ivf_lists(n) if nlist is None else _positive(nlist, "nlist")
        if n < nlist:
            raise InputError(f"an IVF index with {nlist} lists needs at least {nlist} vectors to train, got {n}")
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = matrix
        if n > IVF_TRAIN_PER_LIST * nlist:
            rows = np.random.default_rng(seed).choice(n, IVF_TRAIN_PER_LIST * nlist, replace=False)
            sample = matrix[np.sort(rows)]
        index.cp.seed = seed
        index.train(sample)
        index.nprobe = min(nprobe or max(IVF_MIN_NPROBE, nlist // IVF_PROBE_SHARE), nlist)
        return index

    # ------------------------------------------------------------------ properties

    @property
    def kind(self) -> str:
        """'flat', 'hnsw' or 'ivf' (what 'auto' resolved to)."""
        return self._kind

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def ids(self) -> np.ndarray:
        """(N,) int64 ids held, sorted (a copy)."""
        return self._present.copy()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __contains__(self, article_id: int) -> bool:
        i = np.searchsorted(self._present, article_id)
        return bool(i < len(self._present) and self._present[i] == article_id)

    @property
    def nprobe(self) -> int | None:
        """IVF lists scanned per query (None for other kinds)."""
        return int(self._index.nprobe) if self._kind == "ivf" else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self._kind != "ivf":
            raise RecengineError(f"nprobe applies to IVF indexes, this one is {self._kind}")
        self._index.nprobe = min(_positive(value, "nprobe"), int(self._index.nlist))

    def nbytes(self) -> int:
        """Size of the serialised index in bytes (vectors, ids and any graph or centroids)."""
        return int(_faiss().serialize_index(self._index).nbytes)

    # ------------------------------------------------------------------ changes

    def add(self, vectors, ids) -> None:
        """Append ``vectors`` (n, d) under new ``ids`` (n,); no rebuild (IVF assigns them to trained lists)."""
        matrix = _matrix(vectors, "vectors", self._dim)
        ids = _ids(ids, len(matrix))
        held = ids[np.isin(ids, self._present)]
        if len(held):
            raise InputError(f"ids already in the index: {', '.join(map(str, held[:10].tolist()))}")
        if len(ids):
            _faiss().omp_set_num_threads(_threads)
            self._index.add_with_ids(matrix, ids)
            self._present = np.union1d(self._present, ids)

    def remove(self, ids) -> int:
        """Drop ``ids`` from the index (flat and IVF); returns how many were removed.

        Raises RecengineError for HNSW, which FAISS cannot remove from (rebuild it instead),
        and InputError for ids not in the index.
        """
        if self._kind == "hnsw":
            raise RecengineError(
                "an HNSW index cannot remove ids (a FAISS limitation); rebuild it, or use kind='flat' or 'ivf' "
                "for a catalogue whose articles are removed"
            )
        array = np.unique(np.asarray(ids, dtype=np.int64).ravel())
        missing = array[~np.isin(array, self._present)]
        if len(missing):
            raise InputError(f"ids not in the index: {', '.join(map(str, missing[:10].tolist()))}")
        if not len(array):
            return 0
        removed = int(self._index.remove_ids(array))
        self._present = np.setdiff1d(self._present, array, assume_unique=True)
        return removed

    # ------------------------------------------------------------------ search

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` by cosine for each of ``queries`` (B, d): scores (B, k) float32 and ids (B, k) int64.

        Rows with fewer than ``k`` results are padded with id -1 and score -inf. Queries are
        normalised here; a zero query scores 0 against everything.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
            raise InputError(f"k must be a whole number between 1 and {MAX_K:,}, got {k!r}")
        matrix = _matrix(queries, "queries", self._dim)
        k = int(k)
        found = min(k, len(self))
        scores = np.full((len(matrix), k), -np.inf, dtype=np.float32)
        ids = np.full((len(matrix), k), -1, dtype=np.int64)
        if found and len(matrix):
            _faiss().omp_set_num_threads(1 if len(matrix) < PARALLEL_QUERIES else _threads)
            got_scores, got_ids = self._index.search(matrix, found)
            empty = got_ids < 0
            got_scores[empty] = -np.inf
            scores[:, :found], ids[:, :found] = got_scores, got_ids
        return scores, ids


def _positive(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{what} must be a whole number >= 1, got {value!r}")
    return int(value)
