"""``train``: fit a recommender on a MIND dataset and save a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recengine import config as C


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """One flag per configuration field, generated from the schema (``train``, ``compare``).

    Values stay text here (default None = the field's default) and are converted and checked by
    :func:`config_from_args`, so a bad value is one ``error:`` line with exit 2, not argparse's usage dump.
    """
    groups = {"model": parser.add_argument_group("model"), "train": parser.add_argument_group("training")}
    defaults = {"model": C.ModelConfig(), "train": C.TrainConfig()}
    for part, s in C.every_setting():
        help_text = _help(s, getattr(defaults[part], s.name))
        if s.kind == "bool":
            groups[part].add_argument(s.flag, dest=s.name, action=argparse.BooleanOptionalAction, default=None,
                                      help=help_text)
        else:
            groups[part].add_argument(s.flag, dest=s.name, default=None, metavar=_metavar(s), help=help_text)


def _help(s: C.Setting, default) -> str:
    if s.kind == "bool":
        text = f"{s.help} (default: {'on' if default else 'off'})"
    elif s.kind == "choice":  # the metavar lists the choices
        text = f"{s.help} (default: {default})"
    else:
        accepts = ("comma-separated, " if s.kind == "choices" else "") + s.describe()
        text = f"{s.help}; {accepts} (default: {s.to_text(default)})"
    return text.replace("%", "%%")  # argparse %-formats help


def _metavar(s: C.Setting) -> str:
    if s.kind == "choice":
        return "{" + ",".join(s.choices) + "}"
    return {"int": "N", "float": "X", "choices": "A,B", "text": "DEVICE"}[s.kind]


def config_from_args(args: argparse.Namespace, **fixed) -> C.RunConfig:
    """The validated config the flags describe; ``fixed`` gives values (not text) for flags a command replaces.

    Raises InputError naming the flag; nothing is loaded before this passes.
    """
    parts: dict[str, dict] = {"model": {}, "train": {}}
    for part, s in C.every_setting():
        if s.name in fixed:
            parts[part][s.name] = s.check(fixed[s.name], s.flag)
            continue
        given = getattr(args, s.name, None)
        if given is not None:
            parts[part][s.name] = given if s.kind == "bool" else s.parse(given)
    return C.RunConfig(C.ModelConfig(**parts["model"]), C.TrainConfig(**parts["train"])).validate()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a recommender and save a run", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="MIND dataset folder (train/ and dev/)")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--force", action="store_true", help="replace an existing run folder")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder (default: <home>/cache/embeddings)")
    parser.add_argument("--background", action="store_true",
                        help="run as a background job: print its id and return (see `recengine jobs`)")
    add_model_options(parser)
    parser.set_defaults(handler=run)


class ProgressPrinter:
    """Training progress on stderr: a tqdm bar per phase, one line per epoch."""

    def __init__(self, stream=None):
        from tqdm import tqdm

        self.tqdm, self.stream, self.bar, self.phase = tqdm, stream or sys.stderr, None, None

    def __call__(self, event) -> None:
        phase = (event.kind, event.epoch, event.message)
        if event.kind in ("prepare", "step") and event.steps:
            if self.phase != phase[:2] + ((event.message,) if event.kind == "prepare" else ()):
                self.close()
                label = event.message if event.kind == "prepare" else f"epoch {event.epoch}/{event.epochs}"
                self.bar = self.tqdm(total=event.steps, desc=label, file=self.stream, leave=False, dynamic_ncols=True)
                self.phase = phase[:2] + ((event.message,) if event.kind == "prepare" else ())
            self.bar.n = event.step
            if event.loss is not None:
                self.bar.set_postfix(loss=f"{event.loss:.4f}", refresh=False)
            self.bar.refresh()
        elif event.kind == "prepare":
            self.close()
            print(f"{event.message} ...", file=self.stream)
        elif event.kind == "epoch":
            self.close()
            auc = event.metrics.get("auc") if event.metrics else None
            auc_text = f", {event.split or 'dev'} AUC {auc:.4f}" if auc is not None else ""
            print(f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}{auc_text}", file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar, self.phase = None, None


def summarize(metrics: dict | None) -> dict | None:
    if metrics is None:
        return None
    from recengine.eval.metrics import METRICS

    pick = lambda m: None if m is None else {k: None if m[k] is None else round(m[k], 4) for k in METRICS}  # noqa: E731
    return {
        "model": pick(metrics["model"]),
        "random": pick(metrics["random"]),
        "oracle": pick(metrics["oracle"]),
        "slices": {name: pick(m) for name, m in metrics["slices"].items()},
        "selected_on": metrics.get("selected_on"),
    }


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)  # before the heavy imports: a bad flag is refused at once
    from recengine.app import open_workspace, runs
    from recengine.commands import jobs
    from recengine.train import distributed

    if args.background:
        return jobs.start_training(args, config)
    workspace, store = open_workspace()
    if distributed.from_environment(config.train.device).is_main:
        jobs.say_estimate(store, args.data, config.train.epochs)
    printer = ProgressPrinter()
    try:
        trained = runs.train(workspace, store, args.data, config, out=args.out, force=args.force, cache=args.cache,
                             progress=printer)
    finally:
        printer.close()
        store.close()
        distributed.shutdown(distributed.from_environment(config.train.device))
    if trained["run_id"] is None:  # a distributed worker other than rank 0
        return 0
    result, meta = trained["result"], trained["meta"]
    for warning in meta["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps({
        "run": str(args.out),
        "run_id": trained["run_id"],
        "best_epoch": result.best_epoch,
        "selection": meta["selection"],
        "stopped_early": result.stopped_early,
        "samples_seen": result.samples_seen,
        "seconds": meta["train_seconds"],
        "metrics": summarize(trained["metrics"]),
    }, indent=2))
    return 0
