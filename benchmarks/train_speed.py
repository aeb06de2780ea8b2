"""Training and evaluation speed on a preset: samples per second, seconds per epoch, peak memory, and
dev evaluation throughput (impressions per second, batched, no per-impression loop).

Prints one JSON object. Defaults: the ``demo`` and ``small`` presets, the ``hashing`` embedder (the text
embedder only changes the one-off embedding step, which ``embed_speed.py`` measures; its width changes the
first projection only), one training epoch timed after a warm-up of a few steps.

    .venv/bin/python benchmarks/train_speed.py --presets demo,small
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import load_dataset
from recengine.data.synthetic import generate
from recengine.text import EmbeddingCache
from recengine.train.trainer import Trainer, prepare


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(root: Path, embedder: str, epochs: int, cache: EmbeddingCache) -> dict:
    started = time.perf_counter()
    dataset = load_dataset(root)
    load_seconds = time.perf_counter() - started
    config = RunConfig(ModelConfig(embedder=embedder), TrainConfig(epochs=epochs, patience=epochs))
    started = time.perf_counter()
    prepared = prepare(dataset, config, cache=cache)
    prepare_seconds = time.perf_counter() - started
    trainer = Trainer(prepared, config)
    # Evaluation is timed separately below; the per-epoch dev pass is part of an epoch as a user sees it.
    result = trainer.fit()
    epoch_seconds = [h["seconds"] for h in result.history]
    samples = [h["samples"] for h in result.history]
    evaluator = trainer.evaluation_model()
    evaluator.invalidate()
    runs = []
    for _ in range(3):
        evaluator.invalidate()
        started = time.perf_counter()
        evaluator.score(prepared.dev)
        runs.append(time.perf_counter() - started)
    eval_seconds = statistics.median(runs)
    return {
        "articles": len(prepared.catalog),
        "users": len(prepared.users),
        "train_clicks": int((prepared.train.labels == 1).sum()),
        "load_seconds": round(load_seconds, 2),
        "prepare_seconds": round(prepare_seconds, 2),
        "epoch_seconds": [round(s, 2) for s in epoch_seconds],
        "median_epoch_seconds": round(statistics.median(epoch_seconds), 2),
        "samples_per_second": round(statistics.median(n / s for n, s in zip(samples, epoch_seconds)), 1),
        "dev_impressions": len(prepared.dev),
        "dev_candidates": int(len(prepared.dev.candidates)),
        "eval_seconds": round(eval_seconds, 3),
        "eval_impressions_per_second": round(len(prepared.dev) / eval_seconds, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="demo,small")
    parser.add_argument("--data", type=Path, default=None, help="a dataset folder instead of generated presets")
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trainspeed-"))
    cache = EmbeddingCache(work / "cache")
    out = {"embedder": args.embedder, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
           "device": "cuda" if torch.cuda.is_available() else "cpu", "presets": {}}
    targets = [(str(args.data), args.data)] if args.data else [(p, None) for p in args.presets.split(",")]
    for name, folder in targets:
        if folder is None:
            folder = work / name
            generate(name, 0, folder)
        out["presets"][name] = measure(folder, args.embedder, args.epochs, cache)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
