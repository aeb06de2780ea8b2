"""GNN encoders over the article-entity graph: one vector per article node.

Full-batch message passing with PyG's ``HeteroConv`` (no neighbour loaders: those need compiled
extensions this project does not install). Each layer has its own weights per direction
(article -> entity and entity -> article). The last layer only computes entity -> article messages,
because only article outputs are returned.

Articles that mention no entity receive no messages; they still get a finite vector from their own
input through SAGE's root weight or GAT's residual term (GAT runs without self-loops, which have no
meaning in a bipartite graph).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, HeteroConv, SAGEConv
from torch_geometric.nn.conv import MessagePassing

from recengine.errors import InputError
from recengine.graph.kg import ARTICLE, ENTITY, MENTIONED_BY, MENTIONS, ArticleGraph, GraphTensors

GNN_KINDS = ("sage", "gat")


class GraphEncoder(nn.Module):
    """Article vectors (A, out_dim) from article features (A, article_in_dim) and the graph.

    ``article_in_dim=None``: every article starts from one shared learned vector.
    ``entity_in_dim=None``: entities start from a learned ``nn.Embedding(num_entities, hidden)``;
    otherwise from the graph's entity features (E, entity_in_dim) through a linear projection.
    ``heads`` is used by 'gat' only; ``hidden`` must be a multiple of it.
    """

    def __init__(
        self,
        kind: str,
        article_in_dim: int | None,
        entity_in_dim: int | None,
        num_entities: int,
        hidden: int = 64,
        out_dim: int = 64,
        layers: int = 2,
        dropout: float = 0.0,
        heads: int = 4,
    ):
        super().__init__()
        if kind not in GNN_KINDS:
            raise InputError(f"unknown GNN {kind!r}; choose one of: {', '.join(GNN_KINDS)}")
        for name, value in (("hidden", hidden), ("out_dim", out_dim), ("layers", layers), ("heads", heads)):
            if value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
        if kind == "gat" and hidden % heads:
            raise InputError(f"hidden ({hidden}) must be a multiple of heads ({heads}) for 'gat'")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout}")
        self.kind = kind
        self.article_in_dim = article_in_dim
        self.entity_in_dim = entity_in_dim
        self.num_entities = num_entities
        self.out_dim = out_dim
        self.dropout = dropout

        # Learned starting vectors are drawn with about unit norm, like the projections of unit-length features.
        scale = hidden**-0.5
        if article_in_dim is None:
            self.article_start = nn.Parameter(torch.randn(hidden) * scale)
        else:
            self.article_proj = nn.Linear(article_in_dim, hidden)
        if entity_in_dim is None:
            self.entity_embedding = nn.Embedding(num_entities, hidden)
            nn.init.normal_(self.entity_embedding.weight, std=scale)
        else:
            self.entity_proj = nn.Linear(entity_in_dim, hidden)

        self.convs = nn.ModuleList()
        for i in range(layers):
            last = i == layers - 1
            relations = (MENTIONED_BY,) if last else (MENTIONS, MENTIONED_BY)
            with warnings.catch_warnings():
                # The last layer leaves entities un-updated on purpose (their outputs would be discarded).
                warnings.filterwarnings("ignore", message="There exist node types", category=UserWarning)
                conv = HeteroConv(
                    {rel: _conv(kind, hidden, out_dim if last else hidden, heads, last) for rel in relations}
                )
            self.convs.append(conv)

    @classmethod
    def for_graph(
        cls, kind: str, graph: ArticleGraph, article_in_dim: int | None, **options: int | float
    ) -> "GraphEncoder":
        """An encoder sized for ``graph``'s entities (their feature width, or learned when it has none)."""
        return cls(kind, article_in_dim, graph.entity_feature_dim, graph.num_entities, **options)

    def forward(self, graph: GraphTensors, article_features: Tensor | None = None) -> Tensor:
        """(graph.num_articles, out_dim) article vectors. ``article_features``: (num_articles, article_in_dim)."""
        x = {ARTICLE: self._article_inputs(graph, article_features), ENTITY: self._entity_inputs(graph)}
        for i, conv in enumerate(self.convs):
            x = conv(x, graph.edge_index_dict)
            if i < len(self.convs) - 1:
                x = {k: F.dropout(F.relu(v), self.dropout, self.training) for k, v in x.items()}
        return x[ARTICLE]

    def _article_inputs(self, graph: GraphTensors, features: Tensor | None) -> Tensor:
        if self.article_in_dim is None:
            if features is not None:
                raise InputError("this encoder has no article input (article_in_dim=None) but features were given")
            return self.article_start.expand(graph.num_articles, -1)
        expected = (graph.num_articles, self.article_in_dim)
        if features is None or tuple(features.shape) != expected:
            found = None if features is None else tuple(features.shape)
            raise InputError(f"article features have shape {found}; expected {expected}")
        if not features.is_floating_point():
            raise InputError(f"article features must be floating point, got {features.dtype}")
        return self.article_proj(features.to(self.article_proj.weight.dtype))

    def _entity_inputs(self, graph: GraphTensors) -> Tensor:
        if graph.num_entities != self.num_entities:
            raise InputError(
                f"the graph has {graph.num_entities} entities; this encoder was built for {self.num_entities}"
            )
        if self.entity_in_dim is None:
            return self.entity_embedding.weight
        features = graph.entity_features
        if features is None or features.shape[1] != self.entity_in_dim:
            found = None if features is None else features.shape[1]
            raise InputError(f"the graph's entity features are {found}-d; this encoder expects {self.entity_in_dim}-d")
        return self.entity_proj(features)


def _conv(kind: str, in_dim: int, out_dim: int, heads: int, last: bool) -> MessagePassing:
    """One direction's convolution, bipartite (source and target node types differ)."""
    if kind == "sage":
        return SAGEConv((in_dim, in_dim), out_dim, aggr="mean")
    # The last layer averages its heads to out_dim; inner layers concatenate heads back to in_dim.
    return GATConv(
        (in_dim, in_dim),
        out_dim if last else out_dim // heads,
        heads=heads,
        concat=not last,
        add_self_loops=False,
        residual=True,
    )
