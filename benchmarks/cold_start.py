"""Cold start measured the way a person uses it: picked categories, a typed sentence, then the first clicks.

    .venv/bin/python benchmarks/cold_start.py --preset demo --epochs 3          # generates demo, trains (hashing)
    .venv/bin/python benchmarks/cold_start.py --preset tiny --epochs 1          # a quick check
    .venv/bin/python benchmarks/cold_start.py --run RUN --out result.json       # a trained run (its own dataset)

Prints one JSON object (and writes it to ``--out``). The dev split's cold users (never seen in training) are
scored on their dev impressions with only the first 0, 1, 3 and 5 clicks of their history revealed (a user
with fewer clicks reveals all they have; ``impressions_with_enough_clicks`` counts those who had the number).
What a person would state, from the planted truth (synthetic data only): their top subcategories by mean true
click probability over their dev candidates, the best one and the second when its mean is at least half the
best's. The **picks** are those subcategories' categories (1-2, as chosen from the category list); the
**sentence** is "I follow W1 W2 and W3 W4", two words of each topic (the drift words of world v3 when
``world_vocab.TOPIC_WORDS_V3`` exists, so the words are not the training titles' own).

Methods, each served as :mod:`recengine.serve.coldstart` serves it (stated interests interleaved with the
clicks' ranking, whose share is n / (n + c)), scored by the rank-interleaved order
(:func:`~recengine.serve.coldstart.interleaved_scores`):

- ``popularity``: no stated interest: the popularity prior at 0 clicks (clicks of the 36 hours before each
  impression plus the freshness boost), the model over the revealed clicks after;
- ``picks``: each pick's ranking is its category's candidates first, by the model with the category's
  prototype as the history; ``picks_model_only`` the same without putting the category first;
- ``text``: one interest per clause of the sentence; ``text_whole`` the sentence as one interest (no split);
  ``text_top2_subcategories`` the sentence read as picks of the two subcategories whose prototypes are nearest
  to it in article space;
  ``picks_text``: picks and clauses together.

Beside them: random and the oracle on the same cold impressions, ``full_history`` (cold users with every click),
and ``crossover``: the picks+text blend's AUC at 1, 3 and 5 clicks for several c, the chosen c (best mean), and
where the history alone first beats the stated interests alone.
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
import pandas as pd
import torch

from recengine.data import world_vocab
from recengine.eval.evaluate import evaluate_scores
from recengine.model.interactions import Interactions, build_interactions, click_log
from recengine.model.recommender import Recommender
from recengine.serve.coldstart import (
    CLICKS_CROSSOVER,
    POPULAR_WINDOW_HOURS,
    article_ages,
    clauses,
    interest_item,
    interleaved_scores,
    neutral_views,
    pick_rows,
    prior_scores,
    prototype,
    shares,
    user_vector,
)
from recengine.text import embed_texts, get_embedder
from recengine.train.runs import load_run, split_view

REVEALED = (0, 1, 3, 5)
LONGER = (10, 20)  # more clicks, for where the history alone catches up (few cold users have that many)
CROSSOVERS = (1.0, 2.0, 3.0, 5.0, 8.0)
SLOTS = 2  # stated interests of each kind per user (picks, clauses)
FIRST = 1000.0  # puts a pick's own category first in its ranking
METRICS = ("auc", "ndcg@10")
V3 = getattr(world_vocab, "TOPIC_WORDS_V3", None)
TOPIC_WORDS = {sub: words for _, subs in world_vocab.TAXONOMY.values() for sub, words in subs.items()}


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



def true_topics(inter: Interactions, truth: np.ndarray, subcategories: np.ndarray) -> dict[str, list[str]]:
    """user id -> their best subcategory by mean true click probability, and the second when it has half of it."""
    frame = pd.DataFrame({
        "user": inter.user_ids[inter.candidate_rows], "sub": subcategories[inter.candidates], "p": truth,
    })
    means = frame.groupby(["user", "sub"])["p"].mean().reset_index().sort_values(["user", "p"], ascending=[True, False])
    out = {}
    for user, group in means.groupby("user", sort=False):
        subs, p = group["sub"].tolist(), group["p"].to_numpy()
        out[user] = subs[:2] if len(subs) > 1 and p[1] >= 0.5 * p[0] else subs[:1]
    return out


def sentence(subs: list[str], rng: np.random.Generator) -> str:
    """"I follow W1 W2 and W3 W4": two words a person might type for each topic (v3's drift words when present)."""
    parts = []
    for sub in subs:
        words = list(V3[sub][1]) if V3 and sub in V3 else list(TOPIC_WORDS.get(sub, (sub,)))
        parts.append(" ".join(rng.choice(words, size=min(2, len(words)), replace=False)))
    return "I follow " + " and ".join(parts)


@torch.no_grad()
def stated_scores(rec: Recommender, inter: Interactions, cold: np.ndarray, stated: dict[str, list[tuple]]) -> np.ndarray:
    """(slots, C) scores of each user's stated interests (label, item (1, d), rows or None); 0 in empty slots.

    A user vector per (interest, impression time): the interest item is the one history item.
    """
    slots = max((len(v) for v in stated.values()), default=0)
    out = np.zeros((max(slots, 1), len(inter.candidates)), dtype=np.float64)
    vectors: dict[tuple[str, int], torch.Tensor] = {}
    for i in np.flatnonzero(cold):
        now = int(inter.times[i])
        c0, c1 = inter.candidate_ptr[i], inter.candidate_ptr[i + 1]
        rows = inter.candidates[c0:c1]
        for slot, (label, item, own) in enumerate(stated.get(inter.user_ids[i], ())):
            key = (label, now)
            if key not in vectors:
                vectors[key] = user_vector(rec, np.zeros(0, dtype=np.int64), -1, now, item)
            logits = rec.score_pairs(vectors[key].expand(len(rows), -1), rows, np.full(len(rows), now)).numpy()
            out[slot, c0:c1] = logits + (FIRST * np.isin(rows, own) if own is not None else 0.0)
    return out


def blend(inter: Interactions, interests: np.ndarray, n_interests: np.ndarray, clicks: np.ndarray | None,
          revealed: np.ndarray, crossover: float) -> np.ndarray:
    """(C,) interleaved order of the interests (slots, C) and the clicks' scores at each impression's shares."""
    sources = [*interests] + ([clicks] if clicks is not None else [])
    weights = np.zeros((len(sources), len(inter)))
    for i in range(len(inter)):
        n = int(revealed[i]) if clicks is not None else 0
        share = shares(int(n_interests[i]), n, crossover)
        weights[: n_interests[i], i] = share[: n_interests[i]]
        if n:
            weights[-1, i] = share[-1]
    return interleaved_scores(np.stack(sources), weights, inter.candidate_ptr)


def metrics(inter: Interactions, scores: np.ndarray, cold: np.ndarray, truth=None) -> dict:
    """Cold-slice AUC and nDCG@10 of ``scores`` (and the full evaluation, for the baselines)."""
    every = np.ones(len(inter.candidates), dtype=bool)
    result = evaluate_scores(inter, np.where(cold[inter.candidate_rows], scores, 0.0), {"cold": (cold, every)},
                             truth=truth)
    return result


def pick(result: dict, scorer: str | None = None) -> dict:
    where = result["slices"]["cold"] if scorer is None else result["baselines"]["cold"][scorer]
    return {m: None if where.get(m) is None else round(float(where[m]), 4) for m in METRICS}


def train_or_load(args: argparse.Namespace, tmp: Path) -> Path:
    if args.run is not None and args.run.exists():
        return args.run
    from recengine.config import ModelConfig, RunConfig, TrainConfig
    from recengine.data.synthetic import generate
    from recengine.train.api import train_run

    print(f"generating {args.preset}, training {args.epochs} epochs ({args.embedder})", file=sys.stderr)
    data = tmp / "data" if args.run is None else args.run.with_name(args.run.name + "-data")
    generate(args.preset, 0, data)
    run = args.run or tmp / "run"
    train_run(data, RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs)), out=run)
    return run


def stated_interests(rec, embedder, topics, catalog) -> tuple[dict, dict, dict]:
    """user -> picks [(label, prototype, rows)], clauses [(label, item, None)], the whole sentence as one interest,
    the sentence's two nearest subcategory prototypes as picks, and what each user stated."""
    now = int(catalog.first_seen.max())
    categories = catalog.frame.set_index("subcategory")["category"].to_dict()
    protos = {}
    picks, texts, said = {}, {}, {}
    rng = np.random.default_rng(0)
    for user, subs in topics.items():
        chosen = list(dict.fromkeys(categories[s] for s in subs))
        for c in chosen:
            if c not in protos:
                rows = pick_rows(catalog, c)
                protos[c] = (c, prototype(rec, rows, now), rows)
        picks[user] = [protos[c] for c in chosen]
        typed = sentence(subs, rng)
        texts[user] = clauses(typed)
        said[user] = {"picks": chosen, "sentence": typed}
    inputs = neutral_views(rec)
    unique = sorted({c for parts in texts.values() for c in parts} | {s["sentence"] for s in said.values()})
    vectors, _ = embed_texts(unique, embedder)
    items = {c: (c, interest_item(rec, inputs, v), None) for c, v in zip(unique, vectors)}
    whole = {u: [items[s["sentence"]]] for u, s in said.items()}
    nearest = nearest_prototypes(rec, catalog, now, {s: items[s][1] for s in {x["sentence"] for x in said.values()}})
    read = {u: nearest[s["sentence"]] for u, s in said.items()}
    return picks, {u: [items[c] for c in parts] for u, parts in texts.items()}, whole, read, said


def nearest_prototypes(rec, catalog, now: int, sentences: dict[str, torch.Tensor], n: int = 2) -> dict[str, list]:
    """sentence -> its ``n`` nearest subcategory prototypes by cosine in article space, each as a pick."""
    subs = sorted(s for s in catalog.frame["subcategory"].unique() if s)
    rows = {s: np.flatnonzero(catalog.frame["subcategory"].to_numpy() == s) for s in subs}
    protos = torch.cat([prototype(rec, rows[s], now) for s in subs])
    protos = torch.nn.functional.normalize(protos, dim=1)
    out = {}
    for sentence, item in sentences.items():
        near = (protos @ torch.nn.functional.normalize(item, dim=1)[0]).topk(min(n, len(subs))).indices.tolist()
        out[sentence] = [(subs[i], protos[i : i + 1], rows[subs[i]]) for i in near]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", help="synthetic preset to generate and train on (default: demo)")
    parser.add_argument("--run", type=Path, help="a trained run (default: train one); trained there when absent")
    parser.add_argument("--embedder", default="hashing", help="text embedder when training (default: hashing)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs when training (default: 3)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cold-start-bench-") as tmp:
        os.environ.setdefault("RECENGINE_HOME", str(Path(tmp) / "home"))
        run = train_or_load(args, Path(tmp))
        result = measure(run, started)
    text = json.dumps(result, indent=2)
    if args.out is not None:
        from recengine.atomic import write_text

        write_text(args.out, text + "\n")
    print(text)
    return 0


def measure(run: Path, started: float) -> dict:
    loaded = load_run(run)
    base = loaded.recommender
    embedder = get_embedder(base.config.model.embedder)
    dataset = loaded.dataset
    print("scoring the dev split", file=sys.stderr)
    with_times = base.config.model.user_encoder == "transformer"
    catalog, dev, truth = split_view(base.catalog, base.users, dataset, "dev", embedder=embedder, with_times=with_times)
    if truth is None:
        raise SystemExit("this benchmark reads the planted truth: use a synthetic dataset")
    rec = base.over(catalog)
    cold = ~rec.trained_users(dev.user_rows)
    topics = true_topics(dev, truth, catalog.frame["subcategory"].to_numpy())
    picks, texts, whole, read, said = stated_interests(rec, embedder, topics, catalog)
    print("scoring the stated interests", file=sys.stderr)
    combined = {u: picks.get(u, []) + texts.get(u, []) for u in topics}
    methods = {
        "picks": (stated_scores(rec, dev, cold, picks), picks),
        "text": (stated_scores(rec, dev, cold, texts), texts),
        "text_whole": (stated_scores(rec, dev, cold, whole), whole),
        "text_top2_subcategories": (stated_scores(rec, dev, cold, read), read),
        "picks_text": (stated_scores(rec, dev, cold, combined), combined),
    }
    model_only = methods["picks"][0] - FIRST * (methods["picks"][0] >= FIRST / 2)
    methods["picks_model_only"] = (model_only, picks)
    counts = {name: np.array([len(by_user.get(u, ())) for u in dev.user_ids]) for name, (_, by_user) in methods.items()}
    clicks_log = click_log([build_interactions(dataset.train.behaviors, catalog, base.users), dev])
    prior = popularity(dev, clicks_log["row"].to_numpy(), clicks_log["time"].to_numpy(), rec)
    reference = metrics(dev, rec.score(dev), cold, truth)
    lengths = np.diff(dev.history_ptr)
    history = {n: rec.score(first_clicks(dev, n)) for n in (*REVEALED, *LONGER) if n}
    revealed = {}
    for n in REVEALED:
        print(f"revealing {n} clicks", file=sys.stderr)
        shown = np.minimum(lengths, n)
        clicks = history.get(n)
        entry = {"popularity": pick(metrics(dev, prior if clicks is None else clicks, cold))}
        for name, (scores, _) in methods.items():
            entry[name] = pick(metrics(dev, blend(dev, scores, counts[name], clicks, shown, CLICKS_CROSSOVER), cold))
        entry["impressions_with_enough_clicks"] = int((lengths[cold] >= n).sum())
        revealed[str(n)] = entry
    return {
        "run": str(run),
        "preset": (dataset.meta or {}).get("preset"),
        "world_version": (dataset.meta or {}).get("world_version", 2),
        "embedder": base.config.model.embedder,
        "epochs_trained": loaded.meta.get("best_epoch"),
        "cold_users": int(len(set(dev.user_ids[cold]))),
        "cold_impressions": int(cold.sum()),
        "cold_history_clicks": {"mean": round(float(lengths[cold].mean()), 2), "max": int(lengths[cold].max())},
        "picks_per_user": round(float(np.mean([len(s["picks"]) for s in said.values()])), 2),
        "example": next(iter(said.values())),
        "clicks_crossover": CLICKS_CROSSOVER,
        "revealed": revealed,
        "random": pick(reference, "random"),
        "oracle": pick(reference, "oracle"),
        "full_history": pick(reference),
        "crossover": crossover(dev, methods["picks_text"][0], counts["picks_text"], history, lengths, cold),
        "cold_impressions_with_clicks": {str(n): int((lengths[cold] >= n).sum()) for n in LONGER},
        "seconds": round(time.perf_counter() - started, 1),
    }


def crossover(dev, scores, n_interests, history, lengths, cold) -> dict:
    """The picks+text blend's AUC per c at 1, 3 and 5 clicks, the best c (highest mean), and the stated-only vs
    history-only AUCs (at 1, 3, 5, 10 and 20 clicks: a user with fewer reveals all they have)."""
    by_c = {}
    for c in CROSSOVERS:
        by_c[str(c)] = {str(n): pick(metrics(dev, blend(dev, scores, n_interests, clicks, np.minimum(lengths, n), c),
                                             cold))["auc"] for n, clicks in history.items() if n in REVEALED}
    best = max(by_c, key=lambda c: np.mean(list(by_c[c].values())))
    stated = pick(metrics(dev, blend(dev, scores, n_interests, None, lengths, 1.0), cold))["auc"]
    alone = {str(n): pick(metrics(dev, clicks, cold))["auc"] for n, clicks in history.items()}
    first = next((int(n) for n, value in alone.items() if value >= stated), None)
    return {"blend_auc_by_c": by_c, "best_c": float(best), "stated_alone_auc": stated, "history_alone_auc": alone,
            "history_beats_stated_from_clicks": first}


if __name__ == "__main__":
    sys.exit(main())
