"""The two ways SQLite sums a business day (one GROUP BY for a small day, a loose scan
of the covering index for a large one) give the same totals, and PostgreSQL's GROUP BY
the same again; the card group the database computes agrees with ``core.pan``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from counterfoil.core.pan import card_group
from counterfoil.services.context import Counterfoil
from counterfoil.settlement import days, totals
from counterfoil.store.schema import journal_entries
from settlement.test_lists import DAY, MERCHANT, day_of_sales


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
