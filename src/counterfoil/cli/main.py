"""``counterfoil``: the commands. Each parses its options, calls one service, prints."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from counterfoil.cli import (
    admin,
    backup,
    batch,
    cases,
    documents,
    incidents,
    journal,
    payouts,
    reconcile,
    settlement,
    statements,
    tokens,
    users,
)
from counterfoil.cli.output import guarded
from counterfoil.i18n import current_locale, normalise_locale

app = typer.Typer(
    name="counterfoil",
    no_args_is_help=True,
    add_completion=False,
    help="Keeps, proves and reconciles point-of-sale records. Data lives in $COUNTERFOIL_HOME "
    "(default ~/.local/share/counterfoil); COUNTERFOIL_DATABASE_URL selects another "
    "database such as PostgreSQL.",
)


@app.callback()
def main(
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Language of messages: en or zh_CN (default: $LANG)"),
    ] = None,
) -> None:
    current_locale.set(normalise_locale(lang or os.environ.get("LANG")))


app.command("init", help="Create the data directory and the database schema.")(guarded(admin.init))
app.command("serve", help="Serve the API (and health endpoints) over HTTP.")(guarded(admin.serve))
app.command("demo", help="Load a month of realistic demo traffic for two merchants.")(
    guarded(admin.demo)
)
app.command("ingest", help="Record transactions from a JSON Lines file.")(guarded(journal.ingest))
app.command("verify", help="Verify journals: sequence, chain, checkpoints, signatures.")(
    guarded(journal.verify)
)
app.command("import", help="Import a statement file from an acquirer, wallet or bank.")(
    guarded(statements.import_statement)
)
app.command("receipt", help="Reprint a slip (merchant or cardholder copy), recorded.")(
    guarded(documents.receipt)
)
app.command("verify-receipt", help="Check a slip's verification code: genuine or not.")(
    guarded(documents.verify_receipt)
)
app.command(
    "alerts",
    help="Reprint alerts: repeated, late, of voided or refunded payments, above the norm.",
)(guarded(incidents.alerts))
app.add_typer(incidents.incidents, name="incidents")
app.add_typer(documents.certificate, name="certificate")
app.add_typer(statements.imports, name="imports")
app.add_typer(users.users, name="users")
app.add_typer(tokens.tokens, name="tokens")
app.add_typer(admin.merchants, name="merchants")
app.add_typer(admin.terminals, name="terminals")
app.add_typer(admin.fees, name="fees")
app.add_typer(journal.keys, name="keys")
app.add_typer(journal.checkpoint, name="checkpoint")
app.add_typer(journal.transactions, name="transactions")
for module in (settlement, batch, reconcile, cases, backup, payouts):
    module.register(app)


if __name__ == "__main__":
    app()
