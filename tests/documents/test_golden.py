"""Golden files: every sample slip as 32- and 48-column text and as ESC/POS bytes.

The expected output lives in ``tests/documents/golden/``: ``<slip>.<width>.txt`` is the
text slip, ``<slip>.<width>.escpos.hex`` a hex dump of its ESC/POS bytes (offset, 16
bytes, printable ASCII), so a change to a slip shows as a readable diff. The goldens
are never rewritten by a normal run: to regenerate them on purpose, run

    COUNTERFOIL_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/documents/test_golden.py

then read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from counterfoil.documents.escpos import render_escpos
from counterfoil.documents.text import render_text

from .samples import GOLDEN

GOLDEN_DIR = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("COUNTERFOIL_REGENERATE_GOLDEN") == "1"


def hex_dump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  |{text}|")
    return "\n".join(lines) + "\n"


def assert_golden(actual: str, name: str) -> None:
    path = GOLDEN_DIR / name
    if REGENERATE:
        path.write_text(actual, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{name} is missing: run with COUNTERFOIL_REGENERATE_GOLDEN=1 to write it")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("width", [32, 48])
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_text_slip_matches_its_golden_file(name: str, width: int) -> None:
    assert_golden(render_text(GOLDEN[name], width), f"{name}.{width}.txt")


@pytest.mark.parametrize("width", [32, 48])
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_escpos_slip_matches_its_golden_file(name: str, width: int) -> None:
    assert_golden(hex_dump(render_escpos(GOLDEN[name], width)), f"{name}.{width}.escpos.hex")


def test_every_golden_file_belongs_to_a_sample_slip() -> None:
    expected = {
        f"{name}.{width}.{kind}"
        for name in GOLDEN
        for width in (32, 48)
        for kind in ("txt", "escpos.hex")
    }
    expected |= {f"{name}.{page}.pdf.txt" for name in GOLDEN for page in ("roll58", "roll80", "a6")}
    expected |= {f"{name}.html" for name in GOLDEN}
    assert {p.name for p in GOLDEN_DIR.iterdir()} == expected


def test_the_goldens_show_what_a_slip_must_carry() -> None:
    """A few facts read straight off the golden slips, so the goldens cannot drift from
    the domain unnoticed when someone regenerates them."""
    merchant = (GOLDEN_DIR / "card_sale_merchant.48.txt").read_text(encoding="utf-8")
    assert "商户存根 MERCHANT COPY" in merchant
    assert "622202******0123" in merchant
    assert "持卡人签名 CARDHOLDER SIGNATURE" in merchant
    assert "重打印" not in merchant
    reprint = (GOLDEN_DIR / "card_sale_cardholder_reprint2.48.txt").read_text(encoding="utf-8")
    assert "持卡人存根 CARDHOLDER COPY" in reprint
    assert "重打印 DUPLICATE NO.2" in reprint
    refund = (GOLDEN_DIR / "refund.32.txt").read_text(encoding="utf-8")
    assert "原参考号 ORIG. REFER NO." in refund
    assert "RMB -45.00" in refund
    wechat = (GOLDEN_DIR / "wechat_payment.48.txt").read_text(encoding="utf-8")
    assert "微信支付 WECHAT PAY" in wechat
    assert "4200002311202611201234567890" in wechat
    assert "CARD NO." not in wechat
    completion = (GOLDEN_DIR / "preauth_completion.48.txt").read_text(encoding="utf-8")
    assert "预授权完成 AUTH COMPLETE" in completion
    assert "原授权码 ORIG. AUTH NO." in completion
