"""``runs``: the runs recorded in the workspace store, which every face shares (CLI, Python, dashboard).

``runs list`` and ``runs show`` read the store; ``runs table`` puts every run in one experiment table (setting
differences, selection AUC, dev metrics with 95% intervals, costs; ``--csv``); ``runs register`` records a run folder made elsewhere or before
runs were recorded; ``runs activate`` makes a run what the dashboard starts with; ``runs delete`` forgets a run and
deletes its folder when it lies under the workspace's runs/ folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runs", help="list, show, register, activate or delete stored runs",
                                   description=__doc__)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the stored runs, newest first")
    listing.add_argument("--dataset", default=None, help="only the runs of this store dataset")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)
    table = actions.add_parser("table", help="every run in one table: setting differences, selection AUC, dev "
                               "metrics with 95%% intervals, train and evaluation seconds, peak memory")
    table.add_argument("--csv", type=Path, default=None, metavar="FILE", help="also write the table as CSV")
    table.set_defaults(handler=run_table)
    show = actions.add_parser("show", help="a run's settings, metrics and the command that reproduces it")
    show.add_argument("run_id", help="run id (see `runs list`)")
    show.set_defaults(handler=run_show)
    add = actions.add_parser("register", help="record a run folder in the store")
    add.add_argument("path", type=Path, help="run folder")
    add.add_argument("--dataset", default=None, help="store dataset it belongs to (default: the one it records)")
    add.set_defaults(handler=run_register)
    activate = actions.add_parser("activate", help="make a run the active model (the dashboard starts with it)")
    activate.add_argument("run_id", help="run id")
    activate.set_defaults(handler=run_activate)
    delete = actions.add_parser("delete", help="forget a run; delete its folder if it lies under runs/")
    delete.add_argument("run_id", help="run id")
    delete.set_defaults(handler=run_delete)


def _open():
    from recengine.app import open_workspace

    return open_workspace()


def run_list(args: argparse.Namespace) -> int:
    from recengine.app import runs
    from recengine.tables import runs_table
    from recengine.textsafe import printable

    _, store = _open()
    with store:
        active = runs.active_run(store)
        table = runs_table(runs.list_runs(store, args.dataset))
    if args.json:
        print(table.to_json(orient="records", indent=2))
        return 0
    if table.empty:
        print("no runs yet: `recengine train` makes one, `recengine runs register FOLDER` records an existing one")
        return 0
    table.insert(0, "active", ["*" if active and r == active["run_id"] else "" for r in table["run_id"]])
    shown = table[["active", "run_id", "dataset", "mode", "fusion", "embedder", "epochs", "auc", "random_auc",
                   "oracle_auc", "created_at"]]
    print(printable(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")))
    return 0


def run_table(args: argparse.Namespace) -> int:
    from recengine import atomic
    from recengine.outputs import check_output_file, write_fault
    from recengine.tables import experiment_table
    from recengine.textsafe import printable

    if args.csv is not None:
        check_output_file(args.csv)
    _, store = _open()
    with store:
        table = experiment_table(store)
    if args.csv is not None:
        try:
            atomic.write_text(args.csv, table.to_csv(index=False))
        except OSError as exc:
            raise write_fault(exc, args.csv) from None
    # The terminal gets the headline columns; the CSV has every metric with its interval.
    shown = table[["run_id", "configuration", "selected_on", "selection_auc", "auc", "auc_low", "auc_high", "mrr",
                   "ndcg@10", "train_seconds", "eval_seconds", "peak_memory_mb"]].astype(object).fillna("")
    print(printable(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")) if len(table) else "no runs yet")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from recengine.app import runs

    _, store = _open()
    with store:
        shown = runs.show_run(store, args.run_id)
    print(json.dumps(shown, indent=2, default=str))
    return 0


def run_register(args: argparse.Namespace) -> int:
    from recengine.app import runs

    _, store = _open()
    with store:
        record = runs.register_run(store, args.path, dataset=args.dataset)
    print(json.dumps({"run_id": record["run_id"], "dataset": record["dataset"], "path": record["path"]}, indent=2))
    return 0


def run_activate(args: argparse.Namespace) -> int:
    from recengine.app import runs

    _, store = _open()
    with store:
        record = runs.activate_run(store, args.run_id)
    print(json.dumps({"active_run": record["run_id"], "dataset": record["dataset"]}, indent=2))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from recengine.app import open_workspace, runs

    workspace, store = open_workspace()
    with store:
        folder = runs.delete_run(workspace, store, args.run_id)
    print(json.dumps({"deleted": args.run_id, "folder_removed": str(folder) if folder else None}, indent=2))
    return 0
