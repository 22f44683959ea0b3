"""Receipt routes: reprint a slip (recorded, for those who may print) and verify a code.

Verification is public — a customer or a bank checks a slip without an account — and
rate-limited per address, so that nobody can probe codes at speed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import deque
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from counterfoil.api.auth import cf_of, requires, source_of
from counterfoil.api.errors import locale_of
from counterfoil.api.transactions import read_json
from counterfoil.core.errors import CounterfoilError, ValidationError
from counterfoil.documents.certificate import PREFIX as CERTIFICATE_PREFIX
from counterfoil.i18n import _
from counterfoil.services import certificates, receipts
from counterfoil.services.access import Principal

router = APIRouter(prefix="/api/v1", tags=["receipts"])
MAX_CODE = 400


class TooMany(CounterfoilError):
    code = "rate_limited"
    status = 429


class RateLimit:
    """At most ``limit`` requests per ``window`` seconds from one address (bounded memory)."""

    def __init__(self, limit: int = 60, window: float = 60.0, addresses: int = 10_000) -> None:
        self.limit, self.window, self.addresses = limit, window, addresses
        self.seen: dict[str, deque[float]] = {}

    def check(self, address: str) -> None:
        now = time.monotonic()
        if len(self.seen) > self.addresses:
            self.seen.clear()
        hits = self.seen.setdefault(address, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            raise TooMany(_("too many verifications from this address; try again in a minute"))
        hits.append(now)


VERIFY_LIMIT = RateLimit()


def verify_answer(request: Request, code: str) -> dict[str, Any]:
    VERIFY_LIMIT.check(source_of(request))
    if len(code) > MAX_CODE:
        raise ValidationError("code", _("expected a code starting with CF1."))
    locale = locale_of(request)
    if code.strip().rsplit("/", 1)[-1].startswith(CERTIFICATE_PREFIX):
        proof: dict[str, Any] = cf_of(request).read(lambda conn: certificates.verify(conn, code))
        return proof
    answer: dict[str, Any] = cf_of(request).read(lambda conn: receipts.verify(conn, code, locale))
    answer["kind"] = "slip"
    return answer


@router.get("/receipts/verify/{code}", summary="Is this slip's code genuine? (public)")
async def verify(request: Request, code: str) -> dict[str, Any]:
    return await asyncio.to_thread(verify_answer, request, code)


@router.post(
    "/receipts",
    summary="Reprint a slip: {ref, copy, format, reason, evidence?, incident_id?, merchant?}",
    responses={200: {"description": "The document, with X-Print-No and X-Verification-Code"}},
)
async def reprint(
    request: Request, who: Annotated[Principal, Depends(requires("receipts.print"))]
) -> Response:
    body = await read_json(request, 16 * 1024)
    if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
        raise ValidationError("ref", _("expected an entry id, an RRN or an order number"))
    evidence = body.get("evidence")
    incident = body.get("incident_id")
    printed = await asyncio.to_thread(
        receipts.reprint,
        cf_of(request),
        who,
        body["ref"],
        copy=str(body.get("copy", "merchant")),
        fmt=str(body.get("format", "text80")),
        reason=str(body.get("reason", "")),
        evidence=evidence if isinstance(evidence, dict) else None,
        incident_id=incident if isinstance(incident, int) else None,
        merchant=body.get("merchant") if isinstance(body.get("merchant"), str) else None,
    )
    return Response(
        printed.content,
        media_type=printed.media_type,
        headers={
            "X-Print-No": str(printed.print_no),
            "X-Verification-Code": printed.code,
            "Content-Disposition": f'inline; filename="{printed.file_name}"',
        },
    )


@router.get("/certificates/find", summary="Find a payment for a proof of payment")
async def find_payments(
    request: Request,
    who: Annotated[Principal, Depends(requires("certificates.issue"))],
    merchant: str | None = None,
    date: str | None = None,
    amount: int | None = None,
    last4: str | None = None,
    order_no: str | None = None,
) -> dict[str, Any]:
    day = parse_day(date)
    items = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: certificates.find_payments(
            conn, who, merchant, day=day, amount=amount, last4=last4, order_no=order_no
        ),
    )
    return {"items": items}


@router.post(
    "/certificates",
    summary="Issue a proof of payment: {ref, format: pdf|html, locale: zh_CN|en, incident_id?}",
)
async def issue_certificate(
    request: Request, who: Annotated[Principal, Depends(requires("certificates.issue"))]
) -> Response:
    body = await read_json(request, 16 * 1024)
    if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
        raise ValidationError("ref", _("expected an entry id, an RRN or an order number"))
    incident = body.get("incident_id")
    issued = await asyncio.to_thread(
        certificates.issue,
        cf_of(request),
        who,
        body["ref"],
        fmt=str(body.get("format", "pdf")),
        locale=str(body.get("locale", "zh_CN")),
        merchant=body.get("merchant") if isinstance(body.get("merchant"), str) else None,
        incident_id=incident if isinstance(incident, int) else None,
        base_url=str(request.base_url).rstrip("/"),
    )
    return Response(
        issued.content,
        media_type=issued.media_type,
        headers={
            "X-Certificate-Serial": issued.serial,
            "X-Verification-Code": issued.code,
            "Content-Disposition": f'inline; filename="{issued.file_name}"',
        },
    )


def parse_day(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError("date", _("expected a date as YYYY-MM-DD")) from None
