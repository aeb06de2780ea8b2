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

import threading
import warnings
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from torch_geometric.nn.conv import MessagePassing

from recengine.errors import InputError
from recengine.graph.kg import ARTICLE, ENTITY, MENTIONED_BY, MENTIONS, ArticleGraph, GraphTensors

_QUIET_BUILD = threading.Lock()

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

        # PyG is imported here, not at module level: it costs seconds (it loads torch._dynamo), and commands that
        # never build an encoder (listing runs, jobs, datasets) should not pay for it.
        from torch_geometric.nn import HeteroConv

        self.convs = nn.ModuleList()
        for i in range(layers):
            last = i == layers - 1
            relations = (MENTIONED_BY,) if last else (MENTIONS, MENTIONED_BY)
            # catch_warnings swaps the process's filters: two threads building encoders at once (two services
            # loading) would restore each other's and let the warning through, so they take turns.
            with _QUIET_BUILD, warnings.catch_warnings():
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

    @property
    def supports_rows(self) -> bool:
        """Whether :meth:`forward_rows` can compute a subset of articles exactly (mean-SAGE, at most 2 layers)."""
        return self.kind == "sage" and len(self.convs) <= 2

    def forward_rows(
        self, graph: GraphTensors, article_features: Tensor | None, rows: Tensor, isolate: Tensor | None = None
    ) -> Tensor:
        """Exactly ``forward(graph, article_features)[rows]``, (R, out_dim), at a cost that grows with ``len(rows)``
        and the number of entities rather than the number of articles (what a training batch needs).

        ``isolate`` (R,) bool treats those rows as mentioning no entity (entity dropout in training: articles
        without entities are common in real data and arrive with new articles).

        Mean aggregation commutes with the affine input projection: an entity's mean over its articles'
        projected features is the projection of its articles' mean raw feature, so entity states never need
        every article's projection. Needs mean-SAGE with at most two layers (a third layer would need every
        article's non-linear hidden state).
        """
        if not self.supports_rows:
            raise InputError("forward_rows needs the 'sage' encoder with at most 2 layers")
        x_entity = self._entity_inputs(graph)
        x_rows = self._article_inputs_rows(graph, article_features, rows)
        to_article = self.convs[0].convs[MENTIONED_BY]
        if len(self.convs) == 1:
            return to_article.lin_l(_mean_of_entities(graph, rows, x_entity, isolate)) + to_article.lin_r(x_rows)
        to_entity = self.convs[0].convs[MENTIONS]
        article_mean = self._article_mean_per_entity(graph, article_features)
        h_entity = to_entity.lin_l(article_mean) + to_entity.lin_r(x_entity)
        h_rows = to_article.lin_l(_mean_of_entities(graph, rows, x_entity, isolate)) + to_article.lin_r(x_rows)
        h_entity = F.dropout(F.relu(h_entity), self.dropout, self.training)
        h_rows = F.dropout(F.relu(h_rows), self.dropout, self.training)
        last = self.convs[1].convs[MENTIONED_BY]
        return last.lin_l(_mean_of_entities(graph, rows, h_entity, isolate)) + last.lin_r(h_rows)

    def _article_inputs_rows(self, graph: GraphTensors, features: Tensor | None, rows: Tensor) -> Tensor:
        """(R, hidden) projected inputs of the given article rows."""
        if self.article_in_dim is None:
            return self.article_start.expand(len(rows), -1)
        features = self._checked_features(graph, features)
        return self.article_proj(features[rows].to(self.article_proj.weight.dtype))

    def _article_mean_per_entity(self, graph: GraphTensors, features: Tensor | None) -> Tensor:
        """(E, hidden): each entity's mean over its articles of the projected article input."""
        if self.article_in_dim is None:
            return self.article_start.expand(graph.num_entities, -1)
        features = self._checked_features(graph, features)
        articles, entities = graph.mentions
        sums = features.new_zeros(graph.num_entities, features.shape[1]).index_add_(0, entities, features[articles])
        counts = torch.bincount(entities, minlength=graph.num_entities).clamp(min=1).unsqueeze(1)
        return self.article_proj((sums / counts).to(self.article_proj.weight.dtype))

    def _article_inputs(self, graph: GraphTensors, features: Tensor | None) -> Tensor:
        if self.article_in_dim is None:
            if features is not None:
                raise InputError("this encoder has no article input (article_in_dim=None) but features were given")
            return self.article_start.expand(graph.num_articles, -1)
        features = self._checked_features(graph, features)
        return self.article_proj(features.to(self.article_proj.weight.dtype))

    def _checked_features(self, graph: GraphTensors, features: Tensor | None) -> Tensor:
        expected = (graph.num_articles, self.article_in_dim)
        if features is None or tuple(features.shape) != expected:
            found = None if features is None else tuple(features.shape)
            raise InputError(f"article features have shape {found}; expected {expected}")
        if not features.is_floating_point():
            raise InputError(f"article features must be floating point, got {features.dtype}")
        return features

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
    from torch_geometric.nn import GATConv, SAGEConv

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


def _mean_of_entities(graph: GraphTensors, rows: Tensor, entity_states: Tensor, isolate: Tensor | None = None) -> Tensor:
    """(R, d): for each article row, the mean of its entities' states (zero when it mentions none, as PyG's
    mean aggregation gives an article that receives no message; rows in ``isolate`` count as mentioning none)."""
    starts, ends = graph.article_ptr[rows], graph.article_ptr[rows + 1]
    counts = ends - starts
    if isolate is not None:
        counts = torch.where(isolate, torch.zeros_like(counts), counts)
    owner = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)
    offsets = torch.arange(int(counts.sum()), device=rows.device) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts
    )
    entities = graph.mentions[1][torch.repeat_interleave(starts, counts) + offsets]
    sums = entity_states.new_zeros(len(rows), entity_states.shape[1]).index_add_(0, owner, entity_states[entities])
    return sums / counts.clamp(min=1).unsqueeze(1).to(sums.dtype)
