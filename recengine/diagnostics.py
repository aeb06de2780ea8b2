"""Looking inside a model: logit and sigmoid distributions, saturation, gradient flow, fusion weights, data.

Pure functions returning dicts, DataFrames and numpy arrays; :mod:`recengine.plots` draws them and the
dashboard shows them. :func:`saturation_demo` reproduces the failure of ../shared/seeds/001 (raw dot-product
logits of 80-110, every sigmoid at 1.0, a loss that does not move) beside its fix (cosine / temperature).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import MindDataset, load_dataset
from recengine.errors import InputError
from recengine.model.catalog import Catalog
from recengine.model.interactions import Interactions
from recengine.model.recommender import Recommender
from recengine.text import TextEmbedder, coverage_warning
from recengine.train.api import TrainedRun
from recengine.train.runs import LoadedRun, model_on_split
from recengine.train.trainer import Prepared, Trainer, TrainEvent, TrainResult, prepare

# A prediction this close to 0 or 1 has a vanishing sigmoid gradient (p * (1 - p) < 0.0099).
SATURATION_LOW = 0.01
SATURATION_HIGH = 0.99
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)

SaturationProgress = Callable[[str, TrainEvent], None]


# ---------------------------------------------------------------------------------------- logits


def sigmoid32(scores: np.ndarray) -> np.ndarray:
    """(C,) float32 sigmoid of (C,) logits, computed as training does (torch, float32).

    Float32 on purpose: it is what the network sees, so a logit above ~16.6 gives exactly 1.0 here too.
    """
    return torch.sigmoid(torch.as_tensor(np.asarray(scores, dtype=np.float32))).numpy()


def _stats(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"count": 0, "min": None, "max": None, "mean": None, "std": None,
                "percentiles": {f"p{q}": None for q in PERCENTILES}}
    values = values.astype(np.float64)
    points = np.percentile(values, PERCENTILES)
    return {
        "count": int(values.size),
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "percentiles": {f"p{q}": float(p) for q, p in zip(PERCENTILES, points)},
    }


def _histogram(values: np.ndarray, clicked: np.ndarray, unclicked: np.ndarray, edges: np.ndarray) -> dict:
    return {
        "edges": edges,
        "clicks": np.histogram(values[clicked], bins=edges)[0],
        "non_clicks": np.histogram(values[unclicked], bins=edges)[0],
    }


def _share(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if mask.size else None


def logit_report(scores: np.ndarray, labels: np.ndarray, bins: int = 50) -> dict:
    """Statistics of (C,) logits and their sigmoids on a split, with (C,) labels (1 click, 0 non-click).

    Returns counts (``candidates``, ``clicks``, ``non_clicks``, ``non_finite``); ``logits`` and ``sigmoid``:
    each ``{"all", "clicks", "non_clicks"}`` -> min/max/mean/std/percentiles; ``histograms``: ``logits`` and
    ``sigmoid`` -> ``edges`` (bins + 1,) and ``clicks``/``non_clicks`` counts (bins,) over shared edges (sigmoid
    edges span [0, 1]); the shares of saturated predictions (sigmoid < 0.01 or > 0.99) and of predictions
    pinned at exactly 0.0 or 1.0 in float32, overall and per side; and the ``thresholds`` used.
    Non-finite logits are counted and left out of everything else.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise InputError(f"scores and labels must be 1-d arrays of one length; got {scores.shape} and {labels.shape}")
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise InputError(f"bins must be a whole number >= 1, got {bins!r}")
    if not np.issubdtype(scores.dtype, np.number):
        raise InputError(f"scores must be numbers, got dtype {scores.dtype}")
    finite = np.isfinite(scores)
    logits = scores[finite].astype(np.float32)
    labels = labels[finite]
    clicked, unclicked = labels == 1, labels == 0
    probs = sigmoid32(logits)
    logit_edges = np.histogram_bin_edges(logits, bins=bins) if logits.size else np.linspace(0.0, 1.0, bins + 1)
    high, low = probs > SATURATION_HIGH, probs < SATURATION_LOW
    one, zero = probs == np.float32(1.0), probs == np.float32(0.0)
    return {
        "candidates": int(scores.size),
        "clicks": int(clicked.sum()),
        "non_clicks": int(unclicked.sum()),
        "non_finite": int((~finite).sum()),
        "logits": {"all": _stats(logits), "clicks": _stats(logits[clicked]), "non_clicks": _stats(logits[unclicked])},
        "sigmoid": {"all": _stats(probs), "clicks": _stats(probs[clicked]), "non_clicks": _stats(probs[unclicked])},
        "histograms": {
            "logits": _histogram(logits, clicked, unclicked, logit_edges),
            "sigmoid": _histogram(probs, clicked, unclicked, np.linspace(0.0, 1.0, bins + 1)),
        },
        "saturated_share": _share(high | low),
        "saturated_high_share": _share(high),
        "saturated_low_share": _share(low),
        "pinned_share": _share(one | zero),
        "pinned_one_share": _share(one),
        "pinned_zero_share": _share(zero),
        "thresholds": {
            "sigmoid_low": SATURATION_LOW,
            "sigmoid_high": SATURATION_HIGH,
            "logit_low": float(np.log(SATURATION_LOW / (1 - SATURATION_LOW))),
            "logit_high": float(np.log(SATURATION_HIGH / (1 - SATURATION_HIGH))),
        },
    }


def split_logits(recommender: Recommender, inter: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """(C,) float32 logits of every candidate of ``inter`` and their (C,) int8 labels."""
    return recommender.score(inter), inter.labels


# ---------------------------------------------------------------------------------------- training


def gradient_norms(history: list[dict]) -> pd.DataFrame:
    """Mean gradient L2 norm per step, epoch x module (index ``epoch``); NaN where an epoch lacks a module."""
    rows = {entry["epoch"]: entry.get("grad_norms") or {} for entry in history if "epoch" in entry}
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    frame.index.name = "epoch"
    return frame.sort_index()


def fusion_weights(recommender: Recommender, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Mean fusion weight per view (index ``view``) over catalogue ``rows`` (default all), in columns
    ``all``, ``warm`` (articles seen in training) and ``new`` (never seen; NaN when there are none).

    Concat fusion has no per-view weights: the frame is then empty. ``attrs["reason"]`` says why a frame is
    empty (None otherwise) and ``attrs["articles"]`` counts the articles behind each column.
    """
    columns = ["all", "warm", "new"]
    vectors = recommender.article_vectors()
    rows = np.arange(len(recommender.catalog)) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))
    if len(rows) and (rows[0] < 0 or rows[-1] >= len(recommender.catalog)):
        raise InputError(f"article rows must lie in 0..{len(recommender.catalog) - 1}")
    warm = recommender.trained_articles()[rows]
    counts = {"all": int(len(rows)), "warm": int(warm.sum()), "new": int((~warm).sum())}
    reason = None
    if vectors.weights is None:
        reason = f"{recommender.config.model.fusion} fusion mixes the views in an MLP: it has no per-view weights"
    elif len(rows) == 0:
        reason = "no articles to average over"
    if reason is not None:
        frame = pd.DataFrame(columns=columns, dtype=float)
        frame.index.name = "view"
        frame.attrs.update(reason=reason, articles=counts)
        return frame
    weights = vectors.weights[torch.from_numpy(rows).to(vectors.weights.device)].float().cpu().numpy()
    means = {
        column: weights[mask].mean(0) if mask.any() else np.full(weights.shape[1], np.nan)
        for column, mask in (("all", np.ones_like(warm)), ("warm", warm), ("new", ~warm))
    }
    frame = pd.DataFrame(
        means,
        index=pd.Index(list(vectors.views), name="view"),
    )
    frame.attrs.update(reason=None, articles=counts)
    return frame


# ---------------------------------------------------------------------------------------- data


def label_balance(inter: Interactions) -> dict:
    """Candidates, clicks, click rate, impressions, mean clicks per impression, impressions without a click."""
    clicks_per = np.bincount(inter.candidate_rows[inter.labels == 1], minlength=len(inter))
    candidates = int(len(inter.labels))
    clicks = int(clicks_per.sum())
    return {
        "candidates": candidates,
        "clicks": clicks,
        "non_clicks": candidates - clicks,
        "click_rate": clicks / candidates if candidates else None,
        "impressions": len(inter),
        "mean_clicks_per_impression": clicks / len(inter) if len(inter) else None,
        "impressions_without_click": int((clicks_per == 0).sum()),
    }


def coverage(catalog: Catalog) -> dict:
    """Text-vector coverage (share of articles with a text vector, and the warning when some lack one),
    the embedder that made the vectors, and the knowledge graph's counts."""
    share = catalog.coverage
    info = catalog.text_info
    graph = catalog.graph.stats()
    with_entities = graph["article_nodes"] - graph["articles_without_entities"]
    return {
        "articles": len(catalog),
        "text_coverage": share,
        "text_warning": coverage_warning(share) if len(catalog) else None,
        "text": {key: info.get(key) for key in ("backend", "model", "dim", "fields")},
        "graph": graph,
        "graph_coverage": with_entities / graph["article_nodes"] if graph["article_nodes"] else None,
    }


def data_statistics(dataset: MindDataset) -> dict:
    """What the data charts show: per split ``click_rate`` (None without labels) and ``history_lengths``
    ((n,) int array, one per impression), and ``categories`` (a Series of article counts, largest first)."""
    summaries = {name: split.summary() for name, split in dataset.splits.items()}
    return {
        "click_rate": {name: s["click_rate"] for name, s in summaries.items()},
        "history_lengths": {name: np.asarray(s.behaviors.history_lengths) for name, s in dataset.splits.items()},
        "categories": dataset.news.frame["category"].value_counts(),
    }


# ---------------------------------------------------------------------------------------- one run


def _split_model(
    run: LoadedRun | TrainedRun, split: str, embedder: TextEmbedder | None, cache
) -> tuple[Recommender, Interactions]:
    """The run's model over ``split``'s catalogue (its unseen articles added zero-shot) and the split's impressions."""
    if isinstance(run, TrainedRun):
        prepared, trained = run.prepared, run.result.recommender
        if split == "dev" and prepared.dev is not None:
            return trained.over(prepared.eval_catalog), prepared.dev
        if split == "train":
            return trained, prepared.train
        dataset, base, embedder = load_dataset(prepared.dataset_root), trained, embedder or prepared.embedder
    elif isinstance(run, LoadedRun):
        dataset, base = run.dataset, run.recommender
    else:
        raise InputError(f"expected a trained or loaded run, got {type(run).__name__}")
    model, inter, _ = model_on_split(base, dataset, split, embedder=embedder, cache=cache)
    return model, inter


def run_diagnostics(
    run: LoadedRun | TrainedRun,
    split: str = "dev",
    *,
    embedder: TextEmbedder | None = None,
    cache=None,
    bins: int = 50,
) -> dict:
    """Everything the diagnostics page shows for one run on one split.

    ``{"split", "logits": logit_report, "calibrated": logit_report of the calibrated logits (scale x logit +
    shift, whose sigmoid is the click probability the product shows), "calibration": dict, "gradient_norms":
    epoch x module frame, "fusion_weights": view frame over the split's candidates, "label_balance": dict,
    "coverage": dict}``. A listwise loss leaves the raw logits' level arbitrary, so their sigmoid can look
    saturated without harm to ranking; the calibrated report is the one to read for probabilities.
    """
    recommender, inter = _split_model(run, split, embedder, cache)
    history = run.result.history if isinstance(run, TrainedRun) else run.history
    scores, labels = split_logits(recommender, inter)
    calibration = recommender.calibration
    return {
        "split": split,
        "logits": logit_report(scores, labels, bins),
        "calibrated": logit_report(calibration.scale * scores + calibration.shift, labels, bins),
        "calibration": calibration.to_dict(),
        "gradient_norms": gradient_norms(history),
        "fusion_weights": fusion_weights(recommender, inter.candidates),
        "label_balance": label_balance(inter),
        "coverage": coverage(recommender.catalog),
    }


# ---------------------------------------------------------------------------------------- seeds/001


def saturation_configs(names: Sequence[str] | None = None) -> dict[str, RunConfig]:
    """The three settings of seeds/001 (or only those ``names``), on our network.

    ``broken``: ReLU'd vectors, raw dot product, sigmoid then BCE (their pipeline): nearly every sigmoid is
    exactly 1.0 in float32, BCE clamps log(0) to -100 and the loss sits at 100 x the non-clicks' weight share.
    ``x10``: cosine / 0.1, their first fix: all-positive vectors start with cosines near 1, so logits near 10
    and saturated sigmoids, which training has to climb out of. ``fixed``: cosine / 0.5 (their "x2"), which
    never saturates (|logit| <= 2).
    """

    def config(scoring: str, temperature: float) -> RunConfig:
        return RunConfig(
            ModelConfig(scoring=scoring, temperature=temperature, output_relu=True, dim=256),
            # seeds/001 had no auxiliary task: the demonstration trains without it
            TrainConfig(loss="bce", bce_on_probabilities=True, schedule="none", warmup=0.0, category_aux_weight=0.0),
        )

    configs = {"broken": config("dot", 1.0), "x10": config("cosine", 0.1), "fixed": config("cosine", 0.5)}
    if names is None:
        return configs
    picked = [names] if isinstance(names, str) else list(names)
    if not picked or len(set(picked)) != len(picked) or not set(picked) <= set(configs):
        raise InputError(f"saturation settings must be distinct names among {', '.join(configs)}; got {picked!r}")
    return {name: value for name, value in configs.items() if name in picked}


def saturation_demo(
    data: MindDataset | str | Path,
    *,
    epochs: int = 4,
    names: Sequence[str] | None = None,
    embedder: TextEmbedder | None = None,
    cache=None,
    progress: SaturationProgress | None = None,
) -> dict:
    """Train each of :func:`saturation_configs` (or those ``names``) on ``data`` (nothing saved) and watch the
    sigmoids.

    Returns per config name: ``config`` (dict), ``loss`` and ``valid_auc`` per epoch (on ``valid_split``, the
    selection split), ``saturated_share`` and
    ``pinned_share`` of the dev predictions at the end of each epoch, ``before`` and ``after`` (the
    :func:`logit_report` of dev before training and of the model training returns, its best epoch), ``best_epoch``
    and ``seconds``. ``progress(name, event)`` reports each config's training events.
    """
    configs = saturation_configs(names)
    for config in configs.values():
        config.train.epochs = epochs
        config.train.patience = epochs  # the demo shows every epoch: no early stopping
        if embedder is not None:
            config.model.embedder = embedder.backend
        config.validate()
    dataset = data if isinstance(data, MindDataset) else load_dataset(data)
    first = next(iter(configs))
    report = progress or (lambda name, event: None)
    # The configs differ only in scoring, so they share one embedding, catalogue and set of impressions.
    prepared = prepare(dataset, configs[first], embedder=embedder, cache=cache, progress=lambda e: report(first, e))
    if prepared.dev is None:
        raise InputError("the saturation demo needs a dev split with click labels", path=dataset.root)
    out = {}
    for name, config in configs.items():
        started = time.perf_counter()
        result, watched = _train_watching(prepared, config, lambda event, name=name: report(name, event))
        report(name, TrainEvent("done", epoch=result.best_epoch, epochs=epochs))
        out[name] = {
            "config": config.to_dict(),
            "loss": [entry["train_loss"] for entry in result.history],
            "valid_auc": [(entry["valid"] or {}).get("auc") for entry in result.history],
            "valid_split": prepared.selected_on,
            **watched,
            "best_epoch": result.best_epoch,
            "seconds": round(time.perf_counter() - started, 2),
        }
    return out


def _train_watching(
    prepared: Prepared, config: RunConfig, progress: Callable[[TrainEvent], None]
) -> tuple[TrainResult, dict]:
    """Fit one config, reporting dev logits before training, after each epoch and for the returned model."""
    dev = prepared.dev
    saturated: list[float | None] = []
    pinned: list[float | None] = []
    model: Recommender | None = None

    def on_event(event: TrainEvent) -> None:
        if event.kind == "epoch":
            model.invalidate()  # the weights moved
            epoch_report = logit_report(model.score(dev), dev.labels, bins=1)
            saturated.append(epoch_report["saturated_share"])
            pinned.append(epoch_report["pinned_share"])
        progress(event)

    trainer = Trainer(prepared, config, progress=on_event)
    model = trainer.evaluation_model()
    before = logit_report(*split_logits(model, dev))
    result = trainer.fit()
    model.invalidate()  # fit restored the best epoch's weights
    after = logit_report(*split_logits(model, dev))
    return result, {"saturated_share": saturated, "pinned_share": pinned, "before": before, "after": after}
