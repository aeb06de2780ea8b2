"""What paired significance adds: :func:`paired_comparison` of two scorers and the ``"ci"`` of one evaluation
(:func:`metric_intervals`), on per-impression values the size of a dev split.

    .venv/bin/python benchmarks/significance_cost.py [--impressions 73000] [--repeats 2]

The default size is the ``small`` preset's dev split (73,000 impressions). The per-impression values are synthetic
(uniform, AUC undefined on a tenth of the impressions; the cost does not depend on the values), one column per
metric of the registry. Prints one JSON object with the wall and CPU seconds of each (the best of ``--repeats``):
CPU seconds of this process are less inflated than wall time when the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from recengine.eval.metrics import METRICS
from recengine.eval.significance import RESAMPLES, metric_intervals, paired_comparison


def _best(fn, repeats: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return round(min(walls), 2), round(min(cpus), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impressions", type=int, default=73_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a = pd.DataFrame({m: rng.random(args.impressions) for m in METRICS})
    a.loc[rng.random(args.impressions) < 0.1, "auc"] = np.nan
    b = a + rng.normal(0.001, 0.05, a.shape)
    paired_wall, paired_cpu = _best(lambda: paired_comparison(a, b), args.repeats)
    ci_wall, ci_cpu = _best(lambda: metric_intervals(a), args.repeats)
    print(json.dumps({"impressions": args.impressions, "metrics": len(METRICS), "resamples": RESAMPLES,
                      "paired_comparison_seconds": paired_wall, "paired_comparison_cpu_seconds": paired_cpu,
                      "ci_seconds": ci_wall, "ci_cpu_seconds": ci_cpu}))


if __name__ == "__main__":
    main()
