"""Merkle tree of the journal, as specified by RFC 9162 (Certificate Transparency 2.0).

The hashing is the one of RFC 9162 §2.1, unchanged from RFC 6962, with SHA-256 as HASH:

* the empty tree has the root ``HASH()``, the hash of the empty string (§2.1.1);
* a leaf is hashed as ``HASH(0x00 || data)`` (§2.1.1);
* an interior node is hashed as ``HASH(0x01 || left || right)`` (§2.1.1);
* a tree of n > 1 leaves is split at k, the largest power of two smaller than n, so the left
  subtree is always complete: ``MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``.

The distinct 0x00 / 0x01 prefixes keep a leaf from ever being taken for an interior node.

Inclusion proofs (audit paths) are built as in §2.1.3.1 and checked as in §2.1.3.2;
consistency proofs are built as in §2.1.4.1 and checked as in §2.1.4.2. Every function here takes
and returns leaf *hashes*, never entry data: call :func:`leaf_hash` on each entry first.

:class:`CompactRange` keeps only the roots of the complete subtrees that make up a tree of any
size, so appending a leaf costs amortised O(1) hashes and the root of everything appended so far
costs O(log n) hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from hashlib import sha256 as _sha256

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "subtree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Return the hash of one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Return k, the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Return MTH(D[lo:hi]) with O(hi - lo) hashes and no recursion.

    Hashing level by level, pairing neighbours and carrying an odd last node up unchanged, gives
    the §2.1.1 tree: its left part of k = 2^j leaves is complete and aligned, so it is paired up
    exactly as in the recursive definition, and the rest is the same construction on D[k:n].
    """
    if lo == hi:
        return EMPTY_ROOT
    level = list(hashes[lo:hi])
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash (RFC 9162 §2.1.1) of a list of leaf hashes."""
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return PATH(index, D[n]) of RFC 9162 §2.1.3.1, nearest sibling first."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf index {index} is outside a tree of size {len(leaf_hashes)}")
    proof: list[bytes] = []
    lo, hi = 0, len(leaf_hashes)
    while hi - lo > 1:  # Walk down from the root, collecting siblings top to bottom.
        k = lo + _split(hi - lo)
        if index < k:
            proof.append(_mth(leaf_hashes, k, hi))
            hi = k
        else:
            proof.append(_mth(leaf_hashes, lo, k))
            lo = k
    proof.reverse()  # The path lists the leaf's sibling first.
    return proof


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof of one leaf hash against a tree head (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size or not _all_hashes(leaf_hash, root, *proof):
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1 (empty for old_size 0 or n)."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} is outside 0..{n}")
    if old_size in (0, n):
        return []
    return _subproof(old_size, leaf_hashes, 0, n, True)


def _subproof(m: int, hashes: Sequence[bytes], lo: int, hi: int, whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1; ``whole`` is b."""
    n = hi - lo
    if m == n:
        return [] if whole else [_mth(hashes, lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, hashes, lo, lo + k, whole), _mth(hashes, lo + k, hi)]
    return [*_subproof(m - k, hashes, lo + k, hi, False), _mth(hashes, lo, lo + k)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check that the tree of old_size leaves is a prefix of the one of new_size (§2.1.4.2).

    A tree of size 0 is only accepted with the empty-tree root, and equal sizes only with equal
    roots; both of those need an empty proof.
    """
    if not 0 <= old_size <= new_size or not _all_hashes(old_root, new_root, *proof):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # old tree is a complete subtree: its root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


def _all_hashes(*values: bytes) -> bool:
    return all(len(v) == HASH_SIZE for v in values)


def subtree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root of a complete subtree (a power of two of leaves), hashed level by level."""
    level = list(leaf_hashes)
    if not level or len(level) & (len(level) - 1):
        raise ValueError(f"a complete subtree has a power of two of leaves, not {len(level)}")
    while len(level) > 1:
        level = [
            _sha256(b"\x01" + level[k] + level[k + 1]).digest() for k in range(0, len(level), 2)
        ]
    return level[0]


class CompactRange:
    """Accumulates leaf hashes and gives the root of all leaves appended so far.

    Only the roots of the complete subtrees that make up the tree are kept, largest (leftmost)
    first: one per set bit of ``size``, so at most log2(size) + 1 of them.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self._size = 0

    @classmethod
    def resume(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Carry on from a saved state (``size`` and ``hashes`` as this class gave them)."""
        if bin(size).count("1") != len(hashes) or any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError("a compact range has one 32-byte hash per set bit of its size")
        compact = cls()
        compact._hashes = list(hashes)
        compact._size = size
        return compact

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Roots of the complete subtrees covering the leaves, left to right."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf hash: one merge per trailing zero bit of the new size."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(leaf_hash)}")
        stack = self._hashes
        stack.append(leaf_hash)
        self._size += 1
        n = self._size
        while not n & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            n >>= 1

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append many leaf hashes: whole aligned subtrees are hashed level by level."""
        i, n = 0, len(leaf_hashes)
        while i < n:
            size = self._size
            room = size & -size if size else 1 << 62  # largest block aligned to the size
            block = 1
            while block * 2 <= room and block * 2 <= n - i:
                block *= 2
            if block == 1:
                self.append(leaf_hashes[i])
                i += 1
                continue
            self.append_subtree(subtree_root(leaf_hashes[i : i + block]), block)
            i += block

    def append_subtree(self, root: bytes, size: int) -> None:
        """Add ``size`` leaves at once by the root of their complete subtree (``size`` a
        power of two that divides the number of leaves so far, so that the subtree is one
        of the tree's own: it begins where it would in the tree of all the leaves)."""
        if size <= 0 or size & (size - 1) or self._size % size or len(root) != HASH_SIZE:
            raise ValueError(f"a subtree of {size} leaves does not fit after {self._size}")
        stack = self._hashes
        stack.append(root)
        self._size += size
        units = self._size // size
        while not units & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            units >>= 1

    def root(self) -> bytes:
        """Return the Merkle Tree Hash of all leaves appended so far, in O(log n) hashes."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r
