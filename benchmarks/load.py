"""Load: concurrent recommendation requests against one RecommenderService, with articles added meanwhile.

    .venv/bin/python benchmarks/load.py                         # generates tiny, trains 1 epoch (hashing embedder)
    .venv/bin/python benchmarks/load.py --preset demo           # the demo world (training takes minutes)
    .venv/bin/python benchmarks/load.py --run RUN               # a trained run (its dataset is read from meta.json)
    .venv/bin/python benchmarks/load.py --threads 16 --requests 500 --seconds 120 --adds 20

``--threads`` worker threads (default 8) each send up to ``--requests`` requests (default 200), all stopping after
``--seconds`` (default 60) whichever comes first: ``RecommenderService.recommend(user, k)`` for a user drawn at
random (seeded per thread) from the store's users, one in ten an unknown id (a cold user, answered by the popularity
prior). Worker 0 also adds ``--adds`` articles (default 8), evenly spread over its requests, with
``add_article``: each one is embedded, stored, appended to the index and immediately recommendable while the other
threads keep reading. The store is a fresh SQLite file in a temporary folder, so nothing in the workspace changes.

Prints one JSON object:

- ``requests``, ``errors`` (exceptions, or a list of other than ``k`` articles: must be 0), ``seconds`` (wall time of the timed phase) and ``throughput_rps``;
- ``latency_ms``: p50/p95/p99/max/mean of one ``recommend`` call as each thread saw it (including waiting for the
  service's lock);
- ``add_article``: calls, errors and latency (ms, the same percentiles);
- ``rss_mb``: resident memory at the start of the timed phase (after every thread's warm-up of 10
  untimed requests, and one untimed ``add_article`` that loads the text embedder), in its middle, at its end, and the
  peak sampled every 0.2 s; ``growth_mb`` is end minus start and ``growth_second_half_mb`` end minus middle (noise
  is a few MB: allocator pools, the index growing by ``--adds`` rows);
- ``catalogue``: articles before and after; the run, preset, threads, k and torch's intra-op thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil


WARM_UP = 10  # untimed requests per thread before the timed phase


def _percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ms = np.asarray(seconds) * 1000
    return {
        **{f"p{q}": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)},
        "max": round(float(ms.max()), 3),
        "mean": round(float(ms.mean()), 3),
    }


def _rss_mb() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _train(preset: str, folder: Path, epochs: int) -> Path:
    from recengine.config import ModelConfig, RunConfig, TrainConfig
    from recengine.data.synthetic import generate
    from recengine.train.api import train_run

    print(f"generating the {preset} preset and training {epochs} epoch(s) with the hashing embedder ...",
          file=sys.stderr)
    generate(preset, 0, folder / preset)
    out = folder / "run"
    train_run(folder / preset, RunConfig(ModelConfig(embedder="hashing"), TrainConfig(epochs=epochs)), out=out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None, help="a trained run (default: train one on --preset)")
    parser.add_argument("--preset", default="tiny", help="world to train on without --run (default: tiny)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs when training here (default: 1)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent worker threads (default: 8)")
    parser.add_argument("--requests", type=int, default=200, help="requests per thread at most (default: 200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="stop all threads after this long (default: 60)")
    parser.add_argument("--adds", type=int, default=8, help="articles added during the run by worker 0 (default: 8)")
    parser.add_argument("-k", type=int, default=10, help="articles per request (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the users drawn (default: 0)")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.requests < 1 or args.seconds <= 0 or args.adds < 0:
        parser.error("--threads and --requests must be at least 1, --seconds positive, --adds not negative")

    with tempfile.TemporaryDirectory(prefix="recengine-load-") as scratch:
        scratch = Path(scratch)
        os.environ.setdefault("RECENGINE_HOME", str(scratch / "home"))
        import torch

        from recengine.data.store import Store
        from recengine.serve.service import RecommenderService

        run = args.run or _train(args.preset, scratch, args.epochs)
        print(f"starting the service on {run} ...", file=sys.stderr)
        service = RecommenderService(run, Store(scratch / "load.db"))
        known = service.store.users(service.dataset)["user_id"].tolist()
        if not known:
            raise SystemExit("the run's dataset has no users")
        catalogue_before = len(service.catalog)

        latencies: list[list[float]] = [[] for _ in range(args.threads)]
        add_latencies: list[float] = []
        errors: list[str] = []
        add_errors: list[str] = []
        done = threading.Event()
        samples: list[tuple[float, float]] = []
        add_every = max(1, args.requests // (args.adds + 1)) if args.adds else 0
        warmed, go = threading.Barrier(args.threads + 1), threading.Barrier(args.threads + 1)

        def monitor() -> None:
            while not done.is_set():
                samples.append((time.perf_counter(), _rss_mb()))
                done.wait(0.2)

        def worker(index: int) -> None:
            rng = random.Random(args.seed * 1000 + index)
            adds = 0
            # Warm-up, untimed: each thread's first calls open its store connection and build the service's caches.
            for user in rng.sample(known, min(WARM_UP, len(known))):
                service.recommend(user, args.k)
            if index == 0 and args.adds:  # the first add loads the text embedder (MiniLM: ~200 MB), once
                service.add_article(title="Load test warm-up story", abstract="Warming up.", category="news",
                                    sample_users=50)
            warmed.wait()
            go.wait()
            for n in range(args.requests):
                if time.perf_counter() >= deadline:
                    break
                if index == 0 and add_every and adds < args.adds and n % add_every == add_every - 1:
                    started = time.perf_counter()
                    try:
                        service.add_article(title=f"Load test story {adds} from worker {index}", abstract="Breaking.",
                                            category="news", sample_users=50)
                    except Exception as exc:  # noqa: BLE001 - counted and reported
                        add_errors.append(f"{type(exc).__name__}: {exc}")
                    add_latencies.append(time.perf_counter() - started)
                    adds += 1
                user = rng.choice(known) if rng.random() >= 0.1 else f"U_load_cold_{index}_{n}"
                started = time.perf_counter()
                try:
                    items = service.recommend(user, args.k)
                    if len(items) != args.k:  # the catalogue holds hundreds more than any history excludes
                        errors.append(f"{user}: {len(items)} items instead of {args.k}")
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors.append(f"{user}: {type(exc).__name__}: {exc}")
                latencies[index].append(time.perf_counter() - started)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        for thread in threads:
            thread.start()
        warmed.wait()
        rss_start = _rss_mb()
        sampler = threading.Thread(target=monitor, daemon=True)
        sampler.start()
        started = time.perf_counter()
        deadline = started + args.seconds
        go.wait()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        rss_end = _rss_mb()
        done.set()
        sampler.join()
        middle_time = started + elapsed / 2
        rss_middle = min(samples, key=lambda s: abs(s[0] - middle_time))[1] if samples else None
        flat = [t for per in latencies for t in per]
        result = {
            "run": str(run),
            "preset": None if args.run else args.preset,
            "threads": args.threads,
            "k": args.k,
            "torch_threads": torch.get_num_threads(),
            "requests": len(flat),
            "errors": len(errors) + len(add_errors),
            "error_examples": (errors + add_errors)[:5],
            "seconds": round(elapsed, 3),
            "throughput_rps": round(len(flat) / elapsed, 2) if elapsed else None,
            "latency_ms": _percentiles(flat),
            "add_article": {"calls": len(add_latencies), "errors": len(add_errors),
                            "latency_ms": _percentiles(add_latencies)},
            "rss_mb": {"start": rss_start, "middle": rss_middle, "end": rss_end,
                       "peak": max([s[1] for s in samples] + [rss_end])},
            "growth_mb": round(rss_end - rss_start, 1),
            "growth_second_half_mb": None if rss_middle is None else round(rss_end - rss_middle, 1),
            "catalogue": {"before": catalogue_before, "after": len(service.catalog)},
        }
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
