"""Helpers of the reconciliation tests: record payloads, a finance person, outcomes."""

from __future__ import annotations

from typing import Any

from counterfoil.reconcile.outcomes import run_outcomes
from counterfoil.services import ingest
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor

ACTOR = Actor("test", "local")


def record(cf: Counterfoil, *payloads: dict[str, Any]) -> list[ingest.ItemResult]:
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    results = cf.write(lambda conn: ingest.record(conn, cf.keys, items, ACTOR))
    assert all(r.status == "recorded" for r in results), [r.error for r in results]
    return results


def finance(*merchants: str) -> Principal:
    return Principal("person", "user:fin", "testclient", role="finance", merchants=merchants)


def outcomes(cf: Counterfoil, run_id: int) -> list[tuple[Any, ...]]:
    """(seq, import_id, line_no, outcome, pass) of each record of the run, by seq, then line."""
    rows = cf.read(lambda conn: [r[:5] for r in run_outcomes(conn, run_id)])
    return sorted(rows, key=lambda r: (r[0] is None, r[0] or 0, r[2] is None, r[2] or 0))
