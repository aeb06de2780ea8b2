"""``predict``: rank every impression of a split with a saved run and write MIND's leaderboard file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="write a MIND leaderboard prediction file",
        description=__doc__ + " Each line is `<impression id> [r1,r2,...]` with ranks in the candidates' order "
        "(1 = top), the format `recengine metrics --prediction` and the MIND leaderboard read. Works on "
        "unlabeled splits (MIND's test); articles missing from news.tsv are ranked last.",
    )
    parser.add_argument("--run", type=Path, required=True, help="run folder")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: the run's dataset)")
    parser.add_argument("--split", default="test", help="split to rank (default: test)")
    parser.add_argument("--out", type=Path, required=True, help="prediction file to write (e.g. prediction.txt)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--allow-dataset-change", action="store_true",
                        help="use the data even if it differs from the data the run was trained on (its fingerprint "
                        "in meta.json); without it such data is refused")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import open_workspace, runs

    _, store = open_workspace()
    with store:
        written = runs.predict(store, args.run, args.out, data=args.data, split=args.split, cache=args.cache,
                               allow_dataset_change=args.allow_dataset_change)
    print(json.dumps(written, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
