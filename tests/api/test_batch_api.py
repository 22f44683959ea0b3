"""The batch close through the API: a terminal closes its own batch with its own token, a
supervisor through a session with the CSRF token; the same close again answers the same;
closes are read back only by their merchant's people; the slip downloads. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, sale
from counterfoil.api.app import create_app
from counterfoil.services import users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal

PASSWORD = "Ledger-proof-42"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CLOSE = {
    "merchant_no": MERCHANT,
    "terminal_id": TERMINAL,
    "batch_no": "000001",
    "debit_count": 2,
    "debit_amount": 35000,
    "credit_count": 0,
    "credit_amount": 0,
}


@pytest.fixture
def api(cf: Counterfoil, shop: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(users, "_hasher", CHEAP)
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    add_terminal(cf, MERCHANT, "TERM0002", "Counter 2")
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    users.add_user(cf, "li", PASSWORD, "finance", [MERCHANT], locale="en")
    users.add_user(cf, "other", PASSWORD, "supervisor", [OTHER_MERCHANT], locale="en")
    with TestClient(create_app(cf)) as client:
        bearer = {"Authorization": f"Bearer {shop['token']}"}
        for trace, amount in (("000001", 10000), ("000002", 25000)):
            posted = client.post(
                "/api/v1/transactions",
                json=sale(trace_no=trace, rrn=f"00004999{trace[2:]}", amount=amount),
                headers=bearer,
            )
            assert posted.status_code == 201, posted.text
        yield client


def terminal(shop: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop['token']}"}


def log_in(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def test_a_terminal_closes_its_batch_and_hears_balanced(api: TestClient, shop: Any) -> None:
    first = api.post("/api/v1/batches/close", json=CLOSE, headers=terminal(shop))
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["balanced"] is True
    assert body["answer"] == "balanced"
    again = api.post("/api/v1/batches/close", json=CLOSE, headers=terminal(shop))
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert again.json()["repeated"] is True


def test_a_difference_comes_back_with_its_transaction(api: TestClient, shop: Any) -> None:
    short = CLOSE | {"debit_count": 1, "debit_amount": 10000}
    found = api.post("/api/v1/batches/close", json=short, headers=terminal(shop)).json()
    assert found["answer"] == "not_balanced"
    [diff] = found["differences"]
    [why] = diff["explanations"]
    assert (why["reason"], why["trace_no"], why["journal_amount"]) == (
        "missing_on_terminal",
        "000002",
        25000,
    )


def test_a_terminal_cannot_close_another_terminals_batch(api: TestClient, shop: Any) -> None:
    refused = api.post(
        "/api/v1/batches/close", json=CLOSE | {"terminal_id": "TERM0002"}, headers=terminal(shop)
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "TERM0001" in refused.json()["error"]["message"]


def test_a_bad_field_is_named(api: TestClient, shop: Any) -> None:
    bad = api.post(
        "/api/v1/batches/close", json=CLOSE | {"debit_amount": "350.00"}, headers=terminal(shop)
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "debit_amount"


def test_a_supervisor_closes_with_the_csrf_token(api: TestClient, shop: Any) -> None:
    headers = log_in(api, "wang")
    assert api.post("/api/v1/batches/close", json=CLOSE).status_code == 403  # no CSRF token
    made = api.post("/api/v1/batches/close", json=CLOSE, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["actor"] == "user:wang"
    finance = log_in(api, "li")
    assert api.post("/api/v1/batches/close", json=CLOSE, headers=finance).status_code == 403


def test_closes_are_read_only_by_their_merchants_people(api: TestClient, shop: Any) -> None:
    made = api.post("/api/v1/batches/close", json=CLOSE, headers=terminal(shop)).json()
    log_in(api, "li")
    listed = api.get("/api/v1/batches", params={"terminal_id": TERMINAL}).json()
    assert [x["id"] for x in listed["items"]] == [made["id"]]
    one = api.get(f"/api/v1/batches/{made['id']}")
    assert one.status_code == 200
    assert one.json()["groups"]["journal"]["all"]["debit_amount"] == 35000
    text = api.get(f"/api/v1/batches/{made['id']}/slip", params={"format": "text58"})
    assert text.headers["content-type"].startswith("text/plain")
    assert "结算总计单" in text.text
    assert "batch-TERM0001-000001-1.txt" in text.headers["content-disposition"]
    pdf = api.get(f"/api/v1/batches/{made['id']}/slip", params={"format": "pdf80"})
    assert pdf.content.startswith(b"%PDF")
    log_in(api, "other")
    assert api.get("/api/v1/batches").json()["items"] == []
    assert api.get(f"/api/v1/batches/{made['id']}").status_code == 404
    assert api.get(f"/api/v1/batches/{made['id']}/slip").status_code == 404
    api.cookies.clear()
    assert api.get("/api/v1/batches", headers=terminal(shop)).status_code == 403
