"""Telling the customer: notification templates in Chinese and English, email through
SMTP when it is configured, SMS and phone calls recorded by hand; each on the timeline.

Seed 003: "商家应通过适当的渠道（如电子邮件、短信或电话）告知客户发生了担保错误，以及
已经采取的措施和预计的解决时间". A template says what happened, what is being done and
by when, in the customer's language. Email goes through ``smtplib`` to the server of
``COUNTERFOIL_SMTP_HOST`` (``_PORT``, default 25; ``_FROM``; ``_USER`` and ``_PASSWORD``
if it asks; ``_STARTTLS=1`` to upgrade the connection); an SMS or a call is made by a
person and recorded here with what was said. A failed email is recorded as failed.
"""

from __future__ import annotations

import os
import re
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection

from counterfoil.cases import model
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import ValidationError
from counterfoil.core.money import format_amount
from counterfoil.i18n import _
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant
from counterfoil.store import audit

SMTP_TIMEOUT = 10  # seconds
LOCALES = ("zh_CN", "en")
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")

#: template → locale → (subject, body). Fields: {merchant_name}, {case_id}, {amount},
#: {due_on}, {note}.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "case_opened": {
        "zh_CN": (
            "{merchant_name}：您的交易正在核查（案件 {case_id}）",
            "您好！我们发现您在{merchant_name}的一笔交易（金额 {amount}）存在差错，"
            "已向支付机构核实并处理，预计在 {due_on} 前给您答复。{note}",
        ),
        "en": (
            "{merchant_name}: we are checking your payment (case {case_id})",
            "Hello. We found a discrepancy in your payment of {amount} at {merchant_name}. "
            "We are verifying it with the payment institution and expect to answer you by "
            "{due_on}. {note}",
        ),
    },
    "in_progress": {
        "zh_CN": (
            "{merchant_name}：案件 {case_id} 处理进展",
            "您好！您的交易（金额 {amount}）已提交支付机构处理，"
            "我们会在有结果后第一时间通知您。{note}",
        ),
        "en": (
            "{merchant_name}: progress on case {case_id}",
            "Hello. Your payment of {amount} has been submitted to the payment institution; "
            "we will tell you as soon as it answers. {note}",
        ),
    },
    "resolved": {
        "zh_CN": (
            "{merchant_name}：案件 {case_id} 已处理完毕",
            "您好！您的交易（金额 {amount}）已处理完毕，"
            "相关款项将按处理结果调整。感谢您的耐心。{note}",
        ),
        "en": (
            "{merchant_name}: case {case_id} is settled",
            "Hello. Your payment of {amount} has been settled and the money adjusted as "
            "agreed. Thank you for your patience. {note}",
        ),
    },
}
TEMPLATE_LABELS = {
    "case_opened": _("We are checking your payment"),
    "in_progress": _("Progress"),
    "resolved": _("Settled"),
}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    user: str | None
    password: str | None
    starttls: bool


def smtp_settings() -> SmtpSettings | None:
    host = os.environ.get("COUNTERFOIL_SMTP_HOST", "").strip()
    if not host:
        return None
    return SmtpSettings(
        host=host,
        port=int(os.environ.get("COUNTERFOIL_SMTP_PORT", "25")),
        sender=os.environ.get("COUNTERFOIL_SMTP_FROM", "counterfoil@localhost"),
        user=os.environ.get("COUNTERFOIL_SMTP_USER") or None,
        password=os.environ.get("COUNTERFOIL_SMTP_PASSWORD") or None,
        starttls=os.environ.get("COUNTERFOIL_SMTP_STARTTLS", "0") == "1",
    )


def render(template: str, locale: str, facts: dict[str, Any]) -> tuple[str, str]:
    wf.choice("template", template, tuple(TEMPLATES))
    wf.choice("locale", locale, LOCALES)
    subject, body = TEMPLATES[template][locale]
    return subject.format(**facts), body.format(**facts).strip()


def _facts(conn: Connection, row: Any, note: str) -> dict[str, Any]:
    amount = (
        f"{row.currency} {format_amount(abs(int(row.difference)), row.currency)}"
        if row.difference is not None
        else "—"
    )
    return {
        "merchant_name": get_merchant(conn, row.merchant_no).name,
        "case_id": int(row.id),
        "amount": amount,
        "due_on": row.due_on.isoformat(),
        "note": note,
    }


def send_email(settings: SmtpSettings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body, charset="utf-8")
    with smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT) as client:
        if settings.starttls:
            client.starttls()
        if settings.user and settings.password:
            client.login(settings.user, settings.password)
        client.send_message(message)


def notify(
    cf: Counterfoil,
    who: Principal,
    case_id: int,
    *,
    channel: str,
    to: str,
    template: str,
    locale: str = "zh_CN",
    note: str = "",
) -> dict[str, Any]:
    """Tell the customer: an email is sent now; an SMS or a call is recorded as made.
    The notification, sent or failed, is an event of the case."""
    wf.choice("channel", channel, tuple(model.CHANNELS))
    wf.choice("template", template, tuple(TEMPLATES))
    wf.choice("locale", locale, LOCALES)
    recipient = wf.line("to", to, 200, required=True)
    if channel == "email" and not _EMAIL.match(recipient):
        raise ValidationError("to", _("expected an email address"))
    if channel != "email" and not _PHONE.match(recipient):
        raise ValidationError("to", _("expected a telephone number"))
    said = wf.text("note", note, 1000)
    smtp = smtp_settings()
    if channel == "email" and smtp is None:
        raise ValidationError(
            "channel", _("email is not configured: set COUNTERFOIL_SMTP_HOST, or record a call")
        )

    def prepare(conn: Connection) -> tuple[str, str]:
        who.require("cases.work")
        row = wf.case_row(conn, who, case_id)
        who.require("cases.work", row.merchant_no)
        return render(template, locale, _facts(conn, row, said))

    subject, body = wf.audited(cf, who, "case.notify", str(case_id), lambda: cf.read(prepare))
    outcome, error = "recorded", None
    if channel == "email":
        assert smtp is not None
        try:
            send_email(smtp, recipient, subject, body)
            outcome = "sent"
        except (OSError, smtplib.SMTPException) as exc:
            outcome, error = "failed", f"{type(exc).__name__}: {str(exc)[:200]}"

    def record(conn: Connection) -> dict[str, Any]:
        row = wf.case_row(conn, who, case_id)
        details = {
            "channel": channel,
            "to": recipient,
            "template": template,
            "locale": locale,
            "subject": subject,
            "outcome": outcome,
            "error": error,
        }
        wf.event(conn, who.actor, row, "notification", body, details)
        audit.record(
            conn,
            who.actor,
            "case.notify",
            "success" if outcome != "failed" else "failed",
            object_type="case",
            object_id=str(row.id),
            merchant_no=row.merchant_no,
            details={"channel": channel, "template": template, "outcome": outcome},
        )
        return wf.detail(conn, row)

    return cf.write(record)
