"""Helpers of the reconciliation tests: record payloads, a finance person, outcomes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from counterfoil.services import ingest
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor
from counterfoil.store.reconcile_schema import recon_outcomes

ACTOR = Actor("test", "local")


def record(cf: Counterfoil, *payloads: dict[str, Any]) -> list[ingest.ItemResult]:
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    results = cf.write(lambda conn: ingest.record(conn, cf.keys, items, ACTOR))
    assert all(r.status == "recorded" for r in results), [r.error for r in results]
    return results


def finance(*merchants: str) -> Principal:
    return Principal("person", "user:fin", "testclient", role="finance", merchants=merchants)


def outcomes(cf: Counterfoil, run_id: int) -> list[tuple[Any, ...]]:
    o = recon_outcomes.c
    return cf.read(
        lambda conn: [
            tuple(r)
            for r in conn.execute(
                select(
                    o.seq,
                    o.import_id,
                    o.line_no,
                    o.outcome,
                    o.pass_ if hasattr(o, "pass_") else o["pass"],
                )
                .where(o.run_id == run_id)
                .order_by(o.seq, o.line_no)
            )
        ]
    )
