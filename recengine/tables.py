"""Tables the dashboard, the CLI and notebooks show: runs, datasets, runs side by side, stored comparisons,
recommendation lists, and how well cold-start lists follow chosen interests. Pure functions over store records
and evaluation dicts, beside :mod:`recengine.plots`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from recengine.data.store import ALL_SLICE, Store
from recengine.errors import InputError
from recengine.eval.compare import GRID_KEYS, METRIC_COLUMNS, RESULT_COLUMNS, SIGNIFICANCE_COLUMNS
from recengine.eval.evaluate import SLICES, selected_on, share_of_oracle
from recengine.eval.metrics import METRIC_LABELS

SUMMARY_COLUMNS = (*METRIC_COLUMNS, "random_auc", "oracle_auc", "share_of_oracle", *(f"{s}_auc" for s in SLICES))
ZERO_SHOT_SLICE = "day6_articles"  # every article published after training (benchmarks/zero_shot.py)
ZERO_SHOT_WORDS = {  # the benchmark's method and slice keys in plain words
    "zero_shot_mean": "zero-shot, mean fill", "zero_shot_neighbors": "zero-shot, neighbour fill",
    "incremental": "incremental update", "incremental_update": "incremental update", "full_retrain": "full retrain",
    "overall": "all afternoon impressions", "day6_articles": "new articles (day 6)",
    "day6_seen_in_morning": "new, in the morning's data", "day6_unseen": "new, not in the morning's data",
}


def metric_summary(metrics: Mapping | None) -> dict:
    """The headline numbers of an evaluation: the model's AUC, MRR, nDCG@5/10, random and oracle AUC,
    the share of the way from random to oracle, and each slice's AUC (None where absent)."""
    metrics = metrics or {}
    model, random, oracle = (metrics.get(key) or {} for key in ("model", "random", "oracle"))
    slices = metrics.get("slices") or {}
    return {
        **{name: model.get(name) for name in METRIC_COLUMNS},
        "random_auc": random.get("auc"),
        "oracle_auc": oracle.get("auc"),
        "share_of_oracle": share_of_oracle(model.get("auc"), random.get("auc"), oracle.get("auc")),
        **{f"{name}_auc": (slices.get(name) or {}).get("auc") for name in SLICES},
    }


def runs_table(runs: Sequence[Mapping]) -> pd.DataFrame:
    """One row per stored run (as :meth:`Store.runs` returns them): identity, main settings, headline metrics."""
    rows = []
    for run in runs:
        model, train = run["config"].get("model", {}), run["config"].get("train", {})
        rows.append({
            "run_id": run["run_id"],
            "dataset": run["dataset"],
            "mode": run["mode"],
            "parent": run["parent"],
            "created_at": run["created_at"],
            "views": "+".join(model.get("views", ())),
            "fusion": model.get("fusion"),
            "embedder": model.get("embedder"),
            "scoring": model.get("scoring"),
            "temperature": model.get("temperature"),
            "loss": train.get("loss"),
            "epochs": train.get("epochs"),
            "selected_on": selected_on(run["metrics"]),
            **metric_summary(run["metrics"]),
        })
    columns = ["run_id", "dataset", "mode", "parent", "created_at", "views", "fusion", "embedder", "scoring",
               "temperature", "loss", "epochs", "selected_on", *SUMMARY_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def selection_text(selection: Mapping | None) -> str:
    """One sentence on what chose a run's best epoch, from meta.json's ``selection`` (absent: an older run,
    which selected on dev)."""
    selection = selection or {"split": "dev"}
    if selection.get("split") == "validation":
        return (f"Best epoch, early stop and calibration chosen on a validation split: the latest "
                f"{selection['fraction']:.0%} of train impressions by time ({selection['validation_impressions']:,} "
                f"impressions, {selection['validation_from'].replace('T', ' ')} to "
                f"{selection['validation_to'].replace('T', ' ')}), held out from training. Dev is only reported.")
    if selection.get("split") == "dev":
        return ("Selected on dev: the best epoch was chosen on the same dev split the figures report, so they "
                "are optimistic (as in papers that select on dev).")
    return ("No split chose the epoch: the data had no labelled dev or validation split, so the epoch with the "
            "lowest training loss is kept.")


def datasets_table(datasets: Sequence[Mapping]) -> pd.DataFrame:
    """One row per stored dataset (as :meth:`Store.datasets` returns them): origin, size and place."""
    rows = [
        {"name": d["name"], "source": d["source"], "preset": d["preset"], "seed": d["seed"],
         **{key: d["summary"].get(key) for key in ("articles", "users", "impressions")},
         "imported_at": d["imported_at"], "path": d["path"]}
        for d in datasets
    ]
    columns = ["name", "source", "preset", "seed", "articles", "users", "impressions", "imported_at", "path"]
    return pd.DataFrame(rows, columns=columns)


def _flat_settings(config: Mapping) -> dict[str, str]:
    return {
        f"{part}.{key}": "+".join(value) if isinstance(value, list) else str(value)
        for part in ("model", "train")
        for key, value in (config.get(part) or {}).items()
    }


def compare_runs(runs: Sequence[Mapping]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs side by side: (metrics: metric x run, settings that differ between the runs: setting x run)."""
    ids = [run["run_id"] for run in runs]
    metrics = pd.DataFrame({run["run_id"]: metric_summary(run["metrics"]) for run in runs}, columns=ids, dtype=float)
    settings = pd.DataFrame({run["run_id"]: _flat_settings(run["config"]) for run in runs}, columns=ids).fillna("")
    differing = settings[settings.nunique(axis=1) > 1]
    metrics.index.name = "metric"
    differing.index.name = "setting"
    return metrics, differing


# --------------------------------------------------------------------------------------------- comparisons


def stored_comparison(store: Store, comparison_id: int) -> pd.DataFrame:
    """A stored comparison as one row per cell: settings, the metrics of the registry, each slice's AUC, random and
    oracle AUC, best epoch, seconds and run id (the layout :func:`recengine.eval.compare.result_row` gives)."""
    cells = store.comparison_cells(comparison_id).set_index("cell")
    values = store.comparison_metrics(comparison_id)
    values["column"] = [_wide_column(*key) for key in zip(values["scorer"], values["slice"], values["metric"])]
    wide = values.pivot(index="cell", columns="column", values="value")
    columns = [*GRID_KEYS, *RESULT_COLUMNS, "best_epoch", "seconds", "run_id"]
    columns += [c for c in SIGNIFICANCE_COLUMNS if c in wide.columns]  # each cell against the best, when compared
    frame = cells.join(wide).reindex(columns=columns).reset_index(drop=True)
    frame.attrs["comparison_id"] = comparison_id
    return frame


def _wide_column(scorer: str, slice_name: str, metric: str) -> str:
    """The column of one long value: the model's overall metrics by name (``auc``), its slices' prefixed with the
    slice (``warm_auc``), the baselines' with the scorer (``random_auc``, ``warm_random_auc``)."""
    prefix = [] if slice_name == ALL_SLICE else [slice_name]
    prefix += [] if scorer == "model" else [scorer]
    return "_".join([*prefix, metric])


def comparison_headline(frame: pd.DataFrame) -> dict:
    """The best cell's AUC, and random and oracle AUC averaged over the cells (they differ only by seed)."""
    return {
        "best_auc": frame["auc"].max(),
        "random_auc": frame["random_auc"].mean(),
        "oracle_auc": frame["oracle_auc"].mean(),
    }


def comparison_evaluations(store: Store, comparison_id: int) -> list[dict]:
    """Each cell's evaluation rebuilt from the long values the store keeps, in the order of
    :func:`stored_comparison`'s rows: ``model``, ``random`` and ``oracle`` overall, the model's ``slices`` and each
    slice's random and oracle (``baselines``), every metric, and the split the cells chose their epoch on
    (``selected_on``, from the grid's base config), as :func:`recengine.plots.metrics_chart` reads it. The comparison
    against the best cell (:data:`SIGNIFICANCE_COLUMNS`) is left out: it is no metric."""
    grid = next((c["grid"] for c in store.comparisons() if c["id"] == comparison_id), {})
    # A base config without select_on is a version-1 config, which selected on dev (recengine.config).
    selected = ((grid.get("base") or {}).get("train") or {}).get("select_on", "dev")
    values = store.comparison_metrics(comparison_id)
    values = values[~values["metric"].isin(SIGNIFICANCE_COLUMNS)]
    evaluations = []
    for cell in store.comparison_cells(comparison_id)["cell"]:
        blocks: dict[tuple[str, str], dict] = {}
        rows = values[values["cell"] == cell]
        for scorer, slice_name, metric, value in zip(rows["scorer"], rows["slice"], rows["metric"], rows["value"]):
            blocks.setdefault((scorer, slice_name), {})[metric] = None if pd.isna(value) else float(value)
        evaluations.append({**_evaluation(blocks), "selected_on": selected})
    return evaluations


def _evaluation(blocks: Mapping[tuple[str, str], dict]) -> dict:
    """(scorer, slice) -> metric values as an evaluation dict; the slices in the registry's order, then others."""
    found = {name for _, name in blocks if name != ALL_SLICE}
    names = [n for n in SLICES if n in found] + sorted(found - set(SLICES))
    return {
        "model": blocks.get(("model", ALL_SLICE)) or {},
        "random": blocks.get(("random", ALL_SLICE)),
        "oracle": blocks.get(("oracle", ALL_SLICE)),
        "slices": {name: blocks[("model", name)] for name in names if ("model", name) in blocks},
        "baselines": {name: {"random": blocks.get(("random", name)), "oracle": blocks.get(("oracle", name))}
                      for name in names if ("random", name) in blocks or ("oracle", name) in blocks},
    }


# --------------------------------------------------------------------------------------------- zero-shot benchmark


# benchmarks/zero_shot.py --preset demo --embedder minilm (seed 0, the defaults), measured on a 2-core CPU on
# 2026-12-02 on world v3: what the dashboard shows until the workspace has its own result.
SHIPPED_ZERO_SHOT = Path(__file__).parent / "resources" / "zero_shot_demo.json"


def read_benchmark_json(path: str | Path, script: str, key: str) -> dict | None:
    """The JSON object ``benchmarks/<script>`` prints, kept at ``path`` (it must hold the mapping ``key``), or None
    when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=path) from None
    if not isinstance(result, dict) or not isinstance(result.get(key), dict):
        raise InputError(f"expected the JSON object benchmarks/{script} prints (with '{key}')", path=path)
    return result


def read_zero_shot(path: str | Path) -> dict | None:
    """The zero-shot benchmark's JSON object, or None when the file does not exist."""
    return read_benchmark_json(path, "zero_shot.py", "methods")


def zero_shot_rows(result: Mapping, slice_name: str = ZERO_SHOT_SLICE) -> list[dict]:
    """Per method (zero-shot fills, incremental update, full retrain) the metrics measured on one slice of the
    benchmark (``auc`` always, None when absent; the others only when measured), with the slice's ``random_auc`` and ``oracle_auc`` (the benchmark's ``baselines``; None in results recorded
    without them), which :func:`recengine.plots.zero_shot_chart` draws as references."""
    rows = []
    for method, slices in result["methods"].items():
        values = (slices or {}).get(slice_name) or {}
        baselines = ((slices or {}).get("baselines") or {}).get(slice_name) or {}
        measured = {name: values[name] for name in METRIC_COLUMNS if values.get(name) is not None}
        rows.append({"method": _words(method), "auc": values.get("auc"), **measured,
                     "random_auc": baselines.get("random_auc"), "oracle_auc": baselines.get("oracle_auc")})
    return rows


def zero_shot_significance(result: Mapping, metric: str = "auc") -> pd.DataFrame:
    """Each method against the full retrain, per slice, on ``metric``: the paired difference, its 95% interval, the
    p-value and the verdict (empty for a result recorded before the paired comparison existed)."""
    against = result.get("against_retrain") or {}
    rows = [{"method": _words(method), "slice": _words(name), **_paired(c)}
            for method, slices in (against.get("methods") or {}).items()
            for name, metrics in slices.items() if (c := metrics.get(metric))]
    return pd.DataFrame(rows, columns=["method", "slice", *PAIRED_COLUMNS])


def _words(key: str) -> str:
    return ZERO_SHOT_WORDS.get(key, key.replace("_", " "))


PAIRED_COLUMNS = ("difference", "ci_low", "ci_high", "p_value", "verdict")


def _paired(comparison: Mapping) -> dict:
    """One metric's paired comparison as table cells: difference, interval, p-value and the verdict."""
    verdict = "distinguishable" if comparison["distinguishable"] else "not distinguishable"
    return {**{key: comparison[key] for key in PAIRED_COLUMNS[:-1]}, "verdict": verdict}


# --------------------------------------------------------------------------------------------- recommendations


RECOMMENDATION_KEYS = {  # the columns that fit the page, per source of the list
    "model": ("rank", "title", "category", "probability", "top_view"),
    "popularity": ("rank", "title", "category", "popularity_score", "clicks"),
}


def recommendations_table(items: Sequence[Mapping]) -> pd.DataFrame:
    """Recommendation items (:meth:`RecommenderService.recommend`) as a table: rank, article, the model's
    ``probability`` and logit (``score``), the view that mattered most, the first stage's ``recall_score`` and each
    view's contribution to the logit (``contribution_<view>``). A popularity item's score is ``popularity_score``
    beside its ``clicks``. Columns empty for every item (a popularity list has no probability, recall score or
    contributions) are left out; :data:`RECOMMENDATION_KEYS` names the ones to show first."""
    rows = []
    for rank, item in enumerate(items, 1):
        score = "score" if item.get("source") == "model" else "popularity_score"
        row = {"rank": rank, **{key: item.get(key) for key in ("title", "category", "subcategory", "probability")},
               score: item.get("score"), "top_view": item.get("top_view"), "clicks": item.get("clicks"),
               "recall_score": item.get("recall_score")}
        row.update({f"contribution_{view}": value for view, value in (item.get("contributions") or {}).items()})
        row.update({"article_id": item.get("article_id"), "source": item.get("source")})
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.dropna(axis=1, how="all")


def article_topic(category: str | None, subcategory: str | None) -> str:
    """"category / subcategory", or the one of them an article has ("finance", never "finance / ")."""
    parts = [part.strip() for part in (category, subcategory) if isinstance(part, str) and part.strip()]
    return " / ".join(parts) or "no category"


def category_counts(categories: Iterable[str]) -> dict[str, int]:
    """How many articles each category has (e.g. over a catalogue's ``category`` column)."""
    return dict(Counter(categories))


def interest_overlap(items: Sequence[Mapping], categories: Sequence[str], category_counts: Mapping[str, int]) -> dict:
    """How well recommendations follow chosen categories: ``share`` of the items in them, ``base_rate`` (the
    share a random pick from the catalogue would have) and ``lift`` (share / base rate); None when undefined."""
    chosen = set(categories)
    total = sum(category_counts.values())
    if not items or not chosen or not total:
        return {"share": None, "base_rate": None, "lift": None, "items": len(items)}
    share = sum(item.get("category") in chosen for item in items) / len(items)
    base_rate = sum(category_counts.get(c, 0) for c in chosen) / total
    lift = share / base_rate if base_rate else None
    return {"share": share, "base_rate": base_rate, "lift": lift, "items": len(items)}


# --------------------------------------------------------------------------------------------- experiments


EXPERIMENT_COST_COLUMNS = ("train_seconds", "eval_seconds", "peak_memory_mb")


def experiment_table(store: Store, *, resamples: int | None = None) -> pd.DataFrame:
    """Every stored run in one row, newest first (Cornac-style): ``configuration`` (its settings that differ from
    the defaults, as "fusion=gate, loss=bce"), ``selected_on`` ("validation", or "dev" for runs selected on the
    reported split), ``selection_auc`` (the best epoch's AUC on that split), each dev metric with its 95% bootstrap
    interval (``<metric>_low``/``<metric>_high``: the evaluation's own ``ci``, else computed from the dev scores the
    run keeps, else blank), and
    train seconds, evaluation seconds and peak memory from meta.json (blank where a run does not record them).
    ``resamples`` defaults to :data:`recengine.eval.significance.RESAMPLES`."""
    from recengine.eval.significance import RESAMPLES

    rows = [_experiment_row(run, resamples or RESAMPLES) for run in store.runs()]
    columns = ["run_id", "dataset", "mode", "created_at", "configuration", "selected_on", "selection_auc",
               *(f"{m}{part}" for m in METRIC_COLUMNS for part in ("", "_low", "_high")), *EXPERIMENT_COST_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def distinct_settings(configurations: Sequence[str]) -> tuple[list[str], str]:
    """Runs' ``configuration`` texts (:func:`config_differences`) shortened for reading side by side: the settings
    every run shares are taken out and returned once (``"embedder=hashing, epochs=2"``), and a number reads to 4
    significant digits (``temperature=0.02641``). Returns (one text per run, the shared text)."""
    parsed = [dict(part.split("=", 1) for part in text.split(", ")) if text else {} for text in configurations]
    shared = set.intersection(*(set(p.items()) for p in parsed)) if len(parsed) > 1 else set()
    shown = [", ".join(f"{key}={_short(value)}" for key, value in p.items() if (key, value) not in shared)
             for p in parsed]
    first = parsed[0] if parsed else {}
    return shown, ", ".join(f"{key}={_short(value)}" for key, value in first.items() if (key, value) in shared)


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return value if value.lstrip("-").isdigit() else f"{number:.4g}"


def config_differences(config: Mapping) -> str:
    """A run's settings that differ from the schema's defaults, in schema order: "fusion=gate, loss=bce"."""
    from recengine.config import RunConfig

    defaults = _flat_settings(json.loads(json.dumps(RunConfig().to_dict())))  # tuples as the stored lists
    return ", ".join(f"{key.split('.', 1)[1]}={value}" for key, value in _flat_settings(config).items()
                     if defaults.get(key) != value)


def _experiment_row(run: Mapping, resamples: int) -> dict:
    from recengine.errors import RecengineError
    from recengine.eval.significance import mean_interval
    from recengine.train.runs import HISTORY_FILE, read_dev_scores, read_run_files

    folder = Path(run["path"])
    try:  # a run whose folder has gone still has its stored row
        meta = read_run_files(folder)[1]
        history = json.loads((folder / HISTORY_FILE).read_text(encoding="utf-8"))
        kept = read_dev_scores(folder)
    except (RecengineError, OSError, ValueError):
        meta, history, kept = {}, [], None
    selected_on, selection_auc = _selection(meta, history)
    metrics = run["metrics"] or {}
    model, stored = metrics.get("model") or {}, metrics.get("ci") or {}
    per = kept.per_impression() if kept is not None and not stored else None
    row = {"run_id": run["run_id"], "dataset": run["dataset"], "mode": run["mode"], "created_at": run["created_at"],
           "configuration": config_differences(run["config"]), "selected_on": selected_on,
           "selection_auc": selection_auc, **{key: meta.get(key) for key in EXPERIMENT_COST_COLUMNS}}
    for metric in METRIC_COLUMNS:
        low, high = (stored.get(metric) or (None, None)) if per is None else mean_interval(
            per[metric].to_numpy(), resamples=resamples)
        row.update({metric: model.get(metric), f"{metric}_low": low, f"{metric}_high": high})
    return row


def _selection(meta: Mapping, history: Sequence[Mapping]) -> tuple[str | None, float | None]:
    """(the split the best epoch was chosen on, its AUC there): meta.json's "selection" names the split and history
    entries keep its metrics under "valid"; runs made before the validation split have neither and selected on
    dev (their entries say "dev")."""
    best = next((entry for entry in history if entry.get("epoch") == meta.get("best_epoch")), None) or {}
    split = best.get("split") or (meta.get("selection") or {}).get("split") or ("dev" if best.get("dev") else None)
    return split, (best.get("valid") or best.get("dev") or {}).get("auc")


def scored_table(result: Mapping, scorer: str = "this system") -> pd.DataFrame:
    """An evaluation's overall figures (a run's or a prediction file's): one row each for the scorer, random and the
    oracle, with the impression count and every metric by its label; the scorer's 95% interval per metric (the
    result's ``ci``) in ``<label> 95% low`` / ``<label> 95% high`` columns (:data:`SCORED_INTERVAL`)."""
    intervals = result.get("ci") or {}
    rows = []
    for who, key in ((scorer, "model"), ("random", "random"), ("oracle", "oracle")):
        metrics = result.get(key)
        if not metrics:
            continue
        row = {"scorer": who, "impressions": metrics.get("impressions")}
        for m in METRIC_COLUMNS:
            low, high = (intervals.get(m) or (None, None)) if key == "model" else (None, None)
            row.update(dict(zip((METRIC_LABELS[m] + part for part in ("", *SCORED_INTERVAL)),
                                (metrics.get(m), low, high))))
        rows.append(row)
    labels = [METRIC_LABELS[m] + part for m in METRIC_COLUMNS for part in ("", *SCORED_INTERVAL)]
    return pd.DataFrame(rows, columns=["scorer", "impressions", *labels])


SCORED_INTERVAL = (" 95% low", " 95% high")  # suffixes of scored_table's interval columns


def significance_table(comparison: Mapping) -> pd.DataFrame:
    """A paired comparison (:func:`recengine.eval.significance.paired_comparison` under ``metrics``) as one row per
    metric: both means, the difference, its 95% interval, the p-value and whether the two can be told apart."""
    rows = [{"metric": METRIC_LABELS.get(m, m), "a": c["a"], "b": c["b"], **_paired(c)}
            for m, c in (comparison.get("metrics") or {}).items()]
    return pd.DataFrame(rows, columns=["metric", "a", "b", *PAIRED_COLUMNS])
