"""ISO 20022 camt.053 / camt.054: the real samples against what genkgo/camt reads from them,
then versions, five-decimal amounts, bundles, balances and hostile XML."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from counterfoil.importers import FormatMismatch, ParsedFile, RefusedFile, camt, open_statement

from .helpers import FIXTURES, assert_golden, sample

CASES = [("camt053.v2.minimal", "camt053"), ("camt053.v4", "camt053"), ("camt054.v2", "camt054")]


def read(name: str, kind: str) -> ParsedFile:
    with sample("camt", f"{name}.xml").open("rb") as stream:
        return camt.parse(stream, file=f"{name}.xml", kind=kind).read_all()


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(sample("camt", f"{name}.expected.json").read_text())
    return data


def instant(value: dict[str, str]) -> datetime:
    return datetime.fromisoformat(value["0"])


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_entries_match_what_genkgo_reads(name: str, kind: str) -> None:
    parsed, wanted = read(name, kind), expected(name)
    assert len(parsed.lines) == len(wanted["getEntries"])
    for line, entry in zip(parsed.lines, wanted["getEntries"], strict=True):
        assert line.line_no == entry["getIndex"] + 1
        assert line.amount == int(entry["getAmount"]["getAmount"])
        assert line.currency == entry["getAmount"]["getCurrency"]["getCode"]
        assert line.occurred_at == instant(entry["getBookingDate"])
        assert datetime.fromisoformat(line.extra["value_date"]) == instant(entry["getValueDate"])
        assert (line.amount > 0) == (entry["getCreditDebitIndicator"] == "CRDT")
        assert line.status == {"BOOK": "booked"}[entry["getStatus"]]
        assert (line.txn_type == "reversal") == entry["getReversalIndicator"]
        assert line.platform_id == entry["getAccountServicerReference"]
        code = entry["getBankTransactionCode"]
        if code.get("getDomain"):
            domain = code["getDomain"]
            assert line.extra["bank_tx_code"] == "/".join(
                [
                    domain["getCode"],
                    domain["getFamily"]["getCode"],
                    domain["getFamily"]["getSubFamilyCode"],
                ]
            )
        else:
            assert line.extra["bank_tx_code"] == code["getProprietary"]["getCode"]
        detail = entry["getTransactionDetail"]
        assert line.order_no == detail["getReference"].get("getEndToEndId")
        parties = {
            p["getRelatedPartyType"]["__CLASS__"].rsplit("\\", 1)[-1]: p["getRelatedPartyType"].get(
                "getName"
            )
            for p in detail["getRelatedParties"]
        }
        first, other = ("Debtor", "Creditor") if line.amount > 0 else ("Creditor", "Debtor")
        assert line.counterparty == (parties.get(first) or parties.get(other))
        message = detail["getRemittanceInformation"]["getMessage"]
        assert line.description is not None
        assert message in line.description


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_statements_match_what_genkgo_reads(name: str, kind: str) -> None:
    parsed, wanted = read(name, kind), expected(name)
    header = wanted["getGroupHeader"]
    assert parsed.info["message_id"] == header["getMessageId"]
    assert datetime.fromisoformat(parsed.info["created_at"]) == instant(header["getCreatedOn"])
    record = wanted["getEntries"][0]["getRecord"]
    assert parsed.info["statement.1.id"] == record["getId"]
    assert parsed.info["statement.1.account"] == record["getAccount"]["getIdentification"]
    assert parsed.info["statement.1.sequence"] == record["getElectronicSequenceNumber"]
    assert datetime.fromisoformat(parsed.info["statement.1.from"]) == instant(record["getFromDate"])
    assert datetime.fromisoformat(parsed.info["statement.1.to"]) == instant(record["getToDate"])
    assert all(line.extra["statement_id"] == record["getId"] for line in parsed.lines)
    codes = {
        "opening": "OPBD",
        "closing": "CLBD",
        "opening_available": "OPAV",
        "closing_available": "CLAV",
    }
    for balance in record.get("getBalances") or []:
        amount, currency, day = parsed.info[
            f"statement.1.balance.{codes[balance['getType']]}"
        ].split()
        assert int(amount) == int(balance["getAmount"]["getAmount"])
        assert currency == balance["getAmount"]["getCurrency"]["getCode"]
        assert day == balance["getDate"]["0"][:10]


def test_the_sample_balances_do_not_add_up_and_say_why() -> None:
    """OPBD 18.15 EUR + 8.85 EUR does not give CLBD 27.00 SEK debit: a failed check."""
    [balance] = read("camt053.v2.minimal", "camt053").checks
    assert not balance.ok
    assert (balance.expected, balance.actual) == (-2700, 2700)
    assert balance.detail == "currencies differ: EUR, SEK"


def test_the_wrong_sample_is_a_clean_error() -> None:
    with pytest.raises(FormatMismatch, match=r"no statement in this ISO 20022 camt\.053"):
        read("camt053.v2.wrong", "camt053")


def test_a_camt054_asked_for_as_camt053_is_refused() -> None:
    with pytest.raises(FormatMismatch, match="expected BkToCstmrStmt, found BkToCstmrDbtCdtNtfctn"):
        read("camt054.v2", "camt053")


def test_version_08_two_statements_five_decimals_pending_fee_reversal() -> None:
    with (FIXTURES / "camt053_v08_two_statements.xml").open("rb") as stream:
        result = camt.parse(stream, file="camt053_v08_two_statements.xml")
        assert_golden(result, FIXTURES / "camt053_v08_two_statements.expected.json")
    parsed = open_statement(FIXTURES / "camt053_v08_two_statements.xml").read_all()
    assert [line.txn_type for line in parsed.lines] == [
        "credit",
        "fee",
        "credit",
        "credit",
        "reversal",
    ]
    assert parsed.lines[2].amount == 10000  # 100.00000 CNY
    assert parsed.lines[3].status == "pending"
    assert "6222021234567890128" not in parsed.lines[2].raw
    assert parsed.info["statements"] == "2"
    assert parsed.balanced


def test_a_sixth_decimal_that_is_not_zero_is_reported_not_rounded() -> None:
    text = (
        (FIXTURES / "camt053_v08_two_statements.xml").read_text().replace("100.00000", "100.00001")
    )
    parsed = camt.parse(io.BytesIO(text.encode()), file="s.xml").read_all()
    [error] = parsed.errors
    assert error.line_no == 53  # the XML line of the entry
    assert "entry 3: Amt: expected at most 2 decimal places, got '100.00001'" in error.reason
    failed = [c for c in parsed.checks if not c.ok]
    assert failed
    assert all("1 rejected entry not counted" in c.detail for c in failed)


def test_a_zipped_bundle_reads_as_one_file(tmp_path: Path) -> None:
    bundle = tmp_path / "statements.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("a.xml", (FIXTURES / "camt053_v08_two_statements.xml").read_bytes())
        archive.writestr("b.xml", sample("camt", "camt053.v4.xml").read_bytes())
    result = open_statement(bundle)
    parsed = result.read_all()
    assert result.source == "camt053"
    assert [line.line_no for line in parsed.lines] == [1, 2, 3, 4, 5, 6]
    assert parsed.lines[5].extra["member"] == "b.xml"
    assert parsed.info["statements"] == "3"


def test_an_external_entity_is_refused() -> None:
    with pytest.raises(RefusedFile, match="DOCTYPE"):
        open_statement(FIXTURES / "xxe.xml").read_all()


def test_an_entity_bomb_is_refused_before_it_expands() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        "<Document><BkToCstmrStmt><GrpHdr><MsgId>&c;</MsgId></GrpHdr></BkToCstmrStmt>"
        "</Document>"
    )
    with pytest.raises(RefusedFile):
        camt.parse(io.BytesIO(bomb.encode()), file="bomb.xml").read_all()


def test_broken_xml_is_a_clean_error_naming_the_line() -> None:
    text = sample("camt", "camt053.v4.xml").read_text()[:3000]
    with pytest.raises(FormatMismatch, match="not well-formed XML at line"):
        camt.parse(io.BytesIO(text.encode()), file="cut.xml").read_all()
