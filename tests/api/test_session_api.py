"""Logging in and out: an HttpOnly, SameSite=Strict cookie (Secure behind TLS), a CSRF token
for every change, sessions that end. SQLite and PostgreSQL."""

import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from conftest import MERCHANT
from counterfoil.api.app import create_app
from counterfoil.services import totp, users
from counterfoil.services.context import Counterfoil

PASSWORD = "Ledger-proof-42"


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT])
    with TestClient(create_app(cf)) as test_client:
        yield test_client


def log_in(client: TestClient, password: str = PASSWORD, **headers: str) -> Any:
    return client.post(
        "/api/v1/session", json={"username": "wang", "password": password}, headers=headers
    )


def test_log_in_sets_a_cookie_scripts_and_other_sites_cannot_use(client: TestClient) -> None:
    response = log_in(client)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert "cf_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1
    body = response.json()
    assert body["user"]["role"] == "supervisor"
    assert body["user"]["merchants"] == [MERCHANT]
    assert body["csrf_token"]
    assert client.get("/api/v1/me").json()["username"] == "wang"


def test_the_cookie_is_secure_behind_tls(client: TestClient) -> None:
    cookie = log_in(client, **{"X-Forwarded-Proto": "https"}).headers["set-cookie"]
    assert "Secure" in cookie


def test_only_a_hash_of_the_token_is_stored(cf: Counterfoil, client: TestClient) -> None:
    log_in(client)
    token = client.cookies.get("cf_session")
    assert token
    with cf.engine.connect() as conn:
        stored = " ".join(conn.execute(text("SELECT id FROM sessions")).scalars())
    assert token not in stored


def test_a_wrong_password_is_401_in_the_one_error_shape(client: TestClient) -> None:
    response = log_in(client, "wrong-password-1")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorised"
    assert "set-cookie" not in response.headers
    assert client.get("/api/v1/me").status_code == 401


def test_log_out_needs_the_csrf_token_and_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client).json()["csrf_token"]
    refused = client.delete("/api/v1/session")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.get("/api/v1/me").status_code == 200  # still logged in
    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_a_stolen_cookie_stops_working_when_the_user_is_disabled(
    cf: Counterfoil, client: TestClient
) -> None:
    log_in(client)
    assert client.get("/api/v1/me").status_code == 200
    users.set_active(cf, "wang", False)
    assert client.get("/api/v1/me").status_code == 401


def test_an_idle_session_ends(cf: Counterfoil, client: TestClient) -> None:
    log_in(client)
    with cf.engine.begin() as conn:
        conn.execute(
            text("UPDATE sessions SET last_seen = last_seen - INTERVAL '31 minutes'")
            if conn.dialect.name == "postgresql"
            else text("UPDATE sessions SET last_seen = datetime(last_seen, '-31 minutes')")
        )
    assert client.get("/api/v1/me").status_code == 401


def test_bad_login_bodies_are_clean_errors(client: TestClient) -> None:
    assert client.post("/api/v1/session", content=b"{nope").status_code == 422
    assert client.post("/api/v1/session", json={"username": "wang"}).status_code == 422


def test_with_a_second_factor_the_login_asks_for_the_code_and_takes_it_once(
    cf: Counterfoil, client: TestClient
) -> None:
    users.add_user(cf, "zhao", PASSWORD, "finance", [MERCHANT])
    secret, _uri = totp.enroll(cf, "zhao")
    totp.confirm(cf, "zhao", pyotp.TOTP(secret).at(time.time() - 30))
    body = {"username": "zhao", "password": PASSWORD}
    asked = client.post("/api/v1/session", json=body)
    assert asked.status_code == 401
    assert asked.json()["error"]["code"] == "second_factor_required"
    assert "set-cookie" not in asked.headers
    code = pyotp.TOTP(secret).now()
    assert client.post("/api/v1/session", json={**body, "code": 123456}).status_code == 422
    response = client.post("/api/v1/session", json={**body, "code": code})
    assert response.status_code == 200
    assert response.json()["user"]["totp_enabled"] is True
    replayed = client.post("/api/v1/session", json={**body, "code": code})
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "unauthorised"
