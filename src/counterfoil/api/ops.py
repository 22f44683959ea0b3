"""API: operations — Prometheus metrics at ``/metrics``; a database that is down or full
answers 503 ``store_unavailable``, not 500.

``/metrics`` is public like ``/health`` (a Prometheus scraper has no session): it holds
counts and timings only, no merchant's data. docs/deploy.md has the reverse proxy keep it
off the internet. ``install`` (called once by ``create_app``) adds the metrics middleware
and the mapping of the database's "unavailable" errors.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from fastapi import APIRouter, FastAPI, Request, Response
from sqlalchemy.exc import InterfaceError, OperationalError

from counterfoil.api.auth import cf_of
from counterfoil.core.errors import CounterfoilError, StoreUnavailable
from counterfoil.i18n import _
from counterfoil.observe.metrics import MetricsMiddleware, render

router = APIRouter(tags=["health"])
log = logging.getLogger("counterfoil.store")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, ingest, queues, journals, cases, backups, process",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    body = await asyncio.to_thread(render, cf_of(request), request.app.state)
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def install(app: FastAPI) -> None:
    """Count every request; answer 503 when the database is unreachable or out of space."""
    app.add_middleware(MetricsMiddleware)

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.error("database unavailable: %s", str(exc).splitlines()[0][:300] if str(exc) else "")
        problem = StoreUnavailable(
            _(
                "the database is unavailable or out of space; nothing was recorded by this "
                "request: try again shortly"
            )
        )
        handler = app.exception_handlers[CounterfoilError]
        answer = handler(request, problem)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(OperationalError, unavailable)
    app.add_exception_handler(InterfaceError, unavailable)
