"""HTTP load: the real ``recengine serve`` process driven over loopback at 1, 8 and 32 concurrent clients.

    .venv/bin/python benchmarks/http_load.py                               # tiny, trains 1 epoch (hashing)
    .venv/bin/python benchmarks/http_load.py --preset demo
    .venv/bin/python benchmarks/http_load.py --preset small --data /path/to/small   # a generated small folder
    .venv/bin/python benchmarks/http_load.py --run RUN                     # a run of the workspace ($RECENGINE_HOME)
    .venv/bin/python benchmarks/http_load.py --levels 1,8,32 --requests 3000 --seconds 20

The server is ``python -m recengine serve --run RUN`` on a free 127.0.0.1 port, in a scratch RECENGINE_HOME: with
``--run`` the workspace's store is copied there (SQLite backup), so the traffic the load logs and everything else
the server writes land in the copy and nothing in the workspace changes; without ``--run`` the preset (or
``--data``) is generated and trained there for ``--epochs`` (default 1) with the hashing embedder: quality does not
matter for load.

After ``--warmup`` untimed requests (default 200, 8 clients), each level sends
``GET /v1/users/{id}/recommendations?k=10`` from ``clients`` keep-alive connections of a small asyncio HTTP/1.1
client (raw streams: a heavier client would take the CPU the server is measured on), each client waiting for
its answer before sending the next, until ``--requests`` answers (per level) or ``--seconds``, whichever first.
Users are drawn (seeded) from the store's users of the run's dataset, one in ten an unknown id (a cold user,
answered by the popularity prior).

Prints one JSON object: ``levels``, one per client count, each with ``requests``, ``errors`` (a status other than
200, a connection error, or a list of other than k items: must be 0) with examples, ``seconds``,
``throughput_rps``, ``latency_ms`` (p50/p95/p99/max/mean, as the client saw them), ``server_rss_mb`` (the server
process's resident memory sampled every 0.5 s: start, middle, end, peak, ``growth`` end minus start),
``growth_second_half`` end minus middle), ``client_cpu_share`` and ``server_cpu_share`` (CPU seconds over wall
seconds: 1.0 = one core busy), ``server_cpu_ms_per_request`` (the server's CPU time per answer, steadier than
throughput on a shared machine) and the server's user-vector cache hits and misses during the level (from
/metrics); plus the run, its dataset, the server's /health, the machine's 1-minute load average at the end and
``target``: whether the 32-client level met >= 300 req/s at p99 <= 50 ms with 0 errors.

``--profile N`` then stops the server and calls ``LiveService.recommend`` N times in this process (same users,
warm caches): ``profile.mean_ms_per_call`` without HTTP, and the 25 functions with the most cumulative time
under cProfile, to say what bounds the request path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _http import Client, Connection, Server, copy_store  # noqa: E402

TARGET = {"clients": 32, "throughput_rps": 300.0, "p99_ms": 50.0}
RSS_INTERVAL_S = 0.5


def percentiles(seconds: list[float]) -> dict:
    """p50/p95/p99/max/mean in milliseconds (None when empty)."""
    if not seconds:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ms = np.asarray(seconds) * 1000
    return {**{f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)},
            "max": round(float(ms.max()), 2), "mean": round(float(ms.mean()), 2)}


def _rss_mb(process: psutil.Process) -> float:
    """Resident memory of the server and any children it started (MB)."""
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return round(total / 2**20, 1)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def cache_counters(port: int) -> dict:
    """The server's user-vector cache hit and miss totals from /metrics (None when not exported)."""
    with Client(port) as client:
        status, text = client.get("/metrics")
    found = {}
    for name in ("hits", "misses"):
        match = re.search(rf"^recengine_user_vector_cache_{name}_total(?:{{[^}}]*}})? ([0-9.e+]+)$", str(text), re.M)
        found[name] = float(match.group(1)) if status == 200 and match else None
    return found


class Level:
    """One load level: ``clients`` connections sharing a request budget and a deadline."""

    def __init__(self, port: int, users: list[str], clients: int, requests: int, seconds: float, k: int, seed: int):
        self.port, self.users, self.clients, self.k = port, users, clients, k
        self.budget, self.seconds = requests, seconds
        self.rng = random.Random(seed)
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.sent = 0  # requests started (the budget)
        self.finished = 0  # answered or failed

    def _path(self) -> str:
        user = self.rng.choice(self.users) if self.rng.random() >= 0.1 else f"U_load_cold_{self.rng.randrange(10**9)}"
        return f"/v1/users/{user}/recommendations?k={self.k}"

    async def _client(self, deadline: float) -> None:
        connection = await Connection.open(self.port)
        try:
            while self.sent < self.budget and time.perf_counter() < deadline:
                self.sent += 1
                path = self._path()
                started = time.perf_counter()
                try:
                    status, body = await connection.request("GET", path)
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
                    self.finished += 1
                    self.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                    await connection.close()
                    connection = await Connection.open(self.port)
                    continue
                self.latencies.append(time.perf_counter() - started)
                self.finished += 1
                self._check(path, status, body)
        finally:
            await connection.close()

    def _check(self, path: str, status: int, body: bytes) -> None:
        if status != 200:
            self.errors.append(f"{path}: HTTP {status}: {body[:200].decode(errors='replace')}")
            return
        items = json.loads(body).get("items", [])
        if len(items) != self.k:  # the catalogue holds far more than any history excludes
            self.errors.append(f"{path}: {len(items)} items instead of {self.k}")

    async def run(self) -> float:
        """Drive the level; returns the wall seconds it took."""
        started = time.perf_counter()
        await asyncio.gather(*(self._client(started + self.seconds) for _ in range(self.clients)))
        return time.perf_counter() - started


async def _sample_rss(server: psutil.Process, samples: list[tuple[float, float]], done: asyncio.Event) -> None:
    while not done.is_set():
        samples.append((time.perf_counter(), _rss_mb(server)))
        try:
            await asyncio.wait_for(done.wait(), RSS_INTERVAL_S)
        except asyncio.TimeoutError:
            pass


async def measure(port: int, pid: int, users: list[str], clients: int, requests: int, seconds: float, k: int,
                  seed: int) -> dict:
    """One level's figures (see the module notes)."""
    server, me = psutil.Process(pid), psutil.Process()
    level = Level(port, users, clients, requests, seconds, k, seed)
    cache_before = cache_counters(port)
    samples: list[tuple[float, float]] = []
    done = asyncio.Event()
    cpu_server, cpu_me = _cpu_seconds(server), _cpu_seconds(me)
    sampler = asyncio.create_task(_sample_rss(server, samples, done))
    elapsed = await level.run()
    done.set()
    await sampler
    cpu_server, cpu_me = _cpu_seconds(server) - cpu_server, _cpu_seconds(me) - cpu_me
    samples.append((time.perf_counter(), _rss_mb(server)))
    cache_after = cache_counters(port)
    middle = samples[0][0] + (samples[-1][0] - samples[0][0]) / 2
    rss = {"start": samples[0][1], "middle": min(samples, key=lambda s: abs(s[0] - middle))[1],
           "end": samples[-1][1], "peak": max(s[1] for s in samples)}
    rss["growth"] = round(rss["end"] - rss["start"], 1)
    rss["growth_second_half"] = round(rss["end"] - rss["middle"], 1)
    return {
        "clients": clients,
        "requests": level.finished,
        "errors": len(level.errors),
        "error_examples": level.errors[:5],
        "seconds": round(elapsed, 3),
        "throughput_rps": round((level.finished - len(level.errors)) / elapsed, 1) if elapsed else None,
        "latency_ms": percentiles(level.latencies),
        "server_rss_mb": rss,
        "client_cpu_share": round(cpu_me / elapsed, 3),
        "server_cpu_share": round(cpu_server / elapsed, 3),
        # CPU time the server spent per answer: steadier than throughput on a shared machine.
        "server_cpu_ms_per_request": round(cpu_server / level.finished * 1000, 2) if level.finished else None,
        "user_vector_cache": {name: None if cache_before[name] is None or cache_after[name] is None
                              else cache_after[name] - cache_before[name] for name in ("hits", "misses")},
    }


def _train_here(home: Path, preset: str, data: Path | None, epochs: int) -> str:
    """Generate ``preset`` (or take ``data``), train a hashing run in ``home``'s workspace; its run id."""
    from recengine.app import open_workspace, runs
    from recengine.config import ModelConfig, RunConfig, TrainConfig
    from recengine.data.synthetic import generate

    workspace, store = open_workspace(home)
    if data is None:
        print(f"generating the {preset} preset ...", file=sys.stderr)
        data = home / "datasets-src" / preset
        generate(preset, 0, data)
    print(f"training {epochs} epoch(s) with the hashing embedder on {data} ...", file=sys.stderr)
    with store:
        trained = runs.train(workspace, store, data, RunConfig(ModelConfig(embedder="hashing"),
                                                                TrainConfig(epochs=epochs)))
    return trained["run_id"]


def _users(home: Path, dataset: str) -> list[str]:
    from recengine.data.store import Store

    with Store(home / "recengine.db") as store:
        return store.users(dataset)["user_id"].tolist()


def _warm_up(port: int, users: list[str], requests: int, k: int, seed: int) -> dict:
    """Untimed requests first: the server's first answers build its caches and load lazily imported code."""
    level = Level(port, users, min(8, requests), requests, 600.0, k, seed)
    asyncio.run(level.run())
    return {"requests": level.finished, "errors": len(level.errors),
            "error_examples": level.errors[:5], "latency_ms": percentiles(level.latencies)}


def profile(home: Path, run: str, users: list[str], requests: int, k: int, seed: int) -> dict:
    """The request path without HTTP: ``LiveService.recommend`` in this process (the server stopped) for
    ``requests`` calls after a warm-up of the same size, timed, then the same calls under cProfile; the mean ms
    per call and the functions with the most cumulative time."""
    import cProfile
    import io
    import pstats

    from recengine.app import open_workspace
    from recengine.app.live import LiveService

    workspace, store = open_workspace(home)
    rng = random.Random(seed)
    picks = [rng.choice(users) if rng.random() >= 0.1 else f"U_profile_cold_{n}" for n in range(requests)]
    live = LiveService(workspace, store, run)
    try:
        for user in picks:  # warm-up: the same users, so the timed pass sees the server's warm caches
            live.recommend(user, k)
        started = time.perf_counter()
        for user in picks:
            live.recommend(user, k)
        plain_ms = (time.perf_counter() - started) / requests * 1000
        profiler = cProfile.Profile()
        profiler.enable()
        for user in picks:
            live.recommend(user, k)
        profiler.disable()
    finally:
        live.close()
        store.close()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    lines = [line.strip() for line in text.getvalue().splitlines() if re.match(r"\s*\d", line)]
    return {"calls": requests, "mean_ms_per_call": round(plain_ms, 3), "top_cumulative": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=None, help="a run of the workspace (id or folder); default: train one")
    parser.add_argument("--home", type=Path, default=None,
                        help="the workspace whose store is copied with --run (default: $RECENGINE_HOME or ./data)")
    parser.add_argument("--preset", default="tiny", choices=("tiny", "demo", "small"),
                        help="world trained here without --run (default: tiny)")
    parser.add_argument("--data", type=Path, default=None, help="a generated dataset folder to train on instead")
    parser.add_argument("--epochs", type=int, default=1, help="epochs when training here (default: 1)")
    parser.add_argument("--levels", default="1,8,32", help="concurrent clients per level (default: 1,8,32)")
    parser.add_argument("--requests", type=int, default=3000, help="answers per level at most (default: 3000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per level at most (default: 20)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first (default: 200)")
    parser.add_argument("-k", type=int, default=10, help="articles per request (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the users drawn (default: 0)")
    parser.add_argument("--log-level", default="warning",
                        help="the server's --log-level (default: warning, no access log line per request; info "
                             "writes one)")
    parser.add_argument("--profile", type=int, default=0,
                        help="after the levels, profile this many recommend calls in-process without HTTP")
    args = parser.parse_args(argv)
    try:
        levels = [int(x) for x in args.levels.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--levels must be whole numbers separated by commas, got {args.levels!r}")
    if not levels or min(levels) < 1 or args.requests < 1 or args.seconds <= 0 or args.k < 1:
        parser.error("--levels, --requests and -k must be at least 1, --seconds positive")
    if args.warmup < 0 or args.profile < 0:
        parser.error("--warmup and --profile must not be negative")

    with tempfile.TemporaryDirectory(prefix="recengine-http-load-") as scratch:
        home = Path(scratch) / "home"
        run = _prepare(home, args, parser)
        result = _drive(home, run, levels, args)
    print(json.dumps(result, indent=2))
    return 0 if all(level["errors"] == 0 for level in result["levels"]) else 1


def _prepare(home: Path, args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The scratch home: a copy of the workspace's store (with --run) or a run trained there; the run to serve."""
    if not args.run:
        return _train_here(home, args.preset, args.data, args.epochs)
    from recengine.workspace import Workspace

    source = Workspace(args.home.resolve()) if args.home else Workspace.default()
    if not source.store_path.is_file():
        parser.error(f"no store at {source.store_path}: give --home, or leave out --run")
    copy_store(source.store_path, home)
    return str(args.run)


def _drive(home: Path, run: str, levels: list[int], args: argparse.Namespace) -> dict:
    """Serve ``run`` from ``home``, warm up, drive each level, then profile when asked; the result."""
    print(f"starting `recengine serve --run {run}` ...", file=sys.stderr)
    with Server(home, ["--run", run, "--log-level", args.log_level]) as server:
        with Client(server.port) as client:
            health = client.get("/health")[1]
        users = _users(home, health["dataset"])
        if not users:
            raise SystemExit(f"the dataset {health['dataset']} has no users")
        warm = _warm_up(server.port, users, args.warmup, args.k, args.seed + 999) if args.warmup else None
        results = []
        for clients in levels:
            print(f"{clients} client(s) ...", file=sys.stderr)
            results.append(asyncio.run(measure(server.port, server.pid, users, clients, args.requests, args.seconds,
                                               args.k, args.seed + clients)))
    profiled = profile(home, health["arms"][0]["run_id"], users, args.profile, args.k, args.seed) \
        if args.profile else None
    return {
        "run": run, "preset": None if args.run or args.data else args.preset,
        "data": str(args.data) if args.data else None, "dataset": health["dataset"], "health": health,
        "users": len(users), "k": args.k, "server_log_level": args.log_level, "warmup": warm, "levels": results,
        "target": _target(results), "cpus": psutil.cpu_count(),
        "load_average_1m_at_end": round(psutil.getloadavg()[0], 2), "profile": profiled,
    }


def _target(levels: list[dict]) -> dict:
    """Whether the target level (32 clients) met the throughput and p99 target with 0 errors."""
    level = next((x for x in levels if x["clients"] == TARGET["clients"]), None)
    if level is None:
        return {**TARGET, "met": None}
    met = (level["errors"] == 0 and level["throughput_rps"] >= TARGET["throughput_rps"]
           and level["latency_ms"]["p99"] is not None and level["latency_ms"]["p99"] <= TARGET["p99_ms"])
    return {**TARGET, "met": met}


if __name__ == "__main__":
    sys.exit(main())
