"""Errors a user can act on.

Every problem caused by input (a file, a flag, a form field) is raised as a
:class:`RecengineError`. The CLI prints its message as one line and exits with
status 2; the dashboard shows it as a readable message. An operating-system fault the user can fix (a full
disk, a read-only folder, a bad path) is one too: :func:`os_fault` says it in one line. Anything else is a bug.
"""

from __future__ import annotations

import errno
import re
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


class JobCancelled(RecengineError):
    """Raised inside long work at its first progress event after the user cancelled it (see recengine.app.jobs)."""


class MissingDependencyError(RecengineError):
    """An optional component is not installed; the message says how to install it."""


class RunFormatError(RecengineError):
    """A saved run folder is incomplete, corrupt or from an unsupported version."""


# errno -> (what went wrong, what to do) for operating-system faults a user can fix.
_OS_FAULTS = {
    errno.ENOSPC: ("no space left on device", "free some space or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere"),
    errno.EFBIG: ("the file is too large (a file-size limit: `ulimit -f`, or the file system's)",
                  "raise the limit or write elsewhere"),
    errno.EROFS: ("read-only file system", "write elsewhere"),
    errno.EACCES: ("permission denied", "check its permissions or use another path"),
    errno.EPERM: ("operation not permitted", "check its permissions or use another path"),
    errno.EEXIST: ("it already exists", "remove it or use another path"),
    errno.ENOTEMPTY: ("the folder is not empty", "empty it or use another path"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "fix the path"),
    errno.EISDIR: ("it is a folder, not a file", "fix the path"),
    errno.ENOENT: ("no such file or folder", "fix the path"),
    errno.ENAMETOOLONG: ("the name is too long", "use a shorter path"),
    errno.ELOOP: ("too many levels of symbolic links", "fix the link"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n)"),
    errno.ENFILE: ("too many open files in the system", "close some programs"),
}
_WRITE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
# Rust libraries (safetensors, tokenizers) report an OS error only in their message text.
_RUST_OS_ERROR = re.compile(r"Os \{ code: (\d+)")


def os_fault(exc: BaseException) -> str | None:
    """One line for an operating-system fault a user can fix (disk full, permissions, a bad path), found in ``exc``
    or in what it was raised from, naming the path when known; None for anything else."""
    seen = 0
    while exc is not None and seen < 10:
        code = exc.errno if isinstance(exc, OSError) else None
        if code is None and (match := _RUST_OS_ERROR.search(str(exc))):
            code = int(match.group(1))
        if code in _OS_FAULTS:
            reason, advice = _OS_FAULTS[code]
            paths = [p for p in (getattr(exc, "filename", None), getattr(exc, "filename2", None)) if p is not None]
            if code == errno.EEXIST and paths and Path(paths[0]).exists() and not Path(paths[0]).is_dir():
                reason, advice = "a file is where a folder is needed", "fix the path"  # mkdir(exist_ok=True)
            verb = "cannot write" if code in _WRITE_FAULTS else "cannot use"
            where = f"{verb} {' -> '.join(map(str, paths))}" if paths else verb
            return f"{where}: {reason}; {advice}"
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        seen += 1
    return None
