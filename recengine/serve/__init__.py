"""Serving: a FAISS index over article vectors, two-stage recall + rerank, cold start.

:class:`ArticleIndex` (:mod:`recengine.serve.index`) is the cosine index with stable ids;
:class:`RecommenderService` (:mod:`recengine.serve.service`) binds a trained run to the store
for recommendations, live clicks and articles added after training; :mod:`recengine.serve.coldstart`
holds the popularity prior and the interest-text profile for users with no clicks.
"""

from recengine.serve.index import ArticleIndex
from recengine.serve.service import RecommenderService, check_article

__all__ = ["ArticleIndex", "RecommenderService", "check_article"]
