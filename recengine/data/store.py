"""The application's memory: datasets, articles, users, clicks, runs, comparisons and settings in SQLite.

One database file (``Workspace.store_path``) through sqlite-utils, in WAL mode so readers never block
the writer. SQLite connections belong to one thread, so a :class:`Store` opens one per thread, lazily.

A dataset is identified by its content: the fingerprint of its files (:mod:`recengine.data.identity`), beside a
display name. The same files under another folder name are the same dataset; a folder whose files changed
(regenerated with another seed, replaced) is a new dataset, named after its folder made unique (``demo-2``).
:meth:`Store.dataset_for` is the one resolver every face uses.

What the store promises:
- Writers queue: a writer waits up to ``$RECENGINE_STORE_TIMEOUT`` seconds (default 60) for another to finish,
  then fails with one line saying the store is busy and, when a recengine process holds it, which one and
  what it is doing (long writes leave a note beside the file, ``<store>-writer``).
- A damaged file is found before anything is written: each process runs ``PRAGMA quick_check`` once per file.
- A store that cannot be opened, is read-only, or whose disk is full fails with one line naming the file.

Times are stored as ISO 8601 UTC text without an offset (``2019-11-12T14:14:46``, microseconds only
when non-zero): one fixed layout, so they compare and sort correctly as text. MIND times carry no zone
and are taken as UTC.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice, repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlite_utils import Database

from recengine.data import identity
from recengine.data.mind import NEWS_COLUMNS, MindDataset, parse_entities
from recengine.errors import InputError, RecengineError
from recengine.workspace import Workspace

SCHEMA_VERSION = 3
TIMEOUT_ENV = "RECENGINE_STORE_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
BATCH_ROWS = 50_000
WAL_SIZE_LIMIT = 64 << 20

DATASET_SOURCES = ("generated", "imported")
ARTICLE_SOURCES = ("mind", "added")
RUN_MODES = ("full", "incremental")
# Metric values are stored long, (scorer, slice, metric, value), for runs and comparison cells alike. The store
# checks their shape (names are tokens, values finite numbers or NULL) but not the names themselves: those are
# declared once, in recengine.eval (metrics.METRIC_UNITS, evaluate.SLICE_UNITS).
SCORERS = ("model", "random", "oracle")
ALL_SLICE = "all"  # the slice of a scorer's overall values
CELL_SETTINGS = ("fusion", "temperature", "loss", "seed")
CELL_OPTIONAL = ("run_id", "best_epoch", "seconds")

_SCHEMA = """
CREATE TABLE datasets (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('generated', 'imported')),
    preset TEXT,
    seed INTEGER,
    imported_at TEXT NOT NULL,
    summary TEXT NOT NULL,
    fingerprint TEXT UNIQUE,
    legacy_digest TEXT
);
CREATE TABLE file_digests (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest TEXT NOT NULL
);
CREATE TABLE articles (
    dataset TEXT NOT NULL,
    news_id TEXT NOT NULL,
    category TEXT NOT NULL,
    subcategory TEXT NOT NULL,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL,
    url TEXT NOT NULL,
    title_entities TEXT NOT NULL,
    abstract_entities TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('mind', 'added')),
    added_at TEXT,
    added_by_run TEXT,
    PRIMARY KEY (dataset, news_id)
);
CREATE INDEX articles_by_source ON articles (dataset, source);
CREATE TABLE users (
    dataset TEXT NOT NULL,
    user_id TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    impressions INTEGER NOT NULL,
    in_train INTEGER NOT NULL CHECK (in_train IN (0, 1)),
    PRIMARY KEY (dataset, user_id)
) WITHOUT ROWID;
CREATE TABLE histories (
    dataset TEXT NOT NULL,
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    news_id TEXT NOT NULL,
    PRIMARY KEY (dataset, user_id, position)
) WITHOUT ROWID;
CREATE TABLE clicks (
    dataset TEXT NOT NULL,
    user_id TEXT NOT NULL,
    news_id TEXT NOT NULL,
    time TEXT NOT NULL,
    impression_id INTEGER,
    split TEXT,
    source TEXT NOT NULL CHECK (source IN ('impression', 'live')),
    PRIMARY KEY (dataset, user_id, news_id, time)
) WITHOUT ROWID;
CREATE INDEX clicks_by_article ON clicks (dataset, news_id, time);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
    parent TEXT,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT
);
CREATE INDEX runs_by_dataset ON runs (dataset, created_at);
CREATE TABLE run_metrics (
    run_id TEXT NOT NULL,
    scorer TEXT NOT NULL,
    slice TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, scorer, slice, metric)
) WITHOUT ROWID;
CREATE TABLE comparisons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    created_at TEXT NOT NULL,
    grid TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE comparison_cells (
    comparison_id INTEGER NOT NULL,
    cell INTEGER NOT NULL,
    fusion TEXT NOT NULL,
    temperature REAL NOT NULL,
    loss TEXT NOT NULL,
    seed INTEGER NOT NULL,
    run_id TEXT,
    best_epoch INTEGER,
    seconds REAL,
    PRIMARY KEY (comparison_id, cell)
) WITHOUT ROWID;
CREATE TABLE comparison_metrics (
    comparison_id INTEGER NOT NULL,
    cell INTEGER NOT NULL,
    scorer TEXT NOT NULL,
    slice TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (comparison_id, cell, scorer, slice, metric)
) WITHOUT ROWID;
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# Schema version 1 keyed datasets by name only, with a digest of the rows it imported (and of the folder's path).
# Its datasets keep that digest as legacy_digest and get a content fingerprint when their folder proves to hold
# the same rows (Store._adopt_legacy).
# Schema version 2 kept a comparison cell as one wide row (auc, mrr, ndcg5, ndcg10, random_auc, oracle_auc and a JSON
# 'extra' with the slice AUCs, best epoch and seconds); version 3 keeps the cell's settings in comparison_cells and
# its values long in comparison_metrics, as run_metrics does, numbering the cells of a comparison in their order.
_MIGRATIONS = {
    1: """
CREATE TABLE datasets_v2 (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('generated', 'imported')),
    preset TEXT,
    seed INTEGER,
    imported_at TEXT NOT NULL,
    summary TEXT NOT NULL,
    fingerprint TEXT UNIQUE,
    legacy_digest TEXT
);
INSERT INTO datasets_v2 (name, path, source, preset, seed, imported_at, summary, fingerprint, legacy_digest)
    SELECT name, path, source, preset, seed, imported_at, summary, NULL, fingerprint FROM datasets;
DROP TABLE datasets;
ALTER TABLE datasets_v2 RENAME TO datasets;
CREATE TABLE file_digests (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest TEXT NOT NULL
);
""",
    2: """
CREATE TABLE comparison_cells (
    comparison_id INTEGER NOT NULL,
    cell INTEGER NOT NULL,
    fusion TEXT NOT NULL,
    temperature REAL NOT NULL,
    loss TEXT NOT NULL,
    seed INTEGER NOT NULL,
    run_id TEXT,
    best_epoch INTEGER,
    seconds REAL,
    PRIMARY KEY (comparison_id, cell)
) WITHOUT ROWID;
CREATE TABLE comparison_metrics (
    comparison_id INTEGER NOT NULL,
    cell INTEGER NOT NULL,
    scorer TEXT NOT NULL,
    slice TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (comparison_id, cell, scorer, slice, metric)
) WITHOUT ROWID;
CREATE TEMP TABLE old_cells AS
    SELECT *, ROW_NUMBER() OVER (PARTITION BY comparison_id ORDER BY id) AS cell FROM comparison_results;
INSERT INTO comparison_cells (comparison_id, cell, fusion, temperature, loss, seed, run_id, best_epoch, seconds)
    SELECT comparison_id, cell, fusion, temperature, loss, seed, run_id,
        json_extract(extra, '$.best_epoch'), json_extract(extra, '$.seconds') FROM old_cells;
INSERT INTO comparison_metrics (comparison_id, cell, scorer, slice, metric, value)
    SELECT comparison_id, cell, 'model', 'all', 'auc', auc FROM old_cells
    UNION ALL SELECT comparison_id, cell, 'model', 'all', 'mrr', mrr FROM old_cells
    UNION ALL SELECT comparison_id, cell, 'model', 'all', 'ndcg@5', ndcg5 FROM old_cells
    UNION ALL SELECT comparison_id, cell, 'model', 'all', 'ndcg@10', ndcg10 FROM old_cells
    UNION ALL SELECT comparison_id, cell, 'random', 'all', 'auc', random_auc FROM old_cells
        WHERE random_auc IS NOT NULL
    UNION ALL SELECT comparison_id, cell, 'oracle', 'all', 'auc', oracle_auc FROM old_cells
        WHERE oracle_auc IS NOT NULL
    UNION ALL SELECT o.comparison_id, o.cell, 'model', substr(j.key, 1, length(j.key) - 4), 'auc', j.value
        FROM old_cells o, json_each(o.extra) j
        WHERE j.key LIKE '%!_auc' ESCAPE '!' AND j.type IN ('integer', 'real');
DROP TABLE old_cells;
DROP TABLE comparison_results;
""",
}
TABLES = (
    "datasets",
    "file_digests",
    "articles",
    "users",
    "histories",
    "clicks",
    "runs",
    "run_metrics",
    "comparisons",
    "comparison_cells",
    "comparison_metrics",
    "settings",
)
_DATASET_TABLES = ("articles", "users", "histories", "clicks")
_ARTICLE_COLUMNS = (*NEWS_COLUMNS, "source", "added_at", "added_by_run")

# A user first seen through a live click has no impressions and is not in train; a user who
# already exists keeps the earlier of the two first-seen times.
_UPSERT_LIVE_USER = """
INSERT INTO users (dataset, user_id, first_seen, impressions, in_train) VALUES (?, ?, ?, 0, 0)
ON CONFLICT (dataset, user_id) DO UPDATE SET first_seen = MIN(first_seen, excluded.first_seen)
"""


# --------------------------------------------------------------------------- helpers


def _iso(moment: datetime) -> str:
    """``moment`` as stored: UTC, no offset; a naive datetime is taken as UTC already."""
    if not isinstance(moment, datetime):
        raise InputError(f"expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


def _now() -> str:
    return _iso(datetime.now(UTC))


def _json_default(value: Any) -> Any:
    # Metrics and configs often carry numpy scalars or paths; store them as plain JSON.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} cannot be stored as JSON: {exc}") from None


def _check_id(value: Any, what: str) -> str:
    """An identifier: a non-empty string without whitespace (MIND ids are single tokens)."""
    if not isinstance(value, str) or not value or value != "".join(value.split()):
        raise InputError(f"bad {what} {value!r}: expected a non-empty string without spaces")
    return value


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 0:
        raise InputError(f"limit must be a whole number >= 0, got {limit!r}")
    return int(limit)


def _number(value: Any, what: str) -> float | None:
    """A value for a REAL column: a finite number; None and NaN (a metric undefined here) become NULL."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if math.isinf(value):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    return None if math.isnan(value) else value


def _whole(value: Any, what: str) -> int:
    """A whole number >= 0 (numpy integers included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InputError(f"{what} must be a whole number >= 0, got {value!r}")
    return int(value)


def _insert_frame(
    conn: sqlite3.Connection,
    table: str,
    dataset: str,
    frame: pd.DataFrame,
    constants: dict[str, Any] | None = None,
    *,
    verb: str = "INSERT",
) -> None:
    """Insert ``frame``'s rows under ``dataset`` (plus constant columns) with executemany, in batches.

    Batches bound the memory: only one batch of row tuples exists at a time.
    """
    constants = constants or {}
    columns = ["dataset", *frame.columns, *constants]
    sql = f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    rows = zip(
        repeat(dataset, len(frame)), *(frame[c].tolist() for c in frame.columns), *map(repeat, constants.values())
    )
    while batch := list(islice(rows, BATCH_ROWS)):
        conn.executemany(sql, batch)


# --------------------------------------------------------------------------- dataset rows


def _dataset_rows(dataset: MindDataset) -> dict[str, pd.DataFrame]:
    """The rows a dataset contributes, column-wise: articles, users, histories and impression clicks."""
    articles = dataset.news.frame[list(NEWS_COLUMNS)].reset_index(drop=True)
    impressions: list[pd.DataFrame] = []
    clicks: list[pd.DataFrame] = []
    splits = list(dataset.splits.items())
    for order, (split_name, split) in enumerate(splits):
        b = split.behaviors
        times = np.datetime_as_string(b.times, unit="s").astype(object)
        user_ids = b.impression_user_ids
        impressions.append(
            pd.DataFrame(
                {
                    "user_id": user_ids,
                    "time": times,
                    "split": order,
                    "row": np.arange(len(b), dtype=np.int64),
                    "in_train": split_name == "train",
                }
            )
        )
        clicked = b.labels == 1
        rows = b.candidate_rows[clicked]
        clicks.append(
            pd.DataFrame(
                {
                    "user_id": user_ids[rows],
                    "news_id": b.articles[b.candidates[clicked]],
                    "time": times[rows],
                    "impression_id": b.impression_ids[rows],
                    "split": split_name,
                }
            )
        )
    impression_frame = pd.concat(impressions, ignore_index=True)
    users = (
        impression_frame.groupby("user_id", sort=False)
        .agg(first_seen=("time", "min"), impressions=("time", "size"), in_train=("in_train", "any"))
        .reset_index()
        .sort_values("user_id")
    )
    # MIND histories carry no times, so a user's history is the one on their latest impression row
    # (ties: later split, then later row).
    latest = impression_frame.sort_values(["time", "split", "row"], kind="stable").drop_duplicates(
        "user_id", keep="last"
    )
    histories: list[pd.DataFrame] = []
    for order, (_, split) in enumerate(splits):
        rows = np.sort(latest.loc[latest["split"] == order, "row"].to_numpy())
        chosen = split.behaviors.select(rows)
        lengths = chosen.history_lengths
        histories.append(
            pd.DataFrame(
                {
                    "user_id": np.repeat(chosen.impression_user_ids, lengths),
                    "position": np.arange(len(chosen.history)) - np.repeat(chosen.history_ptr[:-1], lengths),
                    "news_id": chosen.articles[chosen.history],
                }
            )
        )
    click_key = ["user_id", "news_id", "time"]
    click_frame = pd.concat(clicks, ignore_index=True).drop_duplicates(click_key)
    # Rows go in primary-key order: appending to a B-tree is several times faster than inserting at random.
    return {
        "articles": articles,
        "users": users.reset_index(drop=True),
        "histories": pd.concat(histories, ignore_index=True).sort_values(["user_id", "position"], ignore_index=True),
        "clicks": click_frame.sort_values(click_key, ignore_index=True),
    }


def _summary(dataset: MindDataset, tables: dict[str, pd.DataFrame]) -> dict:
    return {
        **{table: len(frame) for table, frame in tables.items()},
        "impressions": sum(len(split.behaviors) for split in dataset.splits.values()),
        "splits": {split_name: len(split.behaviors) for split_name, split in dataset.splits.items()},
        "skipped_rows": dataset.report.total_skipped,
    }


def _legacy_digest(tables: dict[str, pd.DataFrame], meta: list) -> str:
    """Schema version 1's digest of an import (its rows and [path, source, preset, seed]), to recognise its data."""
    digest = hashlib.sha256(_to_json(meta, "dataset metadata").encode())
    for name, frame in tables.items():
        digest.update(f"{name}:{len(frame)}:{','.join(frame.columns)}".encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _check_origin(source: str, preset: str | None, seed: Any) -> dict:
    if source not in DATASET_SOURCES:
        raise InputError(f"dataset source must be one of {', '.join(DATASET_SOURCES)}, got {source!r}")
    if preset is not None and (not isinstance(preset, str) or not preset):
        raise InputError(f"preset must be a non-empty string, got {preset!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise InputError(f"seed must be a whole number, got {seed!r}")
    return {"source": source, "preset": preset, "seed": None if seed is None else int(seed)}


def _origin_of(dataset: MindDataset) -> dict:
    """How a dataset came to be, from its meta.json: generated by the synthetic world, or imported."""
    meta = dataset.meta if isinstance(dataset.meta, dict) else {}
    if not meta.get("generator"):
        return {"source": "imported", "preset": None, "seed": None}
    preset, seed = meta.get("preset"), meta.get("seed")
    return {
        "source": "generated",
        "preset": preset if isinstance(preset, str) and preset else None,
        "seed": seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
    }


def _display_name(folder_name: str) -> str:
    """A store name made from a folder name: letters, digits, '_', '.', '-', starting with a letter or digit."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", folder_name).strip("_.-")[:56] or "dataset"


# --------------------------------------------------------------------------- waiting, faults and damage

_checked: set[tuple[int, int]] = set()  # (device, inode) of the store files this process has quick-checked
_checked_lock = threading.Lock()


def timeout_s() -> float:
    """How long a writer waits for another to finish: ``$RECENGINE_STORE_TIMEOUT`` seconds, default 60."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"${TIMEOUT_ENV} must be a number of seconds >= 0, got {text!r}")
    return value


def _note_path(path: Path) -> Path:
    return path.with_name(path.name + "-writer")


def _leave_note(path: Path, action: str) -> str | None:
    """Say who holds the store's write lock (``<store>-writer``); returns the note's token, None if not written.

    Only long writes leave one; a note is advice for a waiting writer's message, so failing to write it is ignored
    (the write itself reports a store that cannot be written).
    """
    token = f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
    target = _note_path(path)
    temp = target.with_name(f"{target.name}.{token}.tmp")
    try:
        temp.write_text(json.dumps({"pid": os.getpid(), "action": action, "since": _now(), "token": token}))
        os.replace(temp, target)
    except OSError:
        temp.unlink(missing_ok=True)
        return None
    return token


def _take_note(path: Path, token: str) -> None:
    """Remove the writer note if it is still the one ``token`` wrote (called while the lock is still held)."""
    target = _note_path(path)
    try:
        if json.loads(target.read_text()).get("token") == token:
            target.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path: Path) -> str:
    """Who holds the store, from a live recengine process's writer note."""
    try:
        note = json.loads(_note_path(path).read_text())
        pid, action, since = int(note["pid"]), str(note["action"]), str(note["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return "held by a program that left no note"
    if pid <= 0 or not _alive(pid):
        return "held by a program that left no note"
    return f"held by process {pid}, {action}, since {since} UTC"


def _damaged(path: Path, detail: str) -> RecengineError:
    return RecengineError(
        f"{path}: the store file is damaged or not a database ({detail}); nothing was written to it. Move it aside "
        "with its -wal and "
        "-shm files and start again: datasets and runs can be imported and registered again from their folders"
    )


def _fault(path: Path, exc: sqlite3.Error) -> RecengineError | None:
    """A store fault the user can fix, as one line naming the file; None for anything else (a bug)."""
    code = getattr(exc, "sqlite_errorname", None) or ""
    text = str(exc)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return RecengineError(
            f"{path}: the store is busy: another writer kept it for over {timeout_s():g} s ({_holder(path)}); "
            f"try again when it is done, or wait longer with ${TIMEOUT_ENV}=SECONDS"
        )
    if code.startswith("SQLITE_READONLY") or "readonly database" in text:
        return RecengineError(
            f"{path}: the store cannot be written ({text}); make the file and its folder writable, "
            "or use another workspace ($RECENGINE_HOME)"
        )
    if code == "SQLITE_FULL" or "disk is full" in text:
        return RecengineError(f"{path}: the store cannot grow: the disk is full ({text}); free space and try again")
    if code.startswith("SQLITE_CANTOPEN") or "unable to open database file" in text:
        return RecengineError(f"{path}: cannot open the store ({text}); its folder must exist and be writable")
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return _damaged(path, text)
    if code.startswith("SQLITE_IOERR"):
        return RecengineError(f"{path}: the store could not be read or written ({text}); check the disk")
    return None


# --------------------------------------------------------------------------- store


class Store:
    """The SQLite store at ``path``. Safe to share between threads: each thread gets its own connection."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[tuple[int, threading.Thread, Database]] = []

    @classmethod
    def default(cls) -> "Store":
        """The store of the default workspace (``$RECENGINE_HOME`` or ``./data``)."""
        return cls(Workspace.default().store_path)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection this process opened; the store reopens lazily if used again.

        Call it when no other thread is using the store.
        """
        with self._lock:
            opened, self._opened = self._opened, []
            self._local = threading.local()
        pid = os.getpid()
        for owner, _, db in opened:
            # A connection inherited through fork belongs to the parent: closing it here could
            # checkpoint and delete the WAL under the parent's feet.
            if owner == pid:
                db.close()

    # ----------------------------------------------------------------- connections

    @property
    def db(self) -> Database:
        """This thread's connection (opened, and the schema checked, on first use)."""
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            db = self._connect()
            local.db, local.pid = db, pid
            with self._lock:
                self._close_finished_threads(pid)
                self._opened.append((pid, threading.current_thread(), db))
        return local.db

    def _close_finished_threads(self, pid: int) -> None:
        """Close the connections of threads that have ended.

        Servers such as Streamlit run each request on a fresh thread. Left to the garbage collector,
        those connections would stay open for a while: a connection and its statement cache
        reference each other.
        """
        kept = []
        for owner, thread, db in self._opened:
            if owner != pid:
                continue  # inherited through fork: the parent's to close
            if thread.is_alive():
                kept.append((owner, thread, db))
            else:
                db.close()
        self._opened = kept

    def _connect(self) -> Database:
        timeout = timeout_s()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecengineError(f"{self.path}: cannot create the store's folder ({exc.strerror or exc})") from None
        try:
            with self._faults():
                # isolation_level=None: this class opens and ends every transaction itself.
                conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise RecengineError(f"{self.path}: cannot open the store ({exc})") from None
        try:
            with self._faults():
                db = Database(conn)
                db.enable_wal()
                # Safe in WAL mode (a power cut may lose the last commit, never corrupt the file).
                conn.execute("PRAGMA synchronous = NORMAL")
                # A large import grows the WAL to the size of what it wrote; give that space back afterwards.
                conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
                self._check_pages(conn)
                self._migrate(db)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise RecengineError(f"{self.path}: cannot open the store ({exc})") from None
        except BaseException:
            conn.close()
            raise
        return db

    def _check_pages(self, conn: sqlite3.Connection) -> None:
        """``PRAGMA quick_check`` once per process and file, so a damaged file is reported before anything is
        written to it (it reads every page: about a second per GB)."""
        info = self.path.stat()
        key = (info.st_dev, info.st_ino)
        with _checked_lock:
            if key in _checked:
                return
        report = [line for (row,) in conn.execute("PRAGMA quick_check(1)") for line in row.splitlines()]
        if report != ["ok"]:
            # The first line of a report on the main database is the header '*** in database main ***'.
            detail = next((line for line in report if not line.startswith("***")), report[0])
            raise _damaged(self.path, f"quick_check: {detail}")
        with _checked_lock:
            _checked.add(key)

    def _migrate(self, db: Database) -> None:
        """Create the schema on a new file, upgrade one from an older recengine; refuse one from a newer one."""
        if self._schema_version(db) == SCHEMA_VERSION:
            return
        with self._transaction(db.conn, note="upgrading the store's tables"):
            version = self._schema_version(db)  # another process may have upgraded it meanwhile
            if version == 0:
                foreign = sorted(set(db.table_names()) - set(TABLES) - {"sqlite_sequence"})
                if foreign:
                    raise RecengineError(
                        f"{self.path}: is a SQLite database but not a recengine store "
                        f"(it has tables {', '.join(foreign)})"
                    )
                db.executescript(_SCHEMA)
            else:
                for step in range(version, SCHEMA_VERSION):
                    db.executescript(_MIGRATIONS[step])
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _schema_version(self, db: Database) -> int:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RecengineError(
                f"{self.path}: the store was written by a newer recengine (schema version {version}; "
                f"this one reads up to {SCHEMA_VERSION}); upgrade recengine or use another workspace"
            )
        return version

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """Store faults a user can fix (busy, read-only, full, damaged, unopenable) as one RecengineError."""
        try:
            yield
        except sqlite3.Error as exc:
            fault = _fault(self.path, exc)
            if fault is None:
                raise
            raise fault from None
        except pd.errors.DatabaseError as exc:  # pandas wraps the sqlite3 error of a failed query
            fault = _fault(self.path, exc.__cause__) if isinstance(exc.__cause__, sqlite3.Error) else None
            if fault is None:
                raise
            raise fault from None

    @contextmanager
    def _transaction(
        self, conn: sqlite3.Connection | None = None, *, note: str | None = None
    ) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any exception.

        IMMEDIATE takes the write lock up front (waiting up to the timeout): a deferred
        transaction that reads and then writes fails at once, without waiting, if another
        connection committed in between. ``note`` (for long writes) tells waiting writers what holds the store.
        """
        conn = conn if conn is not None else self.db.conn
        with self._faults():
            conn.execute("BEGIN IMMEDIATE")
            token = _leave_note(self.path, note) if note else None
            try:
                yield conn
                if token:
                    _take_note(self.path, token)
                conn.execute("COMMIT")
            except BaseException:
                if token:
                    _take_note(self.path, token)
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: Iterable = ()) -> list[dict]:
        with self._faults():
            return list(self.db.query(sql, list(params)))

    def _tuples(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._faults():
            return self.db.execute(sql, list(params)).fetchall()

    def _frame(self, sql: str, params: Iterable = ()) -> pd.DataFrame:
        with self._faults():
            return pd.read_sql_query(sql, self.db.conn, params=list(params))

    def check(self) -> None:
        """Open the store now (schema and pages checked), or, if it does not exist yet, make sure it can be created
        there, creating nothing: a command calls it before its expensive work."""
        if self.path.exists():
            _ = self.db
            return
        ancestor = next(folder for folder in self.path.parents if folder.exists())
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            raise RecengineError(f"{self.path}: cannot create the store there: {ancestor} is not a writable folder")

    @staticmethod
    def _require_dataset(conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone() is None:
            raise InputError(f"unknown dataset {name!r}: import it into the store first")

    # ----------------------------------------------------------------- datasets

    def fingerprint(self, root: str | Path) -> str:
        """The content fingerprint of the dataset folder ``root`` (:mod:`recengine.data.identity`).

        File digests are kept in the store by path, size, times and inode, so a folder that did not change is
        not read again by a later command.
        """
        files = identity.dataset_files(root)
        paths = [str(path.resolve()) for path in files.values()]
        rows = self._tuples(
            f"SELECT path, size, mtime_ns, ctime_ns, inode, digest FROM file_digests "
            f"WHERE path IN ({', '.join('?' * len(paths))})",
            paths,
        )
        value, computed = identity.fingerprint_files(files, {tuple(row[:5]): row[5] for row in rows})
        if computed:
            self._cache_digests(computed)
        return value

    def _cache_digests(self, computed: dict[identity.FileKey, str]) -> None:
        """Remember file digests, if the store can be written at once: a cache never waits or fails a command
        (a busy, read-only or full store only means hashing again next time)."""
        conn = self.db.conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR REPLACE INTO file_digests (path, size, mtime_ns, ctime_ns, inode, digest) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(*key, digest) for key, digest in computed.items()],
            )
            conn.execute("COMMIT")
        except sqlite3.OperationalError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {round(timeout_s() * 1000)}")

    def dataset_at(self, root: str | Path) -> str | None:
        """The store's name for the data in the folder ``root`` when the store holds it (found by content, from file
        digests: nothing is parsed), else None."""
        root = str(Path(root).resolve())
        found = self._known(self.fingerprint(root), root)
        return found["dataset"] if found else None

    def dataset_for(
        self,
        dataset: MindDataset,
        *,
        name: str | None = None,
        exact: bool = False,
        source: str | None = None,
        preset: str | None = None,
        seed: int | None = None,
    ) -> str:
        """The store's name for ``dataset``'s content, importing it first when the store lacks it.

        Found by content fingerprint, never by folder name. New content is imported under ``name`` (default: its
        folder's name), made unique with ``-2``, ``-3``... With ``exact``, ``name`` must come back: the content
        must be stored under it, or be new while the name is free; InputError otherwise. ``source``, ``preset``
        and ``seed`` default to what the dataset's meta.json says (generated by recengine, or imported).
        """
        if name is not None:
            _check_id(name, "dataset name")
        origin = _origin_of(dataset) if source is None else _check_origin(source, preset, seed)
        stored = self._settle(dataset, name, rename=not exact, origin=origin)["dataset"]
        if exact and name is not None and stored != name:
            held = f"the store's dataset {name!r} holds other data; " if self.dataset(name) is not None else ""
            raise InputError(f"{held}the data of {dataset.root} is already in the store as dataset {stored!r}")
        return stored

    def import_dataset(
        self,
        name: str,
        dataset: MindDataset,
        *,
        source: str,
        preset: str | None = None,
        seed: int | None = None,
    ) -> dict:
        """Import a dataset's articles, users, histories and impression clicks under ``name``, in one transaction.

        Importing the same content again writes nothing. InputError when ``name`` holds other data, or when this
        data is already stored under another name. Returns ``{"dataset", counts..., "changed", "fingerprint"}``.
        """
        _check_id(name, "dataset name")
        origin = _check_origin(source, preset, seed)
        result = self._settle(dataset, name, rename=False, origin=origin)
        if result["dataset"] != name:
            raise InputError(f"this data ({dataset.root}) is already in the store as dataset {result['dataset']!r}")
        return result

    def _settle(self, dataset: MindDataset, name: str | None, *, rename: bool, origin: dict) -> dict:
        """Find ``dataset``'s content in the store, or import it; returns the import summary with ``changed``."""
        root = str(Path(dataset.root).resolve())
        fingerprint = self.fingerprint(root)
        found = self._known(fingerprint, root)
        if found is not None:
            return found
        # A name taken by other data is refused before the rows are built (a version-1 dataset, whose content is
        # unknown, may yet prove to be this data).
        other_data = "SELECT 1 FROM datasets WHERE name = ? AND fingerprint NOT NULL"
        if not rename and name and self._tuples(other_data, [name]):
            with self._faults():
                self._claim(self.db.conn, name, root)
        tables = _dataset_rows(dataset)
        summary = _summary(dataset, tables)
        adopted = self._adopt_legacy(root, fingerprint, tables, summary)
        if adopted is not None:
            return adopted
        base = name or _display_name(Path(root).name)
        return self._import(base, root, fingerprint, tables, summary, origin, rename=rename)

    def _import(
        self, base: str, root: str, fingerprint: str, tables: dict[str, pd.DataFrame], summary: dict, origin: dict,
        *, rename: bool,
    ) -> dict:
        """Write a new dataset's rows and record, in one transaction, under ``base`` (made unique if ``rename``)."""
        with self._transaction(note=f"importing dataset {base!r} from {root}") as conn:
            raced = conn.execute("SELECT name FROM datasets WHERE fingerprint = ?", (fingerprint,)).fetchone()
            if raced is not None:  # another process imported the same data meanwhile
                return {"dataset": raced[0], **summary, "changed": False, "fingerprint": fingerprint}
            name = self._free_name(conn, base) if rename else self._claim(conn, base, root)
            for table in _DATASET_TABLES:  # rows left without a dataset record must not mix in
                conn.execute(f"DELETE FROM {table} WHERE dataset = ?", (name,))
            _insert_frame(conn, "articles", name, tables["articles"], {"source": "mind"})
            _insert_frame(conn, "users", name, tables["users"])
            _insert_frame(conn, "histories", name, tables["histories"])
            _insert_frame(conn, "clicks", name, tables["clicks"], {"source": "impression"})
            conn.execute(
                "INSERT INTO datasets (name, path, source, preset, seed, imported_at, summary, fingerprint) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, root, origin["source"], origin["preset"], origin["seed"], _now(),
                 _to_json(summary, "summary"), fingerprint),
            )
        return {"dataset": name, **summary, "changed": True, "fingerprint": fingerprint}

    def _known(self, fingerprint: str, root: str) -> dict | None:
        """The stored dataset with this content, or None. A record whose folder no longer holds the content (moved
        or replaced) is pointed at ``root``, where the data is now."""
        rows = self._rows("SELECT name, path, summary FROM datasets WHERE fingerprint = ?", (fingerprint,))
        if not rows:
            return None
        row = rows[0]
        if row["path"] != root and not self._holds(row["path"], fingerprint):
            with self._transaction() as conn:
                conn.execute("UPDATE datasets SET path = ? WHERE name = ?", (root, row["name"]))
        return {"dataset": row["name"], **json.loads(row["summary"]), "changed": False, "fingerprint": fingerprint}

    def _holds(self, folder: str, fingerprint: str) -> bool:
        try:
            return self.fingerprint(folder) == fingerprint
        except (InputError, OSError):
            return False

    def _adopt_legacy(self, root: str, fingerprint: str, tables: dict[str, pd.DataFrame], summary: dict) -> dict | None:
        """A dataset imported by schema version 1 from ``root`` with exactly these rows: it gets the fingerprint."""
        rows = self._rows(
            "SELECT name, source, preset, seed, legacy_digest FROM datasets WHERE fingerprint IS NULL AND path = ?",
            (root,),
        )
        for row in rows:
            if _legacy_digest(tables, [root, row["source"], row["preset"], row["seed"]]) != row["legacy_digest"]:
                continue
            with self._transaction() as conn:
                raced = conn.execute("SELECT name FROM datasets WHERE fingerprint = ?", (fingerprint,)).fetchone()
                name = raced[0] if raced is not None else row["name"]
                if raced is None:
                    conn.execute("UPDATE datasets SET fingerprint = ? WHERE name = ?", (fingerprint, name))
            return {"dataset": name, **summary, "changed": False, "fingerprint": fingerprint}
        return None

    @staticmethod
    def _free_name(conn: sqlite3.Connection, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``... whichever no dataset has."""
        taken = {row[0] for row in conn.execute("SELECT name FROM datasets WHERE name = ? OR name LIKE ?",
                                                (base, f"{base}-%"))}
        n = 1
        while (candidate := base if n == 1 else f"{base}-{n}") in taken:
            n += 1
        return candidate

    @staticmethod
    def _claim(conn: sqlite3.Connection, name: str, root: str) -> str:
        other = conn.execute("SELECT path, fingerprint FROM datasets WHERE name = ?", (name,)).fetchone()
        if other is not None:
            raise InputError(
                f"a dataset called {name!r} already holds other data (imported from {other[0]}, fingerprint "
                f"{other[1] or 'unknown'}) than {root}; choose another name"
            )
        return name

    def datasets(self) -> list[dict]:
        """Every imported dataset, by name."""
        return [self._dataset_dict(row) for row in self._rows("SELECT * FROM datasets ORDER BY name")]

    def dataset(self, name: str) -> dict | None:
        """One dataset's record (``summary`` parsed), or None."""
        rows = self._rows("SELECT * FROM datasets WHERE name = ?", (name,))
        return self._dataset_dict(rows[0]) if rows else None

    @staticmethod
    def _dataset_dict(row: dict) -> dict:
        row["summary"] = json.loads(row["summary"])
        row.pop("legacy_digest", None)
        return row

    def delete_dataset(self, name: str) -> None:
        """Forget a dataset and every article, user, history and click stored under it (runs stay)."""
        with self._transaction(note=f"deleting dataset {name!r}") as conn:
            for table in _DATASET_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE dataset = ?", (name,))
            conn.execute("DELETE FROM datasets WHERE name = ?", (name,))

    # ----------------------------------------------------------------- articles

    def articles(self, dataset: str, source: str | None = None) -> pd.DataFrame:
        """A dataset's articles (MIND columns plus source, added_at, added_by_run), imported first, then added."""
        if source is not None and source not in ARTICLE_SOURCES:
            raise InputError(f"article source must be one of {', '.join(ARTICLE_SOURCES)}, got {source!r}")
        where, params = "dataset = ?", [dataset]
        if source is not None:
            where, params = where + " AND source = ?", [dataset, source]
        return self._frame(f"SELECT {', '.join(_ARTICLE_COLUMNS)} FROM articles WHERE {where} ORDER BY rowid", params)

    def article(self, dataset: str, news_id: str) -> dict | None:
        """One article as a dict, or None."""
        rows = self._rows(
            f"SELECT {', '.join(_ARTICLE_COLUMNS)} FROM articles WHERE dataset = ? AND news_id = ?", (dataset, news_id)
        )
        return rows[0] if rows else None

    def add_article(self, dataset: str, row: dict, *, run_id: str | None = None) -> None:
        """Add an article to a dataset (source 'added'). ``row`` has the MIND columns; news_id and title are required.

        Raises InputError when the id exists in the dataset, the title is empty or a field is malformed.
        """
        unknown = sorted(set(row) - set(NEWS_COLUMNS))
        if unknown:
            raise InputError(f"unknown article fields {', '.join(unknown)}; expected {', '.join(NEWS_COLUMNS)}")
        values = {column: row.get(column, "") for column in NEWS_COLUMNS}
        for column in ("title_entities", "abstract_entities"):
            if isinstance(values[column], (list, tuple)):
                values[column] = _to_json(list(values[column]), column)
        for column, value in values.items():
            if not isinstance(value, str):
                raise InputError(f"article field {column} must be text, got {type(value).__name__}")
            # The store's articles are written back as MIND TSV, one article per line.
            if any(ch in value for ch in "\t\r\n"):
                raise InputError(f"article field {column} contains a tab or line break")
        news_id = _check_id(values["news_id"], "news id")
        if not values["title"].strip():
            raise InputError(f"article {news_id} has an empty title")
        for column in ("title_entities", "abstract_entities"):
            try:
                parse_entities(values[column])
            except ValueError as exc:
                raise InputError(f"article {news_id}: {column}: {exc}") from None
        if run_id is not None:
            _check_id(run_id, "run id")
        with self._transaction() as conn:
            self._require_dataset(conn, dataset)
            exists = conn.execute(
                "SELECT source FROM articles WHERE dataset = ? AND news_id = ?", (dataset, news_id)
            ).fetchone()
            if exists is not None:
                raise InputError(f"article {news_id} already exists in dataset {dataset!r} ({exists[0]})")
            conn.execute(
                f"INSERT INTO articles (dataset, {', '.join(_ARTICLE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * (1 + len(_ARTICLE_COLUMNS)))})",
                (dataset, *(values[c] for c in NEWS_COLUMNS), "added", _now(), run_id),
            )

    def added_articles(self, dataset: str) -> pd.DataFrame:
        """Articles added through the store, oldest first."""
        return self.articles(dataset, source="added")

    # ----------------------------------------------------------------- users and clicks

    def record_click(self, dataset: str, user_id: str, news_id: str, time: datetime | None = None) -> None:
        """Record a live click (default time: now). A user seen for the first time becomes a known user.

        The same click (user, article, instant) recorded twice is kept once.
        """
        _check_id(user_id, "user id")
        _check_id(news_id, "news id")
        stamp = _now() if time is None else _iso(time)
        with self._transaction() as conn:
            self._require_dataset(conn, dataset)
            if conn.execute(
                "SELECT 1 FROM articles WHERE dataset = ? AND news_id = ?", (dataset, news_id)
            ).fetchone() is None:
                raise InputError(f"unknown article {news_id!r} in dataset {dataset!r}")
            conn.execute(
                "INSERT OR IGNORE INTO clicks (dataset, user_id, news_id, time, source) VALUES (?, ?, ?, ?, 'live')",
                (dataset, user_id, news_id, stamp),
            )
            conn.execute(_UPSERT_LIVE_USER, (dataset, user_id, stamp))

    def user_history(self, dataset: str, user_id: str, limit: int = 50) -> list[str]:
        """The user's MIND history, then their clicks in time order; each article once, at its latest occurrence.

        Returns the last ``limit`` ids, oldest first.
        """
        limit = _check_limit(limit)
        rows = self._tuples(
            """
            SELECT news_id FROM (
                SELECT news_id, 0 AS part, '' AS time, position FROM histories WHERE dataset = ? AND user_id = ?
                UNION ALL
                SELECT news_id, 1, time, 0 FROM clicks WHERE dataset = ? AND user_id = ?
            ) ORDER BY part, time, position, news_id
            """,
            (dataset, user_id, dataset, user_id),
        )
        seen: set[str] = set()
        latest_first: list[str] = []
        for (news_id,) in reversed(rows):
            if news_id not in seen:
                seen.add(news_id)
                latest_first.append(news_id)
        return latest_first[:limit][::-1]

    def user_exists(self, dataset: str, user_id: str) -> bool:
        """Whether the user has an impression or a live click in the dataset."""
        return bool(self._tuples("SELECT 1 FROM users WHERE dataset = ? AND user_id = ?", (dataset, user_id)))

    def users(self, dataset: str) -> pd.DataFrame:
        """user_id, first_seen, impressions, in_train (bool) for every known user of the dataset."""
        frame = self._frame(
            "SELECT user_id, first_seen, impressions, in_train FROM users WHERE dataset = ? ORDER BY user_id",
            (dataset,),
        )
        frame["in_train"] = frame["in_train"].astype(bool)
        return frame

    def popular_articles(self, dataset: str, since: datetime | None = None, limit: int = 100) -> pd.DataFrame:
        """news_id and clicks (impression and live) since ``since``, most clicked first."""
        limit = _check_limit(limit)
        where, params = "dataset = ?", [dataset]
        if since is not None:
            where, params = where + " AND time >= ?", [dataset, _iso(since)]
        return self._frame(
            f"SELECT news_id, COUNT(*) AS clicks FROM clicks WHERE {where} "
            "GROUP BY news_id ORDER BY clicks DESC, news_id LIMIT ?",
            [*params, limit],
        )

    # ----------------------------------------------------------------- runs

    def register_run(
        self,
        run_id: str,
        *,
        dataset: str,
        path: str | Path,
        mode: str,
        parent: str | None = None,
        config: dict,
        metrics: dict | None = None,
        status: str = "complete",
    ) -> None:
        """Record a run, or update it (created_at kept; ``metrics=None`` keeps stored metrics)."""
        _check_id(run_id, "run id")
        _check_id(dataset, "dataset name")
        if mode not in RUN_MODES:
            raise InputError(f"run mode must be one of {', '.join(RUN_MODES)}, got {mode!r}")
        if not isinstance(status, str) or not status:
            raise InputError(f"run status must be a non-empty string, got {status!r}")
        if parent is not None:
            _check_id(parent, "parent run id")
        config_json = _to_json(config, "run config")
        metric_rows = _metric_rows(metrics) if metrics is not None else None
        with self._transaction() as conn:
            conn.execute(
                """
                INSERT INTO runs (run_id, dataset, path, created_at, mode, parent, status, config, metrics)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
                ON CONFLICT (run_id) DO UPDATE SET
                    dataset = excluded.dataset, path = excluded.path, mode = excluded.mode,
                    parent = excluded.parent, status = excluded.status, config = excluded.config
                """,
                (run_id, dataset, str(path), _now(), mode, parent, status, config_json),
            )
            if metric_rows is not None:
                self._write_metrics(conn, run_id, metrics, metric_rows)

    def set_run_metrics(self, run_id: str, metrics: dict) -> None:
        """Store a run's evaluation JSON and its long-format rows (replacing earlier ones)."""
        rows = _metric_rows(metrics)
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                raise InputError(f"unknown run {run_id!r}: register it first")
            self._write_metrics(conn, run_id, metrics, rows)

    @staticmethod
    def _write_metrics(conn: sqlite3.Connection, run_id: str, metrics: dict, rows: list[tuple]) -> None:
        conn.execute("UPDATE runs SET metrics = ? WHERE run_id = ?", (_to_json(metrics, "metrics"), run_id))
        conn.execute("DELETE FROM run_metrics WHERE run_id = ?", (run_id,))
        conn.executemany(
            "INSERT INTO run_metrics (run_id, scorer, slice, metric, value) VALUES (?, ?, ?, ?, ?)",
            [(run_id, *row) for row in rows],
        )

    def runs(self, dataset: str | None = None) -> list[dict]:
        """Runs (config and metrics parsed), newest first."""
        where, params = ("WHERE dataset = ?", [dataset]) if dataset is not None else ("", [])
        return [
            self._run_dict(row)
            for row in self._rows(f"SELECT * FROM runs {where} ORDER BY created_at DESC, run_id DESC", params)
        ]

    def run(self, run_id: str) -> dict | None:
        """One run's record, or None."""
        rows = self._rows("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return self._run_dict(rows[0]) if rows else None

    @staticmethod
    def _run_dict(row: dict) -> dict:
        row["config"] = json.loads(row["config"])
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] is not None else None
        return row

    def run_metrics(self, run_id: str | None = None, *, dataset: str | None = None) -> pd.DataFrame:
        """Long-format metrics (run_id, scorer, slice, metric, value) of one run, a dataset's runs, or all."""
        where, params = [], []
        if run_id is not None:
            where, params = where + ["m.run_id = ?"], params + [run_id]
        if dataset is not None:
            where, params = where + ["r.dataset = ?"], params + [dataset]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._frame(
            "SELECT m.run_id, m.scorer, m.slice, m.metric, m.value FROM run_metrics m "
            f"JOIN runs r ON r.run_id = m.run_id {clause} ORDER BY m.run_id, m.scorer, m.slice, m.metric",
            params,
        )

    def delete_run(self, run_id: str) -> None:
        """Forget a run and its metric rows (comparison results that name it keep the name)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM run_metrics WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    # ----------------------------------------------------------------- comparisons

    def start_comparison(self, dataset: str, grid: dict) -> int:
        """Open a comparison (status 'running') over ``grid``; returns its id."""
        _check_id(dataset, "dataset name")
        grid_json = _to_json(grid, "comparison grid")
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO comparisons (dataset, created_at, grid, status) VALUES (?, ?, ?, 'running')",
                (dataset, _now(), grid_json),
            )
            return int(cursor.lastrowid)

    def add_comparison_cell(self, comparison_id: int, cell: int, settings: dict, metrics: dict) -> None:
        """Store one grid cell (replacing an earlier one with the same number): its ``settings`` (fusion,
        temperature, loss, seed; optionally run_id, best_epoch, seconds) and its evaluation ``metrics``, in the
        layout :meth:`set_run_metrics` takes, as long rows (:meth:`comparison_metrics`)."""
        cell = _whole(cell, "comparison cell number")
        values = _cell_settings(settings)
        rows = _metric_rows(metrics)
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM comparisons WHERE id = ?", (comparison_id,)).fetchone() is None:
                raise InputError(f"unknown comparison {comparison_id!r}")
            conn.execute("DELETE FROM comparison_metrics WHERE comparison_id = ? AND cell = ?", (comparison_id, cell))
            conn.execute(
                "INSERT OR REPLACE INTO comparison_cells (comparison_id, cell, fusion, temperature, loss, seed, "
                "run_id, best_epoch, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (comparison_id, cell, *values),
            )
            conn.executemany(
                "INSERT INTO comparison_metrics (comparison_id, cell, scorer, slice, metric, value) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(comparison_id, cell, *row) for row in rows],
            )

    def finish_comparison(self, comparison_id: int, status: str = "complete") -> None:
        """Set a comparison's final status."""
        if not isinstance(status, str) or not status:
            raise InputError(f"comparison status must be a non-empty string, got {status!r}")
        with self._transaction() as conn:
            cursor = conn.execute("UPDATE comparisons SET status = ? WHERE id = ?", (status, comparison_id))
            if cursor.rowcount == 0:
                raise InputError(f"unknown comparison {comparison_id!r}")

    def comparisons(self, dataset: str | None = None) -> list[dict]:
        """Comparisons (grid parsed, with their result count), newest first."""
        where, params = ("WHERE c.dataset = ?", [dataset]) if dataset is not None else ("", [])
        rows = self._rows(
            "SELECT c.*, (SELECT COUNT(*) FROM comparison_cells r WHERE r.comparison_id = c.id) AS results "
            f"FROM comparisons c {where} ORDER BY c.id DESC",
            params,
        )
        for row in rows:
            row["grid"] = json.loads(row["grid"])
        return rows

    def comparison_cells(self, comparison_id: int) -> pd.DataFrame:
        """One comparison's cells (cell, fusion, temperature, loss, seed, run_id, best_epoch, seconds) in order."""
        return self._frame(
            f"SELECT cell, {', '.join((*CELL_SETTINGS, *CELL_OPTIONAL))} FROM comparison_cells "
            "WHERE comparison_id = ? ORDER BY cell",
            (comparison_id,),
        )

    def comparison_metrics(self, comparison_id: int) -> pd.DataFrame:
        """One comparison's values, long: (cell, scorer, slice, metric, value), a NULL value as NaN."""
        return self._frame(
            "SELECT cell, scorer, slice, metric, value FROM comparison_metrics WHERE comparison_id = ? "
            "ORDER BY cell, scorer, slice, metric",
            (comparison_id,),
        )

    # ----------------------------------------------------------------- settings

    def get_setting(self, key: str, default: Any = None) -> Any:
        """A setting's value, or ``default`` when it was never set."""
        rows = self._tuples("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        """Set a setting to any JSON-serializable value."""
        if not isinstance(key, str) or not key:
            raise InputError(f"setting key must be a non-empty string, got {key!r}")
        text = _to_json(value, f"setting {key}")
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )


    # ----------------------------------------------------------------- tables of application modules

    def ensure_tables(self, ddl: str) -> None:
        """Create the tables an application module keeps in this store (``ddl``: ``CREATE ... IF NOT EXISTS``
        statements), once per store file and process. A store without them is one in which that module never ran."""
        conn = self.db.conn  # opens the store, schema and pages checked, first
        key = (str(self.path.resolve()), self.path.stat().st_ino, ddl)  # a store replaced at the same path is new
        if key in _MODULE_TABLES:
            return
        with self._faults():
            conn.executescript(ddl)
        _MODULE_TABLES.add(key)

    def write(self, sql: str, params: Iterable = ()) -> int:
        """One statement in its own write transaction (busy, read-only and full stores reported as everywhere
        else); returns the last inserted row id."""
        with self._transaction() as conn:
            return int(conn.execute(sql, list(params)).lastrowid or 0)

    def write_many(self, statements: Sequence[tuple[str, Sequence[Sequence]]]) -> None:
        """Several statements, each with many parameter rows, in one write transaction (all or nothing)."""
        with self._transaction() as conn:
            for sql, rows in statements:
                conn.executemany(sql, [list(row) for row in rows])

    def query(self, sql: str, params: Iterable = ()) -> list[dict]:
        """The rows of one read, as dicts."""
        return self._rows(sql, params)

    def query_frame(self, sql: str, params: Iterable = ()) -> pd.DataFrame:
        """The rows of one read, as a DataFrame (for large reads: no dict per row)."""
        return self._frame(sql, params)


_MODULE_TABLES: set[tuple] = set()  # (store file, inode, ddl) whose module tables this process has created


def _cell_settings(settings: Any) -> tuple:
    """A comparison cell's settings checked, in the order of CELL_SETTINGS then CELL_OPTIONAL (absent ones None)."""
    if not isinstance(settings, dict):
        raise InputError("comparison cell settings must be a dict")
    missing = [key for key in CELL_SETTINGS if key not in settings]
    if missing:
        raise InputError(f"comparison cell lacks {', '.join(missing)}")
    unknown = sorted(map(str, set(settings) - {*CELL_SETTINGS, *CELL_OPTIONAL}))
    if unknown:
        raise InputError(f"unknown comparison cell settings {', '.join(unknown)}")
    temperature = _number(settings["temperature"], "comparison cell temperature")
    if temperature is None:
        raise InputError("comparison cell temperature must be a number")
    run_id, best_epoch = settings.get("run_id"), settings.get("best_epoch")
    return (
        _check_id(settings["fusion"], "comparison cell fusion"),
        temperature,
        _check_id(settings["loss"], "comparison cell loss"),
        _whole(settings["seed"], "comparison cell seed"),
        None if run_id is None else _check_id(run_id, "run id"),
        None if best_epoch is None else _whole(best_epoch, "comparison cell best_epoch"),
        _number(settings.get("seconds"), "comparison cell seconds"),
    )


def _slice_names(mapping: Any, what: str) -> dict:
    """``mapping`` of slice names (tokens other than 'all') to values; its name lists are the evaluation's own."""
    mapping = mapping or {}
    if not isinstance(mapping, dict):
        raise InputError(f"{what} must be a dict of slices")
    for name in mapping:
        _check_id(name, f"slice name in {what}")
        if name == ALL_SLICE:
            raise InputError(f"{what}: a slice cannot be named {ALL_SLICE!r} (the overall values' name)")
    return mapping


def _metric_rows(metrics: Any) -> list[tuple]:
    """Validate the evaluation JSON and flatten it to (scorer, slice, metric, value) rows.

    The model contributes its overall ('all') and per-slice metrics; random and oracle their overall ones,
    and their per-slice ones when the evaluation has ``baselines`` (``{slice: {"random": M, "oracle": M}}``).
    Any slice and metric name is taken (a token); values must be finite numbers, None or NaN (stored as NULL).
    """
    if not isinstance(metrics, dict):
        raise InputError("metrics must be a dict with model, random, oracle and slices")
    # Issue 13's additions are kept in the JSON column only (not flattened to rows).
    extras = {"selected_on", "ci", "slice_groups", "reliability", "beyond", "against", "prediction"}
    unknown = sorted(set(metrics) - {*SCORERS, "slices", "baselines", *extras})
    if unknown:
        raise InputError(f"unknown metrics keys {', '.join(unknown)}")
    for key in ("model", "random"):
        if not isinstance(metrics.get(key), dict):
            raise InputError(f"metrics['{key}'] must be a dict of metric values")
    slices = _slice_names(metrics.get("slices"), "metrics['slices']")
    baselines = _slice_names(metrics.get("baselines"), "metrics['baselines']")
    groups = [(scorer, ALL_SLICE, metrics.get(scorer)) for scorer in SCORERS]
    groups += [("model", name, values) for name, values in slices.items()]
    for name, per_scorer in baselines.items():
        if not isinstance(per_scorer, dict) or sorted(set(per_scorer) - {"random", "oracle"}):
            raise InputError(f"metrics['baselines']['{name}'] must hold 'random' and 'oracle'")
        groups += [(scorer, name, values) for scorer, values in per_scorer.items()]
    rows: list[tuple] = []
    for scorer, slice_name, values in groups:
        # The oracle exists only where the truth is known; a slice may have no impressions.
        if values is None:
            continue
        if not isinstance(values, dict):
            raise InputError(f"metrics for {scorer}/{slice_name} must be a dict")
        for metric, value in values.items():
            _check_id(metric, f"metric name in {scorer}/{slice_name}")
            rows.append((scorer, slice_name, metric, _number(value, f"{scorer}/{slice_name}/{metric}")))
    return rows
