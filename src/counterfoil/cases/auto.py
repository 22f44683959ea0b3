"""Cases that open themselves: one per reconciliation break, batch-close difference or
pre-authorisation violation (``cases.preauths.open_cases``), never two for the same one.

Each case carries an origin reference — ``batch:<discrepancy id>``, ``recon:<break id>``
— unique per merchant (``uq_cases_origin``), so a re-run, a retry or a second caller
finds the case already there and opens nothing. The hooks run inside the caller's
transaction, as the system (actor ``system:cases``). A table that does not exist yet in
the database (another issue's migration not applied) makes its hook open nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, column, inspect, select, table

from counterfoil.cases import workflow as wf
from counterfoil.core.pan import redact_pans
from counterfoil.services.ingest import entry_id
from counterfoil.store.audit import Actor

SYSTEM = Actor("system:cases", "system")

#: reconciliation outcome → case kind
BREAK_KINDS = {
    "amount_mismatch": "amount_error",
    "fee_mismatch": "amount_error",
    "type_mismatch": "type_error",
    "status_mismatch": "status_error",
    "missing_in_statement": "missing_record",
    "missing_in_journal": "missing_record",
    "duplicate": "duplicate_charge",
}


def _columns(conn: Connection, name: str) -> list[str] | None:
    inspector = inspect(conn)
    if not inspector.has_table(name):
        return None
    return [str(col["name"]) for col in inspector.get_columns(name)]


def _seqs(text: Any) -> list[int]:
    return [int(x) for x in str(text or "").split() if x.isdigit()]


def on_batch_discrepancy(conn: Connection, *, merchant_no: str, discrepancy_id: int) -> int | None:
    """Open the case for a stored batch-close difference, once; its id (None: none opened)."""
    names = _columns(conn, "batch_discrepancies")
    if names is None:
        return None
    ref = f"batch:{discrepancy_id}"
    if wf.case_by_origin(conn, merchant_no, ref) is not None:
        return None
    found = table("batch_discrepancies", *(column(n) for n in names))
    row = conn.execute(
        select(found).where(found.c.id == discrepancy_id, found.c.merchant_no == merchant_no)
    ).first()
    if row is None:
        return None
    facts = row._mapping
    difference = int(facts.get("terminal_amount") or 0) - int(facts.get("journal_amount") or 0)
    terminal = facts.get("terminal_id")
    side = facts.get("side") or ""
    description = (
        f"Batch {facts.get('batch_no')} of terminal {terminal}: {side} "
        f"{facts.get('kind')}; terminal {facts.get('terminal_count')} / "
        f"{facts.get('terminal_amount')} fen, journal {facts.get('journal_count')} / "
        f"{facts.get('journal_amount')} fen"
    )
    return wf.insert_case(
        conn,
        SYSTEM,
        merchant_no=merchant_no,
        kind="batch_mismatch",
        title=f"Batch {facts.get('batch_no')} of {terminal} does not balance ({side})",
        description=description,
        origin="batch_close",
        origin_ref=ref,
        terminal_id=terminal,
        difference=difference or None,
        currency=facts.get("currency") or "CNY",
        entries=[{"entry_id": entry_id(merchant_no, s)} for s in _seqs(facts.get("seqs"))],
        details={"discrepancy_id": discrepancy_id, "close_id": facts.get("close_id")},
    )


def _difference(facts: Any) -> int | None:
    """Statement less journal where both sides have an amount, else the one side's."""
    journal, statement = facts.get("amount_journal"), facts.get("amount_statement")
    if journal is not None and statement is not None:
        return int(statement) - int(journal) or None
    found = statement if statement is not None else journal
    return int(found) if found else None


def on_reconciliation_breaks(conn: Connection, *, merchant_no: str, run_id: int) -> int:
    """Open a case for each break of a finished run that has none yet; how many were opened.

    The run's breaks are those it saw last (``last_run_id``) and that are not resolved; a
    break that persists into the next run keeps its ``break_id`` and so its case."""
    names = _columns(conn, "recon_breaks")
    if names is None or not {"break_id", "merchant_no", "last_run_id"} <= set(names):
        return 0
    found = table("recon_breaks", *(column(n) for n in names))
    query = select(found).where(found.c.merchant_no == merchant_no, found.c.last_run_id == run_id)
    if "status" in names:
        query = query.where(found.c.status != "resolved")
    rows = [
        row._mapping
        for row in conn.execute(query.order_by(found.c.break_id))
        if str(row._mapping.get("outcome") or "") not in ("matched", "pending")
    ]
    have = wf.cases_by_origin(conn, merchant_no, [f"recon:{r['break_id']}" for r in rows])
    new = [_break_case(facts, run_id) for facts in rows if f"recon:{facts['break_id']}" not in have]
    return len(wf.insert_cases(conn, SYSTEM, merchant_no, new))


def _break_case(facts: Any, run_id: int) -> wf.NewCase:
    outcome = str(facts.get("outcome") or "")
    seq, import_id, line_no = facts.get("seq"), facts.get("import_id"), facts.get("line_no")
    line = f"{import_id}:{line_no}" if import_id is not None and line_no is not None else None
    merchant_no = str(facts["merchant_no"])
    return wf.NewCase(
        kind=BREAK_KINDS.get(outcome, "other"),
        title=f"Reconciliation: {outcome or 'break'} ({facts['break_id']})"[: wf.MAX_TITLE],
        description=redact_pans(str(facts.get("explanation") or ""))[: wf.MAX_NOTE],
        origin="reconciliation",
        origin_ref=f"recon:{facts['break_id']}",
        difference=_difference(facts),
        entries=[entry_id(merchant_no, int(seq))] if seq is not None else [],
        lines=[line] if line else [],
        details={"run_id": run_id, "break_id": str(facts["break_id"]), "outcome": outcome},
    )
