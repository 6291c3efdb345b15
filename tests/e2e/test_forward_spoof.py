"""The forwarder against the birthday attack and blind spoofing (docs/design.md section 6,
RFC 5452 section 5), with the real binary and a fake upstream DNS server written here.

The fake upstream listens on UDP and TCP on one port of 127.0.0.1, counts and records what it
is asked, and answers after a delay (300 ms), as a distant recursive server would. In spoof
mode it also sends wrong-ID answers with a forged address to the port the node asked from,
before the real answer: a spoofer who has learnt the port, as the node's connected socket
lets only the server's own address and port through.

- 50 clients ask the same question at once (each with its own ID and letter case): the
  upstream sees exactly one query, and every client gets the answer with its own ID and case.
- 20 wrong-ID answers (past unwanted-reply-threshold, 10): the node counts them, asks the
  question again over TCP, and the client gets the real address, never the forged one.
- 5 wrong-ID answers (below the threshold): counted, no TCP.
- 20 clients on one question with upstream-max-waiters 10: 10 answered, 10 SERVFAIL at
  once, counted as that limit.
"""
import random
import socket
import time

import dns.message
import dns.rcode
import dns.rdatatype

from conftest import make_query
from upstreamutil import FORGED_ADDR, REAL_ADDR, upstream_factory, with_upstream  # noqa: F401

DELAY = 0.3  # the fake upstream's answer delay


def metric(node, name, **labels) -> float:
    return node.metrics().get((name, tuple(sorted(labels.items()))), 0.0)


def random_case(rnd: random.Random, name: str) -> str:
    return "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in name)


def test_identical_questions_sent_once(node_factory, upstream_factory):
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    rnd = random.Random(seed)
    up = upstream_factory()
    node = with_upstream(node_factory(), up.port).start()
    n = 50
    socks, queries = [], []
    for i in range(n):
        q = make_query(random_case(rnd, "www.coalesce.example"), dns.rdatatype.A)
        q.id = rnd.randrange(65536)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        socks.append(s)
        queries.append(q)
    # All 50 go out before the upstream's 300 ms answer could come back.
    t0 = time.monotonic()
    for s, q in zip(socks, queries):
        s.sendto(q.to_wire(), ("127.0.0.1", node.dns_port))
    sent_in = time.monotonic() - t0
    for s, q in zip(socks, queries):
        wire, _ = s.recvfrom(65535)
        r = dns.message.from_wire(wire)
        assert r.id == q.id
        assert r.rcode() == dns.rcode.NOERROR
        # The client's own letter case (0x20 bits) comes back.
        assert r.question[0].name.to_text() == q.question[0].name.to_text()
        assert [rd.address for rd in r.answer[0]] == [REAL_ADDR]
        s.close()
    assert sent_in < DELAY, f"sending took {sent_in:.3f} s: the test did not overlap"
    with up.lock:
        asked = len(up.udp_queries) + len(up.tcp_queries)
    assert asked == 1, f"{asked} upstream queries for one question asked {n} times"
    assert metric(node, "swarmdns_upstream_coalesced_total") == n - 1


def ask(node, name) -> dns.message.Message:
    q = make_query(name, dns.rdatatype.A)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q.to_wire(), ("127.0.0.1", node.dns_port))
        r = dns.message.from_wire(s.recvfrom(65535)[0])
    assert r.id == q.id
    return r


def test_wrong_ids_past_threshold_go_to_tcp(node_factory, upstream_factory):
    up = upstream_factory(spoof=20)
    node = with_upstream(node_factory(extra_args=["--unwanted-reply-threshold", "10"]),
                         up.port).start()
    r = ask(node, "spoofed.example")
    assert r.rcode() == dns.rcode.NOERROR
    assert [rd.address for rd in r.answer[0]] == [REAL_ADDR]
    with up.lock:
        assert len(up.udp_queries) == 1
        assert len(up.tcp_queries) == 1, "the question was not asked again over TCP"
        assert up.tcp_queries[0].question[0].name.to_text().lower() == "spoofed.example."
    # At least the 10 that tripped the threshold were counted (the socket closed then).
    assert metric(node, "swarmdns_upstream_unwanted_replies_total") >= 10
    assert metric(node, "swarmdns_limit_hits_total", limit="unwanted-reply-threshold") == 1


def test_wrong_ids_below_threshold_counted(node_factory, upstream_factory):
    up = upstream_factory(spoof=5)
    node = with_upstream(node_factory(), up.port).start()
    r = ask(node, "lightly-spoofed.example")
    assert [rd.address for rd in r.answer[0]] == [REAL_ADDR]
    with up.lock:
        assert len(up.tcp_queries) == 0
    assert metric(node, "swarmdns_upstream_unwanted_replies_total") == 5
    assert metric(node, "swarmdns_limit_hits_total", limit="unwanted-reply-threshold") == 0


def test_waiters_per_question_bounded(node_factory, upstream_factory):
    up = upstream_factory()
    node = with_upstream(node_factory(extra_args=["--upstream-max-waiters", "10"]),
                         up.port).start()
    socks = []
    for i in range(20):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(make_query("bounded.example", dns.rdatatype.A).to_wire(),
                 ("127.0.0.1", node.dns_port))
        socks.append(s)
    rcodes = []
    for s in socks:
        rcodes.append(dns.message.from_wire(s.recvfrom(65535)[0]).rcode())
        s.close()
    # The first 10 waited for the one upstream query; the rest were refused at once.
    assert rcodes.count(dns.rcode.NOERROR) == 10, rcodes
    assert rcodes.count(dns.rcode.SERVFAIL) == 10, rcodes
    assert metric(node, "swarmdns_limit_hits_total", limit="upstream-max-waiters") == 10
    with up.lock:
        assert len(up.udp_queries) == 1
