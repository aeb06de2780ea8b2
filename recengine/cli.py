"""``python -m recengine``: one entry point, one sub-command per module in ``recengine.commands``.

Sub-command modules import the heavy libraries (torch, faiss) only inside their
handlers, so ``--help`` stays fast. Errors a user can fix (a RecengineError, a full disk, a read-only or
missing path, an argument that is not UTF-8) are printed as one line on stderr with exit status 2; no
traceback is shown unless ``RECENGINE_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from recengine.errors import RecengineError, os_fault
from recengine.textsafe import printable

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
    "tune",
    "diagnostics",
    "demo",
    "zero_shot",
    "add_article",
    "update",
    "sample",
    "recommend",
    "serve",
    "runs",
    "jobs",
    "monitor",
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
    argv = sys.argv[1:] if argv is None else list(argv)
    _refuse_undecodable(parser, argv)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2 if args.command is None else 0
    try:
        return int(args.handler(args) or 0)
    except RecengineError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        fault = os_fault(exc)  # (the store and the embedding cache explain their own SQLite faults)
        if fault is not None:  # a full disk, a read-only folder, a bad path: the user's to fix
            return _fail(fault)
        if os.environ.get("RECENGINE_DEBUG"):
            raise
        # A bug: say so in one line, keep the traceback for debugging.
        message = f"internal error: {type(exc).__name__}: {exc} (set RECENGINE_DEBUG=1 for the traceback)"
        print(printable(message, one_line=True), file=sys.stderr)
        return 1


def _fail(message: str) -> int:
    """Print ``message`` as the one ``error:`` line (terminal controls escaped) and return exit status 2."""
    print(f"error: {printable(message, one_line=True)}", file=sys.stderr)
    return 2


def _refuse_undecodable(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Exit 2 naming the flag when an argument is not valid UTF-8 (Python passes such bytes as surrogates)."""
    for position, arg in enumerate(argv):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            flag, _, _ = arg.partition("=")
            if not (arg.startswith("--") and "=" in arg):
                previous = argv[position - 1] if position else ""
                flag = previous if previous.startswith("-") else f"argument {position + 1}"
            byte = ord(arg[exc.start]) - 0xDC00 if "\udc80" <= arg[exc.start] <= "\udcff" else ord(arg[exc.start])
            parser.error(f"{printable(flag, one_line=True)}: the value is not valid UTF-8 (byte 0x{byte:02x}); "
                         "text and paths are taken in UTF-8")


if __name__ == "__main__":
    sys.exit(main())
