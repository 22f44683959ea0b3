"""Slips as plain text for 58 mm (32 columns) and 80 mm (48 columns) rolls.

Columns are counted as a thermal printer in Chinese mode prints them: an ASCII
character takes one column and every other character two. That is two for every
character ``unicodedata.east_asian_width`` calls wide (W) or full-width (F), as on a
screen; and two for the rest outside ASCII too (the ambiguous ·, the Latin é), because
in Chinese mode the printer prints every multi-byte GB18030 character from its
double-width font. So a line never takes more columns than counted, on paper or on a
screen (tests check both counts). A double-width character is never split, and no
line is wider than the roll.

A field's label is on the left and its value right-aligned on the same line when both
fit with a space between; otherwise the value follows on the next line, right-aligned,
wrapped at spaces or between Chinese characters. Headers are centred. The ESC/POS
renderer prints exactly these lines (``slip_lines``), styled.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal, NamedTuple

from counterfoil.core.errors import ValidationError
from counterfoil.documents.slip import SIGNATURE_LABEL, VERIFY_LABEL, Field, Slip
from counterfoil.i18n import _

Width = Literal[32, 48]
WIDTHS: tuple[Width, ...] = (32, 48)
SIGNATURE_SPACE = 2  # blank lines left for the cardholder to sign on

#: Break opportunities: a run of spaces, a run of other ASCII, or one other character.
_TOKENS = re.compile(r" +|[!-~]+|[^ -~]")


class Line(NamedTuple):
    """One printed line and how it is emphasised: "title", "strong", "code" or ""."""

    text: str
    style: str = ""


def display_width(text: str) -> int:
    """Columns ``text`` takes: its length plus one for every character outside ASCII."""
    return 2 * len(text) - len(text.encode("ascii", "ignore"))


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken at spaces or between wide
    characters; an ASCII run longer than a line (a code, an order number) is cut."""
    if display_width(text) <= width and "  " not in text and text.strip() == text:
        return [text]  # fits as it is: most values do
    lines: list[str] = []
    line, used, space = "", 0, False
    for token in _TOKENS.findall(text):
        if token[0] == " ":
            space = bool(line)
            continue
        size = len(token) if token.isascii() else 2
        gap = 1 if space else 0
        space = False
        if used + gap + size <= width:
            line, used = line + " " * gap + token, used + gap + size
            continue
        if size > width:  # only an ASCII run can be: one column per character
            room = width - used - gap
            if line and room > 0:
                line, token = line + " " * gap + token[:room], token[room:]
            while len(token) > width:
                if line:
                    lines.append(line)
                line, token = token[:width], token[width:]
        if line:
            lines.append(line)
        line, used = token, display_width(token)
    if line:
        lines.append(line)
    return lines or [""]


@lru_cache(maxsize=256)
def fixed(text: str, width: int) -> tuple[str, ...]:
    """``wrap`` of a slip's fixed texts (labels, sentences), made once per width."""
    return tuple(wrap(text, width))


@lru_cache(maxsize=256)
def centred(text: str, width: int) -> tuple[str, ...]:
    """A header's lines, centred (left padding only: no line ends in spaces)."""
    return tuple(" " * ((width - display_width(part)) // 2) + part for part in wrap(text, width))


def right(text: str, width: int) -> str:
    return " " * (width - display_width(text)) + text


def field_lines(item: Field, width: int) -> list[str]:
    label, value = item.label, item.value
    if not value:
        return list(fixed(label, width))
    label_w, value_w = display_width(label), display_width(value)
    if not item.paragraph and label_w + 1 + value_w <= width:
        return [label + " " * (width - label_w - value_w) + value]
    lines = list(fixed(label, width))
    if item.paragraph:
        return lines + wrap(value, width)
    return lines + [right(part, width) for part in wrap(value, width)]


def slip_lines(slip: Slip, width: int) -> list[Line]:
    """The slip's lines at ``width`` columns, each with its emphasis."""
    if width not in WIDTHS:
        raise ValidationError(
            "width",
            _("expected a roll of {options} columns"),
            options=" or ".join(map(str, WIDTHS)),
        )
    rule = Line("-" * width)
    lines = [Line(t, "title") for t in centred(slip.title, width)]
    lines += [Line(t, "strong") for t in centred(slip.copy_label, width)]
    if slip.reprint_label:
        lines += [Line(t, "strong") for t in centred(slip.reprint_label, width)]
    for section in slip.sections():
        lines.append(rule)
        for item in section:
            lines += [Line(t) for t in field_lines(item, width)]
    lines.append(rule)
    if slip.needs_signature:
        lines += [Line(t) for t in fixed(SIGNATURE_LABEL, width)]
        lines += [Line("")] * SIGNATURE_SPACE
        lines.append(Line("_" * width))
    for sentence in slip.consent:
        lines += [Line(t) for t in fixed(sentence, width)]
    if slip.verification:
        if slip.needs_signature or slip.consent:
            lines.append(rule)
        lines += [Line(t) for t in centred(VERIFY_LABEL, width)]
        lines += [Line(t, "code") for t in wrap(slip.verification, width)]
    return lines


def render_text(slip: Slip, width: int) -> str:
    """The slip as text for a roll of ``width`` (32 or 48) columns, one ``\\n`` per line."""
    return "".join(f"{line.text}\n" for line in slip_lines(slip, width))
