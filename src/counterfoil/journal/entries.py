"""Journal entries: a body, its canonical bytes, its hash in the chain, its signature.

An entry's body is an object with ``v``, ``merchant_no``, ``seq``, ``prev_hash``,
``kind``, ``recorded_at``, ``key_id`` and ``data``. Its hash is the SHA-256 of the
body's RFC 8785 bytes; since the body holds the previous entry's hash and the gapless
sequence number, changing, removing, reordering or inserting any entry breaks every
hash after it. The merchant's Ed25519 key signs ``ENTRY_DOMAIN + hash``.

Kinds: ``genesis`` (the merchant's first entry: names the first key), ``transaction``,
``key_rotation`` (signed by the old key, names the new one), and later issues add
``recovered`` and ``adjustment``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from counterfoil.core.canonical import canonical_bytes
from counterfoil.core.times import iso_z

ENTRY_DOMAIN = b"counterfoil/entry/v1\n"
CHECKPOINT_DOMAIN = b"counterfoil/checkpoint/v1\n"
GENESIS_PREV = "0" * 64
KINDS = ("genesis", "transaction", "key_rotation", "recovered", "adjustment")


iso_utc = iso_z  # a UTC instant as text with microseconds and a Z: sortable, unambiguous


@dataclass(frozen=True, slots=True)
class Sealed:
    body: dict[str, Any]
    body_bytes: bytes
    entry_hash: str

    @property
    def seq(self) -> int:
        return int(self.body["seq"])


def make_body(
    *,
    merchant_no: str,
    seq: int,
    prev_hash: str,
    kind: str,
    recorded_at: datetime,
    key_id: str,
    data: dict[str, Any],
    effects: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = {
        "v": 1,
        "merchant_no": merchant_no,
        "seq": seq,
        "prev_hash": prev_hash,
        "kind": kind,
        "recorded_at": iso_utc(recorded_at),
        "key_id": key_id,
        "data": data,
    }
    if effects is not None:
        body["effects"] = effects
    return body


def effects_of(fee: int, net: int, original_seq: int | None) -> dict[str, int]:
    """What recording a transaction does: its fee, its net, the entry it acts on."""
    effects = {"fee": fee, "net": net}
    if original_seq is not None:
        effects["original_seq"] = original_seq
    return effects


def transaction_body_bytes(
    *,
    data: bytes,
    effects: dict[str, int],
    key_id: str,
    merchant_no: str,
    prev_hash: str,
    recorded_at: str,
    seq: int,
) -> bytes:
    """The canonical bytes of a transaction entry, assembled without a serialiser.

    ``data`` is already canonical (made where the payload was validated). Keys sort as
    data, effects, key_id, kind, merchant_no, prev_hash, recorded_at, seq, v, and every
    value after ``data`` is digits or a string of letters, digits and '-:.TZ' that needs
    no escaping, so the concatenation is exactly RFC 8785: a property test holds it to
    ``canonical_bytes(make_body(...))``.
    """
    original = effects.get("original_seq")
    tail = (
        f',"effects":{{"fee":{effects["fee"]},"net":{effects["net"]}'
        + (f',"original_seq":{original}' if original is not None else "")
        + f'}},"key_id":"{key_id}","kind":"transaction","merchant_no":"{merchant_no}"'
        f',"prev_hash":"{prev_hash}","recorded_at":"{recorded_at}","seq":{seq},"v":1}}'
    )
    return b'{"data":' + data + tail.encode()


def seal(body: dict[str, Any], *, trusted: bool = False) -> Sealed:
    data = canonical_bytes(body, trusted=trusted)
    return Sealed(body, data, hashlib.sha256(data).hexdigest())


def signing_message(entry_hash: str) -> bytes:
    return ENTRY_DOMAIN + bytes.fromhex(entry_hash)


def checkpoint_message(
    merchant_no: str, tree_size: int, root_hash: str, created_at: str, key_id: str
) -> bytes:
    return CHECKPOINT_DOMAIN + canonical_bytes(
        {
            "merchant_no": merchant_no,
            "tree_size": tree_size,
            "root_hash": root_hash,
            "created_at": created_at,
            "key_id": key_id,
        }
    )
