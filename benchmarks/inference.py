"""Faster inference, measured: torch against ONNX and dynamic-INT8 onnxruntime on the per-request path, one process.

On one trained run (``--run FOLDER`` or stored run id; else ``--preset`` is generated and trained here with
``--embedder`` for ``--epochs``) the per-request path (:mod:`recengine.serve.accelerate`: the user encoder over a
dev user's history, then the scorer over ``--candidates`` catalogue articles, as ``ranking`` serves) is timed for
torch, ONNX and INT8, interleaved call by call so machine noise hits all three alike, in three settings:

- ``request``: one user, ``--candidates`` candidates (a cache miss in the service);
- ``cached_user``: the scorer alone over the candidates (a user-vector cache hit);
- ``batch``: ``--batch`` users, ``--candidates`` candidates each.

Each gives p50/p95/p99/mean over ``--repeats`` calls after ``--warmup``, in wall-clock milliseconds
(``latency_ms``: what a caller waits, inflated on a busy machine whenever another process holds the core) and in
the calling thread's CPU milliseconds (``cpu_ms``: the work itself; with ``--threads 1`` the keep/drop decision
reads these, since wall-clock figures on a shared 2-core machine are mostly the other processes' noise). Then
every dev impression is scored through each path and each variant's dev AUC is compared with torch's by the
paired bootstrap of :func:`recengine.eval.significance.compare_scores` (as ``compare_runs``). A variant is kept by
the issue's rule: measurably faster on a single request (p50 at least ``FASTER`` below torch's and p95 not above
it) at an AUC cost inside the noise (the paired 95% interval of the difference contains 0, or |difference| < its
half-width).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.store import Store
from recengine.data.synthetic import generate
from recengine.eval.significance import RESAMPLES, compare_scores
from recengine.model.interactions import Interactions, pad_last
from recengine.model.recommender import Recommender
from recengine.serve.accelerate import VARIANTS, export_scorers
from recengine.text import EmbeddingCache
from recengine.train.api import train_run
from recengine.train.runs import load_run, model_on_split
from recengine.workspace import Workspace

FASTER = 0.10  # "measurably faster": a median at least 10% below torch's (timings on a shared machine are noisy)
PATHS = ("torch",) + VARIANTS


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder or stored run id (default: train --preset here)")
    parser.add_argument("--preset", default="tiny", help="synthetic preset to generate and train without --run")
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of torch and onnxruntime alike")
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in ("repeats", "threads", "candidates", "batch", "resamples", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    return args


def _run_folder(args: argparse.Namespace, cache: EmbeddingCache) -> tuple[Path, dict]:
    """The run to measure, and how it was obtained."""
    if args.run:
        folder = Path(args.run)
        if not folder.is_dir():
            with Store(Workspace.default().store_path) as store:
                record = store.run(args.run)
            if record is None:
                sys.exit(f"inference benchmark: no run folder or stored run id {args.run!r}")
            folder = Path(record["path"])
        return folder, {"run": str(folder)}
    root = Path(tempfile.mkdtemp(prefix="inference-bench-"))
    generate(args.preset, args.seed, root / args.preset)
    config = RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs))
    print(f"training {args.preset} ({args.embedder}, {args.epochs} epochs) in {root}", file=sys.stderr)
    train_run(root / args.preset, config, out=root / "run", cache=cache)
    return root / "run", {"preset": args.preset, "embedder": args.embedder, "epochs": args.epochs}


def _requests(inter: Interactions, n_articles: int, length: int, args: argparse.Namespace) -> list[dict]:
    """``warmup + repeats`` inputs, each ``--batch`` dev users (their real histories) and random candidates."""
    rng = np.random.default_rng(args.seed)
    out = []
    for _ in range(args.warmup + args.repeats):
        rows = rng.integers(0, len(inter), args.batch)
        history, mask = pad_last(inter.history_ptr, inter.history, rows, length)
        out.append({"history": history, "mask": mask, "user_rows": inter.user_rows[rows], "now": inter.times[rows],
                    "candidates": rng.integers(0, n_articles, (args.batch, args.candidates))})
    return out


def _request(scorer: Recommender, req: dict, users: int) -> torch.Tensor:
    """The per-request path for the first ``users`` users of ``req``: user vectors, then every candidate scored."""
    vectors = scorer.user_vectors(req["history"][:users], req["mask"][:users], req["user_rows"][:users],
                                  req["now"][:users])
    return _cached(scorer, req, users, vectors)


def _cached(scorer: Recommender, req: dict, users: int, vectors: torch.Tensor) -> torch.Tensor:
    """The scorer alone, as on a user-vector cache hit (``ranking``: ``score_pairs(user.expand(...), rows, now)``)."""
    count = req["candidates"].shape[1]
    owner = np.repeat(np.arange(users), count)
    return scorer.score_pairs(vectors[torch.from_numpy(owner)], req["candidates"][:users].ravel(),
                              req["now"][:users][owner])


def _summary(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 4), "p95": round(float(np.percentile(ms, 95)), 4),
            "p99": round(float(np.percentile(ms, 99)), 4), "mean": round(float(ms.mean()), 4)}


def _latency(scorers: dict[str, Recommender], requests: list[dict], args: argparse.Namespace) -> tuple[dict, dict]:
    """Wall-clock and CPU {setting: {path: summary}}: every call of every path interleaved, the order rotated per
    call. CPU time is the calling thread's (``time.thread_time``): with one intra-op thread torch and onnxruntime
    both compute on the caller, so it is their cost without the time other processes took the core away."""
    # the cached vector every path's scorer reads on a hit (the cache holds what the serving path computed)
    user = {i: scorers["torch"].user_vectors(r["history"][:1], r["mask"][:1], r["user_rows"][:1], r["now"][:1])
            for i, r in enumerate(requests)}
    settings = {"request": lambda s, i: _request(s, requests[i], 1),
                "cached_user": lambda s, i: _cached(s, requests[i], 1, user[i]),
                "batch": lambda s, i: _request(s, requests[i], args.batch)}
    wall, cpu = {}, {}
    for setting, call in settings.items():
        times = {name: ([], []) for name in scorers}
        for i in range(len(requests)):
            names = list(scorers)
            names = names[i % len(names):] + names[: i % len(names)]
            for name in names:
                started, started_cpu = time.perf_counter(), time.thread_time()
                call(scorers[name], i)
                if i >= args.warmup:
                    times[name][0].append(time.perf_counter() - started)
                    times[name][1].append(time.thread_time() - started_cpu)
        wall[setting] = {name: _summary(values[0]) for name, values in times.items()}
        cpu[setting] = {name: _summary(values[1]) for name, values in times.items()}
    return wall, cpu


def _dev(scorers: dict[str, Recommender], inter: Interactions, resamples: int, seed: int) -> dict:
    """Every dev impression scored through each path: AUC, seconds, and each variant against torch (paired)."""
    scores, out = {}, {}
    for name, scorer in scorers.items():
        started = time.perf_counter()
        scores[name] = scorer.score(inter)
        out[name] = {"seconds": round(time.perf_counter() - started, 3)}
    for name in scorers:
        compared = compare_scores(inter.labels, inter.candidate_ptr, scores[name], scores["torch"],
                                  resamples=resamples, seed=seed)["metrics"]["auc"]
        out[name]["auc"] = round(compared["a"], 5)
        if name != "torch":
            out[name].update({
                "auc_difference": compared["difference"], "ci_low": compared["ci_low"],
                "ci_high": compared["ci_high"], "p_value": compared["p_value"],
                "max_abs_logit_difference": float(np.abs(scores[name] - scores["torch"]).max())})
    return out


def _decide(latency: dict, dev: dict, variant: str) -> dict:
    """The issue's rule for one variant: measurably faster (single request, in ``latency``: CPU time with one
    thread, else wall clock) at an AUC cost inside the noise."""
    torch_ms, ms = latency["request"]["torch"], latency["request"][variant]
    faster = ms["p50"] <= (1 - FASTER) * torch_ms["p50"] and ms["p95"] <= torch_ms["p95"]
    d = dev[variant]
    half_width = (d["ci_high"] - d["ci_low"]) / 2
    within = d["ci_low"] <= 0 <= d["ci_high"] or abs(d["auc_difference"]) < half_width
    return {"keep": bool(faster and within), "faster": bool(faster), "auc_within_noise": bool(within),
            "request_speedup": round(torch_ms["p50"] / ms["p50"], 3)}


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)  # the same intra-op threads for torch and onnxruntime
    cache = EmbeddingCache(Workspace.default().cache / "embeddings")
    folder, source = _run_folder(args, cache)
    loaded = load_run(folder, cache=cache)
    model, inter, _ = model_on_split(loaded.recommender, loaded.dataset, "dev", cache=cache)
    model.article_vectors()  # the per-catalogue work every path shares, done once before timing
    scorers: dict[str, Recommender] = {"torch": model}
    started = time.perf_counter()
    scorers.update(export_scorers(model, VARIANTS, threads=args.threads, seed=args.seed))
    exports = {"exporter": scorers["onnx"].exporter, "seconds": round(time.perf_counter() - started, 2),
               "check_max_abs_difference": {v: scorers[v].check for v in VARIANTS}}
    requests = _requests(inter, len(model.catalog), model.config.model.max_history, args)
    latency, cpu = _latency(scorers, requests, args)
    dev = _dev(scorers, inter, args.resamples, args.seed)
    basis = "cpu_ms" if args.threads == 1 else "latency_ms"  # a caller's CPU time misses worker threads
    out = {**source, "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
           "candidates": args.candidates, "batch": args.batch, "dev_impressions": len(inter),
           "articles": len(model.catalog), "export": exports, "latency_ms": latency, "cpu_ms": cpu,
           "speedup_p50": {f"{kind}.{setting}": {v: round(row["torch"]["p50"] / row[v]["p50"], 3) for v in VARIANTS}
                           for kind, table in (("latency_ms", latency), ("cpu_ms", cpu))
                           for setting, row in table.items()},
           "dev": dev, "decision_basis": basis,
           "decision": {v: _decide(cpu if basis == "cpu_ms" else latency, dev, v) for v in VARIANTS}}
    # does INT8's approximation buy anything over exact ONNX? (the same rule: >= FASTER on a single request)
    table = out[basis]["request"]
    out["int8_over_onnx_request_speedup"] = round(table["onnx"]["p50"] / table["int8"]["p50"], 3)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
