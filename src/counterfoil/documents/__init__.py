"""Documents from the journal: sales slips, their renderers and their verification codes.

Pure: no database, HTTP or file. ``slip`` turns a journal entry into the facts a
UnionPay slip prints; ``text`` and ``escpos`` render them for 58 mm and 80 mm rolls;
``code`` makes and checks the signed code a slip's QR carries.
"""

from counterfoil.documents.code import (
    CodeFields,
    MalformedCode,
    Payload,
    Verdict,
    make_code,
    read_code,
    verification_url,
    verify_code,
)
from counterfoil.documents.escpos import render_escpos
from counterfoil.documents.slip import Slip, slip_from_entry
from counterfoil.documents.text import display_width, render_text

__all__ = [
    "CodeFields",
    "MalformedCode",
    "Payload",
    "Slip",
    "Verdict",
    "display_width",
    "make_code",
    "read_code",
    "render_escpos",
    "render_text",
    "slip_from_entry",
    "verification_url",
    "verify_code",
]
