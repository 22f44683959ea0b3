"""Merchants, terminals, fee schedules and signing keys.

Adding a merchant writes its genesis entry: a new Ed25519 key is made, its public half
stored and named in the merchant's first journal entry, and the default fee schedule
is put in place. Adding a terminal returns its API token once; only a hash is kept.
Rotating a key appends a ``key_rotation`` entry signed by the old key that names the
new one, so every old entry still verifies and the change itself is in the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, select

from counterfoil.core.errors import Conflict, NotFound, Unauthorised, ValidationError
from counterfoil.core.fees import DEFAULT_RULES, REFUND_FEE_POLICIES, FeeRule, format_rate
from counterfoil.core.models import CHANNELS, check_merchant_no, check_terminal_id, check_timezone
from counterfoil.core.rules import MerchantRules
from counterfoil.i18n import _
from counterfoil.services.context import Counterfoil
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.journal import ChainWriter
from counterfoil.store.schema import fee_rules, merchants, signing_keys, terminals

DEFAULT_SETTINGS: dict[str, Any] = {
    "preauth_tolerance_pct": 115,
    "preauth_validity_days": 30,
    "refund_fee_policy": "pro_rata",
}
TOKEN_PREFIX = "cft_"  # noqa: S105 - a prefix that marks our tokens, not a secret


@dataclass(frozen=True, slots=True)
class Merchant:
    merchant_no: str
    name: str
    timezone: str
    settings: dict[str, Any]

    @property
    def rules(self) -> MerchantRules:
        s = self.settings
        return MerchantRules(
            int(s["preauth_tolerance_pct"]),
            int(s["preauth_validity_days"]),
            str(s["refund_fee_policy"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "merchant_no": self.merchant_no,
            "name": self.name,
            "timezone": self.timezone,
            "settings": self.settings,
        }


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120 or not name.isprintable():
        raise ValidationError("name", _("expected a name of 1 to 120 printable characters"))
    return name


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    merged = {**DEFAULT_SETTINGS, **settings}
    unknown = sorted(set(merged) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ValidationError(unknown[0], _("is not a merchant setting"))
    pct, days = merged["preauth_tolerance_pct"], merged["preauth_validity_days"]
    if not isinstance(pct, int) or not 100 <= pct <= 200:
        raise ValidationError(
            "preauth_tolerance_pct", _("expected a whole percentage from 100 to 200")
        )
    if not isinstance(days, int) or not 1 <= days <= 365:
        raise ValidationError("preauth_validity_days", _("expected 1 to 365 days"))
    if merged["refund_fee_policy"] not in REFUND_FEE_POLICIES:
        raise ValidationError(
            "refund_fee_policy",
            _("expected one of {options}"),
            options=", ".join(REFUND_FEE_POLICIES),
        )
    return merged


def add_merchant(
    cf: Counterfoil,
    merchant_no: str,
    name: str,
    timezone: str = "Asia/Shanghai",
    *,
    settings: dict[str, Any] | None = None,
    actor: Actor = audit.SYSTEM,
    now: datetime | None = None,
) -> Merchant:
    merchant = Merchant(
        check_merchant_no(merchant_no),
        _check_name(name),
        check_timezone(timezone),
        check_settings(settings or {}),
    )
    moment = now or datetime.now(UTC)

    def job(conn: Connection) -> Merchant:
        if conn.execute(
            select(merchants.c.merchant_no).where(merchants.c.merchant_no == merchant_no)
        ).first():
            raise Conflict(_("merchant {merchant_no} already exists"), merchant_no=merchant_no)
        conn.execute(
            merchants.insert().values(
                merchant_no=merchant_no,
                name=merchant.name,
                timezone=merchant.timezone,
                settings=orjson.dumps(merchant.settings).decode(),
                created_at=moment,
            )
        )
        key_id, public = cf.keys.generate(merchant_no)
        conn.execute(
            signing_keys.insert().values(
                key_id=key_id, merchant_no=merchant_no, public_key=public, created_at=moment
            )
        )
        chain = ChainWriter(conn, cf.keys, merchant_no, create=True)
        chain.append(
            "genesis",
            {
                "merchant_no": merchant_no,
                "name": merchant.name,
                "timezone": merchant.timezone,
                "key_id": key_id,
                "public_key": public,
            },
            key_id=key_id,
            now=moment,
        )
        chain.rotate_to(key_id)
        chain.flush()
        for rule in DEFAULT_RULES:
            _insert_rule(conn, merchant_no, rule, moment)
        audit.record(
            conn,
            actor,
            "merchant.add",
            object_type="merchant",
            object_id=merchant_no,
            merchant_no=merchant_no,
            details={"name": name},
        )
        return merchant

    return cf.write(job)


def _merchant_from(row: Any) -> Merchant:
    return Merchant(row.merchant_no, row.name, row.timezone, orjson.loads(row.settings))


def get_merchant(conn: Connection, merchant_no: str) -> Merchant:
    row = conn.execute(select(merchants).where(merchants.c.merchant_no == merchant_no)).first()
    if row is None:
        raise NotFound(_("merchant {merchant_no} is not known"), merchant_no=merchant_no)
    return _merchant_from(row)


def list_merchants(conn: Connection) -> list[Merchant]:
    return [
        _merchant_from(r) for r in conn.execute(select(merchants).order_by(merchants.c.merchant_no))
    ]


# --- terminals -------------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_terminal(
    cf: Counterfoil,
    merchant_no: str,
    terminal_id: str,
    name: str = "",
    *,
    actor: Actor = audit.SYSTEM,
) -> tuple[dict[str, Any], str]:
    """Register a terminal; return it and its API token (shown this once only)."""
    check_terminal_id(terminal_id)
    label = _check_name(name or terminal_id)
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)

    def job(conn: Connection) -> dict[str, Any]:
        get_merchant(conn, merchant_no)
        if conn.execute(
            select(terminals.c.terminal_id).where(
                and_(terminals.c.merchant_no == merchant_no, terminals.c.terminal_id == terminal_id)
            )
        ).first():
            raise Conflict(
                _("terminal {terminal_id} already exists for merchant {merchant_no}"),
                terminal_id=terminal_id,
                merchant_no=merchant_no,
            )
        row = {
            "merchant_no": merchant_no,
            "terminal_id": terminal_id,
            "name": label,
            "token_id": token_id,
            "token_hash": _hash_secret(secret),
            "active": True,
            "created_at": datetime.now(UTC),
        }
        conn.execute(terminals.insert().values(**row))
        audit.record(
            conn,
            actor,
            "terminal.add",
            object_type="terminal",
            object_id=terminal_id,
            merchant_no=merchant_no,
        )
        return {k: row[k] for k in ("merchant_no", "terminal_id", "name", "active")}

    return cf.write(job), f"{TOKEN_PREFIX}{token_id}.{secret}"


def list_terminals(conn: Connection, merchant_no: str | None = None) -> list[dict[str, Any]]:
    t = terminals.c
    query = select(t.merchant_no, t.terminal_id, t.name, t.active, t.created_at).order_by(
        t.merchant_no, t.terminal_id
    )
    if merchant_no:
        query = query.where(t.merchant_no == merchant_no)
    return [dict(r._mapping) for r in conn.execute(query)]


def authenticate_terminal(conn: Connection, token: str) -> tuple[str, str]:
    """(merchant_no, terminal_id) of the terminal holding ``token``, or ``Unauthorised``."""
    refused = Unauthorised(_("the API token is not valid"))
    if not token.startswith(TOKEN_PREFIX) or "." not in token:
        raise refused
    token_id, secret = token[len(TOKEN_PREFIX) :].split(".", 1)
    row = conn.execute(select(terminals).where(terminals.c.token_id == token_id)).first()
    if (
        row is None
        or not row.active
        or not hmac.compare_digest(row.token_hash, _hash_secret(secret))
    ):
        raise refused
    return row.merchant_no, row.terminal_id


# --- fee schedules ---------------------------------------------------------------------


def fee_schedule(conn: Connection, merchant_no: str) -> list[FeeRule]:
    f = fee_rules.c
    return [
        FeeRule(r.channel, r.rate_ppm, r.cap, r.effective_from)
        for r in conn.execute(
            select(f.channel, f.rate_ppm, f.cap, f.effective_from)
            .where(f.merchant_no == merchant_no)
            .order_by(f.channel, f.effective_from)
        )
    ]


def _insert_rule(conn: Connection, merchant_no: str, rule: FeeRule, moment: datetime) -> None:
    conn.execute(
        fee_rules.insert().values(
            merchant_no=merchant_no,
            channel=rule.channel,
            rate_ppm=rule.rate_ppm,
            cap=rule.cap,
            effective_from=rule.effective_from,
            created_at=moment,
        )
    )


def add_fee_rule(
    cf: Counterfoil, merchant_no: str, rule: FeeRule, *, actor: Actor = audit.SYSTEM
) -> FeeRule:
    if rule.channel not in CHANNELS:
        raise ValidationError(
            "channel", _("expected one of {options}"), options=", ".join(CHANNELS)
        )
    if rule.cap is not None and rule.cap < 0:
        raise ValidationError("cap", _("expected a cap of zero or more fen"))

    def job(conn: Connection) -> FeeRule:
        get_merchant(conn, merchant_no)
        f = fee_rules.c
        if conn.execute(
            select(f.id).where(
                and_(
                    f.merchant_no == merchant_no,
                    f.channel == rule.channel,
                    f.effective_from == rule.effective_from,
                )
            )
        ).first():
            raise Conflict(
                _("a {channel} rate already starts on {day}"),
                channel=rule.channel,
                day=rule.effective_from.isoformat(),
            )
        _insert_rule(conn, merchant_no, rule, datetime.now(UTC))
        audit.record(
            conn,
            actor,
            "fee_rule.add",
            object_type="fee_rule",
            object_id=f"{rule.channel}@{rule.effective_from}",
            merchant_no=merchant_no,
            details={"rate": format_rate(rule.rate_ppm), "cap": rule.cap},
        )
        return rule

    return cf.write(job)


# --- keys ------------------------------------------------------------------------------


def public_keys(conn: Connection, merchant_no: str) -> list[dict[str, Any]]:
    k = signing_keys.c
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(k.key_id, k.public_key, k.created_at)
            .where(k.merchant_no == merchant_no)
            .order_by(k.created_at, k.key_id)
        )
    ]


def rotate_key(cf: Counterfoil, merchant_no: str, *, actor: Actor = audit.SYSTEM) -> str:
    """Make a new signing key; the old one signs the entry that introduces it."""

    def job(conn: Connection) -> str:
        get_merchant(conn, merchant_no)
        chain = ChainWriter(conn, cf.keys, merchant_no)
        key_id, public = cf.keys.generate(merchant_no)
        moment = datetime.now(UTC)
        conn.execute(
            signing_keys.insert().values(
                key_id=key_id, merchant_no=merchant_no, public_key=public, created_at=moment
            )
        )
        chain.append(
            "key_rotation",
            {"key_id": key_id, "public_key": public, "previous_key_id": chain.head.key_id},
            now=moment,
        )
        chain.rotate_to(key_id)
        chain.flush()
        audit.record(
            conn,
            actor,
            "key.rotate",
            object_type="signing_key",
            object_id=key_id,
            merchant_no=merchant_no,
        )
        return key_id

    return cf.write(job)


def today() -> date:
    return datetime.now(UTC).date()
