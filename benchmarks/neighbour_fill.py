"""The neighbour search behind an unseen article's ID vector: exact top-k against the IVF path, by size.

    .venv/bin/python benchmarks/neighbour_fill.py                                # 100k unseen x 100k trained
    .venv/bin/python benchmarks/neighbour_fill.py --unseen 600000 --trained 400000 --skip-exact
    .venv/bin/python benchmarks/neighbour_fill.py --run RUN                      # a trained run's dev split

``recengine.model.recommender.nearest`` finds each unseen article's 10 most similar trained articles
by content (unit (A, 128) vectors: text and graph views of 64 dimensions each). Up to
``EXACT_NEIGHBOUR_PAIRS`` (unseen x trained) pairs it is an exact matrix product and top-k; above
it, a FAISS IVF index over the trained articles. This script draws clustered random content vectors
(about 100 articles per cluster, like ``retrieval.py``), runs both paths on the same vectors and
prints one JSON object: seconds of each (median of ``--repeats``), the time ratio, and the IVF
path's recall@10 against the exact answer, over every query (or a sample of ``--recall-queries``
when the exact path is skipped).

With ``--run``, the run's own content vectors over its dev split instead (dev's unseen articles added
zero-shot): the same timings and recall, then for each path the seconds of a whole article-vector pass
and dev AUC overall and on the new-article slice, and how far apart the two paths put the unseen
articles' vectors (mean and minimum cosine), so the effect of the approximation on quality is measured
rather than assumed. ``--skip-exact`` keeps only the IVF path's pass (recall still on a sample).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from recengine.index import set_threads
from recengine.model import recommender as recommender_module
from recengine.model.recommender import NEIGHBOURS, nearest

ARTICLES_PER_CLUSTER = 100


def clustered(n: int, dim: int, centres: np.ndarray, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    points = centres[rng.integers(len(centres), size=n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return F.normalize(torch.from_numpy(points), dim=1)


def timed(queries: torch.Tensor, keys: torch.Tensor, exact: bool, repeats: int) -> tuple[list[float], torch.Tensor]:
    use_exact(exact)
    times, rows = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        _, rows = nearest(queries, keys, NEIGHBOURS)
        times.append(time.perf_counter() - started)
    return times, rows


def use_exact(exact: bool) -> None:
    recommender_module.EXACT_NEIGHBOUR_PAIRS = 2**62 if exact else 0


def on_run(run: Path, repeats: int, skip_exact: bool, recall_queries: int) -> dict:
    from recengine.eval.evaluate import evaluate_interactions
    from recengine.text import get_embedder
    from recengine.train.runs import load_run, model_on_split

    loaded = load_run(run)
    embedder = get_embedder(loaded.recommender.config.model.embedder)
    model, inter, truth = model_on_split(loaded.recommender, loaded.dataset, "dev", embedder=embedder)
    n_table = model.net.article_ids.num_embeddings
    trained = np.zeros(len(model.catalog), dtype=bool)
    trained[:n_table] = model.net.article_trained.numpy()[: len(model.catalog)]
    content = model.content_vectors()
    queries, keys = content[~trained], content[trained]
    out: dict = {"run": str(run), "articles": len(model.catalog), "unseen": len(queries), "trained": len(keys),
                 "default_exact_pair_limit": recommender_module.EXACT_NEIGHBOUR_PAIRS}
    out.update(compare_paths(queries, keys, repeats, skip_exact, recall_queries))
    vectors = {}
    for path in ("ivf",) if skip_exact else ("exact", "ivf"):
        print(f"evaluating with the {path} path", file=sys.stderr)
        use_exact(path == "exact")
        model.invalidate()
        started = time.perf_counter()
        vectors[path] = model.article_vectors().vectors
        seconds = time.perf_counter() - started
        result = evaluate_interactions(model, inter, truth=truth)
        out[f"{path}_eval"] = {"article_vectors_seconds": round(seconds, 3), "dev_auc": round(result["model"]["auc"], 4),
                               "new_articles_auc": round(result["slices"]["new_articles"]["auc"], 4)}
    if not skip_exact:
        cosine = F.cosine_similarity(vectors["exact"][~trained], vectors["ivf"][~trained], dim=1)
        out["unseen_vector_cosine"] = {"mean": round(float(cosine.mean()), 4), "min": round(float(cosine.min()), 4)}
    return out


def compare_paths(queries: torch.Tensor, keys: torch.Tensor, repeats: int, skip_exact: bool, recall_queries: int) -> dict:
    """Seconds of each path (median), and the IVF path's recall@10 against exact (on a sample when exact is skipped)."""
    print("IVF path", file=sys.stderr)
    ivf_times, ivf_rows = timed(queries, keys, exact=False, repeats=repeats)
    out: dict = {"ivf_seconds": round(statistics.median(ivf_times), 3)}
    if skip_exact:
        sample = np.random.default_rng(3).choice(len(queries), min(recall_queries, len(queries)), replace=False)
        _, truth = timed(queries[sample], keys, exact=True, repeats=1)
        out["recall_at_10"] = recall(ivf_rows[sample].numpy(), truth.numpy())
        out["recall_queries"] = len(sample)
    else:
        print("exact path", file=sys.stderr)
        exact_times, truth = timed(queries, keys, exact=True, repeats=repeats)
        out["exact_seconds"] = round(statistics.median(exact_times), 3)
        out["ivf_share_of_exact_time"] = round(out["ivf_seconds"] / out["exact_seconds"], 4)
        out["recall_at_10"] = recall(ivf_rows.numpy(), truth.numpy())
        out["recall_queries"] = len(queries)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return round(float(np.mean([len(set(f) & set(t)) / truth.shape[1] for f, t in zip(found, truth)])), 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unseen", type=int, default=100_000, help="queries: unseen articles (default 100,000)")
    parser.add_argument("--trained", type=int, default=100_000, help="keys: trained articles (default 100,000)")
    parser.add_argument("--dim", type=int, default=128, help="content width (default 128: text + graph views)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-exact", action="store_true", help="time only the IVF path; recall on a sample")
    parser.add_argument("--recall-queries", type=int, default=2_000)
    parser.add_argument("--run", type=Path, help="measure on this run's dev split instead of random vectors")
    args = parser.parse_args()
    threads = set_threads()
    torch.set_num_threads(threads)
    if args.run:
        out = on_run(args.run, args.repeats, args.skip_exact, args.recall_queries)
        out["threads"] = threads
        print(json.dumps(out, indent=2))
        return 0
    clusters = max(100, args.trained // ARTICLES_PER_CLUSTER)
    centres = np.random.default_rng(0).standard_normal((clusters, args.dim)).astype(np.float32)
    keys = clustered(args.trained, args.dim, centres, 1)
    queries = clustered(args.unseen, args.dim, centres, 2)
    out: dict = {"unseen": args.unseen, "trained": args.trained, "dim": args.dim, "clusters": clusters,
                 "k": NEIGHBOURS, "threads": threads, "default_exact_pair_limit": recommender_module.EXACT_NEIGHBOUR_PAIRS}
    out.update(compare_paths(queries, keys, args.repeats, args.skip_exact, args.recall_queries))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
