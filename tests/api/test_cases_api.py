"""Cases through the API: open, work, attach a file and download it (only ever as an
attachment), the application PDF, an adjustment proposed by one finance person and
approved by another, the pre-authorisation monitor; one error shape; another merchant's
people see nothing. SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import MERCHANT, OTHER_MERCHANT, sale
from counterfoil.api.app import create_app
from counterfoil.services import ingest, users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from counterfoil.store.audit import Actor
from counterfoil.store.schema import journal_entries

PASSWORD = "Ledger-proof-42"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40


class Caller:
    """A person logged in through the API, sending the CSRF token with each change."""

    def __init__(self, client: TestClient, username: str) -> None:
        self.client = client
        self.username = username
        client.cookies.clear()
        answer = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        self.cookie = client.cookies.get("cf_session")
        self.csrf = answer.json()["csrf_token"]
        client.cookies.clear()

    def __call__(self, method: str, path: str, **options: Any) -> Any:
        headers = {"Cookie": f"cf_session={self.cookie}", "X-CSRF-Token": self.csrf}
        self.client.cookies.clear()
        return self.client.request(method, path, headers=headers, **options)


@pytest.fixture
def client(cf: Counterfoil, shop: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    for name, role, merchants in (
        ("qian", "finance", [MERCHANT]),
        ("sun", "finance", [MERCHANT]),
        ("wang", "supervisor", [MERCHANT]),
        ("zhou", "finance", [OTHER_MERCHANT]),
    ):
        users.add_user(cf, name, PASSWORD, role, merchants, locale="en")
    items = ingest.prepare_all([sale()], cf.keys.hmac_key)
    cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("terminal")))
    with TestClient(create_app(cf)) as test_client:
        yield test_client


def test_a_case_from_opening_to_an_approved_adjustment(cf: Counterfoil, client: TestClient) -> None:
    qian, sun, wang = Caller(client, "qian"), Caller(client, "sun"), Caller(client, "wang")
    opened = wang(
        "POST",
        "/api/v1/cases",
        json={
            "merchant": MERCHANT,
            "kind": "amount_error",
            "title": "charged 4,786.00 for 4,768.00",
            "difference": -1800,
            "entries": ["000049993190"],
        },
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    assert (
        qian("POST", f"/api/v1/cases/{case_id}/assign", json={"assignee": "qian"}).json()["state"]
        == "investigating"
    )
    uploaded = qian(
        "POST",
        f"/api/v1/cases/{case_id}/evidence",
        files={"file": ("slip photo.png", PNG, "text/html")},  # the claimed type is ignored
        data={"note": "the customer's copy"},
    )
    assert uploaded.status_code == 201, uploaded.text
    file = uploaded.json()["evidence"][-1]
    assert file["ref"] == hashlib.sha256(PNG).hexdigest()
    download = wang("GET", f"/api/v1/cases/{case_id}/evidence/{file['id']}")
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-type"] == "image/png"
    assert "sandbox" in download.headers["content-security-policy"]
    pdf = wang("GET", f"/api/v1/cases/{case_id}/application.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"].startswith("attachment;")
    submitted = qian("POST", f"/api/v1/cases/{case_id}/submit", json={"reference": "ACQ-7"})
    assert submitted.json()["state"] == "awaiting_response"
    proposed = qian(
        "POST",
        f"/api/v1/cases/{case_id}/adjustments",
        json={"kind": "refund", "amount": 1800, "reason": "acquirer agreed"},
    )
    assert proposed.status_code == 201, proposed.text
    adjustment_id = proposed.json()["adjustments"][0]["id"]
    decision = f"/api/v1/cases/{case_id}/adjustments/{adjustment_id}/decision"
    own = qian("POST", decision, json={"decision": "approve"})
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "forbidden"
    approved = sun("POST", decision, json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    entry_id = approved.json()["adjustments"][0]["entry_id"]
    with cf.engine.connect() as conn:
        body = conn.execute(
            select(journal_entries.c.body).where(
                journal_entries.c.merchant_no == MERCHANT,
                journal_entries.c.seq == int(entry_id.rsplit("-", 1)[1]),
            )
        ).scalar_one()
    assert orjson.loads(body)["data"]["case_id"] == case_id
    resolved = qian("POST", f"/api/v1/cases/{case_id}/respond", json={"outcome": "accepted"})
    assert resolved.json()["state"] == "resolved_accepted"
    closed = qian(
        "POST",
        f"/api/v1/cases/{case_id}/close",
        json={"root_cause": "operator_error", "lesson": "read the amount back"},
    )
    assert closed.json()["state"] == "closed"
    board = wang("GET", "/api/v1/cases", params={"state": "closed"}).json()
    assert [c["id"] for c in board["items"]] == [case_id]
    report = wang("GET", "/api/v1/cases/report", params={"merchant": MERCHANT}).json()
    assert report["by_root_cause"] == {"operator_error": 1}


def test_errors_have_one_shape_and_name_the_field(client: TestClient) -> None:
    wang, qian = Caller(client, "wang"), Caller(client, "qian")
    bad = wang("POST", "/api/v1/cases", json={"merchant": MERCHANT, "kind": "x", "title": "t"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid"
    assert bad.json()["error"]["details"]["field"] == "kind"
    case_id = wang(
        "POST", "/api/v1/cases", json={"merchant": MERCHANT, "kind": "other", "title": "t"}
    ).json()["id"]
    early = qian(
        "POST", f"/api/v1/cases/{case_id}/close", json={"root_cause": "fraud", "lesson": "x"}
    )
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "conflict"
    refused = wang("POST", f"/api/v1/cases/{case_id}/notes", json={"note": "x"})
    assert refused.status_code == 403
    exe = qian(
        "POST",
        f"/api/v1/cases/{case_id}/evidence",
        files={"file": ("run.exe", b"MZ\x90\x00", "application/octet-stream")},
    )
    assert exe.status_code == 422
    assert exe.json()["error"]["details"]["field"] == "file"


def test_another_merchants_people_see_nothing(client: TestClient) -> None:
    wang, zhou = Caller(client, "wang"), Caller(client, "zhou")
    case_id = wang(
        "POST", "/api/v1/cases", json={"merchant": MERCHANT, "kind": "other", "title": "ours"}
    ).json()["id"]
    assert zhou("GET", f"/api/v1/cases/{case_id}").status_code == 404
    assert zhou("GET", f"/api/v1/cases/{case_id}/application.pdf").status_code == 404
    assert zhou("GET", "/api/v1/cases").json()["total"] == 0
    assert zhou("GET", "/api/v1/preauths", params={"merchant": MERCHANT}).status_code == 403
    assert zhou("POST", f"/api/v1/cases/{case_id}/notes", json={"note": "x"}).status_code == 404


def test_the_preauth_monitor_through_the_api(client: TestClient) -> None:
    wang = Caller(client, "wang")
    found = wang("GET", "/api/v1/preauths", params={"merchant": MERCHANT, "within_days": 5})
    assert found.status_code == 200
    assert found.json()["open"] == []
    opened = wang("POST", "/api/v1/preauths/cases", json={"merchant": MERCHANT})
    assert opened.status_code == 201
    assert opened.json() == {"merchant_no": MERCHANT, "opened": [], "existing": []}
