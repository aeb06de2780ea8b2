"""Recommendation quality of the default config and of each fusion, beside random and oracle.

    .venv/bin/python benchmarks/quality.py                                  # demo preset, MiniLM (long)
    .venv/bin/python benchmarks/quality.py --embedder hashing --epochs 3    # a quick check of the script
    .venv/bin/python benchmarks/quality.py --preset small --embedder hashing --fusions attention  # MIND-small scale
    .venv/bin/python benchmarks/quality.py --also-select-on-dev    # + the default config selected on dev

Generates the synthetic preset (seed 0) in a temporary folder, embeds and maps it once, then trains the
default config once per fusion (concat, attention, gate, or those of ``--fusions``; the default config is
the run whose fusion is ``default_fusion``) and evaluates each on dev. Prints one JSON object: per fusion the dev AUC, MRR,
nDCG@5 and nDCG@10 beside random and oracle, the same for the three slices (warm, new_articles,
cold_users), ``share_of_oracle`` (0 = random, 1 = oracle) for overall and warm AUC, whether warm AUC
meets the target (at least 90% of the way from random to oracle), the best epoch and the seconds spent
training and evaluating. ``prepare_seconds`` is the shared embedding and mapping time.

Every run selects (best epoch, early stop) on the validation split carved from the end of train, never on dev.
``vs_default`` gives each fusion's paired difference from the default fusion on the same dev impressions (95%
paired-bootstrap CI, Wilcoxon p; :mod:`recengine.eval.significance`). ``--also-select-on-dev`` trains the
default config once more selecting on dev, as papers that do so, and reports what that choice adds to the
dev figures (``selected_on_dev``), paired against the honest run.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

from recengine.config import EMBEDDERS, FUSIONS, ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import load_dataset
from recengine.data.synthetic import DEFAULT_WORLD_VERSION, PRESETS, WORLD_VERSIONS, generate
from recengine.eval.evaluate import share_of_oracle
from recengine.eval.metrics import METRICS, per_impression_metrics_csr
from recengine.eval.significance import RESAMPLES, paired_comparison
from recengine.train.api import train_and_evaluate
from recengine.train.trainer import prepare, resolve_device

WARM_TARGET = 0.9  # warm AUC at least this share of the way from random to oracle


def _pick(block: dict | None) -> dict | None:
    return None if block is None else {m: None if block.get(m) is None else round(block[m], 4) for m in METRICS}


def _share(model: dict | None, random: dict | None, oracle: dict | None) -> float | None:
    share = share_of_oracle(*((block or {}).get("auc") for block in (model, random, oracle)))
    return None if share is None else round(share, 4)


def _report(metrics: dict) -> dict:
    slices = {}
    for name, block in metrics["slices"].items():
        baselines = metrics["baselines"][name]
        slices[name] = {
            "impressions": block["impressions"],
            "model": _pick(block),
            "random": _pick(baselines["random"]),
            "oracle": _pick(baselines["oracle"]),
        }
    warm = metrics["slices"].get("warm")
    warm_base = metrics["baselines"].get("warm") or {}
    warm_share = _share(warm, warm_base.get("random"), warm_base.get("oracle"))
    return {
        "dev": {"model": _pick(metrics["model"]), "random": _pick(metrics["random"]), "oracle": _pick(metrics["oracle"])},
        "slices": slices,
        "share_of_oracle": {
            "auc": _share(metrics["model"], metrics["random"], metrics["oracle"]),
            "warm_auc": warm_share,
        },
        "warm_target_met": None if warm_share is None else warm_share >= WARM_TARGET,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", choices=[p for p in PRESETS if p != "large"], help="default: demo")
    parser.add_argument("--embedder", default="minilm", choices=EMBEDDERS, help="default: minilm")
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs, help=f"default: {TrainConfig().epochs}")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder (default: the workspace's)")
    parser.add_argument("--world-version", type=int, choices=WORLD_VERSIONS, default=DEFAULT_WORLD_VERSION,
                        help=f"synthetic world version (default: {DEFAULT_WORLD_VERSION})")
    parser.add_argument("--fusions", default=",".join(FUSIONS), help="comma-separated fusions to train (default: all)")
    parser.add_argument("--also-select-on-dev", action="store_true",
                        help="also train the default config selecting on dev, and pair it with the honest run")
    args = parser.parse_args()
    fusions = args.fusions.split(",")
    if unknown := set(fusions) - set(FUSIONS):
        parser.error(f"unknown fusions: {', '.join(sorted(unknown))} (choose from {', '.join(FUSIONS)})")

    base = RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs))
    base.model.validate()
    base.train.validate()
    report: dict = {
        "data": f"synthetic {args.preset} preset, seed 0, world v{args.world_version}",
        "embedder": args.embedder,
        "epochs": args.epochs,
        "device": resolve_device(base.train.device),
        "default_fusion": base.model.fusion,
        "warm_target": WARM_TARGET,
    }
    with tempfile.TemporaryDirectory(prefix="quality-bench-") as tmp:
        print(f"generating the {args.preset} preset", file=sys.stderr)
        generate(args.preset, 0, Path(tmp) / "data", world_version=args.world_version)
        dataset = load_dataset(Path(tmp) / "data")
        started = time.perf_counter()
        print(f"embedding with {args.embedder} and mapping impressions", file=sys.stderr)
        prepared = prepare(dataset, base, cache=args.cache)
        report["prepare_seconds"] = round(time.perf_counter() - started, 2)
        report["selection"] = prepared.carve
        report["runs"], values = {}, {}
        for fusion in fusions:
            config = copy.deepcopy(base)
            config.model.fusion = fusion
            report["runs"][fusion], values[fusion] = _train(prepared, config, f"{fusion} fusion")
        default = base.model.fusion
        if default in values:
            report["resamples"] = RESAMPLES
            for fusion in fusions:
                if fusion != default:
                    report["runs"][fusion]["vs_default"] = _paired(values[fusion], values[default])
        if args.also_select_on_dev:
            on_dev = copy.deepcopy(base)
            on_dev.train.select_on = "dev"
            run, dev_values = _train(prepare(dataset, on_dev, cache=args.cache), on_dev, "the default, selected on dev")
            if default in values:
                run["vs_selected_on_validation"] = _paired(dev_values, values[default])
            report["selected_on_dev"] = run
    print(json.dumps(report, indent=2))
    return 0


def _train(prepared, config: RunConfig, what: str) -> tuple[dict, object]:
    """Train and evaluate one config: its report entry and its per-impression dev metrics."""
    print(f"training {what} for up to {config.train.epochs} epochs", file=sys.stderr)
    started = time.perf_counter()
    result, metrics = train_and_evaluate(prepared, config)
    dev = prepared.dev
    scores = result.recommender.over(prepared.eval_catalog).score(dev)
    print(f"{what}: dev AUC {metrics['model']['auc']:.4f}", file=sys.stderr)
    entry = {**_report(metrics), "selected_on": metrics["selected_on"], "best_epoch": result.best_epoch,
             "epochs_run": len(result.history), "train_seconds": round(time.perf_counter() - started, 2)}
    return entry, per_impression_metrics_csr(dev.labels, scores, dev.candidate_ptr)


def _paired(a, b) -> dict:
    """a minus b per metric, rounded: difference, 95% CI, Wilcoxon p."""
    return {m: {k: (round(v, 4) if isinstance(v, float) and k != "p_value" else v) for k, v in c.items()
                if k in ("difference", "ci_low", "ci_high", "p_value", "impressions")}
            for m, c in paired_comparison(a, b).items()}


if __name__ == "__main__":
    sys.exit(main())
