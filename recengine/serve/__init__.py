"""Serving: a FAISS index over article vectors, two-stage recall + rerank, cold start.

:class:`ArticleIndex` is the cosine index with stable ids; it lives in :mod:`recengine.index`,
below the model, which also uses it to find the trained neighbours of unseen articles.
:class:`RecommenderService` (:mod:`recengine.serve.service`) binds a trained run to the store
for recommendations (:mod:`~recengine.serve.ranking`), explanations (:mod:`~recengine.serve.explain`), live
clicks and articles added after training (:mod:`~recengine.serve.ingest`); :mod:`recengine.serve.coldstart`
holds the popularity prior and the interest-text profile for users with no clicks.
"""

from recengine.index import ArticleIndex
from recengine.serve.checks import check_article
from recengine.serve.service import RecommenderService

__all__ = ["ArticleIndex", "RecommenderService", "check_article"]
