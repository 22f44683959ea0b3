"""Shared pieces of the case tests: people of each role, a shop with sales, helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from conftest import MERCHANT, OTHER_MERCHANT, sale
from counterfoil.services import ingest, users
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from counterfoil.store.audit import Actor
from counterfoil.store.schema import audit_log

SHANGHAI = ZoneInfo("Asia/Shanghai")


def person(role: str, name: str, merchants: tuple[str, ...] = (MERCHANT,)) -> Principal:
    return Principal("person", f"user:{name}", "192.0.2.7", role=role, merchants=merchants)


SUPERVISOR = person("supervisor", "wang")
FINANCE = person("finance", "qian")
SECOND_FINANCE = person("finance", "sun")
AUDITOR = person("auditor", "zhao")
ADMIN = person("admin", "root")
CASHIER = person("cashier", "li")
NEIGHBOUR = person("finance", "zhou", merchants=(OTHER_MERCHANT,))


def local_time(days_ago: float = 0) -> str:
    moment = datetime.now(UTC) - timedelta(days=days_ago, minutes=5)
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def record(cf: Counterfoil, *payloads: dict[str, Any]) -> list[str]:
    """Record transactions as the terminal sent them; their entry ids, in order."""
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    results = cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("terminal")))
    assert all(r.ok for r in results), [r.error for r in results]
    return [str(r.entry["entry_id"]) for r in results if r.entry]


def audited(cf: Counterfoil, action: str) -> list[dict[str, Any]]:
    with cf.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
        ).mappings()
        return [dict(r) for r in rows]


#: argon2 at its cheapest: these tests are about cases, not about hashing passwords.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def entries(cf: Counterfoil, shop: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two sales of the shop (4,768.00 and 12.00) and one of the neighbour; the shop's
    finance people qian and sun, who work its cases."""
    monkeypatch.setattr(users, "_hasher", CHEAP_HASHER)
    for name in ("qian", "sun"):
        users.add_user(cf, name, "Ledger-proof-42", "finance", [MERCHANT], locale="en")
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    add_terminal(cf, OTHER_MERCHANT, "REST0001")
    ours = record(
        cf,
        sale(terminal_time=local_time()),
        sale(trace_no="000002", rrn="000049993191", amount=1200, terminal_time=local_time()),
    )
    theirs = record(
        cf, sale(merchant_no=OTHER_MERCHANT, terminal_id="REST0001", rrn="000077770001")
    )
    return [*ours, *theirs]
