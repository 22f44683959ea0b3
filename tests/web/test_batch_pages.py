"""Batch closes in the console: the list, one close with its differences and its slip, a
supervisor reporting a close through the form (and a field's error on it), another
merchant's close as "not found" — in process over SQLite and PostgreSQL; and once in
Chromium against the real server over the demo data."""

from __future__ import annotations

import re
from typing import Any

from conftest import MERCHANT, TERMINAL
from counterfoil.services.access import Principal
from counterfoil.settlement import batch
from web.conftest import Browse, DemoServer, World
from web.matrix_batch import TOTALS, close_of
from web.test_browser import log_in


def test_a_supervisor_reports_a_close_and_reads_why_it_does_not_balance(world: World) -> None:
    form = {
        "merchant_no": MERCHANT,
        "terminal_id": TERMINAL,
        "batch_no": "000001",
        "debit_count": "0",
        "debit_amount": "0",
        "credit_count": "1",
        "credit_amount": "500.00",
    }
    sent = world.request("supervisor", "POST", "/batches", data=form)
    assert sent.status_code == 303, sent.text
    where = sent.headers["location"]
    assert re.fullmatch(r"/batches/\d+\?done=closed", where)
    shown = world.request("supervisor", "GET", where)
    assert shown.status_code == 200
    assert 'id="answer">Not balanced<' in shown.text
    assert "Not counted by the terminal" in shown.text
    assert f'href="/transactions/{world.entries["a_sale"]}"' in shown.text
    assert "结算总计单 SETTLEMENT TOTALS" in shown.text
    assert "Batch close" in shown.text
    assert "recorded." in shown.text
    listed = world.request("finance", "GET", "/batches")
    assert where.split("?")[0] in listed.text
    assert "Not balanced" in listed.text


def test_a_bad_field_in_the_form_is_shown_beside_it(world: World) -> None:
    form = {
        "merchant_no": MERCHANT,
        "terminal_id": TERMINAL,
        "batch_no": "12",
        "debit_count": "1",
        "debit_amount": "4768.00",
        "credit_count": "0",
        "credit_amount": "0",
    }
    sent = world.request("supervisor", "POST", "/batches", data=form)
    assert sent.status_code == 422
    assert 'id="e-batch_no"' in sent.text
    assert 'value="12"' in sent.text


def test_another_merchants_close_is_not_found(world: World) -> None:
    made = close_of(world)
    assert world.request("auditor", "GET", f"/batches/{made}").status_code == 200
    other = batch.close_batch(
        world.cf,
        Principal.local(),
        {
            "merchant_no": "102310048990001",
            "terminal_id": World.OTHER_TERMINAL,
            "batch_no": "000001",
        }
        | TOTALS,
    )
    assert world.request("supervisor", "GET", f"/batches/{other['id']}").status_code == 404
    assert world.request("admin", "GET", f"/batches/{other['id']}").status_code == 200
    page = world.request("supervisor", "GET", "/batches")
    assert f'href="/batches/{other["id"]}"' not in page.text
    assert f'href="/batches/{made}"' in page.text


def test_a_supervisor_closes_a_batch_in_the_browser(
    browse: Browse, demo_server: DemoServer
) -> None:
    b = browse
    log_in(b, "supervisor", demo_server.password)
    b.page.goto(b.url("/batches"))
    terminal: Any = demo_server.demo["terminals"][demo_server.shop][0]
    b.page.fill("#f-terminal_id", terminal)
    b.page.fill("#f-batch_no", "999999")
    b.page.fill("#f-debit_count", "1")
    b.page.fill("#f-debit_amount", "12.00")
    b.page.fill("#f-credit_count", "0")
    b.page.fill("#f-credit_amount", "0")
    with b.page.expect_navigation():
        b.page.click("#do-close")
    assert re.search(r"/batches/\d+\?done=closed$", b.page.url)
    assert "不平" in b.page.inner_text("#answer")  # the demo supervisor reads Chinese
    assert "对账不平 NOT BALANCED" in b.page.inner_text("#slip")
    b.shot("close")
    assert b.errors == []
