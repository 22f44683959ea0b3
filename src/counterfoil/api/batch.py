"""Batch close routes (批结算): a terminal (or a supervisor for it) reports its batch totals
and hears balanced or not balanced, with the transactions that explain a difference;
the closes are read back, and their batch-totals slip downloaded.

``POST /api/v1/batches/close`` takes the terminal's own token (``Authorization: Bearer
cft_…``, its own batches only) or a supervisor's session with its CSRF token
(``batch.close``); 201 for a new close, 200 when the same close is reported again.
Reading needs ``batch.read`` and is confined to the reader's merchants.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from counterfoil.api.auth import Caller, cf_of, requires
from counterfoil.api.responses import JSON
from counterfoil.api.transactions import read_json
from counterfoil.services.access import Principal
from counterfoil.settlement import batch as svc

router = APIRouter(prefix="/api/v1", tags=["batches"])
Reader = Annotated[Principal, Depends(requires("batch.read"))]
MAX_BODY = 2 * 1024 * 1024  # a list of 10,000 transactions fits


@router.post(
    "/batches/close",
    status_code=201,
    summary="Close a batch: {merchant_no, terminal_id, batch_no, debit_count, debit_amount, "
    "credit_count, credit_amount} or {…, domestic: {…}, foreign: {…}}, optionally "
    "transactions: [{trace_no, type, amount, foreign?}]; balanced or not, and why",
    responses={
        200: {"description": "The same close reported again: the same answer"},
        403: {"description": "Another terminal's batch, or no batch.close"},
        422: {"description": "A field of the report is not valid"},
    },
)
async def close_batch(request: Request, who: Caller) -> JSON:
    body = await read_json(request, MAX_BODY)
    found = await asyncio.to_thread(svc.close_batch, cf_of(request), who, body)
    return JSON(found, status_code=200 if found["repeated"] else 201)


@router.get("/batches", summary="Batch closes, the latest first")
async def list_closes(
    request: Request,
    who: Reader,
    merchant: Annotated[str | None, Query(max_length=15)] = None,
    terminal_id: Annotated[str | None, Query(max_length=8)] = None,
    batch_no: Annotated[str | None, Query(max_length=6)] = None,
    balanced: bool | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = svc.PER_PAGE,
) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: svc.list_closes(
            conn,
            who,
            merchant,
            terminal_id=terminal_id,
            batch_no=batch_no,
            balanced=balanced,
            page=page,
            per_page=per_page,
        ),
    )
    return found


@router.get(
    "/batches/{close_id}",
    summary="One batch close: both sides' totals, each difference and the transactions "
    "that explain it",
)
async def get_close(request: Request, who: Reader, close_id: int) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: svc.get_close(conn, who, close_id)
    )
    return found


@router.get(
    "/batches/{close_id}/slip",
    summary="The batch-totals slip (结算总计单): text58, text80, pdf58 or pdf80",
)
async def get_slip(
    request: Request,
    who: Reader,
    close_id: int,
    format: Annotated[str, Query(max_length=10)] = "text80",
) -> Response:
    data, media, name = await asyncio.to_thread(svc.slip, cf_of(request), who, close_id, format)
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
