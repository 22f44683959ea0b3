"""Proofs of payment (支付证明) for a customer without the slip.

Staff find the payment by its day + amount + card's last four, or by the platform order
number; the certificate states the facts and the payment's status when issued (a later
refund included), carries a serial number (per merchant, gapless) and its own signed
verification code. Only a supervisor issues one (DESIGN.md, Roles); each issue is
recorded (append-only) and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from counterfoil.core.errors import NotFound, ValidationError
from counterfoil.documents import certificate as documents
from counterfoil.documents.code import verification_url
from counterfoil.i18n import LOCALES, _
from counterfoil.services import lookups
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.incidents import check_link
from counterfoil.services.merchants import get_merchant, public_keys
from counterfoil.store import audit
from counterfoil.store.journal import read_head
from counterfoil.store.schema import certificates

FORMATS = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Issued:
    serial: str
    entry_id: str
    format: str
    content: bytes
    media_type: str
    code: str

    @property
    def file_name(self) -> str:
        return f"proof-of-payment-{self.serial}.{self.format}"


def find_payments(
    conn: Connection,
    who: Principal,
    merchant_no: str | None,
    *,
    day: date | None = None,
    amount: int | None = None,
    last4: str | None = None,
    order_no: str | None = None,
) -> list[dict[str, Any]]:
    """The payments matching what the customer knows: day + amount + last four, or order no."""
    merchant = who.default_merchant(merchant_no)
    who.require("certificates.issue", merchant)
    if merchant is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    if order_no:
        query = lookups.Search(merchant, order_no=order_no.strip(), per_page=20)
    elif day is not None and amount is not None and last4:
        query = lookups.Search(
            merchant, date_from=day, date_to=day, amount=amount, last4=last4, per_page=20
        )
    else:
        raise ValidationError(
            "search",
            _("give the day, the amount and the card's last four, or the order number"),
        )
    return list(lookups.search_for(conn, who, query)["items"])


def issue(
    cf: Counterfoil,
    who: Principal,
    ref: str,
    *,
    fmt: str = "pdf",
    locale: str = "zh_CN",
    merchant: str | None = None,
    incident_id: int | None = None,
    base_url: str = "",
) -> Issued:
    """Issue a proof of payment for one transaction, with a new serial number."""
    who.require("certificates.issue")
    if fmt not in FORMATS:
        raise ValidationError("format", _("expected one of {options}"), options="pdf, html")
    if locale not in LOCALES:
        raise ValidationError("locale", _("expected one of {options}"), options=", ".join(LOCALES))

    def job(conn: Connection) -> Issued:
        entry = lookups.read_for(conn, who, ref, merchant)
        merchant_no = str(entry["merchant_no"])
        shop = get_merchant(conn, merchant_no)
        if incident_id is not None:
            check_link(conn, merchant_no, incident_id)
        head = read_head(conn, merchant_no)
        if head is None or head.key_id is None:
            raise ValidationError("merchant", _("the merchant has no signing key"))
        number = (
            int(
                conn.execute(
                    select(func.coalesce(func.max(certificates.c.number), 0)).where(
                        certificates.c.merchant_no == merchant_no
                    )
                ).scalar_one()
            )
            + 1
        )
        now = datetime.now(UTC).replace(microsecond=0)
        cert = documents.Certificate(
            serial=f"PC{merchant_no[-6:]}-{number:06d}",
            merchant_no=merchant_no,
            merchant_name=shop.name,
            zone=shop.timezone,
            entry=entry,
            status=str(entry["status"]),
            refunded=int(entry.get("refunded") or 0),
            issued_at=now,
            issued_by=who.name.split(":", 1)[-1],
            locale=locale,
        )
        code = documents.make_certificate_code(
            cert.facts(), cf.keys.signer(merchant_no, head.key_id), head.key_id
        )
        shown = verification_url(base_url, code) if base_url else code
        content = (
            documents.render_certificate_pdf(cert, shown)
            if fmt == "pdf"
            else documents.render_certificate_html(cert, shown).encode()
        )
        conn.execute(
            certificates.insert().values(
                serial=cert.serial,
                merchant_no=merchant_no,
                number=number,
                seq=int(entry["seq"]),
                status=cert.status,
                refunded=cert.refunded,
                locale=locale,
                format=fmt,
                code=code,
                incident_id=incident_id,
                actor=who.name[:80],
                source=who.source[:80],
                issued_at=now,
            )
        )
        audit.record(
            conn,
            who.actor,
            "certificate.issue",
            object_type="transaction",
            object_id=str(entry["entry_id"]),
            merchant_no=merchant_no,
            details={"serial": cert.serial, "status": cert.status, "incident": incident_id},
        )
        return Issued(cert.serial, str(entry["entry_id"]), fmt, content, FORMATS[fmt], code)

    return cf.write(job)


def verify(conn: Connection, code: str) -> dict[str, Any]:
    """Genuine or not; the facts stated at issue and the payment's status now."""
    facts, _key, _sig, _signed = documents.read_certificate_code(code)
    merchant_no = str(facts.get("m", ""))
    keys = {k["key_id"]: str(k["public_key"]) for k in public_keys(conn, merchant_no)}
    genuine, facts = documents.verify_certificate_code(code, keys)
    answer: dict[str, Any] = {"genuine": genuine, "kind": "certificate", "facts": None}
    if not genuine:
        return answer
    answer["facts"] = facts
    registered = conn.execute(
        select(certificates.c.serial).where(certificates.c.serial == facts.get("n"))
    ).first()
    answer["registered"] = registered is not None
    try:
        entry = lookups.find(conn, f"{merchant_no}-{facts['s']}")
    except NotFound:
        answer["status"] = None
        return answer
    answer["status"] = entry["status"]
    answer["changed_since"] = entry["status"] != facts.get("st")
    answer["merchant_name"] = get_merchant(conn, merchant_no).name
    return answer
