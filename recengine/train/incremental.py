"""Incremental updates: new clicks, articles and users folded into a copy of a trained run.

1. The parent run is loaded and never modified; the result is a new run that names it.
2. The ID tables grow for unseen articles and users. New article rows start from the
   parent's fill for unseen articles (their nearest trained articles' ID vectors, or the mean).
3. Phase 1 trains only the new rows. Masking gradients is not enough under AdamW (weight
   decay and momentum still move old rows), so the ID tables use SparseAdam with no decay
   and a gradient hook that drops old rows: an old row is bit-for-bit unchanged.
4. Phase 2 (optional) trains everything at the parent's learning rate times ``lr_decay``.
5. The consumed input is archived under a timestamp and its fingerprint, so the same input
   is never consumed twice. A lock serialises concurrent updates.
"""

from __future__ import annotations

import copy
import datetime as dt
import fcntl
import hashlib
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from recengine import atomic
from recengine.config import RunConfig
from recengine.data.mind import MindDataset, load_dataset
from recengine.errors import InputError, RecengineError
from recengine.eval.calibration import calibrate
from recengine.eval.evaluate import evaluate_interactions
from recengine.model.catalog import IdMap
from recengine.model.interactions import attach_history_times, build_interactions, click_log
from recengine.model.network import RecommenderNet
from recengine.model.recommender import Recommender
from recengine.text import get_embedder
from recengine.train.runs import LoadedRun, load_run, now_iso, save_run, split_view
from recengine.train.trainer import Prepared, ProgressCallback, Trainer, TrainEvent
from recengine.workspace import Workspace

ID_TABLES = ("article_ids.weight", "article_bias.weight", "user_ids.weight")
MANIFEST = "manifest.json"


class AlreadyConsumedError(RecengineError):
    """The input was consumed by an earlier update (it is in the archive)."""


@dataclass
class UpdateResult:
    path: Path
    recommender: Recommender
    metrics: dict | None
    meta: dict
    history: list[dict]


def input_fingerprint(folder: str | Path) -> str:
    """SHA-256 over every file of the input folder (relative paths and bytes, in sorted order)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise InputError("no files to consume", path=folder)
    for path in files:
        digest.update(str(path.relative_to(folder)).encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def find_archived(archive: Path, fingerprint: str) -> Path | None:
    matches = sorted(archive.glob(f"*-{fingerprint[:16]}")) if archive.is_dir() else []
    return matches[0] if matches else None


@contextmanager
def _archive_lock(archive: Path) -> Iterator[None]:
    archive.mkdir(parents=True, exist_ok=True)
    with open(archive / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _new_rows_only(n_old: int):
    """A gradient hook keeping only rows >= n_old of a sparse (or dense) table gradient."""

    def hook(grad: torch.Tensor) -> torch.Tensor:
        if grad.is_sparse:
            grad = grad.coalesce()
            keep = grad.indices()[0] >= n_old
            # A subset of a coalesced tensor's entries is still sorted and unique.
            return torch.sparse_coo_tensor(
                grad.indices()[:, keep], grad.values()[keep], grad.shape, is_coalesced=True, check_invariants=False
            )
        grad = grad.clone()
        grad[:n_old] = 0
        return grad

    return hook


def grow_network(parent: Recommender, catalog, users: IdMap, seen_articles: np.ndarray, seen_users: np.ndarray) -> RecommenderNet:
    """A network sized for the grown catalogue and user table, carrying every parent weight.

    New article rows start from the parent's fill for unseen articles (nearest neighbours or the mean).
    """
    old = parent.net
    net = RecommenderNet(
        parent.config.model,
        n_articles=len(catalog),
        n_users=max(len(users), 1),
        text_dim=catalog.text.shape[1],
        num_entities=catalog.graph.num_entities,
        entity_dim=catalog.graph.entity_feature_dim,
    )
    state = net.state_dict()
    for name, value in old.state_dict().items():
        target = state[name]
        if target.shape == value.shape:
            target.copy_(value)
        else:  # a grown table or mask: the parent's rows first
            target[: value.shape[0]].copy_(value)
    net.load_state_dict(state)
    n_articles_old = old.article_trained.shape[0]
    if "id" in net.views and len(catalog) > n_articles_old:
        grown = Recommender(parent.config, catalog, users, old, str(parent.device))
        rows = torch.arange(len(catalog))
        text = catalog.text
        graph_out = old.graph_outputs(catalog.graph.tensors(), text) if "graph" in old.views else None
        with torch.no_grad():
            vectors, biases = grown._id_parts(rows, text, graph_out)
            net.article_ids.weight[n_articles_old:] = vectors[n_articles_old:]
            net.article_bias.weight[n_articles_old:] = biases[n_articles_old:]
    with torch.no_grad():
        net.article_trained[: len(seen_articles)] |= torch.from_numpy(seen_articles)
        net.user_trained[: len(seen_users)] |= torch.from_numpy(seen_users)
    return net


def update_run(
    parent: LoadedRun | str | Path,
    new_data: str | Path,
    out: str | Path,
    *,
    epochs: int = 2,
    full_epochs: int = 0,
    lr_decay: float = 0.3,
    eval_data: MindDataset | str | Path | None = None,
    embedder=None,
    cache=None,
    archive: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> UpdateResult:
    """Fold ``new_data`` (a MIND folder: ``train/`` or a bare split with news.tsv and behaviors.tsv) into a copy of
    ``parent`` and save it to ``out``. Evaluates on ``eval_data``'s dev split (default: the parent's dataset).

    Raises :class:`AlreadyConsumedError` when the same input was consumed before.
    """
    if epochs < 0 or full_epochs < 0 or epochs + full_epochs == 0:
        raise InputError("an update needs at least one epoch (new rows and/or everything)")
    if not 0.0 < lr_decay <= 1.0:
        raise InputError(f"lr decay must be in (0, 1], got {lr_decay}")
    new_data, out = Path(new_data), Path(out)
    archive = Path(archive) if archive is not None else Workspace.default().archive
    parent_path = parent.path if isinstance(parent, LoadedRun) else Path(parent)
    if out.resolve() == Path(parent_path).resolve():
        raise InputError("the update must write a new run, not replace its parent", path=out)
    report = progress or (lambda event: None)
    started = time.perf_counter()
    fingerprint = input_fingerprint(new_data)
    with _archive_lock(archive):
        done = find_archived(archive, fingerprint)
        if done is not None:
            raise AlreadyConsumedError(f"{new_data} was already consumed (archived at {done}); nothing to do")
        loaded = parent if isinstance(parent, LoadedRun) else load_run(parent, embedder=embedder, cache=cache)
        fresh = load_dataset(new_data)
        evaluation = loaded.dataset if eval_data is None else (
            eval_data if isinstance(eval_data, MindDataset) else load_dataset(eval_data)
        )
        base = loaded.recommender
        config = base.config
        embedder = embedder or get_embedder(config.model.embedder)

        report(TrainEvent("prepare", message="growing the catalogue and ID tables"))
        catalog = copy.deepcopy(base.catalog)
        new_articles = catalog.extend(fresh.train.news, embedder, cache=cache)
        catalog.note_first_seen(fresh.train.behaviors)
        users = IdMap(base.users.ids)
        new_users = users.extend(fresh.train.behaviors.users)
        train = build_interactions(fresh.train.behaviors, catalog, users)
        if not (train.labels == 1).any():
            raise InputError("the new data has no clicks on known or new articles", path=new_data)
        seen_articles = np.zeros(len(catalog), dtype=bool)
        seen_articles[train.history] = True
        seen_articles[train.candidates] = True
        seen_users = np.zeros(len(users), dtype=bool)
        seen_users[np.unique(train.user_rows[train.user_rows >= 0])] = True
        net = grow_network(base, catalog, users, seen_articles, seen_users)

        with_times = config.model.user_encoder == "transformer"
        if with_times:
            attach_history_times(train, click_log([train]))
        eval_catalog, dev, truth = catalog, None, None
        if evaluation.dev is not None and evaluation.dev.behaviors.labeled:
            eval_catalog, dev, truth = split_view(
                catalog, users, evaluation, "dev", embedder=embedder, cache=cache, with_times=with_times
            )
        prepared = Prepared(catalog, users, train, eval_catalog, dev, truth, embedder, str(new_data))

        history: list[dict] = []
        samples = 0
        n_old_articles = base.net.article_trained.shape[0]
        n_old_users = base.net.user_trained.shape[0]
        if epochs:
            report(TrainEvent("prepare", message="phase 1: training the new rows only"))
            hooks = []
            if "id" in net.views:
                hooks.append(net.article_ids.weight.register_hook(_new_rows_only(n_old_articles)))
                hooks.append(net.article_bias.weight.register_hook(_new_rows_only(n_old_articles)))
            if net.user_ids is not None:
                hooks.append(net.user_ids.weight.register_hook(_new_rows_only(n_old_users)))
            phase = RunConfig(config.model, replace(config.train, epochs=epochs, warmup=0.0))
            result = Trainer(prepared, phase, net=net, progress=progress).fit(trainable=lambda name: name in ID_TABLES)
            for hook in hooks:
                hook.remove()
            history += [{**h, "phase": "new_rows"} for h in result.history]
            samples += result.samples_seen
        if full_epochs:
            report(TrainEvent("prepare", message=f"phase 2: training everything at {lr_decay} x the learning rate"))
            phase = RunConfig(config.model, replace(config.train, epochs=full_epochs, warmup=0.0))
            result = Trainer(prepared, phase, net=net, progress=progress).fit(lr_scale=lr_decay)
            history += [{**h, "phase": "all"} for h in result.history]
            samples += result.samples_seen
        updated = Recommender(config, catalog, users, net, str(base.device))
        updated.calibration = calibrate(updated, train, seed=config.train.seed)
        metrics = None
        if dev is not None:
            metrics = evaluate_interactions(
                Recommender(config, eval_catalog, users, net, str(base.device)), dev, truth=truth, seed=config.train.seed
            )
        meta = {
            **{k: v for k, v in loaded.meta.items() if k in ("dataset", "device")},
            "mode": "incremental",
            "parent": str(Path(parent_path).resolve()),
            "created_at": now_iso(),
            "last_update": now_iso(),
            "samples_seen": int(loaded.meta.get("samples_seen", 0)) + samples,
            "new_articles": len(new_articles),
            "new_users": len(new_users),
            "update": {
                "input": str(new_data.resolve()),
                "fingerprint": fingerprint,
                "epochs_new_rows": epochs,
                "epochs_all": full_epochs,
                "lr_decay": lr_decay,
                "seconds": round(time.perf_counter() - started, 2),
            },
            "warnings": [],
            "calibration": updated.calibration.to_dict(),
        }
        save_run(out, updated, meta=meta, history=history, metrics=metrics)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        with atomic.replace_dir(archive / f"{stamp}-{fingerprint[:16]}") as staging:
            shutil.copytree(new_data, staging / "input")
            atomic.write_json(
                staging / MANIFEST,
                {"fingerprint": fingerprint, "source": str(new_data.resolve()), "consumed_by": str(out.resolve()), "archived_at": stamp},
            )
    report(TrainEvent("done", metrics=metrics and metrics["model"]))
    return UpdateResult(out, updated, metrics, meta, history)
