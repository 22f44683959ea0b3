"""Entry bodies: the fast assembly of a transaction body is exactly its RFC 8785 form."""

from datetime import UTC, datetime

import orjson
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
