"""The FastAPI application: health, readiness and the transaction routes.

``create_app`` takes an open ``Counterfoil`` and starts its single writer; routes parse
input, call one service and render the result.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from counterfoil import __version__, web
from counterfoil.api import (
    admin,
    audit,
    batch,
    cases,
    errors,
    incidents,
    ops,
    payouts,
    receipts,
    reconcile,
    session,
    settlement,
    statements,
    transactions,
)
from counterfoil.api.responses import JSON
from counterfoil.services.bulk import Workers
from counterfoil.services.context import Counterfoil
from counterfoil.store.db import ping

# FastAPI's own OpenTelemetry hooks (FastAPI 0.16x) look the global providers up in the
# environment on every request, a twentieth of a single transaction's time in the event
# loop; Counterfoil's metrics are its own (observe/metrics.py), so those hooks are off
# where this FastAPI has them.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(
    cf: Counterfoil, *, workers: int = 0, on_close: Callable[[], None] | None = None
) -> FastAPI:
    """The application over an open store; ``workers`` processes validate batches and sign."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cf.start_writer()
        if workers > 0:
            app.state.workers = Workers(cf.keys, workers)
            app.state.workers.warm()
        yield
        if workers > 0:
            app.state.workers.close()
        cf.close()
        if on_close:
            on_close()

    app = FastAPI(
        title="Counterfoil",
        version=__version__,
        lifespan=lifespan,
        default_response_class=JSON,
        description="Keeps, proves and reconciles point-of-sale records.",
        **_NO_TELEMETRY,
    )
    app.state.cf = cf
    errors.install(app, pages=web.error_page)
    ops.install(app)  # metrics middleware; a database down or full answers 503
    app.include_router(transactions.router)
    app.include_router(session.router)
    app.include_router(statements.router)
    app.include_router(receipts.router)
    app.include_router(incidents.router)
    app.include_router(audit.router)
    app.include_router(admin.router)
    for module in (settlement, batch, reconcile, cases, ops, payouts):
        app.include_router(module.router)
    web.install(app)

    @app.get("/health", tags=["health"], summary="Liveness: the process answers")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["health"], summary="Readiness: the database answers")
    async def ready() -> JSON:
        try:
            await asyncio.to_thread(ping, cf.engine)
        except Exception as exc:
            return errors.error_response(503, "store_unavailable", str(exc)[:200])
        return JSON({"status": "ready"})

    return app
