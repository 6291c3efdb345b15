"""The relay client (`relay URL`, docs/relay.md, docs/design.md §7 "Relays as a source").

- A node with no DHT at all (`--bootstrap none`) and one relay, another swarmdns node on a
  small testnet, resolves a key name published at that node (and so in the DHT), and
  publishes through it: `swarmdns publish` exits 0 and says the relay stored it, and the zone
  then resolves at a third node, from the DHT.
- `swarmdns publish` to a node with no DHT whose one relay refuses (500) exits 3 with the
  "no DHT node stored it" message; once the relay takes it, 0. Each publish reaches the relay
  once.
- Relays written for the test (Python http.server) that return a forged item (bad
  signature) or an older seq are never believed: the node answers the newest item it can
  verify, or SERVFAIL with an EDE when it can verify none; a DHT answer is never made older
  by a relay either, and a relay with a newer signed item than the DHT's makes it newer.
- relay-max-requests bounds the requests in flight; requests over it are not sent, and are
  counted as a limit that acted.
- An https:// relay is checked against the system's CAs, or relay-ca: with a self-signed
  certificate it is not believed (and the log says what to do) until relay-ca names it.
- A relay that never answers does not hold up a DHT answer (it comes well before
  relay-timeout), and relay requests are counted in /metrics by op and result.
"""
import http.server
import ssl
import threading
import time

import dns.rcode

from conftest import (Node, describe, finish_all, key_from_seed, publish_zone, relay_body,
                      run_cli, sign_zone, start_joined, write_zone, zone_packet)
from dhtutil import Testnet
from resolveutil import describe_resp, ede_of


class FakeRelay:
    """A pkarr relay written for the test: GET /<z32> answers routes[z32] (a body, after
    `delay` seconds) or 404; `hang` holds every request without answering for 10 s. PUT
    answers `put_status` and counts in `puts`."""

    def __init__(self, hang: bool = False, tls_dir=None):
        self.routes = {}
        self.scheme = "https" if tls_dir else "http"
        self.delay = 0.0
        self.hang = hang
        self.gets = 0
        self.puts = 0
        self.put_status = 204
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                relay.gets += 1
                if relay.hang:
                    time.sleep(10)
                    return
                time.sleep(relay.delay)
                body = relay.routes.get(self.path.strip("/"))
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_PUT(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                relay.puts += 1
                self.send_response(relay.put_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls_dir:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def relay_counts(node) -> dict:
    """{(op, result): n} of swarmdns_relay_requests_total."""
    return {(dict(labels)["op"], dict(labels)["result"]): v
            for (name, labels), v in node.metrics().items()
            if name == "swarmdns_relay_requests_total"}


def a_records(resp):
    return sorted(rr.to_text() for rrset in resp.answer for rr in rrset)


def joined_node(binary, tmp_path, name, bootstrap_port, extra=()):
    (tmp_path / name).mkdir()
    return Node(binary, tmp_path / name, tmp_path,
                extra_args=["--bootstrap", f"127.0.0.1:{bootstrap_port}",
                            "--dht-rate-limit", "100000", *extra])


def wait_good(node, good=3, within=20.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and node.status()["dht"]["good_nodes"] < good:
        time.sleep(0.1)
    assert node.status()["dht"]["good_nodes"] >= good, node.status()["dht"]


def test_a_node_without_dht_resolves_and_publishes_through_a_relay(swarmdns_bin, tmp_path):
    testnet = Testnet(swarmdns_bin, 8, tmp_path, seconds=60).start()
    nodes = []
    try:
        a, b = start_joined(nodes, swarmdns_bin, tmp_path, testnet.base, good=3, within=20)
        key1 = key_from_seed(bytes(range(1, 33)), tmp_path / "k1.key")
        publish_zone(swarmdns_bin, b, key1, "www 300 IN A 192.0.2.11\n", directory=tmp_path)
        (tmp_path / "c").mkdir()
        c = Node(swarmdns_bin, tmp_path / "c", tmp_path, extra_args=["--relay", b.api_url])
        nodes.append(c)
        c.start()
        assert c.status()["dht"]["good_nodes"] == 0, "C must have no DHT for this test"
        r = c.query(key1.name("www"), "A", timeout=5)
        assert r.rcode() == dns.rcode.NOERROR, describe_resp(r)
        assert a_records(r) == ["192.0.2.11"], r.to_text()

        # Publishing through C: C has no DHT node, its relay (B) puts the zone into the DHT.
        # The PUT waits for the relay: publish says B took it and exits 0 without --local-ok.
        key2 = key_from_seed(bytes(range(2, 34)), tmp_path / "k2.key")
        cp = run_cli(swarmdns_bin, "publish", "-k", key2.path, "--api", c.api_url,
                     write_zone(tmp_path, "www 300 IN A 192.0.2.22\n"))
        assert cp.returncode == 0, describe(cp)
        assert "by 0 of 0 DHT nodes asked and by 1 of 1 relays" in cp.stdout, describe(cp)
        assert "no DHT node stored it" not in cp.stderr, describe(cp)
        assert b.api("GET", f"/{key2.z32}").status == 200, \
            f"the relay said it took C's zone but does not have it\n{c.stderr_tail()}"
        r = a.query(key2.name("www"), "A", timeout=10)
        assert a_records(r) == ["192.0.2.22"], describe_resp(r)

        counts = relay_counts(c)
        assert counts[("get", "ok")] >= 1, counts
        assert counts[("put", "ok")] >= 1, counts
    finally:
        errors = finish_all(nodes)
        testnet.stop()
        assert not errors, "\n".join(errors)


def test_forged_and_older_items_from_relays_are_never_believed(swarmdns_bin, node_factory,
                                                               tmp_path):
    seed = bytes(range(3, 35))
    key = key_from_seed(seed, tmp_path / "k.key")
    old = relay_body(seed, 100, zone_packet(key.origin, [("www", "A", "192.0.2.1")]))
    new = relay_body(seed, 200, zone_packet(key.origin, [("www", "A", "192.0.2.2")]))
    # The highest seq of all, but the signature does not verify.
    forged = bytearray(relay_body(seed, 300, zone_packet(key.origin,
                                                         [("www", "A", "192.0.2.66")])))
    forged[5] ^= 1
    forger, stale, honest = FakeRelay(), FakeRelay(), FakeRelay()
    forger.routes[key.z32] = bytes(forged)
    stale.routes[key.z32] = old
    honest.routes[key.z32] = new
    honest.delay = 0.3  # the older item comes first: the answer must wait for the newer
    try:
        c = node_factory(extra_args=["--relay", forger.url, "--relay", stale.url,
                                     "--relay", honest.url]).start()
        r = c.query(key.name("www"), "A", timeout=5)
        assert a_records(r) == ["192.0.2.2"], describe_resp(r)
        counts = relay_counts(c)
        assert counts[("get", "bad")] == 1 and counts[("get", "ok")] == 2, counts

        # Only the forger: nothing to believe, SERVFAIL with an Extended DNS Error.
        d = node_factory(extra_args=["--relay", forger.url]).start()
        r = d.query(key.name("www"), "A", timeout=5, use_edns=0)
        assert r.rcode() == dns.rcode.SERVFAIL and ede_of(r), describe_resp(r)
        assert "192.0.2.66" not in r.to_text()

        # relay-max-requests 1: the second relay is not asked, and the limit is counted.
        f = node_factory(extra_args=["--relay", stale.url, "--relay", honest.url,
                                     "--relay-max-requests", "1"]).start()
        gets = honest.gets
        r = f.query(key.name("www"), "A", timeout=5)
        assert a_records(r) == ["192.0.2.1"], describe_resp(r)
        assert honest.gets == gets
        assert relay_counts(f)[("get", "limited")] == 1
        assert f.metrics()[("swarmdns_limit_hits_total",
                            (("limit", "relay-max-requests"),))] == 1
    finally:
        for f in (forger, stale, honest):
            f.close()


def test_relays_with_the_dht_older_forged_or_dead_relays_change_nothing(swarmdns_bin, tmp_path):
    testnet = Testnet(swarmdns_bin, 8, tmp_path, seconds=60).start()
    seed = bytes(range(4, 36))
    key = key_from_seed(seed, tmp_path / "k.key")
    stale, dead = FakeRelay(), FakeRelay(hang=True)
    stale.routes[key.z32] = relay_body(seed, 1, zone_packet(key.origin,
                                                             [("www", "A", "192.0.2.1")]))
    nodes = []
    try:
        a, = start_joined(nodes, swarmdns_bin, tmp_path, testnet.base, names=("a",), good=3,
                          within=20)
        body = sign_zone(swarmdns_bin, key, "www 300 IN A 192.0.2.9\n", seq=1000,
                         directory=tmp_path)
        assert a.put_relay(key.z32, body).status == 204
        e = joined_node(swarmdns_bin, tmp_path, "e", testnet.base,
                        ["--relay", dead.url, "--relay", stale.url, "--relay-timeout", "3000"])
        nodes.append(e)
        e.start()
        wait_good(e)
        t0 = time.monotonic()
        r = e.query(key.name("www"), "A", timeout=5)
        elapsed = time.monotonic() - t0
        assert a_records(r) == ["192.0.2.9"], describe_resp(r)
        assert elapsed < 2.0, f"the DHT answer waited {elapsed:.1f} s for a dead relay"
        # Both were asked (in parallel with the DHT; the answer did not wait for them).
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and relay_counts(e).get(("get", "ok")) != 1:
            time.sleep(0.05)
        assert dead.gets == 1 and stale.gets == 1, (dead.gets, stale.gets)
        counts = relay_counts(e)
        assert counts[("get", "ok")] == 1, counts  # the stale one verified, and lost
        r = e.query(key.name("www"), "A")
        assert a_records(r) == ["192.0.2.9"], describe_resp(r)

        # A relay with a newer signed item than the DHT holds: the newest verified seq wins
        # (at once if the relay answered before the DHT lookup was ready, else for the next
        # query), and the answer never goes back to the DHT's older one.
        seed2 = bytes(range(6, 38))
        key2 = key_from_seed(seed2, tmp_path / "k2.key")
        body = sign_zone(swarmdns_bin, key2, "www 300 IN A 192.0.2.10\n", seq=1000,
                         directory=tmp_path)
        assert a.put_relay(key2.z32, body).status == 204
        stale.routes[key2.z32] = relay_body(seed2, 2000, zone_packet(
            key2.origin, [("www", "A", "192.0.2.20")]))
        first = a_records(e.query(key2.name("www"), "A", timeout=5))
        assert first in (["192.0.2.10"], ["192.0.2.20"]), first
        time.sleep(0.3)
        for _ in range(3):
            r = e.query(key2.name("www"), "A")
            assert a_records(r) == ["192.0.2.20"], (first, describe_resp(r))
    finally:
        errors = finish_all(nodes)
        testnet.stop()
        stale.close()
        dead.close()
        assert not errors, "\n".join(errors)


def test_https_relay_certificate_checked_against_relay_ca(swarmdns_bin, node_factory,
                                                          tmp_path):
    cp = run_cli(swarmdns_bin, "cert", "-o", tmp_path / "tls")
    assert cp.returncode == 0, describe(cp)
    seed = bytes(range(5, 37))
    key = key_from_seed(seed, tmp_path / "k.key")
    relay = FakeRelay(tls_dir=tmp_path / "tls")
    relay.routes[key.z32] = relay_body(seed, 7, zone_packet(key.origin,
                                                            [("www", "A", "192.0.2.7")]))
    try:
        # The test's CA is not one of this system's: nothing believed, and the log says why.
        a = node_factory(extra_args=["--relay", relay.url]).start()
        r = a.query(key.name("www"), "A", timeout=5, use_edns=0)
        assert r.rcode() == dns.rcode.SERVFAIL and ede_of(r), describe_resp(r)
        assert relay_counts(a)[("get", "error")] == 1
        assert "needs relay-ca FILE" in a.stderr_text(), a.stderr_tail()
        b = node_factory(extra_args=["--relay", relay.url,
                                     "--relay-ca", str(tmp_path / "tls" / "cert.pem")]).start()
        r = b.query(key.name("www"), "A", timeout=5)
        assert a_records(r) == ["192.0.2.7"], describe_resp(r)
    finally:
        relay.close()


def test_publish_through_a_relay_that_refuses(swarmdns_bin, node_factory, make_key, tmp_path):
    relay = FakeRelay()
    relay.put_status = 500
    try:
        c = node_factory(extra_args=["--relay", relay.url]).start()
        key = make_key()
        zone = write_zone(tmp_path, "www 300 IN A 192.0.2.30\n")
        cp = run_cli(swarmdns_bin, "publish", "-k", key.path, "--api", c.api_url, zone)
        assert cp.returncode == 3, describe(cp)
        assert "by 0 of 0 DHT nodes asked and by 0 of 1 relays" in cp.stdout, describe(cp)
        assert "published to the node, but no DHT node stored it" in cp.stderr, describe(cp)
        assert "None of the node's 1 relay stored it either" in cp.stderr, describe(cp)
        assert relay.puts == 1, f"the zone reached the relay {relay.puts} times"
        assert relay_counts(c)[("put", "error")] == 1
        # The node serves it all the same; once the relay takes it, publish succeeds.
        assert a_records(c.query(key.name("www"), "A")) == ["192.0.2.30"]
        relay.put_status = 204
        cp = run_cli(swarmdns_bin, "publish", "-k", key.path, "--api", c.api_url, zone)
        assert cp.returncode == 0, describe(cp)
        assert "and by 1 of 1 relays" in cp.stdout, describe(cp)
        assert relay.puts == 2, f"the zone reached the relay {relay.puts - 1} times"
    finally:
        relay.close()


def test_two_nodes_that_are_each_others_relay_pass_a_zone_on_once(swarmdns_bin, node_factory,
                                                                  make_key, tmp_path):
    a = node_factory()
    b = node_factory(extra_args=["--relay", a.api_url])
    a.extra_args = [*a.extra_args, "--relay", b.api_url]
    a.start()
    b.start()
    key = make_key()
    cp = run_cli(swarmdns_bin, "publish", "-k", key.path, "--api", a.api_url,
                 write_zone(tmp_path, "www 300 IN A 192.0.2.40\n"))
    assert cp.returncode == 0, describe(cp)
    assert "and by 1 of 1 relays" in cp.stdout, describe(cp)
    # B, which had not had it, passed it to A; A, which had, passed it on no more.
    time.sleep(0.3)
    assert relay_counts(a).get(("put", "ok")) == 1, relay_counts(a)
    assert relay_counts(b).get(("put", "ok")) == 1, relay_counts(b)
    assert a_records(b.query(key.name("www"), "A")) == ["192.0.2.40"]
