"""``compare``: train and evaluate a grid of fusions x temperatures (x losses x seeds) on one dataset.

Every cell is trained as a run of its own (saved under the workspace's runs/ and recorded in the store, so the
best one can be loaded and made active), and the grid is recorded as a comparison naming the cells' run ids.
Every cell is also compared with the best cell (highest dev AUC) on the same dev impressions: per metric the paired
difference (cell - best), its 95% paired-bootstrap interval and a Wilcoxon signed-rank p-value. Prints the
comparison as JSON (its id, status, one row per cell with its run id and ``<metric>_diff_vs_best``,
``<metric>_ci_low``, ``<metric>_ci_high`` and ``<metric>_p``, the mean and std over seeds per setting, and
``against_best`` in full); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recengine.commands.train import add_model_options, config_from_args
from recengine.config import TrainConfig
from recengine.errors import InputError


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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.eval.compare import check_grid, grid_to_csv
    from recengine.outputs import check_output_file

    fusions = _items(args.fusion, "--fusion")
    temperatures = _numbers(args.temperature, "--temperature", float)
    losses = _items(args.loss, "--loss") if args.loss is not None else [TrainConfig().loss]
    seeds = _numbers(args.seeds, "--seeds", int)
    check_grid(fusions, temperatures, losses, seeds)
    # The base config: every shared flag, with the grid's first point for the axes the grid replaces.
    base = config_from_args(args, fusion=fusions[0], temperature=temperatures[0], loss=losses[0], seed=seeds[0])
    if args.csv is not None:  # checked before hours of training, not after
        check_output_file(args.csv, inputs=[("dataset", args.data)])
    import pandas as pd

    from recengine.app import open_workspace
    from recengine.app.experiments import compare_grid
    from recengine.commands._experiment import PartPrinter
    from recengine.data.store import Store

    workspace, store = open_workspace()
    if args.store is not None:
        store = Store(args.store)
    grid = {"fusions": fusions, "temperatures": temperatures, "losses": losses, "seeds": seeds}
    printer = PartPrinter()
    try:
        result = compare_grid(workspace, store, str(args.data), grid, base, progress=printer)
    finally:
        printer.close()
        store.close()
    if args.csv is not None:
        grid_to_csv(pd.DataFrame(result["rows"]), args.csv)
    print(f"stored as comparison {result['comparison_id']} in {store.path}; best cell: run {result['best_run_id']} "
          f"(`recengine runs activate {result['best_run_id']}` makes it the active model)", file=sys.stderr)
    print(_against_best_line(result["against_best"]), file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


def _against_best_line(compared: dict) -> str:
    """Which cells the best cell's AUC cannot be told apart from (95% interval of the difference crosses 0)."""
    close = [c["run_id"] for c in compared["cells"] if not c["best"] and not c["metrics"]["auc"]["distinguishable"]]
    if not close:
        return "every other cell's AUC is distinguishable from the best cell's (95% paired-bootstrap interval)"
    return (f"not distinguishable from the best cell by AUC (95% interval of the difference crosses 0, "
            f"{compared['resamples']} resamples): {', '.join(close)}")
