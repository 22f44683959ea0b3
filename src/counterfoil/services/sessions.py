"""Sessions of people who logged in: a random token in an HttpOnly cookie, a CSRF token.

Only the SHA-256 of a session token is stored, so a copy of the database logs nobody
in. A session ends after 30 minutes without use, 12 hours after login, at logout, or
when its user is disabled. Every change a person makes through a session must carry
the session's CSRF token (``X-CSRF-Token``), which a page from another site cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select, update

from counterfoil.core.errors import Forbidden, Unauthorised
from counterfoil.i18n import _
from counterfoil.services.context import Counterfoil
from counterfoil.services.users import User, authenticate, get_user
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import sessions, users

IDLE = timedelta(minutes=30)
LONGEST = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=60)  # last use is written at most once a minute


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user: User
    csrf_token: str
    expires_at: datetime

    @property
    def actor(self) -> Actor:
        return Actor(f"user:{self.user.username}")

    def check_csrf(self, presented: str | None) -> None:
        if not presented or not hmac.compare_digest(presented, self.csrf_token):
            raise Forbidden(_("this change needs the session's CSRF token (X-CSRF-Token)"))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def log_in(
    cf: Counterfoil, username: str, password: str, *, source: str, code: str | None = None
) -> tuple[str, Session]:
    """Check the password (and the second factor's code, if the user has one) and open a
    session; the token goes in the cookie, only once."""
    user = authenticate(cf, username, password, source=source, code=code)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)

    def job(conn: Connection) -> None:
        conn.execute(
            sessions.insert().values(
                id=_digest(token),
                user_id=user.id,
                csrf_token=csrf,
                source=source[:80],
                created_at=now,
                last_seen=now,
                expires_at=now + LONGEST,
            )
        )

    cf.write(job)
    return token, Session(_digest(token), user, csrf, now + LONGEST)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def resume(cf: Counterfoil, token: str | None) -> Session:
    """The open session of this cookie token, or ``Unauthorised``."""
    refused = Unauthorised(_("log in first: the session is missing or has ended"))
    if not token:
        raise refused
    now = datetime.now(UTC)
    with cf.engine.connect() as conn:
        row = conn.execute(
            select(sessions, users.c.username, users.c.active)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id == _digest(token))
        ).first()
        if (
            row is None
            or row.revoked_at is not None
            or not row.active
            or _aware(row.expires_at) <= now
            or _aware(row.last_seen) + IDLE <= now
        ):
            raise refused
        user = get_user(conn, row.username)
    if _aware(row.last_seen) + TOUCH_EVERY <= now:
        cf.write(
            lambda conn: conn.execute(
                update(sessions).where(sessions.c.id == row.id).values(last_seen=now)
            )
        )
    return Session(row.id, user, row.csrf_token, _aware(row.expires_at))


def log_out(cf: Counterfoil, session: Session) -> None:
    def job(conn: Connection) -> None:
        conn.execute(
            update(sessions).where(sessions.c.id == session.id).values(revoked_at=datetime.now(UTC))
        )
        audit.record(
            conn, session.actor, "auth.logout", object_type="user", object_id=session.user.username
        )

    cf.write(job)
