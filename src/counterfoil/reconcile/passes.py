"""The passes, as SQL that DuckDB and Spark SQL both run, over the staged tables.

Tables every engine provides: ``entries`` and ``lines`` (``model.ENTRY_COLUMNS``,
``model.LINE_COLUMNS``, made by ``ENTRIES`` and ``LINES`` from the staged files),
``tolerances`` (one row per source), ``params`` (one row: ``day_start``, ``day_end``,
epoch seconds), ``decisions`` (people's latest word per pair) and ``forbidden`` (the
pairs people unmatched). Before each pass the engine provides ``e_open`` and ``l_open``
(``OPEN_ENTRIES``, ``OPEN_LINES``: what no pass has paired yet) and appends the pass's
rows to ``pairs (eid, lid, pass)``. Those two are what an engine does its own way
(DuckDB: views of a base less the newest pairs, and ``INSERT``; Spark: views over a union
of DataFrames).

Every pass has the same shape — a query over the open records that yields new pairs —
so a new rule is a new pass, not a new branch in an old one. One-to-one passes keep a
pair only when each side is the other's best candidate (closest in time, then the lowest
sequence or line): each record is used once, and the outcome does not depend on the
order rows arrive in. Then ``RESULTS`` gives every record its one outcome.

Only ANSI SQL is used: CTEs, joins, ``ROW_NUMBER() OVER``, ``NOT EXISTS``, ``CASE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from counterfoil.reconcile.model import CHANNEL_SOURCE, LINE_BASE, QR_CHANNELS

_QR = ", ".join(f"'{c}'" for c in sorted(QR_CHANNELS))  # our own constants
_NEGATIVE = "('refund', 'void')"

#: ``entries`` from the staged entries (``model.STAGED_ENTRY_COLUMNS``, ``{staged}``: a
#: table or a subquery): the source that settles the channel, the exact key (a QR
#: payment's order number, else the RRN), the kind and the signed amount, and
#: ``revoked`` for an entry voided or reversed since.
ENTRIES: Final = f"""
SELECT j.seq AS eid,
    CASE j.channel {" ".join(f"WHEN '{c}' THEN '{s}'" for c, s in sorted(CHANNEL_SOURCE.items()))}
    END AS src,
    CASE WHEN j.channel IN ({_QR}) AND j.order_no IS NOT NULL THEN 'O:' || j.order_no
        WHEN j.rrn IS NOT NULL THEN 'R:' || j.rrn
        WHEN j.order_no IS NOT NULL THEN 'O:' || j.order_no END AS k1,
    j.terminal_id AS terminal_id, j.trace_no AS trace_no,
    CASE WHEN j.type IN {_NEGATIVE} THEN 'refund' ELSE 'sale' END AS kind,
    CASE WHEN j.type IN {_NEGATIVE} THEN -j.amount ELSE j.amount END AS amount,
    j.fee AS fee, j.last4 AS last4, j.ts AS ts,
    CASE WHEN j.state IN ('voided', 'reversed') THEN 'revoked' ELSE 'success' END AS status
FROM {{staged}} j
"""  # noqa: S608

#: ``lines`` from the staged lines (``{staged}``): one id for import and line, the keys
#: (RRN, else the merchant's order number; the platform's own id), the kind and the status.
LINES: Final = f"""
SELECT l.import_id * {LINE_BASE} + l.line_no AS lid, l.src AS src,
    CASE WHEN l.rrn IS NOT NULL THEN 'R:' || l.rrn
        WHEN l.order_no IS NOT NULL THEN 'O:' || l.order_no END AS k1,
    CASE WHEN l.platform_id IS NOT NULL THEN 'O:' || l.platform_id END AS k2,
    l.terminal_id AS terminal_id, l.trace_no AS trace_no,
    CASE WHEN l.txn_type IN {_NEGATIVE} THEN 'refund'
        WHEN l.txn_type IN ('sale', 'completion') THEN 'sale' ELSE l.txn_type END AS kind,
    l.amount AS amount, l.fee AS fee, l.last4 AS last4, l.ts AS ts,
    CASE WHEN l.status IN ('success', 'booked') THEN 'success'
        WHEN l.status = 'pending' THEN 'pending' ELSE 'revoked' END AS status
FROM {{staged}} l
"""  # noqa: S608

OPEN_ENTRIES: Final = (
    "SELECT e.* FROM entries e WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.eid = e.eid)"
)
OPEN_LINES: Final = (
    "SELECT l.* FROM lines l WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.lid = l.lid)"
)

#: The tail every one-to-one pass shares: mutual best candidates only.
_MUTUAL_BEST = """
), ranked AS (
    SELECT eid, lid,
        ROW_NUMBER() OVER (PARTITION BY eid ORDER BY gap, lid) AS rank_e,
        ROW_NUMBER() OVER (PARTITION BY lid ORDER BY gap, eid) AS rank_l
    FROM candidates
)
SELECT eid, lid, '{name}' AS pass FROM ranked WHERE rank_e = 1 AND rank_l = 1
"""


def _one_to_one(name: str, on: str, where: str = "") -> str:
    head = f"""
WITH candidates AS (
    SELECT e.eid AS eid, l.lid AS lid, ABS(e.ts - l.ts) AS gap
    FROM e_open e
    JOIN l_open l ON {on}
    JOIN tolerances t ON t.src = l.src
    WHERE e.src = l.src {where}
      AND NOT EXISTS (SELECT 1 FROM forbidden f WHERE f.eid = e.eid AND f.lid = l.lid)"""  # noqa: S608
    return _best_of(name, head)


def _best_of(name: str, candidates: str) -> str:
    """``candidates`` (an unfinished CTE of eid, lid, gap) kept where each is the other's best."""
    return candidates + _MUTUAL_BEST.format(name=name)


@dataclass(frozen=True, slots=True)
class Pass:
    name: str
    sql: str
    repeat: bool = True  # run again on what is left until it pairs nothing more


#: In order. ``split`` comes before the one-to-one exact pass so that a transaction
#: settled in two lines (or two refunds settled in one) is not taken for a wrong amount.
#: A split group has two records of one key on a side: only such keys (``dk``, a few in
#: a thousand) are summed, which took a million-record day 0.6 s, not 1.0 s.
PASSES: Final = (
    Pass(
        "manual",
        _best_of(
            "manual",
            """
WITH candidates AS (
    SELECT e.eid AS eid, l.lid AS lid, ABS(e.ts - l.ts) AS gap
    FROM decisions d
    JOIN e_open e ON e.eid = d.eid
    JOIN l_open l ON l.lid = d.lid
    WHERE d.action = 'match'""",
        ),
        repeat=False,
    ),
    Pass(
        "split",
        """
WITH ed AS (
    SELECT src, k1 FROM e_open WHERE k1 IS NOT NULL GROUP BY src, k1 HAVING COUNT(*) > 1
), ld AS (
    SELECT src, k1 FROM l_open WHERE k1 IS NOT NULL GROUP BY src, k1 HAVING COUNT(*) > 1
), dk AS (
    SELECT src, k1 FROM ed UNION SELECT src, k1 FROM ld
), eg AS (
    SELECT e.src AS src, e.k1 AS k1, COUNT(*) AS n, SUM(e.amount) AS total
    FROM e_open e JOIN dk ON dk.src = e.src AND dk.k1 = e.k1 GROUP BY e.src, e.k1
), lg AS (
    SELECT l.src AS src, l.k1 AS k1, COUNT(*) AS n, SUM(l.amount) AS total
    FROM l_open l JOIN dk ON dk.src = l.src AND dk.k1 = l.k1 GROUP BY l.src, l.k1
), g AS (
    SELECT eg.src AS src, eg.k1 AS k1
    FROM eg
    JOIN lg ON lg.src = eg.src AND lg.k1 = eg.k1
    JOIN tolerances t ON t.src = eg.src
    WHERE (eg.n = 1 OR lg.n = 1) AND eg.n + lg.n > 2 AND ABS(eg.total - lg.total) <= t.amount
)
SELECT e.eid AS eid, l.lid AS lid, 'split' AS pass
FROM g
JOIN e_open e ON e.src = g.src AND e.k1 = g.k1
JOIN l_open l ON l.src = g.src AND l.k1 = g.k1
""",
        repeat=False,
    ),
    Pass("exact", _one_to_one("exact", "l.k1 = e.k1")),
    Pass("platform", _one_to_one("platform", "l.k2 = e.k1")),
    Pass(
        "composite",
        _one_to_one(
            "composite",
            "l.terminal_id = e.terminal_id AND l.trace_no = e.trace_no",
            "AND ABS(e.ts - l.ts) <= 86400",
        ),
    ),
    Pass(
        "tolerant",
        _one_to_one(
            "tolerant",
            "l.last4 = e.last4",
            "AND ABS(e.amount - l.amount) <= t.amount AND ABS(e.ts - l.ts) <= t.time_window",
        ),
    ),
)

#: Every record's one outcome: (eid, lid, pass, outcome). A pair is one row; a split
#: group one row per (entry, line) of the group; a record left alone, one row with the
#: other side NULL. Entries voided or reversed and found on no line, and lines outside
#: the day (looked at only in case they pair with one of its entries) are set aside:
#: they are not this day's to reconcile. A record alone is a duplicate when another of
#: its key is paired or comes first: the keys are grouped only for the records alone
#: (a few in a hundred), which took a million-record day 0.96 s, not 2.15 s.
RESULTS: Final = """
WITH paired_e AS (
    SELECT DISTINCT eid FROM pairs
), paired_l AS (
    SELECT DISTINCT lid FROM pairs
), lone_e AS (
    SELECT e.* FROM entries e
    WHERE e.status <> 'revoked' AND NOT EXISTS (SELECT 1 FROM paired_e p WHERE p.eid = e.eid)
), lone_l AS (
    SELECT l.* FROM lines l CROSS JOIN params pr
    WHERE l.ts >= pr.day_start AND l.ts < pr.day_end
      AND NOT EXISTS (SELECT 1 FROM paired_l p WHERE p.lid = l.lid)
), ek AS (
    SELECT e.k1 AS k1, MIN(e.eid) AS first_id,
        MAX(CASE WHEN p.eid IS NULL THEN 0 ELSE 1 END) AS any_paired
    FROM entries e LEFT JOIN paired_e p ON p.eid = e.eid
    WHERE e.k1 IN (SELECT k1 FROM lone_e) GROUP BY e.k1
), lk AS (
    SELECT l.k1 AS k1, MIN(l.lid) AS first_id,
        MAX(CASE WHEN p.lid IS NULL THEN 0 ELSE 1 END) AS any_paired
    FROM lines l LEFT JOIN paired_l p ON p.lid = l.lid
    WHERE l.k1 IN (SELECT k1 FROM lone_l) GROUP BY l.k1
)
SELECT p.eid AS eid, p.lid AS lid, p.pass AS pass,
    CASE
        WHEN p.pass IN ('manual', 'split') THEN 'matched'
        WHEN l.status = 'pending' THEN 'pending'
        WHEN e.kind <> l.kind THEN 'type_mismatch'
        WHEN e.status <> l.status THEN 'status_mismatch'
        WHEN ABS(e.amount - l.amount) > t.amount THEN 'amount_mismatch'
        WHEN e.fee IS NOT NULL AND l.fee IS NOT NULL AND ABS(e.fee - l.fee) > t.amount
            THEN 'fee_mismatch'
        ELSE 'matched'
    END AS outcome
FROM pairs p
JOIN entries e ON e.eid = p.eid
JOIN lines l ON l.lid = p.lid
JOIN tolerances t ON t.src = l.src
UNION ALL
SELECT e.eid AS eid, CAST(NULL AS BIGINT) AS lid, 'none' AS pass,
    CASE
        WHEN ek.any_paired = 1 OR ek.first_id < e.eid THEN 'duplicate'
        WHEN e.ts >= pr.day_end - t.settlement_window THEN 'pending'
        ELSE 'missing_in_statement'
    END AS outcome
FROM lone_e e
CROSS JOIN params pr
JOIN tolerances t ON t.src = e.src
LEFT JOIN ek ON ek.k1 = e.k1
UNION ALL
SELECT CAST(NULL AS BIGINT) AS eid, l.lid AS lid, 'none' AS pass,
    CASE
        WHEN lk.any_paired = 1 OR lk.first_id < l.lid THEN 'duplicate'
        WHEN l.status = 'pending' THEN 'pending'
        ELSE 'missing_in_journal'
    END AS outcome
FROM lone_l l
LEFT JOIN lk ON lk.k1 = l.k1
"""

#: Per side and outcome: how many records, how much money (each record counted once: only
#: a split group names a record in more than one row, so only its rows are made distinct).
SUMMARY: Final = """
SELECT 'journal' AS side, x.outcome AS outcome, COUNT(*) AS n, SUM(e.amount) AS amount
FROM (SELECT eid, outcome FROM results WHERE eid IS NOT NULL AND pass <> 'split'
      UNION ALL SELECT DISTINCT eid, outcome FROM results WHERE pass = 'split') x
JOIN entries e ON e.eid = x.eid
GROUP BY x.outcome
UNION ALL
SELECT 'statement' AS side, x.outcome AS outcome, COUNT(*) AS n, SUM(l.amount) AS amount
FROM (SELECT lid, outcome FROM results WHERE lid IS NOT NULL AND pass <> 'split'
      UNION ALL SELECT DISTINCT lid, outcome FROM results WHERE pass = 'split') x
JOIN lines l ON l.lid = x.lid
GROUP BY x.outcome
"""

#: What came in, per side, and what was set aside (see ``RESULTS``).
TOTALS: Final = """
SELECT 'journal' AS side, 'staged' AS what, COUNT(*) AS n, SUM(amount) AS amount FROM entries
UNION ALL
SELECT 'statement', 'staged', COUNT(*), SUM(amount) FROM lines
UNION ALL
SELECT 'journal', 'set_aside', COUNT(*), SUM(e.amount) FROM entries e
WHERE e.status = 'revoked' AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.eid = e.eid)
UNION ALL
SELECT 'statement', 'set_aside', COUNT(*), SUM(l.amount) FROM lines l CROSS JOIN params pr
WHERE (l.ts < pr.day_start OR l.ts >= pr.day_end)
  AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.lid = l.lid)
"""

#: The outcome rows of the breaks as ``recon_outcomes`` keeps them, less the run and the
#: break id: (seq, import_id, line_no, outcome, pass). A line id splits into import and
#: line.
STORED: Final = f"""
SELECT eid, CAST(FLOOR(lid / {LINE_BASE}) AS BIGINT) AS import_id, lid % {LINE_BASE} AS line_no,
    outcome, pass
FROM results WHERE outcome NOT IN ('matched', 'pending')
"""  # noqa: S608

#: The same for every other record (matched, pending: most of a day), in the order
#: ``engines.base.outcome_sets`` cuts into sets.
SETTLED: Final = f"""
SELECT eid, CAST(FLOOR(lid / {LINE_BASE}) AS BIGINT) AS import_id, lid % {LINE_BASE} AS line_no,
    outcome, pass
FROM results WHERE outcome IN ('matched', 'pending')
ORDER BY outcome, pass, eid NULLS LAST, lid NULLS LAST
"""  # noqa: S608

#: The breaks with what explaining them needs.
DETAILS: Final = """
SELECT r.eid, r.lid, r.pass, r.outcome,
    e.k1, e.terminal_id, e.trace_no, e.kind, e.amount, e.fee, e.status, e.ts, e.last4,
    l.k1, l.k2, l.terminal_id, l.trace_no, l.kind, l.amount, l.fee, l.status, l.ts, l.last4,
    COALESCE(l.src, e.src)
FROM results r
LEFT JOIN entries e ON e.eid = r.eid
LEFT JOIN lines l ON l.lid = r.lid
WHERE r.outcome NOT IN ('matched', 'pending')
ORDER BY COALESCE(r.eid, 0), COALESCE(r.lid, 0)
"""
DETAIL_FIELDS: Final = (
    "eid", "lid", "pass", "outcome",
    "e_k1", "e_terminal_id", "e_trace_no", "e_kind", "e_amount", "e_fee", "e_status", "e_ts",
    "e_last4",
    "l_k1", "l_k2", "l_terminal_id", "l_trace_no", "l_kind", "l_amount", "l_fee", "l_status",
    "l_ts", "l_last4", "src",
)  # fmt: skip
