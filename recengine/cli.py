"""``python -m recengine``: one entry point, one sub-command per module in ``recengine.commands``.

Sub-command modules import the heavy libraries (torch, faiss) only inside their
handlers, so ``--help`` stays fast. Errors a user can fix are printed as one line
on stderr with exit status 2; no traceback is shown unless ``RECENGINE_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from recengine.errors import RecengineError

# Order is the order shown by --help.
COMMAND_MODULES = (
    "data",
    "embed",
    "graph",
    "train",
    "evaluate",
    "predict",
    "metrics",
    "compare",
    "add_article",
    "update",
    "recommend",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default is exit status 2 with usage: keep it
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m recengine",
        description="News recommender: ID + language-model text + knowledge-graph views.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"recengine.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2 if args.command is None else 0
    try:
        return int(args.handler(args) or 0)
    except RecengineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging
        if os.environ.get("RECENGINE_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (set RECENGINE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
