"""Uploading statement files through the API and the console: real sample files, the size
limit, the same file twice, and who may import and see what. SQLite and PostgreSQL."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.api import statements as statement_routes
from counterfoil.api.app import create_app
from counterfoil.services import users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
ZM = SAMPLES / "unionpay" / "INN15090588ZM_802310048993424"
CAMT = SAMPLES / "camt" / "camt053.v2.minimal.xml"
PASSWORD = "Ledger-proof-42"


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    users.add_user(cf, "zhao", PASSWORD, "finance", [MERCHANT], locale="en")
    users.add_user(cf, "qian", PASSWORD, "finance", [OTHER_MERCHANT], locale="en")
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    with TestClient(create_app(cf), follow_redirects=False) as test_client:
        yield test_client


def log_in(client: TestClient, username: str) -> str:
    client.cookies.clear()
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


def upload(client: TestClient, csrf: str, path: Path, **fields: str) -> Any:
    with path.open("rb") as handle:
        return client.post(
            "/api/v1/statements",
            files={"file": (path.name, handle)},
            data=fields,
            headers={"X-CSRF-Token": csrf},
        )


def test_finance_uploads_a_real_zm_file_and_sees_its_checks(client: TestClient) -> None:
    csrf = log_in(client, "zhao")
    response = upload(client, csrf, ZM)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["format"] == "unionpay_zm"
    assert report["lines"] == 8
    assert report["rejected"] == 0
    assert report["checks"], "the ZM file's own totals are checked"
    again = upload(client, csrf, ZM)
    assert again.status_code == 200
    assert again.json()["already_imported"] is True
    listed = client.get("/api/v1/statements").json()
    assert listed["total"] == 1
    assert listed["items"][0]["merchant_no"] == MERCHANT
    shown = client.get(f"/api/v1/statements/{report['import_id']}").json()
    assert shown["sha256"] == report["sha256"]


def test_an_upload_above_the_limit_is_refused_clearly(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statement_routes, "upload_limit", lambda: 1024)
    csrf = log_in(client, "zhao")
    response = upload(client, csrf, CAMT)  # larger than 1 KiB
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "upload limit" in response.json()["error"]["message"]
    assert client.get("/api/v1/statements").json()["total"] == 0


def test_not_multipart_or_no_file_names_the_field(client: TestClient) -> None:
    csrf = log_in(client, "zhao")
    response = client.post("/api/v1/statements", content=b"abc", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "file"


def test_only_finance_imports_and_each_sees_their_merchant_only(client: TestClient) -> None:
    csrf = log_in(client, "wang")
    assert upload(client, csrf, ZM).status_code == 403
    csrf = log_in(client, "zhao")
    imported = upload(client, csrf, ZM).json()["import_id"]
    csrf = log_in(client, "qian")
    assert client.get("/api/v1/statements").json()["total"] == 0
    assert client.get(f"/api/v1/statements/{imported}").status_code == 404
    refused = upload(client, csrf, CAMT, merchant=MERCHANT)
    assert refused.status_code == 403


def test_the_console_upload_shows_format_totals_and_rejects(client: TestClient) -> None:
    log_in(client, "zhao")
    page = client.get("/statements")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    with ZM.open("rb") as handle:
        response = client.post(
            "/statements",
            files={"file": (ZM.name, handle)},
            data={"csrf_token": csrf.group(1), "merchant": MERCHANT},
        )
    assert response.status_code == 303
    report = client.get(response.headers["location"])
    assert report.status_code == 200
    assert 'id="format">unionpay_zm<' in report.text
    assert 'id="lines">8<' in report.text
    assert '<table id="checks">' in report.text
    listing = client.get("/statements").text
    assert ZM.name in listing


def test_the_console_upload_without_csrf_changes_nothing(client: TestClient) -> None:
    log_in(client, "zhao")
    with ZM.open("rb") as handle:
        response = client.post("/statements", files={"file": (ZM.name, handle)})
    assert response.status_code == 403
    assert client.get("/api/v1/statements").json()["total"] == 0
