"""People decide: match and unmatch with a reason, adopt a lost record, set tolerances.

A decision is appended (``recon_decisions``), audited, and read by every later run: the
latest decision on an entry–line pair wins, so a manual match survives re-runs and an
unmatch keeps the passes from pairing the two again. Adopting a line that is missing in
the journal appends a journal entry of kind ``recovered`` — chained and signed like any
other — that names its statement file and line, so that its slip and a proof of payment
can be produced, marked as recovered (the slip's remarks say so).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, select

from counterfoil.core.errors import Conflict, NotFound, ValidationError
from counterfoil.core.fees import rule_for
from counterfoil.core.models import CHANNELS
from counterfoil.core.pan import redact_pans
from counterfoil.core.times import iso_z
from counterfoil.i18n import _
from counterfoil.reconcile.model import QR_CHANNELS, SOURCE_CHANNELS, Tolerance
from counterfoil.reconcile.settings import save_tolerance, tolerances_for
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.ingest import entry_id
from counterfoil.services.merchants import fee_schedule, get_merchant
from counterfoil.store import audit
from counterfoil.store.journal import ChainWriter
from counterfoil.store.reconcile_schema import recon_adoptions, recon_breaks, recon_decisions
from counterfoil.store.schema import journal_entries, statement_imports, statement_lines

ACTIONS = ("match", "unmatch")
MAX_REASON = 500
_LINE_REF = re.compile(r"^(\d{1,9}):(\d{1,9})$")
_TERMINAL = re.compile(r"^[0-9A-Z]{8}$")
_TRACE = re.compile(r"^\d{6}$")
_RRN = re.compile(r"^[0-9A-Za-z]{12}$")
_ORDER = re.compile(r"^[0-9A-Za-z_\-|*.]{1,64}$")


def parse_line_ref(text: str) -> tuple[int, int]:
    """'12:345' → (import 12, line 345)."""
    match = _LINE_REF.match(str(text).strip())
    if not match:
        raise ValidationError("line", _("expected a statement line as IMPORT:LINE, such as 3:17"))
    return int(match.group(1)), int(match.group(2))


def _reason(reason: str) -> str:
    text = redact_pans((reason or "").strip())
    if not text or len(text) > MAX_REASON:
        raise ValidationError(
            "reason", _("expected a reason of 1 to {most} characters"), most=MAX_REASON
        )
    return text


def _line(conn: Connection, import_id: int, line_no: int) -> Any:
    sl, si = statement_lines.c, statement_imports.c
    row = conn.execute(
        select(statement_lines, si.merchant_no.label("import_merchant"), si.file_name, si.sha256)
        .select_from(statement_lines.join(statement_imports, si.id == sl.import_id))
        .where(and_(sl.import_id == import_id, sl.line_no == line_no))
    ).first()
    if row is None:
        raise NotFound(
            _("statement line {line_no} of import {import_id} is not known"),
            import_id=import_id,
            line_no=line_no,
        )
    return row


def _line_merchant(row: Any) -> str | None:
    found = row.import_merchant or row.merchant_no
    return str(found) if found else None


def _entry(conn: Connection, merchant_no: str, seq: int) -> Any:
    j = journal_entries.c
    row = conn.execute(
        select(j.seq, j.kind).where(and_(j.merchant_no == merchant_no, j.seq == seq))
    ).first()
    if row is None or row.kind not in ("transaction", "recovered"):
        raise NotFound(
            _("merchant {merchant_no} has no transaction {seq}"), merchant_no=merchant_no, seq=seq
        )
    return row


def decide(
    cf: Counterfoil,
    who: Principal,
    action: str,
    *,
    merchant_no: str | None,
    seq: int,
    line: str,
    reason: str,
) -> dict[str, Any]:
    """Record a manual match or unmatch of an entry and a statement line."""
    if action not in ACTIONS:
        raise ValidationError("action", _("expected one of {options}"), options=", ".join(ACTIONS))
    merchant = who.default_merchant(merchant_no)
    if merchant is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("reconcile.run", merchant)
    import_id, line_no = parse_line_ref(line)
    text = _reason(reason)

    def job(conn: Connection) -> dict[str, Any]:
        _entry(conn, merchant, seq)
        row = _line(conn, import_id, line_no)
        if _line_merchant(row) != merchant:
            raise NotFound(
                _("statement line {line_no} of import {import_id} is not known"),
                import_id=import_id,
                line_no=line_no,
            )
        if action == "match":
            _refuse_second_match(conn, merchant, seq, import_id, line_no)
        now = datetime.now(UTC)
        decision_id = conn.execute(
            recon_decisions.insert().values(
                merchant_no=merchant,
                action=action,
                seq=seq,
                import_id=import_id,
                line_no=line_no,
                reason=text,
                actor=who.actor.name,
                source=who.source,
                at=now,
            )
        ).inserted_primary_key
        audit.record(
            conn,
            who.actor,
            f"reconcile.{action}",
            object_type="recon_decision",
            object_id=str(decision_id[0] if decision_id else ""),
            merchant_no=merchant,
            details={"seq": seq, "line": f"{import_id}:{line_no}", "reason": text},
        )
        return {
            "id": int(decision_id[0]) if decision_id else None,
            "action": action,
            "merchant_no": merchant,
            "seq": seq,
            "entry_id": entry_id(merchant, seq),
            "line": f"{import_id}:{line_no}",
            "reason": text,
            "actor": who.actor.name,
            "at": now.isoformat(),
        }

    return cf.write(job)


def _refuse_second_match(
    conn: Connection, merchant_no: str, seq: int, import_id: int, line_no: int
) -> None:
    """A record is matched by hand to one other at a time: unmatch first."""
    d = recon_decisions.c
    latest: dict[tuple[int, int, int], str] = {}
    for s, i, n, a in conn.execute(
        select(d.seq, d.import_id, d.line_no, d.action)
        .where(d.merchant_no == merchant_no)
        .where((d.seq == seq) | and_(d.import_id == import_id, d.line_no == line_no))
        .order_by(d.id)
    ):
        latest[(int(s), int(i), int(n))] = str(a)
    for (s, i, n), action in latest.items():
        if action == "match" and (s, i, n) != (seq, import_id, line_no):
            raise Conflict(
                _("entry {seq} or line {line} is already matched by hand: unmatch it first"),
                seq=seq,
                line=f"{import_id}:{line_no}",
            )


def adopt(
    cf: Counterfoil, who: Principal, line: str, *, reason: str, merchant_no: str | None = None
) -> dict[str, Any]:
    """Adopt a statement line missing in the journal as a ``recovered`` journal entry."""
    import_id, line_no = parse_line_ref(line)
    text = _reason(reason)

    def job(conn: Connection) -> dict[str, Any]:
        row = _line(conn, import_id, line_no)
        merchant = _line_merchant(row)
        if merchant is None or not who.sees(merchant) or (merchant_no and merchant != merchant_no):
            raise NotFound(
                _("statement line {line_no} of import {import_id} is not known"),
                import_id=import_id,
                line_no=line_no,
            )
        who.require("reconcile.run", merchant)
        a = recon_adoptions.c
        earlier = conn.execute(
            select(a.seq).where(and_(a.import_id == import_id, a.line_no == line_no))
        ).first()
        if earlier is not None:
            raise Conflict(
                _("line {line} was already adopted as entry {entry_id}"),
                line=f"{import_id}:{line_no}",
                entry_id=entry_id(merchant, int(earlier.seq)),
            )
        b = recon_breaks.c
        missing = conn.execute(
            select(b.break_id).where(
                and_(
                    b.import_id == import_id,
                    b.line_no == line_no,
                    b.outcome == "missing_in_journal",
                    b.status != "resolved",
                )
            )
        ).first()
        if missing is None:
            raise Conflict(
                _("line {line} is not missing in the journal: reconcile its day first"),
                line=f"{import_id}:{line_no}",
            )
        data, effects = _recovered_body(conn, merchant, row, text)
        chain = ChainWriter(conn, cf.keys, merchant)
        seq = chain.append("recovered", data, effects=effects)
        chain.flush()
        conn.execute(
            recon_adoptions.insert().values(
                import_id=import_id,
                line_no=line_no,
                merchant_no=merchant,
                seq=seq,
                reason=text,
                actor=who.actor.name,
                at=datetime.now(UTC),
            )
        )
        audit.record(
            conn,
            who.actor,
            "reconcile.adopt",
            object_type="transaction",
            object_id=entry_id(merchant, seq),
            merchant_no=merchant,
            details={"line": f"{import_id}:{line_no}", "reason": text, "break": missing.break_id},
        )
        return {
            "entry_id": entry_id(merchant, seq),
            "seq": seq,
            "kind": "recovered",
            "merchant_no": merchant,
            "line": f"{import_id}:{line_no}",
            "data": data,
            "effects": effects,
        }

    return cf.write(job)


def _channel(row: Any) -> str:
    if row.source == "wechat_trade":
        return "wechat"
    if row.source == "alipay_trade":
        return "alipay"
    if row.source in SOURCE_CHANNELS and not row.card_last4:
        return "unionpay_qr"
    return "credit"


def _recovered_body(
    conn: Connection, merchant_no: str, row: Any, reason: str
) -> tuple[dict[str, Any], dict[str, int]]:
    """The entry's data, from the statement line, and its fee by the merchant's schedule."""
    channel = _channel(row)
    refund = row.txn_type in ("refund", "void") or row.amount < 0
    amount = abs(int(row.amount))
    when = row.occurred_at if row.occurred_at.tzinfo else row.occurred_at.replace(tzinfo=UTC)
    data: dict[str, Any] = {
        "merchant_no": merchant_no,
        "type": "refund" if refund else "sale",
        "channel": channel,
        "amount": amount,
        "currency": row.currency,
        "terminal_time": iso_z(when),
        "remarks": f"RECOVERED from statement {row.file_name} line {row.line_no}",
        "recovered_from": {
            "import_id": int(row.import_id),
            "line_no": int(row.line_no),
            "file_name": row.file_name,
            "sha256": row.sha256,
            "source": row.source,
            "reason": reason,
        },
    }
    optional = {
        "terminal_id": (row.terminal_id, _TERMINAL),
        "trace_no": (row.trace_no, _TRACE),
        "rrn": (row.rrn, _RRN),
        "order_no": (row.platform_id if channel in QR_CHANNELS else row.order_no, _ORDER),
    }
    for name, (value, pattern) in optional.items():
        if value and pattern.match(value):
            data[name] = value
    if row.card_masked and channel not in QR_CHANNELS:
        data["card"] = row.card_masked
    merchant = get_merchant(conn, merchant_no)
    day = when.astimezone(ZoneInfo(merchant.timezone)).date()
    rule = rule_for(fee_schedule(conn, merchant_no), channel, day)
    fee = rule.fee(amount) if rule and channel in CHANNELS else 0
    effects = {"fee": -fee, "net": -(amount - fee)} if refund else {"fee": fee, "net": amount - fee}
    return data, effects


def set_tolerance(
    cf: Counterfoil,
    who: Principal,
    *,
    merchant_no: str | None,
    source: str,
    amount: int | None = None,
    time_window: int | None = None,
    settlement_window: int | None = None,
) -> dict[str, Any]:
    """Change a source's tolerances for a merchant (what is not given stays)."""
    merchant = who.default_merchant(merchant_no)
    if merchant is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("reconcile.run", merchant)

    def job(conn: Connection) -> dict[str, Any]:
        current = tolerances_for(conn, merchant).get(source) or Tolerance(source)
        new = Tolerance(
            source,
            current.amount if amount is None else amount,
            current.time_window if time_window is None else time_window,
            current.settlement_window if settlement_window is None else settlement_window,
        )
        save_tolerance(conn, merchant, new, who.actor.name)
        audit.record(
            conn,
            who.actor,
            "reconcile.tolerance",
            object_type="recon_tolerance",
            object_id=source,
            merchant_no=merchant,
            details=new.as_dict(),
        )
        return {"merchant_no": merchant, **new.as_dict()}

    return cf.write(job)
