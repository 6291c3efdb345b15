#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/query, fuzz/corpus/zone_packet).

Run from anywhere with the system Python (dnspython needed): /usr/bin/python3 fuzz/make-corpus.py
Inputs are deterministic: running it again rewrites the same bytes. Files it does not
write (regression inputs added by hand) are left alone.

The names used match the two zones of fuzz/query.c: the pkarr test vector and the "rich"
zone whose key is the bytes 0xa0..0xbf.
"""
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


def main():
    for name, data in query_corpus().items():
        write("query", name, data)
    for name, data in zone_packet_corpus().items():
        write("zone_packet", name, data)


if __name__ == "__main__":
    main()
