"""Recording transactions: once, by the rules, with fees, every refusal answered and audited.
Runs on SQLite and PostgreSQL."""

from datetime import date
from typing import Any

from sqlalchemy import select

from conftest import MERCHANT, sale
from counterfoil.core.fees import FeeRule
from counterfoil.services import bulk, ingest, lookups
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_fee_rule, add_merchant, add_terminal
from counterfoil.store.audit import Actor
from counterfoil.store.schema import audit_log

ACTOR = Actor("test", "local")


def record(cf: Counterfoil, *payloads: dict[str, Any]) -> list[ingest.ItemResult]:
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    return cf.write(lambda conn: ingest.record(conn, cf.keys, items, ACTOR))


def statuses(results: list[ingest.ItemResult]) -> list[str]:
    return [r.status for r in results]


def test_a_sale_is_recorded_with_its_fee_and_net(cf: Counterfoil, shop: Any) -> None:
    [result] = record(cf, sale())
    assert result.status == "recorded"
    assert result.entry is not None
    assert (result.entry["fee"], result.entry["net"]) == (2861, 473939)
    assert result.entry["entry_id"] == f"{MERCHANT}-2"  # entry 1 is the genesis


def test_the_same_payload_twice_is_one_entry(cf: Counterfoil, shop: Any) -> None:
    first = record(cf, sale())
    again = record(cf, sale(), sale())
    assert statuses(again) == ["duplicate", "duplicate"]
    assert again[0].entry == first[0].entry


def test_a_full_card_number_and_its_mask_are_the_same_payload(cf: Counterfoil, shop: Any) -> None:
    record(cf, sale(card="6222021234567890128"))
    assert statuses(record(cf, sale(card="622202******0128"))) == ["duplicate"]


def test_a_different_payload_under_the_same_key_is_a_conflict_naming_the_key(
    cf: Counterfoil, shop: Any
) -> None:
    record(cf, sale())
    [result] = record(cf, sale(amount=478600))
    assert result.status == "conflict"
    assert result.error is not None
    assert "terminal TERM0001 batch 000001 trace 000001" in result.error.render()
    assert result.error.status == 409


def test_links_update_the_original_and_rules_refuse_with_an_audit_record(
    cf: Counterfoil, shop: Any
) -> None:
    link = {"batch_no": "000001", "trace_no": "000001"}
    results = record(
        cf,
        sale(),
        sale(trace_no="000002", type="refund", amount=100000, original=link),
        sale(trace_no="000003", type="refund", amount=400000, original=link),  # too much
        sale(trace_no="000004", type="void", amount=476800, original=link),  # has refunds
        sale(
            trace_no="000005",
            type="reversal",
            amount=100,
            original={"batch_no": "000009", "trace_no": "000999"},
        ),  # unknown
    )
    assert statuses(results) == ["recorded", "recorded", "refused", "refused", "refused"]
    rules = [r.error.params["rule"] for r in results[2:] if r.error]
    assert rules == ["refund_exceeds", "void_after_refund", "reversal_unknown"]
    with cf.engine.connect() as conn:
        original = lookups.find(conn, f"{MERCHANT}-2")
        refusals = (
            conn.execute(select(audit_log.c.details).where(audit_log.c.outcome == "refused"))
            .scalars()
            .all()
        )
    assert (original["status"], original["refunded"]) == ("partially_refunded", 100000)
    assert len(refusals) == 3
    assert any("refund of 4,000.00 is more than the 3,768.00 left" in d for d in refusals)


def test_a_voided_sale_cannot_be_voided_twice(cf: Counterfoil, shop: Any) -> None:
    link = {"batch_no": "000001", "trace_no": "000001"}
    results = record(
        cf,
        sale(),
        sale(trace_no="000002", type="void", original=link),
        sale(trace_no="000003", type="void", original=link),
    )
    assert statuses(results) == ["recorded", "recorded", "refused"]
    assert results[1].entry is not None
    assert results[1].entry["fee"] == -2861


def test_preauth_completion_rules_across_separate_uploads(cf: Counterfoil, shop: Any) -> None:
    hold = sale(type="preauth", amount=100000, trace_no="000010", rrn="000000000010")
    link = {"rrn": "000000000010"}
    assert statuses(record(cf, hold)) == ["recorded"]
    over = sale(type="completion", amount=115001, trace_no="000011", original=link)
    ok = sale(type="completion", amount=115000, trace_no="000012", original=link)
    again = sale(type="completion", amount=100000, trace_no="000013", original=link)
    results = record(cf, over, ok, again)
    assert statuses(results) == ["refused", "recorded", "refused"]
    assert [r.error.params["rule"] for r in (results[0], results[2]) if r.error] == [
        "completion_above_tolerance",
        "preauth_completed",
    ]
    expired = sale(type="preauth", amount=5000, trace_no="000020", rrn="000000000020")
    late = sale(
        type="completion",
        amount=5000,
        trace_no="000021",
        terminal_time="2026-12-21T14:05:09+08:00",
        original={"rrn": "000000000020"},
    )
    assert statuses(record(cf, expired, late)) == ["recorded", "refused"]


def test_offline_uploads_are_put_in_terminal_time_and_trace_order(
    cf: Counterfoil, shop: Any
) -> None:
    """A refund uploaded before its sale (store-and-forward) is checked after it."""
    refund = sale(
        trace_no="000002",
        type="refund",
        amount=1000,
        offline=True,
        terminal_time="2026-11-20T15:00:00+08:00",
        original={"batch_no": "000001", "trace_no": "000001"},
    )
    first = sale(offline=True)
    results = record(cf, refund, first)
    assert statuses(results) == ["recorded", "recorded"]
    assert results[1].entry is not None
    assert results[0].entry is not None
    assert results[1].entry["seq"] < results[0].entry["seq"]


def test_reversing_a_refund_gives_the_amount_back_to_refund(cf: Counterfoil, shop: Any) -> None:
    link = {"batch_no": "000001", "trace_no": "000001"}
    record(cf, sale(), sale(trace_no="000002", type="refund", amount=476800, original=link))
    results = record(
        cf,
        sale(
            trace_no="000003",
            type="reversal",
            amount=476800,
            original={"batch_no": "000001", "trace_no": "000002"},
        ),
        sale(trace_no="000004", type="refund", amount=476800, original=link),
    )
    assert statuses(results) == ["recorded", "recorded"]


def test_qr_payments_are_keyed_by_their_order_number(cf: Counterfoil, shop: Any) -> None:
    qr = sale(
        channel="wechat", card=None, order_no="4200001234202611201234567890", amount=3550, rrn=None
    )
    del qr["batch_no"], qr["trace_no"]
    refund = dict(
        qr,
        type="refund",
        amount=1000,
        order_no="R4200001234",
        original={"order_no": "4200001234202611201234567890"},
    )
    results = record(cf, qr, refund, qr)
    assert statuses(results) == ["recorded", "recorded", "duplicate"]
    assert results[0].entry is not None
    assert results[0].entry["fee"] == 13


def test_a_payload_for_an_unknown_merchant_is_invalid(cf: Counterfoil, shop: Any) -> None:
    [result] = record(cf, sale(merchant_no="999999999999999"))
    assert result.status == "invalid"
    assert result.error is not None
    assert "999999999999999" in result.error.render()


def test_file_ingest_reports_every_rejected_line(cf: Counterfoil, shop: Any) -> None:
    import orjson

    lines = [
        orjson.dumps(sale()),
        b"",
        b"{not json",
        orjson.dumps(sale(amount="12")),
        orjson.dumps(sale(trace_no="000002", cvv="123")),
        orjson.dumps(sale()),
    ]
    report = bulk.ingest_lines(cf.submit, cf.keys, lines, ACTOR, {MERCHANT})
    assert (report.lines, report.recorded, report.duplicates) == (6, 1, 1)
    assert [(r["line"], r["code"]) for r in report.rejected] == [
        (3, "invalid"),
        (4, "invalid"),
        (5, "card_data_refused"),
    ]
    assert "123" not in str(report.rejected[2])


def test_a_new_fee_rule_starts_at_local_midnight_in_a_zone_with_a_half_hour_offset(
    cf: Counterfoil,
) -> None:
    """In Kolkata (+05:30) the UTC hour 18:00–19:00 holds local midnight: two sales of one
    upload on either side of it fall on two business days and are priced by each day's rule."""
    add_merchant(cf, MERCHANT, "Mumbai Shop", "Asia/Kolkata")
    add_terminal(cf, MERCHANT, "TERM0001")
    add_fee_rule(cf, MERCHANT, FeeRule("credit", 10_000, effective_from=date(2026, 11, 21)))
    before, after = record(
        cf,
        sale(terminal_time="2026-11-20T18:10:00+00:00"),  # 23:40 on the 20th in Kolkata
        sale(trace_no="000002", rrn="000049993191", terminal_time="2026-11-20T18:40:00+00:00"),
    )
    assert before.entry is not None
    assert after.entry is not None
    assert before.entry["fee"] == 2861  # 0.60 %, the default until the 21st
    assert after.entry["fee"] == 4768  # 1.00 % from local midnight
