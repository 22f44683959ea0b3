"""Verifying a merchant's journal: the first entry that was altered, removed, reordered or
inserted, found from the rows alone and the public keys.

Pure: it reads entry rows in sequence order, the merchant's checkpoints and public keys,
and knows no database. A journal is walked in one range or in several (``walk``), each
range on a core of its own, and the ranges' findings are put together (``combine``):

* every entry's sequence number, place in the chain (its body names the previous hash,
  which is the hash of the previous body) and hash are checked. The hot path parses no
  JSON: a body is canonical, its keys sorted, ``data`` first, so everything after the
  data object is a fixed text that can be written down from what the entry must be and
  compared. The copied look-up columns were compared with the body by the database as
  it read the row (``Row.columns_ok``); a row whose columns differ is explained by the
  caller, which can read the row;
* each entry's hash is a leaf of the Merkle tree. A range hands back the roots of its
  complete blocks of ``block`` leaves (a power of two; ranges begin on a block) and the
  leaves after them, so that the tree of the whole journal, and its root at every signed
  checkpoint, is made from a few hundred roots instead of every leaf again;
* signatures are checked on every entry with ``full``; otherwise on the genesis and key
  entries, on the entry at every checkpoint and on the last entry, which is enough to
  detect a forged tail: a forger without the key can chain but cannot sign.

A range after the first starts from what the database says of the entry before it (its
hash, the key in force) and ``combine`` checks that against what the previous range
found, so a break at a range's edge is found as surely as one inside.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from counterfoil.i18n import _, translate
from counterfoil.journal.entries import GENESIS_PREV, checkpoint_message, signing_message
from counterfoil.journal.keys import verify_signature
from counterfoil.journal.merkle import CompactRange, subtree_root

#: Leaves a block holds: a range starts on a block, so blocks of different ranges are
#: subtrees of the same tree (and ranges can be cut to within a block of where wanted).
BLOCK = 1 << 14


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


class Row(NamedTuple):
    """One entry as ``walk`` reads it."""

    seq: int
    body: bytes
    entry_hash: str
    prev_hash: str
    kind: str
    key_id: str
    signature: str
    columns_ok: bool  # the copied look-up columns are what the body says


#: ``Walk.message`` when the copied look-up columns differ from the body: the caller,
#: which can read the row, says which column.
COLUMNS_DIFFER = "columns differ"


@dataclass(slots=True)
class Start:
    """Where a range's walk begins: its first entry, the hash that entry must follow and
    the key in force (None at the genesis, which names it), with the public keys the
    journal named before it."""

    seq: int = 1
    prev: str = GENESIS_PREV
    key_in_force: str | None = None
    trusted: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Mark:
    """A signed checkpoint inside a range: how many complete blocks came before it, and
    the compact range (largest subtree first) of its leaves after them."""

    checkpoint: Checkpoint
    blocks_before: int
    peaks: list[bytes]


@dataclass(slots=True)
class Walk:
    """What walking one range found."""

    start: Start
    last: int = 0  # the last entry walked (start.seq - 1: none)
    head_hash: str = GENESIS_PREV
    key_in_force: str | None = None
    trusted: dict[str, str] = field(default_factory=dict)
    blocks: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    signatures: int = 0
    bad_seq: int | None = None
    message: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


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
    if not isinstance(body, dict):
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


def walk(
    merchant_no: str,
    rows: Iterable[Row],
    start: Start,
    marks: Mapping[int, Checkpoint],
    sign_at: set[int],
    public_keys: Mapping[str, str],
    *,
    full: bool = False,
    block: int = BLOCK,
    progress: Callable[[int], None] | None = None,
) -> Walk:
    """Walk one range of a journal in sequence order; stop at the first entry that is not
    right. ``marks`` are the signed checkpoints by tree size, ``sign_at`` the entries
    whose signatures are checked besides the genesis and key entries."""
    found = Walk(start, start.seq - 1, start.prev, start.key_in_force, dict(start.trusted))
    prev, expected, key_in_force = start.prev, start.seq, start.key_in_force
    trusted = found.trusted
    leaves: list[bytes] = []
    # The current block's tree as far as a checkpoint needed it: each leaf of a block is
    # hashed into it at most once, however many checkpoints the block holds.
    partial: CompactRange | None = None
    sha256 = hashlib.sha256

    def fail(seq: int, message: str, **facts: Any) -> Walk:
        found.bad_seq, found.message, found.facts = seq, message, {"seq": seq, **facts}
        found.head_hash, found.key_in_force, found.tail = prev, key_in_force, leaves
        return found

    for seq, body, entry_hash, prev_col, kind, key_col, signature, columns_ok in rows:
        if seq != expected:
            message = (
                _("entry {seq} is missing (found entry {found} in its place)")
                if seq > expected
                else _("entry {seq} is out of order or repeated (found entry {found} in its place)")
            )
            return fail(expected, message, found=seq)
        digest = sha256(body).digest()
        if digest.hex() != entry_hash:
            return fail(seq, _("entry {seq} was altered: its body no longer has its hash"))
        if seq == 1 and kind == "genesis":
            data = orjson.loads(body)["data"]
            trusted[data["key_id"]] = data["public_key"]
            key_in_force = data["key_id"]
        # The body is canonical, its keys sorted and ``data`` first: everything after the
        # data object is a fixed text, written down here from what the entry must be.
        tail = body[body.rfind(b',"key_id":"') :]
        if (
            prev_col != prev
            or key_col != key_in_force
            or not tail.startswith(
                f',"key_id":"{key_in_force}","kind":"{kind}","merchant_no":"{merchant_no}"'
                f',"prev_hash":"{prev}","recorded_at":"'.encode()
            )
            or not tail.endswith(b',"seq":%d,"v":1}' % seq)
        ):
            message, facts = _explain(seq, body, merchant_no, prev, kind, key_col, key_in_force)
            return fail(seq, message, **facts)
        if not columns_ok:
            return fail(seq, COLUMNS_DIFFER)
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
            found.signatures += 1
            if not verify_signature(public, signing_message(entry_hash), signature):
                return fail(
                    seq, _("entry {seq} has a signature that does not verify: forged or altered")
                )
        if kind == "key_rotation":
            data = orjson.loads(body)["data"]
            trusted[data["key_id"]] = data["public_key"]
            key_in_force = data["key_id"]
        leaves.append(sha256(_LEAF + digest).digest())
        mark = marks.get(seq)
        if mark is not None:
            partial = partial or CompactRange()
            partial.extend(leaves[partial.size :])
            found.marks.append(Mark(mark, len(found.blocks), list(partial.hashes)))
        if len(leaves) == block:
            if partial is None:
                found.blocks.append(subtree_root(leaves))
            else:
                partial.extend(leaves[partial.size :])
                found.blocks.append(partial.root())
                partial = None
            leaves = []
        prev, expected = entry_hash, expected + 1
        found.last = seq
        if progress is not None and not seq % 50_000:
            progress(seq - start.seq + 1)

    found.head_hash, found.key_in_force, found.tail = prev, key_in_force, leaves
    return found


def combine(
    merchant_no: str,
    walks: list[Walk],
    checkpoints: Iterable[Checkpoint],
    public_keys: Mapping[str, str],
    *,
    head: tuple[int, str] | None,
    block: int = BLOCK,
) -> Report:
    """One report from the walks of consecutive ranges, the first problem first: a range's
    own, a break between two ranges, a checkpoint whose root or signature is wrong, or an
    end that does not match the head or the last checkpoint."""
    report = Report(merchant_no)
    problems: list[tuple[int, int, str, dict[str, Any]]] = []  # (seq, order, message, facts)
    whole: list[Walk] = []  # the walks that fit together, up to the first with a problem
    for i, w in enumerate(walks):
        report.signatures += w.signatures
        if i:
            before = walks[i - 1]
            if before.last != w.start.seq - 1:  # the entries at its end are missing
                seq = before.last + 1
                problems.append(
                    (
                        seq,
                        0,
                        _("entry {seq} is missing (found entry {found} in its place)"),
                        {"seq": seq, "found": w.start.seq},
                    )
                )
                break
            if before.head_hash != w.start.prev or before.key_in_force != w.start.key_in_force:
                seq = w.start.seq
                problems.append(
                    (
                        seq,
                        0,
                        _("entry {seq} does not follow entry {previous}: the chain is broken"),
                        {"seq": seq, "previous": seq - 1},
                    )
                )
                break
        whole.append(w)
        if w.message is not None:
            assert w.bad_seq is not None
            problems.append((w.bad_seq, 0, w.message, w.facts))
            break
    complete = len(whole) == len(walks) and walks[-1].message is None

    tree = CompactRange()
    keys = {**public_keys}
    for w in whole:
        keys.update(w.trusted)
    for w in whole:
        for mark in w.marks:
            size = mark.checkpoint.tree_size
            at = CompactRange.resume(tree.size, list(tree.hashes))
            for root in w.blocks[: mark.blocks_before]:
                at.append_subtree(root, block)
            for peak, span in zip(mark.peaks, _spans(size - at.size), strict=True):
                at.append_subtree(peak, span)
            problem = _check_mark(mark.checkpoint, at.root().hex(), keys)
            if problem:
                problems.append((size, 1, problem, {"seq": size, "size": size}))
            else:
                report.checkpoints += 1
        for root in w.blocks:
            tree.append_subtree(root, block)
        tree.extend(w.tail)

    last = walks[-1] if complete else None
    report.entries = last.last if last is not None else tree.size
    if last is not None:
        report.head_hash = last.head_hash
        report.root_hash = tree.root().hex()
        end = last.last
        last_mark = max((c.tree_size for c in checkpoints), default=0)
        if last_mark > end:
            problems.append(
                (
                    end + 1,
                    2,
                    _(
                        "entries after {entries} are missing: a signed checkpoint covers "
                        "{size} entries"
                    ),
                    {"seq": end + 1, "entries": end, "size": last_mark},
                )
            )
        elif head is not None and (head[0] != end or head[1] != last.head_hash):
            seq = min(head[0], end) + 1 if head[0] != end else end
            problems.append(
                (
                    seq,
                    2,
                    _(
                        "the journal ends at entry {entries} but its head records entry "
                        "{head}: entries were removed or added at the end"
                    ),
                    {"seq": seq, "entries": end, "head": head[0]},
                )
            )
        elif end == 0:
            problems.append(
                (1, 2, _("the journal has no entries, not even its genesis entry"), {"seq": 1})
            )
    if problems:
        seq, _order, message, facts = min(problems, key=lambda p: (p[0], p[1]))
        report.bad_seq, report.message, report.facts = seq, message, facts
    return report


def _spans(count: int) -> list[int]:
    """The sizes of the complete subtrees that ``count`` leaves after a block boundary
    make, largest first (the bits of ``count``)."""
    return [1 << bit for bit in range(count.bit_length() - 1, -1, -1) if count >> bit & 1]


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
