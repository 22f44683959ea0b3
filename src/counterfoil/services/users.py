"""People: users with a role, the merchants they may see, and how they prove who they are.

Passwords are kept only as argon2id hashes. A password must be at least 12 characters,
mix letters with digits or signs, and not contain the username. Five wrong passwords in
a row lock the account for 15 minutes; every attempt is audited (never the password),
and a refusal does not say whether the user exists.

Roles (DESIGN.md): cashier, supervisor, finance, auditor, admin. Each user is scoped to
the merchants listed for them; an admin listed for none administers all merchants (the
operator's administrator). ``can_see`` is the one check every face uses; a cashier is
further confined to the terminals they work at (``sees_terminal``), at least one.

An admin or finance user may add a second factor (``services.totp``): then a login needs
the code from the authenticator app as well, each code accepted once. A right password
without the code raises ``SecondFactorRequired``, so that a login form can ask for it; a
wrong code counts as a failed login, like a wrong password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, and_, delete, or_, select, update

from counterfoil.core.errors import Conflict, NotFound, Unauthorised, ValidationError
from counterfoil.core.errors import SecondFactorRequired as SecondFactorRequired  # re-exported
from counterfoil.i18n import LOCALES, _
from counterfoil.services import access
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant
from counterfoil.services.totp import accepted_step
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import terminals as terminals_table
from counterfoil.store.schema import user_merchants, user_terminals, users

ROLES = access.ROLES
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
    totp_enabled: bool = False
    terminals: tuple[tuple[str, str], ...] = ()  # (merchant_no, terminal_id): a cashier's

    def can_see(self, merchant_no: str) -> bool:
        if self.role == "admin" and not self.merchants:
            return True
        return merchant_no in self.merchants

    def sees_terminal(self, merchant_no: str, terminal_id: str) -> bool:
        """A cashier sees only their terminals; anyone else every terminal they can see."""
        if self.role == "cashier":
            return (merchant_no, terminal_id) in self.terminals
        return self.can_see(merchant_no)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "locale": self.locale,
            "active": self.active,
            "merchants": list(self.merchants) or ["*"],
            "terminals": [{"merchant_no": m, "terminal_id": t} for m, t in self.terminals],
            "totp_enabled": self.totp_enabled,
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
    terminals = tuple(
        (r.merchant_no, r.terminal_id)
        for r in conn.execute(
            select(user_terminals.c.merchant_no, user_terminals.c.terminal_id)
            .where(user_terminals.c.user_id == row.id)
            .order_by(user_terminals.c.merchant_no, user_terminals.c.terminal_id)
        )
    )
    return User(
        row.id,
        row.username,
        row.display_name,
        row.role,
        row.locale,
        row.active,
        merchants,
        bool(row.totp_enabled),
        terminals,
    )


def _check_terminals(role: str, terminals: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A cashier needs at least one terminal; nobody else is confined to terminals."""
    wanted = sorted({(m.strip(), t.strip()) for m, t in terminals})
    if role == "cashier" and not wanted:
        raise ValidationError("terminals", _("expected at least one terminal for a cashier"))
    if role != "cashier" and wanted:
        raise ValidationError("terminals", _("only a cashier is confined to terminals"))
    return wanted


def _store_terminals(
    conn: Connection, user_id: int, merchants: list[str], wanted: list[tuple[str, str]]
) -> None:
    """Replace the user's terminals; each must exist at one of the user's merchants."""
    t = terminals_table.c
    for merchant_no, terminal_id in wanted:
        if merchant_no not in merchants:
            raise ValidationError(
                "terminals",
                _("terminal {terminal_id} is of merchant {merchant_no}, not one of this user's"),
                terminal_id=terminal_id,
                merchant_no=merchant_no,
            )
        if not conn.execute(
            select(t.terminal_id).where(
                and_(t.merchant_no == merchant_no, t.terminal_id == terminal_id)
            )
        ).first():
            raise NotFound(
                _("terminal {terminal_id} of merchant {merchant_no} is not known"),
                terminal_id=terminal_id,
                merchant_no=merchant_no,
            )
    conn.execute(delete(user_terminals).where(user_terminals.c.user_id == user_id))
    if wanted:
        conn.execute(
            user_terminals.insert(),
            [{"user_id": user_id, "merchant_no": m, "terminal_id": t} for m, t in wanted],
        )


def add_user(
    cf: Counterfoil,
    username: str,
    password: str,
    role: str,
    merchants: list[str],
    *,
    display_name: str = "",
    locale: str = "zh_CN",
    terminals: list[tuple[str, str]] | None = None,
    actor: Actor = audit.SYSTEM,
) -> User:
    """Add a user; a cashier with the terminals they work at (``(merchant_no, terminal_id)``)."""
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
    wanted = _check_terminals(role, terminals or [])
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
        _store_terminals(conn, user_id, merchants, wanted)
        details: dict[str, Any] = {"role": role, "merchants": merchants or ["*"]}
        if wanted:
            details["terminals"] = [f"{m}/{t}" for m, t in wanted]
        audit.record(
            conn, actor, "user.add", object_type="user", object_id=username, details=details
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


def set_terminals(
    cf: Counterfoil,
    username: str,
    terminals: list[tuple[str, str]],
    *,
    actor: Actor = audit.SYSTEM,
) -> User:
    """Set the terminals a cashier works at (replacing the ones before)."""

    def job(conn: Connection) -> User:
        user = get_user(conn, username)
        wanted = _check_terminals(user.role, terminals)
        _store_terminals(conn, user.id, list(user.merchants), wanted)
        audit.record(
            conn,
            actor,
            "user.terminals",
            object_type="user",
            object_id=user.username,
            details={"terminals": [f"{m}/{t}" for m, t in wanted]},
        )
        return get_user(conn, user.username)

    return cf.write(job)


def authenticate(
    cf: Counterfoil,
    username: str,
    password: str,
    *,
    source: str = "local",
    code: str | None = None,
) -> User:
    """The user, if the password (and, with a second factor, the code) is right and the
    account open; else ``Unauthorised`` (``SecondFactorRequired`` if only the code is
    missing)."""
    refused = Unauthorised(_("the username or password is wrong, or the account is locked"))
    name = username.strip().lower()[:64]

    def job(conn: Connection) -> User | Unauthorised:
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
            return refused
        try:
            _hasher.verify(row.password_hash, password)
            right = True
        except (VerificationError, InvalidHashError):
            right = False
        factor = "password"
        step: int | None = None
        if right and row.totp_enabled:
            if not code:
                audit.record(
                    conn,
                    who,
                    "auth.login",
                    "refused",
                    object_type="user",
                    object_id=name,
                    details={"reason": "second factor required"},
                )
                return SecondFactorRequired(_("enter the code from your authenticator app"))
            step = accepted_step(row.totp_secret or "", code, row.totp_last_step, now)
            # Taken only if no other login took this step first (a code is used once).
            right = step is not None and bool(
                conn.execute(
                    update(users)
                    .where(
                        users.c.id == row.id,
                        or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
                    )
                    .values(totp_last_step=step)
                ).rowcount
            )
            factor = "code"
        if not right:
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
                details={"failures": failures, "locked": bool(lock), "wrong": factor},
            )
            return refused
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if _hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = _hasher.hash(password)
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
        audit.record(
            conn,
            who,
            "auth.login",
            object_type="user",
            object_id=name,
            details={"second_factor": True} if step is not None else None,
        )
        return _user(conn, row)

    user = cf.write(job)
    if isinstance(user, Unauthorised):
        raise user
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
