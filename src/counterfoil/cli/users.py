"""``counterfoil users``: people, their roles, merchants, a cashier's terminals and the
second factor. Passwords are asked for (hidden) or read from standard input with
--password-stdin; never given as an argument, where the shell's history would keep them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from counterfoil.cli.output import console, guarded, print_json, table
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _, translate
from counterfoil.services import totp as totp_svc
from counterfoil.services import users as svc
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
StdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input")
]
TerminalOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--terminal",
        "-t",
        help="A terminal a cashier works at: MERCHANT/TERMINAL, or TERMINAL when the user "
        "has one merchant (repeat for more)",
    ),
]
CLI = Actor("cli", "local")
users = typer.Typer(
    help="People who log in: roles and the merchants they may see.", no_args_is_help=True
)
totp = typer.Typer(
    help="The second factor (authenticator app codes) of admin and finance users.",
    no_args_is_help=True,
)
users.add_typer(totp, name="totp")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt(
        translate(_("Password")), hide_input=True, confirmation_prompt=True
    )
    return password


def _terminals(values: list[str], merchants: list[str]) -> list[tuple[str, str]]:
    """``MERCHANT/TERMINAL`` as given, or ``TERMINAL`` of the user's one merchant."""
    found: list[tuple[str, str]] = []
    for value in values:
        merchant_no, sep, terminal_id = value.strip().rpartition("/")
        if not sep:
            if len(merchants) != 1:
                raise ValidationError(
                    "terminal",
                    _("write {terminal} as MERCHANT/TERMINAL: the user has more than one merchant"),
                    terminal=value,
                )
            merchant_no = merchants[0]
        found.append((merchant_no, terminal_id))
    return found


@users.command("add")
@guarded
def users_add(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[str, typer.Option(help="cashier, supervisor, finance, auditor or admin")],
    merchant: Annotated[
        list[str] | None,
        typer.Option(
            "--merchant",
            "-m",
            help="A merchant this user may see (repeat for more; an admin "
            "with none administers all)",
        ),
    ] = None,
    terminal: TerminalOpt = None,
    name: Annotated[str, typer.Option(help="Name shown in the console")] = "",
    locale: Annotated[str, typer.Option(help="zh_CN or en")] = "zh_CN",
    password_stdin: StdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a user (a cashier with the terminals they work at)."""
    terminals = _terminals(terminal or [], merchant or [])
    with Counterfoil.open() as cf:
        user = svc.add_user(
            cf,
            username,
            _password(password_stdin),
            role,
            merchant or [],
            display_name=name,
            locale=locale,
            terminals=terminals,
            actor=CLI,
        )
    if as_json:
        print_json(user.as_dict())
    else:
        console.print(
            translate(_("user {username} added as {role}"), username=user.username, role=user.role)
        )


@users.command("list")
@guarded
def users_list(as_json: JsonOpt = False) -> None:
    with Counterfoil.open() as cf, cf.engine.connect() as conn:
        found = svc.list_users(conn)
    if as_json:
        print_json([u.as_dict() for u in found])
    else:
        table(
            _("Users"),
            ("username", "name", "role", "merchants", "terminals", "second factor", "active"),
            [
                (
                    u.username,
                    u.display_name,
                    u.role,
                    ", ".join(u.merchants) or "*",
                    ", ".join(f"{m}/{t}" for m, t in u.terminals),
                    u.totp_enabled,
                    u.active,
                )
                for u in found
            ],
        )


@users.command("show")
@guarded
def users_show(username: str, as_json: JsonOpt = False) -> None:
    with Counterfoil.open() as cf, cf.engine.connect() as conn:
        user = svc.get_user(conn, username)
    if as_json:
        print_json(user.as_dict())
    else:
        table(_("User"), ("field", "value"), list(user.as_dict().items()))


@users.command("terminals")
@guarded
def users_terminals(
    username: str,
    terminal: TerminalOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the terminals a cashier works at (replacing the ones before)."""
    with Counterfoil.open() as cf:
        with cf.engine.connect() as conn:
            merchants = list(svc.get_user(conn, username).merchants)
        user = svc.set_terminals(cf, username, _terminals(terminal or [], merchants), actor=CLI)
    if as_json:
        print_json(user.as_dict())
    else:
        console.print(
            translate(
                _("{username} works at {terminals}"),
                username=user.username,
                terminals=", ".join(f"{m}/{t}" for m, t in user.terminals),
            )
        )


@users.command("passwd")
@guarded
def users_passwd(username: str, password_stdin: StdinOpt = False) -> None:
    """Set a user's password (and unlock the account)."""
    with Counterfoil.open() as cf:
        svc.set_password(cf, username, _password(password_stdin), actor=CLI)
    console.print(translate(_("password of {username} changed"), username=username))


@users.command("disable")
@guarded
def users_disable(username: str) -> None:
    with Counterfoil.open() as cf:
        svc.set_active(cf, username, False, actor=CLI)
    console.print(translate(_("user {username} disabled"), username=username))


@users.command("enable")
@guarded
def users_enable(username: str) -> None:
    with Counterfoil.open() as cf:
        svc.set_active(cf, username, True, actor=CLI)
    console.print(translate(_("user {username} enabled"), username=username))


@totp.command("enable")
@guarded
def totp_enable(username: str, as_json: JsonOpt = False) -> None:
    """Make a second factor for a user and print its secret (shown this once only)."""
    with Counterfoil.open() as cf:
        secret, uri = totp_svc.enroll(cf, username, actor=CLI)
    if as_json:
        print_json({"username": username.lower(), "secret": secret, "uri": uri})
        return
    console.print(
        translate(
            _(
                "Add this to the authenticator app (shown this once only), then confirm with "
                "`counterfoil users totp confirm {username} CODE`:"
            ),
            username=username.lower(),
        )
    )
    console.print(secret, highlight=False)
    console.print(uri, highlight=False, soft_wrap=True)


@totp.command("confirm")
@guarded
def totp_confirm(username: str, code: str) -> None:
    """Turn the second factor on with the code the authenticator app shows now."""
    with Counterfoil.open() as cf:
        totp_svc.confirm(cf, username, code, actor=CLI)
    console.print(translate(_("second factor of {username} turned on"), username=username))


@totp.command("disable")
@guarded
def totp_disable(username: str) -> None:
    """Turn a user's second factor off (when the phone is lost, for instance)."""
    with Counterfoil.open() as cf:
        totp_svc.disable(cf, username, actor=CLI)
    console.print(translate(_("second factor of {username} turned off"), username=username))
