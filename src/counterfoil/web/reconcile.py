"""Console pages: reconciliation. ``/reconcile`` lists the runs of the reader's merchants
(the latest first) with their counts and break lifecycle; the full page — a day's summary,
its breaks, manual match and adoption — builds on ``counterfoil.reconcile``'s services."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from counterfoil.api.auth import cf_of, requires
from counterfoil.reconcile import views
from counterfoil.services.access import Principal
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("reconcile.read"))]


@router.get("/reconcile")
async def reconcile_page(
    request: Request,
    who: Reader,
    merchant: Annotated[str | None, Query(max_length=15)] = None,
) -> HTMLResponse:
    runs: list[dict[str, Any]] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: views.list_runs(conn, who, merchant or None, limit=100)
    )
    return page(request, "reconcile.html", runs=runs)
