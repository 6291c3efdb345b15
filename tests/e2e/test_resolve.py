"""Names over the swarm (issue 4), end to end on 127.0.0.1.

A `swarmdns testnet` of 20 DHT nodes (shared by the module) and `swarmdns serve` nodes joined
to it: A publishes, B (and C...) resolve over DNS and through GET /v1/resolve. Zones are checked
with independent clients (dig, dnspython), DHT items are made and put with raw KRPC from Python
(dhtutil), and a fake DHT node written in Python serves forged and older items to a resolver.
Ordinary names go to Knot DNS and NSD started here on random ports (the fallback of DESIGN §6).

What is shown (the issue's "What it must show"):
  - a zone published at A is answered by B over DNS within 2 s; an update (higher seq)
    reaches B once B's cached TTL ends; with A stopped B (and a fresh C) still answer from the
    DHT; with the item gone from the DHT too, B answers stale with EDE 3; a name never
    published gets SERVFAIL/NXDOMAIN with an EDE that says the zone was not found;
  - forged (bad signature) and older (lower seq) items, put into the testnet nodes with raw
    KRPC and served by a fake DHT node, are never served;
  - delegation (NS to a key name), CNAME to a key name, `root p2p=<registry>`, `key-suffix`,
    the depth limit;
  - the pkarr vector, put into the DHT with raw KRPC (its own signature and seq), resolves;
  - /v1/resolve and `swarmdns resolve` say source dht then cache, zone, seq, signature valid;
  - fallback: Knot DNS as upstream, an answer over 1,232 bytes complete (TC then TCP),
    failover from a dead first upstream within 1 s, `forward` of a suffix to NSD.
"""
import json
import os
import re
import time
import urllib.parse

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from conftest import (
    Node,
    describe,
    finish_all,
    free_port,
    key_from_seed,
    public_key,
    publish_zone,
    run_cli,
    split_relay,
    verify_relay,
    z32encode,
    zone_packet,
)
from dhtutil import (
    KrpcClient,
    Testnet,
    bencode,
    bep44_sign,
    bep44_verify,
    mutable_target,
)
from resolveutil import (
    BlackHole,
    FakeDhtNode,
    Knot,
    Nsd,
    describe_resp,
    dig,
    ede_of,
    have,
    raw_get,
    raw_put,
)

N_TESTNET = 20
JOIN_TIMEOUT = 10.0     # a serve node fills its routing table from the testnet
JOIN_FAST = 3.0
ANSWER_WITHIN = 2.0     # the issue: "answered by B over DNS (dig) within 2 s"
EDE_STALE = 3


# --------------------------------------------------------------------------------------------
# Nodes


class ResolveNode(Node):
    """A Node whose own --bootstrap / --upstream replace conftest's 'none' (instead of adding
    to it: repeated options on the command line make a list)."""

    def argv(self):
        argv = super().argv()
        own = set(a for a in self.extra_args if a.startswith("--"))
        out, i = [], 0
        base_end = len(argv) - len(self.extra_args)
        while i < len(argv):
            a = argv[i]
            if i < base_end and a in ("--bootstrap", "--upstream") and a in own \
                    and i + 1 < len(argv) and argv[i + 1] == "none":
                i += 2
                continue
            out.append(a)
            i += 1
        return out


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Swarm:
    """A testnet and the serve nodes joined to it."""

    def __init__(self, binary, base, n=N_TESTNET):
        self.binary = binary
        self.base = base
        self.n = n
        self.testnet = None
        self.nodes = []
        self._ids = None
        self._count = 0

    def start(self):
        self.testnet = Testnet(self.binary, self.n, self.base, seconds=600).start()
        return self

    @property
    def ports(self):
        return self.testnet.ports

    def node(self, *extra, bootstrap=None, join=True) -> ResolveNode:
        """A started serve node on the testnet (bootstrap: list of ports, default testnet)."""
        self._count += 1
        d = self.base / f"serve{self._count}"
        d.mkdir()
        boots = []
        for p in (bootstrap or [self.testnet.base]):
            boots += ["--bootstrap", f"127.0.0.1:{p}"]
        n = ResolveNode(self.binary, d, self.base,
                        extra_args=[*boots, "--dht-rate-limit", "100000", *map(str, extra)])
        self.nodes.append(n)
        n.start()
        if join:
            # 8 nodes usually come at once; nodes of earlier tests, stopped but still in the
            # testnet's tables, can make it slower: 4 good ones are enough to look items up.
            rt = lambda: n.status()["dht"]["good_nodes"]  # noqa: E731
            ok = wait_until(lambda: rt() >= 8, JOIN_FAST, 0.1) or \
                wait_until(lambda: rt() >= 4, JOIN_TIMEOUT - JOIN_FAST, 0.1)
            assert ok, (f"serve node did not get 4 good nodes into its routing table within "
                        f"{JOIN_TIMEOUT} s: {n.status()['dht']}\n{n.stderr_tail()}\n"
                        + self.testnet.log_tail())
        return n

    def ids(self):
        """[(node id, port)] of the testnet nodes (raw KRPC ping, read-only)."""
        if self._ids is None:
            ids = []
            with KrpcClient(read_only=True) as c:
                for p in self.ports:
                    _, raw, msg = c.query(p, "ping", {})
                    if msg is not None and msg.get(b"y") == b"r":
                        ids.append((msg[b"r"][b"id"], p))
            assert len(ids) >= self.n - 2, f"only {len(ids)} testnet nodes answer a ping"
            self._ids = ids
        return self._ids

    def stop(self):
        errors = finish_all(self.nodes)
        if self.testnet is not None:
            died = self.testnet.proc is not None and self.testnet.proc.poll() is not None
            rc = self.testnet.stop()
            if died and not getattr(self, "testnet_stopped_on_purpose", False):
                errors.append(f"the testnet died during the tests (exit {rc})\n"
                              + self.testnet.log_tail())
        return errors


@pytest.fixture(scope="module")
def swarm(swarmdns_bin, tmp_path_factory):
    """The module's testnet of 20 nodes and the publishing node A."""
    sw = Swarm(swarmdns_bin, tmp_path_factory.mktemp("resolve-swarm"))
    try:
        sw.start()
        sw.a = sw.node()
        yield sw
    finally:
        errors = sw.stop()
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def nodes(swarm):
    """Per-test serve nodes on the module's testnet: nodes(*extra_args) -> started node."""
    made = []

    def make(*extra, **kw):
        n = swarm.node(*extra, **kw)
        made.append(n)
        return n

    yield make
    for n in made:
        swarm.nodes.remove(n)
    errors = finish_all(made)
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


# --------------------------------------------------------------------------------------------
# Keys, zones, queries


def new_key(tmp_path, seed=None):
    seed = seed or os.urandom(32)
    d = tmp_path / "keys"
    d.mkdir(exist_ok=True)
    return key_from_seed(seed, d / f"{z32encode(public_key(seed))[:12]}.key")


def publish(binary, node, key, text):
    """Publishes and returns the seq; asserts that DHT nodes stored it."""
    out = publish_zone(binary, node, key, text)
    m = re.search(r"seq (\d+)", out)
    assert m, f"no seq in the output of publish: {out!r}"
    st = re.search(r"by (\d+) of (\d+) DHT nodes", out)
    assert st and int(st.group(1)) >= 1, f"publish stored the zone on no DHT node: {out!r}"
    return int(m.group(1))


def ask(node, name, rtype="A", timeout=3.0, tcp=False):
    """dnspython query with EDNS (so EDE can come back); None on timeout."""
    q = dns.message.make_query(name, rtype, use_edns=0, payload=1232)
    try:
        if tcp:
            return dns.query.tcp(q, "127.0.0.1", port=node.dns_port, timeout=timeout)
        return dns.query.udp(q, "127.0.0.1", port=node.dns_port, timeout=timeout)
    except dns.exception.Timeout:
        return None


def rdatas(resp, rtype="A", owner=None):
    """Texts of the answer records of a type (optionally of one owner)."""
    out = []
    if resp is None:
        return out
    t = dns.rdatatype.from_text(rtype)
    for rrset in resp.answer:
        if rrset.rdtype == t and (owner is None or rrset.name.to_text() == owner):
            out += [r.to_text() for r in rrset]
    return out


def resolve_api(node, name, rtype="A", timeout=10.0):
    qs = urllib.parse.urlencode({"name": name, "type": rtype})
    r = node.api("GET", f"/v1/resolve?{qs}", timeout=timeout)
    assert r.status == 200, f"GET /v1/resolve?{qs}: {r.status} {r.body!r}"
    return r.json()


def grind_key_near(tmp_path, node_id: bytes, bits: int = 10):
    """A key whose item target shares `bits` leading bits with node_id."""
    want = int.from_bytes(node_id, "big") >> (160 - bits)
    for _ in range(200000):
        seed = os.urandom(32)
        t = mutable_target(public_key(seed))
        if int.from_bytes(t, "big") >> (160 - bits) == want:
            return new_key(tmp_path, seed)
    raise AssertionError("no key found near the node id")


def grind_key_away_from(tmp_path, sw, serve_nodes, k: int):
    """A key whose item target has none of serve_nodes among its k closest DHT nodes."""
    others = [nid for nid, _ in sw.ids()] + [
        bytes.fromhex(n.status()["dht"]["node_id"]) for n in sw.nodes if n not in serve_nodes]
    avoid = [bytes.fromhex(n.status()["dht"]["node_id"]) for n in serve_nodes]
    for kk in range(k, 7, -1):  # 8: the K closest nodes a put stores at (BEP 44)
        for _ in range(2000):
            seed = os.urandom(32)
            t = int.from_bytes(mutable_target(public_key(seed)), "big")
            ranked = sorted([(int.from_bytes(i, "big") ^ t, False) for i in others]
                            + [(int.from_bytes(i, "big") ^ t, True) for i in avoid])
            if not any(is_avoided for _, is_avoided in ranked[:kk]):
                return new_key(tmp_path, seed)
    raise AssertionError(f"no key found away from the serve nodes {[i.hex() for i in avoid]}; "
                         f"others: {[i.hex() for i in others]}")


def sign_item(seed: bytes, seq: int, packet: bytes) -> bytes:
    """The BEP 44 signature of a zone item: v is the packet as a bencoded string."""
    return bep44_sign(seed, seq, bencode(packet))


# --------------------------------------------------------------------------------------------
# Publish at A, answer at B


ZONE1 = '@ 300 IN A 192.0.2.1\nwww 300 IN A 192.0.2.2\nwww 300 IN TXT "first"\n'
ZONE2 = '@ 300 IN A 192.0.2.1\nwww 300 IN A 192.0.2.3\nwww 300 IN TXT "second"\n'


def test_published_at_a_answered_by_b_over_dig_within_2s(swarm, nodes, tmp_path):
    b = nodes()
    key = new_key(tmp_path)
    publish(swarm.binary, swarm.a, key, ZONE1)
    t0 = time.monotonic()
    name = key.name("www")
    res = None
    while time.monotonic() - t0 < ANSWER_WITHIN:
        res = dig(b.dns_port, name, "A", timeout=1)
        if res.status == "NOERROR" and res.answers:
            break
    took = time.monotonic() - t0
    assert res.status == "NOERROR" and res.rdata("A") == ["192.0.2.2"], (
        f"B did not answer the zone published at A within {ANSWER_WITHIN} s:\n{res}\n"
        + b.stderr_tail())
    assert took <= ANSWER_WITHIN, f"B answered after {took:.2f} s\n{res}"
    assert res.answers[0][0] == name, f"answer owner {res.answers[0][0]} != {name}\n{res}"
    # B resolves for the client (RA) and is not the zone's authority (AA=0); A is.
    assert "ra" in res.flags and "aa" not in res.flags, f"flags {res.flags}\n{res}"
    at_a = dig(swarm.a.dns_port, name, "A")
    assert at_a.status == "NOERROR" and "aa" in at_a.flags and \
        at_a.rdata("A") == ["192.0.2.2"], str(at_a)
    # Another type of the same zone now comes from B's cache, at once.
    txt = dig(b.dns_port, name, "TXT")
    assert txt.status == "NOERROR" and txt.rdata("TXT") == ['"first"'], str(txt)


def test_update_reaches_b_once_its_cached_ttl_ends(swarm, nodes, tmp_path):
    b = nodes("--min-ttl", "2", "--max-ttl", "2")
    key = new_key(tmp_path)
    name = key.name("www")
    seq1 = publish(swarm.binary, swarm.a, key, ZONE1)
    first = wait_until(lambda: rdatas(ask(b, name), "A"), ANSWER_WITHIN)
    t_cached = time.monotonic()
    assert first == ["192.0.2.2"], f"B: {describe_resp(ask(b, name))}\n{b.stderr_tail()}"
    j = resolve_api(b, name)
    assert j["seq"] == seq1 and j["answer"] and re.search(r"\s2\s+A\s", j["answer"][0]), (
        f"TTL not clamped to 2 or wrong seq: {j}")

    seq2 = publish(swarm.binary, swarm.a, key, ZONE2)
    assert seq2 > seq1
    # Until B's cache entry ends (2 s), B answers from its cache: the old record.
    r = ask(b, name)
    if time.monotonic() - t_cached < 1.5:
        assert rdatas(r, "A") == ["192.0.2.2"], (
            f"B did not answer from its cache while the entry was fresh: {describe_resp(r)}")
    # Once it has ended, the higher seq replaces it.
    got = wait_until(lambda: rdatas(ask(b, name), "A") == ["192.0.2.3"], 2.0 + 3.0, 0.2)
    r = ask(b, name)
    assert got, (f"B still answers {rdatas(r, 'A')} {time.monotonic() - t_cached:.1f} s after "
                 f"caching seq {seq1}; seq {seq2} was published at A\n{describe_resp(r)}\n"
                 f"/v1/resolve: {resolve_api(b, name)}\n{b.stderr_tail()}")
    j = resolve_api(b, name, "TXT")
    assert j["seq"] == seq2 and j["answer"] and '"second"' in j["answer"][0], j


def test_with_a_stopped_b_still_answers_from_the_dht(swarm, nodes, tmp_path):
    a = nodes()
    b = nodes("--min-ttl", "1", "--max-ttl", "1")
    key = new_key(tmp_path)
    name = key.name("www")
    seq = publish(swarm.binary, a, key, ZONE1)
    assert wait_until(lambda: rdatas(ask(b, name), "A") == ["192.0.2.2"], ANSWER_WITHIN), \
        describe_resp(ask(b, name))
    a.stop()
    time.sleep(1.2)  # B's cache entry (TTL 1) has ended
    j = resolve_api(b, name)
    assert j["rcode"] == "NOERROR" and j["source"] == "dht" and j["seq"] == seq, (
        f"B after its cache ended, A stopped: {j}\n{b.stderr_tail()}")
    assert any("192.0.2.2" in x for x in j["answer"]), j
    # A fresh node C, which never saw the zone, gets it from the DHT alone.
    c = nodes()
    t0 = time.monotonic()
    r = ask(c, name, timeout=5)
    took = time.monotonic() - t0
    assert r is not None and r.rcode() == dns.rcode.NOERROR and rdatas(r, "A") == ["192.0.2.2"], (
        f"C with A stopped: {describe_resp(r)}\n{c.stderr_tail()}")
    assert not r.flags & dns.flags.AA and r.flags & dns.flags.RA, describe_resp(r)
    assert took <= ANSWER_WITHIN, f"C took {took:.2f} s with A stopped"
    j = resolve_api(c, name, "TXT")
    assert j["source"] == "cache" and j["seq"] == seq and j["signature"] == "valid", j


def test_never_published_name_gets_servfail_with_ede_zone_not_found(swarm, nodes, tmp_path):
    b = nodes()
    key = new_key(tmp_path)  # never published
    name = key.name("www")
    t0 = time.monotonic()
    r = ask(b, name, timeout=10)
    took = time.monotonic() - t0
    assert r is not None, f"no answer within 10 s for a name never published\n{b.stderr_tail()}"
    assert r.rcode() in (dns.rcode.SERVFAIL, dns.rcode.NXDOMAIN), describe_resp(r)
    edes = ede_of(r)
    assert edes and any("not found" in t.lower() for _, t in edes), (
        f"no EDE saying the zone was not found: {describe_resp(r)}")
    res = dig(b.dns_port, name, "A", timeout=10)
    assert res.status in ("SERVFAIL", "NXDOMAIN") and res.ede, str(res)
    j = resolve_api(b, name)
    assert j["rcode"] in ("SERVFAIL", "NXDOMAIN") and j["source"] == "none", j
    assert "not found" in (j.get("ede") or {}).get("text", "").lower(), j
    assert took < 10, took


def test_item_gone_from_the_dht_b_answers_stale_with_ede3(swarmdns_bin, tmp_path):
    """Its own testnet, stopped during the test: the item is gone from the DHT."""
    sw = Swarm(swarmdns_bin, tmp_path, n=N_TESTNET)
    try:
        sw.start()
        # One lookup path for A's put: with several, the closest token-giver of every path also
        # gets a copy, which in a testnet this small may be one of the B nodes below.
        a = sw.node("--dht-paths", "1")
        b = sw.node("--min-ttl", "1", "--max-ttl", "1", "--stale-max", "3600")
        b_short = sw.node("--min-ttl", "1", "--max-ttl", "1", "--stale-max", "1")
        # Serve nodes are DHT nodes too: the key is chosen so that neither B holds the item
        # (their IDs are not among the 12 closest to its target), or it would not be gone.
        key = grind_key_away_from(tmp_path, sw, [b, b_short], 12)
        name = key.name("www")
        seq = publish(swarmdns_bin, a, key, ZONE1)
        target = mutable_target(key.pub)
        with KrpcClient(read_only=True) as c:
            for n in (b, b_short):
                r = raw_get(c, n.dht_port(), target)
                assert r is not None and b"v" not in r, f"serve node holds the item: {r}"
        for n in (b, b_short):
            assert wait_until(lambda: rdatas(ask(n, name), "A") == ["192.0.2.2"], ANSWER_WITHIN), \
                describe_resp(ask(n, name))
        t_cached = time.monotonic()
        a.stop()
        sw.testnet_stopped_on_purpose = True
        sw.testnet.stop()
        time.sleep(max(0.0, 1.3 - (time.monotonic() - t_cached)))

        t0 = time.monotonic()
        r = ask(b, name, timeout=10)
        took = time.monotonic() - t0
        assert r is not None, f"no answer from B within 10 s\n{b.stderr_tail()}"
        assert r.rcode() == dns.rcode.NOERROR and rdatas(r, "A") == ["192.0.2.2"], (
            f"B did not serve the expired zone stale: {describe_resp(r)}\n{b.stderr_tail()}")
        assert all(rr.ttl <= 30 for rr in r.answer), f"stale TTL above 30: {describe_resp(r)}"
        assert any(c == EDE_STALE for c, _ in ede_of(r)), (
            f"no EDE 3 (Stale Answer) on a stale answer: {describe_resp(r)}")
        res = dig(b.dns_port, name, "A", timeout=10)
        assert res.status == "NOERROR" and res.rdata("A") == ["192.0.2.2"], str(res)
        assert any(c == EDE_STALE for c, _ in res.ede), f"dig shows no EDE 3:\n{res}"
        j = resolve_api(b, name)
        assert j["source"] == "stale" and j["seq"] == seq, j
        assert (j.get("ede") or {}).get("code") == EDE_STALE, j
        print(f"stale answer after {took * 1000:.0f} ms (the DHT lookup to the stopped "
              f"testnet had to fail first)")

        # stale-max 1: the expired zone may be served stale for 1 s only; later, a failure.
        time.sleep(max(0.0, 2.5 - (time.monotonic() - t_cached)))
        r = ask(b_short, name, timeout=10)
        assert r is not None, b_short.stderr_tail()
        assert r.rcode() == dns.rcode.SERVFAIL and not r.answer and ede_of(r), (
            f"stale-max 1: the zone expired over 1 s ago and the DHT is gone, expected "
            f"SERVFAIL with an EDE: {describe_resp(r)}")
    finally:
        errors = sw.stop()
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


# --------------------------------------------------------------------------------------------
# Forged and older items


FORGED_ADDR = "203.0.113.66"
OLDER_ADDR = "203.0.113.77"


def test_forged_and_older_items_put_into_testnet_nodes_are_refused(swarm, nodes, tmp_path):
    """A raw KRPC peer puts a forged item (bad signature, higher seq) to every testnet node and
    an older item (lower seq, good signature) to the nodes that hold the zone: 206 and 302."""
    key = new_key(tmp_path)
    name = key.name("www")
    seq = publish(swarm.binary, swarm.a, key, ZONE1)
    target = mutable_target(key.pub)
    forged = zone_packet(key.origin, [("www", "A", FORGED_ADDR)])
    older = zone_packet(key.origin, [("www", "A", OLDER_ADDR)])
    bad_sig = bytearray(sign_item(key.seed, seq + 1000, forged))
    bad_sig[10] ^= 0x40
    holders = []
    with KrpcClient(read_only=True) as c:
        for p in swarm.ports:
            r = raw_get(c, p, target)
            if r is not None and b"v" in r:
                assert r[b"seq"] == seq, f"testnet {p} holds seq {r[b'seq']}, published {seq}"
                holders.append(p)
        assert holders, "no testnet node holds the published zone"
        refused, silent = [], []
        for p in swarm.ports:
            sent, raw, m = raw_put(c, p, key.pub, seq + 1000, bytes(bad_sig), forged, target)
            if m is None:
                silent.append(p)  # no KRPC answer at all (see the note in the report)
                continue
            assert m.get(b"y") == b"e" and m[b"e"][0] == 206, (
                f"forged put to testnet {p}: expected error 206, got {raw!r}")
            refused.append(p)
        assert len(refused) >= N_TESTNET - 2, f"206 from {refused}; no answer from {silent}"
        for p in holders:
            sig = sign_item(key.seed, seq - 1, older)
            sent, raw, m = raw_put(c, p, key.pub, seq - 1, sig, older, target)
            assert m is not None and m.get(b"y") == b"e" and m[b"e"][0] == 302, (
                f"older put to testnet {p} (holds {seq}): expected error 302, got {raw!r}")
        for p in holders:
            r = raw_get(c, p, target)
            assert r[b"seq"] == seq and bep44_verify(key.pub, r[b"sig"], r[b"seq"],
                                                     bencode(r[b"v"])), r
    b = nodes()
    r = ask(b, name, timeout=5)
    assert rdatas(r, "A") == ["192.0.2.2"], describe_resp(r)


def _attach_fake(swarm, nodes, tmp_path, b_args=()):
    """A fresh B bootstrapped from a fake DHT node F and the testnet; a zone published at A
    whose target is close to B's node ID, and F's ID next to that target, so that F is the
    node B asks first in its lookup. Returns (b, fake, key, seq, B's DHT port)."""
    fake = FakeDhtNode(node_id=None)  # silent until it knows which ID to take
    try:
        b = nodes(*b_args, bootstrap=[fake.port, swarm.testnet.base])
        b_id = bytes.fromhex(b.status()["dht"]["node_id"])
        key = grind_key_near(tmp_path, b_id, bits=10)
        target = mutable_target(key.pub)
        fid = target[:19] + bytes([target[19] ^ 1])
        fake.set(node_id=fid, nodes=swarm.ids())
        b_dht = b.dht_port()
        before = b.status()["dht"]["routing_table"]
        fake.ping(b_dht)  # B puts F in its routing table (a deep bucket: room)
        wait_until(lambda: b.status()["dht"]["routing_table"] > before, 2.0)
        seq = publish(swarm.binary, swarm.a, key, ZONE1)
        return b, fake, key, seq, b_dht
    except BaseException:
        fake.close()
        raise


@pytest.mark.parametrize("kind", ["forged", "older"])
def test_fake_dht_node_serving_forged_or_older_item_to_fresh_b(swarm, nodes, tmp_path, kind):
    """F answers B's `get` at once with a forged item (bad signature, seq + 1000) or an older
    one (good signature, seq - 1); the testnet has the published one. B serves only that."""
    b, fake, key, seq, b_dht = _attach_fake(swarm, nodes, tmp_path, ("--min-ttl", "1",
                                                                      "--max-ttl", "1"))
    try:
        target = mutable_target(key.pub)
        if kind == "forged":
            bad_seq, addr = seq + 1000, FORGED_ADDR
            packet = zone_packet(key.origin, [("www", "A", addr)])
            sig = bytearray(sign_item(key.seed, bad_seq, packet))
            sig[0] ^= 1
            sig = bytes(sig)
        else:
            bad_seq, addr = seq - 1, OLDER_ADDR
            packet = zone_packet(key.origin, [("www", "A", addr)])
            sig = sign_item(key.seed, bad_seq, packet)
        assert bep44_verify(key.pub, sig, bad_seq, bencode(packet)) == (kind == "older")
        fake.set(items={target: {"k": key.pub, "seq": bad_seq, "sig": sig, "v": packet}})
        name = key.name("www")
        t0 = time.monotonic()
        for i in range(3):
            r = ask(b, name, timeout=5)
            assert rdatas(r, "A") == ["192.0.2.2"], (
                f"query {i + 1}: B served {rdatas(r, 'A')} ({kind} item of seq {bad_seq} from "
                f"the fake node; the DHT holds seq {seq} with 192.0.2.2)\n{describe_resp(r)}\n"
                f"/v1/resolve: {resolve_api(b, name)}\nfake node's queries:\n"
                f"{fake.queries_text()}\n{b.stderr_tail()}")
            j = resolve_api(b, name)
            assert j["seq"] == seq and j["signature"] == "valid", j
            time.sleep(1.1)  # the cache entry (TTL 1) ends: the next query looks up again
        gets = fake.gets_for(target, t0, from_port=b_dht)
        assert gets, ("the fake node was never asked for the item by B, the test shows "
                      f"nothing: its queries:\n{fake.queries_text()}")
    finally:
        fake.close()


def test_older_item_from_fake_node_never_replaces_cached_zone(swarm, nodes, tmp_path):
    """B caches the published zone (F has nothing yet); then F serves an older item with a
    good signature and B's cache ends: B must not roll back."""
    b, fake, key, seq, b_dht = _attach_fake(swarm, nodes, tmp_path, ("--min-ttl", "1",
                                                                      "--max-ttl", "1"))
    try:
        target = mutable_target(key.pub)
        name = key.name("www")
        r = ask(b, name, timeout=5)
        assert rdatas(r, "A") == ["192.0.2.2"], describe_resp(r)
        packet = zone_packet(key.origin, [("www", "A", OLDER_ADDR)])
        fake.set(items={target: {"k": key.pub, "seq": seq - 1,
                                 "sig": sign_item(key.seed, seq - 1, packet), "v": packet}})
        t0 = time.monotonic()
        for i in range(3):
            time.sleep(1.1)
            r = ask(b, name, timeout=5)
            assert rdatas(r, "A") == ["192.0.2.2"], (
                f"refetch {i + 1}: B rolled back to the older item: {describe_resp(r)}\n"
                f"{resolve_api(b, name)}")
            j = resolve_api(b, name)
            assert j["seq"] == seq, j
        assert fake.gets_for(target, t0, from_port=b_dht), (
            f"the fake node was never asked: the test shows nothing\n{fake.queries_text()}")
    finally:
        fake.close()


# --------------------------------------------------------------------------------------------
# Names: delegation, CNAME, roots, key-suffix, depth


def test_delegation_cname_root_and_key_suffix(swarm, nodes, tmp_path):
    alice = new_key(tmp_path)
    reg = new_key(tmp_path)
    publish(swarm.binary, swarm.a, alice, "www 300 IN A 192.0.2.55\n@ 300 IN A 192.0.2.56\n")
    publish(swarm.binary, swarm.a, reg,
            f"alice 300 IN NS {alice.origin}\n"
            f"bob 300 IN CNAME www.{alice.origin}\n"
            "@ 300 IN A 192.0.2.57\n")
    b = nodes("--root", f"p2p={reg.z32}", "--key-suffix", "key")
    cases = [
        (f"www.alice.{reg.origin}", "192.0.2.55"),  # NS delegation to alice's key
        (f"alice.{reg.origin}", "192.0.2.56"),      # the delegated apex
        ("www.alice.p2p.", "192.0.2.55"),            # root p2p=<registry>
        ("p2p.", "192.0.2.57"),                      # the root's apex
        (f"www.{alice.z32}.key.", "192.0.2.55"),     # key-suffix key
    ]
    failures = []
    for name, want in cases:
        r = ask(b, name, timeout=5)
        got = rdatas(r, "A", owner=name)
        if r is None or r.rcode() != dns.rcode.NOERROR or got != [want]:
            failures.append(f"{name}: expected A {want} owned by {name}, got "
                            f"{describe_resp(r)}")
    assert not failures, "\n".join(failures) + "\n" + b.stderr_tail()
    # dig sees the asked name as the owner, too.
    res = dig(b.dns_port, "www.alice.p2p.", "A")
    assert res.answers and res.answers[0][0] == "www.alice.p2p." and \
        res.rdata("A") == ["192.0.2.55"], str(res)
    # A CNAME whose target is a key name is followed into that zone.
    r = ask(b, f"bob.{reg.origin}", timeout=5)
    assert rdatas(r, "CNAME") == [f"www.{alice.origin}"] and \
        rdatas(r, "A", owner=f"www.{alice.origin}") == ["192.0.2.55"], describe_resp(r)
    j = resolve_api(b, f"bob.{reg.origin}")
    assert j["rcode"] == "NOERROR" and j["zone"] == alice.z32 and j["hops"] >= 1, json.dumps(j)
    j = resolve_api(b, "www.alice.p2p.")
    assert j["rcode"] == "NOERROR" and j["zone"] == alice.z32, json.dumps(j)
    assert j["hops"] >= 1, f"an NS delegation is a hop: {json.dumps(j)}"


def test_delegation_depth_limit(swarm, nodes, tmp_path):
    loop = new_key(tmp_path)
    publish(swarm.binary, swarm.a, loop, f"a 300 IN NS {loop.origin}\n@ 300 IN A 192.0.2.77\n")
    b = nodes()
    ok = ask(b, "a.a.a." + loop.origin, timeout=5)
    assert rdatas(ok, "A") == ["192.0.2.77"], describe_resp(ok)
    deep = "a." * 12 + loop.origin
    r = ask(b, deep, timeout=5)
    assert r is not None and r.rcode() == dns.rcode.SERVFAIL, describe_resp(r)
    assert any("too deep" in t for _, t in ede_of(r)), describe_resp(r)


# --------------------------------------------------------------------------------------------
# The pkarr vector through the DHT


def test_pkarr_vector_put_with_raw_krpc_resolves_at_another_node(swarm, nodes, vectors):
    v = vectors["pkarr_packet"]
    body = bytes.fromhex(v["relay_body"])
    sig, seq, packet = split_relay(body)
    pk = bytes.fromhex(v["public_key"])
    z32 = v["z32"]
    target = mutable_target(pk)
    assert target.hex() == v["target"] and seq == v["seq"] and sig.hex() == v["sig"]
    assert verify_relay(pk, body)
    stored = []
    with KrpcClient(read_only=True) as c:
        for p in swarm.ports:
            sent, raw, m = raw_put(c, p, pk, seq, sig, packet, target)
            if m is not None and m.get(b"y") == b"r":
                stored.append(p)
    assert len(stored) >= 8, f"only {stored} of the testnet stored the vector"
    b = nodes()
    r = ask(b, f"www.{z32}.", "A", timeout=5)
    assert rdatas(r, "A") == ["1.2.3.4"], describe_resp(r) + "\n" + b.stderr_tail()
    r = ask(b, f"_hello.{z32}.", "TXT", timeout=5)
    assert rdatas(r, "TXT") == ['"world"'], describe_resp(r)
    j = resolve_api(b, f"www.{z32}.")
    assert j["zone"] == z32 and j["seq"] == seq and j["signature"] == "valid", j
    res = dig(b.dns_port, f"_hello.{z32}.", "TXT")
    assert res.rdata("TXT") == ['"world"'], str(res)


# --------------------------------------------------------------------------------------------
# /v1/resolve and swarmdns resolve


def test_api_and_cli_resolve_show_dht_then_cache(swarm, nodes, tmp_path):
    key = new_key(tmp_path)
    seq = publish(swarm.binary, swarm.a, key, ZONE1)
    name = key.name("www")
    b = nodes()
    j1 = resolve_api(b, name)
    assert j1["source"] == "dht", j1
    j2 = resolve_api(b, name)
    assert j2["source"] == "cache", j2
    for j in (j1, j2):
        assert j["name"] == name and j["type"] == "A" and j["rcode"] == "NOERROR", j
        assert j["zone"] == key.z32 and j["seq"] == seq and j["signature"] == "valid", j
        assert len(j["answer"]) == 1 and "192.0.2.2" in j["answer"][0], j
        assert isinstance(j["dht_nodes"], int) and j["dht_nodes"] >= 1, j
        assert isinstance(j["elapsed_ms"], int) and j["hops"] == 0, j
    # At the publisher, the zone is its own.
    ja = resolve_api(swarm.a, name)
    assert ja["source"] == "local" and ja["seq"] == seq, ja

    c = nodes()
    cp = run_cli(swarm.binary, "resolve", "--api", c.api_url, name, "A")
    assert cp.returncode == 0, describe(cp)
    assert re.search(r"^;; source\s+dht$", cp.stdout, re.M), cp.stdout
    assert re.search(rf"^;; zone\s+{key.z32}$", cp.stdout, re.M), cp.stdout
    assert re.search(rf"^;; seq\s+{seq}$", cp.stdout, re.M), cp.stdout
    assert re.search(r"^;; signature\s+valid$", cp.stdout, re.M), cp.stdout
    assert "192.0.2.2" in cp.stdout, cp.stdout
    cp = run_cli(swarm.binary, "resolve", "--api", c.api_url, name, "TXT")
    assert cp.returncode == 0, describe(cp)
    assert re.search(r"^;; source\s+cache$", cp.stdout, re.M) and '"first"' in cp.stdout, \
        cp.stdout
    cp = run_cli(swarm.binary, "resolve", "--json", "--api", c.api_url, name)
    assert cp.returncode == 0, describe(cp)
    j = json.loads(cp.stdout)
    assert j["source"] == "cache" and j["seq"] == seq, j

    # A failure says why.
    never = new_key(tmp_path).name("www")
    jf = resolve_api(c, never)
    assert jf["rcode"] == "SERVFAIL" and jf["source"] == "none", jf
    assert jf["ede"]["text"] == "zone not found in the DHT", jf


# --------------------------------------------------------------------------------------------
# Fallback: ordinary names through Knot DNS and NSD


BIG_TXT = 12  # 12 TXT records of ~155 bytes: an answer of ~2,000 bytes


def _knot_zone():
    lines = ["$ORIGIN example.test.", "$TTL 300",
             "@ SOA ns.example.test. admin.example.test. 1 3600 600 86400 300",
             "@ NS ns.example.test.", "ns A 127.0.0.1", "www A 192.0.2.80",
             "other A 192.0.2.81", "third A 192.0.2.82"]
    lines += [f'big TXT "{i:02d}' + "x" * 150 + '"' for i in range(BIG_TXT)]
    return "\n".join(lines) + "\n"


NSD_ZONE = """$ORIGIN corp.test.
$TTL 300
@ SOA ns.corp.test. admin.corp.test. 1 3600 600 86400 300
@ NS ns.corp.test.
ns A 127.0.0.1
www A 198.51.100.7
"""


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory):
    if not have(Knot.binary) or not have(Nsd.binary):
        pytest.skip("knotd or nsd is not installed")
    base = tmp_path_factory.mktemp("upstreams")
    knot = Knot(base / "knot", free_port(), {"example.test": _knot_zone()})
    nsd = Nsd(base / "nsd", free_port(), {"corp.test": NSD_ZONE})
    try:
        knot.start()
        nsd.start()
        yield knot, nsd
    finally:
        knot.stop()
        nsd.stop()


@pytest.fixture
def fwd_node(swarmdns_bin, tmp_path):
    """fwd_node(*extra_args): a node off the DHT (bootstrap none) for ordinary names."""
    made = []

    def make(*extra):
        d = tmp_path / f"fwd{len(made)}"
        d.mkdir()
        n = ResolveNode(swarmdns_bin, d, tmp_path, extra_args=list(map(str, extra)))
        made.append(n)
        return n.start()

    yield make
    errors = finish_all(made)
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


def test_ordinary_names_resolve_through_knot(upstreams, fwd_node, tmp_path):
    knot, _ = upstreams
    n = fwd_node("--upstream", f"127.0.0.1:{knot.port}")
    res = dig(n.dns_port, "www.example.test.", "A")
    assert res.status == "NOERROR" and res.rdata("A") == ["192.0.2.80"], (
        f"an ordinary name through swarmdns with Knot DNS as upstream:\n{res}\n"
        + n.stderr_tail())
    r = ask(n, "nothere.example.test.", timeout=3)
    assert r is not None and r.rcode() == dns.rcode.NXDOMAIN, describe_resp(r)
    j = resolve_api(n, "www.example.test.")
    assert j["source"] == "upstream" and j["rcode"] == "NOERROR", j
    # Key names are never sent upstream (Knot would answer REFUSED for them).
    never = new_key(tmp_path).name("www")
    r = ask(n, never, timeout=5)
    assert r is not None and r.rcode() in (dns.rcode.SERVFAIL, dns.rcode.NXDOMAIN) \
        and ede_of(r), describe_resp(r)
    # swarmdns recursed for the client (a forwarding resolver, as Unbound or Knot Resolver):
    # RA=1 on the forwarded answer, or dig warns "recursion requested but not available".
    res = dig(n.dns_port, "third.example.test.", "A")
    assert res.status == "NOERROR" and "ra" in res.flags, (
        f"forwarded answer without RA (the upstream's flags passed through):\n{res}")


def test_large_upstream_answer_comes_back_complete_tc_then_tcp(upstreams, fwd_node):
    knot, _ = upstreams
    direct = dig(knot.port, "big.example.test.", "TXT")
    assert len(direct.rdata("TXT")) == BIG_TXT and direct.truncated_retry, str(direct)
    n = fwd_node("--upstream", f"127.0.0.1:{knot.port}")
    # UDP with a 1,232-byte payload: TC=1 (the answer does not fit).
    q = dns.message.make_query("big.example.test.", "TXT", use_edns=0, payload=1232)
    r = dns.query.udp(q, "127.0.0.1", port=n.dns_port, timeout=3, ignore_trailing=True)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.TC, (
        f"expected TC=1 over UDP for a ~2,000-byte answer: {describe_resp(r)}\n"
        + n.stderr_tail())
    # dnspython's UDP-then-TCP.
    r, used_tcp = dns.query.udp_with_fallback(q, "127.0.0.1", port=n.dns_port, timeout=3)
    assert used_tcp and r.rcode() == dns.rcode.NOERROR, describe_resp(r)
    assert len(rdatas(r, "TXT")) == BIG_TXT, describe_resp(r)
    assert len(r.to_wire()) > 1232
    # dig without +ignore retries over TCP by itself.
    res = dig(n.dns_port, "big.example.test.", "TXT", timeout=3)
    assert res.truncated_retry and res.status == "NOERROR" and \
        len(res.rdata("TXT")) == BIG_TXT, str(res)
    assert sorted(res.rdata("TXT")) == sorted(direct.rdata("TXT")), str(res)


@pytest.mark.parametrize("dead", ["silent", "closed"])
def test_dead_first_upstream_fails_over_to_second_within_1s(upstreams, fwd_node, dead):
    knot, _ = upstreams
    port = free_port()
    hole = BlackHole(port) if dead == "silent" else None
    try:
        n = fwd_node("--upstream", f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{knot.port}")
        for name, want in (("www.example.test.", "192.0.2.80"),
                           ("other.example.test.", "192.0.2.81")):
            t0 = time.monotonic()
            r = ask(n, name, timeout=3)
            took = time.monotonic() - t0
            assert r is not None and rdatas(r, "A") == [want], (
                f"{name} with a {dead} first upstream 127.0.0.1:{port}: {describe_resp(r)}\n"
                + n.stderr_tail())
            assert took <= 1.0, f"{name}: failover took {took:.2f} s (must be within 1 s)"
    finally:
        if hole:
            hole.close()


def test_forward_sends_a_suffix_to_its_own_server(upstreams, fwd_node):
    knot, nsd = upstreams
    n = fwd_node("--upstream", f"127.0.0.1:{knot.port}",
                 "--forward", f"corp.test=127.0.0.1:{nsd.port}")
    res = dig(n.dns_port, "www.corp.test.", "A")
    assert res.status == "NOERROR" and res.rdata("A") == ["198.51.100.7"], (
        f"corp.test should go to NSD (Knot does not serve it):\n{res}\n" + n.stderr_tail())
    res = dig(n.dns_port, "www.example.test.", "A")
    assert res.status == "NOERROR" and res.rdata("A") == ["192.0.2.80"], str(res)
    # Only NSD serves corp.test: through Knot it would be REFUSED.
    direct = dig(knot.port, "www.corp.test.", "A")
    assert direct.status == "REFUSED", str(direct)


def test_failures_carry_an_ede_no_dht_peers_and_upstream_failed(fwd_node, tmp_path):
    """A node off the DHT (bootstrap none) cannot look a key name up: SERVFAIL, EDE 'no DHT
    peers'. With its only upstream dead, an ordinary name: SERVFAIL, EDE 'upstream failed'."""
    port = free_port()
    hole = BlackHole(port)
    try:
        n = fwd_node("--upstream", f"127.0.0.1:{port}")
        r = ask(n, new_key(tmp_path).name("www"), timeout=10)
        assert r is not None and r.rcode() == dns.rcode.SERVFAIL, describe_resp(r)
        assert any(t == "no DHT peers" for _, t in ede_of(r)), describe_resp(r)
        t0 = time.monotonic()
        r = ask(n, "www.example.test.", timeout=10)
        took = time.monotonic() - t0
        assert r is not None, f"no answer within 10 s with a dead upstream\n{n.stderr_tail()}"
        assert r.rcode() == dns.rcode.SERVFAIL and \
            any(t == "upstream failed" for _, t in ede_of(r)), describe_resp(r)
        print(f"SERVFAIL 'upstream failed' after {took * 1000:.0f} ms")
    finally:
        hole.close()
