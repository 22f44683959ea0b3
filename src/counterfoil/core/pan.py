"""Card data: what may be kept and what must never be (PCI DSS 3.3, 3.4, 3.5).

A full card number (PAN) is cut to BIN + last four the moment it is seen; a keyed
HMAC of the full number may be kept so that a later search by card finds it. Track
data, CVV/CVC and PIN blocks are refused outright, and the refusal never repeats the
value. ``scan_payload`` walks every field of an incoming payload, so a card number
hidden in a remark is caught as surely as one in ``card``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from counterfoil.core.errors import CardDataRefused
from counterfoil.i18n import _

#: Field names that carry sensitive authentication data, whatever their value.
FORBIDDEN_FIELDS = frozenset(
    {
        "track",
        "track1",
        "track2",
        "track3",
        "track_data",
        "trackdata",
        "track2_data",
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "cid",
        "csc",
        "card_verification",
        "security_code",
        "pin",
        "pin_block",
        "pinblock",
        "encrypted_pin",
        "pan_full",
        "full_pan",
    }
)

# Track 1: %B<PAN>^NAME^YYMM...?   Track 2: ;<PAN>=YYMM...?  or  <PAN>=YYMM<svc>... (ISO 7813)
_TRACK1 = re.compile(r"%?B\d{13,19}\^[^^]{0,26}\^\d{4}")
_TRACK2 = re.compile(r";?\d{13,19}[=D]\d{4}\d*\??")
_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# How card numbers are written with separators: 4-4-4-4(-3), 4-4-4-1..4, Amex 4-6-5, Diners 4-6-4.
_CARD_GROUPING = re.compile(
    r"^(?:\d{4}([ -])\d{4}(?:\1\d{4}){1,2}(?:\1\d{1,4})?|"
    r"\d{4}([ -])\d{6}\2\d{4,5})$"
)
_MASKED = re.compile(r"^(\d{6})[*xX#]{2,9}(\d{4})$")
_BIN_LAST4 = re.compile(r"^(\d{6,8})\D*(\d{4})$")


_TRACK_REFUSED = _("{field}: looks like magnetic-stripe track data, which is never accepted")


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn check (ISO/IEC 7812)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_full_pan(text: str) -> bool:
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.isdigit() and luhn_ok(digits)


@dataclass(frozen=True, slots=True)
class MaskedCard:
    """What may be kept of a card: its BIN (first six) and last four, and a keyed hash."""

    bin: str
    last4: str
    hmac: str | None = None

    @property
    def masked(self) -> str:
        return f"{self.bin}******{self.last4}"


def card_hmac(pan: str, key: bytes) -> str:
    """A keyed hash of the full number, for look-ups; useless without the key."""
    return hmac.new(key, pan.encode(), hashlib.sha256).hexdigest()


def mask_card(value: str, hmac_key: bytes | None = None) -> MaskedCard:
    """Reduce a full or already-masked card number to BIN + last four.

    Accepts '6222021234567890123', '622202******0123', '6222 02** **** 0123' and
    '622202|0123'. Anything else is refused without repeating it.
    """
    masked = _MASKED.match(value)  # as terminals send it, most often: nothing to tidy
    if masked:
        return MaskedCard(masked.group(1), masked.group(2))
    compact = value.strip().replace(" ", "").replace("-", "")
    if compact.isdigit() and 13 <= len(compact) <= 19:
        if not luhn_ok(compact):
            raise CardDataRefused(
                _(
                    "card: expected a masked card number (BIN and last four), "
                    "or a valid full number to be masked"
                )
            )
        digest = card_hmac(compact, hmac_key) if hmac_key else None
        return MaskedCard(compact[:6], compact[-4:], digest)
    match = _MASKED.match(compact) or _BIN_LAST4.match(compact.replace("|", "*"))
    if match:
        return MaskedCard(match.group(1)[:6], match.group(2))
    raise CardDataRefused(_("card: expected BIN and last four such as 622202******0123"))


def redact_pans(text: str) -> str:
    """Replace every Luhn-valid 13–19 digit run in ``text`` by its masked form."""

    def _mask_run(run: re.Match[str]) -> str:
        digits = run.group(0)
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return f"{digits[:6]}******{digits[-4:]}"
        return digits

    def _sub(match: re.Match[str]) -> str:
        text = match.group(0)
        groups = re.split(r"[ -]", text)
        digits = "".join(groups)
        if (len(groups) == 1 or _CARD_GROUPING.match(text)) and luhn_ok(digits):
            return f"{digits[:6]}******{digits[-4:]}"
        # Not written as a card number (an entry id, a date and a count…); each
        # separator-free part may still be one on its own.
        return re.sub(r"\d+", _mask_run, text)

    return _DIGIT_RUN.sub(_sub, text)


def contains_track_data(text: str) -> bool:
    # Cheap test first: track 1 needs '^', track 2 needs '=' or 'D' after the number.
    if len(text) < 17 or ("^" not in text and "=" not in text and "D" not in text):
        return False
    return bool(_TRACK1.search(text) or _TRACK2.search(text))


def scan_payload(payload: Mapping[str, Any], path: str = "") -> None:
    """Refuse a payload that carries track data, CVV or a PIN block in any field.

    Every payload of every transaction passes here, so the common values take the short
    way: a number, a boolean or a string too short to hold track data (16 characters or
    fewer) needs no more than its type and length looked at.
    """
    for key, value in payload.items():
        if str(key).lower() in FORBIDDEN_FIELDS:
            raise CardDataRefused(
                _("{field}: sensitive authentication data (track, CVV, PIN) is never accepted"),
                field=f"{path}{key}",
            )
        kind = type(value)
        if kind is int or kind is bool or value is None or (kind is str and len(value) < 17):
            continue
        if isinstance(value, Mapping):
            scan_payload(value, f"{path}{key}.")
        elif isinstance(value, str) and contains_track_data(value):
            raise CardDataRefused(_TRACK_REFUSED, field=f"{path}{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    scan_payload(item, f"{path}{key}[{i}].")
                elif isinstance(item, str) and contains_track_data(item):
                    raise CardDataRefused(_TRACK_REFUSED, field=f"{path}{key}[{i}]")


#: BIN prefixes of cards issued in China (UnionPay's ranges): 内卡. Anything else with a
#: BIN from the international schemes is 外卡; a BIN in neither is not known.
DOMESTIC_BINS = ("62", "60", "81", "9")
FOREIGN_BINS = ("4", "5", "34", "35", "37", "30", "36", "38")


def card_group(card_bin: str | None) -> str:
    """``domestic``, ``foreign`` or ``unknown`` for a card's BIN; ``qr`` without a card.
    ``CARD_GROUP_SQL`` says the same to the database (the journal's ``card_group``)."""
    if not card_bin:
        return "qr"
    if card_bin.startswith(DOMESTIC_BINS):
        return "domestic"
    if card_bin.startswith(FOREIGN_BINS) or "2221" <= card_bin[:4] <= "2720":
        return "foreign"
    return "unknown"


def _prefixes(prefixes: tuple[str, ...]) -> str:
    return " OR ".join(f"substr(card_bin, 1, {len(p)}) = '{p}'" for p in prefixes)


#: ``card_group`` as an SQL expression over ``card_bin`` (SQLite and PostgreSQL alike):
#: the journal's generated column, computed once when an entry is written.
CARD_GROUP_SQL = (
    "CASE WHEN card_bin IS NULL OR card_bin = '' THEN 'qr' "
    f"WHEN {_prefixes(DOMESTIC_BINS)} THEN 'domestic' "
    f"WHEN {_prefixes(FOREIGN_BINS)} OR (substr(card_bin, 1, 4) >= '2221' "
    "AND substr(card_bin, 1, 4) <= '2720') THEN 'foreign' ELSE 'unknown' END"
)
