"""Slips as ESC/POS bytes for a thermal printer in Chinese (GB18030) mode.

The bytes are written here, command by command (Epson ESC/POS reference):

    ESC @                initialise the printer
    FS &                 Chinese character mode: two-byte text is GB18030
    ESC E n, GS ! n      bold, double height: the title (double height keeps the columns)
    text LF              the text renderer's lines, encoded GB18030
    ESC a n              centre the QR code, then back to the left
    GS ( k …             QR code, printed by the printer: model 2 (fn 165), module size
                         (fn 167), error correction M (fn 169), store the data (fn 180:
                         pL pH = data length + 3), print it (fn 181)
    GS V 66 n            feed to the cutter and cut (partially)

Every line is the same as ``render_text`` gives, so the printed slip and the text one
cannot differ; the QR code, carrying the slip's verification code, goes just before
the code's printed text.
"""

from __future__ import annotations

from counterfoil.documents.slip import Slip
from counterfoil.documents.text import slip_lines

ESC, FS, GS, LF = b"\x1b", b"\x1c", b"\x1d", b"\n"
INITIALISE = ESC + b"@"
CHINESE_MODE = FS + b"&"
BOLD_ON, BOLD_OFF = ESC + b"E\x01", ESC + b"E\x00"
DOUBLE_HEIGHT, NORMAL_SIZE = GS + b"!\x01", GS + b"!\x00"
ALIGN_LEFT, ALIGN_CENTRE = ESC + b"a\x00", ESC + b"a\x01"
CUT = GS + b"VB\x00"  # function B, m = 66: feed to the cutting position, partial cut
QR_MODEL_2 = GS + b"(k\x04\x001A2\x00"
QR_ERROR_M = GS + b"(k\x03\x001E1"
QR_PRINT = GS + b"(k\x03\x001Q0"
#: Dots per QR module: a version 8–9 code fits 384 dots (58 mm) and 576 dots (80 mm).
QR_MODULE = {32: 5, 48: 7}
ENCODING = "gb18030"
_STYLES = {
    "title": (BOLD_ON + DOUBLE_HEIGHT, NORMAL_SIZE + BOLD_OFF),
    "strong": (BOLD_ON, BOLD_OFF),
}


def qr_code(data: str, module: int) -> bytes:
    """GS ( k: a model 2 QR code of ``data`` at error correction M, stored then printed."""
    payload = data.encode(ENCODING)
    size = len(payload) + 3
    if size > 0xFFFF:
        raise ValueError("QR data longer than a printer stores")
    store = GS + b"(k" + bytes((size & 0xFF, size >> 8)) + b"1P0" + payload
    module_size = GS + b"(k\x03\x001C" + bytes((module,))
    return QR_MODEL_2 + module_size + QR_ERROR_M + store + QR_PRINT


def render_escpos(slip: Slip, width: int) -> bytes:
    """The slip as ESC/POS bytes for a roll of ``width`` (32 or 48) columns."""
    out = bytearray(INITIALISE + CHINESE_MODE)
    qr_done = False
    for line in slip_lines(slip, width):
        if line.style == "code" and not qr_done and slip.verification:
            out += ALIGN_CENTRE + qr_code(slip.verification, QR_MODULE[width]) + ALIGN_LEFT
            qr_done = True
        on, off = _STYLES.get(line.style, (b"", b""))
        out += on + line.text.encode(ENCODING) + LF + off
    out += CUT
    return bytes(out)
