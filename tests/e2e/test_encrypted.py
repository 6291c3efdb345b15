"""Encrypted DNS (issue 5): DNS over TLS (RFC 7858) and DNS over HTTPS over HTTP/2 (RFC 8484),
with `swarmdns cert` for the certificate.

Real, independently written clients: kdig (+tls, +https), curl (--doh-url, --http2 GET and
POST), stubby (a DoT stub resolver forwarding to us), h2load and nghttp (nghttp2's tools), and
Python's ssl module with hand-made HTTP/2 frames for what well-behaved clients never send.
Names outside the swarm go to a small upstream server written here with dnspython (it can
delay an answer, which makes answers come late and out of order), through `--forward`; the
node runs with `--upstream none`, so other ordinary names are REFUSED.
"""
import base64
import hashlib
import random
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import (
    Node,
    _finish,
    free_port,
    keygen,
    make_query,
    publish_zone,
    recv_exact,
    run_cli,
)

ZONE = """\
$TTL 3600
@          IN A      192.0.2.1
www        IN A      127.0.0.1
short 600  IN A      192.0.2.60
short 900  IN A      192.0.2.61
mail       IN A      192.0.2.25
txt        IN TXT    "hello over TLS"
"""

PADDING_BLOCK = 468  # RFC 8467 section 4.1: responses are padded to a multiple of 468
IDLE_MS = 4000  # tls-idle-timeout of the main node (so also its handshake timeout)
MAX_STREAMS = 64  # doh-max-streams of the main node

TOOLS = {name: shutil.which(name) for name in ("kdig", "curl", "stubby", "h2load", "nghttp")}


def need(tool):
    if not TOOLS[tool]:
        pytest.skip(f"{tool} is not installed (scripts/install-deps.sh installs it)")
    return TOOLS[tool]


# --------------------------------------------------------------------------------------------
# An upstream DNS server for `--forward example.test=...`: answers A queries under
# example.test; names starting with "slow" are answered after SLOW_S seconds.

SLOW_S = 0.4
UPSTREAM_A = {"www.example.test.": "192.0.2.80", "api.example.test.": "127.0.0.1"}


class Upstream:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _answer(self, data, src):
        try:
            q = dns.message.from_wire(data)
        except Exception:
            return
        r = dns.message.make_response(q)
        name = q.question[0].name.to_text().lower()
        if q.question[0].rdtype == dns.rdatatype.A:
            addr = UPSTREAM_A.get(name, "192.0.2.99" if name.startswith("slow") else None)
            if addr:
                r.answer.append(dns.rrset.from_text(q.question[0].name, 120, "IN", "A", addr))
            else:
                r.set_rcode(dns.rcode.NXDOMAIN)
        if name.startswith("slow"):
            time.sleep(SLOW_S)
        try:
            self.sock.sendto(r.to_wire(), src)
        except OSError:
            pass

    def _run(self):
        while not self._stop.is_set():
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received += 1
            threading.Thread(target=self._answer, args=(data, src), daemon=True).start()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


# --------------------------------------------------------------------------------------------
# The node


@dataclass
class Enc:
    node: Node
    dot: int
    doh: int
    cert: Path
    certdir: Path
    z32: str
    upstream: Upstream

    def name(self, rel="@"):
        return f"{self.z32}." if rel == "@" else f"{rel}.{self.z32}."

    @property
    def doh_url(self):
        return f"https://localhost:{self.doh}/dns-query"


def make_cert(binary, directory: Path) -> Path:
    cp = run_cli(binary, "cert", "-o", directory)
    assert cp.returncode == 0, f"swarmdns cert failed: {cp.stdout}{cp.stderr}"
    return directory / "cert.pem"


def tls_node(binary, base: Path, certdir: Path, extra=()):
    dot, doh = free_port(), free_port()
    (base / "data").mkdir(parents=True, exist_ok=True)
    node = Node(binary, base / "data", base, extra_args=[
        "--tls-cert", str(certdir / "cert.pem"), "--tls-key", str(certdir / "key.pem"),
        "--listen-dot", f"127.0.0.1:{dot}", "--listen-doh", f"127.0.0.1:{doh}", *extra])
    return node, dot, doh


@pytest.fixture(scope="module")
def enc(swarmdns_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("encrypted")
    certdir = base / "tls"
    make_cert(swarmdns_bin, certdir)
    up = Upstream()
    node, dot, doh = tls_node(swarmdns_bin, base, certdir, [
        "--tls-idle-timeout", str(IDLE_MS), "--doh-max-streams", str(MAX_STREAMS),
        "--forward", f"example.test=127.0.0.1:{up.port}"])
    node.start()
    try:
        key = keygen(swarmdns_bin, base / "zone.key")
        publish_zone(swarmdns_bin, node, key, ZONE, directory=base)
        yield Enc(node, dot, doh, certdir / "cert.pem", certdir, key.z32, up)
    finally:
        _finish(node)
        up.close()


# --------------------------------------------------------------------------------------------
# Clients


def tls_context(cert: Path, alpn=None, version=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def tls_connect(port, cert, alpn=None, version=None, session=None, ctx=None, timeout=5.0):
    ctx = ctx or tls_context(cert, alpn, version)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    except Exception:
        raw.close()
        raise


def frame(wire: bytes) -> bytes:
    return struct.pack(">H", len(wire)) + wire


def read_frame(s) -> bytes:
    head = recv_exact(s, 2)
    assert len(head) == 2, "the DoT connection closed before an answer"
    (n,) = struct.unpack(">H", head)
    body = recv_exact(s, n)
    assert len(body) == n, f"the DoT connection closed after {len(body)} of {n} bytes"
    return body


def dot_query(enc, name, rdtype="A", sock=None, **kw):
    q = make_query(name, rdtype, **kw)
    own = sock is None
    s = sock or tls_connect(enc.dot, enc.cert)
    try:
        s.sendall(frame(q.to_wire()))
        wire = read_frame(s)
    finally:
        if own:
            s.close()
    r = dns.message.from_wire(wire)
    assert q.is_response(r), f"the answer does not match the query:\n{r}"
    return r, wire


def addrs(r):
    return sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.A
                  for rd in rrset)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def curl(enc, *args, timeout=15):
    """curl over HTTP/2 trusting our certificate; returns (status, headers, body)."""
    d = enc.node.log_dir
    hdr, body = d / "curl.headers", d / "curl.body"
    for f in (hdr, body):
        if f.exists():
            f.unlink()
    argv = [need("curl"), "-sS", "--http2", "--cacert", str(enc.cert), "--max-time", "10",
            "-D", str(hdr), "-o", str(body), "-w", "%{http_code}", *map(str, args)]
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert cp.returncode == 0, f"curl exit {cp.returncode}: {cp.stderr}\n{argv}"
    headers = {}
    for line in hdr.read_text(errors="replace").splitlines()[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return int(cp.stdout.strip()), headers, body.read_bytes()


def doh_get(enc, wire: bytes, **kw):
    return curl(enc, f"{enc.doh_url}?dns={b64url(wire)}", **kw)


def doh_post(enc, wire: bytes, ctype="application/dns-message"):
    d = enc.node.log_dir / "post.bin"
    d.write_bytes(wire)
    return curl(enc, "-H", f"content-type: {ctype}", "--data-binary", f"@{d}", enc.doh_url)


def kdig(enc, port, name, rdtype="A", *opts):
    argv = [need("kdig"), "@127.0.0.1", "-p", str(port), f"+tls-ca={enc.cert}",
            "+tls-hostname=localhost", "+timeout=5", "+retry=0", *opts, name, rdtype]
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert cp.returncode == 0, f"kdig exit {cp.returncode}: {cp.stdout}{cp.stderr}"
    m = re.search(r"opcode: \w+; status: (\w+)", cp.stdout)
    answers = re.findall(r"^(\S+)\s+\d+\s+IN\s+A\s+(\S+)$", cp.stdout, re.M)
    return (m.group(1) if m else None), sorted(a[1] for a in answers), cp.stdout


def plain_rcode(enc, name) -> str:
    """What the node answers over UDP: every transport ends in the same handler. A name
    outside the swarm with no upstream for it fails (REFUSED, or SERVFAIL when a forwarder
    runs for other suffixes), never NOERROR."""
    r = enc.node.query(name, "A")
    text = dns.rcode.to_text(r.rcode())
    assert text in ("REFUSED", "SERVFAIL"), r.to_text()
    return text


def assert_serving(enc):
    """The node still answers everyone else, over DoT and over DoH."""
    enc.node.assert_alive()
    r, _ = dot_query(enc, enc.name("mail"))
    assert addrs(r) == ["192.0.2.25"], r.to_text()
    status, _, body = doh_get(enc, make_query(enc.name("mail"), "A").to_wire())
    assert status == 200 and addrs(dns.message.from_wire(body)) == ["192.0.2.25"]


def wait_closed(s, within: float) -> float:
    """Reads until the peer closes (EOF or reset); returns the seconds it took."""
    t0 = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - t0 < within:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            return time.monotonic() - t0
        if not data:
            return time.monotonic() - t0
    pytest.fail(f"the server kept the connection open for more than {within} s")


# --------------------------------------------------------------------------------------------
# A minimal HTTP/2 client (RFC 9113, HPACK RFC 7541 literals only) for hostile frames.

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9)
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def h2_frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", stream) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack(headers):
    """Literal header fields without indexing, new names, no Huffman (RFC 7541 §6.2.2)."""
    out = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        out += b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v
    return out


class H2:
    def __init__(self, enc, alpn=("h2",)):
        self.s = tls_connect(enc.doh, enc.cert, alpn=list(alpn))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def start(self):
        self.send(H2_PREFACE + h2_frame(SETTINGS, 0, 0))

    def read_frame(self, timeout=5.0):
        """(type, flags, stream, payload), or None when the connection closed."""
        self.s.settimeout(timeout)
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                chunk = self.s.recv(65536)
            except (ConnectionResetError, ssl.SSLError, OSError):
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
             self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        if f[0] == SETTINGS and not f[1] & ACK:
            self.send(h2_frame(SETTINGS, ACK, 0))
        return f

    def frames_until_closed(self, timeout=5.0):
        out, t0 = [], time.monotonic()
        while time.monotonic() - t0 < timeout:
            f = self.read_frame(timeout)
            if f is None:
                return out
            out.append(f)
        pytest.fail(f"the connection was still open after {timeout} s: {out}")

    def request(self, stream, headers, body=None):
        flags = END_HEADERS | (0 if body is not None else END_STREAM)
        self.send(h2_frame(HEADERS, flags, stream, hpack(headers)))
        if body is not None:
            self.send(h2_frame(DATA, END_STREAM, stream, body))

    def response_body(self, stream, timeout=5.0):
        body = b""
        while True:
            f = self.read_frame(timeout)
            assert f is not None, "the connection closed before the response"
            if f[2] == stream and f[0] == DATA:
                body += f[3]
                if f[1] & END_STREAM:
                    return body
            assert not (f[0] == RST_STREAM and f[2] == stream), "the stream was reset"
            assert f[0] != GOAWAY, f"GOAWAY {f[3]!r}"

    def close(self):
        self.s.close()


def get_headers(enc, path):
    return [(":method", "GET"), (":scheme", "https"), (":authority", f"localhost:{enc.doh}"),
            (":path", path)]


def goaway_error(frames):
    ga = [f for f in frames if f[0] == GOAWAY]
    assert ga, f"no GOAWAY before the connection closed: {frames}"
    return struct.unpack(">I", ga[-1][3][4:8])[0]


# --------------------------------------------------------------------------------------------
# swarmdns cert


def test_cert_writes_a_pair_for_localhost(swarmdns_bin, tmp_path):
    out = tmp_path / "tls"
    cp = run_cli(swarmdns_bin, "cert", "-o", out, "--name", "dns.example.net")
    assert cp.returncode == 0, cp.stderr
    cert_path, key_path = out / "cert.pem", out / "key.pem"
    assert str(cert_path) in cp.stdout and str(key_path) in cp.stdout, cp.stdout
    assert "--tls-cert" in cp.stdout and "--listen-dot" in cp.stdout, cp.stdout
    assert key_path.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "dns.example.net"}
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert cert.issuer == cert.subject
    # An existing pair is never overwritten.
    before = cert_path.read_bytes(), key_path.read_bytes()
    cp = run_cli(swarmdns_bin, "cert", "-o", out)
    assert cp.returncode != 0 and "exist" in cp.stderr, cp.stderr
    assert (cert_path.read_bytes(), key_path.read_bytes()) == before
    cp = run_cli(swarmdns_bin, "cert")
    assert cp.returncode == 2 and "-o" in cp.stderr


def test_serve_explains_missing_or_bad_files(swarmdns_bin, tmp_path):
    port = free_port()
    base = ["serve", "--data-dir", tmp_path / "d", "--listen-dns", f"127.0.0.1:{free_port()}",
            "--listen-api", f"127.0.0.1:{free_port()}", "--dht-listen", "127.0.0.1:0",
            "--bootstrap", "none", "--upstream", "none", "--listen-dot", f"127.0.0.1:{port}"]
    cp = run_cli(swarmdns_bin, *base)
    assert cp.returncode != 0 and "tls-cert" in cp.stderr and "swarmdns cert" in cp.stderr, (
        cp.stderr)
    missing = tmp_path / "nothere.pem"
    cp = run_cli(swarmdns_bin, *base, "--tls-cert", missing, "--tls-key", missing)
    assert cp.returncode != 0, cp.stderr
    assert f"cannot read tls-cert {missing}: No such file or directory" in cp.stderr, cp.stderr
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    cp = run_cli(swarmdns_bin, *base, "--tls-cert", bad, "--tls-key", bad)
    assert cp.returncode != 0 and f"cannot use tls-cert {bad}" in cp.stderr, cp.stderr


# --------------------------------------------------------------------------------------------
# Real clients: kdig, curl, stubby


def test_kdig_over_tls(enc):
    status, answers, out = kdig(enc, enc.dot, enc.name("www"), "A", "+tls")
    assert status == "NOERROR" and answers == ["127.0.0.1"], out
    assert "TLS session" in out, out
    status, answers, out = kdig(enc, enc.dot, "www.example.test.", "A", "+tls")
    assert status == "NOERROR" and answers == ["192.0.2.80"], out
    status, answers, out = kdig(enc, enc.dot, "example.com.", "A", "+tls")
    assert status == plain_rcode(enc, "example.com.") and answers == [], out


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_kdig_over_https(enc, method):
    opts = ["+https"] + (["+https-get"] if method == "GET" else [])
    status, answers, out = kdig(enc, enc.doh, enc.name(), "A", *opts)
    assert status == "NOERROR" and answers == ["192.0.2.1"], out
    assert f"HTTP/2-{method}" in out and "status: 200" in out, out
    status, answers, out = kdig(enc, enc.doh, "www.example.test.", "A", *opts)
    assert status == "NOERROR" and answers == ["192.0.2.80"], out
    status, answers, out = kdig(enc, enc.doh, "example.com.", "A", *opts)
    assert status == plain_rcode(enc, "example.com."), out


def test_curl_doh_url_resolves_key_names(enc):
    """curl looks the host up through our DoH and then fetches from it: www.<key> is
    127.0.0.1 in the zone, where the node's own HTTP API listens."""
    argv = [need("curl"), "-sS", "--max-time", "10", "--cacert", str(enc.cert), "--doh-url",
            enc.doh_url]
    url = f"http://{enc.name('www').rstrip('.')}:{enc.node.api_port}/v1/status"
    cp = subprocess.run(argv + [url], capture_output=True, text=True, timeout=20)
    assert cp.returncode == 0 and '"node_id"' in cp.stdout, f"{cp.stdout}{cp.stderr}"
    # An upstream name (forwarded): api.example.test is 127.0.0.1 too.
    url = f"http://api.example.test:{enc.node.api_port}/v1/status"
    cp = subprocess.run(argv + [url], capture_output=True, text=True, timeout=20)
    assert cp.returncode == 0 and '"node_id"' in cp.stdout, f"{cp.stdout}{cp.stderr}"
    # An ordinary name without an upstream: no address, so curl cannot resolve it (exit 6).
    cp = subprocess.run(argv + ["http://example.com/"], capture_output=True, text=True,
                        timeout=20)
    assert cp.returncode == 6, f"{cp.returncode} {cp.stdout}{cp.stderr}"


def test_curl_http2_get_and_post(enc):
    q = make_query(enc.name("short"), "A", use_edns=0)
    q.id = 0  # RFC 8484 section 4.1: for caches
    for status, headers, body in (doh_get(enc, q.to_wire()), doh_post(enc, q.to_wire())):
        assert status == 200, body
        assert headers["content-type"] == "application/dns-message"
        r = dns.message.from_wire(body)
        assert q.is_response(r) and addrs(r) == ["192.0.2.60", "192.0.2.61"], r.to_text()
        ttl = min(rrset.ttl for rrset in r.answer)
        assert headers["cache-control"] == f"max-age={ttl}", headers
        assert int(headers["content-length"]) == len(body)
        assert len(body) % PADDING_BLOCK == 0, f"DoH answer of {len(body)} bytes is not padded"
    # A forwarded name answered late, and a refused one.
    status, headers, body = doh_post(enc, make_query("slow1.example.test.", "A").to_wire())
    assert status == 200 and addrs(dns.message.from_wire(body)) == ["192.0.2.99"]
    status, headers, body = doh_get(enc, make_query("example.com.", "A").to_wire())
    r = dns.message.from_wire(body)
    assert status == 200 and dns.rcode.to_text(r.rcode()) == plain_rcode(enc, "example.com.")
    assert headers["cache-control"] == "max-age=0"


def expected_max_age(r) -> int:
    """RFC 8484 section 5.1 as docs/encrypted.md decides it: the smallest TTL of the answer;
    without one, a negative answer's SOA min(TTL, MINIMUM) (RFC 2308 section 5); else 0."""
    if r.answer:
        return min(rrset.ttl for rrset in r.answer)
    soa = [rrset for rrset in r.authority if rrset.rdtype == dns.rdatatype.SOA]
    return min(soa[0].ttl, soa[0][0].minimum) if soa else 0


def test_cache_control_same_on_doh_port_and_api(enc, swarmdns_bin, tmp_path):
    """One RFC 8484 core: the same answer gets the same Cache-Control over HTTP/2 on the DoH
    port and over HTTP/1.1 on the API port, for a positive, a negative and a refused answer.
    The zone with its own SOA has a MINIMUM (60) below the TTL of the SOA in negative answers
    (the clamp minimum): the two servers used to disagree there (one took the SOA's TTL)."""
    key = keygen(swarmdns_bin, tmp_path / "soa.key")
    publish_zone(swarmdns_bin, enc.node, key, "$TTL 3600\n"
                 "@ IN SOA ns hostmaster 1 3600 600 86400 60\nwww IN A 192.0.2.7\n",
                 directory=tmp_path)
    cases = ((enc.name("short"), "A"), (enc.name("nosuchname"), "A"),
             (enc.name("www"), "TXT"), ("example.com.", "A"), (f"nx.{key.z32}.", "A"),
             (f"www.{key.z32}.", "AAAA"))
    for name, rdtype in cases:
        q = make_query(name, rdtype, use_edns=0)
        q.id = 0
        status, headers, body = doh_get(enc, q.to_wire())
        assert status == 200, body
        r = dns.message.from_wire(body)
        api = enc.node.api("GET", f"/dns-query?dns={b64url(q.to_wire())}")
        assert api.status == 200, api.body
        assert api.headers["cache-control"] == headers["cache-control"], (name, rdtype)
        assert headers["cache-control"] == f"max-age={expected_max_age(r)}", r.to_text()
    # The negative answer has a SOA whose MINIMUM decides, so the rule's second branch with
    # RFC 2308's min() was taken.
    q = make_query(f"nx.{key.z32}.", "A", use_edns=0)
    status, headers, body = doh_get(enc, q.to_wire())
    r = dns.message.from_wire(body)
    assert not r.answer and r.authority[0].ttl > 60, r.to_text()
    assert headers["cache-control"] == "max-age=60", headers


def test_stubby_forwards_to_us(enc, tmp_path):
    stubby = need("stubby")
    port = free_port()
    spki = x509.load_pem_x509_certificate(enc.cert.read_bytes()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    conf = tmp_path / "stubby.yml"
    conf.write_text(
        "resolution_type: GETDNS_RESOLUTION_STUB\n"
        "dns_transport_list:\n  - GETDNS_TRANSPORT_TLS\n"
        "tls_authentication: GETDNS_AUTHENTICATION_REQUIRED\n"
        "tls_query_padding_blocksize: 128\n"
        "idle_timeout: 2000\n"
        "round_robin_upstreams: 0\n"
        f'tls_ca_file: "{enc.cert}"\n'
        f"listen_addresses:\n  - 127.0.0.1@{port}\n"
        "upstream_recursive_servers:\n"
        f"  - address_data: 127.0.0.1\n    tls_port: {enc.dot}\n"
        '    tls_auth_name: "localhost"\n'
        f'    tls_pubkey_pinset:\n      - digest: "sha256"\n        value: {pin}\n')
    log = tmp_path / "stubby.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([stubby, "-C", str(conf), "-l"], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def ask(name, deadline=10.0):
            t0 = time.monotonic()
            while True:
                try:
                    return dns.query.udp(make_query(name, "A"), "127.0.0.1", port=port,
                                         timeout=2)
                except (dns.exception.Timeout, ConnectionRefusedError):
                    assert proc.poll() is None, log.read_text(errors="replace")
                    if time.monotonic() - t0 > deadline:
                        raise AssertionError(f"stubby did not answer {name}\n"
                                             + log.read_text(errors="replace")[-3000:])
                    time.sleep(0.1)

        r = ask(enc.name("www"))
        assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["127.0.0.1"], r.to_text()
        r = ask("www.example.test.")
        assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["192.0.2.80"], r.to_text()
        r = ask("example.com.")
        assert dns.rcode.to_text(r.rcode()) == plain_rcode(enc, "example.com."), r.to_text()
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --------------------------------------------------------------------------------------------
# DoT behaviour: framing, pipelining, padding, TLS versions, resumption, ALPN


def test_dot_pipelined_answers_come_out_of_order(enc):
    slow = make_query("slow2.example.test.", "A")
    local = [make_query(enc.name(n), "A") for n in ("www", "mail", "@")]
    with tls_connect(enc.dot, enc.cert) as s:
        s.sendall(b"".join(frame(q.to_wire()) for q in [slow] + local))
        got = [dns.message.from_wire(read_frame(s)) for _ in range(4)]
        # Another query on the same connection afterwards.
        r, _ = dot_query(enc, enc.name("txt"), "TXT", sock=s)
        assert r.answer and "hello over TLS" in r.answer[0].to_text()
    by_id = {r.id: r for r in got}
    assert set(by_id) == {q.id for q in [slow] + local}
    # The upstream answer is late: the three local ones overtake it (RFC 7766 §6.2.1.1).
    assert got[-1].id == slow.id, [r.question[0].name.to_text() for r in got]
    assert addrs(by_id[slow.id]) == ["192.0.2.99"]
    assert addrs(by_id[local[0].id]) == ["127.0.0.1"]


def test_dot_message_split_across_records(enc):
    q = make_query(enc.name("mail"), "A")
    data = frame(q.to_wire())
    with tls_connect(enc.dot, enc.cert) as s:
        for part in (data[:1], data[1:7], data[7:]):
            s.sendall(part)  # one TLS record each
            time.sleep(0.05)
        r = dns.message.from_wire(read_frame(s))
    assert r.id == q.id and addrs(r) == ["192.0.2.25"]


def test_dot_padding(enc):
    """RFC 8467 §4.1: answers to queries with EDNS are padded to a multiple of 468 bytes."""
    for opts in ({"use_edns": 0},
                 {"use_edns": 0, "options": [dns.edns.GenericOption(12, b"\x00" * 40)]}):
        r, wire = dot_query(enc, enc.name("mail"), "A", **opts)
        assert len(wire) % PADDING_BLOCK == 0, f"{len(wire)} bytes with {opts}"
        assert any(int(o.otype) == 12 for o in r.options), "no Padding option"
        assert addrs(r) == ["192.0.2.25"]
    r, wire = dot_query(enc, enc.name("mail"), "A", use_edns=False)
    assert r.edns < 0 and len(wire) < PADDING_BLOCK  # no OPT, no room for padding


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2],
                         ids=["tls1.3", "tls1.2"])
def test_dot_versions_alpn_and_resumption(enc, version):
    ctx = tls_context(enc.cert, alpn=["dot"], version=version)
    with tls_connect(enc.dot, enc.cert, ctx=ctx) as s:
        assert s.version() == {ssl.TLSVersion.TLSv1_3: "TLSv1.3",
                               ssl.TLSVersion.TLSv1_2: "TLSv1.2"}[version]
        assert s.selected_alpn_protocol() == "dot"
        assert not s.session_reused
        dot_query(enc, enc.name("mail"), sock=s)  # TLS 1.3 tickets come after the handshake
        session = s.session
    assert session is not None and session.has_ticket, "no session ticket"
    with tls_connect(enc.dot, enc.cert, ctx=ctx, session=session) as s:
        assert s.session_reused, "the session was not resumed"
        r, _ = dot_query(enc, enc.name("mail"), sock=s)
        assert addrs(r) == ["192.0.2.25"]


def test_tls_1_1_is_refused(enc):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(enc.cert))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        tls_connect(enc.dot, enc.cert, ctx=ctx).close()
    assert_serving(enc)


def test_200_concurrent_dot_connections(enc):
    conns, queries = [], []
    try:
        ctx = tls_context(enc.cert)
        for _ in range(200):
            conns.append(tls_connect(enc.dot, enc.cert, ctx=ctx, timeout=10))
        # All 200 are open at once; then each asks, half of them a forwarded name.
        for i, s in enumerate(conns):
            name = enc.name("mail") if i % 2 else "www.example.test."
            q = make_query(name, "A")
            queries.append(q)
            s.sendall(frame(q.to_wire()))
        for s, q in zip(conns, queries):
            r = dns.message.from_wire(read_frame(s))
            assert q.is_response(r)
            want = ["192.0.2.25"] if "example.test" not in q.question[0].name.to_text() \
                else ["192.0.2.80"]
            assert addrs(r) == want
    finally:
        for s in conns:
            s.close()


# --------------------------------------------------------------------------------------------
# DoH behaviour: concurrency, status codes


def test_settings_advertise_the_stream_limit(enc):
    out = subprocess.run([need("nghttp"), "-nv", f"{enc.doh_url}?dns="
                          + b64url(make_query(enc.name(), "A").to_wire())],
                         capture_output=True, text=True, timeout=20).stdout
    assert f"SETTINGS_MAX_CONCURRENT_STREAMS(0x03):{MAX_STREAMS}" in out, out
    assert ":status: 200" in out, out


def test_stream_limit_is_enforced(enc):
    """A client that opens more streams than SETTINGS_MAX_CONCURRENT_STREAMS allows gets the
    extra one refused (RST_STREAM or GOAWAY), never answered."""
    c = H2(enc)
    c.start()
    # Wait for the server's SETTINGS and its ACK of ours: the limit is then in force.
    acked = False
    while not acked:
        f = c.read_frame()
        assert f is not None, "closed during the preface"
        acked = f[0] == SETTINGS and f[1] & ACK
    post = [(":method", "POST"), (":scheme", "https"), (":authority", "localhost"),
            (":path", "/dns-query"), ("content-type", "application/dns-message")]
    # Requests left open (no END_STREAM): each holds a stream.
    for i in range(MAX_STREAMS + 1):
        c.send(h2_frame(HEADERS, END_HEADERS, 2 * i + 1, hpack(post)))
    extra = 2 * MAX_STREAMS + 1
    frames = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        f = c.read_frame(timeout=0.5)
        if f is None:
            break
        frames.append(f)
        if (f[0] == RST_STREAM and f[2] == extra) or f[0] == GOAWAY:
            break
    c.close()
    refused = [f for f in frames if (f[0] == RST_STREAM and f[2] == extra) or f[0] == GOAWAY]
    assert refused, f"stream {extra} over the limit of {MAX_STREAMS} was not refused: {frames}"
    assert not any(f[0] in (HEADERS, DATA) and f[2] == extra for f in frames)
    assert_serving(enc)
    # The limit shows in /metrics under its option's name (docs/limits.md).
    hits = enc.node.metrics()[("swarmdns_limit_hits_total", (("limit", "doh-max-streams"),))]
    assert hits >= 1


def test_200_concurrent_doh_streams_h2load(enc):
    """200 requests at once over 4 HTTP/2 connections (50 streams each)."""
    url = f"https://127.0.0.1:{enc.doh}/dns-query?dns=" + b64url(
        make_query(enc.name("mail"), "A").to_wire())
    cp = subprocess.run([need("h2load"), "-n", "200", "-c", "4", "-m", "50", url],
                        capture_output=True, text=True, timeout=60)
    assert "requests: 200 total, 200 started, 200 done, 200 succeeded" in cp.stdout, cp.stdout
    assert "status codes: 200 2xx" in cp.stdout, cp.stdout
    assert "Application protocol: h2" in cp.stdout


def test_200_concurrent_doh_streams_with_answers(enc, tmp_path):
    """curl multiplexes 200 requests, local and forwarded (late) names; each answer is
    checked."""
    cfg, expect = [], {}
    for i in range(200):
        if i % 2:
            q, want = make_query(enc.name("mail"), "A"), ["192.0.2.25"]
        else:
            q, want = make_query(f"slow{i}.example.test.", "A"), ["192.0.2.99"]
        out = tmp_path / f"r{i}.bin"
        expect[out] = (q, want)
        cfg.append(f'url = "{enc.doh_url}?dns={b64url(q.to_wire())}"\noutput = "{out}"\n')
    (tmp_path / "curl.cfg").write_text("".join(cfg))
    cp = subprocess.run([need("curl"), "-sS", "--http2", "--parallel", "--parallel-max", "200",
                         "--cacert", str(enc.cert), "--max-time", "30", "-K",
                         str(tmp_path / "curl.cfg")], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    for out, (q, want) in expect.items():
        r = dns.message.from_wire(out.read_bytes())
        assert q.is_response(r) and addrs(r) == want, r.to_text()


@pytest.mark.parametrize("case", ["bad-base64url", "padded", "no-dns", "short", "response"])
def test_doh_get_malformed_is_400(enc, case):
    q = make_query(enc.name(), "A").to_wire()
    resp = dns.message.make_response(dns.message.from_wire(q)).to_wire()
    value = {"bad-base64url": "AA*B", "padded": base64.urlsafe_b64encode(q[:13]).decode(),
             "short": b64url(q[:8]), "response": b64url(resp)}.get(case)
    url = enc.doh_url + (f"?dns={value}" if value is not None else "?name=x")
    status, headers, body = curl(enc, url)
    assert status == 400, (status, body)
    assert headers["content-type"].startswith("text/plain")
    assert_serving(enc)


def test_doh_status_codes(enc, tmp_path):
    wire = make_query(enc.name(), "A").to_wire()
    status, _, body = doh_post(enc, wire, ctype="text/plain")
    assert status == 415, body
    status, _, body = doh_post(enc, wire, ctype="application/dns-json")
    assert status == 415, body
    status, _, _ = curl(enc, f"https://localhost:{enc.doh}/resolve?dns={b64url(wire)}")
    assert status == 404
    status, headers, _ = curl(enc, "-X", "PUT", "--data-binary", "x", enc.doh_url)
    assert status == 405 and headers.get("allow") == "GET, POST"
    big = tmp_path / "big.bin"
    big.write_bytes(wire + b"\x00" * 70000)
    status, _, body = curl(enc, "-H", "content-type: application/dns-message",
                           "--data-binary", f"@{big}", enc.doh_url)
    assert status == 413, body
    assert_serving(enc)


def test_doh_oversized_header_is_431(enc):
    status, _, body = curl(enc, "-H", "x-filler: " + "a" * 20000,
                           f"{enc.doh_url}?dns={b64url(make_query(enc.name(), 'A').to_wire())}")
    assert status == 431, (status, body)
    assert_serving(enc)


# --------------------------------------------------------------------------------------------
# Hostile clients: after each, the node goes on serving everyone else.


@pytest.mark.parametrize("which", ["dot", "doh"])
@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                     b"\x16\x03\x01\x00\x05\x00\x00\x00\x00\x00" * 50,
                                     b"\x00\x1d" + b"\x12\x34\x01\x00" * 8, None],
                         ids=["http", "bad-handshake", "plain-dns", "random"])
def test_garbage_instead_of_client_hello_closes(enc, which, garbage):
    port = enc.dot if which == "dot" else enc.doh
    # Random bytes may begin like a record header that announces more bytes: then the
    # handshake deadline ends it. Recognisable garbage is refused at once.
    limit = 2.0 if garbage is not None else IDLE_MS / 1000 + 1.5
    garbage = garbage or random.Random(which).randbytes(600)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(garbage)
        took = wait_closed(s, within=limit + 1)
    assert took < limit, f"closed only after {took:.1f} s"
    assert_serving(enc)


def client_hello() -> bytes:
    """The first flight of a real TLS client, made with ssl's memory BIOs."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def test_stalled_handshakes_are_dropped_while_others_are_served(enc):
    hello = client_hello()
    assert hello[0] == 0x16 and len(hello) > 100
    stalled = []
    try:
        for port in (enc.dot, enc.doh):
            silent = socket.create_connection(("127.0.0.1", port), timeout=5)
            partial = socket.create_connection(("127.0.0.1", port), timeout=5)
            partial.sendall(hello[:len(hello) // 2])
            stalled += [silent, partial]
        t0 = time.monotonic()
        # Everyone else is served meanwhile.
        status, answers, out = kdig(enc, enc.dot, enc.name("www"), "A", "+tls")
        assert status == "NOERROR" and answers == ["127.0.0.1"], out
        assert_serving(enc)
        for s in stalled:
            wait_closed(s, within=IDLE_MS / 1000 + 3 - (time.monotonic() - t0))
        took = time.monotonic() - t0
        assert took >= IDLE_MS / 1000 - 1.0, f"stalled handshakes dropped after {took:.1f} s"
    finally:
        for s in stalled:
            s.close()
    assert_serving(enc)


def test_h2_frames_out_of_order(enc):
    # DATA on a stream that was never opened (RFC 9113 §5.1: connection error).
    c = H2(enc)
    c.start()
    c.send(h2_frame(DATA, END_STREAM, 1, b"\x00" * 20))
    assert goaway_error(c.frames_until_closed()) == 0x1  # PROTOCOL_ERROR
    c.close()
    # CONTINUATION without HEADERS.
    c = H2(enc)
    c.start()
    c.send(h2_frame(CONTINUATION, END_HEADERS, 1, hpack([(":method", "GET")])))
    assert goaway_error(c.frames_until_closed()) == 0x1
    c.close()
    # Frames before the connection preface.
    c = H2(enc)
    c.send(h2_frame(HEADERS, END_HEADERS | END_STREAM, 1, hpack(get_headers(enc, "/dns-query"))))
    c.frames_until_closed()
    c.close()
    # HEADERS on stream 0.
    c = H2(enc)
    c.start()
    c.send(h2_frame(HEADERS, END_HEADERS | END_STREAM, 0, hpack(get_headers(enc, "/"))))
    assert goaway_error(c.frames_until_closed()) == 0x1
    c.close()
    assert_serving(enc)


def test_h2_raw_client_and_header_flood(enc):
    c = H2(enc)
    c.start()
    q = make_query(enc.name("www"), "A")
    # A correct request first: the raw client works.
    c.request(1, get_headers(enc, f"/dns-query?dns={b64url(q.to_wire())}"))
    r = dns.message.from_wire(c.response_body(1))
    assert q.is_response(r) and addrs(r) == ["127.0.0.1"]
    # 20 KB of headers, split over HEADERS and CONTINUATION: 431, the connection lives.
    block = hpack(get_headers(enc, "/dns-query") + [("x-filler", "b" * 20000)])
    c.send(h2_frame(HEADERS, END_STREAM, 3, block[:16000])
           + h2_frame(CONTINUATION, END_HEADERS, 3, block[16000:]))
    assert b"too large" in c.response_body(3)
    c.request(5, get_headers(enc, f"/dns-query?dns={b64url(q.to_wire())}"))
    assert addrs(dns.message.from_wire(c.response_body(5))) == ["127.0.0.1"]
    # 100 KB of headers: the connection ends.
    block = hpack(get_headers(enc, "/dns-query") + [(f"x-f{i}", "c" * 9000) for i in range(11)])
    chunks = [block[i:i + 16000] for i in range(0, len(block), 16000)]
    data = h2_frame(HEADERS, END_STREAM, 7, chunks[0])
    for i, ch in enumerate(chunks[1:], 1):
        data += h2_frame(CONTINUATION, END_HEADERS if i == len(chunks) - 1 else 0, 7, ch)
    try:
        c.send(data)
    except OSError:
        pass
    frames = c.frames_until_closed()
    assert not any(f[0] == DATA and f[2] == 7 for f in frames), frames
    c.close()
    assert_serving(enc)


def read_http1(sock, buf=b""):
    """One HTTP/1.1 response from sock: (status, headers, body, rest of the bytes read)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed inside a response head: {buf!r}"
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    assert lines[0].startswith("HTTP/1.1 "), lines[0]
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(headers["content-length"])
    while len(buf) < n:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a response body"
        buf += chunk
    return status, headers, buf[:n], buf[n:]


def test_http1_client_on_the_doh_port(enc):
    """DoH over HTTP/1.1 on the DoH port: chosen by ALPN http/1.1, or without ALPN by an
    HTTP/1.1 request line; answered through the same RFC 8484 core as HTTP/2."""
    q = make_query(enc.name("short"), "A", use_edns=0)
    q.id = 0
    path = f"/dns-query?dns={b64url(q.to_wire())}"
    h2_status, h2_headers, h2_body = doh_get(enc, q.to_wire())
    for alpn in (("http/1.1",), None):
        s = tls_connect(enc.doh, enc.cert, alpn=list(alpn) if alpn else None)
        assert s.selected_alpn_protocol() == (alpn[0] if alpn else None)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        status, headers, body, rest = read_http1(s)
        s.close()
        assert status == 200 and rest == b"", (status, body)
        assert headers["content-type"] == "application/dns-message"
        r = dns.message.from_wire(body)
        assert q.is_response(r) and addrs(r) == ["192.0.2.60", "192.0.2.61"], r.to_text()
        # The same answer and the same Cache-Control as over HTTP/2 on the same port.
        assert headers["cache-control"] == h2_headers["cache-control"] == "max-age=600"
        assert body == h2_body
    assert_serving(enc)


def test_curl_http1_on_the_doh_port(enc):
    """curl forced to HTTP/1.1 (ALPN http/1.1): GET and POST, and the core's errors."""
    q = make_query(enc.name("mail"), "A", use_edns=0)
    q.id = 0
    status, headers, body = curl(enc, "--http1.1", f"{enc.doh_url}?dns={b64url(q.to_wire())}")
    assert status == 200 and addrs(dns.message.from_wire(body)) == ["192.0.2.25"], body
    assert headers["cache-control"] == "max-age=3600"
    d = enc.node.log_dir / "post1.bin"
    d.write_bytes(q.to_wire())
    status, headers, body = curl(enc, "--http1.1", "-H", "content-type: application/dns-message",
                                 "--data-binary", f"@{d}", enc.doh_url)
    assert status == 200 and addrs(dns.message.from_wire(body)) == ["192.0.2.25"], body
    # A late answer (forwarded, the upstream waits SLOW_S).
    d.write_bytes(make_query("slow2.example.test.", "A").to_wire())
    status, _, body = curl(enc, "--http1.1", "-H", "content-type: application/dns-message",
                           "--data-binary", f"@{d}", enc.doh_url)
    assert status == 200 and addrs(dns.message.from_wire(body)) == ["192.0.2.99"], body
    for args, want in ((["-H", "content-type: text/plain", "--data-binary", f"@{d}",
                         enc.doh_url], 415),
                       ([f"{enc.doh_url}?dns=!!!"], 400),
                       ([enc.doh_url], 400),
                       ([f"https://localhost:{enc.doh}/elsewhere"], 404),
                       (["-X", "PUT", "--data-binary", f"@{d}", enc.doh_url], 405)):
        status, headers, body = curl(enc, "--http1.1", *args)
        assert status == want, (args, status, body)
        if want == 405:
            assert headers["allow"] == "GET, POST"
    assert_serving(enc)


def test_http1_keep_alive_and_pipelining_on_the_doh_port(enc):
    """One TLS connection, HTTP/1.1 keep-alive: several requests, some sent before the answer
    to the first came (one of them answered late), answered in order on the same connection;
    `Connection: close` ends it after its answer."""
    s = tls_connect(enc.doh, enc.cert, alpn=["http/1.1"])
    names = [enc.name("www"), "slow3.example.test.", enc.name("mail"), enc.name("short")]
    reqs = b""
    for i, name in enumerate(names):
        q = make_query(name, "A", use_edns=0)
        q.id = i + 1
        wire = q.to_wire()
        last = i == len(names) - 1
        if i % 2:
            reqs += (f"POST /dns-query HTTP/1.1\r\nHost: localhost\r\n"
                     f"Content-Type: application/dns-message\r\nContent-Length: {len(wire)}"
                     f"\r\n{'Connection: close' + chr(13) + chr(10) if last else ''}\r\n"
                     ).encode() + wire
        else:
            reqs += (f"GET /dns-query?dns={b64url(wire)} HTTP/1.1\r\nHost: localhost\r\n"
                     f"{'Connection: close' + chr(13) + chr(10) if last else ''}\r\n").encode()
    s.sendall(reqs)
    rest = b""
    want = [["127.0.0.1"], ["192.0.2.99"], ["192.0.2.25"], ["192.0.2.60", "192.0.2.61"]]
    for i, addr in enumerate(want):
        status, headers, body, rest = read_http1(s, rest)
        r = dns.message.from_wire(body)
        assert status == 200 and r.id == i + 1 and addrs(r) == addr, (i, r.to_text())
    assert headers.get("connection") == "close"
    s.settimeout(5)
    try:
        assert s.recv(1) == b""  # closed after the answer to "Connection: close"
    except (ConnectionResetError, ssl.SSLError):
        pass
    s.close()
    # A request line that is no HTTP: 400, then the connection closes.
    s = tls_connect(enc.doh, enc.cert, alpn=["http/1.1"])
    s.sendall(b"\x01\x02garbage\r\n\r\n")
    status, headers, _, _ = read_http1(s)
    assert status == 400 and headers["connection"] == "close"
    s.close()
    assert_serving(enc)


# --------------------------------------------------------------------------------------------
# Limits and timeouts, on a node of their own


@pytest.fixture(scope="module")
def tight(swarmdns_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("tight")
    certdir = base / "tls"
    make_cert(swarmdns_bin, certdir)
    node, dot, doh = tls_node(swarmdns_bin, base, certdir,
                              ["--tls-idle-timeout", "1500", "--tls-max-clients", "4"])
    node.start()
    try:
        key = keygen(swarmdns_bin, base / "zone.key")
        publish_zone(swarmdns_bin, node, key, ZONE, directory=base)
        yield Enc(node, dot, doh, certdir / "cert.pem", certdir, key.z32, None)
    finally:
        _finish(node)


def test_ordinary_names_refused_without_upstream(tight):
    status, answers, out = kdig(tight, tight.dot, "example.com.", "A", "+tls")
    assert status == "REFUSED" and answers == [], out
    status, answers, out = kdig(tight, tight.doh, "example.com.", "A", "+https")
    assert status == "REFUSED" and answers == [], out
    status, answers, out = kdig(tight, tight.dot, tight.name("www"), "A", "+tls")
    assert status == "NOERROR" and answers == ["127.0.0.1"], out


def test_connection_limit(tight):
    conns = []
    try:
        for _ in range(4):
            conns.append(tls_connect(tight.dot, tight.cert))
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            s = tls_connect(tight.dot, tight.cert)
            s.sendall(frame(make_query(tight.name(), "A").to_wire()))
            read_frame(s)
        # The four admitted ones are served; when one leaves, a newcomer is admitted.
        for s in conns:
            r, _ = dot_query(tight, tight.name("mail"), sock=s)
            assert addrs(r) == ["192.0.2.25"]
        conns.pop().close()
        time.sleep(0.2)
        r, _ = dot_query(tight, tight.name("mail"))
        assert addrs(r) == ["192.0.2.25"]
    finally:
        for s in conns:
            s.close()


def test_idle_connections_are_closed(tight):
    with tls_connect(tight.dot, tight.cert) as s:
        dot_query(tight, tight.name("mail"), sock=s)
        took = wait_closed(s, within=5)
    assert 1.0 <= took <= 4.0, f"idle DoT connection closed after {took:.1f} s"
    c = H2(tight)
    c.start()
    q = make_query(tight.name("mail"), "A")
    c.request(1, get_headers(tight, f"/dns-query?dns={b64url(q.to_wire())}"))
    assert addrs(dns.message.from_wire(c.response_body(1))) == ["192.0.2.25"]
    t0 = time.monotonic()
    frames = c.frames_until_closed(timeout=5)
    took = time.monotonic() - t0
    c.close()
    assert goaway_error(frames) == 0x0, frames  # NO_ERROR: a graceful end
    assert 1.0 <= took <= 4.0, f"idle DoH connection closed after {took:.1f} s"


def test_pending_answers_survive_a_closed_connection(enc):
    """A client that leaves while its answers are being looked up does not hurt the node."""
    for port in (enc.dot, enc.doh):
        for i in range(5):
            s = tls_connect(port, enc.cert, alpn=["h2"] if port == enc.doh else None)
            if port == enc.dot:
                s.sendall(frame(make_query(f"slow-gone{i}.example.test.", "A").to_wire()))
            else:
                q = make_query(f"slow-gone{i}.example.test.", "A").to_wire()
                s.sendall(H2_PREFACE + h2_frame(SETTINGS, 0, 0) + h2_frame(
                    HEADERS, END_HEADERS | END_STREAM, 1,
                    hpack(get_headers(enc, f"/dns-query?dns={b64url(q)}"))))
            time.sleep(0.05)
            s.close()
    time.sleep(SLOW_S + 0.3)  # the answers come to closed connections
    assert_serving(enc)


def test_stop_while_answers_are_owed(swarmdns_bin, tmp_path):
    """SIGTERM with DoT and DoH clients waiting for upstream answers: a clean exit."""
    up = Upstream()
    certdir = tmp_path / "tls"
    make_cert(swarmdns_bin, certdir)
    node, dot, doh = tls_node(swarmdns_bin, tmp_path / "n", certdir,
                              ["--forward", f"example.test=127.0.0.1:{up.port}"])
    socks = []
    try:
        node.start()
        e = Enc(node, dot, doh, certdir / "cert.pem", certdir, "", up)
        s = tls_connect(dot, e.cert)
        socks.append(s)
        s.sendall(frame(make_query("slow-stop.example.test.", "A").to_wire()))
        h = H2(e)
        socks.append(h.s)
        h.start()
        q = make_query("slow-stop2.example.test.", "A").to_wire()
        h.request(1, get_headers(e, f"/dns-query?dns={b64url(q)}"))
        time.sleep(0.15)
        assert node.running()
        assert node.stop() == 0, node.stderr_tail()
    finally:
        for s in socks:
            s.close()
        _finish(node)
        up.close()
