"""``data check`` validates a MIND folder; ``data generate`` writes the synthetic world; ``data import`` records a
MIND folder in the workspace store; ``data list`` lists the store's datasets. A generated or imported dataset is
seen by every face: the dashboard lists it on its next rerun."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


SUMMARY_ROWS = (
    ("articles", "articles"),
    ("users", "users"),
    ("impressions", "impressions"),
    ("clicks", "clicks"),
    ("click_rate", "click rate"),
    ("missing_article_ids", "article ids missing from news.tsv"),
    ("empty_histories", "impressions with an empty history"),
    ("articles_without_entities", "articles without entities"),
    ("entity_vectors", "entity vectors"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="check or generate MIND-format datasets", description=__doc__)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    check = actions.add_parser(
        "check",
        help="validate a MIND folder and print a summary",
        description="Validate a MIND folder (train/ and dev/, or a bare folder with news.tsv and behaviors.tsv) "
        "and print a summary. Bad rows are skipped and counted; --strict makes the first one an error (exit 2).",
    )
    check.add_argument("dir", type=Path, help="dataset folder")
    check.add_argument("--strict", action="store_true", help="fail on the first bad row instead of skipping it")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.set_defaults(handler=run_check)

    generate = actions.add_parser(
        "generate",
        help="write the synthetic world as a MIND dataset",
        description="Write a synthetic MIND dataset with its truth (dev/truth.tsv) and meta.json. "
        "Same preset and seed, same bytes.",
    )
    from recengine.data.synthetic import DEFAULT_WORLD_VERSION, PRESETS, WORLD_VERSIONS

    generate.add_argument("--preset", choices=list(PRESETS), default="demo", help="size (default: demo)")
    generate.add_argument("--world-version", type=int, choices=WORLD_VERSIONS, default=DEFAULT_WORLD_VERSION,
                          help=f"3: topics in large word pools with day-6 vocabulary drift and new entities; "
                               f"2: the earlier world, byte for byte (default: {DEFAULT_WORLD_VERSION})")
    generate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    generate.add_argument("--out", type=Path, required=True, help="output folder")
    generate.add_argument("--force", action="store_true",
                          help="replace the output folder if it is a dataset this program generated (or empty)")
    generate.add_argument("--no-register", action="store_true",
                          help="only write the folder; do not record it in the workspace store")
    generate.set_defaults(handler=run_generate)

    imported = actions.add_parser(
        "import",
        help="record a MIND folder in the workspace store (read in place)",
        description="Check a MIND folder and record its articles, users and clicks in the workspace store, so the "
        "dashboard, `recommend` and `add-article` see it. The same data imported again is found, not copied.",
    )
    imported.add_argument("dir", type=Path, help="dataset folder")
    imported.add_argument("--name", default=None, help="store name (default: the folder's name, made unique)")
    imported.add_argument("--strict", action="store_true", help="fail on the first bad row instead of skipping it")
    imported.set_defaults(handler=run_import)

    listing = actions.add_parser("list", help="list the datasets in the workspace store")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)


def run_check(args: argparse.Namespace) -> int:
    from recengine.data.mind import load_dataset
    from recengine.textsafe import printable

    dataset = load_dataset(args.dir, strict=args.strict)
    summary = dataset.summary()
    for warning in summary["warnings"]:
        print(f"warning: {printable(warning, one_line=True)}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(printable(f"{dataset.root}: {', '.join(summary['splits'])}", one_line=True))
    names = list(summary["splits"])
    print(f"{'':<36}" + "".join(f"{n:>12}" for n in names))
    for key, label in SUMMARY_ROWS:
        values = [summary["splits"][n][key] for n in names]
        cells = "".join(f"{'-' if v is None else (f'{v:.2%}' if key == 'click_rate' else f'{v:,}'):>12}" for v in values)
        print(f"{label:<36}{cells}")
    print(f"skipped rows: {summary['skipped_rows']:,}" + (f" {summary['skipped_by_kind']}" if summary["skipped_rows"] else ""))
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from recengine.app.datasets import write_world

    out = args.out
    started = time.perf_counter()
    meta = write_world(args.preset, args.seed, out, force=args.force,
                       announce=lambda line: print(line, file=sys.stderr), world_version=args.world_version)
    stored = None if args.no_register else _register(out)
    report = {
        "dataset": stored,
        "out": str(out),
        "preset": meta["preset"],
        "seed": meta["seed"],
        "world_version": meta.get("world_version", 2),
        "counts": meta["counts"],
        "new_articles": len(meta["new_articles"]),
        "new_users": len(meta["new_users"]),
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(report, indent=2))
    return 0


def _register(folder: Path) -> str:
    """Record ``folder`` in the workspace store; returns its store name."""
    from recengine.app import datasets, open_workspace

    _, store = open_workspace()
    with store:
        return datasets.resolve(store, folder)["name"]


def run_import(args: argparse.Namespace) -> int:
    from recengine.app import datasets, open_workspace

    workspace, store = open_workspace()
    with store:
        record = datasets.import_folder(workspace, store, args.dir, args.name, strict=args.strict, anywhere=True)
        print(json.dumps(store.dataset(record["dataset"]), indent=2, default=str))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from recengine.app import open_workspace
    from recengine.tables import datasets_table
    from recengine.textsafe import printable

    _, store = open_workspace()
    with store:
        table = datasets_table(store.datasets())
    if args.json:
        print(table.to_json(orient="records", indent=2))
    elif table.empty:
        print("no datasets yet: `recengine data generate` or `recengine data import` makes one")
    else:
        print(printable(table.drop(columns=["imported_at"]).to_string(index=False)))
    return 0
