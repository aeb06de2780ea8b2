"""``python -m recengine metrics``: score a MIND leaderboard prediction file against its truth file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DESCRIPTION = """\
Score a MIND leaderboard prediction file against a truth file with the official MIND metrics
(AUC, MRR, nDCG@5, nDCG@10: per impression, then the plain mean over impressions).

  truth lines:       <impression id> [0,1,0]   click labels, one per candidate
  prediction lines:  <impression id> [3,1,2]   ranks, 1 = top (a permutation of 1..n)

Line i of both files must carry the same impression id and the same number of candidates. Ranks
become scores 1/rank, as in the official scorer. Impressions with only clicks or only non-clicks have
no AUC: they are left out of the AUC mean and counted in "skipped"; impressions without a click are
also left out of MRR and nDCG.

Prints JSON: auc, mrr, ndcg@5, ndcg@10 (null when no impression qualifies), impressions, skipped.
Exit status 2, with the file and line, when an input is missing or malformed.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="score a MIND prediction file against its truth file (AUC, MRR, nDCG@5, nDCG@10)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--truth", required=True, type=Path, metavar="PATH", help="truth file: impid [labels]")
    parser.add_argument(
        "--prediction", required=True, type=Path, metavar="PATH", help="prediction file: impid [ranks]"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.eval.metrics import score_leaderboard

    print(json.dumps(score_leaderboard(args.truth, args.prediction), indent=2))
    return 0
