"""Tests of the RFC 9162 Merkle tree in counterfoil.journal.merkle."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counterfoil.journal.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

# Test vectors of RFC 6962 hashing (identical in RFC 9162) from github.com/transparency-dev/merkle
# (Apache-2.0): the leaf inputs, node hashes, roots and compact ranges from testonly/constants.go,
# the inclusion and consistency proofs from proof/verify_test.go and testonly/reference_test.go.
# The same data is in Google's certificate-transparency merkle_tree_test. verify_test.go numbers
# leaves from 1; the indices below are from 0.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

# NodeHashes()[level][index]: every complete subtree of the 8-leaf tree.
NODE = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

# RootHashes(): the root of the first n leaves, n = 0..8.
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# CompactTrees(): (level, index) in NODE of the compact range of the first n leaves.
COMPACT = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

# (leaf index from 0, tree size, audit path)
INCLUSION = [
    (0, 1, []),
    (0, 2, [NODE[0][1]]),
    (1, 2, [NODE[0][0]]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# (old size, new size, consistency proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

LEAVES = [leaf_hash(d) for d in LEAF_INPUTS]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def unhex(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def flip(value: bytes, bit: int = 3) -> bytes:
    return bytes([value[0] ^ (1 << bit)]) + value[1:]


def ref_root(hashes: Sequence[bytes]) -> bytes:
    """MTH written literally from RFC 9162 §2.1.1, to check the faster code against."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(ref_root(hashes[:k]), ref_root(hashes[k:]))


# --- Published vectors -----------------------------------------------------------------------


def test_empty_root() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert root([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert CompactRange().size == 0


def test_leaf_hashes() -> None:
    assert [h.hex() for h in LEAVES] == NODE[0]


def test_node_hashes() -> None:
    for level in range(1, 4):
        below = unhex(NODE[level - 1])
        assert [
            node_hash(below[2 * i], below[2 * i + 1]).hex() for i in range(len(below) // 2)
        ] == (NODE[level])


@pytest.mark.parametrize("size", range(9))
def test_roots(size: int) -> None:
    assert root(LEAVES[:size]).hex() == ROOTS[size]
    assert ref_root(LEAVES[:size]).hex() == ROOTS[size]
    compact = CompactRange()
    for h in LEAVES[:size]:
        compact.append(h)
    assert compact.size == size
    assert compact.root().hex() == ROOTS[size]
    assert [h.hex() for h in compact.hashes] == [NODE[lv][i] for lv, i in COMPACT[size]]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, expected: list[str]) -> None:
    proof = inclusion_proof(index, LEAVES[:size])
    assert [p.hex() for p in proof] == expected
    tree_root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(index, size, LEAVES[index], proof, tree_root)
    for bad in inclusion_tampering(index, size, LEAVES[index], proof, tree_root):
        assert not verify_inclusion(*bad)


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, expected: list[str]) -> None:
    proof = consistency_proof(old, LEAVES[:new])
    assert [p.hex() for p in proof] == expected
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)
    for bad in consistency_tampering(old, new, old_root, new_root, proof):
        assert not verify_consistency(*bad)


# --- Tampering ---------------------------------------------------------------------------------

InclusionArgs = tuple[int, int, bytes, list[bytes], bytes]
ConsistencyArgs = tuple[int, int, bytes, bytes, list[bytes]]


def inclusion_tampering(
    index: int, size: int, leaf: bytes, proof: list[bytes], tree_root: bytes
) -> list[InclusionArgs]:
    bad: list[InclusionArgs] = [
        (index - 1, size, leaf, proof, tree_root),
        (index + 1, size, leaf, proof, tree_root),
        (index ^ 2, size, leaf, proof, tree_root),
        (index, size * 2, leaf, proof, tree_root),
        (index, size // 2, leaf, proof, tree_root),
        (index, size, flip(leaf), proof, tree_root),
        (index, size, b"WrongLeaf", proof, tree_root),
        (index, size, leaf, proof, flip(tree_root)),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, [*proof, b""], tree_root),
        (index, size, leaf, [*proof, tree_root], tree_root),
        (index, size, leaf, [tree_root, *proof], tree_root),
    ]
    for i, p in enumerate(proof):
        bad.append((index, size, leaf, [*proof[:i], flip(p), *proof[i + 1 :]], tree_root))
    if proof:
        bad.append((index, size, leaf, proof[:-1], tree_root))
        bad.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], tree_root))
    return bad


def consistency_tampering(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> list[ConsistencyArgs]:
    bad: list[ConsistencyArgs] = [
        (old, new, flip(old_root), new_root, proof),
        (old, new, old_root, new_root, [*proof, SOME_HASH]),
        (old, new, old_root, new_root, [SOME_HASH, *proof]),
        (old, new, old_root, new_root, [*proof, old_root]),
        (old, new, old_root, new_root, [*proof, b""]),
    ]
    if old > 0:  # with old size 0 the new root is not constrained (unless new size is 0)
        bad.append((old, new, old_root, flip(new_root), proof))
    if old_root != new_root:
        bad.append((old, new, new_root, old_root, proof))
    if proof:
        bad += [
            (old - 1, new, old_root, new_root, proof),
            (old + 1, new, old_root, new_root, proof),
            (old ^ 2, new, old_root, new_root, proof),
            (old, new * 2, old_root, new_root, proof),
            (old, new // 2, old_root, new_root, proof),
            (old, new, old_root, new_root, []),
            (old, new, old_root, new_root, proof[:-1]),
            (old, new, old_root, new_root, [proof[0], *proof]),
            (old, new, old_root, new_root, [new_root, *proof]),
            (old, new, old_root, new_root, [old_root, *proof]),
        ]
        for i, p in enumerate(proof):
            bad.append((old, new, old_root, new_root, [*proof[:i], flip(p, 4), *proof[i + 1 :]]))
    return bad


# --- Edge cases --------------------------------------------------------------------------------


def test_inclusion_rejects_impossible_indices() -> None:
    for index, size in ((0, 0), (1, 0), (1, 1), (2, 1), (-1, 3)):
        assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)
        assert not verify_inclusion(index, size, SOME_HASH, [], SOME_HASH)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(0, [])
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(3, LEAVES[:3])
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(-1, LEAVES[:3])


def test_single_leaf_inclusion() -> None:
    h = leaf_hash(b"data")
    assert inclusion_proof(0, [h]) == []
    assert verify_inclusion(0, 1, h, [], h)
    assert not verify_inclusion(0, 1, h, [], b"")
    assert not verify_inclusion(0, 1, b"", [], h)
    assert not verify_inclusion(0, 1, b"", [], b"")


def test_consistency_edge_cases() -> None:
    r1, r8 = bytes.fromhex(ROOTS[1]), bytes.fromhex(ROOTS[8])
    # Empty old tree: consistent with anything, but only under the empty-tree root.
    assert consistency_proof(0, LEAVES) == []
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 8, EMPTY_ROOT, r8, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, r1, [])
    assert not verify_consistency(0, 8, r1, r8, [])
    assert not verify_consistency(0, 8, EMPTY_ROOT, r8, [EMPTY_ROOT])
    # Equal sizes: equal roots and an empty proof.
    assert consistency_proof(8, LEAVES) == []
    assert verify_consistency(8, 8, r8, r8, [])
    assert not verify_consistency(8, 8, r8, r1, [])
    assert not verify_consistency(8, 8, r8, r8, [r8])
    # Going back in time, or a non-trivial pair of sizes with no proof.
    assert not verify_consistency(8, 1, r8, r1, [])
    assert not verify_consistency(1, 8, r1, r8, [])
    assert not verify_consistency(-1, 8, r1, r8, [])
    with pytest.raises(ValueError, match="outside"):
        consistency_proof(9, LEAVES)
    with pytest.raises(ValueError, match="outside"):
        consistency_proof(-1, LEAVES)


def test_compact_range_rejects_wrong_length() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange().append(b"short")


def test_larger_tree_against_reference() -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(1000)]
    compact = CompactRange()
    for n, h in enumerate(hashes, start=1):
        compact.append(h)
        if n % 37 == 0 or n & (n - 1) == 0:
            assert compact.root() == ref_root(hashes[:n]) == root(hashes[:n])
    new_root = root(hashes)
    for old in (1, 2, 3, 511, 512, 513, 999, 1000):
        proof = consistency_proof(old, hashes)
        assert verify_consistency(old, 1000, root(hashes[:old]), new_root, proof)
    for index in (0, 1, 511, 512, 998, 999):
        assert verify_inclusion(
            index, 1000, hashes[index], inclusion_proof(index, hashes), new_root
        )


# --- Properties --------------------------------------------------------------------------------


def leaf_lists(min_size: int = 0) -> st.SearchStrategy[list[bytes]]:
    """Distinct leaves, so that no proof can be valid for another position by coincidence."""
    data = st.lists(st.binary(max_size=12), unique=True, min_size=min_size, max_size=70)
    return data.map(lambda entries: [leaf_hash(d) for d in entries])


@given(leaf_lists())
def test_compact_range_matches_root(hashes: list[bytes]) -> None:
    compact = CompactRange()
    for n, h in enumerate(hashes, start=1):
        compact.append(h)
        assert compact.size == n
        assert compact.root() == root(hashes[:n])
    assert root(hashes) == ref_root(hashes)
    assert compact.root() == root(hashes)


@settings(deadline=None)
@given(leaf_lists(min_size=1))
def test_every_inclusion_proof_verifies_and_tampering_fails(hashes: list[bytes]) -> None:
    size, tree_root = len(hashes), root(hashes)
    for index, leaf in enumerate(hashes):
        proof = inclusion_proof(index, hashes)
        assert verify_inclusion(index, size, leaf, proof, tree_root)
        for bad in inclusion_tampering(index, size, leaf, proof, tree_root):
            assert not verify_inclusion(*bad)
        for other in range(size):  # a proof is for one leaf and one position only
            if other != index:
                assert not verify_inclusion(other, size, leaf, proof, tree_root)
                assert not verify_inclusion(index, size, hashes[other], proof, tree_root)


@settings(deadline=None)
@given(leaf_lists(), st.data())
def test_consistency_proofs_verify_and_tampering_fails(
    hashes: list[bytes], data: st.DataObject
) -> None:
    new = data.draw(st.integers(0, len(hashes)), label="new")
    old = data.draw(st.integers(0, new), label="old")
    old_root, new_root = root(hashes[:old]), root(hashes[:new])
    proof = consistency_proof(old, hashes[:new])
    assert verify_consistency(old, new, old_root, new_root, proof)
    for bad in consistency_tampering(old, new, old_root, new_root, proof):
        assert not verify_consistency(*bad)
    for other in range(1, new + 1) if proof else ():  # a proof holds for its own old size only
        if other != old:
            assert not verify_consistency(other, new, root(hashes[:other]), new_root, proof)


@given(
    st.lists(st.binary(min_size=32, max_size=32), max_size=300),
    st.lists(st.integers(0, 300), max_size=6),
)
def test_extend_in_pieces_equals_appending_one_by_one(leaves: list[bytes], cuts: list[int]) -> None:
    by_one, by_block = CompactRange(), CompactRange()
    for leaf in leaves:
        by_one.append(leaf)
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(leaves)), len(leaves)]:
        by_block.extend(leaves[start:cut])
        assert by_block.root() == root(leaves[:cut]) if cut else True
        start = cut
    assert by_block.size == by_one.size
    assert by_block.root() == by_one.root()


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=200), st.sampled_from([1, 2, 4, 8]))
def test_blocks_appended_by_their_roots_give_the_same_tree(leaves: list[bytes], block: int) -> None:
    """What verify does with two halves: complete blocks added by their roots, the rest by
    the peaks of its compact range, give the root of the whole tree."""
    whole = len(leaves) // block * block
    tree = CompactRange()
    for start in range(0, whole, block):
        tree.append_subtree(subtree_root(leaves[start : start + block]), block)
    rest = CompactRange()
    rest.extend(leaves[whole:])
    spans = [1 << b for b in range(rest.size.bit_length() - 1, -1, -1) if rest.size >> b & 1]
    for peak, span in zip(rest.hashes, spans, strict=True):
        tree.append_subtree(peak, span)
    assert tree.size == len(leaves)
    assert tree.root() == root(leaves)


def test_a_subtree_that_does_not_start_on_its_own_boundary_is_refused() -> None:
    tree = CompactRange()
    tree.append(leaf_hash(b"one"))
    with pytest.raises(ValueError, match="does not fit"):
        tree.append_subtree(leaf_hash(b"two"), 2)  # 2 leaves cannot start at position 1
    with pytest.raises(ValueError, match="does not fit"):
        tree.append_subtree(leaf_hash(b"two"), 3)  # not a power of two
    with pytest.raises(ValueError, match="power of two"):
        subtree_root([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
