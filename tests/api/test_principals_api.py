"""The API's readers: a person's session, an integration's scoped token and a terminal's
token each see what their access allows and nothing else. SQLite and PostgreSQL."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, sale
from counterfoil.api.app import create_app
from counterfoil.services import tokens, users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal

PASSWORD = "Ledger-proof-42"


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    _, other_token = add_terminal(cf, OTHER_MERCHANT, "HOTL0001")
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    with TestClient(create_app(cf)) as test_client:
        for token, payload in (
            (shop["token"], sale()),
            (shop["token"], sale(trace_no="000002", rrn="000049993191", amount=1250)),
            (other_token, sale(merchant_no=OTHER_MERCHANT, terminal_id="HOTL0001")),
        ):
            response = test_client.post(
                "/api/v1/transactions", json=payload, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 201, response.text
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_person_reads_their_merchant_through_the_api(client: TestClient) -> None:
    login = client.post("/api/v1/session", json={"username": "wang", "password": PASSWORD})
    assert login.status_code == 200
    found = client.get("/api/v1/transactions", params={"merchant": MERCHANT})
    assert found.status_code == 200
    assert found.json()["total"] == 2
    assert client.get("/api/v1/transactions").json()["total"] == 2  # their only merchant
    assert client.get("/api/v1/transactions/000049993191").json()["amount"] == 1250
    refused = client.get("/api/v1/transactions", params={"merchant": OTHER_MERCHANT})
    assert refused.status_code == 403
    assert client.get(f"/api/v1/transactions/{OTHER_MERCHANT}-2").status_code == 404
    # a person never records: only a terminal's own token does
    csrf = login.json()["csrf_token"]
    posted = client.post("/api/v1/transactions", json=sale(), headers={"X-CSRF-Token": csrf})
    assert posted.status_code == 403


def test_an_integration_token_reads_only_with_its_scope_and_merchant(
    cf: Counterfoil, client: TestClient
) -> None:
    reader, _ = tokens.add_token(cf, MERCHANT, "erp", ["transactions.read"])
    importer, _ = tokens.add_token(cf, MERCHANT, "feed", ["statements.import"])
    found = client.get("/api/v1/transactions", headers=bearer(reader))
    assert found.status_code == 200
    assert {item["merchant_no"] for item in found.json()["items"]} == {MERCHANT}
    other = client.get(
        "/api/v1/transactions", params={"merchant": OTHER_MERCHANT}, headers=bearer(reader)
    )
    assert other.status_code == 403
    assert client.get("/api/v1/transactions", headers=bearer(importer)).status_code == 403
    assert client.post("/api/v1/transactions", json=sale(), headers=bearer(reader)).status_code == (
        403
    )


def test_a_revoked_or_made_up_token_is_refused(cf: Counterfoil, client: TestClient) -> None:
    token, info = tokens.add_token(cf, MERCHANT, "erp", ["transactions.read"])
    tokens.revoke_token(cf, info.id)
    assert client.get("/api/v1/transactions", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/transactions", headers=bearer("cfi_made-up")).status_code == 401
    assert client.get("/api/v1/transactions", headers={"Authorization": "Basic x"}).status_code == (
        401
    )


def test_a_terminal_reads_only_its_own_terminal(cf: Counterfoil, client: TestClient) -> None:
    _, second = add_terminal(cf, MERCHANT, "TERM0002")
    mine = client.get("/api/v1/transactions", headers=bearer(second))
    assert mine.status_code == 200
    assert mine.json()["total"] == 0  # the two sales are TERM0001's
    assert client.get("/api/v1/transactions/000049993191", headers=bearer(second)).status_code == (
        404
    )
    wrong = client.get(
        "/api/v1/transactions", params={"terminal_id": TERMINAL}, headers=bearer(second)
    )
    assert wrong.status_code == 403
