"""The cost of the beyond-accuracy evaluation (served lists beside random and most-popular lists) against training.

Trains one run on a synthetic preset (or ``--data``) in a temporary workspace, then times the standard dev
evaluation (``recengine evaluate``, which now includes P@k and R@k) and
:func:`recengine.app.evaluation.beyond_accuracy` (one served top-10 list per sampled dev user, capped at
``--users``, default the module's cap). Prints one JSON object: train, evaluate and beyond seconds, seconds per
served list, beyond's share of the training time, and the measures themselves.

    .venv/bin/python benchmarks/beyond_cost.py --preset small --epochs 1 > beyond_small.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", help="synthetic preset to generate (default: small)")
    parser.add_argument("--data", type=Path, default=None, help="use this dataset instead of generating the preset")
    parser.add_argument("--embedder", default="hashing", help="text embedder (default: hashing)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default: 1)")
    parser.add_argument("--users", type=int, default=None, help="dev users served (default: the module's cap)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="beyond-cost-") as scratch:
        os.environ["RECENGINE_HOME"] = str(Path(scratch) / "home")
        from recengine.app import evaluation, open_workspace, runs
        from recengine.config import ModelConfig, RunConfig, TrainConfig
        from recengine.data.synthetic import generate

        data = args.data
        if data is None:
            data = Path(scratch) / args.preset
            print(f"generating {args.preset} ...", file=sys.stderr)
            generate(args.preset, 0, data)
        workspace, store = open_workspace()
        with store:
            config = RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs))
            started = time.perf_counter()
            trained = runs.train(workspace, store, data, config)
            train_wall = time.perf_counter() - started
            started = time.perf_counter()
            runs.evaluate(store, trained["run_id"])
            evaluate_seconds = time.perf_counter() - started
            result = evaluation.beyond_accuracy(store, trained["run_id"], users=args.users)
    train_seconds = trained["meta"].get("train_seconds") or train_wall
    json.dump({
        "preset": None if args.data else args.preset, "embedder": args.embedder, "epochs": args.epochs,
        "train_seconds": round(train_seconds, 1), "train_wall_seconds": round(train_wall, 1),
        "evaluate_seconds": round(evaluate_seconds, 2),
        "beyond_seconds": result["seconds"], "users": result["users"], "cap": result["cap"],
        "serving_seconds": result["serving_seconds"],
        "seconds_per_list": round(result["serving_seconds"] / max(result["users"], 1), 4),
        "beyond_share_of_training": round(result["seconds"] / train_seconds, 3),
        "measures": {name: result[name] for name in ("model", "random", "popular")},
    }, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
