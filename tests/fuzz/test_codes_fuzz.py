"""The receipt-code and certificate-code verifiers under fuzzing: no input crashes them
(only the project's own ValidationError), and no change to a genuine code verifies."""

from __future__ import annotations

import base64
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from counterfoil.core.errors import CounterfoilError
from counterfoil.documents.certificate import verify_certificate_code
from counterfoil.documents.code import PREFIX, verify_code
from documents.samples import CARD_SALE, PUBLIC_KEYS, code_for

GENUINE = code_for(CARD_SALE)
RAW = base64.urlsafe_b64decode(GENUINE[len(PREFIX) :] + "==")
HEX_KEYS = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in PUBLIC_KEYS.items()}


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_any_text_is_refused_or_judged_never_a_crash(text: str) -> None:
    for candidate in (text, PREFIX + text):
        with contextlib.suppress(CounterfoilError):
            assert not verify_code(candidate, PUBLIC_KEYS).genuine
        try:
            genuine, _facts = verify_certificate_code(candidate, HEX_KEYS)
            assert not genuine
        except CounterfoilError:
            pass


@settings(max_examples=200)
@given(st.integers(0, len(RAW) - 1), st.integers(1, 255), st.booleans())
def test_no_changed_byte_or_cut_verifies(position: int, flip: int, cut: bool) -> None:
    changed = (
        RAW[:position]
        if cut
        else RAW[:position] + bytes([RAW[position] ^ flip]) + RAW[position + 1 :]
    )
    code = PREFIX + base64.urlsafe_b64encode(changed).decode().rstrip("=")
    with contextlib.suppress(CounterfoilError):
        assert not verify_code(code, PUBLIC_KEYS).genuine
