"""The inbox: folders of new MIND data that a producer drops, each folded into the serving model exactly once.

A producer writes one folder per batch (a MIND split: ``news.tsv`` and ``behaviors.tsv``, or a ``train/``
folder) directly under the inbox (default ``<home>/inbox``). :func:`process`, run by hand, from cron, a systemd
timer or a dashboard job, takes every *complete* folder, oldest first, and updates the serving run with it
(:func:`recengine.app.runs.update`: all or nothing, the input archived by its rows).

Complete. With ``ready="marker"`` (the default) a folder is complete once it holds a file ``_SUCCESS`` (the
Hadoop/Spark convention: write the data, then the marker, last). With ``ready="rename"`` every visible folder is
complete: for producers that write under a hidden name (``.batch-7``) and rename it into place, which is atomic
(in marker mode such a producer adds ``_SUCCESS`` before the rename). A folder copied in place cannot be told from
a renamed one, so only marker mode is safe for every producer. Hidden names are never read; an incomplete folder
is left alone and listed as waiting.

Exactly once. One process works an inbox at a time: it holds ``<inbox>/.inbox.lock`` (``flock``, released by the
kernel when the process dies), and another run finds it held, claims nothing and says so. A folder is claimed by
an atomic rename into ``<inbox>/.claimed/<pid>.<start>/`` before any work, so it can never be read twice; then
moved to ``done/<name>`` with ``result.json`` (run id, parent, activation, metrics, time), or to ``failed/<name>``
with ``error.txt`` (one line). Failed folders are never retried on their own: move one back to retry it. A claim
whose process is gone (the pid ended, or now belongs to a later process) goes back to the inbox on the next run;
the update itself is all or nothing, so a half-done update leaves no trace, and a committed one is then found in
the archive ("already consumed", moved to done/).

Chaining. The first folder updates ``run`` (default: the active run); the child becomes the active run only when
``activate`` allows: ``"if-better"`` (the default: its dev AUC is at least its parent's on the same data),
``"always"`` or ``"never"``. A dev-day sample (:mod:`recengine.app.samples`) is never activated: it learnt from
the day it is judged on. Each next folder updates the run then serving: the child just activated, else the same
parent (re-read from the store when no ``run`` was given). A problem of a folder's own (bad MIND rows, another
world's articles) fails that folder and the rest go on; any other problem (a broken parent, a full disk, the
archive held too long by another update) returns the folder to the inbox untouched and stops the run.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from recengine import atomic
from recengine.data.store import Store
from recengine.errors import InputError, JobCancelled, RecengineError
from recengine.workspace import Workspace

MARKER = "_SUCCESS"
CLAIMED = ".claimed"
DONE = "done"
FAILED = "failed"
LOCK = ".inbox.lock"
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"
ACTIVATE = ("if-better", "never", "always")
READY = ("marker", "rename")
UPDATE_OPTIONS = {"epochs", "full_epochs", "lr_decay", "allow_conflicts", "cache", "eval_data", "archive",
                  "allow_dataset_change"}
_OWNER = re.compile(r"^(\d+)\.(\d+)$")  # a claim folder: <pid>.<process start time in ms>

Progress = Callable[[Any], None]


class InboxBusy(RecengineError):
    """Another process holds the inbox's lock."""


# --------------------------------------------------------------------------------------------- where and what


def folder(workspace: Workspace, inbox_dir: str | Path | None = None, *, create: bool = False) -> Path:
    """The inbox folder: ``inbox_dir`` (which must exist) or ``<home>/inbox`` (made when ``create``)."""
    if inbox_dir is None:
        from recengine.app.samples import inbox

        path = inbox(workspace)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path.resolve()
    path = Path(inbox_dir).expanduser()
    if not path.is_dir():
        raise InputError("is a file, not an inbox folder" if path.exists() else "no such inbox folder", path=path)
    return path.resolve()


def _complete_since(entry: Path, ready: str) -> float | None:
    """When ``entry`` became complete (the marker's modification time, or the folder's in rename mode); None
    while it is not."""
    marker = entry / MARKER
    if marker.is_file():
        return marker.stat().st_mtime
    return entry.stat().st_mtime if ready == "rename" else None


def _owner_alive(owner: str) -> bool:
    """Whether the process a claim folder names still runs: the same pid, started at the same time (so a pid
    reused by a later process does not count)."""
    match = _OWNER.match(owner)
    if match is None:
        return False
    try:
        started = psutil.Process(int(match[1])).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:  # another user's process: never take what might be its claim
        return True
    return round(started * 1000) == int(match[2])


def _own_claims(inbox: Path) -> Path:
    """This process's claim folder: ``.claimed/<pid>.<start ms>``."""
    started = round(psutil.Process().create_time() * 1000)
    return inbox / CLAIMED / f"{os.getpid()}.{started}"


def scan(inbox: Path, *, ready: str = "marker") -> dict:
    """What the inbox holds: ``pending`` (complete folders, oldest first), ``waiting`` (``{"folder",
    "reason"}``), ``claimed`` (``{"folder", "owner", "alive"}``), ``done`` and ``failed`` (names)."""
    _check_ready(ready)
    pending, waiting, claimed = [], [], []
    for entry in sorted(inbox.iterdir()) if inbox.is_dir() else []:
        if not entry.is_dir() or entry.name in (DONE, FAILED, CLAIMED):
            continue
        if entry.is_symlink():
            waiting.append({"folder": entry.name, "reason": "a symbolic link: put the folder itself here"})
        elif entry.name.startswith("."):
            waiting.append({"folder": entry.name, "reason": "being written (hidden name)"})
        elif (since := _complete_since(entry, ready)) is not None:
            pending.append((since, entry.name))
        else:
            waiting.append({"folder": entry.name, "reason": f"no {MARKER} marker yet"})
    for owner in _owners(inbox):
        alive = _owner_alive(owner.name)
        claimed += [{"folder": p.name, "owner": owner.name, "alive": alive} for p in sorted(owner.iterdir())]
    return {"pending": [name for _, name in sorted(pending)], "waiting": waiting, "claimed": claimed,
            "done": _names(inbox / DONE), "failed": _names(inbox / FAILED)}


def _owners(inbox: Path) -> list[Path]:
    """The claim folders under ``.claimed/``, one per process that claimed."""
    claims = inbox / CLAIMED
    return sorted(p for p in claims.iterdir() if p.is_dir()) if claims.is_dir() else []


def _names(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def listing(inbox: Path, *, ready: str = "marker") -> list[dict]:
    """One row per folder for a table: ``folder``, ``state`` (pending, waiting, claimed, done, failed), ``detail``
    (the reason it waits, its run or its error) and ``time`` (its last change, UTC)."""
    found = scan(inbox, ready=ready)
    rows = [_row(inbox / name, "pending", "complete: the next run takes it") for name in found["pending"]]
    rows += [_row(inbox / w["folder"], "waiting", w["reason"]) for w in found["waiting"]]
    rows += [_row(inbox / CLAIMED / c["owner"] / c["folder"], "claimed",
                  f"being processed by pid {c['owner'].split('.')[0]}" if c["alive"]
                  else "left by a process that died; the next run returns it") for c in found["claimed"]]
    rows += [_row(inbox / DONE / name, "done", _done_detail(inbox / DONE / name)) for name in found["done"]]
    rows += [_row(inbox / FAILED / name, "failed", _read_line(inbox / FAILED / name / ERROR_FILE))
             for name in found["failed"]]
    return rows


def _row(path: Path, state: str, detail: str) -> dict:
    try:
        changed = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except OSError:
        changed = None
    return {"folder": path.name, "state": state, "detail": detail, "time": changed}


def _read_line(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or "(empty)"
    except OSError:
        return f"no {path.name}"


def _done_detail(path: Path) -> str:
    import json

    try:
        result = json.loads((path / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"no readable {RESULT_FILE}"
    if result.get("status") == "already_consumed":
        return f"already consumed (by {result.get('consumed_by') or 'an earlier update'})"
    state = "made active" if result.get("activated") else "not made active"
    return f"run {result.get('run_id')} from {result.get('parent')}, {state}"


# --------------------------------------------------------------------------------------------- the lock


@contextmanager
def _locked(inbox: Path) -> Iterator[None]:
    """Hold the inbox's lock (non-blocking); InboxBusy naming the holder's pid when another process has it."""
    try:
        handle = open(inbox / LOCK, "a+", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot be locked ({exc.strerror})", path=inbox / LOCK) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise InboxBusy(f"another inbox run (pid {holder}) is processing {inbox}; nothing claimed") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------- moves


def _free_name(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-2``, ``name-3``... when taken (a producer may reuse a folder name)."""
    target, n = parent / name, 1
    while target.exists():
        n += 1
        target = parent / f"{name}-{n}"
    return target


def _move(source: Path, parent: Path, name: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    target = _free_name(parent, name)
    os.rename(source, target)
    return target


def recover(inbox: Path) -> list[str]:
    """Return the folders of dead processes' claims to the inbox (call with the lock held); their names."""
    returned = []
    for owner in _owners(inbox):
        if _owner_alive(owner.name):
            continue
        for claimed in sorted(owner.iterdir()):
            _unclaim(claimed, inbox)
            returned.append(claimed.name)
        with suppress(OSError):
            owner.rmdir()
    return returned


def _fail(claimed: Path, inbox: Path, reason: str) -> Path:
    """``claimed`` moved to ``failed/`` with ``error.txt`` holding ``reason`` (one line)."""
    target = _move(claimed, inbox / FAILED, claimed.name)
    atomic.write_text(target / ERROR_FILE, " ".join(reason.split()) + "\n")
    return target


# --------------------------------------------------------------------------------------------- processing


def _check_ready(ready: str) -> None:
    if ready not in READY:
        raise InputError(f"ready must be one of {', '.join(READY)}, got {ready!r}")


def check_options(store: Store, run: str | Path | None, activate: str, ready: str, options: dict) -> dict:
    """Refuse bad options before anything is claimed; returns the starting parent's store record."""
    from recengine.train.incremental import check_update_options

    if activate not in ACTIVATE:
        raise InputError(f"activate must be one of {', '.join(ACTIVATE)}, got {activate!r}")
    _check_ready(ready)
    unknown = sorted(set(options) - UPDATE_OPTIONS)
    if unknown:
        raise InputError(f"unknown update option(s) for the inbox: {', '.join(unknown)}")
    check_update_options(options.get("epochs", 2), options.get("full_epochs", 0), options.get("lr_decay", 0.3))
    return _parent(store, run)


def _parent(store: Store, run: str | Path | None) -> dict:
    from recengine.app import runs

    if run is not None:
        return runs.find_run(store, run)
    active = runs.active_run(store)
    if active is None:
        raise InputError("no active run to update; give a run (--run RUN) or make one active")
    return active


def process(
    workspace: Workspace,
    store: Store,
    inbox_dir: str | Path | None = None,
    *,
    run: str | Path | None = None,
    activate: str = "if-better",
    ready: str = "marker",
    progress: Progress | None = None,
    **update_options,
) -> dict:
    """Fold every complete folder of the inbox into the serving run, oldest first, exactly once (see the module
    docstring). ``update_options`` go to :func:`recengine.app.runs.update` (epochs, full_epochs, lr_decay,
    allow_conflicts, cache, eval_data, archive, allow_dataset_change).

    Returns ``{"inbox", "busy", "recovered", "processed", "already_consumed", "failed", "waiting", "stopped"}``:
    ``busy`` is the one line saying another run holds the inbox (nothing was done), ``stopped`` the one line
    saying why the run stopped early (the folder was returned to the inbox)."""
    check_options(store, run, activate, ready, update_options)
    inbox = folder(workspace, inbox_dir, create=True)
    summary: dict[str, Any] = {"inbox": str(inbox), "busy": None, "recovered": [], "processed": [],
                               "already_consumed": [], "failed": [], "waiting": [], "stopped": None}
    try:
        with _locked(inbox):
            summary["recovered"] = recover(inbox)
            found = scan(inbox, ready=ready)
            summary["waiting"] = found["waiting"]
            _work(workspace, store, inbox, found["pending"], summary, run=run, activate=activate,
                  progress=progress or (lambda event: None), options=update_options)
    except InboxBusy as exc:
        summary["busy"] = str(exc)
    return summary


def _work(workspace: Workspace, store: Store, inbox: Path, names: list[str], summary: dict, *, run, activate: str,
          progress: Progress, options: dict) -> None:
    """Claim and update each of ``names`` in turn; a folder gone meanwhile (taken by hand) is skipped."""
    from recengine.train.trainer import TrainEvent

    claims = _own_claims(inbox)
    claims.mkdir(parents=True, exist_ok=True)
    serving = None if run is None else str(run)  # what the next folder updates (None: the active run)
    try:
        for n, name in enumerate(names, 1):
            claimed = claims / name
            try:
                os.rename(inbox / name, claimed)  # the claim: atomic, so no two processes read one folder
            except FileNotFoundError:
                continue
            progress(TrainEvent("prepare", message=f"inbox: updating with {name} ({n}/{len(names)})"))
            try:
                kind, record = _one(workspace, store, inbox, claimed, serving, activate, progress, options)
            except _Stop as stop:
                summary["stopped"] = str(stop)
                return
            summary[kind].append(record)
            if kind == "processed" and record["activated"]:
                serving = record["run_id"]
    finally:
        for empty in (claims, claims.parent):  # only when empty: a claim not moved on waits for recovery
            with suppress(OSError):
                empty.rmdir()


class _Stop(Exception):
    """A problem that is not the folder's own: the folder went back to the inbox and the run stops."""


def _one(workspace: Workspace, store: Store, inbox: Path, claimed: Path, serving: str | None, activate: str,
         progress: Progress, options: dict) -> tuple[str, dict]:
    """Update the serving run with the claimed folder and move the folder on: ``("processed" | "already_consumed"
    | "failed", record)``. Raises _Stop (the folder returned) for a problem that is not the folder's."""
    from recengine.app import runs
    from recengine.train.incremental import AlreadyConsumedError

    try:
        parent = _parent(store, serving)
        updated = runs.update(workspace, store, parent["run_id"], claimed, progress=progress, **options)
    except AlreadyConsumedError:
        record = _consumed(workspace, store, claimed, options)
        return "already_consumed", {**record, "folder": str(_done(claimed, inbox, record))}
    except RecengineError as exc:
        if not _blames(exc, claimed):  # the parent, the archive, the disk, a cancel: not this folder's fault
            _unclaim(claimed, inbox)
            if isinstance(exc, JobCancelled):
                raise
            raise _Stop(f"stopped at {claimed.name}, returned to the inbox: {exc}") from None
        return "failed", _failed(claimed, inbox, str(exc).replace(str(claimed), claimed.name))
    except Exception as exc:  # a bug: the folder is kept aside, not retried in a loop; the traceback on stderr
        traceback.print_exc(file=sys.stderr)
        return "failed", _failed(claimed, inbox, f"internal error: {type(exc).__name__}: {exc}")
    except BaseException:  # interrupted: the update left nothing, the folder waits for the next run
        _unclaim(claimed, inbox)
        raise
    record = _activated(store, updated, _choose(workspace, inbox / claimed.name, activate))
    return "processed", {**record, "folder": str(_done(claimed, inbox, record))}


def _blames(exc: RecengineError, claimed: Path) -> bool:
    """Whether ``exc`` is about the folder's own content (it names a path inside the folder)."""
    path = getattr(exc, "path", None)
    return path is not None and Path(path).resolve().is_relative_to(claimed.resolve())


def _choose(workspace: Workspace, original: Path, activate: str) -> str:
    """The activation rule for a folder: a dev-day sample is never made active."""
    from recengine.app.samples import is_sample

    return "never" if is_sample(workspace, original) else activate


def _activated(store: Store, updated: dict, activate: str) -> dict:
    """Make the child active when ``activate`` says so; the record for ``result.json``."""
    from recengine.app import runs

    better = updated["better_than_parent"]
    activated = activate == "always" or (activate == "if-better" and better is True)
    if activated:
        runs.activate_run(store, updated["run_id"])
    return {"status": "updated", "run_id": updated["run_id"], "parent": updated["parent"],
            "path": str(updated["path"]), "better_than_parent": better, "activate": activate,
            "activated": activated, "metrics": _model_metrics(updated["metrics"]),
            "parent_metrics": _model_metrics(updated["parent_metrics"]),
            "new_articles": updated["meta"].get("new_articles"), "new_users": updated["meta"].get("new_users"),
            "time": _now()}


def _model_metrics(metrics: dict | None) -> dict | None:
    if not metrics:
        return None
    return {k: v for k, v in metrics.get("model", {}).items() if isinstance(v, (int, float))}


def _consumed(workspace: Workspace, store: Store, claimed: Path, options: dict) -> dict:
    """The record of a folder whose rows an earlier update consumed: its archive entry and the run made."""
    import json

    from recengine.app.runs import recorded_at
    from recengine.train.incremental import MANIFEST, find_archived, input_fingerprint

    entry = find_archived(Path(options.get("archive") or workspace.archive), input_fingerprint(claimed))
    try:
        made = json.loads((entry / MANIFEST).read_text(encoding="utf-8")).get("consumed_by") if entry else None
    except (OSError, ValueError):
        made = None
    run = recorded_at(store, Path(made)) if made else None
    return {"status": "already_consumed", "archive_entry": str(entry) if entry else None,
            "consumed_by": run["run_id"] if run else made, "time": _now()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _done(claimed: Path, inbox: Path, record: dict) -> Path:
    """The claimed folder, with ``result.json`` written first, moved to ``done/``."""
    atomic.write_json(claimed / RESULT_FILE, record)
    return _move(claimed, inbox / DONE, claimed.name)


def _failed(claimed: Path, inbox: Path, reason: str) -> dict:
    target = _fail(claimed, inbox, reason)
    return {"folder": str(target), "error": _read_line(target / ERROR_FILE)}


def _unclaim(claimed: Path, inbox: Path) -> None:
    """Put a claimed folder back where the producer left it (to failed/ when the name was taken meanwhile)."""
    if (inbox / claimed.name).exists():
        _fail(claimed, inbox, "returned unprocessed, but the inbox holds another folder of this name; move it back "
                              "under a new name to retry")
    else:
        os.rename(claimed, inbox / claimed.name)
