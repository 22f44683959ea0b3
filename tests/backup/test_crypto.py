"""The backup cipher: chunks authenticated in place, in order, in their file, to the end."""

from __future__ import annotations

import io
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counterfoil.backup.crypto import CHUNK, MAGIC, BackupKey
from counterfoil.core.errors import IntegrityFailure

KEY = BackupKey(bytes(range(32)))


def seal(data: bytes, name: str = "f") -> bytes:
    out = io.BytesIO()
    KEY.encrypt(name, [data], out)
    return out.getvalue()


def opened(sealed: bytes, name: str = "f", key: BackupKey = KEY) -> bytes:
    return b"".join(key.decrypt(name, io.BytesIO(sealed)))


@given(st.binary(max_size=5000))
def test_what_is_sealed_opens_again(data: bytes) -> None:
    assert opened(seal(data)) == data


def test_a_file_of_several_chunks_round_trips_and_every_cut_is_found() -> None:
    data = secrets.token_bytes(2 * CHUNK + 123)
    sealed = seal(data)
    assert opened(sealed) == data
    header = len(MAGIC) + 8
    part = 4 + CHUNK + 16
    for cut in (header + part, header + 2 * part, len(sealed) - 1):  # whole parts missing, or bytes
        with pytest.raises(IntegrityFailure, match=r"cut short|damaged"):
            opened(sealed[:cut])
    with pytest.raises(IntegrityFailure, match=r"after its last part"):
        opened(sealed + b"x")
    swapped = (
        sealed[:header]
        + sealed[header + part : header + 2 * part]
        + sealed[header : header + part]
        + sealed[header + 2 * part :]
    )
    with pytest.raises(IntegrityFailure, match=r"damaged at part 0"):
        opened(swapped)


def test_another_name_or_key_does_not_open_it() -> None:
    sealed = seal(b"journal")
    with pytest.raises(IntegrityFailure, match=r"another key"):
        opened(sealed, name="keys.json")
    with pytest.raises(IntegrityFailure, match=r"another key"):
        opened(sealed, key=BackupKey(bytes(32)))
    with pytest.raises(IntegrityFailure, match=r"not an encrypted backup file"):
        opened(b"SQLite format 3\x00" + bytes(100))
