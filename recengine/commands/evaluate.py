"""``evaluate``: score a saved run, or an external system's prediction file, on a split, beside a random scorer and
the oracle, with slices."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a saved run (JSON)", description=__doc__)
    scored = parser.add_mutually_exclusive_group(required=True)
    scored.add_argument("--run", type=Path, help="run folder")
    scored.add_argument("--prediction", type=Path, metavar="FILE",
                        help="an external system's predictions, one line per impression of the split: "
                        "`<impression id> [v1,v2,...]`, ranks (1 = top, as `recengine predict` writes) or scores "
                        "(higher = better), in behaviors.tsv's candidate order")
    parser.add_argument("--format", choices=("auto", "ranks", "scores"), default="auto",
                        help="what --prediction's lists hold (default auto: ranks when the first list is all "
                        "whole numbers, else scores)")
    parser.add_argument("--against", default=None, metavar="RUN",
                        help="a stored run (id or folder) to compare with, paired on the same impressions")
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset folder (default: the one the run trained on; for --prediction also a store "
                        "name, default the --against run's dataset, else the active one)")
    parser.add_argument("--split", default="dev", help="split to evaluate (default: dev)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random scorer (default: 0)")
    parser.add_argument("--allow-dataset-change", action="store_true",
                        help="use the data even if it differs from the data the run was trained on (its fingerprint "
                        "in meta.json); without it such data is refused")
    parser.add_argument("--beyond", action=argparse.BooleanOptionalAction, default=False,
                        help="also measure the top-10 lists the run serves to (up to 2,000) dev users: coverage, "
                        "diversity, novelty, popularity, personalisation, freshness, beside random and most-popular "
                        "lists (key \"beyond\"; saved for the dashboard; about 30 s on demo, so off by default)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from recengine.app import open_workspace, runs
    from recengine.errors import InputError

    if args.beyond and (args.prediction is not None or args.split != "dev"):
        raise InputError("--beyond serves lists to the dev users of a run: it needs --run and the dev split")
    if args.prediction is not None:
        return _prediction(args)
    _, store = open_workspace()
    with store:
        # The comparison first: runs on other data are refused before the evaluation's work.
        against = runs.compare_runs(store, args.run, args.against, split=args.split, cache=args.cache,
                                    seed=args.seed) if args.against else None
        result = runs.evaluate(store, args.run, data=args.data, split=args.split, cache=args.cache, seed=args.seed,
                               allow_dataset_change=args.allow_dataset_change)
        if against is not None:
            result["against"] = against
        if args.beyond:
            from recengine.app import evaluation

            result["beyond"] = evaluation.evaluate_and_save(store, args.run, seed=args.seed)["result"]
    print(json.dumps(result, indent=2))
    return 0


def _prediction(args: argparse.Namespace) -> int:
    from recengine.app import external, open_workspace

    _, store = open_workspace()
    with store:
        result = external.evaluate_prediction(store, args.prediction, data=args.data and str(args.data),
                                              against=args.against, split=args.split, format=args.format,
                                              seed=args.seed)
    print(json.dumps(result, indent=2))
    return 0
