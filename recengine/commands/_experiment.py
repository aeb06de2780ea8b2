"""Shared by the experiment commands (``compare``, ``demo``, ``diagnostics``, ``zero-shot-compare``): naming a
dataset the way every face does, and printing an experiment's progress part by part."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recengine.errors import InputError


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    """``--data FOLDER`` or ``--dataset NAME``; neither means the workspace's active dataset."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--data", type=Path, default=None,
                       help="MIND dataset folder (recorded in the store the first time it is seen)")
    group.add_argument("--dataset", default=None, help="store dataset name (default: the active dataset)")


def dataset_of(args: argparse.Namespace, store) -> str | Path:
    """The dataset the flags name, as :func:`recengine.app.datasets.resolve` takes it."""
    from recengine.app import datasets

    if args.data is not None:
        return args.data
    if args.dataset is not None:
        return args.dataset
    active = datasets.active(store)
    if active is None:
        raise InputError("no active dataset in this workspace: give --data FOLDER or --dataset NAME")
    return active["name"]


class PartPrinter:
    """Progress of an experiment on stderr: a header line per part (grid cell, setting, stage), then its training."""

    def __init__(self) -> None:
        from recengine.commands.train import ProgressPrinter

        self.printer = ProgressPrinter(sys.stderr)  # the stream of now, not of import time (pytest swaps it)
        self.part = None

    def __call__(self, event) -> None:
        if event.part != self.part:
            self.printer.close()
            self.part = event.part
            print(f"[{event.part}/{event.parts}] {event.label}", file=sys.stderr)
        self.printer(event.event)

    def close(self) -> None:
        self.printer.close()
