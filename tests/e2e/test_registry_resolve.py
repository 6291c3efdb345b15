"""Resolving names under a registry on a local testnet (issue 11 "Resolving", docs/registries.md
"Resolving a registered name"), all on 127.0.0.1.

A registry R's apex zone, its `_policy` item and the label item of `alice` (salt = the label,
BEP 44) are signed here in Python (the `cryptography` package, independent of swarmdns's
libsodium) and put with raw KRPC to every testnet node, as the registrar will. A fresh node
(`--bootstrap` the testnet, `--upstream none`, `--root p2p=<R>`) then resolves:

  - `www.alice.<R>.` and `www.alice.p2p.` to the owner's zone, through the label item;
  - `www.bob.<R>.` (never registered): NXDOMAIN with R's SOA and an EDE naming R;
  - a label item signed by a registry R2 (which publishes no apex zone) whose policy is
    `moderated` but without the moderator's signature: SERVFAIL with an EDE saying it was
    refused, never the owner's address; a label R2 never gave out: NXDOMAIN with a SOA of R2;
  - under a `dns-proof` registry R3, with Knot DNS as the node's upstream holding the TXT
    record of one claim (`erin`) and not of another (`frank`): the first resolves, the
    second is refused;

and libtorrent's `dht_get_mutable_item` with the salt returns the label item.
"""
import os
import time

import dns.rcode
import dns.rdatatype
import pytest

from conftest import finish_all, free_port, public_key, query, z32encode, zone_packet
from dhtutil import KrpcClient, LtSession, Testnet, bencode, bep44_sign, mutable_target
from resolveutil import Knot, addrs, ask, ede_of, have, wait_joined
from test_resolve import ResolveNode

N_TESTNET = 8
JOIN_TIMEOUT = 15.0
ANSWER_TIMEOUT = 15.0


def signed(seed: bytes, packet: bytes, salt: bytes = b"", seq: int = 1) -> dict:
    pk = public_key(seed)
    return {"k": pk, "salt": salt, "seq": seq, "v": packet,
            "sig": bep44_sign(seed, seq, bencode(packet), salt)}


def put_everywhere(c: KrpcClient, ports, it: dict) -> int:
    """get (for a token) then put of item it to every port; how many acknowledged."""
    target = mutable_target(it["k"], it["salt"])
    ok = 0
    for port in ports:
        _, _, msg = c.query(port, "get", {"target": target})
        if msg is None or msg.get(b"y") != b"r":
            continue
        args = {"token": msg[b"r"][b"token"], "k": it["k"], "seq": it["seq"],
                "sig": it["sig"], "v": it["v"]}
        if it["salt"]:
            args["salt"] = it["salt"]
        _, _, msg = c.query(port, "put", args)
        ok += msg is not None and msg.get(b"y") == b"r"
    return ok


def policy_packet(rz: str, rules: str, extra=()) -> bytes:
    strings = [f"rules={rules}", "label-min=1", "label-max=63", "expiry=0", "renew=0", *extra]
    return zone_packet(f"{rz}.", [("_policy", "TXT", " ".join(f'"{s}"' for s in strings))])


def label_packet(rz: str, label: str, owner_z32: str, extra=()) -> bytes:
    reg = ["owner=" + owner_z32, "index=1", "expires=0", f"registered={int(time.time()) - 60}",
           *extra]
    return zone_packet(f"{rz}.", [(label, "NS", f"{owner_z32}."),
                                  (f"_reg.{label}", "TXT", " ".join(f'"{s}"' for s in reg))])


@pytest.fixture(scope="module")
def world(swarmdns_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("registry-resolve")
    r_seed, r2_seed, r3_seed, o_seed, mod_seed = (os.urandom(32) for _ in range(5))
    rz, r2z = z32encode(public_key(r_seed)), z32encode(public_key(r2_seed))
    r3z = z32encode(public_key(r3_seed))
    oz, modz = z32encode(public_key(o_seed)), z32encode(public_key(mod_seed))
    items = {
        "apex": signed(r_seed, zone_packet(f"{rz}.", [("www", "A", "192.0.2.1")])),
        "policy": signed(r_seed, policy_packet(rz, "closed"), b"_policy"),
        "alice": signed(r_seed, label_packet(rz, "alice", oz), b"alice"),
        "owner": signed(o_seed, zone_packet(f"{oz}.", [("www", "A", "192.0.2.77")])),
        # R2 publishes no apex zone (a registrar signs only its policy, log and labels).
        "policy2": signed(r2_seed, policy_packet(r2z, "moderated", ["mod-k=1", "mod=" + modz]),
                          b"_policy"),
        "carol": signed(r2_seed, label_packet(r2z, "carol", oz), b"carol"),
        "apex3": signed(r3_seed, zone_packet(f"{r3z}.", [("www", "A", "192.0.2.3")])),
        "policy3": signed(r3_seed, policy_packet(r3z, "dns-proof", ["dns-prefix=_swarmdns"]),
                          b"_policy"),
        "erin": signed(r3_seed, label_packet(r3z, "erin", oz, ["dns=erin.example.test"]),
                       b"erin"),
        "frank": signed(r3_seed, label_packet(r3z, "frank", oz, ["dns=frank.example.test"]),
                        b"frank"),
    }
    tn = Testnet(swarmdns_bin, N_TESTNET, base, seconds=300).start()
    node = None
    try:
        with KrpcClient() as c:
            for name, it in items.items():
                n = put_everywhere(c, tn.ports, it)
                assert n >= N_TESTNET // 2, f"the {name} item was stored by {n} testnet nodes"
        d = base / "fresh"
        d.mkdir()
        node = ResolveNode(swarmdns_bin, d, base, extra_args=[
            "--bootstrap", f"127.0.0.1:{tn.base}", "--upstream", "none",
            "--root", f"p2p={rz}", "--dht-rate-limit", "100000"])
        node.start()
        wait_joined(node, N_TESTNET // 2, JOIN_TIMEOUT)
        yield {"node": node, "tn": tn, "rz": rz, "r2z": r2z, "r3z": r3z, "oz": oz,
               "items": items, "base": base}
    finally:
        errors = finish_all([node] if node else [])
        tn.stop()
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


def test_registered_name_resolves_through_label_item(world):
    node, rz = world["node"], world["rz"]
    r = ask(node, f"www.alice.{rz}.")
    assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["192.0.2.77"], (
        f"{r}\n{ede_of(r)}\n{node.stderr_tail()}")
    r = ask(node, "www.alice.p2p.")
    assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["192.0.2.77"], f"{r}\n{ede_of(r)}"
    assert str(r.answer[0].name) == "www.alice.p2p.", r
    # The registry's own names still come from its apex zone.
    r = ask(node, "www.p2p.")
    assert addrs(r) == ["192.0.2.1"], f"{r}\n{ede_of(r)}"


def test_unregistered_name_is_nxdomain_with_registry_soa_and_ede(world):
    node, rz = world["node"], world["rz"]
    r = ask(node, f"www.bob.{rz}.", want=dns.rcode.NXDOMAIN)
    assert r.rcode() == dns.rcode.NXDOMAIN, f"{r}\n{ede_of(r)}\n{node.stderr_tail()}"
    soa = [s for s in r.authority if s.rdtype == dns.rdatatype.SOA]
    assert soa and str(soa[0].name) == f"{rz}.", r
    texts = [t for _, t in ede_of(r)]
    assert f"bob is not registered in registry {rz}" in texts, (r, texts)


def test_label_item_lacking_evidence_is_never_served(world):
    node, r2z = world["node"], world["r2z"]
    r = ask(node, f"www.carol.{r2z}.", want=dns.rcode.SERVFAIL)
    # SERVFAIL from the start: wait until the refusal (not a lookup still running) is told.
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while not any("refused" in t for _, t in ede_of(r)) and time.monotonic() < deadline:
        time.sleep(0.3)
        r = query(node.dns_port, f"www.carol.{r2z}.", "A", timeout=ANSWER_TIMEOUT)
    assert r.rcode() == dns.rcode.SERVFAIL and not r.answer, f"{r}\n{ede_of(r)}"
    texts = [t for _, t in ede_of(r)]
    assert any(t.startswith(f"registry {r2z}: label item of carol refused:") for t in texts), (
        texts, node.stderr_tail())


def test_registry_without_apex_zone_says_nxdomain(world):
    node, r2z = world["node"], world["r2z"]
    r = ask(node, f"www.nobody.{r2z}.", want=dns.rcode.NXDOMAIN)
    assert r.rcode() == dns.rcode.NXDOMAIN, f"{r}\n{ede_of(r)}\n{node.stderr_tail()}"
    soa = [s for s in r.authority if s.rdtype == dns.rdatatype.SOA]
    assert soa and str(soa[0].name) == f"{r2z}.", r
    assert f"nobody is not registered in registry {r2z}" in [t for _, t in ede_of(r)], r


def test_dns_proof_checked_through_knot_upstream(world, swarmdns_bin):
    if not have(Knot.binary):
        pytest.skip("knotd is not installed")
    base, r3z, oz, tn = world["base"], world["r3z"], world["oz"], world["tn"]
    zone = "\n".join([
        "$ORIGIN example.test.", "$TTL 300",
        "@ SOA ns.example.test. admin.example.test. 1 3600 600 86400 300",
        "@ NS ns.example.test.", "ns A 127.0.0.1",
        f'_swarmdns.erin TXT "swarmdns-claim={r3z},{oz}"',
        # frank's domain shows a claim for another registry: not R3's.
        f'_swarmdns.frank TXT "swarmdns-claim={world["rz"]},{oz}"']) + "\n"
    knot = Knot(base / "knot", free_port(), {"example.test": zone})
    d = base / "dnsproof"
    d.mkdir()
    node = ResolveNode(swarmdns_bin, d, base, extra_args=[
        "--bootstrap", f"127.0.0.1:{tn.base}", "--upstream", f"127.0.0.1:{knot.port}",
        "--dht-rate-limit", "100000"])
    try:
        knot.start()
        node.start()
        wait_joined(node, N_TESTNET // 2, JOIN_TIMEOUT)
        r = ask(node, f"www.erin.{r3z}.")
        assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["192.0.2.77"], (
            f"{r}\n{ede_of(r)}\n{node.stderr_tail()}\n{knot.log_tail()}")
        r = ask(node, f"www.frank.{r3z}.", want=dns.rcode.SERVFAIL)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not any("refused" in t for _, t in ede_of(r)) and time.monotonic() < deadline:
            time.sleep(0.3)
            r = query(node.dns_port, f"www.frank.{r3z}.", "A", timeout=ANSWER_TIMEOUT,
                      use_edns=0)
        assert r.rcode() == dns.rcode.SERVFAIL and not r.answer, f"{r}\n{ede_of(r)}"
        texts = [t for _, t in ede_of(r)]
        assert any(t.startswith(f"registry {r3z}: label item of frank refused:")
                   for t in texts), texts
    finally:
        errors = finish_all([node])
        knot.stop()
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


def test_libtorrent_gets_label_item_with_salt(world):
    pytest.importorskip("libtorrent", reason="python3-libtorrent is not installed")
    tn, it = world["tn"], world["items"]["alice"]
    s = LtSession(free_port())
    try:
        for p in tn.ports:
            s.add_node(p)
        deadline = time.monotonic() + JOIN_TIMEOUT
        while True:
            size = s.routing_table_size(1.0)
            if (size and size[0] >= N_TESTNET // 2) or time.monotonic() >= deadline:
                break
        a = s.get_mutable(it["k"], b"alice", timeout=20.0, want_seq=it["seq"])
        assert a is not None and a.get("seq") == it["seq"], f"{a}\n{s.log_text(30)}"
        assert a.get("salt") == b"alice", a
        assert a.get("signature") == it["sig"], a
        assert a.get("value") == it["v"], a
    finally:
        s.close()
