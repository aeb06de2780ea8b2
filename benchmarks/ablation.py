"""A paired ablation: a base config against variants of it, over several seeds, on every slice.

    .venv/bin/python benchmarks/ablation.py --preset demo --seeds 0,1,2 \\
        --variants "hardneg:hard_negatives=impression+recall" "focal:focal_gamma=2" \\
                   "oversample:loss=bce,class_balance=oversample" "category:category_aux_weight=0.3"
    .venv/bin/python benchmarks/ablation.py --preset tiny --embedder hashing --epochs 1 --variants "focal:focal_gamma=2"
    .venv/bin/python benchmarks/ablation.py --data ~/mind-small --variants "no_text:views=id,graph"

A variant is ``NAME:setting=value,setting=value`` (settings by their Python name, values as on the command line,
checked by the run schema; a value may hold commas, as ``views=id,graph``). Every config is validated before
anything is generated, embedded or trained. Each preparation (embedding, mapping) is done once and shared by
every config that reads the same one (same embedder, text fields, user encoder and selection split).

Every run selects its best epoch on the validation split carved from train (as ``train_and_evaluate``), is
evaluated on dev, and is set beside the random scorer (seeded with the run's seed) and the oracle (the true
click probabilities, when the data has them). Prints ONE JSON object; per variant and per slice (overall, warm,
new_articles, cold_users):

- ``auc`` and ``ndcg@10``: the mean over seeds and each seed's value;
- ``share_of_oracle``: (model - random) / (oracle - random) of the AUC, from per-impression AUCs averaged over
  seeds, with a 95% paired bootstrap interval over impressions (``scipy.stats.bootstrap``, the model, random and
  oracle values of an impression resampled together), and each seed's value;
- ``vs_base`` (variants only): the per-impression difference from the base, averaged over seeds, for auc and
  ndcg@10: mean, 95% paired-bootstrap CI and Wilcoxon p (:func:`recengine.eval.significance.paired_comparison`
  through :func:`recengine.app.experiments.against_reference`); ``distinguishable`` when the CI excludes 0.

Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import stats

from recengine.app.experiments import _slice_values, against_reference
from recengine.config import EMBEDDERS, ModelConfig, RunConfig, TrainConfig, every_setting
from recengine.data.mind import load_dataset
from recengine.data.synthetic import PRESETS, generate
from recengine.errors import InputError
from recengine.eval.evaluate import SLICES, model_slice_facts, random_scores, share_of_oracle, train_impression_users
from recengine.eval.significance import CONFIDENCE, RESAMPLES
from recengine.train.trainer import Prepared, Trainer, prepare, resolve_device

BASE = "base"
REPORTED = ("auc", "ndcg@10")
ALL_SLICES = ("overall", *SLICES)
# What a preparation depends on: configs that agree on these share one.
PREPARED_BY = (("model", "embedder"), ("model", "text_fields"), ("model", "user_encoder"),
               ("train", "select_on"), ("train", "validation_fraction"))


@dataclass
class Judged:
    """One method's per-impression values on dev, per slice: (labels, ptr, per-impression metric frame) for
    every seed, and the random scorer's and the oracle's frames (the oracle's is None without a truth)."""

    model: dict[str, list] = field(default_factory=dict)
    random: dict[str, list] = field(default_factory=dict)
    oracle: dict[str, object] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- the variants


def parse_variant(text: str, base: RunConfig) -> tuple[str, RunConfig]:
    """``NAME:key=value,key=value`` -> (name, the base with those settings, validated); InputError naming the
    variant and the setting otherwise."""
    name, colon, rest = text.partition(":")
    if not colon or not name.strip() or not rest.strip():
        raise InputError(f"variant {text!r} must read NAME:setting=value[,setting=value]")
    name = name.strip()
    if name == BASE:
        raise InputError(f"variant name {BASE!r} is the base config's; choose another")
    settings = {s.name: (part, s) for part, s in every_setting()}
    parts = {"model": {}, "train": {}}
    for assignment in _assignments(rest):
        key, equals, value = assignment.partition("=")
        key = key.strip()
        if not equals or key not in settings:
            raise InputError(f"variant {name}: {key!r} is not a run setting (one of {', '.join(settings)})")
        part, s = settings[key]
        parts[part][key] = _value(s, value.strip(), f"variant {name}: {key}")
    config = RunConfig(replace(base.model, **parts["model"]), replace(base.train, **parts["train"]))
    try:
        return name, config.validate()
    except InputError as exc:
        raise InputError(f"variant {name}: {exc}") from None


def _value(s, text: str, what: str):
    """A setting's value from its text (booleans as true/false), checked by the schema."""
    if s.kind != "bool":
        return s.parse(text, what)
    if text.lower() not in ("true", "false"):
        raise InputError(f"{what} must be true or false; got {text!r}")
    return text.lower() == "true"


def _assignments(text: str) -> list[str]:
    """Split on commas, keeping a piece without '=' with the value before it (``views=id,graph``)."""
    pieces: list[str] = []
    for piece in text.split(","):
        if "=" in piece or not pieces:
            pieces.append(piece)
        else:
            pieces[-1] += "," + piece
    return pieces


def _preparation_key(config: RunConfig) -> tuple:
    return tuple(getattr(getattr(config, part), name) for part, name in PREPARED_BY)


# ---------------------------------------------------------------------------------------- training and judging


def judge_run(prepared: Prepared, config: RunConfig, judged: Judged) -> None:
    """Train ``config`` (selected on validation), score dev, and add this seed's per-impression values per slice."""
    started = time.perf_counter()
    trainer = Trainer(prepared, config)
    result = trainer.fit()
    model = trainer.evaluation_model()
    dev = prepared.dev
    scores = model.score(dev)
    judged.seconds.append(round(time.perf_counter() - started, 2))
    judged.best_epochs.append(result.best_epoch)
    facts = model_slice_facts(model, dev, train_users=train_impression_users(prepared.train, prepared.validation))
    keeps = {"overall": np.ones(len(scores), dtype=bool)}
    for name, (impressions, candidates) in facts.masks().items():
        keeps[name] = candidates & impressions[dev.candidate_rows]
    chance = random_scores(len(scores), config.train.seed)  # the random scorer train_and_evaluate sets beside
    for name, keep in keeps.items():
        judged.model.setdefault(name, []).append(_slice_values(dev, scores, keep))
        judged.random.setdefault(name, []).append(_slice_values(dev, chance, keep))
        if name not in judged.oracle:
            judged.oracle[name] = None if prepared.truth is None else _slice_values(dev, prepared.truth, keep)


def _seed_mean(values: list[tuple]) -> tuple:
    """(labels, ptr, per-impression frame averaged over seeds): every seed judged the same impressions."""
    labels, ptr, frame = values[0]
    for other_labels, other_ptr, _ in values[1:]:
        if not (np.array_equal(labels, other_labels) and np.array_equal(ptr, other_ptr)):
            raise InputError("two seeds were judged on different impressions")
    # NaN (a metric undefined on an impression) depends on the labels alone, so it is NaN in every seed alike.
    return labels, ptr, sum((v[2] for v in values[1:]), frame.copy()) / len(values)


# ---------------------------------------------------------------------------------------- the share of the way


def share_interval(model: np.ndarray, random: np.ndarray, oracle: np.ndarray, *, resamples: int,
                   seed: int = 0) -> dict:
    """(mean model - mean random) / (mean oracle - mean random) over impressions with all three defined, and its
    paired percentile bootstrap interval (impressions resampled with their three values together)."""
    keep = ~(np.isnan(model) | np.isnan(random) | np.isnan(oracle))
    m, r, o = model[keep], random[keep], oracle[keep]
    value = share_of_oracle(m.mean(), r.mean(), o.mean()) if keep.any() else None
    if value is None or keep.sum() < 2:
        return {"value": value, "ci_low": None, "ci_high": None, "impressions": int(keep.sum())}

    def share(a, b, c, axis=-1):
        return (a.mean(axis) - b.mean(axis)) / (c.mean(axis) - b.mean(axis))

    ci = stats.bootstrap((m, r, o), share, paired=True, vectorized=True, n_resamples=resamples,
                         confidence_level=CONFIDENCE, method="percentile", random_state=seed).confidence_interval
    return {"value": round(value, 4), "ci_low": round(float(ci.low), 4), "ci_high": round(float(ci.high), 4),
            "impressions": int(keep.sum())}


# ---------------------------------------------------------------------------------------- the report


def _r(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def slice_report(judged: Judged, name: str, resamples: int) -> dict:
    """One method's figures on one slice: auc and ndcg@10 (mean and per seed), share of the way to the oracle."""
    per_seed = [frame for _, _, frame in judged.model[name]]
    report: dict = {"impressions": int(np.isfinite(per_seed[0]["auc"]).sum())}
    for metric in REPORTED:
        seeds = [_r(np.nanmean(frame[metric])) for frame in per_seed]
        defined = [s for s in seeds if s is not None]
        report[metric] = {"mean": _r(np.mean(defined)) if defined else None, "per_seed": seeds}
    randoms = [frame["auc"].to_numpy(np.float64) for _, _, frame in judged.random[name]]
    report["random_auc"] = _r(np.nanmean(np.mean(randoms, axis=0)))
    oracle = judged.oracle[name]
    if oracle is None:
        report["oracle_auc"] = report["share_of_oracle"] = None
        return report
    oracle_auc = oracle[2]["auc"].to_numpy(np.float64)
    report["oracle_auc"] = _r(np.nanmean(oracle_auc))
    models = [frame["auc"].to_numpy(np.float64) for frame in per_seed]
    report["share_of_oracle"] = share_interval(np.mean(models, axis=0), np.mean(randoms, axis=0), oracle_auc,
                                               resamples=resamples)
    report["share_of_oracle"]["per_seed"] = [
        _r(share_of_oracle(np.nanmean(m), np.nanmean(r), np.nanmean(oracle_auc))) for m, r in zip(models, randoms)]
    return report


def paired_against_base(results: dict[str, Judged], resamples: int) -> dict:
    """Per variant and slice, the seed-averaged per-impression difference from the base (auc and ndcg@10)."""
    values = {method: {name: _seed_mean(j.model[name]) for name in ALL_SLICES} for method, j in results.items()}
    compared = against_reference(values, BASE, resamples=resamples)
    return {method: {name: {m: _paired_figures(compared_slice[m]) for m in REPORTED}
                     for name, compared_slice in slices.items()}
            for method, slices in compared["methods"].items()}


def _paired_figures(paired: dict) -> dict:
    """difference, CI and p, rounded (p to 4 significant digits: small ones must stay readable)."""
    figures = {k: _r(paired[k]) for k in ("difference", "ci_low", "ci_high")}
    p = paired["p_value"]
    figures["p_value"] = None if p is None else float(f"{p:.4g}")
    return {**figures, "distinguishable": paired["distinguishable"], "impressions": paired["impressions"]}


def build_report(results: dict[str, Judged], configs: dict[str, RunConfig], resamples: int) -> dict:
    paired = paired_against_base(results, resamples) if len(results) > 1 else {}
    variants = {}
    for method, judged in results.items():
        slices = {}
        for name in ALL_SLICES:
            slices[name] = slice_report(judged, name, resamples)
            if method in paired:
                slices[name]["vs_base"] = paired[method][name]
        variants[method] = {"command": configs[method].to_cli_args(changed_only=True), "slices": slices,
                            "best_epochs": judged.best_epochs, "seconds_per_seed": judged.seconds,
                            "seconds": round(sum(judged.seconds), 2)}
    return variants


# ---------------------------------------------------------------------------------------- the command


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data", type=Path, help="a MIND dataset folder (train/ and dev/ with labels)")
    where.add_argument("--preset", choices=[p for p in PRESETS if p != "large"],
                       help="generate this synthetic preset (seed 0) in a temporary folder (default: demo)")
    parser.add_argument("--world-version", type=int, default=None, help="the synthetic world's version (--preset)")
    parser.add_argument("--embedder", default="minilm", choices=EMBEDDERS, help="default: minilm")
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs, help=f"default: {TrainConfig().epochs}")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default: 0)")
    parser.add_argument("--variants", nargs="*", default=[], metavar="NAME:SETTING=VALUE[,SETTING=VALUE]",
                        help="the variants to set beside the base config")
    parser.add_argument("--resamples", type=int, default=RESAMPLES, help=f"bootstrap resamples (default {RESAMPLES})")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder (default: the workspace's)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a file of this script's own: every finished (config, seed) is kept there, a later call with "
                             "the same arguments skips them, and --report-only reports what it holds")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: report the seeds --checkpoint holds for every config")
    args = parser.parse_args(argv)
    if args.report_only and args.checkpoint is None:
        parser.error("--report-only needs --checkpoint")
    if args.data is None and args.preset is None:
        args.preset = "demo"
    if args.world_version is not None and args.data is not None:
        parser.error("--world-version applies to --preset only")
    return args


def plan(args: argparse.Namespace) -> tuple[dict[str, RunConfig], list[int]]:
    """The validated configs (base first) and seeds; InputError before any work."""
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--seeds must be comma-separated whole numbers; got {args.seeds!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds must name at least one seed, none twice; got {args.seeds!r}")
    if args.resamples < 1:
        raise InputError(f"--resamples must be at least 1; got {args.resamples}")
    base = RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs))
    try:
        base.validate()
    except InputError as exc:
        raise InputError(f"base config: {exc}") from None
    configs = {BASE: base}
    for text in args.variants:
        name, config = parse_variant(text, base)
        if name in configs:
            raise InputError(f"variant {name!r} is named twice")
        configs[name] = config
    for seed in seeds:
        TrainConfig(seed=seed).validate()
    return configs, seeds


def _load_checkpoint(path: Path | None, configs: dict[str, RunConfig]) -> dict[str, dict]:
    """Per config name, ``{"config", "seeds", "judged"}`` from an earlier call (empty without one). A config whose
    settings changed since is refused: its seeds would not be comparable."""
    if path is None or not path.exists():
        return {}
    with path.open("rb") as f:
        kept = pickle.load(f)  # our own file, written by _save_checkpoint below
    for name, entry in kept.items():
        if name in configs and entry["config"] != configs[name].to_dict():
            raise InputError(f"{path}: config {name!r} was checkpointed with other settings; use another file")
    return kept


def _save_checkpoint(path: Path | None, kept: dict[str, dict]) -> None:
    if path is not None:
        staging = path.with_suffix(path.suffix + ".tmp")
        with staging.open("wb") as f:
            pickle.dump(kept, f)
        staging.replace(path)  # a stop mid-write keeps the previous checkpoint


def run_ablation(data: Path, configs: dict[str, RunConfig], seeds: list[int], *, cache=None,
                 resamples: int = RESAMPLES, checkpoint: Path | None = None, report_only: bool = False) -> dict:
    """Prepare once per distinct preparation, train every config per seed, and build the report.

    With ``checkpoint``, finished (config, seed) pairs are kept after each run and skipped by a later call;
    ``report_only`` reports the seeds every config has in the checkpoint without training."""
    kept = _load_checkpoint(checkpoint, configs)
    if report_only:
        done = [set(kept.get(m, {"seeds": []})["seeds"]) for m in configs]
        seeds = [seed for seed in seeds if all(seed in d for d in done)]
        if not seeds:
            raise InputError(f"{checkpoint}: no seed is finished for every config")
    prepared: dict[tuple, Prepared] = {}
    started = time.perf_counter()
    prepare_seconds = 0.0
    dataset = None
    entries = {method: kept.setdefault(method, {"config": config.to_dict(), "seeds": [], "judged": Judged()})
               for method, config in configs.items()}
    # Seed by seed, so that a stopped ablation has whole seeds (every config) to report.
    for seed in [] if report_only else seeds:
        for method, config in configs.items():
            entry = entries[method]
            if seed in entry["seeds"]:
                continue
            dataset = dataset or load_dataset(data)
            key = _preparation_key(config)
            if key not in prepared:
                print(f"preparing ({config.model.embedder} embedder)", file=sys.stderr)
                begun = time.perf_counter()
                prepared[key] = prepare(dataset, config, cache=cache)
                prepare_seconds += time.perf_counter() - begun
                if prepared[key].dev is None:
                    raise InputError("the ablation needs a dev split with click labels", path=data)
            print(f"training {method}, seed {seed}", file=sys.stderr)
            judge_run(prepared[key], RunConfig(config.model, replace(config.train, seed=seed)), entry["judged"])
            entry["seeds"].append(seed)
            entry["selected_on"] = prepared[key].selected_on
            _save_checkpoint(checkpoint, kept)
            auc = np.nanmean(entry["judged"].model["overall"][-1][2]["auc"])
            print(f"{method}, seed {seed}: dev AUC {auc:.4f}", file=sys.stderr)
    results = {method: _seeds_of(entry, seeds) for method, entry in entries.items()}
    print("comparing", file=sys.stderr)
    report = {"seeds": seeds, "resamples": resamples, "confidence": CONFIDENCE,
              "selected_on": kept[BASE].get("selected_on"),
              "variants": build_report(results, configs, resamples),
              "prepare_seconds": round(prepare_seconds, 2), "seconds": round(time.perf_counter() - started, 2)}
    return report


def _seeds_of(entry: dict, seeds: list[int]) -> Judged:
    """The entry's values for ``seeds`` (in that order) among those it holds."""
    judged: Judged = entry["judged"]
    at = [entry["seeds"].index(seed) for seed in seeds if seed in entry["seeds"]]
    return Judged(
        model={name: [values[i] for i in at] for name, values in judged.model.items()},
        random={name: [values[i] for i in at] for name, values in judged.random.items()},
        oracle=judged.oracle,
        seconds=[judged.seconds[i] for i in at],
        best_epochs=[judged.best_epochs[i] for i in at],
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        configs, seeds = plan(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    head = {"embedder": args.embedder, "epochs": args.epochs,
            "device": resolve_device(configs[BASE].train.device)}
    with tempfile.TemporaryDirectory(prefix="ablation-") as tmp:
        data = args.data
        if data is None:
            version = {} if args.world_version is None else {"world_version": args.world_version}
            print(f"generating the {args.preset} preset", file=sys.stderr)
            meta = generate(args.preset, 0, Path(tmp) / "data", **version)
            data = Path(tmp) / "data"
            head["data"] = f"synthetic {args.preset} preset, seed 0, world version {meta.get('world_version')}"
        else:
            head["data"] = str(data)
        try:
            report = run_ablation(data, configs, seeds, cache=args.cache, resamples=args.resamples,
                                  checkpoint=args.checkpoint, report_only=args.report_only)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(json.dumps({**head, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
