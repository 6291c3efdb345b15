#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/query, fuzz/corpus/zone_packet,
fuzz/corpus/bencode, fuzz/corpus/krpc_node).

Run from anywhere with the system Python (dnspython needed): /usr/bin/python3 fuzz/make-corpus.py
Inputs are deterministic: running it again rewrites the same bytes. Files it does not
write (regression inputs added by hand) are left alone.

The names used match the two zones of fuzz/query.c: the pkarr test vector and the "rich"
zone whose key is the bytes 0xa0..0xbf. The DHT datagrams match the node of
fuzz/krpc_node.c: its sources, the key and targets of its items, and its placeholders.
"""
import hashlib
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = os.path.dirname(os.path.abspath(__file__))

# vectors.json "pkarr_packet".
PKARR_Z32 = "yqooxx9u3aemh8mo5wcqq16yufu6jitouq1o4za751dger1igghy"
PKARR_RELAY = bytes.fromhex(
    "8778c013e14fc976d45faf9d214389296165d61db29ac64abc8c2765a49d8c96c32a42536d006c67"
    "93e0b5335472756ac48c7fe1a7394a6fe5a677f13a03f20900060a24181e4000000080000000000200"
    "000000065f68656c6c6f3479716f6f787839753361656d68386d6f3577637171313679756675366a69"
    "746f7571316f347a613735316467657231696767687900001000010000012c000605776f726c640377"
    "77773479716f6f787839753361656d68386d6f3577637171313679756675366a69746f7571316f347a"
    "613735316467657231696767687900000100010000012c000401020304")
PKARR_PUBLIC_KEY = bytes.fromhex(
    "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")

Z32_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"


def z32_key(key):
    """z-base32 of a 32-byte key: 52 characters, most significant bit first."""
    n = int.from_bytes(key, "big") << 4  # 256 bits padded to 260 = 52 * 5
    return "".join(Z32_ALPHABET[(n >> (5 * (51 - i))) & 31] for i in range(52))


assert z32_key(PKARR_PUBLIC_KEY) == PKARR_Z32
RICH_Z32 = z32_key(bytes(range(0xA0, 0xC0)))
P = PKARR_Z32 + "."
R = RICH_Z32 + "."


def write(subdir, name, data):
    d = os.path.join(HERE, "corpus", subdir)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def wire_name(text):
    """Uncompressed wire form, case kept."""
    return dns.name.from_text(text).to_wire()


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name, qtype, qclass=1):
    return wire_name(name) + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, ext_rcode=0, version=0, do=False, options=b"", owner=b"\x00"):
    ttl = ext_rcode << 24 | version << 16 | (0x8000 if do else 0)
    return owner + struct.pack("!HHIH", 41, payload, ttl, len(options)) + options


def query(name, qtype, qid=0x1234, edns=False, **kw):
    """A query as dnspython writes it (RD set)."""
    m = dns.message.make_query(name, qtype, use_edns=0 if edns else None, **kw)
    m.id = qid
    return m.to_wire()


def query_corpus():
    t = dns.rdatatype
    q = {}
    # Normal queries, pkarr zone.
    q["pkarr-www-a"] = query("www." + P, t.A)
    q["pkarr-hello-txt-edns"] = query("_hello." + P, t.TXT, edns=True)
    q["pkarr-apex-any"] = query(P, t.ANY, edns=True)
    q["pkarr-www-aaaa-nodata"] = query("www." + P, t.AAAA)
    q["pkarr-nxdomain"] = query("nope." + P, t.A, edns=True)
    q["pkarr-upper-case"] = query("WwW." + PKARR_Z32.upper() + ".", t.A)
    # Normal queries, rich zone.
    q["rich-apex-soa"] = query(R, t.SOA)
    q["rich-apex-ns-edns"] = query(R, t.NS, edns=True)
    q["rich-apex-mx"] = query(R, t.MX)
    q["rich-apex-txt"] = query(R, t.TXT)
    q["rich-apex-any-edns"] = query(R, t.ANY, edns=True)
    q["rich-apex-aaaa-ttl-clamp"] = query(R, t.AAAA)
    q["rich-www-a"] = query("www." + R, t.A, edns=True)
    q["rich-www-aaaa"] = query("www." + R, t.AAAA)
    q["rich-cname-chain"] = query("c1." + R, t.A, edns=True)
    q["rich-cname-chain-aaaa"] = query("c1." + R, t.AAAA)
    q["rich-cname-qtype-cname"] = query("c1." + R, t.CNAME)
    q["rich-cname-loop"] = query("loop1." + R, t.A)
    q["rich-cname-out-of-zone"] = query("ext." + R, t.A)
    q["rich-cname-to-nxdomain"] = query("tonx." + R, t.TXT)
    q["rich-wildcard-a"] = query("anything." + R, t.A)
    q["rich-wildcard-deep-txt"] = query("x.y.z." + R, t.TXT, edns=True)
    q["rich-wildcard-nodata"] = query("anything." + R, t.MX)
    q["rich-wildcard-literal"] = query("*." + R, t.TXT)
    q["rich-wildcard-cname"] = query("host.w." + R, t.A)
    q["rich-srv"] = query("_sip._tcp." + R, t.SRV)
    q["rich-empty-non-terminal"] = query("a.b.c." + R, t.TXT)
    q["rich-nxdomain-below-ent"] = query("zz.b.c." + R, t.A)
    q["rich-delegation-ns"] = query("sub." + R, t.NS)
    q["rich-below-delegation"] = query("host.sub." + R, t.A)
    q["rich-mixed-case"] = query("mIxEd." + RICH_Z32.upper() + ".", t.A)
    q["rich-https"] = query("svc." + R, t.HTTPS)
    q["rich-caa"] = query("caa." + R, t.CAA)
    q["rich-ptr"] = query("ptr." + R, t.PTR)
    q["rich-dname"] = query("dname." + R, t.DNAME)
    q["rich-big-txt-tc"] = query("big." + R, t.TXT)
    q["rich-big-txt-edns"] = query("big." + R, t.TXT, edns=True, payload=4096)
    q["rich-axfr-refused"] = query(R, t.AXFR)
    q["rich-ixfr-refused"] = query(R, t.IXFR)
    q["rich-class-ch-refused"] = header() + question("www." + R, 1, 3)
    q["rich-class-any"] = header() + question("www." + R, 1, 255)
    q["other-zone-refused"] = query("www.example.com.", t.A)
    q["root-refused"] = query(".", t.NS)
    # EDNS variations (RFC 6891).
    q["edns-version-1-badvers"] = header(ar=1) + question("www." + P, 1) + opt(version=1)
    q["edns-do-big-payload"] = header(ar=1) + question("www." + R, 1) + opt(65535, do=True)
    q["edns-small-payload"] = header(ar=1) + question("big." + R, 16) + opt(100)
    q["edns-cookie-option"] = header(ar=1) + question("www." + R, 1) + opt(
        options=struct.pack("!HH", 10, 8) + b"\x01\x02\x03\x04\x05\x06\x07\x08")
    q["edns-two-opt-formerr"] = header(ar=2) + question("www." + R, 1) + opt() + opt()
    q["edns-opt-owner-not-root"] = header(ar=1) + question("www." + R, 1) + opt(
        owner=b"\x01a\x00")
    q["edns-opt-owner-pointer"] = header(ar=1) + question("www." + R, 1) + opt(
        owner=b"\xc0\x0c")
    q["additional-non-opt-ignored"] = (header(ar=1) + question("www." + R, 1) +
                                       b"\x00" + struct.pack("!HHIH", 250, 255, 0, 0))
    # Header variations.
    q["opcode-4-notify"] = header(flags=4 << 11) + question("www." + R, 1)
    q["opcode-2-status-no-question"] = header(flags=2 << 11, qd=0)
    q["qr-1-response-dropped"] = header(flags=0x8100) + question("www." + R, 1)
    q["qdcount-0"] = header(qd=0)
    q["qdcount-2"] = header(qd=2) + question("www." + R, 1) + question("www." + P, 1)
    q["ancount-1-formerr"] = header(an=1) + question("www." + R, 1)
    q["cd-and-ad-bits"] = header(flags=0x0130) + question("www." + R, 1)
    # Malformed names and lengths.
    q["label-over-63"] = header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01"
    long_name = b"".join(b"\x3f" + b"x" * 63 for _ in range(4)) + b"\x00"  # 257 bytes
    q["name-over-255"] = header() + long_name + b"\x00\x01\x00\x01"
    q["name-255-exact"] = (header() + b"".join(b"\x3f" + b"x" * 63 for _ in range(3)) +
                           b"\x3d" + b"y" * 61 + b"\x00\x00\x01\x00\x01")
    q["compression-loop-qname"] = header() + b"\xc0\x0c\x00\x01\x00\x01"
    q["compression-forward-qname"] = header() + b"\xc0\x20\x00\x01\x00\x01" + b"\x00" * 16
    q["compression-loop-opt-owner"] = (header(ar=1) + question("www." + R, 1) +
                                       b"\xc0\x1d" + struct.pack("!HHIH", 41, 1232, 0, 0))
    q["label-type-0x40"] = header() + b"\x41a\x00\x00\x01\x00\x01"
    q["trailing-garbage"] = query("www." + R, t.A) + b"\xde\xad\xbe\xef"
    q["truncated-question"] = query("www." + R, t.A)[:-3]
    q["truncated-opt"] = query("www." + R, t.A, edns=True)[:-4]
    q["short-header"] = header()[:5]
    q["header-only-11"] = header()[:11]
    q["empty"] = b""
    return q


def rr_wire(name, ttl, rdclass, rdtype, text):
    rd = dns.rdata.from_text(rdclass, rdtype, text)
    return (wire_name(name) + struct.pack("!HHI", rdtype, rdclass, ttl), rd.to_wire())


def packet(records, compress, qd=b"", ns=0, ar=0, qdcount=0, tail=b""):
    """A zone packet (ID 0, QR=1, AA=1). records: (owner, ttl, type, rdata text[, class])."""
    if compress:
        m = dns.message.Message(id=0)
        m.flags = dns.flags.QR | dns.flags.AA
        for rec in records:
            owner, ttl, rdtype, text = rec[:4]
            rdclass = rec[4] if len(rec) > 4 else dns.rdataclass.IN
            rrset = dns.rrset.from_text(owner, ttl, rdclass, rdtype, text)
            m.answer.append(rrset)
        return m.to_wire() + tail
    body = b""
    for rec in records:
        owner, ttl, rdtype, text = rec[:4]
        rdclass = rec[4] if len(rec) > 4 else dns.rdataclass.IN
        head, rdata = rr_wire(owner, ttl, rdclass, rdtype, text)
        body += head + struct.pack("!H", len(rdata)) + rdata
    return (struct.pack("!HHHHHH", 0, 0x8400, qdcount, len(records), ns, ar) + qd + body +
            tail)


def rich_records(apex):
    t = dns.rdatatype
    return [
        (apex, 3600, t.SOA, "ns1.%s hostmaster.%s 1 3600 600 86400 60" % (apex, apex)),
        (apex, 3600, t.NS, "ns1." + apex),
        (apex, 10, t.A, "192.0.2.1"),
        (apex, 999999, t.AAAA, "2001:db8::1"),
        (apex, 600, t.TXT, '"v=spf1 -all"'),
        (apex, 600, t.MX, "10 mail." + apex),
        ("www." + apex, 600, t.A, "192.0.2.10"),
        ("www." + apex, 600, t.AAAA, "2001:db8::10"),
        ("mail." + apex, 600, t.A, "192.0.2.25"),
        ("c1." + apex, 600, t.CNAME, "c2." + apex),
        ("c2." + apex, 600, t.CNAME, "www." + apex),
        ("loop1." + apex, 600, t.CNAME, "loop2." + apex),
        ("loop2." + apex, 600, t.CNAME, "loop1." + apex),
        ("*." + apex, 600, t.TXT, '"wildcard"'),
        ("*.w." + apex, 600, t.CNAME, "www." + apex),
        ("_sip._tcp." + apex, 600, t.SRV, "10 60 5060 sip." + apex),
        ("sub." + apex, 600, t.NS, "ns.sub." + apex),
        ("deep.a.b.c." + apex, 600, t.TXT, '"deep"'),
        ("MiXeD." + apex, 600, t.A, "192.0.2.77"),
        ("ptr." + apex, 600, t.PTR, "WWW." + apex),
        ("svc." + apex, 600, t.HTTPS, '1 . alpn="h2"'),
        ("caa." + apex, 600, t.CAA, '0 issue "ca.example"'),
        ("dname." + apex, 600, t.DNAME, "example.net."),
        ("hinfo." + apex, 600, t.HINFO, '"cpu" "os"'),
    ]


def zone_packet_corpus():
    t = dns.rdatatype
    z = {}
    vector = PKARR_RELAY[72:]
    z["pkarr-vector"] = vector
    z["pkarr-vector-compressed"] = packet([
        ("_hello." + P, 300, t.TXT, '"world"'),
        ("www." + P, 300, t.A, "1.2.3.4"),
    ], compress=True)
    rich = rich_records(R)
    z["rich-compressed"] = packet(rich, compress=True)
    z["rich-uncompressed"] = packet(rich, compress=False)
    z["pkarr-many-types"] = packet(rich_records(P), compress=True)
    big = [("big." + R, 300, t.TXT, '"%s"' % ("x" * 200)) for _ in range(1)]
    big += [("big%d.%s" % (i, R), 300, t.TXT, '"%s"' % (chr(65 + i) * 200)) for i in range(6)]
    z["over-996-bytes"] = packet(big, compress=True)
    z["duplicates-and-ttls"] = packet([
        ("www." + R, 100, t.A, "192.0.2.1"),
        ("WWW." + R, 200000, t.A, "192.0.2.1"),
        ("www." + R, 400, t.A, "192.0.2.2"),
    ], compress=False)
    z["cname-and-data"] = packet([
        ("x." + R, 300, t.CNAME, "y." + R),
        ("x." + R, 300, t.A, "192.0.2.1"),
        ("y." + R, 300, t.CNAME, "x." + R),
    ], compress=True)
    z["outside-apex"] = packet([
        ("www.example.com.", 300, t.A, "192.0.2.1"),
        ("www." + R, 300, t.A, "192.0.2.2"),
    ], compress=True)
    z["class-ch-skipped"] = packet([
        ("www." + R, 300, t.TXT, '"chaos"', dns.rdataclass.CH),
        ("www." + R, 300, t.A, "192.0.2.2"),
    ], compress=False)
    z["with-question"] = packet([("www." + R, 300, t.A, "192.0.2.2")], compress=False,
                                qd=question("www." + R, 1), qdcount=1)
    z["ns-ar-counts-with-tail"] = packet([("www." + R, 300, t.A, "192.0.2.2")],
                                         compress=False, ns=1, ar=1, tail=b"\x00" * 7)
    z["header-only"] = packet([], compress=False)
    # Malformed.
    rc = z["rich-compressed"]
    z["truncated-header"] = rc[:8]
    z["truncated-middle"] = rc[:len(rc) // 2]
    z["truncated-rdata"] = vector[:-1]
    z["trailing-bytes"] = vector + b"\x00"
    # Owner is a pointer to itself at offset 12.
    z["compression-loop"] = (struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c" +
                             struct.pack("!HHIH", 1, 1, 300, 4) + b"\x01\x02\x03\x04")
    # A two-pointer cycle inside a CNAME's rdata.
    head = struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0)
    owner = wire_name("x." + R)
    z["compression-loop-rdata"] = (head + owner + struct.pack("!HHIH", 5, 1, 300, 4) +
                                   b"\xc0" + bytes([12 + len(owner) + 12]) + b"\xc0" +
                                   bytes([12 + len(owner) + 10]))
    z["compression-forward"] = (head + b"\xc0\x20" + struct.pack("!HHIH", 1, 1, 300, 4) +
                                b"\x01\x02\x03\x04" + b"\x00" * 16)
    z["a-rdlen-5"] = (head + owner + struct.pack("!HHIH", 1, 1, 300, 5) +
                      b"\x01\x02\x03\x04\x05")
    z["opt-in-zone"] = head + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    z["label-over-63"] = (head + b"\x40" + b"a" * 64 + b"\x00" +
                          struct.pack("!HHIH", 1, 1, 300, 4) + b"\x01\x02\x03\x04")
    # MX whose exchange is compressed against the owner; SRV with a (non-standard)
    # pointer in its target, which is then taken as raw bytes.
    z["mx-rdata-compressed"] = (head[:6] + b"\x00\x02" + head[8:] + owner +
                                struct.pack("!HHIH", 15, 1, 300, 4) + b"\x00\x0a\xc0\x0c" +
                                b"\xc0\x0c" + struct.pack("!HHIH", 33, 1, 300, 8) +
                                b"\x00\x01\x00\x01\x00\x35\xc0\x0c")
    z["soa-rdlen-short"] = (head + wire_name(R) + struct.pack("!HHIH", 6, 1, 300, 2) +
                            b"\x00\x00")
    return z


# ---- the DHT: bencode and KRPC datagrams (fuzz/bencode.c, fuzz/krpc_node.c) ----

class Raw(bytes):
    """An already bencoded value, written as it is (a BEP 44 v)."""


def benc(x):
    """Canonical bencode (BEP 3): dictionary keys sorted as raw strings."""
    if isinstance(x, Raw):
        return bytes(x)
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:" % len(x) + x
    if isinstance(x, list):
        return b"l" + b"".join(benc(i) for i in x) + b"e"
    if isinstance(x, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in x.items())
        return b"d" + b"".join(benc(k) + benc(v) for k, v in items) + b"e"
    raise TypeError(x)


def bstr(text):
    """A bencoded string value, for v."""
    return Raw(benc(text))


# The key of every signed item in fuzz/krpc_node.c: Ed25519 from the seed 32 * 0x5a.
DHT_PK = bytes.fromhex("0d7550754e0800a5d237eef5826035766b9b3e5a15868a940ab289958788e3b0")
DHT_TARGET = hashlib.sha1(DHT_PK).digest()  # BEP 44: SHA-1(k || salt)
DHT_SALT = b"fuzz"
DHT_TARGET_SALTED = hashlib.sha1(DHT_PK + DHT_SALT).digest()
DHT_IMMUTABLE_V = b"l4:spami42ee"
DHT_TARGET_IMMUTABLE = hashlib.sha1(DHT_IMMUTABLE_V).digest()
DHT_SELF = b"swarmdns-fuzz-node!!"
DHT_INFO_HASH = b"info-hash-of-fuzzing"
# Placeholders the target replaces: the ID of the last query (of a method), the last token,
# a real signature.
TXID = b"TXID"
TX_PING, TX_FIND, TX_PEERS, TX_ANNOUNCE, TX_GET, TX_PUT = (b"TXpg", b"TXfn", b"TXgp", b"TXap",
                                                           b"TXgt", b"TXpt")
TOKEN = b"TOKEN-PLACEHOLDER-20"
SIG = b"SIG-PLACEHOLDER-" * 4
# Indices into clock_steps of fuzz/krpc_node.c.
NOW, MS100, S5, MIN5, MIN15, H24 = 0, 7, 18, 23, 25, 30


def src_id(i):
    """The ID of source i: the item's target with the last byte changed."""
    return DHT_TARGET[:19] + bytes([DHT_TARGET[19] ^ (i + 1)])


def compact(ip, port):
    return bytes(int(x) for x in ip.split(".")) + struct.pack("!H", port)


def node_entry(fill, ip, port):
    return bytes([fill]) * 20 + compact(ip, port)


def krpc_query(method, args, tid=b"aa", **top):
    msg = {"t": tid, "y": "q", "q": method, "a": args}
    msg.update(top)
    return benc(msg)


def krpc_reply(body, tid=TXID, **top):
    msg = {"t": tid, "y": "r", "r": body}
    msg.update(top)
    return benc(msg)


def krpc_error(code, text, tid=TXID):
    return benc({"t": tid, "y": "e", "e": [code, text]})


def dht_queries():
    """Every query kind, well formed and not, as a source of fuzz/krpc_node.c sends them."""
    i0, i1 = src_id(0), src_id(1)
    q = {}
    q["ping"] = krpc_query("ping", {"id": i0})
    q["ping-ro"] = krpc_query("ping", {"id": src_id(2)}, ro=1)
    # libtorrent adds ip (BEP 42), v (client version), and unknown argument keys.
    q["ping-libtorrent-extras"] = krpc_query(
        "ping", {"id": i1, "p": 6881}, ip=compact("198.18.0.1", 6881), v=b"LT\x02\x00")
    q["ping-no-id"] = krpc_query("ping", {})
    q["ping-id-int"] = krpc_query("ping", {"id": 20})
    q["ping-id-19-bytes"] = krpc_query("ping", {"id": i0[:19]})
    q["ping-tid-32-bytes"] = krpc_query("ping", {"id": i0}, tid=b"T" * 32)
    q["ping-tid-33-bytes"] = krpc_query("ping", {"id": i0}, tid=b"T" * 33)
    q["ping-tid-empty"] = krpc_query("ping", {"id": i0}, tid=b"")
    q["find-node"] = krpc_query("find_node", {"id": i0, "target": DHT_TARGET})
    q["find-node-want-n4-n6"] = krpc_query(
        "find_node", {"id": i1, "target": DHT_SELF, "want": [b"n4", b"n6"]})
    q["find-node-no-target"] = krpc_query("find_node", {"id": i0})
    q["find-node-target-list"] = krpc_query("find_node", {"id": i0, "target": [1, 2]})
    q["get-peers"] = krpc_query("get_peers", {"id": i1, "info_hash": DHT_INFO_HASH})
    q["get-peers-no-info-hash"] = krpc_query("get_peers", {"id": i1})
    q["announce-peer"] = krpc_query("announce_peer", {
        "id": i1, "info_hash": DHT_INFO_HASH, "port": 6883, "token": TOKEN})
    q["announce-peer-implied-port"] = krpc_query("announce_peer", {
        "id": i1, "info_hash": DHT_INFO_HASH, "implied_port": 1, "port": 0, "token": TOKEN})
    q["announce-peer-bad-token"] = krpc_query("announce_peer", {
        "id": i1, "info_hash": DHT_INFO_HASH, "port": 6883, "token": b"nope"})
    q["announce-peer-port-0"] = krpc_query("announce_peer", {
        "id": i1, "info_hash": DHT_INFO_HASH, "port": 0, "token": TOKEN})
    q["announce-peer-port-65536"] = krpc_query("announce_peer", {
        "id": i1, "info_hash": DHT_INFO_HASH, "port": 65536, "token": TOKEN})
    q["get-mutable"] = krpc_query("get", {"id": i0, "target": DHT_TARGET})
    q["get-mutable-seq-known"] = krpc_query("get", {"id": i0, "target": DHT_TARGET, "seq": 5})
    q["get-salted"] = krpc_query("get", {"id": i0, "target": DHT_TARGET_SALTED})
    q["get-immutable"] = krpc_query("get", {"id": i0, "target": DHT_TARGET_IMMUTABLE})
    q["get-unknown-target"] = krpc_query("get", {"id": i0, "target": b"\x00" * 20})

    def put(v, seq=None, salt=None, cas=None, sig=SIG, k=DHT_PK, token=TOKEN, **extra):
        a = {"id": i0, "v": v, "token": token}
        if seq is not None:
            a.update(k=k, seq=seq)
            if sig is not None:
                a["sig"] = sig
        if salt is not None:
            a["salt"] = salt
        if cas is not None:
            a["cas"] = cas
        a.update(extra)
        return krpc_query("put", a)

    q["put-mutable"] = put(bstr("mutable two"), seq=6)
    q["put-mutable-cas"] = put(bstr("mutable three"), seq=7, cas=6)
    q["put-mutable-cas-mismatch-301"] = put(bstr("mutable four"), seq=8, cas=1)
    q["put-mutable-seq-lower-302"] = put(bstr("mutable old"), seq=1)
    q["put-mutable-dict-v"] = put(Raw(benc({"a": [1, 2], "b": b"x"})), seq=50)
    # The same seq with a bytewise smaller v: refused (DESIGN.md §4, docs/dht.md).
    q["put-mutable-equal-seq-smaller-302"] = put(bstr(""), seq=50)
    q["put-salted"] = put(bstr("salted two"), seq=3, salt=DHT_SALT)
    q["put-salt-65-bytes-207"] = put(bstr("x"), seq=1, salt=b"s" * 65)
    q["put-salt-64-bytes"] = put(bstr("x"), seq=1, salt=b"s" * 64)
    q["put-v-1001-bytes-205"] = put(Raw(b"997:" + b"v" * 997), seq=10)
    q["put-mutable-v-1000-bytes"] = put(Raw(b"996:" + b"V" * 996), seq=100)
    q["put-bad-sig-206"] = put(bstr("forged"), seq=200, sig=b"\x01" * 64)
    q["put-other-key-206"] = put(bstr("other key"), seq=1, k=b"\x02" * 32)
    q["put-missing-sig-203"] = put(bstr("unsigned"), seq=11, sig=None)
    q["put-negative-seq"] = put(bstr("negative"), seq=-1)
    q["put-immutable"] = put(Raw(b"d3:foo3:bare"))
    q["put-immutable-salt"] = put(Raw(b"i42e"), salt=DHT_SALT)
    q["put-no-token"] = krpc_query("put", {"id": i0, "v": Raw(b"i1e")})
    q["put-bad-token"] = put(Raw(b"i2e"), token=b"\x00" * 20)
    q["put-no-v"] = krpc_query("put", {"id": i0, "token": TOKEN})
    q["unknown-method-204"] = krpc_query("vote", {"id": i0, "target": DHT_TARGET})
    q["a-not-dict-203"] = krpc_query("ping", [i0])
    q["no-a-203"] = benc({"t": b"aa", "y": "q", "q": "ping"})
    q["no-q-203"] = benc({"t": b"aa", "y": "q", "a": {"id": i0}})
    return q


def dht_replies(src):
    """Replies and errors to the node's queries from source src: t is the placeholder of the
    last query of the method answered."""
    i = src_id(src)
    nodes = (node_entry(0x31, "203.0.113.77", 6881) + node_entry(0x32, "198.51.100.78", 6881) +
             bytes(DHT_TARGET[:19]) + b"\x77" + compact("192.0.2.79", 6881))
    r = {}
    r["ping"] = krpc_reply({"id": i}, tid=TX_PING, ip=compact("198.18.0.1", 6881))
    r["ping-other-ip-vote"] = krpc_reply({"id": i}, tid=TX_PING, ip=compact("198.18.0.99", 1))
    r["find-node-nodes"] = krpc_reply({"id": i, "nodes": nodes}, tid=TX_FIND)
    r["find-node-nodes-partial-entry"] = krpc_reply({"id": i, "nodes": nodes[:40]}, tid=TX_FIND)
    r["find-node-nodes-zero-addr"] = krpc_reply(
        {"id": i, "nodes": node_entry(0x33, "0.0.0.0", 0)}, tid=TX_FIND)
    r["find-node-nodes6"] = krpc_reply({"id": i, "nodes6": b"\x34" * 20 + b"\x20\x01\x0d\xb8" +
                                        b"\x00" * 11 + b"\x01\x1a\xe1"}, tid=TX_FIND)
    r["get-peers-values"] = krpc_reply({
        "id": i, "token": b"tok1", "nodes": nodes[:26],
        "values": [compact("203.0.113.5", 6881), compact("203.0.113.6", 6882), b"bad", 5]},
        tid=TX_PEERS)
    r["get-peers-token-64-bytes"] = krpc_reply({"id": i, "token": b"k" * 64}, tid=TX_PEERS)
    # Newer than every seq put by the queries: the get lookup reports it.
    r["get-mutable-seq-1000"] = krpc_reply({
        "id": i, "token": b"tokA", "k": DHT_PK, "sig": SIG, "seq": 1000,
        "v": bstr("from a peer"), "nodes": nodes}, tid=TX_GET)
    # After it, from the same source: newer still, but forged; never reported.
    r["get-mutable-seq-2000-bad-sig"] = krpc_reply({
        "id": i, "token": b"tokB", "k": DHT_PK, "sig": b"\x05" * 64, "seq": 2000,
        "v": bstr("forged")}, tid=TX_GET)
    r["get-mutable-no-v"] = krpc_reply({"id": i, "token": b"tokC", "seq": 12}, tid=TX_GET)
    r["get-immutable-v"] = krpc_reply({"id": i, "token": b"tokD", "v": Raw(DHT_IMMUTABLE_V)},
                                      tid=TX_GET)
    r["put-ok"] = krpc_reply({"id": i}, tid=TX_PUT)
    r["announce-ok"] = krpc_reply({"id": i}, tid=TX_ANNOUNCE)
    r["no-id"] = krpc_reply({}, tid=TXID)
    r["our-own-id"] = krpc_reply({"id": DHT_SELF}, tid=TX_PING)
    r["changed-id"] = krpc_reply({"id": b"\x44" * 20}, tid=TX_GET)
    r["unmatched-tid"] = krpc_reply({"id": i}, tid=b"\x00\x05ab")
    # libtorrent's extras: ip, client version v, ro, an unknown key in r.
    r["libtorrent-extras"] = krpc_reply({"id": i, "p": 6881}, tid=TXID,
                                        ip=compact("198.18.0.1", 6881), v=b"LT\x02\x00", ro=1)
    for code, text, tid in [
            (201, "Generic Error", TXID), (202, "Server Error", TX_GET),
            (203, "Protocol Error", TX_PEERS), (204, "Method Unknown", TX_FIND),
            (205, "message (v field) too big", TX_PUT), (206, "invalid signature", TX_PUT),
            (207, "salt (salt field) too big", TX_PUT),
            (301, "the CAS hash mismatched, re-read value and try again", TX_PUT),
            (302, "sequence number less than current", TX_PUT)]:
        r["error-%d" % code] = krpc_error(code, text, tid)
    r["error-code-only"] = benc({"t": TXID, "y": "e", "e": [201]})
    r["error-empty-list"] = benc({"t": TXID, "y": "e", "e": []})
    r["error-string-first"] = benc({"t": TXID, "y": "e", "e": ["oops", 201]})
    return r


def dht_noncanonical():
    """Bencode a strict decoder refuses (BEP 3), and its edges."""
    ping = krpc_query("ping", {"id": src_id(0)})
    n = {}
    n["unsorted-keys"] = (b"d1:t2:aa1:y1:q1:q4:ping1:ad2:id20:" + src_id(0) + b"ee")
    n["duplicate-key"] = (b"d1:ad2:id20:" + src_id(0) + b"e1:q4:ping1:t2:aa1:t2:bb1:y1:qe")
    n["leading-zero-int"] = krpc_query("find_node", {"id": src_id(0), "target": DHT_TARGET,
                                                     "port": 5}).replace(b"i5e", b"i05e")
    n["leading-zero-length"] = ping.replace(b"1:t2:aa", b"1:t02:aa")
    n["minus-zero"] = krpc_query("ping", {"id": src_id(0), "x": 0}).replace(b"i0e", b"i-0e")
    n["int-overflow"] = krpc_query("ping", {"id": src_id(0), "x": 1}).replace(
        b"i1e", b"i9223372036854775808e")
    n["trailing-bytes"] = ping + b"x"
    n["two-values"] = ping + ping
    deep = b"l" * 40 + b"e" * 40
    n["deep-nesting-40"] = krpc_query("ping", {"id": src_id(0), "x": Raw(deep)})
    n["nesting-32"] = krpc_query("ping", {"id": src_id(0), "x": Raw(b"l" * 30 + b"e" * 30)})
    n["nesting-33"] = krpc_query("ping", {"id": src_id(0), "x": Raw(b"l" * 31 + b"e" * 31)})
    n["too-many-nodes"] = krpc_query("ping", {"id": src_id(0),
                                              "x": Raw(b"l" + b"i0e" * 700 + b"e")})
    n["not-a-dict"] = benc([b"aa", b"q", b"ping"])
    n["truncated"] = ping[:len(ping) // 2]
    n["string-past-end"] = b"d1:t2:aa1:y1:q1:q4:ping1:ad2:id99:" + src_id(0) + b"ee"
    n["key-not-string"] = b"di1ei2ee"
    n["empty"] = b""
    return n


def bencode_corpus():
    b = {}
    for prefix, msgs in (("query-", dht_queries()), ("reply-", dht_replies(0)),
                         ("noncanonical-", dht_noncanonical())):
        for name, data in msgs.items():
            b[prefix + name] = data
    v = {}
    v["int-zero"] = b"i0e"
    v["int-max"] = b"i9223372036854775807e"
    v["int-min"] = b"i-9223372036854775808e"
    v["int-min-minus-one"] = b"i-9223372036854775809e"
    v["int-empty"] = b"ie"
    v["int-minus-only"] = b"i-e"
    v["int-unterminated"] = b"i1"
    v["string-empty"] = b"0:"
    v["string-binary"] = b"4:\x00\xff\x00e"
    v["string-length-overflow"] = b"4294967296:"
    v["string-short"] = b"5:spam"
    v["list-empty"] = b"le"
    v["list-unterminated"] = b"l4:spam"
    v["dict-empty"] = b"de"
    v["dict-prefix-order"] = b"d0:i1e1:ai2e2:aai3e1:bli1eli2eee1:cdee"
    v["dict-prefix-reversed"] = b"d2:aai1e1:ai2ee"
    v["dict-key-without-value"] = b"d1:ae"
    v["dict-nul-keys"] = b"d1:\x00i1e1:\x01i2ee"
    v["dict-nested-32"] = b"d1:a" * 31 + b"de" + b"e" * 31
    v["list-nested-32"] = b"l" * 32 + b"e" * 32
    v["list-nested-33"] = b"l" * 33 + b"e" * 33
    v["nodes-640"] = b"l" + b"i0e" * 639 + b"e"
    v["nodes-641"] = b"l" + b"i0e" * 640 + b"e"
    v["nodes-1001"] = b"l" + b"0:" * 1000 + b"e"
    v["bep44-signed-buffer"] = b"4:salt6:foobar3:seqi1e1:v12:Hello World!"
    v["bep44-vector-v"] = b"12:Hello World!"
    for name, data in v.items():
        b["value-" + name] = data
    return b


def krpc_node_corpus():
    """Byte 0: source (bits 0-2) and clock step (bits 3-7, see fuzz/krpc_node.c); then the
    datagram. The replay runs them in name order on one node, so the numbers order a story:
    replies to the lookups the node starts with (1-reply-put-ok answers the put that the
    replies before it let go out), queries (tokens, puts), bad bencode, time, late answers."""
    def hdr(src, step=MS100):
        return bytes([src | step << 3])

    k = {}
    srcs = {"announce-peer": 1, "get-peers": 1, "find-node-want-n4-n6": 1,
            "ping-libtorrent-extras": 1, "ping-ro": 2}
    for name, data in dht_queries().items():
        k["2-query-" + name] = hdr(srcs.get(name, 0)) + data
    k["2-query-ping-from-v4-mapped"] = hdr(6) + dht_queries()["ping"]
    k["2-query-ping-from-ipv6"] = hdr(7) + dht_queries()["ping"]
    k["2-query-ping-from-local"] = hdr(4, NOW) + krpc_query("ping", {"id": src_id(4)})
    k["2-query-ping-from-loopback"] = hdr(5, NOW) + krpc_query("ping", {"id": src_id(5)})
    # After put-mutable-v-1000-bytes: the largest reply, with a 32-byte transaction ID.
    k["3-query-get-mutable-v-1000-tid-32"] = hdr(0) + krpc_query(
        "get", {"id": src_id(0), "target": DHT_TARGET}, tid=b"T" * 32)
    # Replies from the three sources the get asks first, in turn; the two newer items from
    # the same one, so that the second answers the get that the first one's answer restarts.
    for n, name in enumerate(dht_replies(0)):
        src = 0 if name.startswith("get-mutable-seq-") else n % 3
        k["1-reply-" + name] = hdr(src) + dht_replies(src)[name]
    for name, data in dht_noncanonical().items():
        k["4-noncanonical-" + name] = hdr(0) + data
    k["5-clock-5s-timeouts"] = hdr(0, S5) + dht_queries()["ping"]
    k["5-clock-5min-token-rotation"] = hdr(1, MIN5) + dht_queries()["get-peers"]
    k["5-clock-15min-refresh"] = hdr(2, MIN15) + krpc_query("ping", {"id": src_id(2)})
    k["5-clock-24h-expiry"] = hdr(0, H24) + dht_queries()["get-mutable"]
    k["5-clock-24h-then-put"] = hdr(0, NOW) + dht_queries()["put-salted"]
    k["6-empty"] = b""
    k["6-header-only"] = hdr(0)
    # Answers to puts and announces long after: none is in flight, so the target has the node
    # ping the source first and they answer that (query_source() in fuzz/krpc_node.c).
    for src in range(3):
        k["7-reply-put-ok-%d" % src] = hdr(src) + dht_replies(src)["put-ok"]
        k["7-reply-announce-ok-%d" % src] = hdr(src) + dht_replies(src)["announce-ok"]
    k["7-reply-error-302-to-put"] = hdr(0) + dht_replies(0)["error-302"]
    return k


def main():
    for name, data in query_corpus().items():
        write("query", name, data)
    for name, data in zone_packet_corpus().items():
        write("zone_packet", name, data)
    for name, data in bencode_corpus().items():
        write("bencode", name, data)
    for name, data in krpc_node_corpus().items():
        write("krpc_node", name, data)


if __name__ == "__main__":
    main()
