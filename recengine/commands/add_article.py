"""``add-article``: add an article to a trained run's catalogue and score it zero-shot.

The article is embedded with the run's text embedder, linked to the knowledge-graph entities
named, given a neutral ID vector, stored, and scored against a sample of users: the command
prints the distribution of those scores and the users it would reach first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TITLE_WIDTH = 70


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("add-article", help="add an article and score it zero-shot", description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="run folder or stored run id")
    parser.add_argument("--title", required=True, help="the article's title")
    parser.add_argument("--abstract", default="", help="the article's abstract")
    parser.add_argument("--category", default="", help="category, e.g. sports")
    parser.add_argument("--subcategory", default="", help="subcategory, e.g. formula1")
    parser.add_argument("--entities", default="", help="comma-separated WikidataIds of the knowledge graph, e.g. Q1,Q2")
    parser.add_argument("--id", dest="article_id", default=None, help="article id (default: N_added_<random hex>)")
    parser.add_argument("--top-users", type=int, default=10, help="users to list (default: 10)")
    parser.add_argument("--sample-users", type=int, default=2000, help="users scored (default: 2000)")
    parser.add_argument("--store", type=Path, default=None, help="store file (default: <home>/recengine.db)")
    parser.add_argument("--data", type=Path, default=None,
                        help="the run's dataset folder, when it moved (default: the folder the run records)")
    parser.add_argument("--allow-dataset-change", action="store_true",
                        help="use the data even if it differs from the data the run was trained on (its fingerprint "
                        "in meta.json); without it such data is refused")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import serving
    from recengine.data.store import Store
    from recengine.serve.checks import check_article
    from recengine.textsafe import printable

    entities = [e.strip() for e in args.entities.split(",") if e.strip()]
    fields = dict(
        title=args.title, abstract=args.abstract, category=args.category, subcategory=args.subcategory,
        entities=entities, article_id=args.article_id,
    )
    check_article(**fields)  # before the run loads: a bad article fails fast and writes nothing
    print(f"loading run {args.run} ...", file=sys.stderr)
    store = Store(args.store) if args.store is not None else Store.default()
    service = serving.open_service(store, args.run, data=args.data, allow_dataset_change=args.allow_dataset_change,
                                   cache=args.cache)
    result = service.add_article(**fields, top_users=args.top_users, sample_users=args.sample_users)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    summary = result["score_summary"]
    added = f"added {result['article_id']} (catalogue row {result['row']}) to dataset {service.dataset}"
    print(printable(added, one_line=True))
    if summary["users"]:
        print(
            f"zero-shot logits over {summary['users']:,} users: mean {summary['mean']:.3f}, "
            f"p10 {summary['p10']:.3f}, median {summary['p50']:.3f}, p90 {summary['p90']:.3f}, "
            f"max {summary['max']:.3f} (mean probability {summary['mean_probability']:.3f})"
        )
    if result["top_users"]:
        print("\nusers it would reach first")
        print(f"{'rank':>4}  {'user':<16} {'score':>8} {'prob':>6}")
        for rank, user in enumerate(result["top_users"], 1):
            user_id = printable(user["user_id"], one_line=True)
            print(f"{rank:>4}  {user_id:<16} {user['score']:>8.3f} {user['probability']:>6.3f}")
    if result["nearest_articles"]:
        print("\nnearest articles")
        print(f"{'cosine':>6}  {'article':<16} {'subcategory':<20} title")
        for item in result["nearest_articles"]:
            article, subcategory, title = (printable(item[k], one_line=True)
                                           for k in ("article_id", "subcategory", "title"))
            title = title if len(title) <= TITLE_WIDTH else title[: TITLE_WIDTH - 3] + "..."
            print(f"{item['similarity']:>6.3f}  {article:<16} {subcategory:<20} {title}")
    return 0
