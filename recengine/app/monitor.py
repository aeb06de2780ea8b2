"""The new-article quality monitor (seed 000 §5.2): logged live traffic in, a report and, when new articles fall
behind, an incremental update job out.

CTR here is per shown item: clicks on the items of a group / items of that group shown, over the impressions the
live service logged (:mod:`recengine.serve.traffic`, origins "served" and "reported") in a wall-clock window. An
item is *new* when the run that served it had not trained on the article (the log's ``new`` flag); *old*
otherwise. Intervals (95 %):

- a group's or an arm's CTR: Wilson score interval (``scipy.stats.binomtest(k, n).proportion_ci("wilson")``);
- the ratio new CTR / old CTR and the B-minus-A CTR difference: percentile bootstrap
  (``scipy.stats.bootstrap``) that resamples whole impressions, because the items of one list share a reader and
  a moment and are not independent;
- the A/B p-value: a permutation test (``scipy.stats.permutation_test``) that reshuffles *users* between the
  arms, the unit the service randomises by (a stable hash of the user id), so it needs no independence between
  a user's items or impressions.

:func:`check` acts on the report: when the ratio is below the threshold with enough data it exports the window's
unconsumed traffic as a MIND folder and submits an ``update`` job on the serving run (origin ``monitor``); and it
activates the child of an earlier monitor job only when that child beat its parent and the parent is still the
active run (the guard of the application layer: :func:`recengine.app.runs.update` never activates).
"""

from __future__ import annotations

import fcntl
import json
import math
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from scipy import stats

from recengine import atomic
from recengine.app import datasets, jobs, runs
from recengine.data.mind import NEWS_COLUMNS, format_times
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.serve import traffic
from recengine.train.runs import ID_MAPS_FILE, WEIGHTS_FILE
from recengine.workspace import Workspace

DEFAULT_HOURS = 24.0
DEFAULT_THRESHOLD = 0.7  # seed 000 §5.2: update when new articles' CTR falls below 0.7x the old ones'
DEFAULT_MIN_ITEMS = 200
CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0  # resampling is seeded: the same traffic gives the same intervals
ORIGIN = "monitor"  # the origin of the update jobs the monitor submits
UPDATE_OPTIONS = {"epochs": 2, "full_epochs": 1}
MANIFEST = "monitor.json"  # in an exported folder: what it holds (the archive copies it with the rows)
HISTORY_LIMIT = 50
TEST_NOTE = ("permutation test over users (the unit the A/B split randomises), statistic CTR B - CTR A, "
            f"{RESAMPLES} permutations")


# --------------------------------------------------------------------------------------------- the window


@dataclass(frozen=True)
class Window:
    """A wall-clock window [since, until) as the traffic log stores times (ISO UTC, no zone)."""

    since: str
    until: str


def _moment(value: str, what: str) -> datetime:
    """An ISO time (a trailing Z or an offset allowed; no zone means UTC) as naive UTC."""
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} must be an ISO time such as 2026-01-31T12:00:00Z, got {value!r}") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def window(hours: float = DEFAULT_HOURS, since: str | None = None, until: str | None = None) -> Window:
    """The window to report on: ``until`` (default now) and ``hours`` before it, or ``since`` when given."""
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours) or hours <= 0:
        raise InputError(f"hours must be a number > 0, got {hours!r}")
    end = _moment(until, "until") if until is not None else datetime.now(UTC).replace(tzinfo=None)
    start = _moment(since, "since") if since is not None else end - timedelta(hours=float(hours))
    if start >= end:
        raise InputError(f"the window is empty: since {start.isoformat()} is not before until {end.isoformat()}")
    return Window(traffic.stamp(start), traffic.stamp(end))


def _options(threshold: float, min_items: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < math.inf:
        raise InputError(f"threshold must be a number > 0 (a ratio of CTRs, 0.7 by default), got {threshold!r}")
    if isinstance(min_items, bool) or not isinstance(min_items, int) or min_items < 1:
        raise InputError(f"min items must be a whole number >= 1, got {min_items!r}")


def dataset_name(store: Store, dataset: str | None = None) -> str:
    """The dataset to monitor: the one given, else the active run's, else the active dataset's."""
    if dataset is not None:  # a store name first: a folder of the same name in the working directory is not it
        known = store.dataset(dataset)
        return known["name"] if known is not None else datasets.resolve(store, dataset)["name"]
    active = runs.active_run(store) or datasets.active(store)
    if active is None:
        raise InputError("no dataset to monitor: none is active; name one (--dataset) or make a run active")
    return active["dataset"] if "run_id" in active else active["name"]


def logged(store: Store, name: str, span: Window) -> pd.DataFrame:
    """The logged items of ``name`` shown in ``span`` that count (origins served and reported)."""
    frame = traffic.items(store, name, since=span.since, until=span.until)
    return frame[frame["origin"].isin(traffic.ORIGINS)].reset_index(drop=True)


# --------------------------------------------------------------------------------------------- statistics


def rate(clicks: int, items: int) -> dict:
    """Items, clicks, CTR and its Wilson interval (None where nothing was shown)."""
    if items == 0:
        return {"items": 0, "clicks": 0, "ctr": None, "ci": None}
    interval = stats.binomtest(int(clicks), int(items)).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return {"items": int(items), "clicks": int(clicks), "ctr": clicks / items,
            "ci": [float(interval.low), float(interval.high)]}


def _interval(statistic: Callable, samples: tuple[np.ndarray, ...]) -> list[float] | None:
    """A percentile bootstrap interval of ``statistic`` over ``samples`` (index arrays), or None when a
    resample leaves it undefined too often to say."""
    if any(len(s) < 2 for s in samples):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.bootstrap(samples, statistic, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                                 method="percentile", vectorized=True, batch=250, rng=SEED)
    low, high = result.confidence_interval
    return [float(low), float(high)] if math.isfinite(low) and math.isfinite(high) else None


def per_impression(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per impression: its user, arm, new and old items shown and clicked."""
    return frame.assign(
        new_items=frame["new"].astype(int), new_clicks=(frame["new"] & frame["clicked"]).astype(int),
        old_items=(~frame["new"]).astype(int), old_clicks=(~frame["new"] & frame["clicked"]).astype(int),
    ).groupby("impression_id", sort=False).agg(
        user_id=("user_id", "first"), arm=("arm", "first"), new_items=("new_items", "sum"),
        new_clicks=("new_clicks", "sum"), old_items=("old_items", "sum"), old_clicks=("old_clicks", "sum"))


def ratio(frame: pd.DataFrame) -> tuple[float | None, list[float] | None]:
    """New CTR / old CTR with a bootstrap interval over impressions; None where either CTR is missing or the
    old one is zero."""
    shown = per_impression(frame)
    parts = [shown[c].to_numpy(dtype=float) for c in ("new_clicks", "new_items", "old_clicks", "old_items")]
    if parts[1].sum() == 0 or parts[3].sum() == 0 or parts[2].sum() == 0:
        return None, None

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        nc, ni, oc, oi = (p[index].sum(axis=axis) for p in parts)
        return (nc / ni) / (oc / oi)

    point = float(statistic(np.arange(len(shown))))
    return point, _interval(statistic, (np.arange(len(shown)),))


def arms(frame: pd.DataFrame) -> list[dict]:
    """Per arm: the run that served it last, impressions, items, clicks, CTR with its Wilson interval."""
    rows = []
    for arm, part in frame.groupby("arm", sort=True):
        rows.append({"arm": str(arm), "run_id": part["run_id"].iloc[-1],
                     "runs": sorted(part["run_id"].dropna().unique()),
                     "impressions": int(part["impression_id"].nunique()),
                     **rate(int(part["clicked"].sum()), len(part))})
    return rows


def _ctr_difference(items: np.ndarray, clicks: np.ndarray) -> Callable:
    """The pooled CTR of the rows ``index_b`` minus that of ``index_a``, vectorised over resamples."""

    def statistic(index_a: np.ndarray, index_b: np.ndarray, axis: int = -1) -> np.ndarray:
        ctr_b = clicks[index_b].sum(axis) / items[index_b].sum(axis)
        return ctr_b - clicks[index_a].sum(axis) / items[index_a].sum(axis)

    return statistic


def arm_difference(frame: pd.DataFrame, a: str = "A", b: str = "B") -> dict | None:
    """CTR of arm ``b`` minus arm ``a`` with a bootstrap interval over impressions and a permutation p-value
    over users; None unless both arms showed items."""
    if not {a, b} <= set(frame["arm"]):
        return None
    shown = per_impression(frame)
    shown["items"], shown["clicks"] = shown["new_items"] + shown["old_items"], shown["new_clicks"] + shown["old_clicks"]
    statistic = _ctr_difference(shown["items"].to_numpy(float), shown["clicks"].to_numpy(float))
    in_a, in_b = np.flatnonzero(shown["arm"] == a), np.flatnonzero(shown["arm"] == b)
    return {"a": a, "b": b, "difference": float(statistic(in_a, in_b)), "ci": _interval(statistic, (in_a, in_b)),
            "p_value": _user_permutation_p(shown, a, b), "test": TEST_NOTE}


def _user_permutation_p(shown: pd.DataFrame, a: str, b: str) -> float | None:
    users = shown.groupby(["user_id", "arm"], sort=False)[["items", "clicks"]].sum().reset_index()
    items, clicks = users["items"].to_numpy(float), users["clicks"].to_numpy(float)
    in_a, in_b = np.flatnonzero(users["arm"] == a), np.flatnonzero(users["arm"] == b)
    if clicks.sum() == 0 or len(in_a) + len(in_b) < 3:
        return None
    result = stats.permutation_test((in_a, in_b), _ctr_difference(items, clicks), permutation_type="independent",
                                    vectorized=True,
                                    n_resamples=RESAMPLES, batch=250, rng=SEED)
    return float(result.pvalue) if math.isfinite(result.pvalue) else None


# --------------------------------------------------------------------------------------------- coverage


def trained_articles(run_path: str | Path) -> set[str]:
    """The article ids a run trained on (its ID table's rows marked trained), read without loading the model."""
    from safetensors import safe_open

    folder = Path(run_path)
    ids = json.loads((folder / ID_MAPS_FILE).read_text(encoding="utf-8"))["articles"]
    with safe_open(str(folder / WEIGHTS_FILE), framework="np") as weights:
        mask = weights.get_tensor("article_trained")
    return {news_id for news_id, trained in zip(ids, mask.tolist()) if trained}


def coverage(store: Store, name: str, frame: pd.DataFrame) -> dict:
    """Zero-shot coverage: the catalogue's articles each serving run had not trained on, how many of them were
    shown in the window, and the share of shown items that were new."""
    run_ids = [str(r) for r in frame["run_id"].dropna().unique()] or _active_run_of(store, name)  # first seen first
    catalogue = set(store.articles(name)["news_id"])
    shown_new = set(frame.loc[frame["new"], "news_id"])
    per_run, untrained_any = [], set()
    for run_id in run_ids:
        trained = _trained_or_none(store, run_id)
        if trained is None:  # a run deleted or damaged since it served: nothing to count against
            per_run.append({"run_id": run_id, "new_articles": None, "new_shown": None})
            continue
        untrained = catalogue - trained
        untrained_any |= untrained
        per_run.append({"run_id": run_id, "new_articles": len(untrained), "new_shown": len(untrained & shown_new)})
    known = any(r["new_articles"] is not None for r in per_run)
    return {"runs": per_run, "new_articles": len(untrained_any) if known else None, "new_shown": len(shown_new),
            "shown_share": len(shown_new & untrained_any) / len(untrained_any) if untrained_any else None,
            "new_item_share": float(frame["new"].mean()) if len(frame) else None}


def _trained_or_none(store: Store, run_id: str) -> set[str] | None:
    from safetensors import SafetensorError

    record = store.run(run_id)
    try:
        return None if record is None else trained_articles(record["path"])
    except (OSError, ValueError, KeyError, SafetensorError):
        return None


def _active_run_of(store: Store, name: str) -> list[str]:
    active = runs.active_run(store)
    return [active["run_id"]] if active and active["dataset"] == name else []


# --------------------------------------------------------------------------------------------- the report


def report(store: Store, dataset: str | None = None, *, hours: float = DEFAULT_HOURS, since: str | None = None,
           until: str | None = None, threshold: float = DEFAULT_THRESHOLD, min_items: int = DEFAULT_MIN_ITEMS) -> dict:
    """The monitor's report over a wall-clock window (default the last 24 h): new vs old CTR with Wilson intervals,
    their ratio with a bootstrap interval, whether it is below ``threshold`` with at least ``min_items`` items
    in each group, zero-shot coverage, and per-arm CTR with the B-minus-A difference. A window without traffic is
    a report with zero counts and ``traffic`` False, not an error."""
    return _read(store, dataset, hours, since, until, threshold, min_items)[0]


def _read(store: Store, dataset: str | None, hours: float, since: str | None, until: str | None, threshold: float,
          min_items: int) -> tuple[dict, pd.DataFrame]:
    """The report and the logged items it was made from (options checked before the log is read)."""
    _options(threshold, min_items)
    span = window(hours, since, until)
    name = dataset_name(store, dataset)
    frame = logged(store, name, span)
    return summarise(store, name, span, frame, threshold, min_items), frame


def summarise(store: Store, name: str, span: Window, frame: pd.DataFrame, threshold: float, min_items: int) -> dict:
    """The report of the logged items ``frame`` (see :func:`report`)."""
    new = rate(int((frame["new"] & frame["clicked"]).sum()), int(frame["new"].sum()))
    old = rate(int((~frame["new"] & frame["clicked"]).sum()), int((~frame["new"]).sum()))
    point, interval = ratio(frame)
    enough = new["items"] >= min_items and old["items"] >= min_items
    return {"dataset": name, "window": {"since": span.since, "until": span.until}, "traffic": bool(len(frame)),
            "impressions": int(frame["impression_id"].nunique()), "new": new, "old": old, "ratio": point,
            "ratio_ci": interval, "threshold": float(threshold), "min_items": min_items, "enough_data": enough,
            "below_threshold": bool(enough and point is not None and point < threshold),
            "coverage": coverage(store, name, frame), "arms": arms(frame), "arm_difference": arm_difference(frame)}


def hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """CTR per wall-clock hour for new and old items of the logged ``frame``: hour, group ("new"/"old"), items,
    clicks, ctr."""
    if frame.empty:
        return pd.DataFrame(columns=["hour", "group", "items", "clicks", "ctr"])
    hours_of = pd.to_datetime(frame["time"]).dt.floor("h")
    grouped = frame.assign(hour=hours_of, group=np.where(frame["new"], "new", "old")).groupby(["hour", "group"])
    table = grouped.agg(items=("clicked", "size"), clicks=("clicked", "sum")).reset_index()
    table["ctr"] = table["clicks"] / table["items"]
    return table


def overview(store: Store, dataset: str | None = None, *, hours: float = DEFAULT_HOURS, since: str | None = None,
             until: str | None = None, threshold: float = DEFAULT_THRESHOLD,
             min_items: int = DEFAULT_MIN_ITEMS) -> tuple[dict, pd.DataFrame]:
    """:func:`report` and the window's :func:`hourly` CTR from one read of the log (what the Live page shows)."""
    result, frame = _read(store, dataset, hours, since, until, threshold, min_items)
    return result, hourly(frame)


def monitor_jobs(store: Store, limit: int = 20) -> list[dict]:
    """The update jobs the monitor submitted, newest first."""
    return [job for job in jobs.list_jobs(store, kind="update", limit=500) if job["origin"] == ORIGIN][:limit]


# --------------------------------------------------------------------------------------------- the export


def dataset_clock(store: Store, name: str) -> datetime | None:
    """The dataset's latest impression time as the store knows it (its latest clicked impression): the clock the
    serving run lives on."""
    rows = store.query("SELECT MAX(time) AS latest FROM clicks WHERE dataset = ? AND source = 'impression'", (name,))
    latest = rows[0]["latest"] if rows else None
    return datetime.fromisoformat(latest) if latest else None


def _mind_times(walls: pd.Series, wall_until: datetime, anchor: datetime | None) -> list[str]:
    """Logged wall-clock times in MIND's layout, moved so that the window's end lands on ``anchor``."""
    moments = pd.to_datetime(walls).to_numpy(dtype="datetime64[s]")
    if anchor is not None:  # spacing and order kept
        moments = moments + (np.datetime64(anchor, "s") - np.datetime64(wall_until, "s"))
    return format_times(moments)


def _behavior_lines(store: Store, name: str, frame: pd.DataFrame, known: set[str], wall_until: datetime,
                    anchor: datetime | None) -> tuple[list[str], set[str]]:
    """MIND behaviour lines for the impressions of ``frame`` and every article they reference."""
    firsts = frame.drop_duplicates("impression_id")
    times = dict(zip(firsts["impression_id"], _mind_times(firsts["time"], wall_until, anchor)))
    shown: dict[str, tuple[str, list[tuple[str, bool]]]] = {}  # in the log's order: time, impression, position
    for impression_id, user, news_id, clicked in zip(frame["impression_id"], frame["user_id"], frame["news_id"],
                                                     frame["clicked"]):
        if news_id in known:
            shown.setdefault(impression_id, (user, []))[1].append((news_id, bool(clicked)))
    lines, referenced, histories = [], set(), {}
    for impression_id, (user, items) in shown.items():
        if user not in histories:
            histories[user] = [a for a in store.user_history(name, user, HISTORY_LIMIT) if a in known]
        clicked = {news_id for news_id, click in items if click}
        history = [a for a in histories[user] if a not in clicked]  # this list's own clicks are its labels
        number = int(str(impression_id)[:14], 16)  # a stable whole number from the logged id
        labels = " ".join(f"{news_id}-{int(click)}" for news_id, click in items)
        lines.append(f"{number}\t{user}\t{times[impression_id]}\t{' '.join(history)}\t{labels}\n")
        referenced.update(history, (news_id for news_id, _ in items))
    return lines, referenced


def export(workspace: Workspace, store: Store, name: str, frame: pd.DataFrame, span: Window, run_id: str) -> Path:
    """Write the logged traffic ``frame`` as a MIND folder (behaviors.tsv, news.tsv and the manifest
    ``monitor.json``) under ``<home>/monitor/``, in one rename; returns it.

    Times: the log holds wall-clock times, while the model's clock is the dataset's (the service serves at the
    dataset's latest impression). The window's end is mapped onto the dataset's latest impression time in the
    store and every logged time keeps its distance from it, so the traffic's spacing and order are kept.
    Histories are the users' histories in the store now, without the clicks that are the line's own labels.
    """
    articles = store.articles(name)
    known = set(articles["news_id"])
    wall_until, anchor = datetime.fromisoformat(span.until), dataset_clock(store, name)
    lines, referenced = _behavior_lines(store, name, frame, known, wall_until, anchor)
    if not lines:
        raise InputError("no logged impression shows an article the store knows; nothing to export")
    rows = articles[articles["news_id"].isin(referenced)][list(NEWS_COLUMNS)].astype(str)
    news = "".join("\t".join(row) + "\n" for row in rows.itertuples(index=False))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = workspace.home / "monitor" / f"monitor-{stamp}"
    manifest = {"dataset": name, "parent": run_id, "window": {"since": span.since, "until": span.until},
                "rows_until": str(frame["time"].max()), "impressions": len(lines), "articles": len(rows),
                "clock": {"wall_until": span.until, "dataset_time": None if anchor is None else anchor.isoformat()}}
    with atomic.replace_dir(target) as staging:
        atomic.write_text(staging / "behaviors.tsv", "".join(lines))
        atomic.write_text(staging / "news.tsv", news)
        atomic.write_json(staging / MANIFEST, manifest)
    return target


def _consumed_until(store: Store) -> tuple[str | None, int | None]:
    """The latest logged time already exported to a monitor job that is done or still going (a failed or
    cancelled job consumed nothing) and that job's id."""
    latest, owner = None, None
    for job in monitor_jobs(store, limit=500):
        if job["status"] in ("failed", "cancelled"):
            continue
        manifest = Path(str((job["params"] or {}).get("new_data", ""))) / MANIFEST
        try:
            until = json.loads(manifest.read_text(encoding="utf-8"))["rows_until"]
        except (OSError, ValueError, KeyError):
            continue  # an export removed by hand: its rows can be exported again
        if latest is None or until > latest:
            latest, owner = until, job["id"]
    return latest, owner


# --------------------------------------------------------------------------------------------- the check


@contextmanager
def _lock(workspace: Workspace) -> Iterator[None]:
    """One check at a time per workspace (cron and the dashboard's button may meet)."""
    folder = workspace.home / "monitor"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _auc(metrics: dict | None) -> float | None:
    return ((metrics or {}).get("model") or {}).get("auc")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def activate_if_better(store: Store) -> tuple[str | None, str | None]:
    """The guard: the newest finished monitor job's child becomes active only when it beat its parent and the
    parent is still the active run. Returns (the run activated or None, a sentence on what was decided or None)."""
    finished = [job for job in monitor_jobs(store, limit=500) if job["status"] not in jobs.ACTIVE]
    if not finished or finished[0]["status"] != "done":
        return None, None if not finished else f"update job {finished[0]['id']} {finished[0]['status']}"
    job, result = finished[0], finished[0]["result"] or {}
    child, parent = result.get("run_id"), result.get("parent")
    active = runs.active_run(store)
    if active is not None and active["run_id"] == child:
        return None, None
    aucs = f"dev AUC {_fmt(_auc(result.get('metrics')))} vs its parent's {_fmt(_auc(result.get('parent_metrics')))}"
    if not result.get("better_than_parent"):
        return None, (f"update job {job['id']} made run {child}, not better than its parent {parent} ({aucs}): "
                      "not activated")
    if active is None or active["run_id"] != parent:
        return None, (f"update job {job['id']} made run {child}, but its parent {parent} is no longer the active "
                      "run: not activated")
    runs.activate_run(store, child)
    return child, f"activated run {child} from update job {job['id']} ({aucs})"


def check(workspace: Workspace, store: Store, dataset: str | None = None, *, trigger: bool = True,
          start: bool = True, hours: float = DEFAULT_HOURS, since: str | None = None, until: str | None = None,
          threshold: float = DEFAULT_THRESHOLD, min_items: int = DEFAULT_MIN_ITEMS) -> dict:
    """The :func:`report` (its options as it takes them) plus what the monitor did: ``activated`` (a
    run made active by the guard, see :func:`activate_if_better`), ``triggered`` (the id of the update job
    submitted, or None), ``reason`` (one sentence) and ``export`` (the MIND folder written).

    An update is submitted only when the ratio is below the threshold with enough data, no monitor update job is
    queued or running, and the window holds traffic not exported to an earlier job; the archive refuses rows an
    update consumed before, which the reason then says. ``start=False`` records the job without starting its
    process (:func:`recengine.app.jobs.run_job` runs it in this process)."""
    result, frame = _read(store, dataset, hours, since, until, threshold, min_items)
    with _lock(workspace):
        activated, note = activate_if_better(store)
        reason, job_id, folder = _decide(result, store, activated, trigger), None, None
        if reason is None:
            reason, job_id, folder = _trigger(workspace, store, result, frame, start)
    return {**result, "activated": activated, "activation": note, "triggered": job_id, "reason": reason,
            "export": None if folder is None else str(folder)}


def _decide(result: dict, store: Store, activated: str | None, trigger: bool) -> str | None:
    """Why not to trigger (None when the update should go ahead)."""
    new, old = result["new"], result["old"]
    if not result["enough_data"]:
        return (f"not enough data: {new['items']:,} new and {old['items']:,} old items shown in the window, "
                f"{result['min_items']:,} of each needed")
    if result["ratio"] is None:
        return "the new/old CTR ratio is undefined (no clicks on old articles in the window)"
    if not result["below_threshold"]:
        return f"new/old CTR ratio {result['ratio']:.3f} is at or above the threshold {result['threshold']:g}"
    if not trigger:
        return f"new/old CTR ratio {result['ratio']:.3f} is below {result['threshold']:g}; triggering is off"
    if activated is not None:
        return f"run {activated} was just activated; the next check measures it"
    busy = [job for job in monitor_jobs(store) if job["status"] in jobs.ACTIVE]
    if busy:
        return f"update job {busy[0]['id']} from the monitor is still {busy[0]['status']}; no second one"
    return None


def _serving_run(store: Store, frame: pd.DataFrame) -> str:
    """The run arm A served last in the window (else the active run): the parent of the update."""
    served = frame.loc[frame["arm"] == "A", "run_id"].dropna()
    run_id = served.iloc[-1] if len(served) else (runs.active_run(store) or {}).get("run_id")
    if not run_id:
        raise InputError("no serving run to update: the traffic names none and no run is active")
    return run_id


def _trigger(workspace: Workspace, store: Store, result: dict, frame: pd.DataFrame,
             start: bool) -> tuple[str, int | None, Path | None]:
    """Export the window's unconsumed traffic (``frame``) and submit the update job on the serving run."""
    span = Window(**result["window"])
    consumed, owner = _consumed_until(store)
    if consumed is not None:
        frame = frame[frame["time"] > consumed]
    if frame.empty:
        return f"the window's traffic was already exported to update job {owner}; nothing new to update on", None, None
    parent = _serving_run(store, frame)
    try:
        folder = export(workspace, store, result["dataset"], frame, span, parent)
    except InputError as exc:  # nothing the store knows was shown
        return f"not triggered: {exc}", None, None
    try:
        job_id = jobs.submit(workspace, store, "update", {"parent": parent, "new_data": str(folder), **UPDATE_OPTIONS},
                             origin=ORIGIN, start=start)
    except InputError as exc:  # e.g. the archive holds these rows already: consumed by an earlier update
        shutil.rmtree(folder, ignore_errors=True)
        return f"not triggered: {exc}", None, None
    reason = (f"new/old CTR ratio {result['ratio']:.3f} < {result['threshold']:g}: exported "
              f"{frame['impression_id'].nunique():,} impressions and submitted update job {job_id} on run {parent}")
    return reason, job_id, folder
