"""Errors a user can act on.

Every problem caused by input (a file, a flag, a form field) is raised as a
:class:`RecengineError`. The CLI prints its message as one line and exits with
status 2; the dashboard shows it as a readable message. Anything else is a bug.
"""

from __future__ import annotations

from pathlib import Path


class RecengineError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class InputError(RecengineError):
    """Bad content in a file or argument; names where (file and line) when known."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")


class MissingDependencyError(RecengineError):
    """An optional component is not installed; the message says how to install it."""


class RunFormatError(RecengineError):
    """A saved run folder is incomplete, corrupt or from an unsupported version."""
