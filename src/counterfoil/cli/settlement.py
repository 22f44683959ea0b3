"""``counterfoil settlement``: a day's settlement list (and closing a day, the cut-off,
cycle and holiday calendar); ``counterfoil report``: daily, weekly and monthly reports,
the tax summary, charts and exports. The operator at the command line acts as the data's
owner (``Principal.local``), for every merchant."""

from __future__ import annotations

import getpass
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from counterfoil.cli.output import console, guarded, print_json, table
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _, translate
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.settlement import charts, days, lists, reports

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
MerchantOpt = Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")]
settlement = typer.Typer(
    help="The settlement list (结算清单) of a business day; closing days; cut-off, cycle "
    "and holidays.",
    invoke_without_command=True,
)
settings_app = typer.Typer(help="A merchant's cut-off, zone, cycle and calendar.")
settlement.add_typer(settings_app, name="settings")


def _who() -> Principal:
    return Principal.local(f"cli:{getpass.getuser()}")


def _date(value: str, field: str = "date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, _("expected a date as YYYY-MM-DD")) from None


@settlement.callback()
@guarded
def settlement_list(
    ctx: typer.Context,
    merchant: Annotated[str | None, typer.Option("--merchant", "-m", help="The merchant")] = None,
    day: Annotated[
        str | None, typer.Option("--date", "-d", help="Business day, YYYY-MM-DD")
    ] = None,
    terminal: Annotated[str | None, typer.Option("--terminal", "-t", help="One terminal")] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="text58|text80|pdf|csv|xlsx|json")
    ] = "text80",
    locale: Annotated[str, typer.Option("--locale", help="zh_CN or en")] = "zh_CN",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the document here")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue the list of a day that is over (the first copy is the original, every later
    one a marked reprint); it goes to --output, or to standard output."""
    if ctx.invoked_subcommand is not None:
        return
    if not merchant or not day:
        raise ValidationError("merchant", _("expected --merchant and --date"))
    with Counterfoil.open() as cf:
        issued = lists.issue(cf, _who(), merchant, _date(day), terminal, fmt=fmt, locale=locale)
    if output is not None:
        output.write_bytes(issued.content)
    elif not as_json:
        sys.stdout.buffer.write(issued.content)
        sys.stdout.flush()
    if as_json:
        print_json(
            {
                "merchant_no": merchant,
                "business_day": day,
                "terminal_id": terminal,
                "format": fmt,
                "issue_no": issued.issue_no,
                "reprint": issued.issue_no > 0,
                "file_name": issued.file_name,
                "output": str(output) if output else None,
                "sha256": issued.sha256,
                "bytes": len(issued.content),
            }
        )


@settlement.command("close")
@guarded
def settlement_close(
    merchant: MerchantOpt,
    day: Annotated[str, typer.Option("--date", "-d", help="Business day, YYYY-MM-DD")],
    as_json: JsonOpt = False,
) -> None:
    """Close a business day: its list is fixed from now on; later arrivals are late items."""
    with Counterfoil.open() as cf:
        closed = lists.close_day(cf, _who(), merchant, _date(day))
    found = {
        "merchant_no": merchant,
        "business_day": day,
        "closed_at": closed.closed_at.isoformat(),
        "through_seq": closed.through_seq,
        "settles_on": closed.settles_on.isoformat(),
    }
    if as_json:
        print_json(found)
        return
    console.print(
        translate(
            _("business day {day} of merchant {merchant_no} closed; settles on {settles_on}"),
            day=day,
            merchant_no=merchant,
            settles_on=found["settles_on"],
        ),
        highlight=False,
    )


@settlement.command("issues")
@guarded
def settlement_issues(
    merchant: MerchantOpt,
    day: Annotated[str, typer.Option("--date", "-d", help="Business day, YYYY-MM-DD")],
    as_json: JsonOpt = False,
) -> None:
    """Every copy issued of a day's lists: the original and the reprints."""
    with Counterfoil.open() as cf:
        found = cf.read(lambda conn: lists.issues_of(conn, _who(), merchant, _date(day)))
    if as_json:
        print_json({"items": found})
        return
    table(
        _("Copies issued"),
        ("terminal_id", "issue_no", "format", "actor", "issued_at"),
        [
            (x["terminal_id"] or "", x["issue_no"], x["format"], x["actor"], x["issued_at"])
            for x in found
        ],
    )


@settings_app.command("show")
@guarded
def settings_show(merchant: MerchantOpt, as_json: JsonOpt = False) -> None:
    """The merchant's cut-off, zone, cycle and holiday calendar."""
    with Counterfoil.open() as cf:
        found = cf.read(lambda conn: days.settings_of(conn, merchant)).as_dict()
    if as_json:
        print_json(found)
        return
    table(_("Settlement settings"), list(found), [list(found.values())])


@settings_app.command("set")
@guarded
def settings_set(
    merchant: MerchantOpt,
    cutoff: Annotated[str | None, typer.Option("--cutoff", help="HH:MM, e.g. 23:00")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="e.g. Asia/Shanghai")] = None,
    cycle: Annotated[
        str | None, typer.Option("--cycle", help="d0, t1_calendar or t1_business")
    ] = None,
    calendar: Annotated[str | None, typer.Option("--calendar", help="Holiday calendar")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the cut-off, zone, cycle or calendar (days already closed keep theirs)."""
    with Counterfoil.open() as cf:
        found = days.set_settings(
            cf, _who(), merchant, cutoff=cutoff, timezone=timezone, cycle=cycle, calendar=calendar
        ).as_dict()
    if as_json:
        print_json(found)
        return
    table(_("Settlement settings"), list(found), [list(found.values())])


@settlement.command("holidays")
@guarded
def settlement_holidays(
    calendar: Annotated[str, typer.Option("--calendar", help="The calendar's name")] = "CN",
    load: Annotated[
        Path | None,
        typer.Option("--load", help="Replace it with this file: YYYY-MM-DD holiday|workday name"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a holiday calendar, or load it from a file."""
    with Counterfoil.open() as cf:
        if load is not None:
            days.load_calendar(cf, _who(), calendar, load.read_text(encoding="utf-8"))
        found = cf.read(lambda conn: days.calendar_days(conn, calendar))
    rows = [{"day": h.day.isoformat(), "kind": h.kind, "name": h.name} for h in found]
    if as_json:
        print_json({"calendar": calendar, "days": rows})
        return
    table(_("Holiday calendar"), ("day", "kind", "name"), [list(r.values()) for r in rows])


def report(
    merchant: MerchantOpt,
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD")] = None,
    period: Annotated[str, typer.Option("--period", help="daily, weekly or monthly")] = "daily",
    terminal: Annotated[str | None, typer.Option("--terminal", "-t", help="One terminal")] = None,
    tax: Annotated[bool, typer.Option("--tax", help="The month's summary for tax filing")] = False,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Export as CSV")] = None,
    xlsx_file: Annotated[Path | None, typer.Option("--xlsx", help="Export as XLSX")] = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Daily volume and fees: .png or .svg")
    ] = None,
    locale: Annotated[str, typer.Option("--locale", help="zh_CN or en")] = "zh_CN",
    as_json: JsonOpt = False,
) -> None:
    """Volume, fees and net per channel and terminal, by day, week or month."""
    if month:
        first, last = reports.month_range(month)
    elif date_from and date_to:
        first, last = _date(date_from, "date_from"), _date(date_to, "date_to")
    else:
        raise ValidationError("month", _("expected --month, or --from and --to"))
    if tax:
        period = "monthly"
    with Counterfoil.open() as cf:
        found = cf.read(
            lambda conn: reports.report(conn, _who(), merchant, first, last, period, terminal)
        )
        daily = found
        if chart is not None and period != "daily":
            daily = cf.read(
                lambda conn: reports.report(conn, _who(), merchant, first, last, "daily", terminal)
            )
    if csv_file is not None:
        csv_file.write_bytes(reports.to_csv(found, locale))
    if xlsx_file is not None:
        xlsx_file.write_bytes(reports.to_xlsx(found, locale))
    if chart is not None:
        if chart.suffix.lower() == ".svg":
            title = translate(_("Daily volume and fees"), locale)
            volume, fee = translate(_("Volume"), locale), translate(_("Fees"), locale)
            chart.write_text(charts.svg(daily["rows"], title, volume, fee), encoding="utf-8")
        else:
            chart.write_bytes(charts.png(daily["rows"]))
    document = reports.tax_summary(found) if tax else found
    if as_json:
        print_json(document)
        return
    if tax:
        table(_("Tax summary"), list(document)[:-1], [list(document.values())[:-1]])
        return
    table(
        _("Report"),
        ("period", "count", "volume", "fee", "net"),
        [
            (r["period"], r["count"], r["volume"], r["fee"], r["net"])
            for r in [*found["rows"], found["total"]]
        ],
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(settlement, name="settlement")
    app.command("report")(guarded(report))
