"""API tokens of integrations: an ERP, a reconciliation feed, a reporting job.

An integration is never a person's login (DESIGN.md "Roles"). Its token belongs to one
merchant and names what it may do (``SCOPES``); it may expire, and it can be revoked.
The token (``cfi_…``) is shown once, when it is made; only its SHA-256 is kept, so a copy
of the database lets nobody in. Making and revoking a token is audited; the token never
is.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from counterfoil.core.errors import Conflict, NotFound, Unauthorised, ValidationError
from counterfoil.i18n import _
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import api_tokens

SCOPES = (
    "transactions.read",
    "statements.import",
    "statements.read",
    "audit.read",
    "reports.read",
)
TOKEN_PREFIX = "cfi_"  # noqa: S105 - a prefix that marks integration tokens, not a secret
MAX_DAYS = 3650


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is known of a token: never the token itself."""

    id: int
    name: str
    merchant_no: str
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "merchant_no": self.merchant_no,
            "scopes": sorted(self.scopes),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "status": self.status(),
        }


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _info(row: Any) -> TokenInfo:
    created = _aware(row.created_at)
    assert created is not None
    return TokenInfo(
        row.id,
        row.name,
        row.merchant_no,
        frozenset(row.scopes.split()),
        created,
        _aware(row.expires_at),
        _aware(row.revoked_at),
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_scopes(scopes: list[str]) -> list[str]:
    wanted = sorted({s.strip() for s in scopes if s.strip()})
    if not wanted:
        raise ValidationError(
            "scopes", _("expected at least one scope: {options}"), options=", ".join(SCOPES)
        )
    for scope in wanted:
        if scope not in SCOPES:
            raise ValidationError(
                "scopes",
                _("{scope} is not a scope; expected one of {options}"),
                scope=scope,
                options=", ".join(SCOPES),
            )
    return wanted


def add_token(
    cf: Counterfoil,
    merchant_no: str,
    name: str,
    scopes: list[str],
    *,
    expires_days: int | None = None,
    actor: Actor = audit.SYSTEM,
) -> tuple[str, TokenInfo]:
    """Make a token for an integration of ``merchant_no``; return it (shown this once)."""
    label = (name or "").strip()
    if not label or len(label) > 80 or not label.isprintable():
        raise ValidationError("name", _("expected a name of 1 to 80 printable characters"))
    wanted = _check_scopes(scopes)
    if expires_days is not None and not 1 <= expires_days <= MAX_DAYS:
        raise ValidationError("expires_days", _("expected 1 to {max} days"), max=MAX_DAYS)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = now + timedelta(days=expires_days) if expires_days is not None else None

    def job(conn: Connection) -> TokenInfo:
        get_merchant(conn, merchant_no)
        token_id = conn.execute(
            api_tokens.insert()
            .values(
                name=label,
                merchant_no=merchant_no,
                scopes=" ".join(wanted),
                token_hash=_digest(token),
                created_by=actor.name[:80],
                created_at=now,
                expires_at=expires,
            )
            .returning(api_tokens.c.id)
        ).scalar_one()
        audit.record(
            conn,
            actor,
            "token.add",
            object_type="api_token",
            object_id=str(token_id),
            merchant_no=merchant_no,
            details={
                "name": label,
                "scopes": wanted,
                "expires_at": expires.isoformat() if expires else None,
            },
        )
        return TokenInfo(token_id, label, merchant_no, frozenset(wanted), now, expires, None)

    return token, cf.write(job)


def list_tokens(conn: Connection, merchant_no: str | None = None) -> list[TokenInfo]:
    query = select(api_tokens).order_by(api_tokens.c.id)
    if merchant_no:
        query = query.where(api_tokens.c.merchant_no == merchant_no)
    return [_info(row) for row in conn.execute(query)]


def revoke_token(cf: Counterfoil, token_id: int, *, actor: Actor = audit.SYSTEM) -> TokenInfo:
    """Revoke a token at once; it lets nobody in from now on."""
    now = datetime.now(UTC)

    def job(conn: Connection) -> TokenInfo:
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound(_("token {token_id} is not known"), token_id=token_id)
        if row.revoked_at is not None:
            raise Conflict(_("token {token_id} is already revoked"), token_id=token_id)
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now))
        audit.record(
            conn,
            actor,
            "token.revoke",
            object_type="api_token",
            object_id=str(token_id),
            merchant_no=row.merchant_no,
            details={"name": row.name},
        )
        return replace(_info(row), revoked_at=now)

    return cf.write(job)


def authenticate_integration(conn: Connection, token: str) -> TokenInfo:
    """What the integration holding ``token`` may do, or ``Unauthorised`` for a token that
    is unknown, revoked or expired."""
    refused = Unauthorised(_("the API token is not valid"))
    if not token.startswith(TOKEN_PREFIX):
        raise refused
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == _digest(token))).first()
    if row is None:
        raise refused
    info = _info(row)
    if info.status() != "active":
        raise refused
    return info
