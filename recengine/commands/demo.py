"""``demo saturation``: reproduce seeds/001's saturated sigmoids beside their fix, and keep the result.

Trains three settings on a dataset (nothing else is saved): ``broken`` (ReLU'd vectors, raw dot product, sigmoid
then BCE: logits of 80-110 and every sigmoid at exactly 1.0), ``x10`` (cosine / 0.1, its first fix, which still
saturates at the start) and ``fixed`` (cosine / 0.5). The result is recorded in the workspace store, where the
Diagnostics page shows it; the headline (final loss, dev AUC, shares saturated and pinned, logit range per setting)
is printed as JSON. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from recengine.commands._experiment import add_dataset_options, dataset_of
from recengine.config import EMBEDDERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="demonstrations (saturation of seeds/001)", description=__doc__)
    demos = parser.add_subparsers(dest="demo", metavar="DEMO", required=True)
    saturation = demos.add_parser("saturation", help="raw dot product vs cosine / temperature (JSON)",
                                  description=__doc__)
    add_dataset_options(saturation)
    saturation.add_argument("--epochs", type=int, default=2, help="epochs per setting (default: 2)")
    saturation.add_argument("--settings", default=None,
                            help="comma-separated among broken,x10,fixed (default: all three)")
    saturation.add_argument("--embedder", choices=EMBEDDERS, default=None,
                            help="text embedder (default: the workspace's default, $RECENGINE_DEFAULT_EMBEDDER)")
    saturation.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import experiments, open_workspace
    from recengine.commands._experiment import PartPrinter

    settings = None if args.settings is None else [item.strip() for item in args.settings.split(",")]
    workspace, store = open_workspace()
    printer = PartPrinter()
    try:
        record = experiments.saturation_demo(workspace, store, dataset_of(args, store), epochs=args.epochs,
                                             configs=settings, embedder=args.embedder, progress=printer)
    finally:
        printer.close()
        store.close()
    print(f"stored as result {record['id']} in {store.path}", file=sys.stderr)
    print(json.dumps(experiments.saturation_summary(record), indent=2))
    return 0
