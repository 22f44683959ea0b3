"""Tests of the demo data: counterfoil.demo.generate and counterfoil.demo.load."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from counterfoil.config import load_settings
from counterfoil.core.models import CHANNELS, FIELDS, TYPES, parse_transaction
from counterfoil.demo.generate import RESTAURANT, SHOP, TRACE_MAX, generate, tally
from counterfoil.demo.load import demo_users, load_demo
from counterfoil.services.context import Counterfoil
from counterfoil.services.users import get_user, list_users
from counterfoil.services.verification import load_checkpoints, verify
from counterfoil.store.schema import journal_entries, user_terminals

END = date(2026, 11, 21)
CARD = re.compile(r"^\d{6}\*{6}\d{4}$")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Counterfoil]:
    """A fresh store of its own (this module does not use the shared ``cf`` fixture)."""
    cf = Counterfoil.open(load_settings(home=tmp_path))
    try:
        yield cf
    finally:
        cf.close()


def payloads(seed: int = 7, days: int = 7, end: date = END) -> list[dict[str, Any]]:
    return generate(seed, days, end)[2]


def test_same_seed_same_payloads_and_another_seed_others() -> None:
    assert payloads(7) == payloads(7)
    assert payloads(7) != payloads(8)


def test_a_shorter_window_from_the_same_day_is_a_prefix() -> None:
    first = END - timedelta(days=6)
    short = payloads(days=3, end=first + timedelta(days=2))
    assert short == payloads(days=7, end=END)[: len(short)]


def test_every_payload_is_in_the_terminal_format() -> None:
    merchants, terminals, items = generate(7, 7, END)
    assert {len(m.merchant_no) for m in merchants} == {15}
    assert len(terminals) == 6
    for p in items:
        assert set(p) <= FIELDS
        parse_transaction(p)  # raises on any bad field
        assert p["terminal_time"].endswith("+08:00")
        assert re.fullmatch(r"\d{6}", p["batch_no"])
        assert re.fullmatch(r"\d{6}", p["trace_no"])
        if p["channel"] in ("credit", "debit"):
            assert CARD.match(p["card"])
            assert p.get("offline") or p["type"] == "reversal" or len(p["rrn"]) == 12
        else:
            assert p["order_no"]


def test_trace_numbers_advance_per_terminal_and_batches_per_day() -> None:
    by_terminal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in payloads(days=7):
        by_terminal[p["terminal_id"]].append(p)
    wrapped = False
    for items in by_terminal.values():
        items.sort(key=lambda p: (p["terminal_time"], p["trace_no"]))
        for before, after in itertools.pairwise(items):
            assert int(after["trace_no"]) == int(before["trace_no"]) % TRACE_MAX + 1
            wrapped |= after["trace_no"] == "000001"
            gap = (
                datetime.fromisoformat(after["terminal_time"]).date()
                - datetime.fromisoformat(before["terminal_time"]).date()
            ).days
            assert int(after["batch_no"]) - int(before["batch_no"]) == gap
    assert wrapped


def test_offline_uploads_come_late_and_out_of_order() -> None:
    items = payloads(days=7)
    where = [i for i, p in enumerate(items) if p.get("offline")]
    assert len(where) >= 5
    assert where == list(range(where[0], where[-1] + 1))  # one upload batch
    times = [items[i]["terminal_time"] for i in where]
    assert times != sorted(times)
    assert min(items[where[-1] + 1 :], key=lambda p: p["terminal_time"])["terminal_time"] > max(
        times
    )
    assert {items[i]["channel"] for i in where} <= {"credit", "debit"}


def test_seven_days_load_completely_and_verify(store: Counterfoil) -> None:
    result = load_demo(store, seed=7, days=7, end=END)
    expected = payloads(days=7)
    counts = tally(expected)

    assert result["refused"] == 0, result["problems"]
    assert result["recorded"] == result["transactions"] == len(expected)
    assert result["duplicates"] == 0
    assert result["from"] == "2026-11-15"
    assert result["to"] == "2026-11-21"
    assert len(result["merchants"]) == 2
    assert sorted(result["tokens"]) == sorted(t for ts in result["terminals"].values() for t in ts)
    assert result["counts"] == counts
    assert 150 * 7 <= counts[SHOP.merchant_no]["transactions"] <= 400 * 7
    assert 40 * 7 <= counts[RESTAURANT.merchant_no]["transactions"] <= 100 * 7
    everything: dict[str, int] = defaultdict(int)
    for mine in counts.values():
        for name, n in {**mine["types"], **mine["channels"]}.items():
            everything[name] += n
    assert set(TYPES) <= set(everything)
    assert set(CHANNELS) <= set(everything)
    assert sum(mine["offline"] for mine in counts.values()) >= 5

    j = journal_entries.c
    with store.engine.connect() as conn:
        for merchant_no, mine in counts.items():
            recorded = conn.execute(
                select(func.count()).where(j.merchant_no == merchant_no, j.kind == "transaction")
            ).scalar_one()
            assert recorded == mine["transactions"]
            assert load_checkpoints(conn, merchant_no)[-1].tree_size == recorded + 1
        offline = conn.execute(
            select(j.terminal_time, j.trace_no).where(j.offline.is_(True)).order_by(j.seq)
        ).all()
    assert len(offline) == sum(mine["offline"] for mine in counts.values())
    assert offline == sorted(offline)  # recorded in terminal time order, not upload order

    reports = verify(store, full=True)
    assert [r.problem for r in reports] == [None, None]


def test_loading_twice_adds_nothing(store: Counterfoil) -> None:
    first = load_demo(store, seed=3, days=2, end=END)
    again = load_demo(store, seed=3, days=2, end=END)
    assert first["recorded"] > 0
    assert first["refused"] == 0
    assert again["recorded"] == 0
    assert again["refused"] == 0
    assert again["duplicates"] == first["recorded"]
    assert again["tokens"] == {}


def test_without_an_end_a_second_load_keeps_the_first_window(store: Counterfoil) -> None:
    first = load_demo(store, seed=5, days=2)
    again = load_demo(store, seed=5, days=2)
    assert (again["from"], again["to"]) == (first["from"], first["to"])
    assert again["recorded"] == 0
    assert again["refused"] == 0
    assert again["duplicates"] == first["transactions"]


def test_the_demo_cashier_works_at_the_shops_first_terminal(store: Counterfoil) -> None:
    result = load_demo(store, seed=3, days=1, end=END)
    logins = demo_users(store, result["merchants"])
    assert logins["cashier"] == "cashier"
    people = {u.username: u for u in store.read(list_users)}
    till = (SHOP.merchant_no, "SHOP0001")
    assert people["cashier"].terminals == (till,)
    assert people["cashier"].sees_terminal(*till)
    assert not people["cashier"].sees_terminal(SHOP.merchant_no, "SHOP0002")
    assert people["supervisor"].terminals == ()
    assert people["supervisor"].sees_terminal(SHOP.merchant_no, "SHOP0002")
    # a cashier an older demo made without terminals is given the first one
    store.write(lambda conn: conn.execute(delete(user_terminals)))
    assert demo_users(store, result["merchants"]) == logins
    assert store.read(lambda conn: get_user(conn, "cashier")).terminals == (till,)
