"""SWIFT MT940: the four real samples against the mt-940 library's own expected parse."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with uvicorn[standard]

from counterfoil.core.money import parse_amount
from counterfoil.importers import ParsedFile, swift_mt940
from counterfoil.importers.lines import scrub_pans

from .helpers import sample

SAMPLES = ["jejik-abnamro", "jejik-ing", "jejik-rabobank", "cmxl-mt940"]
BALANCES = (
    "final_opening_balance",
    "intermediate_opening_balance",
    "final_closing_balance",
    "intermediate_closing_balance",
    "available_balance",
    "forward_available_balance",
)


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """Reads the library's pickled-object YAML as plain data, constructing nothing."""


def _object(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Iterator[Any]:
    if isinstance(node, yaml.MappingNode):
        data: dict[Any, Any] = {}
        yield data
        data.update(loader.construct_mapping(node, deep=True))
    else:
        yield None


def _apply(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    args = loader.construct_sequence(node, deep=True) if isinstance(node, yaml.SequenceNode) else []
    if suffix == "decimal.Decimal":
        return str(args[0])
    if suffix == "mt940.models.Date":
        raw = args[0]
        return date(raw[0] * 256 + raw[1], raw[2], raw[3])
    return None


_Loader.add_multi_constructor("tag:yaml.org,2002:python/object:", _object)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/object/apply:", _apply)


def expected(name: str) -> dict[str, Any]:
    text = sample("mt940", f"{name}.expected.yml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.load(text, Loader=_Loader)  # noqa: S506 — safe loader subclass
    return loaded


def read(name: str) -> ParsedFile:
    with sample("mt940", f"{name}.sta").open("rb") as stream:
        return swift_mt940.parse(stream, file=f"{name}.sta").read_all()


def minor(amount: dict[str, Any]) -> int:
    return parse_amount(amount["amount"], amount["currency"])


@pytest.mark.parametrize("name", SAMPLES)
def test_movements_match_the_library_expectation(name: str) -> None:
    parsed, wanted = read(name), expected(name)
    assert parsed.errors == []
    assert len(parsed.lines) == len(wanted["transactions"])
    for line, transaction in zip(parsed.lines, wanted["transactions"], strict=True):
        data = transaction["data"]
        assert line.amount == minor(data["amount"])
        assert line.currency == data["amount"]["currency"] == data["currency"]
        assert line.extra["value_date"] == data["date"].isoformat()
        if data.get("entry_date"):
            assert line.extra["entry_date"] == data["entry_date"].isoformat()
            assert line.occurred_at.date() == data["entry_date"]
        else:
            assert line.occurred_at.date() == data["date"]
        assert (
            line.extra.get("customer_reference", "") == (data["customer_reference"] or "").strip()
        )
        assert line.platform_id == (data["bank_reference"] or None)
        assert line.extra["type_code"] == data["id"]
        assert line.extra["transaction_reference"] == data["transaction_reference"]
        details = data.get("transaction_details") or " ".join(
            data[key] for key in ("posting_text", "purpose") if data.get(key)
        )
        assert line.description == (scrub_pans(details.strip()) or None)
        kind = {"C": "credit", "D": "debit", "RC": "reversal", "RD": "reversal"}[data["status"]]
        assert line.txn_type in (kind, "fee")


@pytest.mark.parametrize("name", SAMPLES)
def test_balances_match_the_library_expectation(name: str) -> None:
    """The library keeps the last statement's value of each balance; so do we, per statement."""
    parsed, wanted = read(name), expected(name)
    statements = int(parsed.info["statements"])
    for key in BALANCES:
        balance = wanted["data"].get(key)
        if balance is None:
            continue
        last = max(n for n in range(1, statements + 1) if f"statement.{n}.{key}" in parsed.info)
        amount, currency, day = parsed.info[f"statement.{last}.{key}"].split()
        assert int(amount) == minor(balance["amount"])
        assert currency == balance["amount"]["currency"]
        assert day == balance["date"].isoformat()
    assert (
        parsed.info[f"statement.{statements}.account_identification"]
        == wanted["data"]["account_identification"]
    )


def test_each_statement_is_checked_opening_plus_movements_equals_closing() -> None:
    checks = read("cmxl-mt940").checks
    assert [(c.ok, c.unit) for c in checks] == [(True, "DEM"), (True, "EUR"), (True, "PLN")]
    abn = read("jejik-abnamro").checks
    assert [c.ok for c in abn] == [False, False]  # the sample's balances do not add up
    assert abn[0].expected == 87684
    assert abn[0].actual == 323628 - 32144


def test_a_statement_the_library_cannot_read_is_reported_per_movement() -> None:
    text = (
        sample("mt940", "jejik-ing.sta")
        .read_text(encoding="utf-8")
        .replace(":60F:C100722EUR0,00", ":60F:C10072XEUR0,00")
    )
    parsed = swift_mt940.parse(io.BytesIO(text.encode()), file="ing.sta").read_all()
    assert parsed.lines == []
    assert [e.line_no for e in parsed.errors] == [8, 12, 14, 16, 18, 20, 22]
    assert all(e.reason.startswith("the statement could not be read") for e in parsed.errors)


def statement_with_sums(credits: str, debits: str) -> bytes:
    """Two credits (150.00, 25.00) and a debit (50.00), then the bank's :90C: / :90D:."""
    return (
        ":20:STMT1\r\n:25:NL12INGB0001234567\r\n:28C:1/1\r\n:60F:C230501EUR1000,00\r\n"
        ":61:2305020502C150,00NTRFREF1//B1\r\n:86:payment one\r\n"
        ":61:2305020502D50,00NTRFREF2//B2\r\n:86:payment two\r\n"
        ":61:2305020502C25,00NTRFREF3//B3\r\n:86:payment three\r\n"
        f":62F:C230502EUR1125,00\r\n:90D:{debits}\r\n:90C:{credits}\r\n-\r\n"
    ).encode()


def sums(parsed: ParsedFile) -> dict[str, tuple[int, int, bool]]:
    return {c.name: (c.expected, c.actual, c.ok) for c in parsed.checks if c.name[:3] == ":90"}


def test_the_number_and_sum_of_credits_and_debits_are_checked() -> None:
    data = statement_with_sums("2EUR175,00", "1EUR50,00")
    parsed = swift_mt940.parse(io.BytesIO(data), file="s.sta").read_all()
    assert sums(parsed) == {
        ":90C: number of entries": (2, 2, True),
        ":90C: sum of entries": (17500, 17500, True),
        ":90D: number of entries": (1, 1, True),
        ":90D: sum of entries": (5000, 5000, True),
    }
    assert parsed.balanced
    assert parsed.lines[-1].description == "payment three"  # :90D: ends the last :86:


def test_credits_that_do_not_match_the_bank_totals_are_not_balanced() -> None:
    data = statement_with_sums("3EUR180,00", "1EUR50,00")
    parsed = swift_mt940.parse(io.BytesIO(data), file="s.sta").read_all()
    assert sums(parsed)[":90C: number of entries"] == (3, 2, False)
    assert sums(parsed)[":90C: sum of entries"] == (18000, 17500, False)
    assert not parsed.balanced


def test_a_sum_without_a_number_checks_the_sum_only() -> None:
    data = statement_with_sums("EUR175,00", "EUR50,00")
    parsed = swift_mt940.parse(io.BytesIO(data), file="s.sta").read_all()
    assert set(sums(parsed)) == {":90C: sum of entries", ":90D: sum of entries"}
    assert parsed.balanced


def test_a_sum_in_another_currency_fails_and_says_why() -> None:
    data = statement_with_sums("2USD175,00", "1EUR50,00")
    parsed = swift_mt940.parse(io.BytesIO(data), file="s.sta").read_all()
    [credits] = [c for c in parsed.checks if c.name == ":90C: sum of entries"]
    assert not credits.ok
    assert credits.detail == "currencies differ: EUR"
