"""What the settlement tests share: people, recording transactions as a terminal sends them."""

from __future__ import annotations

from typing import Any

from conftest import MERCHANT
from counterfoil.services import ingest
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor


def person(role: str, merchants: tuple[str, ...] = (MERCHANT,)) -> Principal:
    return Principal("person", f"user:{role}", "192.0.2.7", role=role, merchants=merchants)


FINANCE = person("finance")
SUPERVISOR = person("supervisor")
AUDITOR = person("auditor")
CASHIER = person("cashier")
ADMIN = person("admin", ())


def record(cf: Counterfoil, *payloads: dict[str, Any]) -> list[int]:
    """Record transactions as the terminal sent them; their journal sequences, in order."""
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    results = cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("terminal")))
    assert all(r.ok for r in results), [r.error for r in results]
    return [int(r.entry["seq"]) for r in results if r.entry]
