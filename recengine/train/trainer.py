"""Training: prepare a dataset, fit the network with early stopping on the selection split's AUC (a validation
split carved from the end of train by default, dev with ``select_on="dev"``), report progress.

The catalogue the network trains on holds the train split's articles only; dev-only
articles are appended afterwards (zero-shot, the same path as adding an article), so
the ``new_articles`` slice measures articles the model never saw.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from recengine.config import RunConfig
from recengine.data.mind import MindDataset, gather_ranges
from recengine.errors import InputError
from recengine.graph import GraphTensors
from recengine.eval.metrics import mind_metrics_csr
from recengine.model.calibration import Calibration, calibrate
from recengine.model.catalog import UNKNOWN_TIME, Catalog, IdMap
from recengine.model.interactions import (
    Interactions, attach_history_times, build_interactions, carve_validation, click_log, pad_last,
)
from recengine.model.network import CategoryHead, RecommenderNet
from recengine.model.recommender import Recommender
from recengine.model.retrieval import build_user_bank
from recengine.text import TextEmbedder, get_embedder
from recengine.train import distributed, losses, negatives
from recengine.train.distributed import SINGLE, Context
from recengine.train.runs import split_view

# The auxiliary category task's weight when the setting is auto: benchmarks/ablation.py on demo (world v3, three
# seeds) measured it against no task (README, Quality).
AUTO_CATEGORY_WEIGHT = 0.3


@dataclass
class TrainEvent:
    """One progress report: ``kind`` is 'prepare', 'step', 'epoch' or 'done'."""

    kind: str
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    lr: float | None = None
    metrics: dict | None = None  # epoch: the selection split's metrics
    message: str = ""
    split: str = ""  # epoch: the split ``metrics`` were measured on ("validation" or "dev")


ProgressCallback = Callable[[TrainEvent], None]


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} asked for, but no CUDA GPU is available")
    return name


# ---------------------------------------------------------------------------------------- preparing


@dataclass
class Prepared:
    """Everything training and evaluation read, in catalogue coordinates."""

    catalog: Catalog  # the train split's articles: the network trains on these
    users: IdMap  # users of the train split
    train: Interactions
    eval_catalog: Catalog  # catalog + dev-only articles appended
    dev: Interactions | None
    truth: np.ndarray | None  # (C_dev,) true click probability per dev candidate, when known
    embedder: TextEmbedder
    dataset_root: str = ""
    warnings: list[str] = field(default_factory=list)
    validation: Interactions | None = None  # the carved end of train (select_on validation), on ``catalog``
    carve: dict = field(default_factory=dict)  # how ``validation`` was carved, for meta.json

    @property
    def selection(self) -> Interactions | None:
        """The impressions that pick the best epoch, stop early and fit calibration: the validation split when
        one was carved, else dev (select_on dev), else None."""
        return self.validation if self.validation is not None else self.dev

    @property
    def selected_on(self) -> str | None:
        return "validation" if self.validation is not None else "dev" if self.dev is not None else None


def split_for_selection(
    everything: Interactions, fraction: float, where: str
) -> tuple[Interactions, Interactions, dict]:
    """Train impressions split into (fit, validation, carve record); refused when validation cannot rank
    (no impression with both a click and a non-click) or nothing is left to fit."""
    fit_rows, valid_rows = carve_validation(everything.times, fraction)
    fit, validation = everything.select(fit_rows), everything.select(valid_rows)
    labels, owner = validation.labels, validation.candidate_rows
    clicks = np.bincount(owner, weights=labels == 1, minlength=len(validation))
    sizes = np.diff(validation.candidate_ptr)
    if len(fit_rows) == 0 or not ((clicks > 0) & (clicks < sizes)).any():
        raise InputError(
            f"the validation split (the latest {fraction:.0%} of {where}'s {len(everything):,} impressions) has no "
            "impression with both a click and a non-click to select on; raise --validation-fraction or use "
            "--select-on dev"
        )
    as_text = lambda unix: str(np.datetime64(int(unix), "s"))  # noqa: E731
    carve = {"split": "validation", "fraction": fraction, "rule": "the latest impressions of train by time",
             "fit_impressions": len(fit), "validation_impressions": len(validation),
             "validation_from": as_text(validation.times.min()), "validation_to": as_text(validation.times.max())}
    return fit, validation, carve


def prepare(
    dataset: MindDataset,
    config: RunConfig,
    *,
    embedder: TextEmbedder | None = None,
    cache=None,
    progress: ProgressCallback | None = None,
) -> Prepared:
    """Embed the articles, build the catalogue and graph, map impressions onto rows."""
    model = config.model
    embedder = embedder or get_embedder(model.embedder)
    report = progress or (lambda event: None)

    def embedding_progress(done: int, total: int) -> None:
        report(TrainEvent("prepare", step=done, steps=total, message="embedding article texts"))

    if not dataset.train.behaviors.labeled:
        raise InputError("the train split has no click labels", path=dataset.train.path)
    catalog = Catalog.build(
        dataset.train.news,
        embedder,
        fields=model.text_fields,
        entity_vectors=dataset.entity_vectors,
        cache=cache,
        progress=embedding_progress,
    )
    catalog.note_first_seen(dataset.train.behaviors)
    behaviors = dataset.train.behaviors
    # Users only in the validation split stay unknown to the model, as dev's new users are.
    fit_rows = np.arange(len(behaviors))
    if config.train.select_on == "validation":
        fit_rows = carve_validation(behaviors.times, config.train.validation_fraction)[0]
    users = IdMap(behaviors.users[np.unique(behaviors.user_index[fit_rows])])
    everything = build_interactions(behaviors, catalog, users)
    if not (everything.labels == 1).any():
        raise InputError("no train impression has a click on an article of news.tsv", path=dataset.train.path)
    train, validation, carve = everything, None, {"split": "dev"}
    if config.train.select_on == "validation":
        train, validation, carve = split_for_selection(everything, config.train.validation_fraction, "train")
    warnings = [w for w in [catalog.text_info.get("warning")] if w]
    if everything.dropped_candidates:
        warnings.append(
            f"{everything.dropped_candidates:,} train candidates name articles missing from news.tsv and were ignored"
        )

    with_times = model.user_encoder == "transformer"
    if with_times:
        attach_history_times(train, click_log([train]))
        if validation is not None:
            attach_history_times(validation, click_log([train, validation]))
    eval_catalog, dev, truth = catalog, None, None
    if dataset.dev is not None and dataset.dev.behaviors.labeled:
        report(TrainEvent("prepare", message="adding dev-only articles (zero-shot)"))
        eval_catalog, dev, truth = split_view(
            catalog, users, dataset, "dev", embedder=embedder, cache=cache, with_times=with_times
        )
    if dev is None and validation is None:
        carve = {"split": None}
    return Prepared(catalog, users, train, eval_catalog, dev, truth, embedder, str(dataset.root), warnings,
                    validation, carve)


def fit_calibration(recommender: Recommender, prepared: Prepared, *, seed: int) -> Calibration:
    """Platt calibration fitted on the selection split (held-out clicks), or on train when there is none."""
    if prepared.selection is None:
        return calibrate(recommender, prepared.train, seed=seed)
    return calibrate(recommender.over(prepared.eval_catalog), prepared.selection, seed=seed)


# ---------------------------------------------------------------------------------------- batches


class ClickBatches:
    """Training samples: every click with K non-clicks drawn from the same impression."""

    def __init__(self, inter: Interactions, negatives: int, max_history: int, seed: int, fallback_rows: np.ndarray):
        self.inter = inter
        self.negatives = negatives
        self.max_history = max_history
        self.seed = seed
        clicked = inter.labels == 1
        self.click_rows = inter.candidate_rows[clicked]
        self.click_articles = inter.candidates[clicked]
        non_clicks = ~clicked
        per_row = np.bincount(inter.candidate_rows[non_clicks], minlength=len(inter))
        self.neg_ptr = np.zeros(len(inter) + 1, dtype=np.int64)
        np.cumsum(per_row, out=self.neg_ptr[1:])
        self.neg_articles = inter.candidates[non_clicks]
        self.fallback_rows = fallback_rows  # for impressions where every candidate was clicked

    def __len__(self) -> int:
        return len(self.click_rows)

    def non_clicks(self, samples: np.ndarray) -> np.ndarray:
        """(B, N) every non-click of each sample's impression, -1 padded (N: the largest count, at least 1)."""
        rows = self.click_rows[samples]
        start, count = self.neg_ptr[rows], self.neg_ptr[rows + 1] - self.neg_ptr[rows]
        width = max(int(count.max(initial=0)), 1)
        inside = np.arange(width)[None, :] < count[:, None]
        if not len(self.neg_articles):
            return np.full(inside.shape, -1, dtype=np.int64)
        index = np.where(inside, start[:, None] + np.arange(width)[None, :], 0)
        return np.where(inside, self.neg_articles[index], -1)

    def epoch_order(self, epoch: int, context: Context = SINGLE) -> np.ndarray:
        """This rank's share of the clicks for ``epoch``: a DistributedSampler re-shuffled with set_epoch.

        Every rank gets the same number of samples (the sampler wraps around), so DDP steps stay in lockstep.
        """
        sampler = DistributedSampler(
            range(len(self)), num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=self.seed
        )
        sampler.set_epoch(epoch)
        return np.fromiter(iter(sampler), dtype=np.int64)

    def batch(self, samples: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        inter = self.inter
        rows = self.click_rows[samples]
        count = self.neg_ptr[rows + 1] - self.neg_ptr[rows]
        draw = np.floor(rng.random((len(rows), self.negatives)) * np.maximum(count, 1)[:, None]).astype(np.int64)
        negatives = self.neg_articles[np.minimum(self.neg_ptr[rows][:, None] + draw, len(self.neg_articles) - 1)]
        if (count == 0).any():
            lonely = count == 0
            negatives[lonely] = rng.choice(self.fallback_rows, size=(int(lonely.sum()), self.negatives))
        history, mask = pad_last(inter.history_ptr, inter.history, rows, self.max_history)
        if inter.history_times is not None:
            history_times, _ = pad_last(inter.history_ptr, inter.history_times, rows, self.max_history, pad=UNKNOWN_TIME)
        else:
            history_times = np.full(history.shape, UNKNOWN_TIME, dtype=np.int64)
        return {
            "history": np.where(mask, history, -1),
            "mask": mask,
            "candidates": np.concatenate([self.click_articles[samples][:, None], negatives], axis=1),
            "user_rows": inter.user_rows[rows],
            "history_times": history_times,
            "now": inter.times[rows],
        }


def to_tensors(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in batch.items()}


# ---------------------------------------------------------------------------------------- fitting


@dataclass
class TrainResult:
    recommender: Recommender  # bound to the training catalogue
    history: list[dict]
    best_epoch: int
    samples_seen: int
    seconds: float
    stopped_early: bool


def _lr_lambda(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule != "cosine":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _module_groups(net: RecommenderNet) -> dict[str, list[torch.nn.Parameter]]:
    """Parameters per top-level module, for gradient-norm diagnostics."""
    groups: dict[str, list[torch.nn.Parameter]] = {}
    for name, param in net.named_parameters():
        groups.setdefault(name.split(".")[0], []).append(param)
    return groups


def _grad_norm(params: list[torch.nn.Parameter]) -> float:
    total = 0.0
    for p in params:
        if p.grad is None:
            continue
        grad = p.grad.coalesce().values() if p.grad.is_sparse else p.grad
        total += float(grad.detach().pow(2).sum())
    return math.sqrt(total)


@contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic kernels while training (scatter/index_add sums otherwise vary in the last bits from run to
    run on CPU, and the same command must give the same metrics); the caller's setting is restored after."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


@dataclass
class Optimization:
    """The optimizers of one fit and their learning-rate schedules.

    Dense layers use AdamW; the ID tables use SparseAdam (no weight decay, no dense moments: untouched rows
    stay exactly as they are). A step schedule (warm-up, then cosine or flat) moves the rate every step;
    under ``plateau`` it only warms up and ReduceLROnPlateau halves the rate after an epoch without progress.
    """

    optimizers: list[torch.optim.Optimizer]
    dense: list[torch.nn.Parameter]
    step_schedulers: list[torch.optim.lr_scheduler.LRScheduler]
    epoch_schedulers: list[torch.optim.lr_scheduler.ReduceLROnPlateau]
    warmup: int
    plateau: bool
    grad_clip: float
    steps_taken: int = 0

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=True)

    def step(self) -> None:
        """Clip, step every optimizer, then the step schedule."""
        if self.grad_clip > 0 and self.dense:
            torch.nn.utils.clip_grad_norm_(self.dense, self.grad_clip)
        for o in self.optimizers:
            o.step()
        self.steps_taken += 1
        # Under "plateau" the step scheduler only warms up: stepping it later would reset the rate to
        # its base and undo every reduction ReduceLROnPlateau made.
        if not self.plateau or self.steps_taken <= self.warmup:
            for s in self.step_schedulers:
                s.step()

    def end_epoch(self, score: float) -> None:
        for s in self.epoch_schedulers:
            s.step(score)

    @property
    def lr(self) -> float | None:
        return self.optimizers[0].param_groups[0]["lr"] if self.optimizers else None


def build_optimization(
    net: RecommenderNet,
    config: RunConfig,
    total_steps: int,
    trainable: Callable[[str], bool] | None,
    lr_scale: float,
    extra: list[torch.nn.Parameter] | None = None,
) -> Optimization:
    """Optimizers over the parameters ``trainable(name)`` accepts (all by default), the rest frozen; ``extra``
    dense parameters outside the network (the auxiliary head) train with the dense layers."""
    cfg = config.train
    sparse, dense = [], list(extra or [])
    for name, param in net.named_parameters():
        if trainable is not None and not trainable(name):
            param.requires_grad_(False)
            continue
        param.requires_grad_(True)
        is_sparse = name.endswith(("article_ids.weight", "article_bias.weight", "user_ids.weight"))
        (sparse if is_sparse else dense).append(param)
    optimizers: list[torch.optim.Optimizer] = []
    if dense:
        optimizers.append(torch.optim.AdamW(dense, lr=cfg.lr * lr_scale, weight_decay=cfg.weight_decay))
    if sparse:
        optimizers.append(torch.optim.SparseAdam(sparse, lr=cfg.lr * lr_scale * cfg.id_lr_scale))
    warmup = int(cfg.warmup * total_steps)
    plateau = cfg.schedule == "plateau"
    epoch_schedulers = (
        [torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode="max", factor=0.5, patience=0) for o in optimizers]
        if plateau
        else []
    )
    shape = _lr_lambda("none" if plateau else cfg.schedule, warmup, total_steps)
    step_schedulers = [torch.optim.lr_scheduler.LambdaLR(o, shape) for o in optimizers]
    return Optimization(optimizers, dense, step_schedulers, epoch_schedulers, warmup, plateau, cfg.grad_clip)


@dataclass
class EarlyStopping:
    """Keeps the best score seen and the weights that reached it; stop after ``patience`` epochs in a row
    without a better score."""

    patience: int
    best_score: float = -math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0

    def update(self, epoch: int, score: float, net: torch.nn.Module) -> None:
        if score > self.best_score:
            self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            self.bad_epochs += 1

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs > self.patience

    def restore(self, net: torch.nn.Module) -> None:
        """Load the best weights back into ``net`` (nothing to do before the first update)."""
        if self.best_state is not None:
            net.load_state_dict(self.best_state)


@dataclass
class EpochStats:
    """What one training epoch did: summed loss, steps, summed gradient norm per module, samples."""

    loss: float
    steps: int
    grad_norms: dict[str, float]
    samples: int
    category_loss: float = 0.0  # summed auxiliary loss (category_aux_weight > 0)
    category_hits: int = 0  # articles whose category the head got right
    category_seen: int = 0


@dataclass
class FitData:
    """What every step of one fit reads: the batches, their random stream, and the catalogue tensors."""

    batches: ClickBatches
    rng: np.random.Generator
    rank_batch: int  # --batch-size is the global batch: each of N ranks takes 1/N of it per step
    steps_per_epoch: int
    text: torch.Tensor
    graph: GraphTensors | None  # None without the graph view
    first_seen: torch.Tensor
    categories: torch.Tensor | None = None  # (A,) category index per catalogue row (auxiliary task), -1 unknown


class Trainer:
    """Fits a :class:`RecommenderNet` on prepared data; reports through ``progress``.

    One fit runs in named phases: :func:`build_optimization`, then per epoch :meth:`train_epoch` and
    :meth:`valid_epoch`, with :class:`EarlyStopping` keeping the best weights.
    """

    def __init__(
        self,
        prepared: Prepared,
        config: RunConfig,
        *,
        progress: ProgressCallback | None = None,
        net: RecommenderNet | None = None,
        context: Context = SINGLE,
    ):
        self.prepared = prepared
        self.config = config
        self.progress = progress or (lambda event: None)
        self.context = context
        self.device = torch.device(distributed.device_for(resolve_device(config.train.device), context))
        torch.manual_seed(config.train.seed)
        self.net = net if net is not None else self.new_network()
        self.categories, self.category_head, self.category_weight = self._category_task()

    def _category_task(self) -> tuple[np.ndarray | None, CategoryHead | None, float]:
        """Category index per catalogue row, the auxiliary head and its loss weight, or (None, None, 0) when the task
        is off. The weight
        auto (None) is :data:`AUTO_CATEGORY_WEIGHT` with at least two categories and off with fewer; a weight asked
        for is refused when train's articles name fewer than two categories."""
        asked = self.config.train.category_aux_weight
        if asked == 0:
            return None, None, 0.0
        names = self.prepared.catalog.frame["category"].fillna("").astype(str)
        codes, uniques = pd.factorize(names.where(names != "", None))
        if len(uniques) < 2:
            if asked is None:
                return None, None, 0.0
            raise InputError(f"category_aux_weight needs articles of at least two categories; train's news.tsv has "
                             f"{len(uniques)}", path=self.prepared.dataset_root or None)
        head = CategoryHead(self.config.model.dim, len(uniques)).to(self.device)
        return codes.astype(np.int64), head, AUTO_CATEGORY_WEIGHT if asked is None else float(asked)

    def new_network(self) -> RecommenderNet:
        """A fresh network; the articles and users of the train split count as trained."""
        p = self.prepared
        net = RecommenderNet.for_catalog(self.config.model, p.catalog, len(p.users))
        seen = np.zeros(len(p.catalog), dtype=bool)
        seen[p.train.history] = True
        seen[p.train.candidates] = True
        net.article_trained[:] = torch.from_numpy(seen)
        net.user_trained[:] = True
        return net.to(self.device)

    def evaluation_model(self) -> Recommender:
        return Recommender(self.config, self.prepared.eval_catalog, self.prepared.users, self.net, str(self.device))

    def fit(self, *, trainable: Callable[[str], bool] | None = None, lr_scale: float = 1.0) -> TrainResult:
        """Train for ``config.train.epochs`` epochs, stopping early on the selection split's AUC and restoring
        the best state.

        ``trainable(name)`` restricts which parameters move (incremental updates); ``lr_scale`` scales the rate.
        """
        with deterministic():
            return self._fit(trainable, lr_scale)

    def _fit(self, trainable: Callable[[str], bool] | None, lr_scale: float) -> TrainResult:
        cfg = self.config.train
        started = time.perf_counter()
        data = self.fit_data()
        head = list(self.category_head.parameters()) if self.category_head is not None else None
        total_steps = data.steps_per_epoch * cfg.epochs
        optimization = build_optimization(self.net, self.config, total_steps, trainable, lr_scale, head)
        stopping = EarlyStopping(cfg.patience)
        # Views and fusions that skip a module in some batches (e.g. no empty history) leave it unused.
        model = DistributedDataParallel(self.net, find_unused_parameters=True) if self.context.active else self.net
        evaluator = self.evaluation_model()
        history: list[dict] = []
        samples_seen, stopped_early = 0, False
        for epoch in range(1, cfg.epochs + 1):
            self._refresh_user_bank(evaluator)
            epoch_start = time.perf_counter()
            stats = self.train_epoch(epoch, model, data, optimization)
            samples_seen += stats.samples
            metrics = self.valid_epoch(evaluator)
            score = metrics["auc"] if metrics and metrics.get("auc") is not None else -stats.loss
            entry = self._history_entry(epoch, stats, metrics, optimization, data, time.perf_counter() - epoch_start)
            history.append(entry)
            optimization.end_epoch(score)
            self.progress(TrainEvent("epoch", epoch, cfg.epochs, data.steps_per_epoch, data.steps_per_epoch,
                                     entry["train_loss"], entry["lr"], metrics, split=entry["split"] or ""))
            stopping.update(epoch, score, self.net)
            if stopping.should_stop:
                stopped_early = epoch < cfg.epochs
                break
        return self._finish(stopping, history, samples_seen, time.perf_counter() - started, stopped_early)

    def fit_data(self) -> FitData:
        """Batches over the train split's clicks and the catalogue's tensors on the device."""
        cfg, p, context = self.config.train, self.prepared, self.context
        trained_rows = np.flatnonzero(self.net.article_trained.cpu().numpy())
        batches = ClickBatches(p.train, cfg.negatives, self.config.model.max_history, cfg.seed, trained_rows)
        rank_batch = max(1, math.ceil(cfg.batch_size / context.world_size))
        return FitData(
            batches=batches,
            rng=np.random.default_rng([cfg.seed, context.rank, 1]),
            rank_batch=rank_batch,
            steps_per_epoch=max(1, math.ceil(len(batches) / context.world_size / rank_batch)),
            text=p.catalog.text.to(self.device),
            graph=p.catalog.graph.tensors().to(self.device) if "graph" in self.net.views else None,
            first_seen=torch.from_numpy(p.catalog.first_seen).to(self.device),
            categories=None if self.categories is None else torch.from_numpy(self.categories).to(self.device),
        )

    def train_epoch(self, epoch: int, model: torch.nn.Module, data: FitData, optimization: Optimization) -> EpochStats:
        """One pass over this rank's share of the clicks; raises FloatingPointError when the loss diverges."""
        cfg = self.config.train
        self.net.train()
        order = data.batches.epoch_order(epoch, self.context)
        pos_weight = cfg.pos_weight if cfg.pos_weight is not None else float(max(cfg.negatives, 1))
        groups = _module_groups(self.net)
        stats = EpochStats(0.0, 0, {name: 0.0 for name in groups}, 0)
        for step in range(data.steps_per_epoch):
            samples = order[step * data.rank_batch : (step + 1) * data.rank_batch]
            if len(samples) == 0:
                break
            loss = self._step_loss(model, data, samples, pos_weight, stats)
            optimization.zero_grad()
            loss.backward()
            for name, params in groups.items():
                stats.grad_norms[name] += _grad_norm(params)
            optimization.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"training diverged at epoch {epoch}, step {step + 1} (loss {value})")
            stats.loss += value
            stats.steps += 1
            stats.samples += len(samples) * self.context.world_size
            if step % 10 == 0 or step == data.steps_per_epoch - 1:
                self.progress(TrainEvent("step", epoch, cfg.epochs, step + 1, data.steps_per_epoch, value, optimization.lr))
        return stats

    def _step_loss(
        self, model: torch.nn.Module, data: FitData, samples: np.ndarray, pos_weight: float, stats: EpochStats
    ) -> torch.Tensor:
        """The loss of one batch: its clicks (oversampled under class_balance oversample), negatives (partly
        hard under hard_negatives), the ranking loss and the weighted auxiliary category loss."""
        cfg = self.config.train
        oversample = cfg.class_balance == "oversample"
        rows = negatives.oversampled(samples, pos_weight, len(data.batches), data.rng) if oversample else samples
        raw = data.batches.batch(rows, data.rng)
        if oversample:
            raw["candidates"][len(samples):, 1:] = raw["candidates"][len(samples):, :1]
        if cfg.hard_negatives != "none":
            self._harden(raw, samples, data)
        batch = to_tensors(raw, self.device)
        logits, rows_scored, articles, vectors = model(
            batch, data.text, data.graph, data.first_seen, self.config.model.id_dropout,
            in_batch=cfg.loss == "infonce", with_articles=True,
        )
        weights = (negatives.oversample_weights(len(logits), len(samples), logits.shape[1], logits.device)
                   if oversample else None)
        loss = self._loss(logits, rows_scored, pos_weight, weights)
        if self.category_head is not None:
            loss = loss + self.category_weight * self._category_loss(articles, vectors, data, stats)
        return loss

    def _harden(self, raw: dict[str, np.ndarray], samples: np.ndarray, data: FitData) -> None:
        """Replace the first negatives of the primary rows (in place) by those the current network scores
        highest: from the impression, then (impression+recall) from a random sample of the trained catalogue."""
        cfg = self.config.train
        from_impression, from_recall = negatives.hard_counts(cfg.negatives, cfg.hard_negative_share, cfg.hard_negatives)
        n = len(samples)
        impression = data.batches.non_clicks(samples)
        pool = np.empty((n, 0), dtype=np.int64)
        if from_recall:
            trained = data.batches.fallback_rows
            sample = data.rng.choice(trained, size=min(negatives.RECALL_POOL, len(trained)), replace=False)
            pool = np.broadcast_to(sample, (n, len(sample)))
        clicked = raw["candidates"][:n, 0]
        scores = self._current_scores(raw, n, np.concatenate([impression, pool], axis=1), data)
        width = impression.shape[1]
        columns, found = negatives.top_valid(scores[:, :width], torch.from_numpy(impression >= 0), from_impression)
        negatives.place(raw["candidates"][:n], 1, impression, columns.numpy(), found.numpy())
        if from_recall:
            valid = negatives.recall_valid(pool, clicked, raw["history"][:n])
            columns, found = negatives.top_valid(scores[:, width:], torch.from_numpy(valid), from_recall)
            negatives.place(raw["candidates"][:n], 1 + from_impression, pool, columns.numpy(), found.numpy())

    def _current_scores(
        self, raw: dict[str, np.ndarray], n: int, candidates: np.ndarray, data: FitData
    ) -> torch.Tensor:
        """(n, M) logits of the current network (eval mode, no gradients) for the first ``n`` rows of ``raw``
        against ``candidates`` (-1 padding is scored as the click and must be masked by the caller)."""
        filled = np.where(candidates >= 0, candidates, raw["candidates"][:n, :1])
        batch = {key: value[:n] for key, value in raw.items()}
        batch["candidates"] = filled
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.no_grad():
                logits, _ = self.net(to_tensors(batch, self.device), data.text, data.graph, data.first_seen)
        finally:
            self.net.train(was_training)
        return logits.float().cpu()

    def valid_epoch(self, evaluator: Recommender) -> dict | None:
        """Metrics on the selection split after an epoch (None without one); the impressions are split across
        ranks and the scores gathered, so every rank computes the same numbers (and stops at the same epoch)."""
        dev = self.prepared.selection
        if dev is None:
            return None
        evaluator.invalidate()  # the weights changed since the last scoring
        limit = self.config.train.eval_impressions
        if limit and limit < len(dev):
            dev = dev.select(np.random.default_rng(self.config.train.seed).choice(len(dev), size=limit, replace=False))
        context = self.context
        mine = np.arange(context.rank, len(dev), context.world_size)
        parts = distributed.gather((mine, evaluator.score(dev.select(mine))), context)
        scores = np.empty(len(dev.candidates), dtype=np.float32)
        for rows, part in parts:
            _, flat = gather_ranges(dev.candidate_ptr, rows)
            scores[flat] = part
        return mind_metrics_csr(dev.labels, scores, dev.candidate_ptr)

    def _refresh_user_bank(self, evaluator: Recommender) -> None:
        """With user retrieval, rebuild the bank of user vectors from the current encoder (a stale bank was
        seeds/004's trouble)."""
        if not self.config.model.user_retrieval:
            return
        p = self.prepared
        self.net.user_bank = build_user_bank(Recommender(self.config, p.catalog, p.users, self.net, str(self.device)), p.train)
        evaluator.invalidate()

    def _history_entry(
        self, epoch: int, stats: EpochStats, metrics: dict | None, optimization: Optimization, data: FitData, seconds: float
    ) -> dict:
        world = self.context.world_size
        steps = max(stats.steps, 1)
        return {
            "epoch": epoch,
            "train_loss": distributed.mean(stats.loss / steps, self.context),
            "lr": optimization.lr,
            "valid": metrics,
            "split": self.prepared.selected_on,
            "grad_norms": {name: total / steps for name, total in stats.grad_norms.items()},
            "seconds": round(seconds, 3),
            "samples": stats.steps * data.rank_batch * world,
            **self._category_entry(stats, steps),
        }

    def _category_entry(self, stats: EpochStats, steps: int) -> dict:
        """The auxiliary task's epoch figures (none when it is off): mean loss and the head's training accuracy."""
        if self.category_head is None:
            return {}
        return {"category_loss": stats.category_loss / steps,
                "category_accuracy": stats.category_hits / max(stats.category_seen, 1)}

    def _finish(
        self, stopping: EarlyStopping, history: list[dict], samples_seen: int, seconds: float, stopped_early: bool
    ) -> TrainResult:
        """Restore the best weights, rebuild the user bank for them, unfreeze everything."""
        stopping.restore(self.net)
        p = self.prepared
        if self.config.model.user_retrieval:
            self.net.user_bank = build_user_bank(Recommender(self.config, p.catalog, p.users, self.net, str(self.device)), p.train)
        for param in self.net.parameters():
            param.requires_grad_(True)
        result = Recommender(self.config, p.catalog, p.users, self.net, str(self.device))
        return TrainResult(result, history, stopping.best_epoch, samples_seen, seconds, stopped_early)

    def _loss(
        self, logits: torch.Tensor, rows: torch.Tensor, pos_weight: float, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        cfg = self.config.train
        if cfg.loss == "listwise":
            return losses.listwise(logits, cfg.focal_gamma)
        if cfg.loss == "bce":
            return losses.bce(logits, pos_weight, cfg.bce_on_probabilities, cfg.focal_gamma, weights)
        own = cfg.negatives + 1
        valid = torch.ones_like(rows, dtype=torch.bool)
        valid[:, own:] = rows[:, own:] != rows[:, :1]
        return losses.infonce(logits, valid, cfg.focal_gamma)

    def _category_loss(
        self, articles: torch.Tensor, vectors: torch.Tensor, data: FitData, stats: EpochStats
    ) -> torch.Tensor:
        """Cross-entropy of the head's category guesses for the batch's articles (those with a category);
        the epoch's running loss and accuracy go into ``stats``."""
        labels = data.categories[articles]
        known = labels >= 0
        if not bool(known.any()):
            return vectors.sum() * 0.0
        logits = self.category_head(vectors[known])
        loss = losses.category(logits, labels[known])
        stats.category_loss += float(loss.detach())
        stats.category_hits += int((logits.argmax(1) == labels[known]).sum())
        stats.category_seen += int(known.sum())
        return loss
