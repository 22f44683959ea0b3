"""Reading statement text: the encoding, physical lines with their byte offsets, cells.

The encoding is decided from the first 64 KiB, among UTF-8 (with or without BOM) and
GB18030 (which reads GBK), and the decision is reported, never guessed silently: the
sample must decode in the encoding chosen, and a line further on that does not is
rejected with the byte offset and line number of the first bad byte. Text that no
supported encoding reads raises ``UndecodableFile`` naming the same.

Cells: amounts in yuan become integer fen exactly (``to_fen``), times written without
an offset are China Standard Time (``cn_time``; Asia/Shanghai has kept +08:00 without
daylight saving since 1991, so a fixed offset is exact for any statement date).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import IO, Final, NamedTuple

from counterfoil.core.errors import ValidationError
from counterfoil.core.money import MAX_SAFE, parse_amount
from counterfoil.i18n import _
from counterfoil.importers.errors import UndecodableFile
from counterfoil.importers.lines import LineError, line_error

SNIFF_BYTES: Final = 64 * 1024
MAX_LINE_BYTES: Final = 1024 * 1024
CN_OFFSET: Final = "+08:00"
SHANGHAI: Final = timezone(timedelta(hours=8), "Asia/Shanghai")
UTF8_BOM: Final = b"\xef\xbb\xbf"


class Encoding(NamedTuple):
    codec: str  # "utf-8" or "gb18030"
    bom: int  # bytes of byte-order mark to skip at the start
    how: str  # how it was decided, for the import report


def _first_error(data: bytes, codec: str) -> int | None:
    try:
        data.decode(codec)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def sniff_encoding(
    head: bytes, *, file: str, default: str = "utf-8", complete: bool = False
) -> Encoding:
    """Decide the encoding of a file from its first bytes (``head``).

    ``default`` is the format's documented encoding, used when the sample is plain
    ASCII. ``complete`` says ``head`` is the whole file (so its end is not cut).
    """
    if head.startswith(UTF8_BOM):
        return Encoding("utf-8", len(UTF8_BOM), "byte-order mark")
    sample = head if complete else head[: head.rfind(b"\n") + 1] or head
    if sample.isascii():
        return Encoding(default, 0, "ASCII so far; the format's encoding")
    utf8_error = _first_error(sample, "utf-8")
    if utf8_error is None:
        return Encoding("utf-8", 0, "decodes as UTF-8")
    gb_error = _first_error(sample, "gb18030")
    if gb_error is None:
        return Encoding("gb18030", 0, "decodes as GB18030/GBK, not as UTF-8")
    # The first line with non-ASCII text decides; a bad byte further on is that row's
    # problem (reported with its offset when the row is read), not the file's.
    first_non_ascii = next(i for i, b in enumerate(sample) if b > 0x7F)
    line_end = sample.find(b"\n", first_non_ascii)
    line_end = len(sample) if line_end < 0 else line_end
    if utf8_error > line_end:
        return Encoding("utf-8", 0, f"UTF-8; byte {utf8_error} is not")
    if gb_error > line_end:
        return Encoding("gb18030", 0, f"GB18030/GBK; byte {gb_error} is not")
    offset = max(utf8_error, gb_error)
    raise UndecodableFile(
        file,
        _(
            "{file}: byte 0x{byte} at offset {offset} (line {line}) is neither UTF-8 "
            "nor GB18030/GBK text"
        ),
        offset=offset,
        line=head.count(b"\n", 0, offset) + 1,
        byte=f"{sample[offset]:02X}",
    )


def undecodable_line(
    file: str, line_no: int, line_offset: int, data: bytes, exc: UnicodeDecodeError, codec: str
) -> LineError:
    offset = line_offset + exc.start
    return line_error(
        file,
        line_no,
        data.decode(codec, errors="replace"),
        _("byte 0x{byte} at offset {offset} (line {line}) is not valid {encoding}"),
        byte=f"{data[exc.start]:02X}",
        offset=offset,
        line=line_no,
        encoding=codec,
    )


def physical_lines(stream: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """(line number from 1, byte offset, bytes without the line ending).

    A line longer than ``MAX_LINE_BYTES`` keeps its first ``MAX_LINE_BYTES`` bytes (the
    row it belongs to will not parse and is reported); the rest of it is skipped.
    """
    offset = 0
    number = 0
    readline = stream.readline
    while True:
        data = readline(MAX_LINE_BYTES)
        if not data:
            return
        number += 1
        start = offset
        offset += len(data)
        if data[-1:] == b"\n":
            data = data[:-2] if data[-2:] == b"\r\n" else data[:-1]
        elif len(data) == MAX_LINE_BYTES:
            offset += _skip_rest(readline)
        yield number, start, data


def text_lines(
    stream: IO[bytes], *, file: str, encoding: Encoding
) -> Iterator[tuple[int, str] | LineError]:
    """Decoded physical lines (number, text); an undecodable one becomes a ``LineError``."""
    codec = encoding.codec
    number = 0
    readline = stream.readline
    if encoding.bom:
        stream.read(encoding.bom)
    offset = encoding.bom
    while True:
        data = readline(MAX_LINE_BYTES)
        if not data:
            return
        number += 1
        start = offset
        offset += len(data)
        if data.endswith(b"\n"):
            data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
        elif len(data) == MAX_LINE_BYTES:
            # its first megabyte alone would be misread (a character cut in two, a row
            # cut short): the line is reported for what it is
            offset += _skip_rest(readline)
            yield line_error(
                file,
                number,
                data[:1024].decode(codec, errors="replace"),
                _("line {line} is longer than {limit} bytes: it was not read"),
                line=number,
                limit=MAX_LINE_BYTES,
            )
            continue
        try:
            yield number, data.decode(codec)
        except UnicodeDecodeError as exc:
            yield undecodable_line(file, number, start, data, exc, codec)


def _skip_rest(readline: Callable[[int], bytes]) -> int:
    """Skip the rest of an over-long line; the bytes skipped."""
    skipped = 0
    while True:
        more = readline(MAX_LINE_BYTES)
        skipped += len(more)
        if not more or more[-1:] == b"\n":
            return skipped


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream that cannot seek, followed by the rest of it."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def peek(stream: IO[bytes], size: int = SNIFF_BYTES) -> tuple[bytes, IO[bytes]]:
    """The first ``size`` bytes, and a stream that still starts at the beginning."""
    if stream.seekable():
        position = stream.tell()
        head = stream.read(size)
        stream.seek(position)
        return head, stream
    head = stream.read(size)
    return head, io.BufferedReader(_Prefixed(head, stream))


# --- cells -------------------------------------------------------------------------------


MAX_AMOUNT_CHARS: Final = 40


def to_fen(text: str, field: str, currency: str = "CNY") -> int:
    """'12.34' → 1234. Signs, thousands separators and extra zero decimals are accepted;
    a non-zero digit beyond the currency's decimals is refused, never rounded."""
    digits = text.replace(".", "", 1)
    if text[-3:-2] == "." and digits.isdecimal() and len(digits) < 16 and currency == "CNY":
        return int(digits)  # the usual '4768.00', in a tenth of parse_amount's time
    if len(text) > MAX_AMOUNT_CHARS:
        raise ValidationError(field, _("expected an amount, got {value!r}…"), value=text[:40])
    value = parse_amount(text, currency, field=field)
    if abs(value) > MAX_SAFE:
        raise ValidationError(field, _("the amount {value!r} is too large"), value=text[:40])
    return value


def count_of(text: str) -> int | None:
    """A count of rows as a file states it, or None when it is not one."""
    stripped = text.strip()
    return int(stripped) if stripped.isdecimal() and len(stripped) <= 15 else None


def to_fen_or_zero(text: str, field: str, currency: str = "CNY") -> int:
    """Like ``to_fen``; an empty cell or a '-' placeholder is zero."""
    if text == "0.00":
        return 0
    stripped = text.strip()
    if not stripped or stripped == "-":
        return 0
    return to_fen(stripped, field, currency)


_DECIMAL: Final = re.compile(r"^([+-])?([0-9]+)(?:\.([0-9]*))?$")


def to_units(text: str, places: int, field: str) -> int:
    """An exact decimal as an integer of 10^-places: ('0.05940', 5) → 5940.

    For values finer than the fen that a file states exactly (WeChat's five-decimal fee).
    """
    if len(text) > MAX_AMOUNT_CHARS:
        raise ValidationError(field, _("expected an amount, got {value!r}…"), value=text[:40])
    head, tail = text.partition(".")[::2]
    if len(tail) == places and tail.isdigit() and text.isascii():
        if head.isdigit():
            return int(head + tail)
        if head[:1] == "-" and head[1:].isdigit():
            return -int(head[1:] + tail)
    cleaned = text.strip().replace(",", "")
    match = _DECIMAL.match(cleaned)
    if not match:
        raise ValidationError(
            field, _("expected a decimal amount such as 12.34, got {value!r}"), value=text[:40]
        )
    sign: str | None = match.group(1)
    whole: str = match.group(2)
    frac: str = match.group(3) or ""
    if len(frac) > places and frac[places:].strip("0"):
        raise ValidationError(
            field,
            _("expected at most {places} decimal places, got {value!r}"),
            places=places,
            value=text[:40],
        )
    value: int = int(whole) * 10**places + int(frac[:places].ljust(places, "0") or "0")
    return -value if sign == "-" else value


_LOOSE_TIME: Final = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$"
)


def cn_time(text: str, field: str) -> datetime:
    """A time as Chinese exports write it, in China Standard Time unless it has an offset.

    '2021-01-28 17:07:11', '2021/1/28 17:07', '2019年09月16日 10:51:40', '2021-01-28'.
    """
    if len(text) == 19 and text[4] == "-" and text[10] == " ":
        try:
            return datetime.fromisoformat(text + CN_OFFSET)
        except ValueError:
            pass
    stripped = text.strip()
    match = _LOOSE_TIME.match(stripped)
    try:
        if match:
            year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError(
            field,
            _("expected a date and time such as 2021-01-28 17:07:11, got {value!r}"),
            value=text[:40],
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)
