"""``counterfoil incidents``: lost-document incidents (record, list, show, report), and
``counterfoil alerts``: the reprint alerts. The operator at the command line acts as the
data's owner (``Principal.local``), for every merchant."""

from __future__ import annotations

import getpass
from datetime import date
from typing import Annotated

import typer

from counterfoil.cli.output import console, guarded, print_json, table
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _, current_locale, translate
from counterfoil.services import alerts as alert_svc
from counterfoil.services import incidents as svc
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
MerchantOpt = Annotated[str | None, typer.Option("--merchant", "-m", help="Only this merchant's")]
incidents = typer.Typer(
    help="Lost-document incidents: a lost stub, receipt, settlement list or payment slip.",
    no_args_is_help=True,
)


def _who() -> Principal:
    return Principal.local(f"cli:{getpass.getuser()}")


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, _("expected a date as YYYY-MM-DD")) from None


@incidents.command("add")
@guarded
def incidents_add(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")],
    kind: Annotated[str, typer.Option("--kind", help="What was lost: " + ", ".join(svc.KINDS))],
    found_at: Annotated[
        str,
        typer.Option(
            "--found-at", help="When it was found missing, ISO (no offset: merchant's time)"
        ),
    ],
    place: Annotated[str, typer.Option("--place", help="Where it was found missing")],
    people: Annotated[str, typer.Option("--people", help="Who was involved")] = "",
    entry: Annotated[
        list[str] | None,
        typer.Option("--entry", "-e", help="A transaction it concerns (repeat for more)"),
    ] = None,
    action: Annotated[str, typer.Option("--action", help="What was done so far")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Record a lost document."""
    with Counterfoil.open() as cf:
        found = svc.add_incident(
            cf,
            _who(),
            merchant=merchant,
            kind=kind,
            found_at=found_at,
            place=place,
            people=people,
            entries=entry or [],
            action=action,
        )
    if as_json:
        print_json(found)
        return
    console.print(
        translate(
            _("incident {incident_id} recorded for merchant {merchant_no}"),
            incident_id=found["id"],
            merchant_no=found["merchant_no"],
        ),
        highlight=False,
    )


@incidents.command("list")
@guarded
def incidents_list(
    merchant: MerchantOpt = None,
    status: Annotated[str | None, typer.Option("--status", help="open or closed")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="What was lost")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="Found from, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Found until, YYYY-MM-DD")] = None,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    as_json: JsonOpt = False,
) -> None:
    """List incidents, the most recently found first."""
    who = _who()
    with Counterfoil.open() as cf:
        found = cf.read(
            lambda conn: svc.list_incidents(
                conn,
                who,
                merchant,
                status,
                _day(date_from, "date_from"),
                _day(date_to, "date_to"),
                kind=kind,
                page=page,
            )
        )
    if as_json:
        print_json(found)
        return
    table(
        _("Incidents"),
        ("id", "merchant_no", "kind", "found_at", "place", "status", "transactions", "reprints"),
        [
            (
                x["id"],
                x["merchant_no"],
                x["kind"],
                x["found_at"],
                x["place"],
                x["status"],
                x["transactions"],
                x["reprints"],
            )
            for x in found["items"]
        ],
    )


@incidents.command("show")
@guarded
def incidents_show(
    incident_id: Annotated[int, typer.Argument(help="The incident's number")],
    as_json: JsonOpt = False,
) -> None:
    """One incident: what was lost, its transactions, what was done, its reprints."""
    who = _who()
    with Counterfoil.open() as cf:
        found = cf.read(lambda conn: svc.get_incident(conn, who, incident_id))
    if as_json:
        print_json(found)
        return
    locale = current_locale.get()
    for label, value in (
        (_("Incident"), found["id"]),
        (_("Merchant"), found["merchant_no"]),
        (_("What was lost"), found["kind"]),
        (_("Found missing"), found["found_at"]),
        (_("Where"), found["place"]),
        (_("Who was involved"), found["people"]),
        (_("Status"), found["status"]),
        (_("Closing note"), found["closing_note"] or ""),
    ):
        console.print(f"{translate(label, locale)}: {value}", highlight=False)
    table(
        _("Transactions"),
        ("entry_id", "type", "amount", "terminal_time", "status"),
        [
            (x["entry_id"], x["type"], x["amount"], x["terminal_time"], x["status"])
            for x in found["entries"]
        ],
    )
    table(
        _("What was done"),
        ("at", "kind", "actor", "note"),
        [(x["at"], x["kind"], x["actor"], x["note"]) for x in found["events"]],
    )
    table(
        _("Reprints"),
        ("printed_at", "entry_id", "copy", "print_no", "reason", "actor"),
        [
            (x["printed_at"], x["entry_id"], x["copy"], x["print_no"], x["reason"], x["actor"])
            for x in found["reprints"]
        ],
    )


@incidents.command("report")
@guarded
def incidents_report(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")],
    date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD")],
    as_json: JsonOpt = False,
) -> None:
    """Incidents of a period: by what was lost and by status, with their reprints, per month."""
    who = _who()
    first, last = _day(date_from, "date_from"), _day(date_to, "date_to")
    with Counterfoil.open() as cf:
        found = cf.read(lambda conn: svc.report(conn, who, merchant, first, last))
    if as_json:
        print_json(found)
        return
    months = [*found["months"], {"month": translate(_("Total")), **found}]
    table(
        translate(
            _("Incidents from {date_from} to {date_to}"), date_from=date_from, date_to=date_to
        ),
        ("month", *svc.KINDS, *svc.STATUSES, "transactions", "reprints"),
        [
            (
                m["month"],
                *(m["by_kind"][k] for k in svc.KINDS),
                *(m["by_status"][s] for s in svc.STATUSES),
                m["transactions"],
                m["reprints"],
            )
            for m in months
        ],
    )


@guarded
def alerts(
    merchant: MerchantOpt = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 30 days ago)")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: today)")
    ] = None,
    rule: Annotated[
        str | None, typer.Option("--rule", help="Only this rule: " + ", ".join(alert_svc.RULES))
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reprint alerts: repeated or late reprints, reprints of voided or refunded payments,
    people reprinting above the shop's norm, cardholder copies without evidence."""
    who = _who()
    first, last = _day(date_from, "date_from"), _day(date_to, "date_to")
    with Counterfoil.open() as cf:
        found = cf.read(lambda conn: alert_svc.alerts(conn, who, merchant, first, last, rule=rule))
    locale = current_locale.get()
    if as_json:
        print_json([a.as_dict(locale) for a in found])
        return
    table(
        _("Reprint alerts"),
        ("first_seen", "rule", "merchant_no", "entry_id", "actor", "facts"),
        [
            (
                a.first_seen.isoformat(timespec="seconds"),
                a.rule,
                a.merchant_no,
                a.entry_id or "",
                a.actor or "",
                a.describe(locale),
            )
            for a in found
        ],
    )
