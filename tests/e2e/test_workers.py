"""Serving DNS on every core (`workers N`, docs/workers.md).

- A node with `workers 2` answers every query over UDP, TCP, DoT and DoH, and a burst over
  each (from many source ports: SO_REUSEPORT spreads clients by their 4-tuple) gives both
  serving threads CPU time (/proc/<pid>/task/*/stat).
- A zone published on the node is served at once by every worker, and so is its removal.
- A zone learnt by one lookup (through a relay) is served by every worker from its cache,
  and that lookup is the only one (the main loop coalesces and shares it).
- SIGHUP reaches every worker (a root name the reload adds is answered by all of them), and
  SIGTERM stops every thread, with connections open on each: exit 0, "worker 1 stopped".
- `workers 1` runs one thread that serves DNS, as before.
"""
import http.client
import os
import signal
import socket
import ssl
import struct
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from conftest import key_from_seed, make_query, relay_body, run_cli

BURST = 6000  # queries per burst: enough for a clock tick (10 ms) of CPU on each thread
PORTS = 64  # source ports of the burst
STREAM_CONNS = 32  # connections of a TCP, DoT or DoH burst


def threads(pid: int) -> dict:
    """{thread name: CPU ticks (utime + stime)} of every thread of pid (names summed)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def udp_burst(port: int, wire_of, total: int = BURST, nports: int = PORTS) -> list:
    """Sends `total` queries from `nports` sockets (each its own source port), in windows of
    one per socket; returns the responses parsed, in no particular order."""
    socks = []
    for _ in range(nports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(1.0)
        socks.append(s)
    answers = []
    try:
        sent = 0
        while sent < total:
            window = socks[:min(nports, total - sent)]
            for i, s in enumerate(window):
                s.sendto(wire_of(sent + i), ("127.0.0.1", port))
            for s in window:
                try:
                    answers.append(s.recv(4096))
                except socket.timeout:
                    pass
            sent += len(window)
    finally:
        for s in socks:
            s.close()
    return answers


def a_of(wire: bytes):
    m = dns.message.from_wire(wire)
    return m.rcode(), sorted(rr.to_text() for rrset in m.answer for rr in rrset)


def make_cert(binary, directory: Path):
    cp = run_cli(binary, "cert", "-o", directory)
    assert cp.returncode == 0, f"swarmdns cert failed: {cp.stdout}{cp.stderr}"


def free_tcp_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dot_query(port: int, cafile: Path, wire: bytes) -> bytes:
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(struct.pack(">H", len(wire)) + wire)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
                chunk = s.recv(4096)
                assert chunk, "DoT connection closed mid-answer"
                data += chunk
            return data[2:]


def doh_query(port: int, cafile: Path, wire: bytes) -> bytes:
    """RFC 8484 §4.1 POST over HTTP/1.1 (the DoH listener takes both HTTP versions)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("POST", "/dns-query", body=wire,
                     headers={"Content-Type": "application/dns-message",
                              "Accept": "application/dns-message"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, f"DoH POST answered {r.status}: {body!r}"
        return body
    finally:
        conn.close()


def stream_burst(connect, wire: bytes, conns: int, per: int) -> list:
    """Opens `conns` connections with connect(), sends `per` queries pipelined on each
    (RFC 7766 §6.2.1.1, 2-byte length prefix) and returns every response read back."""
    msg = (struct.pack(">H", len(wire)) + wire) * per
    socks = [connect() for _ in range(conns)]
    out = []
    try:
        for s in socks:
            s.sendall(msg)
        for s in socks:
            buf = b""
            for _ in range(per):
                while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                    chunk = s.recv(65536)
                    assert chunk, "connection closed mid-answers"
                    buf += chunk
                n = struct.unpack(">H", buf[:2])[0]
                out.append(buf[2:2 + n])
                buf = buf[2 + n:]
    finally:
        for s in socks:
            s.close()
    return out


def doh_burst(port: int, cafile: Path, wire: bytes, conns: int, per: int) -> list:
    """`per` RFC 8484 POSTs on each of `conns` kept-alive HTTP/1.1 connections."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = False
    out = []
    for _ in range(conns):
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        try:
            for _ in range(per):
                conn.request("POST", "/dns-query", body=wire,
                             headers={"Content-Type": "application/dns-message",
                                      "Accept": "application/dns-message"})
                r = conn.getresponse()
                body = r.read()
                assert r.status == 200, f"DoH POST answered {r.status}: {body!r}"
                out.append(body)
        finally:
            conn.close()
    return out


def tls_connect(port: int, cafile: Path):
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = False
    return lambda: ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))


def publish_own(node, seed: bytes, addr: str, seq: int, ttl: int = 300):
    key = key_from_seed(seed, node.data_dir / f"k{seed[0]}.key")
    packet = dns.message.Message(id=0)
    packet.flags = dns.flags.QR | dns.flags.AA
    packet.answer.append(dns.rrset.from_text(key.name("www"), ttl, "IN", "A", addr))
    body = relay_body(seed, seq, packet.to_wire())
    r = node.put_relay(key.z32, body)
    assert r.status in (200, 204), f"PUT /{key.z32}: {r.status} {r.body!r}"
    return key


def burst_answers(node, name: str, total: int = BURST) -> list:
    return [a_of(w) for w in udp_burst(
        node.dns_port, lambda i: make_query(name, "A", id=i & 0xFFFF).to_wire(), total)]


def test_two_workers_answer_every_transport_and_both_take_cpu(swarmdns_bin, node_factory,
                                                              tmp_path):
    certdir = tmp_path / "tls"
    make_cert(swarmdns_bin, certdir)
    dot, doh = free_tcp_port(), free_tcp_port()
    # udp-spread-at 0: the kernel spreads UDP over both workers at any load (by default one
    # worker takes it until it is busy, test_udp_on_one_worker_until_it_is_busy).
    node = node_factory(extra_args=[
        "--workers", "2", "--udp-spread-at", "0", "--listen-dot", f"127.0.0.1:{dot}",
        "--listen-doh",
        f"127.0.0.1:{doh}", "--tls-cert", str(certdir / "cert.pem"), "--tls-key",
        str(certdir / "key.pem")]).start()
    key = publish_own(node, bytes([7] * 32), "192.0.2.7", 1)
    assert "serving DNS on 2 workers" in node.stderr_text()
    names = threads(node.proc.pid)
    assert "swarmdns-w1" in names, f"no worker thread: {sorted(names)}"

    before = threads(node.proc.pid)
    answers = burst_answers(node, key.name("www"))
    after = threads(node.proc.pid)
    want = (dns.rcode.NOERROR, ["192.0.2.7"])
    assert len(answers) >= BURST * 0.99, f"{BURST - len(answers)} of {BURST} unanswered"
    assert all(a == want for a in answers), {str(a) for a in answers if a != want}
    main = after["swarmdns"] - before["swarmdns"]
    w1 = after["swarmdns-w1"] - before["swarmdns-w1"]
    assert main > 0 and w1 > 0, f"CPU ticks in the burst: main {main}, worker 1 {w1}"

    # TCP, DoT and DoH: 32 connections each (the kernel spreads them over both workers'
    # listeners by their ports), with enough queries that each thread's share takes CPU time.
    q = make_query(key.name("www"), "A").to_wire()
    ca = certdir / "cert.pem"
    bursts = {
        "tcp": lambda: stream_burst(
            lambda: socket.create_connection(("127.0.0.1", node.dns_port), timeout=5), q,
            STREAM_CONNS, 4000),
        "dot": lambda: stream_burst(tls_connect(dot, ca), q, STREAM_CONNS, 4000),
        "doh": lambda: doh_burst(doh, ca, q, STREAM_CONNS, 60),
    }
    for tp, burst in bursts.items():
        before = threads(node.proc.pid)
        got = burst()
        after = threads(node.proc.pid)
        # The same question each time: the same bytes back (parsing each would be slow).
        distinct = set(got)
        assert got and all(a_of(w) == want for w in distinct), \
            (tp, {str(a_of(w)) for w in distinct})
        main = after["swarmdns"] - before["swarmdns"]
        w1 = after["swarmdns-w1"] - before["swarmdns-w1"]
        assert main > 0 and w1 > 0, f"{tp}: CPU ticks in the burst: main {main}, worker 1 {w1}"

    # Every query counted once in /metrics, whichever worker answered it.
    m = node.metrics()
    udp = m[("swarmdns_queries_total", (("transport", "udp"),))]
    assert udp >= len(answers), f"/metrics counts {udp} UDP queries, {len(answers)} answered"
    for tp in ("tcp", "dot", "doh"):
        assert m[("swarmdns_queries_total", (("transport", tp),))] >= 8, tp


def test_own_zone_published_or_removed_is_served_so_by_every_worker_at_once(node_factory):
    node = node_factory(extra_args=["--workers", "2", "--udp-spread-at", "0"]).start()
    key = publish_own(node, bytes([9] * 32), "192.0.2.9", 1)
    answers = burst_answers(node, key.name("www"), total=PORTS * 4)
    assert answers and all(a == (dns.rcode.NOERROR, ["192.0.2.9"]) for a in answers), \
        {str(a) for a in answers}
    publish_own(node, bytes([9] * 32), "192.0.2.10", 2)
    answers = burst_answers(node, key.name("www"), total=PORTS * 4)
    assert answers and all(a == (dns.rcode.NOERROR, ["192.0.2.10"]) for a in answers), \
        {str(a) for a in answers}
    r = node.api("DELETE", f"/v1/zones/{key.z32}")
    assert r.status in (200, 204), f"DELETE: {r.status} {r.body!r}"
    answers = burst_answers(node, key.name("www"), total=PORTS * 4)
    # No longer ours: not answered authoritatively by any worker (no DHT: SERVFAIL).
    assert answers and all(a[0] != dns.rcode.NOERROR for a in answers), \
        {str(a) for a in answers}


def test_a_zone_one_worker_looked_up_is_served_by_every_worker(node_factory):
    relay = node_factory(extra_args=["--workers", "1"]).start()
    # A relay-only lookup never converges, and the cache keeps its zone for unconverged-ttl
    # (30 s). A TTL of 60 s (and min-ttl no higher) keeps hits from refreshing it early
    # (docs/design.md §3 step 6: within a tenth of the TTL of expiry), which would be a
    # second lookup.
    key = publish_own(relay, bytes([5] * 32), "192.0.2.5", 1, ttl=60)
    node = node_factory(extra_args=[
        "--workers", "2", "--udp-spread-at", "0", "--relay", f"http://127.0.0.1:{relay.api_port}",
        "--min-ttl", "60"]).start()
    want = (dns.rcode.NOERROR, ["192.0.2.5"])
    # One client asks: one worker looks the name up, and shares the zone with the other.
    assert a_of(node.query(key.name("www"), "A").to_wire()) == want
    answers = burst_answers(node, key.name("www"), total=PORTS * 8)
    assert len(answers) == PORTS * 8 and all(a == want for a in answers), \
        {str(a) for a in answers}
    m = node.metrics()
    gets = sum(v for (name, labels), v in m.items()
               if name == "swarmdns_relay_requests_total" and dict(labels)["op"] == "get")
    assert gets == 1, f"{gets} relay GETs for one name; the workers must share one lookup"
    # The worker that did not look it up answered from its cache too: one miss in all.
    assert m[("swarmdns_cache_hits_total", ())] >= PORTS * 8
    assert m[("swarmdns_cache_misses_total", ())] == 1


def test_sighup_and_sigterm_reach_every_worker(swarmdns_bin, tmp_path):
    from conftest import finish_all
    from test_reload import FileNode
    # `workers` on the command line: conftest gives every node `--workers 1` there.
    node = FileNode(swarmdns_bin, tmp_path / "n", ["bootstrap none", "udp-spread-at 0"],
                    ["--workers", "2"])
    try:
        node.start()
        one = publish_own(node, bytes([3] * 32), "192.0.2.3", 1)
        two = publish_own(node, bytes([6] * 32), "192.0.2.6", 1)
        # SIGHUP with a new root name: once the reload is logged, every worker resolves it
        # (a worker that missed the reload would answer NXDOMAIN to its share of the burst).
        node.write_conf(["bootstrap none", "udp-spread-at 0", f"root two={two.z32}"])
        log = node.hup_and_wait("reloaded ")
        assert "root" in log, log
        answers = burst_answers(node, "www.two.", total=PORTS * 4)
        assert len(answers) >= PORTS * 4 * 0.99 and \
            all(a == (dns.rcode.NOERROR, ["192.0.2.6"]) for a in answers), \
            {str(a) for a in answers}
        answers = burst_answers(node, one.name("www"), total=PORTS * 4)
        assert answers and all(a == (dns.rcode.NOERROR, ["192.0.2.3"]) for a in answers)
        # SIGTERM with connections open on both workers (16 of them, spread by SO_REUSEPORT):
        # every thread stops, closes them and the process exits 0 in time.
        conns = [socket.create_connection(("127.0.0.1", node.dns_port), timeout=2)
                 for _ in range(16)]
        try:
            t0 = time.monotonic()
            assert node.stop() == 0, node.stderr_tail()
            assert time.monotonic() - t0 < 3, "stopping with open connections took too long"
            for c in conns:  # closed by the server, not left hanging
                c.settimeout(2)
                assert c.recv(1) == b""
        finally:
            for c in conns:
                c.close()
        log = node.stderr_text()
        assert "worker 1 stopped" in log and "stopping on signal 15" in log, node.stderr_tail()
        assert "serving DNS on 2 workers" in log
    finally:
        errors = finish_all([node])
    assert not errors, errors


def spread(node) -> tuple:
    m = node.metrics()
    return m[("swarmdns_udp_spread", ())], m[("swarmdns_udp_spread_changes_total", ())]


def wait_spread(node, want: int, timeout: float = 5.0) -> tuple:
    deadline = time.monotonic() + timeout
    while True:
        got = spread(node)
        if got[0] == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_udp_on_one_worker_until_it_is_busy(swarmdns_bin, node_factory, tmp_path):
    # The default (udp-spread-at 75): a burst that keeps worker 1 well under 75 % busy is
    # answered by worker 1 alone; the main loop (worker 0) takes no share of it.
    node = node_factory(extra_args=["--workers", "2"]).start()
    key = publish_own(node, bytes([8] * 32), "192.0.2.8", 1)
    assert "UDP on worker 1 alone until it is 75% busy" in node.stderr_text()
    assert spread(node) == (0, 0)
    before = threads(node.proc.pid)
    answers = burst_answers(node, key.name("www"))
    after = threads(node.proc.pid)
    assert len(answers) >= BURST * 0.99 and \
        all(a == (dns.rcode.NOERROR, ["192.0.2.8"]) for a in answers)
    main = after["swarmdns"] - before["swarmdns"]
    w1 = after["swarmdns-w1"] - before["swarmdns-w1"]
    assert w1 > 0 and main <= max(2, w1 // 4), f"CPU ticks in the burst: main {main}, w1 {w1}"
    assert spread(node) == (0, 0)
    assert node.stop() == 0

    # udp-spread-at 1: the same burst makes worker 1 more than 1 % busy, so the kernel spreads
    # UDP over both workers; a second after the burst ends, it is back on worker 1.
    node = node_factory(extra_args=["--workers", "2", "--udp-spread-at", "1"]).start()
    key = publish_own(node, bytes([8] * 32), "192.0.2.8", 1)
    answers = burst_answers(node, key.name("www"), total=BURST * 2)
    assert len(answers) >= BURST * 2 * 0.99 and \
        all(a == (dns.rcode.NOERROR, ["192.0.2.8"]) for a in answers)
    log = node.stderr_text()
    assert "UDP queries spread over 2 workers: worker 1 was" in log, node.stderr_tail()
    now, changes = wait_spread(node, 0)
    assert now == 0 and changes >= 2, (now, changes, node.stderr_tail())
    assert "UDP queries on worker 1 alone again" in node.stderr_text()
    assert node.stop() == 0

    # A reload applies it: 0 spreads at once, and a value again takes UDP back to one worker.
    from conftest import finish_all
    from test_reload import FileNode
    fnode = FileNode(swarmdns_bin, tmp_path / "f", ["bootstrap none", "udp-spread-at 0"],
                     ["--workers", "2"])
    try:
        fnode.start()
        assert spread(fnode) == (1, 0)
        fnode.write_conf(["bootstrap none", "udp-spread-at 50"])
        fnode.hup_and_wait("reloaded ")
        assert spread(fnode)[0] == 0
        assert "UDP on worker 1 alone until it is 50% busy" in fnode.stderr_text()
        fnode.write_conf(["bootstrap none", "udp-spread-at 0"])
        fnode.hup_and_wait("reloaded ")
        assert wait_spread(fnode, 1)[0] == 1
    finally:
        errors = finish_all([fnode])
    assert not errors, errors


def test_one_worker_is_one_thread_as_before(node_factory):
    node = node_factory(extra_args=["--workers", "1"]).start()
    key = publish_own(node, bytes([4] * 32), "192.0.2.4", 1)
    answers = burst_answers(node, key.name("www"), total=PORTS * 4)
    assert answers and all(a == (dns.rcode.NOERROR, ["192.0.2.4"]) for a in answers)
    names = threads(node.proc.pid)
    assert not any(n.startswith("swarmdns-w") for n in names), sorted(names)
    assert "workers" not in node.stderr_text()
    assert node.stop() == 0
