"""No input makes a parser fail with anything but one of the project's own errors.

Random bytes, and real samples and fixtures with bytes replaced, inserted, removed or cut
off, go through every parser (and through format detection) to the end. A parser may
reject rows (``LineError``) or the whole file (a ``CounterfoilError``); it may not crash,
hang, or let a lower-level exception (``KeyError``, ``UnicodeDecodeError``, lxml's,
openpyxl's, the mt-940 library's) escape.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from counterfoil.core.errors import CounterfoilError
from counterfoil.importers import (
    ParseResult,
    alipay_account,
    alipay_trade,
    camt,
    parse_statement,
    shipped_profiles,
    swift_mt940,
    tabular,
    unionpay_zm,
    wechat_fund,
    wechat_trade,
)

from .helpers import FIXTURES, SAMPLES

ZM_NAME = "INN15090588ZM_802310048993424"
PROFILES = shipped_profiles()

PARSERS: dict[str, Callable[[bytes], ParseResult]] = {
    "unionpay_zm": lambda d: unionpay_zm.parse(io.BytesIO(d), file=ZM_NAME),
    "wechat_trade": lambda d: wechat_trade.parse(io.BytesIO(d), file="w.csv"),
    "wechat_fund": lambda d: wechat_fund.parse(io.BytesIO(d), file="f.csv"),
    "alipay_trade": lambda d: alipay_trade.parse(io.BytesIO(d), file="a.csv"),
    "alipay_account": lambda d: alipay_account.parse(io.BytesIO(d), file="b.csv"),
    "camt053": lambda d: camt.parse(io.BytesIO(d), file="s.xml"),
    "camt054": lambda d: camt.parse(io.BytesIO(d), file="n.xml", kind="camt054"),
    "mt940": lambda d: swift_mt940.parse(io.BytesIO(d), file="m.sta"),
    "icbc": lambda d: tabular.parse(
        io.BytesIO(d), file="i.csv", profile=PROFILES["icbc_personal_detail"]
    ),
    "cmb": lambda d: tabular.parse(
        io.BytesIO(d), file="c.xlsx", profile=PROFILES["cmb_transaction_flow"]
    ),
    "detect": lambda d: parse_statement(io.BytesIO(d), file="upload"),
}
SEEDS = sorted(
    [
        *(
            p
            for p in SAMPLES.glob("*/*")
            if p.suffix in {".xml", ".sta", ""} and "LICENSE" not in p.name and p.is_file()
        ),
        *(p for p in FIXTURES.iterdir() if p.suffix in {".csv", ".xml"}),
    ]
)
SEED_BYTES = [p.read_bytes() for p in SEEDS]

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def read_to_the_end(parse: Callable[[bytes], ParseResult], data: bytes) -> None:
    try:
        result = parse(data)
        for _ in result.records():
            pass
    except CounterfoilError:
        return
    assert result.finished
    for error in result.errors:
        assert error.line_no >= 0
        assert error.reason


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEED_BYTES)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        chunk = draw(
            st.binary(min_size=1, max_size=8)
            | st.sampled_from(
                [
                    b"\n",
                    b",",
                    b"`",
                    b'"',
                    b"#",
                    b":61:",
                    b"<",
                    b"&x;",
                    b"\xff",
                    b"\xe4\xb8",
                    b"-",
                    b".",
                    b"9" * 19,
                    b"9" * 5000,
                    b"E+27",
                    "合计".encode(),
                    b"\r",
                ]
            )
        )
        if action == "replace":
            data[at : at + len(chunk)] = chunk
        elif action == "insert":
            data[at:at] = chunk
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 50))]
        else:
            del data[at:]
    return bytes(data)


def test_there_are_seeds() -> None:
    assert len(SEEDS) >= 20, [p.name for p in SEEDS]


@FUZZ
@given(name=st.sampled_from(sorted(PARSERS)), data=st.binary(max_size=3000))
def test_random_bytes_give_clean_errors_only(name: str, data: bytes) -> None:
    read_to_the_end(PARSERS[name], data)


@FUZZ
@given(name=st.sampled_from(sorted(PARSERS)), data=mutated())
def test_mutated_samples_give_clean_errors_only(name: str, data: bytes) -> None:
    read_to_the_end(PARSERS[name], data)


@settings(max_examples=40, deadline=None, database=None)
@given(data=mutated())
def test_mutated_zips_give_clean_errors_only(data: bytes) -> None:
    """The same mutations inside a zip (a ZM download, a camt bundle, a workbook)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(ZM_NAME, data)
        bundle.writestr("RD201015090501_802310048993424", data[:500])
    for parse in (PARSERS["detect"], PARSERS["unionpay_zm"], PARSERS["camt053"], PARSERS["cmb"]):
        read_to_the_end(parse, archive.getvalue())


def test_seed_paths_are_real() -> None:
    assert all(isinstance(p, Path) and p.exists() for p in SEEDS)


def test_an_amount_of_five_thousand_digits_is_a_rejected_row_not_a_crash() -> None:
    """int() refuses strings over 4,300 digits with ValueError; that must not escape."""
    text = (
        (FIXTURES / "wechat_success_20.csv").read_bytes().replace(b"`3.04", b"`" + b"3" * 5000, 1)
    )
    result = PARSERS["wechat_trade"](text).read_all()
    assert [e.reason.split(":")[0] for e in result.errors] == ["应结订单金额"]
