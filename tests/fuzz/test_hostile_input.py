"""Hostile input: oversized and deeply nested JSON, path tricks in an uploaded file's
name, SQL and script injection in text that is shown back — refused, or stored as text
and escaped where shown. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import MERCHANT, sale
from counterfoil.api.app import create_app
from counterfoil.services import users
from counterfoil.services.context import Counterfoil

PASSWORD = "Ledger-proof-42"
SCRIPT = "<script>alert(1)</script>"
SQL = "'; DROP TABLE journal_entries; --"
CAMT = (
    Path(__file__).resolve().parents[3] / "shared" / "samples" / "camt" / "camt053.v2.minimal.xml"
)


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    users.add_user(cf, "zhao", PASSWORD, "finance", [MERCHANT], locale="en")
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    with TestClient(create_app(cf), follow_redirects=False) as test_client:
        test_client.headers["Authorization"] = f"Bearer {shop['token']}"
        yield test_client


def log_in(client: TestClient, username: str) -> str:
    client.headers.pop("Authorization", None)
    client.cookies.clear()
    answer = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["csrf_token"])


def test_oversized_and_deeply_nested_json_are_refused_not_crashed(client: TestClient) -> None:
    big = client.post("/api/v1/transactions", content=b'{"a":"' + b"x" * 70_000 + b'"}')
    assert big.status_code == 422
    assert "larger than" in big.json()["error"]["message"]
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/api/v1/transactions", "/api/v1/transactions/batch"):
        answer = client.post(path, content=deep)
        assert answer.status_code in (413, 422), (path, answer.status_code)
        assert set(answer.json()) == {"error"}
    nested = {"transactions": [sale(operator={"a": {"b": {"c": [[[[1]]]]}}})]}
    answer = client.post("/api/v1/transactions/batch", json=nested)
    assert answer.status_code == 200
    assert answer.json()["results"][0]["status"] != "recorded"


def test_injection_in_text_fields_is_data_and_is_escaped_where_shown(client: TestClient) -> None:
    recorded = client.post("/api/v1/transactions", json=sale(order_no=SQL, operator=SCRIPT[:2]))
    assert recorded.status_code in (201, 422)
    csrf = log_in(client, "wang")
    made = client.post(
        "/api/v1/incidents",
        headers={"X-CSRF-Token": csrf},
        json={
            "merchant": MERCHANT,
            "kind": "customer_receipt",
            "found_at": "2026-11-20T10:00",
            "place": SCRIPT,
            "entries": [],
            "action": SQL,
        },
    )
    assert made.status_code == 201, made.text
    page = client.get(f"/incidents/{made.json()['id']}")
    assert page.status_code == 200
    assert SCRIPT not in page.text
    assert "&lt;script&gt;" in page.text
    assert client.get("/api/v1/incidents").json()  # the table is still there
    searched = client.get("/api/v1/transactions", params={"q": SQL})
    assert searched.status_code in (200, 422)
    found = client.get("/transactions", params={"q": SCRIPT})
    assert found.status_code in (200, 422)
    assert SCRIPT not in found.text


def test_path_tricks_in_an_uploaded_file_name_stay_a_name(
    client: TestClient, cf: Counterfoil
) -> None:
    csrf = log_in(client, "zhao")
    for name in ("../../../../etc/passwd", "..\\..\\evil.xml", "/tmp/abs.xml", SCRIPT + ".xml"):
        answer = client.post(
            "/api/v1/statements",
            files={"file": (name, io.BytesIO(CAMT.read_bytes()))},
            data={"merchant": MERCHANT},
            headers={"X-CSRF-Token": csrf},
        )
        assert answer.status_code in (200, 201, 422), answer.text
    assert not Path("/tmp/abs.xml").exists()
    assert not (cf.settings.home.parent / "evil.xml").exists()
    listing = client.get("/statements")
    assert listing.status_code == 200
    assert SCRIPT not in listing.text
