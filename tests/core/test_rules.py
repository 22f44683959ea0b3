"""The rules of links: what a void, refund, completion, cancel or reversal may do."""

from dataclasses import replace

import pytest

from conftest import sale
from counterfoil.core.errors import RuleViolation
from counterfoil.core.fees import FeeRule
from counterfoil.core.models import parse_transaction
from counterfoil.core.rules import (
    MerchantRules,
    Standing,
    apply_link,
    check_link,
    fee_and_net,
    undo_link,
)

RULES = MerchantRules()
T0 = "2026-11-20T06:05:09.000000Z"
SALE = Standing(
    seq=2, type="sale", channel="credit", amount=476800, fee=2861, net=473939, terminal_time_utc=T0
)
PREAUTH = replace(SALE, seq=3, type="preauth", amount=100000, fee=0, net=0)
LINK = {"batch_no": "000001", "trace_no": "000001"}


def txn(kind: str, amount: int, when: str = "2026-11-21T10:00:00+08:00") -> object:
    return parse_transaction(
        sale(type=kind, amount=amount, trace_no="000009", original=LINK, terminal_time=when)
    )


def refused(kind: str, amount: int, original: Standing | None, **kw: str) -> str:
    with pytest.raises(RuleViolation) as caught:
        check_link(txn(kind, amount, **kw), original, RULES)  # type: ignore[arg-type]
    return caught.value.rule


def test_a_voided_sale_cannot_be_voided_again() -> None:
    assert refused("void", 476800, replace(SALE, status="voided")) == "already_voided"


def test_a_void_is_for_the_whole_sale() -> None:
    assert refused("void", 100, SALE) == "void_amount"


def test_refunds_cannot_exceed_what_is_left() -> None:
    partly = apply_link("refund", 400000, SALE)
    assert (partly.status, partly.left_to_refund) == ("partially_refunded", 76800)
    assert refused("refund", 76801, partly) == "refund_exceeds"
    check_link(txn("refund", 76800), partly, RULES)  # type: ignore[arg-type]
    assert apply_link("refund", 76800, partly).status == "refunded"


def test_completion_rules() -> None:
    assert refused("completion", 115001, PREAUTH) == "completion_above_tolerance"
    assert refused("completion", 100000, replace(PREAUTH, status="completed")) == (
        "preauth_completed"
    )
    assert refused("completion", 100000, replace(PREAUTH, status="cancelled")) == (
        "preauth_cancelled"
    )
    assert (
        refused("completion", 100000, PREAUTH, when="2026-12-21T10:00:00+08:00")
        == "preauth_expired"
    )
    check_link(txn("completion", 115000), PREAUTH, RULES)  # type: ignore[arg-type]


def test_reversing_an_unknown_transaction_is_refused() -> None:
    assert refused("reversal", 476800, None) == "reversal_unknown"
    assert refused("refund", 476800, None) == "original_unknown"


def test_a_refund_cannot_point_at_a_preauth() -> None:
    assert refused("refund", 100, PREAUTH) == "original_type"


def test_fees_follow_the_money() -> None:
    credit = FeeRule("credit", 6000)
    assert fee_and_net(txn("refund", 238400), credit, SALE, RULES) == (  # type: ignore[arg-type]
        -1431,
        -(238400 - 1431),
    )
    assert fee_and_net(txn("void", 476800), credit, SALE, RULES) == (  # type: ignore[arg-type]
        -2861,
        -473939,
    )
    assert fee_and_net(txn("reversal", 476800), credit, SALE, RULES) == (  # type: ignore[arg-type]
        -2861,
        -473939,
    )
    keep = MerchantRules(refund_fee_policy="none")
    assert fee_and_net(txn("refund", 476800), credit, SALE, keep) == (  # type: ignore[arg-type]
        0,
        -476800,
    )


def test_reversing_a_refund_restores_what_was_left() -> None:
    refunded = apply_link("refund", 100000, SALE)
    refund = Standing(9, "refund", "credit", 100000, -600, -99400, T0, original_seq=2)
    assert undo_link(refund, refunded) == replace(SALE, status="approved", refunded=0)
