"""``recommend``: the top articles for a user from a saved run, with scores and the view that mattered most.

The user's history is read from the store at request time (MIND history plus live clicks), so
recorded clicks count without retraining. Stated interests (--category, repeatable, and --interest, a sentence
whose clauses are each an interest) are served as a mixture beside the clicks; a user with neither gets the
popularity prior, in the order of its prior score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TITLE_WIDTH = 70


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("recommend", help="recommend articles to a user", description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="run folder or stored run id")
    parser.add_argument("--user", required=True, help="user id (an unknown id is a new, cold user)")
    parser.add_argument("-k", type=int, default=10, help="how many articles (1-1000, default: 10)")
    parser.add_argument("--candidates", type=int, default=200,
                        help="articles recalled by the index before the model reranks them (default: 200)")
    parser.add_argument("--interest", default=None,
                        help="interest text; each clause (split on 'and', ',' and ';') is served as one interest")
    parser.add_argument("--category", action="append", default=None, metavar="NAME",
                        help="a picked category or subcategory (repeat for several); each gets an equal share of "
                        "the list, shrinking as clicks arrive")
    parser.add_argument("--store", type=Path, default=None, help="store file (default: <home>/recengine.db)")
    parser.add_argument("--data", type=Path, default=None,
                        help="the run's dataset folder, when it moved (default: the folder the run records)")
    parser.add_argument("--allow-dataset-change", action="store_true",
                        help="use the data even if it differs from the data the run was trained on (its fingerprint "
                        "in meta.json); without it such data is refused")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import serving
    from recengine.data.store import Store
    from recengine.serve.checks import check_request
    from recengine.serve.coldstart import check_picks
    from recengine.textsafe import printable

    # Checked before the run loads: a bad request fails fast and writes nothing.
    check_request(args.user, args.k, args.candidates)
    check_picks(args.category)
    print(f"loading run {args.run} ...", file=sys.stderr)
    store = Store(args.store) if args.store is not None else Store.default()
    service = serving.open_service(store, args.run, data=args.data, allow_dataset_change=args.allow_dataset_change,
                                   cache=args.cache)
    items = service.recommend(args.user, args.k, candidates=args.candidates, interest_text=args.interest,
                              categories=args.category)
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("no articles to recommend")
        return 0
    source = items[0]["source"]
    basis = ("popularity prior, no clicks yet; score = log(1 + clicks) + freshness, the list's order"
             if source == "popularity" else "model")
    print(f"user {printable(args.user, one_line=True)}: {len(items)} articles ({basis})")
    print(f"{'rank':>4}  {'article':<16} {'score':>8} {'prob':>6}  {'top view':<8}  {'subcategory':<20} "
          f"{'for':<16} title")
    for rank, item in enumerate(items, 1):
        probability = "-" if item["probability"] is None else f"{item['probability']:.3f}"
        article, subcategory, title = (
            printable(item[k], one_line=True) for k in ("article_id", "subcategory", "title")
        )
        reason = printable(item.get("reason") or (f"{item['clicks']} clicks" if "clicks" in item else "-"),
                           one_line=True)[:16]
        title = title if len(title) <= TITLE_WIDTH else title[: TITLE_WIDTH - 3] + "..."
        print(
            f"{rank:>4}  {article:<16} {item['score']:>8.3f} {probability:>6}  "
            f"{item['top_view'] or '-':<8}  {subcategory:<20} {reason:<16} {title}"
        )
    return 0
