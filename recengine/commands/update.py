"""``update``: fold new clicks (and new articles and users) into a copy of a trained run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_INBOX = "<home>/inbox"
INBOX_EXCLUDES = ("new_data", "out", "data", "force")


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
    parser.add_argument("--run", default=None, help="parent run folder or stored run id (left untouched); with "
                        "--inbox the run the first folder updates (default there: the active run)")
    parser.add_argument("--new-data", type=Path, default=None, help="MIND folder with the new clicks (train/ or "
                        "bare); only regular files are archived: links, FIFOs and devices are refused, except an "
                        "editor's dangling lock link .#NAME, which is skipped")
    parser.add_argument("--out", type=Path, default=None, help="new run folder to write (never inside an input)")
    parser.add_argument("--inbox", nargs="?", const=DEFAULT_INBOX, default=None, metavar="DIR",
                        help="instead of --new-data/--out: fold every complete folder of the inbox DIR (default: "
                        "<home>/inbox) into the serving run, oldest first, exactly once, each into a new run under "
                        "<home>/runs; done ones move to DIR/done/, failed ones to DIR/failed/ with error.txt. Safe "
                        "from cron: an overlapping run claims nothing and says so")
    parser.add_argument("--activate", choices=("if-better", "never", "always"), default="if-better",
                        help="with --inbox: make each child the active run if-better (dev AUC at least its "
                        "parent's; default), never, or always; the next folder updates the active one")
    parser.add_argument("--ready", choices=("marker", "rename"), default="marker",
                        help="with --inbox: a folder is complete once it holds a _SUCCESS file (marker, default), "
                        "or as soon as it is visible (rename: for producers that write under a .hidden name and "
                        "rename it into place)")
    parser.add_argument("--json", action="store_true", help="with --inbox: print the summary as JSON")
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
    from recengine.errors import InputError

    if args.inbox is not None:
        given = [f"--{name.replace('_', '-')}" for name in INBOX_EXCLUDES if getattr(args, name)]
        if given:
            raise InputError(f"--inbox takes its folders from the inbox; {', '.join(given)} cannot go with it")
        return run_inbox(args)
    missing = [flag for flag, value in (("--run", args.run), ("--new-data", args.new_data), ("--out", args.out))
               if value is None]
    if missing:
        raise InputError(f"an update needs {', '.join(missing)} (or --inbox)")
    return run_one(args)


def run_one(args: argparse.Namespace) -> int:
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


def run_inbox(args: argparse.Namespace) -> int:
    """``update --inbox``: the summary on stdout (JSON with --json), each problem as one line on stderr; exit 2
    when a folder failed or the run stopped early, else 0 (nothing to do, or another run holds the inbox)."""
    from recengine.app import inbox, open_workspace
    from recengine.commands.train import ProgressPrinter

    workspace, store = open_workspace()
    printer = ProgressPrinter()
    try:
        summary = inbox.process(
            workspace, store, None if args.inbox == DEFAULT_INBOX else args.inbox, run=args.run,
            activate=args.activate, ready=args.ready, progress=printer, epochs=args.epochs,
            full_epochs=args.full_epochs, lr_decay=args.lr_decay, eval_data=args.eval_data, archive=args.archive,
            cache=args.cache, allow_conflicts=args.allow_conflicts, allow_dataset_change=args.allow_dataset_change,
        )
    finally:
        printer.close()
        store.close()
    for line in problems(summary):
        print(line, file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else describe(summary))
    return 2 if summary["failed"] or summary["stopped"] else 0


def problems(summary: dict) -> list[str]:
    """One stderr line per thing that needs a look."""
    lines = [f"failed: {f['folder']}: {f['error']}" for f in summary["failed"]]
    if summary["stopped"]:
        lines.append(f"error: {summary['stopped']}")
    return lines


def describe(summary: dict) -> str:
    """The summary as lines of text."""
    if summary["busy"]:
        return f"nothing to do: {summary['busy']}"
    lines = [f"inbox {summary['inbox']}"]
    lines += [f"returned to the inbox from a dead run: {name}" for name in summary["recovered"]]
    for p in summary["processed"]:
        auc = (p["metrics"] or {}).get("auc")
        made = "made active" if p["activated"] else "not made active"
        lines.append(f"updated: {Path(p['folder']).name} -> run {p['run_id']} (parent {p['parent']}"
                     + ("" if auc is None else f", dev AUC {auc:.4f}") + f"), {made}")
    lines += [f"already consumed: {Path(c['folder']).name} (by {c['consumed_by']})"
              for c in summary["already_consumed"]]
    lines += [f"failed: {Path(f['folder']).name}: {f['error']}" for f in summary["failed"]]
    lines += [f"waiting: {w['folder']} ({w['reason']})" for w in summary["waiting"]]
    if summary["stopped"]:
        lines.append(f"stopped: {summary['stopped']}")
    if not (summary["processed"] or summary["already_consumed"] or summary["failed"] or summary["stopped"]):
        lines.append("nothing to do")
    return "\n".join(lines)
