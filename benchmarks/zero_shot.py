"""Zero-shot vs incremental update vs full retrain on articles published after training.

Day 6 (dev) is cut at noon. The base model trains on days 1-5 and scores day-6 articles
zero-shot; the incremental update folds day 6's morning clicks into a copy of it; the
full retrain trains from scratch on days 1-5 plus the morning. All three are judged on the
afternoon's impressions, on the same article set (every article published on day 6), and
also split into articles seen in the morning and articles still unseen by every model.

Prints one JSON object: AUC/MRR/nDCG per method and slice, times, and the ratios
incremental/retrain of time and of quality.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from recengine.config import ModelConfig, RunConfig, TrainConfig
from recengine.data.mind import Behaviors, MindDataset, MindSplit, News, load_dataset, split_by_time, write_split
from recengine.data.synthetic import generate
from recengine.eval.evaluate import evaluate_scores
from recengine.model.recommender import Recommender
from recengine.text import get_embedder
from recengine.train.api import train_run
from recengine.train.incremental import update_run
from recengine.train.runs import load_run, split_view


def slices(inter, catalog, day6: set[str], morning: set[str]) -> dict:
    ids = np.asarray(catalog.articles.ids, dtype=object)[inter.candidates]
    everyone = np.ones(len(inter), dtype=bool)
    is_new = np.fromiter((a in day6 for a in ids), dtype=bool, count=len(ids))
    seen_morning = np.fromiter((a in morning for a in ids), dtype=bool, count=len(ids))
    return {
        "day6_articles": (everyone, is_new),
        "day6_seen_in_morning": (everyone, is_new & seen_morning),
        "day6_unseen": (everyone, is_new & ~seen_morning),
    }


def judge(recommender: Recommender, dataset: MindDataset, day6: set[str], morning: set[str], embedder) -> dict:
    catalog, inter, truth = split_view(
        recommender.catalog, recommender.users, dataset, "dev", embedder=embedder,
        with_times=recommender.config.model.user_encoder == "transformer",
    )
    scorer = recommender.over(catalog)
    result = evaluate_scores(inter, scorer.score(inter), slices(inter, catalog, day6, morning), truth=truth)
    pick = lambda m: {k: (None if m[k] is None else round(m[k], 4)) for k in ("auc", "mrr", "ndcg@5", "ndcg@10")}  # noqa: E731
    return {
        "overall": pick(result["model"]),
        **{name: pick(m) for name, m in result["slices"].items()},
        "baselines": {name: {"random_auc": round(b["random"]["auc"], 4), "oracle_auc": b["oracle"] and round(b["oracle"]["auc"], 4)}
                      for name, b in result["baselines"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--data", type=Path, default=None, help="use this dataset instead of generating the preset")
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--update-epochs", type=int, default=2)
    parser.add_argument("--full-epochs", type=int, default=1)
    parser.add_argument("--lr-decay", type=float, default=0.3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zeroshot-"))
    root = args.data or work / args.preset
    if args.data is None:
        generate(args.preset, 0, root)
    data = load_dataset(root)
    day6 = set(data.meta["new_articles"]) if data.meta else set(data.dev.news.frame["news_id"]) - set(data.train.news.frame["news_id"])
    cutoff = np.datetime64(str(data.dev.behaviors.times.min().astype("datetime64[D]")) + "T12:00:00")
    morning, afternoon = split_by_time(data.dev, cutoff)
    morning_articles = set(morning.behaviors.articles.tolist())
    judged = MindDataset(data.root, {"train": data.train, "dev": afternoon}, data.report, data.truth, data.meta)
    config = RunConfig(ModelConfig(embedder=args.embedder), TrainConfig(epochs=args.epochs))
    embedder = get_embedder(args.embedder)
    out: dict = {"preset": args.preset if args.data is None else str(args.data), "embedder": args.embedder,
                 "cutoff": str(cutoff), "morning_impressions": len(morning.behaviors),
                 "afternoon_impressions": len(afternoon.behaviors), "day6_articles": len(day6)}

    started = time.perf_counter()
    train_run(judged, config, out=work / "base", embedder=embedder)
    base_seconds = time.perf_counter() - started
    base = load_run(work / "base", dataset=judged, embedder=embedder)
    methods = {}
    for fill in ("mean", "neighbors"):
        base.recommender.config.model.new_article_id = fill
        base.recommender.invalidate()
        methods[f"zero_shot_{fill}"] = judge(base.recommender, judged, day6, morning_articles, embedder)
    base.recommender.config.model.new_article_id = config.model.new_article_id

    write_split(work / "morning", morning)
    started = time.perf_counter()
    update = update_run(work / "base", work / "morning", work / "incremental", epochs=args.update_epochs,
                        full_epochs=args.full_epochs, lr_decay=args.lr_decay, eval_data=judged, embedder=embedder,
                        archive=work / "archive")
    update_seconds = time.perf_counter() - started
    methods["incremental"] = judge(update.recommender, judged, day6, morning_articles, embedder)

    merged = MindSplit("train", data.train.path, News.concat([data.train.news, morning.news]),
                       Behaviors.concat([data.train.behaviors, morning.behaviors]), data.entity_vectors)
    retrain_data = MindDataset(data.root, {"train": merged, "dev": afternoon}, data.report, data.truth, data.meta)
    started = time.perf_counter()
    retrain = train_run(retrain_data, config, out=work / "retrain", embedder=embedder)
    retrain_seconds = time.perf_counter() - started
    methods["full_retrain"] = judge(retrain.result.recommender, retrain_data, day6, morning_articles, embedder)

    def ratio(a, b):
        return None if a is None or b in (None, 0) else round(a / b, 4)

    out["methods"] = methods
    out["seconds"] = {"base_train": round(base_seconds, 1), "incremental_update": round(update_seconds, 1),
                      "full_retrain": round(retrain_seconds, 1)}
    out["incremental_time_share_of_retrain"] = ratio(update_seconds, retrain_seconds)
    out["quality_ratios_auc"] = {
        name: {s: ratio(methods[name][s]["auc"], methods["full_retrain"][s]["auc"])
               for s in ("overall", "day6_articles", "day6_seen_in_morning", "day6_unseen")}
        for name in methods
    }
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
