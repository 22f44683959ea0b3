"""``counterfoil reconcile``: reconcile a merchant's day (or one import) and print its
summary; ``counterfoil breaks``: list, export, match, unmatch and adopt; ``counterfoil
tolerance``: a source's matching tolerances. The operator at the command line acts as
the data's owner (``Principal.local``), for every merchant."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from counterfoil.cli.output import console, guarded, print_json, table
from counterfoil.core.errors import ValidationError
from counterfoil.core.money import format_amount
from counterfoil.i18n import _, translate
from counterfoil.reconcile import decisions, service, views
from counterfoil.reconcile.export import export_breaks
from counterfoil.reconcile.model import OUTCOME_LABELS, OUTCOMES
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
MerchantOpt = Annotated[str | None, typer.Option("--merchant", "-m", help="The merchant number")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept with the decision)")]
breaks = typer.Typer(
    help="Reconciliation breaks: list, export, match and unmatch by hand, adopt a lost record.",
    no_args_is_help=True,
)


def _who() -> Principal:
    return Principal.local(f"cli:{getpass.getuser()}")


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError("date", _("expected a date as YYYY-MM-DD")) from None


def _print_summary(found: dict[str, Any]) -> None:
    console.print(
        translate(
            _("run {run_id}: merchant {merchant_no}, {scope}"),
            run_id=found["run_id"],
            merchant_no=found["merchant_no"],
            scope=found["scope"],
        ),
        highlight=False,
    )
    rows = []
    for outcome in ("in", *OUTCOMES):
        cells: list[str] = [translate(OUTCOME_LABELS.get(outcome, _("in")))]
        for side in ("journal", "statement"):
            doc = found[side]["in"] if outcome == "in" else found[side]["outcomes"][outcome]
            cells += [str(doc["count"]), format_amount(doc["amount"])]
        rows.append(cells)
    table(_("Reconciliation"), ("outcome", "entries", "amount", "lines", "amount"), rows)
    console.print(
        translate(
            _("breaks: {new} new, {persisting} persisting, {resolved} resolved"),
            **found["breaks"],
        ),
        highlight=False,
    )


def reconcile(
    merchant: MerchantOpt = None,
    day: Annotated[
        str | None, typer.Option("--date", "-d", help="Business day, YYYY-MM-DD")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Only this source (unionpay_zm, wechat_trade, alipay_trade)"),
    ] = None,
    import_id: Annotated[int | None, typer.Option("--import", help="Reconcile one import")] = None,
    engine: Annotated[
        str,
        typer.Option("--engine", help="duckdb (embedded) or spark (needs counterfoil[spark])"),
    ] = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Reconcile a merchant's day (or one import) and print the summary that adds up."""
    if import_id is None and (not merchant or not day):
        raise ValidationError("date", _("give --merchant and --date, or --import"))
    with Counterfoil.open() as cf:
        found = service.reconcile(
            cf,
            _who(),
            merchant_no=merchant,
            day=_day(day),
            source=source,
            import_id=import_id,
            engine=engine,
        )
    if as_json:
        print_json(found)
        return
    _print_summary(found)


@breaks.command("list")
@guarded
def breaks_list(
    merchant: MerchantOpt = None,
    status: Annotated[
        str | None, typer.Option("--status", help="open (default), all, new, persisting, resolved")
    ] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="Only this outcome")] = None,
    run_id: Annotated[int | None, typer.Option("--run", help="Seen last in this run")] = None,
    sort: Annotated[str, typer.Option("--sort", help="time, amount, outcome or status")] = "time",
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    as_json: JsonOpt = False,
) -> None:
    """List breaks with their explanations."""
    who = _who()
    with Counterfoil.open() as cf:
        found = cf.read(
            lambda conn: views.list_breaks(
                conn,
                who,
                merchant,
                status=status,
                outcome=outcome,
                run_id=run_id,
                sort=sort,
                page=page,
            )
        )
    if as_json:
        print_json(found)
        return
    table(
        _("Breaks"),
        ("break", "status", "outcome", "explanation"),
        [(b["break_id"], b["status"], b["outcome"], b["explanation"]) for b in found["items"]],
    )


@breaks.command("export")
@guarded
def breaks_export(
    output: Annotated[Path, typer.Argument(help="The file to write (.csv or .xlsx)")],
    merchant: MerchantOpt = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome")] = None,
    locale: Annotated[str, typer.Option("--locale", help="en or zh_CN")] = "zh_CN",
) -> None:
    """Write the breaks to a CSV or XLSX file."""
    fmt = output.suffix.lower().lstrip(".")
    with Counterfoil.open() as cf:
        content = export_breaks(
            cf, _who(), fmt, merchant_no=merchant, locale=locale, status=status, outcome=outcome
        )
    output.write_bytes(content)
    console.print(translate(_("written: {path}"), path=str(output)), highlight=False)


def _decide(
    action: str, merchant: str | None, seq: int, line: str, reason: str, as_json: bool
) -> None:
    with Counterfoil.open() as cf:
        found = decisions.decide(
            cf, _who(), action, merchant_no=merchant, seq=seq, line=line, reason=reason
        )
    if as_json:
        print_json(found)
        return
    console.print(
        translate(
            _("{action}: entry {entry_id} and line {line}, recorded"),
            action=action,
            entry_id=found["entry_id"],
            line=found["line"],
        ),
        highlight=False,
    )


SeqOpt = Annotated[int, typer.Option("--seq", help="The journal entry's sequence number")]
LineOpt = Annotated[str, typer.Option("--line", help="The statement line, IMPORT:LINE")]


@breaks.command("match")
@guarded
def breaks_match(
    seq: SeqOpt,
    line: LineOpt,
    reason: ReasonOpt,
    merchant: MerchantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Match an entry and a statement line by hand (applies from the next run)."""
    _decide("match", merchant, seq, line, reason, as_json)


@breaks.command("unmatch")
@guarded
def breaks_unmatch(
    seq: SeqOpt,
    line: LineOpt,
    reason: ReasonOpt,
    merchant: MerchantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Keep an entry and a statement line from being matched (applies from the next run)."""
    _decide("unmatch", merchant, seq, line, reason, as_json)


@breaks.command("adopt")
@guarded
def breaks_adopt(line: LineOpt, reason: ReasonOpt, as_json: JsonOpt = False) -> None:
    """Adopt a line missing in the journal as a recovered journal entry."""
    with Counterfoil.open() as cf:
        found = decisions.adopt(cf, _who(), line, reason=reason)
    if as_json:
        print_json(found)
        return
    console.print(
        translate(
            _("line {line} recovered as entry {entry_id}"), line=line, entry_id=found["entry_id"]
        ),
        highlight=False,
    )


def tolerance(
    source: Annotated[str, typer.Argument(help="unionpay_zm, wechat_trade or alipay_trade")],
    merchant: MerchantOpt = None,
    amount: Annotated[int | None, typer.Option("--amount", help="Fen either way")] = None,
    time_window: Annotated[int | None, typer.Option("--time-window", help="Seconds")] = None,
    settlement_window: Annotated[
        int | None, typer.Option("--settlement-window", help="Seconds")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a source's matching tolerances for a merchant."""
    with Counterfoil.open() as cf:
        found = decisions.set_tolerance(
            cf,
            _who(),
            merchant_no=merchant,
            source=source,
            amount=amount,
            time_window=time_window,
            settlement_window=settlement_window,
        )
    if as_json:
        print_json(found)
        return
    console.print(str(found), highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("reconcile", help="Reconcile a merchant's day or one import against the journal.")(
        guarded(reconcile)
    )
    app.add_typer(breaks, name="breaks")
    app.command("tolerance", help="Set a source's reconciliation tolerances.")(guarded(tolerance))
