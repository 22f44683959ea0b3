"""The audit log through the API: a page of records, and the whole of it as CSV or JSON Lines.

For auditors and admins (``audit.read``), and integrations given that scope; each sees
only its merchants' records (``services.audit_view``). Reading and exporting are audited,
with the filters used; a request for another merchant's records is refused and audited
as denied. ``read_page`` and ``export`` are shared with the console's audit pages.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from counterfoil.api.auth import cf_of, requires
from counterfoil.core.errors import Forbidden, ValidationError
from counterfoil.i18n import _
from counterfoil.services import audit_view
from counterfoil.services.access import Principal
from counterfoil.services.audit_view import AuditFilters
from counterfoil.services.context import Counterfoil

router = APIRouter(prefix="/api/v1", tags=["audit"])
Reader = Annotated[Principal, Depends(requires("audit.read"))]
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
CHUNK = 64 * 1024


async def _note(
    cf: Counterfoil,
    who: Principal,
    action: str,
    filters: AuditFilters,
    outcome: str = "success",
    **facts: Any,
) -> None:
    await asyncio.wrap_future(
        cf.submit(
            lambda conn: audit_view.record_access(conn, who, action, filters, outcome, **facts)
        )
    )


async def read_page(request: Request, who: Principal, filters: AuditFilters) -> dict[str, Any]:
    """One page of the records ``who`` may see; the reading is audited (``audit.view``)."""
    cf = cf_of(request)
    try:
        result: dict[str, Any] = await asyncio.to_thread(
            cf.read, lambda conn: audit_view.query(conn, who, filters)
        )
    except Forbidden:
        await _note(cf, who, "audit.view", filters, "denied")
        raise
    await _note(
        cf, who, "audit.view", filters, returned=len(result["items"]), total=result["total"]
    )
    return result


def _csv(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a spreadsheet then reads the Chinese text as UTF-8
    writer.writerow(audit_view.FIELDS)
    for row in rows:
        writer.writerow([audit_view.neutral_cell(row[name]) for name in audit_view.FIELDS])
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    chunk = bytearray()
    for row in rows:
        chunk += orjson.dumps(row) + b"\n"
        if len(chunk) >= CHUNK:
            yield bytes(chunk)
            chunk.clear()
    yield bytes(chunk)


def _stream(cf: Counterfoil, who: Principal, filters: AuditFilters, fmt: str) -> Iterator[bytes]:
    """The export, read in batches on one connection while the response is sent."""
    with cf.engine.connect() as conn:
        rows = audit_view.export_rows(conn, who, filters)
        yield from (_csv(rows) if fmt == "csv" else _jsonl(rows))


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValidationError("format", _("expected one of {options}"), options=", ".join(FORMATS))
    return fmt


async def export(
    request: Request, who: Principal, filters: AuditFilters, fmt: str
) -> StreamingResponse:
    """Every matching record ``who`` may see, streamed; the export is audited first."""
    cf = cf_of(request)
    check_format(fmt)
    filters.check()
    try:
        who.require("audit.read", filters.merchant_no)
    except Forbidden:
        await _note(cf, who, "audit.export", filters, "denied", format=fmt)
        raise
    await _note(cf, who, "audit.export", filters, format=fmt)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scope = f"-{filters.merchant_no}" if filters.merchant_no else ""
    name = f"counterfoil-audit{scope}-{stamp}.{fmt}"
    return StreamingResponse(
        _stream(cf, who, filters, fmt),
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def filters_of(
    date_from: date | None = None,
    date_to: date | None = None,
    actor: Annotated[str | None, Query(max_length=80)] = None,
    action: Annotated[str | None, Query(max_length=60, description="a prefix: auth.")] = None,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=120)] = None,
    merchant: Annotated[str | None, Query(max_length=15)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
) -> AuditFilters:
    """The filters of a request (dates are UTC days; ``date_to`` is included)."""
    return AuditFilters(
        date_from,
        date_to,
        actor or None,
        action or None,
        object_type or None,
        object_id or None,
        merchant or None,
        outcome or None,
    )


Filters = Annotated[AuditFilters, Depends(filters_of)]


@router.get("/audit", summary="Audit records, newest first (dates are UTC days)")
async def audit_records(
    request: Request,
    who: Reader,
    filters: Filters,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=audit_view.MAX_PAGE)] = audit_view.PER_PAGE,
) -> dict[str, Any]:
    return await read_page(request, who, replace(filters, page=page, per_page=per_page))


@router.get(
    "/audit/export",
    summary="Every matching audit record, oldest first, as CSV or JSON Lines (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def audit_export(
    request: Request,
    who: Reader,
    filters: Filters,
    format: Annotated[str, Query(max_length=8)] = "csv",
) -> StreamingResponse:
    return await export(request, who, filters, format)
