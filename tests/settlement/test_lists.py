"""The settlement list of a business day: cut-off, sections, netting, fees, closing,
reproducible copies and late uploads. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, sale
from counterfoil.core.errors import Conflict, Forbidden, ValidationError
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from counterfoil.settlement import days, lists
from counterfoil.store.schema import audit_log
from counterfoil.store.settlement_schema import day_closes, settlement_issues
from settlement.helpers import ADMIN, AUDITOR, CASHIER, FINANCE, SUPERVISOR, person, record

DAY = date(2026, 11, 20)
#: Well after the day's cut-off: the day is over.
LATER = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def day_of_sales(cf: Counterfoil) -> list[int]:
    """Sales of 20 November (one at 23:30 the night before belongs to it), a void, a
    refund, a WeChat payment, a foreign card, and a sale at 23:30 that is the 21st's."""
    return record(
        cf,
        sale(trace_no="000001", rrn="000000000001", terminal_time="2026-11-19T23:30:00+08:00"),
        sale(trace_no="000002", rrn="000000000002", amount=100000),
        sale(trace_no="000003", rrn="000000000003", amount=50000, channel="debit"),
        sale(
            type="void",
            trace_no="000004",
            rrn="000000000004",
            amount=50000,
            channel="debit",
            original={"rrn": "000000000003"},
        ),
        sale(
            type="refund",
            trace_no="000005",
            rrn="000000000005",
            amount=20000,
            original={"rrn": "000000000002"},
        ),
        sale(trace_no="000006", rrn="000000000006", card="411111******1111", amount=30000),
        sale(
            trace_no=None,
            rrn=None,
            channel="wechat",
            order_no="4200000001202611200000000001",
            card=None,
            entry_mode="qr_scan",
            amount=8800,
            auth_code=None,
        ),
        sale(trace_no="000007", rrn="000000000007", terminal_time="2026-11-20T23:30:00+08:00"),
    )


def test_business_day_follows_the_cut_off() -> None:
    settings = days.DaySettings(MERCHANT, "23:00", "Asia/Shanghai", "t1_business", "CN")
    at = datetime.fromisoformat
    assert settings.business_day(at("2026-11-20T22:59:59+08:00")) == DAY
    assert settings.business_day(at("2026-11-20T23:30:00+08:00")) == date(2026, 11, 21)
    start, end = settings.bounds(DAY)
    assert start == at("2026-11-19T23:00:00+08:00")
    assert end == at("2026-11-20T23:00:00+08:00")
    midnight = days.DaySettings(MERCHANT, "00:00", "Asia/Shanghai", "d0", "CN")
    assert midnight.business_day(at("2026-11-20T23:30:00+08:00")) == DAY


def test_settlement_dates_by_cycle_and_holidays() -> None:
    friday = date(2026, 9, 25)
    holidays = days.parse_calendar(
        "# 国庆\n2026-10-01 holiday 国庆节\n2026-10-02 holiday\n2026-09-27 workday 调休\n"
    )
    assert days.settles_on(friday, "d0", holidays) == friday
    assert days.settles_on(friday, "t1_calendar", holidays) == date(2026, 9, 26)
    assert days.settles_on(friday, "t1_business", holidays) == date(2026, 9, 27)  # 调休 Sunday
    assert days.settles_on(date(2026, 9, 30), "t1_business", holidays) == date(2026, 10, 5)
    with pytest.raises(ValidationError) as bad:
        days.parse_calendar("2026-10-01 holiday\n2026-13-01 holiday\n")
    assert bad.value.field == "line 2"


def test_the_list_nets_voids_and_refunds_and_charges_the_schedule(
    cf: Counterfoil, shop: Any
) -> None:
    day_of_sales(cf)
    found = cf.read(lambda conn: lists.build(conn, FINANCE, MERCHANT, DAY, now=LATER))
    s = found.summary
    by_type = {x.key: x for x in found.by_type}
    assert by_type["sale"].count == 5
    assert by_type["sale"].volume == 476800 + 100000 + 50000 + 30000 + 8800
    assert by_type["void"].volume == -50000
    assert by_type["refund"].volume == -20000
    assert s["volume"] == 476800 + 100000 + 30000 + 8800 - 20000
    # credit 0.60 %: 2860.80 → 2861, 600, 180; debit 0.50 % returned whole by its void;
    # WeChat 0.38 %: 33.44 → 33; the refund returns its share of the 600 (120)
    assert s["fee"] == 2861 + 600 + 180 + 33 - 120
    assert s["net"] == s["volume"] - s["fee"]
    assert s["to_settle"] == s["net"]
    assert {x.key: x.count for x in found.by_card_group} == {"domestic": 5, "foreign": 1}
    assert {x.key for x in found.by_channel} == {"credit", "debit", "wechat"}
    assert found.settles_on == date(2026, 11, 23)  # Friday: T+1 business day is Monday
    assert found.provisional
    assert found.merchant_name == "测试便利店"
    # the sale at 23:30 on the 20th is the 21st's
    after = cf.read(
        lambda conn: lists.build(conn, FINANCE, MERCHANT, date(2026, 11, 21), now=LATER)
    )
    assert after.summary["count"] == 1


def test_other_kinds_have_their_own_section(cf: Counterfoil, shop: Any) -> None:
    day_of_sales(cf)
    found = cf.read(lambda conn: lists.build(conn, FINANCE, MERCHANT, DAY, now=LATER))
    assert found.other_kinds == []
    extra = lists.Total(
        TERMINAL, "recovered", "sale", "credit", "domestic", "CNY", 1, 500, 500, 3, 497
    )
    more = lists.summarise(
        lists.SettlementList(
            **{
                **{n: getattr(found, n) for n in found.__dataclass_fields__},
                "totals": [*found.totals, extra],
            }
        )
    )
    assert [(x.key, x.count, x.net) for x in more.other_kinds] == [("recovered", 1, 497)]
    assert more.summary["net"] == found.summary["net"] + 497
    assert "recovered" not in {x.key for x in more.by_type}


def test_one_terminal_and_scoping(cf: Counterfoil, shop: Any) -> None:
    day_of_sales(cf)
    found = cf.read(lambda conn: lists.build(conn, FINANCE, MERCHANT, DAY, "TERM0002", now=LATER))
    assert found.summary["count"] == 0
    with pytest.raises(Forbidden):
        cf.read(lambda conn: lists.build(conn, CASHIER, MERCHANT, DAY, now=LATER))
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    with pytest.raises(Forbidden):
        cf.read(lambda conn: lists.build(conn, person("finance", (OTHER_MERCHANT,)), MERCHANT, DAY))


def strip_mark(content: bytes) -> bytes:
    """The copy without the lines of its reprint marking (JSON: its "reprint" member)."""
    return b"".join(
        line
        for line in content.splitlines(keepends=True)
        if b"REPRINT" not in line and b'"reprint"' not in line
    )


@pytest.mark.parametrize("fmt", ["text58", "text80", "csv", "json"])
def test_a_regenerated_copy_is_marked_and_otherwise_identical(
    cf: Counterfoil, shop: Any, fmt: str
) -> None:
    day_of_sales(cf)
    first = lists.issue(cf, FINANCE, MERCHANT, DAY, fmt=fmt, locale="zh_CN", now=LATER)
    # something arrives for the closed day: the list does not change
    record(cf, sale(trace_no="000099", rrn="000000000099", amount=12345))
    again = lists.issue(cf, AUDITOR, MERCHANT, DAY, fmt=fmt, locale="zh_CN", now=datetime.now(UTC))
    assert first.issue_no == 0
    assert again.issue_no == 1
    assert b"REPRINT" not in first.content
    assert "REPRINT / 重印 No. 1".encode() in again.content
    assert strip_mark(again.content) == strip_mark(first.content)


def test_pdf_and_xlsx_copies_are_byte_identical_but_for_their_number(
    cf: Counterfoil, shop: Any
) -> None:
    day_of_sales(cf)
    lists.issue(cf, FINANCE, MERCHANT, DAY, fmt="text80", now=LATER)
    one = lists.issue(cf, FINANCE, MERCHANT, DAY, fmt="pdf", now=LATER)
    two = lists.issue(cf, FINANCE, MERCHANT, DAY, fmt="pdf", now=datetime.now(UTC))
    assert (one.issue_no, two.issue_no) == (1, 2)
    assert one.content.startswith(b"%PDF")
    assert len(one.content) == len(two.content)
    differ = [n for n, (a, b) in enumerate(zip(one.content, two.content, strict=True)) if a != b]
    assert 0 < len(differ) <= 2, differ  # the number's glyph code, nothing else
    assert (
        next(page.extract_text() for page in PdfReader(io.BytesIO(two.content)).pages).count(
            "No. 2"
        )
        == 1
    )
    one = lists.issue(cf, FINANCE, MERCHANT, DAY, fmt="xlsx", now=LATER)
    two = lists.issue(cf, FINANCE, MERCHANT, DAY, fmt="xlsx", now=datetime.now(UTC))
    a, b = zipfile.ZipFile(io.BytesIO(one.content)), zipfile.ZipFile(io.BytesIO(two.content))
    assert a.namelist() == b.namelist()
    n1, n2 = f"No. {one.issue_no}".encode(), f"No. {two.issue_no}".encode()
    changed = [n for n in a.namelist() if a.read(n) != b.read(n)]
    assert len(changed) == 1, changed
    assert b.read(changed[0]).replace(n2, n1) == a.read(changed[0])
    again = lists.issue(cf, FINANCE, MERCHANT, DAY, fmt="xlsx", now=LATER)
    assert len(again.content) == len(two.content)


def test_a_day_not_over_cannot_be_issued_and_a_closed_day_not_closed_again(
    cf: Counterfoil, shop: Any
) -> None:
    day_of_sales(cf)
    with pytest.raises(Conflict):
        lists.issue(cf, FINANCE, MERCHANT, DAY, now=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with pytest.raises(Forbidden):
        lists.close_day(cf, AUDITOR, MERCHANT, DAY)
    closed = lists.close_day(cf, SUPERVISOR, MERCHANT, DAY, now=LATER)
    assert closed.reason == "closed"
    with pytest.raises(Conflict):
        lists.close_day(cf, FINANCE, MERCHANT, DAY, now=LATER)
    with pytest.raises(ValidationError):
        lists.close_day(cf, FINANCE, MERCHANT, date(2030, 1, 1))
    actions = cf.read(
        lambda conn: [
            r.action for r in conn.execute(select(audit_log.c.action, audit_log.c.outcome))
        ]
    )
    assert "settlement.close" in actions


def test_closes_and_issues_are_append_only(cf: Counterfoil, shop: Any) -> None:
    day_of_sales(cf)
    lists.issue(cf, FINANCE, MERCHANT, DAY, now=LATER)
    for table in (day_closes, settlement_issues):
        with pytest.raises(DBAPIError):
            cf.write(
                lambda conn, t=table: conn.execute(update(t).values(merchant_no=OTHER_MERCHANT))
            )
        with pytest.raises(DBAPIError):
            cf.write(lambda conn, t=table: conn.execute(t.delete()))


def test_a_late_upload_shows_on_the_next_list(cf: Counterfoil, shop: Any) -> None:
    day_of_sales(cf)
    lists.close_day(cf, SUPERVISOR, MERCHANT, DAY, now=LATER)
    # the offline terminal catches up: a sale of the 20th, after its day was closed
    (late_seq,) = record(
        cf, sale(trace_no="000050", rrn="000000000050", amount=10000, offline=True)
    )
    closed = cf.read(lambda conn: lists.build(conn, FINANCE, MERCHANT, DAY))
    assert all(x.seq != late_seq for x in closed.late_items)  # the closed day is unchanged
    nxt = cf.read(lambda conn: lists.build(conn, FINANCE, MERCHANT, date(2026, 11, 21), now=LATER))
    (item,) = nxt.late_items
    assert (item.seq, item.reason, item.business_day) == (late_seq, "day_closed", DAY)
    assert nxt.summary["late_net"] == 10000 - 60
    assert nxt.summary["to_settle"] == nxt.summary["net"] + 10000 - 60
    doc = lists.issue(
        cf, FINANCE, MERCHANT, date(2026, 11, 21), fmt="text80", locale="en", now=LATER
    )
    assert b"Late items" in doc.content
    assert b"Arrived after its day was closed" in doc.content
    # once the 21st is closed, the late item stays on its list, and on no later one
    later = cf.read(
        lambda conn: lists.build(conn, FINANCE, MERCHANT, date(2026, 11, 22), now=LATER)
    )
    assert later.late_items == []


def test_settings_change_is_audited_and_applies(cf: Counterfoil, shop: Any) -> None:
    with pytest.raises(Forbidden):
        days.set_settings(cf, FINANCE, MERCHANT, cutoff="22:00")
    with pytest.raises(ValidationError) as bad:
        days.set_settings(cf, ADMIN, MERCHANT, cutoff="25:00")
    assert bad.value.field == "cutoff"
    days.set_settings(cf, ADMIN, MERCHANT, cutoff="00:00", cycle="d0")
    day_of_sales(cf)
    found = cf.read(lambda conn: lists.build(conn, FINANCE, MERCHANT, DAY, now=LATER))
    assert found.settles_on == DAY
    assert found.summary["count"] == 7  # the 23:30 sale of the 20th is the 20th's now
    actions = cf.read(lambda conn: [r[0] for r in conn.execute(select(audit_log.c.action))])
    assert "settlement.settings" in actions
