"""Case routes: the board, opening, working a case (assign, notes, evidence, submit,
respond, notify, close), its application PDF, adjustments and their approval by a second
person; and the pre-authorisation monitor.

``cases.read`` reads, ``cases.open`` opens, ``cases.work`` works a case;
``adjustments.propose`` and ``adjustments.approve`` move money. The services confine
every request to the caller's merchants. Evidence files are served only as downloads.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import FileResponse, Response

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.responses import JSON
from counterfoil.api.statements import blocks
from counterfoil.api.transactions import read_json
from counterfoil.cases import adjustments, application, evidence, notify, preauths
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import TooLarge, ValidationError
from counterfoil.i18n import _
from counterfoil.services.access import Principal

router = APIRouter(prefix="/api/v1", tags=["cases"])
Reader = Annotated[Principal, Depends(requires("cases.read"))]
Opener = Annotated[Principal, Depends(requires("cases.open"))]
Worker = Annotated[Principal, Depends(requires("cases.work"))]
Proposer = Annotated[Principal, Depends(requires("adjustments.propose"))]
Approver = Annotated[Principal, Depends(requires("adjustments.approve"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
MAX_BODY = 32 * 1024


async def _object(request: Request) -> dict[str, Any]:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise ValidationError("$", _("expected a JSON object"))
    return body


def _text(body: dict[str, Any], name: str, default: str | None = "") -> str | None:
    value = body.get(name, default)
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(name, _("expected text"))


def _amount(body: dict[str, Any], name: str) -> int | str | None:
    value = body.get(name)
    if value is None or (isinstance(value, int | str) and not isinstance(value, bool)):
        return value
    raise ValidationError(name, _("expected an amount in fen (an integer)"))


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValidationError(name, _("expected a list of texts"))
    return value


def check_evidence_length(request: Request) -> None:
    """An upload that says it is larger than the evidence limit is refused unread."""
    declared = request.headers.get("content-length", "")
    limit = evidence.size_limit()
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise TooLarge(
            _("the file is larger than the evidence limit of {limit} MB"),
            limit=limit // (1024 * 1024),
        )


def attachment(data_or_path: Any, filename: str, media_type: str) -> Response:
    """A download, never shown inline: attachment, nosniff, a sandbox, not cached."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''"
        f"{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store",
    }
    if isinstance(data_or_path, bytes):
        return Response(data_or_path, media_type=media_type, headers=headers)
    return FileResponse(data_or_path, media_type=media_type, headers=headers)


# --- the board and opening ---------------------------------------------------------------


@router.get("/cases", summary="The cases board: overdue first, then by due day")
async def list_cases(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    assignee: Annotated[str | None, Query(max_length=80)] = None,
    overdue: bool = False,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=wf.MAX_PAGE)] = wf.PER_PAGE,
) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: wf.list_cases(
            conn,
            who,
            merchant,
            state=state,
            kind=kind,
            assignee=assignee,
            overdue=overdue,
            page=page,
            per_page=per_page,
        ),
    )
    return found


@router.post(
    "/cases",
    status_code=201,
    summary="Open a case by hand: {merchant, kind, title, description?, priority?, "
    "terminal_id?, difference? (fen, signed), currency?, entries?, due_on?}",
)
async def open_case(request: Request, who: Opener) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        wf.open_case,
        cf_of(request),
        who,
        merchant=_text(body, "merchant", None),
        kind=_text(body, "kind") or "",
        title=_text(body, "title") or "",
        description=_text(body, "description") or "",
        priority=_text(body, "priority") or "normal",
        terminal_id=_text(body, "terminal_id", None),
        difference=_amount(body, "difference"),
        currency=_text(body, "currency") or "CNY",
        entries=_strings(body, "entries"),
        due_on=_text(body, "due_on", None),
    )
    return JSON(found, status_code=201)


@router.get("/cases/report", summary="Cases by month: causes and resolution times")
async def case_report(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: wf.report(conn, who, merchant, date_from, date_to)
    )
    return found


@router.get("/cases/{case_id}", summary="One case with its timeline, evidence and adjustments")
async def get_case(request: Request, who: Reader, case_id: int) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: wf.get_case(conn, who, case_id)
    )
    return found


# --- working a case ------------------------------------------------------------------------


@router.post("/cases/{case_id}/assign", summary="{assignee, priority?, due_on?, note?}")
async def assign(request: Request, who: Worker, case_id: int) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        wf.assign,
        cf_of(request),
        who,
        case_id,
        _text(body, "assignee") or "",
        priority=_text(body, "priority", None),
        due_on=_text(body, "due_on", None),
        note=_text(body, "note") or "",
    )
    return JSON(found)


@router.post("/cases/{case_id}/notes", status_code=201, summary="{note}")
async def add_note(request: Request, who: Worker, case_id: int) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        wf.add_note, cf_of(request), who, case_id, _text(body, "note") or ""
    )
    return JSON(found, status_code=201)


@router.post(
    "/cases/{case_id}/submit",
    summary="The application went to the acquirer: {reference?, note?}",
)
async def submit(request: Request, who: Worker, case_id: int) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        wf.submit,
        cf_of(request),
        who,
        case_id,
        reference=_text(body, "reference") or "",
        note=_text(body, "note") or "",
    )
    return JSON(found)


@router.post(
    "/cases/{case_id}/respond",
    summary="The acquirer's answer: {reference?, outcome?: accepted | rejected, note?}",
)
async def respond(request: Request, who: Worker, case_id: int) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        wf.respond,
        cf_of(request),
        who,
        case_id,
        reference=_text(body, "reference") or "",
        outcome=_text(body, "outcome", None),
        note=_text(body, "note") or "",
    )
    return JSON(found)


@router.post("/cases/{case_id}/close", summary="{root_cause, lesson}")
async def close(request: Request, who: Worker, case_id: int) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        wf.close,
        cf_of(request),
        who,
        case_id,
        root_cause=_text(body, "root_cause") or "",
        lesson=_text(body, "lesson") or "",
    )
    return JSON(found)


@router.post(
    "/cases/{case_id}/notify",
    status_code=201,
    summary="Tell the customer: {channel: email | sms | phone, to, template, locale?, note?}",
)
async def notify_customer(request: Request, who: Worker, case_id: int) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        notify.notify,
        cf_of(request),
        who,
        case_id,
        channel=_text(body, "channel") or "",
        to=_text(body, "to") or "",
        template=_text(body, "template") or "",
        locale=_text(body, "locale") or "zh_CN",
        note=_text(body, "note") or "",
    )
    return JSON(found, status_code=201)


@router.post(
    "/cases/{case_id}/evidence",
    status_code=201,
    summary="Attach a file (multipart field 'file', optional 'note') or name one: "
    "{kind: slip | statement_line | journal_entry, ref, note?}",
    responses={413: {"description": "Above the evidence size limit"}},
)
async def add_evidence(request: Request, who: Worker, case_id: int) -> JSON:
    cf = cf_of(request)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        check_evidence_length(request)
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        note = form.get("note")
        if isinstance(upload, str) or upload is None or not upload.filename:
            raise ValidationError(
                "file", _("send the file as multipart/form-data in the field 'file'")
            )
        try:
            found = await asyncio.to_thread(
                evidence.attach_file,
                cf,
                who,
                case_id,
                blocks(upload),
                upload.filename,
                note if isinstance(note, str) else "",
            )
        finally:
            await upload.close()
        return JSON(found, status_code=201)
    body = await _object(request)
    found = await asyncio.to_thread(
        evidence.attach_link,
        cf,
        who,
        case_id,
        _text(body, "kind") or "",
        _text(body, "ref") or "",
        _text(body, "note") or "",
    )
    return JSON(found, status_code=201)


@router.get(
    "/cases/{case_id}/evidence/{evidence_id}",
    summary="Download a file of the case's evidence (always as an attachment)",
    response_class=Response,
)
async def download_evidence(
    request: Request, who: Reader, case_id: int, evidence_id: int
) -> Response:
    found = await asyncio.to_thread(
        evidence.evidence_file, cf_of(request), who, case_id, evidence_id
    )
    return attachment(found.path, found.filename, found.content_type)


@router.get(
    "/cases/{case_id}/application.pdf",
    summary="The application to the acquirer, in Chinese and English (PDF)",
    response_class=Response,
)
async def application_pdf(request: Request, who: Reader, case_id: int) -> Response:
    name, document = await asyncio.to_thread(
        application.application_pdf, cf_of(request), who, case_id
    )
    return attachment(document, name, "application/pdf")


# --- adjustments -------------------------------------------------------------------------


@router.post(
    "/cases/{case_id}/adjustments",
    status_code=201,
    summary="Propose an adjustment: {kind: refund | supplement | write_off, amount (fen), reason}",
)
async def propose(request: Request, who: Proposer, case_id: int) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        adjustments.propose,
        cf_of(request),
        who,
        case_id,
        kind=_text(body, "kind") or "",
        amount=_amount(body, "amount") or "",
        reason=_text(body, "reason") or "",
    )
    return JSON(found, status_code=201)


@router.post(
    "/cases/{case_id}/adjustments/{adjustment_id}/decision",
    summary="A second person approves (the journal entry is written) or rejects: "
    "{decision: approve | reject, note?}",
)
async def decide(request: Request, who: Approver, case_id: int, adjustment_id: int) -> JSON:
    body = await _object(request)
    decision = _text(body, "decision") or "approve"
    wf.choice("decision", decision, ("approve", "reject"))
    found = await asyncio.to_thread(
        adjustments.decide,
        cf_of(request),
        who,
        case_id,
        adjustment_id,
        approve=decision == "approve",
        note=_text(body, "note") or "",
    )
    return JSON(found)


# --- the pre-authorisation monitor -------------------------------------------------------


@router.get("/preauths", summary="Open pre-authorisations and what is wrong with them")
async def preauth_monitor(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    within_days: Annotated[int, Query(ge=0, le=preauths.MAX_DAYS)] = 3,
    tolerance_pct: Annotated[int | None, Query(ge=100, le=1000)] = None,
) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: preauths.monitor(
            conn, who, merchant, within_days=within_days, tolerance_pct=tolerance_pct
        ),
    )
    return found


@router.post(
    "/preauths/cases",
    status_code=201,
    summary="Open a case for each finding that has none: {merchant, findings?, "
    "within_days?, tolerance_pct?}",
)
async def preauth_cases(request: Request, who: Opener) -> JSON:
    body = await _object(request)
    findings = _strings(body, "findings") or [
        "above_tolerance",
        "without_preauth",
        "double_completion",
    ]
    within, pct = body.get("within_days", 3), body.get("tolerance_pct")
    if not isinstance(within, int) or isinstance(within, bool):
        raise ValidationError("within_days", _("expected a whole number of days"))
    if pct is not None and (not isinstance(pct, int) or isinstance(pct, bool)):
        raise ValidationError("tolerance_pct", _("expected a whole number of per cent"))
    found = await asyncio.to_thread(
        preauths.open_cases,
        cf_of(request),
        who,
        _text(body, "merchant", None),
        findings=tuple(findings),
        within_days=within,
        tolerance_pct=pct,
    )
    return JSON(found, status_code=201)
