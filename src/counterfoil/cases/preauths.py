"""The pre-authorisation monitor: holds still open, holds about to lapse, completions
above the tolerance, completions with no pre-authorisation, double completions.

The "担保错误" of seed 003 is a pre-authorisation completed for another amount than was
held. Ingest already refuses a completion above the merchant's rule (115 % by default),
but entries recovered from statements or old terminals are not refused, and a merchant
may want to look closer than the rule (``tolerance_pct``: 100 flags any completion above
the hold). Each finding names its entries and can open a case, once (origin reference
``preauth:<finding>:<seq>``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.orm import aliased

from counterfoil.cases import workflow as wf
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.ingest import entry_id
from counterfoil.services.merchants import get_merchant
from counterfoil.store.schema import entry_state, journal_entries

FINDINGS = {
    "expiring": _("Pre-authorisation about to lapse"),
    "above_tolerance": _("Completion above the tolerance"),
    "without_preauth": _("Completion without a pre-authorisation"),
    "double_completion": _("Pre-authorisation completed twice"),
}
CLOSED_STATUSES = ("completed", "cancelled", "reversed", "voided")
RECORDS = ("transaction", "recovered")
MAX_DAYS = 365
j = journal_entries.c


def _aware(moment: datetime | None) -> datetime | None:
    return wf.aware(moment) if moment is not None else None


def _entry(row: Any, merchant_no: str) -> dict[str, Any]:
    return {
        "entry_id": entry_id(merchant_no, int(row.seq)),
        "seq": int(row.seq),
        "terminal_id": row.terminal_id,
        "trace_no": row.trace_no,
        "rrn": row.rrn,
        "amount": int(row.amount) if row.amount is not None else None,
        "currency": row.currency,
        "terminal_time": wf.utc(row.terminal_time),
    }


def monitor(
    conn: Connection,
    who: Principal,
    merchant: str | None,
    *,
    within_days: int = 3,
    tolerance_pct: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What the monitor finds for one merchant now."""
    merchant_no = who.default_merchant(merchant)
    if merchant_no is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("cases.read", merchant_no)
    if not 0 <= within_days <= MAX_DAYS:
        raise ValidationError("within_days", _("expected 0 to {max} days"), max=MAX_DAYS)
    rules = get_merchant(conn, merchant_no).rules
    pct = rules.preauth_tolerance_pct if tolerance_pct is None else tolerance_pct
    if not 100 <= pct <= 1000:
        raise ValidationError("tolerance_pct", _("expected 100 to 1000 per cent"))
    moment = now or datetime.now(UTC)
    validity = timedelta(days=rules.preauth_validity_days)
    mine = j.merchant_no == merchant_no
    s = entry_state.c
    status = func.coalesce(s.status, "approved")
    holds = conn.execute(
        select(
            j.seq,
            j.terminal_id,
            j.trace_no,
            j.rrn,
            j.amount,
            j.currency,
            j.terminal_time,
            status.label("status"),
        )
        .select_from(
            journal_entries.outerjoin(
                entry_state, and_(s.merchant_no == j.merchant_no, s.seq == j.seq)
            )
        )
        .where(and_(mine, j.kind.in_(RECORDS), j.type == "preauth"))
        .order_by(j.seq)
    ).all()
    open_holds, expiring = [], []
    for hold_row in holds:
        if hold_row.status in CLOSED_STATUSES:
            continue
        when = _aware(hold_row.terminal_time)
        expires = when + validity if when else None
        item = {**_entry(hold_row, merchant_no), "expires_at": wf.utc(expires)}
        if expires is not None and expires < moment:
            item["expired"] = True
        open_holds.append(item)
        if expires is not None and expires <= moment + timedelta(days=within_days):
            expiring.append(item)
    hold = aliased(journal_entries)
    completions = conn.execute(
        select(
            j.seq,
            j.terminal_id,
            j.trace_no,
            j.rrn,
            j.amount,
            j.currency,
            j.terminal_time,
            j.original_seq,
            hold.c.amount.label("held"),
            hold.c.type.label("original_type"),
        )
        .select_from(
            journal_entries.outerjoin(
                hold, and_(hold.c.merchant_no == j.merchant_no, hold.c.seq == j.original_seq)
            ).outerjoin(entry_state, and_(s.merchant_no == j.merchant_no, s.seq == j.seq))
        )
        .where(
            and_(
                mine,
                j.kind.in_(RECORDS),
                j.type == "completion",
                status.not_in(("reversed", "voided")),  # undone: no longer a completion
            )
        )
        .order_by(j.seq)
    ).all()
    above, without, by_hold = [], [], dict[int, list[dict[str, Any]]]()
    for row in completions:
        item = _entry(row, merchant_no)
        if row.original_seq is None or row.original_type != "preauth":
            without.append(item)
            continue
        item["preauth"] = entry_id(merchant_no, int(row.original_seq))
        item["held"] = int(row.held)
        by_hold.setdefault(int(row.original_seq), []).append(item)
        if int(row.amount) * 100 > int(row.held) * pct:
            above.append({**item, "over": int(row.amount) - int(row.held)})
    double = [
        {
            "preauth": entry_id(merchant_no, seq),
            "seq": items[1]["seq"],
            "entry_id": items[1]["entry_id"],
            "amount": items[1]["amount"],
            "currency": items[1]["currency"],
            "terminal_id": items[1]["terminal_id"],
            "completions": [i["entry_id"] for i in items],
        }
        for seq, items in sorted(by_hold.items())
        if len(items) > 1
    ]
    return {
        "merchant_no": merchant_no,
        "within_days": within_days,
        "tolerance_pct": pct,
        "open": open_holds,
        "expiring": expiring,
        "above_tolerance": above,
        "without_preauth": without,
        "double_completion": double,
    }


def _case_of(finding: str, item: dict[str, Any]) -> dict[str, Any]:
    if finding == "expiring":
        return {
            "kind": "preauth_mismatch",
            "title": f"Pre-authorisation {item['entry_id']} lapses {item['expires_at'][:10]}",
            "difference": None,
        }
    if finding == "above_tolerance":
        return {
            "kind": "preauth_mismatch",
            "title": f"Completion {item['entry_id']} above its pre-authorisation {item['preauth']}",
            "difference": -int(item["over"]),
        }
    if finding == "without_preauth":
        return {
            "kind": "preauth_mismatch",
            "title": f"Completion {item['entry_id']} without a pre-authorisation",
            "difference": -int(item["amount"]),
        }
    return {
        "kind": "duplicate_charge",
        "title": f"Pre-authorisation {item['preauth']} completed twice",
        "difference": -int(item["amount"]),
    }


def open_cases(
    cf: Counterfoil,
    who: Principal,
    merchant: str | None,
    *,
    findings: tuple[str, ...] = ("above_tolerance", "without_preauth", "double_completion"),
    within_days: int = 3,
    tolerance_pct: int | None = None,
) -> dict[str, Any]:
    """Open a case for each finding that has none yet; the ids opened and those already
    open (a second run opens nothing new)."""
    for finding in findings:
        wf.choice("findings", finding, tuple(FINDINGS))

    def job(conn: Connection) -> dict[str, Any]:
        merchant_no = who.default_merchant(merchant)
        if merchant_no is None:
            raise ValidationError("merchant", _("expected a merchant number"))
        who.require("cases.open", merchant_no)
        found = monitor(
            conn, who, merchant_no, within_days=within_days, tolerance_pct=tolerance_pct
        )
        opened, existing = [], []
        for finding in findings:
            for item in found[finding]:
                ref = f"preauth:{finding}:{item['seq']}"
                known = wf.case_by_origin(conn, merchant_no, ref)
                if known is not None:
                    existing.append(known)
                    continue
                shape = _case_of(finding, item)
                names = [item["entry_id"]] + ([item["preauth"]] if "preauth" in item else [])
                opened.append(
                    wf.insert_case(
                        conn,
                        who.actor,
                        merchant_no=merchant_no,
                        origin="preauth",
                        origin_ref=ref,
                        terminal_id=item.get("terminal_id"),
                        currency=item.get("currency") or "CNY",
                        entries=[{"entry_id": name} for name in names],
                        details={"finding": finding},
                        **shape,
                    )
                )
        return {"merchant_no": merchant_no, "opened": opened, "existing": existing}

    return wf.audited(cf, who, "case.open", merchant or "", lambda: cf.write(job))
