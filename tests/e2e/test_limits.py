"""Abuse limits as a client meets them (docs/limits.md): DNS Cookies (RFC 7873, RFC 9018),
response-rate limiting over UDP, minimal answers to ANY (RFC 8482), connection and request
size limits, KRPC put quotas; each limit counted in /metrics under the option that sets it.

The node under test runs with response-rate limiting turned on again (conftest turns it off
for the other tests, which all talk from 127.0.0.1). Clients bind addresses of their own in
127.0.0.0/8, so that they are different client networks (/24) to the node.
"""
import os
import socket
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from conftest import make_query, public_key, publish_zone, tcp_connect, z32encode
from dhtutil import KrpcClient, bencode, bep44_sign

COOKIE = 10  # EDNS option code, RFC 7873 section 4


def limit_hits(node, limit: str) -> float:
    return node.metrics().get(("swarmdns_limit_hits_total", (("limit", limit),)), 0)


def udp_from(src: str, port: int, msg: dns.message.Message, timeout: float = 0.5):
    """One UDP exchange from a socket bound to src; None when no answer comes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.sendto(msg.to_wire(), ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            return None
        return dns.message.from_wire(data)
    finally:
        s.close()


def cookie_of(resp) -> bytes:
    for opt in resp.options:
        if opt.otype == COOKIE:
            data = getattr(opt, "data", None)
            return bytes(data) if data is not None else opt.to_wire()
    return b""


def with_cookie(name, rdtype, cookie: bytes):
    return make_query(name, rdtype, use_edns=0, payload=1232,
                      options=[dns.edns.GenericOption(COOKIE, cookie)])


@pytest.fixture
def zone_node(node_factory, swarmdns_bin, make_key, tmp_path):
    """A node with response-rate limiting at 5 answers a second, and one own zone."""
    node = node_factory(extra_args=["--rrl-rate", "5", "--rrl-slip", "2",
                                    "--tcp-max-clients", "3", "--dht-puts-per-minute", "3",
                                    "--lookup-rate", "3"])
    node.start()
    key = make_key()
    zone = ("@ 300 IN A 192.0.2.1\n"
            "www 300 IN A 192.0.2.2\n"
            "multi 300 IN A 192.0.2.3\n"
            "multi 300 IN TXT \"a text record much longer than an IPv4 address, so larger\"\n"
            "multi 300 IN TXT \"and a second one, also longer than an IPv4 address\"\n")
    publish_zone(swarmdns_bin, node, key, zone, directory=tmp_path)
    return node, key


def test_cookie_round_trip(zone_node):
    node, key = zone_node
    client = os.urandom(8)
    r = udp_from("127.0.0.1", node.dns_port, with_cookie(key.name("www"), "A", client))
    assert r is not None and r.rcode() == dns.rcode.NOERROR
    got = cookie_of(r)
    assert len(got) == 24 and got[:8] == client, got.hex()
    assert got[8] == 1  # RFC 9018 section 4.2: version 1
    # Back with the server cookie: valid, and the answer carries a fresh one.
    r = udp_from("127.0.0.1", node.dns_port, with_cookie(key.name("www"), "A", got))
    assert r is not None and r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1
    assert cookie_of(r)[:8] == client
    m = node.metrics()
    assert m[("swarmdns_dns_cookies_total", (("result", "valid"),))] >= 1
    assert m[("swarmdns_dns_cookies_total", (("result", "new"),))] >= 1
    # A server cookie that is not ours is answered as if only the client cookie had come.
    r = udp_from("127.0.0.1", node.dns_port,
                 with_cookie(key.name("www"), "A", client + bytes(16)))
    assert r is not None and r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1
    assert node.metrics()[("swarmdns_dns_cookies_total", (("result", "invalid"),))] >= 1
    # RFC 7873 section 5.2.2: a COOKIE of a length other than 8 or 16..40 is FORMERR.
    r = udp_from("127.0.0.1", node.dns_port, with_cookie(key.name("www"), "A", client + b"x"))
    assert r is not None and r.rcode() == dns.rcode.FORMERR


def burst(src, node, msg, n):
    """n queries from src, one at a time: (full answers, truncated, BADCOOKIE, none)."""
    full = tc = bad = lost = 0
    for _ in range(n):
        r = udp_from(src, node.dns_port, msg, timeout=0.2)
        if r is None:
            lost += 1
        elif r.rcode() == dns.rcode.BADCOOKIE:
            bad += 1
        elif r.flags & dns.flags.TC:
            tc += 1
        else:
            full += 1
    return full, tc, bad, lost


def test_rrl_limits_one_network_only(zone_node):
    node, key = zone_node
    q = make_query(key.name("www"), "A")
    t0 = time.monotonic()
    full, tc, bad, lost = burst("127.0.1.1", node, q, 24)
    elapsed = time.monotonic() - t0
    # 5 a second: a burst of 24 in a few seconds gets about 5 per second in full; of the
    # rest, every second one is truncated (TC=1, the client retries over TCP).
    seconds = int(elapsed) + 1
    assert 5 <= full <= 5 * seconds + 5, (full, tc, lost, elapsed)
    assert tc >= 1 and lost >= 1, (full, tc, lost)
    assert abs(tc - lost) <= 2, (full, tc, lost)
    m = node.metrics()
    assert m[("swarmdns_rrl_limited_total", (("action", "dropped"),))] >= 1
    assert m[("swarmdns_rrl_limited_total", (("action", "slipped"),))] >= 1
    assert limit_hits(node, "rrl-rate") >= tc + lost
    # Another client network is not affected, nor is TCP from the limited one.
    assert burst("127.0.2.1", node, q, 4)[0] == 4
    r = node.query(key.name("www"), "A", tcp=True)
    assert len(r.answer) == 1


def test_rrl_spares_clients_with_a_cookie(zone_node):
    node, key = zone_node
    client = os.urandom(8)
    name = key.name("www")
    # Exhaust the budget; the slips to a client that sent a cookie are BADCOOKIE with a
    # server cookie (RFC 7873 section 5.4), so the client can come back with it.
    cookie = b""
    for _ in range(30):
        r = udp_from("127.0.3.1", node.dns_port, with_cookie(name, "A", client), timeout=0.2)
        if r is not None and r.rcode() == dns.rcode.BADCOOKIE:
            cookie = cookie_of(r)
            break
    assert len(cookie) == 24, "no BADCOOKIE slip came"
    full, tc, bad, lost = burst("127.0.3.1", node, with_cookie(name, "A", cookie), 30)
    assert (full, tc, bad, lost) == (30, 0, 0, 0)


def test_minimal_any(zone_node):
    node, key = zone_node
    r = node.query(key.name("multi"), "ANY")
    assert len(r.answer) == 1 and r.answer[0].rdtype == dns.rdatatype.A, r.answer
    r = node.query(key.name("multi"), "ANY", tcp=True)
    assert sorted(rr.rdtype for rr in r.answer) == [dns.rdatatype.A, dns.rdatatype.TXT]
    assert limit_hits(node, "minimal-any") >= 1


def test_tcp_connection_limit(zone_node):
    node, key = zone_node
    held = [tcp_connect(node.dns_port) for _ in range(3)]
    try:
        time.sleep(0.2)
        extra = tcp_connect(node.dns_port)
        extra.settimeout(2)
        # Over tcp-max-clients the node closes the connection at once (RFC 7766 6.2.2).
        assert extra.recv(10) == b""
        extra.close()
        assert limit_hits(node, "tcp-max-clients") >= 1
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)
    assert len(node.query(key.name("www"), "A", tcp=True).answer) == 1


def test_api_body_limit(zone_node):
    node, key = zone_node
    r = node.put_relay(key.z32, os.urandom(2000))
    assert r.status == 413, (r.status, r.body)
    assert limit_hits(node, "api-request-size") >= 1


def test_dht_puts_per_minute(zone_node):
    node, key = zone_node
    port = node.dht_port()
    seed = os.urandom(32)
    pk = public_key(seed)
    codes = []
    with KrpcClient() as c:
        _, _, msg = c.query(port, "get", {"target": os.urandom(20)})
        token = msg[b"r"][b"token"]
        for seq in range(1, 6):
            v = bencode(b"item %d" % seq)
            sig = bep44_sign(seed, seq, v)
            _, _, msg = c.query(port, "put", {"token": token, "k": pk, "seq": seq, "sig": sig,
                                              "v": b"item %d" % seq})
            codes.append(msg[b"e"][0] if msg.get(b"y") == b"e" else 0)
    # Three a minute from one address; the others get 202 "too many puts".
    assert codes == [0, 0, 0, 202, 202], codes
    assert limit_hits(node, "dht-puts-per-minute") == 2


def ede_text(resp) -> str:
    for opt in resp.options:
        if opt.otype == 15:  # EDE, RFC 8914
            data = getattr(opt, "data", None)
            raw = bytes(data) if data is not None else opt.to_wire()
            return raw[2:].decode(errors="replace") if data is not None else str(opt)
    return ""


def test_lookup_rate(zone_node):
    """Names of keys that are not cached start DHT lookups, each dozens of KRPC messages to
    other nodes: one client network may start only lookup-rate of them a second."""
    node, key = zone_node
    texts = []
    for _ in range(6):
        name = z32encode(os.urandom(32)) + "."
        r = node.query(name, "A", tcp=True, use_edns=0)
        assert r.rcode() == dns.rcode.SERVFAIL
        texts.append(ede_text(r))
    limited = [t for t in texts if "too many DHT lookups" in t]
    # Up to one more when the fixture's publish (its GET /<z32> looks the key up too, from
    # the same client network: docs/api.md "pkarr relay") fell in the same second.
    assert 2 <= len(limited) <= 4, texts
    assert limit_hits(node, "lookup-rate") == len(limited)
    # Own zones are answered as before.
    assert len(node.query(key.name("www"), "A", tcp=True).answer) == 1
