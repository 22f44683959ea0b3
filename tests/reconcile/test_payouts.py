"""Payouts: expected net settlement per settlement date against real bank credits.

The bank's word is ING's real MT940 statement (``samples/mt940/jejik-ing.sta``): credits of
EUR 3.68 on 2010-07-22 and EUR 1.00 on 2010-07-23, the statement reaching 2010-07-23. The
journal is built so that they are expected (T+1 business day, cut-off 23:00)::

    business day   net     settles on   bank                       outcome
    Mon 07-19      0.50    Tue 07-20    —                          missing_in_statement
    Tue 07-20      2.00    Wed 07-21    ┐ 3.68 on 07-22 (one       matched (combined)
    Wed 07-21      1.68    Thu 07-22    ┘ credit, two payouts)
    Thu 07-22      1.20    Fri 07-23    1.00 on 07-23              amount_mismatch
    Fri 07-23      0.75    Mon 07-26    (statement ends 07-23)     pending

and a notification (camt.054) adds, on 07-23, 3.68 again (``duplicate``) and 9,999.00
nobody expected (``missing_in_journal``).
"""

from __future__ import annotations

import contextvars
import json
import random
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from conftest import MERCHANT, TERMINAL
from counterfoil.cli.main import app
from counterfoil.config import Settings
from counterfoil.core.errors import Forbidden, NotFound
from counterfoil.core.fees import DEFAULT_RULES
from counterfoil.core.money import format_amount
from counterfoil.reconcile import payouts
from counterfoil.reconcile.payouts_match import Credit, Expected, Terms, match
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.statements import import_file
from reconcile.recon_helpers import ACTOR, finance, record

ING = Path(__file__).parents[3] / "shared" / "samples" / "mt940" / "jejik-ing.sta"
RULE = next(r for r in DEFAULT_RULES if r.channel == "credit")
NETS = {  # business day → net in euro cents
    date(2010, 7, 19): 50,
    date(2010, 7, 20): 200,
    date(2010, 7, 21): 168,
    date(2010, 7, 22): 120,
    date(2010, 7, 23): 75,
}

CAMT054 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">
 <BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>CF-TEST-{tag}</MsgId><CreDtTm>2010-07-23T18:00:00+02:00</CreDtTm></GrpHdr>
  <Ntfctn>
   <Id>CF-TEST-{tag}</Id>
   <CreDtTm>2010-07-23T18:00:00+02:00</CreDtTm>
   <Acct><Id><IBAN>NL69INGB0123456789</IBAN></Id></Acct>
   {entries}
  </Ntfctn>
 </BkToCstmrDbtCdtNtfctn>
</Document>
"""
NTRY = """<Ntry><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
   <BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>
   <AcctSvcrRef>{ref}</AcctSvcrRef>
   <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
   </Ntry>"""


def _camt054(folder: Path, tag: str, *credits: tuple[str, str, str], ccy: str = "EUR") -> Path:
    entries = "\n".join(NTRY.format(amount=a, day=d, ref=r, ccy=ccy) for a, d, r in credits)
    path = folder / f"camt054-{tag}.xml"
    path.write_text(CAMT054.format(tag=tag, entries=entries), encoding="utf-8")
    return path


def _gross(net: int) -> int:
    """The sale amount whose net, after the credit-card fee, is ``net``."""
    amount = net
    while amount - RULE.fee(amount) != net:
        amount += 1
    return amount


def _sales() -> list[dict[str, Any]]:
    found = []
    for n, (day, net) in enumerate(sorted(NETS.items()), start=1):
        found.append(
            {
                "merchant_no": MERCHANT,
                "terminal_id": TERMINAL,
                "batch_no": "000001",
                "trace_no": f"{n:06d}",
                "type": "sale",
                "channel": "credit",
                "amount": _gross(net),
                "currency": "EUR",
                "terminal_time": f"{day.isoformat()}T12:00:00+08:00",
                "rrn": f"{n:012d}",
                "auth_code": "123456",
                "card": "622202******0123",
            }
        )
    return found


def _by_outcome(run: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in run["outcomes"]:
        found.setdefault(row["outcome"], []).append(row)
    return found


def test_payouts_against_ings_real_statement(
    cf: Counterfoil, shop: dict[str, Any], tmp_path: Path
) -> None:
    record(cf, *_sales())
    ing = import_file(cf, ING, merchant_no=MERCHANT, actor=ACTOR)
    assert ing.lines > 0
    assert not ing.already_imported
    extra = _camt054(
        tmp_path, "1", ("3.68", "2010-07-23", "AGAIN-368"), ("9999.00", "2010-07-23", "WHO-9999")
    )
    import_file(cf, extra, merchant_no=MERCHANT, actor=ACTOR)
    who = finance(MERCHANT)

    run = payouts.run_payouts(
        cf, who, merchant_no=MERCHANT, date_from=date(2010, 7, 19), date_to=date(2010, 7, 26)
    )
    assert run["as_of"] == "2010-07-23"  # the last date the bank statements reach
    got = _by_outcome(run)
    assert set(got) == {
        "matched", "missing_in_statement", "amount_mismatch", "pending", "duplicate",
        "missing_in_journal",
    }  # fmt: skip
    # many-to-one: ING's 3.68 on 07-22 pays the payouts of 07-21 and 07-22
    matched = got["matched"]
    assert {(r["settle_date"], r["expected_amount"]) for r in matched if r["settle_date"]} == {
        ("2010-07-21", 200),
        ("2010-07-22", 168),
    }
    assert [(r["booked"], r["credited_amount"]) for r in matched if r["import_id"]] == [
        ("2010-07-22", 368)
    ]
    assert len({r["group_no"] for r in matched}) == 1
    assert matched[0]["pass"] == "combined"
    assert all(r["basis"] == "journal" for r in matched if r["settle_date"])
    # the others, each as the table above says
    assert [(r["settle_date"], r["expected_amount"]) for r in got["missing_in_statement"]] == [
        ("2010-07-20", 50)
    ]
    assert [(r["settle_date"], r["expected_amount"]) for r in got["pending"]] == [
        ("2010-07-26", 75)
    ]
    mismatch = got["amount_mismatch"]
    assert {(r["settle_date"], r["expected_amount"], r["credited_amount"]) for r in mismatch} == {
        ("2010-07-23", 120, None),
        (None, None, 100),
    }
    assert [(r["booked"], r["credited_amount"]) for r in got["duplicate"]] == [("2010-07-23", 368)]
    assert [r["credited_amount"] for r in got["missing_in_journal"]] == [999900]
    # every payout and every credit accounted for
    for side in ("expected", "credits"):
        assert sum(v["count"] for v in run[side]["outcomes"].values()) == run[side]["in"]["count"]
    assert run["expected"]["in"] == {"count": 5, "amount": 50 + 200 + 168 + 120 + 75}
    assert run["credits"]["in"] == {"count": 4, "amount": 368 + 100 + 368 + 999900}
    assert run["breaks"] == {"new": 4, "persisting": 0, "resolved": 0}
    # explanations a person can act on, with both amounts where they differ
    words = {b["outcome"]: b["explanation"] for b in run["break_list"]}
    assert set(words) == {
        "missing_in_statement", "amount_mismatch", "duplicate", "missing_in_journal",
    }  # fmt: skip
    assert format_amount(120, "EUR") in words["amount_mismatch"]
    assert format_amount(100, "EUR") in words["amount_mismatch"]
    assert "2010-07-20" in words["missing_in_statement"]
    assert "2010-07-22" in words["duplicate"]  # when it was paid first
    assert "WHO-9999" in words["missing_in_journal"]
    assert all(b["status"] == "new" for b in run["break_list"])

    # the same run again: the same breaks, under the same ids, persisting
    again = payouts.run_payouts(
        cf, who, merchant_no=MERCHANT, date_from=date(2010, 7, 19), date_to=date(2010, 7, 26)
    )
    assert again["breaks"] == {"new": 0, "persisting": 4, "resolved": 0}
    assert {b["break_id"] for b in again["break_list"]} == {
        b["break_id"] for b in run["break_list"]
    }
    # the bank pays 0.50 on 07-21: the missing payout is paid, its break resolved
    late = _camt054(tmp_path, "2", ("0.50", "2010-07-21", "LATE-050"))
    import_file(cf, late, merchant_no=MERCHANT, actor=ACTOR)
    third = payouts.run_payouts(
        cf, who, merchant_no=MERCHANT, date_from=date(2010, 7, 19), date_to=date(2010, 7, 26)
    )
    assert third["breaks"] == {"new": 0, "persisting": 3, "resolved": 1}
    assert "missing_in_statement" not in _by_outcome(third)
    resolved = cf.read(
        lambda conn: payouts.list_breaks(conn, who, MERCHANT, status="resolved", locale="zh_CN")
    )
    assert [b["outcome"] for b in resolved] == ["missing_in_statement"]
    assert cf.read(lambda conn: [r["run_id"] for r in payouts.list_runs(conn, who, MERCHANT)]) == [
        third["run_id"], again["run_id"], run["run_id"],
    ]  # fmt: skip


def test_payouts_are_confined_to_the_people_who_may(cf: Counterfoil, shop: dict[str, Any]) -> None:
    record(cf, *_sales())
    import_file(cf, ING, merchant_no=MERCHANT, actor=ACTOR)
    run = payouts.run_payouts(cf, finance(MERCHANT), merchant_no=MERCHANT)
    auditor = Principal("person", "user:aud", "testclient", role="auditor", merchants=(MERCHANT,))
    with pytest.raises(Forbidden):
        payouts.run_payouts(cf, auditor, merchant_no=MERCHANT)
    seen = cf.read(lambda conn: payouts.get_run(conn, auditor, run["run_id"]))
    assert seen["run_id"] == run["run_id"]
    stranger = finance("999999999999999")
    with pytest.raises(NotFound):
        cf.read(lambda conn: payouts.get_run(conn, stranger, run["run_id"]))
    with pytest.raises(Forbidden):
        payouts.run_payouts(cf, stranger, merchant_no=MERCHANT)
    assert cf.read(lambda conn: payouts.list_runs(conn, stranger)) == []
    # a run's outcomes are history: no code path may change them
    for statement in (
        "UPDATE payout_outcomes SET outcome = 'matched'",
        "DELETE FROM payout_outcomes",
    ):
        with pytest.raises(DatabaseError, match="append-only"), cf.engine.begin() as conn:
            conn.execute(text(statement))


# --- the matcher alone -----------------------------------------------------------------------


def _e(day: int, amount: int) -> Expected:
    business_day = date(2026, 11, day - 1)
    return Expected(date(2026, 11, day), "CNY", amount, "journal", amount, None, (business_day,))


def _c(line: int, day: int, amount: int, status: str = "booked") -> Credit:
    return Credit(9, line, date(2026, 11, day), "CNY", amount, status, f"REF{line}")


def test_one_payout_paid_in_two_credits_and_order_does_not_matter() -> None:
    expected = [_e(2, 500_00), _e(3, 120_00), _e(4, 80_00), _e(5, 70_00), _e(20, 10_00)]
    credits = [
        _c(1, 2, 300_00), _c(2, 3, 200_00),  # 2nd: one payout in two credits
        _c(3, 4, 200_00),  # pays the 3rd and 4th together
        _c(4, 5, 69_00),  # 1.00 short of the 5th
        _c(5, 6, 5_00, "pending"),  # the bank has not booked it yet
    ]  # fmt: skip
    terms = Terms(as_of=date(2026, 11, 8), lag_days=2, mismatch_share=Fraction(1, 10))

    def outcome_of(groups: list[Any]) -> list[tuple[str, str, tuple[Any, ...], tuple[Any, ...]]]:
        return sorted(
            (g.outcome, g.pass_, tuple(e.key for e in g.expected), tuple(c.key for c in g.credits))
            for g in groups
        )

    first = outcome_of(match(expected, credits, terms))
    nov = {day: (date(2026, 11, day), "CNY") for day in (2, 3, 4, 5, 20)}
    assert first == sorted([
        ("matched", "split", (nov[2],), ((9, 1), (9, 2))),
        ("matched", "combined", (nov[3], nov[4]), ((9, 3),)),
        ("amount_mismatch", "mismatch", (nov[5],), ((9, 4),)),
        ("pending", "none", (nov[20],), ()),
        ("pending", "none", (), ((9, 5),)),
    ])  # fmt: skip
    for seed in range(5):
        rng = random.Random(seed)
        shuffled_e, shuffled_c = expected[:], credits[:]
        rng.shuffle(shuffled_e)
        rng.shuffle(shuffled_c)
        assert outcome_of(match(shuffled_e, shuffled_c, terms)) == first


def test_a_credit_far_from_any_payout_is_not_called_a_mismatch() -> None:
    terms = Terms(as_of=date(2026, 11, 30))
    groups = match([_e(2, 50)], [_c(1, 3, 5000_00)], terms)
    assert sorted(g.outcome for g in groups) == ["missing_in_journal", "missing_in_statement"]
    assert date(2026, 11, 2) + timedelta(days=terms.lag_days) < terms.as_of


def test_payouts_from_the_command_line(
    cf: Counterfoil, shop: dict[str, Any], settings: Settings
) -> None:
    record(cf, *_sales())
    import_file(cf, ING, merchant_no=MERCHANT, actor=ACTOR)
    env = {
        "COUNTERFOIL_HOME": str(settings.home),
        "COUNTERFOIL_DATABASE_URL": settings.database_url,
    }

    def invoke(*args: str) -> Result:
        return contextvars.copy_context().run(
            CliRunner().invoke, app, ["--lang", "en", "payouts", *args], env=env
        )

    done = invoke("--merchant", MERCHANT, "--from", "2010-07-19", "--to", "2010-07-26", "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    assert document["credits"]["outcomes"]["matched"] == {"count": 1, "amount": 368}
    assert document["expected"]["outcomes"]["amount_mismatch"]["amount"] == 120
    shown = invoke("--merchant", MERCHANT, "--from", "2010-07-19", "--to", "2010-07-26")
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.output.split())  # Rich wraps at the terminal's width
    assert "payout expected on 2010-07-23" in flat  # the mismatch, explained
    assert "2 persisting" in flat  # the breaks of the --json run, found again
    wrong = invoke("--merchant", MERCHANT, "--from", "2010-07-26", "--to", "2010-07-19")
    assert wrong.exit_code == 2
    assert "from" in wrong.output


UNIONPAY = ING.parents[1] / "unionpay" / "INN15090588ZM_802310048993424"


def test_the_acquirers_stated_net_is_the_better_expectation(
    cf: Counterfoil, shop: dict[str, Any], tmp_path: Path
) -> None:
    """UnionPay's real ZM file of Sunday 2015-09-06 states a net of ¥13,147.64 (eight sales
    less 0.6 %); the journal holds only one of the sales. The payout due on Monday 09-07 is
    what UnionPay said it will pay, and the bank's credit of exactly that matches it."""
    record(
        cf,
        {
            "merchant_no": MERCHANT, "terminal_id": TERMINAL, "batch_no": "000001",
            "trace_no": "000001", "type": "sale", "channel": "credit", "amount": 476800,
            "currency": "CNY", "terminal_time": "2015-09-06T11:22:03+08:00",
            "rrn": "000049993190", "auth_code": "123456", "card": "622202******0123",
        },
    )  # fmt: skip
    import_file(cf, UNIONPAY, merchant_no=MERCHANT, actor=ACTOR)
    camt = _camt054(tmp_path, "cny", ("13147.64", "2015-09-07", "UPOP-0907"), ccy="CNY")
    import_file(cf, camt, merchant_no=MERCHANT, actor=ACTOR)
    run = payouts.run_payouts(
        cf, finance(MERCHANT), merchant_no=MERCHANT,
        date_from=date(2015, 9, 7), date_to=date(2015, 9, 7),
    )  # fmt: skip
    got = _by_outcome(run)
    assert set(got) == {"matched"}
    payout = next(r for r in got["matched"] if r["settle_date"])
    assert (payout["settle_date"], payout["expected_amount"], payout["basis"]) == (
        "2015-09-07", 1_314_764, "statement",
    )  # fmt: skip
    assert run["breaks"] == {"new": 0, "persisting": 0, "resolved": 0}
