"""Slips as PDF: on a 58 mm or 80 mm roll (as long as the slip) and on A6 paper.

The PDF library (ReportLab) stays in this module. The Chinese text is drawn with the
system's WenQuanYi Micro Hei (``fonts``), of which each document embeds the subset of
glyphs it uses, with a ToUnicode map so that its text can be searched and copied; the
verification code under the QR code is in Courier, one of the PDF's own fonts.

The page shows what the text slip shows, in the same order (``Slip.sections()``):
the title, the copy and the reprint marking (framed), the labelled fields (label on
the left, value on the right when both fit on a line, else the value below), the
amount to pay larger and bold, the signature line and the consent sentence, and the
verification QR code, drawn as filled squares from segno's module matrix, with its
code printed under it. On A6 the QR code stands beside the signature and consent.

The same slip gives the same bytes (invariant 7): the document's dates are the time
of the transaction, its identifier a hash of the slip, and nothing is compressed (so
the bytes do not depend on the zlib of the machine either). Two slips of one
transaction differ only where their reprint marking does.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal, NamedTuple

import segno
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from counterfoil.core.errors import ValidationError
from counterfoil.documents.fonts import cjk_font
from counterfoil.documents.slip import SIGNATURE_LABEL, VERIFY_LABEL, Field, Slip
from counterfoil.i18n import _

Page = Literal["roll58", "roll80", "a6"]
PAGES: tuple[Page, ...] = ("roll58", "roll80", "a6")
MM = 72 / 25.4  # points in a millimetre

CJK = "CounterfoilCJK"  # the name the system's Chinese font is registered under
MONO = "Courier"  # for the verification code: ASCII, one of the PDF's standard fonts
MONO_ADVANCE = 0.6  # Courier's advance width, in ems
LEADING = 1.32  # line height, in ems
DESCENT = 0.28  # baseline above the bottom of its line, in ems
BOLD_STROKE = 0.045  # outline width of bold text (the font has no bold face), in ems
QR_QUIET_ZONE = 4  # modules of white around a QR code
#: The QR data mask, fixed: segno's default, scoring all eight (ISO/IEC 18004 7.8.3), takes
#: 40 ms in pure Python, eight times the rest of a slip. Every mask is valid; over sample
#: codes (a signature is already irregular) mask 3 scores within 5 % of the best of eight.
QR_MASK = 3

#: Break opportunities: a run of spaces, a run of other ASCII, or one other character.
_TOKENS = re.compile(r" +|[!-~]+|[^ -~]")


@dataclass(frozen=True, slots=True)
class Layout:
    """A page's size and type sizes, in points. A roll's page is as long as its slip."""

    width: float
    height: float | None  # None: a roll
    margin: float
    body: float
    title: float
    amount: float  # the total to pay
    code: float  # the verification code, in Courier
    qr: float  # the QR code's side, quiet zone included
    signature_space: float
    rule_space: float  # the height a rule between sections takes
    qr_beside: bool = False  # A6: the QR code beside the signature and consent


LAYOUTS: dict[str, Layout] = {
    "roll58": Layout(58 * MM, None, 4 * MM, 7, 11, 10, 5.5, 30 * MM, 12 * MM, 2.5 * MM),
    "roll80": Layout(80 * MM, None, 4 * MM, 8, 13, 12, 7, 36 * MM, 12 * MM, 2.5 * MM),
    "a6": Layout(105 * MM, 148 * MM, 6 * MM, 7, 13, 12, 6.5, 28 * MM, 10 * MM, 2 * MM, True),
}
assert set(LAYOUTS) == set(PAGES)


class Text(NamedTuple):
    x: float
    baseline: float  # below the top of its block
    text: str
    size: float
    bold: bool = False
    font: str = CJK


class Rule(NamedTuple):
    x0: float
    x1: float
    y: float
    dashed: bool = True


class Frame(NamedTuple):
    x: float
    y: float
    width: float
    height: float


class Qr(NamedTuple):
    x: float
    y: float  # the top of the quiet zone
    side: float  # quiet zone included
    matrix: tuple[bytearray, ...]


Op = Text | Rule | Frame | Qr


class Block(NamedTuple):
    """Something drawn whole, on one page: a header, a field, a rule, the QR code."""

    height: float
    ops: tuple[Op, ...]


def text_width(text: str, size: float, font: str = CJK) -> float:
    return pdfmetrics.stringWidth(text, font, size)


def wrap(text: str, size: float, width: float, font: str = CJK) -> list[str]:
    """``text`` in lines no wider than ``width`` points, broken at spaces or between
    Chinese characters; an ASCII run longer than a line (a code, a number) is cut."""
    if text_width(text, size, font) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for token in _TOKENS.findall(text):
        if token[0] == " ":
            line += " " if line else ""
            continue
        if text_width(line + token, size, font) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        while text_width(token, size, font) > width:  # only an ASCII run: cut it
            cut = max(1, _fitting(token, size, width, font))
            lines.append(token[:cut])
            token = token[cut:]
        line = token
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def _fitting(text: str, size: float, width: float, font: str) -> int:
    """How many characters of ``text`` fit in ``width``."""
    count = 0
    while count < len(text) and text_width(text[: count + 1], size, font) <= width:
        count += 1
    return count


class Column:
    """Lines laid out top-down between ``x`` and ``x + width``, gathered into blocks."""

    def __init__(self, x: float, width: float) -> None:
        self.x, self.width = x, width
        self.blocks: list[Block] = []
        self._ops: list[Op] = []
        self._y = 0.0

    def line(
        self,
        text: str,
        size: float,
        *,
        align: Literal["left", "right", "centre"] = "left",
        bold: bool = False,
        font: str = CJK,
    ) -> None:
        height = size * LEADING
        free = self.width - text_width(text, size, font)
        x = self.x + {"left": 0.0, "right": free, "centre": free / 2}[align]
        self._ops.append(Text(x, self._y + height - size * DESCENT, text, size, bold, font))
        self._y += height

    def pair(self, label: str, value: str, size: float, value_size: float, bold: bool) -> None:
        """Label on the left, value on the right, on one baseline."""
        height = max(size, value_size) * LEADING
        baseline = self._y + height - max(size, value_size) * DESCENT
        x = self.x + self.width - text_width(value, value_size)
        self._ops.append(Text(self.x, baseline, label, size))
        self._ops.append(Text(x, baseline, value, value_size, bold))
        self._y += height

    def add(self, op: Rule | Frame | Qr, height: float) -> None:
        """``op`` placed ``op.y`` below the current line, and ``height`` taken."""
        self._ops.append(op._replace(y=self._y + op.y))
        self._y += height

    def space(self, height: float) -> None:
        self._y += height

    def end_block(self) -> None:
        if self._ops or self._y:
            self.blocks.append(Block(self._y, tuple(self._ops)))
        self._ops, self._y = [], 0.0


def field(column: Column, item: Field, size: float, prominent: float | None, bold: bool) -> None:
    """One field, as the text slip lays it out; ``prominent``: the value's larger size."""
    value_size = prominent or size
    fits = text_width(item.label, size) + size + text_width(item.value, value_size)
    if item.value and not item.paragraph and fits <= column.width:
        column.pair(item.label, item.value, size, value_size, bold)
        return
    for part in wrap(item.label, size, column.width):
        column.line(part, size)
    align: Literal["left", "right"] = "left" if item.paragraph else "right"
    for part in wrap(item.value, value_size, column.width) if item.value else ():
        column.line(part, value_size, align=align, bold=bold)


def slip_blocks(slip: Slip, layout: Layout) -> list[Block]:
    """The slip laid out for ``layout``, block by block from the top of the page."""
    _register_font()
    inner = layout.width - 2 * layout.margin
    page = Column(layout.margin, inner)
    size = layout.body

    def rule() -> None:
        page.add(Rule(page.x, page.x + inner, layout.rule_space / 2), layout.rule_space)
        page.end_block()

    for part in wrap(slip.title, layout.title, inner):
        page.line(part, layout.title, align="centre", bold=True)
    for part in wrap(slip.copy_label, size + 1, inner):
        page.line(part, size + 1, align="centre", bold=True)
    if slip.reprint_label:  # framed: 重打印 DUPLICATE NO.n
        mark, mark_size = slip.reprint_label, size + 2
        box = min(inner, text_width(mark, mark_size) + 2 * mark_size)
        pad = mark_size * 0.25
        page.space(pad)
        page.add(Frame(page.x + (inner - box) / 2, 0, box, mark_size * LEADING + 2 * pad), pad)
        page.line(mark, mark_size, align="centre", bold=True)
        page.space(2 * pad)
    page.end_block()

    sections = slip.sections()
    amounts = amounts_section(slip, sections)
    for section in sections:
        rule()
        for item in section:
            prominent = layout.amount if section is amounts and item is amounts[-1] else None
            field(page, item, size, prominent, bold=section is amounts)
            page.end_block()
    rule()

    beside = layout.qr_beside and bool(slip.verification)
    sign = Column(page.x, inner - layout.qr - 3 * MM) if beside else page
    if slip.needs_signature:
        sign.line(SIGNATURE_LABEL, size)
        sign.space(layout.signature_space)
        sign.add(Rule(sign.x, sign.x + sign.width, 0, dashed=False), size * 0.6)
    for sentence in slip.consent:
        for part in wrap(sentence, size - 1, sign.width):
            sign.line(part, size - 1)
    sign.end_block()
    if not slip.verification:
        return page.blocks
    if not beside and (slip.needs_signature or slip.consent):
        rule()

    verify = Column(page.x + inner - layout.qr, layout.qr) if beside else page
    verify.line(VERIFY_LABEL, size - 1, align="centre")
    qr = qr_symbol(slip.verification)
    verify.add(Qr(verify.x + (verify.width - layout.qr) / 2, 0, layout.qr, qr.matrix), layout.qr)
    if beside:
        verify.end_block()
        both = sign.blocks + verify.blocks
        page.blocks.append(Block(max(b.height for b in both), sum((b.ops for b in both), ())))
    for part in code_lines(slip.verification, layout.code, inner):
        page.line(part, layout.code, align="centre", font=MONO)
    page.end_block()
    return page.blocks


def amounts_section(slip: Slip, sections: Sequence[Sequence[Field]]) -> Sequence[Field]:
    """Of ``sections``, the one with the amount to pay: its last field (the total, or
    the amount when there is no tip) is printed larger. Empty if there is none."""
    total = slip.money(slip.amount)
    return next((s for s in reversed(sections) if s and s[-1].value == total), ())


def qr_symbol(text: str) -> segno.QRCode:
    """The QR code the PDF and HTML slips draw for a verification code (or its URL): a
    regular QR code (never a micro one), error correction M or better (segno raises it
    when the symbol has room to spare), data mask ``QR_MASK``."""
    return segno.make(text, error="m", micro=False, mask=QR_MASK)


def code_lines(code: str, size: float, width: float) -> list[str]:
    """The code in lines of equal length (the last one shorter) that fit ``width``."""
    per_line = max(1, int(width / (size * MONO_ADVANCE)))
    count = -(-len(code) // per_line)
    per_line = -(-len(code) // count)
    return [code[i : i + per_line] for i in range(0, len(code), per_line)]


def paginate(blocks: Sequence[Block], layout: Layout) -> list[tuple[float, list[Block]]]:
    """Pages as (height, blocks): one page as long as the slip on a roll; as many pages
    as the slip needs on paper, never splitting a block."""
    if layout.height is None:
        return [(sum(b.height for b in blocks) + 2 * layout.margin, list(blocks))]
    room = layout.height - 2 * layout.margin
    pages: list[list[Block]] = [[]]
    used = 0.0
    for block in blocks:
        if pages[-1] and used + block.height > room:
            pages.append([])
            used = 0.0
        pages[-1].append(block)
        used += block.height
    return [(layout.height, page) for page in pages]


@cache
def _register_font() -> None:
    """Loads the system's Chinese font once (reading its tables takes a tenth of a second)."""
    font = cjk_font()
    pdfmetrics.registerFont(TTFont(CJK, str(font.path), subfontIndex=font.index))


#: ReportLab keeps a font's subsets per document in the font object: one render at a time.
_RENDERING = threading.Lock()


def render_pdf(slip: Slip, page: str = "roll80") -> bytes:
    """The slip as a PDF document, on a roll ("roll58", "roll80") or on "a6" paper."""
    layout = LAYOUTS.get(page)
    if layout is None:
        raise ValidationError("page", _("expected one of {options}"), options=", ".join(PAGES))
    with _RENDERING:
        blocks = slip_blocks(slip, layout)
        pages = paginate(blocks, layout)
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=(layout.width, pages[0][0]), invariant=1, pageCompression=0)
        _describe(canvas, slip, page)
        for number, (height, content) in enumerate(pages):
            if number:
                canvas.setPageSize((layout.width, height))
            top = height - layout.margin
            for block in content:
                for op in block.ops:
                    _draw(canvas, op, top)
                top -= block.height
            canvas.showPage()
        canvas.save()
    return out.getvalue()


def _describe(canvas: Canvas, slip: Slip, page: str) -> None:
    """The document's information, and its dates and identifier from the slip alone."""
    canvas.setTitle(f"{slip.title} {slip.copy_label}")
    canvas.setSubject(slip.reprint_label or slip.copy_label)
    canvas.setAuthor(slip.merchant_name)
    canvas.setCreator("Counterfoil")
    moment = slip.time
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    stamp = (
        f"D:{moment:%Y%m%d%H%M%S}{'+' if minutes >= 0 else '-'}"
        f"{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"
    )
    canvas.setDateFormatter(lambda *_: stamp)
    # The trailer's /ID is ReportLab's MD5 of this "signature": made from the slip only
    # (not from the clock, nor from SOURCE_DATE_EPOCH as ReportLab's own would be).
    fingerprint = hashlib.sha256(f"{page}\n{slip!r}".encode()).digest()
    canvas._doc.signature = hashlib.md5(fingerprint, usedforsecurity=False)  # type: ignore[attr-defined]


def _draw(canvas: Canvas, op: Op, top: float) -> None:
    """One operation, its block's top at ``top`` points above the bottom of the page."""
    if isinstance(op, Text):
        canvas.setFont(op.font, op.size)
        if op.bold:
            canvas.setLineWidth(op.size * BOLD_STROKE)
            canvas.drawString(op.x, top - op.baseline, op.text, mode=2)
        else:
            canvas.drawString(op.x, top - op.baseline, op.text)
    elif isinstance(op, Rule):
        canvas.setLineWidth(0.5)
        canvas.setDash([1.5, 1.5] if op.dashed else [])
        canvas.line(op.x0, top - op.y, op.x1, top - op.y)
        canvas.setDash([])
    elif isinstance(op, Frame):
        canvas.setLineWidth(0.8)
        canvas.rect(op.x, top - op.y - op.height, op.width, op.height)
    else:
        canvas.addLiteral(qr_path(op, top))


def dark_runs(matrix: Sequence[bytearray]) -> Iterator[tuple[int, int, int]]:
    """The QR code's dark modules as horizontal runs: (column, row from the top, length)."""
    for row, modules in enumerate(matrix):
        start = None
        for column, dark in enumerate((*modules, 0)):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                yield start, row, column - start
                start = None


def qr_path(qr: Qr, top: float) -> str:
    """PDF operators filling the QR code's dark modules: one path of rectangles, a run of
    dark modules in a row each, in module units scaled into place."""
    size = len(qr.matrix)
    module = qr.side / (size + 2 * QR_QUIET_ZONE)
    left = qr.x + QR_QUIET_ZONE * module
    bottom = top - qr.y - qr.side + QR_QUIET_ZONE * module
    parts = [f"q 0 g {module:.4f} 0 0 {module:.4f} {left:.3f} {bottom:.3f} cm"]
    parts += [f"{x} {size - 1 - row} {length} 1 re" for x, row, length in dark_runs(qr.matrix)]
    parts.append("f Q")
    return "\n".join(parts)
