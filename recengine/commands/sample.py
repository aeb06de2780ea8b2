"""``sample-new-data``: a dataset's own dev day written as new data to try ``update`` with."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample-new-data",
        help="write a dataset's dev day as new data for `update`",
        description=__doc__ + " Copies the dev split of a store dataset (news.tsv, behaviors.tsv and its entity "
        "vectors) to <home>/inbox/<dataset>-dev-day, complete or not at all; a folder made earlier is reused. "
        "Refused when the dataset has no labelled dev split or its dev day was already folded into a model. "
        "The update is judged on the same dev day, so the updated run's figures are optimistic: this shows how "
        "an update works, not how much it helps. Prints one JSON object with the folder and its size.",
    )
    parser.add_argument("--dataset", required=True, metavar="NAME", help="a dataset in the store "
                        "(`recengine data list`)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import open_workspace, samples

    workspace, store = open_workspace()
    try:
        made = samples.dev_day_as_new_data(workspace, store, args.dataset)
    finally:
        store.close()
    print(json.dumps({**made, "folder": str(made["folder"])}, indent=2))
    return 0
