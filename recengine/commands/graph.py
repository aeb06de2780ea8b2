"""``python -m recengine graph``: build the article-entity graph of a dataset and report its size."""

from __future__ import annotations

import argparse
import json
import sys
import time

DESCRIPTION = """\
Build the knowledge-graph view of a MIND dataset folder: one node per article (all splits) and per
Wikidata entity, an edge each way per mention. Entity features come from entity_embedding.vec when it
covers at least 90% of the entities (the rest get the mean vector), else from --embedder on the entity
labels, else they are left to be learned. Prints one JSON object: article_nodes, entity_nodes, mentions,
edges (directed, both ways), articles_without_entities, entity_feature_source, entities_missing_vectors,
build_seconds. With --forward it also runs one forward pass of an untrained --gnn encoder and adds
forward_seconds and output_shape; articles then get placeholder inputs of the embedder's width (or a
learned start vector without --embedder), since only the shapes and the time matter there.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "graph", help="build the article-entity graph and report it", description=DESCRIPTION
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    parser.add_argument(
        "--embedder",
        default=None,
        metavar="NAME",
        help="hashing, minilm or openai: embeds entity labels when the vectors fall short",
    )
    parser.add_argument("--gnn", default="sage", metavar="KIND", help="sage (default) or gat, for --forward")
    parser.add_argument("--forward", action="store_true", help="also time one forward pass of an untrained encoder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from recengine.data.mind import load_dataset
    from recengine.errors import InputError
    from recengine.graph import GNN_KINDS, GraphEncoder, graph_from_news
    from recengine.text import get_embedder

    # Flags first, so a typo is reported before the data is read.
    if args.gnn not in GNN_KINDS:
        raise InputError(f"unknown GNN {args.gnn!r}; choose one of: {', '.join(GNN_KINDS)}")
    embedder = get_embedder(args.embedder) if args.embedder else None
    dataset = load_dataset(args.data)
    news = dataset.news
    print(f"building the graph over {len(news):,} articles", file=sys.stderr)
    started = time.perf_counter()
    graph = graph_from_news(news, dataset.entity_vectors, embedder)
    report = {"data": str(dataset.root), **graph.stats(), "build_seconds": round(time.perf_counter() - started, 3)}

    if args.forward:
        article_dim = embedder.dim if embedder is not None else None
        encoder = GraphEncoder.for_graph(args.gnn, graph, article_dim).eval()
        features = None
        if article_dim is not None:
            features = torch.randn(graph.num_articles, article_dim, generator=torch.Generator().manual_seed(0))
        started = time.perf_counter()
        with torch.no_grad():
            out = encoder(graph.tensors(), features)
        report.update(
            gnn=args.gnn,
            forward_seconds=round(time.perf_counter() - started, 3),
            output_shape=list(out.shape),
            output_finite=bool(torch.isfinite(out).all()),
        )
    print(json.dumps(report, indent=2))
    return 0
