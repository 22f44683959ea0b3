"""``counterfoil users``: a cashier's terminals and the second factor from the command
line; errors end with a one-line reason and the exit code of their kind. SQLite and
PostgreSQL."""

import json
import time
from typing import Any

import pyotp
import pytest
from click.testing import Result

from clirunner import Run, invoker
from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL
from counterfoil.config import Settings
from counterfoil.core.errors import SecondFactorRequired
from counterfoil.services import users
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal

GOOD = "Ledger-proof-42"


@pytest.fixture
def run(settings: Settings) -> Run:
    """``counterfoil --lang en ARGS`` on the test's store; the password on standard input."""
    invoke = invoker(settings)

    def with_password(*args: str, lang: str = "en", password: str = GOOD) -> Result:
        return invoke(*args, lang=lang, input=password + "\n")

    return with_password


def add_cashier(run: Run, *options: str) -> Result:
    return run("users", "add", "li", "--role", "cashier", "--password-stdin", *options)


def test_a_cashier_is_added_with_a_terminal_of_their_one_merchant(
    run: Run, cf: Counterfoil, shop: Any
) -> None:
    result = add_cashier(run, "--merchant", MERCHANT, "--terminal", TERMINAL, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["terminals"] == [{"merchant_no": MERCHANT, "terminal_id": TERMINAL}]
    assert document["totp_enabled"] is False
    with cf.engine.connect() as conn:
        assert users.get_user(conn, "li").terminals == ((MERCHANT, TERMINAL),)


def test_with_two_merchants_a_terminal_names_its_merchant(
    run: Run, cf: Counterfoil, shop: Any
) -> None:
    add_merchant(cf, OTHER_MERCHANT, "隔壁酒店")
    add_terminal(cf, OTHER_MERCHANT, "HOTEL001", "Front desk")
    both = ("--merchant", MERCHANT, "--merchant", OTHER_MERCHANT)
    result = add_cashier(run, *both, "--terminal", TERMINAL)
    assert result.exit_code == 2
    assert "MERCHANT/TERMINAL" in result.stderr
    assert "Traceback" not in result.output
    result = add_cashier(run, *both, "--terminal", f"{OTHER_MERCHANT}/HOTEL001")
    assert result.exit_code == 0, result.output
    assert "user li added as cashier" in result.stdout


def test_a_cashier_without_a_terminal_is_refused_in_the_readers_language(
    run: Run, shop: Any
) -> None:
    result = add_cashier(run, "--merchant", MERCHANT)
    assert result.exit_code == 2
    assert "expected at least one terminal for a cashier" in result.stderr
    chinese = run(
        "users", "add", "li", "--role", "cashier", "-m", MERCHANT, "--password-stdin", lang="zh_CN"
    )
    assert chinese.exit_code == 2
    assert "收银员至少需要指定一台终端" in chinese.stderr


def test_an_administrator_moves_a_cashier_to_another_terminal(
    run: Run, cf: Counterfoil, shop: Any
) -> None:
    add_terminal(cf, MERCHANT, "TERM0002", "Counter 2")
    users.add_user(cf, "li", GOOD, "cashier", [MERCHANT], terminals=[(MERCHANT, TERMINAL)])
    result = run("users", "terminals", "li", "--terminal", "TERM0002")
    assert result.exit_code == 0, result.output
    assert f"li works at {MERCHANT}/TERM0002" in result.stdout
    with cf.engine.connect() as conn:
        assert users.get_user(conn, "li").terminals == ((MERCHANT, "TERM0002"),)
    unknown = run("users", "terminals", "li", "--terminal", "TERM0009")
    assert unknown.exit_code == 3
    assert "TERM0009" in unknown.stderr


def test_a_second_factor_is_enabled_confirmed_and_disabled(
    run: Run, cf: Counterfoil, shop: Any
) -> None:
    users.add_user(cf, "zhao", GOOD, "finance", [MERCHANT])
    enabled = run("users", "totp", "enable", "zhao")
    assert enabled.exit_code == 0, enabled.output
    lines = enabled.stdout.splitlines()
    uri = next(line for line in lines if line.startswith("otpauth://totp/"))
    secret = lines[lines.index(uri) - 1].strip()
    assert f"secret={secret}" in uri
    assert "counterfoil users totp confirm zhao CODE" in enabled.stdout

    near = {pyotp.TOTP(secret).at(time.time() + 30 * k) for k in range(-2, 3)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in near)
    refused = run("users", "totp", "confirm", "zhao", wrong)
    assert refused.exit_code == 2
    assert "the code is not right" in refused.stderr

    confirmed = run("users", "totp", "confirm", "zhao", pyotp.TOTP(secret).now())
    assert confirmed.exit_code == 0, confirmed.output
    assert "second factor of zhao turned on" in confirmed.stdout
    with pytest.raises(SecondFactorRequired):
        users.authenticate(cf, "zhao", GOOD)
    shown = json.loads(run("users", "show", "zhao", "--json").stdout)
    assert shown["totp_enabled"] is True

    disabled = run("users", "totp", "disable", "zhao")
    assert disabled.exit_code == 0, disabled.output
    assert users.authenticate(cf, "zhao", GOOD).username == "zhao"


def test_a_second_factor_for_a_cashier_or_nobody_is_refused(
    run: Run, cf: Counterfoil, shop: Any
) -> None:
    users.add_user(cf, "li", GOOD, "cashier", [MERCHANT], terminals=[(MERCHANT, TERMINAL)])
    cashier = run("users", "totp", "enable", "li", "--json")
    assert cashier.exit_code == 2
    assert "admin, finance" in cashier.stderr
    assert cashier.stdout == ""
    nobody = run("users", "totp", "disable", "nobody")
    assert nobody.exit_code == 3
    assert "user nobody is not known" in nobody.stderr
