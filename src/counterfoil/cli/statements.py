"""Commands on statements: import a file, list and show imports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from counterfoil.cli.output import console, err_console, guarded, print_json, progress, table
from counterfoil.i18n import _, translate
from counterfoil.services import statements as svc
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
CLI = Actor("cli", "local")
imports = typer.Typer(help="Imported statement files.", no_args_is_help=True)
#: Rejected lines printed after an import (all of them with ``--json``).
SHOWN = 200


def import_statement(
    file: Annotated[Path, typer.Argument(help="The statement file (or a zip of them)")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="unionpay_zm, wechat_trade, wechat_fund, alipay_trade, "
            "alipay_account, camt053, camt054, mt940, csv_profile (default: detected)",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(help="Mapping profile for csv_profile: a shipped name or a TOML file"),
    ] = None,
    merchant: Annotated[
        str | None, typer.Option("--merchant", "-m", help="The merchant it belongs to")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a statement: every line kept, rejected rows reported, control totals checked."""
    options = {"profile": profile} if profile else {}
    cf = Counterfoil.open()
    try:
        with progress(_("Importing"), None) as tick:
            report = svc.import_file(
                cf, file, format=format, merchant_no=merchant, actor=CLI, progress=tick, **options
            )
    finally:
        cf.close()
    if as_json:
        print_json(report.as_dict())
        return
    if report.already_imported:
        console.print(
            translate(
                _("{file} was already imported as import {import_id}: nothing added"),
                file=report.file_name,
                import_id=report.import_id,
            )
        )
        return
    console.print(
        translate(
            _(
                "import {import_id}: {format}, {lines} lines "
                "({overlapping} also in earlier files), {rejected} rejected, {state}"
            ),
            import_id=report.import_id,
            format=report.format,
            lines=report.lines,
            overlapping=report.overlapping,
            rejected=report.rejected,
            state=translate(_("balanced") if report.balanced else _("NOT BALANCED")),
        )
    )
    for check in report.checks:
        if not check["ok"]:
            err_console.print(
                f"  {check['name']}: {check['expected']} ≠ {check['actual']}", highlight=False
            )
    for item in report.rejected_lines[:SHOWN]:
        err_console.print(
            "  " + translate(_("line {line}: {reason}"), line=item["line"], reason=item["reason"]),
            highlight=False,
        )
    if len(report.rejected_lines) > SHOWN:
        err_console.print(
            translate(
                _("… and {more} more rejected lines (use --json for all)"),
                more=len(report.rejected_lines) - SHOWN,
            )
        )


@imports.command("list")
@guarded
def imports_list(as_json: JsonOpt = False) -> None:
    cf = Counterfoil.open()
    try:
        found = cf.read(svc.list_imports)
    finally:
        cf.close()
    if as_json:
        print_json(found)
    else:
        table(
            _("Imports"),
            ("id", "file", "format", "lines", "rejected", "balanced"),
            [
                (i["id"], i["file_name"], i["format"], i["lines"], i["rejected"], i["balanced"])
                for i in found
            ],
        )


@imports.command("show")
@guarded
def imports_show(import_id: int, as_json: JsonOpt = False) -> None:
    cf = Counterfoil.open()
    try:
        document = cf.read(lambda conn: svc.show_import(conn, import_id))
    finally:
        cf.close()
    if as_json:
        print_json(document)
        return
    table(
        _("Import"),
        ("field", "value"),
        [(k, v) for k, v in document.items() if k not in ("checks", "rejected_lines", "info")],
    )
    table(
        _("Control totals"),
        ("check", "expected", "actual", "ok"),
        [(c["name"], c["expected"], c["actual"], c["ok"]) for c in document["checks"]],
    )
