"""``counterfoil tokens``: make an integration's token (printed once), list, revoke.
SQLite and PostgreSQL."""

import json
from typing import Any

import pytest

from clirunner import Run, invoker
from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.config import Settings
from counterfoil.core.errors import Unauthorised
from counterfoil.services import tokens
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant


@pytest.fixture
def run(settings: Settings) -> Run:
    """``counterfoil --lang en ARGS`` on the test's store."""
    return invoker(settings)


def test_a_token_is_printed_once_and_lets_its_integration_in(
    run: Run, cf: Counterfoil, shop: Any
) -> None:
    result = run(
        "tokens", "add", "--merchant", MERCHANT, "--name", "ERP feed",
        "--scope", "transactions.read", "--scope", "reports.read", "--expires-days", "90",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"token 1 added for merchant {MERCHANT}" in result.stdout
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("cfi_")
    with cf.engine.connect() as conn:
        info = tokens.authenticate_integration(conn, token)
    assert info.scopes == frozenset({"transactions.read", "reports.read"})
    assert info.expires_at is not None
    listed = run("tokens", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert token not in listed.stdout
    [document] = json.loads(listed.stdout)
    assert (document["name"], document["status"]) == ("ERP feed", "active")
    assert document["scopes"] == ["reports.read", "transactions.read"]


def test_json_gives_the_token_with_what_it_may_do(run: Run, cf: Counterfoil, shop: Any) -> None:
    result = run("tokens", "add", "-m", MERCHANT, "--name", "Recon", "-s", "audit.read", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["token"].startswith("cfi_")
    assert (document["merchant_no"], document["scopes"]) == (MERCHANT, ["audit.read"])
    assert document["expires_at"] is None


def test_tokens_are_listed_by_merchant(run: Run, cf: Counterfoil, shop: Any) -> None:
    add_merchant(cf, OTHER_MERCHANT, "隔壁酒店")
    tokens.add_token(cf, MERCHANT, "ERP", ["audit.read"])
    tokens.add_token(cf, OTHER_MERCHANT, "Hotel PMS", ["transactions.read"])
    mine = json.loads(run("tokens", "list", "--merchant", MERCHANT, "--json").stdout)
    assert [t["name"] for t in mine] == ["ERP"]
    shown = run("tokens", "list")
    assert shown.exit_code == 0, shown.output
    assert "ERP" in shown.stdout
    assert "Hotel PMS" in shown.stdout


def test_a_revoked_token_lets_nobody_in(run: Run, cf: Counterfoil, shop: Any) -> None:
    token, info = tokens.add_token(cf, MERCHANT, "ERP", ["statements.import"])
    result = run("tokens", "revoke", str(info.id))
    assert result.exit_code == 0, result.output
    assert f"token {info.id} revoked" in result.stdout
    with cf.engine.connect() as conn, pytest.raises(Unauthorised):
        tokens.authenticate_integration(conn, token)
    again = run("tokens", "revoke", str(info.id))
    assert again.exit_code == 4
    assert "already revoked" in again.stderr
    assert run("tokens", "revoke", "999").exit_code == 3


def test_an_unknown_scope_is_refused_listing_the_scopes(run: Run, shop: Any) -> None:
    result = run("tokens", "add", "-m", MERCHANT, "--name", "ERP", "-s", "journal.write")
    assert result.exit_code == 2
    assert "journal.write is not a scope" in result.stderr
    for scope in tokens.SCOPES:
        assert scope in result.stderr
    assert result.stdout == ""
