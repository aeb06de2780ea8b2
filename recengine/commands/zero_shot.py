"""``zero-shot-compare``: zero-shot scoring vs an incremental update vs a full retrain on articles published
after training.

Day 6 (dev) is cut at noon. A base model trains on days 1-5 and scores day 6's articles zero-shot; the
incremental update folds the morning's clicks into a copy of it; the full retrain trains from scratch on days 1-5
plus the morning. All are judged on the afternoon (every day-6 article, those seen in the morning, those unseen by
every model), beside random and oracle, with their times. The three models are scratch work, deleted afterwards;
the result is recorded in the workspace store (the New articles page shows the latest) and printed as JSON.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recengine.config import EMBEDDERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zero-shot-compare", help="zero-shot vs incremental update vs full retrain (JSON)",
                                   description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, default=None, help="MIND dataset folder")
    source.add_argument("--dataset", default=None, help="store dataset name")
    source.add_argument("--preset", default=None, help="generate this synthetic preset into a scratch folder")
    parser.add_argument("--seed", type=int, default=0, help="the preset's seed (default: 0)")
    parser.add_argument("--embedder", choices=EMBEDDERS, default=None,
                        help="text embedder (default: the workspace's default, $RECENGINE_DEFAULT_EMBEDDER)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the base model and the retrain (default: 6)")
    parser.add_argument("--update-epochs", type=int, default=2, help="update epochs on the new rows (default: 2)")
    parser.add_argument("--full-epochs", type=int, default=1, help="update epochs on everything (default: 1)")
    parser.add_argument("--lr-decay", type=float, default=0.3,
                        help="learning-rate factor of the update's epochs on everything (default: 0.3)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import experiments, open_workspace
    from recengine.commands._experiment import PartPrinter
    from recengine.errors import InputError

    if args.seed != 0 and args.preset is None:
        raise InputError("--seed only applies to --preset")
    workspace, store = open_workspace()
    printer = PartPrinter()
    try:
        record = experiments.zero_shot_compare(
            workspace, store, args.data or args.dataset, preset=args.preset, seed=args.seed, embedder=args.embedder,
            epochs=args.epochs, update_epochs=args.update_epochs, full_epochs=args.full_epochs,
            lr_decay=args.lr_decay, progress=printer,
        )
    finally:
        printer.close()
        store.close()
    print(f"stored as result {record['id']} in {store.path}", file=sys.stderr)
    print(json.dumps(record["result"], indent=2))
    return 0
