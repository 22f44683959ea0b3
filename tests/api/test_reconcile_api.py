"""Reconciliation through the API: the real UnionPay sample imported, a day reconciled,
breaks listed in the reader's language and exported, a lost line adopted, a manual match
with its reason, and the errors' one shape. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from counterfoil.api.app import create_app
from counterfoil.importers import StatementLine, open_statement
from counterfoil.services import statements, users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from reconcile.recon_helpers import record

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "samples" / "unionpay"
ZM = SAMPLE / "INN15090588ZM_802310048993424"
MERCHANT = "802310048993424"
PASSWORD = "Ledger-proof-42"


def _payload(line: StatementLine, **changes: Any) -> dict[str, Any]:
    return {
        "merchant_no": MERCHANT,
        "terminal_id": line.terminal_id,
        "batch_no": "000001",
        "trace_no": line.trace_no,
        "type": "sale",
        "channel": "credit",
        "amount": line.amount,
        "currency": "CNY",
        "terminal_time": line.occurred_at.isoformat(),
        "rrn": f"{int(line.trace_no or 0):012d}",
        "auth_code": "123456",
        "card": line.card_masked,
    } | changes


@pytest.fixture
def client(cf: Counterfoil) -> Iterator[TestClient]:
    add_merchant(cf, MERCHANT, "银联样例商户")
    users.add_user(cf, "zhao", PASSWORD, "finance", [MERCHANT], locale="en")
    users.add_user(cf, "sun", PASSWORD, "auditor", [MERCHANT], locale="zh_CN")
    lines = [r for r in open_statement(ZM).records() if isinstance(r, StatementLine)]
    # line 1's amount keyed wrong; lines 7 and 8 never reached the journal
    record(cf, _payload(lines[0], amount=478600), *(_payload(x) for x in lines[1:6]))
    statements.import_file(cf, ZM, merchant_no=MERCHANT)
    with TestClient(create_app(cf), follow_redirects=False) as test_client:
        yield test_client


def log_in(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


@pytest.mark.skipif(not ZM.exists(), reason="shared samples not beside the project")
def test_a_day_reconciled_explained_exported_and_decided(client: TestClient) -> None:
    csrf = log_in(client, "zhao")
    body = {"merchant": MERCHANT, "date": "2015-09-06"}
    run = client.post("/api/v1/reconcile/runs", json=body, headers=csrf)
    assert run.status_code == 201, run.text
    summary = run.json()
    assert summary["journal"]["outcomes"]["matched"]["count"] == 5
    assert summary["statement"]["outcomes"]["missing_in_journal"]["count"] == 2
    assert summary["statement"]["in"]["amount"] == sum(
        v["amount"] for v in summary["statement"]["outcomes"].values()
    )

    found = client.get("/api/v1/reconcile/breaks", params={"merchant": MERCHANT, "sort": "amount"})
    assert found.status_code == 200
    items = found.json()["items"]
    assert [b["outcome"] for b in items].count("missing_in_journal") == 2
    amount = next(b for b in items if b["outcome"] == "amount_mismatch")
    assert amount["explanation"] == (
        "RRN 000000190624: 4,786.00 in the journal, 4,768.00 in the statement"
    )
    assert amount["fields"]["amount"] == [478600, 476800]
    one = client.get(f"/api/v1/reconcile/breaks/{amount['break_id']}")
    assert one.json()["status"] == "new"

    exported = client.get(
        "/api/v1/reconcile/breaks/export", params={"merchant": MERCHANT, "format": "xlsx"}
    )
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    assert sheet.max_row == 1 + len(items)

    missing = [b for b in items if b["outcome"] == "missing_in_journal"]
    adopted = client.post(
        "/api/v1/reconcile/adoptions",
        json={"line": missing[0]["line"], "reason": "paper slip found, upload failed"},
        headers=csrf,
    )
    assert adopted.status_code == 201, adopted.text
    again = client.post(
        "/api/v1/reconcile/adoptions",
        json={"line": missing[0]["line"], "reason": "twice"},
        headers=csrf,
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"]

    rerun = client.post("/api/v1/reconcile/runs", json=body, headers=csrf).json()
    assert rerun["breaks"]["resolved"] == 1
    assert rerun["breaks"]["persisting"] == 2

    # the auditor reads, in Chinese, and may not run
    log_in(client, "sun")
    read = client.get("/api/v1/reconcile/breaks", params={"merchant": MERCHANT})
    assert read.status_code == 200
    assert any("参考号" in b["explanation"] for b in read.json()["items"])
    refused = client.post("/api/v1/reconcile/runs", json=body)
    assert refused.status_code == 403


def test_errors_name_the_field(client: TestClient) -> None:
    csrf = log_in(client, "zhao")
    bad = client.post(
        "/api/v1/reconcile/runs", json={"merchant": MERCHANT, "date": "06/09/2015"}, headers=csrf
    )
    assert bad.status_code == 422
    assert "date" in bad.text
    wrong = client.post(
        "/api/v1/reconcile/decisions",
        json={"action": "match", "merchant": MERCHANT, "seq": 2, "line": "x", "reason": "r"},
        headers=csrf,
    )
    assert wrong.status_code == 422
    assert "IMPORT:LINE" in wrong.json()["error"]["message"]
    tolerance = client.put(
        "/api/v1/reconcile/tolerances/unionpay_zm",
        json={"merchant": MERCHANT, "amount": -1},
        headers=csrf,
    )
    assert tolerance.status_code == 422
    assert "amount" in tolerance.text
