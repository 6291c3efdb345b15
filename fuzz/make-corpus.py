#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/query, fuzz/corpus/zone_packet,
fuzz/corpus/bencode, fuzz/corpus/krpc_node, fuzz/corpus/zonefile, fuzz/corpus/conf,
fuzz/corpus/bep44).

Run from anywhere with the system Python (dnspython needed): /usr/bin/python3 fuzz/make-corpus.py
Inputs are deterministic: running it again rewrites the same bytes. Files it does not
write (regression inputs added by hand) are left alone.

The names used match the two zones of fuzz/query.c: the pkarr test vector and the "rich"
zone whose key is the bytes 0xa0..0xbf. The DHT datagrams match the node of
fuzz/krpc_node.c: its sources, the key and targets of its items, and its placeholders. Zone
files are under the pkarr vector's key, as fuzz/zonefile.c loads them; configurations start
with the mode byte of fuzz/conf.c; BEP 44 puts use the encoding of fuzz/bep44.c.
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
    # DNS Cookies (RFC 7873): client only, with a server cookie (ours or not), bad lengths,
    # and an ANY that minimal-any answers with one RRset over UDP.
    cookie = lambda data: struct.pack("!HH", 10, len(data)) + data
    q["cookie-client-only"] = header(ar=1) + question("www." + R, 1) + opt(
        options=cookie(b"\x01" * 8))
    q["cookie-with-server-cookie"] = header(ar=1) + question("www." + R, 1) + opt(
        options=cookie(b"\x01" * 8 + b"\x01\x00\x00\x00\x00\x00\x00\x00" + b"\x02" * 8))
    q["cookie-32-byte-server-cookie"] = header(ar=1) + question(R, 6) + opt(
        options=cookie(b"\x03" * 40))
    q["cookie-length-9-formerr"] = header(ar=1) + question("www." + R, 1) + opt(
        options=cookie(b"\x04" * 9))
    q["cookie-and-ede-any"] = header(ar=1) + question(R, 255) + opt(
        options=cookie(b"\x05" * 8) + struct.pack("!HHH", 15, 2, 0))
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
    # The same seq with a bytewise smaller v: refused (docs/design.md §4, docs/dht.md).
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


# ---- zone files (fuzz/zonefile.c): text under the apex of the pkarr vector's key ----

def zonefile_corpus():
    """Zone files as users write them for `swarmdns sign`; names are relative to the key name
    PKARR_Z32, the origin fuzz/zonefile.c loads them under."""
    z = {}
    z["pkarr-vector"] = b'_hello 300 IN TXT "world"\nwww 300 IN A 1.2.3.4\n'
    z["apex-and-hosts"] = (b"$TTL 600\n"
                           b"@ IN A 192.0.2.1\n"
                           b"@ IN AAAA 2001:db8::1\n"
                           b"www IN A 192.0.2.10\n"
                           b"www IN AAAA 2001:db8::10\n"
                           b"mail 300 IN A 192.0.2.25\n")
    z["absolute-names"] = ("www.%s 300 IN A 192.0.2.2\n%s 300 IN TXT \"apex\"\n" %
                           (P, P)).encode()
    z["upper-case-key"] = ("WWW.%s. 300 IN A 192.0.2.3\n" % PKARR_Z32.upper()).encode()
    z["txt-long-strings"] = (b'long 300 IN TXT "' + b"x" * 255 + b'" "' + b"y" * 200 + b'"\n'
                             b'split 300 IN TXT "v=spf1" " -all" ""\n'
                             b'esc 300 IN TXT "quote \\" semicolon ; backslash \\\\ \\065"\n')
    z["txt-string-over-255"] = b'bad 300 IN TXT "' + b"z" * 256 + b'"\n'
    z["cname-chain"] = (b"a 300 IN CNAME b\n"
                        b"b 300 IN CNAME www\n"
                        b"www 300 IN A 192.0.2.10\n"
                        b"ext 300 IN CNAME www.example.com.\n")
    z["mx-srv-ns"] = (b"@ 600 IN MX 10 mail\n"
                      b"@ 600 IN MX 20 mx.example.net.\n"
                      b"_sip._tcp 600 IN SRV 10 60 5060 sip\n"
                      b"_imaps._tcp 600 IN SRV 0 0 0 .\n"
                      b"sub 600 IN NS ns.sub\n"
                      b"ns.sub 600 IN A 192.0.2.53\n")
    z["svcb-https"] = (b'@ 300 IN HTTPS 1 . alpn="h2,h3" port=8443 ipv4hint=192.0.2.1\n'
                       b"svc 300 IN SVCB 0 www\n"
                       b'api 300 IN HTTPS 2 www mandatory=alpn alpn=h2 '
                       b"ipv6hint=2001:db8::1 no-default-alpn\n"
                       b"odd 300 IN SVCB 3 . key65000=abc\n")
    z["wildcard"] = (b'* 300 IN TXT "wildcard"\n'
                     b"*.w 300 IN CNAME www\n"
                     b"*.deep.a.b 300 IN A 192.0.2.99\n")
    z["soa-parentheses-comments"] = (
        b"; the apex\n"
        b"@ 3600 IN SOA ns1 hostmaster ( 2024010101 ; serial\n"
        b"                               3600       ; refresh\n"
        b"                               600 86400  ; retry, expire\n"
        b"                               60 )       ; minimum\n"
        b"@ 3600 IN NS ns1   ; in zone\n"
        b"ns1 3600 IN A 192.0.2.53\n")
    z["origin-and-ttl-units"] = ("$ORIGIN sub.%s\n$TTL 1h30m\n"
                                 "www IN A 192.0.2.7\n"
                                 "    IN AAAA 2001:db8::7\n"
                                 "@ 1w IN TXT \"week\"\n" % P).encode()
    z["origin-relative"] = b"$ORIGIN deeper\nx 60 IN A 192.0.2.8\n"
    z["origin-outside"] = b"$ORIGIN example.com.\nwww 300 IN A 192.0.2.9\n"
    z["outside-absolute"] = b"www.example.com. 300 IN A 192.0.2.9\n"
    z["crlf-lines"] = (b"$TTL 300\r\n"
                       b"www IN A 192.0.2.11\r\n"
                       b'txt IN TXT "crlf"\r\n'
                       b"@ IN SOA ns1 host ( 1 2 3\r\n 4 5 )\r\n")
    z["include-refused"] = b"www 300 IN A 192.0.2.12\n$INCLUDE /etc/passwd\n"
    z["include-with-origin"] = ("$INCLUDE other.zone sub.%s\n" % P).encode()
    z["class-ch-refused"] = b'version 300 CH TXT "1.0"\n'
    z["class-omitted-and-ttl-first"] = b"www 300 A 192.0.2.13\nftp IN 300 A 192.0.2.14\n"
    z["bad-a-rdata"] = b"www 300 IN A 1.2.3\n"
    z["bad-type"] = b"www 300 IN NOSUCHTYPE 1\n"
    z["unknown-type-rfc3597"] = (b"x 300 IN TYPE65280 \\# 4 01020304\n"
                                 b"y 300 IN TYPE1 \\# 4 c0000201\n"
                                 b"e 300 IN TYPE65281 \\# 0\n")
    z["ptr-caa-dname-hinfo"] = (b"ptr 300 IN PTR www\n"
                                b'caa 300 IN CAA 0 issue "ca.example"\n'
                                b"dn 300 IN DNAME example.net.\n"
                                b'hinfo 300 IN HINFO "cpu" "os"\n')
    z["escaped-names"] = (b"\\065\\.b 300 IN A 192.0.2.15\n"
                          b"sp\\ ace 300 IN A 192.0.2.16\n")
    z["label-63"] = b"a" * 63 + b" 300 IN A 192.0.2.17\n"
    z["label-64"] = b"a" * 64 + b" 300 IN A 192.0.2.18\n"
    z["name-over-255"] = b".".join([b"b" * 63] * 4) + b" 300 IN A 192.0.2.19\n"
    z["opt-in-zone"] = b"x 300 IN OPT \\# 0\n"
    # Generic rdata (RFC 3597 §5) that zone_rdata_check() must refuse: OPT, a 3-byte A, a
    # CNAME whose name is a compression pointer.
    z["generic-rdata-refused"] = (b"ok 300 IN TYPE16 \\# 4 03616263\n"
                                  b"x 300 IN TYPE41 \\# 0\n")
    z["generic-a-3-bytes"] = b"x 300 IN TYPE1 \\# 3 010203\n"
    z["generic-cname-pointer"] = b"x 300 IN TYPE5 \\# 2 c00c\n"
    z["generic-class"] = b"x 300 CLASS3 A 192.0.2.26\n"
    # RFC 1035 §5.1: an indented line before any record has no owner to repeat.
    z["indented-comment-first"] = b"   ; at all\nwww 300 IN A 192.0.2.27\n"
    # A zone too big for one BEP 44 item (v at most 1000 bytes): sign refuses it.
    z["too-large-packet"] = b"".join(b'big%d 300 IN TXT "%s"\n' % (i, b"x" * 100)
                                     for i in range(12))
    z["many-records"] = b"$TTL 60\n" + b"".join(b"h%d IN A 192.0.2.%d\n" % (i, i % 250)
                                                 for i in range(300))
    z["ttl-edges"] = (b"$TTL 2147483647\nmax IN A 192.0.2.20\n"
                      b"zero 0 IN A 192.0.2.21\nover 4294967295 IN A 192.0.2.22\n")
    z["empty"] = b""
    z["only-comments"] = b"; nothing here\n\n   ; at all\n"
    z["no-final-newline"] = b"www 300 IN A 192.0.2.23"
    z["unbalanced-parentheses"] = b"@ 300 IN SOA ns1 host ( 1 2 3 4 5\n"
    z["nul-byte"] = b"www 300 IN A 192.0.2.24\n\x00\nx 300 IN A 192.0.2.25\n"
    z["garbage"] = bytes(range(256))
    return z


# ---- configuration (fuzz/conf.c): byte 0 the mode, then a file and/or a command line ----

CONF_FILE, CONF_CLI, CONF_BOTH = b"\x00", b"\x01", b"\x02"
# Every option of src/conf/conf.c's table with a valid value and an invalid one (a parse
# stops at the first error, so each invalid value is a seed of its own).
CONF_OPTIONS = [
    ("data-dir", "/var/lib/swarmdns", "d" * 1024),
    ("listen-dns", "127.0.0.1:5300", "::1:53"),
    ("listen-api", "[::1]:8053", "[::1]53"),
    ("api-token", "s3cret-token", "t" * 128),
    ("log-level", "debug", "verbose"),
    ("min-ttl", "0", "-1"),
    ("max-ttl", "604800", "18446744073709551616"),
    ("udp-payload", "4096", "511"),
    ("tcp-idle-timeout", "100", "3600001"),
    ("tcp-max-clients", "1000000", "0"),
    ("dht-listen", "0.0.0.0:0", "0.0.0.0"),
    ("bootstrap", "router.bittorrent.com:6881", "host:0"),
    ("dht-rate-limit", "10000000", "10000001"),
    ("upstream", "192.0.2.53", "dns.example:53"),
    ("forward", "corp=10.0.0.53:53", "corp="),
    ("root", "alice=" + PKARR_Z32, "alice=short"),
    ("key-suffix", "key", "k" * 64),
    ("pin", PKARR_Z32, "not-a-key"),
    ("stale-max", "2592000", "2592001"),
    ("cache-size", "1", "0"),
    ("listen-dot", "127.0.0.1:853", "127.0.0.1:853x"),
    ("listen-doh", "[::1]:443", "[::1]:-1"),
    ("tls-cert", "/etc/swarmdns/cert.pem", "c" * 1024),
    ("tls-key", "/etc/swarmdns/key.pem", None),
    ("tls-max-clients", "1", "1000001"),
    ("tls-idle-timeout", "3600000", "99"),
    ("doh-max-streams", "10000", "10001"),
    ("rrl-rate", "0", "1000001"),
    ("rrl-slip", "100", "101"),
    ("dns-cookies", "no", "maybe"),
    ("minimal-any", "on", "YES"),
    ("max-pending", "1", None),
    ("dht-puts-per-minute", "1000000", None),
    ("dht-max-items", "4", None),
    ("dht-max-bytes", "1024", "1023"),
    ("api-max-clients", "100000", None),
    ("api-timeout", "3600", None),
]


def conf_file(lines):
    return CONF_FILE + "".join(l + "\n" for l in lines).encode()


def conf_cli(args):
    return CONF_CLI + b"\x00".join(a.encode() for a in args)


def conf_corpus():
    c = {}
    c["file-every-option"] = conf_file(["%s %s" % (n, v) for n, v, _ in CONF_OPTIONS])
    c["cli-every-option"] = conf_cli(sum((["--" + n, v] for n, v, _ in CONF_OPTIONS), []))
    c["cli-every-option-equals"] = conf_cli(["--%s=%s" % (n, v) for n, v, _ in CONF_OPTIONS])
    for n, _, bad in CONF_OPTIONS:
        if bad is not None:
            c["file-bad-" + n] = conf_file(["%s %s" % (n, bad)])
    c["file-comments-blanks"] = conf_file([
        "# swarmdns.conf", "", "   ", "\t# indented comment",
        "listen-dns 127.0.0.1:5300   # trailing comment",
        "\tmin-ttl\t60\t", "max-ttl 3600 # one hour"])
    c["file-crlf"] = CONF_FILE + b"log-level warn\r\nmin-ttl 10\r\n\r\npin " + \
        PKARR_Z32.encode() + b"\r\n"
    c["file-repeated-lists"] = conf_file(["listen-dns 127.0.0.1:%d" % (5300 + i)
                                          for i in range(8)] +
                                         ["bootstrap none", "bootstrap 192.0.2.1:6881"])
    c["file-list-too-long"] = conf_file(["listen-dns 127.0.0.1:%d" % (5300 + i)
                                         for i in range(9)])
    c["file-repeated-single"] = conf_file(["min-ttl 10", "min-ttl 20", "data-dir /a",
                                           "data-dir /b"])
    c["file-line-2047"] = conf_file(["api-token " + "t" * 2036])
    c["file-line-2048"] = conf_file(["api-token " + "t" * 2038])
    c["file-no-value"] = conf_file(["min-ttl"])
    c["file-unknown-option"] = conf_file(["no-such-option 1"])
    c["file-nul-in-line"] = CONF_FILE + b"min-ttl 1\x002\n"
    c["file-min-over-max"] = conf_file(["min-ttl 600", "max-ttl 300"])
    c["file-dot-without-cert"] = conf_file(["listen-dot 127.0.0.1:853"])
    c["cli-bools"] = conf_cli(["--dns-cookies=off", "--minimal-any", "true",
                               "--dns-cookies", "1", "--minimal-any=false"])
    c["cli-unknown-then-valid"] = conf_cli(["--nope", "1", "--min-ttl", "5"])
    c["cli-missing-value"] = conf_cli(["--min-ttl"])
    c["cli-config-skipped"] = conf_cli(["-c", "/etc/swarmdns.conf", "--check-config",
                                        "--config", "x", "--max-ttl=900"])
    c["cli-not-an-option"] = conf_cli(["serve", "--min-ttl", "5"])
    c["cli-empty-value"] = conf_cli(["--api-token=", "--data-dir", ""])
    c["cli-value-with-hash-newline"] = CONF_CLI + b"--api-token=a#b\x00--key-suffix=x y"
    c["cli-list-over-max"] = conf_cli(sum((["--pin", PKARR_Z32] for _ in range(65)), []))
    c["cli-long-name"] = conf_cli(["--" + "n" * 70 + "=1"])
    c["both-cli-replaces-list"] = (conf_file(["bootstrap 192.0.2.1:6881",
                                              "bootstrap 192.0.2.2:6881",
                                              "listen-dns 127.0.0.1:1"])[:-1] + b"\n\x00" +
                                   b"\x00".join([b"--bootstrap", b"192.0.2.3:6881",
                                                 b"--min-ttl=1"]))
    c["both-file-error-then-cli"] = (CONF_BOTH + b"min-ttl x\n\x00--min-ttl\n7")
    c["both-tls-from-cli"] = (CONF_BOTH + b"listen-doh [::1]:443\n\x00"
                              b"--tls-cert\n/c.pem\n--tls-key=/k.pem")
    c["empty"] = b""
    return c


# ---- BEP 44 puts (fuzz/bep44.c): each put a flags byte and its fields ----

# vectors.json "bep44": the BEP's own test vectors (verify-only: no usable private key).
BEP44_PK = bytes.fromhex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548")
BEP44_SIG = bytes.fromhex(
    "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff1260d3f39e4999684aa92e"
    "b73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01")
BEP44_SIG_SALTED = bytes.fromhex(
    "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17ddf9a8a7104b1258f30bed3"
    "787e6cb896fca78c58f8e03b5f18f14951a87d9a08")
BEP44_V = b"12:Hello World!"
PKARR_SIG = PKARR_RELAY[:64]
PKARR_PACKET = PKARR_RELAY[72:]
# Flags of fuzz/bep44.c.
IMMUTABLE, KEY_A, KEY_B, GIVEN = 0, 1, 2, 3
F_SALT, F_CAS, F_RAW, F_TAMPER = 4, 8, 16, 32
STEP_1S, STEP_1H, STEP_25H, STEP_0 = 0, 64, 128, 192
# Seq codes: below 0xf0 the value itself, else fuzz/bep44.c's seq_edges.
SEQ_MINUS_1, SEQ_INT64_MAX, SEQ_PKARR = 0xF0, 0xF2, 0xF8


def bep44_put(kind, v, seq=None, salt=None, cas=None, raw=False, tamper=None, k=None,
              sig=None, step=STEP_1S):
    """One put. kind GIVEN takes k and sig (sig None: none sent); tamper (what, where) alters
    the signature made by the target for KEY_A and KEY_B."""
    f = kind | step | (F_RAW if raw else 0)
    body = b""
    if kind != IMMUTABLE:
        body += bytes([seq])
    if cas is not None:
        f |= F_CAS
        body += bytes([cas])
    if salt is not None:
        f |= F_SALT
        body += bytes([len(salt)]) + salt
    body += struct.pack("!H", len(v)) + v
    if kind == GIVEN:
        body += k
        if sig is None:
            f |= F_TAMPER
        else:
            body += sig
    elif tamper is not None:
        f |= F_TAMPER
        body += bytes(tamper)
    return bytes([f]) + body


def bep44_corpus():
    b = {}
    b["vector-immutable"] = bep44_put(IMMUTABLE, BEP44_V, raw=True)
    b["vector-mutable"] = bep44_put(GIVEN, BEP44_V, seq=1, raw=True, k=BEP44_PK, sig=BEP44_SIG)
    b["vector-mutable-salted"] = bep44_put(GIVEN, BEP44_V, seq=1, salt=b"foobar", raw=True,
                                           k=BEP44_PK, sig=BEP44_SIG_SALTED)
    b["vector-mutable-wrong-salt"] = bep44_put(GIVEN, BEP44_V, seq=1, salt=b"foobaz", raw=True,
                                               k=BEP44_PK, sig=BEP44_SIG_SALTED)
    b["vector-mutable-seq-2"] = bep44_put(GIVEN, BEP44_V, seq=2, raw=True, k=BEP44_PK,
                                          sig=BEP44_SIG)
    b["vector-all-three-twice"] = (b["vector-immutable"] + b["vector-mutable"] +
                                   b["vector-mutable-salted"]) * 2
    b["pkarr-zone-item"] = bep44_put(GIVEN, PKARR_PACKET, seq=SEQ_PKARR, k=PKARR_PUBLIC_KEY,
                                     sig=PKARR_SIG)
    b["pkarr-zone-item-bit-flipped"] = bep44_put(GIVEN, PKARR_PACKET[:-1] + b"\x05",
                                                 seq=SEQ_PKARR, k=PKARR_PUBLIC_KEY,
                                                 sig=PKARR_SIG)
    b["signed-zone-packet"] = bep44_put(KEY_A, PKARR_PACKET, seq=7)
    b["signed-dict-v"] = bep44_put(KEY_B, b"d1:ai1e1:bl3:xyzee", seq=3, raw=True)
    b["signed-v-not-bencode"] = bep44_put(KEY_A, b"not bencode", seq=3, raw=True)
    b["seq-rollback-302"] = (bep44_put(KEY_A, b"five", seq=5) + bep44_put(KEY_A, b"three", seq=3))
    b["seq-equal-larger-smaller-same"] = (bep44_put(KEY_A, b"bbb", seq=9) +
                                          bep44_put(KEY_A, b"ccc", seq=9) +
                                          bep44_put(KEY_A, b"aaa", seq=9) +
                                          bep44_put(KEY_A, b"ccc", seq=9, step=STEP_1H))
    b["cas-match-and-mismatch-301"] = (bep44_put(KEY_A, b"one", seq=1) +
                                       bep44_put(KEY_A, b"two", seq=2, cas=1) +
                                       bep44_put(KEY_A, b"three", seq=3, cas=1))
    b["cas-same-item-again-mismatch"] = (bep44_put(KEY_B, b"same", seq=4) +
                                         bep44_put(KEY_B, b"same", seq=4, cas=3))
    b["cas-without-stored-item"] = bep44_put(KEY_A, b"first", seq=1, cas=0)
    b["v-1000-bytes"] = bep44_put(KEY_A, b"v" * 996, seq=1)
    b["v-1001-bytes-205"] = bep44_put(KEY_A, b"v" * 997, seq=1)
    b["v-2047-raw-205"] = bep44_put(IMMUTABLE, b"2042:" + b"w" * 2042, raw=True)
    b["v-empty-203"] = bep44_put(IMMUTABLE, b"", raw=True)
    b["salt-64-bytes"] = bep44_put(KEY_B, b"salted", seq=1, salt=b"s" * 64)
    b["salt-65-bytes-207"] = bep44_put(KEY_B, b"salted", seq=1, salt=b"s" * 65)
    b["immutable-with-salt-203"] = bep44_put(IMMUTABLE, b"i42e", salt=b"x", raw=True)
    b["missing-sig-203"] = bep44_put(GIVEN, BEP44_V, seq=1, raw=True, k=BEP44_PK)
    b["negative-seq-203"] = bep44_put(KEY_A, b"neg", seq=SEQ_MINUS_1)
    b["seq-int64-max"] = bep44_put(KEY_A, b"max", seq=SEQ_INT64_MAX)
    b["forged-sig-206"] = bep44_put(GIVEN, BEP44_V, seq=1, raw=True, k=BEP44_PK,
                                    sig=b"\x01" * 64)
    b["other-key-206"] = bep44_put(GIVEN, BEP44_V, seq=1, raw=True, k=PKARR_PUBLIC_KEY,
                                   sig=BEP44_SIG)
    for what, name in enumerate(["sig-bit", "seq", "salt", "v"]):
        b["tamper-%s-206" % name] = (bep44_put(KEY_A, b"good", seq=2, salt=b"t") +
                                     bep44_put(KEY_A, b"evil", seq=3, salt=b"t",
                                               tamper=(what, 0x9D)))
    b["evict-by-count"] = b"".join(bep44_put(KEY_A, b"item", seq=1, salt=bytes([i]))
                                   for i in range(6))
    b["evict-by-bytes"] = b"".join(bep44_put(KEY_B, b"x" * 400, seq=1, salt=bytes([i]))
                                   for i in range(4))
    b["immutable-evict-and-refresh"] = (b"".join(bep44_put(IMMUTABLE, b"i%de" % i, raw=True)
                                                 for i in range(5)) +
                                        bep44_put(IMMUTABLE, b"i4e", raw=True))
    # A newer value larger than the whole store (1000 + 64 bytes > 1024) must not cost the
    # value stored.
    b["replace-with-too-large"] = (bep44_put(KEY_A, b"small", seq=1, salt=b"L" * 64) +
                                   bep44_put(KEY_A, b"L" * 996, seq=2, salt=b"L" * 64))
    b["new-too-large-for-store"] = bep44_put(KEY_B, b"M" * 996, seq=1, salt=b"M" * 64)
    b["expiry-25h"] = (bep44_put(KEY_A, b"old", seq=1) + bep44_put(IMMUTABLE, b"3:old", raw=True) +
                       bep44_put(KEY_B, b"later", seq=1, step=STEP_25H) +
                       bep44_put(KEY_A, b"older", seq=0, step=STEP_0))
    # The issue 10 rollback: evicted by four newer items, the older version gets 302; the
    # same value again is stored.
    b["evicted-then-older-302"] = (bep44_put(KEY_A, b"five", seq=5) +
                                   b"".join(bep44_put(KEY_B, b"fill", seq=1, salt=bytes([i]))
                                            for i in range(4)) +
                                   bep44_put(KEY_A, b"four", seq=4) +
                                   bep44_put(KEY_A, b"five", seq=5))
    # Equal seqs after eviction: values that differ within the remembered 32 bytes are
    # ordered; beyond them the put is refused.
    b["evicted-then-equal-seq"] = (bep44_put(KEY_A, b"q" * 40 + b"b", seq=9) +
                                   b"".join(bep44_put(KEY_B, b"fill", seq=1, salt=bytes([i]))
                                            for i in range(4)) +
                                   bep44_put(KEY_A, b"q" * 40 + b"c", seq=9) +
                                   bep44_put(KEY_A, b"a" * 41, seq=9) +
                                   bep44_put(KEY_A, b"r" * 41, seq=9))
    b["truncated-put"] = bep44_put(GIVEN, BEP44_V, seq=1, raw=True, k=BEP44_PK,
                                   sig=BEP44_SIG)[:40]
    b["empty"] = b""
    return b


def main():
    for name, data in query_corpus().items():
        write("query", name, data)
    for name, data in zone_packet_corpus().items():
        write("zone_packet", name, data)
    for name, data in bencode_corpus().items():
        write("bencode", name, data)
    for name, data in krpc_node_corpus().items():
        write("krpc_node", name, data)
    for name, data in zonefile_corpus().items():
        write("zonefile", name, data)
    for name, data in conf_corpus().items():
        write("conf", name, data)
    for name, data in bep44_corpus().items():
        write("bep44", name, data)


if __name__ == "__main__":
    main()
