"""Prometheus metrics, served at ``/metrics``.

Counted as requests go (``MetricsMiddleware``, a plain ASGI middleware): every request by
method, route template and status, and its latency; ingest requests (single and batch)
apart. Read at each scrape from the running store (``StoreCollector``): the writer's
queue, the single-transaction ingest queue, the journals' size (the sum of the chain
heads, one row per merchant: cheap), open cases, and whether the database answers.
Other parts report through small functions: ``observe_reconciliation(seconds)`` and
``observe_backup(seconds, ok)``. The process's own metrics (memory, CPU, open files)
come from prometheus-client.

Labels are route templates (``/api/v1/transactions/{ref}``), never paths or queries, so
no card number, RRN or order number can become a label and the series stay few.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, inspect, select, text

from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import AUDIT_CHAIN
from counterfoil.store.schema import chain_heads

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_REQUESTS = Counter(
    "counterfoil_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "counterfoil_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
INGEST_REQUESTS = Counter(
    "counterfoil_ingest_requests",
    "Ingest requests (kind single or batch) by outcome (ok: 2xx).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
INGEST_LATENCY = Histogram(
    "counterfoil_ingest_latency_seconds",
    "Time from an ingest request's arrival to its answer (recorded and on disk).",
    ["kind"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
RECONCILIATION = Histogram(
    "counterfoil_reconciliation_duration_seconds",
    "Duration of reconciliation runs.",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
BACKUPS = Counter(
    "counterfoil_backups", "Backups taken, by outcome.", ["outcome"], registry=REGISTRY
)
BACKUP_SECONDS = Gauge(
    "counterfoil_backup_last_duration_seconds",
    "Duration of the last successful backup.",
    registry=REGISTRY,
)
BACKUP_LAST = Gauge(
    "counterfoil_backup_last_success_timestamp_seconds",
    "When the last successful backup finished (Unix time).",
    registry=REGISTRY,
)

INGEST_ROUTES = {
    ("POST", "/api/v1/transactions"): "single",
    ("POST", "/api/v1/transactions/batch"): "batch",
}
access_log = logging.getLogger("counterfoil.access")


def observe_reconciliation(seconds: float) -> None:
    """A reconciliation run took ``seconds`` (called by the reconciliation service)."""
    RECONCILIATION.observe(seconds)


def observe_backup(seconds: float, *, ok: bool) -> None:
    BACKUPS.labels("success" if ok else "failed").inc()
    if ok:
        BACKUP_SECONDS.set(seconds)
        BACKUP_LAST.set(time.time())


_TEMPLATES: dict[str, str] = {}


def route_of(scope: MutableMapping[str, Any]) -> str:
    """The route template that answered (``/transactions/{ref}``), or ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        plain = _TEMPLATES.get(path)
        if plain is None:  # "{ref:path}" → "{ref}", as the route matrix names routes
            plain = _TEMPLATES[path] = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)
        return plain
    endpoint = scope.get("endpoint")
    return getattr(endpoint, "__name__", None) or "<unmatched>"


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class MetricsMiddleware:
    """Counts and times every HTTP request; writes one access log line (no path, no query)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            elapsed = time.perf_counter() - started
            method, route = scope["method"], route_of(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            kind = INGEST_ROUTES.get((method, route))
            if kind is not None:
                INGEST_REQUESTS.labels(kind, "ok" if status < 300 else "error").inc()
                INGEST_LATENCY.labels(kind).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    },
                )


class StoreCollector(Collector):
    """Gauges read from the running store at each scrape."""

    def __init__(self, cf: Counterfoil, state: Any) -> None:
        self.cf, self.state = cf, state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        writer = getattr(self.cf, "_writer", None)
        yield GaugeMetricFamily(
            "counterfoil_writer_queue_depth",
            "Write jobs waiting for the single writer.",
            value=writer.depth if writer is not None else 0,
        )
        queue = getattr(self.state, "ingest_queue", None)
        yield GaugeMetricFamily(
            "counterfoil_ingest_queue_depth",
            "Single transactions waiting to be recorded together.",
            value=len(getattr(queue, "_waiting", ())),
        )
        try:
            entries, cases = self.cf.read(_store_figures)
        except Exception:
            yield GaugeMetricFamily(
                "counterfoil_store_up", "1 if the database answered this scrape.", value=0
            )
            return
        yield GaugeMetricFamily(
            "counterfoil_store_up", "1 if the database answered this scrape.", value=1
        )
        yield GaugeMetricFamily(
            "counterfoil_journal_entries",
            "Entries in all merchants' journals (the sum of their chain heads).",
            value=entries,
        )
        if cases is not None:
            yield GaugeMetricFamily("counterfoil_open_cases", "Cases not closed.", value=cases)


def _store_figures(conn: Any) -> tuple[int, int | None]:
    entries = conn.execute(
        select(func.coalesce(func.sum(chain_heads.c.seq), 0)).where(
            chain_heads.c.chain != AUDIT_CHAIN
        )
    ).scalar_one()
    cases = None
    found = inspect(conn)
    if found.has_table("cases"):
        columns = {c["name"] for c in found.get_columns("cases")}
        column = next((c for c in ("state", "status") if c in columns), None)
        if column is not None:
            try:  # the last query of this connection: a failure here spoils nothing else
                cases = conn.execute(
                    text(f"SELECT count(*) FROM cases WHERE {column} <> 'closed'")  # noqa: S608
                ).scalar_one()
            except Exception:
                cases = None  # a table of another shape: not counted, never an error
    return int(entries), None if cases is None else int(cases)


def render(cf: Counterfoil, state: Any) -> bytes:
    """The exposition text: the process's metrics, then the store's."""
    per_scrape = CollectorRegistry()
    per_scrape.register(StoreCollector(cf, state))
    return generate_latest(REGISTRY) + generate_latest(per_scrape)
