"""``monitor``: the new-article quality monitor over the live service's logged traffic.

Reports, over a wall-clock window (default the last 24 h), the click-through rate per shown item of new articles
(ones the serving run had not trained on) against old ones, with Wilson intervals; their ratio with a bootstrap
interval over impressions; zero-shot coverage; and per-arm (A/B) CTR with intervals, the B-minus-A difference
and a permutation p-value over users. When new/old falls below --threshold with at least --min-items items in
each group, it exports the window's traffic as a MIND folder and submits an incremental update job on the serving
run (never a second one while one it submitted is queued or running); a finished one is made active only when it
beat its parent and the parent is still the active run. Safe to run from cron.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("monitor", help="new vs old article CTR, A/B arms, and an update when needed",
                                   description=__doc__)
    parser.add_argument("--hours", type=float, default=24.0, help="window length in hours before --until (default: 24)")
    parser.add_argument("--since", default=None, help="window start, ISO UTC (e.g. 2026-01-31T00:00:00Z); "
                        "overrides --hours")
    parser.add_argument("--until", default=None, help="window end, ISO UTC (default: now)")
    parser.add_argument("--dataset", default=None, help="store dataset (default: the active run's)")
    parser.add_argument("--threshold", type=float, default=0.7,
                        help="update when new CTR / old CTR falls below this (default: 0.7, seed 000 §5.2)")
    parser.add_argument("--min-items", type=int, default=200,
                        help="items each group needs before the ratio counts (default: 200)")
    parser.add_argument("--no-trigger", action="store_true", help="report only: submit no update, activate nothing")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import monitor, open_workspace

    options = {"dataset": args.dataset, "hours": args.hours, "since": args.since, "until": args.until,
               "threshold": args.threshold, "min_items": args.min_items}
    workspace, store = open_workspace()
    with store:
        if args.no_trigger:
            result = monitor.report(store, **options)
        else:
            result = monitor.check(workspace, store, **options)
    print(json.dumps(result, indent=2, allow_nan=False) if args.json else "\n".join(summary(result)))
    return 0


def _ctr(block: dict) -> str:
    if block["ctr"] is None:
        return "n/a (nothing shown)"
    low, high = block["ci"]
    return f"{block['ctr']:.2%} [{low:.2%}, {high:.2%}] ({block['clicks']:,} clicks / {block['items']:,} items)"


def _ratio(result: dict) -> str:
    if result["ratio"] is None:
        return "n/a"
    interval = "" if result["ratio_ci"] is None else " [{:.3f}, {:.3f}]".format(*result["ratio_ci"])
    verdict = "below" if result["ratio"] < result["threshold"] else "at or above"
    return f"{result['ratio']:.3f}{interval}, {verdict} the threshold {result['threshold']:g}"


def summary(result: dict) -> list[str]:
    """The human summary: window, new and old CTR, ratio, coverage, arms, and what the check did."""
    window = result["window"]
    lines = [f"dataset {result['dataset']}, {window['since']} to {window['until']} UTC: "
             f"{result['impressions']:,} impressions logged"]
    if not result["traffic"]:
        lines.append("no traffic in this window: serve with `python -m recengine serve` and send requests "
                     "(GET /v1/users/ID/recommendations, POST /v1/clicks)")
    lines += [f"new articles CTR  {_ctr(result['new'])}", f"old articles CTR  {_ctr(result['old'])}",
              f"ratio new/old     {_ratio(result)}"]
    cover = result["coverage"]
    if cover["new_articles"] is not None:
        share = "" if cover["shown_share"] is None else f" ({cover['shown_share']:.0%})"
        lines.append(f"coverage          {cover['new_shown']:,} of {cover['new_articles']:,} new articles shown{share}")
    for arm in result["arms"]:
        lines.append(f"arm {arm['arm']} ({arm['run_id']})  {_ctr(arm)}, {arm['impressions']:,} impressions")
    if (difference := result["arm_difference"]) is not None:
        interval = "" if difference["ci"] is None else " [{:+.2%}, {:+.2%}]".format(*difference["ci"])
        p = "" if difference["p_value"] is None else f", p = {difference['p_value']:.3g}"
        lines.append(f"B - A CTR         {difference['difference']:+.2%}{interval}{p}")
    if "reason" in result:
        if result["activation"]:
            lines.append(f"guard: {result['activation']}")
        lines.append(f"did: {result['reason']}")
    return lines
