"""Joining the DHT when the network comes late (docs/design.md section 4 "Joining", section 11):
a node whose bootstrap is not there when it starts must join once it appears, on its own,
and say so in its log.

- By address: the node starts with `--bootstrap 127.0.0.1:P` where nothing listens; 5 s
  later a testnet starts on P. The node must have good routing-table nodes within 30 s of
  its start. Retrying a bootstrap ADDRESS is the DHT node's job (src/dht: with backoff while
  the table has no good node); with the DHT's older fixed 30 s re-bootstrap this test fails,
  as the first retry comes only at 30 s.
- By name: `--bootstrap localhost:P`, resolved through `--upstream`, a fake DNS server that
  answers SERVFAIL until the testnet is up and 127.0.0.1 after: the node resolves the name
  again (with backoff) and joins, and logs the failures and the join.
"""
import re
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from conftest import publish_zone
from dhtutil import Testnet, free_udp_range
from test_control import with_option
from upstreamutil import upstream_factory, with_upstream  # noqa: F401

LATE = 5.0  # seconds between the node's start and the testnet's
JOIN_WITHIN = 30.0  # seconds after the node's start
REPUT_WITHIN = 8.0  # seconds from joining until own zones are put into the DHT
TESTNET_NODES = 8


class LateTestnet(Testnet):
    """A Testnet on a base port chosen before it starts (the node's bootstrap points there)."""

    __test__ = False

    def __init__(self, *args, base: int, **kw):
        super().__init__(*args, **kw)
        self.fixed_base = base

    def start(self, timeout: float = 15.0, attempts: int = 1):
        self.base = self.fixed_base
        self.err = open(self.log_path, "ab")
        import subprocess

        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.err)
        ok, last = self._wait_ready(timeout)
        if not ok:
            self.stop()
            raise AssertionError(f"testnet on {self.base} not ready: {last!r}\n"
                                 f"{self.log_tail()}")
        return self


def with_bootstrap(node, value: str):
    """Replaces conftest's `--bootstrap none` (a repeated option would make a list)."""
    return with_option(node, "--bootstrap", value)


@pytest.fixture
def late_testnet(swarmdns_bin, tmp_path):
    made = []

    def make(base):
        t = LateTestnet(swarmdns_bin, TESTNET_NODES, tmp_path, seconds=90, base=base)
        made.append(t)
        return t

    yield make
    for t in made:
        t.stop()


def wait_joined(node, started: float, deadline: float):
    """Seconds from `started` until /v1/status shows good routing-table nodes, or None."""
    while time.monotonic() < deadline:
        if node.status()["dht"]["good_nodes"] > 0:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


# The DHT retries its bootstrap addresses with backoff (1 s doubling, at most 30 s) while the
# routing table has no good node (docs/design.md §4 "Joining"), so a bootstrap node that appears
# 5 s late is joined well within 30 s.
@pytest.mark.phase_timeout(90)
def test_joins_when_bootstrap_address_appears_late(swarmdns_bin, node_factory, late_testnet,
                                                   make_key):
    base = free_udp_range(TESTNET_NODES)
    node = with_bootstrap(node_factory(), f"127.0.0.1:{base}")
    started = time.monotonic()
    node.start()
    # A zone published while the node is offline (publish --local-ok) ...
    publish_zone(swarmdns_bin, node, make_key(), "www 300 IN A 192.0.2.7\n")
    dht = node.status()["dht"]
    assert dht["good_nodes"] == 0
    # What an operator sees while the network is not there yet: joining, not healthy.
    assert dht["state"] == "joining", dht
    assert node.api("GET", "/healthz").status == 503
    time.sleep(max(0.0, started + LATE - time.monotonic()))
    late_testnet(base).start()
    took = wait_joined(node, started, started + JOIN_WITHIN)
    assert took is not None, (
        f"no good DHT node {JOIN_WITHIN:.0f} s after the start (bootstrap up after "
        f"{LATE:.0f} s): {node.status()['dht']}\n{node.stderr_tail()}")
    print(f"joined {took:.1f} s after the start")
    time.sleep(1.5)  # the joiner looks once a second
    assert re.search(r"joined the DHT: \d+ nodes", node.stderr_text()), node.stderr_tail()
    dht = node.status()["dht"]
    assert dht["state"] == "joined" and dht["since"] >= int(time.time()) - JOIN_WITHIN, dht
    assert node.api("GET", "/healthz").status == 200
    # ... goes into the DHT within seconds of joining, not at the next hourly round.
    deadline = time.monotonic() + REPUT_WITHIN
    while time.monotonic() < deadline and \
            node.api("GET", "/v1/zones").json()["zones"][0]["republished"] is None:
        time.sleep(0.2)
    zones = node.api("GET", "/v1/zones").json()["zones"]
    assert zones[0]["republished"] is not None, (
        f"own zone not put into the DHT {REPUT_WITHIN:.0f} s after joining: {zones}")


@pytest.mark.phase_timeout(90)
def test_joins_when_bootstrap_name_resolves_late(node_factory, late_testnet, upstream_factory):
    base = free_udp_range(TESTNET_NODES)
    up_ready = threading.Event()
    asked = []

    def answer(q):
        asked.append(time.monotonic())
        r = dns.message.make_response(q)
        qname = q.question[0].name
        if q.question[0].rdtype != dns.rdatatype.A or qname.to_text().lower() != "localhost.":
            r.set_rcode(dns.rcode.NXDOMAIN)
        elif not up_ready.is_set():
            r.set_rcode(dns.rcode.SERVFAIL)
        else:
            r.answer.append(dns.rrset.from_text(qname, 60, "IN", "A", "127.0.0.1"))
        return r

    up = upstream_factory(delay=0.0, answer_fn=answer)
    node = with_upstream(with_bootstrap(node_factory(), f"localhost:{base}"), up.port)
    started = time.monotonic()
    node.start()
    time.sleep(max(0.0, started + LATE - time.monotonic()))
    late_testnet(base).start()
    up_ready.set()
    ready_at = time.monotonic() - started
    took = wait_joined(node, started, started + JOIN_WITHIN)
    assert took is not None, (
        f"no good DHT node {JOIN_WITHIN:.0f} s after the start (name resolvable after "
        f"{ready_at:.1f} s; asked at {[round(t - started, 1) for t in asked]})\n"
        f"{node.stderr_tail()}")
    times = [round(t - started, 1) for t in asked]
    print(f"joined {took:.1f} s after the start; the name was asked at {times}")
    # Rounds of asking (the forwarder tries a lone server twice, so a round may be two
    # queries): several before the testnet came, each gap longer than the one before.
    rounds = []
    for t in asked:
        if not rounds or t - rounds[-1] > 0.5:
            rounds.append(t)
    before = [t for t in rounds if t - started < ready_at]
    assert len(before) >= 2, f"the name was not asked again: {times}"
    gaps = [b - a for a, b in zip(rounds, rounds[1:])]
    assert all(g >= 0.9 for g in gaps), f"asked too often: {times}"
    assert all(b >= a * 1.5 for a, b in zip(gaps, gaps[1:])), f"no backoff: {times}"
    time.sleep(1.5)
    log = node.stderr_text()
    assert "cannot resolve bootstrap host localhost" in log, node.stderr_tail()
    assert re.search(r"joined the DHT: \d+ nodes", log), node.stderr_tail()


# Own zones re-put at a round go through the put queue (src/daemon/regput.c), 32 at a time:
# before, each round called dht_put() for every own zone at once, the DHT took as many as it
# had lookups free (128 at most) and refused the rest, which stayed out of the DHT until the
# next round, an hour later. The holders are `serve` nodes that take any number of puts from
# 127.0.0.1 (a testnet node takes 60 a minute from one sender).
OWN_ZONES = 200
HOLDERS = 4
OPEN_DHT = ["--dht-rate-limit", "100000", "--dht-puts-per-minute", "100000",
            "--dht-net-share", "100"]


@pytest.mark.phase_timeout(90)
def test_every_own_zone_is_put_when_the_node_joins(node_factory):
    import dns.flags
    from conftest import key_from_seed, relay_body
    from dhtutil import KrpcClient, mutable_target
    from resolveutil import raw_get

    base = free_udp_range(HOLDERS)
    node = with_bootstrap(node_factory(), f"127.0.0.1:{base}")
    node.start()
    pks = []
    for i in range(OWN_ZONES):
        seed = bytes([i % 256, i // 256]) + bytes(30)
        key = key_from_seed(seed, node.data_dir / "k.key")
        packet = dns.message.Message(id=0)
        packet.flags = dns.flags.QR | dns.flags.AA
        packet.answer.append(dns.rrset.from_text(key.name("www"), 300, "IN", "A", "192.0.2.1"))
        r = node.put_relay(key.z32, relay_body(seed, 1, packet.to_wire()))
        assert r.status in (200, 204), f"PUT /{key.z32}: {r.status} {r.body!r}"
        pks.append(key.pub)
    holders = []
    for i in range(HOLDERS):
        h = with_option(node_factory(extra_args=OPEN_DHT), "--dht-listen",
                        f"127.0.0.1:{base + i}")
        holders.append(with_bootstrap(h, f"127.0.0.1:{base}").start())
    started = time.monotonic()
    assert wait_joined(node, started, started + JOIN_WITHIN) is not None, node.stderr_tail()
    # The round comes 3 s after joining; then every zone is held by some holder.
    missing = pks
    deadline = time.monotonic() + 3 + REPUT_WITHIN + 10
    with KrpcClient() as c:
        while time.monotonic() < deadline and missing:
            time.sleep(1.0)
            missing = [pk for pk in missing
                       if not any((raw_get(c, base + i, mutable_target(pk)) or {}).get(b"v")
                                  for i in range(HOLDERS))]
    assert not missing, (f"{len(missing)} of {OWN_ZONES} own zones on no DHT node after the "
                         f"round: {node.stderr_tail()}")
    # /metrics shows the put queue on a node that runs no registry, empty after the round.
    text = node.api("GET", "/metrics").body.decode()
    queue = {m.group(1): float(m.group(2)) for m in re.finditer(
        r"^swarmdns_registry_puts_(waiting|running) (\S+)$", text, re.M)}
    assert queue == {"waiting": 0.0, "running": 0.0}, queue


def zone_put_body(seed: bytes, key, seq: int = 1) -> bytes:
    import dns.flags
    from conftest import relay_body

    packet = dns.message.Message(id=0)
    packet.flags = dns.flags.QR | dns.flags.AA
    packet.answer.append(dns.rrset.from_text(key.name("www"), 300, "IN", "A", "192.0.2.1"))
    return relay_body(seed, seq, packet.to_wire())


# `pin <key>` keeps another key's zone in the DHT (docs/design.md §4): at its round the node
# gets the zone and puts it again, through the put queue as its own zones. Nodes that joined
# after the owner left hold it afterwards; only the pinning node can have put it there.
@pytest.mark.phase_timeout(90)
def test_pinned_zone_is_put_to_nodes_that_came_after_its_owner(node_factory):
    from conftest import key_from_seed
    from dhtutil import KrpcClient, mutable_target
    from resolveutil import raw_get

    base = free_udp_range(2 * HOLDERS)

    def holder(i):
        h = with_option(node_factory(extra_args=OPEN_DHT), "--dht-listen",
                        f"127.0.0.1:{base + i}")
        return with_bootstrap(h, f"127.0.0.1:{base}").start()

    for i in range(HOLDERS):
        holder(i)
    owner = with_bootstrap(node_factory(), f"127.0.0.1:{base}").start()
    started = time.monotonic()
    assert wait_joined(owner, started, started + JOIN_WITHIN) is not None, owner.stderr_tail()
    seed = bytes([7, 7]) + bytes(30)
    key = key_from_seed(seed, owner.data_dir / "k.key")
    r = owner.put_relay(key.z32, zone_put_body(seed, key))
    assert r.status in (200, 204), f"PUT /{key.z32}: {r.status} {r.body!r}"
    assert int(r.headers.get("x-dht-stored", "0")) > 0, (r.headers, owner.stderr_tail())
    owner.stop()
    later = [holder(HOLDERS + i) for i in range(HOLDERS)]
    target = mutable_target(key.pub)
    with KrpcClient() as c:
        assert not any((raw_get(c, base + HOLDERS + i, target) or {}).get(b"v")
                       for i in range(HOLDERS)), "a node that came after the owner has its zone"
        pinner = with_bootstrap(node_factory(extra_args=["--pin", key.z32]),
                                f"127.0.0.1:{base}").start()
        started = time.monotonic()
        assert wait_joined(pinner, started, started + JOIN_WITHIN) is not None, \
            pinner.stderr_tail()
        # The round comes 3 s after joining: a get, then the put to the closest nodes.
        deadline = time.monotonic() + 3 + REPUT_WITHIN + 10
        holding = []
        while time.monotonic() < deadline and len(holding) < 2:
            time.sleep(1.0)
            holding = [h for i, h in enumerate(later)
                       if (raw_get(c, base + HOLDERS + i, target) or {}).get(b"v")]
    assert len(holding) >= 2, (f"the pinned zone is on {len(holding)} of the {HOLDERS} nodes "
                               f"that came after its owner: {pinner.stderr_tail()}")
