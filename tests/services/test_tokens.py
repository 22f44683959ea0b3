"""Integration tokens: one merchant, named scopes, shown once and kept as a hash only;
refused when unknown, revoked or expired; made and revoked with an audit record.
SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.core.errors import Conflict, NotFound, Unauthorised, ValidationError
from counterfoil.services import tokens
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from counterfoil.store.audit import Actor
from counterfoil.store.schema import api_tokens, audit_log

ADMIN = Actor("user:root", "127.0.0.1")


def who_holds(cf: Counterfoil, token: str) -> tokens.TokenInfo:
    with cf.engine.connect() as conn:
        return tokens.authenticate_integration(conn, token)


def test_a_token_is_shown_once_and_kept_as_a_hash(cf: Counterfoil, shop: Any) -> None:
    token, info = tokens.add_token(
        cf, MERCHANT, "ERP feed", ["transactions.read", "reports.read"], actor=ADMIN
    )
    assert token.startswith("cfi_")
    assert len(token) > 40
    assert (info.name, info.merchant_no) == ("ERP feed", MERCHANT)
    assert info.scopes == frozenset({"transactions.read", "reports.read"})
    assert (info.expires_at, info.revoked_at) == (None, None)
    with cf.engine.connect() as conn:
        row = conn.execute(text("SELECT token_hash, scopes, created_by FROM api_tokens")).one()
    assert token not in row.token_hash
    assert len(row.token_hash) == 64
    assert row.scopes == "reports.read transactions.read"
    assert row.created_by == "user:root"
    assert who_holds(cf, token) == info


def test_scopes_must_be_known_and_the_merchant_must_exist(cf: Counterfoil, shop: Any) -> None:
    with pytest.raises(ValidationError, match=r"journal\.write is not a scope") as caught:
        tokens.add_token(cf, MERCHANT, "ERP", ["transactions.read", "journal.write"])
    assert caught.value.field == "scopes"
    for scope in tokens.SCOPES:
        assert scope in caught.value.render()
    with pytest.raises(ValidationError, match="at least one scope"):
        tokens.add_token(cf, MERCHANT, "ERP", [])
    with pytest.raises(ValidationError) as named:
        tokens.add_token(cf, MERCHANT, " ", ["audit.read"])
    assert named.value.field == "name"
    with pytest.raises(ValidationError) as days:
        tokens.add_token(cf, MERCHANT, "ERP", ["audit.read"], expires_days=0)
    assert days.value.field == "expires_days"
    with pytest.raises(NotFound, match=OTHER_MERCHANT):
        tokens.add_token(cf, OTHER_MERCHANT, "ERP", ["audit.read"])
    with cf.engine.connect() as conn:
        assert tokens.list_tokens(conn) == []


@pytest.mark.parametrize(
    "presented",
    ["", "cfi_", "cfi_not-a-token-that-was-ever-made", "cft_abc.def", "Bearer cfi_x"],
)
def test_an_unknown_token_is_refused(cf: Counterfoil, shop: Any, presented: str) -> None:
    tokens.add_token(cf, MERCHANT, "ERP", ["audit.read"])
    with pytest.raises(Unauthorised, match="not valid"):
        who_holds(cf, presented)


def test_a_revoked_token_is_refused_at_once(cf: Counterfoil, shop: Any) -> None:
    token, info = tokens.add_token(cf, MERCHANT, "ERP", ["statements.import"])
    revoked = tokens.revoke_token(cf, info.id, actor=ADMIN)
    assert revoked.revoked_at is not None
    assert revoked.status() == "revoked"
    with pytest.raises(Unauthorised):
        who_holds(cf, token)
    with pytest.raises(Conflict, match="already revoked"):
        tokens.revoke_token(cf, info.id)
    with pytest.raises(NotFound):
        tokens.revoke_token(cf, info.id + 100)


def test_a_token_expires_after_its_days(cf: Counterfoil, shop: Any) -> None:
    token, info = tokens.add_token(cf, MERCHANT, "ERP", ["statements.read"], expires_days=30)
    assert info.expires_at is not None
    assert timedelta(days=29) < info.expires_at - datetime.now(UTC) <= timedelta(days=30)
    assert who_holds(cf, token).id == info.id
    cf.write(
        lambda conn: conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == info.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    )
    with pytest.raises(Unauthorised):
        who_holds(cf, token)
    with cf.engine.connect() as conn:
        assert tokens.list_tokens(conn)[0].status() == "expired"


def test_tokens_are_listed_by_merchant_without_the_token(cf: Counterfoil, shop: Any) -> None:
    add_merchant(cf, OTHER_MERCHANT, "隔壁酒店")
    first, _info = tokens.add_token(cf, MERCHANT, "ERP", ["audit.read"])
    tokens.add_token(cf, OTHER_MERCHANT, "Hotel PMS", ["transactions.read"])
    with cf.engine.connect() as conn:
        everyone = tokens.list_tokens(conn)
        mine = tokens.list_tokens(conn, MERCHANT)
    assert [t.name for t in everyone] == ["ERP", "Hotel PMS"]
    assert [t.name for t in mine] == ["ERP"]
    document = mine[0].as_dict()
    assert document["scopes"] == ["audit.read"]
    assert document["status"] == "active"
    assert first not in str(document)


def test_making_and_revoking_are_audited_without_the_token(cf: Counterfoil, shop: Any) -> None:
    token, info = tokens.add_token(cf, MERCHANT, "ERP", ["audit.read"], actor=ADMIN)
    tokens.revoke_token(cf, info.id, actor=ADMIN)
    with cf.engine.connect() as conn:
        rows = conn.execute(
            select(
                audit_log.c.action,
                audit_log.c.actor,
                audit_log.c.object_id,
                audit_log.c.merchant_no,
                audit_log.c.details,
            )
            .where(audit_log.c.action.like("token.%"))
            .order_by(audit_log.c.seq)
        ).all()
    assert [(r.action, r.actor, r.object_id, r.merchant_no) for r in rows] == [
        ("token.add", "user:root", str(info.id), MERCHANT),
        ("token.revoke", "user:root", str(info.id), MERCHANT),
    ]
    assert all(token not in r.details for r in rows)
    assert '"audit.read"' in rows[0].details
