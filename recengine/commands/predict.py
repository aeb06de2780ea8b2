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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine import atomic
    from recengine.eval.metrics import rank_lines
    from recengine.train.api import predict_run

    impressions, scores, ptr = predict_run(args.run, args.data, split=args.split, cache=args.cache)
    atomic.write_text(args.out, "".join(line + "\n" for line in rank_lines(impressions, scores, ptr)))
    print(json.dumps({"out": str(args.out), "impressions": int(len(impressions)), "candidates": int(len(scores)),
                      "unknown_articles": int((scores == float("-inf")).sum())}, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
