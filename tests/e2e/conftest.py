"""Fixtures and helpers for the end-to-end tests of swarmdns.

Everything runs on 127.0.0.1 with free ports and temporary directories. The binary is
`$SWARMDNS_BIN` or `<repo>/build/swarmdns`; every test is skipped when it does not exist.
The node is talked to with independent implementations: dnspython, dig, kdig, http.client,
and the `cryptography` package for Ed25519 (to sign and verify relay bodies ourselves).

Environment:
  SWARMDNS_BIN              the binary (default: <repo>/build/swarmdns)
  SWARMDNS_VECTORS          vectors.json (default: <repo>/tests/vectors/vectors.json)
  SWARMDNS_E2E_SERVE_ARGS   extra arguments appended to every `swarmdns serve`
  SWARMDNS_E2E_TIMEOUT      per-phase time limit of a test in seconds (default 60)
"""
import contextlib
import http.client
import json
import os
import shlex
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

REPO = Path(__file__).resolve().parents[2]
PACKET_MAX = 996  # docs/design.md section 2: bencoded v <= 1000 bytes
RELAY_HEADER = 64 + 8  # sig || seq
RELAY_MAX = RELAY_HEADER + PACKET_MAX  # 1068
RELAY_CONTENT_TYPE = "application/pkarr.org/relays#payload"
READY_TIMEOUT = 5.0
CMD_TIMEOUT = 15.0


# --------------------------------------------------------------------------------------------
# Per-test time limit (no plugin needed): every setup, call and teardown phase is bounded.

PHASE_TIMEOUT = float(os.environ.get("SWARMDNS_E2E_TIMEOUT", "60"))


class PhaseTimeout(Exception):
    pass


def _phase_limit(item) -> float:
    """SWARMDNS_E2E_TIMEOUT, or more for a test marked `@pytest.mark.phase_timeout(S)`."""
    m = item.get_closest_marker("phase_timeout") if item is not None else None
    return max(PHASE_TIMEOUT, float(m.args[0])) if m else PHASE_TIMEOUT


@contextlib.contextmanager
def _time_limit(item=None):
    limit = _phase_limit(item)

    def alarm(signum, frame):
        raise PhaseTimeout(f"test phase exceeded {limit:.0f} s (SWARMDNS_E2E_TIMEOUT, "
                           "or the test's phase_timeout mark)")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _time_limit(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _time_limit(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    with _time_limit(item):
        yield


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes tens of seconds (e.g. waits for a server timeout)")
    config.addinivalue_line("markers", "phase_timeout(seconds): a longer per-phase time "
                            "limit than SWARMDNS_E2E_TIMEOUT for this test")


# --------------------------------------------------------------------------------------------
# z-base32, Ed25519, BEP 44 and the pkarr relay form, written independently of the C code.

Z32_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"


def z32encode(data: bytes) -> str:
    nbits = len(data) * 8
    pad = (-nbits) % 5
    value = int.from_bytes(data, "big") << pad
    n = (nbits + pad) // 5
    return "".join(Z32_ALPHABET[(value >> (5 * (n - 1 - i))) & 31] for i in range(n))


def z32decode(text: str, nbytes: int = 32) -> bytes:
    value = 0
    for c in text:
        value = (value << 5) | Z32_ALPHABET.index(c)
    pad = len(text) * 5 - nbytes * 8
    assert 0 <= pad < 5, f"{text!r} is not the z-base32 form of {nbytes} bytes"
    return (value >> pad).to_bytes(nbytes, "big")


def is_key_name(text: str) -> bool:
    return len(text) == 52 and all(c in Z32_ALPHABET for c in text)


def public_key(seed: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def bep44_signed_bytes(seq: int, packet: bytes) -> bytes:
    return b"3:seqi%de1:v%d:" % (seq, len(packet)) + packet


def relay_body(seed: bytes, seq: int, packet: bytes) -> bytes:
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(bep44_signed_bytes(seq, packet))
    return sig + struct.pack(">Q", seq) + packet


def zone_packet(origin: str, records) -> bytes:
    """A zone packet (docs/design.md section 2: ID 0, QR=1, AA=1, the records in the answer
    section) made with dnspython from [(relative name or '@', type, rdata)], TTL 300."""
    import dns.flags
    import dns.rrset

    m = dns.message.Message(id=0)
    m.flags = dns.flags.QR | dns.flags.AA
    for rel, rtype, rdata in records:
        owner = origin if rel == "@" else f"{rel}.{origin}"
        m.answer.append(dns.rrset.from_text(owner, 300, "IN", rtype, rdata))
    return m.to_wire()


def split_relay(body: bytes):
    """Returns (sig, seq, packet) of a relay body."""
    assert len(body) >= RELAY_HEADER, f"relay body of {len(body)} bytes is shorter than 72"
    return body[:64], struct.unpack(">Q", body[64:72])[0], body[72:]


def verify_relay(pub: bytes, body: bytes) -> bool:
    sig, seq, packet = split_relay(body)
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, bep44_signed_bytes(seq, packet))
        return True
    except Exception:
        return False


def now_us() -> int:
    return time.time_ns() // 1000


# --------------------------------------------------------------------------------------------
# The binary and the command line.


def _binary_path() -> Path:
    env = os.environ.get("SWARMDNS_BIN")
    return Path(env) if env else REPO / "build" / "swarmdns"


@pytest.fixture(scope="session")
def swarmdns_bin() -> Path:
    path = _binary_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.skip(
            f"swarmdns binary not found at {path} (build it with meson/ninja, "
            "or set SWARMDNS_BIN)"
        )
    return path


def run_cli(binary, *args, cwd=None, timeout=CMD_TIMEOUT, input=None, text=True):
    """Runs `swarmdns ARGS...` and returns the CompletedProcess (stdout/stderr captured)."""
    try:
        return subprocess.run(
            [str(binary), *[str(a) for a in args]],
            cwd=cwd,
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"`swarmdns {' '.join(map(str, args))}` did not finish within {timeout} s; "
                    f"stderr so far: {e.stderr!r}", pytrace=False)


def describe(cp) -> str:
    """A short description of a CompletedProcess for assertion messages."""
    return f"exit {cp.returncode}\n--- stdout ---\n{cp.stdout!r}\n--- stderr ---\n{cp.stderr!r}"


@dataclass
class Key:
    path: Path
    z32: str

    @property
    def seed(self) -> bytes:
        return bytes.fromhex(self.path.read_text().strip())

    @property
    def pub(self) -> bytes:
        return z32decode(self.z32)

    @property
    def origin(self) -> str:
        return self.z32 + "."

    def name(self, rel: str = "@") -> str:
        """`name('www')` -> 'www.<z32>.', `name('@')` -> '<z32>.'."""
        return self.origin if rel in ("@", "") else f"{rel}.{self.origin}"


def keygen(binary, path: Path) -> Key:
    cp = run_cli(binary, "keygen", "-o", path)
    assert cp.returncode == 0, f"keygen failed: {describe(cp)}"
    z32 = cp.stdout.strip()
    assert is_key_name(z32), f"keygen printed {cp.stdout!r}, not a 52-character key name"
    return Key(Path(path), z32)


def key_from_seed(seed: bytes, path: Path) -> Key:
    """A key file made by us (as docs/design.md section 2 describes it) for a known seed."""
    path.write_text(seed.hex() + "\n")
    path.chmod(0o600)
    return Key(path, z32encode(public_key(seed)))


_counter = 0


def _unique(prefix: str) -> str:
    global _counter
    _counter += 1
    return f"{prefix}{_counter}"


def write_zone(directory: Path, text: str, name: str = None) -> Path:
    path = Path(directory) / (name or _unique("zone") + ".zone")
    path.write_text(text)
    return path


def sign_zone(binary, key: Key, zone_text: str, seq: int = None, directory: Path = None) -> bytes:
    """`swarmdns sign` of a zone text; returns the relay body (bytes)."""
    zone = write_zone(directory or key.path.parent, zone_text)
    args = ["sign", "-k", key.path]
    if seq is not None:
        args += ["--seq", str(seq)]
    cp = run_cli(binary, *args, zone, text=False)
    assert cp.returncode == 0, (
        f"sign failed (exit {cp.returncode}): {cp.stderr.decode(errors='replace')}"
    )
    return cp.stdout


def publish_zone(binary, node, key: Key, zone_text: str, directory: Path = None) -> str:
    """`swarmdns publish` of a zone text to `node`; asserts success, returns stdout."""
    zone = write_zone(directory or key.path.parent, zone_text)
    # --local-ok: most test nodes run alone (--bootstrap none); test_publish_result.py checks
    # the exit status without it.
    cp = run_cli(binary, "publish", "--local-ok", "-k", key.path, "--api", node.api_url, zone)
    assert cp.returncode == 0, f"publish failed: {describe(cp)}\n{node.stderr_tail()}"
    return cp.stdout


# --------------------------------------------------------------------------------------------
# Ports and raw transport helpers.

_given_ports = set()


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (and not handed out before)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            if port in _given_ports:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
        _given_ports.add(port)
        return port
    raise RuntimeError("no free port found")


def udp_exchange(port: int, wire: bytes, timeout: float = 0.5):
    """Sends one datagram; returns the first reply (bytes) or None if none came in time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.send(wire)
        try:
            return s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None


def tcp_connect(port: int, timeout: float = 2.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    """Reads exactly n bytes; returns fewer only if the peer closed the connection."""
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def tcp_read_message(s: socket.socket):
    """Reads one length-prefixed DNS message; None if the connection was closed first."""
    head = recv_exact(s, 2)
    if len(head) < 2:
        return None
    (length,) = struct.unpack(">H", head)
    body = recv_exact(s, length)
    assert len(body) == length, f"connection closed after {len(body)} of {length} bytes"
    return body


def tcp_exchange(port: int, wire: bytes, timeout: float = 2.0):
    """One query over a new TCP connection; the reply (bytes) or None if closed/timed out."""
    with tcp_connect(port, timeout) as s:
        s.sendall(struct.pack(">H", len(wire)) + wire)
        try:
            return tcp_read_message(s)
        except (socket.timeout, ConnectionResetError):
            return None


def make_query(name, rdtype, **kw) -> dns.message.QueryMessage:
    """dnspython query; kw: use_edns, payload, ednsflags, options, want_dnssec, id, flags."""
    version = kw.get("use_edns")
    q = dns.message.make_query(name, rdtype, **kw)
    if isinstance(version, int) and not isinstance(version, bool) and version > 0:
        # dnspython 2.3's make_query loses an EDNS version above 0; set it again.
        q.use_edns(version, q.ednsflags, q.payload, options=q.options)
        assert q.edns == version
    return q


def query(port: int, name, rdtype, tcp: bool = False, timeout: float = 2.0, **kw):
    """Queries 127.0.0.1:port with dnspython and returns the parsed response."""
    q = make_query(name, rdtype, **kw)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=port, timeout=timeout)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)


def header(wire: bytes):
    """(id, flags, qdcount, ancount, nscount, arcount) of a raw message."""
    return struct.unpack(">HHHHHH", wire[:12])


# --------------------------------------------------------------------------------------------
# The node.


@dataclass
class ApiResponse:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class Node:
    """A `swarmdns serve` process on free ports with its own data directory."""

    def __init__(self, binary: Path, data_dir: Path, log_dir: Path, extra_args=()):
        self.binary = binary
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.dns_port = free_port()
        self.api_port = free_port()
        self.extra_args = list(extra_args) + shlex.split(
            os.environ.get("SWARMDNS_E2E_SERVE_ARGS", "")
        )
        self.proc = None
        self.stderr_path = None
        self.starts = 0
        self.expect_exit = False  # set by stop()/kill9(): the process is meant to be gone

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def argv(self):
        base = [
            "--data-dir", str(self.data_dir),
            "--listen-dns", f"127.0.0.1:{self.dns_port}",
            "--listen-api", f"127.0.0.1:{self.api_port}",
            "--log-level", "debug",
            # Tests stay on this machine: no DHT bootstrap routers, a free port.
            "--dht-listen", "127.0.0.1:0",
            "--bootstrap", "none",
            "--upstream", "none",
            # Every test talks from 127.0.0.1, one client network: response-rate limiting
            # is off unless a test (test_limits.py, test_flood.py) turns it on again.
            "--rrl-rate", "0",
            # One serving thread, whose limits and coalescing the tests count exactly (the
            # default is one per core); test_workers.py runs more (docs/workers.md).
            "--workers", "1",
        ]
        # A single-value option may be given once on the command line: one of extra_args
        # replaces the default here (repeatable ones add to the list, as before).
        given = {str(a).split("=", 1)[0] for a in self.extra_args if str(a).startswith("--")}
        pairs = [base[i:i + 2] for i in range(0, len(base), 2)]
        keep = [p for p in pairs if p[0] not in given or p[0] in
                ("--listen-dns", "--bootstrap", "--upstream")]
        return [str(self.binary), "serve", *(a for p in keep for a in p), *self.extra_args]

    # -- process control --

    def start(self, timeout: float = READY_TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None, "node already running"
        self.starts += 1
        self.stderr_path = self.log_dir / f"node-{self.dns_port}-{self.starts}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
            )
        self.expect_exit = False
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail(
                    f"swarmdns serve exited with code {rc} before it was ready\n"
                    f"command: {shlex.join(self.argv())}\n{self.stderr_tail()}",
                    pytrace=False,
                )
            try:
                r = self.api("GET", "/v1/status", timeout=0.5)
                if r.status == 200:
                    return
                last_error = f"GET /v1/status answered {r.status}"
            except (OSError, http.client.HTTPException) as e:
                last_error = repr(e)
            time.sleep(0.02)
        self._kill()
        pytest.fail(
            f"swarmdns serve did not answer GET /v1/status within {timeout} s "
            f"(last: {last_error})\ncommand: {shlex.join(self.argv())}\n{self.stderr_tail()}",
            pytrace=False,
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM and wait; returns the exit code. Fails if it does not exit in time."""
        self.expect_exit = True
        if not self.running():
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            pytest.fail(f"swarmdns serve did not exit within {timeout} s of SIGTERM\n"
                        f"{self.stderr_tail()}", pytrace=False)

    def kill9(self):
        self.expect_exit = True
        self._kill()

    def _kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait(5)

    def restart(self, timeout: float = READY_TIMEOUT):
        if self.running():
            self.stop()
        return self.start(timeout)

    def stderr_text(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def stderr_tail(self, n: int = 4000) -> str:
        text = self.stderr_text()
        return "--- node stderr (tail) ---\n" + (text[-n:] if text else "(empty)")

    def assert_alive(self):
        rc = self.proc.poll()
        assert rc is None, f"node exited with code {rc}\n{self.stderr_tail()}"

    # -- clients --

    def api(self, method: str, path: str, body: bytes = None, headers: dict = None,
            timeout: float = 5.0) -> ApiResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if body is not None and "Content-Type" not in hdrs:
                hdrs["Content-Type"] = RELAY_CONTENT_TYPE
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return ApiResponse(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def put_relay(self, z32: str, body: bytes, **kw) -> ApiResponse:
        return self.api("PUT", f"/{z32}", body, **kw)

    def status(self) -> dict:
        r = self.api("GET", "/v1/status")
        assert r.status == 200, f"GET /v1/status: {r.status} {r.body!r}"
        return r.json()

    def dht_port(self) -> int:
        """The UDP port of the node's DHT (it listens on 127.0.0.1:0, a new one each start)."""
        return int(self.status()["dht"]["listen"].rsplit(":", 1)[1])

    def metrics(self) -> dict:
        """GET /metrics parsed by the Prometheus client library: {(sample name, ((label,
        value), ...)): value}. Skips the test when python3-prometheus-client is missing."""
        parser = pytest.importorskip(
            "prometheus_client.parser",
            reason="python3-prometheus-client is not installed (scripts/install-deps.sh test)")
        r = self.api("GET", "/metrics")
        assert r.status == 200, f"GET /metrics: {r.status} {r.body!r}"
        samples = {}
        for f in parser.text_string_to_metric_families(r.body.decode()):
            for smp in f.samples:
                samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
        return samples

    def query(self, name, rdtype, tcp: bool = False, **kw):
        try:
            return query(self.dns_port, name, rdtype, tcp=tcp, **kw)
        except dns.exception.Timeout:
            alive = "running" if self.running() else f"exited with {self.proc.returncode}"
            raise AssertionError(
                f"no DNS answer for {name} {dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))}"
                f" over {'TCP' if tcp else 'UDP'} (node {alive})\n{self.stderr_tail()}"
            ) from None

    def udp(self, wire: bytes, timeout: float = 0.5):
        return udp_exchange(self.dns_port, wire, timeout)

    def tcp(self, wire: bytes, timeout: float = 2.0):
        return tcp_exchange(self.dns_port, wire, timeout)


def _finish(node: Node):
    """Teardown: stop the node; fail if it died on its own during the test."""
    died = node.proc is not None and node.proc.poll() is not None and not node.expect_exit
    rc = node.proc.returncode if died else None
    if node.running():
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(5)
        except subprocess.TimeoutExpired:
            node._kill()
    if died:
        pytest.fail(f"the node died during the test (exit code {rc})\n{node.stderr_tail()}",
                    pytrace=False)


def finish_all(nodes) -> list:
    """_finish() of every node, even when one fails; returns the failures' texts."""
    errors = []
    for node in nodes:
        try:
            _finish(node)
        except pytest.fail.Exception as e:
            errors.append(str(e))
    return errors


def start_joined(nodes: list, binary, tmp_path: Path, bootstrap_port: int, names=("a", "b"),
                 good: int = 4, within: float = 15.0):
    """Starts a node per name (data dir tmp_path/name) that joins the DHT at
    127.0.0.1:bootstrap_port, appending each to `nodes` (the caller stops them, with
    finish_all(), even when this fails), and waits until every one has `good` good
    routing-table nodes."""
    for name in names:
        (tmp_path / name).mkdir()
        n = Node(binary, tmp_path / name, tmp_path,
                 extra_args=["--bootstrap", f"127.0.0.1:{bootstrap_port}",
                             "--dht-rate-limit", "100000"])
        nodes.append(n)
        n.start()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and \
            min(n.status()["dht"]["good_nodes"] for n in nodes) < good:
        time.sleep(0.1)
    assert min(n.status()["dht"]["good_nodes"] for n in nodes) >= good, \
        [n.status()["dht"] for n in nodes]
    return nodes


@pytest.fixture
def node_factory(swarmdns_bin, tmp_path):
    """Makes nodes (not started); all are stopped at teardown."""
    nodes = []

    def make(data_dir: Path = None, extra_args=()):
        n = len(nodes) + 1
        d = Path(data_dir) if data_dir else tmp_path / f"data{n}"
        d.mkdir(parents=True, exist_ok=True)
        node = Node(swarmdns_bin, d, tmp_path, extra_args)
        nodes.append(node)
        return node

    yield make
    errors = finish_all(nodes)
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def node(node_factory) -> Node:
    """A running node with an empty data directory."""
    return node_factory().start()


@pytest.fixture
def make_key(swarmdns_bin, tmp_path):
    """make_key() -> Key made by `swarmdns keygen` in the test's temporary directory."""
    keydir = tmp_path / "keys"
    keydir.mkdir(exist_ok=True)
    return lambda: keygen(swarmdns_bin, keydir / (_unique("key") + ".key"))


@pytest.fixture
def publish(swarmdns_bin, node, make_key):
    """publish(zone_text, key=None) -> (key, stdout): `swarmdns publish` to the `node`."""

    def do(zone_text: str, key: Key = None):
        key = key or make_key()
        out = publish_zone(swarmdns_bin, node, key, zone_text)
        return key, out

    return do


def find_vectors() -> Path:
    """The conformance vectors: $SWARMDNS_VECTORS, else the repository's own copy."""
    if os.environ.get("SWARMDNS_VECTORS"):
        return Path(os.environ["SWARMDNS_VECTORS"])
    return REPO / "tests" / "vectors" / "vectors.json"


@pytest.fixture(scope="session")
def vectors() -> dict:
    path = find_vectors()
    # The vectors are part of the repository: a missing file is an error, not a reason to skip.
    if not path.is_file():
        pytest.fail(f"conformance vectors {path} not found (tests/vectors/vectors.json is in "
                    "the repository; SWARMDNS_VECTORS overrides it)")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def module_node(swarmdns_bin, tmp_path_factory) -> Node:
    """One running node shared by the tests of a module (stopped after the module)."""
    base = tmp_path_factory.mktemp("module-node")
    (base / "data").mkdir()
    n = Node(swarmdns_bin, base / "data", base)
    n.start()
    yield n
    _finish(n)


@pytest.fixture(scope="module")
def module_keydir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("module-keys")
