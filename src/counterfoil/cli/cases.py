"""``counterfoil cases``: the case board and every step of a case, and ``counterfoil
preauths``: the pre-authorisation monitor. The operator at the command line acts as the
data's owner (``Principal.local``), named ``cli:<login>``; ``--as NAME`` names another
operator, so that the second person who approves an adjustment is recorded as such."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from counterfoil.cases import adjustments, application, evidence, model, notify, preauths
from counterfoil.cases import workflow as wf
from counterfoil.cli.output import console, guarded, print_json, table
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _, translate
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
MerchantOpt = Annotated[str | None, typer.Option("--merchant", "-m", help="The merchant number")]
AsOpt = Annotated[
    str | None, typer.Option("--as", help="The operator's name (default: your login)")
]
NoteOpt = Annotated[str, typer.Option("--note", help="What to record with it")]
CaseArg = Annotated[int, typer.Argument(help="The case number")]

cases = typer.Typer(
    help="Cases: discrepancies, retrieval requests and chargebacks, to an approved adjustment.",
    no_args_is_help=True,
)
preauth_app = typer.Typer(help="The pre-authorisation monitor.", no_args_is_help=True)


def _who(name: str | None = None) -> Principal:
    return Principal.local(f"cli:{name or getpass.getuser()}")


def _show(found: dict[str, Any], as_json: bool, message: str | None = None) -> None:
    if as_json:
        print_json(found)
        return
    if message:
        console.print(
            translate(message, case_id=found["id"], state=found["state"]), highlight=False
        )
        return
    console.print(
        f"#{found['id']} {found['merchant_no']} {found['kind']} · {found['state']} · "
        f"{found['title']}",
        highlight=False,
    )
    console.print(
        translate(
            _("assignee {assignee}, priority {priority}, due {due_on}"),
            assignee=found["assignee"] or "—",
            priority=found["priority"],
            due_on=found["due_on"],
        ),
        highlight=False,
    )
    table(
        _("Timeline"),
        ("at", "kind", "to_state", "actor", "note"),
        [(e["at"], e["kind"], e["to_state"], e["actor"], e["note"]) for e in found["events"]],
    )
    if found["adjustments"]:
        table(
            _("Adjustments"),
            ("id", "kind", "amount", "status", "proposed_by", "decided_by", "entry_id"),
            [
                (
                    a["id"],
                    a["kind"],
                    a["amount"],
                    a["status"],
                    a["proposed_by"],
                    a["decided_by"],
                    a["entry_id"],
                )
                for a in found["adjustments"]
            ],
        )


MOVED = _("case {case_id} is now {state}")


@cases.command("list")
@guarded
def cases_list(
    merchant: MerchantOpt = None,
    state: Annotated[str | None, typer.Option("--state", help="Only this state")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee", help="Only theirs")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only those past due")] = False,
    page: Annotated[int, typer.Option("--page", min=1)] = 1,
    as_json: JsonOpt = False,
) -> None:
    """The cases board: overdue first, then by due day."""
    who = _who()
    with Counterfoil.open() as cf:
        found = cf.read(
            lambda conn: wf.list_cases(
                conn,
                who,
                merchant,
                state=state,
                kind=kind,
                assignee=assignee,
                overdue=overdue,
                page=page,
            )
        )
    if as_json:
        print_json(found)
        return
    table(
        _("Cases"),
        (
            "id",
            "merchant_no",
            "kind",
            "state",
            "priority",
            "assignee",
            "due_on",
            "overdue",
            "title",
        ),
        [
            (
                c["id"],
                c["merchant_no"],
                c["kind"],
                c["state"],
                c["priority"],
                c["assignee"],
                c["due_on"],
                "!" if c["overdue"] else "",
                c["title"],
            )
            for c in found["items"]
        ],
    )


@cases.command("show")
@guarded
def cases_show(case_id: CaseArg, as_json: JsonOpt = False) -> None:
    """One case with its timeline, evidence and adjustments."""
    who = _who()
    with Counterfoil.open() as cf:
        found = cf.read(lambda conn: wf.get_case(conn, who, case_id))
    _show(found, as_json)


@cases.command("open")
@guarded
def cases_open(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")],
    kind: Annotated[str, typer.Option("--kind", help="One of: " + ", ".join(model.KINDS))],
    title: Annotated[str, typer.Option("--title", help="What the case is about, one line")],
    description: Annotated[str, typer.Option("--description", help="What happened")] = "",
    priority: Annotated[
        str, typer.Option("--priority", help="low, normal, high, urgent")
    ] = "normal",
    terminal: Annotated[str | None, typer.Option("--terminal", help="The terminal id")] = None,
    difference: Annotated[
        str | None, typer.Option("--difference", help="The difference in yuan, e.g. -18.00")
    ] = None,
    entry: Annotated[
        list[str] | None, typer.Option("--entry", "-e", help="A transaction (repeat for more)")
    ] = None,
    due_on: Annotated[str | None, typer.Option("--due", help="Due day, YYYY-MM-DD")] = None,
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a case by hand."""
    with Counterfoil.open() as cf:
        found = wf.open_case(
            cf,
            _who(operator),
            merchant=merchant,
            kind=kind,
            title=title,
            description=description,
            priority=priority,
            terminal_id=terminal,
            difference=difference,
            entries=entry or [],
            due_on=due_on,
        )
    _show(found, as_json, _("case {case_id} opened"))


@cases.command("assign")
@guarded
def cases_assign(
    case_id: CaseArg,
    assignee: Annotated[str, typer.Argument(help="Who works it (a username)")],
    priority: Annotated[str | None, typer.Option("--priority")] = None,
    due_on: Annotated[str | None, typer.Option("--due", help="Due day, YYYY-MM-DD")] = None,
    note: NoteOpt = "",
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a case to someone; an open case starts being investigated."""
    with Counterfoil.open() as cf:
        found = wf.assign(
            cf, _who(operator), case_id, assignee, priority=priority, due_on=due_on, note=note
        )
    _show(found, as_json, MOVED)


@cases.command("note")
@guarded
def cases_note(
    case_id: CaseArg,
    note: Annotated[str, typer.Argument(help="The note")],
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a note to a case's timeline."""
    with Counterfoil.open() as cf:
        found = wf.add_note(cf, _who(operator), case_id, note)
    _show(found, as_json, _("note added to case {case_id}"))


def _file_blocks(path: Path) -> Any:
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            yield block


@cases.command("attach")
@guarded
def cases_attach(
    case_id: CaseArg,
    file: Annotated[
        Path | None,
        typer.Argument(help="A file (PDF, PNG, JPEG, TXT, CSV)", exists=True, dir_okay=False),
    ] = None,
    slip: Annotated[str | None, typer.Option("--slip", help="A transaction's slip")] = None,
    entry: Annotated[str | None, typer.Option("--entry", help="A journal entry")] = None,
    line: Annotated[
        str | None, typer.Option("--line", help="A statement line, IMPORT:LINE")
    ] = None,
    note: NoteOpt = "",
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attach evidence: a file, a slip, a journal entry or a statement line."""
    links = [
        (k, v) for k, v in (("slip", slip), ("journal_entry", entry), ("statement_line", line)) if v
    ]
    if (file is None) == (not links) or len(links) > 1:
        raise ValidationError("file", _("give one file, or one of --slip, --entry, --line"))
    who = _who(operator)
    with Counterfoil.open() as cf:
        if file is not None:
            found = evidence.attach_file(cf, who, case_id, _file_blocks(file), file.name, note)
        else:
            found = evidence.attach_link(cf, who, case_id, links[0][0], links[0][1], note)
    _show(found, as_json, _("evidence added to case {case_id}"))


@cases.command("application")
@guarded
def cases_application(
    case_id: CaseArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the PDF")],
) -> None:
    """Write the application to the acquirer (PDF, Chinese and English)."""
    with Counterfoil.open() as cf:
        _name, document = application.application_pdf(cf, _who(), case_id)
    output.write_bytes(document)
    console.print(translate(_("application written to {path}"), path=str(output)), highlight=False)


@cases.command("submit")
@guarded
def cases_submit(
    case_id: CaseArg,
    reference: Annotated[str, typer.Option("--reference", help="The acquirer's reference")] = "",
    note: NoteOpt = "",
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that the application went to the acquirer."""
    with Counterfoil.open() as cf:
        found = wf.submit(cf, _who(operator), case_id, reference=reference, note=note)
    _show(found, as_json, MOVED)


@cases.command("respond")
@guarded
def cases_respond(
    case_id: CaseArg,
    reference: Annotated[str, typer.Option("--reference", help="The acquirer's reference")] = "",
    outcome: Annotated[str | None, typer.Option("--outcome", help="accepted or rejected")] = None,
    note: NoteOpt = "",
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the acquirer's answer: its reference, its outcome, or both."""
    with Counterfoil.open() as cf:
        found = wf.respond(
            cf, _who(operator), case_id, reference=reference, outcome=outcome, note=note
        )
    _show(found, as_json, MOVED)


@cases.command("adjust")
@guarded
def cases_adjust(
    case_id: CaseArg,
    kind: Annotated[str, typer.Option("--kind", help="refund, supplement or write_off")],
    amount: Annotated[str, typer.Option("--amount", help="In yuan, e.g. 18.00")],
    reason: Annotated[str, typer.Option("--reason", help="Why")],
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose an adjustment; a second person approves it."""
    with Counterfoil.open() as cf:
        found = adjustments.propose(
            cf, _who(operator), case_id, kind=kind, amount=amount, reason=reason
        )
    _show(found, as_json, _("adjustment proposed for case {case_id}"))


@cases.command("approve")
@guarded
def cases_approve(
    case_id: CaseArg,
    adjustment_id: Annotated[int, typer.Argument(help="The adjustment's number")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject it instead")] = False,
    note: NoteOpt = "",
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve (the journal entry is written) or reject an adjustment someone else proposed."""
    with Counterfoil.open() as cf:
        found = adjustments.decide(
            cf, _who(operator), case_id, adjustment_id, approve=not reject, note=note
        )
    _show(found, as_json, _("adjustment decided for case {case_id}"))


@cases.command("notify")
@guarded
def cases_notify(
    case_id: CaseArg,
    channel: Annotated[str, typer.Option("--channel", help="email, sms or phone")],
    to: Annotated[str, typer.Option("--to", help="Email address or telephone number")],
    template: Annotated[str, typer.Option("--template", help=", ".join(notify.TEMPLATES))],
    locale: Annotated[str, typer.Option("--locale", help="zh_CN or en")] = "zh_CN",
    note: NoteOpt = "",
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tell the customer: send an email, or record an SMS or a call."""
    with Counterfoil.open() as cf:
        found = notify.notify(
            cf,
            _who(operator),
            case_id,
            channel=channel,
            to=to,
            template=template,
            locale=locale,
            note=note,
        )
    _show(found, as_json, _("notification recorded on case {case_id}"))


@cases.command("close")
@guarded
def cases_close(
    case_id: CaseArg,
    root_cause: Annotated[str, typer.Option("--root-cause", help=", ".join(model.ROOT_CAUSES))],
    lesson: Annotated[str, typer.Option("--lesson", help="What was learned")],
    operator: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a resolved case with its root cause and the lesson learned."""
    with Counterfoil.open() as cf:
        found = wf.close(cf, _who(operator), case_id, root_cause=root_cause, lesson=lesson)
    _show(found, as_json, MOVED)


@cases.command("report")
@guarded
def cases_report(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")],
    date_from: Annotated[str | None, typer.Option("--from", help="Opened from, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Opened until, YYYY-MM-DD")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Causes and resolution times, by month."""
    who = _who()
    first, last = wf.parse_day(date_from, "date_from"), wf.parse_day(date_to, "date_to")
    with Counterfoil.open() as cf:
        found = cf.read(lambda conn: wf.report(conn, who, merchant, first, last))
    if as_json:
        print_json(found)
        return
    table(
        _("Cases by month"),
        ("month", "opened", "resolved", "closed", "resolution_days_mean", *model.ROOT_CAUSES),
        [
            (
                m["month"],
                m["opened"],
                m["resolved"],
                m["closed"],
                m["resolution_days_mean"],
                *(m["by_root_cause"].get(c, 0) for c in model.ROOT_CAUSES),
            )
            for m in found["months"]
        ],
    )


@cases.command("deadline")
@guarded
def cases_deadline(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")],
    kind: Annotated[str | None, typer.Option("--kind", help="The kind of case")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Days allowed from opening")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the days allowed per kind of case, or set them for one kind."""
    with Counterfoil.open() as cf:
        if kind is not None and days is not None:
            found = wf.set_deadline(cf, _who(), merchant, kind, days)
        elif kind is None and days is None:
            found = cf.read(lambda conn: wf.deadlines(conn, merchant))
        else:
            raise ValidationError("days", _("give both --kind and --days to set a deadline"))
    if as_json:
        print_json(found)
        return
    table(_("Days allowed per kind"), ("kind", "days"), list(found["days"].items()))


@preauth_app.command("list")
@guarded
def preauths_list(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")],
    within_days: Annotated[int, typer.Option("--within", help="Lapsing within N days")] = 3,
    tolerance: Annotated[
        int | None, typer.Option("--tolerance", help="Per cent of the hold (default: the rule)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open pre-authorisations, those lapsing soon, and completions that look wrong."""
    who = _who()
    with Counterfoil.open() as cf:
        found = cf.read(
            lambda conn: preauths.monitor(
                conn, who, merchant, within_days=within_days, tolerance_pct=tolerance
            )
        )
    if as_json:
        print_json(found)
        return
    rows = [("open", h["entry_id"], h["amount"], h["expires_at"]) for h in found["open"]]
    for finding in preauths.FINDINGS:
        rows += [(finding, i["entry_id"], i["amount"], "") for i in found[finding]]
    table(_("Pre-authorisations"), ("finding", "entry_id", "amount", "expires_at"), rows)


@preauth_app.command("open-cases")
@guarded
def preauths_open_cases(
    merchant: Annotated[str, typer.Option("--merchant", "-m", help="The merchant number")],
    finding: Annotated[
        list[str] | None,
        typer.Option("--finding", help="Which findings (repeat): " + ", ".join(preauths.FINDINGS)),
    ] = None,
    within_days: Annotated[int, typer.Option("--within", help="Lapsing within N days")] = 3,
    tolerance: Annotated[
        int | None, typer.Option("--tolerance", help="Per cent of the hold")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a case for each finding that has none yet."""
    chosen = (
        tuple(finding) if finding else ("above_tolerance", "without_preauth", "double_completion")
    )
    with Counterfoil.open() as cf:
        found = preauths.open_cases(
            cf, _who(), merchant, findings=chosen, within_days=within_days, tolerance_pct=tolerance
        )
    if as_json:
        print_json(found)
        return
    console.print(
        translate(
            _("{opened} cases opened, {existing} already open"),
            opened=len(found["opened"]),
            existing=len(found["existing"]),
        ),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(cases, name="cases")
    app.add_typer(preauth_app, name="preauths")
