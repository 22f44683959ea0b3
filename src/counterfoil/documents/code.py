"""The verification code printed on a slip: a compact, signed statement of the facts.

A code is ``CF1.`` followed by the base64url text (no padding) of a fixed binary record,
big-endian, and the merchant's Ed25519 signature of it:

    merchant_no 7 | seq 5 | terminal time, UTC seconds 5 | type and channel 1 |
    amount in fen 5 | currency (ISO 4217 number) 2 | card's last four 2, or the first 8
    bytes of the SHA-256 of the platform order number 8 | key id 8 | signature 64

The signature covers ``CODE_DOMAIN`` and every byte before it, so the key id is signed
too. A card payment's code is 136 characters, a QR payment's 144: small enough for a
version 8 QR code at error correction M. Both records are a whole number of 3-byte
groups, so every character carries bits of the record (there is no slack in the last
character) and a code is read back only if it is written exactly as it was made:
changing any character makes a code malformed or not genuine.

A code checks offline with nothing but the merchant's public key. ``verify_code`` must
be given the keys of the merchant the code names (``read_code(code).merchant_no``), not
every merchant's: a key of one merchant proves nothing about another's transactions.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _, translate
from counterfoil.journal.keys import SigningKey, key_id_of, verify_signature

PREFIX = "CF1."
CODE_DOMAIN = b"counterfoil/receipt-code/v1\n"

#: Type and channel numbers in the code: append only, never reorder.
TYPE_CODES = ("sale", "void", "refund", "preauth", "completion", "preauth_cancel", "reversal")
CHANNEL_CODES = ("credit", "debit", "wechat", "alipay", "unionpay_qr")
QR_CHANNELS = frozenset({"wechat", "alipay", "unionpay_qr"})
#: ISO 4217 numeric codes of the currencies Counterfoil knows (core.money.EXPONENTS).
CURRENCY_NUMBERS = {
    "CNY": 156,
    "HKD": 344,
    "MOP": 446,
    "TWD": 901,
    "USD": 840,
    "EUR": 978,
    "GBP": 826,
    "JPY": 392,
    "KRW": 410,
    "SGD": 702,
    "AUD": 36,
    "CAD": 124,
    "CHF": 756,
}
_CURRENCIES = {number: code for code, number in CURRENCY_NUMBERS.items()}

_HEAD = 7 + 5 + 5 + 1 + 5 + 2  # merchant, seq, time, type/channel, amount, currency
_TAIL = 8 + 64  # key id, signature
CARD_BYTES = _HEAD + 2 + _TAIL  # 99 bytes: 132 characters
QR_BYTES = _HEAD + 8 + _TAIL  # 105 bytes: 140 characters
_LENGTHS = {CARD_BYTES * 4 // 3: CARD_BYTES, QR_BYTES * 4 // 3: QR_BYTES}
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_DIGITS_15 = re.compile(r"[0-9]{15}")
_DIGITS_4 = re.compile(r"[0-9]{4}")
_NO_CARD = 0xFFFF
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MAX_5 = 2**40 - 1

# Whole 3-byte groups: no spare bits in the last character, so one text per record.
assert CARD_BYTES % 3 == 0
assert QR_BYTES % 3 == 0


class MalformedCode(ValidationError):
    """The text is not a verification code as Counterfoil writes them; says what is wrong."""

    code = "malformed_code"

    def __init__(self, message: str, /, **params: Any) -> None:
        super().__init__("code", message, **params)


def order_hash(order_no: str) -> bytes:
    """The 8 bytes that stand for a platform order number in a code."""
    return hashlib.sha256(order_no.encode()).digest()[:8]


def utc_seconds(moment: datetime) -> int:
    """Whole seconds since 1970 (UTC) of an aware instant, in integers only."""
    return (moment - _EPOCH) // _SECOND


@dataclass(frozen=True, slots=True)
class CodeFields:
    """The facts a code states about one journal entry."""

    merchant_no: str
    seq: int
    time: int  # terminal time, whole seconds since 1970-01-01T00:00:00Z
    type: str
    channel: str
    amount: int  # fen
    currency: str = "CNY"
    card_last4: str | None = None  # card payments
    order_hash: bytes | None = None  # QR payments: order_hash(order_no)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> CodeFields:
        """The facts of an entry as ``services.lookups.find`` returns it."""
        card = entry.get("card")
        order_no = entry.get("order_no")
        qr = entry["channel"] in QR_CHANNELS
        return cls(
            merchant_no=str(entry["merchant_no"]),
            seq=int(entry["seq"]),
            time=utc_seconds(datetime.fromisoformat(str(entry["terminal_time"]))),
            type=str(entry["type"]),
            channel=str(entry["channel"]),
            amount=int(entry["amount"]),
            currency=str(entry.get("currency") or "CNY"),
            card_last4=str(card)[-4:] if card and not qr else None,
            order_hash=order_hash(str(order_no)) if order_no and qr else None,
        )

    @property
    def is_qr(self) -> bool:
        return self.channel in QR_CHANNELS

    @property
    def entry_id(self) -> str:
        return f"{self.merchant_no}-{self.seq}"

    @property
    def when(self) -> datetime:
        return _EPOCH + self.time * _SECOND

    def record(self) -> bytes:
        """The fixed-width record of these facts (without key id and signature)."""
        problem = self._problem()
        if problem is not None:
            raise ValidationError(problem[0], problem[1])
        flags = TYPE_CODES.index(self.type) << 4 | CHANNEL_CODES.index(self.channel)
        head = (
            int(self.merchant_no).to_bytes(7, "big")
            + self.seq.to_bytes(5, "big")
            + self.time.to_bytes(5, "big")
            + bytes((flags,))
            + self.amount.to_bytes(5, "big")
            + CURRENCY_NUMBERS[self.currency].to_bytes(2, "big")
        )
        if self.is_qr:
            return head + (self.order_hash or bytes(8))
        last4 = int(self.card_last4) if self.card_last4 is not None else _NO_CARD
        return head + last4.to_bytes(2, "big")

    def _problem(self) -> tuple[str, str] | None:
        if not _DIGITS_15.fullmatch(self.merchant_no):
            return "merchant_no", _("expected 15 digits")
        if not 0 <= self.seq <= _MAX_5:
            return "seq", _("expected a journal sequence number from 0 to 2^40 - 1")
        if not 0 <= self.time <= _MAX_5:
            return "time", _("expected a terminal time after 1970")
        if self.type not in TYPE_CODES:
            return "type", _("is not a transaction type a code can carry")
        if self.channel not in CHANNEL_CODES:
            return "channel", _("is not a channel a code can carry")
        if not 0 <= self.amount <= _MAX_5:
            return "amount", _("expected an amount from 0 to 2^40 - 1 fen")
        if self.currency not in CURRENCY_NUMBERS:
            return "currency", _("expected an ISO 4217 code such as CNY")
        if self.card_last4 is not None and not _DIGITS_4.fullmatch(self.card_last4):
            return "card_last4", _("expected the card's last four digits")
        if self.order_hash is not None and len(self.order_hash) != 8:
            return "order_hash", _("expected the 8-byte hash of the order number")
        return None


@dataclass(frozen=True, slots=True)
class Payload:
    """A code read back: its facts, the key that signed it, the signature and what it covers."""

    fields: CodeFields
    key_id: str
    signature: bytes
    signed: bytes  # CODE_DOMAIN + record + key id: the bytes the signature covers

    @property
    def merchant_no(self) -> str:
        return self.fields.merchant_no

    def as_dict(self) -> dict[str, Any]:
        """The facts, masked as the slip shows them, for a page or a JSON answer."""
        f = self.fields
        return {
            "merchant_no": f.merchant_no,
            "seq": f.seq,
            "entry_id": f.entry_id,
            "terminal_time": f.when.isoformat().replace("+00:00", "Z"),
            "type": f.type,
            "channel": f.channel,
            "amount": f.amount,
            "currency": f.currency,
            "card_last4": f.card_last4,
            "order_hash": f.order_hash.hex() if f.order_hash is not None else None,
            "key_id": self.key_id,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """Genuine or not, with the facts when the code could be read, and why."""

    genuine: bool
    payload: Payload | None
    reason: str  # a catalogue message; ``message()`` renders it
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, locale: str | None = None) -> str:
        return translate(self.reason, locale, **self.params)


def _signed(record: bytes, key_id: str) -> bytes:
    return CODE_DOMAIN + record + bytes.fromhex(key_id)


def make_code(fields: CodeFields, signing_key: SigningKey, key_id: str) -> str:
    """Sign ``fields`` with the merchant's key ``key_id``; the code as text."""
    if key_id_of(signing_key.public) != key_id:
        raise ValidationError("key_id", _("the signing key is not the key {key_id}"), key_id=key_id)
    record = fields.record()
    signature = signing_key.sign(_signed(record, key_id))
    raw = record + bytes.fromhex(key_id) + signature
    return PREFIX + base64.urlsafe_b64encode(raw).decode("ascii")


def verification_url(base_url: str, code: str) -> str:
    """The address of the public page that checks ``code``: ``{base}/v/{code}``."""
    return f"{base_url.rstrip('/')}/v/{code}"


def read_code(code: str) -> Payload:
    """The facts in a code (or in a verification URL ending in one), not yet verified.

    Raises ``MalformedCode`` naming what is wrong when the text is not a code.
    """
    text = code.strip()
    if "/v/" in text:
        text = text.rsplit("/v/", 1)[1]
    if not text.startswith(PREFIX):
        raise MalformedCode(_("expected a code starting with {prefix}"), prefix=PREFIX)
    body = text[len(PREFIX) :]
    run = _ALPHABET.match(body)
    assert run is not None
    if run.end() != len(body):
        raise MalformedCode(
            _("the character at position {position} cannot be part of a code"),
            position=len(PREFIX) + run.end() + 1,
        )
    size = _LENGTHS.get(len(body))
    if size is None:
        raise MalformedCode(
            _("expected {card} or {qr} characters after {prefix}, got {actual}"),
            card=CARD_BYTES * 4 // 3,
            qr=QR_BYTES * 4 // 3,
            prefix=PREFIX,
            actual=len(body),
        )
    raw = base64.urlsafe_b64decode(body)  # cannot fail: alphabet and length are checked
    assert len(raw) == size
    return _parse(raw)


def _parse(raw: bytes) -> Payload:
    flags = raw[17]
    type_no, channel_no = flags >> 4, flags & 0x0F
    if type_no >= len(TYPE_CODES):
        raise MalformedCode(_("the code names no known transaction type"))
    if channel_no >= len(CHANNEL_CODES):
        raise MalformedCode(_("the code names no known payment channel"))
    channel = CHANNEL_CODES[channel_no]
    currency = _CURRENCIES.get(int.from_bytes(raw[23:25], "big"))
    if currency is None:
        raise MalformedCode(_("the code names no known currency"))
    qr = channel in QR_CHANNELS
    if len(raw) != (QR_BYTES if qr else CARD_BYTES):
        raise MalformedCode(_("the code's length does not fit its payment channel"))
    merchant = int.from_bytes(raw[0:7], "big")
    if merchant >= 10**15:
        raise MalformedCode(_("the code's merchant number is not 15 digits"))
    last4: str | None = None
    hashed: bytes | None = None
    if qr:
        hashed = raw[_HEAD : _HEAD + 8]
        if hashed == bytes(8):
            hashed = None
        end = _HEAD + 8
    else:
        number = int.from_bytes(raw[_HEAD : _HEAD + 2], "big")
        if number != _NO_CARD:
            if number > 9999:
                raise MalformedCode(_("the code's card digits are not four digits"))
            last4 = f"{number:04d}"
        end = _HEAD + 2
    fields = CodeFields(
        merchant_no=f"{merchant:015d}",
        seq=int.from_bytes(raw[7:12], "big"),
        time=int.from_bytes(raw[12:17], "big"),
        type=TYPE_CODES[type_no],
        channel=channel,
        amount=int.from_bytes(raw[18:23], "big"),
        currency=currency,
        card_last4=last4,
        order_hash=hashed,
    )
    key_id = raw[end : end + 8].hex()
    return Payload(fields, key_id, raw[end + 8 :], CODE_DOMAIN + raw[: end + 8])


def verify_code(code: str, public_keys: Mapping[str, bytes | str]) -> Verdict:
    """Whether ``code`` was signed by one of ``public_keys`` (key id → raw 32 bytes or hex).

    ``public_keys`` are the keys of the merchant the code names, current and rotated.
    Never raises for a bad code: a malformed code is not genuine, and the verdict says why.
    """
    try:
        payload = read_code(code)
    except MalformedCode as exc:
        return Verdict(False, None, exc.message, {k: v for k, v in exc.params.items()})
    facts = {"merchant_no": payload.merchant_no, "key_id": payload.key_id}
    public = public_keys.get(payload.key_id)
    if public is None:
        return Verdict(
            False,
            payload,
            _("not genuine: {key_id} is not a key of merchant {merchant_no}"),
            facts,
        )
    public_raw = bytes.fromhex(public) if isinstance(public, str) else bytes(public)
    if len(public_raw) != 32 or key_id_of(public_raw) != payload.key_id:
        return Verdict(
            False,
            payload,
            _("not genuine: the public key given for {key_id} is another key"),
            facts,
        )
    if not verify_signature(public_raw.hex(), payload.signed, payload.signature.hex()):
        return Verdict(
            False,
            payload,
            _("not genuine: the signature does not match the facts in the code"),
            facts,
        )
    return Verdict(
        True, payload, _("genuine: signed by merchant {merchant_no} with key {key_id}"), facts
    )
