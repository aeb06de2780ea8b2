"""The live deployment every live face uses (the HTTP service, the simulated day): one or two arms serving runs of
one store dataset, the traffic log of what was shown and clicked, and model swaps without dropping requests.

Arms: "A" serves the run (default: the workspace's active run); "B", optional, a challenger that gets the users
whose stable hash, ``sha256(experiment + ":" + user_id)``, falls below its share, so a user stays in one arm.

Swaps: a new run is loaded off to the side, then the arm's reference is replaced under a lock. A request takes the
reference of its arm once and finishes on that service, so in-flight requests never see half a swap.

Several processes (one per uvicorn worker) share the store: histories are read from it per request, and an article
one process added is adopted by the others' catalogues through :meth:`RecommenderService.refresh`, which a
request triggers when the store's count of added articles changed (checked at most once a second). Each process
keeps its own user-vector cache; its keys include the history read from the store, so another process's click
invalidates it too.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

from recengine.app import runs, serving
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.serve import checks
from recengine.serve.service import RecommenderService
from recengine.serve.traffic import (
    FLUSH_INTERVAL_S, Impression, TrafficLog, impression_owner, latest_impression_with, stamp,
)
from recengine.workspace import Workspace

ARMS = ("A", "B")
REFRESH_INTERVAL_S = 1.0  # how often a request may look for articles another process added
FOLLOW_INTERVAL_S = 5.0
RECENT_USERS = 100_000  # users whose latest impressions are remembered in memory, to mark clicks without a read
RECENT_PER_USER = 10
OWNER_WAIT_ROUNDS = 4  # traffic-log write rounds a click waits for another worker's impression to appear
MAX_SHOWN = 1_000
ITEM_FIELDS = ("article_id", "title", "category", "subcategory", "score", "probability", "source", "reason")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arm:
    """One arm: its name, the service answering it and its share of users."""

    name: str
    service: RecommenderService
    run_id: str
    share: float


class _RecentImpressions:
    """The latest impressions this process logged (bounded LRUs), so a click can find its impression before the
    traffic log has written it."""

    def __init__(self):
        self._users: OrderedDict[str, list[tuple[str, frozenset]]] = OrderedDict()
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, user_id: str, impression_id: str, news_ids: Sequence[str]) -> None:
        with self._lock:
            entries = self._users.pop(user_id, [])
            entries.append((impression_id, frozenset(news_ids)))
            self._users[user_id] = entries[-RECENT_PER_USER:]
            self._owners[impression_id] = user_id
            while len(self._users) > RECENT_USERS:
                self._users.popitem(last=False)
            while len(self._owners) > RECENT_USERS * RECENT_PER_USER:
                self._owners.popitem(last=False)

    def latest_with(self, user_id: str, news_id: str) -> str | None:
        with self._lock:
            entries = self._users.get(user_id, [])
        return next((i for i, shown in reversed(entries) if news_id in shown), None)

    def owner(self, impression_id: str) -> str | None:
        with self._lock:
            return self._owners.get(impression_id)


class LiveService:
    """The deployment every live face uses: one or two arms (A = the serving run, B = an optional challenger),
    the traffic log, model swap. Thread-safe.

    ``run`` is a stored run id or a run folder (default: the active run, which is then followed: a daemon thread
    polls it every ``follow_interval_s`` and swaps arm A to a newly activated run of the same dataset).
    ``service_options`` go to :func:`recengine.app.serving.open_service` (``cache``, ``embedder``, ``index_kind``,
    ``now``). ``log=False`` logs nothing (no impression ids).
    """

    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        run: str | Path | None = None,
        *,
        challenger: str | Path | None = None,
        challenger_share: float = 0.5,
        experiment: str = "ab",
        log: bool = True,
        follow_active: bool | None = None,
        follow_interval_s: float = FOLLOW_INTERVAL_S,
        **service_options,
    ):
        self.workspace = workspace
        self.store = store
        self.experiment = checks.token(experiment, "experiment name")
        self.service_options = service_options
        if challenger is not None:
            _check_share(challenger_share)
        following = run is None if follow_active is None else follow_active
        if run is None:
            run = _active_run_id(store)
        first = self._open(run)
        self.dataset: str = first.dataset
        self._lock = threading.Lock()  # guards the arms' references, not the requests
        self._arms: dict[str, Arm] = {"A": Arm("A", first, first.run_id, 1.0)}
        self._retired = {arm: (0, 0) for arm in ARMS}  # cache hits and misses of services swapped out, per arm
        if challenger is not None:
            self.set_challenger(challenger, challenger_share)
        self.traffic = TrafficLog(store) if log else None
        self._recent = _RecentImpressions()
        self._added = self._added_count()
        self._refreshed_at = time.monotonic()
        self._refresh_lock = threading.Lock()
        self.follow_error: str | None = None
        self._stop = threading.Event()
        self._follower = None
        if following:
            self._follower = threading.Thread(target=self._follow, args=(follow_interval_s,), name="follow-active",
                                              daemon=True)
            self._follower.start()

    # ------------------------------------------------------------------ arms

    @property
    def arms(self) -> list[dict]:
        """arm, run_id, share and articles (catalogue size) of each arm, A first."""
        with self._lock:
            arms = list(self._arms.values())
        return [{"arm": a.name, "run_id": a.run_id, "share": a.share, "articles": len(a.service.catalog)} for a in arms]

    def services(self) -> list[tuple[str, RecommenderService]]:
        """(arm, service) of each arm, A first (for metrics)."""
        with self._lock:
            return [(a.name, a.service) for a in self._arms.values()]

    def cache_counts(self) -> dict[str, tuple[int, int]]:
        """User-vector cache (hits, misses) per arm since the start, swaps included (for metrics)."""
        with self._lock:
            arms, retired = list(self._arms.values()), dict(self._retired)
        return {a.name: (retired[a.name][0] + a.service.user_cache.hits, retired[a.name][1] + a.service.user_cache.misses)
                for a in arms}

    def arm_for(self, user_id: str) -> str:
        """"A" or "B": B when ``sha256(experiment + ":" + user_id)``, read as a fraction, is below B's share."""
        return self._arm(user_id).name

    def _arm(self, user_id: str) -> Arm:
        with self._lock:
            arms = dict(self._arms)
        if "B" not in arms:
            return arms["A"]
        return arms["B"] if _fraction(f"{self.experiment}:{user_id}") < arms["B"].share else arms["A"]

    def _open(self, run: str | Path) -> RecommenderService:
        service = serving.open_service(self.store, run, **self.service_options)
        if getattr(self, "dataset", service.dataset) != service.dataset:
            raise InputError(f"run {service.run_id!r} serves dataset {service.dataset!r}, not {self.dataset!r}; every "
                             "arm serves the same dataset")
        return service

    def swap(self, run: str | Path, *, arm: str = "A") -> dict:
        """Serve ``run`` on ``arm``: it is loaded first, then switched in; in-flight requests finish on the old one."""
        arm = _check_arm(arm)
        with self._lock:
            if arm not in self._arms:
                raise InputError(f"there is no arm {arm}; set a challenger first")
        service = self._open(run)
        with self._lock:
            old = self._arms[arm]
            self._arms[arm] = Arm(arm, service, service.run_id, old.share)
            self._retire(old)
        log.info("arm %s now serves %s (was %s)", arm, service.run_id, old.run_id)
        return {"arm": arm, "run_id": service.run_id, "previous_run_id": old.run_id, "articles": len(service.catalog)}

    def set_challenger(self, run: str | Path, share: float) -> dict:
        """Serve ``run`` on arm B to the ``share`` (0..1) of users whose hash falls below it."""
        share = _check_share(share)
        service = self._open(run)
        with self._lock:
            self._arms["A"] = Arm("A", self._arms["A"].service, self._arms["A"].run_id, 1.0 - share)
            if "B" in self._arms:
                self._retire(self._arms["B"])
            self._arms["B"] = Arm("B", service, service.run_id, share)
        return {"arm": "B", "run_id": service.run_id, "share": share}

    def remove_challenger(self) -> None:
        """Serve every user from arm A again."""
        with self._lock:
            if "B" in self._arms:
                self._retire(self._arms.pop("B"))
            self._arms["A"] = Arm("A", self._arms["A"].service, self._arms["A"].run_id, 1.0)

    def _retire(self, arm: Arm) -> None:
        """Keep the cache counts of a service leaving ``arm`` (caller holds the lock): counters never go down."""
        hits, misses = self._retired[arm.name]
        self._retired[arm.name] = (hits + arm.service.user_cache.hits, misses + arm.service.user_cache.misses)

    # ------------------------------------------------------------------ requests

    def recommend(self, user_id: str, k: int = 10, *, candidates: int = 200, explain: bool = False,
                  interest_text: str | None = None, categories: Sequence[str] | None = None) -> dict:
        """The top ``k`` for ``user_id`` from the user's arm, logged as a served impression (see the module notes)."""
        user_id, k, candidates = checks.check_request(user_id, k, candidates)
        arm = self._arm(user_id)
        self._maybe_refresh()
        found = arm.service.recommend(user_id, k, candidates=candidates, explain=explain, interest_text=interest_text,
                                      categories=categories)
        ids = [item["article_id"] for item in found]
        new = _new_flags(arm.service, ids)
        items = []
        for item, fresh in zip(found, new):
            out = {name: item[name] for name in ITEM_FIELDS}
            out["new"] = fresh
            if explain:
                out["contributions"], out["top_view"] = item["contributions"], item["top_view"]
            items.append(out)
        impression_id = self._log(Impression(self.dataset, arm.run_id, arm.name, user_id, ids, new)) if ids else None
        return {"impression_id": impression_id, "user_id": user_id, "arm": arm.name, "run_id": arm.run_id,
                "items": items}

    def score(self, user_id: str, article_ids: Sequence[str]) -> dict:
        """The user's arm's score and probability of each of ``article_ids``, in order (nothing is logged)."""
        user_id = checks.token(user_id, "user id")
        arm = self._arm(user_id)
        self._maybe_refresh()
        scores = arm.service.score(user_id, article_ids)
        return {"user_id": user_id, "arm": arm.name, "run_id": arm.run_id, "scores": scores}

    def add_article(self, **fields) -> dict:
        """Add an article to every arm (stored once, through arm A; the others adopt it from the store) and score it
        zero-shot; returns :meth:`RecommenderService.add_article`'s result from arm A."""
        checks.check_article(**{k: v for k, v in fields.items() if k not in ("top_users", "sample_users")})
        with self._lock:
            arms = list(self._arms.values())
        result = arms[0].service.add_article(**fields)
        for other in arms[1:]:
            other.service.refresh()
        self._added = self._added_count()
        return result

    def record_click(self, user_id: str, article_id: str, *, impression_id: str | None = None,
                     time: datetime | None = None) -> dict:
        """Store the click (the history is read live) and mark the logged item clicked: in ``impression_id`` when
        given (it must be the user's), else in the user's latest logged impression that showed the article."""
        user_id = checks.token(user_id, "user id")
        article_id = checks.token(article_id, "article id")
        if impression_id is not None:
            impression_id = checks.token(impression_id, "impression id")
            owner = self._owner(impression_id)
            if owner is None:
                raise InputError(f"unknown impression id {impression_id!r}")
            if owner != user_id:
                raise InputError(f"impression {impression_id!r} was shown to another user, not {user_id!r}")
        self.store.record_click(self.dataset, user_id, article_id, time)
        self._clicked()
        if impression_id is None and self.traffic is not None:
            impression_id = self._recent.latest_with(user_id, article_id) or latest_impression_with(
                self.store, self.dataset, user_id, article_id)
        if impression_id is not None and self.traffic is not None:
            self.traffic.click(impression_id, article_id, None if time is None else stamp(time))
        return {"recorded": True, "impression_id": impression_id}

    def record_impression(self, user_id: str, shown: Sequence[str], clicked: Sequence[str] = (), *,
                          time: datetime | None = None) -> dict:
        """Log a list the client showed (origin "reported"); its clicks go into the user's history too."""
        user_id = checks.token(user_id, "user id")
        shown, clicked = checks.history_ids(shown), checks.history_ids(clicked)
        if not shown or len(shown) > MAX_SHOWN:
            raise InputError(f"shown must list 1 to {MAX_SHOWN:,} article ids, got {len(shown):,}")
        if len(set(shown)) != len(shown):
            raise InputError("shown lists an article twice")
        outside = [a for a in clicked if a not in set(shown)]
        if outside:
            raise InputError(f"clicked articles not in shown: {', '.join(outside[:10])}")
        arm = self._arm(user_id)
        self._maybe_refresh()
        with arm.service.state.lock:
            rows = arm.service.catalog.articles.rows(shown)
        if (rows < 0).any():
            raise InputError(f"unknown article ids in shown: {', '.join(a for a, r in zip(shown, rows) if r < 0)[:300]}")
        for article in dict.fromkeys(clicked):
            self.store.record_click(self.dataset, user_id, article, time)
        self._clicked()
        impression_id = self._log(Impression(self.dataset, arm.run_id, arm.name, user_id, shown,
                                             _new_flags(arm.service, shown), origin="reported", clicked=tuple(clicked),
                                             time=None if time is None else stamp(time)))
        return {"impression_id": impression_id, "arm": arm.name, "run_id": arm.run_id}

    def _clicked(self) -> None:
        """Every arm's popularity prior counts the click at once (it is cached per service)."""
        for _, service in self.services():
            service.state.clicks_version += 1

    # ------------------------------------------------------------------ upkeep

    def health(self) -> dict:
        """status ("ok", or "degraded" while the traffic log cannot write), dataset, arms, log_error."""
        error = None if self.traffic is None else self.traffic.last_error
        return {"status": "degraded" if error else "ok", "dataset": self.dataset, "arms": self.arms,
                "log_error": error, "follow_error": self.follow_error}

    def refresh(self) -> int:
        """Adopt into every arm the articles another process added to the store; returns how many arm A adopted."""
        with self._lock:
            services = [a.service for a in self._arms.values()]
        adopted = [service.refresh() for service in services]
        return adopted[0]

    def flush(self) -> None:
        """Write the queued traffic now (before reading the log)."""
        if self.traffic is not None:
            self.traffic.flush()

    def close(self) -> None:
        """Stop following the active run and write the traffic log's queue."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=10)
        if self.traffic is not None:
            self.traffic.close()

    def _log(self, shown: Impression) -> str | None:
        if self.traffic is None:
            return None
        impression_id = self.traffic.impression(shown)
        self._recent.add(shown.user_id, impression_id, shown.news_ids)
        return impression_id

    def _owner(self, impression_id: str) -> str | None:
        """The user a logged impression of this dataset was shown to (None if unknown)."""
        owner = self._recent.owner(impression_id)
        if owner is not None:
            return owner
        found = impression_owner(self.store, impression_id)
        # Another worker's log may not have written it yet (it writes every FLUSH_INTERVAL_S): wait a few rounds.
        deadline = time.monotonic() + OWNER_WAIT_ROUNDS * FLUSH_INTERVAL_S
        while found is None and time.monotonic() < deadline:
            time.sleep(FLUSH_INTERVAL_S / 2)
            found = impression_owner(self.store, impression_id)
        return found["user_id"] if found and found["dataset"] == self.dataset else None

    def _added_count(self) -> int:
        rows = self.store.query("SELECT COUNT(*) AS n FROM articles WHERE dataset = ? AND source = 'added'",
                                (self.dataset,))
        return int(rows[0]["n"])

    def _maybe_refresh(self) -> None:
        """At most once a second, one request looks whether the store's added articles changed, and adopts them."""
        if time.monotonic() - self._refreshed_at < REFRESH_INTERVAL_S or not self._refresh_lock.acquire(blocking=False):
            return
        try:
            self._refreshed_at = time.monotonic()
            count = self._added_count()
            if count != self._added:
                self.refresh()
                self._added = count
        finally:
            self._refresh_lock.release()

    def _follow(self, interval_s: float) -> None:
        """Swap arm A to each newly activated run of this dataset. Only a change of the active run counts: an
        explicit swap (``POST /admin/swap``) stays until the next activation. A run that fails to load is reported
        by health and not tried again until another one is activated; the old run keeps serving."""
        seen = self._arms["A"].run_id
        while not self._stop.wait(interval_s):
            try:
                active = runs.active_run(self.store)
                wanted = active["run_id"] if active and active["dataset"] == self.dataset else None
                if wanted is None or wanted == seen:
                    continue
                seen = wanted
                if wanted != self._arms["A"].run_id:
                    self.swap(wanted)
                self.follow_error = None
            except Exception as exc:
                self.follow_error = f"{type(exc).__name__}: {exc}"
                log.warning("following the active run: %s", self.follow_error)


def _fraction(text: str) -> float:
    """A stable fraction in [0, 1) from the text's sha256."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") / 2**64


def _new_flags(service: RecommenderService, article_ids: Sequence[str]) -> list[bool]:
    """Per article: the serving run had not trained on it (rows past the ID table were added after training)."""
    trained = service.recommender.net.article_trained.cpu().numpy()
    position = service.catalog.articles.position
    rows = [position.get(a, -1) for a in article_ids]
    return [not (0 <= r < len(trained) and bool(trained[r])) for r in rows]


def _active_run_id(store: Store) -> str:
    active = runs.active_run(store)
    if active is None:
        raise InputError("no active run to serve: give a run, or activate one (`recengine runs activate RUN`)")
    return active["run_id"]


def _check_arm(arm) -> str:
    if arm not in ARMS:
        raise InputError(f"arm must be one of {', '.join(ARMS)}, got {arm!r}")
    return arm


def _check_share(share) -> float:
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 < share < 1.0:
        raise InputError(f"challenger share must be a number strictly between 0 and 1, got {share!r}")
    return float(share)
