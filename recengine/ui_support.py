"""What the dashboard needs beyond the core API, free of Streamlit so a notebook or a command can use it too.

Training and updating runs into the workspace (saved under ``runs/`` and registered in the store),
deleting a run safely, tables of runs and their metrics, text and graph coverage of a dataset, stored
comparisons in the layout :func:`recengine.eval.compare.run_grid` returns, the zero-shot benchmark's
results, recommendation lists as tables, and how well cold-start recommendations follow chosen interests.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from recengine.bootstrap import ACTIVE_RUN, register_run
from recengine.config import RunConfig
from recengine.data.imports import allowed_folder, scratch_folder, unpack_upload
from recengine.data.mind import MindDataset, load_dataset
from recengine.data.store import Store
from recengine.errors import InputError
from recengine.eval.compare import GRID_KEYS, METRIC_COLUMNS, RESULT_COLUMNS
from recengine.eval.evaluate import SLICES, share_of_oracle
from recengine.graph import graph_from_news
from recengine.text import EmbeddingCache, TextEmbedder, coverage_warning, embed_news
from recengine.train.api import TrainedRun, train_run
from recengine.train.incremental import UpdateResult, update_run
from recengine.train.runs import META_FILE
from recengine.train.trainer import ProgressCallback
from recengine.workspace import Workspace

SUMMARY_COLUMNS = (*METRIC_COLUMNS, "random_auc", "oracle_auc", "share_of_oracle", *(f"{s}_auc" for s in SLICES))
ZERO_SHOT_SLICE = "day6_articles"  # every article published after training (benchmarks/zero_shot.py)


# --------------------------------------------------------------------------------------------- runs


def new_run_id(workspace: Workspace, store: Store, dataset: str, label: str) -> str:
    """A fresh run id ``<dataset>-<label>-<UTC time>`` that names no stored run, no existing folder and no other
    session's reservation.

    The id is reserved by creating the hidden folder ``runs/.<id>.reserved`` (mkdir either creates it or fails), so
    two sessions asking in the same second get two ids; :func:`release_run_id` removes the reservation.
    """
    base = f"{dataset}-{label}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    workspace.runs.mkdir(parents=True, exist_ok=True)
    run_id, n = base, 1
    while True:
        if store.run(run_id) is None and not workspace.run(run_id).exists():
            try:
                _reservation(workspace, run_id).mkdir()
                return run_id
            except FileExistsError:
                pass
        n += 1
        run_id = f"{base}-{n}"


def _reservation(workspace: Workspace, run_id: str) -> Path:
    return workspace.runs / f".{run_id}.reserved"


def release_run_id(workspace: Workspace, run_id: str) -> None:
    """Remove the reservation :func:`new_run_id` made (once the run is saved and registered, or has failed)."""
    shutil.rmtree(_reservation(workspace, run_id), ignore_errors=True)


def train_and_register(
    workspace: Workspace,
    store: Store,
    dataset_name: str,
    config: RunConfig,
    *,
    data: MindDataset | None = None,
    embedder: TextEmbedder | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[str, TrainedRun]:
    """Train ``config`` on a stored dataset, save the run under ``runs/`` and register it; returns (run id, run)."""
    record = store.dataset(dataset_name)
    if record is None:
        raise InputError(f"unknown dataset {dataset_name!r}")
    data = data if data is not None else load_dataset(record["path"])
    run_id = new_run_id(workspace, store, dataset_name, config.model.fusion)
    try:
        out = workspace.run(run_id)
        trained = train_run(data, config, out=out, embedder=embedder, progress=progress)
        register_run(store, out, dataset=dataset_name, config=config, meta=trained.meta, metrics=trained.metrics)
    finally:
        release_run_id(workspace, run_id)
    return run_id, trained


def update_and_register(
    workspace: Workspace,
    store: Store,
    parent_id: str,
    *,
    folder: str | Path | None = None,
    files: Sequence[tuple[str, bytes]] = (),
    epochs: int,
    full_epochs: int,
    lr_decay: float,
    embedder: TextEmbedder | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[str, UpdateResult]:
    """Fold new data into a copy of a stored run (see :func:`update_run`), save and register the new run.

    The data is a MIND ``folder`` inside the import roots (see :func:`allowed_folder`), or uploaded ``files``
    (see :func:`unpack_upload`), unpacked to a scratch folder that is removed afterwards.
    """
    parent = store.run(parent_id)
    if parent is None:
        raise InputError(f"unknown run {parent_id!r}")
    given_folder = folder is not None and str(folder).strip() != ""
    if given_folder == bool(files):
        raise InputError("give either a folder or uploaded files with the new data")
    scratch = scratch_folder(workspace.home / "uploads") if files else None
    run_id = None
    try:
        source = unpack_upload(files, scratch) if files else allowed_folder(folder, workspace)
        run_id = new_run_id(workspace, store, parent["dataset"], "update")
        out = workspace.run(run_id)
        result = update_run(
            parent["path"], source, out, epochs=epochs, full_epochs=full_epochs, lr_decay=lr_decay,
            embedder=embedder, archive=workspace.archive, progress=progress,
        )
        config = result.recommender.config
        register_run(store, out, dataset=parent["dataset"], config=config, meta=result.meta, metrics=result.metrics)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if run_id is not None:
            release_run_id(workspace, run_id)
    return run_id, result


def delete_run(workspace: Workspace, store: Store, run_id: str, *, active: str | None = None) -> Path | None:
    """Forget a run and delete its folder when it lies under the workspace's ``runs/``; returns the folder deleted.

    The run in use (``active``) and the one the store starts with are refused. The folder is first renamed
    aside, so a failure never leaves a store row pointing at half a folder.
    """
    if run_id in (active, store.get_setting(ACTIVE_RUN)):
        raise InputError(f"run {run_id} is the active model; make another run active first")
    record = store.run(run_id)
    if record is None:
        raise InputError(f"unknown run {run_id!r}")
    runs = workspace.runs.resolve()
    folder = Path(record["path"]).resolve()
    if not (folder.is_relative_to(runs) and folder != runs and folder.is_dir()):
        store.delete_run(run_id)
        return None
    aside = folder.with_name(f".{folder.name}.deleting")
    os.replace(folder, aside)
    try:
        store.delete_run(run_id)
    except BaseException:
        os.replace(aside, folder)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return folder


def read_meta(run_path: str | Path) -> dict:
    """A run folder's ``meta.json`` (counts, text and graph coverage, timings), without loading the model."""
    path = Path(run_path) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("the run folder has no meta.json", path=path.parent) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=path) from None
    if not isinstance(meta, dict):
        raise InputError("expected a JSON object", path=path)
    return meta


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
            **metric_summary(run["metrics"]),
        })
    columns = ["run_id", "dataset", "mode", "parent", "created_at", "views", "fusion", "embedder", "scoring",
               "temperature", "loss", "epochs", *SUMMARY_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


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


# --------------------------------------------------------------------------------------------- coverage


def _coverage(articles: int, share: float | None, text: Mapping, graph: Mapping) -> dict:
    """The layout of :func:`recengine.diagnostics.coverage`, which :func:`recengine.plots.coverage_chart` draws."""
    nodes = graph.get("article_nodes") or 0
    return {
        "articles": articles,
        "text_coverage": share,
        "text_warning": coverage_warning(share) if share is not None and articles else None,
        "text": {key: text.get(key) for key in ("backend", "model", "dim", "fields")},
        "graph": dict(graph),
        "graph_coverage": (nodes - graph.get("articles_without_entities", 0)) / nodes if nodes else None,
    }


def coverage_from_meta(meta: Mapping) -> dict:
    """Text and graph coverage of the catalogue a run trained on, from its ``meta.json``."""
    text = meta.get("text") or {}
    return _coverage(meta.get("n_articles") or 0, text.get("coverage"), text, meta.get("graph") or {})


def dataset_coverage(
    dataset: MindDataset, embedder: TextEmbedder, *, fields: str = "title+abstract", cache: EmbeddingCache | None = None
) -> dict:
    """How many of the dataset's articles already have a text vector from ``embedder`` in the embedding cache
    (nothing is embedded), and the size of its article-entity graph."""
    texts = embed_news(dataset.news, embedder, cache=cache or EmbeddingCache(), fields=fields, missing="skip")
    graph = graph_from_news(dataset.news, dataset.entity_vectors).stats()
    info = {"backend": texts.backend, "model": texts.model, "dim": texts.dim, "fields": fields}
    return _coverage(len(dataset.news), texts.coverage, info, graph)


# --------------------------------------------------------------------------------------------- comparisons


def stored_comparison(store: Store, comparison_id: int) -> pd.DataFrame:
    """A stored comparison's results in :func:`run_grid`'s layout (``ndcg@5``, slice AUCs, best epoch, seconds)."""
    stored = store.comparison_results(comparison_id)
    extra = pd.DataFrame(list(stored["extra"]), index=stored.index)
    frame = pd.concat([stored.drop(columns="extra"), extra], axis=1)
    frame = frame.rename(columns={"ndcg5": "ndcg@5", "ndcg10": "ndcg@10"})
    columns = [*GRID_KEYS, *RESULT_COLUMNS, "best_epoch", "seconds", "run_id"]
    frame = frame.reindex(columns=[c for c in columns if c in frame.columns or c in RESULT_COLUMNS])
    frame.attrs["comparison_id"] = comparison_id
    return frame


def comparison_headline(frame: pd.DataFrame) -> dict:
    """The best cell's AUC, and random and oracle AUC averaged over the cells (they differ only by seed)."""
    return {
        "best_auc": frame["auc"].max(),
        "random_auc": frame["random_auc"].mean(),
        "oracle_auc": frame["oracle_auc"].mean(),
    }


def grid_cell_metrics(row: Mapping) -> dict:
    """One grid row as an evaluation dict (model overall and per slice, random and oracle overall) for
    :func:`recengine.plots.metrics_chart`."""
    model = {name: row.get(name) for name in METRIC_COLUMNS}
    slices = {name: {"auc": row.get(f"{name}_auc")} for name in SLICES if row.get(f"{name}_auc") is not None}
    oracle = row.get("oracle_auc")
    return {
        "model": model,
        "random": {"auc": row.get("random_auc")},
        "oracle": None if oracle is None or pd.isna(oracle) else {"auc": oracle},
        "slices": slices,
    }


# --------------------------------------------------------------------------------------------- zero-shot benchmark


# benchmarks/zero_shot.py --preset demo --embedder minilm (seed 0, the defaults), measured on a 2-core CPU on
# 2026-11-22: what the dashboard shows until the workspace has its own result.
SHIPPED_ZERO_SHOT = Path(__file__).parent / "resources" / "zero_shot_demo.json"


def zero_shot_path(workspace: Workspace) -> Path:
    """Where the dashboard looks for the latest ``benchmarks/zero_shot.py`` result."""
    return workspace.home / "benchmarks" / "zero_shot.json"


def read_zero_shot(path: str | Path) -> dict | None:
    """The benchmark's JSON object, or None when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=path) from None
    if not isinstance(result, dict) or not isinstance(result.get("methods"), dict):
        raise InputError("expected the JSON object benchmarks/zero_shot.py prints (with 'methods')", path=path)
    return result


def zero_shot_rows(result: Mapping, slice_name: str = ZERO_SHOT_SLICE) -> list[dict]:
    """Per method (zero-shot fills, incremental update, full retrain) its metrics on one slice of the benchmark."""
    rows = []
    for method, slices in result["methods"].items():
        values = (slices or {}).get(slice_name) or {}
        rows.append({"method": method.replace("_", " "), **{name: values.get(name) for name in METRIC_COLUMNS}})
    return rows


# --------------------------------------------------------------------------------------------- recommendations


def recommendations_table(items: Sequence[Mapping]) -> pd.DataFrame:
    """Recommendation items (:meth:`RecommenderService.recommend`) as a table: rank, article, scores, the view
    that mattered most, and each view's contribution to the logit (``contribution_<view>``)."""
    rows = []
    for rank, item in enumerate(items, 1):
        row = {"rank": rank, **{key: item.get(key) for key in ("article_id", "title", "category", "subcategory",
                                                               "score", "probability", "top_view")}}
        row.update({f"contribution_{view}": value for view, value in (item.get("contributions") or {}).items()})
        row.update({"recall_score": item.get("recall_score"), "source": item.get("source")})
        rows.append(row)
    return pd.DataFrame(rows)


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
