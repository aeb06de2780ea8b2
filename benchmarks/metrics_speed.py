"""Speed of the vectorised MIND metrics against a per-impression loop of the official scorer, in one run.

Prints one JSON object. Usage: ``.venv/bin/python benchmarks/metrics_speed.py [--impressions N]``.
Needs scikit-learn (a dev requirement) for the official AUC.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from recengine.eval.metrics import mind_metrics_csr


def official_dcg(y_true, y_score, k):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order[:k])
    return np.sum((2**y_true - 1) / np.log2(np.arange(len(y_true)) + 2))


def official_loop(labels: np.ndarray, scores: np.ndarray, ptr: np.ndarray) -> dict:
    """MIND's evaluate.py, one impression at a time (every generated impression has both classes)."""
    aucs, mrrs, ndcg5s, ndcg10s = [], [], [], []
    for start, stop in zip(ptr[:-1], ptr[1:]):
        y_true = labels[start:stop].astype("float32")
        y_score = scores[start:stop]
        order = np.argsort(y_score)[::-1]
        aucs.append(roc_auc_score(y_true, y_score))
        mrrs.append(np.sum(np.take(y_true, order) / (np.arange(len(y_true)) + 1)) / np.sum(y_true))
        ndcg5s.append(official_dcg(y_true, y_score, 5) / official_dcg(y_true, y_true, 5))
        ndcg10s.append(official_dcg(y_true, y_score, 10) / official_dcg(y_true, y_true, 10))
    return {
        "auc": float(np.mean(aucs)),
        "mrr": float(np.mean(mrrs)),
        "ndcg@5": float(np.mean(ndcg5s)),
        "ndcg@10": float(np.mean(ndcg10s)),
    }


def make_impressions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n impressions of 10-60 candidates, ~4% clicks (as MIND), at least one click and one non-click each."""
    lengths = rng.integers(10, 61, n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    labels = (rng.random(ptr[-1]) < 0.04).astype(np.int8)
    click = rng.integers(0, lengths)
    non_click = (click + rng.integers(1, lengths)) % lengths
    labels[ptr[:-1] + click] = 1
    labels[ptr[:-1] + non_click] = 0
    return labels, rng.random(ptr[-1]), ptr


def median_time(runs: int, fn, *args) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impressions", type=int, default=200_000)
    parser.add_argument("--loop-impressions", type=int, default=2_000, help="subset timed with the official loop")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    labels, scores, ptr = make_impressions(args.impressions, np.random.default_rng(0))
    vector_s, _ = median_time(args.runs, mind_metrics_csr, labels, scores, ptr)

    subset = ptr[: args.loop_impressions + 1]
    sub_labels, sub_scores = labels[: subset[-1]], scores[: subset[-1]]
    loop_s, official = median_time(args.runs, official_loop, sub_labels, sub_scores, subset)
    subset_vector_s, ours = median_time(args.runs, mind_metrics_csr, sub_labels, sub_scores, subset)

    vector_rate = args.impressions / vector_s
    loop_rate = args.loop_impressions / loop_s
    print(
        json.dumps(
            {
                "impressions": args.impressions,
                "candidates": int(ptr[-1]),
                "runs": args.runs,
                "csr_seconds_median": round(vector_s, 4),
                "csr_impressions_per_second": round(vector_rate),
                "loop_impressions": args.loop_impressions,
                "loop_seconds_median": round(loop_s, 4),
                "loop_impressions_per_second": round(loop_rate),
                "speedup_vs_loop": round(vector_rate / loop_rate, 1),
                "subset_csr_impressions_per_second": round(args.loop_impressions / subset_vector_s),
                "subset_max_abs_diff_vs_loop": max(abs(ours[name] - official[name]) for name in official),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
