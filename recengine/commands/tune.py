"""``tune``: search the configuration with Optuna (TPE, median pruning on validation AUC) on one dataset.

Every trial trains the base configuration (the model and training flags below) with the searched settings
suggested, and is saved as a registered run; the study is kept in the workspace's store file (recengine.db),
where ``optuna.load_study`` reads it too. ``--study NAME`` continues a study of that name (same dataset and
settings). Prints the estimate and the progress on stderr, then the study as JSON (every trial, and the best one
with its run id, which ``recengine runs activate`` makes the active model).
"""

from __future__ import annotations

import argparse
import json
import sys

from recengine.commands._experiment import add_dataset_options, dataset_of
from recengine.commands.train import add_model_options, config_from_args
from recengine.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tune", help="search the configuration with Optuna; the best trial is a run",
                                   description=__doc__)
    add_dataset_options(parser)
    search = parser.add_argument_group("search")
    search.add_argument("--trials", required=True, metavar="N", help="trials to run (at least 1)")
    search.add_argument("--search", default=None, metavar="A,B",
                        help="settings to search, comma-separated (default: every setting with a search range)")
    search.add_argument("--study", default=None, metavar="NAME",
                        help="study name: a new one, or one to continue (default: <dataset>-<UTC time>)")
    search.add_argument("--timeout", default=None, metavar="SECONDS",
                        help="start no trial after this many seconds (default: no limit)")
    search.add_argument("--background", action="store_true",
                        help="run as a background job: print its id and return (see `recengine jobs`)")
    add_model_options(parser)  # the base configuration; --seed also seeds the sampler
    parser.set_defaults(handler=run)


def _number(text: str | None, flag: str, kind: type) -> int | float | None:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InputError(f"{flag} must be {what}; got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)  # before the heavy imports: a bad flag is refused at once
    trials, timeout = _number(args.trials, "--trials", int), _number(args.timeout, "--timeout", float)
    import optuna

    from recengine.app import estimate, open_workspace, tune
    from recengine.commands import jobs
    from recengine.commands._experiment import PartPrinter

    workspace, store = open_workspace()
    with store:
        plan = tune.check(store, data=dataset_of(args, store), trials=trials, search=args.search, base=config,
                          timeout=timeout, study_name=args.study)
        if args.background:
            return jobs.start_job("tune", plan.to_params())
        print(estimate.training(store, plan.dataset, config.train.epochs, trainings=trials).text()
              + "; pruned trials end sooner", file=sys.stderr)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress below says what each trial does
        printer = PartPrinter()
        try:
            result = tune.run(workspace, store, plan, progress=printer)
        finally:
            printer.close()
    best = result["best"]
    if best is not None:
        print(f"best: trial {best['number']}, validation AUC {best['value']:.4f}, run {best['run_id']} "
              f"(`recengine runs activate {best['run_id']}` makes it the active model)", file=sys.stderr)
    print(json.dumps({**result, "storage": str(store.path)}, indent=2))
    return 0
