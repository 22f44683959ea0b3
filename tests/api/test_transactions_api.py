"""The ingest API: idempotent, terminal-scoped, one error shape. SQLite and PostgreSQL."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import MERCHANT, OTHER_MERCHANT, sale
from counterfoil.api.app import create_app
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    with TestClient(create_app(cf)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {shop['token']}"
        yield test_client


def assert_error_shape(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return dict(body["error"])


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").json() == {"status": "ready"}


def test_one_transaction_then_the_same_again(client: TestClient) -> None:
    first = client.post("/api/v1/transactions", json=sale())
    assert first.status_code == 201
    assert first.json()["entry"]["fee"] == 2861
    again = client.post("/api/v1/transactions", json=sale())
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["entry"] == first.json()["entry"]


def test_a_different_payload_under_the_same_key_is_409_naming_the_key(client: TestClient) -> None:
    client.post("/api/v1/transactions", json=sale())
    error = assert_error_shape(
        client.post("/api/v1/transactions", json=sale(amount=1)), 409, "conflict"
    )
    assert "batch 000001 trace 000001" in error["message"]


def test_card_data_is_refused_and_never_echoed(client: TestClient) -> None:
    response = client.post(
        "/api/v1/transactions", json=sale(remarks=";6222021234567890128=2512101000000000?")
    )
    error = assert_error_shape(response, 422, "card_data_refused")
    assert "6222021234567890128" not in response.text
    assert error["details"]["field"] == "remarks"


def test_invalid_fields_are_all_named(client: TestClient) -> None:
    error = assert_error_shape(
        client.post("/api/v1/transactions", json=sale(amount=-1, batch_no="x")), 422, "invalid"
    )
    assert {e["field"] for e in error["details"]["errors"]} == {"amount", "batch_no"}


def test_errors_speak_chinese_when_asked(client: TestClient) -> None:
    response = client.post(
        "/api/v1/transactions", json=sale(amount=-1), headers={"Accept-Language": "zh-CN"}
    )
    assert response.status_code == 422
    assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["error"]["message"])


def test_tokens_are_required_and_scoped_to_their_terminal(
    cf: Counterfoil, client: TestClient
) -> None:
    assert_error_shape(
        client.post(
            "/api/v1/transactions", json=sale(), headers={"Authorization": "Bearer cft_nope.nope"}
        ),
        401,
        "unauthorised",
    )
    assert_error_shape(
        client.post("/api/v1/transactions", json=sale(), headers={"Authorization": ""}),
        401,
        "unauthorised",
    )
    add_merchant(cf, OTHER_MERCHANT, "隔壁酒店")
    _, other_token = add_terminal(cf, OTHER_MERCHANT, "HOTL0001")
    response = client.post(
        "/api/v1/transactions", json=sale(), headers={"Authorization": f"Bearer {other_token}"}
    )
    assert_error_shape(response, 403, "forbidden")
    client.post("/api/v1/transactions", json=sale())
    assert_error_shape(
        client.get(
            f"/api/v1/transactions/{MERCHANT}-2", headers={"Authorization": f"Bearer {other_token}"}
        ),
        404,
        "not_found",
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_a_batch_answers_each_item(cf: Counterfoil, shop: Any, workers: int) -> None:
    """The same answers whether the server validates in-process or in worker processes."""
    with TestClient(create_app(cf, workers=workers)) as client:
        client.headers["Authorization"] = f"Bearer {shop['token']}"
        _batch_answers_each_item(client)


def _batch_answers_each_item(client: TestClient) -> None:
    items = [sale(trace_no=f"{n:06d}", rrn=f"{n:012d}") for n in range(1, 101)]
    items.append(sale(trace_no="000001", rrn=f"{1:012d}"))  # duplicate inside the batch
    items.append(sale(trace_no="000200", cvv="123"))
    items.append(
        sale(trace_no="000201", type="void", original={"batch_no": "000001", "trace_no": "000050"})
    )
    response = client.post("/api/v1/transactions/batch", json={"transactions": items})
    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"recorded": 101, "duplicate": 1, "invalid": 1}
    assert [r["index"] for r in body["results"]] == list(range(103))
    assert body["results"][101]["error"]["code"] == "card_data_refused"


def test_a_batch_is_limited_to_ten_thousand(client: TestClient) -> None:
    items = [sale(trace_no=f"{n % 999999:06d}") for n in range(10_001)]
    assert_error_shape(
        client.post("/api/v1/transactions/batch", json={"transactions": items}), 422, "invalid"
    )


def test_bad_json_and_deep_json_are_clean_errors(client: TestClient) -> None:
    assert_error_shape(client.post("/api/v1/transactions", content=b"{nope"), 422, "invalid")
    deep = b"[" * 5000 + b"]" * 5000
    assert_error_shape(client.post("/api/v1/transactions", content=deep), 422, "invalid")


def test_look_up_by_every_key_with_links(client: TestClient) -> None:
    client.post("/api/v1/transactions", json=sale())
    client.post(
        "/api/v1/transactions",
        json=sale(
            trace_no="000002",
            type="refund",
            amount=1000,
            rrn="000000000002",
            original={"rrn": "000049993190"},
        ),
    )
    for ref in (
        f"{MERCHANT}-2",
        "000049993190",
        "TERM0001:000001:000001",
        "TERM0001/000001/000001",
    ):
        found = client.get(f"/api/v1/transactions/{ref}")
        assert found.status_code == 200, ref
        assert found.json()["seq"] == 2
        assert found.json()["status"] == "partially_refunded"
        assert [link["type"] for link in found.json()["links"]] == ["refund"]
    assert_error_shape(client.get("/api/v1/transactions/000000000999"), 404, "not_found")
    assert_error_shape(client.get("/api/v1/transactions/TERM0001:000009:000009"), 404, "not_found")


def test_search_filters_and_pages(client: TestClient) -> None:
    for n in range(1, 8):
        client.post(
            "/api/v1/transactions",
            json=sale(
                trace_no=f"{n:06d}",
                rrn=f"{n:012d}",
                amount=1000 * n,
                channel="debit" if n % 2 else "credit",
            ),
        )
    page = client.get("/api/v1/transactions", params={"channel": "debit", "per_page": 2})
    assert page.json()["total"] == 4
    assert len(page.json()["items"]) == 2
    assert client.get("/api/v1/transactions", params={"amount": 3000}).json()["total"] == 1
    days = {"date_from": "2026-11-20", "date_to": "2026-11-20"}
    assert client.get("/api/v1/transactions", params=days).json()["total"] == 7
    assert (
        client.get("/api/v1/transactions", params={"date_from": "2026-11-21"}).json()["total"] == 0
    )
    assert_error_shape(
        client.get("/api/v1/transactions", params={"status": "lost"}), 422, "invalid"
    )
    assert_error_shape(client.get("/api/v1/transactions", params={"per_page": 0}), 422, "invalid")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"amount": 2**63}, "amount"),  # beyond any integer the database holds
        ({"date_from": "0001-01-01"}, "date_from"),  # its start in UTC+8 is in year 0
        ({"date_to": "9999-12-31"}, "date_to"),  # the day after it cannot be written
    ],
)
def test_a_search_beyond_what_can_be_stored_is_refused_by_name(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    """Found by the OpenAPI fuzzer: these were answered 500."""
    answer = client.get("/api/v1/transactions", params=params)
    assert_error_shape(answer, 422, "invalid")
    assert answer.json()["error"]["details"]["field"] == field


def test_every_route_is_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/transactions",
        "/api/v1/transactions/batch",
        "/api/v1/transactions/{ref}",
        "/health",
        "/ready",
    } <= set(paths)
