"""Card data: full numbers masked to BIN + last four, track data/CVV/PIN refused unechoed."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counterfoil.core.errors import CardDataRefused
from counterfoil.core.pan import luhn_ok, mask_card, redact_pans, scan_payload

FULL = "6222021234567890128"  # Luhn-valid test number


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok(FULL)
    assert not luhn_ok("4111111111111112")


def test_full_number_is_cut_to_bin_and_last_four_with_a_keyed_hash() -> None:
    card = mask_card(FULL, b"k" * 32)
    assert (card.bin, card.last4, card.masked) == ("622202", "0128", "622202******0128")
    assert card.hmac is not None
    assert FULL not in card.hmac
    assert mask_card(FULL, b"k" * 32).hmac == card.hmac
    assert mask_card(FULL, b"j" * 32).hmac != card.hmac


@pytest.mark.parametrize("masked", ["622202******0128", "6222 02** **** 0128", "622202|0128"])
def test_masked_forms_are_accepted(masked: str) -> None:
    assert mask_card(masked).masked == "622202******0128"


def test_a_number_that_fails_luhn_is_refused_without_echo() -> None:
    with pytest.raises(CardDataRefused) as caught:
        mask_card("6222021234567890123")
    assert "6222021234567890123" not in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"cvv": "123"}, "cvv"),
        ({"card": {"pin_block": "0412AC89ABCDEF01"}}, "card.pin_block"),
        ({"remarks": "%B4111111111111111^DOE/JOHN^2512101000000"}, "remarks"),
        ({"remarks": ";4111111111111111=25121010000000000000?"}, "remarks"),
        ({"extra": [";4111111111111111=2512101?"]}, "extra[0]"),
    ],
)
def test_sensitive_authentication_data_is_refused_and_never_echoed(
    payload: dict[str, object], field: str
) -> None:
    with pytest.raises(CardDataRefused) as caught:
        scan_payload(payload)
    message = str(caught.value)
    assert field in message
    assert "4111111111111111" not in message
    assert "123" not in message.replace(field, "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111 1111 1111 1111", "411111******1111"),
        ("4111-1111-1111-1111", "411111******1111"),
        ("3782 822463 10005", "378282******0005"),
        ("entry 898310054110027-17 read", "entry 898310054110027-17 read"),  # Luhn-valid digits
    ],
)
def test_card_like_groupings_are_one_number_and_ids_are_not(text: str, expected: str) -> None:
    assert redact_pans(text) == expected


def test_redact_pans_masks_numbers_inside_free_text() -> None:
    assert redact_pans(f"customer card {FULL} refunded") == (
        "customer card 622202******0128 refunded"
    )
    assert redact_pans("order 2026112212345678 (not Luhn)") == "order 2026112212345678 (not Luhn)"


@given(st.text(alphabet="0123456789 -", min_size=13, max_size=40))
def test_no_luhn_valid_number_survives_redaction(text: str) -> None:
    out = redact_pans(text)
    digits_runs = "".join(c if c.isdigit() else " " for c in out).split()
    assert not any(13 <= len(run) <= 19 and luhn_ok(run) for run in digits_runs)
