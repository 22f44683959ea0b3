"""``counterfoil batch-close``: report a terminal's batch totals (批结算) and hear balanced
or not balanced, with the transactions that explain it; ``counterfoil batches list|show``
reads the closes back and prints a close's batch-totals slip. The operator at the command
line acts as the data's owner (``Principal.local``), for every merchant."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from counterfoil.cli.output import console, guarded, print_json, table
from counterfoil.core.errors import ValidationError
from counterfoil.core.money import format_amount, parse_amount
from counterfoil.i18n import _, current_locale, translate
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.settlement import batch as svc
from counterfoil.settlement.batch_slip import FORMATS

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
SlipOpt = Annotated[
    str | None,
    typer.Option("--slip", help="Also print the batch-totals slip: " + ", ".join(FORMATS)),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write the slip to this file (PDF needs one)")
]
batches = typer.Typer(help="Batch closes: what terminals reported and how it compared.")


def _who() -> Principal:
    return Principal.local(f"cli:{getpass.getuser()}")


def _read_report(source: str) -> Any:
    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationError("file", _("expected a JSON object: the batch close")) from None


def _say(message: str, **params: Any) -> None:
    console.print(translate(message, current_locale.get(), **params), highlight=False)


def _print_close(found: dict[str, Any]) -> None:
    answer = _("balanced") if found["balanced"] else _("not balanced")
    _say(
        _("batch close {close_id}: terminal {terminal_id} batch {batch_no}, attempt {attempt}"),
        close_id=found["id"],
        terminal_id=found["terminal_id"],
        batch_no=found["batch_no"],
        attempt=found["attempt"],
    )
    _say(_("answer: {answer}"), answer=translate(answer, current_locale.get()))
    for diff in found["differences"]:
        currency = diff["currency"]
        _say(
            _("{group} {side}: terminal {t_count} / {t_amount}, journal {j_count} / {j_amount}"),
            group=diff["group"],
            side=diff["side"],
            t_count=diff["terminal_count"],
            t_amount=format_amount(diff["terminal_amount"], currency),
            j_count=diff["journal_count"],
            j_amount=format_amount(diff["journal_amount"], currency),
        )
        for x in diff["explanations"]:
            amount = (
                x["journal_amount"] if x["journal_amount"] is not None else x["terminal_amount"]
            )
            console.print(
                f"  {x['reason']:<20} {x['trace_no'] or '-':<7} {x['entry_id'] or '-':<22} "
                f"{format_amount(amount, currency) if amount is not None else '?':>14} "
                f"{x['detail']}",
                highlight=False,
            )
        if not diff["explained"]:
            _say(_("  not explained by the journal: send the terminal's list of transactions"))


def _check_slip(fmt: str | None, out: Path | None, as_json: bool) -> None:
    """Before anything is done: a known format, and a file where stdout cannot take it."""
    if fmt is None:
        return
    if fmt not in FORMATS:
        raise ValidationError("slip", _("expected one of {options}"), options=", ".join(FORMATS))
    if out is None and (fmt.startswith("pdf") or as_json):
        raise ValidationError("out", _("a PDF slip, or a slip with --json, needs --out FILE"))


def _write_slip(cf: Counterfoil, close_id: int, fmt: str, out: Path | None, quiet: bool) -> None:
    data, _media, _name = svc.slip(cf, _who(), close_id, fmt)
    if out is None:
        sys.stdout.write(data.decode())
        return
    out.write_bytes(data)
    if not quiet:
        _say(_("slip written to {path}"), path=str(out))


def batch_close(
    report: Annotated[
        str | None,
        typer.Argument(help="A JSON file with the terminal's report ('-': standard input)"),
    ] = None,
    merchant: Annotated[
        str | None, typer.Option("--merchant", "-m", help="Merchant number")
    ] = None,
    terminal: Annotated[str | None, typer.Option("--terminal", "-t", help="Terminal id")] = None,
    batch_no: Annotated[str | None, typer.Option("--batch", "-b", help="Batch number")] = None,
    debit_count: Annotated[int, typer.Option("--debit-count", min=0)] = 0,
    debit_amount: Annotated[str, typer.Option("--debit-amount", help="In yuan: 825.00")] = "0",
    credit_count: Annotated[int, typer.Option("--credit-count", min=0)] = 0,
    credit_amount: Annotated[str, typer.Option("--credit-amount", help="In yuan: 30.00")] = "0",
    slip: SlipOpt = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a terminal's batch: its totals against the journal, balanced or not and why."""
    if report is not None:
        payload = _read_report(report)
    else:
        payload = {
            "merchant_no": merchant or "",
            "terminal_id": (terminal or "").upper(),
            "batch_no": batch_no or "",
            "debit_count": debit_count,
            "debit_amount": parse_amount(debit_amount, field="debit_amount"),
            "credit_count": credit_count,
            "credit_amount": parse_amount(credit_amount, field="credit_amount"),
        }
    _check_slip(slip, out, as_json)
    with Counterfoil.open() as cf:
        found = svc.close_batch(cf, _who(), payload)
        if as_json:
            print_json(found)
        else:
            _print_close(found)
        if slip is not None:
            _write_slip(cf, int(found["id"]), slip, out, as_json)


@batches.command("list")
@guarded
def batches_list(
    merchant: Annotated[
        str | None, typer.Option("--merchant", "-m", help="Only this merchant's")
    ] = None,
    terminal: Annotated[str | None, typer.Option("--terminal", "-t")] = None,
    batch_no: Annotated[str | None, typer.Option("--batch", "-b")] = None,
    balanced: Annotated[
        bool | None, typer.Option("--balanced/--not-balanced", help="Only of this answer")
    ] = None,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    as_json: JsonOpt = False,
) -> None:
    """List batch closes, the latest first."""
    who = _who()
    with Counterfoil.open() as cf:
        found = cf.read(
            lambda conn: svc.list_closes(
                conn,
                who,
                merchant,
                terminal_id=terminal,
                batch_no=batch_no,
                balanced=balanced,
                page=page,
            )
        )
    if as_json:
        print_json(found)
        return
    table(
        _("Batch closes"),
        ("id", "closed_at", "merchant_no", "terminal_id", "batch_no", "attempt", "answer"),
        [
            (
                x["id"],
                x["closed_at"],
                x["merchant_no"],
                x["terminal_id"],
                x["batch_no"],
                x["attempt"],
                x["answer"],
            )
            for x in found["items"]
        ],
    )


@batches.command("show")
@guarded
def batches_show(
    close_id: Annotated[int, typer.Argument(help="The close's number")],
    slip: SlipOpt = None,
    out: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one close: both sides' totals and what explains each difference."""
    who = _who()
    _check_slip(slip, out, as_json)
    with Counterfoil.open() as cf:
        found = cf.read(lambda conn: svc.get_close(conn, who, close_id))
        if as_json:
            print_json(found)
        else:
            _print_close(found)
        if slip is not None:
            _write_slip(cf, close_id, slip, out, as_json)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command(
        "batch-close",
        help="Close a terminal's batch: its totals against the journal (balanced or not, and why).",
    )(guarded(batch_close))
    app.add_typer(batches, name="batches")
