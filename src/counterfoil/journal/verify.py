"""Verifying a merchant's journal: the first entry that was altered, removed, reordered or
inserted, found from the rows alone and the public keys.

Pure: it reads an iterator of entry rows in sequence order and the merchant's
checkpoints and public keys, and knows no database. Every entry's sequence number,
place in the chain, hash and copied look-up columns are checked, its hash is added to
the Merkle tree, and at every checkpoint's size the tree's root must equal the signed
root. Signatures are checked on every entry with ``full``; otherwise on the genesis and
key entries, on the entry at every checkpoint and on the last entry, which is enough to
detect a forged tail: a forger without the key can chain but cannot sign.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from counterfoil.i18n import _, translate
from counterfoil.journal.entries import GENESIS_PREV, checkpoint_message, signing_message
from counterfoil.journal.keys import verify_signature
from counterfoil.journal.merkle import CompactRange


@dataclass(frozen=True, slots=True)
class Checkpoint:
    merchant_no: str
    tree_size: int
    root_hash: str
    key_id: str
    signature: str
    created_at: str


@dataclass(slots=True)
class Report:
    merchant_no: str
    entries: int = 0
    checkpoints: int = 0
    signatures: int = 0
    head_hash: str = GENESIS_PREV
    root_hash: str | None = None
    message: str | None = None
    bad_seq: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.message is None

    @property
    def problem(self) -> str | None:
        """What is wrong, in the reader's language."""
        return translate(self.message, **self.facts) if self.message else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "merchant_no": self.merchant_no,
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints_checked": self.checkpoints,
            "signatures_checked": self.signatures,
            "head_hash": self.head_hash,
            "merkle_root": self.root_hash,
            "problem": self.problem,
            "bad_seq": self.bad_seq,
        }


#: One entry as ``verify_chain`` reads it: the columns that the chain is made of.
Row = tuple[int, bytes, str, str, str, str, str]  # seq, body, hash, prev, kind, key, signature

_LEAF = b"\x00"


def _explain(
    seq: int,
    body_bytes: bytes,
    merchant_no: str,
    prev: str,
    kind: str,
    key_id: str,
    key_in_force: str | None,
) -> tuple[str, dict[str, Any]]:
    """Why a body's fixed fields do not fit its place: the slow path, for the report only."""
    try:
        body = orjson.loads(body_bytes)
    except orjson.JSONDecodeError:
        return _("entry {seq} was altered: its body is not canonical JSON"), {}
    if body.get("merchant_no") != merchant_no or body.get("seq") != seq:
        return (
            _("entry {seq} belongs elsewhere (its body says {other} #{other_seq})"),
            {"other": body.get("merchant_no"), "other_seq": body.get("seq")},
        )
    if body.get("prev_hash") != prev:
        return (
            _("entry {seq} does not follow entry {previous}: the chain is broken"),
            {"previous": seq - 1},
        )
    if body.get("key_id") != key_in_force:
        return (
            _("entry {seq} is signed by key {key_id}, not the key in force {in_force}"),
            {"key_id": body.get("key_id"), "in_force": key_in_force},
        )
    if body.get("kind") != kind or key_id != body.get("key_id"):
        return _("entry {seq} was altered: kind or key differs from its body"), {}
    return _("entry {seq} was altered: its body is not canonical JSON"), {}


def verify_chain(
    merchant_no: str,
    rows: Iterable[Row],
    checkpoints: Iterable[Checkpoint],
    public_keys: Mapping[str, str],
    *,
    head: tuple[int, str] | None,
    full: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Walk one journal in sequence order; stop at the first entry that is not right.

    The hot path parses no JSON: a body is canonical, its keys sorted, and ``data`` comes
    first, so everything after the data object is a fixed text that can be written down
    from what the entry must be (key, kind, merchant, previous hash, sequence) and
    compared. Genesis and key entries are parsed in full, for the keys they introduce.
    """
    report = Report(merchant_no)
    marks = {c.tree_size: c for c in checkpoints}
    last_mark = max(marks, default=0)
    sign_at = set(marks) | {head_seq(head)}
    tree = CompactRange()
    leaves: list[bytes] = []
    prev, expected, key_in_force = GENESIS_PREV, 1, None
    trusted: dict[str, str] = {}
    sha256 = hashlib.sha256

    def fail(seq: int, message: str, **facts: Any) -> Report:
        report.message, report.bad_seq, report.facts = message, seq, {"seq": seq, **facts}
        return report

    for seq, body_bytes, entry_hash, prev_col, kind, key_col, signature in rows:
        if seq != expected:
            message = (
                _("entry {seq} is missing (found entry {found} in its place)")
                if seq > expected
                else _("entry {seq} is out of order or repeated (found entry {found} in its place)")
            )
            return fail(expected, message, found=seq)
        if sha256(body_bytes).hexdigest() != entry_hash:
            return fail(seq, _("entry {seq} was altered: its body no longer has its hash"))
        if seq == 1 and kind == "genesis":
            data = orjson.loads(body_bytes)["data"]
            trusted[data["key_id"]] = data["public_key"]
            key_in_force = data["key_id"]
        tail = body_bytes[body_bytes.rfind(b',"key_id":"') :]
        if (
            prev_col != prev
            or key_col != key_in_force
            or not tail.startswith(
                f',"key_id":"{key_in_force}","kind":"{kind}","merchant_no":"{merchant_no}"'
                f',"prev_hash":"{prev}","recorded_at":"'.encode()
            )
            or not tail.endswith(f'","seq":{seq},"v":1}}'.encode())
        ):
            message, facts = _explain(
                seq, body_bytes, merchant_no, prev, kind, key_col, key_in_force
            )
            return fail(seq, message, **facts)
        public = trusted.get(str(key_in_force))
        if public is None or public_keys.get(str(key_in_force), public) != public:
            return fail(
                seq,
                _(
                    "entry {seq}: key {key_id} is unknown, or the stored public "
                    "key differs from the one the journal names"
                ),
                key_id=key_in_force,
            )
        if full or kind != "transaction" or seq in sign_at:
            report.signatures += 1
            if not verify_signature(public, signing_message(entry_hash), signature):
                return fail(
                    seq, _("entry {seq} has a signature that does not verify: forged or altered")
                )
        if kind == "key_rotation":
            data = orjson.loads(body_bytes)["data"]
            trusted[data["key_id"]] = data["public_key"]
            key_in_force = data["key_id"]
        leaves.append(sha256(_LEAF + bytes.fromhex(entry_hash)).digest())
        mark = marks.get(seq)
        if mark is not None:
            tree.extend(leaves)
            leaves = []
            problem = _check_mark(mark, tree.root().hex(), {**public_keys, **trusted})
            if problem:
                return fail(seq, problem, size=mark.tree_size)
            report.checkpoints += 1
        elif len(leaves) >= 65_536:
            tree.extend(leaves)
            leaves = []
        prev, expected = entry_hash, expected + 1
        report.entries = seq
        if progress is not None and not seq % 50_000:
            progress(seq)

    tree.extend(leaves)
    report.head_hash = prev
    report.root_hash = tree.root().hex()
    if last_mark > report.entries:
        return fail(
            report.entries + 1,
            _("entries after {entries} are missing: a signed checkpoint covers {size} entries"),
            entries=report.entries,
            size=last_mark,
        )
    if head is not None and (head[0] != report.entries or head[1] != prev):
        return fail(
            min(head[0], report.entries) + 1 if head[0] != report.entries else report.entries,
            _(
                "the journal ends at entry {entries} but its head records entry {head}: "
                "entries were removed or added at the end"
            ),
            entries=report.entries,
            head=head[0],
        )
    if report.entries == 0:
        return fail(1, _("the journal has no entries, not even its genesis entry"))
    return report


def head_seq(head: tuple[int, str] | None) -> int:
    return head[0] if head else -1


def _check_mark(mark: Checkpoint, root: str, keys: Mapping[str, str]) -> str | None:
    if root != mark.root_hash:
        return _(
            "the Merkle root over entries 1–{size} differs from the signed checkpoint: "
            "entries before it were changed"
        )
    public = keys.get(mark.key_id)
    message = checkpoint_message(
        mark.merchant_no, mark.tree_size, mark.root_hash, mark.created_at, mark.key_id
    )
    if public is None or not verify_signature(public, message, mark.signature):
        return _("the checkpoint at {size} entries has a signature that does not verify")
    return None
