"""cmp.merkle against the RFC 6962/9162 reference vectors, and as properties: every inclusion
and consistency proof for trees of 1..64 leaves verifies, and one flipped bit anywhere fails."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from cmp.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# Certificate Transparency's reference leaves and the root of each prefix (sizes 1..8).
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}

LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(64)]


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 9162's MTH written as the recursion in the text, to check the streaming builder."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def flip(b: bytes, bit: int) -> bytes:
    i = (bit // 8) % len(b)
    return b[:i] + bytes([b[i] ^ (1 << (bit % 8))]) + b[i + 1:]


def test_reference_roots_and_paths() -> None:
    hashes = [leaf_hash(d) for d in CT_LEAVES]
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    for n in range(1, 9):
        assert root(hashes[:n]).hex() == CT_ROOTS[n - 1]
    for (index, size), path in CT_INCLUSION.items():
        assert [p.hex() for p in inclusion_proof(index, hashes[:size])] == path
        assert verify_inclusion(index, size, hashes[index], [bytes.fromhex(p) for p in path],
                                bytes.fromhex(CT_ROOTS[size - 1]))


def test_every_proof_of_every_size_verifies() -> None:
    builder = TreeBuilder()
    for n in range(1, 65):
        builder.add(LEAVES[n - 1])
        tree = LEAVES[:n]
        r = root(tree)
        assert r == builder.root() == naive_root(tree)
        for m in range(n):
            assert verify_inclusion(m, n, tree[m], inclusion_proof(m, tree), r), (m, n)
            assert not verify_inclusion(m, n, tree[(m + 1) % n], inclusion_proof(m, tree), r) \
                or n == 1
        for m in range(1, n + 1):
            assert verify_consistency(m, n, root(tree[:m]), r, consistency_proof(m, tree)), (m, n)


sizes = st.integers(min_value=1, max_value=64).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=0, max_value=n - 1)))


@settings(max_examples=300, deadline=None)
@given(sizes, st.integers(min_value=0, max_value=10_000), st.sampled_from(["leaf", "root", "path"]))
def test_inclusion_fails_on_a_flipped_bit(case: tuple[int, int], bit: int, where: str) -> None:
    n, m = case
    tree = LEAVES[:n]
    leaf, r, path = tree[m], root(tree), inclusion_proof(m, tree)
    if where == "leaf":
        leaf = flip(leaf, bit)
    elif where == "root":
        r = flip(r, bit)
    elif path:
        i = bit % len(path)
        path[i] = flip(path[i], bit // len(path))
    else:
        return  # a one-leaf tree has no path to flip
    assert not verify_inclusion(m, n, leaf, path, r)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=2, max_value=64).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=1, max_value=n - 1))),
    st.integers(min_value=0, max_value=10_000), st.sampled_from(["first", "second", "proof"]))
def test_consistency_fails_on_a_flipped_bit(case: tuple[int, int], bit: int, where: str) -> None:
    n, m = case
    tree = LEAVES[:n]
    r1, r2, proof = root(tree[:m]), root(tree), consistency_proof(m, tree)
    if where == "first":
        r1 = flip(r1, bit)
    elif where == "second":
        r2 = flip(r2, bit)
    else:
        i = bit % len(proof)
        proof[i] = flip(proof[i], bit // len(proof))
    assert not verify_consistency(m, n, r1, r2, proof)


@given(st.integers(min_value=2, max_value=64).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=1, max_value=n - 1),
                        st.integers(min_value=0, max_value=n - 1))))
def test_a_rewritten_history_is_not_consistent(case: tuple[int, int, int]) -> None:
    """Change any one of the first m leaves: the old root has no proof into the new tree."""
    n, m, changed = case
    old = LEAVES[:n]
    new = list(old)
    new[changed] = leaf_hash(b"rewritten")
    proof = consistency_proof(m, new)
    consistent = verify_consistency(m, n, root(old[:m]), root(new), proof)
    assert consistent == (changed >= m)
