"""Text-embedding throughput: articles per second for `hashing` and `minilm`, titles and title + abstract.

Each figure is the median of ``--runs`` full passes over the articles through :func:`recengine.text.embed_news`
with a fresh (empty) cache per pass, so it includes hashing the texts and writing the cache, as a first
``python -m recengine embed`` would. MiniLM's one-off model load is timed apart and not counted.

Prints one JSON object. Usage:
``.venv/bin/python benchmarks/embed_speed.py [--data DIR | --preset demo --seed 0] [--limit N] [--runs 3]``.
Without ``--data`` it generates the preset into a temporary folder with ``recengine.data.synthetic``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout, like the others

from recengine.data.mind import News, load_dataset  # noqa: E402
from recengine.text import FIELDS, EmbeddingCache, embed_news, get_embedder  # noqa: E402


def load_news(args: argparse.Namespace, scratch: Path) -> tuple[News, str]:
    if args.data:
        return load_dataset(args.data).news, str(args.data)
    from recengine.data.synthetic import generate

    generate(args.preset, args.seed, scratch / "data")
    return load_dataset(scratch / "data").news, f"synthetic preset {args.preset!r}, seed {args.seed}"


def throughput(news: News, name: str, fields: str, runs: int, scratch: Path) -> dict:
    """Median articles/second over ``runs`` passes, each into a new cache folder."""
    seconds = []
    for run in range(runs):
        embedder = get_embedder(name)
        started = time.perf_counter()
        result = embed_news(news, embedder, cache=EmbeddingCache(scratch / f"{name}-{fields}-{run}"), fields=fields)
        seconds.append(time.perf_counter() - started)
        assert result.coverage == 1.0
    return {
        "articles_per_second": round(len(news) / statistics.median(seconds), 1),
        "seconds": [round(s, 3) for s in seconds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a MIND dataset folder (default: generate --preset)")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="only the first N articles (MiniLM on a small CPU is slow)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--embedders", default="hashing,minilm", help="comma-separated")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        news, source = load_news(args, scratch)
        if args.limit:
            news = News(news.frame.iloc[: args.limit].reset_index(drop=True), news.entities[: args.limit])
        report: dict = {
            "data": source,
            "articles": len(news),
            "runs": args.runs,
            "cache": "fresh per run",
            "mean_characters": {f: round(sum(map(len, news.texts(f))) / len(news), 1) for f in FIELDS},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        }
        for name in args.embedders.split(","):
            entry: dict = {}
            if name == "minilm":
                import torch

                started = time.perf_counter()
                get_embedder("minilm").embed(["warm-up"])  # loads the model once for the process
                entry["load_seconds"] = round(time.perf_counter() - started, 2)
                report["machine"]["torch_threads"] = torch.get_num_threads()
            for fields in FIELDS:
                entry[fields] = throughput(news, name, fields, args.runs, scratch)
                print(f"{name} {fields}: {entry[fields]['articles_per_second']} articles/s", file=sys.stderr)
            report[name] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
