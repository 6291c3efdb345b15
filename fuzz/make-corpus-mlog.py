#!/usr/bin/python3
"""Writes the seed corpus of fuzz/mlog_proof.c (fuzz/corpus/mlog_proof): Merkle log proofs in
the target's two forms, valid ones and altered ones.

Run from anywhere with the system Python: /usr/bin/python3 fuzz/make-corpus-mlog.py
Inputs are deterministic: running it again rewrites the same bytes. Files it does not write
(regression inputs added by hand) are left alone.

The raw-form proofs are computed here from RFC 9162 §2.1 (MTH, PATH, SUBPROOF) with hashlib,
over the target's leaves (entry i = i as 8 bytes big-endian), independently of src/registry.
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "mlog_proof")


def leaf(i):
    return hashlib.sha256(b"\x00" + struct.pack(">Q", i)).digest()


def node(a, b):
    return hashlib.sha256(b"\x01" + a + b).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(lo, n):
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf(lo)
    k = split(n)
    return node(mth(lo, k), mth(lo + k, n - k))


def path(m, lo, n):
    if n <= 1:
        return []
    k = split(n)
    if m < k:
        return path(m, lo, k) + [mth(lo + k, n - k)]
    return path(m - k, lo + k, n - k) + [mth(lo, k)]


def subproof(m, lo, n, b):
    if m == n:
        return [] if b else [mth(lo, n)]
    k = split(n)
    if m <= k:
        return subproof(m, lo, k, b) + [mth(lo + k, n - k)]
    return subproof(m - k, lo + k, n - k, False) + [mth(lo, k)]


def tree(consistency, a, n, claim=None, edits=b""):
    flags = 1 if consistency else 0
    out = bytes([flags]) + struct.pack(">HH", n, a)
    if claim is None:
        out += b"\x00"
    else:
        out += b"\x01" + struct.pack(">HH", claim[0], claim[1])
    return out + edits


def raw(consistency, a, n, x, y, proof, count=None):
    flags = 2 | (1 if consistency else 0)
    count = len(proof) if count is None else count
    return bytes([flags]) + struct.pack(">QQ", a, n) + x + y + bytes([count]) + b"".join(proof)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        # Tree form: the target's own proof, untouched, then altered. In the tree form n
        # is 1 + n % 300 for inclusion (so 6 means 7 leaves) and n % 301 for consistency.
        "tree-incl-3-of-7": tree(False, 3, 6),
        "tree-incl-0-of-300": tree(False, 0, 299),
        "tree-incl-299-of-300": tree(False, 299, 299),
        "tree-incl-told-other-index": tree(False, 3, 6, claim=(4, 6)),
        "tree-incl-told-other-size": tree(False, 3, 6, claim=(3, 7)),
        "tree-incl-told-index-past-size": tree(False, 3, 6, claim=(7, 6)),
        "tree-incl-flip-bit": tree(False, 5, 99, edits=bytes([0 | 3 << 2, 17])),
        "tree-incl-drop-hash": tree(False, 5, 99, edits=bytes([1, 2])),
        "tree-incl-insert-hash": tree(False, 5, 99, edits=bytes([2, 0]) + b"\xaa" * 32),
        "tree-incl-truncate": tree(False, 5, 99, edits=bytes([3, 3])),
        "tree-cons-3-to-7": tree(True, 3, 7),
        "tree-cons-4-to-8": tree(True, 4, 8),
        "tree-cons-0-to-5": tree(True, 0, 5),
        "tree-cons-5-to-5": tree(True, 5, 5),
        "tree-cons-127-to-300": tree(True, 127, 300),
        "tree-cons-told-other-sizes": tree(True, 3, 7, claim=(3, 8)),
        "tree-cons-flip-bit": tree(True, 37, 201, edits=bytes([4, 40])),
        "tree-cons-drop-insert": tree(True, 37, 201, edits=bytes([1, 0, 2, 1]) + b"\x55" * 32),
        # Raw form: valid proofs computed here, and hostile sizes and counts.
        "raw-incl-3-of-7": raw(False, 3, 7, leaf(3), mth(0, 7), path(3, 0, 7)),
        "raw-incl-0-of-1": raw(False, 0, 1, leaf(0), mth(0, 1), []),
        "raw-incl-12-of-13": raw(False, 12, 13, leaf(12), mth(0, 13), path(12, 0, 13)),
        "raw-cons-3-to-7": raw(True, 3, 7, mth(0, 3), mth(0, 7), subproof(3, 0, 7, True)),
        "raw-cons-4-to-7": raw(True, 4, 7, mth(0, 4), mth(0, 7), subproof(4, 0, 7, True)),
        "raw-cons-6-to-8": raw(True, 6, 8, mth(0, 6), mth(0, 8), subproof(6, 0, 8, True)),
        "raw-cons-0-to-8": raw(True, 0, 8, mth(0, 0), mth(0, 8), []),
        "raw-incl-max-size": raw(False, 0, 2**64 - 1, leaf(0), mth(0, 1), [bytes(32)] * 64),
        "raw-incl-index-past-size": raw(False, 9, 9, leaf(0), mth(0, 1), []),
        "raw-cons-65-hashes": raw(True, 2**62 + 1, 2**64 - 1, bytes(32), bytes(32),
                                  [bytes([i]) * 32 for i in range(65)]),
        "raw-cons-first-over-second": raw(True, 8, 7, bytes(32), bytes(32), []),
        "raw-count-255-cut-off": raw(False, 1, 3, leaf(1), mth(0, 3), [], count=255),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
