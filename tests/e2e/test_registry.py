"""A node that runs registries (option `registrar KEYFILE`, docs/registries.md "Running a
registry"), driven through the CLI as a user would: `swarmdns registry init`, `swarmdns
register`, `swarmdns registry approve|transfer|release|log`.

Closed, open and moderated registries on one node (`--bootstrap none`): a closed registry
refuses a stranger and a name taken; an open one needs the commitment, the wait and the work
(a reveal without enough work is refused); a moderated claim waits for its moderator; a name is
transferred and released by its owner only. What the registrar signs and serves is checked
independently: the label item's BEP 44 salted signature (cryptography's Ed25519), its DNS
records (dnspython), the proof of work (libsodium's crypto_pwhash through ctypes), and every
log entry, inclusion and consistency proof against RFC 9162 (test_registry_log's hashlib
implementation). Acknowledged registrations survive kill -9.
"""
import ctypes
import ctypes.util
import hashlib
import json
import struct
import time

import dns.message
import dns.rdatatype
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from conftest import describe, run_cli, z32decode
from test_registry_log import leaf_hash, mth, verify_consistency, verify_inclusion


@pytest.fixture
def reg_node(swarmdns_bin, node_factory, make_key):
    """A node running three registries; returns (node, closed, open, moderated) keys."""
    keys = [make_key() for _ in range(3)]
    args = []
    for k in keys:
        args += ["--registrar", str(k.path)]
    return (node_factory(extra_args=args).start(), *keys)


def cli(binary, node, *args):
    return run_cli(binary, *args, "--api", node.api_url)


def get(node, path):
    r = node.api("GET", path)
    assert r.status == 200, f"GET {path}: {r.status} {r.body!r}"
    return r.json()


def post(node, path, obj):
    return node.api("POST", path, json.dumps(obj).encode(),
                    headers={"Content-Type": "application/json"})


def bep44_salted(salt: bytes, seq: int, v: bytes) -> bytes:
    """BEP 44 "Signature Verification": what a salted mutable item's signature covers."""
    return b"4:salt%d:%s3:seqi%de1:v%s" % (len(salt), salt, seq, v)


def label_item(node, reg, label):
    """GET name/<label>: the record, its item verified under the registry key, its records."""
    rec = get(node, f"/v1/registry/{reg.z32}/name/{label}")
    v = bytes.fromhex(rec["v"])
    Ed25519PublicKey.from_public_bytes(reg.pub).verify(
        bytes.fromhex(rec["sig"]), bep44_salted(label.encode(), rec["seq"], v))
    n, packet = v.split(b":", 1)
    assert int(n) == len(packet)
    msg = dns.message.from_wire(packet)
    recs = {(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype)): [r.to_text() for r in rr]
            for rr in msg.answer}
    return rec, recs


def check_log(node, reg):
    """Every entry, inclusion and consistency proof the node serves, against RFC 9162, and the
    tree head it serves signed by the registry key (salt _log). Returns the entries."""
    sth = get(node, f"/v1/registry/{reg.z32}/log/sth")
    size = sth["size"]
    entries = get(node, f"/v1/registry/{reg.z32}/log/entries?start=0&end={size - 1}")[
        "entries"] if size else []
    leaves = [leaf_hash(bytes.fromhex(e["entry"])) for e in entries]
    root = mth(leaves)
    assert bytes.fromhex(sth["root"]) == root
    head = sth["head"]
    v = bytes.fromhex(head["v"])
    Ed25519PublicKey.from_public_bytes(reg.pub).verify(
        bytes.fromhex(head["sig"]), bep44_salted(b"_log", head["seq"], v))
    txt = dns.message.from_wire(v.split(b":", 1)[1]).answer[0][0].to_text()
    assert f"size={size}" in txt and f"root={root.hex()}" in txt, txt
    for i in range(size):
        p = get(node, f"/v1/registry/{reg.z32}/log/proof/inclusion?index={i}")
        assert verify_inclusion(i, size, leaves[i], [bytes.fromhex(x) for x in p["proof"]],
                                root)
    for first in range(1, size):
        p = get(node, f"/v1/registry/{reg.z32}/log/proof/consistency?first={first}")
        assert verify_consistency(first, size, mth(leaves[:first]), root,
                                  [bytes.fromhex(x) for x in p["proof"]])
    return [bytes.fromhex(e["entry"]) for e in entries]


OPS = {1: "register", 2: "transfer", 3: "renew", 4: "release", 5: "commit"}


def entry_op(e: bytes):
    """docs/registries.md "Log entries": op, label and owner of one entry."""
    n = e[18]
    return OPS[e[1]], e[19:19 + n].decode(), e[19 + n:51 + n]


def test_closed_registry_transfer_release_and_kill9(swarmdns_bin, reg_node, make_key):
    node, reg, _, _ = reg_node
    alice, bob = make_key(), make_key()
    cp = cli(swarmdns_bin, node, "registry", "init", "-r", reg.z32, "--policy", "closed")
    assert cp.returncode == 0 and "policy closed published" in cp.stdout, describe(cp)
    name = f"alice.{reg.z32}"

    # A stranger (no registry key) is refused, and says why.
    cp = cli(swarmdns_bin, node, "register", name, "-k", alice.path)
    assert cp.returncode == 1 and "closed" in cp.stderr, describe(cp)
    cp = cli(swarmdns_bin, node, "register", name, "-k", alice.path, "--registry-key", reg.path)
    assert cp.returncode == 0 and "registered at log index 0" in cp.stdout, describe(cp)
    # Taken: another owner cannot have it, even from the registry's holder.
    cp = cli(swarmdns_bin, node, "register", name, "-k", bob.path, "--registry-key", reg.path)
    assert cp.returncode == 1 and "taken" in cp.stderr, describe(cp)
    cp = cli(swarmdns_bin, node, "register", f"bad-.{reg.z32}", "-k", bob.path)
    assert cp.returncode != 0 and "not a label" in cp.stderr, describe(cp)

    rec, recs = label_item(node, reg, "alice")
    assert rec["owner"] == alice.z32 and rec["index"] == 0
    assert recs[(f"alice.{reg.z32}.", "NS")] == [f"{alice.z32}."]
    assert f"owner={alice.z32}" in recs[(f"_reg.alice.{reg.z32}.", "TXT")][0]

    # Acknowledged registrations survive kill -9.
    node.kill9()
    node.start()
    rec, _ = label_item(node, reg, "alice")
    assert rec["owner"] == alice.z32

    # Transfer, by the owner only; then release, by the new owner only.
    cp = cli(swarmdns_bin, node, "registry", "transfer", name, "--to", bob.z32, "-k", bob.path)
    assert cp.returncode == 1 and "not the owner" in cp.stderr, describe(cp)
    cp = cli(swarmdns_bin, node, "registry", "transfer", name, "--to", bob.z32, "-k",
             alice.path)
    assert cp.returncode == 0 and "transferred" in cp.stdout, describe(cp)
    rec, recs = label_item(node, reg, "alice")
    assert rec["owner"] == bob.z32 and rec["claimant"] == alice.z32 and rec["index"] == 1
    assert recs[(f"alice.{reg.z32}.", "NS")] == [f"{bob.z32}."]
    cp = cli(swarmdns_bin, node, "registry", "release", name, "-k", alice.path)
    assert cp.returncode == 1, describe(cp)
    cp = cli(swarmdns_bin, node, "registry", "release", name, "-k", bob.path)
    assert cp.returncode == 0 and "released at log index 2" in cp.stdout, describe(cp)
    assert node.api("GET", f"/v1/registry/{reg.z32}/name/alice").status == 404
    # Released: free again.
    cp = cli(swarmdns_bin, node, "register", name, "-k", bob.path, "--registry-key", reg.path)
    assert cp.returncode == 0 and "log index 3" in cp.stdout, describe(cp)

    entries = check_log(node, reg)
    assert [entry_op(e)[:2] for e in entries] == [
        ("register", "alice"), ("transfer", "alice"), ("release", "alice"),
        ("register", "alice")]
    assert [entry_op(e)[2] for e in entries] == [alice.pub, bob.pub, bob.pub, bob.pub]
    cp = cli(swarmdns_bin, node, "registry", "log", reg.z32)
    assert cp.returncode == 0 and "4 entries" in cp.stdout and "verified" in cp.stdout, \
        describe(cp)


def _sodium():
    path = ctypes.util.find_library("sodium")
    if path is None:
        pytest.skip("libsodium not found for the independent Argon2id check")
    lib = ctypes.CDLL(path)
    assert lib.sodium_init() >= 0
    return lib


def pow_bits(lib, reg_pub, label, owner, commit, nonce, ops, mem) -> int:
    """docs/registries.md "Proof of work": leading zero bits of Argon2id over the claim."""
    claim = bytes([len(label)]) + label.encode() + owner + commit + struct.pack(">Q", nonce)
    salt = hashlib.sha256(b"swarmdns registry pow v1" + reg_pub).digest()[:16]
    out = ctypes.create_string_buffer(32)
    alg_argon2id13 = 2
    assert lib.crypto_pwhash(out, ctypes.c_ulonglong(32), claim, ctypes.c_ulonglong(len(claim)),
                             salt, ctypes.c_ulonglong(ops), ctypes.c_size_t(mem),
                             ctypes.c_int(alg_argon2id13)) == 0
    v = int.from_bytes(out.raw, "big")
    return 256 - v.bit_length()


def test_open_registry_needs_commit_wait_and_work(swarmdns_bin, reg_node, make_key):
    node, _, reg, _ = reg_node
    lib = _sodium()
    alice, mallory = make_key(), make_key()
    cp = cli(swarmdns_bin, node, "registry", "init", "-r", reg.z32, "--policy", "open",
             "--pow-difficulty", "6", "--pow-mem", "8192", "--reveal-min", "1")
    assert cp.returncode == 0, describe(cp)

    # Through the CLI: commit, wait, work, reveal.
    cp = cli(swarmdns_bin, node, "register", f"alice.{reg.z32}", "-k", alice.path)
    assert cp.returncode == 0 and "registered at log index 1" in cp.stdout, describe(cp)
    assert "committed" in cp.stderr and "proof of work done" in cp.stderr, describe(cp)
    rec, recs = label_item(node, reg, "alice")
    fields = dict(s.split("=", 1) for s in
                  recs[(f"_reg.alice.{reg.z32}.", "TXT")][0].replace('"', "").split())
    secret = bytes.fromhex(fields["secret"])
    commit = hashlib.sha256(b"swarmdns registry commit v1" + reg.pub + b"\x05alice" +
                            alice.pub + secret).digest()
    assert pow_bits(lib, reg.pub, "alice", alice.pub, commit, int(fields["pow"]), 1,
                    8192) >= 6

    # By hand, without enough work: refused, saying so.
    key = Ed25519PrivateKey.from_private_bytes(mallory.seed)
    secret = bytes(range(32))
    label = "mallory"
    commit = hashlib.sha256(b"swarmdns registry commit v1" + reg.pub + bytes([len(label)]) +
                            label.encode() + mallory.pub + secret).digest()
    r = post(node, f"/v1/registry/{reg.z32}/commit", {"commit": commit.hex()})
    assert r.status == 200, r.body
    index = r.json()["index"]
    claim = (b"swarmdns registry claim v1" + reg.pub + bytes([len(label)]) + label.encode() +
             mallory.pub + bytes(8))
    body = {"label": label, "owner": mallory.z32, "sig": key.sign(claim).hex(),
            "secret": secret.hex(), "commit_index": index}
    # Too early: the reveal must wait reveal-min after the commitment.
    body["pow"] = 0
    r = post(node, f"/v1/registry/{reg.z32}/register", body)
    assert r.status == 403 and b"before the minimum delay" in r.body, r.body
    time.sleep(2.1)
    body["pow"] = next(n for n in range(1000)
                       if pow_bits(lib, reg.pub, label, mallory.pub, commit, n, 1, 8192) < 6)
    r = post(node, f"/v1/registry/{reg.z32}/register", body)
    assert r.status == 403 and b"proof of work" in r.body, r.body
    # No reveal at all.
    del body["secret"], body["commit_index"], body["pow"]
    r = post(node, f"/v1/registry/{reg.z32}/register", body)
    assert r.status == 403, r.body
    assert node.api("GET", f"/v1/registry/{reg.z32}/name/{label}").status == 404
    assert [entry_op(e)[0] for e in check_log(node, reg)] == ["commit", "register", "commit"]


def test_moderated_claim_waits_for_approval(swarmdns_bin, reg_node, make_key):
    node, _, _, reg = reg_node
    mod, alice, bob = make_key(), make_key(), make_key()
    cp = cli(swarmdns_bin, node, "registry", "init", "-r", reg.z32, "--policy", "moderated",
             "--mod", mod.z32)
    assert cp.returncode == 0, describe(cp)
    name = f"alice.{reg.z32}"
    cp = cli(swarmdns_bin, node, "register", name, "-k", alice.path)
    assert cp.returncode == 0 and "waits for moderators (0 of 1" in cp.stdout, describe(cp)
    assert get(node, f"/v1/registry/{reg.z32}/name/alice")["state"] == "pending"
    cp = cli(swarmdns_bin, node, "register", name, "-k", bob.path)
    assert cp.returncode == 1 and "waits for moderators" in cp.stderr, describe(cp)
    cp = cli(swarmdns_bin, node, "registry", "approve", name, "-k", bob.path)
    assert cp.returncode == 1 and "not a moderator" in cp.stderr, describe(cp)
    assert check_log(node, reg) == []
    cp = cli(swarmdns_bin, node, "registry", "approve", name, "-k", mod.path)
    assert cp.returncode == 0 and "registered at log index 0" in cp.stdout, describe(cp)
    rec, recs = label_item(node, reg, "alice")
    assert rec["owner"] == alice.z32
    assert "mod=0:" in recs[(f"_reg.alice.{reg.z32}.", "TXT")][0]
    # A rejected claim is gone.
    cp = cli(swarmdns_bin, node, "register", f"bob.{reg.z32}", "-k", bob.path)
    assert cp.returncode == 0, describe(cp)
    cp = cli(swarmdns_bin, node, "registry", "reject", f"bob.{reg.z32}", "-k", mod.path)
    assert cp.returncode == 0 and "rejected" in cp.stdout, describe(cp)
    assert node.api("GET", f"/v1/registry/{reg.z32}/name/bob").status == 404
    assert [entry_op(e)[:2] for e in check_log(node, reg)] == [("register", "alice")]


def test_registry_puts_wait_out_a_dht_that_does_not_answer(swarmdns_bin, tmp_path, make_key):
    """A label item whose put reached no DHT node (all of them silent for a moment, the
    registrar's routing table not empty) goes out again as soon as they answer: it is not
    dropped after three quick attempts (src/daemon/regput.c STALLS). Before, such names were
    lost until the next republish round, which comes 3 s after the node joins again; here the
    item must reach the DHT nodes before that round."""
    import os
    import signal
    from conftest import Node, finish_all
    from dhtutil import KrpcClient, Testnet, mutable_target
    from resolveutil import raw_get

    reg, alice = make_key(), make_key()
    testnet = Testnet(swarmdns_bin, 8, tmp_path, seconds=120).start()
    nodes = []
    rounds = "label items re-put this round"
    try:
        (tmp_path / "registrar").mkdir()
        a = Node(swarmdns_bin, tmp_path / "registrar", tmp_path, [
            "--bootstrap", f"127.0.0.1:{testnet.base}", "--dht-rate-limit", "100000",
            "--registrar", str(reg.path)]).start()
        nodes.append(a)
        cp = cli(swarmdns_bin, a, "registry", "init", "--policy", "closed")
        assert cp.returncode == 0, describe(cp)
        # The first republish round (3 s after joining) re-puts every label item: let it pass
        # first, so that it cannot put the item this test is about.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and rounds not in a.stderr_text():
            time.sleep(0.1)
        assert a.stderr_text().count(rounds) == 1, a.stderr_tail()
        # Every DHT node the registrar knows stops answering for a moment (one process).
        os.kill(testnet.proc.pid, signal.SIGSTOP)
        try:
            cp = cli(swarmdns_bin, a, "register", f"dave.{reg.z32}", "-k", alice.path,
                     "--registry-key", reg.path)
            assert cp.returncode == 0, describe(cp)
            # Three attempts whose queries all time out take well under a second here.
            time.sleep(1.2)
        finally:
            os.kill(testnet.proc.pid, signal.SIGCONT)
        rec, _ = label_item(a, reg, "dave")
        # The testnet's nodes hold it (asked over KRPC: the registrar's own node would answer
        # a get from its store, and prove nothing), and before the next round put it there.
        target = mutable_target(reg.pub, b"dave")
        held = []
        deadline = time.monotonic() + 15
        with KrpcClient() as c:
            while time.monotonic() < deadline and a.stderr_text().count(rounds) == 1:
                held = [(raw_get(c, p, target) or {}).get(b"seq") for p in testnet.ports]
                if sum(seq == rec["seq"] for seq in held) >= 4:
                    break
                time.sleep(0.1)
        assert sum(seq == rec["seq"] for seq in held) >= 4, (held, a.stderr_tail())
        assert a.stderr_text().count(rounds) == 1, \
            f"only the next republish round put it: {held}, {a.stderr_tail()}"
    finally:
        errors = finish_all(nodes)
        testnet.stop()
    assert not errors, errors


def test_registry_items_reach_the_dht(swarmdns_bin, tmp_path, make_key):
    """On a testnet: what the registrar signs is put into the DHT at once, and another node's
    salted DHT get (GET /v1/dht/<R>?salt=) finds the label, `_policy` and `_log` items, as
    signed, under the registry key; a republish round re-puts every label item."""
    from conftest import Node, finish_all
    from dhtutil import Testnet

    reg, alice = make_key(), make_key()
    testnet = Testnet(swarmdns_bin, 12, tmp_path, seconds=120).start()
    nodes = []
    try:
        join = ["--bootstrap", f"127.0.0.1:{testnet.base}", "--dht-rate-limit", "100000"]
        for name, extra in (("registrar", ["--registrar", str(reg.path)]), ("other", [])):
            (tmp_path / name).mkdir()
            nodes.append(Node(swarmdns_bin, tmp_path / name, tmp_path, join + extra).start())
        a, b = nodes
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and \
                min(n.status()["dht"]["good_nodes"] for n in nodes) < 4:
            time.sleep(0.1)
        cp = cli(swarmdns_bin, a, "registry", "init", "--policy", "closed")
        assert cp.returncode == 0, describe(cp)
        cp = cli(swarmdns_bin, a, "register", f"alice.{reg.z32}", "-k", alice.path,
                 "--registry-key", reg.path)
        assert cp.returncode == 0, describe(cp)
        rec, _ = label_item(a, reg, "alice")
        for salt, want_seq in (("alice", rec["seq"]), ("_policy", 1), ("_log", 2)):
            got = None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                r = b.api("GET", f"/v1/dht/{reg.z32}?salt={salt}", timeout=15)
                got = r.json()
                if r.status == 200 and got["seq"] == want_seq:
                    break
                time.sleep(0.3)
            assert got and got.get("found") and got["seq"] == want_seq, (salt, got)
            v = bytes.fromhex(got["v"])
            Ed25519PublicKey.from_public_bytes(reg.pub).verify(
                bytes.fromhex(got["sig"]), bep44_salted(salt.encode(), got["seq"], v))
            if salt == "alice":
                assert got["v"] == rec["v"]
        # The republish round re-puts every label item, read from the store a few at a time
        # (daemon/regput.c), not copied into memory at once: after a restart (the first round
        # comes 3 s after the node joined) it says how many it walked.
        for name in ("bob", "carol"):
            cp = cli(swarmdns_bin, a, "register", f"{name}.{reg.z32}", "-k", alice.path,
                     "--registry-key", reg.path)
            assert cp.returncode == 0, describe(cp)
        a.restart()
        want = f"registry {reg.z32}: 3 label items re-put this round"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and want not in a.stderr_text():
            time.sleep(0.2)
        assert want in a.stderr_text(), a.stderr_tail()
    finally:
        errors = finish_all(nodes)
        testnet.stop()
    assert not errors, errors
