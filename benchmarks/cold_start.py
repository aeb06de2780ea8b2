"""Cold start: how fast a new user's recommendations improve as their first clicks arrive.

    .venv/bin/python benchmarks/cold_start.py --preset demo              # generates demo, trains (hashing)
    .venv/bin/python benchmarks/cold_start.py --preset tiny --epochs 1   # a quick check
    .venv/bin/python benchmarks/cold_start.py --run RUN                  # a trained run (its own dataset)

Prints one JSON object. The dev split's cold users (never seen in training) are scored on their dev
impressions with only the first 0, 1, 3 and 5 clicks of their history revealed (a user with fewer
clicks reveals all they have; ``impressions_with_enough_clicks`` counts those who had the number):

- ``no_interest``: the model over the revealed clicks; with 0 clicks, the popularity prior of
  :mod:`recengine.serve.coldstart` (clicks of the 36 hours before each impression, from train and
  earlier dev impressions, plus the freshness boost);
- ``model_empty_history`` (0 clicks only): the model's own vector for a user with no history;
- ``true_topic_interest``: the same, plus an interest text made of the topic words of the user's true
  favourite subcategory (the one with the highest mean true click probability over their dev candidates,
  read from the planted truth, so an upper reference like the oracle; synthetic data only). As in
  serving, the interest item is dropped once 3 clicks are revealed.

Beside them: ``full_history`` (cold users with every click they have), ``warm_users`` (the model on
users seen in training), and random and oracle AUC on the same cold impressions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from recengine.data.world_vocab import TAXONOMY
from recengine.eval.evaluate import evaluate_scores
from recengine.model.interactions import Interactions, build_interactions, click_log
from recengine.model.recommender import Recommender
from recengine.serve.coldstart import (
    POPULAR_WINDOW_HOURS,
    article_ages,
    interest_item,
    neutral_views,
    prior_scores,
    user_vector,
)
from recengine.text import embed_texts, get_embedder
from recengine.train.runs import load_run, split_view

REVEALED = (0, 1, 3, 5)
TOPIC_WORDS = {sub: words for _, subs in TAXONOMY.values() for sub, words in subs.items()}


def first_clicks(inter: Interactions, n: int) -> Interactions:
    """The same impressions with each history cut to its first ``n`` clicks."""
    lengths = np.minimum(np.diff(inter.history_ptr), n)
    keep = np.arange(len(inter.history)) - np.repeat(inter.history_ptr[:-1], np.diff(inter.history_ptr))
    keep = keep < np.repeat(lengths, np.diff(inter.history_ptr))
    ptr = np.zeros(len(inter) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    return Interactions(
        impression_ids=inter.impression_ids, user_ids=inter.user_ids, user_rows=inter.user_rows, times=inter.times,
        history_ptr=ptr, history=inter.history[keep], candidate_ptr=inter.candidate_ptr,
        candidates=inter.candidates, labels=inter.labels,
        history_times=None if inter.history_times is None else inter.history_times[keep],
    )


def popularity(inter: Interactions, clicks_rows: np.ndarray, clicks_times: np.ndarray, rec: Recommender) -> np.ndarray:
    """(C,) popularity prior of every candidate at its impression's time (clicks strictly before it)."""
    # Clicks on the candidate's article with time in [now - window, now): two searches over (row, time) keys.
    keys = np.sort(clicks_rows.astype(np.int64) * 10**10 + clicks_times)
    now = inter.times[inter.candidate_rows]
    cand = inter.candidates.astype(np.int64) * 10**10
    window = POPULAR_WINDOW_HOURS * 3600
    counts = np.searchsorted(keys, cand + now, side="left") - np.searchsorted(keys, cand + now - window, side="left")
    ages = article_ages(rec.catalog, inter.candidates, now)
    return prior_scores(counts, ages)


def true_topics(inter: Interactions, truth: np.ndarray, subcategories: np.ndarray) -> dict[str, str]:
    """user id -> the subcategory with the highest mean true click probability over the user's candidates."""
    import pandas as pd

    frame = pd.DataFrame({
        "user": inter.user_ids[inter.candidate_rows], "sub": subcategories[inter.candidates], "p": truth,
    })
    means = frame.groupby(["user", "sub"])["p"].mean().reset_index()
    best = means.sort_values("p", ascending=False).drop_duplicates("user")
    return dict(zip(best["user"], best["sub"]))


@torch.no_grad()
def interest_scores(
    rec: Recommender, inter: Interactions, cold: np.ndarray, items: dict[str, torch.Tensor], n: int
) -> np.ndarray:
    """(C,) logits with the user's interest item before their first ``n`` clicks (dropped from 3 clicks on)."""
    out = np.zeros(len(inter.candidates), dtype=np.float32)
    for i in np.flatnonzero(cold):
        history = inter.history[inter.history_ptr[i] : inter.history_ptr[i + 1]][:n]
        prefix = items.get(inter.user_ids[i]) if len(history) < 3 else None
        now = int(inter.times[i])
        user = user_vector(rec, history, -1, now, prefix)
        c0, c1 = inter.candidate_ptr[i], inter.candidate_ptr[i + 1]
        rows = inter.candidates[c0:c1]
        out[c0:c1] = rec.score_pairs(user.expand(len(rows), -1), rows, np.full(len(rows), now)).numpy()
    return out


def auc(result: dict, name: str = "cold") -> float | None:
    value = result["slices"][name]["auc"]
    return None if value is None else round(value, 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", help="synthetic preset to generate and train on (default: demo)")
    parser.add_argument("--run", type=Path, help="a trained run (default: train one)")
    parser.add_argument("--embedder", default="hashing", help="text embedder when training (default: hashing)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs when training (default: 3)")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cold-start-bench-") as tmp:
        os.environ.setdefault("RECENGINE_HOME", str(Path(tmp) / "home"))
        run = args.run
        if run is None:
            from recengine.config import ModelConfig, RunConfig, TrainConfig
            from recengine.data.synthetic import generate
            from recengine.train.api import train_run

            print(f"generating {args.preset}, training {args.epochs} epochs ({args.embedder})", file=sys.stderr)
            generate(args.preset, 0, Path(tmp) / "data")
            run = Path(tmp) / "run"
            config = RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs))
            train_run(Path(tmp) / "data", config, out=run)
        loaded = load_run(run)
        base = loaded.recommender
        embedder = get_embedder(base.config.model.embedder)
        dataset = loaded.dataset
        print("scoring the dev split", file=sys.stderr)
        with_times = base.config.model.user_encoder == "transformer"
        catalog, dev, truth = split_view(
            base.catalog, base.users, dataset, "dev", embedder=embedder, with_times=with_times
        )
        rec = base.over(catalog)
        full = rec.score(dev)
        cold = ~rec.trained_users(dev.user_rows)
        every = np.ones(len(dev.candidates), dtype=bool)
        masks = {"cold": (cold, every), "warm": (~cold, every)}
        reference = evaluate_scores(dev, full, masks, truth=truth)
        clicks = click_log([build_interactions(dataset.train.behaviors, catalog, base.users), dev])

        def cold_auc(scores: np.ndarray) -> float | None:
            return auc(evaluate_scores(dev, np.where(cold[dev.candidate_rows], scores, 0.0), {"cold": masks["cold"]}))

        topics = true_topics(dev, truth, catalog.frame["subcategory"].to_numpy()) if truth is not None else {}
        items: dict[str, torch.Tensor] = {}
        if topics:
            inputs = neutral_views(rec)
            texts = sorted(set(topics.values()))
            vectors, _ = embed_texts([" ".join(TOPIC_WORDS.get(t, (t,))) for t in texts], embedder)
            by_topic = {t: interest_item(rec, inputs, v) for t, v in zip(texts, vectors)}
            items = {user: by_topic[t] for user, t in topics.items()}
        lengths = np.diff(dev.history_ptr)[cold]
        revealed = {}
        for n in REVEALED:
            print(f"revealing {n} clicks", file=sys.stderr)
            if n == 0:
                entry = {
                    "no_interest": cold_auc(popularity(dev, clicks["row"].to_numpy(), clicks["time"].to_numpy(), rec)),
                    "model_empty_history": cold_auc(rec.score(first_clicks(dev, 0))),
                }
            else:
                entry = {"no_interest": cold_auc(rec.score(first_clicks(dev, n)))}
            if items:
                entry["true_topic_interest"] = cold_auc(interest_scores(rec, dev, cold, items, n))
            entry["impressions_with_enough_clicks"] = int((lengths >= n).sum())
            revealed[str(n)] = entry
        result = {
            "run": str(run),
            "preset": (dataset.meta or {}).get("preset"),
            "embedder": base.config.model.embedder,
            "epochs_trained": loaded.meta.get("best_epoch"),
            "cold_users": int(len(set(dev.user_ids[cold]))),
            "cold_impressions": int(cold.sum()),
            "cold_history_clicks": {"mean": round(float(lengths.mean()), 2), "max": int(lengths.max())},
            "revealed": revealed,
            "full_history": auc(reference),
            "random": round(reference["baselines"]["cold"]["random"]["auc"], 4),
            "oracle": None if truth is None else round(reference["baselines"]["cold"]["oracle"]["auc"], 4),
            "warm_users": {
                "model": auc(reference, "warm"),
                "random": round(reference["baselines"]["warm"]["random"]["auc"], 4),
                "oracle": None if truth is None else round(reference["baselines"]["warm"]["oracle"]["auc"], 4),
            },
            "seconds": round(time.perf_counter() - started, 1),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
