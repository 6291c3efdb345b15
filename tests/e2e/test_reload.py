"""Reloading the configuration of a running node on SIGHUP (issue 12), end to end on 127.0.0.1.

The node reads a config file (`-c`) and is sent SIGHUP after the file changed. What a user
would check:
  - a `root p2p=<z32>` added to the file: the new name answers; a DHT zone cached before the
    reload is still answered from the cache (its DHT node is gone by then); the process is the
    same one and still serves; systemd hears RELOADING=1 then READY=1 (sd_notify);
  - a file that does not parse: the error is logged, the node keeps the old configuration;
  - a changed listen address: logged as taking effect at the next restart, the old one serves;
  - a replaced TLS certificate: new DNS-over-TLS connections get the new one.
The zone in the DHT comes from a fake DHT node written in Python (resolveutil.FakeDhtNode), the
node's only peer: no testnet is needed.
"""
import os
import socket
import ssl
import time
import urllib.parse
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import pytest

from conftest import (
    Node,
    finish_all,
    free_port,
    keygen,
    public_key,
    publish_zone,
    run_cli,
    zone_packet,
)
from dhtutil import KrpcClient, bencode, bep44_sign, mutable_target
from resolveutil import FakeDhtNode
from upstreamutil import FakeUpstream

ZONE = "@ 300 IN A 192.0.2.1\nwww 300 IN A 192.0.2.2\n"


class FileNode(Node):
    """A node whose `listen-dns` and `bootstrap` come from its config file (conftest's
    command line would override the file's)."""

    def __init__(self, binary, base: Path, conf_lines, extra_args=()):
        base.mkdir(parents=True, exist_ok=True)
        (base / "data").mkdir(exist_ok=True)
        super().__init__(binary, base / "data", base, ["-c", str(base / "swarmdns.conf"),
                                                       *extra_args])
        self.conf = base / "swarmdns.conf"
        self.write_conf(conf_lines)

    def write_conf(self, lines):
        self.conf.write_text(f"listen-dns 127.0.0.1:{self.dns_port}\n" + "".join(
            line + "\n" for line in lines))

    drop = ("--listen-dns", "--bootstrap")

    def argv(self):
        a = super().argv()
        for opt in self.drop:
            i = a.index(opt)
            del a[i:i + 2]
        return a

    def hup_and_wait(self, needle: str, timeout: float = 5.0) -> str:
        """SIGHUP, then waits for a log line containing needle after it; returns the log
        written since the signal."""
        before = len(self.stderr_text())
        self.proc.send_signal(1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr_text()[before:]
            if needle in text:
                return text
            self.assert_alive()
            time.sleep(0.05)
        pytest.fail(f"no log line with {needle!r} within {timeout} s of SIGHUP\n"
                    f"{self.stderr_tail()}", pytrace=False)


@pytest.fixture
def made(swarmdns_bin):
    nodes, closers = [], []
    yield nodes, closers
    for c in closers:
        c()
    errors = finish_all(nodes)
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


def resolve_api(node, name, rtype="A"):
    qs = urllib.parse.urlencode({"name": name, "type": rtype})
    r = node.api("GET", f"/v1/resolve?{qs}", timeout=10)
    assert r.status == 200, f"GET /v1/resolve?{qs}: {r.status} {r.body!r}"
    return r.json()


def a_records(resp):
    return sorted(rd.address for rr in resp.answer if rr.rdtype == 1 for rd in rr)


def test_sighup_with_a_new_root_keeps_the_cache_and_the_process(swarmdns_bin, tmp_path, made,
                                                                 monkeypatch):
    nodes, closers = made
    # A zone in the "DHT": the fake node is the node's only peer and holds the item.
    dht_key = keygen(swarmdns_bin, tmp_path / "dht.key")
    packet = zone_packet(dht_key.origin, [("www", "A", "192.0.2.55")])
    fake = FakeDhtNode(node_id=os.urandom(20))
    closers.append(fake.close)
    fake.set(items={mutable_target(dht_key.pub): {
        "k": dht_key.pub, "seq": 1, "sig": bep44_sign(dht_key.seed, 1, bencode(packet)),
        "v": packet}})
    # systemd's notification socket (sd_notify(3)), to see RELOADING=1 and READY=1.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.1)
    closers.append(notify.close)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))

    node = FileNode(swarmdns_bin, tmp_path / "n", [f"bootstrap 127.0.0.1:{fake.port}"])
    nodes.append(node)
    node.start()
    own = keygen(swarmdns_bin, tmp_path / "own.key")
    publish_zone(swarmdns_bin, node, own, ZONE)

    cached = dht_key.name("www")
    deadline = time.monotonic() + 10
    while (j := resolve_api(node, cached))["source"] not in ("dht", "cache"):
        assert time.monotonic() < deadline, f"the DHT zone never resolved: {j}"
        time.sleep(0.2)
    assert resolve_api(node, cached)["source"] == "cache"
    # Not a name yet: no root p2p (and no upstream: refused).
    assert node.query("www.p2p.", "A").rcode() != dns.rcode.NOERROR
    fake.close()  # from now on the zone can only come from the cache
    closers.remove(fake.close)
    pid = node.proc.pid
    rt_before = node.status()["dht"]["routing_table"]
    while True:  # what start-up sent
        try:
            notify.recv(4096)
        except socket.timeout:
            break

    node.write_conf([f"bootstrap 127.0.0.1:{fake.port}", f"root p2p={own.z32}"])
    log = node.hup_and_wait("reloaded ")
    assert "applied root" in log, log
    assert "takes effect at the next restart" not in log, log

    r = node.query("www.p2p.", "A")
    assert r.rcode() == dns.rcode.NOERROR and a_records(r) == ["192.0.2.2"], r
    j = resolve_api(node, cached)
    assert j["source"] == "cache" and j.get("seq") == 1, (
        f"the DHT zone cached before the reload is not answered from the cache: {j}")
    assert a_records(node.query(cached, "A")) == ["192.0.2.55"]
    assert node.proc.pid == pid and node.running(), "the reload did not keep the process"
    assert node.status()["dht"]["routing_table"] >= min(rt_before, 1), "the DHT was dropped"
    msgs = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not any("READY=1" in m for m in msgs):
        try:
            msgs.append(notify.recv(4096).decode())
        except socket.timeout:
            pass
    joined = "\n".join(msgs)
    assert "RELOADING=1" in joined and "READY=1" in joined and \
        joined.index("RELOADING=1") < joined.index("READY=1"), msgs


def test_bad_config_on_sighup_is_logged_and_the_old_one_keeps_serving(swarmdns_bin, tmp_path,
                                                                       made):
    nodes, _ = made
    own = keygen(swarmdns_bin, tmp_path / "own.key")
    node = FileNode(swarmdns_bin, tmp_path / "n", [f"root p2p={own.z32}", "bootstrap none"])
    nodes.append(node)
    node.start()
    publish_zone(swarmdns_bin, node, own, ZONE)
    assert a_records(node.query("www.p2p.", "A")) == ["192.0.2.2"]

    # A line that does not parse, and the root taken away: nothing of it may apply.
    node.write_conf(["bootstrap none", "min-ttl banana"])
    log = node.hup_and_wait("cannot reload")
    assert "min-ttl" in log and "still running with the previous configuration" in log, log
    assert "[error]" in log, f"a failed reload is not logged as an error:\n{log}"
    r = node.query("www.p2p.", "A")
    assert r.rcode() == dns.rcode.NOERROR and a_records(r) == ["192.0.2.2"], r
    # The same error as at start: conf_check's (max below min) too.
    node.write_conf(["bootstrap none", "min-ttl 600", "max-ttl 60"])
    log = node.hup_and_wait("cannot reload")
    cp = run_cli(swarmdns_bin, "serve", "-c", str(node.conf), "--check-config")
    assert cp.returncode != 0
    msg = cp.stderr.strip().removeprefix("swarmdns serve: ")
    assert msg and msg in log, f"start says {cp.stderr!r}, the reload:\n{log}"
    assert a_records(node.query("www.p2p.", "A")) == ["192.0.2.2"]


def test_changed_listen_address_takes_effect_at_the_next_restart(swarmdns_bin, tmp_path, made):
    nodes, _ = made
    node = FileNode(swarmdns_bin, tmp_path / "n", ["bootstrap none", "stale-max 60"])
    nodes.append(node)
    node.start()
    old_port, new_port = node.dns_port, free_port()
    node.conf.write_text(f"listen-dns 127.0.0.1:{new_port}\nbootstrap none\n"
                         "stale-max 120\n")
    log = node.hup_and_wait("reloaded ")
    assert "option listen-dns changed; it takes effect at the next restart" in log, log
    assert "applied stale-max" in log, log
    assert node.query("x.invalid.", "A") is not None  # the old address still serves
    with pytest.raises(AssertionError):
        node.dns_port = new_port
        node.query("x.invalid.", "A", timeout=0.5)
    node.dns_port = old_port


def _peer_cert(port: int) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def test_replaced_certificate_is_used_by_new_dot_connections(swarmdns_bin, tmp_path, made):
    nodes, _ = made
    certdir = tmp_path / "certs"
    certdir.mkdir()
    cp = run_cli(swarmdns_bin, "cert", "-o", certdir)
    assert cp.returncode == 0, cp.stderr
    dot = free_port()
    node = FileNode(swarmdns_bin, tmp_path / "n", [
        "bootstrap none", f"listen-dot 127.0.0.1:{dot}", f"tls-cert {certdir / 'cert.pem'}",
        f"tls-key {certdir / 'key.pem'}"])
    nodes.append(node)
    node.start()
    first = _peer_cert(dot)
    held = socket.create_connection(("127.0.0.1", dot), timeout=5)  # open across the reload
    # Renewed in place, as certbot does: same file names, new contents.
    cp = run_cli(swarmdns_bin, "cert", "-o", tmp_path / "renewed", "--name", "renewed.example")
    assert cp.returncode == 0, cp.stderr
    for f in ("cert.pem", "key.pem"):
        (certdir / f).write_bytes((tmp_path / "renewed" / f).read_bytes())
    conf = node.conf.read_text()
    node.conf.write_text(conf + "tls-max-clients 1\n")
    log = node.hup_and_wait("reloaded ")
    assert "TLS certificate read again" in log and "tls-max-clients" in log, log
    held.close()
    time.sleep(0.1)
    second = _peer_cert(dot)
    assert second != first, "a new DoT connection still gets the old certificate"
    # The limit applied too: with one connection open, a second one is refused.
    with socket.create_connection(("127.0.0.1", dot), timeout=5) as one:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(one):
            with pytest.raises((ssl.SSLError, OSError)):
                _peer_cert(dot)
    time.sleep(0.1)
    # A key that does not match the certificate: refused, the current one stays.
    run_cli(swarmdns_bin, "cert", "-o", tmp_path / "other")
    (certdir / "key.pem").write_bytes((tmp_path / "other" / "key.pem").read_bytes())
    log = node.hup_and_wait("cannot reload")
    assert _peer_cert(dot) == second


def _closed_within(sock, seconds: float) -> bool:
    """Does the server close this (silent) connection within `seconds`?"""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_tcp_limit_and_idle_timeout_apply_to_new_connections(swarmdns_bin, tmp_path, made):
    """tcp-max-clients and tcp-idle-timeout apply on SIGHUP, as tls-max-clients does: new
    DNS-over-TCP connections get the new limit and the new idle timeout."""
    nodes, _ = made
    node = FileNode(swarmdns_bin, tmp_path / "n", ["bootstrap none"])
    nodes.append(node)
    node.start()
    port = node.dns_port
    # Before: a connection idle for 1 s stays open (the default idle timeout is 10 s), and
    # two connections are taken.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as a, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as b:
        assert not _closed_within(a, 1.0) and not _closed_within(b, 0.1)
    node.conf.write_text(node.conf.read_text() + "tcp-max-clients 1\ntcp-idle-timeout 300\n")
    log = node.hup_and_wait("reloaded ")
    applied = log.split("reloaded ", 1)[1].split("\n", 1)[0].split("; changed, needs")[0]
    assert "tcp-max-clients" in applied and "tcp-idle-timeout" in applied, log
    assert "tcp-max-clients changed; it takes effect at the next restart" not in log, log
    time.sleep(0.1)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as one:
        # The limit: with one connection open, a second one is closed at once.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as two:
            assert _closed_within(two, 2.0), "a second TCP connection over tcp-max-clients 1"
        # The idle timeout: the silent first one is closed after about 0.3 s.
        t0 = time.monotonic()
        assert _closed_within(one, 3.0), "an idle TCP connection outlived tcp-idle-timeout"
        assert time.monotonic() - t0 < 2.0
    # A query still gets its answer over TCP.
    r = node.query(".", "SOA", tcp=True)
    assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.REFUSED, dns.rcode.NXDOMAIN), r


def test_changed_upstream_applies_and_keeps_the_forwarders_cache(swarmdns_bin, tmp_path, made):
    """upstream A, then B after a reload: a new name goes to B; a name A answered before is
    still answered from the forwarder's cache (not asked again)."""
    nodes, closers = made

    def answering(addr):
        def answer(q):
            r = dns.message.make_response(q)
            r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "A", addr))
            return r
        return answer

    a = FakeUpstream(delay=0, answer_fn=answering("192.0.2.10"))
    b = FakeUpstream(delay=0, answer_fn=answering("192.0.2.20"))
    closers += [a.close, b.close]
    node = FileNode(swarmdns_bin, tmp_path / "n", ["bootstrap none",
                                                   f"upstream 127.0.0.1:{a.port}"])
    node.drop = ("--listen-dns", "--bootstrap", "--upstream")
    nodes.append(node)
    node.start()
    assert a_records(node.query("before.example.", "A")) == ["192.0.2.10"]
    node.write_conf(["bootstrap none", f"upstream 127.0.0.1:{b.port}"])
    log = node.hup_and_wait("reloaded ")
    assert "applied upstream" in log, log
    assert a_records(node.query("after.example.", "A")) == ["192.0.2.20"]
    assert a_records(node.query("before.example.", "A")) == ["192.0.2.10"]
    assert len(a.udp_queries) == 1, "the forwarder's cache was dropped by the reload"


def test_every_option_is_classified_for_reload(swarmdns_bin):
    """Each option of `serve --help` is either applied by a reload or reported as needing a
    restart: src/daemon/reload.c names it in its table (an option missing there would be
    silently ignored by a reload)."""
    import re
    from conftest import REPO
    src = REPO / "src" / "daemon" / "reload.c"
    if not src.exists():
        pytest.skip("no source tree")
    cp = run_cli(swarmdns_bin, "serve", "--help")
    names = re.findall(r"^\s+--([a-z0-9-]+) ", cp.stdout, re.M)
    names = [n for n in names if n not in ("config", "check-config", "help", "print-config")]
    assert len(names) > 40, cp.stdout
    table = src.read_text()
    missing = [n for n in names if not re.search(r'\b[FR]\("%s"' % re.escape(n), table)]
    assert not missing, f"options not in reload.c's table (APPLY or RESTART): {missing}"


def test_dht_limits_apply_on_reload(swarmdns_bin, tmp_path, made):
    """dht-puts-per-minute 60, then 2 after a reload: the same DHT client, which had put 2
    items, gets 2 more and then 202 "too many puts" (under 60 it would have had 58)."""
    nodes, _ = made
    node = FileNode(swarmdns_bin, tmp_path / "n", ["bootstrap none"])
    nodes.append(node)
    node.start()
    port = node.dht_port()
    seed = os.urandom(32)
    pk = public_key(seed)

    def put(c, token, seq):
        v = b"item %d" % seq
        _, _, msg = c.query(port, "put", {"token": token, "k": pk, "seq": seq,
                                          "sig": bep44_sign(seed, seq, bencode(v)), "v": v})
        return msg[b"e"][0] if msg.get(b"y") == b"e" else 0

    with KrpcClient() as c:
        _, _, msg = c.query(port, "get", {"target": os.urandom(20)})
        token = msg[b"r"][b"token"]
        assert [put(c, token, s) for s in (1, 2)] == [0, 0]
        node.write_conf(["bootstrap none", "dht-puts-per-minute 2"])
        log = node.hup_and_wait("reloaded ")
        assert "dht-puts-per-minute" in log.split("needs a restart")[0], log
        assert [put(c, token, s) for s in (3, 4, 5)] == [0, 0, 202]


def test_new_api_token_applies_on_reload(swarmdns_bin, tmp_path, made):
    """The API on a non-loopback address (a network namespace), api-token in the config file:
    after the token is changed and the node reloaded, a write with the old token is refused
    (403) and one with the new token is done."""
    import http.client

    import netns

    ok, why = netns.available()
    if not ok:
        pytest.skip(f"network namespaces cannot be used here: {why}")
    nodes, _ = made
    ns = netns.Netns("reload")
    try:
        ip = ns.add("198.18.7.1")[0]
        with ns.inside():
            node = FileNode(swarmdns_bin, tmp_path / "n", [])
            lines = ["bootstrap none", f"listen-api 0.0.0.0:{node.api_port}"]
            node.write_conf(lines + ["api-token old-secret"])
            node.drop = ("--listen-dns", "--bootstrap", "--listen-api")
            nodes.append(node)
            node.start()

            def flush(token):
                conn = http.client.HTTPConnection(ip, node.api_port, timeout=5)
                try:
                    conn.request("POST", "/v1/flush", headers={"Authorization": f"Bearer {token}"})
                    return conn.getresponse().status
                finally:
                    conn.close()

            assert flush("old-secret") == 200
            node.write_conf(lines + ["api-token new-secret"])
            log = node.hup_and_wait("reloaded ")
            assert "api-token" in log.split("needs a restart")[0], log
            assert flush("old-secret") == 403
            assert flush("new-secret") == 200
            node.stop()
    finally:
        ns.remove()
