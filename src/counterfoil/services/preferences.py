"""A person's own settings: the language the console and the API answer them in."""

from __future__ import annotations

from sqlalchemy import Connection, update

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import LOCALES, _
from counterfoil.services.context import Counterfoil
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import users


def set_locale(cf: Counterfoil, username: str, locale: str, *, actor: Actor) -> None:
    if locale not in LOCALES:
        raise ValidationError("locale", _("expected one of {options}"), options=", ".join(LOCALES))

    def job(conn: Connection) -> None:
        conn.execute(update(users).where(users.c.username == username).values(locale=locale))
        audit.record(
            conn,
            actor,
            "user.locale",
            object_type="user",
            object_id=username,
            details={"locale": locale},
        )

    cf.write(job)
