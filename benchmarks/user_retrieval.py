"""Does fusing similar users' vectors help? (seeds/004's retrieval-augmented user, with dual evaluation.)

Trains the default model and the same model with ``user_retrieval=k`` on a preset; for the latter, scores dev
with and without retrieval at inference. Prints one JSON object with AUC/MRR/nDCG overall and per slice.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.synthetic import generate
from recengine.train.api import train_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="userretrieval-")) / args.preset
    generate(args.preset, 0, root)
    pick = lambda m: {k: round(m[k], 4) for k in ("auc", "mrr", "ndcg@5", "ndcg@10")}  # noqa: E731
    baseline = train_run(root, RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs)))
    augmented = train_run(root, RunConfig(
        ModelConfig(embedder=args.embedder, user_retrieval=args.k, retrieval_threshold=args.threshold),
        TrainConfig(epochs=args.epochs),
    ))
    dual = augmented.meta["retrieval"]
    out = {
        "preset": args.preset, "embedder": args.embedder, "k": args.k, "threshold": args.threshold,
        "oracle": pick(baseline.metrics["oracle"]), "random": pick(baseline.metrics["random"]),
        "baseline": {**pick(baseline.metrics["model"]),
                     "slices": {k: round(v["auc"], 4) for k, v in baseline.metrics["slices"].items()}},
        "retrieval_model_with_retrieval": {**{k: round(v, 4) for k, v in dual["with"].items()},
                                           "slices": {k: round(v, 4) for k, v in dual["slices_with"].items()}},
        "retrieval_model_without_retrieval": {**{k: round(v, 4) for k, v in dual["without"].items()},
                                              "slices": {k: round(v, 4) for k, v in dual["slices_without"].items()}},
        "users_in_bank": dual["users_in_bank"],
    }
    out["helps"] = dual["with"]["auc"] > max(dual["without"]["auc"], baseline.metrics["model"]["auc"])
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
