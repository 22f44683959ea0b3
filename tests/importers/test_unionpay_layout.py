"""A ZM line's kept fields, cut from a line that is not all ASCII (``LazyExtra``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from counterfoil.importers.unionpay_layout import _KEPT_SPANS, LINE_BYTES, _gb18030_cells

#: What a ZM line may hold: ASCII, GBK two-byte characters, a four-byte GB18030 one,
#: NUL, and bytes that are no character at all (a lead byte alone, a stray trail byte).
PIECES = st.sampled_from(
    [b" ", b"7", b"A", "咖".encode("gbk"), "啡馆".encode("gbk"), "€".encode("gb18030"),
     "\U0001f600".encode("gb18030"), b"\x00", b"\x81", b"\xfe", b"\x80", b"\xff", b"\x40"]
)  # fmt: skip


def by_field(data: bytes) -> tuple[str, ...]:
    """What the cells were before: each field decoded on its own."""
    return tuple(data[start:end].decode("gb18030", errors="replace") for start, end in _KEPT_SPANS)


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=400), st.integers(0, LINE_BYTES - 1))
def test_one_decode_of_the_line_cuts_the_fields_as_a_decode_per_field(
    pieces: list[bytes], at: int
) -> None:
    """Characters anywhere (inside a field, across two, at a line's end), NUL and bytes
    that decode to nothing: the same cells either way."""
    line = (b" " * at + b"".join(pieces)).ljust(LINE_BYTES)[:LINE_BYTES]
    assert _gb18030_cells(line) == by_field(line)


def test_a_chinese_sub_merchant_name_is_decoded() -> None:
    start = 327  # the sub-merchant name's field
    line = (b" " * start + "便利店一号".encode("gbk")).ljust(LINE_BYTES)
    assert "便利店一号" in [cell.strip() for cell in _gb18030_cells(line)]
    assert _gb18030_cells(line) == by_field(line)
