"""The one place that decides whether a path may be written as an output (a run folder or a result file).

Rules, checked before any expensive work:

- An input is never an output: the output may not be, contain, or sit inside any input folder (the dataset,
  the new data, the parent run, the archive). Paths are compared after resolving symbolic links.
- An existing output folder is replaced only with ``force``, and only when it is empty or recognisably an output
  of the same kind written by this program: a run (``config.json`` and ``meta.json`` with a ``format_version``,
  and a safetensors ``weights.safetensors``) or a generated dataset (``meta.json`` naming the generator, and a
  ``train/`` split). Anything else is refused, naming what it holds. An empty folder needs no ``force`` for a dataset.
- The location must be writable: the nearest existing folder on the way to the output is probed by creating
  (and at once removing) a temporary file in it, so a regular file in the path, a read-only or full location
  is refused up front, naming the path.
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path
from typing import Iterable

from recengine.errors import InputError

RUN_MARKERS = ("config.json", "meta.json", "weights.safetensors")
# A safetensors file starts with its JSON header's length (8 bytes, little-endian) and then the header itself.
_SAFETENSORS_MAX_HEADER = 100 << 20

Inputs = Iterable[tuple[str, "str | Path | None"]]


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def _relation(out: Path, source: Path) -> str | None:
    """How ``out`` overlaps the input ``source``: 'is', 'sits inside', 'contains', or None."""
    if out == source:
        return "is"
    if out.is_relative_to(source):
        return "sits inside"
    if source.is_relative_to(out):
        return "contains"
    return None


def check_not_input(out: str | Path, inputs: Inputs, *, what: str = "output") -> None:
    """Refuse ``out`` (the ``what``) when it is, contains or sits inside one of ``inputs`` (``(label, path)``)."""
    target = _resolved(out)
    for label, path in inputs:
        if path is None:
            continue
        relation = _relation(target, _resolved(path))
        if relation is not None:
            raise InputError(f"the {what} {relation} the {label} {path}; an input is never written to", path=out)


def _json_version(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    version = data.get("format_version") if isinstance(data, dict) else None
    return isinstance(version, int) and not isinstance(version, bool) and version >= 1


def _safetensors_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 0 < struct.unpack("<Q", head[:8])[0] <= _SAFETENSORS_MAX_HEADER


def is_run_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is recognisably a run written by this program (its three marker files are ours)."""
    folder = Path(folder)
    files = [folder / name for name in RUN_MARKERS]
    if not all(p.is_file() and not p.is_symlink() for p in files):
        return False
    return _json_version(files[0]) and _json_version(files[1]) and _safetensors_file(files[2])


def _listing(folder: Path, limit: int = 4) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_writable(path: str | Path) -> None:
    """Refuse ``path`` when it cannot be created or replaced: a regular file on the way, or a location that
    does not take new files (permissions, a read-only or full file system)."""
    path = Path(path).expanduser().absolute()
    ancestor = path.parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"cannot be created: {ancestor} is not a folder", path=path)
    try:
        with tempfile.TemporaryFile(dir=ancestor, prefix=".recengine-probe-"):
            pass
    except OSError as exc:
        raise InputError(f"cannot be written: {ancestor} does not take new files ({exc.strerror})", path=path) from None


def is_generated_dataset(folder: str | Path) -> bool:
    """Whether ``folder`` is recognisably a synthetic world this program wrote (its meta.json names the generator
    and it holds a train/ split)."""
    folder = Path(folder)
    meta = folder / "meta.json"
    if not meta.is_file() or meta.is_symlink() or not (folder / "train").is_dir():
        return False
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("generator"))


# What ``--force`` may replace, by kind of output: the test that recognises it and the word for it.
_REPLACEABLE = {"run": (is_run_folder, "recengine run"), "dataset": (is_generated_dataset, "generated dataset")}


def check_output_folder(out: str | Path, *, force: bool, inputs: Inputs = (), kind: str = "run") -> Path:
    """Check that ``out`` may be written as a ``kind`` folder ("run" or "dataset", see the module's rules);
    returns it as a Path. ``force`` replaces only an empty folder or one recognisably of that kind.

    Raises :class:`InputError` naming the folder and why it is refused.
    """
    recognise, word = _REPLACEABLE[kind]
    out = Path(out)
    check_not_input(out, inputs)
    if out.is_symlink():
        raise InputError("is a symbolic link; refusing to replace it", path=out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; refusing to replace it", path=out)
    if out.exists():
        empty = not any(out.iterdir())
        if not force and not (empty and kind == "dataset"):  # a run's folder is its name: never reused silently
            detail = "" if empty else " and is not empty"
            raise InputError(f"{kind} folder exists{detail} (use --force to replace it)", path=out)
        if not empty and not recognise(out):
            raise InputError(f"is not a {word} (it holds {_listing(out)}); refusing to replace it", path=out)
    check_writable(out)
    return out


def check_output_file(out: str | Path, *, inputs: Inputs = ()) -> Path:
    """Check that ``out`` may be written as a result file: not a folder, outside every input, writable."""
    out = Path(out)
    if out.is_dir():
        raise InputError("is a folder; expected a file name to write", path=out)
    check_not_input(out, inputs)
    check_writable(out)
    return out


def mkdir_checked(folder: str | Path) -> Path:
    """``folder`` created (with its parents) or refused in one line naming it (permissions, disk full, a file)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError("cannot be created: a file is in the way", path=folder) from None
    except OSError as exc:
        raise InputError(f"cannot be created ({exc.strerror})", path=folder) from None
    return folder


def write_fault(exc: OSError, path: str | Path) -> InputError:
    """A disk-full or permission fault met while writing ``path``, as one line naming the path."""
    return InputError(f"could not be written ({exc.strerror or exc})", path=exc.filename or path)
