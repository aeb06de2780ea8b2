"""Comparison tables: the grid of settings (fusion x temperature x loss x seed), one result row per cell, and
the summary over seeds. :func:`recengine.app.experiments.compare_grid` trains the cells, each as a run, and
compares every cell with the best one on the same dev impressions (:data:`SIGNIFICANCE_COLUMNS`).
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from recengine import atomic
from recengine.config import FUSIONS, LOSSES, RunConfig
from recengine.errors import InputError
from recengine.eval.evaluate import SLICES
from recengine.eval.metrics import METRICS

GRID_KEYS = ("fusion", "temperature", "loss", "seed")
METRIC_COLUMNS = METRICS  # the metric registry's names, as table columns
SLICE_COLUMNS = tuple(f"{name}_auc" for name in SLICES)
RESULT_COLUMNS = (*METRIC_COLUMNS, *SLICE_COLUMNS, "random_auc", "oracle_auc")
# A cell against the best cell, per metric: the paired difference (cell - best), its 95% bootstrap interval and the
# Wilcoxon p-value (recengine.eval.significance). Kept as extra metric values of the cell's model.
SIGNIFICANCE_PARTS = {"diff_vs_best": "difference", "ci_low": "ci_low", "ci_high": "ci_high", "p": "p_value"}
SIGNIFICANCE_COLUMNS = tuple(f"{m}_{part}" for m in METRIC_COLUMNS for part in SIGNIFICANCE_PARTS)


def check_grid(
    fusions: Sequence[str], temperatures: Sequence[float], losses: Sequence[str], seeds: Sequence[int]
) -> None:
    """Raise :class:`InputError` for an empty list, a repeated value, an unknown fusion or loss,
    a temperature that is not a positive number, or a seed that is not a whole number >= 0."""
    for what, values in (("fusions", fusions), ("temperatures", temperatures), ("losses", losses), ("seeds", seeds)):
        if len(values) == 0:
            raise InputError(f"the grid needs at least one of {what}")
        if len(set(values)) != len(values):
            raise InputError(f"{what} repeat: {', '.join(map(str, values))}")
    for name, values, known in (("fusion", fusions, FUSIONS), ("loss", losses, LOSSES)):
        unknown = [v for v in values if v not in known]
        if unknown:
            raise InputError(f"unknown {name} {unknown[0]!r}; choose from {', '.join(known)}")
    for t in temperatures:
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t <= 0:
            raise InputError(f"temperatures must be numbers > 0; got {t!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            raise InputError(f"seeds must be whole numbers >= 0; got {s!r}")


def grid_configs(
    base: RunConfig,
    *,
    fusions: Sequence[str],
    temperatures: Sequence[float],
    losses: Sequence[str],
    seeds: Sequence[int],
) -> list[tuple[dict, RunConfig]]:
    """Every combination as (settings, validated config), fusion outermost and seed innermost."""
    check_grid(fusions, temperatures, losses, seeds)
    if base.model.scoring == "dot" and len(temperatures) > 1:
        raise InputError("temperatures only change cosine scoring; the base config scores with a raw dot product")
    cells = []
    for fusion, temperature, loss, seed in itertools.product(fusions, temperatures, losses, seeds):
        config = copy.deepcopy(base)
        config.model.fusion, config.model.temperature = fusion, float(temperature)
        config.train.loss, config.train.seed = loss, int(seed)
        config.validate()
        cells.append(({"fusion": fusion, "temperature": float(temperature), "loss": loss, "seed": int(seed)}, config))
    return cells


def result_row(settings: dict, metrics: dict) -> dict:
    """One grid row: the settings, the model's metrics, each slice's AUC, and random and oracle AUC."""
    model = metrics["model"]
    row = {**settings, **{name: model[name] for name in METRIC_COLUMNS}}
    for name, column in zip(SLICES, SLICE_COLUMNS):
        row[column] = (metrics["slices"].get(name) or {}).get("auc")
    row["random_auc"] = metrics["random"]["auc"]
    row["oracle_auc"] = (metrics["oracle"] or {}).get("auc")
    return row


def significance_values(comparison: Mapping[str, Mapping]) -> dict:
    """A cell's :func:`recengine.eval.significance.paired_comparison` against the best cell as flat
    :data:`SIGNIFICANCE_COLUMNS` values (``auc_diff_vs_best``, ``auc_ci_low``, ``auc_ci_high``, ``auc_p``, ...)."""
    return {f"{metric}_{part}": comparison[metric][key]
            for metric in METRIC_COLUMNS if metric in comparison for part, key in SIGNIFICANCE_PARTS.items()}


def distinguishable(row: Mapping, metric: str = "auc") -> bool | None:
    """Whether a row's interval against the best cell excludes 0 (None when the row has no interval)."""
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return None
    return bool(low > 0 or high < 0)


def summarize_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per (fusion, temperature, loss).

    Columns: fusion, temperature, loss, seeds (how many), then ``<metric>_mean`` and ``<metric>_std`` for
    every metric column present (std is the sample std: NaN for a single seed).
    """
    missing = [key for key in GRID_KEYS if key not in frame.columns]
    if missing:
        raise InputError(f"a comparison frame needs columns {', '.join(GRID_KEYS)}; missing {', '.join(missing)}")
    metrics = [c for c in RESULT_COLUMNS if c in frame.columns]
    keys = list(GRID_KEYS[:-1])
    columns = [*keys, "seeds", *(f"{m}_{stat}" for m in metrics for stat in ("mean", "std"))]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby(keys, sort=False)
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary.insert(0, "seeds", grouped.size())
    return summary.reset_index()[columns]


def grid_to_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a grid (or its summary) as CSV, atomically."""
    atomic.write_text(path, frame.to_csv(index=False))
