"""How fast the synthetic world is written and how fast a MIND dataset is read back.

    .venv/bin/python benchmarks/data_speed.py                       # tiny, demo, small
    .venv/bin/python benchmarks/data_speed.py --presets tiny,demo   # choose presets
    .venv/bin/python benchmarks/data_speed.py --presets large       # only when asked: writes ~GBs

Prints one JSON object: seconds to generate each preset (median of 3 runs for the cheap ones, tiny and
demo; 1 run otherwise), and for the load preset (small by default, else the largest one generated) the
seconds to load the whole dataset (all splits, with truth and meta) and to read its train behaviors.tsv
alone, with impressions per second. Progress goes to stderr. Everything is written under a temporary
folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recengine.data.mind import BEHAVIORS_FILE, load_dataset, read_behaviors  # noqa: E402
from recengine.data.report import LoadReport  # noqa: E402
from recengine.data.synthetic import PRESETS, generate  # noqa: E402

CHEAP = {"tiny": 3, "demo": 3}  # runs per preset; the others run once
ORDER = list(PRESETS)


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,demo,small", help="comma-separated presets (default: tiny,demo,small)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    parser.add_argument("--load-preset", help="whose dataset to time loading (default: small, else the largest chosen)")
    args = parser.parse_args(argv)

    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown or not presets:
        parser.error(f"unknown preset(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(PRESETS)}")
    presets = sorted(dict.fromkeys(presets), key=ORDER.index)
    load_preset = args.load_preset or ("small" if "small" in presets else presets[-1])
    if load_preset not in presets:
        parser.error(f"--load-preset {load_preset} must be one of the generated presets ({', '.join(presets)})")

    with tempfile.TemporaryDirectory(prefix="data-speed-") as tmp:
        work = Path(tmp)
        result: dict = {
            "benchmark": "data_speed",
            "seed": args.seed,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "generate": {},
        }
        folders: dict[str, Path] = {}
        for preset in presets:
            runs = []
            for run in range(CHEAP.get(preset, 1)):
                out = work / f"{preset}-{run}"
                print(f"generating {preset} (run {run + 1}) ...", file=sys.stderr)
                seconds, _ = _timed(lambda: generate(preset, args.seed, out))
                runs.append(seconds)
                if run == 0:
                    folders[preset] = out
                else:
                    shutil.rmtree(out)
            result["generate"][preset] = {
                "seconds": round(statistics.median(runs), 3),
                "runs": [round(s, 3) for s in runs],
                "megabytes": round(_folder_bytes(folders[preset]) / 2**20, 1),
            }

        root = folders[load_preset]
        print(f"loading {load_preset} ...", file=sys.stderr)
        dataset_s, dataset = _timed(lambda: load_dataset(root))
        impressions = sum(len(s.behaviors) for s in dataset.splits.values())
        skipped = dataset.report.total_skipped
        del dataset
        report = LoadReport()
        behaviors_s, behaviors = _timed(lambda: read_behaviors(root / "train" / BEHAVIORS_FILE, report))
        result["load"] = {
            "preset": load_preset,
            "dataset_seconds": round(dataset_s, 3),
            "dataset_impressions": impressions,
            "dataset_impressions_per_second": round(impressions / dataset_s),
            "skipped_rows": skipped + report.total_skipped,
            "train_behaviors_seconds": round(behaviors_s, 3),
            "train_behaviors_megabytes": round((root / "train" / BEHAVIORS_FILE).stat().st_size / 2**20, 1),
            "train_impressions": len(behaviors),
            "train_impressions_per_second": round(len(behaviors) / behaviors_s),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
