"""The audit log in the console: filters, pages, the chain's state, exports, and an auditor
who sees only their merchants' records; reading and exporting are audited in turn.
SQLite and PostgreSQL.
"""

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.api import admin as api_admin
from counterfoil.api import audit as api_audit
from counterfoil.api.app import create_app
from counterfoil.core.canonical import canonical_bytes
from counterfoil.core.errors import ValidationError
from counterfoil.services import audit_view, users
from counterfoil.services.access import Principal
from counterfoil.services.audit_view import AuditFilters
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import audit_log

PASSWORD = "Ledger-proof-42"
#: (when, actor, action, outcome, merchant) — the story the filters are tried on.
STORY = (
    (datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "mallory", "auth.login", "denied", None),
    (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "user:wang", "transaction.read", "success", MERCHANT),
    (datetime(2026, 3, 2, 9, 5, tzinfo=UTC), "user:wang", "slip.reprint", "success", MERCHANT),
    (
        datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
        "user:sun",
        "transaction.read",
        "success",
        OTHER_MERCHANT,
    ),
    (
        datetime(2026, 3, 4, 8, 0, tzinfo=UTC),
        "terminal:x",
        "transaction.ingest",
        "denied",
        MERCHANT,
    ),
    (datetime(2026, 3, 4, 8, 1, tzinfo=UTC), "user:wang", "auth.logout", "success", MERCHANT),
)


def app_for(cf: Counterfoil) -> FastAPI:
    """The application with the admin and audit API routers (until app.py includes them)."""
    app = create_app(cf)
    included = [getattr(route, "original_router", None) for route in app.routes]
    for router in (api_audit.router, api_admin.router):
        if not any(router is r for r in included):
            app.include_router(router)
    return app


def tell(cf: Counterfoil, story: tuple[tuple[Any, ...], ...] = STORY) -> None:
    def job(conn: Any) -> None:
        for when, actor, action, outcome, merchant_no in story:
            audit.record(
                conn,
                Actor(actor, "10.0.0.7"),
                action,
                outcome,
                object_type="transaction" if action.startswith("transaction") else None,
                object_id=f"{merchant_no}-1" if merchant_no else None,
                merchant_no=merchant_no,
                details={"when": when.isoformat()},
                now=when,
            )

    cf.write(job)


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    add_merchant(cf, OTHER_MERCHANT, "Other shop")
    users.add_user(cf, "boss", PASSWORD, "admin", [], locale="en")
    users.add_user(cf, "zhao", PASSWORD, "auditor", [MERCHANT], locale="en")
    users.add_user(cf, "sun", PASSWORD, "auditor", [OTHER_MERCHANT], locale="en")
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    users.add_user(cf, "laoshi", PASSWORD, "auditor", [MERCHANT], locale="zh_CN")
    tell(cf)
    with TestClient(app_for(cf), follow_redirects=False) as test_client:
        yield test_client


def log_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "login_token": token.group(1),
            "next": "/dashboard",
        },
    )
    assert response.status_code == 303, response.text


def rows(html: str) -> list[dict[str, str]]:
    """The records table of a page: one dict per row."""
    body = re.search(r'<table class="rows" id="audit-records">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, html
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = [
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if len(cells) == 9:
            keys = (
                "seq",
                "at",
                "actor",
                "source",
                "action",
                "object",
                "merchant",
                "outcome",
                "details",
            )
            found.append(dict(zip(keys, cells, strict=True)))
    return found


def records(cf: Counterfoil, action: str) -> list[dict[str, Any]]:
    with cf.engine.connect() as conn:
        found = conn.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
        ).mappings()
        return [dict(r) for r in found]


def auditor_of(*merchants: str) -> Principal:
    return Principal("person", "user:zhao", "test", role="auditor", merchants=merchants)


BOSS = Principal("person", "user:boss", "test", role="admin")


# --- who sees what -------------------------------------------------------------------


def test_an_auditor_sees_only_their_merchants_records(cf: Counterfoil, client: TestClient) -> None:
    log_in(client, "zhao")
    page = client.get("/audit")
    assert page.status_code == 200
    shown = rows(page.text)
    assert shown
    assert {r["merchant"] for r in shown} == {MERCHANT}
    assert OTHER_MERCHANT not in page.text
    assert "mallory" not in page.text  # a record that names no merchant
    assert "user:sun" not in page.text
    assert "You see the records of your merchants only." in page.text
    refused = client.get(f"/audit?merchant={OTHER_MERCHANT}")
    assert refused.status_code == 403
    assert client.get(f"/audit/export?format=jsonl&merchant={OTHER_MERCHANT}").status_code == 403
    denied = [r for r in records(cf, "audit.view") if r["outcome"] == "denied"]
    assert [(r["actor"], orjson.loads(r["details"])["filters"]) for r in denied] == [
        ("user:zhao", {"merchant_no": OTHER_MERCHANT})
    ]
    assert [r["outcome"] for r in records(cf, "audit.export")] == ["denied"]


def test_the_admin_of_all_merchants_sees_every_record(client: TestClient) -> None:
    log_in(client, "boss")
    unfiltered = client.get("/audit")
    assert unfiltered.status_code == 200
    assert {r["merchant"] for r in rows(unfiltered.text)} == {MERCHANT, OTHER_MERCHANT, ""}
    shown = rows(client.get("/audit?date_from=2026-03-01&date_to=2026-03-04").text)
    assert [r["actor"] for r in shown] == [
        "user:wang",
        "terminal:x",
        "user:sun",
        "user:wang",
        "user:wang",
        "mallory",
    ]
    assert {r["merchant"] for r in shown} == {MERCHANT, OTHER_MERCHANT, ""}


def test_the_other_roles_may_not_read_the_audit_log(client: TestClient) -> None:
    assert client.get("/audit").status_code == 401
    log_in(client, "wang")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/export?format=csv").status_code == 403


# --- filters -------------------------------------------------------------------------


def test_filters_by_actor_action_prefix_outcome_object_and_utc_days(cf: Counterfoil) -> None:
    tell(cf)

    def actions(who: Principal, **given: Any) -> list[tuple[str, str]]:
        result = cf.read(lambda conn: audit_view.query(conn, who, AuditFilters(**given)))
        return [(r["actor"], r["action"]) for r in result["items"]]

    march = {"date_from": date(2026, 3, 1), "date_to": date(2026, 3, 4)}
    assert actions(BOSS, actor="wang", **march) == [
        ("user:wang", "auth.logout"),
        ("user:wang", "slip.reprint"),
        ("user:wang", "transaction.read"),
    ]
    assert actions(BOSS, action="auth.") == [
        ("user:wang", "auth.logout"),
        ("mallory", "auth.login"),
    ]
    assert actions(BOSS, action="transaction.r") == [
        ("user:sun", "transaction.read"),
        ("user:wang", "transaction.read"),
    ]
    assert actions(BOSS, action="transaction_") == []  # "_" is a letter here, not a wildcard
    assert actions(BOSS, outcome="denied") == [
        ("terminal:x", "transaction.ingest"),
        ("mallory", "auth.login"),
    ]
    assert actions(BOSS, object_type="transaction", object_id=f"{OTHER_MERCHANT}-1") == [
        ("user:sun", "transaction.read")
    ]
    # days are UTC days and the end day is included
    assert actions(BOSS, date_from=date(2026, 3, 2), date_to=date(2026, 3, 2)) == [
        ("user:wang", "slip.reprint"),
        ("user:wang", "transaction.read"),
    ]
    assert actions(BOSS, date_to=date(2026, 3, 1)) == [("mallory", "auth.login")]
    assert actions(auditor_of(MERCHANT), outcome="denied") == [("terminal:x", "transaction.ingest")]
    assert actions(auditor_of(MERCHANT), actor="sun") == []


def test_filters_are_checked_field_by_field(cf: Counterfoil) -> None:
    for given, field in (
        ({"date_from": date(2026, 3, 2), "date_to": date(2026, 3, 1)}, "date_to"),
        ({"outcome": "maybe"}, "outcome"),
        ({"merchant_no": "12AB"}, "merchant"),
        ({"actor": "x" * 81}, "actor"),
        ({"action": "auth.\n"}, "action"),
        ({"per_page": 501}, "per_page"),
    ):
        with pytest.raises(ValidationError) as raised:
            AuditFilters(**given).check()
        assert raised.value.field == field


def test_the_page_filters_and_keeps_the_filters_in_the_form(client: TestClient) -> None:
    log_in(client, "zhao")
    page = client.get("/audit?actor=wang&action=auth.&date_from=2026-03-04&date_to=2026-03-04")
    assert [(r["actor"], r["action"], r["outcome"]) for r in rows(page.text)] == [
        ("user:wang", "auth.logout", "Success")
    ]
    assert 'name="actor" maxlength="80" value="wang"' in page.text
    assert 'name="action" maxlength="60" value="auth."' in page.text
    assert (
        'href="/audit/export?format=csv&amp;date_from=2026-03-04&amp;date_to=2026-03-04'
        in page.text
    )
    denied = client.get("/audit?outcome=denied")
    assert [r["action"] for r in rows(denied.text)] == ["transaction.ingest"]
    assert [r["outcome"] for r in rows(denied.text)] == ["Denied"]
    bad = client.get("/audit?date_from=2026-13-01")
    assert 'id="e-date_from">expected a date as YYYY-MM-DD' in bad.text
    assert rows(bad.text) == []


def test_fifty_records_a_page_and_htmx_gets_the_results_alone(
    cf: Counterfoil, client: TestClient
) -> None:
    many = tuple(
        (
            datetime(2026, 4, 1, 0, i // 60, i % 60, tzinfo=UTC),
            "user:wang",
            "transaction.read",
            "success",
            MERCHANT,
        )
        for i in range(120)
    )
    tell(cf, many)
    log_in(client, "zhao")
    query = "/audit?date_from=2026-04-01&date_to=2026-04-01"
    first = client.get(query)
    assert len(rows(first.text)) == 50
    assert "120 records · page 1 of 3" in first.text
    assert 'href="/audit?date_from=2026-04-01&amp;date_to=2026-04-01&amp;page=2"' in first.text
    last = client.get(query + "&page=3", headers={"HX-Request": "true"})
    assert last.status_code == 200
    assert "<html" not in last.text
    assert "120 records · page 3 of 3" in last.text
    assert len(rows(last.text)) == 20
    seqs = [int(r["seq"]) for r in rows(first.text) + rows(client.get(query + "&page=2").text)]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == 100
    assert 'rel="prev"' in last.text
    assert 'rel="next"' not in last.text
    views = records(cf, "audit.view")
    assert views[-1]["actor"] == "user:zhao"
    assert orjson.loads(views[-1]["details"]) == {
        "filters": {"date_from": "2026-04-01", "date_to": "2026-04-01"},
        "returned": 50,
        "total": 120,
    }


# --- the chain -----------------------------------------------------------------------


def test_the_page_says_the_chain_is_intact_or_where_it_breaks(
    cf: Counterfoil, client: TestClient
) -> None:
    log_in(client, "zhao")
    page = client.get("/audit").text
    with cf.engine.connect() as conn:  # every record so far, this reading's own included
        count = len(list(conn.execute(select(audit_log.c.seq))))
    assert f"The audit chain is intact: {count} records verified." in page
    with cf.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET details = '{}' WHERE seq = 3"))
    page = client.get("/audit").text
    assert "The audit chain does not verify: audit record 3 was altered" in page


# --- exports -------------------------------------------------------------------------


def test_the_csv_export_has_every_matching_record_and_is_audited(
    cf: Counterfoil, client: TestClient
) -> None:
    log_in(client, "zhao")
    response = client.get("/audit/export?format=csv&actor=wang&date_to=2026-03-31")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="counterfoil-audit-\d{8}T\d{6}Z\.csv"',
        response.headers["content-disposition"],
    )
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["seq"] != "", r["actor"], r["action"], r["merchant_no"]) for r in table] == [
        (True, "user:wang", "transaction.read", MERCHANT),
        (True, "user:wang", "slip.reprint", MERCHANT),
        (True, "user:wang", "auth.logout", MERCHANT),
    ]
    assert table[0]["at"] == "2026-03-02T09:00:00.000000Z"
    assert orjson.loads(table[0]["details"]) == {"when": "2026-03-02T09:00:00+00:00"}
    assert list(table[0]) == list(audit_view.FIELDS)
    (export,) = records(cf, "audit.export")
    assert (export["actor"], export["outcome"], export["merchant_no"]) == (
        "user:zhao",
        "success",
        MERCHANT,
    )
    assert orjson.loads(export["details"]) == {
        "filters": {"actor": "wang", "date_to": "2026-03-31"},
        "format": "csv",
    }


def test_the_jsonl_export_streams_records_whose_hashes_recompute(
    cf: Counterfoil, client: TestClient
) -> None:
    many = tuple(
        (
            datetime(2026, 5, 1, 0, 0, i % 60, tzinfo=UTC),
            "user:wang",
            "transaction.read",
            "success",
            MERCHANT,
        )
        for i in range(1100)  # more than one batch
    )
    tell(cf, many)
    log_in(client, "zhao")
    response = client.get("/audit/export?format=jsonl&date_from=2026-05-01&date_to=2026-05-01")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"].endswith('.jsonl"')
    lines = response.content.decode().splitlines()
    assert len(lines) == 1100
    exported = [orjson.loads(line) for line in lines]
    assert [r["seq"] for r in exported] == sorted(r["seq"] for r in exported)
    for record in exported[:3] + exported[-3:]:
        body = {k: v for k, v in record.items() if k != "entry_hash"}
        assert hashlib.sha256(canonical_bytes(body)).hexdigest() == record["entry_hash"]
    assert [orjson.loads(r["details"])["format"] for r in records(cf, "audit.export")] == ["jsonl"]


def test_a_csv_cell_is_never_a_spreadsheet_formula(cf: Counterfoil, client: TestClient) -> None:
    tell(
        cf, ((datetime(2026, 6, 1, tzinfo=UTC), "=HYPERLINK(1)", "auth.login", "denied", MERCHANT),)
    )
    log_in(client, "zhao")
    response = client.get("/audit/export?format=csv&action=auth.login")
    (row,) = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert row["actor"] == "'=HYPERLINK(1)"


def test_an_unknown_export_format_is_a_clear_error(client: TestClient) -> None:
    log_in(client, "zhao")
    response = client.get("/audit/export?format=xlsx")
    assert response.status_code == 422
    assert "expected one of csv, jsonl" in response.text


# --- language ------------------------------------------------------------------------


def test_the_audit_page_speaks_chinese_to_a_chinese_auditor(client: TestClient) -> None:
    log_in(client, "laoshi")
    page = client.get("/audit").text
    assert '<html lang="zh-CN">' in page
    assert "<h1>审计日志</h1>" in page
    assert "审计链完整" in page
    assert "日期和时间均为 UTC" in page
    assert '<span class="status denied">拒绝</span>' in page  # the outcome, labelled
