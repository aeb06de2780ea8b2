"""``train``: fit a recommender on a MIND dataset and save a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recengine import config as C
from recengine.errors import InputError


def _views(text: str) -> tuple[str, ...]:
    views = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in views if v not in C.VIEWS]
    if bad or not views:
        raise argparse.ArgumentTypeError(f"views must be a comma-separated subset of {','.join(C.VIEWS)}")
    return views


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Model and training flags shared by ``train`` and ``compare``."""
    m, t = C.ModelConfig(), C.TrainConfig()
    g = parser.add_argument_group("model")
    g.add_argument("--views", type=_views, default=m.views, help=f"article views to use (default: {','.join(m.views)})")
    g.add_argument("--fusion", choices=C.FUSIONS, default=m.fusion, help=f"how views are fused (default: {m.fusion})")
    g.add_argument("--user-encoder", choices=C.USER_ENCODERS, default=m.user_encoder, help=f"default: {m.user_encoder}")
    g.add_argument("--gnn", choices=C.GNNS, default=m.gnn, help=f"graph encoder (default: {m.gnn})")
    g.add_argument("--embedder", choices=C.EMBEDDERS, default=m.embedder, help=f"text embedder (default: {m.embedder})")
    g.add_argument("--text-fields", choices=C.TEXT_FIELDS, default=m.text_fields, help=f"default: {m.text_fields}")
    g.add_argument("--scoring", choices=C.SCORINGS, default=m.scoring, help=f"cosine/temperature or raw dot (default: {m.scoring})")
    g.add_argument("--temperature", type=float, default=m.temperature, help=f"cosine is divided by it (default: {m.temperature})")
    g.add_argument("--dim", type=int, default=m.dim, help=f"vector width (default: {m.dim})")
    g.add_argument("--max-history", type=int, default=m.max_history, help=f"clicks read per user (default: {m.max_history})")
    g.add_argument("--id-dropout", type=float, default=m.id_dropout, help=f"default: {m.id_dropout}")
    g.add_argument("--entity-dropout", type=float, default=m.entity_dropout,
                   help=f"share of articles seen without entities in training (default: {m.entity_dropout})")
    g.add_argument("--user-id-dim", type=int, default=m.user_id_dim,
                   help=f"width of the user ID vector, 0 = none (default: {m.user_id_dim})")
    g.add_argument("--new-article-id", choices=C.NEW_ARTICLE_ID, default=m.new_article_id,
                   help=f"ID vector of unseen articles (default: {m.new_article_id})")
    g.add_argument("--user-retrieval", type=int, default=m.user_retrieval,
                   help="fuse the k most similar users' vectors into the user vector (0 = off)")
    h = parser.add_argument_group("training")
    h.add_argument("--loss", choices=C.LOSSES, default=t.loss, help=f"default: {t.loss}")
    h.add_argument("--negatives", type=int, default=t.negatives, help=f"non-clicks per click (default: {t.negatives})")
    h.add_argument("--epochs", type=int, default=t.epochs, help=f"default: {t.epochs}")
    h.add_argument("--lr", type=float, default=t.lr, help=f"learning rate (default: {t.lr})")
    h.add_argument("--batch-size", type=int, default=t.batch_size, help=f"default: {t.batch_size}")
    h.add_argument("--schedule", choices=C.SCHEDULES, default=t.schedule, help=f"default: {t.schedule}")
    h.add_argument("--patience", type=int, default=t.patience, help=f"early stopping patience (default: {t.patience})")
    h.add_argument("--id-lr-scale", type=float, default=t.id_lr_scale,
                   help=f"learning-rate factor for the ID tables (default: {t.id_lr_scale})")
    h.add_argument("--seed", type=int, default=t.seed, help=f"default: {t.seed}")
    h.add_argument("--device", default=t.device, help="auto, cpu or cuda[:N] (default: auto)")
    h.add_argument("--bce-on-probabilities", action="store_true",
                   help="with --loss bce: sigmoid then BCE, as seeds/001 did (saturates with --scoring dot)")


def config_from_args(args: argparse.Namespace) -> C.RunConfig:
    model = C.ModelConfig(
        views=args.views, dim=args.dim, fusion=args.fusion, user_encoder=args.user_encoder, gnn=args.gnn,
        scoring=args.scoring, temperature=args.temperature, max_history=args.max_history, id_dropout=args.id_dropout,
        entity_dropout=args.entity_dropout, user_id_dim=args.user_id_dim,
        new_article_id=args.new_article_id, user_retrieval=args.user_retrieval, embedder=args.embedder,
        text_fields=args.text_fields,
    )
    train = C.TrainConfig(
        loss=args.loss, negatives=args.negatives, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        schedule=args.schedule, patience=args.patience, seed=args.seed, device=args.device,
        bce_on_probabilities=args.bce_on_probabilities, id_lr_scale=args.id_lr_scale,
    )
    return C.RunConfig(model.validate(), train.validate())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a recommender and save a run", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="MIND dataset folder (train/ and dev/)")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--force", action="store_true", help="replace an existing run folder")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder (default: <home>/cache/embeddings)")
    add_model_options(parser)
    parser.set_defaults(handler=run)


class ProgressPrinter:
    """Training progress on stderr: a tqdm bar per phase, one line per epoch."""

    def __init__(self, stream=None):
        from tqdm import tqdm

        self.tqdm, self.stream, self.bar, self.phase = tqdm, stream or sys.stderr, None, None

    def __call__(self, event) -> None:
        phase = (event.kind, event.epoch, event.message)
        if event.kind in ("prepare", "step") and event.steps:
            if self.phase != phase[:2] + ((event.message,) if event.kind == "prepare" else ()):
                self.close()
                label = event.message if event.kind == "prepare" else f"epoch {event.epoch}/{event.epochs}"
                self.bar = self.tqdm(total=event.steps, desc=label, file=self.stream, leave=False, dynamic_ncols=True)
                self.phase = phase[:2] + ((event.message,) if event.kind == "prepare" else ())
            self.bar.n = event.step
            if event.loss is not None:
                self.bar.set_postfix(loss=f"{event.loss:.4f}", refresh=False)
            self.bar.refresh()
        elif event.kind == "prepare":
            self.close()
            print(f"{event.message} ...", file=self.stream)
        elif event.kind == "epoch":
            self.close()
            auc = event.metrics.get("auc") if event.metrics else None
            auc_text = f", dev AUC {auc:.4f}" if auc is not None else ""
            print(f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}{auc_text}", file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar, self.phase = None, None


def summarize(metrics: dict | None) -> dict | None:
    if metrics is None:
        return None
    keep = ("auc", "mrr", "ndcg@5", "ndcg@10")
    pick = lambda m: None if m is None else {k: None if m[k] is None else round(m[k], 4) for k in keep}  # noqa: E731
    return {
        "model": pick(metrics["model"]),
        "random": pick(metrics["random"]),
        "oracle": pick(metrics["oracle"]),
        "slices": {name: pick(m) for name, m in metrics["slices"].items()},
    }


def run(args: argparse.Namespace) -> int:
    from recengine.train import distributed
    from recengine.train.api import train_run

    config = config_from_args(args)
    context = distributed.from_environment(config.train.device)
    if args.out.exists() and not args.force and context.is_main:
        raise InputError("run folder exists (use --force to replace it)", path=args.out)
    printer = ProgressPrinter()
    try:
        trained = train_run(args.data, config, out=args.out, cache=args.cache, progress=printer)
    finally:
        printer.close()
        distributed.shutdown(context)
    if not context.is_main:
        return 0
    for warning in trained.meta["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps({
        "run": str(args.out),
        "best_epoch": trained.result.best_epoch,
        "stopped_early": trained.result.stopped_early,
        "samples_seen": trained.result.samples_seen,
        "seconds": trained.meta["train_seconds"],
        "metrics": summarize(trained.metrics),
    }, indent=2))
    return 0
