"""Commands on documents: reprint a slip, verify a printed code."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from counterfoil.cli.output import console, print_json
from counterfoil.core.errors import ValidationError
from counterfoil.core.money import parse_amount
from counterfoil.i18n import _, translate
from counterfoil.services import receipts
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def receipt(
    ref: Annotated[str, typer.Argument(help="Entry id (MERCHANT-SEQ), RRN or order number")],
    reason: Annotated[
        str, typer.Option("--reason", help="lost, damaged, customer_request or audit")
    ],
    copy: Annotated[str, typer.Option("--copy", help="merchant or cardholder")] = "merchant",
    format: Annotated[
        str, typer.Option("--format", help="text58, text80, escpos, pdf or html")
    ] = "text80",
    last4: Annotated[
        str | None, typer.Option("--evidence-last4", help="Evidence: the card's last four")
    ] = None,
    amount: Annotated[
        str | None, typer.Option("--evidence-amount", help="Evidence: the amount, e.g. 4768.00")
    ] = None,
    day: Annotated[
        str | None, typer.Option("--evidence-date", help="Evidence: the day, YYYY-MM-DD")
    ] = None,
    order_no: Annotated[
        str | None, typer.Option("--evidence-order", help="Evidence: the order number")
    ] = None,
    incident: Annotated[
        int | None, typer.Option("--incident", help="The lost-document incident it belongs to")
    ] = None,
    merchant: Annotated[
        str | None, typer.Option("--merchant", "-m", help="The merchant (if REF is ambiguous)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the document here (default: stdout)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a copy of a slip again, marked 重打印 DUPLICATE with its number, and record it."""
    evidence = {
        "last4": last4,
        "amount": parse_amount(amount, field="evidence.amount") if amount else None,
        "date": day,
        "order_no": order_no,
    }
    who = Principal.local(f"cli:{getpass.getuser()}")
    with Counterfoil.open() as cf:
        printed = receipts.reprint(
            cf,
            who,
            ref,
            copy=copy,
            fmt=format,
            reason=reason,
            evidence=evidence,
            incident_id=incident,
            merchant=merchant,
        )
    if out is not None:
        out.write_bytes(printed.content)
    elif not as_json:
        if format in ("text58", "text80", "html"):
            sys.stdout.write(printed.content.decode())
        elif sys.stdout.isatty():
            raise ValidationError("out", _("binary formats need --out FILE"))
        else:
            sys.stdout.buffer.write(printed.content)
    if as_json:
        print_json(
            {
                "entry_id": printed.entry_id,
                "copy": printed.copy,
                "print_no": printed.print_no,
                "format": printed.format,
                "code": printed.code,
                "file": str(out) if out else None,
            }
        )
    elif out is not None:
        console.print(
            translate(
                _("reprint {number} of the {copy} copy of {entry} written to {file}"),
                number=printed.print_no,
                copy=printed.copy,
                entry=printed.entry_id,
                file=str(out),
            )
        )


def verify_receipt(
    code: Annotated[str, typer.Argument(help="The code from the slip's QR (or its URL)")],
    as_json: JsonOpt = False,
) -> None:
    """Say whether a slip's code is genuine, with the facts it states."""
    with Counterfoil.open() as cf:
        answer = cf.read(lambda conn: receipts.verify(conn, code))
    if as_json:
        print_json(answer)
    else:
        facts = answer["facts"]
        verdict = _("GENUINE") if answer["genuine"] else _("NOT GENUINE")
        console.print(f"{translate(verdict)}: {answer['reason']}", highlight=False)
        if facts:
            console.print(
                f"  {facts['entry_id']}  {facts['type']}  {facts['amount']} {facts['currency']}  "
                f"{facts['terminal_time']}  {answer.get('status') or ''}",
                highlight=False,
            )
    if not answer["genuine"]:
        raise typer.Exit(6)


certificate = typer.Typer(help="Proofs of payment (支付证明).", no_args_is_help=True)


@certificate.command("find")
def certificate_find(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant")],
    day: Annotated[str | None, typer.Option("--date", help="The day, YYYY-MM-DD")] = None,
    amount: Annotated[str | None, typer.Option("--amount", help="The amount, e.g. 4768.00")] = None,
    last4: Annotated[str | None, typer.Option("--last4", help="The card's last four")] = None,
    order_no: Annotated[str | None, typer.Option("--order", help="The order number")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the payment a customer describes (day + amount + last four, or order number)."""
    from datetime import date

    from counterfoil.services import certificates

    who = Principal.local(f"cli:{getpass.getuser()}")
    when = date.fromisoformat(day) if day else None
    fen = parse_amount(amount, field="amount") if amount else None
    with Counterfoil.open() as cf:
        items = cf.read(
            lambda conn: certificates.find_payments(
                conn, who, merchant, day=when, amount=fen, last4=last4, order_no=order_no
            )
        )
    if as_json:
        print_json({"items": items})
        return
    for item in items:
        console.print(
            f"{item['entry_id']}  {item['terminal_time']}  {item['type']}  {item['amount']}  "
            f"{item.get('rrn') or item.get('order_no') or ''}  {item['status']}",
            highlight=False,
        )
    if not items:
        console.print(translate(_("No transactions match.")))


@certificate.command("issue")
def certificate_issue(
    ref: Annotated[str, typer.Argument(help="Entry id (MERCHANT-SEQ), RRN or order number")],
    out: Annotated[Path, typer.Option("--out", help="Write the certificate here")],
    format: Annotated[str, typer.Option("--format", help="pdf or html")] = "pdf",
    lang: Annotated[str, typer.Option("--language", help="zh_CN or en")] = "zh_CN",
    incident: Annotated[
        int | None, typer.Option("--incident", help="The lost-document incident it belongs to")
    ] = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Print the code as {base}/v/{code}")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Issue a proof of payment with a serial number and its own verification code."""
    from counterfoil.services import certificates

    who = Principal.local(f"cli:{getpass.getuser()}")
    with Counterfoil.open() as cf:
        issued = certificates.issue(
            cf, who, ref, fmt=format, locale=lang, incident_id=incident, base_url=base_url
        )
    out.write_bytes(issued.content)
    if as_json:
        print_json(
            {
                "serial": issued.serial,
                "entry_id": issued.entry_id,
                "code": issued.code,
                "file": str(out),
            }
        )
    else:
        console.print(
            translate(
                _("proof of payment {serial} for {entry} written to {file}"),
                serial=issued.serial,
                entry=issued.entry_id,
                file=str(out),
            )
        )
