"""Verification codes: compact, signed, checked offline, and read back from a real QR code."""

from __future__ import annotations

import base64
import string
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import segno
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st

from counterfoil.core.errors import ValidationError
from counterfoil.core.models import CHANNELS, TYPES
from counterfoil.core.money import EXPONENTS
from counterfoil.documents.code import (
    CHANNEL_CODES,
    CURRENCY_NUMBERS,
    PREFIX,
    TYPE_CODES,
    CodeFields,
    MalformedCode,
    make_code,
    order_hash,
    read_code,
    verification_url,
    verify_code,
)
from counterfoil.journal.keys import SigningKey, key_id_of

from .samples import CARD_SALE, KEY, KEY_ID, PUBLIC_KEYS, WECHAT, code_for

ALPHABET = string.ascii_letters + string.digits + "-_"
OTHER_KEY = SigningKey(bytes(range(32)))


def test_a_card_code_states_the_facts_and_verifies() -> None:
    code = code_for(CARD_SALE)
    assert code.startswith("CF1.")
    assert len(code) == 136
    verdict = verify_code(code, PUBLIC_KEYS)
    assert verdict.genuine, verdict.message()
    assert verdict.payload is not None
    assert verdict.payload.as_dict() == {
        "merchant_no": "102310048993424",
        "seq": 17,
        "entry_id": "102310048993424-17",
        "terminal_time": "2026-11-20T06:05:09Z",
        "type": "sale",
        "channel": "credit",
        "amount": 12850,
        "currency": "CNY",
        "card_last4": "0123",
        "order_hash": None,
        "key_id": KEY_ID,
    }
    assert verdict.message() == f"genuine: signed by merchant 102310048993424 with key {KEY_ID}"
    assert "102310048993424" in verdict.message("zh_CN")


def test_a_qr_payment_code_carries_a_hash_of_the_order_number_not_the_number() -> None:
    code = code_for(WECHAT)
    assert len(code) == 144
    payload = read_code(code)
    assert payload.fields.card_last4 is None
    assert payload.fields.order_hash == order_hash("4200002311202611201234567890")
    assert "4200002311202611201234567890" not in code
    assert verify_code(code, PUBLIC_KEYS).genuine


def test_the_code_numbers_cover_every_type_channel_and_currency() -> None:
    assert set(TYPE_CODES) == set(TYPES)
    assert set(CHANNEL_CODES) == set(CHANNELS)
    assert set(CURRENCY_NUMBERS) == set(EXPONENTS)
    assert {c for c in CHANNELS if CHANNELS[c].qr} == {"wechat", "alipay", "unionpay_qr"}


def test_every_change_of_one_character_makes_a_code_not_genuine() -> None:
    for code in (code_for(CARD_SALE), code_for(WECHAT)):
        for position in range(len(code)):
            for ch in ALPHABET + ".":
                if ch == code[position]:
                    continue
                changed = code[:position] + ch + code[position + 1 :]
                assert not verify_code(changed, PUBLIC_KEYS).genuine, (position, ch)


@given(
    position=st.integers(0, 135),
    ch=st.characters(),
    action=st.sampled_from(["set", "insert", "delete"]),
)
def test_any_edit_makes_a_code_not_genuine(position: int, ch: str, action: str) -> None:
    code = code_for(CARD_SALE)
    if action == "set":
        changed = code[:position] + ch + code[position + 1 :]
    elif action == "insert":
        changed = code[:position] + ch + code[position:]
    else:
        changed = code[:position] + code[position + 1 :]
    if changed == code or changed.strip() == code:
        return  # the same code (or the same code with white space around it)
    assert not verify_code(changed, PUBLIC_KEYS).genuine


@given(
    seq=st.integers(0, 2**40 - 1),
    time=st.integers(0, 2**40 - 1),
    kind=st.sampled_from(TYPE_CODES),
    channel=st.sampled_from(CHANNEL_CODES),
    amount=st.integers(0, 10**11),
    currency=st.sampled_from(sorted(CURRENCY_NUMBERS)),
    last4=st.from_regex(r"[0-9]{4}", fullmatch=True) | st.none(),
    order_no=st.text(min_size=1, max_size=64) | st.none(),
)
def test_any_facts_come_back_as_they_went_in(
    seq: int,
    time: int,
    kind: str,
    channel: str,
    amount: int,
    currency: str,
    last4: str | None,
    order_no: str | None,
) -> None:
    qr = channel in ("wechat", "alipay", "unionpay_qr")
    fields = CodeFields(
        "000000000000001",
        seq,
        time,
        kind,
        channel,
        amount,
        currency,
        card_last4=None if qr else last4,
        order_hash=order_hash(order_no) if qr and order_no else None,
    )
    code = make_code(fields, KEY, KEY_ID)
    assert len(code) < 150
    payload = read_code(code)
    assert payload.fields == fields
    assert payload.key_id == KEY_ID
    assert verify_code(code, PUBLIC_KEYS).genuine


def test_a_code_made_with_another_key_is_not_genuine() -> None:
    other_id = key_id_of(OTHER_KEY.public)
    code = make_code(CodeFields.from_entry(CARD_SALE), OTHER_KEY, other_id)
    verdict = verify_code(code, PUBLIC_KEYS)
    assert not verdict.genuine
    assert verdict.message() == f"not genuine: {other_id} is not a key of merchant 102310048993424"
    # a rotated key still verifies old codes, when the merchant's keys include it
    assert verify_code(code, {**PUBLIC_KEYS, other_id: OTHER_KEY.public.hex()}).genuine


def test_a_public_key_filed_under_another_keys_id_is_refused() -> None:
    verdict = verify_code(code_for(CARD_SALE), {KEY_ID: OTHER_KEY.public})
    assert not verdict.genuine
    assert "another key" in verdict.message()


def test_the_signing_key_must_be_the_named_key() -> None:
    with pytest.raises(ValidationError, match="is not the key"):
        make_code(CodeFields.from_entry(CARD_SALE), OTHER_KEY, KEY_ID)


def test_facts_a_code_cannot_carry_are_refused() -> None:
    fields = CodeFields.from_entry(CARD_SALE)
    bad: dict[str, Any]
    for bad in (
        {"merchant_no": "12345"},
        {"amount": 2**40},
        {"seq": -1},
        {"type": "cashback"},
        {"channel": "cash"},
        {"currency": "XXX"},
        {"card_last4": "12a4"},
        {"card_last4": "000\u0660"},  # an Arabic-Indic zero is a digit, not an ASCII one
    ):
        with pytest.raises(ValidationError, match=r"expected|is not"):
            make_code(replace(fields, **bad), KEY, KEY_ID)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a code starting with CF1."),
        ("CF2.AAAA", "expected a code starting with CF1."),
        ("CF1.AB=C", "the character at position 7 cannot be part of a code"),
        ("CF1.ABCD", "expected 132 or 140 characters after CF1., got 4"),
    ],
)
def test_a_malformed_code_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MalformedCode) as caught:
        read_code(text)
    assert str(caught.value) == message
    assert caught.value.field == "code"
    verdict = verify_code(text, PUBLIC_KEYS)
    assert not verdict.genuine
    assert verdict.payload is None
    assert verdict.message() == message


def test_a_code_with_an_unknown_type_is_malformed() -> None:
    code = code_for(CARD_SALE)
    raw = bytearray(base64.urlsafe_b64decode(code[4:]))
    raw[17] = 0xF0  # type number 15
    forged = PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(MalformedCode, match="no known transaction type"):
        read_code(forged)


def test_the_verification_url_and_reading_a_code_from_it() -> None:
    code = code_for(CARD_SALE)
    url = verification_url("https://counterfoil.example.com/", code)
    assert url == f"https://counterfoil.example.com/v/{code}"
    assert read_code(url) == read_code(code)
    assert verify_code(url, PUBLIC_KEYS).genuine


def qr_image(text: str, scale: int = 4, border: int = 4) -> memoryview:
    """The QR code as a grayscale image (one byte a pixel) that zxing-cpp reads."""
    matrix = [list(row) for row in segno.make(text, error="m", micro=False).matrix]
    size = (len(matrix) + 2 * border) * scale
    pixels = bytearray(b"\xff" * size * size)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = ((y + border) * scale + dy) * size + (x + border) * scale
                    pixels[start : start + scale] = b"\x00" * scale
    return memoryview(bytes(pixels)).cast("B", (size, size))


@pytest.mark.parametrize("entry", [CARD_SALE, WECHAT], ids=["card", "wechat"])
def test_a_code_printed_as_a_qr_code_reads_back_and_verifies(entry: dict[str, object]) -> None:
    code = code_for(dict(entry))
    qr = segno.make(code, error="m", micro=False)
    assert isinstance(qr.version, int)
    assert qr.version <= 8
    found = zxingcpp.read_barcode(qr_image(code))
    assert found is not None
    assert found.text == code
    assert verify_code(found.text, PUBLIC_KEYS).genuine


def test_a_verification_url_in_a_qr_code_reads_back_and_verifies() -> None:
    url = verification_url("https://counterfoil.example.com", code_for(CARD_SALE))
    found = zxingcpp.read_barcode(qr_image(url))
    assert found is not None
    assert found.text == url
    assert verify_code(found.text, PUBLIC_KEYS).genuine


def test_the_time_in_a_code_is_the_terminal_time_in_utc() -> None:
    fields = CodeFields.from_entry(CARD_SALE)
    assert fields.when == datetime(2026, 11, 20, 6, 5, 9, tzinfo=UTC)
    assert KEY.public == PUBLIC_KEYS[KEY_ID]
