"""Reprints and verification codes: who may print which copy, the evidence a cardholder
copy needs, every reprint numbered and recorded, and codes that verify offline with the
merchant's key only. SQLite and PostgreSQL."""

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, days_ago, earlier_today, sale
from counterfoil.api import receipts as receipt_routes
from counterfoil.api.app import create_app
from counterfoil.core.errors import Forbidden, NotFound, ValidationError
from counterfoil.documents import code as codes
from counterfoil.services import receipts, users
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal

PASSWORD = "Ledger-proof-42"


def person(role: str, terminals: tuple[tuple[str, str], ...] | None = None) -> Principal:
    return Principal(
        "person", f"user:{role}", "127.0.0.1", role=role, merchants=(MERCHANT,), terminals=terminals
    )


CASHIER = person("cashier", ((MERCHANT, TERMINAL),))
SUPERVISOR = person("supervisor")
AUDITOR = person("auditor")


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    add_terminal(cf, MERCHANT, "TERM0002")
    with TestClient(create_app(cf)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {shop['token']}"
        for payload in (
            sale(terminal_time=earlier_today(30)),  # seq 2: today
            sale(trace_no="000002", rrn="000049993192", terminal_time=days_ago(3)),
            sale(
                trace_no="000003",
                type="refund",
                amount=10000,
                rrn="000049993193",
                terminal_time=earlier_today(10),
                original={"rrn": "000049993190"},
            ),
        ):
            response = test_client.post("/api/v1/transactions", json=payload)
            assert response.status_code == 201, response.text
        del test_client.headers["Authorization"]
        yield test_client


def evidence_of_today() -> dict[str, Any]:
    day = datetime.fromisoformat(earlier_today(30)).date()
    return {"last4": "0123", "amount": 476800, "date": day.isoformat()}


def test_each_reprint_is_numbered_and_recorded(cf: Counterfoil, client: TestClient) -> None:
    first = receipts.reprint(
        cf, CASHIER, "000049993190", copy="merchant", fmt="text80", reason="lost"
    )
    second = receipts.reprint(
        cf, CASHIER, "000049993190", copy="merchant", fmt="text58", reason="damaged"
    )
    assert (first.print_no, second.print_no) == (1, 2)
    assert "重打印 DUPLICATE NO.1" in first.content.decode()
    assert "重打印 DUPLICATE NO.2" in second.content.decode()
    assert max(len(line) for line in second.content.decode().splitlines()) <= 32
    with cf.engine.connect() as conn:
        rows = receipts.prints_of(conn, MERCHANT, 2)
        assert [(r["print_no"], r["reason"], r["actor"]) for r in rows] == [
            (1, "lost", "user:cashier"),
            (2, "damaged", "user:cashier"),
        ]
        audited = conn.execute(
            text("SELECT COUNT(*) FROM audit_log WHERE action = 'receipt.reprint'")
        ).scalar()
        assert audited == 2


def test_reprints_cannot_be_changed(cf: Counterfoil, client: TestClient) -> None:
    receipts.reprint(cf, CASHIER, "000049993190", copy="merchant", fmt="text80", reason="lost")
    with pytest.raises(DBAPIError), cf.engine.begin() as conn:
        conn.execute(text("UPDATE document_prints SET reason = 'audit'"))


def test_a_cashier_prints_only_todays_merchant_copies_of_their_terminal(
    cf: Counterfoil, client: TestClient
) -> None:
    with pytest.raises(Forbidden):
        receipts.reprint(
            cf,
            CASHIER,
            "000049993190",
            copy="cardholder",
            fmt="text80",
            reason="lost",
            evidence=evidence_of_today(),
        )
    with pytest.raises(NotFound):  # three days ago
        receipts.reprint(cf, CASHIER, "000049993192", copy="merchant", fmt="text80", reason="lost")
    elsewhere = person("cashier", ((MERCHANT, "TERM0002"),))
    with pytest.raises(NotFound):
        receipts.reprint(
            cf, elsewhere, "000049993190", copy="merchant", fmt="text80", reason="lost"
        )


def test_a_cardholder_copy_needs_matching_evidence(cf: Counterfoil, client: TestClient) -> None:
    with pytest.raises(Forbidden):
        receipts.reprint(
            cf, SUPERVISOR, "000049993190", copy="cardholder", fmt="text80", reason="lost"
        )
    wrong = {**evidence_of_today(), "amount": 476900}
    with pytest.raises(Forbidden):
        receipts.reprint(
            cf,
            SUPERVISOR,
            "000049993190",
            copy="cardholder",
            fmt="text80",
            reason="customer_request",
            evidence=wrong,
        )
    printed = receipts.reprint(
        cf,
        SUPERVISOR,
        "000049993190",
        copy="cardholder",
        fmt="escpos",
        reason="customer_request",
        evidence=evidence_of_today(),
    )
    assert printed.print_no == 1
    assert "持卡人存根".encode("gb18030") in printed.content
    with cf.engine.connect() as conn:
        stored = conn.execute(text("SELECT evidence FROM document_prints")).scalar_one()
        refused = conn.execute(
            text(
                "SELECT COUNT(*) FROM audit_log"
                " WHERE action = 'receipt.reprint' AND outcome = 'denied'"
            )
        ).scalar()
    assert orjson.loads(stored)["last4"] == "0123"
    assert refused == 2  # no evidence, then the wrong evidence


def test_an_auditor_may_not_print_and_a_reason_is_required(
    cf: Counterfoil, client: TestClient
) -> None:
    with pytest.raises(Forbidden):
        receipts.reprint(cf, AUDITOR, "000049993190", copy="merchant", fmt="text80", reason="audit")
    with pytest.raises(ValidationError) as problem:
        receipts.reprint(cf, SUPERVISOR, "000049993190", copy="merchant", fmt="text80", reason="")
    assert problem.value.field == "reason"


def test_a_code_verifies_with_the_merchants_key_and_tells_what_happened_since(
    cf: Counterfoil, client: TestClient
) -> None:
    printed = receipts.reprint(
        cf, SUPERVISOR, "000049993190", copy="merchant", fmt="text80", reason="audit"
    )
    with cf.engine.connect() as conn:
        answer = receipts.verify(conn, printed.code)
        assert answer["genuine"] is True
        assert answer["facts"]["amount"] == 476800
        assert answer["facts"]["card_last4"] == "0123"
        assert answer["status"] == "partially_refunded"
        assert [later["type"] for later in answer["later"]] == ["refund"]
        changed = printed.code[:-5] + ("A" if printed.code[-5] != "A" else "B") + printed.code[-4:]
        assert receipts.verify(conn, changed)["genuine"] is False
        with pytest.raises(ValidationError):
            receipts.verify(conn, "not a code")


def test_a_code_claiming_another_merchant_is_not_genuine(
    cf: Counterfoil, client: TestClient
) -> None:
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    printed = receipts.reprint(
        cf, SUPERVISOR, "000049993190", copy="merchant", fmt="text80", reason="audit"
    )
    payload = codes.read_code(printed.code)
    forged_fields = codes.CodeFields(
        OTHER_MERCHANT, 2, payload.fields.time, "sale", "credit", 476800, card_last4="0123"
    )
    signer = cf.keys.signer(MERCHANT, payload.key_id)
    forged = codes.make_code(forged_fields, signer, payload.key_id)  # A's key, B's name
    with cf.engine.connect() as conn:
        assert receipts.verify(conn, forged)["genuine"] is False


def test_verification_is_public_and_rate_limited(
    cf: Counterfoil, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = receipts.reprint(
        cf, SUPERVISOR, "000049993190", copy="merchant", fmt="text80", reason="audit"
    )
    page = client.get(f"/v/{printed.code}")
    assert page.status_code == 200
    assert 'id="verdict"' in page.text
    assert "¥4,768.00" in page.text
    assert client.get(f"/v/{printed.code[:-3]}xyz").status_code == 200
    api = client.get(f"/api/v1/receipts/verify/{printed.code}")
    assert api.json()["genuine"] is True
    monkeypatch.setattr(receipt_routes, "VERIFY_LIMIT", receipt_routes.RateLimit(limit=3))
    answers = [client.get(f"/api/v1/receipts/verify/{printed.code}").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]


def test_reprint_through_the_api_and_the_console(cf: Counterfoil, client: TestClient) -> None:
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    login = client.post("/api/v1/session", json={"username": "wang", "password": PASSWORD})
    csrf = login.json()["csrf_token"]
    response = client.post(
        "/api/v1/receipts",
        json={"ref": "000049993190", "copy": "merchant", "format": "html", "reason": "lost"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-print-no"] == "1"
    assert response.headers["content-type"].startswith("text/html")
    page = client.get(f"/transactions/{MERCHANT}-2")
    assert 'id="reprint"' in page.text
    assert 'id="r-incident"' in page.text
    assert 'id="view-slip"' in page.text
    title = re.search(r"<title>(.*?)</title>", page.text, re.S)
    assert title
    assert "<" not in title.group(1)  # the title is text only, not a copy of the forms
    assert page.text.count('id="reprint"') == 1
    form = client.post(
        f"/transactions/{MERCHANT}-2/reprint",
        data={"csrf_token": csrf, "copy": "merchant", "reason": "damaged", "format": "text80"},
    )
    assert form.status_code == 200
    assert "重打印 DUPLICATE NO.2" in form.text
    assert "script-src" not in form.headers["content-security-policy"]


def test_an_auditor_views_the_slip_without_printing_it(cf: Counterfoil, client: TestClient) -> None:
    users.add_user(cf, "zhou", PASSWORD, "auditor", [MERCHANT], locale="en")
    client.post("/api/v1/session", json={"username": "zhou", "password": PASSWORD})
    page = client.get(f"/transactions/{MERCHANT}-2/slip")
    assert page.status_code == 200
    assert "签购单 SALES SLIP" in page.text
    assert "重打印" not in page.text  # not a copy
    assert 'id="do-reprint"' not in client.get(f"/transactions/{MERCHANT}-2").text
    with cf.engine.connect() as conn:
        assert receipts.prints_of(conn, MERCHANT, 2) == []
        viewed = conn.execute(
            text("SELECT COUNT(*) FROM audit_log WHERE action = 'receipt.view'")
        ).scalar()
    assert viewed == 1


def test_a_reprint_names_its_incident_and_can_carry_the_address(
    cf: Counterfoil, client: TestClient
) -> None:
    with pytest.raises(ValidationError) as problem:
        receipts.reprint(
            cf,
            SUPERVISOR,
            "000049993190",
            copy="merchant",
            fmt="text80",
            reason="lost",
            incident_id=99,
        )
    assert problem.value.field == "incident_id"
    printed = receipts.reprint(
        cf,
        SUPERVISOR,
        "000049993190",
        copy="merchant",
        fmt="text80",
        reason="lost",
        base_url="https://counterfoil.example",
    )
    flat = printed.content.decode().replace("\n", "")
    assert "https://counterfoil.example/v/" in flat
