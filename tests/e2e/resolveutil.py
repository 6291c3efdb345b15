"""Helpers for the resolver tests (test_resolve.py, issue 4), independent of the C code.

- `dig()`: runs dig(1) and parses what the tests look at (status, flags, answers, EDE);
- `ede_of()`: the Extended DNS Errors (RFC 8914) of a dnspython response;
- `ask()`, `addrs()`, `wait_joined()`: a node's answer once its lookup settled, the A
  addresses of a response, a node's wait for a testnet's routing table;
- `FakeDhtNode`: a Mainline DHT node in Python (a UDP socket in a thread) that answers
  ping, find_node, get_peers, announce_peer, put and get, and answers `get` for chosen
  targets with chosen items (forged, older...): an attacker close to a target;
- `raw_put()`: BEP 44 put through raw KRPC (get for a token, then put), with any sig/seq;
- `Knot` and `Nsd`: a knotd or nsd process on 127.0.0.1 with a temporary configuration;
- `BlackHole`: a UDP/TCP "server" that reads queries and never answers (a dead upstream).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.rcode
import dns.rdatatype

from conftest import query
from dhtutil import BencodeError, KrpcClient, bdecode, bencode

# --------------------------------------------------------------------------------------------
# DNS clients


def ede_of(resp):
    """[(code, text)] of the EDE options (code 15) of a dnspython response."""
    out = []
    for opt in getattr(resp, "options", None) or []:
        if int(opt.otype) == 15:
            code = getattr(opt, "code", None)
            text = getattr(opt, "text", None)
            if code is None:  # a GenericOption: INFO-CODE (2 bytes) then EXTRA-TEXT
                data = opt.data
                code = int.from_bytes(data[:2], "big")
                text = data[2:].decode(errors="replace")
            out.append((int(code), text or ""))
    return out


def describe_resp(resp) -> str:
    if resp is None:
        return "(no response)"
    return (f"rcode {dns.rcode.to_text(resp.rcode())}, flags {dns.flags.to_text(resp.flags)}, "
            f"EDE {ede_of(resp)}\n{resp.to_text()}")


class DigResult:
    def __init__(self, argv, cp, elapsed):
        self.argv = argv
        self.stdout = cp.stdout
        self.stderr = cp.stderr
        self.returncode = cp.returncode
        self.elapsed = elapsed
        m = re.search(r"status: (\w+)", self.stdout)
        self.status = m.group(1) if m else None
        m = re.search(r";; flags: ([a-z ]*);", self.stdout)
        self.flags = set(m.group(1).split()) if m else set()
        self.answers = []  # (owner, ttl, type, rdata)
        sect = None
        for line in self.stdout.splitlines():
            if line.startswith(";; ANSWER SECTION"):
                sect = "an"
                continue
            if not line.strip() or line.startswith(";;"):
                sect = None if not line.strip() else sect
                continue
            if sect == "an" and not line.startswith(";"):
                parts = line.split(None, 4)
                if len(parts) == 5:
                    self.answers.append((parts[0], int(parts[1]), parts[3], parts[4]))
        # dig 9.18: "; EDE: 3 (Stale Answer): (Stale Answer)"
        self.ede = [(int(c), t) for c, t in
                    re.findall(r"^; EDE: (\d+)(?: \([^)]*\))?(?:: \((.*)\))?$", self.stdout, re.M)]
        self.truncated_retry = "Truncated, retrying in TCP mode" in self.stdout

    def rdata(self, rtype):
        return [a[3] for a in self.answers if a[2] == rtype]

    def __str__(self):
        return (f"$ {' '.join(self.argv)}   ({self.elapsed * 1000:.0f} ms, exit "
                f"{self.returncode})\n{self.stdout}{self.stderr}")


def dig(port: int, name: str, rtype: str = "A", *opts, timeout: float = 2.0, tries: int = 1):
    argv = ["dig", "@127.0.0.1", "-p", str(port), name, rtype,
            f"+time={max(1, int(round(timeout)))}", f"+tries={tries}", *opts]
    t0 = time.monotonic()
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * tries * 3 + 5)
    return DigResult(argv, cp, time.monotonic() - t0)


def ask(node, name: str, rdtype="A", want=None, timeout: float = 15.0):
    """Queries node until the answer's rcode is want (or any but SERVFAIL) or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        r = query(node.dns_port, name, rdtype, timeout=timeout, use_edns=0)
        done = r.rcode() == want if want is not None else r.rcode() != dns.rcode.SERVFAIL
        if done or time.monotonic() >= deadline:
            return r
        time.sleep(0.3)


def addrs(r):
    """The A addresses of the answer, sorted."""
    return sorted(rd.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A
                  for rd in rrset)


def wait_joined(node, n: int, timeout: float):
    """Waits until node's routing table holds n nodes (a testnet joined)."""
    deadline = time.monotonic() + timeout
    while node.status()["dht"]["routing_table"] < n:
        assert time.monotonic() < deadline, f"no routing table: {node.status()['dht']}"
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------
# A fake DHT node


def compact(nodes) -> bytes:
    """BEP 5 compact node info of [(id, port)] on 127.0.0.1."""
    return b"".join(nid + socket.inet_aton("127.0.0.1") + port.to_bytes(2, "big")
                    for nid, port in nodes)


class FakeDhtNode:
    """A DHT node on 127.0.0.1 that answers every query at once from a thread.

    `items[target] = {"k":..., "seq":..., "sig":..., "v":...}` is returned to `get` for that
    target (whatever it is: forged, older...). `nodes` is the list of (id, port) given in
    `nodes` of replies. `node_id` may be None: the node then stays silent until it is set.
    Every query received is logged as (time, (ip, port), method, args)."""

    def __init__(self, node_id: bytes = None, nodes=()):
        self.node_id = node_id
        self.nodes = list(nodes)
        self.items = {}
        self.log = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-dht-{self.port}",
                                        daemon=True)
        self._lock = threading.Lock()
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self._handle(data, src)
            except Exception:  # a test peer must not die on odd input
                pass

    def _handle(self, data, src):
        try:
            msg = bdecode(data)
        except BencodeError:
            return
        if not isinstance(msg, dict) or msg.get(b"y") != b"q":
            return
        q = msg.get(b"q", b"").decode(errors="replace")
        a = msg.get(b"a", {})
        with self._lock:
            self.log.append((time.monotonic(), src, q, a))
            node_id = self.node_id
            nodes = list(self.nodes)
            items = dict(self.items)
        if node_id is None:
            return
        r = {"id": node_id}
        target = a.get(b"target") or a.get(b"info_hash")
        if q in ("find_node", "get", "get_peers"):
            r["nodes"] = compact(nodes[:8])
        if q in ("get", "get_peers"):
            r["token"] = b"fake-token"
        if q == "get" and target in items:
            it = items[target]
            r.update(k=it["k"], seq=it["seq"], sig=it["sig"], v=it["v"])
        if q not in ("ping", "find_node", "get", "get_peers", "announce_peer", "put"):
            reply = {"t": msg.get(b"t", b""), "y": "e", "e": [204, "Method Unknown"]}
        else:
            reply = {"t": msg.get(b"t", b""), "y": "r", "r": r}
        self.sock.sendto(bencode(reply), src)

    def set(self, node_id: bytes = None, nodes=None, items=None):
        with self._lock:
            if node_id is not None:
                self.node_id = node_id
            if nodes is not None:
                self.nodes = list(nodes)
            if items is not None:
                self.items = dict(items)

    def gets_for(self, target: bytes, since: float = 0.0, from_port: int = None):
        with self._lock:
            return [e for e in self.log if e[2] == "get" and e[3].get(b"target") == target
                    and e[0] >= since and (from_port is None or e[1][1] == from_port)]

    def queries_text(self, last: int = 20) -> str:
        with self._lock:
            rows = [f"  {src[0]}:{src[1]} {q} {sorted(k.decode() for k in a)}"
                    for _, src, q, a in self.log[-last:]]
        return "\n".join(rows) or "  (none)"

    def ping(self, port: int, timeout: float = 1.0):
        """Sends a ping (not read-only) from this node's socket to 127.0.0.1:port, so the
        receiver puts us in its routing table. The reply is read by the thread and dropped."""
        msg = {"t": os.urandom(2), "y": "q", "q": "ping", "a": {"id": self.node_id}}
        self.sock.sendto(bencode(msg), ("127.0.0.1", port))


def raw_put(c: KrpcClient, port: int, pk: bytes, seq: int, sig: bytes, v: bytes, target: bytes,
            **kw):
    """get (for a token) then put to 127.0.0.1:port; returns (sent, raw reply, decoded reply).
    kw (timeout, tries) go to KrpcClient.query."""
    sent, raw, msg = c.query(port, "get", {"target": target}, **kw)
    if msg is None or msg.get(b"y") != b"r" or b"token" not in msg.get(b"r", {}):
        return sent, raw, None  # no (KRPC) answer: the caller says what it needs
    token = msg[b"r"][b"token"]
    return c.query(port, "put", {"token": token, "k": pk, "seq": seq, "sig": sig, "v": v}, **kw)


def put_versions(c: KrpcClient, holders, versions, target: bytes, **kw) -> int:
    """raw_put of each version (dicts k, seq, sig, v), in order, to each holder (ip, port, id);
    returns how many holders acknowledged the last one. kw go to KrpcClient.query."""
    stored = 0
    for ip, port, _ in holders:
        for it in versions:
            _, _, msg = raw_put(c, port, it["k"], it["seq"], it["sig"], it["v"], target, ip=ip,
                                **kw)
        stored += msg is not None and msg.get(b"y") == b"r"
    return stored


def raw_get(c: KrpcClient, port: int, target: bytes, **kw):
    """The `r` dict of a get reply (None if no reply); kw go to KrpcClient.query."""
    _, raw, msg = c.query(port, "get", {"target": target}, **kw)
    if msg is None or msg.get(b"y") != b"r":
        return None
    return msg[b"r"]


# --------------------------------------------------------------------------------------------
# Authoritative servers on 127.0.0.1


def _wait_dns(port: int, name: str, proc, timeout: float, what: str, log: Path):
    import dns.message
    import dns.query

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            q = dns.message.make_query(name, "SOA")
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.3)
            if r.rcode() == 0 and r.answer:
                return
            last = r.to_text()
        except Exception as e:  # not up yet
            last = repr(e)
        time.sleep(0.05)
    text = log.read_text(errors="replace") if log.exists() else ""
    raise AssertionError(f"{what} on 127.0.0.1:{port} did not answer {name} SOA within "
                         f"{timeout} s (exit {proc.poll()}, last {last})\n{text[-3000:]}")


class _Server:
    name = "server"

    def __init__(self, directory: Path, port: int, zones: dict):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.zones = zones  # origin (no trailing dot) -> zone text
        self.proc = None
        self.log = self.dir / f"{self.name}.log"

    def argv(self):
        raise NotImplementedError

    def configure(self):
        raise NotImplementedError

    def start(self, timeout: float = 10.0):
        self.configure()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.dir)
        try:
            _wait_dns(self.port, next(iter(self.zones)) + ".", self.proc, timeout, self.name,
                      self.log)
        except AssertionError:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, n: int = 2000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} log (tail) ---\n" + (text[-n:] or "(empty)")


class Knot(_Server):
    """knotd (Knot DNS) with a temporary configuration, foreground, no privileges dropped."""

    name = "knotd"
    binary = "/usr/sbin/knotd"

    def configure(self):
        zones = []
        for origin, text in self.zones.items():
            (self.dir / f"{origin}.zone").write_text(text)
            zones.append(f"  - domain: {origin}\n    file: {origin}.zone\n")
        (self.dir / "knot.conf").write_text(
            "server:\n"
            f"    listen: 127.0.0.1@{self.port}\n"
            f"    rundir: {self.dir}\n"
            f"    pidfile: {self.dir}/knot.pid\n"
            "log:\n  - target: stderr\n    any: info\n"
            f"database:\n    storage: {self.dir}/db\n"
            f"template:\n  - id: default\n    storage: {self.dir}\n"
            "zone:\n" + "".join(zones))

    def argv(self):
        return [self.binary, "-c", str(self.dir / "knot.conf")]


class Nsd(_Server):
    """nsd (NLnet Labs NSD) with a temporary configuration, foreground (-d), no chroot."""

    name = "nsd"
    binary = "/usr/sbin/nsd"

    def configure(self):
        zones = []
        for origin, text in self.zones.items():
            (self.dir / f"{origin}.zone").write_text(text)
            zones.append(f"zone:\n    name: {origin}\n    zonefile: {origin}.zone\n")
        d = self.dir
        (d / "nsd.conf").write_text(
            "server:\n"
            f"    ip-address: 127.0.0.1@{self.port}\n"
            f"    port: {self.port}\n"
            '    username: ""\n'
            '    chroot: ""\n'
            f'    zonesdir: "{d}"\n'
            '    database: ""\n'
            f'    pidfile: "{d}/nsd.pid"\n'
            f'    xfrdfile: "{d}/xfrd.state"\n'
            f'    zonelistfile: "{d}/zone.list"\n'
            f'    xfrdir: "{d}"\n'
            "    server-count: 1\n"
            "    verbosity: 1\n"
            "remote-control:\n    control-enable: no\n" + "".join(zones))

    def argv(self):
        return [self.binary, "-d", "-c", str(self.dir / "nsd.conf")]


def have(binary: str) -> bool:
    return Path(binary).is_file() and os.access(binary, os.X_OK) or shutil.which(binary)


class BlackHole:
    """A 'dead' DNS server: binds UDP and TCP on 127.0.0.1:port, reads and never answers."""

    def __init__(self, port: int):
        self.port = port
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", port))
        self.udp.settimeout(0.1)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", port))
        self.tcp.listen(16)
        self.tcp.settimeout(0.1)
        self.received = 0
        self._conns = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.udp.recvfrom(65535)
                self.received += 1
            except socket.timeout:
                pass
            except OSError:
                return
            try:
                conn, _ = self.tcp.accept()
                self._conns.append(conn)
                self.received += 1
            except (socket.timeout, BlockingIOError):
                pass
            except OSError:
                return

    def close(self):
        self._stop.set()
        self._thread.join(2)
        for c in self._conns:
            c.close()
        self.udp.close()
        self.tcp.close()
