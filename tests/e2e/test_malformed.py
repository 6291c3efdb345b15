"""Malformed and hostile queries, as raw bytes over UDP and TCP.

Each case names the expected outcome: an rcode (the answer must carry the query's ID, QR=1,
and be a well-formed message) or DROP (no answer within 0.5 s). After every case the node must
still be running and answer a normal query; the last test checks it once more over both
transports.
"""
import random
import socket
import struct
import time

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from conftest import keygen, publish_zone, tcp_connect, tcp_read_message

DROP = "drop"
FORMERR = dns.rcode.FORMERR
NOTIMP = dns.rcode.NOTIMP
BADVERS = dns.rcode.BADVERS

ZONE = "$TTL 300\n@ IN A 192.0.2.1\nwww IN A 192.0.2.80\n"

QID = 0x5A5A
RD = 0x0100
Z32 = None  # the served zone's key name, set by the `zone` fixture (used to build names)


@pytest.fixture(scope="module")
def zone(swarmdns_bin, module_node, module_keydir):
    global Z32
    key = keygen(swarmdns_bin, module_keydir / "malformed.key")
    publish_zone(swarmdns_bin, module_node, key, ZONE)
    Z32 = key.z32
    return key


@pytest.fixture(autouse=True)
def still_serving(module_node, zone):
    yield
    assert_serving(module_node, zone)


def assert_serving(node, key, tcp=False):
    node.assert_alive()
    resp = node.query(key.name("www"), "A", tcp=tcp, timeout=2)
    assert resp.rcode() == dns.rcode.NOERROR
    assert [r.to_text() for r in resp.answer[0]] == ["192.0.2.80"], str(resp)


# --------------------------------------------------------------------------------------------
# Building blocks


def hdr(qd=1, an=0, ns=0, ar=0, flags=RD, qid=QID):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def www():
    return name(f"www.{Z32}.")


def question(qname=None, qtype=1, qclass=1):
    return (qname if qname is not None else www()) + struct.pack(">HH", qtype, qclass)


def opt(payload=1232, version=0, rdata=b"", owner=b"\x00", ext_rcode=0):
    ttl = (ext_rcode << 24) | (version << 16)
    return owner + struct.pack(">HHIH", 41, payload, ttl, len(rdata)) + rdata


def opcode_flags(opcode):
    return (opcode << 11) | RD


def random_body(seed, n):
    return random.Random(seed).randbytes(n)


# --------------------------------------------------------------------------------------------
# The cases: (id, wire builder, expected outcome). Builders are called after the zone is
# known, because several cases contain the zone's name.

UDP_CASES = [
    ("empty-datagram", lambda: b"", DROP),
    ("short-header-5-bytes", lambda: hdr()[:5], DROP),
    ("short-header-11-bytes", lambda: hdr()[:11], DROP),
    ("header-only-qdcount-0", lambda: hdr(qd=0), FORMERR),
    ("qdcount-2-two-questions", lambda: hdr(qd=2) + question() + question(), FORMERR),
    ("qdcount-2-one-question", lambda: hdr(qd=2) + question(), FORMERR),
    ("label-longer-than-63", lambda: hdr() + question(b"\x40" + b"a" * 64 + b"\x00"), FORMERR),
    ("name-longer-than-255",
     lambda: hdr() + question((b"\x3f" + b"a" * 63) * 5 + b"\x00"), FORMERR),
    ("compression-pointer-to-itself", lambda: hdr() + b"\xc0\x0c" + struct.pack(">HH", 1, 1),
     FORMERR),
    ("compression-pointer-loop-of-two",
     lambda: hdr() + b"\x01a\xc0\x10" + b"\x01b\xc0\x0c" + struct.pack(">HH", 1, 1), FORMERR),
    # The question's name points forward to the OPT owner (the root): valid if forward
    # pointers were allowed (then "." would be REFUSED), FORMERR as RFC 1035 wants.
    ("compression-pointer-forward",
     lambda: hdr(ar=1) + b"\xc0\x12" + struct.pack(">HH", 1, 1) + opt(), FORMERR),
    ("compression-pointer-past-end", lambda: hdr() + b"\xc1\xff" + struct.pack(">HH", 1, 1),
     FORMERR),
    ("reserved-label-type-0x80", lambda: hdr() + question(b"\x80\x01" + b"\x00"), FORMERR),
    ("truncated-question-name", lambda: hdr() + www()[:20], FORMERR),
    ("name-without-terminator", lambda: hdr() + www()[:-1], FORMERR),
    ("truncated-qtype", lambda: hdr() + www() + b"\x00", FORMERR),
    ("missing-qclass", lambda: hdr() + www() + b"\x00\x01", FORMERR),
    ("trailing-garbage-after-question", lambda: hdr() + question() + b"\xde\xad\xbe\xef" * 4,
     FORMERR),
    ("ancount-1-without-record", lambda: hdr(an=1) + question(), FORMERR),
    ("nscount-1-without-record", lambda: hdr(ns=1) + question(), FORMERR),
    ("arcount-1-without-record", lambda: hdr(ar=1) + question(), FORMERR),
    ("record-rdlength-past-end",
     lambda: hdr(ar=1) + question() + b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 100), FORMERR),
    ("two-opt-records", lambda: hdr(ar=2) + question() + opt() + opt(), FORMERR),
    ("opt-with-non-root-owner", lambda: hdr(ar=1) + question() + opt(owner=www()), FORMERR),
    ("opt-option-longer-than-rdata",
     lambda: hdr(ar=1) + question() + opt(rdata=struct.pack(">HH", 10, 40) + b"xx"), FORMERR),
    ("edns-version-1", lambda: hdr(ar=1) + question() + opt(version=1), BADVERS),
    ("edns-version-255", lambda: hdr(ar=1) + question() + opt(version=255), BADVERS),
    ("opcode-2-status", lambda: hdr(flags=opcode_flags(2)) + question(), NOTIMP),
    ("opcode-3-unassigned", lambda: hdr(flags=opcode_flags(3)) + question(), NOTIMP),
    ("opcode-15-unassigned", lambda: hdr(flags=opcode_flags(15)) + question(), NOTIMP),
    ("qr-1-response", lambda: hdr(flags=0x8400) + question(), DROP),
    ("qr-1-response-with-answer",
     lambda: hdr(flags=0x8400, an=1) + question() + www() + struct.pack(">HHIH", 1, 1, 300, 4)
     + b"\x01\x02\x03\x04", DROP),
    ("qr-1-unknown-opcode", lambda: hdr(flags=0x8000 | opcode_flags(15)) + question(), DROP),
    ("all-zero-512-bytes", lambda: bytes(512), FORMERR),
    ("random-body-after-query-header",
     lambda: hdr(qd=1, an=0x3A3A, ns=0x0101) + random_body(7, 200), FORMERR),
]


def rcode_of(raw: bytes, wire: bytes):
    """Checks the basics of a reply to `wire` and returns its full rcode."""
    assert len(raw) >= 12, f"reply shorter than a header: {raw!r}"
    rid, flags = struct.unpack(">HH", raw[:4])
    assert rid == struct.unpack(">H", wire[:2])[0], f"reply ID {rid:#x} does not echo the query"
    assert flags & 0x8000, "reply without QR=1"
    assert (flags >> 11) & 0xF == (struct.unpack(">H", wire[2:4])[0] >> 11) & 0xF, (
        "the opcode is copied into the reply")
    return parse_reply(raw).rcode()


def parse_reply(raw: bytes) -> dns.message.Message:
    """Parses a reply with dnspython; the reply to a bad query must itself be well-formed.
    dnspython 2.3 rejects opcodes it does not know (3, 15), so those are parsed as 0."""
    wire = bytearray(raw)
    if len(wire) >= 3 and ((wire[2] >> 3) & 0xF) not in (0, 1, 2, 4, 5):
        wire[2] &= 0x87
    try:
        return dns.message.from_wire(bytes(wire))
    except Exception as e:
        pytest.fail(f"reply is not a well-formed DNS message ({e!r}): {raw!r}")


def check(node, wire, expected, tcp=False):
    raw = node.tcp(wire, timeout=2) if tcp else node.udp(wire, timeout=0.5)
    if expected == DROP:
        assert raw is None, f"expected no reply, got {raw!r}"
        return
    assert raw is not None, (f"expected {dns.rcode.to_text(expected)}, got no reply "
                             f"({'node running' if node.running() else 'node exited'})")
    got = rcode_of(raw, wire)
    assert got == expected, (f"rcode {dns.rcode.to_text(got)}, expected "
                             f"{dns.rcode.to_text(expected)}; reply:\n{parse_reply(raw)}")
    assert parse_reply(raw).answer == [], "no answer records in an error reply"
    if expected == BADVERS:
        msg = dns.message.from_wire(raw)
        assert msg.edns == 0, "BADVERS carries an OPT with our version 0"


@pytest.mark.parametrize("build,expected", [c[1:] for c in UDP_CASES], ids=[c[0] for c in UDP_CASES])
def test_malformed_udp(module_node, zone, build, expected):
    check(module_node, build(), expected)


TCP_CASES = [
    ("qdcount-2", lambda: hdr(qd=2) + question() + question(), FORMERR),
    ("compression-pointer-loop", lambda: hdr() + b"\xc0\x0c" + struct.pack(">HH", 1, 1), FORMERR),
    ("truncated-qtype", lambda: hdr() + www() + b"\x00", FORMERR),
    ("edns-version-1", lambda: hdr(ar=1) + question() + opt(version=1), BADVERS),
    ("opcode-15", lambda: hdr(flags=opcode_flags(15)) + question(), NOTIMP),
    ("trailing-garbage", lambda: hdr() + question() + b"\x00" * 7, FORMERR),
]


@pytest.mark.parametrize("build,expected", [c[1:] for c in TCP_CASES], ids=[c[0] for c in TCP_CASES])
def test_malformed_tcp(module_node, zone, build, expected):
    check(module_node, build(), expected, tcp=True)


def no_reply_or_closed(s, timeout=0.5):
    """True if the server sends nothing (or closes) within `timeout`."""
    s.settimeout(timeout)
    try:
        data = s.recv(2)
    except socket.timeout:
        return True
    except ConnectionResetError:
        return True
    return data == b""


@pytest.mark.parametrize("wire", [hdr()[:5], hdr(flags=0x8400) + question()],
                         ids=["short-header", "qr-1"])
def test_tcp_dropped_messages_get_no_reply(module_node, zone, wire):
    with tcp_connect(module_node.dns_port) as s:
        s.sendall(struct.pack(">H", len(wire)) + wire)
        assert no_reply_or_closed(s), "a reply to a message that must be dropped"


def test_tcp_max_size_garbage(module_node, zone):
    """65535 bytes of garbage with a query header: FORMERR or a closed connection, quickly."""
    body = hdr(qd=1, an=0xFFFF) + random_body(11, 65535 - 12)
    with tcp_connect(module_node.dns_port, timeout=3) as s:
        s.sendall(struct.pack(">H", 65535) + body)
        try:
            raw = tcp_read_message(s)
        except (socket.timeout, ConnectionResetError):
            raw = None
        if raw is not None:
            assert rcode_of(raw, body) == FORMERR


def test_tcp_length_prefix_larger_than_sent_then_close(module_node, zone):
    wire = hdr() + question()
    for _ in range(5):
        with tcp_connect(module_node.dns_port) as s:
            s.sendall(struct.pack(">H", 1000) + wire)
        with tcp_connect(module_node.dns_port) as s:
            s.sendall(b"\x00")  # half a length prefix
    # The server notices the close; nothing hangs.
    assert_serving(module_node, zone, tcp=True)


def test_tcp_zero_length_message(module_node, zone):
    with tcp_connect(module_node.dns_port) as s:
        s.sendall(b"\x00\x00")
        assert no_reply_or_closed(s), "no reply to an empty message"


def test_tcp_connect_and_close_many(module_node, zone):
    for _ in range(50):
        socket.create_connection(("127.0.0.1", module_node.dns_port), timeout=2).close()
    assert_serving(module_node, zone, tcp=True)


def test_random_datagrams_burst(module_node, zone):
    """300 random datagrams: whatever is answered is a well-formed reply to one of them."""
    rnd = random.Random(2024)
    sent = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", module_node.dns_port))
        for _ in range(300):
            wire = rnd.randbytes(rnd.randrange(0, 600))
            if len(wire) >= 12:
                sent.setdefault(wire[:2], []).append(wire)
            s.send(wire)
            if rnd.random() < 0.1:
                time.sleep(0.001)
        s.settimeout(0.5)
        replies = []
        while True:
            try:
                replies.append(s.recv(65535))
            except socket.timeout:
                break
    for raw in replies:
        assert len(raw) >= 12 and raw[:2] in sent, f"reply to nothing we sent: {raw[:12]!r}"
        assert raw[2] & 0x80, "reply without QR=1"
        parse_reply(raw)
    # Datagrams with QR=1 must never be answered.
    for raw in replies:
        assert any(not (w[2] & 0x80) for w in sent[raw[:2]]), "a datagram with QR=1 was answered"


def test_still_answers_after_all(module_node, zone):
    assert_serving(module_node, zone, tcp=False)
    assert_serving(module_node, zone, tcp=True)
    resp = module_node.query(zone.name("www"), "A", use_edns=0, payload=1232)
    assert resp.rcode() == dns.rcode.NOERROR and resp.flags & dns.flags.AA
    assert resp.edns == 0 and resp.payload == 1232
