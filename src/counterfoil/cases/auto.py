"""Cases that open themselves: one per reconciliation break, batch-close difference or
pre-authorisation violation, never two for the same one (filled in by the cases issue)."""

from __future__ import annotations

from sqlalchemy import Connection


def on_batch_discrepancy(conn: Connection, *, merchant_no: str, discrepancy_id: int) -> int | None:
    """Open the case for a stored batch-close difference, once; its id (None: none opened)."""
    return None


def on_reconciliation_breaks(conn: Connection, *, merchant_no: str, run_id: int) -> int:
    """Open a case for each break of a finished run that has none yet; how many were opened."""
    return 0
