"""People: users with a role, the merchants they may see, and how they prove who they are.

Passwords are kept only as argon2id hashes. A password must be at least 12 characters,
mix letters with digits or signs, and not contain the username. Five wrong passwords in
a row lock the account for 15 minutes; every attempt is audited (never the password),
and a refusal does not say whether the user exists.

Roles (DESIGN.md): cashier, supervisor, finance, auditor, admin. Each user is scoped to
the merchants listed for them; an admin listed for none administers all merchants (the
operator's administrator). ``can_see`` is the one check every face uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, select, update

from counterfoil.core.errors import Conflict, NotFound, Unauthorised, ValidationError
from counterfoil.i18n import LOCALES, _
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import user_merchants, users

ROLES = ("cashier", "supervisor", "finance", "auditor", "admin")
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
COMMON = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiop12",
        "admin1234567",
        "counterfoil1",
        "password123!",
        "1qaz2wsx3edc",
    }
)
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    locale: str
    active: bool
    merchants: tuple[str, ...]  # empty for an admin of all merchants

    def can_see(self, merchant_no: str) -> bool:
        if self.role == "admin" and not self.merchants:
            return True
        return merchant_no in self.merchants

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "locale": self.locale,
            "active": self.active,
            "merchants": list(self.merchants) or ["*"],
        }


def check_password(password: str, username: str) -> None:
    """Refuse a weak password, saying what a good one needs (never echoing it)."""
    if not 12 <= len(password) <= 128:
        raise ValidationError("password", _("expected a password of 12 to 128 characters"))
    kinds = sum(bool(re.search(p, password)) for p in (r"[A-Za-z]", r"\d", r"[^A-Za-z\d]"))
    if kinds < 2:
        raise ValidationError(
            "password", _("expected a password that mixes letters with digits or signs")
        )
    if username.lower() in password.lower() or password.lower() in COMMON:
        raise ValidationError(
            "password", _("expected a password that is not the username or a common password")
        )


def _user(conn: Connection, row: Any) -> User:
    merchants = tuple(
        conn.execute(
            select(user_merchants.c.merchant_no)
            .where(user_merchants.c.user_id == row.id)
            .order_by(user_merchants.c.merchant_no)
        ).scalars()
    )
    return User(row.id, row.username, row.display_name, row.role, row.locale, row.active, merchants)


def add_user(
    cf: Counterfoil,
    username: str,
    password: str,
    role: str,
    merchants: list[str],
    *,
    display_name: str = "",
    locale: str = "zh_CN",
    actor: Actor = audit.SYSTEM,
) -> User:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise ValidationError(
            "username",
            _("expected 2 to 64 lowercase letters, digits or ._- starting with a letter or digit"),
        )
    if role not in ROLES:
        raise ValidationError("role", _("expected one of {options}"), options=", ".join(ROLES))
    if locale not in LOCALES:
        raise ValidationError("locale", _("expected one of {options}"), options=", ".join(LOCALES))
    if not merchants and role != "admin":
        raise ValidationError("merchants", _("expected at least one merchant for this role"))
    check_password(password, username)
    digest = _hasher.hash(password)

    def job(conn: Connection) -> User:
        for merchant_no in merchants:
            get_merchant(conn, merchant_no)
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise Conflict(_("user {username} already exists"), username=username)
        user_id = conn.execute(
            users.insert()
            .values(
                username=username,
                display_name=(display_name or username)[:120],
                role=role,
                password_hash=digest,
                locale=locale,
                active=True,
                failed_logins=0,
                created_at=datetime.now(UTC),
            )
            .returning(users.c.id)
        ).scalar_one()
        if merchants:
            conn.execute(
                user_merchants.insert(),
                [{"user_id": user_id, "merchant_no": m} for m in sorted(set(merchants))],
            )
        audit.record(
            conn,
            actor,
            "user.add",
            object_type="user",
            object_id=username,
            details={"role": role, "merchants": merchants or ["*"]},
        )
        return _user(conn, conn.execute(select(users).where(users.c.id == user_id)).one())

    return cf.write(job)


def get_user(conn: Connection, username: str) -> User:
    row = conn.execute(select(users).where(users.c.username == username.lower())).first()
    if row is None:
        raise NotFound(_("user {username} is not known"), username=username)
    return _user(conn, row)


def list_users(conn: Connection) -> list[User]:
    return [_user(conn, row) for row in conn.execute(select(users).order_by(users.c.username))]


def authenticate(cf: Counterfoil, username: str, password: str, *, source: str = "local") -> User:
    """The user, if the password is right and the account open; else ``Unauthorised``."""
    refused = Unauthorised(_("the username or password is wrong, or the account is locked"))
    name = username.strip().lower()[:64]

    def job(conn: Connection) -> User | None:
        now = datetime.now(UTC)
        row = conn.execute(select(users).where(users.c.username == name)).first()
        who = Actor(name or "anonymous", source)
        locked = (
            row is not None and row.locked_until is not None and (_aware(row.locked_until) > now)
        )
        if row is None or not row.active or locked:
            audit.record(
                conn,
                who,
                "auth.login",
                "denied",
                object_type="user",
                object_id=name,
                details={"reason": "locked" if locked else "unknown or disabled"},
            )
            return None
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            failures = row.failed_logins + 1
            lock = now + LOCK_FOR if failures >= MAX_FAILURES else None
            conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(failed_logins=0 if lock else failures, locked_until=lock)
            )
            audit.record(
                conn,
                who,
                "auth.login",
                "denied",
                object_type="user",
                object_id=name,
                details={"failures": failures, "locked": bool(lock)},
            )
            return None
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
        audit.record(conn, who, "auth.login", object_type="user", object_id=name)
        return _user(conn, row)

    user = cf.write(job)
    if user is None:
        raise refused
    return user


def set_password(
    cf: Counterfoil, username: str, password: str, *, actor: Actor = audit.SYSTEM
) -> None:
    check_password(password, username.lower())
    digest = _hasher.hash(password)

    def job(conn: Connection) -> None:
        get_user(conn, username)
        conn.execute(
            update(users)
            .where(users.c.username == username.lower())
            .values(password_hash=digest, failed_logins=0, locked_until=None)
        )
        audit.record(conn, actor, "user.password", object_type="user", object_id=username)

    cf.write(job)


def set_active(
    cf: Counterfoil, username: str, active: bool, *, actor: Actor = audit.SYSTEM
) -> None:
    def job(conn: Connection) -> None:
        get_user(conn, username)
        conn.execute(
            update(users).where(users.c.username == username.lower()).values(active=active)
        )
        audit.record(
            conn,
            actor,
            "user.enable" if active else "user.disable",
            object_type="user",
            object_id=username,
        )

    cf.write(job)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
