"""World v3 checked with real models: does language carry the topic where token identity does not?

    .venv/bin/python benchmarks/world_check.py                         # demo, seed 0, MiniLM and hashing
    .venv/bin/python benchmarks/world_check.py --preset tiny --sample 600 --skip-click-model

Simulates the preset (nothing written), embeds a sample of its articles (title + abstract, as training does)
with each text embedder, and prints one JSON object:

- ``pairs``: mean cosine of same-subcategory pairs whose articles share NO content word (no topic word, no
  entity name; template words do not count), against pairs from different subcategories; ``gap`` =
  same-disjoint minus different. A language model that reads paraphrase shows a clear gap; hashed words ~none.
- ``nearest``: for day-6 articles written in drift words (never seen before day 6), the share whose nearest
  pre-day-6 article is in the same subcategory, beside ``chance`` (that subcategory's share of the pre-day-6
  articles, averaged over the queries).
- ``click_model``: the oracle's dev AUC with every part of the click model, and with each part's weight set to 0
  (labels stay those the full model drew), the table "removing it from the oracle" of the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time

import numpy as np
import pandas as pd

from recengine.data import world_vocab
from recengine.data.synthetic import DAY, DEV_DAY, START, DEFAULT_WORLD_VERSION, WORLD_VERSIONS, Simulation, simulate
from recengine.eval.metrics import mind_metrics_csr
from recengine.text.registry import get_embedder

CLICK_PARTS = ("topic", "appeal", "freshness", "category", "entity", "hour")


@functools.cache
def glue_words() -> frozenset[str]:
    """The words v3's templates glue topic words with (shared by chance, not by topic)."""
    glue = (world_vocab.TITLE_TEMPLATES_V3 + world_vocab.ABSTRACT_TEMPLATES_V3
            + world_vocab.VERBS + world_vocab.ADJECTIVES)
    return world_vocab.content_words(" ".join(glue))


def article_words(text: str) -> frozenset[str]:
    """An article's content words: topic words and entity names, less function and template words."""
    return world_vocab.content_words(text) - glue_words()


def articles(sim: Simulation) -> pd.DataFrame:
    """Every article of a simulated world: news_id, subcategory, text, published_day6, drift."""
    frame = pd.concat([split.news.frame for split in sim.splits.values()]).drop_duplicates("news_id")
    frame = frame.set_index("news_id").loc[[n for n in sim.news_ids if n in set(frame["news_id"])]]
    published = pd.Series(sim.world.article_published, index=sim.news_ids).loc[frame.index]
    drift = set(sim.meta.get("drift_articles", []))
    return pd.DataFrame({
        "news_id": frame.index,
        "subcategory": frame["subcategory"].to_numpy(),
        "text": (frame["title"] + ". " + frame["abstract"]).to_numpy(),
        "day6": (published >= START + np.timedelta64((DEV_DAY - 1) * DAY, "s")).to_numpy(),
        "drift": frame.index.isin(list(drift)),
    }).reset_index(drop=True)


def sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Up to ``n`` articles: every drift article first (the nearest-neighbour queries), the rest at random."""
    rng = np.random.default_rng(seed)
    drift = frame[frame["drift"]]
    rest = frame[~frame["drift"]]
    keep = rng.permutation(len(rest))[: max(n - len(drift), 0)]
    return pd.concat([drift, rest.iloc[np.sort(keep)]]).reset_index(drop=True)


def pair_figures(vectors: np.ndarray, frame: pd.DataFrame) -> dict:
    """Mean cosine of same-topic pairs that share no content word (nor entity name) vs different-topic pairs."""
    words = [article_words(t) for t in frame["text"]]
    sub = frame["subcategory"].to_numpy()
    cos = vectors @ vectors.T
    upper = np.triu(np.ones(cos.shape, dtype=bool), k=1)
    same = (sub[:, None] == sub[None, :]) & upper
    rows, cols = np.nonzero(same)
    disjoint = np.array([not (words[i] & words[j]) for i, j in zip(rows.tolist(), cols.tolist())], dtype=bool)
    same_disjoint = cos[rows[disjoint], cols[disjoint]]
    different = cos[(sub[:, None] != sub[None, :]) & upper]
    return {
        "same_topic_disjoint": round(float(same_disjoint.mean()), 4),
        "same_topic_disjoint_pairs": int(disjoint.sum()),
        "same_topic_pairs_disjoint_share": round(float(disjoint.mean()), 3),
        "different_topic": round(float(different.mean()), 4),
        "different_topic_pairs": int(different.size),
        "gap": round(float(same_disjoint.mean() - different.mean()), 4),
    }


def nearest_figures(vectors: np.ndarray, frame: pd.DataFrame) -> dict:
    """Share of drift articles whose nearest pre-day-6 article is in their subcategory, beside chance."""
    queries = np.flatnonzero(frame["drift"].to_numpy())
    pool = np.flatnonzero(~frame["day6"].to_numpy())
    sub = frame["subcategory"].to_numpy()
    if not len(queries) or not len(pool):
        return {"queries": int(len(queries)), "hit_rate": None, "chance": None}
    nearest = pool[np.argmax(vectors[queries] @ vectors[pool].T, axis=1)]
    shares = pd.Series(sub[pool]).value_counts(normalize=True)
    return {
        "queries": int(len(queries)),
        "hit_rate": round(float((sub[nearest] == sub[queries]).mean()), 4),
        "chance": round(float(shares.reindex(sub[queries]).fillna(0).mean()), 4),
    }


def embedder_figures(name: str, frame: pd.DataFrame) -> dict:
    started = time.perf_counter()
    vectors = get_embedder(name).embed(frame["text"].tolist())
    return {
        "pairs": pair_figures(vectors, frame),
        "nearest": nearest_figures(vectors, frame),
        "embed_seconds": round(time.perf_counter() - started, 1),
    }


def click_model_table(sim: Simulation) -> dict:
    """The oracle's dev AUC with the full click model and without each part (labels unchanged)."""
    world, dev = sim.world, sim.splits["dev"].behaviors
    counts = dev.candidate_counts
    users = pd.Index(sim.user_ids).get_indexer(np.repeat(dev.impression_user_ids, counts))
    arts = pd.Index(sim.news_ids).get_indexer(dev.articles[dev.candidates])
    times = np.repeat(dev.times, counts)

    def auc(model) -> float:
        scores = dataclasses.replace(world, model=model).logits(users, arts, times)
        return round(mind_metrics_csr(dev.labels, scores, dev.candidate_ptr)["auc"], 4)

    without = {part: auc(dataclasses.replace(world.model, **{part: 0.0})) for part in CLICK_PARTS}
    return {
        "weights": {part: getattr(world.model, part) for part in CLICK_PARTS},
        "oracle_auc": auc(world.model),
        "oracle_auc_without": without,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="demo", choices=["tiny", "demo", "small"], help="default: demo")
    parser.add_argument("--seed", type=int, default=0, help="world seed (default: 0)")
    parser.add_argument("--world-version", type=int, choices=WORLD_VERSIONS, default=DEFAULT_WORLD_VERSION)
    parser.add_argument("--sample", type=int, default=1500, help="articles to embed (default: 1500)")
    parser.add_argument("--embedders", default="minilm,hashing", help="comma-separated (default: minilm,hashing)")
    parser.add_argument("--skip-click-model", action="store_true", help="leave out the click-model table")
    args = parser.parse_args()

    sim = simulate(args.preset, args.seed, world_version=args.world_version)
    frame = sample(articles(sim), args.sample, args.seed)
    report = {
        "world": f"{args.preset}, seed {args.seed}, world v{args.world_version}",
        "articles": len(frame),
        "drift_articles": int(frame["drift"].sum()),
        "embedders": {name: embedder_figures(name, frame) for name in args.embedders.split(",")},
    }
    if not args.skip_click_model:
        report["click_model"] = click_model_table(sim)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
