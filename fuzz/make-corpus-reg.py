#!/usr/bin/python3
"""Writes the seed corpus of fuzz/reg_item.c (fuzz/corpus/reg_item): label items, policies,
tree heads and log entries of a registry, valid and hostile, and label items checked against
policies (docs/registries.md "Item formats").

Run from anywhere with the system Python (dnspython and python3-cryptography needed):
    /usr/bin/python3 fuzz/make-corpus-reg.py
Inputs are deterministic: running it again rewrites the same bytes. Files it does not write
(regression inputs added by hand) are left alone.

Everything is built here from docs/registries.md, independently of src/registry: the
key=value TXT strings, the signed messages of moderators and transfers (Ed25519 with
python3-cryptography), the commitment (hashlib). The registry key is the target's, the bytes
0x10..0x2f.
"""
import base64
import hashlib
import os
import struct

import dns.flags
import dns.message
import dns.rrset
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "reg_item")
Z32_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"

REG = bytes(range(0x10, 0x30))
NOW = 1_800_000_000
KIND_LABEL, KIND_POLICY, KIND_STH, KIND_ENTRY, KIND_CHECK = range(5)
TXT_FOUND = 8


def z32_key(key):
    """z-base32 of a 32-byte key: 52 characters, most significant bit first."""
    n = int.from_bytes(key, "big") << 4
    return "".join(Z32_ALPHABET[(n >> (5 * (51 - i))) & 31] for i in range(52))


R = z32_key(REG)


def seed_key(b):
    sk = Ed25519PrivateKey.from_private_bytes(bytes([b]) * 32)
    return sk, sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


OWNER_SK, OWNER = seed_key(0xA1)
NEW_SK, NEW_OWNER = seed_key(0xB2)
MODS = [seed_key(0xC0 + i) for i in range(3)]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def txt_strings(kvs):
    """dnspython TXT rdata text of key=value strings."""
    return " ".join('"%s=%s"' % kv for kv in kvs)


def packet(records, compress=True):
    """A zone packet (ID 0, QR=1, AA=1, records in the answer section).
    records: (owner relative to R, type, rdata text)."""
    m = dns.message.Message(id=0)
    m.flags = dns.flags.QR | dns.flags.AA
    for owner, rdtype, text in records:
        m.answer.append(dns.rrset.from_text("%s.%s." % (owner, R), 3600, "IN", rdtype, text))
    wire = m.to_wire()
    if compress:
        return wire
    # The same records without compression: rebuild them by hand.
    body = b""
    for rrset in m.answer:
        for rd in rrset:
            rdata = rd.to_wire()
            body += rrset.name.to_wire() + struct.pack("!HHIH", rrset.rdtype, 1, 3600,
                                                        len(rdata)) + rdata
    return struct.pack("!HHHHHH", 0, 0x8400, 0, len(m.answer), 0, 0) + body


def u64(v):
    return struct.pack(">Q", v)


def head(domain, label):
    return domain.encode() + REG + bytes([len(label)]) + label.encode()


def commit_hash(label, claimant, secret):
    return hashlib.sha256(head("swarmdns registry commit v1", label) + claimant +
                          secret).digest()


def mod_sig(sk, label, claimant, registered):
    return sk.sign(head("swarmdns registry approve v1", label) + claimant + u64(registered))


def xfer_sig(sk, label, frm, to, from_index):
    return sk.sign(head("swarmdns registry transfer v1", label) + frm + to + u64(from_index))


def record(owner=OWNER, index=1, expires=0, registered=NOW - 100, extra=()):
    return [("owner", z32_key(owner)), ("index", index), ("expires", expires),
            ("registered", registered)] + list(extra)


def label_item(label, kvs, others=(), compress=True, reg_owner=None):
    recs = [(label, "NS", z32_key(OWNER) + ".")] + list(others)
    recs.append((reg_owner or "_reg." + label, "TXT", txt_strings(kvs)))
    return packet(recs, compress)


def policy(kvs, owner="_policy"):
    return packet([(owner, "TXT", txt_strings(kvs))])


BASE_POLICY = [("label-min", 1), ("label-max", 63), ("expiry", 0), ("renew", 0)]


def closed(extra=()):
    return [("rules", "closed")] + BASE_POLICY + list(extra)


def open_rules(reveal_min=60, difficulty=0):
    return [("pow-difficulty", difficulty), ("pow-ops", 1), ("pow-mem", 8192),
            ("reveal-min", reveal_min), ("reveal-max", 86400)]


def moderated_rules(k=2):
    return [("mod-k", k)] + [("mod", z32_key(pk)) for _, pk in MODS]


DNS_RULES = [("dns-prefix", "_swarmdns"), ("dns-suffix", "example.org")]


def sth(size, root, time=NOW):
    return packet([("_log", "TXT", txt_strings([("size", size), ("root", root.hex()),
                                                  ("time", time)]))])


def entry(op, label, owner, evidence, time=NOW, expires=0, version=1):
    return (bytes([version, op]) + u64(time) + u64(expires) + bytes([len(label)]) +
            label.encode() + owner + evidence)


def lab(label, pkt):
    return bytes([KIND_LABEL, len(label)]) + label.encode() + pkt


def chk(pol, label, pkt, now=NOW, flags=0):
    return (bytes([KIND_CHECK | flags]) + struct.pack(">H", len(pol)) + pol + u64(now) +
            bytes([len(label)]) + label.encode() + pkt)


def main():
    os.makedirs(OUT, exist_ok=True)
    secret = bytes([0x5E]) * 32
    committed = NOW - 1000
    open_ev = [("secret", secret.hex()), ("commit-index", 3), ("committed", committed),
               ("pow", 0)]
    mods = [("mod", "%d:%s" % (i, b64(mod_sig(MODS[i][0], "alice", OWNER, NOW - 100))))
            for i in range(2)]
    xfer = [("claimant", z32_key(OWNER)), ("from", z32_key(OWNER)), ("from-index", 1),
            ("from-sig", b64(xfer_sig(OWNER_SK, "alice", OWNER, NEW_OWNER, 1)))]
    dns_ev = [("dns", "alice.example.org")]
    everything = open_ev + mods + dns_ev
    empty_root = hashlib.sha256(b"").digest()

    seeds = {
        # Label items.
        "label-closed": lab("alice", label_item("alice", record())),
        "label-closed-uncompressed": lab("alice", label_item("alice", record(),
                                                             compress=False)),
        "label-with-records": lab("alice", label_item(
            "alice", record(), [("www.alice", "A", "192.0.2.7"),
                                ("alice", "TXT", '"hello"')])),
        "label-everything": lab("alice", label_item(
            "alice", record(expires=NOW + 1000, extra=everything + xfer))),
        "label-future-field": lab("alice", label_item("alice", record(
            extra=[("future-field", "1")]))),
        "label-63": lab("a" * 63, label_item("a" * 63, record())),
        "label-bad-upper": lab("Alice", label_item("alice", record())),
        "label-reserved": lab("_policy", label_item("alice", record())),
        "label-other-label": lab("bob", label_item("alice", record())),
        "label-outside": lab("alice", label_item("alice", record(), [("bob", "A",
                                                                       "192.0.2.1")])),
        "label-two-records": lab("alice", label_item(
            "alice", record(), [("_reg.alice", "TXT", txt_strings(record(index=2)))])),
        "label-no-record": lab("alice", label_item("alice", record(),
                                                   reg_owner="www.alice")),
        "label-half-open": lab("alice", label_item("alice", record(
            extra=[("secret", secret.hex()), ("pow", 1)]))),
        "label-missing-owner": lab("alice", label_item("alice", record()[1:])),
        "label-noncanonical-index": lab("alice", label_item("alice", [
            ("owner", z32_key(OWNER)), ("index", "01"), ("expires", 0), ("registered", 5)])),
        "label-mod-twice": lab("alice", label_item("alice", record(extra=mods[:1] * 2))),
        "label-junk": lab("alice", b"junk"),
        # Policies.
        "policy-closed": bytes([KIND_POLICY]) + policy(closed()),
        "policy-closed-api": bytes([KIND_POLICY]) + policy(closed(
            [("api", "http://127.0.0.1:8053")])),
        "policy-open": bytes([KIND_POLICY]) + policy(
            [("rules", "open")] + BASE_POLICY + open_rules()),
        "policy-moderated": bytes([KIND_POLICY]) + policy(
            [("rules", "moderated")] + BASE_POLICY + moderated_rules()),
        "policy-dns-proof": bytes([KIND_POLICY]) + policy(
            [("rules", "dns-proof")] + BASE_POLICY + DNS_RULES),
        "policy-all": bytes([KIND_POLICY]) + policy(
            [("rules", "open,moderated,dns-proof"), ("label-min", 3), ("label-max", 20),
             ("expiry", 31536000), ("renew", 2592000)] + open_rules() + moderated_rules() +
            DNS_RULES),
        "policy-unknown-rule": bytes([KIND_POLICY]) + policy(
            [("rules", "auction")] + BASE_POLICY),
        "policy-missing-field": bytes([KIND_POLICY]) + policy(
            [("rules", "open")] + BASE_POLICY),
        "policy-field-of-other-rule": bytes([KIND_POLICY]) + policy(closed([("mod-k", 1)])),
        "policy-k-over-n": bytes([KIND_POLICY]) + policy(
            [("rules", "moderated")] + BASE_POLICY + [("mod-k", 4)] + moderated_rules()[1:]),
        "policy-wrong-name": bytes([KIND_POLICY]) + policy(closed(), owner="_log"),
        # Tree heads.
        "sth-empty": bytes([KIND_STH]) + sth(0, empty_root),
        "sth-five": bytes([KIND_STH]) + sth(5, bytes(range(32))),
        "sth-empty-wrong-root": bytes([KIND_STH]) + sth(0, bytes(32)),
        "sth-wrong-name": bytes([KIND_STH]) + policy([("size", 1), ("root", "00" * 32),
                                                      ("time", 1)]),
        # Log entries.
        "entry-register": bytes([KIND_ENTRY]) + entry(1, "alice", OWNER, bytes(32)),
        "entry-renew": bytes([KIND_ENTRY]) + entry(3, "alice", OWNER, bytes(32),
                                                   expires=NOW + 5),
        "entry-commit": bytes([KIND_ENTRY]) + entry(5, "", bytes(32), bytes([7]) * 32),
        "entry-commit-with-label": bytes([KIND_ENTRY]) + entry(5, "alice", bytes(32),
                                                               bytes(32)),
        "entry-version-2": bytes([KIND_ENTRY]) + entry(1, "alice", OWNER, bytes(32),
                                                       version=2),
        "entry-trailing": bytes([KIND_ENTRY]) + entry(1, "alice", OWNER, bytes(32)) + b"x",
        # Label items against policies.
        "check-closed": chk(policy(closed()), "alice", label_item("alice", record())),
        "check-closed-expired": chk(
            policy([("rules", "closed"), ("label-min", 1), ("label-max", 63),
                    ("expiry", 1000), ("renew", 100)]),
            "alice", label_item("alice", record(expires=NOW - 1))),
        "check-label-too-short": chk(
            policy([("rules", "closed"), ("label-min", 6)] + BASE_POLICY[1:]), "alice",
            label_item("alice", record())),
        "check-transfer": chk(policy(closed()), "alice", label_item(
            "alice", record(owner=NEW_OWNER, index=2, extra=xfer))),
        "check-claimant-without-transfer": chk(policy(closed()), "alice", label_item(
            "alice", record(owner=NEW_OWNER, extra=[("claimant", z32_key(OWNER))]))),
        "check-dns-proof-found": chk(
            policy([("rules", "dns-proof")] + BASE_POLICY + DNS_RULES), "alice",
            label_item("alice", record(extra=dns_ev)), flags=TXT_FOUND),
        "check-dns-proof-not-found": chk(
            policy([("rules", "dns-proof")] + BASE_POLICY + DNS_RULES), "alice",
            label_item("alice", record(extra=dns_ev))),
        "check-dns-proof-other-name": chk(
            policy([("rules", "dns-proof")] + BASE_POLICY + DNS_RULES), "alice",
            label_item("alice", record(extra=[("dns", "bob.example.org")])), flags=TXT_FOUND),
        "check-moderated-2-of-3": chk(
            policy([("rules", "moderated")] + BASE_POLICY + moderated_rules()), "alice",
            label_item("alice", record(extra=mods))),
        "check-moderated-1-of-3": chk(
            policy([("rules", "moderated")] + BASE_POLICY + moderated_rules()), "alice",
            label_item("alice", record(extra=mods[:1]))),
        "check-open": chk(
            policy([("rules", "open")] + BASE_POLICY + open_rules()), "alice",
            label_item("alice", record(extra=open_ev))),
        "check-open-early": chk(
            policy([("rules", "open")] + BASE_POLICY + open_rules(reveal_min=2000)), "alice",
            label_item("alice", record(extra=open_ev))),
        "check-open-no-evidence": chk(
            policy([("rules", "open")] + BASE_POLICY + open_rules()), "alice",
            label_item("alice", record())),
        "check-all": chk(
            policy([("rules", "open,moderated,dns-proof")] + BASE_POLICY + open_rules() +
                   moderated_rules() + DNS_RULES),
            "alice", label_item("alice", record(extra=everything)), flags=TXT_FOUND),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
