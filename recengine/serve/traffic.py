"""The traffic log: what the live service served, to whom, from which run and A/B arm, and what was clicked.

Two tables in the store (created on first use, like the job tables): ``served_impressions`` (one row per list shown:
its id, dataset, run, arm, user, wall-clock time and origin) and ``served_items`` (one row per article in it: its
position, whether the serving run had trained on it, whether it was clicked). The monitor reads them
(:mod:`recengine.app.monitor`); an update on logged traffic exports them as MIND behaviour lines.

Writes are buffered: :class:`TrafficLog` queues them and one background thread commits the queue every
``FLUSH_INTERVAL_S`` in a single transaction, so logging costs a request microseconds, not a SQLite commit.
A click for an impression still in the queue is applied when the queue is written (clicks are queued after the
impression they name). :meth:`TrafficLog.flush` writes everything now (tests, shutdown, before the monitor reads).
"""

from __future__ import annotations

import queue
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Sequence

import pandas as pd

from recengine.data.store import Store
from recengine.errors import InputError

FLUSH_INTERVAL_S = 0.25
ORIGINS = ("served", "reported")  # listed by the service's recommend, or reported by the client as shown

_TABLES = """
CREATE TABLE IF NOT EXISTS served_impressions (
    id TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    run_id TEXT,
    arm TEXT NOT NULL,
    user_id TEXT NOT NULL,
    time TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('served', 'reported'))
);
CREATE INDEX IF NOT EXISTS served_by_time ON served_impressions (dataset, time);
CREATE INDEX IF NOT EXISTS served_by_user ON served_impressions (dataset, user_id, time);
CREATE TABLE IF NOT EXISTS served_items (
    impression_id TEXT NOT NULL REFERENCES served_impressions (id),
    position INTEGER NOT NULL,
    news_id TEXT NOT NULL,
    new INTEGER NOT NULL,
    clicked INTEGER NOT NULL DEFAULT 0,
    clicked_at TEXT,
    PRIMARY KEY (impression_id, position)
);
CREATE INDEX IF NOT EXISTS served_items_by_article ON served_items (news_id);
"""

_INSERT_IMPRESSION = "INSERT INTO served_impressions (id, dataset, run_id, arm, user_id, time, origin) VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_ITEM = "INSERT INTO served_items (impression_id, position, news_id, new, clicked, clicked_at) VALUES (?, ?, ?, ?, ?, ?)"
_MARK_CLICK = "UPDATE served_items SET clicked = 1, clicked_at = ? WHERE impression_id = ? AND news_id = ? AND clicked = 0"


def ensure(store: Store) -> None:
    """Create the traffic tables in ``store`` if this process has not yet."""
    store.ensure_tables(_TABLES)


def stamp(moment: datetime | None = None) -> str:
    """ISO UTC to the millisecond, without the zone (the store's convention); default now."""
    moment = datetime.now(UTC) if moment is None else moment
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Impression:
    """One list shown to a user. ``new[i]``: the serving run had not trained on ``news_ids[i]``."""

    dataset: str
    run_id: str | None
    arm: str
    user_id: str
    news_ids: Sequence[str]
    new: Sequence[bool]
    origin: str = "served"
    clicked: Sequence[str] = ()
    time: str | None = None


class TrafficLog:
    """A buffered writer of impressions and clicks for one store (thread-safe; see the module notes)."""

    def __init__(self, store: Store, *, interval_s: float = FLUSH_INTERVAL_S):
        ensure(store)
        self.store = store
        self.interval_s = interval_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._write_lock = threading.Lock()
        self._pending: list[tuple] = []  # taken from the queue, not yet written
        self.last_error: str | None = None  # the background writer's last failure, until a flush succeeds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="traffic-log", daemon=True)
        self._thread.start()

    def impression(self, shown: Impression) -> str:
        """Queue ``shown``; returns its new id (the client names it when it reports a click)."""
        if shown.origin not in ORIGINS:
            raise InputError(f"impression origin must be one of {', '.join(ORIGINS)}, got {shown.origin!r}")
        impression_id = uuid.uuid4().hex
        self._queue.put(("impression", impression_id, shown, shown.time or stamp()))
        return impression_id

    def click(self, impression_id: str, news_id: str, time: str | None = None) -> None:
        """Queue a click on ``news_id`` in impression ``impression_id`` (an item not in it changes nothing)."""
        self._queue.put(("click", impression_id, news_id, time or stamp()))

    def flush(self) -> None:
        """Write everything queued so far, now. On a store error the entries stay queued for the next flush."""
        with self._write_lock:
            while True:
                try:
                    self._pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if self._pending:
                self.store.write_many(_statements(self._pending))
                self._pending = []
            self.last_error = None

    def close(self) -> None:
        """Stop the background writer after a last flush."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.flush()
            except Exception as exc:  # a busy or full store: kept for the next round, and reported by health
                self.last_error = f"{type(exc).__name__}: {exc}"


def _statements(entries: list[tuple]) -> list[tuple[str, list[tuple]]]:
    impressions, items, clicks = [], [], []
    for kind, impression_id, *rest in entries:
        if kind == "impression":
            shown, time = rest
            clicked = set(shown.clicked)
            impressions.append((impression_id, shown.dataset, shown.run_id, shown.arm, shown.user_id, time, shown.origin))
            items.extend(
                (impression_id, position, news_id, int(bool(new)), int(news_id in clicked), time if news_id in clicked else None)
                for position, (news_id, new) in enumerate(zip(shown.news_ids, shown.new))
            )
        else:
            news_id, time = rest
            clicks.append((time, impression_id, news_id))
    return [(_INSERT_IMPRESSION, impressions), (_INSERT_ITEM, items), (_MARK_CLICK, clicks)]


def latest_impression_with(store: Store, dataset: str, user_id: str, news_id: str) -> str | None:
    """The id of the user's latest logged impression that showed ``news_id`` (None if none did)."""
    ensure(store)
    rows = store.query(
        "SELECT i.id FROM served_impressions i JOIN served_items s ON s.impression_id = i.id "
        "WHERE i.dataset = ? AND i.user_id = ? AND s.news_id = ? ORDER BY i.time DESC LIMIT 1",
        (dataset, user_id, news_id),
    )
    return rows[0]["id"] if rows else None


def impression_owner(store: Store, impression_id: str) -> dict | None:
    """dataset, user_id, run_id and arm of a logged impression (None if unknown)."""
    ensure(store)
    rows = store.query("SELECT dataset, user_id, run_id, arm FROM served_impressions WHERE id = ?", (impression_id,))
    return rows[0] if rows else None


def items(store: Store, dataset: str, *, since: str | None = None, until: str | None = None) -> pd.DataFrame:
    """Every logged item of ``dataset`` shown in [since, until): impression_id, run_id, arm, user_id, time, origin,
    position, news_id, new (bool), clicked (bool), clicked_at; oldest first."""
    ensure(store)
    where, params = ["i.dataset = ?"], [dataset]
    if since is not None:
        where.append("i.time >= ?")
        params.append(since)
    if until is not None:
        where.append("i.time < ?")
        params.append(until)
    frame = store.query_frame(
        "SELECT i.id AS impression_id, i.run_id, i.arm, i.user_id, i.time, i.origin, s.position, s.news_id, s.new, "
        "s.clicked, s.clicked_at FROM served_impressions i JOIN served_items s ON s.impression_id = i.id "
        f"WHERE {' AND '.join(where)} ORDER BY i.time, i.id, s.position",
        params,
    )
    frame["new"] = frame["new"].astype(bool)
    frame["clicked"] = frame["clicked"].astype(bool)
    return frame
