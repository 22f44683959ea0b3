"""Mapping profiles for bank exports that have no standard: a TOML file per layout.

A profile says where a CSV or XLSX export keeps the date, the amount (one signed column
or debit and credit columns), the reference, the counterparty and the description; its
encoding; where the header row is; where the footer starts; how dates are written and
which sign means money in. It is validated completely before any statement is read,
and each error names the profile key and its line in the TOML::

    [profile]
    name = "icbc_personal_detail"
    format = "csv"            # csv | xlsx | auto (by the file's extension)
    encoding = "auto"         # auto | utf-8 | utf-8-sig | gbk | gb18030
    currency = "CNY"

    [rows]
    header_contains = "交易日期"  # or header_row = 7 (1-based)
    footer_pattern = "^人民币合计"  # first cell of the first row that is not data
    # footer_rows = 2            # or: the last N rows are not data

    [columns]
    date = "交易日期"
    debit = "记账金额(支出)"       # or amount = "交易金额"
    credit = "记账金额(收入)"
    counterparty = "对方户名"

    [parse]
    date_format = "%Y-%m-%d"
    sign = "credit_positive"      # for a single amount column: + is money in
    empty = ["-"]
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from counterfoil.i18n import _
from counterfoil.importers.errors import ProfileError

FORMATS: Final = ("csv", "xlsx", "auto")
ENCODINGS: Final = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030")
SIGNS: Final = ("credit_positive", "debit_positive")
COLUMN_KEYS: Final = (
    "date",
    "time",
    "amount",
    "debit",
    "credit",
    "reference",
    "counterparty",
    "counterparty_account",
    "description",
    "balance",
)
#: Every key a profile may have, by table, and the type its value must have.
SCHEMA: Final[dict[str, dict[str, type | tuple[type, ...]]]] = {
    "profile": {
        "name": str,
        "title": str,
        "format": str,
        "encoding": str,
        "delimiter": str,
        "currency": str,
        "sheet": str,
    },
    "rows": {"header_row": int, "header_contains": str, "footer_pattern": str, "footer_rows": int},
    "columns": dict.fromkeys(COLUMN_KEYS, str),
    "parse": {"date_format": str, "time_format": str, "sign": str, "empty": list},
}


@dataclass(frozen=True)
class Profile:
    """A validated mapping profile."""

    name: str
    columns: Mapping[str, str]
    title: str = ""
    format: str = "auto"
    encoding: str = "auto"
    delimiter: str = ","
    currency: str = "CNY"
    sheet: str | None = None
    header_row: int | None = None
    header_contains: str | None = None
    footer_pattern: re.Pattern[str] | None = None
    footer_rows: int = 0
    date_format: str | None = None
    time_format: str | None = None
    sign: str = "credit_positive"
    empty: frozenset[str] = field(default_factory=lambda: frozenset({"", "-"}))


def key_lines(text: str) -> dict[str, int]:
    """'table.key' → the line where the key is set (simple TOML: tables and key = value)."""
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if match := re.match(r"^\[\s*([A-Za-z0-9_.\-]+)\s*\]", stripped):
            table = match.group(1)
            lines.setdefault(table, number)
        elif match := re.match(r"^([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=", stripped):
            key = match.group(1).strip('"')
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


def load_profile(source: str | Path, *, name: str | None = None) -> Profile:
    """Read and validate a profile from TOML text or a ``.toml`` path."""
    if isinstance(source, Path):
        text, label = source.read_text(encoding="utf-8"), source.name
    else:
        text, label = source, name or "profile"
    return validate_profile(text, label)


@cache
def shipped_profiles() -> Mapping[str, Profile]:
    """The profiles that come with Counterfoil (``importers/profiles/*.toml``), by name."""
    found: dict[str, Profile] = {}
    folder = resources.files("counterfoil.importers") / "profiles"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            profile = validate_profile(entry.read_text(encoding="utf-8"), entry.name)
            found[profile.name] = profile
    return MappingProxyType(found)


def validate_profile(text: str, label: str) -> Profile:
    """Every check, before any file is read. Errors name the key and its line."""
    lines = key_lines(text)

    def fail(key: str, message: str, **params: Any) -> ProfileError:
        line = lines.get(key) or lines.get(key.split(".")[0])
        return ProfileError(key, message, profile=label, line=line, **params)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ProfileError(
            "toml",
            _("{profile}, line {line}: not valid TOML: {problem}"),
            profile=label,
            line=int(match.group(1)) if match else None,
            problem=str(exc)[:200],
        ) from None
    _check_shape(data, fail)
    get: Callable[[str, str], Any] = lambda table, key: data.get(table, {}).get(key)  # noqa: E731
    columns = {k: v.strip() for k, v in data.get("columns", {}).items() if v.strip()}
    _check_columns(columns, get, fail)
    footer = get("rows", "footer_pattern")
    try:
        footer_pattern = re.compile(footer) if footer else None
    except re.error as exc:
        raise fail(
            "rows.footer_pattern", _("not a valid regular expression: {problem}"), problem=str(exc)
        ) from None
    return Profile(
        name=get("profile", "name"),
        columns=columns,
        title=get("profile", "title") or "",
        format=get("profile", "format") or "auto",
        encoding=get("profile", "encoding") or "auto",
        delimiter=get("profile", "delimiter") or ",",
        currency=get("profile", "currency") or "CNY",
        sheet=get("profile", "sheet"),
        header_row=get("rows", "header_row"),
        header_contains=get("rows", "header_contains"),
        footer_pattern=footer_pattern,
        footer_rows=get("rows", "footer_rows") or 0,
        date_format=get("parse", "date_format"),
        time_format=get("parse", "time_format"),
        sign=get("parse", "sign") or "credit_positive",
        empty=frozenset({"", *(str(v).strip() for v in get("parse", "empty") or ["-"])}),
    )


def _check_shape(data: dict[str, Any], fail: Callable[..., ProfileError]) -> None:
    for table, value in data.items():
        if table not in SCHEMA:
            raise fail(
                table, _("unknown table; expected one of {expected}"), expected=", ".join(SCHEMA)
            )
        if not isinstance(value, dict):
            raise fail(table, _("expected a [table]"))
        for key, item in value.items():
            wanted = SCHEMA[table].get(key)
            if wanted is None:
                raise fail(
                    f"{table}.{key}",
                    _("unknown key; expected one of {expected}"),
                    expected=", ".join(SCHEMA[table]),
                )
            if not isinstance(item, wanted) or isinstance(item, bool):
                kind = wanted.__name__ if isinstance(wanted, type) else "value"
                raise fail(
                    f"{table}.{key}",
                    _("expected a {kind}, got {value!r}"),
                    kind={"str": "string", "int": "whole number", "list": "list"}.get(kind, kind),
                    value=str(item)[:40],
                )
    if not data.get("profile", {}).get("name"):
        raise fail("profile.name", _("every profile needs a name"))


def _check_columns(
    columns: dict[str, str], get: Callable[[str, str], Any], fail: Callable[..., ProfileError]
) -> None:
    choices = {"profile.format": FORMATS, "profile.encoding": ENCODINGS, "parse.sign": SIGNS}
    for key, allowed in choices.items():
        value = get(*key.split("."))
        if value is not None and value not in allowed:
            raise fail(
                key,
                _("expected one of {expected}, got {value!r}"),
                expected=", ".join(allowed),
                value=value[:40],
            )
    delimiter = get("profile", "delimiter")
    if delimiter is not None and len(delimiter) != 1:
        raise fail(
            "profile.delimiter", _("expected one character, got {value!r}"), value=delimiter[:10]
        )
    currency = get("profile", "currency")
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
        raise fail("profile.currency", _("expected a three-letter ISO currency such as CNY"))
    if "date" not in columns:
        raise fail("columns.date", _("the date column is required"))
    if "amount" in columns and ("debit" in columns or "credit" in columns):
        raise fail("columns.amount", _("give either amount or debit and credit, not both"))
    if "amount" not in columns and not ("debit" in columns and "credit" in columns):
        raise fail("columns.amount", _("give the amount column, or both debit and credit"))
    header_row, header_contains = get("rows", "header_row"), get("rows", "header_contains")
    if header_row is not None and header_row < 1:
        raise fail("rows.header_row", _("rows are numbered from 1"))
    if header_row is not None and header_contains is not None:
        raise fail("rows.header_row", _("give header_row or header_contains, not both"))
    footer_rows = get("rows", "footer_rows")
    if footer_rows is not None and not 0 <= footer_rows <= 1000:
        raise fail("rows.footer_rows", _("expected 0 to 1000 rows"))
    for key in ("date_format", "time_format"):
        fmt = get("parse", key)
        if fmt is not None:
            _check_format(fmt, f"parse.{key}", fail)
    for item in get("parse", "empty") or []:
        if not isinstance(item, str):
            raise fail("parse.empty", _("expected a list of strings"))


def _check_format(fmt: str, key: str, fail: Callable[..., ProfileError]) -> None:
    if "%" not in fmt:
        raise fail(
            key, _("expected a strptime format such as %Y-%m-%d, got {value!r}"), value=fmt[:40]
        )
    sample = datetime(2021, 1, 28, 17, 7, 11)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError as exc:
        raise fail(
            key, _("the format cannot read its own dates: {problem}"), problem=str(exc)[:100]
        ) from None
