"""``update``: fold new clicks (and new articles and users) into a copy of a trained run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "update",
        help="incremental update of a run with new MIND data",
        description=__doc__ + " The ID tables grow for unseen articles and users; the new rows are trained first "
        "(old rows stay bit-for-bit unchanged), then optionally everything at a decayed learning rate. The parent "
        "run is never modified. All or nothing: the new run and the archive entry (a copy of the input, so the "
        "same rows are never consumed twice) appear together or not at all; an interrupted update is finished or "
        "undone by the next one. Article ids the parent already holds with other content (title, category, "
        "entities) are refused; user ids carry no content in MIND, so a known user id is the same reader. The "
        "JSON output holds the new run's metrics and its parent's on the same evaluation data.",
    )
    parser.add_argument("--run", type=Path, required=True, help="parent run folder (left untouched)")
    parser.add_argument("--new-data", type=Path, required=True, help="MIND folder with the new clicks (train/ or "
                        "bare); only regular files are archived: links, FIFOs and devices are refused, except an "
                        "editor's dangling lock link .#NAME, which is skipped")
    parser.add_argument("--out", type=Path, required=True, help="new run folder to write (never inside an input)")
    parser.add_argument("--data", type=Path, default=None, help="the parent's dataset folder, when it moved "
                        "(default: the folder the run records)")
    parser.add_argument("--allow-dataset-change", action="store_true",
                        help="use the parent's dataset even if it differs from the data the parent was trained on "
                        "(its fingerprint in meta.json); without it such data is refused")
    parser.add_argument("--epochs", type=int, default=2, help="epochs training only the new rows (default: 2)")
    parser.add_argument("--full-epochs", type=int, default=0, help="then epochs training everything (default: 0)")
    parser.add_argument("--lr-decay", type=float, default=0.3, help="learning-rate factor for --full-epochs (default: 0.3)")
    parser.add_argument("--eval-data", type=Path, default=None, help="dataset whose dev split evaluates the update "
                        "and its parent (default: the parent's dataset)")
    parser.add_argument("--allow-conflicts", action="store_true", help="accept new data whose article ids the "
                        "parent holds with other content: those articles keep the parent's version (their new "
                        "title, category and entities are skipped, their clicks are used); the JSON says how many")
    parser.add_argument("--archive", type=Path, default=None, help="archive folder (default: <home>/archive)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--force", action="store_true", help="replace an existing --out that is a run (or empty); "
                        "any other folder is refused")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import open_workspace, runs
    from recengine.commands.train import ProgressPrinter, summarize
    from recengine.train.incremental import AlreadyConsumedError

    workspace, store = open_workspace()
    printer = ProgressPrinter()
    try:
        updated = runs.update(
            workspace, store, args.run, args.new_data, out=args.out, dataset=args.data, progress=printer,
            epochs=args.epochs, full_epochs=args.full_epochs, lr_decay=args.lr_decay, eval_data=args.eval_data,
            archive=args.archive, cache=args.cache, allow_conflicts=args.allow_conflicts, force=args.force,
            allow_dataset_change=args.allow_dataset_change,
        )
    except AlreadyConsumedError as exc:
        print(f"nothing to do: {exc}", file=sys.stderr)
        print(json.dumps({"status": "already_consumed", "message": str(exc)}, indent=2))
        return 0
    finally:
        printer.close()
        store.close()
    meta = updated["meta"]
    update = meta["update"]
    if updated["better_than_parent"] is False:
        print(f"warning: the child scores below its parent on the same evaluation data (AUC "
              f"{updated['metrics']['model']['auc']:.4f} vs {updated['parent_metrics']['model']['auc']:.4f}); "
              f"it is saved but not made active", file=sys.stderr)
    print(json.dumps({
        "status": "updated",
        "run": str(updated["path"]),
        "run_id": updated["run_id"],
        "parent": meta["parent"],
        "parent_run_id": updated["parent"],
        "better_than_parent": updated["better_than_parent"],
        "new_articles": meta["new_articles"],
        "new_users": meta["new_users"],
        "conflicting_articles_skipped": update["conflicting_articles_skipped"],
        "archive_entry": update["archive_entry"],
        "samples_seen": meta["samples_seen"],
        "seconds": update["seconds"],
        "metrics": summarize(updated["metrics"]),
        "parent_metrics": summarize(updated["parent_metrics"]),
    }, indent=2))
    return 0
