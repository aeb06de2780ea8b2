"""The simulated live day: the synthetic world's day 6 replayed against the running service as live traffic.

    .venv/bin/python benchmarks/live_day.py                       # demo world, 3 epochs, every day-6 impression
    .venv/bin/python benchmarks/live_day.py --preset tiny --epochs 1
    .venv/bin/python benchmarks/live_day.py --impressions 3000 --check-at 12 --threshold 0.7
    .venv/bin/python benchmarks/live_day.py --home NEW --reuse OLD/runs/PARENT OLD/runs/ARM_B   # skip training

1. The world (``recengine.data.synthetic.simulate(preset, seed)``) is planted; a dataset is written whose train
   is days 1-5 less day 5's last ``--evening-hours`` (default 6) and whose dev is those hours, with the articles
   of days 1-5 only: day 6's articles are truly unknown to the service.
2. In a scratch workspace (``--home`` to keep one), the parent run is trained (hashing embedder, ``--epochs``)
   and made active; arm B (``--arm-b``) is the same training with ``new_article_id=mean`` (the same weights, the
   other zero-shot fill: a clean A/B of the fill), or another seed, or none.
3. ``python -m recengine serve [--challenger B --challenger-share 0.5]`` starts on a free loopback port, serving
   the active run on arm A (it follows the active run).
4. Day 6 is replayed in time order: each day-6 article is added through ``POST /v1/articles`` when it is published
   (entities the knowledge graph lacks are dropped from the request and counted); for each day-6 impression (all,
   or ``--impressions`` drawn evenly over the day) its user gets ``GET /v1/users/{id}/recommendations?k=10``, and
   each served article is clicked with the world's true probability at the impression's time
   (``sigmoid(World.logits)``), posted to ``POST /v1/clicks`` with the impression id.
5. At ``--check-at`` (hour of day 6, default 12) the replay pauses: the monitor (``recengine.app.monitor``, what
   ``recengine monitor`` and ``/v1/monitor`` call) first reports new/old CTR at ``--threshold`` (default 0.7).
   When that does not fire (in this world freshness favours new articles), the check is repeated with a stated
   ``--trigger-threshold`` (default: the measured ratio x 1.25, rounded up to 0.1) so the loop is shown; both are
   reported. The update job it submits is waited for, the monitor's guarded activation runs, and the server's
   follow-active swap brings the child in (an explicit ``POST /admin/swap`` when the guard refused it, unless
   ``--no-explicit-swap``). The replay then continues.

Prints one JSON object: the dataset cut, the runs, the articles added (and entities dropped), requests and errors,
the monitor's reports, the job, the swap (how and when), and CTR tables with 95% Wilson intervals before and after
the swap (overall; new/old as the service flags them; day-6/earlier articles by publication) and per arm with the
B-A difference (Newcombe's interval).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http import Client, Server  # noqa: E402

HOUR = np.timedelta64(3600, "s")


# --------------------------------------------------------------------------------------------- the data


def build_dataset(sim, out: Path, evening_hours: float) -> dict:
    """Write train (days 1-5 less day 5's last hours) and dev (those hours) with days 1-5's articles to ``out``."""
    from recengine.data.mind import MindSplit, split_by_time, write_split
    from recengine.data.synthetic import DAY, DEV_DAY, START

    day6 = START + np.timedelta64((DEV_DAY - 1) * DAY, "s")
    cutoff = day6 - np.timedelta64(int(evening_hours * 3600), "s")
    source = sim.splits["train"]
    before, after = split_by_time(source, cutoff)
    if not len(before.behaviors) or not len(after.behaviors):
        raise SystemExit(f"no impressions on one side of {cutoff}; choose other --evening-hours")
    for name, behaviors in (("train", before.behaviors), ("dev", after.behaviors)):
        write_split(out / name, MindSplit(name, out / name, source.news, behaviors, source.entity_vectors))
    return {"folder": str(out), "cutoff": str(cutoff), "train_impressions": len(before.behaviors),
            "dev_impressions": len(after.behaviors), "articles": len(source.news.frame)}


@dataclass
class Day6:
    """Day 6 as events in time order: ("article", time, fields) and ("impression", time, user index)."""

    events: list[tuple[str, np.datetime64, object]]
    impressions: int
    articles: int


def day6_events(sim, impressions: int | None, seed: int) -> Day6:
    """Day 6's articles at their publication and its impressions (all, or ``impressions`` evenly drawn)."""
    from recengine.data.synthetic import DAY, DEV_DAY, START

    start = START + np.timedelta64((DEV_DAY - 1) * DAY, "s")
    behaviors = sim.splits["dev"].behaviors
    rows = np.arange(len(behaviors.times))
    if impressions is not None and impressions < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, impressions, replace=False))
    user_row = {u: i for i, u in enumerate(sim.user_ids.tolist())}
    users = behaviors.impression_user_ids[rows]
    times = behaviors.times[rows].astype("datetime64[s]")
    events = [("impression", t, user_row[u]) for t, u in zip(times, users)]
    news = sim.splits["dev"].news
    frame = news.frame.set_index("news_id")
    article_row = {a: i for i, a in enumerate(sim.news_ids.tolist())}
    entities = dict(zip(news.frame["news_id"], news.entities))
    published = sim.world.article_published
    added = 0
    for news_id in frame.index:
        when = published[article_row[news_id]]
        if start <= when <= times[-1]:
            row = frame.loc[news_id]
            events.append(("article", when, {
                "article_id": news_id, "title": row["title"], "abstract": row["abstract"] or "",
                "category": row["category"], "subcategory": row["subcategory"],
                "entities": list(entities[news_id])}))
            added += 1
    # Articles first at equal times: an article published at an impression's second can be shown in it.
    events.sort(key=lambda e: (e[1], e[0] != "article"))
    return Day6(events, len(rows), added)


def known_entities(sim) -> set[str]:
    """The knowledge graph's entity nodes: every entity an article of days 1-5 mentions."""
    return {e for ents in sim.splits["train"].news.entities for e in ents}


# --------------------------------------------------------------------------------------------- the replay


@dataclass
class Tally:
    """What the replay saw: one row per served item, the calls made, and the failures."""

    items: list[dict] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    entities_dropped: int = 0
    articles_added: int = 0

    def call(self, client: Client, method: str, path: str, body: object = None, ok=(200, 201)) -> object | None:
        endpoint = f"{method} {path.split('?')[0].rsplit('/', 1)[-1]}"  # e.g. "GET recommendations"
        self.requests[endpoint] = self.requests.get(endpoint, 0) + 1
        started = time.perf_counter()
        status, answer = client.request(method, path, body)
        self.latencies.append(time.perf_counter() - started)
        if status not in ok:
            self.errors.append(f"{method} {path}: HTTP {status}: {str(answer)[:200]}")
            return None
        return answer


class Replay:
    """Drives day 6 against the server at ``port``; clicks follow the world's true probabilities."""

    def __init__(self, sim, client: Client, k: int, seed: int):
        self.sim, self.client, self.k = sim, client, k
        self.rng = np.random.default_rng(seed)
        self.article_row = {a: i for i, a in enumerate(sim.news_ids.tolist())}
        self.known = known_entities(sim)
        from recengine.data.synthetic import DAY, DEV_DAY, START

        self.day6_start = START + np.timedelta64((DEV_DAY - 1) * DAY, "s")
        self.tally = Tally()
        self.phase = "before"

    def add_article(self, fields: dict) -> None:
        kept = [e for e in fields["entities"] if e in self.known]
        self.tally.entities_dropped += len(fields["entities"]) - len(kept)
        if self.tally.call(self.client, "POST", "/v1/articles", {**fields, "entities": kept}, ok=(201,)) is not None:
            self.tally.articles_added += 1

    def impression(self, when: np.datetime64, user: int) -> None:
        user_id = self.sim.user_ids[user]
        answer = self.tally.call(self.client, "GET", f"/v1/users/{user_id}/recommendations?k={self.k}")
        if answer is None:
            return
        items = answer["items"]
        if len(items) != self.k:
            self.tally.errors.append(f"{user_id}: {len(items)} items instead of {self.k}")
        rows = np.array([self.article_row[item["article_id"]] for item in items], dtype=np.int64)
        logits = self.sim.world.logits(np.full(len(rows), user), rows, np.full(len(rows), when))
        probability = 1.0 / (1.0 + np.exp(-logits))
        clicked = self.rng.random(len(rows)) < probability
        published = self.sim.world.article_published[rows]
        for item, p, click, pub in zip(items, probability, clicked, published):
            self.tally.items.append({"phase": self.phase, "arm": answer["arm"], "run_id": answer["run_id"],
                                     "new": bool(item["new"]), "day6": bool(pub >= self.day6_start),
                                     "clicked": bool(click), "probability": float(p)})
            if click:
                self.tally.call(self.client, "POST", "/v1/clicks", {  # at the world's time: histories stay in order
                    "user_id": user_id, "article_id": item["article_id"], "impression_id": answer["impression_id"],
                    "time": f"{when}Z"})


# --------------------------------------------------------------------------------------------- the monitor step


def _stated_threshold(ratio: float | None) -> float:
    """A threshold the measured ratio falls below: the ratio x 1.25, rounded up to a tenth."""
    return 1.0 if ratio is None else math.ceil(ratio * 1.25 * 10) / 10


def monitor_step(home: Path, client: Client, args: argparse.Namespace, reports: list[dict]) -> dict:
    """The pause at ``--check-at``: measure, trigger, wait for the job, guarded activation, swap; what happened."""
    from recengine.app import jobs, monitor, open_workspace

    time.sleep(1.0)  # the server's traffic log commits every 0.25 s; the monitor reads the store
    workspace, store = open_workspace(home)
    options = {"hours": args.hours, "min_items": args.min_items}
    with store:
        measured = monitor.report(store, threshold=args.threshold, **options)
        reports.append({"when": "check, measured at --threshold", **measured})
        threshold = args.threshold
        if not measured["below_threshold"]:
            threshold = args.trigger_threshold or _stated_threshold(measured["ratio"])
        checked = monitor.check(workspace, store, threshold=threshold, **options)
        reports.append({"when": f"check, trigger at threshold {threshold}", **checked})
        step = {"ratio": measured["ratio"], "default_threshold": args.threshold,
                "default_fires": bool(measured["below_threshold"]), "threshold_used": threshold,
                "triggered_job": checked.get("triggered"), "reason": checked.get("reason")}
        if checked.get("triggered") is None:
            return step
        started = time.perf_counter()
        job = jobs.wait(store, checked["triggered"], timeout=args.job_timeout)
        step["job"] = {key: job.get(key) for key in ("id", "kind", "status", "origin", "error")}
        step["job"]["wall_seconds"] = round(time.perf_counter() - started, 1)
        result = job.get("result") or {}
        step["child"] = result.get("run_id")
        step["better_than_parent"] = result.get("better_than_parent")
        if job["status"] != "done" or not step["child"]:
            return step
        guarded = monitor.check(workspace, store, trigger=False, threshold=threshold, **options)
        reports.append({"when": "after the job: guarded activation", **guarded})
    step["activated"] = guarded.get("activated") == step["child"]
    step["swap"] = _swap_in(client, step["child"], step["activated"], args)
    return step


def _arm_a(client: Client) -> str | None:
    status, health = client.get("/health")
    arms = health.get("arms", []) if status == 200 else []
    return next((arm["run_id"] for arm in arms if arm["arm"] == "A"), None)


def _swap_in(client: Client, child: str, activated: bool, args: argparse.Namespace) -> dict:
    """Wait for the server to follow the newly active run; swap explicitly when the guard kept it out (or the
    server did not follow within ``--follow-timeout``)."""
    started = time.perf_counter()
    deadline = started + (args.follow_timeout if activated else 0.0)
    while time.perf_counter() < deadline:
        if _arm_a(client) == child:
            return {"how": "follow-active", "wall_seconds": round(time.perf_counter() - started, 1)}
        time.sleep(0.5)
    if args.no_explicit_swap:
        return {"how": None, "note": f"arm A was not {child} after {args.follow_timeout:g} s"}
    status, answer = client.post("/admin/swap", {"run": child, "arm": "A"})
    swapped = status == 200 and _arm_a(client) == child
    return {"how": "POST /admin/swap" if swapped else None, "status": status,
            "note": ("the server did not follow the activated child" if activated
                     else "the guarded activation did not activate the child"),
            "wall_seconds": round(time.perf_counter() - started, 1),
            **({} if swapped else {"answer": answer})}


# --------------------------------------------------------------------------------------------- the tables


def wilson(clicks: int, items: int) -> dict:
    """CTR with its 95% Wilson score interval."""
    if not items:
        return {"items": 0, "clicks": 0, "ctr": None, "ci": None}
    ci = stats.binomtest(int(clicks), int(items)).proportion_ci(0.95, method="wilson")
    return {"items": int(items), "clicks": int(clicks), "ctr": round(clicks / items, 5),
            "ci": [round(float(ci.low), 5), round(float(ci.high), 5)]}


def newcombe(a: dict, b: dict) -> dict | None:
    """B - A in CTR with Newcombe's hybrid score interval (from each side's Wilson interval)."""
    if not a["items"] or not b["items"]:
        return None
    (la, ua), (lb, ub) = a["ci"], b["ci"]
    pa, pb = a["clicks"] / a["items"], b["clicks"] / b["items"]
    d = pb - pa
    return {"difference": round(d, 5), "ci": [round(d - math.hypot(pb - lb, ua - pa), 5),
                                              round(d + math.hypot(ub - pb, pa - la), 5)]}


def ctr_tables(items: list[dict]) -> dict:
    """CTR before/after the swap (overall, new/old, day-6/earlier), per arm and per phase x arm, B-A."""
    frame = pd.DataFrame(items, columns=["phase", "arm", "run_id", "new", "day6", "clicked", "probability"])

    def rate(part: pd.DataFrame) -> dict:
        return {**wilson(int(part["clicked"].sum()), len(part)),
                "expected_ctr": round(float(part["probability"].mean()), 5) if len(part) else None}

    def block(part: pd.DataFrame) -> dict:
        return {"overall": rate(part), "new": rate(part[part["new"]]), "old": rate(part[~part["new"]]),
                "day6_articles": rate(part[part["day6"]]), "earlier_articles": rate(part[~part["day6"]])}

    arms = {arm: rate(frame[frame["arm"] == arm]) for arm in sorted(frame["arm"].unique())}
    per_phase_arm = {f"{phase}/{arm}": {**rate(part), "runs": sorted(part["run_id"].unique().tolist())}
                     for (phase, arm), part in frame.groupby(["phase", "arm"])}
    return {"phases": {phase: block(frame[frame["phase"] == phase]) for phase in ("before", "after")},
            "arms": arms, "by_phase_and_arm": per_phase_arm,
            "b_minus_a": newcombe(arms["A"], arms["B"]) if {"A", "B"} <= set(arms) else None}


# --------------------------------------------------------------------------------------------- the day


def reuse_runs(home: Path, args: argparse.Namespace) -> dict:
    """Register the run folders of ``--reuse`` (an earlier day's parent and arm B) in ``home``'s workspace."""
    from recengine.app import open_workspace, runs

    _, store = open_workspace(home)
    with store:
        parent = runs.register_run(store, args.reuse[0])
        runs.activate_run(store, parent["run_id"])
        out = {"parent": {"run_id": parent["run_id"], "reused": str(args.reuse[0])}}
        if len(args.reuse) > 1:
            b = runs.register_run(store, args.reuse[1])
            out["arm_b"] = {"run_id": b["run_id"], "kind": args.arm_b, "reused": str(args.reuse[1])}
    return out


def train_runs(home: Path, data: Path, args: argparse.Namespace) -> dict:
    """The parent (made active) and arm B's run in ``home``'s workspace; their ids and training seconds."""
    from recengine.app import open_workspace, runs
    from recengine.config import ModelConfig, RunConfig, TrainConfig

    if args.reuse:
        return reuse_runs(home, args)
    workspace, store = open_workspace(home)
    out = {}
    with store:
        started = time.perf_counter()
        parent = runs.train(workspace, store, data, RunConfig(ModelConfig(embedder="hashing"),
                                                              TrainConfig(epochs=args.epochs)), label="parent")
        runs.activate_run(store, parent["run_id"])
        out["parent"] = {"run_id": parent["run_id"], "train_seconds": round(time.perf_counter() - started, 1),
                         "dev_auc": (parent["metrics"] or {}).get("model", {}).get("auc")}
        if args.arm_b != "none":
            model = ModelConfig(embedder="hashing", new_article_id="mean" if args.arm_b == "mean" else "neighbors")
            train = TrainConfig(epochs=args.epochs, seed=1 if args.arm_b == "seed" else 0)
            started = time.perf_counter()
            b = runs.train(workspace, store, data, RunConfig(model, train), label=f"arm-b-{args.arm_b}")
            out["arm_b"] = {"run_id": b["run_id"], "kind": args.arm_b,
                            "train_seconds": round(time.perf_counter() - started, 1),
                            "dev_auc": (b["metrics"] or {}).get("model", {}).get("auc")}
    return out


def live_day(args: argparse.Namespace, home: Path) -> dict:
    """The whole day in ``home`` (see the module notes); the result printed."""
    from recengine.data.synthetic import simulate

    sim = simulate(args.preset, args.seed)
    cut = build_dataset(sim, home / "live-data", args.evening_hours)
    print("reusing the runs ..." if args.reuse else f"training the parent and arm B ({args.arm_b}) ...",
          file=sys.stderr)
    trained = train_runs(home, home / "live-data", args)
    day = day6_events(sim, args.impressions, args.seed)
    serve_args = ["--challenger", trained["arm_b"]["run_id"], "--challenger-share", str(args.challenger_share)] \
        if "arm_b" in trained else []
    reports: list[dict] = []
    step: dict = {"note": "the replay ended before --check-at"}
    check_time = day.events[0][1].astype("datetime64[D]") + np.timedelta64(int(args.check_at * 3600), "s")
    print(f"serving; replaying {day.impressions} impressions and {day.articles} articles ...", file=sys.stderr)
    started = time.perf_counter()
    with Server(home, serve_args) as server, Client(server.port) as client:
        replay = Replay(sim, client, args.k, args.seed)
        checked = False
        for kind, when, payload in day.events:
            if kind == "article":
                replay.add_article(payload)
                continue
            if not checked and when >= check_time:
                checked = True
                print("monitor check ...", file=sys.stderr)
                step = monitor_step(home, client, args, reports)
                step["sim_time"] = str(when)
                replay.phase = "after" if (step.get("swap") or {}).get("how") else "before"
            replay.impression(when, payload)
        seconds = time.perf_counter() - started
        final_health = client.get("/health")[1]
        time.sleep(1.0)
        from recengine.app import monitor, open_workspace

        _, store = open_workspace(home)
        with store:
            reports.append({"when": "end of the day", **monitor.report(store, threshold=args.threshold,
                                                                       hours=args.hours, min_items=args.min_items)})
    tally = replay.tally
    return {
        "preset": args.preset, "seed": args.seed, "dataset": cut, "runs": trained,
        "day6": {"impressions": day.impressions, "articles_published": day.articles,
                 "articles_added": tally.articles_added, "entities_dropped": tally.entities_dropped},
        "requests": tally.requests, "errors": len(tally.errors), "error_examples": tally.errors[:5],
        "request_latency_ms": {"p50": _ms(tally.latencies, 50), "p99": _ms(tally.latencies, 99)},
        "replay_wall_seconds": round(seconds, 1), "monitor_step": step, "final_health": final_health,
        "ctr": ctr_tables(tally.items), "monitor_reports": reports,
    }


def _ms(seconds: list[float], q: float) -> float | None:
    return round(float(np.percentile(seconds, q)) * 1000, 2) if seconds else None


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="demo", choices=("tiny", "demo", "small"))
    parser.add_argument("--seed", type=int, default=0, help="the world's seed (default: 0)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the parent and arm B (default: 3)")
    parser.add_argument("--evening-hours", type=float, default=6.0, help="day 5's last hours held out as dev")
    parser.add_argument("--arm-b", choices=("mean", "seed", "none"), default="mean",
                        help="arm B: new_article_id=mean (default), another training seed, or no A/B")
    parser.add_argument("--challenger-share", type=float, default=0.5, help="arm B's share of users (default 0.5)")
    parser.add_argument("--impressions", type=int, default=None, help="day-6 impressions replayed (default: all)")
    parser.add_argument("-k", type=int, default=10, help="articles per recommendation (default: 10)")
    parser.add_argument("--check-at", type=float, default=12.0, help="hour of day 6 of the monitor check")
    parser.add_argument("--threshold", type=float, default=0.7, help="the monitor's new/old ratio (default 0.7)")
    parser.add_argument("--trigger-threshold", type=float, default=None,
                        help="the stated threshold used when --threshold does not fire (default: ratio x 1.25)")
    parser.add_argument("--hours", type=float, default=24.0, help="the monitor's window (wall clock, default 24)")
    parser.add_argument("--min-items", type=int, default=200, help="the monitor's minimum items per side")
    parser.add_argument("--job-timeout", type=float, default=900.0, help="seconds to wait for the update job")
    parser.add_argument("--follow-timeout", type=float, default=30.0,
                        help="seconds to wait for the server to follow the activated child")
    parser.add_argument("--no-explicit-swap", action="store_true",
                        help="never POST /admin/swap when the guarded activation keeps the child out")
    parser.add_argument("--home", type=Path, default=None, help="keep the workspace here (default: a scratch one)")
    parser.add_argument("--reuse", type=Path, nargs="+", default=None, metavar="RUN_FOLDER",
                        help="serve these run folders (parent, then arm B) of an earlier day with the same preset "
                             "and seed instead of training")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.k < 1 or not 0 < args.challenger_share < 1 or not 0 <= args.check_at < 24:
        parser.error("--epochs and -k must be at least 1, --challenger-share in (0, 1), --check-at in [0, 24)")
    if args.impressions is not None and args.impressions < 1:
        parser.error("--impressions must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.home is not None:
        args.home.mkdir(parents=True, exist_ok=True)
        result = live_day(args, args.home.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="recengine-live-day-") as scratch:
            result = live_day(args, Path(scratch))
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
