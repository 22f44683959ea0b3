"""Settlement lists and reports in the console.

``/settlement`` shows a business day's list (of the merchant or one terminal) as the
documents say it, with a download button per format (each a form with the CSRF token:
a download is a recorded copy, the first the original) and, for those who may, the
button that closes the day. ``/reports`` shows a month's (or a range's) volume, fees and
net by day, week or month, per channel and terminal, the chart of its daily volume and
fees (SVG, inline), the tax summary, and links to the CSV, XLSX and PNG exports.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.core.errors import Conflict, CounterfoilError, ValidationError
from counterfoil.i18n import _, translate
from counterfoil.services.access import Principal
from counterfoil.services.merchants import get_merchant, list_merchants
from counterfoil.settlement import charts, days, lists, reports
from counterfoil.settlement.render import sheet
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("settlement.read"))]
Closer = Annotated[Principal, Depends(requires("settlement.close"))]
ReportReader = Annotated[Principal, Depends(requires("reports.read"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
FORMAT_LABELS = {
    "text58": _("Printer 58 mm"),
    "text80": _("Printer 80 mm"),
    "pdf": "PDF",
    "csv": "CSV",
    "xlsx": "XLSX",
    "json": "JSON",
}
PERIOD_LABELS = {"daily": _("Daily"), "weekly": _("Weekly"), "monthly": _("Monthly")}


def _merchants(request: Request, who: Principal) -> list[dict[str, Any]]:
    cf = cf_of(request)
    if who.all_merchants:
        return [m.as_dict() for m in cf.read(list_merchants)]
    return cf.read(lambda conn: [get_merchant(conn, m).as_dict() for m in who.merchants])


def _yesterday(request: Request, merchant: str | None) -> str:
    """The last business day that is over: what a list is usually wanted for."""
    if not merchant:
        return ""
    settings = cf_of(request).read(lambda conn: days.settings_of(conn, merchant))
    return (settings.business_day(datetime.now(UTC)) - timedelta(days=1)).isoformat()


@router.get("/settlement")
async def settlement_page(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    date: Annotated[str | None, Query(max_length=10)] = None,
    terminal: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    return await _settlement_page(request, who, merchant, date, terminal)


async def _settlement_page(
    request: Request,
    who: Principal,
    merchant: str | None,
    date: str | None,
    terminal: str | None,
    status_code: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    merchants = await asyncio.to_thread(_merchants, request, who)
    chosen = merchant or (merchants[0]["merchant_no"] if merchants else None)
    day = date or await asyncio.to_thread(_yesterday, request, chosen)
    locale = locale_of(request)
    layout: Any = None
    found: lists.SettlementList | None = None
    if chosen and day and error is None:
        try:
            found = await asyncio.to_thread(
                cf_of(request).read,
                lambda conn: lists.build(conn, who, chosen, day, terminal or None),
            )
            layout = sheet(found, locale, "")
        except ValidationError as exc:
            error, status_code = exc.render(locale), 422
    return page(
        request,
        "settlement.html",
        status_code,
        merchants=merchants,
        merchant_no=chosen,
        form={"date": day, "terminal": terminal or ""},
        found=found,
        sheet=layout,
        error=error,
        notice=notice,
        formats={k: translate(v, locale) for k, v in FORMAT_LABELS.items()},
        may_close=who.may("settlement.close"),
        issuable=found is not None and (not found.provisional or found.end <= datetime.now(UTC)),
    )


@router.post("/settlement/issue")
async def issue(
    request: Request,
    who: Reader,
    merchant: Annotated[str, Form(max_length=15)] = "",
    date: Annotated[str, Form(max_length=10)] = "",
    terminal: Annotated[str, Form(max_length=8)] = "",
    format: Annotated[str, Form(max_length=8)] = "pdf",
) -> Response:
    try:
        issued = await asyncio.to_thread(
            lists.issue,
            cf_of(request),
            who,
            merchant or None,
            date,
            terminal or None,
            fmt=format,
            locale=locale_of(request),
        )
    except (ValidationError, Conflict) as exc:
        return await _settlement_page(
            request, who, merchant, date, terminal, 409, exc.render(locale_of(request))
        )
    return Response(
        issued.content,
        media_type=issued.media_type,
        headers={
            "X-Issue-No": str(issued.issue_no),
            "Content-Disposition": f'attachment; filename="{issued.file_name}"',
        },
    )


@router.post("/settlement/close")
async def close(
    request: Request,
    who: Closer,
    merchant: Annotated[str, Form(max_length=15)] = "",
    date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        await asyncio.to_thread(lists.close_day, cf_of(request), who, merchant or None, date)
    except (ValidationError, Conflict) as exc:
        return await _settlement_page(
            request, who, merchant, date, None, 409, exc.render(locale_of(request))
        )
    query = urlencode({"merchant": merchant, "date": date})
    return RedirectResponse(f"/settlement?{query}", status_code=303)


@router.get("/reports")
async def reports_page(
    request: Request,
    who: ReportReader,
    merchant: MerchantNo = None,
    month: Annotated[str | None, Query(max_length=7)] = None,
    period: Annotated[str, Query(max_length=10)] = "daily",
    terminal: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    merchants = await asyncio.to_thread(_merchants, request, who)
    chosen = merchant or (merchants[0]["merchant_no"] if merchants else None)
    month = month or datetime.now(UTC).strftime("%Y-%m")
    locale = locale_of(request)
    found: dict[str, Any] | None = None
    tax: dict[str, Any] | None = None
    chart = Markup("")
    error = None
    status_code = 200
    if chosen:
        try:
            first, last = reports.month_range(month)
            found, daily = await asyncio.to_thread(
                cf_of(request).read,
                lambda conn: _both(conn, who, chosen, first, last, period, terminal or None),
            )
            tax = reports.tax_summary(
                {**daily, "total": daily["total"], "date_from": first.isoformat()}
            )
            chart = Markup(  # noqa: S704 - made here from integers and escaped labels
                charts.svg(
                    daily["rows"],
                    translate(_("Daily volume and fees"), locale),
                    translate(_("Volume"), locale),
                    translate(_("Fees"), locale),
                )
            )
        except CounterfoilError as exc:
            if not isinstance(exc, ValidationError):
                raise
            error, status_code = exc.render(locale), 422
    query = urlencode(
        {k: v for k, v in {"merchant": chosen, "month": month, "terminal": terminal}.items() if v}
    )
    return page(
        request,
        "reports.html",
        status_code,
        merchants=merchants,
        merchant_no=chosen,
        form={"month": month, "period": period, "terminal": terminal or ""},
        report=found,
        tax=tax,
        chart=chart,
        error=error,
        query=query,
        periods={k: translate(v, locale) for k, v in PERIOD_LABELS.items()},
    )


def _both(
    conn: Any,
    who: Principal,
    merchant: str,
    first: Any,
    last: Any,
    period: str,
    terminal: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    daily = reports.report(conn, who, merchant, first, last, "daily", terminal)
    if period == "daily":
        return daily, daily
    return reports.report(conn, who, merchant, first, last, period, terminal), daily
