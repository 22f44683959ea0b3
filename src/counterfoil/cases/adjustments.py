"""Adjustments: money moves only through new journal entries, made by two people.

Someone with ``adjustments.propose`` proposes a refund, a supplement or a write-off for a
case; the proposals of a case together never exceed its difference (the case must state
one). A second person with ``adjustments.approve`` — finance or an admin, never the one
who proposed it — approves it, and only then is the journal entry written: kind
``adjustment`` (``core.models.adjustment_data``), signed and chained like every entry,
naming the case and the proposal. The proposal and the decision are events of the case.
An approved adjustment is an expected item for the settlement lists and reconciliation
(``expected_items``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from counterfoil.cases import model
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import Conflict, Forbidden, NotFound, ValidationError
from counterfoil.core.models import ADJUSTMENT_TYPES, adjustment_data, adjustment_effects
from counterfoil.i18n import _
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.ingest import entry_id
from counterfoil.store import audit
from counterfoil.store.cases_schema import case_adjustments, case_evidence
from counterfoil.store.journal import ChainWriter

ad = case_adjustments.c


def propose(
    cf: Counterfoil,
    who: Principal,
    case_id: int,
    *,
    kind: str,
    amount: int | str,
    reason: str,
) -> dict[str, Any]:
    """Propose an adjustment for a case; the case as ``get_case`` shows it."""
    wf.choice("kind", kind, tuple(model.ADJUSTMENT_KINDS))
    fen = wf.check_amount("amount", amount, signed=False)
    if fen is None:
        raise ValidationError("amount", _("this field is required"))
    why = wf.text("reason", reason, wf.MAX_NOTE, required=True)

    def job(conn: Connection) -> dict[str, Any]:
        who.require("adjustments.propose")
        row = wf.case_row(conn, who, case_id)
        who.require("adjustments.propose", row.merchant_no)
        if row.state == "closed":
            raise Conflict(_("case {case_id} is closed"), case_id=case_id)
        if row.difference is None or row.difference == 0:
            raise ValidationError(
                "amount",
                _("case {case_id} states no difference: an adjustment needs one"),
                case_id=case_id,
            )
        used = conn.execute(
            select(func.coalesce(func.sum(ad.amount), 0)).where(
                and_(ad.case_id == row.id, ad.status != "rejected")
            )
        ).scalar_one()
        left = abs(int(row.difference)) - int(used)
        if fen > left:
            raise ValidationError(
                "amount",
                _("expected at most {left} fen: the case's difference less its adjustments"),
                left=max(left, 0),
            )
        inserted = conn.execute(
            case_adjustments.insert().values(
                case_id=int(row.id),
                merchant_no=row.merchant_no,
                kind=kind,
                amount=fen,
                currency=row.currency,
                reason=why,
                status="proposed",
                proposed_by=who.name[:80],
                proposed_at=datetime.now(UTC),
            )
        ).inserted_primary_key
        assert inserted is not None
        proposal_id = int(inserted[0])
        details = {"adjustment_id": proposal_id, "kind": kind, "amount": fen}
        wf.event(conn, who.actor, row, "adjustment_proposed", why, details)
        audit.record(
            conn,
            who.actor,
            "case.adjustment.propose",
            object_type="case",
            object_id=str(row.id),
            merchant_no=row.merchant_no,
            details=details,
        )
        return wf.detail(conn, wf.case_row(conn, who, case_id))

    return wf.audited(cf, who, "case.adjustment.propose", str(case_id), lambda: cf.write(job))


def decide(
    cf: Counterfoil,
    who: Principal,
    case_id: int,
    adjustment_id: int,
    *,
    approve: bool = True,
    note: str = "",
) -> dict[str, Any]:
    """Approve (the journal entry is written now) or reject a proposed adjustment; by a
    second person, never its proposer."""
    said = wf.text("note", note, wf.MAX_NOTE)
    action = "case.adjustment.approve" if approve else "case.adjustment.reject"

    def job(conn: Connection) -> dict[str, Any]:
        who.require("adjustments.approve")
        row = wf.case_row(conn, who, case_id)
        who.require("adjustments.approve", row.merchant_no)
        proposal = conn.execute(
            select(case_adjustments).where(and_(ad.id == adjustment_id, ad.case_id == row.id))
        ).first()
        if proposal is None:
            raise NotFound(
                _("no adjustment {adjustment_id} in case {case_id}"),
                adjustment_id=adjustment_id,
                case_id=case_id,
            )
        if proposal.proposed_by == who.name[:80]:
            raise Forbidden(
                _("a second person approves an adjustment, not the one who proposed it")
            )
        if proposal.status != "proposed":
            raise Conflict(
                _("adjustment {adjustment_id} is {status}"),
                adjustment_id=adjustment_id,
                status=proposal.status,
            )
        moment = datetime.now(UTC)
        day = wf.today(wf.zone_of(conn, row.merchant_no), moment)
        details: dict[str, Any] = {
            "adjustment_id": adjustment_id,
            "kind": proposal.kind,
            "amount": int(proposal.amount),
        }
        change: dict[str, Any] = {
            "status": "approved" if approve else "rejected",
            "decided_by": who.name[:80],
            "decided_at": moment,
        }
        if approve:
            named = conn.execute(
                select(case_evidence.c.ref)
                .where(
                    and_(
                        case_evidence.c.case_id == row.id,
                        case_evidence.c.kind.in_(("journal_entry", "slip")),
                    )
                )
                .order_by(case_evidence.c.id)
            ).scalars()
            chain = ChainWriter(conn, cf.keys, row.merchant_no)
            seq = chain.append(
                "adjustment",
                adjustment_data(
                    adjustment=proposal.kind,
                    amount=int(proposal.amount),
                    currency=proposal.currency,
                    case_id=int(row.id),
                    proposal_id=adjustment_id,
                    reason=proposal.reason,
                    proposed_by=proposal.proposed_by,
                    approved_by=who.name[:80],
                    business_day=day.isoformat(),
                    approved_at=moment,
                    entries=sorted(set(named)),
                ),
                now=moment,
                effects=adjustment_effects(proposal.kind, int(proposal.amount)),
            )
            chain.flush()
            change |= {"entry_seq": seq, "business_day": day}
            details["entry_id"] = entry_id(row.merchant_no, seq)
        conn.execute(case_adjustments.update().where(ad.id == adjustment_id).values(**change))
        kind = "adjustment_approved" if approve else "adjustment_rejected"
        wf.event(conn, who.actor, row, kind, said, details)
        audit.record(
            conn,
            who.actor,
            action,
            object_type="case",
            object_id=str(row.id),
            merchant_no=row.merchant_no,
            details=details,
        )
        return wf.detail(conn, wf.case_row(conn, who, case_id))

    return wf.audited(cf, who, action, str(case_id), lambda: cf.write(job))


def expected_items(
    conn: Connection, merchant_no: str, date_from: date, date_to: date
) -> list[dict[str, Any]]:
    """The approved adjustments of a merchant's business days: for the settlement lists
    and reconciliation, each an expected movement (``net``: +in, -out, 0 booked only)."""
    rows = conn.execute(
        select(case_adjustments)
        .where(
            and_(
                ad.merchant_no == merchant_no,
                ad.status == "approved",
                ad.business_day >= date_from,
                ad.business_day <= date_to,
            )
        )
        .order_by(ad.business_day, ad.entry_seq)
    ).all()
    return [
        {
            "entry_id": entry_id(merchant_no, int(r.entry_seq)),
            "seq": int(r.entry_seq),
            "case_id": int(r.case_id),
            "adjustment_id": int(r.id),
            "kind": r.kind,
            "amount": int(r.amount),
            "net": ADJUSTMENT_TYPES[r.kind] * int(r.amount),
            "currency": r.currency,
            "business_day": r.business_day.isoformat(),
        }
        for r in rows
    ]
