"""Commands that set Counterfoil up: init, serve, demo, merchants, terminals, fees."""

from __future__ import annotations

import gc
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from counterfoil.cli.output import console, print_json, progress, table
from counterfoil.core.errors import ValidationError
from counterfoil.core.fees import FeeRule, format_rate, parse_rate
from counterfoil.core.money import format_amount, parse_amount
from counterfoil.i18n import _, translate
from counterfoil.services import merchants as svc
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
CLI = Actor("cli", "local")
#: Seconds a thread holds the GIL before another that asks for it gets it, in a server
#: (Python's default is 0.005): see ``serve``.
SWITCH_INTERVAL = 0.0005

merchants = typer.Typer(help="Merchants (商户).", no_args_is_help=True)
terminals = typer.Typer(help="Terminals (终端) and their API tokens.", no_args_is_help=True)
fees = typer.Typer(help="Fee schedules (费率) per merchant and channel.", no_args_is_help=True)


def init(as_json: JsonOpt = False) -> None:
    """Create the data directory and bring the database schema up to date."""
    cf = Counterfoil.open()
    document = {
        "home": str(cf.settings.home),
        "database": cf.engine.url.render_as_string(hide_password=True),
    }
    cf.close()
    if as_json:
        print_json(document)
    else:
        console.print(translate(_("ready: data in {home}, database {database}"), **document))


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes that validate batches and sign (0: none)",
            envvar="COUNTERFOIL_WORKERS",
        ),
    ] = min(2, os.cpu_count() or 1),
) -> None:
    """Serve the API; open /docs for its documentation."""
    import uvicorn

    from counterfoil.api.app import create_app
    from counterfoil.backup.schedule import start_schedule
    from counterfoil.observe.logs import setup_logging

    cf = Counterfoil.open()
    console.print(
        translate(
            _("Counterfoil on http://{host}:{port}  (API docs: /docs, health: /health)"),
            host=host,
            port=port,
        )
    )
    setup_logging()  # JSON lines on standard error, card numbers masked
    # The writer signs a small group itself, and each signature hands the GIL back for
    # ~20 us: with Python's 5 ms switch interval it then waits up to 5 ms behind the event
    # loop for each one (16 signatures beside a busy thread: 70 ms; with 0.5 ms, 9 ms).
    sys.setswitchinterval(SWITCH_INTERVAL)
    schedule = start_schedule(cf)  # COUNTERFOIL_BACKUP_EVERY: backups while serving
    app = create_app(cf, workers=workers, on_close=schedule.stop if schedule else None)
    # What the imports and the app made lives as long as the process: moved out of the
    # collector's reach, it is not walked again by every full collection, each of which
    # held the event loop for tens of milliseconds (p99 of single transactions at 16
    # clients: 87-100 ms in some runs).
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def demo(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same data")] = 7,
    days: Annotated[int, typer.Option(help="Days of traffic, ending yesterday")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Two merchants, three terminals each, a month of realistic traffic."""
    from counterfoil.demo.load import demo_users, load_demo

    cf = Counterfoil.open()
    with progress(_("Loading the demo"), None) as tick:
        result = load_demo(cf, seed=seed, days=days, progress=lambda done, _total: tick(done))
    people = demo_users(cf, result["merchants"])
    logins = _remember_logins(cf, result.get("tokens", {}), people)
    from counterfoil.demo.story import tell_story

    story = tell_story(cf, result)
    cf.close()
    result["logins_file"] = str(logins)
    result["story"] = story
    if as_json:
        print_json(result)
    else:
        console.print(
            translate(
                _("demo loaded: {recorded} transactions for {merchants} merchants"),
                recorded=result["recorded"],
                merchants=len(result["merchants"]),
            )
        )
        console.print(
            translate(
                _(
                    "demo story: {batches} batch closes ({unbalanced} not balanced), "
                    "{days} days closed, {runs} reconciliations of {lines} statement lines"
                ),
                batches=story["batch_closes"],
                unbalanced=story["unbalanced"],
                days=story["days_closed"],
                runs=story["reconciliations"],
                lines=story["statement_lines"],
            )
        )


def _remember_logins(cf: Counterfoil, tokens: dict[str, str], people: dict[str, str]) -> Path:
    """Keep the demo's logins in a 0600 file in the data directory, for `make run` to show.

    Terminal tokens are shown once when made; a demo is only useful if they can be
    shown again, so for the demo alone they are written down here.
    """
    from counterfoil.demo.load import DEMO_PASSWORD

    path = cf.settings.home / "demo-logins.txt"
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip().startswith("terminal "):
                parts = line.split()
                known[parts[1]] = parts[-1]
    known.update(tokens)
    lines = [
        translate(_("Demo logins (password for every user: {password})"), password=DEMO_PASSWORD),
        "",
    ]
    lines += [f"  user     {name:<12} {role}" for name, role in people.items()]
    lines += ["", translate(_("Terminal API tokens (Authorization: Bearer <token>)")), ""]
    lines += [f"  terminal {terminal:<12} {token}" for terminal, token in sorted(known.items())]
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


@merchants.command("add")
def merchants_add(
    merchant_no: Annotated[str, typer.Argument(help="15-digit merchant number")],
    name: Annotated[str, typer.Option(help="Merchant's name")],
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "Asia/Shanghai",
    as_json: JsonOpt = False,
) -> None:
    """Add a merchant: makes its signing key and its journal's genesis entry."""
    cf = Counterfoil.open()
    merchant = svc.add_merchant(cf, merchant_no, name, timezone, actor=CLI)
    if as_json:
        print_json(merchant.as_dict())
    else:
        console.print(translate(_("merchant {merchant_no} added"), merchant_no=merchant_no))


@merchants.command("list")
def merchants_list(as_json: JsonOpt = False) -> None:
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        found = svc.list_merchants(conn)
    if as_json:
        print_json([m.as_dict() for m in found])
    else:
        table(
            _("Merchants"),
            ("merchant_no", "name", "timezone"),
            [(m.merchant_no, m.name, m.timezone) for m in found],
        )


@merchants.command("show")
def merchants_show(merchant_no: str, as_json: JsonOpt = False) -> None:
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        merchant = svc.get_merchant(conn, merchant_no)
        keys = svc.public_keys(conn, merchant_no)
        terms = svc.list_terminals(conn, merchant_no)
        schedule = svc.fee_schedule(conn, merchant_no)
    document = {
        **merchant.as_dict(),
        "keys": keys,
        "terminals": terms,
        "fees": [_rule(r) for r in schedule],
    }
    if as_json:
        print_json(document)
        return
    table(
        _("Merchant"),
        ("field", "value"),
        [
            ("merchant_no", merchant.merchant_no),
            ("name", merchant.name),
            ("timezone", merchant.timezone),
            *merchant.settings.items(),
            ("terminals", ", ".join(t["terminal_id"] for t in terms)),
            ("signing key", keys[-1]["key_id"] if keys else ""),
        ],
    )


@terminals.command("add")
def terminals_add(
    merchant_no: Annotated[str, typer.Argument(help="15-digit merchant number")],
    terminal_id: Annotated[str, typer.Argument(help="8-character terminal id")],
    name: Annotated[str, typer.Option(help="A name people recognise")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Add a terminal and print its API token (shown once only)."""
    cf = Counterfoil.open()
    terminal, token = svc.add_terminal(cf, merchant_no, terminal_id, name, actor=CLI)
    if as_json:
        print_json({**terminal, "token": token})
    else:
        console.print(
            translate(
                _("terminal {terminal_id} added. Its API token, shown this once only:"),
                terminal_id=terminal_id,
            )
        )
        console.print(token, highlight=False)


@terminals.command("list")
def terminals_list(
    merchant_no: Annotated[str | None, typer.Argument(help="Only this merchant")] = None,
    as_json: JsonOpt = False,
) -> None:
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        found = svc.list_terminals(conn, merchant_no)
    if as_json:
        print_json(found)
    else:
        table(
            _("Terminals"),
            ("merchant_no", "terminal_id", "name", "active"),
            [(t["merchant_no"], t["terminal_id"], t["name"], t["active"]) for t in found],
        )


@terminals.command("show")
def terminals_show(merchant_no: str, terminal_id: str, as_json: JsonOpt = False) -> None:
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        found = [
            t for t in svc.list_terminals(conn, merchant_no) if t["terminal_id"] == terminal_id
        ]
    if not found:
        from counterfoil.core.errors import NotFound

        raise NotFound(_("terminal {terminal_id} is not known"), terminal_id=terminal_id)
    if as_json:
        print_json(found[0])
    else:
        table(_("Terminal"), ("field", "value"), list(found[0].items()))


def _rule(rule: FeeRule) -> dict[str, object]:
    return {
        "channel": rule.channel,
        "rate": format_rate(rule.rate_ppm),
        "rate_ppm": rule.rate_ppm,
        "cap": rule.cap,
        "effective_from": rule.effective_from.isoformat(),
    }


@fees.command("list")
def fees_list(merchant_no: str, as_json: JsonOpt = False) -> None:
    cf = Counterfoil.open()
    with cf.engine.connect() as conn:
        svc.get_merchant(conn, merchant_no)
        schedule = svc.fee_schedule(conn, merchant_no)
    if as_json:
        print_json([_rule(r) for r in schedule])
    else:
        table(
            _("Fee schedule"),
            ("channel", "rate", "cap", "from"),
            [
                (
                    r.channel,
                    format_rate(r.rate_ppm),
                    format_amount(r.cap) if r.cap else "",
                    r.effective_from,
                )
                for r in schedule
            ],
        )


@fees.command("add")
def fees_add(
    merchant_no: str,
    channel: Annotated[str, typer.Option(help="credit, debit, wechat, alipay, unionpay_qr")],
    rate: Annotated[str, typer.Option(help="Rate such as 0.60%")],
    effective_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD")],
    cap: Annotated[str | None, typer.Option(help="Cap per transaction in yuan, e.g. 20.00")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a rate for a channel from a date on (earlier rates stay for earlier days)."""
    try:
        start = date.fromisoformat(effective_from)
    except ValueError:
        raise ValidationError("from", _("expected a date as YYYY-MM-DD")) from None
    rule = FeeRule(
        channel, parse_rate(rate), parse_amount(cap, field="cap") if cap else None, start
    )
    cf = Counterfoil.open()
    svc.add_fee_rule(cf, merchant_no, rule, actor=CLI)
    if as_json:
        print_json(_rule(rule))
    else:
        console.print(
            translate(
                _("{channel} at {rate} from {day}"),
                channel=channel,
                rate=format_rate(rule.rate_ppm),
                day=start.isoformat(),
            )
        )
