"""DNS rebinding protection (issue 10, docs/design.md §6), end to end on 127.0.0.1.

Node A publishes a zone whose `www` points at 127.0.0.1, 10.1.2.3, 192.168.1.1,
169.254.169.254 (the cloud metadata service), ::1, fd00::1 and the public 192.0.2.1 and
2001:db8::1, and whose `lan` points at 10.0.0.1 only, into the module's testnet. Other nodes
resolve it from the DHT:

  - by default only the public addresses survive, with EDE 17 "Filtered" whose text names
    the options, and `lan` is NODATA (NOERROR, empty) with the same EDE; /metrics counts it;
  - with `--private-domain <z32>` (the key) or `--private-domain p2p` (a root onto the key), or
    with `--rebind-protection no`, everything is served, without EDE;
  - A itself serves its own zone as published.
"""
import dns.rcode

from resolveutil import describe_resp, ede_of
from test_resolve import ask, nodes, new_key, publish, rdatas, swarm  # noqa: F401 (fixtures)

PRIVATE4 = ["127.0.0.1", "10.1.2.3", "192.168.1.1", "169.254.169.254"]
PUBLIC4 = ["192.0.2.1"]
PRIVATE6 = ["::1", "fd00::1"]
PUBLIC6 = ["2001:db8::1"]
EDE_FILTERED = (17, "private address removed; see rebind-protection / private-domain")


def zone_text(key):
    lines = [f"$ORIGIN {key.origin}"]
    lines += [f"www 300 IN A {a}" for a in PRIVATE4 + PUBLIC4]
    lines += [f"www 300 IN AAAA {a}" for a in PRIVATE6 + PUBLIC6]
    lines += ["lan 300 IN A 10.0.0.1", "pub 300 IN TXT \"hello\""]
    return "\n".join(lines) + "\n"


def published(swarm, tmp_path):
    key = new_key(tmp_path)
    publish(swarm.binary, swarm.a, key, zone_text(key))
    return key


def resolve(node, name, rtype="A"):
    r = ask(node, name, rtype, timeout=5.0)
    assert r is not None, f"no answer for {name} {rtype}\n{node.stderr_tail()}"
    return r


def expect_all(node, key):
    for rtype, want in (("A", PRIVATE4 + PUBLIC4), ("AAAA", PRIVATE6 + PUBLIC6)):
        r = resolve(node, f"www.{key.origin}", rtype)
        assert r.rcode() == dns.rcode.NOERROR, describe_resp(r)
        assert sorted(rdatas(r, rtype)) == sorted(want), describe_resp(r)
        assert ede_of(r) == [], describe_resp(r)
    r = resolve(node, f"lan.{key.origin}")
    assert rdatas(r) == ["10.0.0.1"], describe_resp(r)


def test_private_addresses_removed_from_dht_answers(swarm, nodes, tmp_path):
    key = published(swarm, tmp_path)
    b = nodes()
    r = resolve(b, f"www.{key.origin}")
    assert r.rcode() == dns.rcode.NOERROR, describe_resp(r)
    assert rdatas(r) == PUBLIC4, f"private addresses served: {describe_resp(r)}"
    assert EDE_FILTERED in ede_of(r), describe_resp(r)
    r = resolve(b, f"www.{key.origin}", "AAAA")  # from B's cache now
    assert rdatas(r, "AAAA") == PUBLIC6, describe_resp(r)
    assert EDE_FILTERED in ede_of(r), describe_resp(r)
    r = resolve(b, f"lan.{key.origin}")
    assert r.rcode() == dns.rcode.NOERROR and r.answer == [], (
        f"a name whose only address was private must be NODATA: {describe_resp(r)}")
    assert EDE_FILTERED in ede_of(r), describe_resp(r)
    r = resolve(b, f"pub.{key.origin}", "TXT")
    assert rdatas(r, "TXT") == ['"hello"'] and ede_of(r) == [], describe_resp(r)
    m = b.metrics()
    assert m[("swarmdns_rebind_filtered_total", ())] == 3, m
    assert m[("swarmdns_rebind_zones_total", ())] == 1, m
    # The publisher's own node serves its zone as published.
    expect_all(swarm.a, key)


def test_private_domain_and_off_switch(swarm, nodes, tmp_path):
    key = published(swarm, tmp_path)
    z32 = key.origin.rstrip(".")
    expect_all(nodes("--private-domain", z32), key)
    expect_all(nodes("--rebind-protection", "no"), key)
    # A root onto the key, listed as private domain: names under the root keep theirs.
    c = nodes("--root", f"p2p={z32}", "--private-domain", "p2p")
    r = resolve(c, "www.p2p.")
    assert sorted(rdatas(r)) == sorted(PRIVATE4 + PUBLIC4), describe_resp(r)
    assert ede_of(r) == [], describe_resp(r)
    # Another private domain does not open this zone.
    d = nodes("--private-domain", "example")
    r = resolve(d, f"www.{key.origin}")
    assert rdatas(r) == PUBLIC4 and EDE_FILTERED in ede_of(r), describe_resp(r)
