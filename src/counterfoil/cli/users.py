"""``counterfoil users``: people, their roles and merchants. Passwords are asked for
(hidden) or read from standard input with --password-stdin; never given as an argument,
where the shell's history would keep them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from counterfoil.cli.output import console, print_json, table
from counterfoil.i18n import _, translate
from counterfoil.services import users as svc
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
StdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input")
]
CLI = Actor("cli", "local")
users = typer.Typer(
    help="People who log in: roles and the merchants they may see.", no_args_is_help=True
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt(
        translate(_("Password")), hide_input=True, confirmation_prompt=True
    )
    return password


@users.command("add")
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
    name: Annotated[str, typer.Option(help="Name shown in the console")] = "",
    locale: Annotated[str, typer.Option(help="zh_CN or en")] = "zh_CN",
    password_stdin: StdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a user."""
    cf = Counterfoil.open()
    user = svc.add_user(
        cf,
        username,
        _password(password_stdin),
        role,
        merchant or [],
        display_name=name,
        locale=locale,
        actor=CLI,
    )
    if as_json:
        print_json(user.as_dict())
    else:
        console.print(
            translate(_("user {username} added as {role}"), username=user.username, role=user.role)
        )


@users.command("list")
def users_list(as_json: JsonOpt = False) -> None:
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        found = svc.list_users(conn)
    if as_json:
        print_json([u.as_dict() for u in found])
    else:
        table(
            _("Users"),
            ("username", "name", "role", "merchants", "active"),
            [
                (u.username, u.display_name, u.role, ", ".join(u.merchants) or "*", u.active)
                for u in found
            ],
        )


@users.command("show")
def users_show(username: str, as_json: JsonOpt = False) -> None:
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        user = svc.get_user(conn, username)
    if as_json:
        print_json(user.as_dict())
    else:
        table(_("User"), ("field", "value"), list(user.as_dict().items()))


@users.command("passwd")
def users_passwd(username: str, password_stdin: StdinOpt = False) -> None:
    """Set a user's password (and unlock the account)."""
    cf = Counterfoil.open()
    svc.set_password(cf, username, _password(password_stdin), actor=CLI)
    console.print(translate(_("password of {username} changed"), username=username))


@users.command("disable")
def users_disable(username: str) -> None:
    cf = Counterfoil.open()
    svc.set_active(cf, username, False, actor=CLI)
    console.print(translate(_("user {username} disabled"), username=username))


@users.command("enable")
def users_enable(username: str) -> None:
    cf = Counterfoil.open()
    svc.set_active(cf, username, True, actor=CLI)
    console.print(translate(_("user {username} enabled"), username=username))
