"""How long the knowledge-graph view takes on a realistic catalogue.

    .venv/bin/python benchmarks/graph_speed.py                       # generates the `small` preset (~40 s)
    .venv/bin/python benchmarks/graph_speed.py --data DIR            # any MIND dataset folder

Prints one JSON object: node and edge counts, graph build seconds, the median of 3 full forward
passes (no grad) and of 3 forward+backward passes per encoder kind (SAGE, GAT), and the median over
100 ``add_article`` calls, plus the time to re-materialise the tensors after an add (paid once per
training step after the graph grew). Article inputs are random placeholders of MiniLM's width (384):
values do not change the time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from recengine.data.mind import load_dataset
from recengine.graph import GNN_KINDS, GraphEncoder, graph_from_news

ARTICLE_DIM = 384
RUNS = 3
ADDS = 100


def _seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a MIND dataset folder (default: generate the small preset)")
    parser.add_argument("--preset", default="small", help="synthetic preset to generate when --data is absent")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="graph-bench-") as tmp:
        folder = args.data
        if folder is None:
            from recengine.data import synthetic

            folder = Path(tmp) / "data"
            print(f"generating the {args.preset} preset", file=sys.stderr)
            synthetic.generate(args.preset, 0, folder)
        dataset = load_dataset(folder)
        news, vectors = dataset.news, dataset.entity_vectors

    build_s, graph = _seconds(lambda: graph_from_news(news, vectors))
    report: dict = {
        "data": str(args.data) if args.data else f"synthetic {args.preset} preset, seed 0",
        "torch_threads": torch.get_num_threads(),
        **graph.stats(),
        "build_seconds": round(build_s, 3),
        "article_in_dim": ARTICLE_DIM,
    }

    torch.manual_seed(0)
    features = torch.randn(graph.num_articles, ARTICLE_DIM)
    tensors = graph.tensors()
    for kind in GNN_KINDS:
        encoder = GraphEncoder.for_graph(kind, graph, ARTICLE_DIM)
        forward, train_step = [], []
        for _ in range(RUNS):
            with torch.no_grad():
                forward.append(_seconds(lambda: encoder(tensors, features))[0])
        for _ in range(RUNS):
            encoder.zero_grad()
            train_step.append(_seconds(lambda: encoder(tensors, features).square().mean().backward())[0])
        report[f"{kind}_forward_seconds"] = round(statistics.median(forward), 4)
        report[f"{kind}_forward_runs"] = [round(t, 4) for t in forward]
        report[f"{kind}_forward_backward_seconds"] = round(statistics.median(train_step), 4)

    rng = np.random.default_rng(0)
    entity_ids = graph.entity_ids
    adds, rematerialise = [], []
    for i in range(ADDS):
        picks = [entity_ids[j] for j in rng.choice(len(entity_ids), size=int(rng.integers(1, 4)), replace=False)]
        adds.append(_seconds(lambda: graph.add_article(f"BENCH{i}", picks))[0])
        rematerialise.append(_seconds(graph.tensors)[0])
    report["add_article_ms"] = _median_ms(adds)
    report["tensors_after_add_ms"] = _median_ms(rematerialise)
    report["article_nodes_after_adds"] = graph.num_articles
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
