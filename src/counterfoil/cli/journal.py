"""Commands on the journal: ingest, verify, keys, checkpoints, transaction look-ups."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from counterfoil.cli.output import console, err_console, print_json, progress, table
from counterfoil.core.errors import IntegrityFailure, ValidationError
from counterfoil.core.money import format_amount
from counterfoil.i18n import _, translate
from counterfoil.services import lookups, verification
from counterfoil.services.bulk import ingest_lines
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import list_merchants, public_keys, rotate_key
from counterfoil.store import audit
from counterfoil.store.audit import Actor

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
MerchantOpt = Annotated[str, typer.Option("--merchant", "-m", help="Merchant number (15 digits)")]

keys = typer.Typer(help="Merchants' signing keys.", no_args_is_help=True)
checkpoint = typer.Typer(
    help="Signed checkpoints of journals (Merkle roots).", no_args_is_help=True
)
transactions = typer.Typer(help="Look transactions up.", no_args_is_help=True)

CLI = Actor("cli", "local")


def ingest(
    file: Annotated[
        Path,
        typer.Argument(help="JSON Lines file, one transaction per line ('-' for standard input)"),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Record every line; report the rejected ones with their line number and reason."""
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        known = {m.merchant_no for m in list_merchants(conn)}
    if str(file) != "-" and not file.is_file():
        raise ValidationError("FILE", _("no such file: {path}"), path=str(file))
    handle = sys.stdin.buffer if str(file) == "-" else file.open("rb")
    total = None if str(file) == "-" else sum(1 for _line in file.open("rb"))
    # Worker processes repay their start-up (about a second) from a few thousand lines on.
    big = str(file) == "-" or file.stat().st_size > 2_000_000
    workers = min(2, os.cpu_count() or 1) if big else 0
    cf.start_writer()
    try:
        with progress(_("Recording transactions"), total) as tick:
            report = ingest_lines(cf.submit, cf.keys, handle, CLI, known, tick, workers=workers)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    for merchant_no in sorted(report.merchants):
        verification.make_checkpoint(cf, merchant_no, actor=CLI)
    cf.close()
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(
            translate(
                _(
                    "{lines} lines: {recorded} recorded, {duplicates} already "
                    "recorded, {rejected} rejected"
                ),
                lines=report.lines,
                recorded=report.recorded,
                duplicates=report.duplicates,
                rejected=len(report.rejected),
            )
        )
        for item in report.rejected[:200]:
            err_console.print(
                translate(_("line {line}: {reason}"), line=item["line"], reason=item["reason"]),
                highlight=False,
            )
        if len(report.rejected) > 200:
            err_console.print(
                translate(
                    _("… and {more} more rejected lines (use --json for all)"),
                    more=len(report.rejected) - 200,
                )
            )
    if report.rejected:
        raise typer.Exit(1)


def verify(
    merchant: Annotated[
        str | None, typer.Option("--merchant", "-m", help="Only this merchant")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Check every entry's signature too")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check sequence, chain, checkpoints and Merkle roots; exit non-zero at the first bad entry."""
    cf = Counterfoil.open()
    with progress(_("Verifying"), None) as tick:
        reports = verification.verify(
            cf, merchant, full=full, actor=CLI, progress=lambda _m, n: tick(n)
        )
    cf.close()
    if as_json:
        print_json({"ok": all(r.ok for r in reports), "journals": [r.as_dict() for r in reports]})
    else:
        for r in reports:
            if r.ok:
                console.print(
                    translate(
                        _(
                            "{merchant_no}: {entries} entries verified "
                            "({checkpoints} checkpoints, {signatures} signatures)"
                        ),
                        merchant_no=r.merchant_no,
                        entries=r.entries,
                        checkpoints=r.checkpoints,
                        signatures=r.signatures,
                    )
                )
            else:
                err_console.print(
                    f"[red]{r.merchant_no}: entry {r.bad_seq}: {r.problem}[/red]", highlight=False
                )
    bad = [r for r in reports if not r.ok]
    if bad and not as_json:
        raise typer.Exit(6)
    if bad:
        raise IntegrityFailure(_("{count} journal(s) do not verify"), count=len(bad))


@keys.command("export")
def keys_export(merchant: MerchantOpt, as_json: JsonOpt = False) -> None:
    """Print the merchant's public keys (hex, raw Ed25519), newest last."""
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        found = public_keys(conn, merchant)
    if not found:
        from counterfoil.core.errors import NotFound

        raise NotFound(_("merchant {merchant_no} is not known"), merchant_no=merchant)
    if as_json:
        print_json({"merchant_no": merchant, "keys": found})
    else:
        for key in found:
            console.print(f"{key['key_id']} ed25519 {key['public_key']}")


@keys.command("rotate")
def keys_rotate(merchant: MerchantOpt, as_json: JsonOpt = False) -> None:
    """Make a new signing key; old entries keep verifying with the old one."""
    cf = Counterfoil.open()
    key_id = rotate_key(cf, merchant, actor=CLI)
    if as_json:
        print_json({"merchant_no": merchant, "key_id": key_id})
    else:
        console.print(translate(_("new signing key {key_id}"), key_id=key_id))


@checkpoint.command("export")
def checkpoint_export(
    merchant: MerchantOpt,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file")] = None,
) -> None:
    """Sign the journal's Merkle root now and print it for a third party to keep."""
    cf = Counterfoil.open()
    document = verification.export_checkpoint(cf, merchant)
    if out:
        import orjson

        out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        console.print(
            translate(
                _("checkpoint of {size} entries written to {path}"),
                size=document["tree_size"],
                path=str(out),
            )
        )
    else:
        print_json(document)


@transactions.command("show")
def transactions_show(
    ref: Annotated[str, typer.Argument(help="Entry id, RRN, TERMINAL:BATCH:TRACE or order no.")],
    merchant: Annotated[str | None, typer.Option("--merchant", "-m")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One transaction and the entries that act on it."""
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        entry = lookups.find(conn, ref, merchant)
        entry["links"] = lookups.links(conn, entry["merchant_no"], entry["seq"])
    cf.write(
        lambda conn: audit.record(
            conn,
            CLI,
            "transaction.read",
            object_type="transaction",
            object_id=entry["entry_id"],
            merchant_no=entry["merchant_no"],
        )
    )
    if as_json:
        print_json(entry)
        return
    rows = [(k, v) for k, v in entry.items() if k not in ("links",)]
    table(_("Transaction"), (_("field"), _("value")), rows)
    for link in entry["links"]:
        console.print(f"  → {link['entry_id']} {link['type']} {format_amount(link['amount'])}")


@transactions.command("search")
def transactions_search(
    merchant: MerchantOpt,
    date_from: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD")] = None,
    amount: Annotated[int | None, typer.Option(help="Exact amount in fen")] = None,
    last4: Annotated[str | None, typer.Option(help="Card's last four digits")] = None,
    rrn: Annotated[str | None, typer.Option()] = None,
    order_no: Annotated[str | None, typer.Option("--order-no")] = None,
    type_: Annotated[str | None, typer.Option("--type")] = None,
    channel: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
    terminal: Annotated[str | None, typer.Option("--terminal")] = None,
    page: Annotated[int, typer.Option()] = 1,
    per_page: Annotated[int, typer.Option("--per-page")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Search a merchant's transactions (dates are the merchant's business days)."""

    def day(value: str | None, name: str) -> date | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError(name, _("expected a date as YYYY-MM-DD")) from None

    cf = Counterfoil.open()
    query = lookups.Search(
        merchant,
        day(date_from, "from"),
        day(date_to, "to"),
        amount,
        None,
        None,
        last4,
        rrn,
        order_no,
        type_,
        channel,
        status,
        terminal,
        page,
        per_page,
    )
    with cf.engine.connect() as conn:
        result = lookups.search(conn, query)
    if as_json:
        print_json(result)
        return
    table(
        _("Transactions"),
        ("entry", "time", "terminal", "type", "channel", "amount", "card", "status"),
        [
            (
                i["entry_id"],
                i["terminal_time"],
                i["terminal_id"],
                i["type"],
                i["channel"],
                format_amount(i["amount"]),
                i.get("card", ""),
                i["status"],
            )
            for i in result["items"]
        ],
    )
    console.print(
        translate(
            _("page {page}, {shown} of {total}"),
            page=result["page"],
            shown=len(result["items"]),
            total=result["total"],
        )
    )
