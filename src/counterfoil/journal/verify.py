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
from datetime import UTC, datetime
from typing import Any

import orjson

from counterfoil.i18n import _, translate
from counterfoil.journal.entries import GENESIS_PREV, checkpoint_message, signing_message
from counterfoil.journal.keys import verify_signature
from counterfoil.journal.merkle import CompactRange, leaf_hash


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
        return {"merchant_no": self.merchant_no, "ok": self.ok, "entries": self.entries,
                "checkpoints_checked": self.checkpoints, "signatures_checked": self.signatures,
                "head_hash": self.head_hash, "problem": self.problem, "bad_seq": self.bad_seq}


def _utc_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"))


def copied_columns(data: Mapping[str, Any]) -> dict[str, Any]:
    from counterfoil.store.journal import COPIED

    card = data.get("card")
    when = data.get("terminal_time")
    return {**{name: data.get(name) for name in COPIED},
            "card_bin": card[:6] if card else None, "card_last4": card[-4:] if card else None,
            "terminal_time": _utc_text(when)}


def verify_chain(merchant_no: str, rows: Iterable[Mapping[str, Any]],
                 checkpoints: Iterable[Checkpoint], public_keys: Mapping[str, str], *,
                 head: tuple[int, str] | None, full: bool = False,
                 progress: Callable[[int], None] | None = None) -> Report:
    report = Report(merchant_no)
    marks = {c.tree_size: c for c in checkpoints}
    last_mark = max(marks, default=0)
    tree = CompactRange()
    prev, expected, key_in_force = GENESIS_PREV, 1, None
    trusted: dict[str, str] = {}
    last: Mapping[str, Any] | None = None

    def fail(seq: int, message: str, **facts: Any) -> Report:
        report.message, report.bad_seq, report.facts = message, seq, {"seq": seq, **facts}
        return report

    for row in rows:
        seq = int(row["seq"])
        if seq != expected:
            message = (_("entry {seq} is missing (found entry {found} in its place)")
                       if seq > expected else
                       _("entry {seq} is out of order or repeated (found entry {found} in its "
                         "place)"))
            return fail(expected, message, found=seq)
        body_bytes = row["body"].encode() if isinstance(row["body"], str) else row["body"]
        if hashlib.sha256(body_bytes).hexdigest() != row["entry_hash"]:
            return fail(seq, _("entry {seq} was altered: its body no longer has its hash"))
        body = orjson.loads(body_bytes)
        if body.get("seq") != seq or body.get("merchant_no") != merchant_no:
            return fail(seq, _("entry {seq} belongs elsewhere (its body says {other} "
                               "#{other_seq})"), other=body.get("merchant_no"),
                        other_seq=body.get("seq"))
        if body.get("prev_hash") != prev or row["prev_hash"] != prev:
            return fail(seq, _("entry {seq} does not follow entry {previous}: the chain is "
                               "broken"), previous=seq - 1)
        data = body["data"]
        kind = body.get("kind")
        if row["kind"] != kind or row["key_id"] != body.get("key_id"):
            return fail(seq, _("entry {seq} was altered: kind or key differs from its body"))
        if kind == "transaction":
            stored = {name: row[name] for name in copied_columns(data)}
            stored["terminal_time"] = _utc_text(stored["terminal_time"])
            for name, value in copied_columns(data).items():
                if stored[name] != value:
                    return fail(seq, _("entry {seq} was altered: {column} is {stored} in the "
                                       "table but {signed} in the signed body"), column=name,
                                stored=repr(stored[name]), signed=repr(value))
        # Keys: the genesis entry names the first, each rotation the next.
        if kind == "genesis" and seq == 1:
            trusted[data["key_id"]] = data["public_key"]
            key_in_force = data["key_id"]
        if body.get("key_id") != key_in_force:
            return fail(seq, _("entry {seq} is signed by key {key_id}, not the key in force "
                               "{in_force}"), key_id=body.get("key_id"), in_force=key_in_force)
        public = trusted.get(str(key_in_force))
        if public is None or public_keys.get(str(key_in_force), public) != public:
            return fail(seq, _("entry {seq}: key {key_id} is unknown, or the stored public "
                               "key differs from the one the journal names"),
                        key_id=key_in_force)
        must_sign = full or kind != "transaction" or seq in marks or seq == head_seq(head)
        if must_sign:
            report.signatures += 1
            if not verify_signature(public, signing_message(row["entry_hash"]), row["signature"]):
                return fail(seq, _("entry {seq} has a signature that does not verify: forged "
                                   "or altered"))
        if kind == "key_rotation":
            trusted[data["key_id"]] = data["public_key"]
            key_in_force = data["key_id"]
        tree.append(leaf_hash(bytes.fromhex(row["entry_hash"])))
        mark = marks.get(seq)
        if mark is not None:
            problem = _check_mark(mark, tree.root().hex(), {**public_keys, **trusted})
            if problem:
                return fail(seq, problem, size=mark.tree_size)
            report.checkpoints += 1
        prev, expected, last = row["entry_hash"], expected + 1, row
        report.entries = seq
        if progress is not None and seq % 10_000 == 0:
            progress(seq)

    report.head_hash = prev
    if last_mark > report.entries:
        return fail(report.entries + 1, _("entries after {entries} are missing: a signed "
                                          "checkpoint covers {size} entries"),
                    entries=report.entries, size=last_mark)
    if head is not None and (head[0] != report.entries or head[1] != prev):
        return fail(min(head[0], report.entries) + 1 if head[0] != report.entries
                    else report.entries,
                    _("the journal ends at entry {entries} but its head records entry {head}: "
                      "entries were removed or added at the end"), entries=report.entries,
                    head=head[0])
    if last is None:
        return fail(1, _("the journal has no entries, not even its genesis entry"))
    return report


def head_seq(head: tuple[int, str] | None) -> int:
    return head[0] if head else -1


def _check_mark(mark: Checkpoint, root: str, keys: Mapping[str, str]) -> str | None:
    if root != mark.root_hash:
        return _("the Merkle root over entries 1–{size} differs from the signed checkpoint: "
                 "entries before it were changed")
    public = keys.get(mark.key_id)
    message = checkpoint_message(mark.merchant_no, mark.tree_size, mark.root_hash,
                                 mark.created_at, mark.key_id)
    if public is None or not verify_signature(public, message, mark.signature):
        return _("the checkpoint at {size} entries has a signature that does not verify")
    return None
