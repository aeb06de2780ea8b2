"""Run folders: config, weights (safetensors), id maps, per-epoch history, metrics, metadata and the dev scores.

The dev scores (``scores-dev.npz``: the score of every dev candidate, with the labels, CSR offsets and impression
ids they pair with) let two runs on the same data be compared impression by impression without loading either
model. A run saved without them (older runs, updated runs) is scored when a comparison needs it.

A run is written to a staging folder and renamed into place, so a crash mid-save
leaves the previous run intact. Loading never unpickles anything: weights are
safetensors, everything else JSON.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from recengine import atomic
from recengine.config import RUN_FORMAT_VERSION, RunConfig
from recengine.data import identity
from recengine.data.mind import BEHAVIORS_FILE, NEWS_FILE, MindDataset, News, load_dataset, read_news
from recengine.errors import InputError, RecengineError, RunFormatError
from recengine.model.calibration import Calibration
from recengine.eval.evaluate import align_truth
from recengine.eval.metrics import per_impression_metrics_csr
from recengine.model.catalog import Catalog, IdMap
from recengine.model.interactions import (
    Interactions, attach_history_times, build_interactions, carve_validation, click_log,
)
from recengine.model.network import RecommenderNet
from recengine.model.recommender import Recommender
from recengine.model.retrieval import build_user_bank
from recengine.text import TextEmbedder, get_embedder

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
ID_MAPS_FILE = "id_maps.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
META_FILE = "meta.json"
DEV_SCORES_FILE = "scores-dev.npz"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, ID_MAPS_FILE, META_FILE)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class DatasetChangedError(RecengineError):
    """A run was asked to evaluate or serve against data other than the data it was trained on."""


def dataset_fingerprint(root: str | Path) -> str:
    """The content fingerprint (:mod:`recengine.data.identity`) of what a run learns from and is judged on: every
    split but ``test/``. A test split added later (MIND publishes it apart, without labels) does not change the
    data a run was trained on, so it does not make the run refuse the folder."""
    files = {name: path for name, path in identity.dataset_files(root).items() if not name.startswith("test/")}
    return identity.fingerprint_files(files)[0]


def _legacy_fingerprint(root: Path) -> str:
    """What runs recorded before content fingerprints: SHA-256 over the train split's news.tsv and behaviors.tsv."""
    digest = hashlib.sha256()
    train = root / "train" if (root / "train").is_dir() else root
    for name in (NEWS_FILE, BEHAVIORS_FILE):
        try:
            with open(train / name, "rb") as handle:
                for block in iter(lambda: handle.read(identity.BLOCK), b""):
                    digest.update(block)
        except OSError as exc:
            raise InputError(f"cannot read the dataset ({exc.strerror})", path=train / name) from None
    return digest.hexdigest()[:16]


def check_dataset(path: Path, meta: dict, root: str | Path) -> None:
    """Refuse ``root`` unless it holds the data the run at ``path`` was trained on. A run saved without a
    fingerprint is not checked; one saved before content fingerprints is checked the way it was fingerprinted."""
    recorded = meta.get("dataset") or {}
    expected = recorded.get("fingerprint")
    if not expected:
        return
    root = Path(root)
    actual = dataset_fingerprint(root) if expected.startswith(identity.PREFIX) else _legacy_fingerprint(root)
    if actual != expected:
        raise DatasetChangedError(
            f"{path}: the run was trained on data {expected} (folder {recorded.get('root')}), but {root} holds other "
            f"data ({actual}): changed or replaced since. Use the data it was trained on (--data FOLDER), or use this "
            "data anyway with --allow-dataset-change (allow_dataset_change=True)"
        )


@dataclass(frozen=True)
class SplitScores:
    """A model's score of every candidate of a split, with the labels and CSR offsets they pair with."""

    scores: np.ndarray  # (C,) float32, the model's logits
    labels: np.ndarray  # (C,) int8 0/1
    ptr: np.ndarray  # (n + 1,) int64: impression i is [ptr[i], ptr[i + 1])
    impression_ids: np.ndarray  # (n,) int64

    @classmethod
    def of(cls, model: Recommender, inter: Interactions) -> "SplitScores":
        """Score every candidate of ``inter`` with ``model``."""
        return cls(model.score(inter), inter.labels.astype(np.int8), inter.candidate_ptr.astype(np.int64),
                   np.asarray(inter.impression_ids, dtype=np.int64))

    def per_impression(self) -> pd.DataFrame:
        """Per-impression metrics (:func:`recengine.eval.metrics.per_impression_metrics_csr`)."""
        return per_impression_metrics_csr(self.labels, self.scores, self.ptr)

    def same_impressions(self, other: "SplitScores") -> bool:
        """Whether ``other`` covers the same impressions and candidates, with the same labels, in the same order."""
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in ("impression_ids", "ptr", "labels"))


def read_dev_scores(path: str | Path) -> SplitScores | None:
    """The dev scores a run folder keeps, or None when it keeps none; RunFormatError when the file is damaged."""
    file = Path(path) / DEV_SCORES_FILE
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as parts:
            scores = SplitScores(*(parts[k] for k in ("scores", "labels", "ptr", "impression_ids")))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise RunFormatError(f"{file}: damaged dev scores ({exc}); delete the file to score the run again") from None
    n = len(scores.impression_ids)
    sound = (
        scores.scores.ndim == scores.labels.ndim == 1 and len(scores.scores) == len(scores.labels)
        and scores.ptr.shape == (n + 1,) and n > 0 and scores.ptr[0] == 0 and scores.ptr[-1] == len(scores.labels)
        and bool(np.all(np.diff(scores.ptr) >= 0)) and bool(np.isfinite(scores.scores).all())
    )
    if not sound:
        raise RunFormatError(f"{file}: dev scores do not fit together; delete the file to score the run again")
    return scores


@dataclass
class LoadedRun:
    path: Path
    recommender: Recommender
    meta: dict
    history: list[dict]
    metrics: dict | None
    dataset: MindDataset


def save_run(
    path: str | Path,
    recommender: Recommender,
    *,
    meta: dict,
    history: list[dict],
    metrics: dict | None,
    dev_scores: SplitScores | None = None,
) -> None:
    """Write the run folder atomically (staging folder, then one rename); ``dev_scores`` are kept beside the
    metrics so that comparisons need not score the run again."""
    state = {k: v.detach().cpu().contiguous() for k, v in recommender.net.state_dict().items()}
    full_meta = {
        **meta,
        "format_version": RUN_FORMAT_VERSION,
        "n_articles": len(recommender.catalog),
        "n_users": len(recommender.users),
        "text": recommender.catalog.text_info,
        "graph": recommender.catalog.graph.stats(),
    }
    with atomic.replace_dir(path) as staging:
        atomic.write_json(staging / CONFIG_FILE, recommender.config.to_dict())
        save_file(state, str(staging / WEIGHTS_FILE))
        atomic.write_json(staging / ID_MAPS_FILE, {"articles": recommender.catalog.articles.ids, "users": recommender.users.ids})
        atomic.write_json(staging / HISTORY_FILE, history)
        atomic.write_json(staging / METRICS_FILE, metrics)
        atomic.write_json(staging / META_FILE, full_meta)
        if dev_scores is not None:
            np.savez(staging / DEV_SCORES_FILE, scores=dev_scores.scores, labels=dev_scores.labels,
                     ptr=dev_scores.ptr, impression_ids=dev_scores.impression_ids)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFormatError(f"{path}: not valid JSON ({exc})") from None


def _check_meta(path: Path, meta) -> dict:
    """``meta.json``'s content, with the entries loading relies on checked (format, dataset, calibration)."""
    if not isinstance(meta, dict):
        raise RunFormatError(f"{path}: expected a JSON object")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise RunFormatError(f"{path}: format_version must be a whole number, got {version!r}")
    if version > RUN_FORMAT_VERSION:
        raise RunFormatError(f"{path}: written by a newer recengine; upgrade to load this run")
    dataset = meta.get("dataset")
    texts = ("root", "fingerprint", "store_name")
    if dataset is not None and not (
        isinstance(dataset, dict) and all(isinstance(dataset.get(k) or "", str) for k in texts)
    ):
        raise RunFormatError(f"{path}: 'dataset' must be an object with text entries root, fingerprint and store_name")
    calibration = meta.get("calibration")
    if calibration is not None:
        numbers = isinstance(calibration, dict) and set(calibration) <= {"scale", "shift", "candidates"} and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in calibration.values()
        )
        if not numbers:
            raise RunFormatError(f"{path}: 'calibration' must hold finite numbers scale, shift and candidates")
    return meta


def read_run_files(path: str | Path) -> tuple[RunConfig, dict, dict]:
    """Config, meta and id maps of a run folder, checked; raises RunFormatError naming what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise RunFormatError(f"{path}: no such run folder")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise RunFormatError(f"{path}: incomplete run folder, missing {', '.join(missing)}")
    config_data = _read_json(path / CONFIG_FILE)
    if not isinstance(config_data, dict):
        raise RunFormatError(f"{path / CONFIG_FILE}: expected a JSON object")
    try:
        config = RunConfig.from_dict(config_data, source=str(path / CONFIG_FILE))
    except RunFormatError:
        raise
    except (InputError, TypeError) as exc:  # a setting of the wrong type or out of range: say which file
        raise RunFormatError(f"{path / CONFIG_FILE}: {exc}") from None
    meta = _check_meta(path / META_FILE, _read_json(path / META_FILE))
    maps = _read_json(path / ID_MAPS_FILE)
    if not isinstance(maps, dict) or not isinstance(maps.get("articles"), list) or not isinstance(maps.get("users"), list):
        raise RunFormatError(f"{path / ID_MAPS_FILE}: expected lists 'articles' and 'users'")
    return config, meta, maps


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; RunFormatError if it is damaged or holds NaN or Inf (which would be
    served as NaN scores, or refused much later with a message about something else)."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise RunFormatError(f"{path}: weights are damaged or truncated ({exc})") from None
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise RunFormatError(f"{path}: tensor {name!r} holds NaN or Inf; the weights are damaged, train the run again")
    return state


def check_run(path: str | Path) -> None:
    """Check a run folder without loading its model: every piece present and readable, the weights whole and
    finite. Raises RunFormatError naming what is wrong (what the dashboard does before making a run active)."""
    path = Path(path)
    read_run_files(path)
    load_weights(path / WEIGHTS_FILE)


def consumed_news(meta: dict) -> list[News]:
    """The articles of the inputs an update chain consumed, from their archived copies, newest update first.

    A run made by ``update`` may hold articles its dataset folder never had: articles added to a live service,
    learned from its logged traffic. Their rows are in the archive entry each update recorded (``input/news.tsv``
    or ``input/train/news.tsv``); the chain is followed through each parent's ``meta.json`` while it is there.
    """
    found, visited = [], set()
    while meta.get("mode") == "incremental":
        entry = Path((meta.get("update") or {}).get("archive_entry") or "") / "input"
        for news_file in (entry / NEWS_FILE, entry / "train" / NEWS_FILE):
            if news_file.is_file():
                found.append(read_news(news_file))
                break
        parent = Path(meta.get("parent") or "")
        if not str(parent) or parent in visited or not (parent / META_FILE).is_file():
            break
        visited.add(parent)
        meta = _read_json(parent / META_FILE)
    return found


def catalog_for(dataset: MindDataset, article_ids: list[str], config: RunConfig, embedder: TextEmbedder, cache=None,
                *, meta: dict | None = None) -> Catalog:
    """The catalogue a run trained on, rebuilt in the saved row order from the dataset's articles (and, for an
    update, the articles of the inputs it consumed that the dataset lacks: :func:`consumed_news`)."""
    news = dataset.news
    rows = [news.position.get(a, -1) for a in article_ids]
    if meta is not None and min(rows, default=0) < 0:  # only then read the archive
        news = News.concat([news, *consumed_news(meta)])
        rows = [news.position.get(a, -1) for a in article_ids]
    missing = [a for a, r in zip(article_ids, rows) if r < 0]
    if missing:
        raise RunFormatError(
            f"the run's dataset {dataset.root} no longer has {len(missing):,} of its articles (e.g. {missing[0]})"
        )
    subset = News(news.frame.iloc[rows].reset_index(drop=True), [news.entities[r] for r in rows], news.entity_labels)
    catalog = Catalog.build(
        subset, embedder, fields=config.model.text_fields, entity_vectors=dataset.entity_vectors, cache=cache
    )
    catalog.note_first_seen(dataset.train.behaviors)
    return catalog


def load_run(
    path: str | Path,
    *,
    dataset: MindDataset | None = None,
    embedder: TextEmbedder | None = None,
    cache=None,
    device: str = "cpu",
    allow_dataset_change: bool = False,
) -> LoadedRun:
    """Load a run folder: check every piece, rebuild the catalogue from its dataset, load the weights.

    ``dataset`` defaults to the folder the run trained on. Data whose fingerprint differs from the one the run
    recorded is refused (:class:`DatasetChangedError`) unless ``allow_dataset_change``.
    """
    path = Path(path)
    config, meta, maps = read_run_files(path)
    if dataset is None:
        root = (meta.get("dataset") or {}).get("root")
        if not root or not Path(root).is_dir():
            raise RunFormatError(
                f"{path}: the run's dataset folder {root!r} is not there; pass the dataset with --data FOLDER "
                "(dataset= in Python)"
            )
        if not allow_dataset_change:  # before the expensive load
            check_dataset(path, meta, root)
        dataset = load_dataset(root)
    elif not allow_dataset_change:
        check_dataset(path, meta, dataset.root)
    embedder = embedder or get_embedder(config.model.embedder)
    catalog = catalog_for(dataset, maps["articles"], config, embedder, cache, meta=meta)
    users = IdMap(maps["users"])
    state = load_weights(path / WEIGHTS_FILE)
    net = RecommenderNet.for_catalog(config.model, catalog, len(users))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RunFormatError(f"{path / WEIGHTS_FILE}: weights do not fit this run's config ({str(exc).splitlines()[0]})") from None
    history = _read_json(path / HISTORY_FILE) if (path / HISTORY_FILE).is_file() else []
    metrics = _read_json(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else None
    recommender = Recommender(config, catalog, users, net, device)
    recommender.calibration = Calibration.from_dict(meta.get("calibration"))
    if config.model.user_retrieval:  # the bank holds the users of the impressions the run was fit on
        train = build_interactions(dataset.train.behaviors, catalog, users)
        selection = meta.get("selection") or {}
        if selection.get("split") == "validation" and meta.get("mode") == "full":  # an update's carve is of its new data
            train = train.select(carve_validation(train.times, selection["fraction"])[0])
        if config.model.user_encoder == "transformer":
            attach_history_times(train, click_log([train]))
        net.user_bank = build_user_bank(recommender, train)
    return LoadedRun(path, recommender, meta, history, metrics, dataset)


def split_view(
    catalog: Catalog,
    users: IdMap,
    dataset: MindDataset,
    split: str,
    *,
    embedder: TextEmbedder,
    cache=None,
    with_times: bool = False,
    require_labels: bool = True,
) -> tuple[Catalog, Interactions, np.ndarray | None]:
    """A copy of ``catalog`` that also holds ``split``'s unseen articles (added zero-shot), the split's
    impressions on it, and the truth probabilities when the dataset has them (dev split)."""
    if split not in dataset.splits:
        raise InputError(f"dataset {dataset.root} has no {split!r} split (has: {', '.join(dataset.splits)})")
    part = dataset.splits[split]
    if require_labels and not part.behaviors.labeled:
        raise InputError(f"the {split} split has no click labels to evaluate against", path=part.path)
    extended = copy.deepcopy(catalog)
    extended.extend(part.news, embedder, cache=cache)
    extended.note_first_seen(part.behaviors)
    inter = build_interactions(part.behaviors, extended, users)
    if with_times:
        sources = [inter] if split == "train" else [build_interactions(dataset.train.behaviors, extended, users), inter]
        attach_history_times(inter, click_log(sources))
    truth = align_truth(inter, extended, dataset.truth) if dataset.truth is not None and split == "dev" else None
    return extended, inter, truth


def model_on_split(
    recommender: Recommender,
    dataset: MindDataset,
    split: str,
    *,
    embedder: TextEmbedder | None = None,
    cache=None,
    require_labels: bool = True,
) -> tuple[Recommender, Interactions, np.ndarray | None]:
    """``recommender`` over ``split``'s catalogue (its unseen articles added zero-shot, with the run's own
    embedder unless one is given), the split's impressions and their truth (dev only, else None)."""
    catalog, inter, truth = split_view(
        recommender.catalog, recommender.users, dataset, split,
        embedder=embedder or get_embedder(recommender.config.model.embedder), cache=cache,
        with_times=recommender.config.model.user_encoder == "transformer", require_labels=require_labels,
    )
    return recommender.over(catalog), inter, truth
