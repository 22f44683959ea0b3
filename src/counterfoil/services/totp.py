"""A second factor for the people who can change who may do what or move money: RFC 6238.

Only an admin or finance user may have one; it is optional for them. Enrolling makes a
new secret and shows it once (with an ``otpauth://`` URI an authenticator app reads as a
QR code), but it is not yet asked for: only a right code from the app (``confirm``) turns
it on, so a mistyped secret cannot lock anyone out. From then on a login needs the
password and the current six-digit code.

A code is accepted for its own 30-second step and the one either side (pyotp's
``valid_window=1``, for clocks a little apart), and only once: the step of the last code
accepted is stored, and a code of that step or an earlier one is refused (RFC 6238 §5.2).
Every step is audited; the secret and the codes never are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyotp
from pyotp.utils import strings_equal
from sqlalchemy import Connection, select, update

from counterfoil.core.errors import Conflict, NotFound, ValidationError
from counterfoil.i18n import _
from counterfoil.services.context import Counterfoil
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import users

ROLES = ("admin", "finance")
ISSUER = "Counterfoil"
WINDOW = 1  # steps either side of now that are accepted


def accepted_step(secret: str, code: str, last_step: int | None, now: datetime) -> int | None:
    """The time step ``code`` belongs to, if it is right at ``now`` and newer than
    ``last_step``; otherwise None."""
    totp = pyotp.TOTP(secret)
    code = code.replace(" ", "").strip()
    if len(code) != totp.digits or not code.isdigit():
        return None
    current = totp.timecode(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if strings_equal(totp.generate_otp(step), code):
            return step
    return None


def _row(conn: Connection, username: str) -> Any:
    row = conn.execute(select(users).where(users.c.username == username.strip().lower())).first()
    if row is None:
        raise NotFound(_("user {username} is not known"), username=username)
    return row


def enroll(cf: Counterfoil, username: str, *, actor: Actor = audit.SYSTEM) -> tuple[str, str]:
    """Make a new secret for ``username``, not yet in force; return it and its URI."""
    secret = pyotp.random_base32()

    def job(conn: Connection) -> str:
        row = _row(conn, username)
        if row.role not in ROLES:
            raise ValidationError(
                "role",
                _("a second factor is for the roles {options} only"),
                options=", ".join(ROLES),
            )
        if row.totp_enabled:
            raise Conflict(
                _("user {username} already has a second factor: disable it first"),
                username=row.username,
            )
        conn.execute(
            update(users)
            .where(users.c.id == row.id)
            .values(totp_secret=secret, totp_enabled=False, totp_last_step=None)
        )
        audit.record(conn, actor, "user.totp.enroll", object_type="user", object_id=row.username)
        return str(row.username)

    name = cf.write(job)
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)
    return secret, uri


def confirm(cf: Counterfoil, username: str, code: str, *, actor: Actor = audit.SYSTEM) -> None:
    """Turn the enrolled second factor on, if ``code`` is right for its secret."""

    def job(conn: Connection) -> bool:
        row = _row(conn, username)
        if row.totp_enabled:
            raise Conflict(
                _("user {username} already has a second factor: disable it first"),
                username=row.username,
            )
        if not row.totp_secret:
            raise Conflict(
                _("user {username} has no second factor to confirm: enrol first"),
                username=row.username,
            )
        step = accepted_step(row.totp_secret, code, row.totp_last_step, datetime.now(UTC))
        if step is None:
            audit.record(
                conn,
                actor,
                "user.totp.confirm",
                "refused",
                object_type="user",
                object_id=row.username,
                details={"reason": "wrong code"},
            )
            return False
        conn.execute(
            update(users).where(users.c.id == row.id).values(totp_enabled=True, totp_last_step=step)
        )
        audit.record(conn, actor, "user.totp.confirm", object_type="user", object_id=row.username)
        return True

    if not cf.write(job):
        raise ValidationError("code", _("the code is not right: enter the current code"))


def disable(cf: Counterfoil, username: str, *, actor: Actor = audit.SYSTEM) -> None:
    """Turn the second factor off and forget its secret."""

    def job(conn: Connection) -> None:
        row = _row(conn, username)
        conn.execute(
            update(users)
            .where(users.c.id == row.id)
            .values(totp_secret=None, totp_enabled=False, totp_last_step=None)
        )
        audit.record(
            conn,
            actor,
            "user.totp.disable",
            object_type="user",
            object_id=row.username,
            details={"was_enabled": bool(row.totp_enabled)},
        )

    cf.write(job)
