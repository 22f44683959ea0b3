"""People: argon2 hashes only, a password policy, lock-out after five wrong passwords,
merchant scope, every attempt audited without the password. SQLite and PostgreSQL."""

from typing import Any

import pytest
from sqlalchemy import select, text

from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.core.errors import Conflict, NotFound, Unauthorised, ValidationError
from counterfoil.services import users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from counterfoil.store.schema import audit_log

GOOD = "Ledger-proof-42"


def test_a_user_is_kept_with_an_argon2_hash_only(cf: Counterfoil, shop: Any) -> None:
    user = users.add_user(cf, "Wang.Li", GOOD, "cashier", [MERCHANT])
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
        users.add_user(cf, "wang.li", password, "cashier", [MERCHANT])
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
    cashier = users.add_user(cf, "cashier", GOOD, "cashier", [MERCHANT])
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
    users.add_user(cf, "wang", GOOD, "cashier", [MERCHANT])
    messages = set()
    for name, password in (("wang", "wrong-password-1"), ("nobody", GOOD)):
        with pytest.raises(Unauthorised) as caught:
            users.authenticate(cf, name, password)
        messages.add(caught.value.render())
    assert len(messages) == 1


def test_a_disabled_user_cannot_log_in_and_every_attempt_is_audited(
    cf: Counterfoil, shop: Any
) -> None:
    users.add_user(cf, "wang", GOOD, "cashier", [MERCHANT])
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
