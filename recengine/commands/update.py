"""``update``: fold new clicks (and new articles and users) into a copy of a trained run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recengine.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "update",
        help="incremental update of a run with new MIND data",
        description=__doc__ + " The ID tables grow for unseen articles and users; the new rows are trained first "
        "(old rows stay bit-for-bit unchanged), then optionally everything at a decayed learning rate. The parent "
        "run is never modified. The consumed input is archived so it is never consumed twice.",
    )
    parser.add_argument("--run", type=Path, required=True, help="parent run folder (left untouched)")
    parser.add_argument("--new-data", type=Path, required=True, help="MIND folder with the new clicks (train/ or bare)")
    parser.add_argument("--out", type=Path, required=True, help="new run folder to write")
    parser.add_argument("--epochs", type=int, default=2, help="epochs training only the new rows (default: 2)")
    parser.add_argument("--full-epochs", type=int, default=0, help="then epochs training everything (default: 0)")
    parser.add_argument("--lr-decay", type=float, default=0.3, help="learning-rate factor for --full-epochs (default: 0.3)")
    parser.add_argument("--eval-data", type=Path, default=None, help="dataset whose dev split evaluates the update "
                        "(default: the parent's dataset)")
    parser.add_argument("--archive", type=Path, default=None, help="archive folder (default: <home>/archive)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--force", action="store_true", help="replace an existing --out run folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.commands.train import ProgressPrinter, summarize
    from recengine.train.incremental import AlreadyConsumedError, update_run

    if args.out.exists() and not args.force:
        raise InputError("run folder exists (use --force to replace it)", path=args.out)
    printer = ProgressPrinter()
    try:
        result = update_run(
            args.run, args.new_data, args.out, epochs=args.epochs, full_epochs=args.full_epochs,
            lr_decay=args.lr_decay, eval_data=args.eval_data, archive=args.archive, cache=args.cache, progress=printer,
        )
    except AlreadyConsumedError as exc:
        print(f"nothing to do: {exc}", file=sys.stderr)
        print(json.dumps({"status": "already_consumed", "message": str(exc)}, indent=2))
        return 0
    finally:
        printer.close()
    print(json.dumps({
        "status": "updated",
        "run": str(result.path),
        "parent": result.meta["parent"],
        "new_articles": result.meta["new_articles"],
        "new_users": result.meta["new_users"],
        "samples_seen": result.meta["samples_seen"],
        "seconds": result.meta["update"]["seconds"],
        "metrics": summarize(result.metrics),
    }, indent=2))
    return 0
