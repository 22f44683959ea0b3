"""Batch close (批结算): a terminal reports its batch totals, Counterfoil answers balanced
(对账平) or not balanced (不平) with the transactions that explain the difference.

``close_batch`` checks the report (``batch_report``), reads what the journal holds for
the same merchant, terminal and batch, compares (``batch_compare``) and stores the close
in ``batch_closes`` and each difference in ``batch_discrepancies`` — both append-only —
then hands each difference to ``cases.auto.on_batch_discrepancy``, in the same
transaction. The same report over the same journal is the same close: it is answered
again from what was stored (``repeated``), never stored twice. A different report for
the same batch, or the same one after the journal changed (a late upload arrived), is a
new attempt, numbered; nothing earlier is overwritten.

Who may: a terminal closes its own batches with its own token; a person with
``batch.close`` (a supervisor) closes any terminal's batch of their merchants; the
operator at the command line any. ``batch.read`` reads closes, confined to the reader's
merchants; another merchant's close is "not found". Every close and every refusal is
audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Select, and_, false, func, or_, select
from sqlalchemy.exc import IntegrityError

from counterfoil.cases import auto
from counterfoil.core.errors import Forbidden, NotFound, ValidationError
from counterfoil.i18n import _
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil, audit_refusal
from counterfoil.services.ingest import entry_id
from counterfoil.services.merchants import get_merchant
from counterfoil.settlement.batch_compare import Comparison, JournalTxn, compare
from counterfoil.settlement.batch_report import Report, Totals, parse_report
from counterfoil.store import audit
from counterfoil.store.batch_schema import batch_closes, batch_discrepancies
from counterfoil.store.schema import chain_heads, entry_state, journal_entries, terminals

PER_PAGE = 50
MAX_PAGE = 500
#: The journal's kinds that carry a terminal's transactions.
TRANSACTION_KINDS = ("transaction", "recovered")

c, d = batch_closes.c, batch_discrepancies.c
j, s = journal_entries.c, entry_state.c
T = TypeVar("T")


# --- who may close which batch --------------------------------------------------------------


def check_closer(who: Principal, report: Report) -> None:
    """A terminal closes its own batches only; a person needs ``batch.close`` and the
    merchant; an integration closes nothing."""
    if who.kind == "terminal":
        if who.terminals != ((report.merchant_no, report.terminal_id),):
            mine = who.terminals[0] if who.terminals else ("", "")
            raise Forbidden(
                _("this token belongs to terminal {terminal_id} of merchant {merchant_no}"),
                terminal_id=mine[1],
                merchant_no=mine[0],
            )
        return
    if who.kind == "integration":
        raise Forbidden(_("your access does not include {permission}"), permission="batch.close")
    who.require("batch.close", report.merchant_no)
    if not who.sees_terminal(report.merchant_no, report.terminal_id):
        raise Forbidden(
            _("you have no access to terminal {terminal_id}"), terminal_id=report.terminal_id
        )


def _check_terminal(conn: Connection, report: Report) -> None:
    found = conn.execute(
        select(terminals.c.terminal_id).where(
            and_(
                terminals.c.merchant_no == report.merchant_no,
                terminals.c.terminal_id == report.terminal_id,
            )
        )
    ).first()
    if found is None:
        raise ValidationError(
            "terminal_id",
            _("no terminal {terminal_id} of merchant {merchant_no}"),
            terminal_id=report.terminal_id,
            merchant_no=report.merchant_no,
        )


# --- what the journal holds for a batch ----------------------------------------------------


def journal_of_batch(
    conn: Connection, merchant_no: str, terminal_id: str, batch_no: str
) -> list[JournalTxn]:
    """The batch's transactions as the journal holds them, with their status now."""
    rows = conn.execute(
        select(
            j.seq,
            j.trace_no,
            j.type,
            j.amount,
            j.currency,
            j.channel,
            j.card_bin,
            j.offline,
            j.body,
            func.coalesce(s.status, "approved").label("status"),
        )
        .select_from(
            journal_entries.outerjoin(
                entry_state, and_(s.merchant_no == j.merchant_no, s.seq == j.seq)
            )
        )
        .where(
            and_(
                j.merchant_no == merchant_no,
                j.terminal_id == terminal_id,
                j.batch_no == batch_no,
                j.kind.in_(TRANSACTION_KINDS),
                j.type.is_not(None),
            )
        )
        .order_by(j.seq)
    ).all()
    found: list[JournalTxn] = []
    for row in rows:
        tip = orjson.loads(row.body).get("data", {}).get("tip", 0) if '"tip"' in row.body else 0
        found.append(
            JournalTxn(
                seq=int(row.seq),
                trace_no=row.trace_no,
                type=str(row.type),
                amount=int(row.amount or 0),
                currency=str(row.currency or "CNY"),
                status=str(row.status),
                channel=row.channel,
                card_bin=row.card_bin,
                tip=int(tip or 0),
                offline=bool(row.offline),
            )
        )
    return found


def journal_digest(txns: Sequence[JournalTxn]) -> str:
    """SHA-256 of what a comparison depends on: each transaction's seq, type, amount,
    currency, status, card group and tip. The same digest: the same answer."""
    lines = (
        f"{t.seq}|{t.trace_no}|{t.type}|{t.amount}|{t.currency}|{t.status}|{t.group}|{t.tip}|"
        f"{int(t.offline)}\n"
        for t in txns
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _head(conn: Connection, merchant_no: str) -> int:
    seq = conn.execute(select(chain_heads.c.seq).where(chain_heads.c.chain == merchant_no)).scalar()
    return int(seq or 0)


# --- closing -------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _audited(cf: Counterfoil, who: Principal, ref: str, job: Callable[[], T]) -> T:
    return audit_refusal(cf, who, "batch.close", "batch", ref, job)


def close_batch(
    cf: Counterfoil, who: Principal, payload: Any, *, now: datetime | None = None
) -> dict[str, Any]:
    """Record a terminal's batch close; return it as ``get_close`` shows it, with
    ``repeated`` true when the same close had been reported before."""
    if who.kind == "integration" or (who.kind == "person" and not who.may("batch.close")):
        # refused before the report is even read: nothing about it is answered
        _audited(cf, who, "", lambda: check_closer(who, _NOBODY))  # raises Forbidden
    report = parse_report(payload)
    ref = f"{report.merchant_no}/{report.terminal_id}/{report.batch_no}"

    def job(conn: Connection) -> dict[str, Any]:
        check_closer(who, report)
        _check_terminal(conn, report)
        return _record(conn, who, report, now or datetime.now(UTC))

    def attempt() -> dict[str, Any]:
        try:
            return cf.write(job)
        except IntegrityError:  # the same close, reported at the same moment: stored once
            return cf.write(job)

    return _audited(cf, who, ref, attempt)


#: A report of no one's batch: what a refused caller is checked against.
_NOBODY = Report("", "", "", "CNY", {"all": Totals()})


def _record(conn: Connection, who: Principal, report: Report, moment: datetime) -> dict[str, Any]:
    txns = journal_of_batch(conn, report.merchant_no, report.terminal_id, report.batch_no)
    digest, journal = report.digest(), journal_digest(txns)
    batch = and_(
        c.merchant_no == report.merchant_no,
        c.terminal_id == report.terminal_id,
        c.batch_no == report.batch_no,
    )
    earlier = conn.execute(
        select(c.id).where(and_(batch, c.request_hash == digest, c.journal_hash == journal))
    ).scalar()
    if earlier is not None:
        audit.record(
            conn,
            who.actor,
            "batch.close",
            object_type="batch_close",
            object_id=str(earlier),
            merchant_no=report.merchant_no,
            details={"repeated": True},
        )
        return _detail(conn, _row(conn, None, int(earlier))) | {"repeated": True}
    comparison = compare(report, txns)
    attempt = int(
        conn.execute(select(func.coalesce(func.max(c.attempt), 0)).where(batch)).scalar() or 0
    )
    overall = report.overall
    mine = comparison.journal
    journal_total = sum(mine.values(), Totals())
    inserted = conn.execute(
        batch_closes.insert().values(
            merchant_no=report.merchant_no,
            terminal_id=report.terminal_id,
            batch_no=report.batch_no,
            attempt=attempt + 1,
            closed_at=moment,
            request_hash=digest,
            journal_hash=journal,
            balanced=comparison.balanced,
            currency=report.currency,
            terminal_debit_count=overall.debit_count,
            terminal_debit_amount=overall.debit_amount,
            terminal_credit_count=overall.credit_count,
            terminal_credit_amount=overall.credit_amount,
            journal_debit_count=journal_total.debit_count,
            journal_debit_amount=journal_total.debit_amount,
            journal_credit_count=journal_total.credit_count,
            journal_credit_amount=journal_total.credit_amount,
            report=_json(report.as_dict()),
            result=_json(comparison.as_dict()),
            last_seq=_head(conn, report.merchant_no),
            actor=who.name[:80],
            source=who.source[:80],
        )
    ).inserted_primary_key
    assert inserted is not None
    close_id = int(inserted[0])
    ids = _store_differences(conn, report, close_id, comparison, moment)
    for discrepancy_id in ids:
        auto.on_batch_discrepancy(
            conn, merchant_no=report.merchant_no, discrepancy_id=discrepancy_id
        )
    audit.record(
        conn,
        who.actor,
        "batch.close",
        object_type="batch_close",
        object_id=str(close_id),
        merchant_no=report.merchant_no,
        details={
            "terminal_id": report.terminal_id,
            "batch_no": report.batch_no,
            "attempt": attempt + 1,
            "balanced": comparison.balanced,
            "discrepancies": ids,
        },
    )
    return _detail(conn, _row(conn, None, close_id)) | {"repeated": False}


def _store_differences(
    conn: Connection, report: Report, close_id: int, comparison: Comparison, moment: datetime
) -> list[int]:
    ids: list[int] = []
    for diff in comparison.differences:
        named = diff.explanations
        inserted = conn.execute(
            batch_discrepancies.insert().values(
                close_id=close_id,
                merchant_no=report.merchant_no,
                terminal_id=report.terminal_id,
                batch_no=report.batch_no,
                side=diff.side,
                card_group=diff.group,
                kind=diff.kind,
                terminal_count=diff.terminal_count,
                terminal_amount=diff.terminal_amount,
                journal_count=diff.journal_count,
                journal_amount=diff.journal_amount,
                currency=report.currency,
                explained=diff.explained,
                explanations=_json([x.as_dict() for x in named]),
                seqs=" ".join(str(x.seq) for x in named if x.seq is not None),
                traces=" ".join(x.trace_no for x in named if x.trace_no),
                created_at=moment,
            )
        ).inserted_primary_key
        assert inserted is not None
        ids.append(int(inserted[0]))
    return ids


# --- reading -------------------------------------------------------------------------------


def _utc(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _confined(who: Principal | None, query: Select[Any]) -> Select[Any]:
    """Only the closes ``who`` may read (None: the service itself, everything)."""
    if who is None:
        return query
    if not who.all_merchants:
        query = query.where(c.merchant_no.in_(who.merchants))
    if who.terminals is not None:
        pairs = [and_(c.merchant_no == m, c.terminal_id == t) for m, t in who.terminals]
        query = query.where(or_(false(), *pairs))
    return query


def _row(conn: Connection, who: Principal | None, close_id: int) -> Any:
    found = conn.execute(_confined(who, select(batch_closes).where(c.id == close_id))).first()
    if found is None:  # another merchant's: not even a hint that it exists
        raise NotFound(_("no batch close {close_id}"), close_id=close_id)
    return found


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "merchant_no": row.merchant_no,
        "terminal_id": row.terminal_id,
        "batch_no": row.batch_no,
        "attempt": int(row.attempt),
        "closed_at": _utc(row.closed_at),
        "balanced": bool(row.balanced),
        "answer": "balanced" if row.balanced else "not_balanced",
        "currency": row.currency,
        "terminal": {
            "debit_count": int(row.terminal_debit_count),
            "debit_amount": int(row.terminal_debit_amount),
            "credit_count": int(row.terminal_credit_count),
            "credit_amount": int(row.terminal_credit_amount),
        },
        "journal": {
            "debit_count": int(row.journal_debit_count),
            "debit_amount": int(row.journal_debit_amount),
            "credit_count": int(row.journal_credit_count),
            "credit_amount": int(row.journal_credit_amount),
        },
        "actor": row.actor,
    }


def _discrepancy(row: Any) -> dict[str, Any]:
    explanations = orjson.loads(row.explanations)
    for x in explanations:
        x["entry_id"] = entry_id(row.merchant_no, x["seq"]) if x["seq"] is not None else None
    return {
        "id": int(row.id),
        "close_id": int(row.close_id),
        "merchant_no": row.merchant_no,
        "terminal_id": row.terminal_id,
        "batch_no": row.batch_no,
        "group": row.card_group,
        "side": row.side,
        "kind": row.kind,
        "terminal_count": int(row.terminal_count),
        "terminal_amount": int(row.terminal_amount),
        "journal_count": int(row.journal_count),
        "journal_amount": int(row.journal_amount),
        "count_difference": int(row.journal_count) - int(row.terminal_count),
        "amount_difference": int(row.journal_amount) - int(row.terminal_amount),
        "currency": row.currency,
        "explained": bool(row.explained),
        "explanations": explanations,
        "seqs": [int(x) for x in row.seqs.split()],
        "traces": row.traces.split(),
        "created_at": _utc(row.created_at),
    }


def _detail(conn: Connection, row: Any) -> dict[str, Any]:
    result = orjson.loads(row.result)
    differences = [
        _discrepancy(r)
        for r in conn.execute(
            select(batch_discrepancies).where(d.close_id == row.id).order_by(d.id)
        ).all()
    ]
    attempts = conn.execute(
        select(func.count()).where(
            and_(
                c.merchant_no == row.merchant_no,
                c.terminal_id == row.terminal_id,
                c.batch_no == row.batch_no,
            )
        )
    ).scalar()
    return _summary(row) | {
        "split": "domestic" in result["terminal"],
        "groups": {"terminal": result["terminal"], "journal": result["journal"]},
        "by_list": bool(result["by_list"]),
        "trace_gaps": result.get("trace_gaps", []),
        "other_currency": int(result.get("other_currency", 0)),
        "differences": differences,
        "report": orjson.loads(row.report),
        "last_seq": int(row.last_seq),
        "source": row.source,
        "attempts": int(attempts or 0),
    }


def get_close(conn: Connection, who: Principal, close_id: int) -> dict[str, Any]:
    """One close: both sides' totals, each difference and the transactions explaining it."""
    who.require("batch.read")
    return _detail(conn, _row(conn, who, close_id))


def get_discrepancy(conn: Connection, discrepancy_id: int) -> dict[str, Any]:
    """One stored difference, with everything a case needs (for ``cases``)."""
    row = conn.execute(select(batch_discrepancies).where(d.id == discrepancy_id)).first()
    if row is None:
        raise NotFound(_("no batch discrepancy {discrepancy_id}"), discrepancy_id=discrepancy_id)
    return _discrepancy(row)


def list_closes(
    conn: Connection,
    who: Principal,
    merchant: str | None = None,
    *,
    terminal_id: str | None = None,
    batch_no: str | None = None,
    balanced: bool | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> dict[str, Any]:
    """Closes, the latest first, of the reader's merchants (one of them if asked)."""
    who.require("batch.read")
    if page < 1 or not 1 <= per_page <= MAX_PAGE:
        raise ValidationError(
            "per_page", _("expected page 1 or later, and 1 to {max} items a page"), max=MAX_PAGE
        )
    query = _confined(who, select(batch_closes))
    if merchant:
        if not who.sees(merchant):
            raise Forbidden(_("you have no access to merchant {merchant_no}"), merchant_no=merchant)
        query = query.where(c.merchant_no == merchant)
    if terminal_id:
        query = query.where(c.terminal_id == terminal_id.strip().upper())
    if batch_no:
        query = query.where(c.batch_no == batch_no.strip())
    if balanced is not None:
        query = query.where(c.balanced == balanced)
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar()
    rows = conn.execute(
        query.order_by(c.closed_at.desc(), c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return {
        "items": [_summary(r) for r in rows],
        "total": int(total or 0),
        "page": page,
        "per_page": per_page,
    }


# --- the batch-totals slip -------------------------------------------------------------------


def slip_text(conn: Connection, close: dict[str, Any], width: int = 48) -> str:
    """The close's slip as roll text, to show (nothing is recorded)."""
    from counterfoil.settlement.batch_slip import batch_slip, render_text

    merchant = get_merchant(conn, str(close["merchant_no"])).as_dict()
    return render_text(batch_slip(close, merchant), width)


def slip(cf: Counterfoil, who: Principal, close_id: int, fmt: str) -> tuple[bytes, str, str]:
    """The close's slip in ``fmt`` (text58, text80, pdf58, pdf80): its bytes, media type
    and file name. Each download is audited."""
    from counterfoil.settlement.batch_slip import FORMATS, batch_slip, file_name, render

    who.require("batch.read")
    if fmt not in FORMATS:
        raise ValidationError("format", _("expected one of {options}"), options=", ".join(FORMATS))

    def read(conn: Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        close = get_close(conn, who, close_id)
        return close, get_merchant(conn, str(close["merchant_no"])).as_dict()

    close, merchant = cf.read(read)
    data = render(batch_slip(close, merchant), fmt)
    cf.write(
        lambda conn: audit.record(
            conn,
            who.actor,
            "batch.slip",
            object_type="batch_close",
            object_id=str(close_id),
            merchant_no=str(close["merchant_no"]),
            details={"format": fmt},
        )
    )
    return data, FORMATS[fmt][0], file_name(close, fmt)
