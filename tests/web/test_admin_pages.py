"""The admin pages through HTTP: users, terminals, merchants, fee schedules and integration
tokens, each change a form with the CSRF token that goes through a service and is audited;
an admin of some merchants manages only those; and the same through /api/v1/admin.
SQLite and PostgreSQL.
"""

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL
from counterfoil.api import admin as api_admin
from counterfoil.api import audit as api_audit
from counterfoil.api.app import create_app
from counterfoil.core.fees import FeeRule
from counterfoil.services import merchants as merchant_svc
from counterfoil.services import tokens as token_svc
from counterfoil.services import users
from counterfoil.services.context import Counterfoil
from counterfoil.store.schema import audit_log, terminals

PASSWORD = "Ledger-proof-42"
ROLES = {
    "boss": "admin",  # of all merchants
    "shopadmin": "admin",  # of MERCHANT only
    "wang": "supervisor",
    "li": "cashier",
    "qian": "finance",
    "zhao": "auditor",
}
PAGES = ("/admin/users", "/admin/terminals", "/admin/merchants", "/admin/fees", "/admin/tokens")


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
    merchant_svc.add_merchant(cf, OTHER_MERCHANT, "Other shop")
    merchant_svc.add_terminal(cf, OTHER_MERCHANT, "OTHER001", "Their counter")
    users.add_user(cf, "boss", PASSWORD, "admin", [], display_name="Operator", locale="en")
    users.add_user(cf, "shopadmin", PASSWORD, "admin", [MERCHANT], locale="en")
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    users.add_user(
        cf, "li", PASSWORD, "cashier", [MERCHANT], terminals=[(MERCHANT, TERMINAL)], locale="en"
    )
    users.add_user(cf, "qian", PASSWORD, "finance", [MERCHANT], locale="en")
    users.add_user(cf, "zhao", PASSWORD, "auditor", [MERCHANT], locale="en")
    users.add_user(cf, "sun", PASSWORD, "supervisor", [OTHER_MERCHANT], locale="en")
    with TestClient(app_for(cf), follow_redirects=False) as test_client:
        yield test_client


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token (from a page's form)."""
    client.cookies.clear()
    form = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "login_token": token.group(1),
            "next": "/dashboard",
        },
    )
    assert response.status_code == 303, response.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/dashboard")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def audited(cf: Counterfoil, action: str) -> list[dict[str, Any]]:
    with cf.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
        ).mappings()
        return [dict(r) for r in rows]


def notice(html: str) -> str:
    found = re.search(r'id="notice">([^<]*)<', html)
    assert found, html
    return found.group(1)


def shown_token(html: str) -> str:
    found = re.search(r'<code id="token-value">([^<]+)</code>', html)
    assert found, html
    return found.group(1)


# --- who may -------------------------------------------------------------------------


def test_each_admin_page_renders_for_an_admin_and_is_refused_to_every_other_role(
    client: TestClient,
) -> None:
    log_in(client, "boss")
    headings = {
        "/admin/users": "<h1>Users</h1>",
        "/admin/terminals": "<h1>Terminals",
        "/admin/merchants": "<h1>Merchants</h1>",
        "/admin/fees": "<h1>Fee schedule",
        "/admin/tokens": "<h1>Integration tokens",
    }
    for path, heading in headings.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert heading in response.text
        assert response.headers["cache-control"] == "no-store"
    for username in ("wang", "li", "qian", "zhao"):
        log_in(client, username)
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 403, (username, path)
            assert "Not allowed" in response.text
    client.cookies.clear()
    for path in PAGES:
        assert client.get(path).status_code == 401


def test_a_change_without_the_csrf_token_is_refused(cf: Counterfoil, client: TestClient) -> None:
    log_in(client, "boss")
    response = client.post(
        "/admin/users",
        data={"username": "zhou", "role": "supervisor", "merchants": MERCHANT, "password": "x"},
    )
    assert response.status_code == 403
    forged = client.post(
        "/admin/terminals",
        data={"csrf_token": "forged", "merchant": MERCHANT, "terminal_id": "TERM0009"},
    )
    assert forged.status_code == 403
    with cf.engine.connect() as conn:
        assert [u.username for u in users.list_users(conn)].count("zhou") == 0
        assert "TERM0009" not in {
            t["terminal_id"] for t in merchant_svc.list_terminals(conn, MERCHANT)
        }


# --- users ---------------------------------------------------------------------------


def test_adding_a_user_through_the_form_works_and_is_audited(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "boss")
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "username": "zhou",
            "display_name": "周收银",
            "role": "cashier",
            "merchants": MERCHANT,
            "terminals": TERMINAL,
            "locale": "zh_CN",
            "password": "Counter-pass-2024",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/users?done=user_added&subject=zhou"
    page = client.get(response.headers["location"])
    assert notice(page.text) == "User zhou added."
    row = re.search(r'<tr id="user-zhou">(.*?)</tr>', page.text, re.S)
    assert row
    assert "周收银" in row.group(1)
    assert "Cashier" in row.group(1)
    assert TERMINAL in row.group(1)
    with cf.engine.connect() as conn:
        added = users.get_user(conn, "zhou")
    assert (added.role, added.merchants, added.terminals, added.locale) == (
        "cashier",
        (MERCHANT,),
        ((MERCHANT, TERMINAL),),
        "zh_CN",
    )
    record = audited(cf, "user.add")[-1]
    assert (record["actor"], record["object_id"], record["outcome"]) == (
        "user:boss",
        "zhou",
        "success",
    )
    assert "Counter-pass-2024" not in str(record["details"])
    # the new cashier logs in with the initial password
    log_in(client, "zhou", "Counter-pass-2024")


def test_a_bad_field_re_renders_the_form_with_the_error_beside_it(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "boss")
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "username": "zhou",
            "role": "supervisor",
            "merchants": MERCHANT,
            "locale": "en",
            "password": "short",
        },
    )
    assert response.status_code == 422
    assert 'id="f-password" name="password" type="password" value=""' in response.text
    assert re.search(
        r'id="f-password"[^>]*aria-invalid="true"[^>]*>\s*<small class="muted">[^<]*</small>\s*'
        r'<small class="error" id="e-password">expected a password of 12 to 128 characters',
        response.text,
    )
    assert 'id="f-username" name="username" type="text" value="zhou"' in response.text
    again = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "username": "wang",
            "role": "supervisor",
            "merchants": MERCHANT,
            "locale": "en",
            "password": "Another-pass-2024",
        },
    )
    assert again.status_code == 409
    assert 'id="form-error">user wang already exists' in again.text
    with cf.engine.connect() as conn:
        assert "zhou" not in {u.username for u in users.list_users(conn)}


def test_disable_enable_and_reset_a_password(cf: Counterfoil, client: TestClient) -> None:
    csrf = log_in(client, "boss")
    response = client.post("/admin/users/wang/disable", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert notice(client.get(response.headers["location"]).text) == (
        "User wang disabled: they can no longer log in."
    )
    with cf.engine.connect() as conn:
        assert users.get_user(conn, "wang").active is False
    response = client.post("/admin/users/wang/enable", data={"csrf_token": csrf})
    assert response.status_code == 303
    response = client.post(
        "/admin/users/wang/password", data={"csrf_token": csrf, "password": "too-short"}
    )
    assert response.status_code == 422
    assert "<details open>" in response.text
    assert 'id="e-p-wang">expected a password of 12 to 128 characters' in response.text
    response = client.post(
        "/admin/users/wang/password", data={"csrf_token": csrf, "password": "Brand-new-pass-77"}
    )
    assert response.status_code == 303
    assert [r["action"] for r in audited(cf, "user.disable")] == ["user.disable"]
    assert [r["object_id"] for r in audited(cf, "user.enable")] == ["wang"]
    assert [r["actor"] for r in audited(cf, "user.password")] == ["user:boss"]
    # an admin does not lock themselves out
    assert 'action="/admin/users/boss/disable"' not in client.get("/admin/users").text
    refused = client.post("/admin/users/boss/disable", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert "you cannot disable your own account" in refused.text
    log_in(client, "wang", "Brand-new-pass-77")


def test_a_scoped_admin_sees_and_manages_only_the_users_of_their_merchants(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "shopadmin")
    page = client.get("/admin/users").text
    shown = set(re.findall(r'<tr id="user-([a-z0-9._-]+)">', page))
    assert shown == {"shopadmin", "wang", "li", "qian", "zhao"}  # not boss, not sun
    assert client.post("/admin/users/sun/disable", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/admin/users/boss/disable", data={"csrf_token": csrf}).status_code == 403
    for merchants in (OTHER_MERCHANT, ""):
        response = client.post(
            "/admin/users",
            data={
                "csrf_token": csrf,
                "username": "zhou",
                "role": "admin",
                "merchants": merchants,
                "locale": "en",
                "password": "Counter-pass-2024",
            },
        )
        assert response.status_code == 403
    with cf.engine.connect() as conn:
        assert users.get_user(conn, "sun").active is True
        assert "zhou" not in {u.username for u in users.list_users(conn)}
    denied = [r for r in audited(cf, "user.disable") if r["outcome"] == "denied"]
    assert [r["object_id"] for r in denied] == ["sun", "boss"]


# --- terminals -----------------------------------------------------------------------


def test_a_new_terminal_shows_its_token_once_and_the_token_works(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "boss")
    response = client.post(
        "/admin/terminals",
        data={"csrf_token": csrf, "merchant": MERCHANT, "terminal_id": "TERM0002", "name": "Back"},
    )
    assert response.status_code == 200
    assert "it will not be shown again" in response.text
    assert 'class="notice" role="status" id="new-token"' in response.text
    token = shown_token(response.text)
    assert token.startswith("cft_")
    assert response.headers["cache-control"] == "no-store"
    later = client.get(f"/admin/terminals?merchant={MERCHANT}")
    assert token not in later.text
    assert "<td>TERM0002</td><td>Back</td>" in later.text
    with cf.engine.connect() as conn:
        assert merchant_svc.authenticate_terminal(conn, token) == (MERCHANT, "TERM0002")
        stored = " ".join(
            str(v) for row in conn.execute(text("SELECT * FROM terminals")) for v in row
        )
    assert token.split(".", 1)[1] not in stored
    record = audited(cf, "terminal.add")[-1]
    assert (record["actor"], record["object_id"], record["merchant_no"]) == (
        "user:boss",
        "TERM0002",
        MERCHANT,
    )


def test_a_scoped_admin_cannot_add_a_terminal_to_another_merchant(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "shopadmin")
    response = client.post(
        "/admin/terminals",
        data={"csrf_token": csrf, "merchant": OTHER_MERCHANT, "terminal_id": "TERM0002"},
    )
    assert response.status_code == 403
    assert f"you have no access to merchant {OTHER_MERCHANT}" in response.text
    assert client.get(f"/admin/terminals?merchant={OTHER_MERCHANT}").status_code == 403
    with cf.engine.connect() as conn:
        assert [t["terminal_id"] for t in merchant_svc.list_terminals(conn, OTHER_MERCHANT)] == [
            "OTHER001"
        ]
    denied = audited(cf, "terminal.add")[-1]
    assert (denied["actor"], denied["outcome"], denied["merchant_no"]) == (
        "user:shopadmin",
        "denied",
        OTHER_MERCHANT,
    )
    # their own merchant is fine, and they see only it
    mine = client.post(
        "/admin/terminals",
        data={"csrf_token": csrf, "merchant": MERCHANT, "terminal_id": "TERM0002"},
    )
    assert mine.status_code == 200
    assert shown_token(mine.text).startswith("cft_")
    assert OTHER_MERCHANT not in client.get("/admin/terminals").text


def test_a_terminal_id_that_exists_or_is_malformed_is_a_form_error(client: TestClient) -> None:
    csrf = log_in(client, "boss")
    taken = client.post(
        "/admin/terminals",
        data={"csrf_token": csrf, "merchant": MERCHANT, "terminal_id": TERMINAL},
    )
    assert taken.status_code == 409
    assert f"terminal {TERMINAL} already exists for merchant {MERCHANT}" in taken.text
    assert "token-value" not in taken.text
    bad = client.post(
        "/admin/terminals", data={"csrf_token": csrf, "merchant": MERCHANT, "terminal_id": "T-1"}
    )
    assert bad.status_code == 422
    assert 'id="e-terminal_id">expected 8 characters, digits or capital letters' in bad.text


# --- merchants -----------------------------------------------------------------------


def test_only_an_admin_of_all_merchants_adds_a_merchant(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "shopadmin")
    page = client.get("/admin/merchants").text
    assert 'id="add-merchant-form"' not in page
    assert OTHER_MERCHANT not in page
    refused = client.post(
        "/admin/merchants",
        data={"csrf_token": csrf, "merchant_no": "102310048990002", "name": "Mine now"},
    )
    assert refused.status_code == 403
    csrf = log_in(client, "boss")
    response = client.post(
        "/admin/merchants",
        data={
            "csrf_token": csrf,
            "merchant_no": "102310048990002",
            "name": "新开的店",
            "timezone": "Asia/Urumqi",
        },
    )
    assert response.status_code == 303
    assert notice(client.get(response.headers["location"]).text).startswith(
        "Merchant 102310048990002 added"
    )
    with cf.engine.connect() as conn:
        added = merchant_svc.get_merchant(conn, "102310048990002")
        assert merchant_svc.fee_schedule(conn, "102310048990002")  # the default schedule
    assert (added.name, added.timezone) == ("新开的店", "Asia/Urumqi")
    records = audited(cf, "merchant.add")
    assert [(r["actor"], r["outcome"]) for r in records[-2:]] == [
        ("user:shopadmin", "denied"),
        ("user:boss", "success"),
    ]
    bad = client.post(
        "/admin/merchants",
        data={"csrf_token": csrf, "merchant_no": "12345", "name": "x", "timezone": "Mars/Base"},
    )
    assert bad.status_code == 422
    assert 'id="e-merchant_no">expected 15 digits' in bad.text


# --- fee schedules -------------------------------------------------------------------


def test_a_fee_rule_typed_in_percent_and_yuan_is_kept_exactly(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "boss")
    response = client.post(
        "/admin/fees",
        data={
            "csrf_token": csrf,
            "merchant": MERCHANT,
            "channel": "debit",
            "rate": "0.545",
            "cap": "25.50",
            "effective_from": "2030-01-01",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/admin/fees?merchant={MERCHANT}&done=fee_rule_added&subject=debit%402030-01-01"
    )
    page = client.get(response.headers["location"]).text
    assert notice(page) == "Fee rule debit@2030-01-01 added."
    assert re.search(
        r"<td>Debit card</td><td class=\"num\">0.545%</td><td class=\"num\">¥25.50</td>\s*"
        r"<td>Jan 1, 2030</td>\s*<td>Future</td>",
        page,
    ), page
    with cf.engine.connect() as conn:
        schedule = merchant_svc.fee_schedule(conn, MERCHANT)
    assert FeeRule("debit", 5450, 2550, date(2030, 1, 1)) in schedule
    record = audited(cf, "fee_rule.add")[-1]
    assert (record["actor"], record["object_id"], record["merchant_no"]) == (
        "user:boss",
        "debit@2030-01-01",
        MERCHANT,
    )
    assert '"rate":"0.545%"' in record["details"]


def test_a_fee_rule_with_a_bad_rate_or_date_is_not_added(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "shopadmin")
    before = len(audited(cf, "fee_rule.add"))
    for field, value, message in (
        ("rate", "0.6.0", "expected a percentage such as 0.60%"),
        ("cap", "-1", "expected a cap of zero or more fen"),
        ("effective_from", "1 May", "expected a date as YYYY-MM-DD"),
    ):
        data = {
            "csrf_token": csrf,
            "merchant": MERCHANT,
            "channel": "credit",
            "rate": "0.60",
            "cap": "",
            "effective_from": "2030-01-01",
            field: value,
        }
        response = client.post("/admin/fees", data=data)
        assert response.status_code == 422, (field, response.text)
        assert f'id="e-{field}">{message}' in response.text
    other = client.post(
        "/admin/fees",
        data={
            "csrf_token": csrf,
            "merchant": OTHER_MERCHANT,
            "channel": "credit",
            "rate": "0.01",
            "effective_from": "2030-01-01",
        },
    )
    assert other.status_code == 403
    records = audited(cf, "fee_rule.add")
    assert [r["outcome"] for r in records[before:]] == ["denied"]


# --- integration tokens --------------------------------------------------------------


def test_an_integration_token_is_made_with_its_scopes_shown_once_and_revoked(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = log_in(client, "boss")
    refused = client.post(
        "/admin/tokens", data={"csrf_token": csrf, "merchant": MERCHANT, "name": "ERP"}
    )
    assert refused.status_code == 422
    assert 'id="e-scopes">expected at least one scope' in refused.text
    response = client.post(
        "/admin/tokens",
        data={
            "csrf_token": csrf,
            "merchant": MERCHANT,
            "name": "ERP nightly",
            "scopes": ["audit.read", "transactions.read"],
            "expires_days": "30",
        },
    )
    assert response.status_code == 200
    token = shown_token(response.text)
    assert token.startswith("cfi_")
    assert "it will not be shown again" in response.text
    with cf.engine.connect() as conn:
        (info,) = token_svc.list_tokens(conn, MERCHANT)
    assert (info.name, info.scopes, info.status()) == (
        "ERP nightly",
        frozenset({"audit.read", "transactions.read"}),
        "active",
    )
    assert info.expires_at is not None
    listed = client.get(f"/admin/tokens?merchant={MERCHANT}").text
    assert token not in listed
    assert f'action="/admin/tokens/{info.id}/revoke"' in listed
    # the token reads what its scopes allow
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/audit", headers=bearer).status_code == 200
    csrf = log_in(client, "boss")
    response = client.post(
        f"/admin/tokens/{info.id}/revoke", data={"csrf_token": csrf, "merchant": MERCHANT}
    )
    assert response.status_code == 303
    assert notice(client.get(response.headers["location"]).text) == (
        f"Token {info.id} revoked: it lets nobody in from now on."
    )
    client.cookies.clear()
    assert client.get("/api/v1/audit", headers=bearer).status_code == 401
    assert [r["actor"] for r in audited(cf, "token.add")] == ["user:boss"]
    assert [r["object_id"] for r in audited(cf, "token.revoke")] == [str(info.id)]


def test_a_scoped_admin_cannot_revoke_another_merchants_token(
    cf: Counterfoil, client: TestClient
) -> None:
    _token, theirs = token_svc.add_token(cf, OTHER_MERCHANT, "Their ERP", ["statements.read"])
    csrf = log_in(client, "shopadmin")
    assert "Their ERP" not in client.get("/admin/tokens").text
    response = client.post(f"/admin/tokens/{theirs.id}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 403
    with cf.engine.connect() as conn:
        assert token_svc.list_tokens(conn, OTHER_MERCHANT)[0].status() == "active"


# --- filters and pages ---------------------------------------------------------------

HX = {"HX-Request": "true"}


def user_rows(html: str) -> list[str]:
    return re.findall(r'<tr id="user-([^"]+)">', html)


def table_rows(html: str, table: str) -> list[str]:
    """The rows of ``table``'s body, each as its cells' text joined by '|'."""
    found = re.search(rf'<table class="rows" id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert found, html
    return [
        "|".join(
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
        )
        for r in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)
    ]


def test_the_users_list_filters_by_text_role_merchant_and_status(client: TestClient) -> None:
    csrf = log_in(client, "boss")
    everyone = user_rows(client.get("/admin/users").text)
    assert set(everyone) == set(ROLES) | {"sun"}
    assert user_rows(client.get("/admin/users?q=WAN").text) == ["wang"]
    assert user_rows(client.get("/admin/users?q=operator").text) == ["boss"]  # display name
    assert user_rows(client.get("/admin/users?role=cashier").text) == ["li"]
    other = user_rows(client.get(f"/admin/users?merchant={OTHER_MERCHANT}").text)
    assert set(other) == {"sun", "boss"}  # boss administers every merchant
    assert client.post("/admin/users/wang/disable", data={"csrf_token": csrf}).status_code == 303
    assert user_rows(client.get("/admin/users?status=disabled").text) == ["wang"]
    assert "wang" not in user_rows(client.get("/admin/users?status=active").text)
    both = client.get("/admin/users?role=supervisor&status=active")
    assert user_rows(both.text) == ["sun"]
    assert 'value="supervisor" selected' in both.text  # the form shows what was asked
    none = client.get("/admin/users?q=nobody-at-all").text
    assert user_rows(none) == []
    assert "No users match." in none
    assert 'id="add-user-form"' in none  # the rest of the page stays


def test_a_scoped_admin_filters_only_within_their_merchants(client: TestClient) -> None:
    log_in(client, "shopadmin")
    assert user_rows(client.get(f"/admin/users?merchant={OTHER_MERCHANT}").text) == []
    assert "sun" not in user_rows(client.get("/admin/users?q=sun").text)
    assert client.get(f"/admin/terminals?merchant={OTHER_MERCHANT}&q=O").status_code == 403
    assert client.get(f"/admin/tokens?merchant={OTHER_MERCHANT}&status=active").status_code == 403
    assert client.get(f"/admin/fees?merchant={OTHER_MERCHANT}&channel=credit").status_code == 403
    merchants = client.get("/admin/merchants?q=Other").text
    assert table_rows(merchants, "merchants") == ["No merchants match."]


def test_more_than_fifty_users_page_with_prev_and_next_links(
    cf: Counterfoil, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    for n in range(55):
        users.add_user(cf, f"temp{n:02d}", PASSWORD, "supervisor", [MERCHANT], locale="en")
    log_in(client, "boss")
    first = client.get("/admin/users?q=temp")
    assert first.status_code == 200
    assert user_rows(first.text) == [f"temp{n:02d}" for n in range(50)]
    assert "55 users · page 1 of 2" in first.text
    assert 'rel="next" href="/admin/users?q=temp&amp;page=2"' in first.text
    assert 'rel="prev"' not in first.text
    second = client.get("/admin/users?q=temp&page=2")
    assert user_rows(second.text) == [f"temp{n:02d}" for n in range(50, 55)]
    assert "page 2 of 2" in second.text
    assert 'rel="prev" href="/admin/users?q=temp&amp;page=1"' in second.text
    assert 'rel="next"' not in second.text
    beyond = client.get("/admin/users?q=temp&page=9")
    assert beyond.status_code == 200
    assert user_rows(beyond.text) == []
    assert "Nothing on this page." in beyond.text
    assert 'rel="prev" href="/admin/users?q=temp&amp;page=2"' in beyond.text  # to the last
    for bad in ("0", "-1", "two"):
        assert client.get(f"/admin/users?page={bad}").status_code == 422
    # HTMX asks for the list alone
    partial = client.get("/admin/users?q=temp&page=2", headers=HX)
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert 'id="add-user-form"' not in partial.text
    assert user_rows(partial.text) == [f"temp{n:02d}" for n in range(50, 55)]
    assert 'rel="prev"' in partial.text
    assert 'name="csrf_token"' in partial.text  # its row forms still carry the token


def test_the_terminals_list_filters_and_pages(cf: Counterfoil, client: TestClient) -> None:
    for n in range(55):
        merchant_svc.add_terminal(cf, MERCHANT, f"LANE{n:04d}", f"Lane {n}")
    with cf.engine.begin() as conn:
        conn.execute(
            terminals.update().where(terminals.c.terminal_id == "LANE0007").values(active=False)
        )
    log_in(client, "boss")
    base = f"/admin/terminals?merchant={MERCHANT}"
    first = client.get(base).text
    assert len(table_rows(first, "terminals")) == 50
    assert "56 terminals · page 1 of 2" in first  # TERMINAL and the 55 lanes
    assert f'rel="next" href="/admin/terminals?merchant={MERCHANT}&amp;page=2"' in first
    assert len(table_rows(client.get(f"{base}&page=2").text, "terminals")) == 6
    assert [
        r.split("|")[0] for r in table_rows(client.get(f"{base}&q=lane 1").text, "terminals")
    ] == [
        "LANE0001",
        *[f"LANE{n:04d}" for n in range(10, 20)],
    ]
    disabled = table_rows(client.get(f"{base}&status=disabled").text, "terminals")
    assert [r.split("|")[:3] for r in disabled] == [["LANE0007", "Lane 7", "Disabled"]]
    assert len(table_rows(client.get(f"{base}&status=active").text, "terminals")) == 50
    other = client.get(f"/admin/terminals?merchant={OTHER_MERCHANT}&q=other").text
    assert [r.split("|")[0] for r in table_rows(other, "terminals")] == ["OTHER001"]
    partial = client.get(f"{base}&q=LANE0042", headers=HX)
    assert "<html" not in partial.text
    assert [r.split("|")[0] for r in table_rows(partial.text, "terminals")] == ["LANE0042"]
    # a new terminal's token is still shown once, with the list below it
    csrf = csrf_of(client)
    added = client.post(
        "/admin/terminals",
        data={"csrf_token": csrf, "merchant": MERCHANT, "terminal_id": "LANE0099"},
    )
    assert added.status_code == 200
    assert shown_token(added.text)
    assert 'id="filter-terminals"' in added.text


def test_the_merchants_list_filters_by_number_or_name(client: TestClient) -> None:
    log_in(client, "boss")
    everyone = table_rows(client.get("/admin/merchants").text, "merchants")
    assert sorted(r.split("|")[0] for r in everyone) == sorted([MERCHANT, OTHER_MERCHANT])
    by_name = table_rows(client.get("/admin/merchants?q=other SHOP").text, "merchants")
    assert [r.split("|")[0] for r in by_name] == [OTHER_MERCHANT]
    by_number = table_rows(client.get(f"/admin/merchants?q={MERCHANT[-6:]}").text, "merchants")
    assert [r.split("|")[0] for r in by_number] == [MERCHANT]
    partial = client.get("/admin/merchants?q=nothing-like-it", headers=HX).text
    assert "<html" not in partial
    assert table_rows(partial, "merchants") == ["No merchants match."]
    assert "0 merchants" in partial


def test_the_tokens_list_filters_by_status(cf: Counterfoil, client: TestClient) -> None:
    _one, kept = token_svc.add_token(cf, MERCHANT, "Kept ERP", ["statements.read"])
    _two, gone = token_svc.add_token(cf, MERCHANT, "Old feed", ["audit.read"])
    token_svc.revoke_token(cf, gone.id)
    log_in(client, "boss")
    base = f"/admin/tokens?merchant={MERCHANT}"

    def names(query: str) -> list[str]:
        return [r.split("|")[1] for r in table_rows(client.get(base + query).text, "tokens")]

    assert sorted(names("")) == ["Kept ERP", "Old feed"]
    assert names("&status=active") == ["Kept ERP"]
    assert names("&status=revoked") == ["Old feed"]
    assert table_rows(client.get(f"{base}&status=expired").text, "tokens") == ["No tokens match."]
    partial = client.get(f"{base}&status=revoked", headers=HX).text
    assert "<html" not in partial
    assert "Old feed" in partial
    assert "Kept ERP" not in partial
    assert f'action="/admin/tokens/{kept.id}/revoke"' in client.get(base).text


def test_the_fee_rules_filter_by_channel_and_page(cf: Counterfoil, client: TestClient) -> None:
    merchant_svc.add_fee_rule(cf, MERCHANT, FeeRule("wechat", 3800, None, date(2030, 1, 1)))
    log_in(client, "boss")
    base = f"/admin/fees?merchant={MERCHANT}"
    everything = table_rows(client.get(base).text, "fee-rules")
    wechat = table_rows(client.get(f"{base}&channel=wechat").text, "fee-rules")
    assert 2 <= len(wechat) < len(everything)
    assert all(r.startswith("WeChat Pay|") for r in wechat)
    assert any("Future" in r for r in wechat)
    assert any("In force" in r for r in wechat)  # in force is judged over the whole schedule
    beyond = client.get(f"{base}&channel=wechat&page=3").text
    assert table_rows(beyond, "fee-rules") == ["Nothing on this page."]
    assert (
        f'rel="prev" href="/admin/fees?merchant={MERCHANT}&amp;channel=wechat&amp;page=1"' in beyond
    )
    partial = client.get(f"{base}&channel=wechat", headers=HX).text
    assert "<html" not in partial
    assert 'id="add-rule-form"' not in partial
    assert table_rows(partial, "fee-rules") == wechat
    assert client.get(f"{base}&page=0").status_code == 422


# --- language ------------------------------------------------------------------------


def test_the_admin_pages_speak_chinese_to_a_chinese_admin(
    cf: Counterfoil, client: TestClient
) -> None:
    users.add_user(cf, "laoban", PASSWORD, "admin", [], locale="zh_CN")
    csrf = log_in(client, "laoban")
    page = client.get("/admin/users").text
    assert '<html lang="zh-CN">' in page
    assert "添加用户" in page
    assert "重置密码" in page
    assert "收银员" in page  # the cashier's role, labelled
    fees = client.get(f"/admin/fees?merchant={MERCHANT}").text
    assert "添加费率规则" in fees
    assert "生效中" in fees
    response = client.post(
        "/admin/terminals",
        data={"csrf_token": csrf, "merchant": MERCHANT, "terminal_id": "TERM0003"},
    )
    assert "它不会再次显示" in response.text
    done = client.post("/admin/users/wang/disable", data={"csrf_token": csrf})
    assert notice(client.get(done.headers["location"]).text) == (
        "已停用用户 wang：该用户无法再登录。"
    )


# --- the same through the API --------------------------------------------------------


def api_log_in(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def test_the_admin_api_adds_and_lists_within_the_admins_merchants(
    cf: Counterfoil, client: TestClient
) -> None:
    csrf = api_log_in(client, "shopadmin")
    assert {u["username"] for u in client.get("/api/v1/admin/users").json()["items"]} == {
        "shopadmin",
        "wang",
        "li",
        "qian",
        "zhao",
    }
    assert [m["merchant_no"] for m in client.get("/api/v1/admin/merchants").json()["items"]] == [
        MERCHANT
    ]
    added = client.post(
        "/api/v1/admin/terminals",
        json={"merchant_no": MERCHANT, "terminal_id": "TERM0004", "name": "Kiosk"},
        headers=csrf,
    )
    assert added.status_code == 201
    assert added.json()["token"].startswith("cft_")
    assert added.json()["terminal"]["terminal_id"] == "TERM0004"
    terminals = client.get("/api/v1/admin/terminals").json()["items"]
    assert {(t["merchant_no"], t["terminal_id"]) for t in terminals} == {
        (MERCHANT, TERMINAL),
        (MERCHANT, "TERM0004"),
    }
    elsewhere = client.post(
        "/api/v1/admin/terminals",
        json={"merchant_no": OTHER_MERCHANT, "terminal_id": "TERM0004"},
        headers=csrf,
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["code"] == "forbidden"
    no_csrf = client.post(
        "/api/v1/admin/fee-rules",
        json={
            "merchant_no": MERCHANT,
            "channel": "wechat",
            "rate": "0.30",
            "effective_from": "2031-01-01",
        },
    )
    assert no_csrf.status_code == 403
    rule = client.post(
        "/api/v1/admin/fee-rules",
        json={
            "merchant_no": MERCHANT,
            "channel": "wechat",
            "rate": "0.30%",
            "cap": 1500,
            "effective_from": "2031-01-01",
        },
        headers=csrf,
    )
    assert rule.status_code == 201
    assert rule.json()["rate_ppm"] == 3000
    rules = client.get(f"/api/v1/admin/fee-rules?merchant={MERCHANT}").json()["items"]
    assert {
        "channel": "wechat",
        "rate_ppm": 3000,
        "rate": "0.30%",
        "cap": 1500,
        "effective_from": "2031-01-01",
    } in rules
    user = client.post(
        "/api/v1/admin/users",
        json={
            "username": "zhou",
            "password": "Counter-pass-2024",
            "role": "cashier",
            "merchants": [MERCHANT],
            "terminals": ["TERM0004"],
            "locale": "en",
        },
        headers=csrf,
    )
    assert user.status_code == 201, user.text
    assert user.json()["terminals"] == [{"merchant_no": MERCHANT, "terminal_id": "TERM0004"}]
    token = client.post(
        "/api/v1/admin/tokens",
        json={"merchant_no": MERCHANT, "name": "Feed", "scopes": ["statements.read"]},
        headers=csrf,
    )
    assert token.status_code == 201
    assert token.json()["token"].startswith("cfi_")
    token_id = token.json()["id"]
    assert [t["id"] for t in client.get("/api/v1/admin/tokens").json()["items"]] == [token_id]
    revoked = client.delete(f"/api/v1/admin/tokens/{token_id}", headers=csrf)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    merchant = client.post(
        "/api/v1/admin/merchants",
        json={"merchant_no": "102310048990003", "name": "Not mine to add"},
        headers=csrf,
    )
    assert merchant.status_code == 403
    actions = {(r["action"], r["outcome"]) for r in _all_records(cf, "user:shopadmin")}
    assert {
        ("terminal.add", "success"),
        ("terminal.add", "denied"),
        ("fee_rule.add", "success"),
        ("user.add", "success"),
        ("token.add", "success"),
        ("token.revoke", "success"),
        ("merchant.add", "denied"),
    } <= actions


def test_the_admin_api_is_for_admins_only(client: TestClient) -> None:
    assert client.get("/api/v1/admin/users").status_code == 401
    api_log_in(client, "wang")
    for path in ("users", "terminals", "merchants", "fee-rules", "tokens"):
        response = client.get(f"/api/v1/admin/{path}")
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "forbidden"


def test_the_admin_api_names_a_bad_field(client: TestClient) -> None:
    csrf = api_log_in(client, "boss")
    response = client.post(
        "/api/v1/admin/users",
        json={"username": "Bad Name!", "password": "Counter-pass-2024", "role": "supervisor"},
        headers=csrf,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "username"
    extra = client.post(
        "/api/v1/admin/merchants",
        json={"merchant_no": "102310048990003", "name": "x", "owner": "me"},
        headers=csrf,
    )
    assert extra.status_code == 422
    assert [e["field"] for e in extra.json()["error"]["details"]["errors"]] == ["owner"]


def _all_records(cf: Counterfoil, actor: str) -> list[dict[str, Any]]:
    with cf.engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.actor == actor)).mappings()
        return [dict(r) for r in rows]
