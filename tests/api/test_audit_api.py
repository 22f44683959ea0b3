"""The audit log through the API: pages of records, streamed exports, merchant scoping for
people and integration tokens, one error shape; every reading is audited. SQLite and
PostgreSQL.
"""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.api import admin as api_admin
from counterfoil.api import audit as api_audit
from counterfoil.api.app import create_app
from counterfoil.services import tokens, users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import audit_log

PASSWORD = "Ledger-proof-42"


def app_for(cf: Counterfoil) -> FastAPI:
    """The application with the admin and audit API routers (until app.py includes them)."""
    app = create_app(cf)
    included = [getattr(route, "original_router", None) for route in app.routes]
    for router in (api_audit.router, api_admin.router):
        if not any(router is r for r in included):
            app.include_router(router)
    return app


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    add_merchant(cf, OTHER_MERCHANT, "Other shop")
    users.add_user(cf, "zhao", PASSWORD, "auditor", [MERCHANT], locale="en")
    users.add_user(cf, "boss", PASSWORD, "admin", [], locale="en")
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")

    def story(conn: Any) -> None:
        for i in range(7):
            audit.record(
                conn,
                Actor("user:wang", "10.0.0.7"),
                "slip.reprint",
                object_type="transaction",
                object_id=f"{MERCHANT}-{i + 1}",
                merchant_no=MERCHANT,
                details={"copy": "merchant", "reason": "lost"},
                now=datetime(2026, 3, 2, 9, i, tzinfo=UTC),
            )
        audit.record(
            conn,
            Actor("user:sun"),
            "slip.reprint",
            merchant_no=OTHER_MERCHANT,
            now=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        )

    cf.write(story)
    with TestClient(app_for(cf)) as test_client:
        yield test_client


def log_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text


def audited(cf: Counterfoil, action: str) -> list[dict[str, Any]]:
    with cf.engine.connect() as conn:
        found = conn.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
        ).mappings()
        return [dict(r) for r in found]


def test_an_auditor_pages_through_their_merchants_records(
    cf: Counterfoil, client: TestClient
) -> None:
    log_in(client, "zhao")
    first = client.get("/api/v1/audit", params={"action": "slip.", "per_page": 3})
    assert first.status_code == 200
    body = first.json()
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (7, 1, 3, 3)
    assert [r["object_id"] for r in body["items"]] == [
        f"{MERCHANT}-7",
        f"{MERCHANT}-6",
        f"{MERCHANT}-5",
    ]
    item = body["items"][0]
    assert item["details"] == {"copy": "merchant", "reason": "lost"}
    assert item["at"] == "2026-03-02T09:06:00.000000Z"
    assert (item["actor"], item["source"], item["merchant_no"], item["outcome"]) == (
        "user:wang",
        "10.0.0.7",
        MERCHANT,
        "success",
    )
    assert len(item["entry_hash"]) == len(item["prev_hash"]) == 64
    last = client.get("/api/v1/audit", params={"action": "slip.", "per_page": 3, "page": 3})
    assert [r["object_id"] for r in last.json()["items"]] == [f"{MERCHANT}-1"]
    everything = client.get("/api/v1/audit", params={"per_page": 500}).json()
    assert {r["merchant_no"] for r in everything["items"]} == {MERCHANT}
    (view, *_rest) = audited(cf, "audit.view")
    assert (view["actor"], view["merchant_no"], view["object_type"]) == (
        "user:zhao",
        MERCHANT,
        "audit_log",
    )
    assert orjson.loads(view["details"]) == {
        "filters": {"action": "slip."},
        "returned": 3,
        "total": 7,
    }


def test_another_merchants_records_are_refused_in_the_one_error_shape(
    cf: Counterfoil, client: TestClient
) -> None:
    log_in(client, "zhao")
    response = client.get("/api/v1/audit", params={"merchant": OTHER_MERCHANT})
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": "forbidden",
            "message": f"you have no access to merchant {OTHER_MERCHANT}",
            "details": {"merchant_no": OTHER_MERCHANT},
        }
    }
    export = client.get("/api/v1/audit/export", params={"merchant": OTHER_MERCHANT})
    assert export.status_code == 403
    assert [r["outcome"] for r in audited(cf, "audit.view")] == ["denied"]
    assert [r["outcome"] for r in audited(cf, "audit.export")] == ["denied"]


def test_the_admin_of_all_merchants_reads_every_merchant(client: TestClient) -> None:
    log_in(client, "boss")
    body = client.get("/api/v1/audit", params={"action": "slip.reprint", "per_page": 50}).json()
    assert body["total"] == 8
    unfiltered = client.get("/api/v1/audit", params={"per_page": 500})
    assert unfiltered.status_code == 200
    merchants = {r["merchant_no"] for r in unfiltered.json()["items"]}
    assert merchants == {MERCHANT, OTHER_MERCHANT, None}  # users added name no merchant
    mine = client.get("/api/v1/audit", params={"merchant": OTHER_MERCHANT, "action": "slip."})
    assert [r["actor"] for r in mine.json()["items"]] == ["user:sun"]


def test_who_may_read_the_audit_log(cf: Counterfoil, client: TestClient) -> None:
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit/export").status_code == 401
    log_in(client, "wang")
    refused = client.get("/api/v1/audit")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/audit/export").status_code == 403


def test_an_integration_token_with_the_audit_scope_reads_its_merchant_only(
    cf: Counterfoil, client: TestClient
) -> None:
    reader, _info = tokens.add_token(cf, MERCHANT, "SIEM feed", ["audit.read"])
    other, _other = tokens.add_token(cf, MERCHANT, "ERP", ["transactions.read"])
    client.cookies.clear()
    response = client.get(
        "/api/v1/audit", params={"per_page": 500}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert response.status_code == 200
    assert {r["merchant_no"] for r in response.json()["items"]} == {MERCHANT}
    assert response.json()["total"] >= 7
    unscoped = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {other}"})
    assert unscoped.status_code == 403
    assert audited(cf, "audit.view")[-1]["actor"] == f"integration:{_info.id}:SIEM feed"


def test_exports_stream_csv_and_json_lines_with_the_same_filters(
    cf: Counterfoil, client: TestClient
) -> None:
    log_in(client, "zhao")
    response = client.get(
        "/api/v1/audit/export",
        params={
            "format": "csv",
            "action": "slip.",
            "date_from": "2026-03-02",
            "date_to": "2026-03-02",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="counterfoil-audit-'
    )
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["object_id"] for r in table] == [f"{MERCHANT}-{i}" for i in range(1, 8)]
    lines = client.get(
        "/api/v1/audit/export", params={"format": "jsonl", "merchant": MERCHANT, "action": "slip."}
    )
    assert lines.headers["content-disposition"].startswith(
        f'attachment; filename="counterfoil-audit-{MERCHANT}-'
    )
    exported = [orjson.loads(line) for line in lines.content.splitlines()]
    assert [r["seq"] for r in exported] == [int(r["seq"]) for r in table]
    assert exported[0]["details"] == '{"copy":"merchant","reason":"lost"}'
    formats = [orjson.loads(r["details"])["format"] for r in audited(cf, "audit.export")]
    assert formats == ["csv", "jsonl"]


def test_bad_filters_are_named(client: TestClient) -> None:
    log_in(client, "zhao")
    for params, field in (
        ({"format": "pdf"}, "format"),
        ({"outcome": "maybe"}, "outcome"),
        ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "date_to"),
    ):
        path = "/api/v1/audit/export" if "format" in params else "/api/v1/audit"
        response = client.get(path, params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "invalid"
        assert response.json()["error"]["details"]["field"] == field
    malformed = client.get("/api/v1/audit", params={"date_from": "yesterday"})
    assert malformed.status_code == 422
    assert [e["field"] for e in malformed.json()["error"]["details"]["errors"]] == ["date_from"]
