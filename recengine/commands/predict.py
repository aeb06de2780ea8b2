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
    from recengine import atomic
    from recengine.eval.metrics import rank_lines
    from recengine.outputs import check_output_file, write_fault
    from recengine.train.api import predict_run
    from recengine.train.runs import read_run_files

    recorded = (read_run_files(args.run)[1].get("dataset") or {}).get("root")
    check_output_file(args.out, inputs=[("dataset", args.data or recorded), ("run", args.run)])
    impressions, scores, ptr = predict_run(args.run, args.data, split=args.split, cache=args.cache,
                                           allow_dataset_change=args.allow_dataset_change)
    try:
        atomic.write_text(args.out, "".join(line + "\n" for line in rank_lines(impressions, scores, ptr)))
    except OSError as exc:  # the disk filled up or the folder changed since the check
        raise write_fault(exc, args.out) from None
    print(json.dumps({"out": str(args.out), "impressions": int(len(impressions)), "candidates": int(len(scores)),
                      "unknown_articles": int((scores == float("-inf")).sum())}, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
