"""People: argon2 hashes only, a password policy, lock-out after five wrong passwords,
merchant scope, a cashier's terminals, the second factor at login, every attempt audited
without the password or the code. SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, text

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL
from counterfoil.core.errors import (
    Conflict,
    NotFound,
    SecondFactorRequired,
    Unauthorised,
    ValidationError,
)
from counterfoil.services import sessions, totp, users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from counterfoil.store.schema import audit_log

GOOD = "Ledger-proof-42"
TILL = [(MERCHANT, TERMINAL)]


def test_a_user_is_kept_with_an_argon2_hash_only(cf: Counterfoil, shop: Any) -> None:
    user = users.add_user(cf, "Wang.Li", GOOD, "cashier", [MERCHANT], terminals=TILL)
    assert (user.username, user.role, user.merchants) == ("wang.li", "cashier", (MERCHANT,))
    with cf.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
        logged = " ".join(conn.execute(select(audit_log.c.details)).scalars())
    assert stored.startswith("$argon2id$")
    assert GOOD not in stored
    assert GOOD not in logged


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("short-1", "12 to 128"),
        ("onlylettershere", "mixes"),
        ("123456789012345", "mixes"),
        ("wang.li-2026-xyz", "username"),
        ("password1234", "common"),
    ],
)
def test_weak_passwords_are_refused_saying_why(
    cf: Counterfoil, shop: Any, password: str, words: str
) -> None:
    with pytest.raises(ValidationError, match=words) as caught:
        users.add_user(cf, "wang.li", password, "cashier", [MERCHANT], terminals=TILL)
    assert password not in str(caught.value)


def test_roles_usernames_and_merchants_are_checked(cf: Counterfoil, shop: Any) -> None:
    with pytest.raises(ValidationError, match="one of"):
        users.add_user(cf, "li", GOOD, "boss", [MERCHANT])
    with pytest.raises(ValidationError, match="at least one merchant"):
        users.add_user(cf, "li", GOOD, "finance", [])
    with pytest.raises(NotFound):
        users.add_user(cf, "li", GOOD, "finance", ["999999999999999"])
    users.add_user(cf, "li", GOOD, "finance", [MERCHANT])
    with pytest.raises(Conflict):
        users.add_user(cf, "LI", GOOD, "finance", [MERCHANT])


def test_scope_is_the_merchants_listed_and_an_admin_of_none_sees_all(
    cf: Counterfoil, shop: Any
) -> None:
    add_merchant(cf, OTHER_MERCHANT, "隔壁酒店")
    cashier = users.add_user(cf, "cashier", GOOD, "cashier", [MERCHANT], terminals=TILL)
    admin = users.add_user(cf, "root", GOOD, "admin", [])
    assert cashier.can_see(MERCHANT)
    assert not cashier.can_see(OTHER_MERCHANT)
    assert admin.can_see(MERCHANT)
    assert admin.can_see(OTHER_MERCHANT)


def test_five_wrong_passwords_lock_the_account(cf: Counterfoil, shop: Any) -> None:
    users.add_user(cf, "wang", GOOD, "supervisor", [MERCHANT])
    assert users.authenticate(cf, "WANG", GOOD).username == "wang"
    for _attempt in range(users.MAX_FAILURES):
        with pytest.raises(Unauthorised):
            users.authenticate(cf, "wang", "wrong-password-1")
    with pytest.raises(Unauthorised) as caught:
        users.authenticate(cf, "wang", GOOD)  # right, but locked now
    assert "locked" in caught.value.render()
    users.set_password(cf, "wang", "Another-proof-43")  # an administrator resets it
    assert users.authenticate(cf, "wang", "Another-proof-43").username == "wang"


def test_refusals_do_not_say_whether_a_user_exists(cf: Counterfoil, shop: Any) -> None:
    users.add_user(cf, "wang", GOOD, "cashier", [MERCHANT], terminals=TILL)
    messages = set()
    for name, password in (("wang", "wrong-password-1"), ("nobody", GOOD)):
        with pytest.raises(Unauthorised) as caught:
            users.authenticate(cf, name, password)
        messages.add(caught.value.render())
    assert len(messages) == 1


def test_a_disabled_user_cannot_log_in_and_every_attempt_is_audited(
    cf: Counterfoil, shop: Any
) -> None:
    users.add_user(cf, "wang", GOOD, "cashier", [MERCHANT], terminals=TILL)
    users.set_active(cf, "wang", False)
    with pytest.raises(Unauthorised):
        users.authenticate(cf, "wang", GOOD, source="127.0.0.1")
    users.set_active(cf, "wang", True)
    users.authenticate(cf, "wang", GOOD, source="127.0.0.1")
    with cf.engine.connect() as conn:
        attempts = conn.execute(
            select(audit_log.c.outcome, audit_log.c.source)
            .where(audit_log.c.action == "auth.login")
            .order_by(audit_log.c.seq)
        ).all()
    assert [tuple(a) for a in attempts] == [("denied", "127.0.0.1"), ("success", "127.0.0.1")]


# --- a cashier's terminals ---------------------------------------------------------------


def test_a_cashier_works_at_their_terminals_and_sees_only_those(cf: Counterfoil, shop: Any) -> None:
    add_terminal(cf, MERCHANT, "TERM0002", "Counter 2")
    cashier = users.add_user(cf, "li", GOOD, "cashier", [MERCHANT], terminals=TILL)
    supervisor = users.add_user(cf, "wang", GOOD, "supervisor", [MERCHANT])
    assert cashier.terminals == ((MERCHANT, TERMINAL),)
    assert cashier.sees_terminal(MERCHANT, TERMINAL)
    assert not cashier.sees_terminal(MERCHANT, "TERM0002")
    assert supervisor.terminals == ()
    assert supervisor.sees_terminal(MERCHANT, "TERM0002")
    assert not supervisor.sees_terminal(OTHER_MERCHANT, TERMINAL)
    assert cashier.as_dict()["terminals"] == [{"merchant_no": MERCHANT, "terminal_id": TERMINAL}]


def test_a_cashier_needs_a_terminal_of_their_own_merchant(cf: Counterfoil, shop: Any) -> None:
    add_merchant(cf, OTHER_MERCHANT, "隔壁酒店")
    add_terminal(cf, OTHER_MERCHANT, "HOTEL001", "Front desk")
    with pytest.raises(ValidationError, match="at least one terminal") as caught:
        users.add_user(cf, "li", GOOD, "cashier", [MERCHANT])
    assert caught.value.field == "terminals"
    with pytest.raises(ValidationError, match="not one of this user's"):
        users.add_user(
            cf, "li", GOOD, "cashier", [MERCHANT], terminals=[(OTHER_MERCHANT, "HOTEL001")]
        )
    with pytest.raises(NotFound, match="TERM0009"):
        users.add_user(cf, "li", GOOD, "cashier", [MERCHANT], terminals=[(MERCHANT, "TERM0009")])
    with pytest.raises(ValidationError, match="only a cashier"):
        users.add_user(cf, "wang", GOOD, "supervisor", [MERCHANT], terminals=TILL)
    with cf.engine.connect() as conn:
        assert users.list_users(conn) == []  # nothing half-made


def test_an_administrator_moves_a_cashier_to_other_terminals(cf: Counterfoil, shop: Any) -> None:
    add_terminal(cf, MERCHANT, "TERM0002", "Counter 2")
    add_terminal(cf, MERCHANT, "TERM0003", "Counter 3")
    users.add_user(cf, "li", GOOD, "cashier", [MERCHANT], terminals=TILL)
    moved = users.set_terminals(cf, "li", [(MERCHANT, "TERM0003"), (MERCHANT, "TERM0002")])
    assert moved.terminals == ((MERCHANT, "TERM0002"), (MERCHANT, "TERM0003"))
    with pytest.raises(ValidationError, match="at least one terminal"):
        users.set_terminals(cf, "li", [])
    with cf.engine.connect() as conn:
        assert users.get_user(conn, "li").terminals == moved.terminals
        logged = conn.execute(
            select(audit_log.c.details).where(audit_log.c.action == "user.terminals")
        ).scalar_one()
    assert f"{MERCHANT}/TERM0002" in logged


# --- login with a second factor ---------------------------------------------------------


def with_second_factor(cf: Counterfoil, username: str = "zhao", role: str = "finance") -> str:
    """A user of ``role`` whose second factor is on; its secret."""
    users.add_user(cf, username, GOOD, role, [MERCHANT])
    secret, _uri = totp.enroll(cf, username)
    totp.confirm(cf, username, pyotp.TOTP(secret).at(datetime.now(UTC) - timedelta(seconds=30)))
    return secret


def wrong_code(secret: str) -> str:
    """Six digits that are none of the codes near now."""
    now = datetime.now(UTC)
    near = {pyotp.TOTP(secret).at(now + timedelta(seconds=30 * k)) for k in range(-2, 3)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def test_a_login_with_a_second_factor_needs_the_current_code(cf: Counterfoil, shop: Any) -> None:
    secret = with_second_factor(cf)
    with pytest.raises(SecondFactorRequired) as caught:
        users.authenticate(cf, "zhao", GOOD)
    assert caught.value.code == "second_factor_required"
    assert "authenticator app" in caught.value.render()
    code = pyotp.TOTP(secret).at(datetime.now(UTC))
    user = users.authenticate(cf, "zhao", GOOD, code=code)
    assert (user.username, user.totp_enabled) == ("zhao", True)
    assert user.as_dict()["totp_enabled"] is True
    with cf.engine.connect() as conn:
        logged = " ".join(conn.execute(select(audit_log.c.details)).scalars())
    assert secret not in logged
    assert code not in logged


def test_a_code_is_accepted_once_and_never_an_older_one(cf: Counterfoil, shop: Any) -> None:
    secret = with_second_factor(cf)
    now = datetime.now(UTC)
    code = pyotp.TOTP(secret).at(now)
    users.authenticate(cf, "zhao", GOOD, code=code)
    with pytest.raises(Unauthorised) as replayed:
        users.authenticate(cf, "zhao", GOOD, code=code)
    assert not isinstance(replayed.value, SecondFactorRequired)
    with pytest.raises(Unauthorised):  # the step before: still in the window, but older
        users.authenticate(
            cf, "zhao", GOOD, code=pyotp.TOTP(secret).at(now - timedelta(seconds=30))
        )


def test_a_wrong_code_counts_as_a_failed_login(cf: Counterfoil, shop: Any) -> None:
    secret = with_second_factor(cf)
    stale = pyotp.TOTP(secret).at(datetime.now(UTC) - timedelta(minutes=5))
    for wrong in (wrong_code(secret), stale, "12345", "abcdef", "1234567"):
        with pytest.raises(Unauthorised) as caught:
            users.authenticate(cf, "zhao", GOOD, code=wrong)
        assert caught.value.render() == (
            "the username or password is wrong, or the account is locked"
        )
    with pytest.raises(Unauthorised, match="locked"):  # five wrong codes lock it
        users.authenticate(cf, "zhao", GOOD, code=pyotp.TOTP(secret).now())
    with cf.engine.connect() as conn:
        details = conn.execute(
            select(audit_log.c.details)
            .where(audit_log.c.action == "auth.login", audit_log.c.outcome == "denied")
            .order_by(audit_log.c.seq)
        ).scalars()
        assert '"wrong":"code"' in next(iter(details))


def test_a_missing_code_is_not_a_failure_and_a_wrong_password_does_not_ask_for_it(
    cf: Counterfoil, shop: Any
) -> None:
    secret = with_second_factor(cf)
    for _attempt in range(users.MAX_FAILURES + 1):
        with pytest.raises(SecondFactorRequired):
            users.authenticate(cf, "zhao", GOOD)
    with pytest.raises(Unauthorised) as caught:
        users.authenticate(cf, "zhao", "wrong-password-1")
    assert not isinstance(caught.value, SecondFactorRequired)
    with pytest.raises(Unauthorised) as caught:  # a right code does not save a wrong password
        users.authenticate(cf, "zhao", "wrong-password-1", code=pyotp.TOTP(secret).now())
    assert not isinstance(caught.value, SecondFactorRequired)
    assert users.authenticate(cf, "zhao", GOOD, code=pyotp.TOTP(secret).now()).username == "zhao"


def test_a_session_opens_with_the_code_passed_through(cf: Counterfoil, shop: Any) -> None:
    secret = with_second_factor(cf, "root", "admin")
    with pytest.raises(SecondFactorRequired):
        sessions.log_in(cf, "root", GOOD, source="127.0.0.1")
    token, session = sessions.log_in(
        cf, "root", GOOD, source="127.0.0.1", code=pyotp.TOTP(secret).now()
    )
    assert session.user.username == "root"
    assert sessions.resume(cf, token).user.totp_enabled


def test_without_a_second_factor_a_code_is_not_asked_for(cf: Counterfoil, shop: Any) -> None:
    users.add_user(cf, "zhao", GOOD, "finance", [MERCHANT])
    assert not users.authenticate(cf, "zhao", GOOD).totp_enabled
    assert users.authenticate(cf, "zhao", GOOD, code="123456").username == "zhao"
