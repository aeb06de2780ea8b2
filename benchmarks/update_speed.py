"""The incremental update against a full retrain: time and quality, side by side in one run.

Day 6 (dev) is cut at noon (the zero-shot comparison's cut, :func:`recengine.app.experiments.day6_cut`). A parent
trains on days 1-5. Then, in one process on the same machine state: (a) the update folds day 6's morning into a
copy of the parent (``update_run``, as ``recengine update`` runs it), (b) the full retrain trains from scratch on
days 1-5 plus the morning (``train_run``), and (a) again into a second archive, so that a change of load during the
retrain shows as a difference between the two update timings. Both models are judged on the afternoon with the
zero-shot comparison's judge, on every slice, and the update is compared with the retrain impression by impression
(paired 95% CI of the AUC difference, :func:`recengine.app.experiments.against_reference`).

The update and the retrain share one embedding cache, warmed by the parent's training, as in a workspace.

Prints one JSON object: seconds of each (the update's per stage, from its meta.json), the time ratio, AUC per
slice of both, the quality ratio per slice and the paired CIs.

    python benchmarks/update_speed.py --preset demo --embedder hashing --epochs 3
    python benchmarks/update_speed.py --data /path/to/small --embedder hashing --epochs 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from recengine.app import experiments
from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import load_dataset, write_split
from recengine.data.synthetic import generate
from recengine.text import EmbeddingCache, get_embedder
from recengine.train.api import train_run
from recengine.train.incremental import update_run

NEW_ARTICLES = "day6_articles"


def timed(work) -> tuple[object, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="demo", help="synthetic preset to generate (default: demo)")
    parser.add_argument("--data", type=Path, default=None, help="use this dataset (read only) instead of a preset")
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the parent and of the retrain")
    parser.add_argument("--update-epochs", type=int, default=2, help="update: epochs on the new rows")
    parser.add_argument("--full-epochs", type=int, default=1, help="update: epochs on everything")
    parser.add_argument("--lr-decay", type=float, default=0.3)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--parent", type=Path, default=None,
                        help="a parent run already trained on days 1-5 of this data with these settings (e.g. "
                             "WORK/parent of an earlier --work run): its training is not repeated")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="update-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    print()


def run(args: argparse.Namespace, work: Path) -> dict:
    root = args.data
    if root is None:
        root = work / args.preset
        if not (root / "meta.json").is_file():
            generate(args.preset, 0, root)
    cut = experiments.day6_cut(load_dataset(root))
    config = RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs)).validate()
    embedder, cache = get_embedder(args.embedder), EmbeddingCache(work / "cache")
    judged = cut.judged
    parent, parent_seconds = args.parent, None
    if parent is None:
        parent = work / "parent"
        _, parent_seconds = timed(lambda: train_run(judged, config, out=parent, embedder=embedder, cache=cache))
    for name in ("morning", "update-1", "update-2", "archive-update-1", "archive-update-2", "retrain"):
        shutil.rmtree(work / name, ignore_errors=True)  # a rerun in the same --work starts clean
    write_split(work / "morning", cut.morning)

    def update(name: str):
        return update_run(parent, work / "morning", work / name, epochs=args.update_epochs,
                          full_epochs=args.full_epochs, lr_decay=args.lr_decay, eval_data=judged,
                          embedder=embedder, cache=cache, archive=work / f"archive-{name}")

    first, first_seconds = timed(lambda: update("update-1"))
    retrain_data = cut.retrain  # built before the clock starts, as the update's input was written before its own
    retrain, retrain_seconds = timed(lambda: train_run(retrain_data, config, out=work / "retrain",
                                                       embedder=embedder, cache=cache))
    second, second_seconds = timed(lambda: update("update-2"))
    update_seconds = (first_seconds + second_seconds) / 2

    methods, values = {}, {}
    methods["incremental"], values["incremental"] = experiments.judge_day6(first.recommender, judged, cut, embedder)
    methods["full_retrain"], values["full_retrain"] = experiments.judge_day6(
        retrain.result.recommender, retrain_data, cut, embedder)
    paired = experiments.against_reference(values, "full_retrain")
    return {
        "data": str(root), "embedder": args.embedder, **cut.summary(),
        "settings": {"epochs": args.epochs, "update_epochs": args.update_epochs, "full_epochs": args.full_epochs,
                     "lr_decay": args.lr_decay},
        "seconds": {"parent_train": parent_seconds and round(parent_seconds, 1), "update_before_retrain": round(first_seconds, 1),
                    "full_retrain": round(retrain_seconds, 1), "update_after_retrain": round(second_seconds, 1),
                    "update_mean": round(update_seconds, 1)},
        "update_stages_seconds": {"before_retrain": first.meta["update"]["stages"],
                                  "after_retrain": second.meta["update"]["stages"]},
        "retrain_stages_seconds": {"train": retrain.meta["train_seconds"], "evaluate": retrain.meta["eval_seconds"]},
        "update_time_share_of_retrain": round(update_seconds / retrain_seconds, 4),
        "auc": {name: {s: m[s]["auc"] for s in experiments.ZERO_SHOT_SLICES} for name, m in methods.items()},
        "baselines": methods["full_retrain"]["baselines"],
        "quality_ratio_auc": experiments.quality_ratios(methods, "full_retrain")["incremental"],
        "new_articles_quality_ratio": experiments.quality_ratios(methods, "full_retrain")["incremental"][NEW_ARTICLES],
        "paired_vs_retrain": paired,
        "parent_metrics_of_update": first.meta["evaluation"],
        "target": {"time_share_at_most": 0.10, "quality_ratio_at_least": 0.99, "slice": NEW_ARTICLES},
    }


if __name__ == "__main__":
    main()
