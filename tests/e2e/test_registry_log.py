"""A registry's transparency log on the node's API (docs/api.md "Registry logs",
docs/design.md section 9): GET /v1/registry/<R>/log/sth, /log/entries, /log/proof/inclusion
and /log/proof/consistency.

The log is written into the node's data-dir by build/tests/e2e/mlog-fill (src/store/mlog.h,
as a registrar appends), then served by the node; everything it serves is checked here with
an independent implementation of RFC 9162 section 2.1 (hashlib): the tree hash of the entries
it returns, and the verification of its inclusion and consistency proofs.
"""
import hashlib
import subprocess
from pathlib import Path

import pytest

from conftest import CMD_TIMEOUT, z32encode

ENTRIES = 300
HEAD_SIZE, HEAD_SEQ = 290, 7
RANGE_MAX = 256  # API_LOG_ENTRIES_MAX in src/api/registry.c


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(entry: bytes) -> bytes:
    return h(b"\x00" + entry)  # RFC 9162 section 2.1.1


def mth(leaves) -> bytes:
    """RFC 9162 section 2.1.1: the Merkle Tree Hash of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return h(b"")
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    return h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = h(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof) -> bool:
    """RFC 9162 section 2.1.4.2 (first == second and first == 0: an empty proof)."""
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    if not proof:
        return False
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = h(b"\x01" + c + fr)
            sr = h(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def entry(i: int) -> bytes:
    return f"entry {i}".encode()  # what mlog-fill appends


@pytest.fixture
def log_node(swarmdns_bin, node_factory, tmp_path):
    """A node whose data-dir holds the log of a registry of ENTRIES entries and a tree head
    at HEAD_SIZE; returns (node, registry z32)."""
    fill = Path(swarmdns_bin).parent / "tests" / "e2e" / "mlog-fill"
    if not fill.is_file():
        pytest.skip(f"{fill} not built (ninja -C build)")
    registry = z32encode(bytes(range(1, 33)))
    data = tmp_path / "registrar"
    cp = subprocess.run([str(fill), str(data), registry, str(ENTRIES), str(HEAD_SIZE),
                         str(HEAD_SEQ)], capture_output=True, text=True, timeout=CMD_TIMEOUT)
    assert cp.returncode == 0 and cp.stdout.strip() == str(ENTRIES), cp.stderr
    return node_factory(data).start(), registry


def get(node, path):
    r = node.api("GET", path)
    return r.status, (r.json() if r.status == 200 else r.body.decode())


def test_log_sth_and_entries(log_node):
    node, reg = log_node
    leaves = [leaf_hash(entry(i)) for i in range(ENTRIES)]
    status, sth = get(node, f"/v1/registry/{reg}/log/sth")
    assert status == 200, sth
    assert sth["registry"] == reg and sth["size"] == ENTRIES
    assert bytes.fromhex(sth["root"]) == mth(leaves)
    # The latest tree head kept, as it was stored.
    head_v = f"head {HEAD_SIZE}".encode()
    assert sth["head"]["size"] == HEAD_SIZE and sth["head"]["seq"] == HEAD_SEQ
    assert bytes.fromhex(sth["head"]["v"]) == b"%d:%s" % (len(head_v), head_v)

    # A range beyond RANGE_MAX is cut there; the client continues from where it ended.
    got = []
    start = 0
    while start < ENTRIES:
        status, page = get(node, f"/v1/registry/{reg}/log/entries?start={start}&end=100000")
        assert status == 200, page
        assert page["start"] == start and page["size"] == ENTRIES
        assert page["end"] == min(start + RANGE_MAX, ENTRIES) - 1
        assert [e["index"] for e in page["entries"]] == list(range(start, page["end"] + 1))
        got += page["entries"]
        start = page["end"] + 1
    assert [bytes.fromhex(e["entry"]) for e in got] == [entry(i) for i in range(ENTRIES)]
    assert [bytes.fromhex(e["leaf_hash"]) for e in got] == leaves
    status, page = get(node, f"/v1/registry/{reg}/log/entries?start=5&end=5")
    assert status == 200 and [e["index"] for e in page["entries"]] == [5]


def test_log_proofs_verify(log_node):
    node, reg = log_node
    leaves = [leaf_hash(entry(i)) for i in range(ENTRIES)]
    for index, size in [(0, 1), (0, 2), (1, 2), (5, 8), (7, 8), (6, 7), (0, 300), (255, 256),
                        (256, 257), (299, 300), (123, 200)]:
        status, p = get(node, f"/v1/registry/{reg}/log/proof/inclusion?index={index}"
                              f"&size={size}")
        assert status == 200, p
        proof = [bytes.fromhex(x) for x in p["proof"]]
        root = mth(leaves[:size])
        assert bytes.fromhex(p["root"]) == root
        assert bytes.fromhex(p["leaf_hash"]) == leaves[index]
        assert verify_inclusion(index, size, leaves[index], proof, root), (index, size)
        # The proof is of this leaf: another leaf does not verify with it.
        other = leaves[(index + 1) % ENTRIES]
        assert not verify_inclusion(index, size, other, proof, root)
    # size defaults to the whole log.
    status, p = get(node, f"/v1/registry/{reg}/log/proof/inclusion?index=10")
    assert status == 200 and p["size"] == ENTRIES

    for first, second in [(1, 2), (1, 300), (2, 3), (3, 7), (4, 8), (6, 8), (64, 300),
                          (100, 256), (255, 300), (299, 300), (300, 300), (0, 5)]:
        status, p = get(node, f"/v1/registry/{reg}/log/proof/consistency?first={first}"
                              f"&second={second}")
        assert status == 200, p
        r1, r2 = mth(leaves[:first]), mth(leaves[:second])
        assert bytes.fromhex(p["first_root"]) == r1 and bytes.fromhex(p["second_root"]) == r2
        proof = [bytes.fromhex(x) for x in p["proof"]]
        assert verify_consistency(first, second, r1, r2, proof), (first, second)
        if 0 < first < second:
            # A forked history (another first tree) does not verify.
            forked = mth(leaves[:first - 1] + [leaf_hash(b"forged")])
            assert not verify_consistency(first, second, forked, r2, proof)


def test_log_errors(log_node):
    node, reg = log_node
    other = z32encode(bytes(32))
    base = f"/v1/registry/{reg}/log"
    cases = [
        (f"/v1/registry/{other}/log/sth", 404, "holds no log of registry " + other),
        ("/v1/registry/notakey/log/sth", 400, "z-base32 key"),
        (f"/v1/registry/{reg}/log/nothing", 404, "unknown path"),
        (f"{base}/entries?start=3", 400, "give start and end"),
        (f"{base}/entries?start=-1&end=4", 400, "give start and end"),
        (f"{base}/entries?start=9&end=4", 400, "start 9 is after end 4"),
        (f"{base}/entries?start=300&end=400", 400, "beyond the log, which holds 300"),
        (f"{base}/proof/inclusion", 400, "give index"),
        (f"{base}/proof/inclusion?index=5&size=301", 400, "size 301 is beyond the log"),
        (f"{base}/proof/inclusion?index=5&size=5", 400, "index 5 is not in a tree of 5"),
        (f"{base}/proof/inclusion?index=99999999999999999999999", 400, "give index"),
        (f"{base}/proof/consistency?second=4", 400, "give first"),
        (f"{base}/proof/consistency?first=5&second=4", 400, "first 5 is larger than second 4"),
        (f"{base}/proof/consistency?first=1&second=301", 400, "second 301 is beyond the log"),
    ]
    for path, want, text in cases:
        status, body = get(node, path)
        assert status == want and text in body, (path, status, body)
    r = node.api("POST", f"{base}/sth", body=b"")
    assert r.status == 405 and b"use GET" in r.body
