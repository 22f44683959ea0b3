"""The two ways SQLite sums a business day (one GROUP BY for a small day, a loose scan
of the covering index for a large one) give the same totals, and PostgreSQL's GROUP BY
the same again; a report's open days summed in one pass (PostgreSQL) are what they are
day by day; the card group the database computes agrees with ``core.pan``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from conftest import sale
from counterfoil.core.pan import card_group
from counterfoil.services.context import Counterfoil
from counterfoil.settlement import days, lists, reports, totals
from counterfoil.store.schema import journal_entries
from settlement.helpers import FINANCE, record
from settlement.test_lists import DAY, LATER, MERCHANT, day_of_sales


def _day(cf: Counterfoil) -> list[totals.Total]:
    def job(conn: Any) -> list[totals.Total]:
        settings = days.settings_of(conn, MERCHANT)
        start, end = settings.bounds(DAY)
        return totals.day_totals(conn, MERCHANT, start, end, through=10**9)

    return cf.read(job)


def test_the_index_scan_and_the_group_by_agree(
    cf: Counterfoil, shop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_of_sales(cf)
    grouped = _day(cf)
    monkeypatch.setattr(totals, "SMALL_DAY", 0)  # every day is "large": the index scan
    scanned = _day(cf)
    assert grouped == scanned
    groups = {t.card_group for t in grouped}
    assert {"domestic", "foreign", "qr"} <= groups, groups
    assert sum(t.count for t in grouped) >= 6


@pytest.mark.parametrize(
    ("card_bin", "group"),
    [
        ("622202", "domestic"),
        ("601382", "domestic"),
        ("411111", "foreign"),
        ("555555", "foreign"),
        ("222100", "foreign"),
        ("272099", "foreign"),
        ("272100", "unknown"),
        ("378282", "foreign"),
        ("700000", "unknown"),
        (None, "qr"),
    ],
)
def test_card_groups(card_bin: str | None, group: str) -> None:
    assert card_group(card_bin) == group


def test_the_database_computes_the_same_card_group(cf: Counterfoil, shop: Any) -> None:
    day_of_sales(cf)
    j = journal_entries.c
    rows = cf.read(
        lambda conn: conn.execute(
            select(j.card_bin, j.card_group).where(
                j.merchant_no == MERCHANT, j.kind == "transaction"
            )
        ).all()
    )
    assert rows
    assert all(group == card_group(bin_) for bin_, group in rows), rows


@pytest.mark.parametrize("terminal", [None, "TERM0001"])
def test_a_report_sums_its_open_days_at_once_as_it_would_day_by_day(
    cf: Counterfoil, shop: Any, monkeypatch: pytest.MonkeyPatch, terminal: str | None
) -> None:
    day_of_sales(cf)  # the 20th, and a sale of the 21st
    record(
        cf,
        sale(trace_no="000010", rrn="000000000010", terminal_time="2026-11-18T09:00:00+08:00"),
        sale(trace_no="000011", rrn="000000000011", terminal_time="2026-11-19T12:00:00+08:00"),
        sale(trace_no="000012", rrn="000000000012", terminal_time="2026-11-22T08:00:00+08:00"),
    )
    lists.issue(cf, FINANCE, MERCHANT, DAY, fmt="json", now=LATER)  # the 20th is closed
    first, last = DAY.replace(day=17), DAY.replace(day=22)

    def month(conn: Any) -> dict[str, Any]:
        return reports.report(conn, FINANCE, MERCHANT, first, last, "daily", terminal, now=LATER)

    summed = cf.read(
        lambda conn: lists.open_totals(
            conn, MERCHANT, [first + timedelta(days=n) for n in range(6)], terminal
        )
    )
    together = cf.read(month)
    monkeypatch.setattr(lists, "open_totals", lambda *args: {})
    one_by_one = cf.read(month)
    assert together == one_by_one
    assert [row["count"] for row in together["rows"]] == [0, 1, 1, 7, 1, 1]
    if cf.engine.dialect.name == "postgresql":  # the open days, around the closed 20th
        assert sorted(summed) == [DAY.replace(day=n) for n in (17, 18, 19, 21, 22)]
        assert [sum(t.count for t in summed[day][1]) for day in sorted(summed)] == [0, 1, 1, 1, 1]
    else:  # SQLite sums each day from its index: nothing summed ahead
        assert summed == {}
