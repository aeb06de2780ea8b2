"""The FastAPI app over a :class:`~recengine.app.live.LiveService` (reference: docs/PRODUCTION.md).

Endpoints are plain ``def`` functions: FastAPI runs them in its thread pool, so the model work (torch, FAISS,
SQLite, all of which release the GIL for their heavy parts) never blocks the event loop. Every error is one JSON
line ``{"error": "..."}``: 422 for a request that fails its model's bounds, 400 for input the service refuses, 409
for a duplicate article, 404/405 for a wrong path or method, and 500
``internal error`` for a bug (its traceback goes to the server log only).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from recengine.app.live import LiveService
from recengine.app.monitor import report as monitor_report
from recengine.errors import RecengineError
from recengine.http import models
from recengine.jsonable import plain
from recengine.http.metrics import RequestMetrics, registry_for
from recengine.serve import checks
from recengine.serve.ingest import DuplicateArticle
from recengine.textsafe import printable

log = logging.getLogger("recengine.http")

UserId = Annotated[str, Path(min_length=1, max_length=checks.MAX_LABEL_CHARS, pattern=r"^\S+$")]


def create_app(live: LiveService) -> FastAPI:
    """The HTTP service of ``live`` (the caller owns ``live`` and closes it)."""
    app = FastAPI(title="recengine", summary="News recommendations over HTTP", version="1")
    app.state.live = live
    registry = registry_for(live)
    app.add_middleware(RequestMetrics, registry=registry)
    _add_error_handlers(app)
    _add_routes(app, live, registry)
    return app


def _add_routes(app: FastAPI, live: LiveService, registry) -> None:
    @app.get("/health")
    def health() -> JSONResponse:
        """status, dataset, arms (run, share, articles), the traffic log's last error."""
        return JSONResponse(live.health())

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/users/{user_id}/recommendations")
    def recommendations(
        user_id: UserId,
        k: Annotated[int, Query(ge=1, le=models.MAX_K)] = 10,
        candidates: Annotated[int, Query(ge=1, le=models.MAX_CANDIDATES)] = 200,
        explain: bool = False,
        interest: Annotated[str | None, Query(min_length=1, max_length=checks.MAX_INTEREST_CHARS)] = None,
        category: Annotated[list[models.Pick] | None, Query(max_length=models.MAX_PICKS)] = None,
    ) -> JSONResponse:
        """The top ``k`` articles for the user, logged as an impression (its id names the list in clicks); each
        ``category`` (repeatable) and each clause of ``interest`` is a stated interest served in proportion."""
        return JSONResponse(live.recommend(user_id, k, candidates=candidates, explain=explain, interest_text=interest,
                                           categories=category))

    @app.post("/v1/users/{user_id}/scores")
    def scores(user_id: UserId, body: models.ScoresRequest) -> JSONResponse:
        """The model's score and click probability of each given article for the user, in order."""
        return JSONResponse(live.score(user_id, body.article_ids))

    @app.post("/v1/articles", status_code=201)
    def add_article(body: models.ArticleRequest) -> JSONResponse:
        """Add an article, scored zero-shot and recommendable at once in every arm."""
        return JSONResponse(live.add_article(**body.model_dump()), status_code=201)

    @app.post("/v1/clicks")
    def click(body: models.ClickRequest) -> JSONResponse:
        """Record a click: the next recommendation reads it."""
        return JSONResponse(live.record_click(body.user_id, body.article_id, impression_id=body.impression_id,
                                              time=body.time))

    @app.post("/v1/impressions", status_code=201)
    def impression(body: models.ImpressionRequest) -> JSONResponse:
        """Log a list the client showed and its clicks (the clicks go into the history too)."""
        return JSONResponse(live.record_impression(body.user_id, body.shown, body.clicked, time=body.time),
                            status_code=201)

    @app.get("/v1/monitor")
    def monitor(hours: Annotated[float, Query(gt=0, le=models.MAX_HOURS)] = 24.0) -> JSONResponse:
        """New- vs old-article CTR and the A/B arms over the last ``hours`` (recengine.app.monitor)."""
        live.flush()  # the report reads the log: what was served until now counts
        return JSONResponse(plain(monitor_report(live.store, live.dataset, hours=hours)))

    @app.post("/admin/swap")
    def swap(body: models.SwapRequest) -> JSONResponse:
        """Load ``run`` and switch ``arm`` to it; requests in flight finish on the old run."""
        return JSONResponse(live.swap(body.run, arm=body.arm))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_line(exc))

    @app.exception_handler(DuplicateArticle)
    async def duplicate(request: Request, exc: DuplicateArticle) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(RecengineError)
    async def refused(request: Request, exc: RecengineError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error answering %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal error")


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": printable(message, one_line=True)}, status_code=status, headers=headers)


def _validation_line(exc: RequestValidationError) -> str:
    """The first validation problem as one line: where (``query.k``, ``body.title``) and why."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    if first.get("type") == "json_invalid":
        return f"body: malformed JSON ({first.get('ctx', {}).get('error', 'cannot parse')})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"

