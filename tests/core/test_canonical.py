"""Our fast canonical bytes are exactly RFC 8785's, over the whole journal-body domain."""

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from counterfoil.core.canonical import canonical_bytes

keys = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=30)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20,
)


@given(st.dictionaries(keys, values, max_size=8))
def test_canonical_bytes_equal_the_reference_implementation(body: dict[str, object]) -> None:
    assert canonical_bytes(body) == rfc8785.dumps(body)


def test_control_characters_and_unicode_are_escaped_as_rfc8785_says() -> None:
    body = {"s": '\x00\x08\t\n\x0c\r\x1f"\\/ é 中文 \u2028 😀', "b": True, "n": None}
    assert canonical_bytes(body) == rfc8785.dumps(body)


@pytest.mark.parametrize("bad", [{"x": 1.5}, {"x": 2**53}, {"é": 1}, {"x": {1, 2}}])
def test_values_outside_the_domain_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"not allowed|outside|ASCII"):
        canonical_bytes(bad)
