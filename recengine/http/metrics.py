"""Prometheus metrics of one app, in a registry of its own (two apps in one process never share counters).

Request counts and latencies are recorded by :class:`RequestMetrics` (pure ASGI middleware: a few microseconds per
request, and it sees the 500s an exception handler answers). The serving runs, index sizes and user-vector cache
counts are read from the :class:`~recengine.app.live.LiveService` at scrape time by :class:`LiveCollector`, so a
swap shows at once.
"""

from __future__ import annotations

import time
from typing import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from recengine.app.live import LiveService

# Seconds: the service answers in milliseconds; the tail buckets catch a stall (a swap, a cold cache, a busy store).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # the endpoint label of requests no route matched (keeps the label set bounded)


class LiveCollector(Collector):
    """recengine_serving_run_info, recengine_index_articles and the user-vector cache counts, per arm."""

    def __init__(self, live: LiveService):
        self.live = live

    def collect(self) -> Iterator:
        info = GaugeMetricFamily("recengine_serving_run_info", "The run each arm serves (value 1).",
                                 labels=["arm", "run_id"])
        articles = GaugeMetricFamily("recengine_index_articles", "Articles in each arm's catalogue and index.",
                                     labels=["arm"])
        hits = CounterMetricFamily("recengine_user_vector_cache_hits", "User vectors served from the cache.",
                                   labels=["arm"])
        misses = CounterMetricFamily("recengine_user_vector_cache_misses", "User vectors computed.", labels=["arm"])
        # (counts of services swapped out are kept: a counter never goes down)
        counts = self.live.cache_counts()
        for arm, service in self.live.services():
            info.add_metric([arm, service.run_id or ""], 1)
            articles.add_metric([arm], len(service.index))
            hits.add_metric([arm], counts.get(arm, (0, 0))[0])
            misses.add_metric([arm], counts.get(arm, (0, 0))[1])
        yield from (info, articles, hits, misses)


class RequestMetrics:
    """ASGI middleware counting requests by route and status, and timing them by route."""

    def __init__(self, app, registry: CollectorRegistry):
        self.app = app
        self.requests = Counter("recengine_requests", "HTTP requests by endpoint (route) and status.",
                                ["endpoint", "status"], registry=registry)
        self.seconds = Histogram("recengine_request_seconds", "Time to answer a request, by endpoint (route).",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or UNMATCHED
            self.requests.labels(endpoint, str(status[0])).inc()
            self.seconds.labels(endpoint).observe(time.perf_counter() - start)


def registry_for(live: LiveService) -> CollectorRegistry:
    """A fresh registry holding the live collector (the middleware adds the request metrics)."""
    registry = CollectorRegistry()
    registry.register(LiveCollector(live))
    return registry
