"""CSV / XLSX bank exports read through TOML mapping profiles, and profile validation."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest

from counterfoil.core.errors import ValidationError
from counterfoil.importers import (
    ProfileError,
    load_profile,
    open_statement,
    shipped_profiles,
    tabular,
)
from counterfoil.importers.tabular import _cell_text
from counterfoil.importers.text import to_fen

from .helpers import FIXTURES, assert_golden

VALID = """\
[profile]
name = "test"

[columns]
date = "日期"
amount = "金额"
"""


def test_the_shipped_profiles_are_valid_and_say_what_they_model() -> None:
    profiles = shipped_profiles()
    assert {"icbc_personal_detail", "cmb_transaction_flow"} <= set(profiles)
    folder = Path(tabular.__file__).parent / "profiles"
    for path in folder.glob("*.toml"):
        assert path.read_text(encoding="utf-8").startswith("# "), path.name


@pytest.mark.parametrize(
    ("name", "profile"),
    [("icbc_detail", "icbc_personal_detail"), ("cmb_flow", "cmb_transaction_flow")],
)
def test_bank_exports_match_their_golden_files(name: str, profile: str) -> None:
    result = open_statement(FIXTURES / f"{name}.csv")
    assert result.source == "csv_profile"
    assert_golden(result, FIXTURES / f"{name}.expected.json")
    assert result.info["profile"] == profile


def test_icbc_debit_and_credit_columns_and_the_footer() -> None:
    parsed = open_statement(FIXTURES / "icbc_detail.csv").read_all()
    assert [x.amount for x in parsed.lines] == [473939, 9443, -200000]
    assert [x.txn_type for x in parsed.lines] == ["credit", "credit", "debit"]
    assert parsed.lines[0].counterparty == "银联商务股份有限公司"
    assert parsed.balanced  # the running balance agrees; the 合计 row is not a line


def test_a_card_number_in_a_counterparty_is_masked() -> None:
    parsed = open_statement(FIXTURES / "cmb_flow.csv").read_all()
    assert parsed.lines[0].counterparty == "银联商务股份有限公司 622202*********0128"
    assert "6222021234567890128" not in parsed.lines[0].raw
    assert parsed.lines[1].counterparty == "李四 6217000010001235"  # not a valid card number


def test_the_same_export_as_xlsx_reads_the_same(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for line in (FIXTURES / "cmb_flow.csv").read_text(encoding="utf-8").splitlines():
        cells = next(iter(__import__("csv").reader([line])))
        sheet.append(
            [
                float(c.replace(",", ""))
                if c.replace(",", "").replace(".", "").lstrip("-").isdigit()
                else c
                for c in cells
            ]
        )
    path = tmp_path / "cmb_flow.xlsx"
    book.save(path)
    xlsx = open_statement(path).read_all()
    csv_lines = open_statement(FIXTURES / "cmb_flow.csv").read_all().lines
    assert [(x.amount, x.occurred_at, x.counterparty) for x in xlsx.lines] == [
        (x.amount, x.occurred_at, x.counterparty) for x in csv_lines
    ]
    assert xlsx.balanced


def test_an_xlsx_number_finer_than_the_fen_is_refused_not_rounded(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["日期", "金额"])
    sheet.append(["2023-05-01", 12.345])
    sheet.append(["2023-05-02", 12.5])
    path = tmp_path / "noise.xlsx"
    book.save(path)
    with path.open("rb") as stream:
        parsed = tabular.parse(stream, file=path.name, profile=load_profile(VALID)).read_all()
    assert [x.amount for x in parsed.lines] == [1250]
    [error] = parsed.errors
    assert (error.line_no, error.reason) == (
        2,
        "金额: expected at most 2 decimal places, got '12.345'",
    )


def test_a_float_with_binary_noise_keeps_its_noise_and_is_refused() -> None:
    assert _cell_text(0.1 + 0.2) == "0.30000000000000004"
    assert _cell_text(12.0) == "12"
    with pytest.raises(ValidationError):
        to_fen(_cell_text(0.1 + 0.2), "金额")


def test_a_bad_row_is_reported_and_the_rest_imports() -> None:
    text = "日期,金额\n2023-05-01,12.00\n2023-02-30,1.00\n2023-05-03,abc\n2023-05-04,-3\n"
    parsed = tabular.parse(
        io.BytesIO(text.encode()), file="x.csv", profile=load_profile(VALID)
    ).read_all()
    assert [x.amount for x in parsed.lines] == [1200, -300]
    assert [(e.line_no, e.reason.split(":")[0]) for e in parsed.errors] == [
        (3, "日期"),
        (4, "金额"),
    ]


@pytest.mark.parametrize(
    ("toml", "key", "line", "words"),
    [
        (VALID + 'colour = "red"\n', "columns.colour", 7, "unknown key"),
        (VALID.replace('date = "日期"\n', ""), "columns.date", 4, "date column is required"),
        (VALID + 'debit = "借"\n', "columns.amount", 6, "not both"),
        (VALID.replace('amount = "金额"\n', ""), "columns.amount", 4, "both debit and credit"),
        (
            VALID + '[rows]\nfooter_pattern = "(合计"\n',
            "rows.footer_pattern",
            8,
            "regular expression",
        ),
        (VALID + '[parse]\ndate_format = "YYYY-MM-DD"\n', "parse.date_format", 8, "strptime"),
        (
            VALID.replace('name = "test"', 'name = "test"\nencoding = "latin-9"'),
            "profile.encoding",
            3,
            "expected one of auto",
        ),
        (VALID + "[rows]\nheader_row = 0\n", "rows.header_row", 8, "numbered from 1"),
        (VALID + '[rows]\nheader_row = "3"\n', "rows.header_row", 8, "whole number"),
        (VALID + "[extras]\nx = 1\n", "extras", 7, "unknown table"),
        (VALID.replace('name = "test"', "name = "), "toml", 2, "not valid TOML"),
    ],
)
def test_profile_errors_name_the_key_and_its_line(
    toml: str, key: str, line: int, words: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(toml, name="bank.toml")
    error = caught.value
    assert (error.key, error.line) == (key, line)
    assert words in str(error)
    assert str(error).startswith(f"bank.toml, line {line}: ")


def test_the_profile_is_validated_before_the_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(VALID + "oops = 1\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"bad.toml, line 7: columns.oops"):
        load_profile(path)


def test_a_profile_error_reads_wholly_in_chinese() -> None:
    """Where in the profile and what is wrong there are both catalogue messages."""
    with pytest.raises(ProfileError) as caught:
        load_profile(VALID + "[extras]\nx = 1\n", name="bank.toml")
    chinese = caught.value.render("zh_CN")
    assert chinese.startswith("bank.toml")
    assert "7" in chinese
    assert chinese != caught.value.render("en")
    assert "unknown table" not in chinese
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese.split("extras", 1)[0])
