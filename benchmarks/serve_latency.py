"""In-process recommend latency: the user-vector cache and ``explain`` on and off, one process, one run.

Four services over the same run and store, one per mode (two with the user-vector cache, two with a cache of size
0, so that no mode warms another's cache), answer
``RecommenderService.recommend(user, k, candidates, explain=...)`` in four modes, interleaved call by call so that
machine noise hits all four alike. Users cycle over ``--users`` known users, each asked ``--repeat`` times in a row
(a page reload, a client retry, a list then its next page), ``--calls`` calls per mode after a warm-up. Reports the
median and p95 wall-clock milliseconds and the median CPU milliseconds of the process (all its threads, torch's included: on a
shared machine wall-clock figures carry other processes' noise; CPU time is the work itself), and the cache's hit
rate.
Prints one JSON object.

    python benchmarks/serve_latency.py --run RUN_FOLDER_OR_ID [--users 200] [--repeat 3] [--calls 600]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODES = {  # name: (cached, explain)
    "cache_explain": (True, True),
    "nocache_explain": (False, True),
    "cache_plain": (True, False),
    "nocache_plain": (False, False),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="run folder or stored run id")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="calls per user in a row")
    parser.add_argument("--calls", type=int, default=600, help="timed calls per mode")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=200)
    args = parser.parse_args(argv)

    from recengine.app import serving
    from recengine.data.store import Store
    from recengine.serve.ranking import USER_CACHE_SIZE

    store = Store(Path(tempfile.mkdtemp()) / "latency.db")
    services = {mode: serving.open_service(store, args.run) for mode in MODES}
    for mode, (use_cache, _) in MODES.items():
        services[mode].user_cache.size = USER_CACHE_SIZE if use_cache else 0
    cached = services["cache_plain"]
    users = store.users(cached.dataset)["user_id"].tolist()[: args.users]
    wall: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    for call in range(-20, args.calls):  # 20 warm-up rounds
        user = users[(call % (len(users) * args.repeat)) // args.repeat]
        for mode, (_, explain) in MODES.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            services[mode].recommend(user, args.k, candidates=args.candidates, explain=explain)
            if call >= 0:
                wall[mode].append((time.perf_counter() - start) * 1000)
                cpu[mode].append((time.process_time() - start_cpu) * 1000)
    result = {
        "run": str(args.run),
        "articles": len(cached.catalog),
        "users": len(users),
        "repeat": args.repeat,
        "calls_per_mode": args.calls,
        "k": args.k,
        "candidates": args.candidates,
        "modes": {
            mode: {
                "wall_ms_p50": round(float(np.median(wall[mode])), 3),
                "wall_ms_p95": round(float(np.percentile(wall[mode], 95)), 3),
                "cpu_ms_p50": round(float(np.median(cpu[mode])), 3),
            }
            for mode in MODES
        },
        "cache_hit_rate": round(cached.user_cache.hits / max(1, cached.user_cache.hits + cached.user_cache.misses), 3),
    }
    plain = result["modes"]
    result["speedup_cpu_p50"] = {
        "cache": round(plain["nocache_plain"]["cpu_ms_p50"] / plain["cache_plain"]["cpu_ms_p50"], 2),
        "no_explain": round(plain["nocache_explain"]["cpu_ms_p50"] / plain["nocache_plain"]["cpu_ms_p50"], 2),
        "both": round(plain["nocache_explain"]["cpu_ms_p50"] / plain["cache_plain"]["cpu_ms_p50"], 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
