"""DNS over HTTP/1.1 on the API port (RFC 8484 `/dns-query`), its JSON form (the format of
Google's and Cloudflare's JSON APIs), `GET /metrics` in the Prometheus text format, and
`swarmdns status` (issue 5).

Independent clients: dnspython builds the queries and parses the answers, http.client and
curl carry them, prometheus_client's parser reads /metrics. A small DNS server written here
with dnspython plays the upstream: its answers compress names, also inside rdata, and it can
hold answers back so that requests must wait (suspended) for them.
"""
import base64
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from conftest import (
    Key,
    Node,
    _finish,
    describe,
    finish_all,
    free_port,
    public_key,
    publish_zone,
    relay_body,
    run_cli,
    start_joined,
    z32encode,
)
from dhtutil import Testnet

DNS_MESSAGE = "application/dns-message"
DNS_JSON = "application/dns-json"

ZONE = """@ 300 IN A 192.0.2.10
www 300 IN A 192.0.2.1
www 300 IN A 192.0.2.2
www 300 IN AAAA 2001:db8::1
@ 600 IN MX 10 mail
mail 300 IN A 192.0.2.3
alias 120 IN CNAME www
@ 300 IN TXT "hello world" "second string"
_sip._tcp 300 IN SRV 10 20 5060 www
"""


# --------------------------------------------------------------------------------------------
# A fake upstream server


class FakeUpstream:
    """A DNS server on 127.0.0.1 (UDP) for names under `example.`, answering with dnspython
    (which compresses names, in rdata too). `delay` holds every answer back that long; each
    query waits on its own, so that answers can be late in parallel."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            try:
                wire, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            try:
                q = dns.message.from_wire(wire)
            except Exception:
                continue
            out = self.answer(q).to_wire()
            if self.delay:
                threading.Timer(self.delay, self._send, (out, addr)).start()
            else:
                self._send(out, addr)

    def _send(self, out, addr):
        try:
            self.sock.sendto(out, addr)
        except OSError:
            pass

    @staticmethod
    def answer(q):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        qname = q.question[0].name
        qtype = q.question[0].rdtype
        zone = dns.name.from_text("example.")
        if qname == dns.name.from_text("mx.example.") and qtype == dns.rdatatype.MX:
            r.answer.append(dns.rrset.from_text(qname, 200, "IN", "MX", "10 mail.mx.example."))
        elif qname.is_subdomain(dns.name.from_text("up.example.")) and \
                qname.labels[0] != b"nx" and qtype == dns.rdatatype.A:
            target = dns.name.from_text("www", origin=qname)
            r.answer.append(dns.rrset.from_text(qname, 120, "IN", "CNAME", target.to_text()))
            r.answer.append(dns.rrset.from_text(target, 60, "IN", "A", "192.0.2.80"))
            r.authority.append(dns.rrset.from_text(qname, 3600, "IN", "NS",
                                                   f"ns1.{qname.to_text()}"))
        else:
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(dns.rrset.from_text(
                zone, 900, "IN", "SOA", "ns1.example. hostmaster.example. 1 3600 600 86400 30"))
        return r

    def close(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


class UpstreamNode(Node):
    """A Node that forwards names outside the swarm to `upstream` (conftest's `--upstream
    none` replaced: a repeated option would make a list)."""

    def __init__(self, *args, upstream: int, **kw):
        super().__init__(*args, **kw)
        self.upstream = upstream

    def argv(self):
        argv = super().argv()
        i = argv.index("--upstream")
        argv[i + 1] = f"127.0.0.1:{self.upstream}"
        return argv


# --------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def upstream():
    up = FakeUpstream(delay=0.3)
    yield up
    up.close()


@pytest.fixture(scope="module")
def env(swarmdns_bin, tmp_path_factory, upstream):
    """One node for the module, with the zone ZONE published and the fake upstream; returns
    (node, zone origin)."""
    base = tmp_path_factory.mktemp("api-http")
    (base / "data").mkdir()
    n = UpstreamNode(swarmdns_bin, base / "data", base, extra_args=["--min-ttl", "0"],
                     upstream=upstream.port)
    n.start()
    try:
        keys = base / "keys"
        keys.mkdir()
        cp = run_cli(swarmdns_bin, "keygen", "-o", keys / "k.key")
        assert cp.returncode == 0, describe(cp)
        z32 = cp.stdout.strip()
        publish_zone(swarmdns_bin, n, Key(keys / "k.key", z32), ZONE, directory=base)
        yield n, z32 + "."
    finally:
        _finish(n)


def b64url(wire: bytes) -> str:
    return base64.urlsafe_b64encode(wire).rstrip(b"=").decode()


def doh_get(node, wire: bytes, headers=None):
    return node.api("GET", f"/dns-query?dns={b64url(wire)}", headers=headers)


def doh_post(node, wire: bytes, ctype=DNS_MESSAGE, headers=None):
    return node.api("POST", "/dns-query", body=wire, headers={"Content-Type": ctype,
                                                               **(headers or {})})


def wire_answer(r):
    """The DNS message of a 200 application/dns-message response, parsed by dnspython."""
    assert r.status == 200, f"HTTP {r.status}: {r.body!r}"
    assert r.headers["content-type"] == DNS_MESSAGE, r.headers
    return dns.message.from_wire(r.body)


def max_age(headers) -> int:
    m = re.fullmatch(r"max-age=(\d+)", headers.get("cache-control", ""))
    assert m, f"no 'Cache-Control: max-age=N' header: {headers}"
    return int(m.group(1))


def records(section):
    """[(owner, type, ttl, rdata text)] of a dnspython section, sorted."""
    return sorted((rr.name.to_text(), int(rr.rdtype), rr.ttl, rd.to_text())
                  for rr in section for rd in rr)


def json_records(items):
    return sorted((x["name"], x["type"], x["TTL"], x["data"]) for x in items or [])


def same_records(a, b, ttl_slack=0):
    """Equal record lists, TTLs within ttl_slack seconds (a cached answer ages)."""
    return len(a) == len(b) and all(
        x[:2] == y[:2] and x[3] == y[3] and abs(x[2] - y[2]) <= ttl_slack for x, y in zip(a, b))


def expected_max_age(msg) -> int:
    """RFC 8484 §5.1 and RFC 2308 §5 computed by us: the lowest answer TTL, else the SOA's
    negative TTL."""
    if msg.answer:
        return min(rr.ttl for rr in msg.answer)
    soa = [rr for rr in msg.authority if rr.rdtype == dns.rdatatype.SOA]
    assert soa, f"no answer and no SOA:\n{msg}"
    return min(soa[0].ttl, soa[0][0].minimum)


def assert_json_matches(j, msg, ttl_slack=0):
    """The JSON form says what the DNS message says."""
    assert j["Status"] == msg.rcode(), (j, msg.to_text())
    for flag, bit in (("TC", dns.flags.TC), ("RD", dns.flags.RD), ("RA", dns.flags.RA),
                      ("AD", dns.flags.AD), ("CD", dns.flags.CD)):
        assert j[flag] is bool(msg.flags & bit), (flag, j, msg.to_text())
    assert j["Question"] == [{"name": q.name.to_text(), "type": int(q.rdtype)}
                             for q in msg.question]
    for key, section in (("Answer", msg.answer), ("Authority", msg.authority)):
        assert same_records(json_records(j.get(key)), records(section), ttl_slack), \
            (key, j, msg.to_text())


# --------------------------------------------------------------------------------------------
# /dns-query, wire form


CASES = [("www", "A"), ("www", "AAAA"), ("@", "MX"), ("@", "TXT"), ("alias", "A"),
         ("_sip._tcp", "SRV"), ("nothere", "A"), ("www", "MX")]


def qname(origin, rel):
    return origin if rel == "@" else f"{rel}.{origin}"


@pytest.mark.parametrize("rel,rdtype", CASES)
def test_get_and_post_answer_as_udp_does(env, rel, rdtype):
    node, origin = env
    name = qname(origin, rel)
    udp = node.query(name, rdtype)
    # RFC 8484 §4.1: GET with ID 0 (cache friendly), POST with any ID.
    q = dns.message.make_query(name, rdtype, id=0)
    got = wire_answer(doh_get(node, q.to_wire()))
    q2 = dns.message.make_query(name, rdtype)
    r2 = doh_post(node, q2.to_wire())
    got2 = wire_answer(r2)
    for m, query in ((got, q), (got2, q2)):
        assert m.id == query.id and m.flags & dns.flags.QR
        assert m.question == query.question
        assert m.rcode() == udp.rcode(), f"over HTTP:\n{m}\nover UDP:\n{udp}"
        assert records(m.answer) == records(udp.answer), f"over HTTP:\n{m}\nover UDP:\n{udp}"
        assert records(m.authority) == records(udp.authority)
        assert bool(m.flags & dns.flags.AA) == bool(udp.flags & dns.flags.AA)
    assert max_age(r2.headers) == expected_max_age(got2)


def test_cache_control_is_the_lowest_answer_ttl(env):
    node, origin = env
    # alias CNAME 120 -> www A 300: the lowest TTL of the answer is the CNAME's.
    r = doh_post(node, dns.message.make_query(f"alias.{origin}", "A").to_wire())
    m = wire_answer(r)
    assert sorted(rr.ttl for rr in m.answer) == [120, 300], m.to_text()
    assert max_age(r.headers) == 120
    # NXDOMAIN: the SOA's negative TTL (RFC 2308 §5).
    r = doh_get(node, dns.message.make_query(f"nothere.{origin}", "A").to_wire())
    m = wire_answer(r)
    assert m.rcode() == dns.rcode.NXDOMAIN
    assert max_age(r.headers) == expected_max_age(m)


def test_edns_errors_are_dns_answers(env):
    """A well-formed query the server will not serve gets a DNS answer (HTTP 200), not an
    HTTP error: EDNS version 1 gives BADVERS (RFC 6891 §6.1.3), with the extended rcode in
    the JSON form's Status too."""
    node, origin = env
    q = dns.message.make_query(f"www.{origin}", "A", use_edns=0)
    q.use_edns(1, 0, 1232)
    m = wire_answer(doh_post(node, q.to_wire()))
    assert m.rcode() == dns.rcode.BADVERS, m.to_text()
    r = doh_post(node, q.to_wire(), headers={"Accept": DNS_JSON})
    assert r.status == 200 and r.headers["content-type"] == DNS_JSON
    assert r.json()["Status"] == dns.rcode.BADVERS


def curl(*args, timeout=10):
    cp = subprocess.run(["curl", "-sS", "--max-time", "5", *args], capture_output=True,
                        timeout=timeout)
    return cp


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_get_and_post(env, tmp_path):
    node, origin = env
    url = f"{node.api_url}/dns-query"
    q = dns.message.make_query(f"www.{origin}", "A", id=0)
    out = tmp_path / "get.bin"
    cp = curl("-o", str(out), "-w", "%{http_code} %{content_type}",
              "-H", f"Accept: {DNS_MESSAGE}", f"{url}?dns={b64url(q.to_wire())}")
    assert cp.returncode == 0 and cp.stdout.decode() == f"200 {DNS_MESSAGE}", cp
    m = dns.message.from_wire(out.read_bytes())
    assert records(m.answer) == records(node.query(f"www.{origin}", "A").answer)
    assert m.id == 0

    q = dns.message.make_query(f"{origin}", "MX")
    body = tmp_path / "q.bin"
    body.write_bytes(q.to_wire())
    out = tmp_path / "post.bin"
    cp = curl("-o", str(out), "-w", "%{http_code} %{content_type}",
              "-H", f"Content-Type: {DNS_MESSAGE}", "--data-binary", f"@{body}", url)
    assert cp.returncode == 0 and cp.stdout.decode() == f"200 {DNS_MESSAGE}", cp
    m = dns.message.from_wire(out.read_bytes())
    assert m.id == q.id
    assert [rd.to_text() for rr in m.answer for rd in rr] == [f"10 mail.{origin}"]

    # The JSON form through curl.
    cp = curl("-w", "\n%{http_code} %{content_type}", "-H", f"Accept: {DNS_JSON}",
              f"{url}?name=www.{origin}&type=AAAA")
    text, status = cp.stdout.decode().rsplit("\n", 1)
    assert status == f"200 {DNS_JSON}", cp
    assert json_records(json.loads(text)["Answer"]) == [(f"www.{origin}", 28, 300, "2001:db8::1")]


# --------------------------------------------------------------------------------------------
# /dns-query, JSON form


@pytest.mark.parametrize("rel,rdtype", CASES)
def test_json_form_matches_the_dns_answer(env, rel, rdtype):
    node, origin = env
    name = qname(origin, rel)
    msg = node.query(name, rdtype)
    r = node.api("GET", f"/dns-query?name={name}&type={rdtype}")
    assert r.status == 200, r.body
    assert r.headers["content-type"] == DNS_JSON
    j = r.json()
    assert_json_matches(j, msg)
    assert max_age(r.headers) == expected_max_age(msg)
    # The same with a numeric type and a relative name, and through Accept with ?dns=.
    r = node.api("GET", f"/dns-query?name={name.rstrip('.')}"
                        f"&type={int(dns.rdatatype.from_text(rdtype))}")
    assert r.status == 200 and r.json() == j
    q = dns.message.make_query(name, rdtype)
    r = doh_get(node, q.to_wire(), headers={"Accept": DNS_JSON})
    assert r.status == 200 and r.headers["content-type"] == DNS_JSON
    assert_json_matches(r.json(), msg)


def test_json_form_default_type_and_wire_on_request(env):
    node, origin = env
    j = node.api("GET", f"/dns-query?name=www.{origin}").json()
    assert j["Question"] == [{"name": f"www.{origin}", "type": 1}]
    assert len(j["Answer"]) == 2
    # ct=application/dns-message asks for the wire form of the same answer.
    r = node.api("GET", f"/dns-query?name=www.{origin}&type=A&ct={DNS_MESSAGE}")
    assert_json_matches(j, wire_answer(r))


def test_json_form_of_forwarded_answers_has_names_decompressed(env):
    """Upstream answers arrive with compressed names, also inside CNAME, NS, MX and SOA
    rdata; the JSON form prints them whole, and matches the wire form of the same query."""
    node, _ = env
    tag = time.monotonic_ns()  # names the forwarder has not cached yet
    for name, rdtype, expect, ttl in (
            (f"a{tag}.up.example.", "A",
             [(f"a{tag}.up.example.", 5, 120, f"www.a{tag}.up.example."),
              (f"www.a{tag}.up.example.", 1, 60, "192.0.2.80")], 60),
            ("mx.example.", "MX", [("mx.example.", 15, 200, "10 mail.mx.example.")], 200),
            (f"nx.u{tag}.up.example.", "A", [], 30)):
        # First from the upstream (the request waits for it): TTLs as the upstream gave them.
        r = node.api("GET", f"/dns-query?name={name}&type={rdtype}")
        assert r.status == 200 and r.headers["content-type"] == DNS_JSON, r.body
        assert max_age(r.headers) <= ttl
        j = r.json()
        assert json_records(j.get("Answer")) == sorted(expect) or name == "mx.example."
        assert same_records(json_records(j.get("Answer")), sorted(expect), ttl_slack=200)
        # Then the wire form from the forwarder's cache: the same, a second older at most.
        r = doh_post(node, dns.message.make_query(name, rdtype).to_wire())
        msg = wire_answer(r)
        assert_json_matches(j, msg, ttl_slack=1)
        assert max_age(r.headers) == expected_max_age(msg)
    # SOA rdata with two compressed names.
    assert json_records(j["Authority"]) == [
        ("example.", 6, 900, "ns1.example. hostmaster.example. 1 3600 600 86400 30")]
    # NS rdata compressed against the owner.
    j = node.api("GET", f"/dns-query?name=b{tag}.up.example.&type=A").json()
    assert json_records(j["Authority"]) == [
        (f"b{tag}.up.example.", 2, 3600, f"ns1.b{tag}.up.example.")]


def test_rdata_that_is_not_well_formed_is_shown_in_the_generic_form(env):
    """A signed zone may hold rdata that is not well formed for its type (anyone can sign
    anything): the JSON form and /v1/resolve show it in the generic form (RFC 3597 §5)
    instead of handing it to a printer that would read past it."""
    node, _ = env
    seed = os.urandom(32)
    z = z32encode(public_key(seed))
    msg = dns.message.Message(id=0)
    msg.flags = dns.flags.QR | dns.flags.AA
    msg.answer.append(dns.rrset.from_text(f"www.{z}.", 300, "IN", "A", "192.0.2.1"))
    bad = dns.rrset.RRset(dns.name.from_text(f"x.{z}."), dns.rdataclass.IN,
                          dns.rdatatype.NSEC3)
    # NSEC3 whose salt and hash lengths point past the end.
    bad.add(dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.NSEC3,
                                   bytes.fromhex("01000005ffff0102")), 300)
    msg.answer.append(bad)
    r = node.put_relay(z, relay_body(seed, time.time_ns() // 1000, msg.to_wire()))
    assert r.status == 204, r.body
    r = node.api("GET", f"/dns-query?name=x.{z}.&type=NSEC3")
    assert r.status == 200, r.body
    assert json_records(r.json()["Answer"]) == [
        (f"x.{z}.", 50, 300, "\\# 8 01000005ffff0102")]
    r = node.api("GET", f"/v1/resolve?name=x.{z}.&type=NSEC3")
    assert r.status == 200 and r.json()["answer"] == [
        f"x.{z}. 300 NSEC3 \\# 8 01000005ffff0102"], r.body
    node.assert_alive()
    j = node.api("GET", f"/dns-query?name=www.{z}.&type=A").json()
    assert json_records(j["Answer"]) == [(f"www.{z}.", 1, 300, "192.0.2.1")]


# --------------------------------------------------------------------------------------------
# Late answers: requests wait suspended while other requests are served


def test_late_answers_come_back_to_waiting_requests(env, upstream):
    """Upstream answers take 0.3 s each: 20 POSTs at once are all answered, correctly and in
    about the time of one (the requests wait suspended, they do not block the node); a
    client that leaves while its request waits does no harm."""
    node, origin = env
    names = [f"late{i}.up.example." for i in range(20)]
    results = {}

    def ask(name):
        q = dns.message.make_query(name, "A")
        r = doh_post(node, q.to_wire(), headers={"Accept": DNS_MESSAGE})
        results[name] = (q, r)

    # One that leaves before its answer comes.
    s = socket.create_connection(("127.0.0.1", node.api_port), timeout=2)
    body = dns.message.make_query("gone.up.example.", "A").to_wire()
    s.sendall(b"POST /dns-query HTTP/1.1\r\nHost: x\r\nContent-Type: " + DNS_MESSAGE.encode()
              + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    s.close()
    t0 = time.monotonic()
    threads = [threading.Thread(target=ask, args=(n,)) for n in names]
    for t in threads:
        t.start()
    # Meanwhile an own-zone answer is not held up by the waiting ones.
    r = doh_get(node, dns.message.make_query(f"www.{origin}", "A").to_wire())
    fast = time.monotonic() - t0
    for t in threads:
        t.join(10)
    elapsed = time.monotonic() - t0
    assert r.status == 200 and fast < 1.0, f"own-zone answer took {fast:.3f} s"
    assert len(results) == len(names)
    for name, (q, r) in results.items():
        m = wire_answer(r)
        assert m.id == q.id and m.question == q.question, m.to_text()
        assert m.rcode() == dns.rcode.NOERROR
        assert ("www." + name, 1, 60, "192.0.2.80") in records(m.answer), m.to_text()
    assert elapsed < 3.0, f"20 late answers took {elapsed:.2f} s: requests were served in turn"
    time.sleep(0.4)  # the answer for the client that left arrives
    node.assert_alive()
    assert wire_answer(doh_get(node, dns.message.make_query(origin, "A").to_wire())).answer


# --------------------------------------------------------------------------------------------
# Errors


def test_errors_get_the_right_status_and_the_node_goes_on(env):
    node, origin = env
    good = dns.message.make_query(f"www.{origin}", "A").to_wire()
    resp = dns.message.make_response(dns.message.make_query(f"www.{origin}", "A")).to_wire()
    cases = [
        # 400: base64url that is not (padding, the standard alphabet, junk), or no query.
        (("GET", f"/dns-query?dns={b64url(good)}=", None, None), 400),
        (("GET", "/dns-query?dns=" + base64.b64encode(good).decode().replace("+", "%2B")
          .replace("/", "%2F").rstrip("=") + "%2B%2F", None, None), 400),
        (("GET", "/dns-query?dns=!!!!", None, None), 400),
        (("GET", "/dns-query?dns=", None, None), 400),
        (("GET", "/dns-query", None, None), 400),
        (("GET", f"/dns-query?dns={b64url(b'abc')}", None, None), 400),
        (("GET", f"/dns-query?dns={b64url(resp)}", None, None), 400),
        (("POST", "/dns-query", resp, {"Content-Type": DNS_MESSAGE}), 400),
        (("POST", "/dns-query", good[:14], {"Content-Type": DNS_MESSAGE}), 400),
        (("POST", "/dns-query", b"", {"Content-Type": DNS_MESSAGE}), 400),
        (("GET", f"/dns-query?name=www.{origin}&type=NOSUCHTYPE", None, None), 400),
        (("GET", "/dns-query?name=" + "a" * 70 + ".example.", None, None), 400),
        # 415: anything but application/dns-message.
        (("POST", "/dns-query", good, {"Content-Type": "application/octet-stream"}), 415),
        (("POST", "/dns-query", good, {"Content-Type": "text/plain"}), 415),
        (("POST", "/dns-query", good, {"Content-Type": "application/dns-messagex"}), 415),
        # 413: more than a DNS message can be.
        (("POST", "/dns-query", b"\0" * 65536, {"Content-Type": DNS_MESSAGE}), 413),
        # 405: other methods.
        (("PUT", "/dns-query", good, {"Content-Type": DNS_MESSAGE}), 405),
        (("DELETE", "/dns-query", None, None), 405),
        (("PATCH", "/dns-query", good, {"Content-Type": DNS_MESSAGE}), 405),
    ]
    for (method, path, body, headers), status in cases:
        r = node.api(method, path, body=body, headers=headers)
        assert r.status == status, f"{method} {path[:60]} -> {r.status} {r.body[:200]!r}"
        if status == 405:
            assert set(re.split(r",\s*", r.headers["allow"])) >= {"GET", "POST"}
        node.assert_alive()
    # A content type with parameters is still the type (RFC 9110 §8.3.1), in any case.
    r = doh_post(node, good, ctype="Application/DNS-Message; charset=binary")
    assert wire_answer(r).answer
    # 65535 bytes is allowed in size: it gets past 413 (and is then no query: 400).
    r = doh_post(node, b"\0" * 65535)
    assert r.status == 400


def test_oversized_chunked_body_is_refused(env):
    """Without a Content-Length the limit holds as the body arrives."""
    node, origin = env
    s = socket.create_connection(("127.0.0.1", node.api_port), timeout=5)
    try:
        s.sendall(b"POST /dns-query HTTP/1.1\r\nHost: x\r\nContent-Type: " + DNS_MESSAGE.encode()
                  + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"\0" * 8192
        for _ in range(9):  # 73728 bytes
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        head = b""
        while b"\r\n" not in head:
            data = s.recv(4096)
            if not data:
                break
            head += data
        assert head.startswith(b"HTTP/1.1 413"), head[:200]
    finally:
        s.close()
    assert wire_answer(doh_get(node, dns.message.make_query(f"www.{origin}", "A").to_wire()))


# --------------------------------------------------------------------------------------------
# /metrics


@pytest.fixture(scope="module")
def prom():
    return pytest.importorskip(
        "prometheus_client.parser",
        reason="python3-prometheus-client is not installed (scripts/install-deps.sh test)")


def scrape(prom, node):
    """{(sample name, ((label, value), ...)): value} and {family name: family}, parsed by
    the Prometheus client library's text parser."""
    r = node.api("GET", "/metrics")
    assert r.status == 200, r.body
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    text = r.body.decode()
    families = {f.name: f for f in prom.text_string_to_metric_families(text)}
    samples = {}
    for f in families.values():
        for s in f.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, f"sample {key} twice"
            samples[key] = s.value
    return samples, families, text


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no sample {name}{labels}; have " \
        f"{sorted(k for k in samples if k[0] == name)}"
    return samples[key]


def test_metrics_format(env, prom):
    node, _ = env
    samples, families, text = scrape(prom, node)
    # Every metric has HELP and TYPE; counters end in _total.
    helps = set(re.findall(r"^# HELP (\S+) \S", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    names = set(re.findall(r"^([a-z_]+)(?:\{| )", text, re.M))
    # A histogram's samples are <name>_bucket, _sum and _count under one HELP and TYPE.
    histograms = {n for n, k in types.items() if k == "histogram"}
    names = {re.sub(r"_(bucket|sum|count)$", "", n)
             if re.sub(r"_(bucket|sum|count)$", "", n) in histograms else n for n in names}
    assert names and names <= helps and names <= set(types), names - helps
    assert "swarmdns_dht_zone_lookup_seconds" in histograms
    for name, kind in types.items():
        assert kind in ("counter", "gauge", "histogram"), (name, kind)
        assert name.endswith("_total") == (kind == "counter"), (name, kind)
    assert any(k[0] == "swarmdns_queries_by_type_total" and dict(k[1]).get("type") == "A"
               for k in samples), "queries are counted by type"
    for f in families.values():
        assert f.documentation, f.name
    transports = {dict(k[1])["transport"] for k in samples if k[0] == "swarmdns_queries_total"}
    assert {"udp", "tcp", "api"} <= transports
    # Every transport of the node has a name (none shows as "transport<N>").
    assert not [t for t in transports if t.startswith("transport")], transports
    for source in ("local", "cache", "dht", "stale", "upstream", "none"):
        value(samples, "swarmdns_answers_total", source=source)
    for rcode in ("NOERROR", "SERVFAIL", "NXDOMAIN", "REFUSED"):
        value(samples, "swarmdns_responses_total", rcode=rcode)
    for direction in ("received", "sent"):
        for method in ("ping", "find_node", "get_peers", "announce_peer", "get", "put"):
            value(samples, f"swarmdns_dht_messages_{direction}_total", kind="query",
                  method=method)
        value(samples, f"swarmdns_dht_messages_{direction}_total", kind="reply")
        value(samples, f"swarmdns_dht_messages_{direction}_total", kind="error")
    for name in ("swarmdns_cache_hits_total", "swarmdns_cache_misses_total",
                 "swarmdns_dht_lookups_started_total", "swarmdns_dht_lookups_done_total",
                 "swarmdns_upstream_queries_total", "swarmdns_upstream_cache_hits_total"):
        value(samples, name)
    assert value(samples, "swarmdns_own_zones") == node.status()["zones"] >= 1
    assert value(samples, "swarmdns_dht_stored_items") >= 0
    assert value(samples, "swarmdns_dht_routing_table_nodes") == 0  # --bootstrap none
    assert value(samples, "swarmdns_open_connections", transport="api") >= 1
    assert value(samples, "swarmdns_build_info", version=node.status()["version"]) == 1
    assert value(samples, "swarmdns_uptime_seconds") > 0


def test_metrics_counters_move_with_queries(env, prom):
    node, origin = env
    before, _, _ = scrape(prom, node)
    n_udp, n_tcp, n_doh, n_nx = 7, 3, 4, 2
    for i in range(n_udp):
        assert node.query(f"www.{origin}", "A").rcode() == dns.rcode.NOERROR
    for i in range(n_tcp):
        assert node.query(f"www.{origin}", "A", tcp=True).rcode() == dns.rcode.NOERROR
    for i in range(n_doh):
        wire_answer(doh_post(node, dns.message.make_query(origin, "MX").to_wire()))
    for i in range(n_nx):
        assert node.query(f"nx{i}.{origin}", "A").rcode() == dns.rcode.NXDOMAIN
    after, _, _ = scrape(prom, node)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("swarmdns_queries_total", transport="udp") == n_udp + n_nx
    assert delta("swarmdns_queries_total", transport="tcp") == n_tcp
    assert delta("swarmdns_queries_total", transport="api") == n_doh
    assert delta("swarmdns_answers_total", source="local") == n_udp + n_tcp + n_doh + n_nx
    assert delta("swarmdns_responses_total", rcode="NOERROR") == n_udp + n_tcp + n_doh
    assert delta("swarmdns_responses_total", rcode="NXDOMAIN") == n_nx
    assert delta("swarmdns_answers_total", source="upstream") == 0

    # A name outside the swarm: to the upstream once, then from the forwarder's cache.
    before = after
    name = f"m{time.monotonic_ns()}.up.example."
    for _ in range(2):
        assert node.query(name, "A").rcode() == dns.rcode.NOERROR
    after, _, _ = scrape(prom, node)
    assert delta("swarmdns_answers_total", source="upstream") == 2
    assert delta("swarmdns_upstream_queries_total") == 1
    assert delta("swarmdns_upstream_cache_hits_total") == 1
    assert value(after, "swarmdns_upstream_cache_entries") >= 1

    # A key name that is no own zone: looked up in the DHT (nobody there), a cache miss.
    before = after
    other = z32encode(bytes(range(32)))
    assert node.query(f"www.{other}.", "A").rcode() == dns.rcode.SERVFAIL
    after, _, _ = scrape(prom, node)
    assert delta("swarmdns_cache_misses_total") == 1
    assert delta("swarmdns_dht_zone_lookups_total") == 1
    assert delta("swarmdns_responses_total", rcode="SERVFAIL") == 1
    assert delta("swarmdns_dht_lookups_started_total") >= 1

    # /v1/status says the same.
    st = node.status()
    assert st["queries"]["udp"] == value(after, "swarmdns_queries_total", transport="udp")
    assert st["answers_by_source"]["local"] == \
        value(after, "swarmdns_answers_total", source="local")
    assert st["cache"]["misses"] == value(after, "swarmdns_cache_misses_total")
    assert st["upstream"]["queries"] == value(after, "swarmdns_upstream_queries_total")


def test_metrics_of_dht_lookups_and_the_cache(swarmdns_bin, tmp_path, prom):
    """Two nodes on a testnet: A publishes, B answers a /dns-query for A's name from the DHT
    (the request waits for the lookup), then from its cache; B's counters say so."""
    testnet = Testnet(swarmdns_bin, 12, tmp_path, seconds=120).start()
    nodes = []
    try:
        a, b = start_joined(nodes, swarmdns_bin, tmp_path, testnet.base)
        keyfile = tmp_path / "a.key"
        cp = run_cli(swarmdns_bin, "keygen", "-o", keyfile)
        assert cp.returncode == 0, describe(cp)
        key = Key(keyfile, cp.stdout.strip())
        out = publish_zone(swarmdns_bin, a, key, "www 300 IN A 192.0.2.99\n",
                           directory=tmp_path)
        assert re.search(r"by [1-9]\d* of \d+ DHT nodes", out), out

        before, _, _ = scrape(prom, b)
        q = dns.message.make_query(f"www.{key.z32}.", "A")
        m = wire_answer(doh_post(b, q.to_wire()))
        assert [rd.to_text() for rr in m.answer for rd in rr] == ["192.0.2.99"], m.to_text()
        m = wire_answer(doh_get(b, q.to_wire()))
        assert [rd.to_text() for rr in m.answer for rd in rr] == ["192.0.2.99"], m.to_text()
        after, _, _ = scrape(prom, b)

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        assert delta("swarmdns_answers_total", source="dht") == 1
        assert delta("swarmdns_answers_total", source="cache") == 1
        assert delta("swarmdns_cache_misses_total") == 1
        # The resolver counts a hit also when the query goes on with the zone just fetched.
        assert 1 <= delta("swarmdns_cache_hits_total") <= 2
        assert delta("swarmdns_dht_zone_lookups_total") == 1
        assert delta("swarmdns_dht_lookups_started_total") >= 1
        assert delta("swarmdns_dht_messages_sent_total", kind="query", method="get") >= 1
        assert delta("swarmdns_dht_messages_received_total", kind="reply") >= 1
        assert value(after, "swarmdns_cache_zones") == 1
        assert value(after, "swarmdns_dht_routing_table_nodes") >= 4
        # A's stored items: at least its own zone is held by the testnet; the stored-items
        # gauge of the testnet-facing nodes moves when others put to them.
        sa, _, _ = scrape(prom, a)
        assert value(sa, "swarmdns_dht_messages_sent_total", kind="query", method="put") >= 1
        st = b.status()
        assert st["cache"]["hits"] == value(after, "swarmdns_cache_hits_total")
        assert st["dht"]["stored_items"] == value(after, "swarmdns_dht_stored_items")
    finally:
        errors = finish_all(nodes)
        testnet.stop()
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


def test_metrics_of_encrypted_transports(swarmdns_bin, tmp_path, prom):
    """DoT and DoH queries count under their own transport labels, and their listeners'
    open connections show in swarmdns_open_connections and /v1/status."""
    certdir = tmp_path / "tls"
    cp = run_cli(swarmdns_bin, "cert", "-o", certdir)
    assert cp.returncode == 0, describe(cp)
    dot, doh = free_port(), free_port()
    (tmp_path / "data").mkdir()
    node = Node(swarmdns_bin, tmp_path / "data", tmp_path, extra_args=[
        "--tls-cert", certdir / "cert.pem", "--tls-key", certdir / "key.pem",
        "--listen-dot", f"127.0.0.1:{dot}", "--listen-doh", f"127.0.0.1:{doh}"])
    node.start()
    conns = []
    try:
        def tls(port, alpn):
            ctx = ssl.create_default_context(cafile=str(certdir / "cert.pem"))
            ctx.set_alpn_protocols([alpn])
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            c = ctx.wrap_socket(raw, server_hostname="localhost")
            conns.append(c)
            return c

        before, _, _ = scrape(prom, node)
        d1, _, _ = tls(dot, "dot"), tls(dot, "dot"), tls(doh, "h2")
        q = dns.message.make_query("nothing.example.", "A").to_wire()
        d1.sendall(struct.pack(">H", len(q)) + q)
        (n,) = struct.unpack(">H", d1.recv(2))
        assert n > 0
        deadline = time.monotonic() + 5
        while True:
            after, _, _ = scrape(prom, node)
            got = (value(after, "swarmdns_open_connections", transport="dot"),
                   value(after, "swarmdns_open_connections", transport="doh"))
            if got == (2, 1) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert got == (2, 1), got
        assert value(after, "swarmdns_queries_total", transport="dot") - \
            value(before, "swarmdns_queries_total", transport="dot") == 1
        st = node.status()
        assert st["connections"]["dot"] == 2 and st["connections"]["doh"] == 1, st
        assert st["queries"]["dot"] == 1
        if shutil.which("curl"):
            cp = curl("-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--http2",
                      "--cacert", str(certdir / "cert.pem"),
                      f"https://localhost:{doh}/dns-query?dns={b64url(q)}",
                      "--resolve", f"localhost:{doh}:127.0.0.1")
            assert cp.stdout.decode() == "200 2", cp
            after, _, _ = scrape(prom, node)
            assert value(after, "swarmdns_queries_total", transport="doh") - \
                value(before, "swarmdns_queries_total", transport="doh") == 1
        for c in conns:
            c.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
                node.status()["connections"]["dot"] or node.status()["connections"]["doh"]):
            time.sleep(0.05)
        after, _, _ = scrape(prom, node)
        assert value(after, "swarmdns_open_connections", transport="dot") == 0
        assert value(after, "swarmdns_open_connections", transport="doh") == 0
    finally:
        for c in conns:
            c.close()
        _finish(node)


# --------------------------------------------------------------------------------------------
# swarmdns status


def test_status_command(env, swarmdns_bin):
    node, origin = env
    node.query(f"www.{origin}", "A")
    st = node.status()
    cp = run_cli(swarmdns_bin, "status", "--api", node.api_url)
    assert cp.returncode == 0, describe(cp)
    out = cp.stdout
    assert f"swarmdns {st['version']}, up " in out, out
    assert origin.rstrip(".") in out  # the own zone
    assert st["dht"]["node_id"] in out and st["dht"]["listen"] in out, out
    assert re.search(rf"^zones\s+{st['zones']} own$", out, re.M), out
    assert re.search(rf"^queries\s+udp {st['queries']['udp']}, tcp \d+, api \d+", out, re.M), out
    assert re.search(r"^answers\s+.*local \d+", out, re.M), out
    assert re.search(r"^cache\s+\d+ zones; \d+ hits, \d+ misses", out, re.M), out
    assert re.search(r"routing table 0 nodes", out), out
    assert re.search(r"^upstream\s+\d+ forwarded", out, re.M), out

    cp = run_cli(swarmdns_bin, "status", "--api", node.api_url, "--json")
    assert cp.returncode == 0, describe(cp)
    j = json.loads(cp.stdout)
    assert j["version"] == st["version"] and j["dht"]["node_id"] == st["dht"]["node_id"]
    assert origin.rstrip(".") in [z["key"] for z in j["own_zones"]]


def test_status_command_without_a_node(swarmdns_bin):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cp = run_cli(swarmdns_bin, "status", "--api", f"http://127.0.0.1:{port}")
    assert cp.returncode == 1, describe(cp)
    assert "no swarmdns node is running" in cp.stderr and cp.stdout == "", describe(cp)
    cp = run_cli(swarmdns_bin, "status", "extra")
    assert cp.returncode == 2, describe(cp)
