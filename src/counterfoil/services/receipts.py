"""Reprints of slips and the verification of a printed code.

The terminal printed the first copy of each slip; every copy Counterfoil prints is a
reprint, marked 重打印 DUPLICATE with its number, and recorded (append-only) with who
asked, from where, why, the evidence the requester gave and the incident it belongs to.

Who may print what (DESIGN.md, Roles): a cashier the merchant copy of the day's
transactions of their own terminals; a supervisor any copy, the cardholder copy only
against evidence that matches the transaction (last four + amount + date, or the order
number); an auditor views but never prints.

A code verifies with nothing but the public keys of the merchant the code names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, select

from counterfoil.core.errors import Forbidden, NotFound, ValidationError
from counterfoil.documents import code as codes
from counterfoil.documents.escpos import render_escpos
from counterfoil.documents.slip import slip_from_entry
from counterfoil.documents.text import render_text
from counterfoil.i18n import _
from counterfoil.services import lookups
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.incidents import check_link
from counterfoil.services.merchants import get_merchant, public_keys
from counterfoil.store import audit
from counterfoil.store.journal import read_head
from counterfoil.store.schema import document_prints

REASONS = ("lost", "damaged", "customer_request", "audit")
COPIES = ("merchant", "cardholder")
FORMATS = {
    "text58": ("text/plain; charset=utf-8", "txt"),
    "text80": ("text/plain; charset=utf-8", "txt"),
    "escpos": ("application/octet-stream", "bin"),
    "pdf": ("application/pdf", "pdf"),
    "html": ("text/html; charset=utf-8", "html"),
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a requester showed to prove the payment is theirs (never a full card number)."""

    last4: str | None = None
    amount: int | None = None  # fen
    day: date | None = None
    order_no: str | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None) -> Evidence | None:
        if not values or not any(values.values()):
            return None
        last4 = str(values.get("last4") or "").strip() or None
        if last4 is not None and not (len(last4) == 4 and last4.isdigit()):
            raise ValidationError("evidence.last4", _("expected the card's last four digits"))
        amount = values.get("amount")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            raise ValidationError(
                "evidence.amount", _("expected a whole number of fen (minor units), such as 1250")
            )
        day = values.get("date")
        if isinstance(day, str) and day:
            try:
                day = date.fromisoformat(day)
            except ValueError:
                raise ValidationError("evidence.date", _("expected a date as YYYY-MM-DD")) from None
        order_no = str(values.get("order_no") or "").strip() or None
        return cls(last4, amount, day if isinstance(day, date) else None, order_no)

    def matches(self, entry: Mapping[str, Any], zone: str) -> bool:
        if self.order_no:
            return self.order_no == entry.get("order_no")
        if self.last4 and self.amount is not None and self.day is not None:
            when = datetime.fromisoformat(str(entry["terminal_time"]))
            return (
                self.last4 == str(entry.get("card") or "")[-4:]
                and self.amount == entry.get("amount")
                and self.day == lookups.business_day(when, zone)
            )
        return False

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in (
                ("last4", self.last4),
                ("amount", self.amount),
                ("date", self.day),
                ("order_no", self.order_no),
            )
            if v is not None
        }


@dataclass(frozen=True, slots=True)
class Printed:
    entry_id: str
    copy: str
    print_no: int
    format: str
    content: bytes
    media_type: str
    file_name: str
    code: str


def _check_choice(field: str, value: str, options: tuple[str, ...] | list[str]) -> None:
    if value not in options:
        raise ValidationError(field, _("expected one of {options}"), options=", ".join(options))


def may_print(who: Principal, copy: str, evidence: Evidence | None) -> None:
    """Refuse what ``who`` may not print, saying why (the entry is already confined)."""
    who.require("receipts.print")
    if copy == "cardholder":
        if who.role == "cashier":
            raise Forbidden(_("a cashier reprints only the merchant copy"))
        if evidence is None:
            raise Forbidden(
                _(
                    "a cardholder copy needs the requester's evidence: last four, amount and "
                    "date, or the order number"
                )
            )


def code_for(conn: Connection, keys: Any, entry: Mapping[str, Any]) -> str:
    """The entry's verification code, signed with the merchant's current key."""
    head = read_head(conn, str(entry["merchant_no"]), lock=False)
    if head is None or head.key_id is None:
        raise ValidationError("merchant", _("the merchant has no signing key"))
    signer = keys.signer(str(entry["merchant_no"]), head.key_id)
    return codes.make_code(codes.CodeFields.from_entry(entry), signer, head.key_id)


def render(slip: Any, fmt: str) -> bytes:
    if fmt == "text58":
        return render_text(slip, 32).encode()
    if fmt == "text80":
        return render_text(slip, 48).encode()
    if fmt == "escpos":
        return render_escpos(slip, 48)
    if fmt == "pdf":
        from counterfoil.documents.pdf import render_pdf

        return render_pdf(slip, "roll80")
    from counterfoil.documents.html import render_html

    return render_html(slip).encode()


def reprint(
    cf: Counterfoil,
    who: Principal,
    ref: str,
    *,
    copy: str,
    fmt: str,
    reason: str,
    evidence: Mapping[str, Any] | None = None,
    incident_id: int | None = None,
    merchant: str | None = None,
    base_url: str = "",
) -> Printed:
    """Print a copy of a transaction's slip again, and record that it was printed.

    With ``base_url`` the slip's QR code carries the verification address
    (``{base_url}/v/{code}``) rather than the bare code: a phone's camera opens it.
    """
    _check_choice("copy", copy, COPIES)
    _check_choice("format", fmt, list(FORMATS))
    _check_choice("reason", reason, REASONS)
    shown = Evidence.parse(evidence)

    def job(conn: Connection) -> Printed:
        entry = lookups.read_for(conn, who, ref, merchant)
        merchant_row = get_merchant(conn, entry["merchant_no"])
        if incident_id is not None:
            check_link(conn, entry["merchant_no"], incident_id)
        if (
            shown is not None
            and copy == "cardholder"
            and not shown.matches(entry, merchant_row.timezone)
        ):
            audit.record(
                conn,
                who.actor,
                "receipt.reprint",
                "refused",
                object_type="transaction",
                object_id=entry["entry_id"],
                merchant_no=entry["merchant_no"],
                details={"copy": copy, "reason": "evidence does not match"},
            )
            raise Forbidden(_("the evidence does not match this transaction"))
        original = None
        if entry.get("original_seq"):
            original = lookups.find(conn, f"{entry['merchant_no']}-{entry['original_seq']}")
        d = document_prints.c
        before = conn.execute(
            select(func.count()).where(
                and_(d.merchant_no == entry["merchant_no"], d.seq == entry["seq"], d.copy == copy)
            )
        ).scalar_one()
        number = int(before) + 1
        code = code_for(conn, cf.keys, entry)
        slip = slip_from_entry(
            entry,
            merchant_row.as_dict(),
            copy=copy,  # type: ignore[arg-type]
            reprint_no=number,
            original=original,
            verification=codes.verification_url(base_url, code) if base_url else code,
        )
        content = render(slip, fmt)
        conn.execute(
            document_prints.insert().values(
                merchant_no=entry["merchant_no"],
                seq=entry["seq"],
                copy=copy,
                print_no=number,
                format=fmt,
                reason=reason,
                evidence=orjson.dumps(shown.as_dict() if shown else {}).decode(),
                incident_id=incident_id,
                actor=who.name[:80],
                source=who.source[:80],
                printed_at=datetime.now(UTC),
            )
        )
        audit.record(
            conn,
            who.actor,
            "receipt.reprint",
            object_type="transaction",
            object_id=entry["entry_id"],
            merchant_no=entry["merchant_no"],
            details={
                "copy": copy,
                "print_no": number,
                "format": fmt,
                "reason": reason,
                "evidence": sorted(shown.as_dict()) if shown else [],
                "incident": incident_id,
            },
        )
        media, suffix = FORMATS[fmt]
        return Printed(
            entry["entry_id"],
            copy,
            number,
            fmt,
            content,
            media,
            f"slip-{entry['entry_id']}-{copy}-{number}.{suffix}",
            code,
        )

    try:
        may_print(who, copy, shown)
        return cf.write(job)
    except (Forbidden, NotFound) as refused:  # a refused print is audited too (PCI DSS 10.2)
        why = refused.render("en")
        cf.write(
            lambda conn: audit.record(
                conn,
                who.actor,
                "receipt.reprint",
                "denied",
                object_type="transaction",
                object_id=ref[:64],
                details={"copy": copy, "why": why},
            )
        )
        raise


def prints_of(conn: Connection, merchant_no: str, seq: int) -> list[dict[str, Any]]:
    d = document_prints.c
    rows = conn.execute(
        select(
            d.copy, d.print_no, d.format, d.reason, d.actor, d.source, d.printed_at, d.incident_id
        )
        .where(and_(d.merchant_no == merchant_no, d.seq == seq))
        .order_by(d.id)
    )
    return [dict(r._mapping) for r in rows]


def verify(conn: Connection, code: str, locale: str = "en") -> dict[str, Any]:
    """Genuine or not, the facts the code states, and what happened to the payment since."""
    payload = codes.read_code(code)  # a malformed code is a clear ValidationError
    keys = {k["key_id"]: k["public_key"] for k in public_keys(conn, payload.merchant_no)}
    verdict = codes.verify_code(code, keys)
    answer: dict[str, Any] = {
        "genuine": verdict.genuine,
        "reason": verdict.message(locale),
        "facts": None,  # a code that is not genuine states nothing worth showing
    }
    if not verdict.genuine:
        return answer
    answer["facts"] = payload.as_dict()
    try:
        entry = lookups.find(conn, f"{payload.merchant_no}-{payload.fields.seq}")
    except NotFound:  # signed by the merchant's key, but not in this store
        answer["status"] = None
        return answer
    merchant = get_merchant(conn, payload.merchant_no)
    answer["merchant_name"] = merchant.name
    answer["status"] = entry["status"]
    answer["later"] = [
        {"type": link["type"], "amount": link["amount"], "time": link["terminal_time"]}
        for link in lookups.links(conn, payload.merchant_no, int(entry["seq"]))
    ]
    return answer


def view(conn: Connection, who: Principal, ref: str, merchant: str | None = None) -> str:
    """The merchant copy of a slip as text, to look at, not to print: for anyone who may
    read the transaction (an auditor too). It carries no verification code and is not a
    copy: nothing is recorded in ``document_prints`` (the caller audits the read)."""
    entry = lookups.read_for(conn, who, ref, merchant)
    original = None
    if entry.get("original_seq"):
        original = lookups.find(conn, f"{entry['merchant_no']}-{entry['original_seq']}")
    slip = slip_from_entry(
        entry,
        get_merchant(conn, entry["merchant_no"]).as_dict(),
        copy="merchant",
        original=original,
    )
    return render_text(slip, 48)
