"""Long work as jobs: a detached ``python -m recengine jobs run ID`` process whose state lives in the store.

A job is a row in the store's ``jobs`` table (kind, parameters, status, process id, times, estimate, progress,
last message, result or error) plus its milestones in ``job_events`` (epochs with their loss and dev AUC, phase
changes). :func:`submit` checks the parameters the way the action itself would, estimates the time, records the
job and starts the process in a session of its own, so the job outlives the page, the browser session and the
dashboard process that started it. Every face reads the same rows: the sidebar indicator, the page that started
the job, ``recengine jobs list|show|cancel``.

Statuses: ``queued`` (recorded, process starting) -> ``running`` -> ``done`` | ``failed`` | ``cancelled``. A
process that dies without saying so (SIGKILL, out of memory) is found the next time anyone lists or reads jobs
(:func:`reconcile`) and marked failed with its last message.

Cancelling sends SIGTERM to the job's process group. The runner only notes it; the next progress event raises
:class:`JobCancelled` inside the action, before anything is saved (runs are written in one rename at the end, after
the last progress event that can stop them), so a cancelled job leaves no partial run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

import recengine
from recengine.data.store import Store
from recengine.errors import InputError, JobCancelled, RecengineError
from recengine.jsonable import plain
from recengine.workspace import Workspace

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
WRITE_INTERVAL_S = 0.5  # at most two progress writes a second: the store is shared with every face
START_GRACE_S = 60.0  # a queued job without a process id yet is still being started, not dead
MESSAGE_LIMIT = 500

_TABLES = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    dataset TEXT,
    origin TEXT,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    pid INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    estimate_seconds REAL,
    estimate_basis TEXT,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, id);
CREATE TABLE IF NOT EXISTS job_events (
    job_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    epoch INTEGER,
    epochs INTEGER,
    loss REAL,
    metrics TEXT,
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
"""


# --------------------------------------------------------------------------------------------- the tables


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _write(store: Store, sql: str, params: tuple = ()) -> int:
    """One statement in its own write transaction; the job tables are created on first use (they belong to this
    module: a store without them is one in which no job ran yet)."""
    store.ensure_tables(_TABLES)
    return store.write(sql, params)


def _query(store: Store, sql: str, params: tuple = ()) -> list[dict]:
    store.ensure_tables(_TABLES)
    return store.query(sql, params)


def _json(value: Any) -> str:
    return json.dumps(plain(value), allow_nan=False)


def _row(row: dict) -> dict:
    for key in ("params", "result"):
        row[key] = json.loads(row[key]) if row[key] is not None else None
    row["cancel_requested"] = bool(row["cancel_requested"])
    return row


# --------------------------------------------------------------------------------------------- submitting


def log_path(workspace: Workspace, job_id: int) -> Path:
    """Where the job's process writes its stdout and stderr."""
    return workspace.home / "jobs" / f"{job_id}.log"


def finished_embeddings(store: Store) -> list[dict]:
    """The last finished embedding jobs, newest first: what :mod:`recengine.app.estimate` measures speed from."""
    return list_jobs(store, kind="embed", status="done", limit=20)


def submit(
    workspace: Workspace, store: Store, kind: str, params: dict, *, origin: str | None = None, start: bool = True
) -> int:
    """Check ``params`` for a ``kind`` of work, estimate its time, record the job and start its process.

    Raises InputError for an unknown kind or bad parameters before anything is recorded. ``origin`` names where
    it was started (a page path such as ``train``, or ``cli``); ``start=False`` records it without a process
    (for :func:`run_job` in this process, as tests and notebooks may do). Returns the job id.
    """
    from recengine.app import estimate, tasks

    task = tasks.get(kind)
    checked = task.check(workspace, store, dict(params))
    guess = estimate.for_job(workspace, store, kind, checked, finished_embeddings=finished_embeddings(store))
    job_id = _write(
        store,
        "INSERT INTO jobs (kind, params, dataset, origin, status, created_at, estimate_seconds, estimate_basis, "
        "message) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, 'waiting for its process to start')",
        (kind, _json(checked), checked.get("dataset"), origin, _now(), guess.seconds, guess.basis),
    )
    if start:
        launch(workspace, store, job_id)
    return job_id


def launch(workspace: Workspace, store: Store, job_id: int) -> int:
    """Start ``python -m recengine jobs run JOB_ID`` detached (own session, output to the job's log); returns
    its process id. The process is reaped by a thread here, so a dashboard that starts many jobs keeps no zombies.
    """
    log = log_path(workspace, job_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    package_root = str(Path(recengine.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "RECENGINE_HOME": str(workspace.home), "PYTHONPATH": path}
    command = [sys.executable, "-m", "recengine", "jobs", "run", str(job_id)]
    try:
        with log.open("ab") as out:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       env=env, cwd=workspace.home, start_new_session=True)
    except OSError as exc:
        _finish(store, job_id, "failed", error=f"could not start the job's process ({exc})")
        raise RecengineError(f"could not start job {job_id} ({exc})") from None
    _write(store, "UPDATE jobs SET pid = ? WHERE id = ? AND pid IS NULL", (process.pid, job_id))
    threading.Thread(target=process.wait, name=f"reap-job-{job_id}", daemon=True).start()
    return process.pid


# --------------------------------------------------------------------------------------------- reading


def get(store: Store, job_id: int) -> dict:
    """One job (parameters and result parsed), reconciled with its process first; InputError if unknown."""
    reconcile(store)
    rows = _query(store, "SELECT * FROM jobs WHERE id = ?", (_check_id(job_id),))
    if not rows:
        raise InputError(f"unknown job {job_id!r}; `recengine jobs list` shows the jobs")
    return _row(rows[0])


def list_jobs(
    store: Store, *, status: str | None = None, kind: str | None = None, dataset: str | None = None, limit: int = 50
) -> list[dict]:
    """Jobs, newest first, optionally of one status, kind or dataset; dead processes are reconciled first."""
    if status is not None and status not in STATUSES:
        raise InputError(f"job status must be one of {', '.join(STATUSES)}, got {status!r}")
    reconcile(store)
    where, values = [], []
    for column, value in (("status", status), ("kind", kind), ("dataset", dataset)):
        if value is not None:
            where.append(f"{column} = ?")
            values.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT * FROM jobs {clause} ORDER BY id DESC LIMIT ?"
    return [_row(row) for row in _query(store, sql, (*values, int(limit)))]


def active_jobs(store: Store) -> list[dict]:
    """Queued and running jobs (whose process is alive), oldest first."""
    reconcile(store)
    return [_row(row) for row in _query(store, "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY id")]


def latest(store: Store, kind: str, *, dataset: str | None = None, status: str | None = None) -> dict | None:
    """The newest job of ``kind`` (on ``dataset``, with ``status``), or None."""
    found = list_jobs(store, kind=kind, dataset=dataset, status=status, limit=1)
    return found[0] if found else None


def events(store: Store, job_id: int) -> list[dict]:
    """The job's milestones in order: ``kind`` (epoch, phase, done), ``label`` (the grid cell or configuration),
    epoch, epochs, loss, metrics (dev metrics of an epoch) and message."""
    rows = _query(store, "SELECT * FROM job_events WHERE job_id = ? ORDER BY seq", (_check_id(job_id),))
    for row in rows:
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] is not None else None
    return rows


def _check_id(job_id: Any) -> int:
    if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1:
        raise InputError(f"a job id is a whole number >= 1, got {job_id!r}")
    return job_id


def elapsed_seconds(job: dict) -> float | None:
    """Seconds the job has run (until now while it runs); None before it started."""
    if not job["started_at"]:
        return None
    end = datetime.fromisoformat(job["finished_at"]) if job["finished_at"] else datetime.now(UTC).replace(tzinfo=None)
    return max((end - datetime.fromisoformat(job["started_at"])).total_seconds(), 0.0)


# --------------------------------------------------------------------------------------------- processes


def _alive(job: dict) -> bool:
    """Whether the job's own process still runs: the pid exists, is no zombie, and runs ``jobs run <id>`` (a pid
    reused by another program after a crash does not count)."""
    if job["pid"] == os.getpid():
        return True  # run here, in this process (run_job without a launch)
    if job["pid"] is None:
        return _starting(job)
    try:
        process = psutil.Process(job["pid"])
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        command = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if any(a == "jobs" and command[i + 1:i + 3] == ["run", str(job["id"])] for i, a in enumerate(command)):
        return True
    # Between fork and exec the new process still shows its parent's command line (a window a loaded machine
    # widens): a queued job's process counts as starting for the grace period.
    return job["status"] == "queued" and _starting(job)


def _starting(job: dict) -> bool:
    """Whether a queued job was created less than START_GRACE_S ago (its process may still be starting)."""
    created = datetime.fromisoformat(job["created_at"])
    return (datetime.now(UTC).replace(tzinfo=None) - created).total_seconds() < START_GRACE_S


def reconcile(store: Store) -> list[int]:
    """Mark queued or running jobs whose process is gone as failed (or cancelled, when a cancel was asked for),
    keeping their last message; returns their ids."""
    ended = []
    for row in _query(store, "SELECT * FROM jobs WHERE status IN ('queued', 'running')"):
        job = _row(row)
        if _alive(job):
            continue
        if job["cancel_requested"]:
            _finish(store, job["id"], "cancelled", message="cancelled", only_active=True)
        else:
            last = job["message"] or "no message"
            error = f"the job's process ended without finishing (killed, or out of memory?); last message: {last}"
            _finish(store, job["id"], "failed", error=error, only_active=True)
        ended.append(job["id"])
    return ended


def cancel(store: Store, job_id: int) -> dict:
    """Ask a queued or running job to stop: SIGTERM to its process group. Returns the job as it now stands (its
    status becomes ``cancelled`` once the process has stopped; at once when it was already gone)."""
    job = get(store, job_id)
    if job["status"] not in ACTIVE:
        raise InputError(f"job {job_id} is {job['status']}; only a queued or running job can be cancelled")
    _write(store, "UPDATE jobs SET cancel_requested = 1, message = 'cancelling' WHERE id = ?", (job_id,))
    if job["pid"] is not None and _alive(job):
        try:
            os.killpg(job["pid"], signal.SIGTERM)  # the job leads its own session: its pid is its group
        except ProcessLookupError:
            pass
    return get(store, job_id)


def wait(store: Store, job_id: int, *, timeout: float = 600.0, poll: float = 0.2) -> dict:
    """Block until the job has finished (done, failed or cancelled); RecengineError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (job := get(store, job_id))["status"] in ACTIVE:
        if time.monotonic() > deadline:
            raise RecengineError(f"job {job_id} still {job['status']} after {timeout:g} s")
        time.sleep(poll)
    return job


def _finish(store: Store, job_id: int, status: str, *, result: Any = None, error: str | None = None,
            message: str | None = None, only_active: bool = False) -> None:
    sets = "status = ?, finished_at = ?, result = ?, error = ?"
    values: list[Any] = [status, _now(), None if result is None else _json(result), error]
    if message is not None:
        sets += ", message = ?"
        values.append(message[:MESSAGE_LIMIT])
    if status == "done":
        sets += ", progress = 1"
    guard = " AND status IN ('queued', 'running')" if only_active else ""
    _write(store, f"UPDATE jobs SET {sets} WHERE id = ?{guard}", (*values, job_id))


# --------------------------------------------------------------------------------------------- running


@dataclass
class Reporter:
    """The progress callback an action receives inside a job: training events in, throttled store writes out.

    An experiment's events (:class:`recengine.app.experiments.PartEvent`) carry their part's label and the
    fraction of the whole; ``note(message)`` records a phase, or progress, without a training event.
    Every event first checks for a cancel: after SIGTERM the next event raises :class:`JobCancelled`, except the
    final ``done`` event of a training, which comes after its run is saved (too late to stop cleanly).
    """

    store: Store
    job_id: int
    interval: float = WRITE_INTERVAL_S
    cancelled: bool = False
    _label: str = ""
    _seq: int = 0
    _last_write: float = field(default=-math.inf)
    _last_phase: str = ""
    _fraction: float = 0.0

    def note(self, message: str, *, fraction: float | None = None) -> None:
        """A phase, or work without training events (embedding), ``fraction`` of the way through."""
        self._check_cancel("phase")
        if fraction is None:
            self._phase(message)
            self._progress(self._fraction, message, force=True)
        else:
            self._progress(fraction, message, force=fraction >= 1.0)

    def __call__(self, event: Any) -> None:
        self._check_cancel(getattr(event, "kind", ""))
        kind = event.kind
        fraction = _fraction_of(event)
        message = describe(event)
        label = getattr(event, "label", None)
        if label is not None:  # a part of an experiment (a grid cell); a 'prepare' message names it already
            self._label = "" if kind == "prepare" else f"{label} · "
        milestone = kind in ("epoch", "done")
        if kind == "prepare" and event.message:
            milestone = self._phase(event.message)
        elif milestone:
            metrics = event.metrics
            if metrics is not None and getattr(event, "split", ""):
                metrics = {**metrics, "split": event.split}  # the curve names the split it was measured on
            self._event(kind, event.epoch, event.epochs, event.loss, metrics, message)
        self._progress(self._fraction if fraction is None else fraction, message, force=milestone)

    def _check_cancel(self, kind: str) -> None:
        if self.cancelled and kind != "done":
            raise JobCancelled("cancelled")

    def _phase(self, message: str) -> bool:
        """Record a new phase; whether it was new (a repeated message is progress within the phase)."""
        if message == self._last_phase:
            return False
        self._last_phase = message
        self._event("phase", None, None, None, None, message)
        return True

    def _event(self, kind: str, epoch, epochs, loss, metrics, message: str) -> None:
        self._seq += 1
        _write(
            self.store,
            "INSERT INTO job_events (job_id, seq, time, kind, label, epoch, epochs, loss, metrics, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.job_id, self._seq, _now(), kind, self._label, epoch, epochs, loss,
             None if metrics is None else _json(metrics), message[:MESSAGE_LIMIT]),
        )

    def _progress(self, fraction: float, message: str, *, force: bool) -> None:
        self._fraction = min(max(fraction, self._fraction), 1.0)  # never moves backwards
        now = time.monotonic()
        if not force and now - self._last_write < self.interval:
            return
        self._last_write = now
        text = f"{self._label}{message}"[:MESSAGE_LIMIT]
        _write(self.store, "UPDATE jobs SET progress = ?, message = ? WHERE id = ?", (self._fraction, text, self.job_id))


def _fraction_of(event: Any) -> float | None:
    """How far an event is through its work (None when it does not say): an experiment's events say so
    themselves (``fraction``), a training's follow from epoch and step."""
    if hasattr(event, "fraction"):
        return event.fraction if event.kind != "prepare" else None
    if event.kind == "step" and event.steps and event.epochs:
        return (event.epoch - 1 + event.step / event.steps) / event.epochs
    if event.kind == "epoch" and event.epochs:
        return event.epoch / event.epochs
    if event.kind == "done":
        return 1.0
    return None


def describe(event: Any) -> str:
    """A training event as one line of text."""
    if event.kind == "prepare":
        detail = f" ({event.step:,}/{event.steps:,})" if event.steps else ""
        return f"{event.message or 'preparing'}{detail}"
    if event.kind == "step":
        loss = "" if event.loss is None else f" · loss {event.loss:.4f}"
        return f"epoch {event.epoch}/{event.epochs} · step {event.step}/{event.steps}{loss}"
    if event.kind == "epoch":
        auc = (event.metrics or {}).get("auc")
        loss = "" if event.loss is None else f" · loss {event.loss:.4f}"
        split = getattr(event, "split", "") or "dev"
        return f"finished epoch {event.epoch}/{event.epochs}{loss}" + ("" if auc is None else f" · {split} AUC {auc:.4f}")
    if event.kind == "done":
        return "finished"
    return event.message or event.kind


def run_job(workspace: Workspace, store: Store, job_id: int) -> dict:
    """Run a queued job in this process (what ``recengine jobs run`` does) and record how it ended.

    SIGTERM asks the action to stop at its next progress event. Returns the finished job.
    """
    from recengine.app import tasks

    job = get(store, job_id)
    if job["status"] != "queued":
        raise InputError(f"job {job_id} is {job['status']}; only a queued job can be run")
    _write(store, "UPDATE jobs SET status = 'running', pid = ?, started_at = ?, message = 'starting' "
                  "WHERE id = ? AND status = 'queued'", (os.getpid(), _now(), job_id))
    reporter = Reporter(store, job_id)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: setattr(reporter, "cancelled", True))
    try:
        if _cancel_requested(store, job_id):  # cancelled while the process was starting
            raise JobCancelled("cancelled")
        result = tasks.get(job["kind"]).run(workspace, store, job["params"], reporter)
    except JobCancelled:
        _finish(store, job_id, "cancelled", message="cancelled")
    except RecengineError as exc:
        _finish(store, job_id, "failed", error=str(exc))
    except Exception as exc:  # a bug: one line in the store, the traceback in the job's log
        traceback.print_exc()
        _finish(store, job_id, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
    else:
        _finish(store, job_id, "done", result=result, message="finished")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return get(store, job_id)


def _cancel_requested(store: Store, job_id: int) -> bool:
    rows = _query(store, "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
    return bool(rows and rows[0]["cancel_requested"])
