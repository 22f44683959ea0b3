"""Which format is this file? A registry of the formats we read, recognised by content.

Each format has a sniffer that looks at the first 64 KiB (and at the file name where
the name is the convention: UnionPay's ``INN{yyMMdd}88ZM_{merchant}``). Zip files are
looked into: a ZM download, a bundle of camt files, an XLSX workbook. ``format=``
overrides the detection, and a file that is not the format asked for is refused with a
message naming what was expected and what it looks like instead.

``open_statement(path)`` and ``parse_statement(stream, file=…)`` are the front door for
storage, the CLI and the API: they return a streaming ``ParseResult``.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from counterfoil.i18n import _
from counterfoil.importers import (
    alipay_account,
    alipay_trade,
    camt,
    swift_mt940,
    tabular,
    unionpay_zm,
    wechat_fund,
    wechat_trade,
)
from counterfoil.importers.errors import FormatMismatch
from counterfoil.importers.profile import Profile, shipped_profiles
from counterfoil.importers.result import ParseResult
from counterfoil.importers.text import SNIFF_BYTES, peek, sniff_encoding
from counterfoil.importers.unionpay_layout import SPANS


@dataclass(frozen=True)
class Sample:
    """What a sniffer sees: the file name, its first bytes as text, zip member names."""

    name: str
    head: bytes
    text: str
    members: tuple[str, ...] = ()
    member_text: str = ""  # the start of the first zip member that is not a directory


@dataclass(frozen=True)
class StatementFormat:
    name: str
    title: str
    sniff: Callable[[Sample], bool]
    parse: Callable[..., ParseResult]
    options: tuple[str, ...] = ()


def _has(*words: str) -> Callable[[Sample], bool]:
    return lambda sample: all(word in sample.text for word in words)


def _zm(sample: Sample) -> bool:
    if any(unionpay_zm.NAME.search(m.rsplit("/", 1)[-1]) for m in sample.members):
        return True
    first = sample.head.split(b"\n", 1)[0].rstrip(b"\r")
    fixed = len(first) >= SPANS[27][1] and all(
        first[end : end + 1] in (b" ", b"") for _start, end in SPANS[:27]
    )
    return not sample.members and (bool(unionpay_zm.NAME.search(sample.name)) or fixed)


def _xml(*words: str) -> Callable[[Sample], bool]:
    def sniff(sample: Sample) -> bool:
        text = sample.member_text if sample.members else sample.text
        return text.lstrip("\ufeff \r\n\t").startswith("<") and any(w in text for w in words)

    return sniff


def _mt940(sample: Sample) -> bool:
    return bool(re.search(r"(?m)^:20:", sample.text)) and bool(
        re.search(r"(?m)^:(60[FM]|61|62[FM]):", sample.text)
    )


def _matching_profile(sample: Sample) -> Profile | None:
    text = sample.member_text if sample.members else sample.text
    for profile in shipped_profiles().values():
        names = [profile.header_contains or "", *profile.columns.values()]
        if all(_loose(name) in _loose(text) for name in names if name):
            return profile
    return None


def _loose(text: str) -> str:
    return "".join(text.split()).replace("(", "（").replace(")", "）")


def _profile_sniff(sample: Sample) -> bool:
    if sample.members and "xl/workbook.xml" not in sample.members:
        return False
    return _matching_profile(sample) is not None


FORMATS: Final[dict[str, StatementFormat]] = {
    f.name: f
    for f in (
        StatementFormat(
            "unionpay_zm", unionpay_zm.TITLE, _zm, unionpay_zm.parse, ("settle_date", "rd")
        ),
        StatementFormat(
            "wechat_trade", wechat_trade.TITLE, _has("交易时间", "微信订单号"), wechat_trade.parse
        ),
        StatementFormat(
            "wechat_fund", wechat_fund.TITLE, _has("记账时间", "资金流水单号"), wechat_fund.parse
        ),
        StatementFormat(
            "alipay_trade", alipay_trade.TITLE, _has("支付宝交易号", "业务类型"), alipay_trade.parse
        ),
        StatementFormat(
            "alipay_account",
            alipay_account.TITLE,
            _has("账务流水号", "发生时间"),
            alipay_account.parse,
        ),
        StatementFormat(
            "camt053",
            camt.TITLES["camt053"],
            _xml("BkToCstmrStmt", "camt.053"),
            lambda stream, **kw: camt.parse(stream, kind="camt053", **kw),
            ("tz",),
        ),
        StatementFormat(
            "camt054",
            camt.TITLES["camt054"],
            _xml("BkToCstmrDbtCdtNtfctn", "camt.054"),
            lambda stream, **kw: camt.parse(stream, kind="camt054", **kw),
            ("tz",),
        ),
        StatementFormat("mt940", swift_mt940.TITLE, _mt940, swift_mt940.parse, ("tz", "encoding")),
        StatementFormat(
            "csv_profile",
            "bank export read with a mapping profile",
            _profile_sniff,
            tabular.parse,
            ("profile", "account"),
        ),
    )
}


def _as_text(data: bytes) -> str:
    """Member text for sniffing only: never fails, replaces what it cannot read."""
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def _sample(head: bytes, name: str, stream: IO[bytes], codec: str | None) -> Sample:
    if not head.startswith(b"PK\x03\x04"):
        # A text file: an undecodable one is refused here, naming the byte and its line.
        encoding = sniff_encoding(head, file=name, complete=len(head) < SNIFF_BYTES)
        return Sample(name, head, head.decode(codec or encoding.codec, errors="replace"))
    text = _as_text(head)
    try:
        with zipfile.ZipFile(stream) as archive:
            members = tuple(archive.namelist())
            files = [m for m in members if not m.endswith("/")]
            first = b""
            if "xl/workbook.xml" in members:  # a workbook: its strings and its first sheet
                for part in ("xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"):
                    if part in members:
                        with archive.open(part) as shared:
                            first += shared.read(SNIFF_BYTES)
            elif files:
                with archive.open(sorted(files)[0]) as member:
                    first = member.read(SNIFF_BYTES)
    # zipfile raises NotImplementedError for a compression method it cannot read and
    # RuntimeError for an encrypted member: such a zip is sampled as it is, not opened.
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError):
        return Sample(name, head, text)
    finally:
        stream.seek(0)
    return Sample(name, head, text, members, html.unescape(_as_text(first)))


def detect(sample: Sample) -> StatementFormat | None:
    """The first format whose sniffer recognises the sample (most specific first)."""
    return next((f for f in FORMATS.values() if f.sniff(sample)), None)


def parse_statement(
    stream: IO[bytes], *, file: str, format: str | None = None, **options: Any
) -> ParseResult:
    """Recognise the format of ``stream`` (or take ``format``) and start parsing it."""
    if format is not None and format not in FORMATS:
        raise FormatMismatch(
            file,
            format,
            _("{file}: unknown format {expected}; known: {known}"),
            known=", ".join(FORMATS),
        )
    head, stream = peek(stream)
    if head.startswith(b"PK\x03\x04") and not stream.seekable():
        stream = _spooled(stream)
    sample = _sample(head, Path(file).name, stream, options.get("encoding"))
    found = detect(sample)
    chosen = FORMATS[format] if format else found
    if chosen is None:
        raise FormatMismatch(
            file,
            "statement",
            _("{file}: not a statement format Counterfoil reads ({known})"),
            known=", ".join(f.title for f in FORMATS.values()),
        )
    if (
        format
        and not chosen.sniff(sample)
        and not (format == "csv_profile" and "profile" in options)
    ):
        raise FormatMismatch(
            file,
            chosen.title,
            _("{file}: this is not a {expected}; it looks like {found}"),
            found=found.title if found else "none of the formats we read",
        )
    if chosen.name == "csv_profile" and options.get("profile") is None:
        options["profile"] = _matching_profile(sample)
    unknown = set(options) - set(chosen.options)
    if unknown:
        raise TypeError(f"{chosen.name} takes no option {', '.join(sorted(unknown))}")
    return chosen.parse(stream, file=file, **options)


def open_statement(path: str | Path, *, format: str | None = None, **options: Any) -> ParseResult:
    """Open the file at ``path`` and start parsing it; the file closes with the result.

    A bare UnionPay ZM file picks up the RD summary lying beside it (``RD…{yyMMdd}…_
    {merchant}``) unless ``rd`` is given.
    """
    path = Path(path)
    handles = [path.open("rb")]
    try:
        if format in (None, "unionpay_zm") and "rd" not in options:
            rd = _rd_beside(path)
            if rd is not None:
                handles.append(rd.open("rb"))
                options["rd"] = handles[-1]
        result = parse_statement(handles[0], file=path.name, format=format, **options)
    except BaseException:
        for handle in handles:
            handle.close()
        raise
    for handle in handles:
        result.also_close(handle.close)
    return result


def _rd_beside(path: Path) -> Path | None:
    found = unionpay_zm.settle_date_from_name(path.name)
    if found is None:
        return None
    settled, merchant = found
    day = f"{settled:%y%m%d}"
    candidates = sorted(p for p in path.parent.glob(f"RD*{day}*_{merchant}") if p.is_file())
    return candidates[0] if candidates else None


def _spooled(stream: IO[bytes]) -> IO[bytes]:
    """A seekable copy of a stream that cannot seek (zip files need to seek)."""
    copy = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115
    shutil.copyfileobj(stream, copy)
    copy.seek(0)
    return copy
