"""``counterfoil tokens``: API tokens of integrations, one merchant and named scopes each.
A token is printed once, when it is made; only its hash is kept."""

from __future__ import annotations

from typing import Annotated

import typer

from counterfoil.cli.output import console, guarded, print_json, table
from counterfoil.i18n import _, translate
from counterfoil.services import tokens as svc
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
CLI = Actor("cli", "local")
tokens = typer.Typer(
    help="API tokens of integrations (an ERP, a reconciliation feed).", no_args_is_help=True
)


@tokens.command("add")
@guarded
def tokens_add(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The token's merchant")],
    name: Annotated[str, typer.Option(help="What uses the token, for people to recognise")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help="What the token may do (repeat for more): " + ", ".join(svc.SCOPES),
        ),
    ],
    expires_days: Annotated[
        int | None, typer.Option(help="Days until the token expires (default: never)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a token and print it (shown this once only)."""
    with Counterfoil.open() as cf:
        token, info = svc.add_token(cf, merchant, name, scope, expires_days=expires_days, actor=CLI)
    if as_json:
        print_json({**info.as_dict(), "token": token})
        return
    console.print(
        translate(
            _("token {token_id} added for merchant {merchant_no}. It is shown this once only:"),
            token_id=info.id,
            merchant_no=info.merchant_no,
        )
    )
    console.print(token, highlight=False)


@tokens.command("list")
@guarded
def tokens_list(
    merchant: Annotated[
        str | None, typer.Option("--merchant", "-m", help="Only this merchant's")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    with Counterfoil.open() as cf, cf.engine.connect() as conn:
        found = svc.list_tokens(conn, merchant)
    if as_json:
        print_json([t.as_dict() for t in found])
        return
    table(
        _("API tokens"),
        ("id", "name", "merchant_no", "scopes", "created_at", "expires_at", "status"),
        [
            (
                t.id,
                t.name,
                t.merchant_no,
                " ".join(sorted(t.scopes)),
                t.created_at.isoformat(timespec="seconds"),
                t.expires_at.isoformat(timespec="seconds") if t.expires_at else "",
                t.status(),
            )
            for t in found
        ],
    )


@tokens.command("revoke")
@guarded
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see tokens list)")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: it lets nobody in from now on."""
    with Counterfoil.open() as cf:
        info = svc.revoke_token(cf, token_id, actor=CLI)
    if as_json:
        print_json(info.as_dict())
    else:
        console.print(translate(_("token {token_id} revoked"), token_id=token_id))
