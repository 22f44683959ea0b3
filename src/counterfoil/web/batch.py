"""Batch closes in the console.

``/batches`` lists the closes (filters by merchant, terminal, batch and answer; fifty a
page, HTMX asks for the results alone) above the form with which a supervisor reports a
terminal's totals for it (amounts typed in yuan; the terminal's list of transactions,
one per line, optional). ``/batches/{id}`` shows one close: the answer, both sides'
totals, each difference with the transactions that explain it, and the batch-totals
slip, which ``/batches/{id}/slip`` downloads. A submitted close answers with a redirect
to its page, or with the list again and the fields' errors (422).
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.core.errors import ValidationError
from counterfoil.core.money import parse_amount
from counterfoil.i18n import _, translate
from counterfoil.services.access import Principal
from counterfoil.services.merchants import get_merchant, list_merchants
from counterfoil.settlement import batch as svc
from counterfoil.settlement.batch_slip import FORMATS
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("batch.read"))]
Closer = Annotated[Principal, Depends(requires("batch.close"))]

GROUP_LABELS: dict[str, str] = {
    "all": _("All cards"),
    "domestic": _("Domestic cards"),
    "foreign": _("Foreign cards"),
}
SIDE_LABELS: dict[str, str] = {"debit": _("Debit"), "credit": _("Credit")}
REASON_LABELS: dict[str, str] = {
    "missing_on_terminal": _("Not counted by the terminal"),
    "missing_in_journal": _("Not in the journal"),
    "amount_differs": _("Amounts differ"),
}
DETAIL_LABELS: dict[str, str] = {
    "offline": _("uploaded offline"),
    "voided": _("voided in the journal"),
    "reversed": _("reversed in the journal"),
    "trace_gap": _("trace number missing from the batch"),
    "tip": _("the tip"),
}
DONE: dict[str, str] = {
    "closed": _("Batch close {close_id} recorded."),
    "repeated": _("This close had been reported before: the same answer."),
}
FORM_FIELDS = (
    "merchant_no",
    "terminal_id",
    "batch_no",
    "debit_count",
    "debit_amount",
    "credit_count",
    "credit_amount",
    "transactions",
)
_LINE = re.compile(r"^\s*(\d{6})\s+(\w+)\s+([0-9,.]+)\s*(foreign|外卡)?\s*$", re.IGNORECASE)


def _labels(locale: str, labels: dict[str, str]) -> dict[str, str]:
    return {code: translate(text, locale) for code, text in labels.items()}


def _merchants(request: Request, who: Principal) -> list[dict[str, Any]]:
    cf = cf_of(request)
    if who.all_merchants:
        return [m.as_dict() for m in cf.read(list_merchants)]
    return cf.read(lambda conn: [get_merchant(conn, m).as_dict() for m in who.merchants])


def _count(text: str, field: str) -> int:
    value = text.strip()
    if not value.isdigit():
        raise ValidationError(
            field, _("expected a whole number from 0 to {maximum}"), maximum=999999
        )
    return int(value)


def _listed(text: str) -> list[dict[str, Any]] | None:
    """The terminal's list as typed: "000001 sale 100.00" a line ("foreign" at the end for
    a foreign card); None when nothing was typed."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    found: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        match = _LINE.match(line)
        if match is None:
            raise ValidationError(
                "transactions",
                _(
                    "line {line}: expected a trace number, a type and an amount, such as "
                    "000001 sale 100.00"
                ),
                line=number,
            )
        item: dict[str, Any] = {
            "trace_no": match.group(1),
            "type": match.group(2).lower(),
            "amount": parse_amount(match.group(3), field="transactions"),
        }
        if match.group(4):
            item["foreign"] = True
        found.append(item)
    return found


def report_of(form: dict[str, str]) -> dict[str, Any]:
    """The report a supervisor typed, as a terminal would send it (amounts in fen)."""
    report: dict[str, Any] = {
        "merchant_no": form["merchant_no"].strip(),
        "terminal_id": form["terminal_id"].strip().upper(),
        "batch_no": form["batch_no"].strip(),
        "debit_count": _count(form["debit_count"], "debit_count"),
        "debit_amount": parse_amount(form["debit_amount"] or "0", field="debit_amount"),
        "credit_count": _count(form["credit_count"], "credit_count"),
        "credit_amount": parse_amount(form["credit_amount"] or "0", field="credit_amount"),
    }
    listed = _listed(form.get("transactions", ""))
    if listed is not None:
        report["transactions"] = listed
    return report


def _field_of(exc: ValidationError) -> str:
    name = re.split(r"[.\[]", exc.field, maxsplit=1)[0]
    return name if name in FORM_FIELDS else "form"


# --- the list, and reporting a close --------------------------------------------------------


def _filters(
    merchant: Annotated[str | None, Query(max_length=15)] = None,
    terminal_id: Annotated[str | None, Query(max_length=8)] = None,
    batch_no: Annotated[str | None, Query(max_length=6)] = None,
    answer: Annotated[str | None, Query(max_length=12)] = None,
) -> dict[str, str | None]:
    return {
        "merchant": merchant,
        "terminal_id": terminal_id,
        "batch_no": batch_no,
        "answer": answer,
    }


Filters = Annotated[dict[str, str | None], Depends(_filters)]


async def _list_page(
    request: Request,
    who: Principal,
    filters: dict[str, str | None],
    page_no: int = 1,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    errors = dict(errors or {})
    answer = {"balanced": True, "not_balanced": False}.get(filters["answer"] or "")
    result: dict[str, Any] = {"items": [], "total": 0, "page": 1, "per_page": svc.PER_PAGE}
    try:
        result = await asyncio.to_thread(
            cf_of(request).read,
            lambda conn: svc.list_closes(
                conn,
                who,
                filters["merchant"] or None,
                terminal_id=filters["terminal_id"] or None,
                batch_no=filters["batch_no"] or None,
                balanced=answer,
                page=page_no,
            ),
        )
    except ValidationError as exc:
        errors[f"filter_{exc.field}"] = exc.render(locale_of(request))
    pages = max(1, -(-int(result["total"]) // int(result["per_page"])))
    context: dict[str, Any] = {
        "filters": filters,
        "result": result,
        "pages": pages,
        "page_no": page_no,
        "base_query": urlencode({k: v for k, v in filters.items() if v}),
        "errors": errors,
    }
    if request.headers.get("hx-request") and form is None and status_code == 200:
        return page(request, "batch_results.html", **context)
    merchants = await asyncio.to_thread(_merchants, request, who)
    closable = merchants if who.may("batch.close") and not who.all_merchants else []
    return page(
        request,
        "batches.html",
        status_code,
        merchants=merchants,
        closable=closable,
        form=form or {"batch_no": "", "terminal_id": ""},
        **context,
    )


@router.get("/batches")
async def batches_page(
    request: Request,
    who: Reader,
    filters: Filters,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    return await _list_page(request, who, filters, page_no)


@router.post("/batches")
async def report_close(
    request: Request,
    who: Closer,
    merchant_no: Annotated[str, Form(max_length=15)] = "",
    terminal_id: Annotated[str, Form(max_length=8)] = "",
    batch_no: Annotated[str, Form(max_length=6)] = "",
    debit_count: Annotated[str, Form(max_length=8)] = "0",
    debit_amount: Annotated[str, Form(max_length=24)] = "0",
    credit_count: Annotated[str, Form(max_length=8)] = "0",
    credit_amount: Annotated[str, Form(max_length=24)] = "0",
    transactions: Annotated[str, Form(max_length=400_000)] = "",
) -> Response:
    typed = {
        "merchant_no": merchant_no,
        "terminal_id": terminal_id,
        "batch_no": batch_no,
        "debit_count": debit_count,
        "debit_amount": debit_amount,
        "credit_count": credit_count,
        "credit_amount": credit_amount,
        "transactions": transactions,
    }
    try:
        found = await asyncio.to_thread(svc.close_batch, cf_of(request), who, report_of(typed))
    except ValidationError as exc:
        errors = {_field_of(exc): exc.render(locale_of(request))}
        return await _list_page(request, who, _filters(), 1, 422, form=typed, errors=errors)
    done = "repeated" if found["repeated"] else "closed"
    return RedirectResponse(f"/batches/{found['id']}?done={done}", status_code=303)


# --- one close ------------------------------------------------------------------------------


@router.get("/batches/{close_id}")
async def close_page(request: Request, who: Reader, close_id: int) -> HTMLResponse:
    cf = cf_of(request)

    def read(conn: Any) -> tuple[dict[str, Any], str, str]:
        close = svc.get_close(conn, who, close_id)
        zone = get_merchant(conn, close["merchant_no"]).timezone
        return close, zone, svc.slip_text(conn, close, 48)

    close, zone, slip = await asyncio.to_thread(cf.read, read)
    locale = locale_of(request)
    done = request.query_params.get("done", "")
    notice = translate(DONE[done], locale, close_id=close_id) if done in DONE else None
    return page(
        request,
        "batch.html",
        close=close,
        zone=zone,
        slip=slip,
        notice=notice,
        formats=list(FORMATS),
        groups=_labels(locale, GROUP_LABELS),
        sides=_labels(locale, SIDE_LABELS),
        reasons=_labels(locale, REASON_LABELS),
        details=_labels(locale, DETAIL_LABELS),
    )


@router.get("/batches/{close_id}/slip")
async def slip_download(
    request: Request,
    who: Reader,
    close_id: int,
    format: Annotated[str, Query(max_length=10)] = "text80",
) -> Response:
    data, media, name = await asyncio.to_thread(svc.slip, cf_of(request), who, close_id, format)
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
