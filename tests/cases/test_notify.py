"""Telling the customer: the templates in Chinese and English; an email through a real
SMTP server (aiosmtpd, started here on 127.0.0.1 and stopped by the test); SMS and calls
recorded by hand; a failed email recorded as failed; each on the timeline.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from cases.conftest import FINANCE, SUPERVISOR, audited
from conftest import MERCHANT
from counterfoil.cases import notify
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import Forbidden, ValidationError
from counterfoil.services.context import Counterfoil


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    server.start()
    try:
        monkeypatch.setenv("COUNTERFOIL_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("COUNTERFOIL_SMTP_PORT", str(port))
        monkeypatch.setenv("COUNTERFOIL_SMTP_FROM", "cases@shop.example")
        yield inbox
    finally:
        server.stop()


@pytest.fixture
def case_id(cf: Counterfoil, entries: list[str]) -> int:
    found = wf.open_case(
        cf,
        SUPERVISOR,
        merchant=MERCHANT,
        kind="preauth_mismatch",
        title="completed above the hold",
        difference=-2500,
        entries=[entries[0]],
    )
    return int(found["id"])


def test_an_email_in_chinese_goes_through_smtp_and_onto_the_timeline(
    cf: Counterfoil, case_id: int, smtp: Inbox
) -> None:
    found = notify.notify(
        cf,
        FINANCE,
        case_id,
        channel="email",
        to="customer@example.com",
        template="case_opened",
        locale="zh_CN",
        note="如有疑问请致电门店。",
    )
    [(sender, recipients, message)] = smtp.messages
    assert (sender, recipients) == ("cases@shop.example", ["customer@example.com"])
    assert str(message["Subject"]).startswith("=?utf-8?") or "案件" in str(message["Subject"])
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    words = body.decode("utf-8")
    assert "测试便利店" in words
    assert "CNY 25.00" in words
    assert "如有疑问请致电门店" in words
    event = found["events"][-1]
    assert event["kind"] == "notification"
    assert event["details"] | {"subject": ""} == {
        "channel": "email",
        "to": "customer@example.com",
        "template": "case_opened",
        "locale": "zh_CN",
        "subject": "",
        "outcome": "sent",
        "error": None,
    }
    assert audited(cf, "case.notify")[0]["outcome"] == "success"


def test_the_english_template_says_the_same_in_english(cf: Counterfoil, case_id: int) -> None:
    with cf.engine.connect() as conn:
        row = wf.case_row(conn, FINANCE, case_id)
        facts = notify._facts(conn, row, "")
    subject, body = notify.render("resolved", "en", facts)
    assert subject == f"测试便利店: case {case_id} is settled"
    assert "Your payment of CNY 25.00 has been settled" in body
    zh_subject, _ = notify.render("resolved", "zh_CN", facts)
    assert zh_subject == f"测试便利店：案件 {case_id} 已处理完毕"


def test_calls_and_sms_are_recorded_by_hand(cf: Counterfoil, case_id: int) -> None:
    found = notify.notify(
        cf, FINANCE, case_id, channel="phone", to="+86 138 0013 8000", template="in_progress"
    )
    assert found["events"][-1]["details"]["outcome"] == "recorded"
    with pytest.raises(ValidationError) as bad:
        notify.notify(cf, FINANCE, case_id, channel="sms", to="call me", template="resolved")
    assert bad.value.field == "to"
    with pytest.raises(Forbidden):
        notify.notify(cf, SUPERVISOR, case_id, channel="sms", to="13800138000", template="resolved")


def test_email_without_smtp_is_refused_and_a_failed_email_is_recorded(
    cf: Counterfoil, case_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COUNTERFOIL_SMTP_HOST", raising=False)
    with pytest.raises(ValidationError, match="not configured") as unset:
        notify.notify(
            cf, FINANCE, case_id, channel="email", to="a@example.com", template="resolved"
        )
    assert unset.value.field == "channel"
    monkeypatch.setenv("COUNTERFOIL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("COUNTERFOIL_SMTP_PORT", str(free_port()))  # nobody listens there
    found = notify.notify(
        cf, FINANCE, case_id, channel="email", to="a@example.com", template="resolved"
    )
    details = found["events"][-1]["details"]
    assert details["outcome"] == "failed"
    assert "ConnectionRefusedError" in details["error"]
    assert audited(cf, "case.notify")[-1]["outcome"] == "failed"
