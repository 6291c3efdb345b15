"""The pkarr relay server (docs/api.md "pkarr relay") as an independent pkarr relay client sees
it: a client written here from pkarr's design/relays.md (http.client and the `cryptography`
package, not swarmdns's CLI). GET of a key that only the DHT holds returns it, verified, and
caches it; GET of an unknown key is 404 after the lookup; a PUT of a stranger's key from a
client without the token is verified and reaches the DHT without becoming an own zone;
If-Match (412), older seq (409), bad signature (400), oversize (413), relay-put-rate (429);
the CORS preflight exactly as a browser sends it.
"""
import http.client
import os
import struct
import time

import pytest

from conftest import (Node, finish_all, public_key, relay_body, split_relay, start_joined,
                      verify_relay, z32encode, zone_packet)
from dhtutil import Testnet

PAYLOAD_TYPE = "application/pkarr.org/relays#payload"


class RelayClient:
    """A pkarr relay client as design/relays.md describes one: PUT and GET /:z32 with the
    relay payload (sig || big-endian seq || packet), OPTIONS for a browser's preflight."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.host, self.port, self.timeout = host, port, timeout

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def put(self, pub: bytes, payload: bytes, if_match=None):
        headers = {"Content-Type": "application/octet-stream"}
        if if_match is not None:
            headers["If-Match"] = str(if_match)
        return self.request("PUT", f"/{z32encode(pub)}", payload, headers)

    def get(self, pub: bytes, headers=None):
        return self.request("GET", f"/{z32encode(pub)}", headers=headers)

    def resolve(self, pub: bytes):
        """GET and verify as a client must (relays are untrusted): (seq, packet) or None."""
        status, headers, body = self.get(pub)
        if status == 404:
            return None
        assert status == 200, (status, body)
        assert headers["content-type"] == PAYLOAD_TYPE, headers
        assert verify_relay(pub, body), "the relay returned a payload that does not verify"
        _, seq, packet = split_relay(body)
        return seq, packet


class Stranger:
    """A key of someone who is not the node's operator, with a zone to sign."""

    def __init__(self):
        self.seed = os.urandom(32)
        self.pub = public_key(self.seed)
        self.z32 = z32encode(self.pub)

    def payload(self, seq: int, ip: str = "192.0.2.7", pad: int = 0) -> bytes:
        records = [("@", "A", ip)] + [("@", "TXT", '"' + "x" * 200 + '"')] * pad
        return relay_body(self.seed, seq, zone_packet(f"{self.z32}.", records))


def test_get_of_a_key_only_the_dht_holds_returns_it_verified_and_caches_it(swarmdns_bin,
                                                                          tmp_path):
    testnet = Testnet(swarmdns_bin, 12, tmp_path, seconds=120).start()
    nodes = []
    try:
        a, b = start_joined(nodes, swarmdns_bin, tmp_path, testnet.base)
        key = Stranger()
        seq = int(time.time() * 1e6)
        # Published through b: b's own zone, put into the DHT; a has never seen it.
        r = b.put_relay(key.z32, key.payload(seq))
        assert r.status == 204 and int(r.headers["pkarr-dht-stored-nodes"]) >= 1, r
        relay = RelayClient("127.0.0.1", a.api_port)
        before = a.status()["cache"]
        status, headers, body = relay.get(key.pub)
        assert status == 200, (status, body)
        assert verify_relay(key.pub, body)
        assert split_relay(body)[1] == seq
        assert headers["content-type"] == PAYLOAD_TYPE
        assert headers["access-control-allow-origin"] == "*"
        max_age = int(headers["cache-control"].split("max-age=")[1])
        assert headers["cache-control"].startswith("public") and 0 < max_age <= 300, headers
        assert headers["last-modified"] == time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                         time.gmtime(seq // 1_000_000))
        after = a.status()["cache"]
        assert after["dht_lookups"] == before["dht_lookups"] + 1
        assert after["zones"] == before["zones"] + 1, "the zone found was not cached"
        assert a.status()["zones"] == 0, "a GET made an own zone"
        # Cached: the second GET, and a HEAD, start no lookup and give the same payload.
        assert relay.get(key.pub)[2] == body
        status, headers, head_body = relay.request("HEAD", f"/{key.z32}")
        assert status == 200 and head_body == b"" and headers["content-length"] == str(len(body))
        assert a.status()["cache"]["dht_lookups"] == after["dht_lookups"]
        # If-Modified-Since at the seq's date: 304, nothing to download.
        status, _, nm = relay.get(key.pub, {"If-Modified-Since": headers["last-modified"]})
        assert status == 304 and nm == b""
        # A key nobody published: 404 once the lookup has ended.
        status, _, body = relay.get(Stranger().pub)
        assert status == 404, (status, body)
        assert a.status()["cache"]["dht_lookups"] == after["dht_lookups"] + 1
        # Not a key: 400 (design/relays.md).
        assert relay.request("GET", "/" + "0" * 52)[0] == 400
    finally:
        errors = finish_all(nodes)
        testnet.stop()
    assert not errors, errors


def test_put_of_a_strangers_key_from_a_client_without_the_token(swarmdns_bin, tmp_path):
    """In a network namespace, the client reaches node a on a non-loopback address and has
    no token: a relays its PUT (verified, cached, put into the DHT; not an own zone), and b
    finds it in the DHT. Then the spec's errors, in one minute, the last over the rate."""
    import netns

    ok, why = netns.available()
    if not ok:
        pytest.skip(f"network namespaces cannot be used here: {why}")
    ns = netns.Netns("relay")
    nodes = []
    testnet = None
    try:
        ip = ns.add("198.18.9.1")[0]
        with ns.inside():
            testnet = Testnet(swarmdns_bin, 12, tmp_path, seconds=120).start()
            b = start_joined(nodes, swarmdns_bin, tmp_path, testnet.base, names=("b",))[0]
            (tmp_path / "a").mkdir()
            a = Node(swarmdns_bin, tmp_path / "a", tmp_path,
                     extra_args=["--bootstrap", f"127.0.0.1:{testnet.base}",
                                 "--dht-rate-limit", "100000", "--api-token", "s3cret",
                                 "--relay-put-rate", "8"])
            a.extra_args += ["--listen-api", f"0.0.0.0:{a.api_port}"]
            nodes.append(a)
            a.start()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and a.status()["dht"]["good_nodes"] < 4:
                time.sleep(0.1)
            relay = RelayClient(ip, a.api_port)
            key = Stranger()
            seq1 = int(time.time() * 1e6)
            status, headers, body = relay.put(key.pub, key.payload(seq1))  # 1
            assert status == 204, (status, body)
            assert int(headers["pkarr-dht-stored-nodes"]) >= 1, headers
            assert "pkarr-dht-stored-nodes" in headers["access-control-expose-headers"].lower()
            assert a.status()["zones"] == 0, "a stranger's PUT made an own zone"
            assert RelayClient("127.0.0.1", a.api_port).resolve(key.pub) == \
                (seq1, split_relay(key.payload(seq1))[2]), "not cached on a"
            # Another node finds it in the DHT.
            assert RelayClient("127.0.0.1", b.api_port).resolve(key.pub)[0] == seq1
            # Compare-and-swap: If-Match names the seq the PUT replaces.
            seq2 = seq1 + 1000
            status, _, body = relay.put(key.pub, key.payload(seq2, "192.0.2.8"),
                                        if_match=seq1 + 1)  # 2
            assert status == 412, (status, body)
            status, _, body = relay.put(key.pub, key.payload(seq2, "192.0.2.8"),
                                        if_match=seq1)  # 3
            assert status == 204, (status, body)
            assert relay.resolve(key.pub)[0] == seq2  # a GET: not counted as a PUT
            # Older than what the relay has seen: 409.
            status, _, body = relay.put(key.pub, key.payload(seq1 - 1))  # 4
            assert status == 409, (status, body)
            # A flipped signature byte: 400.
            bad = bytearray(key.payload(seq2 + 1))
            bad[5] ^= 1
            status, _, body = relay.put(key.pub, bytes(bad))  # 5
            assert status == 400, (status, body)
            # Over 1,068 bytes (996-byte packets): 413.
            big = key.payload(seq2 + 2, pad=5)
            assert len(big) > 1068
            status, _, body = relay.put(key.pub, big)  # 6
            assert status == 413, (status, body)
            assert relay.resolve(key.pub)[0] == seq2, "a refused PUT changed the zone"
            for _ in range(2):  # 7, 8
                assert relay.put(key.pub, bytes(bad))[0] == 400
            # The 9th PUT this minute from the address: 429, with when to try again.
            status, headers, body = relay.put(key.pub, key.payload(seq2 + 3))
            assert status == 429, (status, body)
            assert 1 <= int(headers["retry-after"]) <= 60, headers
            assert a.metrics()[("swarmdns_limit_hits_total", (("limit", "relay-put-rate"),))] == 1
            # The token holder is not limited, and makes an own zone.
            status, headers, body = relay.request("PUT", f"/{key.z32}", key.payload(seq2 + 3),
                                                  {"Authorization": "Bearer s3cret"})
            assert status == 204, (status, body)
            assert a.status()["zones"] == 1
    finally:
        errors = finish_all(nodes)
        if testnet:
            testnet.stop()
        ns.remove()
    assert not errors, errors


def test_a_relayed_put_no_dht_node_stored_is_500(swarmdns_bin, tmp_path):
    """design/relays.md: a failed DHT put is 500. An isolated node that is asked to relay a
    stranger's zone could keep it nowhere; the count says 0."""
    import netns

    ok, why = netns.available()
    if not ok:
        pytest.skip(f"network namespaces cannot be used here: {why}")
    ns = netns.Netns("relay0")
    nodes = []
    try:
        ip = ns.add("198.18.9.2")[0]
        with ns.inside():
            (tmp_path / "c").mkdir()
            c = Node(swarmdns_bin, tmp_path / "c", tmp_path)
            c.extra_args += ["--listen-api", f"0.0.0.0:{c.api_port}"]
            nodes.append(c)
            c.start()
            key = Stranger()
            status, headers, body = RelayClient(ip, c.api_port).put(
                key.pub, key.payload(int(time.time() * 1e6)))
            assert status == 500 and headers["pkarr-dht-stored-nodes"] == "0", (status, body)
            assert c.status()["zones"] == 0
    finally:
        errors = finish_all(nodes)
        ns.remove()
    assert not errors, errors


def test_cors_preflight_as_a_browser_sends_it(node):
    relay = RelayClient("127.0.0.1", node.api_port)
    key = Stranger()
    status, headers, body = relay.request("OPTIONS", f"/{key.z32}", headers={
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type,if-match",
    })
    assert status == 204, (status, body)
    assert headers["access-control-allow-origin"] == "*"
    methods = [m.strip() for m in headers["access-control-allow-methods"].split(",")]
    assert {"GET", "PUT", "OPTIONS"} <= set(methods), headers
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "if-match"} <= allowed, headers
    assert int(headers["access-control-max-age"]) > 0
    # The PUT the browser then sends, and a GET: readable cross-origin, count exposed.
    status, headers, _ = relay.request("PUT", f"/{key.z32}", key.payload(int(time.time() * 1e6)),
                                       {"Origin": "https://app.example",
                                        "Content-Type": "application/octet-stream"})
    assert status == 204 and headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in headers["access-control-expose-headers"].split(",")}
    assert "pkarr-dht-stored-nodes" in exposed and "pkarr-dht-stored-nodes" in headers
    status, headers, _ = relay.get(key.pub, {"Origin": "https://app.example"})
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    # Other methods: 405 with what is allowed.
    status, headers, _ = relay.request("DELETE", f"/{key.z32}")
    assert status == 405 and "PUT" in headers["allow"]


def test_if_match_on_an_own_zone(node):
    relay = RelayClient("127.0.0.1", node.api_port)
    key = Stranger()
    seq = int(time.time() * 1e6)
    assert relay.put(key.pub, key.payload(seq))[0] == 204
    assert relay.put(key.pub, key.payload(seq + 1), if_match=seq - 1)[0] == 412
    assert relay.put(key.pub, key.payload(seq + 1), if_match="not a seq")[0] == 400
    assert relay.resolve(key.pub)[0] == seq
    assert relay.put(key.pub, key.payload(seq + 1), if_match=f'"{seq}"')[0] == 204
    assert relay.resolve(key.pub)[0] == seq + 1
    assert relay.put(key.pub, key.payload(seq), if_match="*")[0] == 409
    assert struct.unpack(">Q", relay.get(key.pub)[2][64:72])[0] == seq + 1
