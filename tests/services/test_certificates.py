"""Proofs of payment: found by what the customer knows, issued by a supervisor only, with a
gapless serial, the status at issue (a later refund included), a code that verifies
with the merchant's key and says when the status changed since. SQLite and PostgreSQL."""

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import text

from conftest import MERCHANT, sale
from counterfoil.api.app import create_app
from counterfoil.core.errors import Forbidden, ValidationError
from counterfoil.documents import certificate as documents
from counterfoil.services import certificates, users
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil

PASSWORD = "Ledger-proof-42"
SHANGHAI = ZoneInfo("Asia/Shanghai")
WHEN = datetime.now(UTC) - timedelta(hours=1)
SUPERVISOR = Principal("person", "user:wang", "127.0.0.1", role="supervisor", merchants=(MERCHANT,))


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    with TestClient(create_app(cf)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {shop['token']}"
        response = test_client.post(
            "/api/v1/transactions",
            json=sale(terminal_time=WHEN.astimezone(SHANGHAI).isoformat(timespec="seconds")),
        )
        assert response.status_code == 201, response.text
        del test_client.headers["Authorization"]
        yield test_client


def refund(client: TestClient, token: str, amount: int) -> None:
    response = client.post(
        "/api/v1/transactions",
        json=sale(
            trace_no="000009",
            type="refund",
            amount=amount,
            rrn="000049993199",
            terminal_time=datetime.now(UTC).astimezone(SHANGHAI).isoformat(timespec="seconds"),
            original={"rrn": "000049993190"},
        ),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text


def test_find_the_payment_by_what_the_customer_knows(cf: Counterfoil, client: TestClient) -> None:
    day = WHEN.astimezone(SHANGHAI).date()
    with cf.engine.connect() as conn:
        found = certificates.find_payments(
            conn, SUPERVISOR, MERCHANT, day=day, amount=476800, last4="0123"
        )
        assert [f["rrn"] for f in found] == ["000049993190"]
        assert (
            certificates.find_payments(
                conn, SUPERVISOR, MERCHANT, day=day, amount=476801, last4="0123"
            )
            == []
        )
        with pytest.raises(ValidationError):
            certificates.find_payments(conn, SUPERVISOR, MERCHANT, amount=476800)


def test_only_a_supervisor_issues(cf: Counterfoil, client: TestClient) -> None:
    for role in ("cashier", "finance", "auditor", "admin"):
        who = Principal("person", f"user:{role}", "x", role=role, merchants=(MERCHANT,))
        with pytest.raises(Forbidden):
            certificates.issue(cf, who, "000049993190")


def test_serials_are_gapless_and_every_issue_is_recorded(
    cf: Counterfoil, client: TestClient
) -> None:
    first = certificates.issue(cf, SUPERVISOR, "000049993190", fmt="html", locale="en")
    second = certificates.issue(cf, SUPERVISOR, "000049993190", fmt="pdf", locale="zh_CN")
    assert first.serial == f"PC{MERCHANT[-6:]}-000001"
    assert second.serial == f"PC{MERCHANT[-6:]}-000002"
    html = first.content.decode()
    assert "Proof of payment" in html
    assert "4,768.00" in html
    assert first.serial in html
    pdf_text = "".join(page.extract_text() for page in PdfReader(_bytes(second.content)).pages)
    assert "支付证明" in pdf_text
    assert second.serial in pdf_text
    with cf.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM certificates")).scalar() == 2
        audited = conn.execute(
            text("SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issue'")
        ).scalar()
        assert audited == 2


def test_the_code_verifies_and_tells_a_later_refund(
    cf: Counterfoil, client: TestClient, shop: Any
) -> None:
    issued = certificates.issue(cf, SUPERVISOR, "000049993190", fmt="html", locale="en")
    with cf.engine.connect() as conn:
        answer = certificates.verify(conn, issued.code)
    assert answer["genuine"] is True
    assert answer["facts"]["a"] == 476800
    assert answer["facts"]["st"] == "approved"
    assert answer["changed_since"] is False
    refund(client, shop["token"], 10000)
    with cf.engine.connect() as conn:
        later = certificates.verify(conn, issued.code)
        assert later["status"] == "partially_refunded"
        assert later["changed_since"] is True
        renewed = certificates.issue(cf, SUPERVISOR, "000049993190", fmt="html", locale="en")
        assert "Partly refunded" in renewed.content.decode()
        body, key_id, signature = issued.code[len(documents.PREFIX) :].split(".")
        altered = "AA" if signature[-2:] != "AA" else "BA"
        forged = documents.PREFIX + ".".join((body, key_id, signature[:-2] + altered))
        with pytest.raises(ValidationError):
            certificates.verify(conn, "CFP1.nonsense")
        assert certificates.verify(conn, forged)["genuine"] is False
        for position in range(len(documents.PREFIX), len(issued.code)):
            other = "B" if issued.code[position] != "B" else "C"
            changed = issued.code[:position] + other + issued.code[position + 1 :]
            with contextlib.suppress(ValidationError):  # malformed: not genuine either
                assert certificates.verify(conn, changed)["genuine"] is False, position


def test_issue_through_the_api_and_verify_on_the_public_page(
    cf: Counterfoil, client: TestClient
) -> None:
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    login = client.post("/api/v1/session", json={"username": "wang", "password": PASSWORD})
    response = client.post(
        "/api/v1/certificates",
        json={"ref": "000049993190", "format": "html", "locale": "en"},
        headers={"X-CSRF-Token": login.json()["csrf_token"]},
    )
    assert response.status_code == 200, response.text
    serial = response.headers["x-certificate-serial"]
    code = response.headers["x-verification-code"]
    assert f"/v/{code}" in response.text  # the printed address
    client.cookies.clear()
    page = client.get(f"/v/{code}")
    assert page.status_code == 200
    assert f'id="serial">{serial}<' in page.text
    assert "Genuine proof of payment" in page.text


def _bytes(content: bytes) -> Any:
    import io

    return io.BytesIO(content)
