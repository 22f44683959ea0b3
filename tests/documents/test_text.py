"""Text slips for 58 mm (32 columns) and 80 mm (48 columns) rolls.

Widths are checked twice: with the renderer's own count and with the plain
``unicodedata.east_asian_width`` rule (W and F are two columns, the rest one).
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counterfoil.core.errors import ValidationError
from counterfoil.documents.slip import Field
from counterfoil.documents.text import display_width, field_lines, render_text, slip_lines, wrap

from .samples import CARD_SALE, GOLDEN, MERCHANT, WECHAT, slip_for

CHINESE = "商户名称老街坊小吃店漕溪北路上海市徐汇区银联微信支付宝退货撤销（）【】，。、：；！？　"
MIXED = st.text(alphabet=st.sampled_from(CHINESE + "ABCxyz0123456789 -&.()·é"), max_size=120)


def eaw_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def assert_fits(text: str, width: int) -> None:
    assert text.endswith("\n")
    for line in text.splitlines():
        assert display_width(line) <= width, line
        assert eaw_width(line) <= width, line
        assert line == line.rstrip(), f"trailing spaces: {line!r}"


def test_wide_characters_count_two_columns() -> None:
    assert display_width("RMB 1.00") == 8
    assert display_width("签购单") == 6
    assert display_width("（漕溪北路店）") == 14  # full-width brackets: F
    assert display_width("\u3000") == 2  # ideographic space: F
    # a GB18030 printer prints every character outside ASCII double-width
    assert display_width("·é") == 4


def test_label_left_value_right_when_they_fit() -> None:
    assert field_lines(Field("凭证号 VOUCHER NO.", "000123"), 32) == [
        "凭证号 VOUCHER NO.        000123"
    ]
    line = field_lines(Field("发卡行 ISSUER", "中国工商银行"), 32)[0]
    assert line.startswith("发卡行 ISSUER ")
    assert line.endswith(" 中国工商银行")
    assert display_width(line) == 32


def test_the_value_goes_below_right_aligned_when_it_does_not_fit() -> None:
    assert field_lines(Field("日期/时间 DATE/TIME", "2026/11/20 14:05:09"), 32) == [
        "日期/时间 DATE/TIME",
        "             2026/11/20 14:05:09",
    ]


def test_a_long_value_wraps_between_chinese_characters_never_inside_one() -> None:
    lines = field_lines(Field("商户名称 MERCHANT NAME", "上海市徐汇区老街坊小吃店漕溪北路店"), 33)
    assert lines[0] == "商户名称 MERCHANT NAME"
    # 16 wide characters take 32 columns; the 17th would need 34, so it starts a new line
    assert lines[1] == " 上海市徐汇区老街坊小吃店漕溪北路"
    assert lines[2] == " " * 31 + "店"
    assert "".join(line.strip() for line in lines[1:]) == "上海市徐汇区老街坊小吃店漕溪北路店"


def test_headers_are_centred() -> None:
    lines = render_text(slip_for(CARD_SALE), 32).splitlines()
    assert lines[0] == "       签购单 SALES SLIP"
    assert lines[1] == "     商户存根 MERCHANT COPY"


def test_english_wraps_at_spaces() -> None:
    assert wrap("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES", 32) == [
        "I ACKNOWLEDGE SATISFACTORY",
        "RECEIPT OF RELATIVE",
        "GOODS/SERVICES",
    ]


def test_a_code_longer_than_a_line_is_cut_into_whole_lines() -> None:
    code = "CF1." + "A" * 60
    assert wrap(code, 32) == [code[:32], code[32:]]
    assert wrap("x " + code, 32) == ["x " + code[:30], code[30:62], code[62:]]


def test_the_verification_code_is_printed_whole_below_its_label() -> None:
    slip = slip_for(CARD_SALE)
    assert slip.verification
    lines = slip_lines(slip, 32)
    code_lines = [line.text for line in lines if line.style == "code"]
    assert "".join(code_lines) == slip.verification
    assert lines[-len(code_lines) - 1].text.strip() == "扫码验证 SCAN TO VERIFY"


def test_only_32_and_48_columns() -> None:
    with pytest.raises(ValidationError) as caught:
        render_text(slip_for(CARD_SALE), 40)
    assert caught.value.field == "width"


@pytest.mark.parametrize("width", [32, 48])
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_golden_slip_fits_its_roll(name: str, width: int) -> None:
    assert_fits(render_text(GOLDEN[name], width), width)


@given(name=MIXED, remarks=MIXED, issuer=MIXED, width=st.sampled_from([32, 48]))
def test_any_merchant_name_fits_the_roll(name: str, remarks: str, issuer: str, width: int) -> None:
    entry = {**CARD_SALE, "remarks": remarks or None, "issuer": issuer or None}
    slip = slip_for(entry, merchant={**MERCHANT, "name": name})
    text = render_text(slip, width)
    assert_fits(text, width)
    assert "".join(slip.merchant_name.split()) in "".join(text.split())  # nothing cut off


@given(
    name=st.text(max_size=200), order_no=st.from_regex(r"[0-9A-Za-z_\-|*.]{1,64}", fullmatch=True)
)
def test_any_text_at_all_fits_the_roll(name: str, order_no: str) -> None:
    for width in (32, 48):
        entry = {**WECHAT, "order_no": order_no}
        assert_fits(render_text(slip_for(entry, merchant={**MERCHANT, "name": name}), width), width)


@given(
    text=st.text(alphabet=st.sampled_from(CHINESE + "ab c1 -"), max_size=200),
    width=st.integers(2, 60),
)
def test_wrapping_keeps_every_character_and_every_line_fits(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert all(display_width(line) <= width for line in lines)
    assert "".join("".join(lines).split()) == "".join(text.split())
