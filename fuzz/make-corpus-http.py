#!/usr/bin/python3
"""Writes the seed corpora of the HTTP fuzz targets: fuzz/corpus/doh (what a DoH client sends
on one connection after TLS: HTTP/2 with RFC 8484 GET and POST requests, HTTP/1.1, garbage)
and fuzz/corpus/api (raw HTTP/1.1 requests to the API, one or several pipelined).

Run from anywhere with the system Python (the `cryptography` package signs relay bodies):
/usr/bin/python3 fuzz/make-corpus-http.py
Inputs are deterministic: running it again rewrites the same bytes. Files it does not write
(regression inputs added by hand) are left alone.

HTTP/2 is written here by hand (RFC 9113 frames, RFC 7541 HPACK without Huffman coding), so
that no HTTP/2 library is needed. The names match fuzz/doh.c and fuzz/api.c: both serve the
pkarr test vector as an own zone; fuzz/api.c's token is API_TOKEN and its client is not on
loopback, so writes need it.
"""
import base64
import os
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))

# vectors.json "pkarr_packet".
PKARR_SEED = bytes(range(32))
PKARR_Z32 = "yqooxx9u3aemh8mo5wcqq16yufu6jitouq1o4za751dger1igghy"
PKARR_SEQ = 1700000000000000
PKARR_RELAY = bytes.fromhex(
    "8778c013e14fc976d45faf9d214389296165d61db29ac64abc8c2765a49d8c96c32a42536d006c67"
    "93e0b5335472756ac48c7fe1a7394a6fe5a677f13a03f20900060a24181e4000000080000000000200"
    "000000065f68656c6c6f3479716f6f787839753361656d68386d6f3577637171313679756675366a69"
    "746f7571316f347a613735316467657231696767687900001000010000012c000605776f726c640377"
    "77773479716f6f787839753361656d68386d6f3577637171313679756675366a69746f7571316f347a"
    "613735316467657231696767687900000100010000012c000401020304")
PKARR_PACKET = PKARR_RELAY[72:]
P = PKARR_Z32 + "."
API_TOKEN = "fuzz-token"

Z32_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"


def write(subdir, name, data):
    d = os.path.join(HERE, "corpus", subdir)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def z32_key(key):
    """z-base32 of a 32-byte key: 52 characters, most significant bit first."""
    n = int.from_bytes(key, "big") << 4  # 256 bits padded to 260 = 52 * 5
    return "".join(Z32_ALPHABET[(n >> (5 * (51 - i))) & 31] for i in range(52))


def public_key(seed):
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


assert z32_key(public_key(PKARR_SEED)) == PKARR_Z32


def relay_body(seed, seq, packet):
    """sig(64) || seq(8) || packet, signed over BEP 44's 3:seqi<seq>e1:v<len>:<packet>."""
    signed = b"3:seqi%de1:v%d:" % (seq, len(packet)) + packet
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(signed)
    return sig + struct.pack("!Q", seq) + packet


assert relay_body(PKARR_SEED, PKARR_SEQ, PKARR_PACKET) == PKARR_RELAY

# ---- DNS messages ----


def wire_name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def query(name, qtype=1, qid=0, flags=0x0100, edns=False, padding=0):
    """A query; with edns an OPT record, with padding a Padding option (RFC 7830)."""
    ar = 1 if edns or padding else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, ar) + wire_name(name)
    msg += struct.pack("!HH", qtype, 1)
    if ar:
        opts = struct.pack("!HH", 12, padding) + bytes(padding) if padding else b""
        msg += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(opts)) + opts
    return msg


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- HTTP/2 (RFC 9113) and HPACK (RFC 7541) ----

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(ftype, flags, stream, payload=b""):
    return struct.pack("!I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack("!I", stream) + payload


def settings(*pairs):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack("!HI", k, v) for k, v in pairs))


SETTINGS_ACK = frame(SETTINGS, ACK, 0)
# What a client sends first: the preface, its SETTINGS (ENABLE_PUSH 0, INITIAL_WINDOW_SIZE),
# and the ACK of the server's SETTINGS (which it would have read by then).
HELLO = PREFACE + settings((2, 0), (4, 65535)) + SETTINGS_ACK


def hpack_int(value, prefix_bits, first):
    """RFC 7541 §5.1."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack_str(s):
    s = s.encode() if isinstance(s, str) else s
    return hpack_int(len(s), 7, 0) + s


# RFC 7541 Appendix A: the static table entries used here.
STATIC = {(":authority", None): 1, (":method", "GET"): 2, (":method", "POST"): 3,
          (":path", None): 4, (":scheme", "https"): 7, ("accept", None): 19,
          ("content-length", None): 28, ("content-type", None): 31, ("user-agent", None): 58}


def hpack(headers, index=()):
    """Header fields: fully indexed when in the static table, else literal without indexing
    with an indexed name when it has one (§6.2.2), else with a literal name. Names in `index`
    are added to the dynamic table instead (§6.2.1)."""
    out = b""
    for name, value in headers:
        if (name, value) in STATIC:
            out += hpack_int(STATIC[(name, value)], 7, 0x80)
        elif name in index:
            idx = STATIC.get((name, None), 0)
            out += hpack_int(idx, 6, 0x40) + (b"" if idx else hpack_str(name))
            out += hpack_str(value)
        elif (name, None) in STATIC:
            out += hpack_int(STATIC[(name, None)], 4, 0x00) + hpack_str(value)
        else:
            out += b"\x00" + hpack_str(name) + hpack_str(value)
    return out


def request_headers(method, path, extra=()):
    return [(":method", method), (":scheme", "https"), (":authority", "doh.example"),
            (":path", path)] + list(extra)


def get(stream, path, extra=()):
    return frame(HEADERS, END_HEADERS | END_STREAM, stream,
                 hpack(request_headers("GET", path, extra)))


def get_query(stream, msg, extra=()):
    return get(stream, "/dns-query?dns=" + b64url(msg), extra)


def post(stream, body, ctype="application/dns-message", extra=(), split=None, clen=None):
    clen = str(len(body) if clen is None else clen)
    hdrs = [("content-type", ctype), ("content-length", clen)] if ctype else []
    out = frame(HEADERS, END_HEADERS, stream,
                hpack(request_headers("POST", "/dns-query", hdrs + list(extra))))
    if split:
        out += frame(DATA, 0, stream, body[:split])
        body = body[split:]
    return out + frame(DATA, END_STREAM, stream, body)


def doh_corpus():
    www = query("www." + P)
    hello = query("_hello." + P, 16, edns=True)
    d = {}
    # RFC 8484 §4.1 GET, ID 0 as it asks, answered from the own zone.
    d["get-www-a"] = HELLO + get_query(1, www)
    d["get-txt-edns"] = HELLO + get_query(1, hello, [("accept", "application/dns-message")])
    d["get-padding-option"] = HELLO + get_query(1, query("www." + P, edns=True, padding=16))
    d["get-nxdomain"] = HELLO + get_query(1, query("nope." + P, edns=True))
    d["get-id-nonzero"] = HELLO + get_query(1, query("www." + P, qid=0xbeef))
    d["get-other-name-refused"] = HELLO + get_query(1, query("www.example.com."))
    # Names under another key wait for fuzz/doh.c's DHT, which answers nothing a loop turn
    # later: SERVFAIL through doh_reply(), to whatever is left of the stream and connection.
    other = z32_key(bytes(range(0xA0, 0xC0))) + "."
    d["async-get-other-key"] = HELLO + get_query(1, query("www." + other, qid=3))
    d["async-post-other-key-edns"] = HELLO + post(1, query(other, 16, edns=True))
    d["async-three-waiters"] = HELLO + get_query(1, query("a." + other)) + get_query(
        3, query("b." + other)) + post(5, query(other, 2)) + get_query(7, www)
    d["async-client-reset"] = HELLO + get_query(1, query("www." + other)) + frame(
        RST_STREAM, 0, 1, struct.pack("!I", 8))
    d["async-connection-error"] = HELLO + get_query(1, query("www." + other)) + frame(
        DATA, END_STREAM, 9, www)
    # A flood of headers (over 4 * 16384 bytes, by reference to the dynamic table) ends the
    # connection while stream 1's answer is owed: it comes to a closed connection.
    d["async-then-header-flood"] = HELLO + get_query(1, query("www." + other)) + frame(
        HEADERS, END_HEADERS | END_STREAM, 3,
        hpack(request_headers("GET", "/dns-query", [("x-big", "b" * 3950)]), index=("x-big",))
        + bytes([0xbe]) * 17)
    d["async-small-window"] = PREFACE + settings((4, 16)) + SETTINGS_ACK + get_query(
        1, query(other, 16, edns=True, padding=100))
    d["get-formerr-two-questions"] = HELLO + get_query(
        1, struct.pack("!HHHHHH", 0, 0x0100, 2, 0, 0, 0) + www[12:] + www[12:])
    d["get-params-around"] = HELLO + get(1, "/dns-query?ct=x&dns=" + b64url(www) + "&z=1")
    d["get-dns-twice"] = HELLO + get(1, "/dns-query?dns=AAAA&dns=" + b64url(www))
    # RFC 8484 §4.1 POST.
    d["post-www-a"] = HELLO + post(1, www)
    d["post-data-in-two-frames"] = HELLO + post(1, hello, split=5)
    d["post-big-padding"] = HELLO + post(1, query("www." + P, edns=True, padding=1200),
                                         split=600)
    d["post-ctype-params"] = HELLO + post(1, www, ctype="Application/DNS-Message; x=1")
    d["post-trailers"] = HELLO + frame(
        HEADERS, END_HEADERS, 1,
        hpack(request_headers("POST", "/dns-query", [("content-type", "application/dns-message")]))
    ) + frame(DATA, 0, 1, www) + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                       hpack([("x-trailer", "1")]))
    # Several streams on one connection, GET and POST mixed, the dynamic table in use.
    d["streams-three"] = HELLO + get_query(1, www) + post(3, hello) + get_query(
        5, query("www." + P, 28, qid=7))
    d["streams-dynamic-table"] = HELLO + frame(
        HEADERS, END_HEADERS | END_STREAM, 1,
        hpack(request_headers("GET", "/dns-query?dns=" + b64url(www),
                              [("user-agent", "fuzz/1")]), index=(":path", "user-agent"))
    ) + frame(HEADERS, END_HEADERS | END_STREAM, 3, bytes([0x82, 0x87, 0xbf, 0x41]) +
              hpack_str("doh.example") + bytes([0xbf]))  # :path, :authority, user-agent
    d["streams-over-max-concurrent"] = HELLO + b"".join(
        frame(HEADERS, END_HEADERS, 2 * i + 1,
              hpack(request_headers("POST", "/dns-query",
                                    [("content-type", "application/dns-message")])))
        for i in range(10)) + frame(DATA, END_STREAM, 1, www)
    # Errors: RFC 8484 §4.1 and HTTP.
    d["error-404-path"] = HELLO + get(1, "/resolve?dns=" + b64url(www))
    d["error-400-no-param"] = HELLO + get(1, "/dns-query")
    d["error-400-bad-base64"] = HELLO + get(1, "/dns-query?dns=AAAA=")
    d["error-400-short"] = HELLO + get_query(1, www[:11])
    d["error-400-response-qr1"] = HELLO + get_query(
        1, struct.pack("!H", 0x8100).join([www[:2], www[4:]]))
    d["error-405-put"] = HELLO + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                       hpack(request_headers("PUT", "/dns-query")))
    d["error-415-ctype"] = HELLO + post(1, www, ctype="text/plain")
    d["error-415-no-ctype"] = HELLO + post(1, www, ctype=None)
    d["error-400-post-short"] = HELLO + post(1, b"\x00\x01")
    d["error-content-length-mismatch"] = HELLO + post(1, www, clen=9)
    # RFC 6585 §5: 431. One 4000-byte field in the dynamic table, then referred to by index
    # five times: over 16384 bytes of headers in a small input.
    big = [("x-big", "b" * 3950)]
    d["error-431-headers"] = HELLO + frame(
        HEADERS, END_HEADERS | END_STREAM, 1,
        hpack(request_headers("GET", "/dns-query?dns=" + b64url(www), big), index=("x-big",)) +
        bytes([0xbe]) * 5)
    # The same, refused at the headers while the body is still to come: the server resets the
    # stream with NO_ERROR once it has answered (RFC 9113 §8.1).
    d["error-431-before-body"] = HELLO + frame(
        HEADERS, END_HEADERS, 1,
        hpack(request_headers("POST", "/dns-query", [("content-type", "application/dns-message")]
                              + big), index=("x-big",)) + bytes([0xbe]) * 5) + frame(
        DATA, END_STREAM, 1, www)
    # HTTP/2 framing.
    d["h2-continuation"] = HELLO + (lambda b: frame(HEADERS, END_STREAM, 1, b[:10]) + frame(
        CONTINUATION, 0, 1, b[10:30]) + frame(CONTINUATION, END_HEADERS, 1, b[30:]))(
        hpack(request_headers("GET", "/dns-query?dns=" + b64url(www))))
    d["h2-padded-priority"] = HELLO + frame(
        HEADERS, END_HEADERS | END_STREAM | PADDED | PRIO, 1,
        b"\x03" + struct.pack("!IB", 0, 15) +
        hpack(request_headers("GET", "/dns-query?dns=" + b64url(www))) + b"\x00" * 3)
    d["h2-padded-data"] = HELLO + frame(
        HEADERS, END_HEADERS, 1, hpack(request_headers(
            "POST", "/dns-query", [("content-type", "application/dns-message")]))) + frame(
        DATA, END_STREAM | PADDED, 1, b"\x04" + www + b"\x00" * 4)
    d["h2-ping-window-priority"] = HELLO + frame(PING, 0, 0, b"pingpong") + frame(
        WINDOW_UPDATE, 0, 0, struct.pack("!I", 1 << 20)) + frame(
        PRIORITY, 0, 3, struct.pack("!IB", 0, 200)) + get_query(1, www)
    d["h2-client-reset"] = HELLO + frame(HEADERS, END_HEADERS, 1, hpack(request_headers(
        "POST", "/dns-query", [("content-type", "application/dns-message")]))) + frame(
        RST_STREAM, 0, 1, struct.pack("!I", 8)) + get_query(3, www)
    d["h2-client-goaway"] = HELLO + get_query(1, www) + frame(
        GOAWAY, 0, 0, struct.pack("!II", 0, 0)) + get_query(3, www)
    d["h2-small-window-then-update"] = PREFACE + settings((4, 20)) + SETTINGS_ACK + get_query(
        1, hello) + frame(WINDOW_UPDATE, 0, 1, struct.pack("!I", 1000))
    d["h2-header-table-size-0"] = PREFACE + settings((1, 0)) + SETTINGS_ACK + get_query(
        1, www) + get_query(3, www)
    d["h2-max-frame-size-big"] = PREFACE + settings((5, 1 << 20)) + get_query(1, www)
    d["h2-stream-id-even"] = HELLO + get_query(2, www)
    d["h2-stream-id-backwards"] = HELLO + get_query(5, www) + get_query(3, www)
    d["h2-data-on-idle-stream"] = HELLO + frame(DATA, END_STREAM, 7, www)
    d["h2-settings-bad-length"] = PREFACE + frame(SETTINGS, 0, 0, b"\x00\x01\x00")
    d["h2-unknown-frame-type"] = HELLO + frame(0xfa, 0, 0, b"ext") + get_query(1, www)
    d["h2-preface-only"] = PREFACE
    d["h2-preface-cut"] = PREFACE[:10]
    d["h2-bad-hpack"] = HELLO + frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\xff\xff\xff\xff")
    # HTTP/1 on the HTTP/2 port, and what is neither.
    d["http1-get"] = b"GET /dns-query?dns=" + b64url(www).encode() + \
        b" HTTP/1.1\r\nHost: doh.example\r\nAccept: application/dns-message\r\n\r\n"
    d["http1-post"] = (b"POST /dns-query HTTP/1.1\r\nHost: doh.example\r\nContent-Type: "
                       b"application/dns-message\r\nContent-Length: %d\r\n\r\n" % len(www) + www)
    d["http1-pri-h1"] = b"PRI * HTTP/1.1\r\n\r\n"
    d["garbage-tls-client-hello"] = bytes.fromhex("160301020001000200fe03") + bytes(32)
    d["garbage-lowercase"] = b"get / http/1.1\r\n\r\n"
    d["empty"] = b""
    return d


# ---- HTTP/1.1 requests for the API ----


def http(method, target, headers=(), body=b"", version=b"HTTP/1.1"):
    lines = [b"%s %s %s" % (method.encode(), target.encode(), version), b"Host: node.example"]
    lines += [h.encode() if isinstance(h, str) else h for h in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def put_zone(key, body, token=API_TOKEN, extra=()):
    hdrs = ["Content-Type: application/pkarr.org/relays#payload", "Content-Length: %d" % len(body)]
    if token is not None:
        hdrs.append("Authorization: Bearer " + token)
    return http("PUT", "/" + key, hdrs + list(extra), body)


# fuzz/api.c replaces SIG_PH, and the seq after it, with a signature by the signer's key of
# the rest of the input.
SIG_PH = b"SIGN-ME:" * 8
SIGNER = z32_key(public_key(bytes([0x5B]) * 32))


def signer_packet():
    """A zone of the signer with records of every type the API renders, and some it does
    not know. The apex is written once, at offset 12; other names point to it (RFC 1035
    §4.1.4), so that the packet fits in 996 bytes."""
    apex = wire_name(SIGNER + ".")

    def n(rel):
        """A name below the apex ("" for the apex itself)."""
        return wire_name(rel)[:-1] + b"\xc0\x0c" if rel else b"\xc0\x0c"

    def rr(owner, rtype, rdata, ttl=600):
        return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata

    recs = [
        rr(apex, 6, n("ns1") + n("hostmaster") + struct.pack("!IIIII", 1, 3600, 600, 86400, 60),
           3600),
        rr(n(""), 2, n("ns1")),
        rr(n(""), 15, struct.pack("!H", 10) + n("mail")),
        rr(n(""), 16, b"\x0bv=spf1 -all\x03two\x00"),
        rr(n(""), 257, b"\x00\x05issueca.example"),
        rr(n(""), 65, struct.pack("!H", 1) + b"\x00" + struct.pack("!HH", 1, 3) + b"\x02h2" +
           struct.pack("!HH", 4, 4) + bytes([192, 0, 2, 1])),
        rr(n("www"), 1, bytes([192, 0, 2, 10])),
        rr(n("www"), 28, bytes.fromhex("20010db8000000000000000000000010")),
        rr(n("_sip._tcp"), 33, struct.pack("!HHH", 10, 60, 5060) + n("sip")),
        rr(n("alias"), 5, n("www")),
        rr(n("ptr"), 12, n("www")),
        rr(n("dname"), 39, wire_name("example.net.")),
        rr(n("*"), 16, b"\x08wildcard"),
        rr(n("odd"), 65280, b"\x00\x01\x02\xff"),
        rr(n("odd"), 99, b'\x05"q\\\x01\x7f'),
    ]
    return struct.pack("!HHHHHH", 0, 0x8400, 0, len(recs), 0, 0) + b"".join(recs)


def chunked(body, size):
    out = b""
    for i in range(0, len(body), size):
        out += b"%x\r\n" % len(body[i:i + size]) + body[i:i + size] + b"\r\n"
    return out + b"0\r\n\r\n"


def api_corpus():
    www = query("www." + P)
    newer = relay_body(PKARR_SEED, PKARR_SEQ + 1, PKARR_PACKET)
    # fuzz/api.c's DHT node holds an item of this key (not an own zone); nobody has one of
    # nobody_key; other_key's zone is put below.
    dht_key = z32_key(public_key(bytes([0x5A]) * 32))
    nobody_key = z32_key(bytes(range(0xA0, 0xC0)))
    other_seed = bytes([0x5C]) * 32
    other_key = z32_key(public_key(other_seed))
    other = relay_body(other_seed, 1, PKARR_PACKET)
    a = {}
    # The pkarr relay interface (docs/design.md §7). The files run in name order on one node:
    # "put-" before "zput-newer", which raises the seq the others were stored with.
    a["get-zone"] = http("GET", "/" + PKARR_Z32)
    a["get-zone-unknown"] = http("GET", "/" + dht_key)
    a["put-zone-same"] = put_zone(PKARR_Z32, PKARR_RELAY)
    a["put-zone-other-key"] = put_zone(other_key, other)
    a["put-zone-no-token"] = put_zone(PKARR_Z32, PKARR_RELAY, token=None)
    a["put-zone-bad-token"] = put_zone(PKARR_Z32, PKARR_RELAY, token="fuzz-tokem")
    a["put-zone-bad-signature"] = put_zone(PKARR_Z32, PKARR_RELAY[:-1] + b"\x05")
    a["put-zone-short-body"] = put_zone(PKARR_Z32, PKARR_RELAY[:70])
    a["put-zone-too-big"] = put_zone(PKARR_Z32, PKARR_RELAY + bytes(1000))
    a["put-zone-chunked"] = http(
        "PUT", "/" + PKARR_Z32, ["Authorization: Bearer " + API_TOKEN,
                                 "Transfer-Encoding: chunked"], chunked(PKARR_RELAY, 100))
    a["put-zone-expect-continue"] = put_zone(PKARR_Z32, PKARR_RELAY,
                                             extra=["Expect: 100-continue"])
    a["post-zone-405"] = http("POST", "/" + PKARR_Z32, ["Content-Length: 0"])
    a["zput-newer-seq"] = put_zone(PKARR_Z32, newer)
    a["zput-older-seq-409"] = put_zone(PKARR_Z32, PKARR_RELAY)
    # The signer's zone, any records: stored by "put-signer-zone", read by "signer-*".
    packet = signer_packet()
    a["put-signer-zone"] = put_zone(SIGNER, SIG_PH + bytes(8) + packet)
    a["put-signer-zone-empty"] = put_zone(SIGNER, SIG_PH + bytes(8) + packet[:2] + b"\x84\x00" +
                                          bytes(8))
    a["put-signer-zone-bad-packet"] = put_zone(SIGNER, SIG_PH + bytes(8) + packet[:40])
    a["put-signer-zone-zz-again"] = put_zone(SIGNER, SIG_PH + bytes(8) + packet)
    for prefix, qtype in (("", "ANY"), ("_sip._tcp.", "SRV"), ("odd.", "TYPE65280")):
        a["signer-resolve-" + qtype.lower()] = http(
            "GET", "/v1/resolve?name=%s%s&type=%s" % (prefix, SIGNER, qtype))
    a["signer-resolve-cname"] = http("GET", "/v1/resolve?name=alias." + SIGNER + "&type=AAAA")
    a["signer-resolve-wildcard"] = http("GET", "/v1/resolve?name=x.y." + SIGNER + "&type=TXT")
    a["signer-doh-json-any"] = http("GET", "/dns-query?name=" + SIGNER + "&type=ANY&do=1")
    a["signer-doh-json-odd"] = http("GET", "/dns-query?name=odd." + SIGNER + "&type=99")
    # /v1/status, /metrics, /v1/resolve, /v1/dht.
    a["status"] = http("GET", "/v1/status")
    a["metrics"] = http("GET", "/metrics")
    a["metrics-head"] = http("HEAD", "/metrics")
    a["resolve-www"] = http("GET", "/v1/resolve?name=www." + PKARR_Z32 + "&type=A")
    a["resolve-dht-key"] = http("GET", "/v1/resolve?name=www." + dht_key + "&type=A")
    a["resolve-nobody-key"] = http("GET", "/v1/resolve?name=" + nobody_key)
    a["resolve-other-name"] = http("GET", "/v1/resolve?name=www.example.com&type=AAAA")
    a["resolve-bad-type"] = http("GET", "/v1/resolve?name=x&type=NOPE")
    a["resolve-bad-name"] = http("GET", "/v1/resolve?name=a..b")
    a["dht-get-key"] = http("GET", "/v1/dht/" + PKARR_Z32)
    a["dht-get-dht-key"] = http("GET", "/v1/dht/" + dht_key)
    a["dht-get-nobody-key"] = http("GET", "/v1/dht/" + nobody_key)
    a["dht-get-target-immutable"] = http(
        "GET", "/v1/dht/e5f96f6f38320f0f33959cb4d3d656452117aadb?immutable=1")
    a["dht-get-bad"] = http("GET", "/v1/dht/xyz")
    # /dns-query: RFC 8484 over HTTP/1.1 and the JSON form.
    a["doh-get"] = http("GET", "/dns-query?dns=" + b64url(query("_hello." + P, 16, qid=77,
                                                                 edns=True)),
                        ["Accept: application/dns-message"])
    a["doh-head"] = http("HEAD", "/dns-query?dns=" + b64url(www))
    a["doh-post"] = http("POST", "/dns-query", ["Content-Type: application/dns-message",
                                                "Content-Length: %d" % len(www)], www)
    a["doh-post-chunked"] = http("POST", "/dns-query", [
        "Content-Type: application/dns-message", "Transfer-Encoding: chunked"], chunked(www, 7))
    a["doh-post-dht-key"] = (lambda q: http(
        "POST", "/dns-query", ["Content-Type: application/dns-message",
                               "Content-Length: %d" % len(q)], q))(
        query("_hello." + dht_key + ".", 16, qid=9))
    a["doh-post-415"] = http("POST", "/dns-query", ["Content-Type: text/plain",
                                                    "Content-Length: %d" % len(www)], www)
    a["doh-post-413"] = http("POST", "/dns-query", ["Content-Type: application/dns-message",
                                                    "Content-Length: 70000"])
    a["doh-post-not-query"] = http("POST", "/dns-query", [
        "Content-Type: application/dns-message", "Content-Length: 5"], b"hello")
    a["doh-get-bad-base64"] = http("GET", "/dns-query?dns=AAAA=")
    a["doh-delete-405"] = http("DELETE", "/dns-query")
    a["doh-json"] = http("GET", "/dns-query?name=www." + PKARR_Z32 + "&type=A&do=1&cd=true",
                         ["Accept: application/dns-json"])
    a["doh-json-ct-wire"] = http("GET", "/dns-query?name=_hello." + PKARR_Z32 +
                                 "&type=16&ct=application/dns-message")
    a["doh-get-accept-json"] = http("GET", "/dns-query?dns=" + b64url(www),
                                    ["Accept: application/dns-json"])
    # HTTP itself.
    a["not-found"] = http("GET", "/nothing/here")
    a["pipelined-three"] = http("GET", "/v1/status") + http("GET", "/" + PKARR_Z32) + http(
        "GET", "/dns-query?dns=" + b64url(www))
    a["http10-close"] = http("GET", "/metrics", version=b"HTTP/1.0")
    a["http2-preface"] = PREFACE
    a["header-without-colon"] = b"GET /v1/status HTTP/1.1\r\nHost x\r\n\r\n"
    a["request-line-only"] = b"GET /v1/status HTTP/1.1\r\n"
    a["garbage"] = bytes(range(256))
    a["empty"] = b""
    return a


def main():
    for name, data in doh_corpus().items():
        write("doh", name, data)
    for name, data in api_corpus().items():
        write("api", name, data)


if __name__ == "__main__":
    main()
