"""Recognising the format, the override, and encodings that are never guessed silently."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from counterfoil.importers import (
    FormatMismatch,
    UndecodableFile,
    open_statement,
    parse_statement,
)
from counterfoil.importers.text import sniff_encoding

from .helpers import FIXTURES, sample

DETECTED = [
    (("unionpay", "INN15090588ZM_802310048993424"), "unionpay_zm"),
    (("camt", "camt053.v2.minimal.xml"), "camt053"),
    (("camt", "camt053.v4.xml"), "camt053"),
    (("camt", "camt054.v2.xml"), "camt054"),
    (("mt940", "jejik-abnamro.sta"), "mt940"),
    (("mt940", "jejik-ing.sta"), "mt940"),
    (("mt940", "jejik-rabobank.sta"), "mt940"),
    (("mt940", "cmxl-mt940.sta"), "mt940"),
]
FIXTURE_FORMATS = [
    ("wechat_all_27.csv", "wechat_trade"),
    ("wechat_old_24.csv", "wechat_trade"),
    ("wechat_success_20.csv", "wechat_trade"),
    ("wechat_refund_29.csv", "wechat_trade"),
    ("wechat_fund.csv", "wechat_fund"),
    ("alipay_trade.csv", "alipay_trade"),
    ("alipay_account_old.csv", "alipay_account"),
    ("alipay_account_new.csv", "alipay_account"),
    ("icbc_detail.csv", "csv_profile"),
    ("cmb_flow.csv", "csv_profile"),
    ("camt053_v08_two_statements.xml", "camt053"),
]


@pytest.mark.parametrize(("parts", "source"), DETECTED)
def test_real_samples_are_recognised(parts: tuple[str, str], source: str) -> None:
    result = open_statement(sample(*parts))
    assert result.source == source
    result.close()


@pytest.mark.parametrize(("name", "source"), FIXTURE_FORMATS)
def test_fixtures_are_recognised(name: str, source: str) -> None:
    with open_statement(FIXTURES / name) as result:
        assert result.source == source


def test_the_zm_file_is_recognised_by_content_under_another_name() -> None:
    data = sample("unionpay", "INN15090588ZM_802310048993424").read_bytes()
    result = parse_statement(io.BytesIO(data), file="download.txt")
    assert result.source == "unionpay_zm"


def test_a_file_that_is_not_the_format_asked_for_names_both() -> None:
    with pytest.raises(FormatMismatch) as caught:
        open_statement(FIXTURES / "alipay_trade.csv", format="wechat_trade")
    message = str(caught.value)
    assert "this is not a WeChat Pay trade bill (交易账单)" in message
    assert "it looks like Alipay trade bill (业务明细)" in message
    assert caught.value.expected == "WeChat Pay trade bill (交易账单)"


def test_the_override_picks_among_formats_that_could_read_the_file() -> None:
    with open_statement(FIXTURES / "wechat_all_27.csv", format="wechat_trade") as result:
        assert len(list(result)) == 5


def test_an_unknown_file_is_refused_with_the_formats_we_read() -> None:
    with pytest.raises(FormatMismatch, match="not a statement format Counterfoil reads"):
        parse_statement(io.BytesIO(b"hello, world\n"), file="notes.txt")
    with pytest.raises(FormatMismatch, match="unknown format bai2"):
        parse_statement(io.BytesIO(b"x"), file="x", format="bai2")


def test_a_stream_that_cannot_seek_still_reads() -> None:
    class OneWay(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            chunk = self._data.read(min(len(buffer), 700))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    stream = io.BufferedReader(OneWay((FIXTURES / "wechat_all_27.csv").read_bytes()))
    assert not stream.seekable()
    parsed = parse_statement(stream, file="bill.csv").read_all()
    assert (len(parsed.lines), parsed.balanced) == (5, True)


def test_bytes_no_encoding_reads_are_an_error_naming_offset_and_line() -> None:
    data = (FIXTURES / "wechat_old_24.csv").read_bytes()  # no BOM: the text must decide
    broken = data.replace("商户号".encode(), b"\xff\xfe\xfd", 1)
    offset = broken.index(b"\xff")
    for chosen in (None, "wechat_trade"):
        with pytest.raises(UndecodableFile) as caught:
            parse_statement(io.BytesIO(broken), file="bill.csv", format=chosen).read_all()
        assert (caught.value.offset, caught.value.line) == (offset, 1)
        assert f"byte 0xFF at offset {offset} (line 1) is neither UTF-8" in str(caught.value)


def test_a_later_undecodable_line_is_rejected_with_its_offset_and_the_rest_imports() -> None:
    data = (FIXTURES / "wechat_all_27.csv").read_bytes()
    broken = data.replace("咖啡".encode(), b"\xe5\x92", 1)  # a UTF-8 character cut short
    offset = broken.index(b"\xe5\x92,`")
    parsed = parse_statement(io.BytesIO(broken), file="bill.csv").read_all()
    assert len(parsed.lines) == 4
    [error] = parsed.errors
    assert error.line_no == 5
    assert error.reason == f"byte 0xE5 at offset {offset} (line 5) is not valid utf-8"
    assert not parsed.balanced


@pytest.mark.parametrize(
    ("data", "codec", "bom"),
    [
        ("交易时间\n".encode(), "utf-8", 0),
        (b"\xef\xbb\xbf" + "交易时间\n".encode(), "utf-8", 3),
        ("交易时间\n".encode("gbk"), "gb18030", 0),
        (b"plain ascii\n", "gb18030", 0),  # the format's own encoding when nothing tells
    ],
)
def test_encodings_are_decided_and_say_how(data: bytes, codec: str, bom: int) -> None:
    encoding = sniff_encoding(data, file="x", default="gb18030", complete=True)
    assert (encoding.codec, encoding.bom) == (codec, bom)
    assert encoding.how


def test_open_statement_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bill.csv"
    path.write_bytes((FIXTURES / "wechat_fund.csv").read_bytes())
    result = open_statement(path)
    list(result)
    assert result.finished
    with pytest.raises(RuntimeError, match="only once"):
        list(result)
