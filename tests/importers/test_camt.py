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


def batch_statement(*parts: str, entry: str = "300.00", summary: str = "") -> bytes:
    """A camt.053.001.04 statement: one card-settlement batch credit of ``entry`` CNY whose
    ``TxDtls`` are ``parts``, then a plain debit of 6.00 (the month's fee)."""
    details = "".join(f"<TxDtls>{part}</TxDtls>" for part in parts)
    closing = 1000_00 + round(float(entry) * 100) - 6_00
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>B-1</MsgId><CreDtTm>2024-03-02T06:00:00+08:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>B-1-1</Id>
   <Acct><Id><Othr><Id>110000123</Id></Othr></Id><Ccy>CNY</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">1000.00</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>
    <Amt Ccy="CNY">{closing // 100}.{closing % 100:02d}</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>
   {summary}
   <Ntry>
    <Amt Ccy="CNY">{entry}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><Dt>2024-03-01</Dt></BookgDt><ValDt><Dt>2024-03-01</Dt></ValDt>
    <AcctSvcrRef>BATCH-0301</AcctSvcrRef>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>
    </BkTxCd>
    <NtryDtls><Btch><NbOfTxs>{len(parts)}</NbOfTxs></Btch>{details}</NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="CNY">6.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><Dt>2024-03-01</Dt></BookgDt><AcctSvcrRef>FEE-0301</AcctSvcrRef>
   </Ntry>
  </Stmt>
 </BkToCstmrStmt>
</Document>""".encode()


def part(amount: str, order: str, payer: str, side: str = "CRDT", *, v2: bool = False) -> str:
    money = (
        f'<AmtDtls><TxAmt><Amt Ccy="CNY">{amount}</Amt></TxAmt></AmtDtls>'
        if v2
        else f'<Amt Ccy="CNY">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd>'
    )
    return (
        f"<Refs><EndToEndId>{order}</EndToEndId></Refs>{money}"
        f"<RltdPties><Dbtr><Nm>{payer}</Nm></Dbtr></RltdPties>"
        f"<RmtInf><Ustrd>order {order}</Ustrd></RmtInf>"
    )


def test_a_batch_booking_becomes_one_line_per_transaction() -> None:
    """300.00 booked at once for three payments: three lines that keep the batch's
    reference, each with its own order, payer and text; the fee after them is line 4."""
    data = batch_statement(
        part("120.00", "ORD-1", "张三"),
        part("100.00", "ORD-2", "李四"),
        part("80.00", "ORD-3", "王五"),
    )
    parsed = camt.parse(io.BytesIO(data), file="batch.xml").read_all()
    batch, fee = parsed.lines[:3], parsed.lines[3]
    assert [(line.line_no, line.amount, line.order_no) for line in batch] == [
        (1, 12000, "ORD-1"),
        (2, 10000, "ORD-2"),
        (3, 8000, "ORD-3"),
    ]
    assert [line.counterparty for line in batch] == ["张三", "李四", "王五"]
    assert [line.description for line in batch] == ["order ORD-1", "order ORD-2", "order ORD-3"]
    assert {line.platform_id for line in batch} == {"BATCH-0301"}
    assert [line.extra["line_id"] for line in batch] == [
        "BATCH-0301/1",
        "BATCH-0301/2",
        "BATCH-0301/3",
    ]
    assert [line.extra["part"] for line in batch] == ["1/3", "2/3", "3/3"]
    assert {line.extra["entry_amount"] for line in batch} == {"30000"}
    assert len({line.natural_key() for line in batch}) == 3  # told apart in storage
    assert "<EndToEndId>ORD-2</EndToEndId>" in batch[1].raw
    assert (fee.line_no, fee.amount) == (4, -600)
    checks = {check.name: check for check in parsed.checks}
    assert checks["batch entries whose parts add up to the entry"].ok
    assert checks["opening balance + booked entries = closing balance (CLBD)"].ok
    assert parsed.balanced


def test_a_batch_with_a_returned_payment_and_version_02_amounts() -> None:
    """Parts signed by their own CdtDbtInd; AmtDtls/TxAmt read as well as Amt."""
    data = batch_statement(
        part("250.00", "ORD-1", "张三"),
        part("50.00", "ORD-2", "李四", "DBIT"),
        part("100.00", "ORD-3", "王五", v2=True),
    )
    parsed = camt.parse(io.BytesIO(data), file="batch.xml").read_all()
    assert [(line.amount, line.txn_type) for line in parsed.lines[:3]] == [
        (25000, "credit"),
        (-5000, "debit"),
        (10000, "credit"),
    ]
    assert parsed.balanced


def test_a_batch_whose_parts_do_not_add_up_stays_whole_and_fails_its_check() -> None:
    data = batch_statement(part("120.00", "ORD-1", "张三"), part("100.00", "ORD-2", "李四"))
    parsed = camt.parse(io.BytesIO(data), file="batch.xml").read_all()
    assert [line.amount for line in parsed.lines] == [30000, -600]  # as the bank booked it
    [batch] = [c for c in parsed.checks if c.name.startswith("batch entries")]
    assert (batch.expected, batch.actual, batch.ok) == (1, 0, False)
    assert batch.detail == "entry 1: the parts add up to 22000, the entry is 30000"
    assert not parsed.balanced


def test_a_batch_whose_parts_state_no_amount_stays_one_line() -> None:
    """As the camt.054 sample: three TxDtls without amounts cannot be split."""
    bare = "<Refs><EndToEndId>E</EndToEndId></Refs>"
    parsed = camt.parse(io.BytesIO(batch_statement(bare, bare)), file="b.xml").read_all()
    assert [line.amount for line in parsed.lines] == [30000, -600]
    assert parsed.lines[0].extra["transactions"] == "2"
    assert not [c for c in parsed.checks if c.name.startswith("batch entries")]
    assert parsed.balanced


def test_the_transaction_summary_counts_a_batch_as_one_entry() -> None:
    summary = (
        "<TxsSummry><TtlNtries><NbOfNtries>2</NbOfNtries></TtlNtries>"
        "<TtlCdtNtries><NbOfNtries>1</NbOfNtries><Sum>300.00</Sum></TtlCdtNtries></TxsSummry>"
    )
    data = batch_statement(
        part("200.00", "ORD-1", "张三"), part("100.00", "ORD-2", "李四"), summary=summary
    )
    parsed = camt.parse(io.BytesIO(data), file="batch.xml").read_all()
    assert len(parsed.lines) == 3
    assert all(check.ok for check in parsed.checks), parsed.checks
