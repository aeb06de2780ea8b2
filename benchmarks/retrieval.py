"""Retrieval for serving: FAISS index build time and memory, approximate recall, two-stage latency.

    .venv/bin/python benchmarks/retrieval.py --preset small                  # generates small, trains 1 epoch
    .venv/bin/python benchmarks/retrieval.py --preset small --run RUN        # a trained run on small
    .venv/bin/python benchmarks/retrieval.py --synthetic-vectors 1000000     # random clustered 64-d vectors

Prints one JSON object. ``source`` says where the article vectors came from: a trained run's article
vectors (queries: 1,000 users' vectors from their histories) or random clustered vectors (queries
drawn around the same centres). For each index kind (flat, ivf, hnsw; ``auto_kind`` says which one
``kind="auto"`` picks at this size):

- ``build_seconds``, ``rss_delta_mb`` (resident memory added by the build) and ``index_mb`` (serialised size);
- ``recall_at_200``: share of the exact top-200 (brute-force inner product) that the index returns, over
  1,000 queries;
- ``two_stage_ms`` p50/p99 over 500 requests of one two-stage recommendation on CPU: recall the top 200
  for one user vector, then rerank them with the model's scorer (cosine / tau + ID bias + freshness). With
  a run, the model is the run's own (``Recommender.score_pairs``), the user vector is encoded from the
  history, and ``service_ms`` also times ``RecommenderService.recommend`` end to end (history read from
  the store, contributions per view); with random vectors the scorer is a ``RecommenderNet``'s
  ``logits`` over random ID biases and ages.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch

from recengine.index import AUTO_EXACT_LIMIT, ArticleIndex, set_threads

CANDIDATES = 200
QUERIES = 1000
REQUESTS = 500
KINDS = ("flat", "ivf", "hnsw")
ARTICLES_PER_CLUSTER = 100


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _percentiles(times: list[float]) -> dict:
    ms = np.asarray(times) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p99": round(float(np.percentile(ms, 99)), 3)}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) row ids of the exact top-k by inner product of unit vectors, in blocks to bound memory."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 100):
        scores = _unit(queries[start : start + 100]) @ vectors.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        out[start : start + 100] = part
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(np.intersect1d(f[f >= 0], t)) for f, t in zip(found, truth)]
    return round(float(np.sum(hits) / truth.size), 4)


def clustered(n: int, dim: int, seed: int, clusters: int) -> np.ndarray:
    """Unit vectors around ``clusters`` fixed centres (the same centres for every seed), in float32."""
    centres = np.random.default_rng(12345).standard_normal((clusters, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        noise = rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = centres[rng.integers(0, clusters, m)] + 0.35 * noise
    return _unit(out)


def measure_kind(
    kind: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, rerank, requests: np.ndarray
) -> dict:
    """Build ``kind`` over ``vectors``; recall of ``queries`` against ``truth``; latency of ``requests``."""
    before = _rss_mb()
    started = time.perf_counter()
    index = ArticleIndex.build(vectors, np.arange(len(vectors)), kind)
    build = time.perf_counter() - started
    rss = _rss_mb() - before
    _, found = index.search(queries, CANDIDATES)
    times = []
    for q in requests:
        t0 = time.perf_counter()
        _, ids = index.search(queries[q : q + 1], CANDIDATES)
        rerank(q, ids[0])
        times.append(time.perf_counter() - t0)
    result = {
        "build_seconds": round(build, 3),
        "rss_delta_mb": round(rss, 1),
        "index_mb": round(index.nbytes() / 2**20, 1),
        "recall_at_200": recall(found, truth),
        "two_stage_ms": _percentiles(times),
    }
    if kind == "ivf":
        result["nlist"], result["nprobe"] = int(index._index.nlist), index.nprobe
    del index
    return result


def synthetic(n: int, dim: int, kinds: list[str]) -> dict:
    from recengine.config import ModelConfig
    from recengine.model.network import RecommenderNet

    # About 100 articles per cluster at every size, so the top 200 always spans several clusters
    # (with a fixed number of clusters, a large catalogue's top 200 sits inside one and recall is trivial).
    clusters = max(100, n // ARTICLES_PER_CLUSTER)
    print(f"drawing {n:,} {dim}-d vectors around {clusters:,} centres", file=sys.stderr)
    vectors = clustered(n, dim, 1, clusters)
    queries = clustered(QUERIES, dim, 2, clusters)
    truth = exact_top(vectors, queries, CANDIDATES)
    net = RecommenderNet(ModelConfig(views=("id",), dim=dim), n_articles=1, n_users=1, text_dim=1, num_entities=0,
                         entity_dim=None).eval()
    with torch.no_grad():
        net.freshness.weight.normal_()
    rng = np.random.default_rng(3)
    bias = torch.from_numpy(rng.normal(size=n).astype(np.float32))
    age = torch.from_numpy(rng.integers(0, 72 * 3600, size=n))
    table, users = torch.from_numpy(vectors), torch.from_numpy(queries)

    @torch.no_grad()
    def rerank(q: int, ids: np.ndarray) -> None:
        rows = torch.from_numpy(ids[ids >= 0])
        net.logits(users[q : q + 1], table[rows].unsqueeze(0), bias[rows].unsqueeze(0), age[rows].unsqueeze(0))

    requests = rng.integers(0, QUERIES, REQUESTS)
    out = {"source": f"random clustered vectors ({n:,} x {dim}, {clusters:,} centres)", "articles": n, "dim": dim}
    out["auto_kind"] = "flat" if n < AUTO_EXACT_LIMIT else "ivf"
    for kind in kinds:
        print(f"building {kind}", file=sys.stderr)
        out[kind] = measure_kind(kind, vectors, queries, truth, rerank, requests)
    return out


def from_run(run: Path, kinds: list[str], store_path: Path) -> dict:
    from recengine.data.store import Store
    from recengine.serve import RecommenderService

    print(f"loading {run}", file=sys.stderr)
    service = RecommenderService(run, Store(store_path))
    rec = service.recommender
    vectors = service.state.indexed
    users = service.store.users(service.dataset)["user_id"].to_numpy(dtype=object)
    chosen = users[np.random.default_rng(0).permutation(len(users))[:QUERIES]]
    length = rec.config.model.max_history
    histories = [rec.catalog.articles.rows(service.store.user_history(service.dataset, u, limit=length)) for u in chosen]
    from recengine.serve.coldstart import user_vector

    user_rows = rec.users.rows(list(chosen))
    queries = torch.cat([user_vector(rec, h[h >= 0], int(r), service.now) for h, r in zip(histories, user_rows)]).numpy()
    truth = exact_top(vectors, queries, CANDIDATES)

    def rerank(q: int, ids: np.ndarray) -> None:
        # The user vector is encoded inside the request, as serving does.
        u = user_vector(rec, histories[q][histories[q] >= 0], -1, service.now)
        rows = ids[ids >= 0]
        rec.score_pairs(u.expand(len(rows), -1), rows, np.full(len(rows), service.now))

    requests = np.random.default_rng(3).integers(0, QUERIES, REQUESTS)
    out = {
        "source": f"article vectors of the trained run {run} ({len(vectors):,} articles); "
        f"queries: {QUERIES:,} users' vectors",
        "articles": len(vectors),
        "dim": int(vectors.shape[1]),
        "auto_kind": service.index.kind,
    }
    for kind in kinds:
        print(f"building {kind}", file=sys.stderr)
        out[kind] = measure_kind(kind, vectors, queries, truth, rerank, requests)
    times = []
    for q in requests:
        t0 = time.perf_counter()
        service.recommend(chosen[q], k=10, candidates=CANDIDATES)
        times.append(time.perf_counter() - t0)
    out["service_ms"] = _percentiles(times)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("small", "large"), default="small", help="synthetic preset to train on")
    parser.add_argument("--run", type=Path, help="a trained run (default: generate the preset and train 1 epoch)")
    parser.add_argument("--synthetic-vectors", type=int, help="use N random clustered vectors instead of a run")
    parser.add_argument("--dim", type=int, default=64, help="width of the random vectors (default: 64)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="index kinds to measure (default: flat,ivf,hnsw)")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    threads = set_threads()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    if args.synthetic_vectors:
        result = synthetic(args.synthetic_vectors, args.dim, kinds)
    else:
        with tempfile.TemporaryDirectory(prefix="retrieval-bench-") as tmp:
            os.environ.setdefault("RECENGINE_HOME", str(Path(tmp) / "home"))
            run = args.run
            if run is None:
                from recengine.config import ModelConfig, RunConfig, TrainConfig
                from recengine.data.synthetic import generate
                from recengine.train.api import train_run

                print(f"generating {args.preset} and training 1 epoch (hashing embedder)", file=sys.stderr)
                generate(args.preset, 0, Path(tmp) / "data")
                run = Path(tmp) / "run"
                train_run(Path(tmp) / "data", RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=1)), out=run)
            result = from_run(run, kinds, Path(tmp) / "store.db")
    result["threads"] = threads
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
