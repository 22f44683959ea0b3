"""The console's own pages through HTTP: log in with the form, the dashboard's figures, the
search with its filters and pages, a transaction's page with its links, a cashier's
narrower view, the language switch, and the headers every page carries. SQLite and
PostgreSQL.
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, days_ago, earlier_today, sale
from counterfoil.api.app import create_app
from counterfoil.services import users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal

PASSWORD = "Ledger-proof-42"


@pytest.fixture
def app_client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    add_terminal(cf, MERCHANT, "TERM0002", "Counter 2")
    users.add_user(
        cf, "wang", PASSWORD, "supervisor", [MERCHANT], display_name="王经理", locale="en"
    )
    users.add_user(
        cf, "li", PASSWORD, "cashier", [MERCHANT], terminals=[(MERCHANT, TERMINAL)], locale="en"
    )
    with TestClient(create_app(cf), follow_redirects=False) as client:
        client.headers["Authorization"] = f"Bearer {shop['token']}"
        # today: a sale, a second sale and its refund; last week: an old sale
        for trace, amount, when in (
            ("000001", 476800, earlier_today(30)),
            ("000002", 1250, earlier_today(20)),
            ("000003", 9900, days_ago(7)),
        ):
            response = client.post(
                "/api/v1/transactions",
                json=sale(
                    trace_no=trace, amount=amount, terminal_time=when, rrn=f"0000499931{trace[-2:]}"
                ),
            )
            assert response.status_code == 201, response.text
        refund = sale(
            trace_no="000004",
            type="refund",
            amount=50000,
            terminal_time=earlier_today(10),
            rrn="000049993199",
            original={"rrn": "000049993101"},
        )
        response = client.post("/api/v1/transactions", json=refund)
        assert response.status_code == 201, response.text
        del client.headers["Authorization"]
        yield client


def log_in(client: TestClient, username: str, password: str = PASSWORD, next_path: str = "") -> Any:
    form = client.get("/login" + (f"?next={next_path}" if next_path else ""))
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "login_token": token.group(1),
            "next": next_path or "/dashboard",
        },
    )


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_pages_need_a_login_and_show_the_form_in_place(app_client: TestClient) -> None:
    response = app_client.get("/transactions?amount=12.50")
    assert response.status_code == 401
    assert 'action="/login"' in response.text
    assert 'name="next" value="/transactions?amount=12.50"' in response.text
    assert app_client.get("/").headers["location"] == "/dashboard"


def test_log_in_goes_back_where_you_were_and_never_elsewhere(app_client: TestClient) -> None:
    response = log_in(app_client, "wang", next_path="/transactions")
    assert response.status_code == 303
    assert response.headers["location"] == "/transactions"
    cookie = response.headers.get_list("set-cookie")
    assert any("cf_session=" in c and "HttpOnly" in c and "SameSite=strict" in c for c in cookie)
    app_client.cookies.clear()
    assert log_in(app_client, "wang", next_path="//evil.example/x").headers["location"] == (
        "/dashboard"
    )


def test_a_wrong_password_stays_on_the_form_with_the_reason(app_client: TestClient) -> None:
    response = log_in(app_client, "wang", "Wrong-password-1")
    assert response.status_code == 401
    assert 'id="login-error"' in response.text
    assert "cf_session" not in response.headers.get("set-cookie", "")


def test_the_login_form_needs_its_own_token(app_client: TestClient) -> None:
    response = app_client.post(
        "/login", data={"username": "wang", "password": PASSWORD, "login_token": "forged"}
    )
    assert response.status_code == 403
    assert "cf_session=" not in response.headers.get("set-cookie", "")


def test_dashboard_shows_today_by_channel_and_terminal(app_client: TestClient) -> None:
    log_in(app_client, "wang")
    page = app_client.get("/dashboard")
    assert page.status_code == 200
    body = text_of(page.text)
    # today: 4,768.00 + 12.50 − 500.00 = 4,280.50 over three entries (last week's is not today)
    assert re.search(r'id="today-count">3<', page.text)
    assert re.search(r'id="today-volume">¥4,280.50<', page.text)
    assert "Credit card" in body
    assert TERMINAL in body
    assert page.text.count("<rect") == 30  # thirty days of bars
    assert "¥99.00" in page.text  # last week's sale is in the chart's titles


def test_search_filters_by_amount_in_yuan_and_pages(app_client: TestClient) -> None:
    log_in(app_client, "wang")
    page = app_client.get("/transactions", params={"amount": "4,768.00"})
    assert page.status_code == 200
    assert re.search(r'id="result-count">1 transactions', page.text)
    assert "000049993101" in page.text
    assert "000049993102" not in page.text
    every = app_client.get("/transactions")
    assert re.search(r'id="result-count">4 transactions', every.text)
    only_refunds = app_client.get("/transactions", params={"type": "refund"})
    assert "000049993199" in only_refunds.text
    assert "000049993101" not in only_refunds.text
    partial = app_client.get(
        "/transactions", params={"last4": "0123"}, headers={"HX-Request": "true"}
    )
    assert "**** 0123" in partial.text
    assert "<html" not in partial.text
    assert 'id="result-count"' in partial.text


def test_a_bad_filter_is_named_not_a_crash(app_client: TestClient) -> None:
    log_in(app_client, "wang")
    page = app_client.get("/transactions", params={"amount": "12.345", "last4": "12"})
    assert page.status_code == 200
    assert 'aria-invalid="true"' in page.text
    assert re.search(r'id="result-count">0 transactions', page.text)


def test_a_transaction_page_links_both_ways(app_client: TestClient) -> None:
    log_in(app_client, "wang")
    sale_page = app_client.get("/transactions/000049993101")
    assert sale_page.status_code == 200
    assert f"{MERCHANT}-2" in sale_page.text
    assert "Partly refunded" in sale_page.text
    link = re.search(r'<ul id="links">\s*<li><a href="/transactions/([0-9-]+)"', sale_page.text)
    assert link, sale_page.text
    refund_page = app_client.get(f"/transactions/{link.group(1)}")
    assert 'id="original"' in refund_page.text
    assert f'href="/transactions/{MERCHANT}-2"' in refund_page.text
    assert "622202******0123" in sale_page.text  # masked as stored: BIN and last four


def test_a_cashier_sees_today_at_their_own_terminal_only(
    cf: Counterfoil, app_client: TestClient
) -> None:
    log_in(app_client, "li")
    page = app_client.get("/transactions", params={"date_from": "2020-01-01"})
    assert re.search(r'id="result-count">3 transactions', page.text)  # not last week's
    assert app_client.get(f"/transactions/{MERCHANT}-4").status_code == 404  # last week's
    assert app_client.get("/transactions", params={"terminal_id": "TERM0002"}).status_code == 403
    nav = app_client.get("/dashboard").text
    assert 'href="/audit"' not in nav
    assert 'href="/admin/users"' not in nav
    assert "<svg" not in nav  # no thirty-day chart for a cashier


def test_another_merchant_is_out_of_sight(cf: Counterfoil, app_client: TestClient) -> None:
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    log_in(app_client, "wang")
    assert app_client.get("/dashboard", params={"merchant": OTHER_MERCHANT}).status_code == 403
    assert app_client.get("/transactions", params={"merchant": OTHER_MERCHANT}).status_code == 403
    assert app_client.get(f"/transactions/{OTHER_MERCHANT}-1").status_code == 404


def test_language_switch_is_kept_for_the_person(cf: Counterfoil, app_client: TestClient) -> None:
    log_in(app_client, "li")
    page = app_client.get("/transactions").text
    assert "Transactions" in page
    response = app_client.post(
        "/language", data={"locale": "zh_CN", "back": "/transactions", "csrf_token": csrf(page)}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/transactions"
    chinese = app_client.get("/transactions").text
    assert "交易" in chinese
    assert "退出登录" in chinese
    assert "¥" in chinese
    with cf.engine.connect() as conn:
        assert users.get_user(conn, "li").locale == "zh_CN"


def test_the_language_switch_needs_the_csrf_token(app_client: TestClient) -> None:
    log_in(app_client, "li")
    assert app_client.post("/language", data={"locale": "zh_CN"}).status_code == 403


def test_log_out_ends_the_session(app_client: TestClient) -> None:
    log_in(app_client, "wang")
    page = app_client.get("/dashboard").text
    assert app_client.post("/logout", data={}).status_code == 403  # no CSRF token
    response = app_client.post("/logout", data={"csrf_token": csrf(page)})
    assert response.status_code == 303
    assert app_client.get("/dashboard").status_code == 401


def test_pages_carry_security_headers_and_no_inline_script(app_client: TestClient) -> None:
    page = app_client.get("/login")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert re.search(r"<script(?![^>]*\ssrc=)", page.text) is None
    script = app_client.get("/static/htmx-2.0.11.min.js")
    assert script.status_code == 200
    assert "cache-control" not in script.headers  # not a page: may be cached
    assert len(script.headers.get_list("x-content-type-options")) == 1
    # the API: no page policy, but no sniffing either; each header once
    answer = app_client.get("/api/v1/no-such")
    assert "content-security-policy" not in answer.headers
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"]


def test_unknown_pages_are_a_page_not_json(app_client: TestClient) -> None:
    log_in(app_client, "wang")
    response = app_client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert app_client.get("/api/v1/no-such").headers["content-type"].startswith("application/json")
