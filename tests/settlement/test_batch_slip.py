"""The batch-totals slip (结算总计单): the same close gives the same slip, as text for
58 mm (32 columns) and 80 mm (48 columns) rolls and as PDF, Chinese and English on the
same slip. The expected text is written out here (golden). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from conftest import MERCHANT, TERMINAL, sale
from counterfoil.core.errors import ValidationError
from counterfoil.documents.text import display_width
from counterfoil.services import ingest
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant
from counterfoil.settlement import batch
from counterfoil.settlement.batch_slip import batch_slip, render, render_pdf, render_text
from counterfoil.store.audit import Actor

CLOSED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai
WHEN = "2026-11-20T14:05:09+08:00"

BALANCED_58 = """\
  结算总计单 SETTLEMENT TOTALS
--------------------------------
商户名称 MERCHANT NAME
                      测试便利店
商户编号 MERCHANT NO.
                 102310048993424
终端编号 TERMINAL NO.   TERM0001
批次号 BATCH NO.          000001
结算次数 ATTEMPT               1
日期时间 DATE/TIME
             2026/11/20 18:00:00
--------------------------------
全部卡 ALL CARDS
借记 DEBIT 笔数 COUNT          2
借记 DEBIT 金额 AMOUNT
                      RMB 350.00
贷记 CREDIT 笔数 COUNT         1
贷记 CREDIT 金额 AMOUNT
                       RMB 30.00
--------------------------------
对账结果 RESULT  对账平 BALANCED
--------------------------------
        对账平 BALANCED
"""

NOT_BALANCED_80 = """\
          结算总计单 SETTLEMENT TOTALS
------------------------------------------------
商户名称 MERCHANT NAME                测试便利店
商户编号 MERCHANT NO.            102310048993424
终端编号 TERMINAL NO.                   TERM0001
批次号 BATCH NO.                          000001
结算次数 ATTEMPT                               2
日期时间 DATE/TIME           2026/11/20 18:00:00
------------------------------------------------
全部卡 ALL CARDS
借记 DEBIT 笔数 COUNT                          1
借记 DEBIT 金额 AMOUNT                RMB 100.00
贷记 CREDIT 笔数 COUNT                         1
贷记 CREDIT 金额 AMOUNT                RMB 30.00
------------------------------------------------
对账结果 RESULT            对账不平 NOT BALANCED
------------------------------------------------
差异 DIFFERENCE 全部卡 ALL CARDS 借记 DEBIT
终端 TERMINAL                     1 / RMB 100.00
系统 COUNTERFOIL                  2 / RMB 350.00
凭证号 TRACE 000002
             RMB 250.00 终端未计 NOT ON TERMINAL
------------------------------------------------
             对账不平 NOT BALANCED
"""


@pytest.fixture
def closes(cf: Counterfoil, shop: Any) -> list[dict[str, Any]]:
    """A balanced close and then, for the same batch, one that misses trace 000002."""
    payloads = [
        sale(trace_no="000001", rrn="000049990001", amount=10000, terminal_time=WHEN),
        sale(trace_no="000002", rrn="000049990002", amount=25000, terminal_time=WHEN),
        sale(
            trace_no="000003",
            rrn="000049990003",
            type="refund",
            amount=3000,
            original={"rrn": "000049990001"},
            terminal_time=WHEN,
        ),
    ]
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("terminal")))
    who = Principal.local()
    base = {"merchant_no": MERCHANT, "terminal_id": TERMINAL, "batch_no": "000001"}
    agreed = {"debit_count": 2, "debit_amount": 35000, "credit_count": 1, "credit_amount": 3000}
    return [
        batch.close_batch(cf, who, base | agreed, now=CLOSED),
        batch.close_batch(
            cf, who, base | agreed | {"debit_count": 1, "debit_amount": 10000}, now=CLOSED
        ),
    ]


def slip_of(cf: Counterfoil, close: dict[str, Any]) -> Any:
    merchant = cf.read(lambda conn: get_merchant(conn, MERCHANT).as_dict())
    return batch_slip(close, merchant)


def test_the_slip_of_a_balanced_close(cf: Counterfoil, closes: list[dict[str, Any]]) -> None:
    assert render_text(slip_of(cf, closes[0]), 32) == BALANCED_58


def test_the_slip_of_a_close_that_does_not_balance(
    cf: Counterfoil, closes: list[dict[str, Any]]
) -> None:
    text = render_text(slip_of(cf, closes[1]), 48)
    assert text == NOT_BALANCED_80
    assert all(display_width(line) <= 48 for line in text.splitlines())


def test_the_same_close_gives_the_same_slip(cf: Counterfoil, closes: list[dict[str, Any]]) -> None:
    """Read back from the store, the close prints as it did when it was answered."""
    again = cf.read(lambda conn: batch.get_close(conn, Principal.local(), closes[1]["id"]))
    first, second = slip_of(cf, closes[1]), slip_of(cf, again)
    assert render(first, "text58") == render(second, "text58")
    assert render_pdf(first, "roll80") == render_pdf(second, "roll80")


def test_the_pdf_slip_carries_the_same_facts(
    cf: Counterfoil, closes: list[dict[str, Any]], tmp_path: Any
) -> None:
    data = render(slip_of(cf, closes[1]), "pdf58")
    path = tmp_path / "slip.pdf"
    path.write_bytes(data)
    reader = PdfReader(path)
    words = " ".join("".join(page.extract_text() for page in reader.pages).split())
    for fact in ("结算总计单", "SETTLEMENT", "TERM0001", "000002", "RMB 250.00", "不平"):
        assert fact in words, fact
    assert reader.metadata is not None
    assert reader.metadata.title == f"结算总计单 SETTLEMENT TOTALS #{closes[1]['id']}"


def test_an_unknown_format_is_named(cf: Counterfoil, closes: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError) as caught:
        render(slip_of(cf, closes[0]), "escpos")
    assert caught.value.field == "format"
    with pytest.raises(ValidationError):
        render_text(slip_of(cf, closes[0]), 40)
