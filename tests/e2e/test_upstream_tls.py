"""Encrypted upstreams (docs/design.md section 6, docs/forward.md): ordinary names forwarded
over DNS over TLS (RFC 7858) and DNS over HTTPS (RFC 8484) to a real, independent server,
Debian's Unbound, run here on 127.0.0.1 with a certificate from a test CA made here (the
`cryptography` package).

Unbound serves only local data (local-zone/local-data: it never recurses, and
do-not-query-localhost keeps it from asking anyone), with its plain, TLS and HTTPS ports on
free ports, everything (pid file, log, control socket) in the test's directory.

- a name through `upstream tls://127.0.0.1:PORT#dns.test` with `upstream-ca` = the test CA;
  Unbound's own counters show the query came over TLS;
- a CA that did not sign Unbound's certificate, or a name that is not in it: SERVFAIL with
  EDE 23 (Network Error) whose text names the upstream and says the certificate was rejected;
- the first of two TLS (or HTTPS) upstreams dies (killed): names are answered by the second;
- 200 different names, 50 in flight at a time: one TLS connection carries them all
  (our /metrics, `ss`), and Unbound counts 200 queries over TLS;
- a connection Unbound closes when idle is opened again by the next query; a reload that
  replaces the TLS upstream sends new names to the new one and closes the old connection;
- a query with EDNS goes padded to 128 bytes (RFC 8467), the padded answer reaches the client
  without the padding (a DNS-over-TLS server written here records what it gets);
- names through `upstream https://127.0.0.1:PORT/dns-query` (RFC 8484 POST; Unbound's DoH
  is HTTP/2 only), on one kept connection; a wrong CA there is EDE 23 naming the URL too.
"""
import datetime
import ipaddress
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.edns
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import finish_all, free_port
from resolveutil import describe_resp, ede_of

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CONTROL = shutil.which("unbound-control") or "/usr/sbin/unbound-control"

pytestmark = pytest.mark.skipif(
    not Path(UNBOUND).exists(),
    reason="unbound is not installed (Debian package unbound: the TLS upstream these tests "
    "forward to)")

AUTH_NAME = "dns.test"


# --------------------------------------------------------------------------------------------
# A test CA and certificates


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert, dns_name):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(dns_name))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca = make_ca("swarmdns test CA")
    _, other_ca = make_ca("another test CA")
    key, cert = make_leaf(ca_key, ca, AUTH_NAME)
    (d / "ca.pem").write_bytes(pem_cert(ca))
    (d / "other-ca.pem").write_bytes(pem_cert(other_ca))
    (d / "server.pem").write_bytes(pem_cert(cert) + pem_cert(ca))
    (d / "server.key").write_bytes(pem_key(key))
    return d


# --------------------------------------------------------------------------------------------
# Unbound on 127.0.0.1


class Unbound:
    """An Unbound process serving local data over UDP/TCP, TLS and HTTPS on free ports."""

    def __init__(self, directory: Path, pki: Path, address: str, extra: str = ""):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.tls_port, self.https_port = free_port(), free_port(), free_port()
        self.ctl = self.dir / "control.sock"
        self.conf = self.dir / "unbound.conf"
        self.conf.write_text(f"""server:
    chroot: ""
    username: ""
    directory: "{self.dir}"
    pidfile: "{self.dir}/unbound.pid"
    use-syslog: no
    logfile: "{self.dir}/unbound.log"
    verbosity: 1
    extended-statistics: yes
    do-daemonize: no
    module-config: "iterator"
    do-ip6: no
    do-not-query-localhost: yes
    interface: 127.0.0.1@{self.port}
    interface: 127.0.0.1@{self.tls_port}
    interface: 127.0.0.1@{self.https_port}
    port: {self.port}
    tls-port: {self.tls_port}
    https-port: {self.https_port}
    tls-service-key: "{pki}/server.key"
    tls-service-pem: "{pki}/server.pem"
    access-control: 127.0.0.0/8 allow
    incoming-num-tcp: 50
    # Only local data: everything else is refused, nothing is asked of anyone.
    local-zone: "." refuse
    local-zone: "test." static
    local-data: "www.test. 300 IN A {address}"
    local-data: "before.test. 300 IN A {address}"
    local-data: "after.test. 300 IN A {address}"
    local-zone: "many.test." redirect
    local-data: "many.test. 300 IN A {address}"
{extra}
remote-control:
    control-enable: yes
    control-interface: "{self.ctl}"
    control-use-cert: no
""")
        self.proc = None

    def start(self, timeout=10.0):
        log = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"unbound exited with {self.proc.returncode}:\n"
                                     f"{self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.tls_port), 0.2).close()
                socket.create_connection(("127.0.0.1", self.https_port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"unbound did not listen within {timeout} s:\n{self.log_text()}")

    def log_text(self):
        out = []
        for f in ("stderr.log", "unbound.log"):
            p = self.dir / f
            if p.exists():
                out.append(p.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def stats(self) -> dict:
        cp = subprocess.run([UNBOUND_CONTROL, "-c", str(self.conf), "stats_noreset"],
                            capture_output=True, text=True, timeout=10)
        assert cp.returncode == 0, f"unbound-control: {cp.stdout}{cp.stderr}"
        out = {}
        for line in cp.stdout.splitlines():
            k, _, v = line.partition("=")
            try:
                out[k] = float(v)
            except ValueError:
                pass
        return out

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def unbound_factory(tmp_path, pki):
    started = []

    def make(address="192.0.2.1", extra=""):
        u = Unbound(tmp_path / f"unbound{len(started) + 1}", pki, address, extra)
        started.append(u)
        return u.start()

    yield make
    for u in started:
        u.stop()


def with_upstreams(node, *upstreams, ca: Path = None):
    """Makes node forward to upstreams (conftest's node has `--upstream none`)."""
    argv = node.argv

    def replaced():
        a = argv()
        i = a.index("--upstream")
        extra = []
        for u in upstreams[1:]:
            extra += ["--upstream", u]
        if ca is not None:
            extra += ["--upstream-ca", str(ca)]
        return a[:i] + ["--upstream", upstreams[0]] + extra + a[i + 2:]

    node.argv = replaced
    return node


def metric(node, name, **labels) -> float:
    return node.metrics().get((name, tuple(sorted(labels.items()))), 0.0)


def established(port):
    """TCP connections from us to 127.0.0.1:port, by `ss` (None without it)."""
    if shutil.which("ss") is None:
        return None
    cp = subprocess.run(["ss", "-Htn", "state", "established", "dst", f"127.0.0.1:{port}"],
                        capture_output=True, text=True, timeout=10)
    return len(cp.stdout.strip().splitlines()) if cp.returncode == 0 else None


def a_of(resp):
    return sorted(str(rd) for rrset in resp.answer if rrset.rdtype == dns.rdatatype.A
                  for rd in rrset)


# --------------------------------------------------------------------------------------------
# The cases


def test_name_through_tls_upstream(node_factory, unbound_factory, pki):
    ub = unbound_factory()
    node = with_upstreams(node_factory(), f"tls://127.0.0.1:{ub.tls_port}#{AUTH_NAME}",
                          ca=pki / "ca.pem").start()
    r = node.query("www.test", dns.rdatatype.A, use_edns=0)
    assert r.rcode() == dns.rcode.NOERROR, describe_resp(r)
    assert a_of(r) == ["192.0.2.1"], describe_resp(r)
    # It went over TLS: Unbound counted a TLS query, we sent no plain one.
    assert ub.stats().get("num.query.tls", 0) >= 1
    assert metric(node, "swarmdns_upstream_sent_total", transport="tls") >= 1
    assert metric(node, "swarmdns_upstream_sent_total", transport="udp") == 0
    assert metric(node, "swarmdns_upstream_tls_handshakes_total") == 1


@pytest.mark.parametrize("case", ["wrong-ca", "wrong-name"])
def test_certificate_rejected_is_ede_23(node_factory, unbound_factory, pki, case):
    ub = unbound_factory()
    name = "other.test" if case == "wrong-name" else AUTH_NAME
    ca = pki / ("other-ca.pem" if case == "wrong-ca" else "ca.pem")
    upstream = f"tls://127.0.0.1:{ub.tls_port}#{name}"
    node = with_upstreams(node_factory(), upstream, ca=ca).start()
    r = node.query("www.test", dns.rdatatype.A, use_edns=0, timeout=6)
    assert r.rcode() == dns.rcode.SERVFAIL, describe_resp(r)
    assert not r.answer
    edes = ede_of(r)
    assert len(edes) == 1 and edes[0][0] == 23, describe_resp(r)
    text = edes[0][1]
    assert upstream in text and "certificate" in text, text
    assert ub.stats().get("num.query.tls", 0) == 0  # nothing was sent to it
    assert metric(node, "swarmdns_upstream_tls_handshake_failures_total",
                  reason="certificate") >= 1
    assert "certificate rejected" in node.stderr_text()
    # The next query is refused at once with the same reason: no handshake per query while
    # the certificate is known bad (for 5 s).
    t0 = time.monotonic()
    r = node.query("after.test", dns.rdatatype.A, use_edns=0, timeout=6)
    assert time.monotonic() - t0 < 0.5
    assert r.rcode() == dns.rcode.SERVFAIL and ede_of(r) == edes, describe_resp(r)
    assert metric(node, "swarmdns_upstream_tls_connections_total") == 1


def upstream_url(ub, scheme):
    if scheme == "tls":
        return f"tls://127.0.0.1:{ub.tls_port}#{AUTH_NAME}"
    return f"https://127.0.0.1:{ub.https_port}/dns-query"


@pytest.mark.parametrize("scheme", ["tls", "https"])
def test_dead_encrypted_upstream_fails_over(node_factory, unbound_factory, pki, scheme):
    first = unbound_factory("192.0.2.1")
    second = unbound_factory("192.0.2.2")
    node = with_upstreams(node_factory(), upstream_url(first, scheme),
                          upstream_url(second, scheme), ca=pki / "ca.pem").start()
    r = node.query("before.test", dns.rdatatype.A)
    assert a_of(r) == ["192.0.2.1"], describe_resp(r)
    first.kill()
    t0 = time.monotonic()
    r = node.query("after.test", dns.rdatatype.A, timeout=5)
    elapsed = time.monotonic() - t0
    assert r.rcode() == dns.rcode.NOERROR, describe_resp(r)
    assert a_of(r) == ["192.0.2.2"], describe_resp(r)
    assert elapsed < 3, f"failover took {elapsed:.1f} s"
    assert second.stats().get(f"num.query.{scheme}", 0) >= 1
    assert metric(node, "swarmdns_upstream_failovers_total") >= 1


def test_tls_connection_reused(node_factory, unbound_factory, pki):
    ub = unbound_factory()
    node = with_upstreams(node_factory(), f"tls://127.0.0.1:{ub.tls_port}#{AUTH_NAME}",
                          ca=pki / "ca.pem").start()
    n = 200

    def ask(i):
        return node.query(f"n{i}.many.test", dns.rdatatype.A, timeout=5)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(ask, range(n)))
    for r in answers:
        assert a_of(r) == ["192.0.2.1"], describe_resp(r)
    # Every name was a cache miss, so each went upstream: all on one TLS connection.
    assert metric(node, "swarmdns_upstream_sent_total", transport="tls") == n
    assert metric(node, "swarmdns_upstream_tls_connections_total") == 1
    assert metric(node, "swarmdns_upstream_tls_handshakes_total") == 1
    assert ub.stats().get("num.query.tls", 0) == n
    # And the connection stays open for the next one.
    assert established(ub.tls_port) in (None, 1)


def test_name_through_https_upstream(node_factory, unbound_factory, pki):
    ub = unbound_factory()
    url = f"https://127.0.0.1:{ub.https_port}/dns-query"
    node = with_upstreams(node_factory(), url, ca=pki / "ca.pem").start()
    for i in range(20):
        r = node.query(f"h{i}.many.test", dns.rdatatype.A, use_edns=0)
        assert r.rcode() == dns.rcode.NOERROR, describe_resp(r)
        assert a_of(r) == ["192.0.2.1"], describe_resp(r)
    st = ub.stats()
    assert st.get("num.query.https", 0) == 20, st
    assert metric(node, "swarmdns_upstream_sent_total", transport="https") == 20
    assert metric(node, "swarmdns_upstream_sent_total", transport="udp") == 0
    # Unbound speaks DoH over HTTP/2 only; the 20 went as streams of one kept connection.
    assert established(ub.https_port) in (None, 1)


def test_https_upstream_wrong_ca_is_ede_23(node_factory, unbound_factory, pki):
    ub = unbound_factory()
    url = f"https://127.0.0.1:{ub.https_port}/dns-query"
    node = with_upstreams(node_factory(), url, ca=pki / "other-ca.pem").start()
    r = node.query("www.test", dns.rdatatype.A, use_edns=0, timeout=6)
    assert r.rcode() == dns.rcode.SERVFAIL, describe_resp(r)
    edes = ede_of(r)
    assert len(edes) == 1 and edes[0][0] == 23, describe_resp(r)
    assert url in edes[0][1], edes
    assert ub.stats().get("num.query.https", 0) == 0


def test_reload_replaces_a_tls_upstream(swarmdns_bin, tmp_path, unbound_factory, pki):
    """upstream tls://A, then tls://B after SIGHUP: new names go to B over TLS, and the
    connection to A is closed."""
    from test_reload import FileNode

    a = unbound_factory("192.0.2.1")
    b = unbound_factory("192.0.2.2")
    ca = f"upstream-ca {pki / 'ca.pem'}"
    node = FileNode(swarmdns_bin, tmp_path / "n",
                    ["bootstrap none", ca, f"upstream tls://127.0.0.1:{a.tls_port}#{AUTH_NAME}"])
    node.drop = ("--listen-dns", "--bootstrap", "--upstream")
    try:
        node.start()
        assert a_of(node.query("before.test", dns.rdatatype.A)) == ["192.0.2.1"]
        assert established(a.tls_port) in (None, 1)
        node.write_conf(["bootstrap none", ca,
                         f"upstream tls://127.0.0.1:{b.tls_port}#{AUTH_NAME}"])
        log = node.hup_and_wait("reloaded ")
        assert "applied upstream" in log, log
        r = node.query("after.test", dns.rdatatype.A)
        assert a_of(r) == ["192.0.2.2"], describe_resp(r)
        assert b.stats().get("num.query.tls", 0) == 1
        deadline = time.monotonic() + 3
        while established(a.tls_port) not in (None, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert established(a.tls_port) in (None, 0)
    finally:
        node_err = finish_all([node])
    assert not node_err, node_err


def test_connection_closed_by_the_server_is_reopened(node_factory, unbound_factory, pki):
    """Unbound closes idle connections after 300 ms (tcp-idle-timeout): the next query opens
    a new one, resuming the TLS session, and is answered."""
    ub = unbound_factory(extra="    tcp-idle-timeout: 300")
    node = with_upstreams(node_factory(), f"tls://127.0.0.1:{ub.tls_port}#{AUTH_NAME}",
                          ca=pki / "ca.pem").start()
    assert a_of(node.query("n1.many.test", dns.rdatatype.A)) == ["192.0.2.1"]
    deadline = time.monotonic() + 3
    while established(ub.tls_port) not in (None, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    r = node.query("n2.many.test", dns.rdatatype.A)
    assert a_of(r) == ["192.0.2.1"], describe_resp(r)
    assert metric(node, "swarmdns_upstream_tls_connections_total") == 2
    assert metric(node, "swarmdns_upstream_failures_total") == 0
    # The second connection resumed the first one's TLS session (Unbound's session ticket).
    assert metric(node, "swarmdns_upstream_tls_resumed_total") == 1
    assert ub.stats().get("num.query.tls.resume", 0) == 1


class RecordingDoT:
    """A DNS-over-TLS server written here (Python's ssl) that records the queries as they
    arrive, and answers each with A 192.0.2.7, padded (RFC 8467 §4.1) when the query was."""

    def __init__(self, pki: Path):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._conn, args=(raw,), daemon=True).start()

    def _conn(self, raw):
        try:
            raw.settimeout(5)
            with self.ctx.wrap_socket(raw, server_side=True) as s:
                while not self.stop:
                    head = s.recv(2)
                    if len(head) < 2:
                        return
                    n = struct.unpack(">H", head)[0]
                    wire = b""
                    while len(wire) < n:
                        chunk = s.recv(n - len(wire))
                        if not chunk:
                            return
                        wire += chunk
                    self.queries.append(wire)
                    q = dns.message.from_wire(wire)
                    r = dns.message.make_response(q)
                    r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "A",
                                                        "192.0.2.7"))
                    if q.edns >= 0 and any(int(o.otype) == 12 for o in q.options):
                        r.use_edns(0, 0, 1232, options=[dns.edns.GenericOption(12, b"\0" * 400)])
                    out = r.to_wire()
                    s.sendall(struct.pack(">H", len(out)) + out)
        except (OSError, ssl.SSLError, dns.exception.DNSException):
            return

    def close(self):
        self.stop = True
        self.sock.close()
        self.thread.join(2)


def test_queries_padded_answers_unpadded(node_factory, pki):
    """RFC 8467 §4.1: a query with EDNS goes over TLS padded to a multiple of 128 bytes; the
    upstream's padded answer reaches the client without the padding. A query without EDNS
    goes without (adding an OPT would change the answer)."""
    srv = RecordingDoT(pki)
    try:
        node = with_upstreams(node_factory(), f"tls://127.0.0.1:{srv.port}#{AUTH_NAME}",
                              ca=pki / "ca.pem").start()
        r = node.query("pad.example", dns.rdatatype.A, use_edns=0)
        assert a_of(r) == ["192.0.2.7"], describe_resp(r)
        assert not [o for o in r.options if int(o.otype) == 12], describe_resp(r)
        sent = srv.queries[-1]
        assert len(sent) % 128 == 0, len(sent)
        assert [int(o.otype) for o in dns.message.from_wire(sent).options] == [12]
        r = node.query("plain.example", dns.rdatatype.A, use_edns=False)
        assert a_of(r) == ["192.0.2.7"] and r.edns < 0, describe_resp(r)
        assert dns.message.from_wire(srv.queries[-1]).edns < 0
    finally:
        srv.close()
