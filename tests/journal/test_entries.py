"""Entry bodies: the fast assembly of a transaction body is exactly its RFC 8785 form."""

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from counterfoil.core.canonical import canonical_bytes
from counterfoil.journal.entries import (
    effects_of,
    iso_utc,
    make_body,
    transaction_body_bytes,
)

texts = st.text(max_size=20)
data_strategy = st.fixed_dictionaries(
    {
        "amount": st.integers(1, 10**11),
        "channel": texts,
        "merchant_no": texts,
        "terminal_time": texts,
        "type": texts,
        "offline": st.booleans(),
    },
    optional={
        "remarks": texts,
        "card": texts,
        "tip": st.integers(0, 10**6),
        "original": st.dictionaries(st.sampled_from(["rrn", "trace_no"]), texts),
    },
)


@given(
    data_strategy,
    st.integers(-(10**9), 10**9),
    st.integers(-(10**11), 10**11),
    st.none() | st.integers(1, 10**9),
    st.integers(1, 10**12),
    st.datetimes(timezones=st.just(UTC)),
)
def test_assembled_body_equals_its_canonical_form(
    data: dict[str, object], fee: int, net: int, original: int | None, seq: int, when: datetime
) -> None:
    effects = effects_of(fee, net, original)
    fields = {
        "key_id": "0123456789abcdef",
        "merchant_no": "102310048993424",
        "prev_hash": "ab" * 32,
    }
    body = make_body(
        seq=seq, kind="transaction", recorded_at=when, data=data, effects=effects, **fields
    )
    assembled = transaction_body_bytes(
        data=canonical_bytes(data), effects=effects, seq=seq, recorded_at=iso_utc(when), **fields
    )
    assert assembled == canonical_bytes(body) == rfc8785.dumps(body)
    assert orjson.loads(assembled) == body


def test_no_card_key_is_made_where_the_signing_keys_are_missing(tmp_path: Path) -> None:
    """A store restored without its keys must not make a new card key quietly: the card
    look-ups of the entries already written would silently find nothing."""
    from counterfoil.core.errors import NotFound
    from counterfoil.journal.keys import KeyStore

    keys = KeyStore(tmp_path / "keys")
    with pytest.raises(NotFound, match="encrypted backup"):
        keys.hmac_key("102310048993424")
    assert not (tmp_path / "keys" / "102310048993424" / "card-hmac.key").exists()
    keys.generate("102310048993424")
    first = keys.hmac_key("102310048993424")
    assert len(first) == 32
    assert KeyStore(tmp_path / "keys").hmac_key("102310048993424") == first
