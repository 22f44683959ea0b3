"""The application to the acquirer (差错处理申请), as a PDF in Chinese and English.

Seed 003 says what to submit: the merchant number, the transaction's details (time,
amount, references), what went wrong, and the evidence ("交易凭证、商户号等"). The
application gathers exactly these from the case: merchant number and name, terminal,
the transactions named (entry id, RRN, terminal/batch/trace, time, type, amount), the
difference, the evidence list and, once given, the acquirer's reference. Each label is
written in both languages. The same case in the same state gives the same bytes: the
document's date is the case's last change, its identifier a hash of the facts, nothing
compressed (as ``documents.pdf``).
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import Connection

from counterfoil.cases import model
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import NotFound
from counterfoil.core.money import format_amount
from counterfoil.documents.pdf import _RENDERING, CJK, MM, _register_font, wrap
from counterfoil.i18n import translate
from counterfoil.services import lookups
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant
from counterfoil.store import audit

TITLE = "差错处理申请 Application for discrepancy handling"
LABELS = {
    "case": "案件编号 Case",
    "kind": "差错类型 Kind",
    "merchant_no": "商户编号 Merchant number",
    "merchant_name": "商户名称 Merchant name",
    "terminal_id": "终端编号 Terminal",
    "opened": "发现日期 Found on",
    "difference": "差额 Difference",
    "acquirer_ref": "收单机构受理编号 Acquirer's reference",
    "description": "情况说明 What happened",
    "transactions": "涉及交易 Transactions",
    "evidence": "证据清单 Evidence",
    "request": "申请事项 Request",
}
REQUEST = (
    "请核实上述交易并按差额进行处理（退款或补款），处理结果请告知本商户。"
    " Please verify the transactions above and settle the difference (refund or "
    "supplement), and tell the merchant the outcome."
)
EVIDENCE_WORDS = {
    "file": "文件 File",
    "slip": "签购单 Slip",
    "statement_line": "对账单明细 Statement line",
    "journal_entry": "交易记录 Journal entry",
}


def application_facts(conn: Connection, row: Any) -> dict[str, Any]:
    """What the application says, from the case as it is now."""
    merchant = get_merchant(conn, row.merchant_no)
    evidence = wf.evidence_of(conn, int(row.id))
    transactions: list[dict[str, Any]] = []
    for item in evidence:
        if item["kind"] not in ("journal_entry", "slip"):
            continue
        try:
            entry = lookups.find(conn, item["ref"], row.merchant_no)
        except NotFound:  # an adjustment or a vanished reference: in the evidence list only
            continue
        if any(t["entry_id"] == entry["entry_id"] for t in transactions):
            continue
        transactions.append(
            {
                key: entry.get(key)
                for key in (
                    "entry_id",
                    "rrn",
                    "terminal_id",
                    "batch_no",
                    "trace_no",
                    "terminal_time",
                    "type",
                    "amount",
                    "currency",
                    "order_no",
                )
            }
        )
    return {
        "case_id": int(row.id),
        "kind": row.kind,
        "title": row.title,
        "description": row.description,
        "merchant_no": row.merchant_no,
        "merchant_name": merchant.name,
        "timezone": merchant.timezone,
        "terminal_id": row.terminal_id
        or next((t["terminal_id"] for t in transactions if t.get("terminal_id")), None),
        "opened_day": row.opened_day.isoformat(),
        "difference": row.difference,
        "currency": row.currency,
        "acquirer_ref": row.acquirer_ref,
        "transactions": transactions,
        "evidence": [
            {k: item[k] for k in ("id", "kind", "ref", "filename", "size")} for item in evidence
        ],
        "updated_at": wf.utc(row.updated_at),
    }


def _local(value: str | None, zone: str) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def _lines(facts: dict[str, Any]) -> list[tuple[str, str]]:
    label = model.KINDS[facts["kind"]]
    kind = f"{translate(label, 'zh_CN')} {translate(label, 'en')}"
    difference = (
        f"{facts['currency']} {format_amount(facts['difference'], facts['currency'])}"
        if facts["difference"] is not None
        else "—"
    )
    rows = [
        (LABELS["case"], f"{facts['case_id']} · {facts['title']}"),
        (LABELS["kind"], kind),
        (LABELS["merchant_no"], facts["merchant_no"]),
        (LABELS["merchant_name"], facts["merchant_name"]),
        (LABELS["terminal_id"], facts["terminal_id"] or "—"),
        (LABELS["opened"], facts["opened_day"]),
        (LABELS["difference"], difference),
        (LABELS["acquirer_ref"], facts["acquirer_ref"] or "—"),
        (LABELS["description"], facts["description"] or "—"),
    ]
    return rows


def _transaction_text(t: dict[str, Any], zone: str) -> str:
    parts = [
        t["entry_id"],
        f"RRN {t['rrn']}" if t.get("rrn") else "",
        "/".join(x for x in (t.get("terminal_id"), t.get("batch_no"), t.get("trace_no")) if x),
        t.get("order_no") or "",
        _local(t.get("terminal_time"), zone),
        str(t.get("type") or ""),
        _money(t.get("amount"), t.get("currency") or "CNY"),
    ]
    return " · ".join(p for p in parts if p)


def _money(amount: int | None, currency: str) -> str:
    return f"{currency} {format_amount(int(amount), currency)}" if amount is not None else ""


def _evidence_text(item: dict[str, Any]) -> str:
    words = EVIDENCE_WORDS.get(item["kind"], item["kind"])
    if item["kind"] == "file":
        return f"{words}: {item['filename']} ({item['size']} B, SHA-256 {item['ref'][:16]}…)"
    return f"{words}: {item['ref']}"


def render_application_pdf(facts: dict[str, Any]) -> bytes:
    """An A4 page (more if need be): the facts, the transactions, the evidence, the request."""
    width, height = A4
    margin = 18 * MM
    label_width = 48 * MM
    zone = facts["timezone"]
    with _RENDERING:
        _register_font()
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=A4, invariant=1, pageCompression=0)
        canvas.setTitle(f"{TITLE} {facts['case_id']}")
        canvas.setAuthor(facts["merchant_name"])
        canvas.setCreator("Counterfoil")
        moment = datetime.fromisoformat(facts["updated_at"]).astimezone(UTC)
        stamp = f"D:{moment:%Y%m%d%H%M%S}+00'00'"
        canvas.setDateFormatter(lambda *_: stamp)
        fingerprint = hashlib.sha256(orjson.dumps(facts, option=orjson.OPT_SORT_KEYS)).digest()
        canvas._doc.signature = hashlib.md5(fingerprint, usedforsecurity=False)  # type: ignore[attr-defined]
        y = height - margin - 14

        def need(space: float) -> None:
            nonlocal y
            if y - space < margin:
                canvas.showPage()
                y = height - margin - 10

        canvas.setFont(CJK, 14)
        canvas.drawString(margin, y, TITLE)
        y -= 8
        canvas.line(margin, y, width - margin, y)
        y -= 18
        for label, value in _lines(facts):
            need(14)
            canvas.setFont(CJK, 8)
            canvas.setFillGray(0.35)
            canvas.drawString(margin, y, label)
            canvas.setFillGray(0)
            canvas.setFont(CJK, 9.5)
            for part in wrap(value, 9.5, width - 2 * margin - label_width):
                need(13)
                canvas.drawString(margin + label_width, y, part)
                y -= 13
            y -= 3
        for label, items in (
            (LABELS["transactions"], [_transaction_text(t, zone) for t in facts["transactions"]]),
            (LABELS["evidence"], [_evidence_text(e) for e in facts["evidence"]]),
        ):
            need(30)
            y -= 6
            canvas.setFont(CJK, 11)
            canvas.drawString(margin, y, label)
            y -= 15
            canvas.setFont(CJK, 9)
            for number, item in enumerate(items or ["—"], start=1):
                for index, part in enumerate(wrap(item, 9, width - 2 * margin - 14)):
                    need(12)
                    if index == 0 and items:
                        canvas.drawString(margin, y, f"{number}.")
                    canvas.drawString(margin + 14, y, part)
                    y -= 12
        need(40)
        y -= 8
        canvas.setFont(CJK, 11)
        canvas.drawString(margin, y, LABELS["request"])
        y -= 15
        canvas.setFont(CJK, 9)
        for part in wrap(REQUEST, 9, width - 2 * margin):
            need(12)
            canvas.drawString(margin, y, part)
            y -= 12
        need(40)
        y -= 24
        canvas.drawString(margin, y, "商户签章 Merchant's seal: ____________________")
        canvas.drawString(width / 2, y, "日期 Date: ______________")
        canvas.showPage()
        canvas.save()
    return out.getvalue()


def application_pdf(cf: Counterfoil, who: Principal, case_id: int) -> tuple[str, bytes]:
    """The application of a case, as a file name and the PDF; the read is audited."""

    def read(conn: Connection) -> dict[str, Any]:
        who.require("cases.read")
        return application_facts(conn, wf.case_row(conn, who, case_id))

    facts = wf.audited(cf, who, "case.application", str(case_id), lambda: cf.read(read))
    document = render_application_pdf(facts)
    cf.write(
        lambda conn: audit.record(
            conn,
            who.actor,
            "case.application",
            object_type="case",
            object_id=str(case_id),
            merchant_no=facts["merchant_no"],
            details={"sha256": hashlib.sha256(document).hexdigest()},
        )
    )
    return f"case-{case_id}-application.pdf", document
