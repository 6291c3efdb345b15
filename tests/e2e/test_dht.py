"""The DHT node against an independent peer: python3-libtorrent, all on 127.0.0.1 (issue 3).

A mixed swarm, shared by the tests of this module: a `swarmdns testnet -n 8` process (8
swarmdns DHT nodes), two `swarmdns serve` nodes joined to it (one to publish through, one to
look up through its API) and 8 libtorrent sessions bootstrapped from the testnet and from
each other.

  (a) an item put by swarmdns is returned by libtorrent's dht_get_mutable_item, signed;
  (b) an item put by libtorrent's dht_put_mutable_item is returned by swarmdns;
  (c) swarmdns nodes store libtorrent's puts, answer find_node / get_peers (raw KRPC from
      Python, libtorrent itself as the control), and libtorrent keeps them in its routing
      table and gets answers from them.

Keys are chosen (by trying seeds) so that the node closest to the item's target is a swarmdns
testnet node: which nodes must hold an item is then known, not left to chance.
"""
import json
import os
import re
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    z32encode,
)
from conftest import zone_packet as make_zone_packet
from dhtutil import (
    KrpcClient,
    LtSession,
    Testnet,
    bdecode,
    bencode,
    bep44_signed_buffer,
    bep44_verify,
    compact_addr,
    compact_nodes,
    expanded_secret_key,
    get_mutable_all,
    mutable_target,
    xor_distance,
)

lt = pytest.importorskip("libtorrent", reason="python3-libtorrent is not installed")

N_TESTNET = 8
N_LT = 8
BOOT_TIMEOUT = 20.0   # libtorrent and serve nodes filling their routing tables
LT_TIMEOUT = 20.0     # one libtorrent get or put
API_GET_TIMEOUT = 20.0


# --------------------------------------------------------------------------------------------
# The swarm


class Swarm:
    def __init__(self, binary, base):
        self.binary = binary
        self.base = base
        self.testnet = None
        self.serve = []   # [publisher, looker]
        self.lt = []
        self.ids = {}     # port -> (kind, node id)

    @property
    def pub_node(self) -> Node:
        return self.serve[0]

    @property
    def get_node(self) -> Node:
        return self.serve[1]

    @property
    def testnet_ports(self):
        return self.testnet.ports

    def swarmdns_ports(self):
        return set(self.testnet_ports) | {n.dht_port() for n in self.serve}

    def kind(self, port: int) -> str:
        if port in self.testnet_ports:
            return "swarmdns-testnet"
        if port in {s.port for s in self.lt}:
            return "libtorrent"
        return "swarmdns-serve"

    def learn_ids(self):
        """Node IDs of every member (raw KRPC ping, BEP 43 read-only so we stay out of tables)."""
        with KrpcClient(read_only=True) as c:
            for port in list(self.testnet_ports) + [s.port for s in self.lt] + [
                    n.dht_port() for n in self.serve]:
                _, raw, msg = c.query(port, "ping", {})
                assert msg is not None and msg.get(b"y") == b"r", (
                    f"no ping reply from {self.kind(port)} 127.0.0.1:{port}: {raw!r}\n"
                    f"{c.transcript_text()}")
                self.ids[port] = (self.kind(port), msg[b"r"][b"id"])
        return self.ids

    def closest(self, target: bytes, n: int = 8):
        """[(port, kind)] of the n members closest to target (XOR metric)."""
        ranked = sorted(self.ids.items(), key=lambda kv: xor_distance(kv[1][1], target))
        return [(port, kind) for port, (kind, _) in ranked[:n]]

    def grind_seed(self, min_lt_in_8=0, tries=5000) -> bytes:
        """A fresh seed whose item target is closest to a swarmdns testnet node (and has at
        least min_lt_in_8 libtorrent sessions among its 8 closest members)."""
        self.learn_ids()
        for _ in range(tries):
            seed = os.urandom(32)
            near = self.closest(mutable_target(public_key(seed)), 8)
            if near[0][1] == "swarmdns-testnet" and \
                    sum(k == "libtorrent" for _, k in near) >= min_lt_in_8:
                return seed
        raise AssertionError(f"no seed in {tries} tries whose target is closest to a "
                             f"testnet node; members: {self.ids}")

    def lt_logs(self, sessions=None, last=25) -> str:
        out = []
        for s in sessions or self.lt:
            out.append(f"--- libtorrent session 127.0.0.1:{s.port} (last alerts) ---\n"
                       + s.log_text(last))
        return "\n".join(out)


def wait_until(pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


@pytest.fixture(scope="module")
def swarm(swarmdns_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("dht-swarm")
    sw = Swarm(swarmdns_bin, base)
    try:
        sw.testnet = Testnet(swarmdns_bin, N_TESTNET, base, seconds=600).start()
        for i in range(2):
            d = base / f"serve{i}"
            d.mkdir()
            node = Node(swarmdns_bin, d, base, extra_args=[
                "--bootstrap", f"127.0.0.1:{sw.testnet.base}", "--dht-rate-limit", "100000"])
            sw.serve.append(node)
            node.start()
        for i in range(N_LT):
            s = LtSession(free_port())
            sw.lt.append(s)
            for p in sw.testnet_ports:
                s.add_node(p)
            for other in sw.lt[:-1]:
                s.add_node(other.port)

        def lt_ready():
            sizes = [s.routing_table_size(1.0) for s in sw.lt]
            return all(x is not None and x[0] >= 8 for x in sizes) and sizes

        sizes = wait_until(lt_ready, BOOT_TIMEOUT)
        assert sizes, ("libtorrent sessions did not get 8 nodes into their routing tables "
                       f"within {BOOT_TIMEOUT} s: {[s.routing_table_size(1.0) for s in sw.lt]}\n"
                       + sw.lt_logs(last=15) + "\n" + sw.testnet.log_tail())

        def serve_ready():
            return all(n.status()["dht"]["routing_table"] >= 8 for n in sw.serve)

        assert wait_until(serve_ready, BOOT_TIMEOUT), (
            "serve nodes did not fill their routing tables: "
            f"{[n.status()['dht'] for n in sw.serve]}\n"
            + "\n".join(n.stderr_tail() for n in sw.serve))
        sw.learn_ids()
        yield sw
    finally:
        for s in sw.lt:
            s.close()
        errors = finish_all(sw.serve)
        if sw.testnet is not None:
            died = sw.testnet.proc is not None and sw.testnet.proc.poll() is not None
            rc = sw.testnet.stop()
            if died:
                errors.append(f"the testnet process died during the tests (exit {rc})\n"
                              + sw.testnet.log_tail())
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


def zone_packet(z32: str, addr: str = "192.0.2.7", text: str = "put by libtorrent") -> bytes:
    """A pkarr-style zone packet (docs/design.md section 2): an A at the apex and a TXT."""
    return make_zone_packet(f"{z32}.", [("@", "A", addr), ("_lt", "TXT", f'"{text}"')])


def api_dht_get(node: Node, what: str, timeout: float = API_GET_TIMEOUT, want_seq=None):
    """GET /v1/dht/<what>, repeated until found (and with want_seq) or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        r = node.api("GET", f"/v1/dht/{what}", timeout=timeout)
        body = r.json() if r.body[:1] == b"{" else None
        done = r.status == 200 and body and body.get("found") and (
            want_seq is None or body.get("seq") == want_seq)
        if done or time.monotonic() >= deadline:
            return r, body
        time.sleep(0.3)


# --------------------------------------------------------------------------------------------
# The command line


def test_testnet_help(swarmdns_bin):
    cp = run_cli(swarmdns_bin, "testnet", "--help")
    assert cp.returncode == 0, describe(cp)
    for word in ("Usage: swarmdns testnet", "-n", "--base-port", "--seconds", "--bootstrap"):
        assert word in cp.stdout, f"{word!r} missing from `swarmdns testnet --help`:\n{cp.stdout}"


def test_dht_get_help(swarmdns_bin):
    cp = run_cli(swarmdns_bin, "dht", "get", "--help")
    assert cp.returncode == 0, describe(cp)
    for word in ("Usage: swarmdns dht get", "--api", "--json", "--immutable", "z32", "target"):
        assert word in cp.stdout, f"{word!r} missing from `swarmdns dht get --help`:\n{cp.stdout}"


def test_testnet_prints_ready_and_stops_after_seconds(swarmdns_bin, tmp_path):
    tn = Testnet(swarmdns_bin, 3, tmp_path, seconds=1)
    try:
        tn.start(timeout=10)
        assert f"127.0.0.1:{tn.base}" in tn.stdout, tn.stdout
        rc = tn.proc.wait(10)
        assert rc == 0, f"testnet --seconds 1 exited with {rc}\n{tn.log_tail()}"
    finally:
        tn.stop()


def test_publish_reports_dht_nodes_and_dht_get_from_other_node(swarm, tmp_path):
    key = key_from_seed(os.urandom(32), tmp_path / "cli.key")
    out = publish_zone(swarm.binary, swarm.pub_node, key,
                       "@ 300 IN A 192.0.2.10\nwww 300 IN TXT \"published\"\n")
    m = re.search(r"by (\d+) of (\d+) DHT nodes asked", out)
    assert m, f"publish did not report DHT nodes: {out!r}"
    stored, asked = int(m.group(1)), int(m.group(2))
    assert 1 <= stored <= asked, f"publish reported {stored} of {asked}: {out!r}\n" \
                                 + swarm.pub_node.stderr_tail()
    seq = int(re.search(r"seq (\d+)", out).group(1))

    cp = run_cli(swarm.binary, "dht", "get", "--api", swarm.get_node.api_url, key.z32,
                 timeout=API_GET_TIMEOUT + 5)
    assert cp.returncode == 0, describe(cp) + "\n" + swarm.get_node.stderr_tail()
    assert re.search(rf"^seq\s+{seq}$", cp.stdout, re.M), f"seq {seq} not printed:\n{cp.stdout}"
    assert re.search(r"^sig\s+[0-9a-f]{128} \(valid\)$", cp.stdout, re.M), cp.stdout
    assert key.z32 in cp.stdout
    assert re.search(r"^record\s+.*192\.0\.2\.10", cp.stdout, re.M), cp.stdout
    assert re.search(r"^from\s+127\.0\.0\.1:\d+$", cp.stdout, re.M), cp.stdout

    cp = run_cli(swarm.binary, "dht", "get", "--json", "--api", swarm.get_node.api_url,
                 key.z32, timeout=API_GET_TIMEOUT + 5)
    assert cp.returncode == 0, describe(cp)
    j = json.loads(cp.stdout)
    assert j["found"] is True and j["seq"] == seq and j["key"] == key.z32, j
    assert j["target"] == mutable_target(key.pub).hex(), j


# --------------------------------------------------------------------------------------------
# (a) swarmdns puts, libtorrent gets


@pytest.fixture(scope="module")
def sw_item(swarm, tmp_path_factory):
    """A zone published through `swarmdns publish` to the first serve node: (key, seq, sig,
    packet, publish stdout). Its target is closest to a testnet node."""
    d = tmp_path_factory.mktemp("sw-item")
    key = key_from_seed(swarm.grind_seed(min_lt_in_8=3), d / "a.key")
    out = publish_zone(swarm.binary, swarm.pub_node, key,
                       "@ 300 IN A 192.0.2.1\nwww 300 IN TXT \"put by swarmdns\"\n")
    r = swarm.pub_node.api("GET", f"/{key.z32}")
    assert r.status == 200, f"GET /{key.z32} from the publishing node: {r.status} {r.body!r}"
    sig, seq, packet = split_relay(r.body)
    return key, seq, sig, packet, out


def test_a_libtorrent_gets_item_put_by_swarmdns(swarm, sw_item):
    key, seq, sig, packet, out = sw_item
    m = re.search(r"by (\d+) of (\d+) DHT nodes asked", out)
    assert m and int(m.group(1)) >= 1, f"swarmdns publish stored it nowhere: {out!r}"
    v_bencoded = b"%d:" % len(packet) + packet
    failures = []
    got = get_mutable_all(swarm.lt, key.pub, b"", timeout=LT_TIMEOUT, want_seq=seq)
    for s in swarm.lt:
        a = got[s.port]
        if a is None:
            failures.append(f"session {s.port}: no dht_mutable_item alert within {LT_TIMEOUT} s"
                            + ("" if failures else f"\n{s.log_text(30)}"))
            continue
        problems = []
        if a.get("seq") != seq:
            problems.append(f"seq {a.get('seq')} != {seq}")
        if a.get("value") != packet:
            problems.append(f"value {a.get('value')!r} != packet {packet!r}")
        if a.get("signature") != sig:
            problems.append(f"signature {a.get('signature', b'').hex()} != {sig.hex()}")
        if not bep44_verify(key.pub, a.get("signature", b""), a.get("seq", -1),
                            bencode(a.get("value", b""))):
            buf = bep44_signed_buffer(a.get("seq", -1), bencode(a.get("value", b"")))
            problems.append(f"signature does not verify over {buf!r}")
        if problems:
            failures.append(f"session {s.port}: " + "; ".join(problems) + f"\nalert: {a}")
    assert not failures, "\n".join(failures)
    # The signature verifies with an independent Ed25519 over the BEP 44 buffer.
    assert bep44_verify(key.pub, sig, seq, v_bencoded)


def test_a_libtorrent_get_answered_by_swarmdns_nodes(swarm, sw_item):
    """libtorrent's own `get` queries to swarmdns testnet nodes were answered (its DHT log),
    and a testnet node holds swarmdns's item (raw KRPC get)."""
    key, seq, sig, packet, _ = sw_item
    s = swarm.lt[0]
    s.log.clear()
    a = s.get_mutable(key.pub, b"", timeout=LT_TIMEOUT)
    assert a is not None and a.get("seq") == seq, f"libtorrent get: {a}\n{s.log_text(40)}"
    answered = set()
    for what, msg in s.log:
        m = re.search(r"RESPONSE id: [0-9a-f]+ .*addr: 127\.0\.0\.1:(\d+) type: get\b", msg)
        if m and int(m.group(1)) in swarm.testnet_ports:
            answered.add(int(m.group(1)))
    assert answered, ("libtorrent's get got no RESPONSE from a swarmdns testnet node "
                      f"{swarm.testnet_ports}; its DHT log:\n{s.log_text(60)}")


def test_a_libtorrent_nodes_store_swarmdns_put(swarm, sw_item):
    """swarmdns's put was accepted by libtorrent nodes: those among the 8 closest to the
    target return the item to a raw KRPC get (and swarmdns testnet nodes too)."""
    key, seq, sig, packet, out = sw_item
    target = mutable_target(key.pub)
    near = swarm.closest(target, 8)
    lt_near = [p for p, k in near if k == "libtorrent"]
    holders = {}
    with KrpcClient(read_only=True) as c:
        for port in lt_near + list(swarm.testnet_ports):
            sent, raw, msg = c.query(port, "get", {"target": target})
            assert msg is not None and msg.get(b"y") == b"r", (
                f"get to {swarm.kind(port)} {port}: sent {sent!r}, got {raw!r}")
            r = msg[b"r"]
            if b"v" in r:
                assert (r[b"v"], r[b"seq"], r[b"sig"], r[b"k"]) == (packet, seq, sig, key.pub), raw
                holders[port] = swarm.kind(port)
    lt_holders = [p for p in holders if holders[p] == "libtorrent"]
    tn_holders = [p for p in holders if holders[p] == "swarmdns-testnet"]
    assert lt_holders, (
        f"no libtorrent session among the 8 closest ({lt_near}) stored swarmdns's put; "
        f"holders {holders}; 8 closest {near}; publish said {out!r}\n"
        + swarm.pub_node.stderr_tail(6000))
    assert near[0][0] in tn_holders, (
        f"the closest node {near[0]} does not hold swarmdns's item; holders {holders}\n"
        + swarm.pub_node.stderr_tail(6000))


# --------------------------------------------------------------------------------------------
# (b) libtorrent puts, swarmdns gets


@pytest.fixture(scope="module")
def lt_item(swarm):
    """An item put by libtorrent's dht_put_mutable_item (its own signature and seq): a zone
    packet for a key whose target is closest to a testnet node. (seed, pk, z32, packet, alert)"""
    seed = swarm.grind_seed()
    pk = public_key(seed)
    z32 = z32encode(pk)
    packet = zone_packet(z32)
    s = swarm.lt[1]
    a = s.put_mutable(expanded_secret_key(seed), pk, packet, b"", timeout=LT_TIMEOUT)
    assert a is not None, (f"libtorrent posted no dht_put alert within {LT_TIMEOUT} s\n"
                           + s.log_text(40))
    assert a.get("num_success", 0) >= 1, f"libtorrent's put stored nowhere: {a}\n{s.log_text(40)}"
    return seed, pk, z32, packet, a


def test_b_swarmdns_gets_item_put_by_libtorrent(swarm, lt_item):
    seed, pk, z32, packet, put = lt_item
    seq = put["seq"]
    v_bencoded = bencode(packet)
    # libtorrent signed it with the expanded key; the signature verifies independently.
    assert bep44_verify(pk, put["signature"], seq, v_bencoded), put
    r, j = api_dht_get(swarm.get_node, z32, want_seq=seq)
    assert r.status == 200 and j and j.get("found") is True, (
        f"GET /v1/dht/{z32} on the serve node: {r.status} {r.body!r}\nlibtorrent's put: {put}\n"
        + swarm.lt[1].log_text(30) + "\n" + swarm.get_node.stderr_tail())
    assert j["seq"] == seq, j
    assert j["key"] == z32, j
    assert j["target"] == mutable_target(pk).hex(), j
    assert bytes.fromhex(j["v"]) == v_bencoded, (j["v"], v_bencoded.hex())
    assert j["signature"] == "valid", j
    assert bytes.fromhex(j["sig"]) == put["signature"], (j["sig"], put["signature"].hex())
    assert bep44_verify(pk, bytes.fromhex(j["sig"]), j["seq"], bytes.fromhex(j["v"]))
    assert any("192.0.2.7" in rec for rec in j.get("records", [])), j
    assert j["nodes"], j

    cp = run_cli(swarm.binary, "dht", "get", "--api", swarm.get_node.api_url, z32,
                 timeout=API_GET_TIMEOUT + 5)
    assert cp.returncode == 0, describe(cp)
    assert re.search(rf"^seq\s+{seq}$", cp.stdout, re.M), cp.stdout
    assert "(valid)" in cp.stdout, cp.stdout


def test_b_swarmdns_gets_newer_seq_put_by_libtorrent(swarm):
    """libtorrent's put reads the current item and puts seq+1; swarmdns then returns the new one."""
    seed = swarm.grind_seed()
    pk, z32 = public_key(seed), z32encode(public_key(seed))
    s = swarm.lt[2]
    first = s.put_mutable(expanded_secret_key(seed), pk, zone_packet(z32, "192.0.2.8"))
    assert first and first["num_success"] >= 1, f"{first}\n{s.log_text(30)}"
    r, j = api_dht_get(swarm.get_node, z32, want_seq=first["seq"])
    assert r.status == 200 and j["seq"] == first["seq"], (r.status, r.body)
    s2 = swarm.lt[3]
    second = s2.put_mutable(expanded_secret_key(seed), pk, zone_packet(z32, "192.0.2.9"))
    assert second and second["num_success"] >= 1, f"{second}\n{s2.log_text(30)}"
    assert second["seq"] == first["seq"] + 1, (
        f"libtorrent did not see seq {first['seq']} (stored on swarmdns nodes too) before "
        f"putting: it put seq {second['seq']}\n{s2.log_text(30)}")
    r, j = api_dht_get(swarm.get_node, z32, want_seq=second["seq"])
    assert r.status == 200 and j["seq"] == second["seq"], (
        f"swarmdns still returns {r.status} {r.body!r} after libtorrent's seq {second['seq']}")
    assert bytes.fromhex(j["v"]) == bencode(zone_packet(z32, "192.0.2.9"))


# --------------------------------------------------------------------------------------------
# (c) swarmdns nodes store libtorrent's puts and answer its queries


def test_c_swarmdns_testnet_nodes_store_libtorrent_put(swarm, lt_item):
    seed, pk, z32, packet, put = lt_item
    target = mutable_target(pk)
    closest = swarm.closest(target, 8)
    assert closest[0][1] == "swarmdns-testnet", closest
    holders, report = [], []
    with KrpcClient(read_only=True) as c:
        for port in swarm.testnet_ports:
            sent, raw, msg = c.query(port, "get", {"target": target})
            assert msg is not None, (f"testnet node {port} gave no (valid bencoded) reply to "
                                     f"get: sent {sent!r}, got {raw!r}")
            assert msg.get(b"y") == b"r", f"get to {port}: sent {sent!r}\nreply {raw!r}"
            r = msg[b"r"]
            assert len(r.get(b"id", b"")) == 20 and r.get(b"token"), raw
            report.append(f"{port}: {'v' if b'v' in r else 'nodes only'}")
            if b"v" in r:
                assert r[b"k"] == pk and r[b"seq"] == put["seq"], raw
                assert r[b"v"] == packet, raw
                assert bep44_verify(pk, r[b"sig"], r[b"seq"], bencode(r[b"v"])), raw
                holders.append(port)
    assert holders, ("no swarmdns testnet node returned libtorrent's item to a raw get: "
                     f"{report}; closest members to the target: {closest}; put alert: {put}\n"
                     + swarm.lt[1].log_text(40) + "\nlibtorrent's datagrams about it:\n"
                     + swarm.lt[1].packets_text(20, contains=target) + "\n"
                     + swarm.testnet.log_tail())
    # The testnet node closest to the target among all members must hold it (libtorrent puts
    # to the 8 closest nodes that gave it a token).
    assert closest[0][0] in holders, (
        f"the closest node to the target, testnet {closest[0][0]}, does not hold libtorrent's "
        f"item; holders: {holders}; closest: {closest}\n" + swarm.lt[1].log_text(40))
    # And swarmdns's own lookup names a testnet node among those that returned it.
    r, j = api_dht_get(swarm.get_node, z32, want_seq=put["seq"])
    assert r.status == 200, (r.status, r.body)
    ports = {int(n.rsplit(":", 1)[1]) for n in j["nodes"]}
    assert ports & set(swarm.testnet_ports), (
        f"swarmdns's get listed {j['nodes']}, none a testnet node {swarm.testnet_ports}")


def _check_reply_common(raw, msg, sent, client_port, what):
    assert msg is not None, f"{what}: no valid bencoded reply; sent {sent!r}, got {raw!r}"
    assert msg.get(b"y") == b"r", f"{what}: not a reply; sent {sent!r}, got {raw!r}"
    assert msg.get(b"t") == bdecode(sent)[b"t"], f"{what}: transaction id not echoed: {raw!r}"
    assert bencode(msg) == raw, f"{what}: reply is not canonical bencode: {raw!r}"
    r = msg.get(b"r")
    assert isinstance(r, dict) and len(r.get(b"id", b"")) == 20, f"{what}: r.id: {raw!r}"
    assert b"ip" in msg, f"{what}: no 'ip' (BEP 42) in the reply: {raw!r}"
    assert compact_addr(msg[b"ip"]) == ("127.0.0.1", client_port), (
        f"{what}: 'ip' says {compact_addr(msg[b'ip'])}, we are 127.0.0.1:{client_port}")
    return r


def _check_nodes(r, raw, what, swarm, min_nodes=1):
    assert b"nodes" in r, f"{what}: no 'nodes': {raw!r}"
    nodes = compact_nodes(r[b"nodes"])
    assert min_nodes <= len(nodes) <= 8, f"{what}: {len(nodes)} nodes: {nodes}"
    for nid, ip, port in nodes:
        assert ip == "127.0.0.1" and port > 0, f"{what}: bad node entry {(nid.hex(), ip, port)}"
        if port in swarm.ids:
            assert swarm.ids[port][1] == nid, (
                f"{what}: node 127.0.0.1:{port} listed with id {nid.hex()}, its id is "
                f"{swarm.ids[port][1].hex()}")
    return nodes


@pytest.mark.parametrize("who", ["swarmdns", "libtorrent"])
def test_c_find_node_reply(swarm, who):
    """swarmdns answers find_node as libtorrent (the control) does."""
    ports = swarm.testnet_ports[:4] if who == "swarmdns" else [s.port for s in swarm.lt[:2]]
    with KrpcClient(read_only=True) as c:
        for port in ports:
            for target in (os.urandom(20), swarm.ids[swarm.testnet_ports[-1]][1]):
                sent, raw, msg = c.query(port, "find_node", {"target": target})
                what = f"find_node to {who} 127.0.0.1:{port}"
                r = _check_reply_common(raw, msg, sent, c.port, what)
                assert r[b"id"] == swarm.ids[port][1], f"{what}: id changed: {raw!r}"
                nodes = _check_nodes(r, raw, what, swarm, min_nodes=4)
                # find_node returns the closest nodes it knows: an exact target it knows is
                # among them (unless it is the responder itself).
                last = swarm.testnet_ports[-1]
                if target == swarm.ids[last][1] and port != last:
                    assert target in [n[0] for n in nodes], (
                        f"{what}: target {target.hex()} (testnet {swarm.testnet_ports[-1]}) "
                        f"not among the returned nodes {[(n[0].hex(), n[2]) for n in nodes]}")


@pytest.mark.parametrize("who", ["swarmdns", "libtorrent"])
def test_c_get_peers_reply_and_announce(swarm, who):
    """get_peers gives a token and nodes; announce_peer with it is accepted; a second
    get_peers returns the announced peer in `values`."""
    ports = swarm.testnet_ports[:4] if who == "swarmdns" else [s.port for s in swarm.lt[:2]]
    with KrpcClient(read_only=True) as c:
        for port in ports:
            info_hash = os.urandom(20)
            what = f"get_peers to {who} 127.0.0.1:{port}"
            sent, raw, msg = c.query(port, "get_peers", {"info_hash": info_hash})
            r = _check_reply_common(raw, msg, sent, c.port, what)
            token = r.get(b"token")
            assert isinstance(token, bytes) and 1 <= len(token) <= 64, f"{what}: token: {raw!r}"
            assert b"values" not in r, f"{what}: values for a fresh info_hash: {raw!r}"
            _check_nodes(r, raw, what, swarm, min_nodes=4)

            peer_port = 40000 + port % 20000
            what = f"announce_peer to {who} 127.0.0.1:{port}"
            sent, raw, msg = c.query(port, "announce_peer", {
                "info_hash": info_hash, "port": peer_port, "token": token, "implied_port": 0})
            _check_reply_common(raw, msg, sent, c.port, what)

            what = f"second get_peers to {who} 127.0.0.1:{port}"
            sent, raw, msg = c.query(port, "get_peers", {"info_hash": info_hash})
            r = _check_reply_common(raw, msg, sent, c.port, what)
            assert r.get(b"token"), f"{what}: no token: {raw!r}"
            values = r.get(b"values")
            assert isinstance(values, list) and values, f"{what}: no 'values': {raw!r}"
            peers = [compact_addr(v) for v in values]
            assert ("127.0.0.1", peer_port) in peers, f"{what}: peers {peers}: {raw!r}"

            what = f"announce_peer with a bad token to {who} 127.0.0.1:{port}"
            sent, raw, msg = c.query(port, "announce_peer", {
                "info_hash": info_hash, "port": peer_port, "token": b"wrong-token"})
            assert msg is not None and msg.get(b"y") == b"e", f"{what}: {raw!r}"
            assert isinstance(msg[b"e"], list) and msg[b"e"][0] == 203, f"{what}: {raw!r}"


def test_c_libtorrent_routing_tables_hold_swarmdns_nodes(swarm):
    sw_ports = swarm.swarmdns_ports()
    report, missing = [], []
    union = set()
    for s in swarm.lt:
        own = swarm.ids.get(s.port, (None, None))[1]
        assert own, f"no id known for libtorrent session {s.port}"
        live = s.live_nodes(own)
        assert live is not None, f"no dht_live_nodes alert from {s.port}\n{s.log_text(20)}"
        ports = {ep[1] for _, ep in live if ep[0] == "127.0.0.1"}
        mine = ports & sw_ports
        union |= mine
        report.append(f"{s.port}: {len(live)} live nodes, swarmdns {sorted(mine)}")
        if not mine:
            missing.append(s.port)
        for nid, ep in live:
            if ep[1] in swarm.ids and swarm.ids[ep[1]][0] != "libtorrent":
                assert nid == swarm.ids[ep[1]][1], (
                    f"libtorrent {s.port} knows swarmdns {ep} with id {nid.hex()}, "
                    f"its id is {swarm.ids[ep[1]][1].hex()}")
    assert not missing, ("libtorrent sessions without any swarmdns node in their routing "
                         f"table: {missing}\n" + "\n".join(report))
    assert len(union & set(swarm.testnet_ports)) >= N_TESTNET // 2, "\n".join(report)
    # The serve nodes were never given to libtorrent: it learnt them through the DHT.
    serve_ports = {n.dht_port() for n in swarm.serve}
    assert union & serve_ports, (f"no libtorrent session knows a serve node {serve_ports}\n"
                                 + "\n".join(report))


def _raw_put_all(c, ports, pk, sign_seed, seq, value, target):
    """get (for a token) then put to every port; returns [(port, put reply)]."""
    out = []
    v_bencoded = bencode(value)
    sig = Ed25519PrivateKey.from_private_bytes(sign_seed).sign(bep44_signed_buffer(seq, v_bencoded))
    for port in ports:
        sent, raw, msg = c.query(port, "get", {"target": target})
        assert msg is not None and msg.get(b"y") == b"r", f"get to {port}: {sent!r} -> {raw!r}"
        token = msg[b"r"][b"token"]
        sent, raw, msg = c.query(port, "put", {"token": token, "k": pk, "seq": seq,
                                               "sig": sig, "v": value})
        out.append((port, sent, raw, msg))
    return out


def test_c_libtorrent_gets_item_only_swarmdns_nodes_hold(swarm):
    """An item put (raw KRPC) to the swarmdns testnet nodes only: every libtorrent session
    finds it, so its get is answered by swarmdns nodes."""
    seed = swarm.grind_seed()
    pk = public_key(seed)
    target = mutable_target(pk)
    packet = zone_packet(z32encode(pk), "192.0.2.99", "only on swarmdns")
    seq = int(time.time() * 1e6)
    with KrpcClient(read_only=True) as c:
        results = _raw_put_all(c, swarm.testnet_ports, pk, seed, seq, packet, target)
        for port, sent, raw, msg in results:
            assert msg is not None and msg.get(b"y") == b"r", (
                f"put to testnet {port} refused: sent {sent!r}\nreply {raw!r}")
    failures = []
    got = get_mutable_all(swarm.lt, pk, b"", timeout=LT_TIMEOUT, want_seq=seq)
    for s in swarm.lt:
        a = got[s.port]
        if a is None or a.get("seq") != seq or a.get("value") != packet:
            failures.append(f"session {s.port}: {a}" + ("" if failures else f"\n{s.log_text(30)}"))
    assert not failures, "\n".join(failures)


def test_c_put_errors_as_bep44_defines(swarm):
    """Error replies libtorrent understands: 206 bad signature, 302 lower seq, 205 too big."""
    seed = swarm.grind_seed()
    pk = public_key(seed)
    target = mutable_target(pk)
    port = swarm.closest(target, 1)[0][0]
    packet = zone_packet(z32encode(pk), "192.0.2.50")
    seq = int(time.time() * 1e6)
    with KrpcClient(read_only=True) as c:
        [(_, sent, raw, msg)] = _raw_put_all(c, [port], pk, seed, seq, packet, target)
        assert msg is not None and msg.get(b"y") == b"r", f"{sent!r} -> {raw!r}"

        def put(seq_, value, sig):
            _, _, m = c.query(port, "get", {"target": target})
            token = m[b"r"][b"token"]
            return c.query(port, "put", {"token": token, "k": pk, "seq": seq_, "sig": sig,
                                         "v": value})

        def sign(seq_, value):
            return Ed25519PrivateKey.from_private_bytes(seed).sign(
                bep44_signed_buffer(seq_, bencode(value)))

        cases = [
            ("bad signature", 206, seq + 1, packet, bytes(64)),
            ("lower seq", 302, seq - 1, packet, sign(seq - 1, packet)),
            ("v over 1000 bytes", 205, seq + 2, b"x" * 1001, sign(seq + 2, b"x" * 1001)),
        ]
        for name, code, seq_, value, sig in cases:
            sent, raw, m = put(seq_, value, sig)
            assert m is not None and m.get(b"y") == b"e", f"{name}: sent {sent!r}\nreply {raw!r}"
            e = m.get(b"e")
            assert (isinstance(e, list) and len(e) == 2 and e[0] == code
                    and isinstance(e[1], bytes)), f"{name}: expected [{code}, msg], got {raw!r}"
            assert m.get(b"t") == bdecode(sent)[b"t"], raw
        # The stored item is unchanged.
        _, raw, m = c.query(port, "get", {"target": target})
        assert m[b"r"].get(b"seq") == seq and m[b"r"].get(b"v") == packet, raw
