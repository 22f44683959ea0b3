"""A run's outcomes read back as rows, one per pair, group member or lone record.

A run keeps its breaks' records one row each in ``recon_outcomes`` (with the break id)
and every other record in sets (``recon_outcome_sets``): this puts them back together.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from sqlalchemy import Connection, select

from counterfoil.store.reconcile_schema import recon_outcome_sets, recon_outcomes

#: (seq, import_id, line_no, outcome, pass, break_id); a side the record has not is None.
OutcomeRecord = tuple[int | None, int | None, int | None, str, str, str | None]


def run_outcomes(conn: Connection, run_id: int) -> Iterator[OutcomeRecord]:
    """Every record of run ``run_id``: the sets' members first, then the breaks' rows."""
    s = recon_outcome_sets.c
    for outcome, pass_, members in conn.execute(
        select(s.outcome, s["pass"], s.members)
        .where(s.run_id == run_id)
        .order_by(s.outcome, s["pass"], s.part)
    ):
        for seq, import_id, line_no in orjson.loads(members):
            yield seq, import_id, line_no, outcome, pass_, None
    o = recon_outcomes.c
    for row in conn.execute(
        select(o.seq, o.import_id, o.line_no, o.outcome, o["pass"], o.break_id).where(
            o.run_id == run_id
        )
    ):
        yield row.seq, row.import_id, row.line_no, row.outcome, row[4], row.break_id
