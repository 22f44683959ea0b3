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
