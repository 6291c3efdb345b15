"""Serving DNS from own zones: record types, CNAME, wildcards, negative answers, EDNS,
truncation, TCP pipelining, REFUSED, and the same answers seen by dig and kdig."""
import random
import socket
import struct
import subprocess
import time
from dataclasses import dataclass

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from conftest import (
    Key,
    keygen,
    make_query,
    publish_zone,
    tcp_connect,
    tcp_read_message,
)

ZONE = """\
$TTL 3600
@          IN A      192.0.2.1
@          IN AAAA   2001:db8::1
@          IN TXT    "v=spf1 -all"
@          IN TXT    "two" "strings"
@          IN MX     10 mail
@          IN MX     20 backup.example.net.
@          IN NS     ns1.example.net.
@          IN CAA    0 issue "letsencrypt.org"
_sip._tcp  IN SRV    10 60 5060 sip
svc        IN HTTPS  1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.7
svc2       IN SVCB   0 svc
mail       IN A      192.0.2.25
sip        IN A      192.0.2.26
www        IN CNAME  @
alias      IN CNAME  www
ext        IN CNAME  www.example.com.
*.wild     IN TXT    "wildcard"
*.wild     IN A      192.0.2.99
host.dept  IN A      192.0.2.50
short 60   IN A      192.0.2.60
long 1000000 IN A    192.0.2.61
"""

BIG_COUNT = 55
BIG_ZONE = "$TTL 3600\n" + "".join(f"big IN A 10.0.0.{i}\n" for i in range(1, BIG_COUNT + 1))

MIN_TTL, MAX_TTL = 300, 86400


def clamp(ttl):
    return min(max(ttl, MIN_TTL), MAX_TTL)


@dataclass
class Served:
    node: object
    key: Key  # the main zone
    big: Key  # the zone with a ~900-byte answer
    zone: dns.zone.Zone  # the main zone as dnspython reads it

    def name(self, rel="@"):
        return dns.name.from_text(self.key.name(rel))


@pytest.fixture(scope="module")
def served(swarmdns_bin, module_node, module_keydir) -> Served:
    key = keygen(swarmdns_bin, module_keydir / "main.key")
    big = keygen(swarmdns_bin, module_keydir / "big.key")
    publish_zone(swarmdns_bin, module_node, key, ZONE)
    publish_zone(swarmdns_bin, module_node, big, BIG_ZONE)
    zone = dns.zone.from_text(ZONE, origin=key.origin, relativize=False, check_origin=False)
    return Served(module_node, key, big, zone)


def expected(served, rel, rdtype):
    name = served.name(rel)
    rds = served.zone.find_rdataset(name, rdtype)
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.RdataType.make(rdtype))
    rrset.update(rds)
    return rrset


def assert_positive(resp, qname, rdtype):
    assert resp.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(resp.rcode())
    assert resp.flags & dns.flags.AA, "own zone answers are authoritative (AA=1)"
    assert resp.flags & dns.flags.QR
    assert not resp.flags & dns.flags.TC
    assert resp.question[0].name == qname
    assert resp.question[0].rdtype == dns.rdatatype.RdataType.make(rdtype)


def assert_soa_authority(resp, served, key=None):
    origin = dns.name.from_text((key or served.key).origin)
    soas = [r for r in resp.authority if r.rdtype == dns.rdatatype.SOA]
    assert len(soas) == 1, f"one SOA in authority expected, got: {resp.authority}"
    soa = soas[0]
    assert soa.name == origin, f"SOA owner {soa.name} != {origin}"
    assert len(soa) == 1
    # Negative TTL (RFC 2308: min of SOA TTL and MINIMUM) = the clamp minimum.
    assert min(soa.ttl, soa[0].minimum) == MIN_TTL, soa.to_text()


TRANSPORTS = [False, True]
TRANSPORT_IDS = ["udp", "tcp"]

# --------------------------------------------------------------------------------------------
# Record types

RECORDS = [
    ("@", "A"), ("@", "AAAA"), ("@", "TXT"), ("@", "MX"), ("@", "NS"), ("@", "CAA"),
    ("_sip._tcp", "SRV"), ("svc", "HTTPS"), ("svc2", "SVCB"), ("www", "CNAME"),
    ("mail", "A"), ("*.wild", "TXT"),
]


@pytest.mark.parametrize("tcp", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("rel,rdtype", RECORDS, ids=[f"{r}-{t}" for r, t in RECORDS])
def test_record_type_served(served, rel, rdtype, tcp):
    qname = served.name(rel)
    resp = served.node.query(qname, rdtype, tcp=tcp)
    assert_positive(resp, qname, rdtype)
    want = expected(served, rel, rdtype)
    assert len(resp.answer) == 1, f"one RRset expected:\n{resp}"
    got = resp.answer[0]
    assert got.name == qname and got.rdtype == want.rdtype
    assert set(got) == set(want), f"rdata differ:\n got {got}\nwant {want}"
    assert got.ttl == 3600


@pytest.mark.parametrize("rel,ttl,want", [("short", 60, 300), ("long", 1000000, 86400),
                                          ("mail", 3600, 3600)])
def test_ttl_clamped(served, rel, ttl, want):
    resp = served.node.query(served.name(rel), "A")
    assert_positive(resp, served.name(rel), "A")
    assert resp.answer[0].ttl == want == clamp(ttl)


# --------------------------------------------------------------------------------------------
# CNAME


@pytest.mark.parametrize("tcp", TRANSPORTS, ids=TRANSPORT_IDS)
def test_cname_chased_inside_zone(served, tcp):
    resp = served.node.query(served.name("www"), "A", tcp=tcp)
    assert_positive(resp, served.name("www"), "A")
    assert [(r.name, r.rdtype) for r in resp.answer] == [
        (served.name("www"), dns.rdatatype.CNAME), (served.name(), dns.rdatatype.A)]
    assert resp.answer[0][0].target == served.name()
    assert {r.to_text() for r in resp.answer[1]} == {"192.0.2.1"}


def test_cname_chain_of_two(served):
    resp = served.node.query(served.name("alias"), "AAAA")
    assert_positive(resp, served.name("alias"), "AAAA")
    assert [(r.name, r.rdtype) for r in resp.answer] == [
        (served.name("alias"), dns.rdatatype.CNAME),
        (served.name("www"), dns.rdatatype.CNAME),
        (served.name(), dns.rdatatype.AAAA)]
    assert {r.to_text() for r in resp.answer[2]} == {"2001:db8::1"}


def test_cname_to_outside_name_not_chased(served):
    resp = served.node.query(served.name("ext"), "A")
    assert_positive(resp, served.name("ext"), "A")
    assert len(resp.answer) == 1
    assert resp.answer[0].rdtype == dns.rdatatype.CNAME
    assert resp.answer[0][0].target == dns.name.from_text("www.example.com.")


def test_cname_then_nodata(served):
    resp = served.node.query(served.name("www"), "SRV")
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert [(r.name, r.rdtype) for r in resp.answer] == [(served.name("www"), dns.rdatatype.CNAME)]
    assert_soa_authority(resp, served)


# --------------------------------------------------------------------------------------------
# Wildcards


@pytest.mark.parametrize("rel,rdtype,want", [
    ("foo.wild", "TXT", '"wildcard"'),
    ("foo.wild", "A", "192.0.2.99"),
    ("a.b.wild", "A", "192.0.2.99"),
])
def test_wildcard(served, rel, rdtype, want):
    qname = served.name(rel)
    resp = served.node.query(qname, rdtype)
    assert_positive(resp, qname, rdtype)
    assert len(resp.answer) == 1
    assert resp.answer[0].name == qname, "wildcard answers carry the query name as owner"
    assert [r.to_text() for r in resp.answer[0]] == [want]


def test_wildcard_nodata(served):
    resp = served.node.query(served.name("foo.wild"), "MX")
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert resp.answer == []
    assert_soa_authority(resp, served)


# --------------------------------------------------------------------------------------------
# Negative answers


@pytest.mark.parametrize("tcp", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("rel", ["nope", "a.b.c.nope", "x.mail"])
def test_nxdomain_with_soa(served, rel, tcp):
    resp = served.node.query(served.name(rel), "A", tcp=tcp)
    assert resp.rcode() == dns.rcode.NXDOMAIN, dns.rcode.to_text(resp.rcode())
    assert resp.flags & dns.flags.AA
    assert resp.answer == []
    assert_soa_authority(resp, served)


@pytest.mark.parametrize("tcp", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("rel,rdtype", [("mail", "AAAA"), ("@", "SRV"), ("svc", "A")])
def test_nodata_with_soa(served, rel, rdtype, tcp):
    resp = served.node.query(served.name(rel), rdtype, tcp=tcp)
    assert resp.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(resp.rcode())
    assert resp.flags & dns.flags.AA
    assert resp.answer == []
    assert_soa_authority(resp, served)


@pytest.mark.parametrize("rel", ["dept", "wild"])
def test_empty_non_terminal_is_nodata_not_nxdomain(served, rel):
    """RFC 8020: a name with children but no records exists (NOERROR, no answer)."""
    resp = served.node.query(served.name(rel), "A")
    assert resp.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(resp.rcode())
    assert resp.answer == []
    assert_soa_authority(resp, served)


def test_soa_at_apex(served):
    """The SOA that negative answers carry (owner <z32>.) is also the answer to an SOA query
    at the apex, as any authoritative server gives it (dig SOA <z32>.)."""
    resp = served.node.query(served.name(), "SOA")
    assert_positive(resp, served.name(), "SOA")
    assert len(resp.answer) == 1, f"no SOA in the answer section:\n{resp}"
    assert resp.answer[0].name == served.name()
    assert resp.answer[0].rdtype == dns.rdatatype.SOA


# --------------------------------------------------------------------------------------------
# Query names: case


def mixed_case(name: str) -> str:
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(name))


@pytest.mark.parametrize("tcp", TRANSPORTS, ids=TRANSPORT_IDS)
def test_case_insensitive_and_case_preserved(served, tcp):
    qname = mixed_case("www." + served.key.origin)
    assert qname != qname.lower()
    q = make_query(qname, "A")
    wire = q.to_wire()
    raw = served.node.tcp(wire) if tcp else served.node.udp(wire, timeout=2)
    assert raw is not None, "no answer"
    qsection = wire[12:]  # a query made by dnspython has only the question
    assert raw[12:12 + len(qsection)] == qsection, (
        f"question not echoed byte for byte (0x20 case lost): {raw[12:12 + len(qsection)]!r}")
    resp = dns.message.from_wire(raw)
    assert resp.id == q.id
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert {r.to_text() for r in resp.answer[-1]} == {"192.0.2.1"}


def test_uppercase_key_name(served):
    qname = served.key.name("mail").upper()
    resp = served.node.query(qname, "A")
    assert resp.rcode() == dns.rcode.NOERROR
    assert {r.to_text() for r in resp.answer[0]} == {"192.0.2.25"}


# --------------------------------------------------------------------------------------------
# Size, truncation and EDNS


def big_name(served):
    return served.big.name("big")


def big_addresses():
    return {f"10.0.0.{i}" for i in range(1, BIG_COUNT + 1)}


def test_big_answer_premise(served):
    """The test zone's answer really is about 900 bytes (over 512, under 1232)."""
    resp = served.node.query(big_name(served), "A", tcp=True, use_edns=0, payload=1232)
    size = len(resp.to_wire())
    assert 850 <= size <= 1100, size


@pytest.mark.parametrize("edns", [None, 512], ids=["no-edns", "edns-512"])
def test_big_answer_truncated_over_udp(served, edns):
    kw = {} if edns is None else {"use_edns": 0, "payload": edns}
    q = make_query(big_name(served), "A", **kw)
    raw = served.node.udp(q.to_wire(), timeout=2)
    assert raw is not None, "no answer"
    assert len(raw) <= 512, f"UDP answer of {len(raw)} bytes exceeds 512"
    resp = dns.message.from_wire(raw)
    assert resp.id == q.id
    assert resp.flags & dns.flags.TC, "TC=1 expected when the answer does not fit"
    assert resp.rcode() == dns.rcode.NOERROR
    got = sum(len(r) for r in resp.answer)
    assert got < BIG_COUNT
    if edns is not None:
        assert resp.edns == 0, "the OPT record stays in a truncated EDNS answer"


def test_small_edns_payload_treated_as_512(served):
    """RFC 6891 6.2.5: payload values below 512 are treated as 512, so a ~200-byte answer
    asked with payload 100 comes back whole."""
    q = make_query(served.name(), "TXT", use_edns=0, payload=100)
    raw = served.node.udp(q.to_wire(), timeout=2)
    assert raw is not None, "no answer"
    assert 100 < len(raw) <= 512, len(raw)
    resp = dns.message.from_wire(raw)
    assert not resp.flags & dns.flags.TC
    assert len(resp.answer) == 1 and len(resp.answer[0]) == 2


@pytest.mark.parametrize("edns", [True, False], ids=["edns", "no-edns"])
def test_big_answer_complete_over_tcp(served, edns):
    kw = {"use_edns": 0, "payload": 1232} if edns else {}
    resp = served.node.query(big_name(served), "A", tcp=True, **kw)
    assert_positive(resp, dns.name.from_text(big_name(served)), "A")
    assert {r.to_text() for r in resp.answer[0]} == big_addresses()


def test_big_answer_complete_over_udp_with_edns_1232(served):
    resp = served.node.query(big_name(served), "A", use_edns=0, payload=1232)
    assert not resp.flags & dns.flags.TC
    assert {r.to_text() for r in resp.answer[0]} == big_addresses()


@pytest.mark.parametrize("tcp", TRANSPORTS, ids=TRANSPORT_IDS)
def test_edns_response_payload_1232(served, tcp):
    resp = served.node.query(served.name("mail"), "A", tcp=tcp, use_edns=0, payload=4096)
    assert resp.edns == 0, "an EDNS query gets an OPT record back"
    assert resp.payload == 1232
    assert resp.rcode() == dns.rcode.NOERROR


def test_no_opt_without_edns(served):
    resp = served.node.query(served.name("mail"), "A")
    assert resp.edns == -1, "no OPT record in the answer to a query without one"


def test_unknown_edns_option_ignored(served):
    opt = dns.edns.GenericOption(65001, b"\x01\x02\x03")
    resp = served.node.query(served.name("mail"), "A", use_edns=0, options=[opt])
    assert resp.rcode() == dns.rcode.NOERROR and resp.edns == 0
    assert {r.to_text() for r in resp.answer[0]} == {"192.0.2.25"}
    assert all(o.otype != 65001 for o in resp.options), "unknown options are not echoed"


def test_edns_version_1_badvers(served):
    resp = served.node.query(served.name("mail"), "A", use_edns=1)
    assert resp.rcode() == dns.rcode.BADVERS
    assert resp.edns == 0, "BADVERS answers carry our version (0)"
    assert resp.answer == []


# --------------------------------------------------------------------------------------------
# Outside own zones


@pytest.mark.parametrize("tcp", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("name", ["example.com.", "www.example.org.", "."])
def test_refused_outside_zones(served, name, tcp):
    resp = served.node.query(name, "A", tcp=tcp)
    assert resp.rcode() == dns.rcode.REFUSED, dns.rcode.to_text(resp.rcode())
    assert resp.answer == []
    assert not resp.flags & dns.flags.AA


# --------------------------------------------------------------------------------------------
# TCP


def pipeline_queries(served):
    names = [("www", "A"), ("mail", "A"), ("@", "TXT"), ("@", "MX"), ("nope", "A"),
             ("_sip._tcp", "SRV"), ("svc", "HTTPS"), ("@", "AAAA"), ("foo.wild", "TXT"),
             ("@", "CAA")]
    ids = random.Random(1).sample(range(1, 65535), len(names))
    return [make_query(served.name(rel), rdtype, id=i) for (rel, rdtype), i in zip(names, ids)]


def test_tcp_pipelining_ten_queries(served):
    queries = pipeline_queries(served)
    by_id = {q.id: q for q in queries}
    with tcp_connect(served.node.dns_port, timeout=3) as s:
        # All ten in one write, before reading anything.
        s.sendall(b"".join(struct.pack(">H", len(w)) + w for w in (q.to_wire() for q in queries)))
        answers = {}
        for _ in queries:
            raw = tcp_read_message(s)
            assert raw is not None, f"connection closed after {len(answers)} answers"
            resp = dns.message.from_wire(raw)
            assert resp.id in by_id and resp.id not in answers, f"unexpected id {resp.id}"
            answers[resp.id] = resp
        # The connection stays open for more.
        q = make_query(served.name("sip"), "A")
        w = q.to_wire()
        s.sendall(struct.pack(">H", len(w)) + w)
        last = dns.message.from_wire(tcp_read_message(s))
        assert last.id == q.id and {r.to_text() for r in last.answer[0]} == {"192.0.2.26"}
    for qid, q in by_id.items():
        resp = answers[qid]
        assert q.is_response(resp), f"answer {qid} does not match its question"
        want = dns.rcode.NXDOMAIN if q.question[0].name == served.name("nope") else dns.rcode.NOERROR
        assert resp.rcode() == want
        if want == dns.rcode.NOERROR:
            assert resp.answer, f"no answer for {q.question[0]}"
            final = resp.answer[-1]
            assert final.rdtype == q.question[0].rdtype
            if q.question[0].name != served.name("www") and "wild" not in str(q.question[0].name):
                rel = q.question[0].name.relativize(served.name()).to_text()
                assert set(final) == set(expected(served, rel, final.rdtype))


def test_tcp_message_split_across_writes(served):
    q = make_query(served.name("mail"), "A")
    w = q.to_wire()
    framed = struct.pack(">H", len(w)) + w
    with tcp_connect(served.node.dns_port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for part in (framed[:1], framed[1:9], framed[9:]):
            s.sendall(part)
            time.sleep(0.05)
        resp = dns.message.from_wire(tcp_read_message(s))
    assert resp.id == q.id and {r.to_text() for r in resp.answer[0]} == {"192.0.2.25"}


@pytest.mark.slow
def test_tcp_idle_connection_closed(served):
    """RFC 7766: the server closes idle connections (waits at most 40 s for it)."""
    with tcp_connect(served.node.dns_port, timeout=40) as s:
        q = make_query(served.name("mail"), "A")
        w = q.to_wire()
        s.sendall(struct.pack(">H", len(w)) + w)
        assert tcp_read_message(s) is not None
        start = time.monotonic()
        try:
            data = s.recv(1)
        except socket.timeout:
            pytest.fail("an idle TCP connection was still open after 40 s")
        except ConnectionResetError:
            data = b""
        assert data == b"", f"unexpected data on an idle connection: {data!r}"
        assert time.monotonic() - start >= 0.5, "closed too eagerly right after an answer"


# --------------------------------------------------------------------------------------------
# Other clients: dig and kdig


def run_tool(argv):
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    assert cp.returncode == 0, f"{argv[0]} exit {cp.returncode}: {cp.stdout}{cp.stderr}"
    return cp.stdout


@pytest.mark.parametrize("tcp", TRANSPORTS, ids=TRANSPORT_IDS)
def test_dig_sees_answer(served, tcp):
    out = run_tool(["dig", "@127.0.0.1", "-p", str(served.node.dns_port), "+tries=1", "+time=3",
                    "+tcp" if tcp else "+notcp", served.key.name("www"), "A"])
    assert "status: NOERROR" in out, out
    assert " aa" in out.split("flags:")[1].split(";")[0], f"AA flag expected:\n{out}"
    answer = [line.split() for line in out.splitlines() if line and not line.startswith(";")]
    assert [served.key.name("www"), "3600", "IN", "CNAME", served.key.origin] in answer, out
    assert [served.key.origin, "3600", "IN", "A", "192.0.2.1"] in answer, out


def test_dig_short_mx(served):
    out = run_tool(["dig", "@127.0.0.1", "-p", str(served.node.dns_port), "+tries=1", "+time=3",
                    "+short", served.key.origin, "MX"])
    assert sorted(out.split("\n")[:-1]) == sorted(
        [f"10 mail.{served.key.origin}", "20 backup.example.net."]), out


def test_dig_nxdomain(served):
    out = run_tool(["dig", "@127.0.0.1", "-p", str(served.node.dns_port), "+tries=1", "+time=3",
                    served.key.name("nope"), "A"])
    assert "status: NXDOMAIN" in out, out
    assert "AUTHORITY: 1" in out, out


def test_kdig_txt_over_tcp(served):
    out = run_tool(["kdig", "@127.0.0.1", "-p", str(served.node.dns_port), "+tcp", "+timeout=3",
                    "+retry=0", served.key.origin, "TXT"])
    assert "status: NOERROR" in out, out
    assert '"v=spf1 -all"' in out and '"two" "strings"' in out, out


def test_kdig_https_record(served):
    out = run_tool(["kdig", "@127.0.0.1", "-p", str(served.node.dns_port), "+timeout=3",
                    "+retry=0", "+short", served.key.name("svc"), "HTTPS"])
    assert out.split() == ["1", ".", "alpn=h2,h3", "port=8443", "ipv4hint=192.0.2.7"], out
