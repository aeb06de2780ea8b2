"""``evaluate``: score a saved run on a split, beside a random scorer and the oracle, with slices."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a saved run (JSON)", description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="run folder")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: the one the run trained on)")
    parser.add_argument("--split", default="dev", help="split to evaluate (default: dev)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random scorer (default: 0)")
    parser.add_argument("--allow-dataset-change", action="store_true",
                        help="use the data even if it differs from the data the run was trained on (its fingerprint "
                        "in meta.json); without it such data is refused")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import open_workspace, runs

    _, store = open_workspace()
    with store:
        result = runs.evaluate(store, args.run, data=args.data, split=args.split, cache=args.cache, seed=args.seed,
                               allow_dataset_change=args.allow_dataset_change)
    print(json.dumps(result, indent=2))
    return 0
