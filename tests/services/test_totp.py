"""The second factor (RFC 6238): enrolled, confirmed with a right code, disabled; only for
admin and finance; every step audited without the secret or the code. SQLite and
PostgreSQL."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import select

from conftest import MERCHANT, TERMINAL
from counterfoil.core.errors import (
    Conflict,
    NotFound,
    SecondFactorRequired,
    Unauthorised,
    ValidationError,
)
from counterfoil.services import totp, users
from counterfoil.services.context import Counterfoil
from counterfoil.store.schema import audit_log
from counterfoil.store.schema import users as users_table

GOOD = "Ledger-proof-42"
MOMENT = datetime(2026, 11, 20, 6, 5, 9, tzinfo=UTC)


def stored(cf: Counterfoil, username: str) -> Any:
    with cf.engine.connect() as conn:
        return conn.execute(
            select(
                users_table.c.totp_secret,
                users_table.c.totp_enabled,
                users_table.c.totp_last_step,
            ).where(users_table.c.username == username)
        ).one()


def audited(cf: Counterfoil) -> list[tuple[str, str, str]]:
    with cf.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.action, audit_log.c.outcome, audit_log.c.details)
            .where(audit_log.c.action.like("user.totp.%"))
            .order_by(audit_log.c.seq)
        ).all()
    return [(r.action, r.outcome, r.details) for r in rows]


def wrong_code(secret: str) -> str:
    """Six digits that are none of the codes near now."""
    now = datetime.now(UTC)
    near = {pyotp.TOTP(secret).at(now + timedelta(seconds=30 * k)) for k in range(-2, 3)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def test_a_code_is_right_for_its_step_and_the_one_either_side_only() -> None:
    secret = pyotp.random_base32()
    step = pyotp.TOTP(secret).timecode(MOMENT)

    def code(seconds: int) -> str:
        return pyotp.TOTP(secret).at(MOMENT + timedelta(seconds=seconds))

    assert totp.accepted_step(secret, code(0), None, MOMENT) == step
    assert totp.accepted_step(secret, code(-30), None, MOMENT) == step - 1
    assert totp.accepted_step(secret, code(30), None, MOMENT) == step + 1
    assert totp.accepted_step(secret, code(-60), None, MOMENT) is None
    assert totp.accepted_step(secret, code(60), None, MOMENT) is None
    assert totp.accepted_step(secret, code(0), step, MOMENT) is None  # used already
    assert totp.accepted_step(secret, code(30), step, MOMENT) == step + 1
    spaced = code(0)[:3] + " " + code(0)[3:]  # as some apps show it
    assert totp.accepted_step(secret, spaced, None, MOMENT) == step
    for junk in ("", "12345", "1234567", "abcdef"):
        assert totp.accepted_step(secret, junk, None, MOMENT) is None


def test_enrolling_gives_a_secret_and_a_uri_but_asks_for_nothing_yet(
    cf: Counterfoil, shop: Any
) -> None:
    users.add_user(cf, "zhao", GOOD, "finance", [MERCHANT])
    secret, uri = totp.enroll(cf, "ZHAO")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert parsed.path == "/Counterfoil:zhao"
    query = parse_qs(parsed.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Counterfoil"]
    assert tuple(stored(cf, "zhao")) == (secret, False, None)
    assert users.authenticate(cf, "zhao", GOOD).totp_enabled is False  # no code asked for


def test_only_a_right_code_turns_it_on(cf: Counterfoil, shop: Any) -> None:
    users.add_user(cf, "zhao", GOOD, "finance", [MERCHANT])
    secret, _uri = totp.enroll(cf, "zhao")
    with pytest.raises(ValidationError, match="not right") as caught:
        totp.confirm(cf, "zhao", wrong_code(secret))
    assert caught.value.field == "code"
    assert stored(cf, "zhao").totp_enabled is False
    now = datetime.now(UTC)
    totp.confirm(cf, "zhao", pyotp.TOTP(secret).at(now))
    row = stored(cf, "zhao")
    assert row.totp_enabled is True
    assert row.totp_last_step >= pyotp.TOTP(secret).timecode(now)
    with pytest.raises(SecondFactorRequired):
        users.authenticate(cf, "zhao", GOOD)
    with pytest.raises(Conflict, match="already has a second factor"):
        totp.confirm(cf, "zhao", pyotp.TOTP(secret).now())
    with pytest.raises(Conflict, match="disable it first"):
        totp.enroll(cf, "zhao")


def test_the_code_that_confirmed_does_not_log_in(cf: Counterfoil, shop: Any) -> None:
    users.add_user(cf, "zhao", GOOD, "finance", [MERCHANT])
    secret, _uri = totp.enroll(cf, "zhao")
    code = pyotp.TOTP(secret).now()
    totp.confirm(cf, "zhao", code)
    with pytest.raises(Unauthorised):
        users.authenticate(cf, "zhao", GOOD, code=code)


@pytest.mark.parametrize("role", ["cashier", "supervisor", "auditor"])
def test_only_admin_and_finance_may_have_a_second_factor(
    cf: Counterfoil, shop: Any, role: str
) -> None:
    users.add_user(
        cf,
        "li",
        GOOD,
        role,
        [MERCHANT],
        terminals=[(MERCHANT, TERMINAL)] if role == "cashier" else None,
    )
    with pytest.raises(ValidationError, match="admin, finance") as caught:
        totp.enroll(cf, "li")
    assert caught.value.field == "role"
    assert tuple(stored(cf, "li")) == (None, False, None)


def test_an_admin_may_enrol_and_an_unknown_user_is_not_found(cf: Counterfoil, shop: Any) -> None:
    users.add_user(cf, "root", GOOD, "admin", [])
    secret, _uri = totp.enroll(cf, "root")
    totp.confirm(cf, "root", pyotp.TOTP(secret).now())
    assert stored(cf, "root").totp_enabled is True
    with pytest.raises(NotFound):
        totp.enroll(cf, "nobody")
    users.add_user(cf, "zhao", GOOD, "finance", [MERCHANT])
    with pytest.raises(Conflict, match="enrol first"):
        totp.confirm(cf, "zhao", "123456")


def test_disabling_forgets_the_secret_and_the_password_is_enough_again(
    cf: Counterfoil, shop: Any
) -> None:
    users.add_user(cf, "zhao", GOOD, "finance", [MERCHANT])
    secret, _uri = totp.enroll(cf, "zhao")
    totp.confirm(cf, "zhao", pyotp.TOTP(secret).now())
    totp.disable(cf, "zhao")
    assert tuple(stored(cf, "zhao")) == (None, False, None)
    assert users.authenticate(cf, "zhao", GOOD).totp_enabled is False


def test_every_step_is_audited_without_the_secret_or_the_code(cf: Counterfoil, shop: Any) -> None:
    users.add_user(cf, "zhao", GOOD, "finance", [MERCHANT])
    secret, uri = totp.enroll(cf, "zhao")
    wrong = wrong_code(secret)
    with pytest.raises(ValidationError):
        totp.confirm(cf, "zhao", wrong)
    code = pyotp.TOTP(secret).now()
    totp.confirm(cf, "zhao", code)
    totp.disable(cf, "zhao")
    records = audited(cf)
    assert [(action, outcome) for action, outcome, _details in records] == [
        ("user.totp.enroll", "success"),
        ("user.totp.confirm", "refused"),
        ("user.totp.confirm", "success"),
        ("user.totp.disable", "success"),
    ]
    text = " ".join(details for _action, _outcome, details in records)
    assert secret not in text
    assert uri not in text
    assert code not in text
