"""``counterfoil payouts``: reconcile a merchant's expected payouts (net settlement per
settlement date) against its bank credits, and show the outcome. The operator at the
command line acts as the data's owner (``Principal.local``)."""

from __future__ import annotations

import getpass
from datetime import date
from typing import Annotated, Any

import typer

from counterfoil.cli.output import console, guarded, print_json, table
from counterfoil.core.errors import ValidationError
from counterfoil.core.money import format_amount
from counterfoil.i18n import _, current_locale, translate
from counterfoil.reconcile import payouts as svc
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, _("expected a date as YYYY-MM-DD")) from None


def _money(amount: Any, currency: str) -> str:
    return "" if amount is None else format_amount(int(amount), currency)


@guarded
def payouts(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")],
    date_from: Annotated[
        str | None, typer.Option("--from", help="First settlement date, YYYY-MM-DD")
    ] = None,
    date_to: Annotated[
        str | None,
        typer.Option("--to", help="Last settlement date (default: the bank statements' last)"),
    ] = None,
    lag_days: Annotated[
        int, typer.Option("--lag-days", help="Days a credit may come after its settlement date")
    ] = 3,
    tolerance: Annotated[int, typer.Option("--tolerance", help="Fen either way")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Reconcile expected payouts against the bank's credits (camt.053/054, MT940, CSV)."""
    who = Principal.local(f"cli:{getpass.getuser()}")
    with Counterfoil.open() as cf:
        run = svc.run_payouts(
            cf,
            who,
            merchant_no=merchant,
            date_from=_day(date_from, "--from"),
            date_to=_day(date_to, "--to"),
            lag_days=lag_days,
            tolerance=tolerance,
        )
    if as_json:
        print_json(run)
        return
    locale = current_locale.get()
    rows = [
        (
            r["group_no"],
            translate(svc.OUTCOME_LABELS.get(r["outcome"], r["outcome"]), locale),
            r["settle_date"] or "",
            _money(r["expected_amount"], r["currency"]),
            r["booked"] or "",
            _money(r["credited_amount"], r["currency"]),
            f"{r['import_id']}:{r['line_no']}" if r["import_id"] else "",
        )
        for r in run["outcomes"]
    ]
    table(
        _("Payout reconciliation"),
        [_("group no."), _("payout outcome"), _("settles on"), _("expected payout"),
         _("booked on"), _("credited amount"), _("bank line")],
        rows,
    )  # fmt: skip
    for item in run["break_list"]:
        console.print(f"• {item['explanation']}", highlight=False)
    console.print(
        translate(
            _("payout run {run_id}: settlement dates {start} to {end}, statements up to {as_of}; "
              "breaks {new} new, {persisting} persisting, {resolved} resolved"),
            locale,
            run_id=run["run_id"], start=run["from"], end=run["to"], as_of=run["as_of"],
            **run["breaks"],
        ),
        highlight=False,
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``counterfoil payouts`` to ``app``."""
    app.command("payouts", help="Reconcile expected payouts against the bank's credits.")(payouts)
