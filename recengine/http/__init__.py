"""The HTTP face: a FastAPI service over :class:`recengine.app.live.LiveService` (``recengine serve``).

:func:`~recengine.http.app.create_app` builds the app; :mod:`~recengine.http.models` holds the request bodies
(pydantic, with bounds) and :mod:`~recengine.http.metrics` the Prometheus collectors.
"""

from recengine.http.app import create_app

__all__ = ["create_app"]
