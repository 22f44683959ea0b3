"""``counterfoil batch-close`` and ``counterfoil batches list|show``: the same close as the
API, with ``--json`` for scripts and the slip as text or PDF. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clirunner import Run, invoker
from conftest import MERCHANT, TERMINAL, sale
from counterfoil.config import Settings
from counterfoil.services import ingest
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor


@pytest.fixture
def run(settings: Settings, cf: Counterfoil, shop: Any) -> Run:
    payloads = [sale(trace_no="000001", rrn="000049990001", amount=10000)]
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("terminal")))
    return invoker(settings)


def test_batch_close_with_options_prints_json(run: Run, tmp_path: Path) -> None:
    args = ["batch-close", "-m", MERCHANT, "-t", TERMINAL, "-b", "000001"]
    done = run(*args, "--debit-count", "1", "--debit-amount", "100.00", "--json")
    assert done.exit_code == 0, done.output
    found = json.loads(done.stdout)
    assert found["balanced"] is True
    assert found["journal"]["debit_amount"] == 10000
    short = run(*args, "--debit-count", "0", "--slip", "pdf80", "-o", str(tmp_path / "s.pdf"))
    assert short.exit_code == 0, short.output
    assert "not balanced" in short.stdout
    assert "missing_on_terminal" in short.stdout
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")


def test_batch_close_reads_a_report_and_batches_show_it(run: Run, tmp_path: Path) -> None:
    report = {
        "merchant_no": MERCHANT,
        "terminal_id": TERMINAL,
        "batch_no": "000001",
        "debit_count": 1,
        "debit_amount": 10000,
        "credit_count": 0,
        "credit_amount": 0,
        "transactions": [{"trace_no": "000001", "type": "sale", "amount": 10000}],
    }
    done = run("batch-close", "-", "--json", input=json.dumps(report))
    assert done.exit_code == 0, done.output
    close_id = json.loads(done.stdout)["id"]
    listed = json.loads(run("batches", "list", "--json").stdout)
    assert [x["id"] for x in listed["items"]] == [close_id]
    shown = run("batches", "show", str(close_id), "--slip", "text58")
    assert shown.exit_code == 0, shown.output
    assert "结算总计单 SETTLEMENT TOTALS" in shown.stdout
    assert "对账平 BALANCED" in shown.stdout


def test_a_bad_report_ends_with_a_reason(run: Run) -> None:
    bad = run("batch-close", "-m", MERCHANT, "-t", TERMINAL, "-b", "1", "--json")
    assert bad.exit_code == 2
    assert "expected 6 digits" in bad.stderr
    missing = run("batches", "show", "999")
    assert missing.exit_code == 3
