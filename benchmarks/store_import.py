"""How fast a dataset goes into the store, and how fast the dashboard's reads come back.

    .venv/bin/python benchmarks/store_import.py                      # a generated `demo` dataset
    .venv/bin/python benchmarks/store_import.py --preset small --seed 1
    .venv/bin/python benchmarks/store_import.py --data ../shared/data/mind_sample

Prints one JSON object: rows per table, seconds for loading the folder, a first import into an empty
store, an unchanged re-import (writes nothing), the content fingerprint (hashing every file, then from the
store's digest cache as a later process finds it), the page check each process runs once (PRAGMA
quick_check), and median milliseconds of user_history and popular_articles.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recengine.data import identity, synthetic
from recengine.data.mind import load_dataset
from recengine.data.store import Store


def _seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return round(time.perf_counter() - start, 3), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a MIND dataset folder (train/ and dev/) or a bare split folder")
    parser.add_argument("--preset", default="demo", help="without --data: generate this synthetic preset first")
    parser.add_argument("--seed", type=int, default=0, help="seed for --preset")
    parser.add_argument("--reads", type=int, default=200, help="user_history calls to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        folder = args.data
        if folder is None:
            folder = Path(tmp) / "data"
            synthetic.generate(args.preset, args.seed, folder)
        load_s, dataset = _seconds(lambda: load_dataset(folder))
        hash_s, _ = _seconds(lambda: identity.dataset_fingerprint(folder))
        with Store(Path(tmp) / "bench.db") as store:
            import_s, counts = _seconds(lambda: store.import_dataset("bench", dataset, source="imported"))
            unchanged_s, again = _seconds(lambda: store.import_dataset("bench", dataset, source="imported"))
            identity._memo.clear()  # what a later process knows: only the store's digests
            cached_s, _ = _seconds(lambda: store.fingerprint(folder))
            check_s, _ = _seconds(lambda: store.db.execute("PRAGMA quick_check").fetchall())
            if again["changed"]:
                raise SystemExit("re-importing the same dataset wrote rows; it should write nothing")

            all_users = store.users("bench")["user_id"]
            users = all_users.sample(n=min(args.reads, len(all_users)), random_state=0).tolist()
            history_ms = []
            for user in users:
                start = time.perf_counter()
                store.user_history("bench", user)
                history_ms.append((time.perf_counter() - start) * 1000)
            popular_ms = []
            for _ in range(20):
                start = time.perf_counter()
                store.popular_articles("bench", limit=100)
                popular_ms.append((time.perf_counter() - start) * 1000)
        # Closed, so the WAL is checkpointed into the file and removed.
        db_bytes = sum(p.stat().st_size for p in Path(tmp).glob("bench.db*"))

    rows = {table: counts[table] for table in ("articles", "users", "histories", "clicks")}
    result = {
        "data": str(folder) if args.data is not None else f"preset {args.preset} seed {args.seed}",
        "impressions": counts["impressions"],
        "rows": rows,
        "seconds": {
            "load_folder": load_s,
            "import": import_s,
            "reimport_unchanged": unchanged_s,
            "fingerprint_hashing": hash_s,
            "fingerprint_cached": cached_s,
            "quick_check": check_s,
        },
        "rows_per_second": round(sum(rows.values()) / max(import_s, 1e-9)),
        "user_history_ms_median": round(statistics.median(history_ms), 3) if history_ms else None,
        "popular_articles_ms_median": round(statistics.median(popular_ms), 3),
        "db_bytes": db_bytes,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
