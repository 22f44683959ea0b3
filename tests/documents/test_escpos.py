"""ESC/POS bytes, parsed back: every command known, the QR store length right, and the
text exactly the text renderer's lines in GB18030."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from counterfoil.documents.code import verify_code
from counterfoil.documents.escpos import render_escpos
from counterfoil.documents.text import render_text

from .samples import CARD_SALE, GOLDEN, PUBLIC_KEYS, slip_for


@dataclass
class Parsed:
    commands: list[tuple[str, bytes]] = field(default_factory=list)
    text: bytearray = field(default_factory=bytearray)
    qr_data: list[bytes] = field(default_factory=list)
    qr_functions: list[int] = field(default_factory=list)
    bold_text: bytearray = field(default_factory=bytearray)


def parse(data: bytes) -> Parsed:
    """A small ESC/POS reader for the commands the renderer may write; anything else fails."""
    out = Parsed()
    bold = False
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x1B:  # ESC
            op = data[i + 1 : i + 2]
            if op == b"@":
                out.commands.append(("ESC @", b""))
                i += 2
            elif op in (b"E", b"a"):
                out.commands.append((f"ESC {op.decode()}", data[i + 2 : i + 3]))
                bold = data[i + 2] == 1 if op == b"E" else bold
                i += 3
            else:
                pytest.fail(f"unknown ESC command {op!r} at {i}")
        elif b == 0x1C:  # FS
            assert data[i + 1 : i + 2] == b"&", f"unknown FS command at {i}"
            out.commands.append(("FS &", b""))
            i += 2
        elif b == 0x1D:  # GS
            op = data[i + 1 : i + 2]
            if op == b"!":
                out.commands.append(("GS !", data[i + 2 : i + 3]))
                i += 3
            elif op == b"V":
                out.commands.append(("GS V", data[i + 2 : i + 4]))
                i += 4
            elif op == b"(":
                assert data[i + 2 : i + 3] == b"k"
                p_l, p_h = data[i + 3], data[i + 4]
                length = p_l + 256 * p_h
                body = data[i + 5 : i + 5 + length]
                assert len(body) == length, "GS ( k runs past the end"
                cn, fn = body[0], body[1]
                assert cn == 49, "cn is 49 for QR code"
                out.qr_functions.append(fn)
                if fn == 80:  # store: m = 48, then the data; pL pH counted 3 + data
                    assert body[2] == 48
                    out.qr_data.append(body[3:])
                out.commands.append(("GS ( k", body))
                i += 5 + length
            else:
                pytest.fail(f"unknown GS command {op!r} at {i}")
        elif b < 0x20 and b != 0x0A:
            pytest.fail(f"control byte {b:#x} in text at {i}")
        else:
            out.text.append(b)
            if bold:
                out.bold_text.append(b)
            i += 1
    return out


@pytest.mark.parametrize("width", [32, 48])
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_bytes_parse_back_to_the_text_slip_and_its_code(name: str, width: int) -> None:
    slip = GOLDEN[name]
    parsed = parse(render_escpos(slip, width))
    assert parsed.commands[:2] == [("ESC @", b""), ("FS &", b"")]
    assert parsed.commands[-1] == ("GS V", b"B\x00")
    assert parsed.text.decode("gb18030") == render_text(slip, width)
    # model 2, module size, error correction M, store, print: in that order, once
    assert parsed.qr_functions == [65, 67, 69, 80, 81]
    qr = [body for op, body in parsed.commands if op == "GS ( k"]
    assert qr[0][2:] == b"2\x00"  # model 2
    assert qr[2][2:] == b"1"  # error correction M (49)
    assert [d.decode("ascii") for d in parsed.qr_data] == [slip.verification]
    assert verify_code(parsed.qr_data[0].decode("ascii"), PUBLIC_KEYS).genuine


def test_the_title_is_bold_and_double_height() -> None:
    data = render_escpos(GOLDEN["card_sale_merchant"], 32)
    start = data.index(b"\x1bE\x01\x1d!\x01")
    title = data[start + 6 : data.index(b"\n", start)]
    assert title.decode("gb18030").strip() == "签购单 SALES SLIP"
    assert data[data.index(b"\n", start) + 1 :].startswith(b"\x1d!\x00\x1bE\x00")


def test_the_qr_store_length_counts_the_data_and_three_bytes() -> None:
    slip = replace(slip_for(CARD_SALE), verification="https://cf.example/v/" + "A" * 300)
    data = render_escpos(slip, 48)
    store = data.index(b"\x1d(k", data.index(b"1E1")) + 3
    p_l, p_h = data[store], data[store + 1]
    assert data[store + 2 : store + 4] == b"1P"
    assert p_l + 256 * p_h == len(slip.verification or "") + 3 == 324


def test_a_slip_without_a_code_has_no_qr() -> None:
    slip = replace(slip_for(CARD_SALE), verification=None)
    parsed = parse(render_escpos(slip, 32))
    assert parsed.qr_functions == []
    assert parsed.text.decode("gb18030") == render_text(slip, 32)
