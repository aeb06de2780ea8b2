"""``compare``: train and evaluate a grid of fusions x temperatures (x losses x seeds) on one dataset.

Prints the summary (mean and std over seeds per setting) as JSON; progress goes to stderr. Results are
kept in the SQLite store (dataset name = the data folder's name) unless --no-store.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from recengine.commands.train import ProgressPrinter, add_model_options, config_from_args
from recengine.config import TrainConfig
from recengine.errors import InputError
from recengine.workspace import Workspace


def _items(text: str, flag: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise InputError(f"{flag} needs a comma-separated list without empty items; got {text!r}")
    return items


def _numbers(text: str, flag: str, kind: type) -> list:
    values = []
    for item in _items(text, flag):
        try:
            values.append(kind(item))
        except ValueError:
            raise InputError(f"{flag}: {item!r} is not a {'whole number' if kind is int else 'number'}") from None
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare fusions and temperatures by AUC/nDCG (JSON)",
        description=__doc__,
        # The grid axes below replace the single-valued --fusion, --temperature, --loss and --seed of the
        # shared model options; every other model and training flag is reused as it is.
        conflict_handler="resolve",
    )
    parser.add_argument("--data", type=Path, required=True, help="MIND dataset folder (train/ and dev/)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    add_model_options(parser)
    grid = parser.add_argument_group("grid (comma-separated lists)")
    grid.add_argument("--fusion", required=True, help="fusions, e.g. concat,attention,gate")
    grid.add_argument("--temperature", required=True, help="cosine temperatures, e.g. 0.05,0.1,0.5,1")
    grid.add_argument("--loss", default=None, help=f"losses (default: {TrainConfig().loss})")
    grid.add_argument("--seeds", "--seed", dest="seeds", default="0",
                      help="seeds; the summary's mean and std are over them (default: 0)")
    out = parser.add_argument_group("output")
    out.add_argument("--csv", type=Path, default=None, help="also write every grid row (not the summary) as CSV")
    out.add_argument("--store", type=Path, default=None, help="SQLite store (default: the workspace's recengine.db)")
    out.add_argument("--no-store", action="store_true", help="do not record the comparison in the store")
    parser.set_defaults(handler=run)


def _json_rows(frame) -> list[dict]:
    """Records with NaN as null (JSON has no NaN)."""
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def run(args: argparse.Namespace) -> int:
    from recengine.data.store import Store
    from recengine.eval.compare import check_grid, grid_to_csv, run_grid, summarize_grid

    fusions = _items(args.fusion, "--fusion")
    temperatures = _numbers(args.temperature, "--temperature", float)
    losses = _items(args.loss, "--loss") if args.loss is not None else [TrainConfig().loss]
    seeds = _numbers(args.seeds, "--seeds", int)
    check_grid(fusions, temperatures, losses, seeds)
    if args.no_store and args.store is not None:
        raise InputError("--store and --no-store contradict each other")
    # The base config: every shared flag, with the grid's first point for the axes the grid replaces.
    first = argparse.Namespace(**{**vars(args), "fusion": fusions[0], "temperature": temperatures[0],
                                  "loss": losses[0], "seed": seeds[0]})
    base = config_from_args(first)

    store = None if args.no_store else Store(args.store or Workspace.default().store_path)
    printer = ProgressPrinter(sys.stderr)  # the stream of now, not of import time (pytest swaps it)
    current_cell = 0

    def progress(event) -> None:
        nonlocal current_cell
        if event.cell and event.cell != current_cell:
            printer.close()
            current_cell = event.cell
            settings = ", ".join(f"{k} {v}" for k, v in event.settings.items())
            print(f"[{event.cell}/{event.cells}] {settings}", file=sys.stderr)
        printer(event.event)

    try:
        frame = run_grid(
            args.data, base, fusions=fusions, temperatures=temperatures, losses=losses, seeds=seeds,
            cache=args.cache, store=store, dataset_name=args.data.resolve().name, progress=progress,
        )
    finally:
        printer.close()
        if store is not None:
            store.close()
    if args.csv is not None:
        grid_to_csv(frame, args.csv)
    if store is not None:
        print(f"stored as comparison {frame.attrs['comparison_id']} in {store.path}", file=sys.stderr)
    print(json.dumps(_json_rows(summarize_grid(frame)), indent=2))
    return 0
