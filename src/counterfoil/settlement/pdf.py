"""A settlement list as an A4 PDF, with the slip's Chinese font and the slip's rules for
reproducible bytes: the document's dates are the day's close, its identifier a hash of
the list, nothing compressed. The PDF library stays behind ``documents/pdf.py``'s door
(its font registration and its one-render-at-a-time lock)."""

from __future__ import annotations

import hashlib
import io
import re

from reportlab.pdfgen.canvas import Canvas

from counterfoil.documents import pdf as slip_pdf
from counterfoil.settlement.render import Sheet

MM = slip_pdf.MM
WIDTH, HEIGHT = 210 * MM, 297 * MM
MARGIN = 15 * MM
BODY = 9.0
TITLE = 15.0
LEADING = BODY * 1.45
FONT = slip_pdf.CJK
_ID = re.compile(rb"/ID \n\[<[0-9a-f]{32}><[0-9a-f]{32}>\]")
MARK_GLYPHS = "REPRINT / 重印 No. 0123456789"


class _Pages:
    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.y = HEIGHT - MARGIN

    def need(self, height: float) -> None:
        if self.y - height < MARGIN:
            self.canvas.showPage()
            self.y = HEIGHT - MARGIN

    def text(self, x: float, text: str, size: float = BODY, *, align: str = "left") -> None:
        self.canvas.setFont(FONT, size)
        width = slip_pdf.text_width(text, size)
        left = {"left": x, "right": x - width, "centre": x - width / 2}[align]
        self.canvas.drawString(left, self.y - size, text)

    def down(self, height: float) -> None:
        self.y -= height


def _columns(count: int) -> list[tuple[float, str]]:
    """Where each column's text goes: the first on the left, the others right-aligned."""
    inner = WIDTH - 2 * MARGIN
    first = inner * 0.34
    step = (inner - first) / max(count - 1, 1)
    found = [(MARGIN, "left")]
    found += [(MARGIN + first + step * (n + 1), "right") for n in range(count - 1)]
    return found


def _draw(pages: _Pages, page: Sheet) -> None:
    pages.text(WIDTH / 2, page.title, TITLE, align="centre")
    pages.down(TITLE * 1.6)
    # The marking's glyphs, invisible, first on every copy: the font subset numbers
    # every other glyph alike whether a copy is marked or not.
    pages.canvas.setFont(FONT, BODY)
    pages.canvas.drawString(MARGIN, pages.y, MARK_GLYPHS, mode=3)
    if page.mark:
        width = slip_pdf.text_width(page.mark, BODY + 2) + 12
        pages.canvas.setLineWidth(0.8)
        pages.canvas.rect(WIDTH / 2 - width / 2, pages.y - LEADING - 4, width, LEADING + 6)
        pages.text(WIDTH / 2, page.mark, BODY + 2, align="centre")
    pages.down(LEADING + 10)
    for label, value in page.facts:
        pages.need(LEADING)
        pages.text(MARGIN, label)
        pages.text(MARGIN + 55 * MM, value)
        pages.down(LEADING)
    for table in page.tables:
        pages.need(LEADING * 4)
        pages.down(LEADING * 0.6)
        pages.text(MARGIN, table.heading, BODY + 2)
        pages.down(LEADING * 1.3)
        where = _columns(len(table.columns))
        for number, row in enumerate([table.columns, *table.rows]):
            pages.need(LEADING)
            for (x, align), cell in zip(where, row, strict=False):
                pages.text(x, cell, align=align)
            if number == 0:
                pages.canvas.setLineWidth(0.4)
                pages.canvas.line(
                    MARGIN, pages.y - LEADING + 1, WIDTH - MARGIN, pages.y - LEADING + 1
                )
            pages.down(LEADING)


def render_pdf(page: Sheet) -> bytes:
    slip_pdf._register_font()
    with slip_pdf._RENDERING:
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=(WIDTH, HEIGHT), invariant=1, pageCompression=0)
        canvas.setTitle(page.title)
        canvas.setSubject(page.title)
        canvas.setCreator("Counterfoil")
        stamp = page.stamp.strftime("D:%Y%m%d%H%M%S+00'00'")
        canvas.setDateFormatter(lambda *_: stamp)
        _draw(_Pages(canvas), page)
        canvas.showPage()
        canvas.save()
    # The trailer's /ID: the list's (ReportLab digests the content, marking included).
    ident = hashlib.md5(page.fingerprint.encode(), usedforsecurity=False).hexdigest().encode()
    return _ID.sub(b"/ID \n[<" + ident + b"><" + ident + b">]", out.getvalue(), count=1)
