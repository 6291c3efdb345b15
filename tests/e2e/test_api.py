"""The HTTP API: the pkarr relay interface (PUT/GET /<z32>) and GET /v1/status.

Bodies come from the conformance vector (made by pkarr's JS implementation), from
`swarmdns sign`, or are built and signed here with the `cryptography` package.
"""
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from conftest import (
    PACKET_MAX,
    RELAY_MAX,
    key_from_seed,
    relay_body,
    sign_zone,
    z32encode,
    public_key,
)

OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def vec(vectors):
    v = vectors["pkarr_packet"]
    return {
        "z32": v["z32"],
        "seed": bytes.fromhex(v["seed"]),
        "seq": v["seq"],
        "packet": bytes.fromhex(v["v"]),
        "body": bytes.fromhex(v["relay_body"]),
    }


def build_packet(origin: str, records, pad_to: int = None) -> bytes:
    """A zone packet (ID 0, QR=1, AA=1, records in the answer) made with dnspython.
    With pad_to, a TXT record is sized so that the packet is exactly pad_to bytes."""
    def make(extra_len):
        msg = dns.message.Message(id=0)
        msg.flags = dns.flags.QR | dns.flags.AA
        for text in records:
            owner, ttl, rdclass, rdtype, rdata = text.split(None, 4)
            msg.answer.append(dns.rrset.from_text(owner, int(ttl), rdclass, rdtype, rdata))
        if extra_len is not None:
            chunks = []
            left = extra_len
            while left > 0:
                chunks.append("x" * min(left, 255))
                left -= 255
            rd = " ".join(f'"{c}"' for c in chunks) if chunks else '""'
            msg.answer.append(dns.rrset.from_text(f"pad.{origin}", 300, "IN", "TXT", rd))
        return msg.to_wire()

    if pad_to is None:
        return make(None)
    base = len(make(0))
    for extra in range(pad_to - base, max(pad_to - base - 8, -1), -1):
        wire = make(extra)
        if len(wire) == pad_to:
            return wire
    raise AssertionError(f"cannot build a packet of exactly {pad_to} bytes")


def a_records(origin, addr="192.0.2.1"):
    return [f"www.{origin} 300 IN A {addr}"]


def assert_vector_served(node, z32):
    r = node.query(f"www.{z32}.", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert [x.to_text() for x in r.answer[0]] == ["1.2.3.4"]
    r = node.query(f"_hello.{z32}.", "TXT", tcp=True)
    assert r.rcode() == dns.rcode.NOERROR
    assert [x.to_text() for x in r.answer[0]] == ['"world"']


# --------------------------------------------------------------------------------------------
# PUT and GET with the pkarr vector


def test_put_vector_then_dns_and_get(node, vec):
    r = node.put_relay(vec["z32"], vec["body"])
    assert r.status == 204, f"{r.status} {r.body!r}"
    assert r.body == b""
    assert_vector_served(node, vec["z32"])
    g = node.api("GET", f"/{vec['z32']}")
    assert g.status == 200
    assert g.body == vec["body"], "GET returns the stored relay body byte for byte"


def test_put_with_octet_stream_content_type(node, vec):
    r = node.put_relay(vec["z32"], vec["body"], headers=OCTET)
    assert r.status == 204, f"{r.status} {r.body!r}"
    assert_vector_served(node, vec["z32"])


def test_put_same_body_twice_is_accepted(node, vec):
    assert node.put_relay(vec["z32"], vec["body"]).status == 204
    r = node.put_relay(vec["z32"], vec["body"])
    assert r.status == 204, f"re-putting the same item: {r.status} {r.body!r}"


def test_get_unknown_key_on_an_isolated_node_503(node, vec):
    """A key the node does not hold is looked up in the DHT (pkarr's design/relays.md); a node
    without DHT peers cannot, and says so with 503 (a client asks another relay), not 404
    (which says the DHT has nothing). test_relay_spec.py has the 404 after a lookup."""
    other = z32encode(public_key(bytes(32)))
    assert other != vec["z32"]
    r = node.api("GET", f"/{other}")
    assert r.status == 503 and b"no DHT node answered" in r.body, (r.status, r.body)


def test_status_counts_zones(node, vec, make_key, swarmdns_bin):
    st = node.status()
    assert isinstance(st.get("version"), str) and st["version"], st
    assert st.get("zones") == 0, st
    assert node.put_relay(vec["z32"], vec["body"]).status == 204
    assert node.status()["zones"] == 1
    key = make_key()
    body = sign_zone(swarmdns_bin, key, "www IN A 192.0.2.3\n")
    assert node.put_relay(key.z32, body).status == 204
    assert node.status()["zones"] == 2
    # An update of an existing zone does not add one.
    body = sign_zone(swarmdns_bin, key, "www IN A 192.0.2.4\n")
    assert node.put_relay(key.z32, body).status == 204
    assert node.status()["zones"] == 2
    r = node.api("GET", "/v1/status")
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers


# --------------------------------------------------------------------------------------------
# Rejections


@pytest.mark.parametrize("where", [0, 63], ids=["sig-first-byte", "sig-last-byte"])
def test_flipped_signature_byte_400(node, vec, where):
    body = bytearray(vec["body"])
    body[where] ^= 0x01
    r = node.put_relay(vec["z32"], bytes(body))
    assert r.status == 400, f"{r.status} {r.body!r}"
    assert node.api("GET", f"/{vec['z32']}").status == 503, "nothing stored"
    assert node.status()["zones"] == 0


def test_flipped_seq_or_packet_byte_400(node, vec):
    for where in (70, 72 + 40):  # inside seq, inside the packet: both are signed
        body = bytearray(vec["body"])
        body[where] ^= 0x10
        r = node.put_relay(vec["z32"], bytes(body))
        assert r.status == 400, f"byte {where}: {r.status} {r.body!r}"
    assert node.api("GET", f"/{vec['z32']}").status == 503


def test_body_for_another_key_400(node, vec):
    """A valid body PUT under a different key's name does not verify under that key."""
    other = z32encode(public_key(b"\x07" * 32))
    r = node.put_relay(other, vec["body"])
    assert r.status == 400, f"{r.status} {r.body!r}"


def test_signed_but_unparseable_packet_400(node, vec):
    garbage = b"\x00\x00\x84\x00\x00\x00\x00\x05" + b"\xff" * 30  # claims 5 answers
    body = relay_body(vec["seed"], vec["seq"], garbage)
    r = node.put_relay(vec["z32"], body)
    assert r.status == 400, f"{r.status} {r.body!r}"


def test_signed_packet_with_foreign_owner_never_served(node, vec):
    """A zone cannot speak for names outside its key: the packet is refused (400) or its
    foreign record is ignored; www.example.com. stays REFUSED either way."""
    packet = build_packet(vec["z32"] + ".", ["www.example.com. 300 IN A 192.0.2.66",
                                             f"www.{vec['z32']}. 300 IN A 192.0.2.67"])
    r = node.put_relay(vec["z32"], relay_body(vec["seed"], vec["seq"], packet))
    assert r.status in (204, 400), f"{r.status} {r.body!r}"
    for tcp in (False, True):
        resp = node.query("www.example.com.", "A", tcp=tcp)
        assert resp.rcode() == dns.rcode.REFUSED and resp.answer == [], str(resp)


@pytest.mark.parametrize("n", [0, 10, 71])
def test_body_shorter_than_header_400(node, vec, n):
    r = node.put_relay(vec["z32"], vec["body"][:n])
    assert r.status == 400, f"{r.status} {r.body!r}"


def test_invalid_key_in_path(node, vec):
    for path in ("/not-a-key", "/" + vec["z32"][:-1], "/" + vec["z32"][:-1] + "0"):
        r = node.put_relay(path.lstrip("/"), vec["body"])
        assert r.status in (400, 404), f"PUT {path}: {r.status}"
        assert node.api("GET", path).status in (400, 404), f"GET {path}"


def test_lower_seq_409_and_old_zone_kept(node, vec, swarmdns_bin, tmp_path):
    assert node.put_relay(vec["z32"], vec["body"]).status == 204
    key = key_from_seed(vec["seed"], tmp_path / "vector.key")
    assert key.z32 == vec["z32"]
    older = sign_zone(swarmdns_bin, key, "www IN A 6.6.6.6\n", seq=vec["seq"] - 1)
    r = node.put_relay(vec["z32"], older)
    assert r.status == 409, f"{r.status} {r.body!r}"
    # Rollback protection: the stored zone is unchanged.
    assert node.api("GET", f"/{vec['z32']}").body == vec["body"]
    assert_vector_served(node, vec["z32"])


def test_higher_seq_replaces_zone(node, vec, swarmdns_bin, tmp_path):
    assert node.put_relay(vec["z32"], vec["body"]).status == 204
    key = key_from_seed(vec["seed"], tmp_path / "vector.key")
    newer = sign_zone(swarmdns_bin, key, "www IN A 5.6.7.8\n", seq=vec["seq"] + 1)
    r = node.put_relay(vec["z32"], newer)
    assert r.status == 204, f"{r.status} {r.body!r}"
    assert node.api("GET", f"/{vec['z32']}").body == newer
    resp = node.query(f"www.{vec['z32']}.", "A")
    assert [x.to_text() for x in resp.answer[0]] == ["5.6.7.8"]
    gone = node.query(f"_hello.{vec['z32']}.", "TXT")
    assert gone.rcode() == dns.rcode.NXDOMAIN, "records of the old zone are gone"
    # and now the vector itself is older
    assert node.put_relay(vec["z32"], vec["body"]).status == 409


def test_packet_of_996_bytes_accepted(node, vec):
    packet = build_packet(vec["z32"] + ".", a_records(vec["z32"] + "."), pad_to=PACKET_MAX)
    assert len(packet) == PACKET_MAX
    body = relay_body(vec["seed"], vec["seq"], packet)
    assert len(body) == RELAY_MAX == 1068
    r = node.put_relay(vec["z32"], body)
    assert r.status == 204, f"{r.status} {r.body!r}"
    resp = node.query(f"www.{vec['z32']}.", "A")
    assert [x.to_text() for x in resp.answer[0]] == ["192.0.2.1"]


def test_body_over_1068_bytes_413(node, vec):
    packet = build_packet(vec["z32"] + ".", a_records(vec["z32"] + "."), pad_to=PACKET_MAX + 1)
    body = relay_body(vec["seed"], vec["seq"], packet)
    assert len(body) == RELAY_MAX + 1
    r = node.put_relay(vec["z32"], body)
    assert r.status == 413, f"{r.status} {r.body!r}"
    assert node.api("GET", f"/{vec['z32']}").status == 503


def test_huge_body_413(node, vec):
    r = node.put_relay(vec["z32"], vec["body"] + b"\x00" * 100_000)
    assert r.status == 413, f"{r.status} {r.body!r}"
    node.assert_alive()
    assert node.status()["zones"] == 0


def test_unknown_path_404(node):
    assert node.api("GET", "/v1/no-such-thing").status == 404
