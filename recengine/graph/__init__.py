"""The knowledge-graph view: the article-entity graph and GNN encoders that turn it into article vectors.

Build a graph with :func:`build_graph` (or :func:`graph_from_news`), grow it with
:meth:`ArticleGraph.add_article`, and encode it with :class:`GraphEncoder` over
:meth:`ArticleGraph.tensors`. The rule that picks the entity feature source is in
:mod:`recengine.graph.kg`.
"""

from recengine.graph.gnn import GNN_KINDS, GraphEncoder
from recengine.graph.kg import COVERAGE_THRESHOLD, ArticleGraph, GraphTensors, build_graph, graph_from_news

__all__ = [
    "COVERAGE_THRESHOLD",
    "GNN_KINDS",
    "ArticleGraph",
    "GraphEncoder",
    "GraphTensors",
    "build_graph",
    "graph_from_news",
]
