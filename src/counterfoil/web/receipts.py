"""Receipt pages: the public verification page and the reprint form's answer.

``GET /v/{code}`` needs no login: anyone holding a slip checks it there. It shows the
facts the code states (masked as on the slip) and what happened to the payment since.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.receipts import verify_answer
from counterfoil.core.errors import ValidationError
from counterfoil.core.money import parse_amount
from counterfoil.i18n import _
from counterfoil.services import certificates, receipts
from counterfoil.services.access import Principal
from counterfoil.store import audit
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
SLIP_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


@router.get("/v/{code}")
async def verification_page(request: Request, code: str) -> HTMLResponse:
    try:
        answer = await asyncio.to_thread(verify_answer, request, code)
    except ValidationError:
        answer = {"genuine": False, "reason": "", "facts": None, "malformed": True}
    return page(request, "verify.html", answer=answer, code=code)


@router.post("/transactions/{ref}/reprint")
async def reprint_form(
    request: Request,
    ref: str,
    who: Annotated[Principal, Depends(requires("receipts.print"))],
    reason: Annotated[str, Form(max_length=20)],
    copy_kind: Annotated[str, Form(alias="copy", max_length=12)] = "merchant",
    format: Annotated[str, Form(max_length=10)] = "html",
    evidence_last4: Annotated[str, Form(max_length=4)] = "",
    evidence_amount: Annotated[str, Form(max_length=20)] = "",
    evidence_date: Annotated[str, Form(max_length=10)] = "",
    evidence_order: Annotated[str, Form(max_length=64)] = "",
    incident: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    evidence = {
        "last4": evidence_last4,
        "amount": parse_amount(evidence_amount.replace(",", ""), field="evidence.amount")
        if evidence_amount.strip()
        else None,
        "date": evidence_date,
        "order_no": evidence_order,
    }
    printed = await asyncio.to_thread(
        receipts.reprint,
        cf_of(request),
        who,
        ref,
        copy=copy_kind,
        fmt=format,
        reason=reason,
        evidence=evidence,
        incident_id=_incident(incident),
        base_url=str(request.base_url).rstrip("/"),
    )
    disposition = "inline" if format in ("html", "pdf", "text58", "text80") else "attachment"
    return Response(
        printed.content,
        media_type=printed.media_type,
        headers={
            "X-Print-No": str(printed.print_no),
            "Content-Disposition": f'{disposition}; filename="{printed.file_name}"',
            # the slip is a document with its own style and an inline QR: no script at all
            "Content-Security-Policy": SLIP_POLICY,
        },
    )


@router.post("/transactions/{ref}/certificate")
async def certificate_form(
    request: Request,
    ref: str,
    who: Annotated[Principal, Depends(requires("certificates.issue"))],
    format: Annotated[str, Form(max_length=10)] = "pdf",
    locale: Annotated[str, Form(max_length=10)] = "zh_CN",
) -> Response:
    issued = await asyncio.to_thread(
        certificates.issue,
        cf_of(request),
        who,
        ref,
        fmt=format,
        locale=locale,
        base_url=str(request.base_url).rstrip("/"),
    )
    return Response(
        issued.content,
        media_type=issued.media_type,
        headers={
            "X-Certificate-Serial": issued.serial,
            "Content-Disposition": f'inline; filename="{issued.file_name}"',
            "Content-Security-Policy": SLIP_POLICY,
        },
    )


def _incident(value: str) -> int | None:
    value = value.strip().lstrip("#")
    if not value:
        return None
    if not value.isdigit():
        raise ValidationError("incident", _("expected an incident number"))
    return int(value)


@router.get("/transactions/{ref}/slip")
async def slip_view(
    request: Request,
    ref: str,
    who: Annotated[Principal, Depends(requires("transactions.read"))],
) -> HTMLResponse:
    """The slip as it reads, to look at (an auditor may view, never print)."""
    cf = cf_of(request)
    text = await asyncio.to_thread(cf.read, lambda conn: receipts.view(conn, who, ref))
    await asyncio.wrap_future(
        cf.submit(
            lambda conn: audit.record(
                conn,
                who.actor,
                "receipt.view",
                object_type="transaction",
                object_id=ref[:64],
            )
        )
    )
    return page(request, "slip_view.html", ref=ref, text=text)
