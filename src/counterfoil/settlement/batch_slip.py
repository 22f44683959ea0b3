"""The batch-totals slip (结算总计单) of a batch close: printer text for 58 and 80 mm
rolls and PDF, in Chinese and English on the same slip (as a UnionPay slip is).

``batch_slip`` takes a close as ``settlement.batch.get_close`` gives it and the merchant
(name and zone) and gives a ``BatchSlip``: the header (merchant, terminal, batch, the
close's attempt and time in the merchant's zone), the terminal's totals by card group,
the answer (对账平 BALANCED / 不平 NOT BALANCED), and for each difference both sides'
figures and the transactions that explain it. Nothing on it depends on when it is
printed: the same close gives the same slip, text and PDF bytes alike (invariant 7).

The text follows ``documents.text`` (double-width aware columns, label left and value
right) and the PDF ``documents.pdf`` (the same CJK font, fixed dates and identifier,
no compression).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.pdfgen.canvas import Canvas

from counterfoil.core.errors import ValidationError
from counterfoil.core.money import format_amount
from counterfoil.documents import pdf
from counterfoil.documents.slip import Field
from counterfoil.documents.text import centred, field_lines, fixed
from counterfoil.i18n import _

TITLE = "结算总计单 SETTLEMENT TOTALS"
GROUP_LABELS = {
    "all": "全部卡 ALL CARDS",
    "domestic": "内卡 DOMESTIC CARDS",
    "foreign": "外卡 FOREIGN CARDS",
}
SIDE_LABELS = {"debit": "借记 DEBIT", "credit": "贷记 CREDIT"}
ANSWERS = {True: "对账平 BALANCED", False: "对账不平 NOT BALANCED"}
REASONS = {
    "missing_on_terminal": "终端未计 NOT ON TERMINAL",
    "missing_in_journal": "系统无记录 NOT IN JOURNAL",
    "amount_differs": "金额不符 AMOUNT DIFFERS",
}
DETAILS = {
    "offline": "离线上送 OFFLINE UPLOAD",
    "voided": "已撤销 VOIDED",
    "reversed": "已冲正 REVERSED",
    "trace_gap": "流水号缺失 TRACE MISSING",
    "tip": "小费 TIP",
}
UNEXPLAINED = "差异未能对应交易 NOT MATCHED TO TRANSACTIONS"
FORMATS = {
    "text58": ("text/plain; charset=utf-8", "txt"),
    "text80": ("text/plain; charset=utf-8", "txt"),
    "pdf58": ("application/pdf", "pdf"),
    "pdf80": ("application/pdf", "pdf"),
}
CURRENCY_SIGNS = {"CNY": "RMB"}


@dataclass(frozen=True, slots=True)
class Section:
    """A heading (or none) and the labelled facts under it."""

    heading: str | None
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class BatchSlip:
    close_id: int
    merchant_name: str
    time: datetime  # when the close was reported, in the merchant's zone
    balanced: bool
    sections: tuple[Section, ...]

    @property
    def title(self) -> str:
        return TITLE

    @property
    def answer(self) -> str:
        return ANSWERS[self.balanced]


def _money(fen: int | None, currency: str) -> str:
    if fen is None:
        return "?"
    return f"{CURRENCY_SIGNS.get(currency, currency)} {format_amount(fen, currency)}"


def _figures(count: int, amount: int, currency: str) -> str:
    return f"{count} / {_money(amount, currency)}"


def _totals(totals: Mapping[str, int], currency: str) -> tuple[Field, ...]:
    return tuple(
        Field(f"{SIDE_LABELS[side]} {word}", value)
        for side in ("debit", "credit")
        for word, value in (
            ("笔数 COUNT", str(totals[f"{side}_count"])),
            ("金额 AMOUNT", _money(totals[f"{side}_amount"], currency)),
        )
    )


def _explanation(x: Mapping[str, Any], currency: str) -> Field:
    trace = x.get("trace_no") or (f"#{x['seq']}" if x.get("seq") is not None else "?")
    if x["reason"] == "amount_differs":
        amount = (
            f"{_money(x.get('terminal_amount'), currency)} -> "
            f"{_money(x.get('journal_amount'), currency)}"
        )
    elif x["reason"] == "missing_on_terminal":
        amount = _money(x.get("journal_amount"), currency)
    else:
        amount = _money(x.get("terminal_amount"), currency)
    why = REASONS[x["reason"]]
    if x.get("detail") in DETAILS:
        why += f" ({DETAILS[x['detail']]})"
    return Field(f"凭证号 TRACE {trace}", f"{amount} {why}")


def batch_slip(close: Mapping[str, Any], merchant: Mapping[str, Any]) -> BatchSlip:
    """The slip of a close (``get_close``) of ``merchant`` (``Merchant.as_dict()``)."""
    zone = ZoneInfo(str(merchant.get("timezone") or "Asia/Shanghai"))
    when = datetime.fromisoformat(str(close["closed_at"])).astimezone(zone)
    currency = str(close["currency"])
    sections = [
        Section(
            None,
            (
                Field("商户名称 MERCHANT NAME", str(merchant.get("name") or "")),
                Field("商户编号 MERCHANT NO.", str(close["merchant_no"])),
                Field("终端编号 TERMINAL NO.", str(close["terminal_id"])),
                Field("批次号 BATCH NO.", str(close["batch_no"])),
                Field("结算次数 ATTEMPT", str(close["attempt"])),
                Field("日期时间 DATE/TIME", f"{when:%Y/%m/%d %H:%M:%S}"),
            ),
        )
    ]
    groups: Mapping[str, Mapping[str, int]] = close["groups"]["terminal"]
    for group, totals in groups.items():
        sections.append(Section(GROUP_LABELS[group], _totals(totals, currency)))
    sections.append(Section(None, (Field("对账结果 RESULT", ANSWERS[bool(close["balanced"])]),)))
    for diff in close["differences"]:
        facts = [
            Field(
                "终端 TERMINAL",
                _figures(diff["terminal_count"], diff["terminal_amount"], currency),
            ),
            Field(
                "系统 COUNTERFOIL",
                _figures(diff["journal_count"], diff["journal_amount"], currency),
            ),
        ]
        facts += [_explanation(x, currency) for x in diff["explanations"]]
        if not diff["explained"]:
            facts.append(Field(UNEXPLAINED, ""))
        heading = f"差异 DIFFERENCE {GROUP_LABELS[diff['group']]} {SIDE_LABELS[diff['side']]}"
        sections.append(Section(heading, tuple(facts)))
    return BatchSlip(
        int(close["id"]),
        str(merchant.get("name") or ""),
        when,
        bool(close["balanced"]),
        tuple(sections),
    )


# --- text ----------------------------------------------------------------------------------


def render_text(slip: BatchSlip, width: int) -> str:
    """The slip for a roll of ``width`` (32 or 48) columns, one ``\\n`` per line."""
    if width not in (32, 48):
        raise ValidationError(
            "width", _("expected a roll of {options} columns"), options="32 or 48"
        )
    rule = "-" * width
    lines = list(centred(slip.title, width))
    for section in slip.sections:
        lines.append(rule)
        if section.heading:
            lines += fixed(section.heading, width)
        for item in section.fields:
            lines += field_lines(item, width)
    lines.append(rule)
    lines += centred(slip.answer, width)
    return "".join(f"{line}\n" for line in lines)


# --- PDF -----------------------------------------------------------------------------------


def _blocks(slip: BatchSlip, layout: pdf.Layout) -> list[pdf.Block]:
    pdf._register_font()
    inner = layout.width - 2 * layout.margin
    page = pdf.Column(layout.margin, inner)
    size = layout.body

    def rule() -> None:
        page.add(pdf.Rule(page.x, page.x + inner, layout.rule_space / 2), layout.rule_space)
        page.end_block()

    for part in pdf.wrap(slip.title, layout.title, inner):
        page.line(part, layout.title, align="centre", bold=True)
    page.end_block()
    for section in slip.sections:
        rule()
        if section.heading:
            for part in pdf.wrap(section.heading, size, inner):
                page.line(part, size, bold=True)
            page.end_block()
        for item in section.fields:
            pdf.field(page, item, size, None, bold=False)
            page.end_block()
    rule()
    for part in pdf.wrap(slip.answer, layout.amount, inner):
        page.line(part, layout.amount, align="centre", bold=True)
    page.end_block()
    return page.blocks


def render_pdf(slip: BatchSlip, page: str = "roll80") -> bytes:
    """The slip as a PDF on a "roll58" or "roll80" roll (as long as the slip) or "a6"."""
    layout = pdf.LAYOUTS.get(page)
    if layout is None:
        raise ValidationError("page", _("expected one of {options}"), options=", ".join(pdf.PAGES))
    with pdf._RENDERING:
        pages = pdf.paginate(_blocks(slip, layout), layout)
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=(layout.width, pages[0][0]), invariant=1, pageCompression=0)
        canvas.setTitle(f"{slip.title} #{slip.close_id}")
        canvas.setSubject(slip.answer)
        canvas.setAuthor(slip.merchant_name)
        canvas.setCreator("Counterfoil")
        offset = slip.time.utcoffset()
        minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
        stamp = (
            f"D:{slip.time:%Y%m%d%H%M%S}{'+' if minutes >= 0 else '-'}"
            f"{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"
        )
        canvas.setDateFormatter(lambda *_: stamp)
        fingerprint = hashlib.sha256(f"{page}\n{slip!r}".encode()).digest()
        canvas._doc.signature = hashlib.md5(fingerprint, usedforsecurity=False)  # type: ignore[attr-defined]
        for number, (height, content) in enumerate(pages):
            if number:
                canvas.setPageSize((layout.width, height))
            top = height - layout.margin
            for block in content:
                for op in block.ops:
                    pdf._draw(canvas, op, top)
                top -= block.height
            canvas.showPage()
        canvas.save()
    return out.getvalue()


def render(slip: BatchSlip, fmt: str) -> bytes:
    """The slip in one of ``FORMATS``."""
    if fmt == "text58":
        return render_text(slip, 32).encode()
    if fmt == "text80":
        return render_text(slip, 48).encode()
    if fmt == "pdf58":
        return render_pdf(slip, "roll58")
    if fmt == "pdf80":
        return render_pdf(slip, "roll80")
    raise ValidationError("format", _("expected one of {options}"), options=", ".join(FORMATS))


def file_name(close: Mapping[str, Any], fmt: str) -> str:
    """``batch-TERM0001-000001-1.txt``: the terminal, the batch and the attempt."""
    suffix = FORMATS[fmt][1] if fmt in FORMATS else "bin"
    return f"batch-{close['terminal_id']}-{close['batch_no']}-{close['attempt']}.{suffix}"
