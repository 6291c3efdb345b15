#!/usr/bin/python3
"""swarmdns DHT benchmark: `get` latency of swarmdns and of libtorrent on the same swarm.

Builds a loopback Mainline DHT swarm of swarmdns nodes (default 200), publishes 2 x M zones
through one swarmdns node (A), and looks each zone up once from a second swarmdns node (B,
through its HTTP API, GET /v1/dht/<key>) and once from a python3-libtorrent session (L,
dht_get_mutable_item), interleaved, first with the swarm healthy, then with 30% of its nodes
silenced without warning (SIGSTOP, or SIGKILL with --kill-mode kill). Prints p50, p99 and
failures per case and client with the ratio swarmdns/libtorrent, and writes bench/out/dht.json.
See bench/README.md ("DHT get latency") for the method and the traps.

Run it with Debian's interpreter (python3-libtorrent is a Debian package):
    /usr/bin/python3 bench/dht.py [--quick] [--items M] [--help]
"""
import argparse
import atexit
import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
Z32_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
T0 = time.monotonic()


def log(msg: str):
    print(f"dht-bench: [{time.monotonic() - T0:5.0f}s] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


class TimeLimit(BaseException):
    """Raised by the watchdog (SIGALRM): the whole run took longer than --time-limit."""


# --------------------------------------------------------------------------------------------
# Processes: every child is its own process group, dies with us (PR_SET_PDEATHSIG), and is
# stopped by cleanup() whatever happens (try/finally, atexit, SIGINT/SIGTERM/SIGHUP, watchdog).

_children = []  # subprocess.Popen
_cleaned = False
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv, log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as f:
        p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=_child_setup)
    _children.append(p)
    return p


def stop_process(p: subprocess.Popen, grace: float = 3.0):
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGCONT)  # a stopped process handles SIGTERM only when resumed
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass


def cleanup():
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    signal.alarm(0)
    live = [p for p in _children if p.poll() is None]
    for p in live:  # TERM all at once, then wait: 200 nodes stop in about a second
        try:
            os.killpg(p.pid, signal.SIGCONT)
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    for p in live:
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    for p in live:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                log(f"warning: process {p.pid} did not end")


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _on_alarm(signum, frame):
    raise TimeLimit()


# --------------------------------------------------------------------------------------------
# Small helpers

def z32_encode(b: bytes) -> str:
    bits = int.from_bytes(b, "big")
    nbits = len(b) * 8
    pad = (-nbits) % 5
    bits <<= pad
    n = (nbits + pad) // 5
    return "".join(Z32_ALPHABET[(bits >> (5 * (n - 1 - i))) & 31] for i in range(n))


def public_key(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


_given_ports = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now and not handed out before (for a node's HTTP API)."""
    for _ in range(500):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port
    raise BenchError("no free TCP port")


def free_udp_range(n: int) -> int:
    rnd = random.Random(os.getpid() ^ time.time_ns())
    for _ in range(200):
        base = rnd.randrange(20000, 60000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise BenchError(f"no {n} consecutive free UDP ports")


def percentile(values, p: float):
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def rnd3(x):
    return None if x is None else round(x, 3)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else round(a / b, 3)


# --------------------------------------------------------------------------------------------
# swarmdns nodes

class ServeNode:
    """One `swarmdns serve` process: a DHT node on 127.0.0.1 with an HTTP API."""

    def __init__(self, binary: Path, name: str, workdir: Path, bootstrap, rate_limit: int):
        self.binary = binary
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        self.bootstrap = list(bootstrap)
        self.rate_limit = rate_limit
        self.api_port = None
        self.dht_port = None
        self.proc = None
        self.stopped = False  # SIGSTOPped or SIGKILLed by the benchmark
        self._conn = None

    def start(self):
        self.api_port = free_port()
        argv = [self.binary, "serve", "--data-dir", self.dir / "data",
                "--listen-dns", "127.0.0.1:0", "--listen-api", f"127.0.0.1:{self.api_port}",
                "--dht-listen", "127.0.0.1:0", "--dht-rate-limit", self.rate_limit,
                "--log-level", "info"]
        if self.bootstrap:
            for b in self.bootstrap:
                argv += ["--bootstrap", f"127.0.0.1:{b}"]
        else:
            argv += ["--bootstrap", "none"]
        self.proc = spawn(argv, self.log_path)

    def poll_started(self):
        """True when ready, False while starting; raises if it exited."""
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
        text = self.log_path.read_text(errors="replace")
        m = re.search(r"DHT node on 127\.0\.0\.1:(\d+)", text)
        if m and "ready" in text:
            self.dht_port = int(m.group(1))
            return True
        return False

    def log_tail(self, n: int = 800) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def _request(self, path: str, timeout: float):
        """(status, body bytes) of GET path on a kept-alive connection; raises on errors."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=timeout)
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        try:
            self._conn.request("GET", path)
            r = self._conn.getresponse()
            body = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self._close()
            return r.status, body
        except BaseException:
            self._close()
            raise

    def _close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def status(self, timeout: float = 2.0):
        st, body = self._request("/v1/status", timeout)
        if st != 200:
            raise BenchError(f"{self.name}: /v1/status answered {st}")
        return json.loads(body)

    def dht_get(self, z32: str, timeout: float):
        """(wall ms, JSON or None, error string or None) of GET /v1/dht/<z32>."""
        t = time.perf_counter()
        try:
            st, body = self._request(f"/v1/dht/{z32}", timeout)
        except (socket.timeout, TimeoutError):
            return (time.perf_counter() - t) * 1000, None, "timeout"
        except (OSError, http.client.HTTPException) as e:
            return (time.perf_counter() - t) * 1000, None, f"http error: {e!r}"
        wall = (time.perf_counter() - t) * 1000
        try:
            j = json.loads(body)
        except ValueError:
            return wall, None, f"HTTP {st}: {body[:200]!r}"
        if st not in (200, 404):
            return wall, j, f"HTTP {st}: {j}"
        return wall, j, None

    def api_overhead(self, n: int = 20):
        """Median ms of an HTTP round trip that does no DHT work (GET of an unknown path)."""
        times = []
        for _ in range(n):
            t = time.perf_counter()
            self._request("/v1/none", 2.0)
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)


class TestnetSwarm:
    """`swarmdns testnet -n N`: all nodes in one process (--swarm testnet)."""

    def __init__(self, binary: Path, n: int, workdir: Path, seconds: int):
        self.binary, self.n, self.workdir, self.seconds = binary, n, workdir, seconds
        self.base = None
        self.proc = None

    def start(self, timeout: float = 30):
        self.base = free_udp_range(self.n)
        log_path = self.workdir / "testnet.log"
        self.proc = spawn([self.binary, "testnet", "-n", self.n, "--base-port", self.base,
                           "--rate-limit", 1000000, "--seconds", self.seconds], log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            m = re.search(r"testnet: ready: .*", text)
            if m:
                return m.group(0)
            if self.proc.poll() is not None:
                raise BenchError(f"swarmdns testnet exited: {text[-800:]}")
            time.sleep(0.1)
        raise BenchError(f"swarmdns testnet was not ready after {timeout} s")

    @property
    def ports(self):
        return list(range(self.base, self.base + self.n))


# --------------------------------------------------------------------------------------------
# libtorrent

def lt_settings(lt, port: int) -> dict:
    """libtorrent's defaults, except what a DHT node on 127.0.0.1 among others needs (issue 3)
    and its DHT upload cap, which would throttle the lookups (see bench/README.md)."""
    cat = lt.alert.category_t
    return {
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_dht": True,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "dht_restrict_routing_ips": False,   # every node is 127.0.0.1
        "dht_restrict_search_ips": False,
        "dht_enforce_node_id": False,        # no BEP 42 IDs on loopback
        "dht_prefer_verified_node_ids": False,
        "dht_block_ratelimit": 1000000,      # every node is one IP to it
        "dht_upload_rate_limit": 100_000_000,  # default 8,000 bytes/s
        "alert_queue_size": 100000,
        "alert_mask": int(cat.dht_notification | cat.error_notification),
    }


class LtClient:
    def __init__(self, port: int):
        import libtorrent as lt

        self.lt = lt
        self.port = port
        self.ses = lt.session(lt_settings(lt, port))
        self.version = lt.__version__

    def close(self):
        if self.ses is not None:
            try:
                self.ses.pause()
            except Exception:
                pass
            self.ses = None

    def add_node(self, port: int):
        self.ses.add_dht_node(("127.0.0.1", port))

    def routing_table(self, timeout: float = 2.0):
        """(nodes, replacements) from dht_stats_alert, or None."""
        self.ses.post_dht_stats()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ses.wait_for_alert(100)
            for a in self.ses.pop_alerts():
                if a.what() == "dht_stats":
                    rt = a.routing_table
                    return (sum(b["num_nodes"] for b in rt), sum(b["num_replacements"] for b in rt))
        return None

    def get(self, pk: bytes, expect_seq, timeout: float):
        """dht_get_mutable_item(pk). Returns dict: done_ms (authoritative alert), first_ms
        (first alert with the expected item), seq (of the authoritative alert), alerts."""
        self.ses.pop_alerts()  # drop what earlier, timed-out lookups posted late
        t = time.perf_counter()
        self.ses.dht_get_mutable_item(pk, b"")
        deadline = t + timeout
        res = {"done_ms": None, "first_ms": None, "seq": None, "alerts": 0, "error": None}
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                res["error"] = "timeout"
                return res
            self.ses.wait_for_alert(max(1, int(left * 1000)))
            now = time.perf_counter()
            for a in self.ses.pop_alerts():
                if a.what() != "dht_mutable_item" or bytes(a.key) != pk:
                    continue
                res["alerts"] += 1
                seq = int(a.seq)
                if res["first_ms"] is None and expect_seq is not None and seq == expect_seq:
                    res["first_ms"] = (now - t) * 1000
                if a.authoritative:
                    res["done_ms"] = (now - t) * 1000
                    res["seq"] = seq
                    return res


# --------------------------------------------------------------------------------------------
# The benchmark

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/dht.py",
        description="Benchmarks DHT get latency: swarmdns against libtorrent on the same "
                    "loopback swarm of swarmdns nodes, healthy and with 30%% of the nodes "
                    "silenced without warning. Prints a table and writes it as JSON to "
                    "bench/out/dht.json. Run it with /usr/bin/python3 (Debian's, which has "
                    "python3-libtorrent).",
        epilog="Environment: SWARMDNS_BIN (default <repo>/build/swarmdns; nothing is built).")
    ap.add_argument("--items", type=int, default=None,
                    help="zones looked up per case (each by both clients; default 50, "
                         "--quick 10)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 10 items per case")
    ap.add_argument("--nodes", type=int, default=200, help="nodes in the swarm (default 200)")
    ap.add_argument("--kill", type=float, default=0.30,
                    help="share of the swarm's nodes silenced in the second case (default 0.30)")
    ap.add_argument("--kill-mode", choices=("stop", "kill"), default="stop",
                    help="stop: SIGSTOP (the node stays silent, datagrams vanish, as with a "
                         "host gone from the internet); kill: SIGKILL (the port closes and "
                         "the kernel answers ICMP port unreachable). Default stop")
    ap.add_argument("--swarm", choices=("serve", "testnet"), default="serve",
                    help="serve: one `swarmdns serve` process per node (default; needed to "
                         "silence some nodes); testnet: one `swarmdns testnet -n N` process "
                         "(healthy case only, a cross-check)")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="seconds after which a lookup counts as failed (default 10)")
    ap.add_argument("--warmup", type=int, default=10,
                    help="unmeasured lookups of absent keys per client before measuring "
                         "(default 10)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    ap.add_argument("--time-limit", type=int, default=None,
                    help="seconds after which the run is stopped (default 570, or 280 "
                         "with --quick)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "dht.json"),
                    help="JSON output (default bench/out/dht.json)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (logs, keys, zones)")
    a = ap.parse_args(argv)
    if a.items is None:
        a.items = 10 if a.quick else 50
    if a.time_limit is None:
        a.time_limit = 280 if a.quick else 570
    if a.items < 1 or a.items > 1000:
        ap.error("--items must be 1 to 1000")
    if a.nodes < 10 or a.nodes > 1000:
        ap.error("--nodes must be 10 to 1000")
    if not 0 < a.kill < 1:
        ap.error("--kill must be between 0 and 1")
    if a.timeout <= 0:
        ap.error("--timeout must be positive")
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    return a


class Bench:
    def __init__(self, args):
        self.a = args
        self.rnd = random.Random(args.seed)
        self.binary = Path(os.environ.get("SWARMDNS_BIN", ROOT / "build" / "swarmdns"))
        self.tmp = Path(tempfile.mkdtemp(prefix="swarmdns-dht-bench."))
        self.swarm = []       # ServeNode of the swarm (--swarm serve)
        self.testnet = None   # TestnetSwarm (--swarm testnet)
        self.swarm_ports = []
        self.A = self.B = self.L = None
        self.notes = []       # oddities, for the log, the table and the JSON
        self.report = {}

    def note(self, msg):
        log("note: " + msg)
        self.notes.append(msg)

    # -- setup ----------------------------------------------------------------------------

    def private_binary(self):
        """A copy of the binary, so that a rebuild during the run changes nothing."""
        if not os.access(self.binary, os.X_OK):
            raise BenchError(f"swarmdns binary not found at {self.binary}: build it "
                             "(ninja -C build) or set SWARMDNS_BIN")
        copy = self.tmp / "swarmdns"
        shutil.copy2(self.binary, copy)
        self.binary = copy
        v = subprocess.run([copy, "serve", "--help"], capture_output=True, timeout=10)
        if v.returncode != 0:
            raise BenchError("`swarmdns serve --help` failed")

    def start_serve_swarm(self):
        n = self.a.nodes
        batch = 20
        log(f"starting {n} `swarmdns serve` nodes in batches of {batch}, each joining through "
            "the first node and 3 random earlier ones")
        for start in range(0, n, batch):
            nodes = []
            for i in range(start, min(start + batch, n)):
                started = [x.dht_port for x in self.swarm]
                boot = []
                if started:
                    boot = [started[0]] + self.rnd.sample(started, min(3, len(started)))
                    boot = sorted(set(boot), key=boot.index)
                node = ServeNode(self.binary, f"n{i:03d}", self.tmp, boot, 1000000)
                node.start()
                nodes.append(node)
            self.wait_started(nodes)
            self.swarm.extend(nodes)
        self.swarm_ports = [x.dht_port for x in self.swarm]

    def wait_started(self, nodes, timeout: float = 20):
        deadline = time.monotonic() + timeout
        pending = list(nodes)
        while pending:
            retry = []
            for x in pending:
                try:
                    if not x.poll_started():
                        retry.append(x)
                except BenchError:
                    # Most likely its API port was taken in between: once more, on another.
                    x.attempts = getattr(x, "attempts", 1) + 1
                    if x.attempts > 3:
                        raise
                    log(f"{x.name} exited at start ({x.log_tail(200).strip()}); starting it "
                        "again on another API port")
                    x.log_path.unlink(missing_ok=True)
                    x.start()
                    retry.append(x)
            pending = retry
            if pending and time.monotonic() > deadline:
                raise BenchError(f"{pending[0].name} did not start in {timeout} s: "
                                 f"{pending[0].log_tail()}")
            if pending:
                time.sleep(0.02)

    def wait_swarm_ready(self, timeout: float = 60, want: int = 8):
        """Every node's routing table holds at least `want` nodes (as testnet's 'ready')."""
        t = time.monotonic()
        deadline = t + timeout
        while True:
            sizes = [x.status()["dht"]["routing_table"] for x in self.swarm]
            if min(sizes) >= want or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        info = {"min": min(sizes), "mean": round(statistics.mean(sizes), 1), "max": max(sizes),
                "waited_s": round(time.monotonic() - t, 1)}
        if min(sizes) < want:
            self.note(f"after {timeout} s some swarm nodes know fewer than {want} others "
                      f"(routing tables {info})")
        log(f"swarm ready: routing tables {info['min']} to {info['max']} nodes "
            f"(mean {info['mean']})")
        return info

    def make_items(self, count: int):
        """`swarmdns keygen` keys and one-record zone files: [{z32, pk, key, zone}]."""
        d = self.tmp / "zones"
        d.mkdir(exist_ok=True)

        def one(i):
            key = d / f"k{i}.key"
            cp = subprocess.run([self.binary, "keygen", "-o", key], capture_output=True,
                                text=True, timeout=20)
            if cp.returncode != 0:
                raise BenchError(f"keygen failed: {cp.stderr}")
            z32 = cp.stdout.strip().split()[-1].rstrip(".")
            seed = bytes.fromhex(key.read_text().strip())
            pk = public_key(seed)
            if z32_encode(pk) != z32:
                raise BenchError(f"key {key}: keygen says {z32}, the seed gives {z32_encode(pk)}")
            zone = d / f"z{i}.zone"
            zone.write_text(f"www IN A 198.18.{i // 256}.{i % 256}\n")
            return {"i": i, "z32": z32, "pk": pk, "key": key, "zone": zone}

        with ThreadPoolExecutor(8) as ex:
            return list(ex.map(one, range(count)))

    def publish(self, items):
        """`swarmdns publish` of each item through node A; records seq and stored/asked."""
        url = f"http://127.0.0.1:{self.A.api_port}"
        pat = re.compile(r"seq (\d+),.* by (\d+) of (\d+) DHT nodes asked")

        def one(it):
            for attempt in range(3):
                cp = subprocess.run([self.binary, "publish", "-k", it["key"], "--api", url,
                                     it["zone"]], capture_output=True, text=True, timeout=60)
                m = pat.search(cp.stdout)
                if cp.returncode == 0 and m:
                    it["seq"], it["stored"], it["asked"] = (int(m.group(1)), int(m.group(2)),
                                                            int(m.group(3)))
                    if it["stored"] > 0:
                        return it
                time.sleep(0.5)
            raise BenchError(f"publishing {it['z32']} failed: {cp.stdout} {cp.stderr}")

        with ThreadPoolExecutor(4) as ex:
            return list(ex.map(one, items))

    # -- measuring ------------------------------------------------------------------------

    def warm_up(self):
        """Unmeasured lookups of absent keys by both clients: fills both routing tables and
        swarmdns's round-trip estimates the same way before anything is measured."""
        n = self.a.warmup
        if n <= 0:
            return {}
        out = {"swarmdns_ms": [], "libtorrent_ms": []}
        for _ in range(n):
            pk = os.urandom(32)
            wall, j, err = self.B.dht_get(z32_encode(pk), self.a.timeout)
            out["swarmdns_ms"].append(rnd3(wall))
            r = self.L.get(pk, None, self.a.timeout)
            out["libtorrent_ms"].append(rnd3(r["done_ms"]))
        log(f"warm-up: {n} lookups of absent keys each; median swarmdns "
            f"{statistics.median([x for x in out['swarmdns_ms'] if x is not None] or [0]):.1f} ms, "
            f"libtorrent {statistics.median([x for x in out['libtorrent_ms'] if x is not None] or [0]):.1f} ms")
        return out

    def client_state(self):
        st = self.B.status()["dht"]
        lt_rt = self.L.routing_table()
        return {"swarmdns_B_routing_table": st["routing_table"],
                "swarmdns_B_stored_items": st["stored_items"],
                "libtorrent_L_routing_table": lt_rt[0] if lt_rt else None,
                "libtorrent_L_replacements": lt_rt[1] if lt_rt else None}

    def measure(self, case: str, items, deadline: float):
        """Each item once by each client, the order alternating item by item."""
        s_rows, l_rows = [], []
        for k, it in enumerate(items):
            if time.monotonic() > deadline:
                self.note(f"{case}: time budget spent after {k} of {len(items)} items; "
                          "the rest were not measured")
                break
            order = ("swarmdns", "libtorrent") if k % 2 == 0 else ("libtorrent", "swarmdns")
            for pos, client in enumerate(order):
                if client == "swarmdns":
                    wall, j, err = self.B.dht_get(it["z32"], self.a.timeout)
                    ok = (err is None and j is not None and j.get("found")
                          and j.get("seq") == it["seq"] and wall <= self.a.timeout * 1000)
                    if err is None and not ok:
                        err = ("not found" if not (j or {}).get("found")
                               else f"seq {j.get('seq')} instead of {it['seq']}")
                    s_rows.append({
                        "item": it["i"], "position": pos, "ok": bool(ok), "error": err,
                        "wall_ms": rnd3(wall),
                        "elapsed_ms": j.get("elapsed_ms") if j else None,
                        "queries": j.get("queries") if j else None,
                        "replies": j.get("replies") if j else None,
                        "sources": len(j.get("nodes", [])) if j else None})
                else:
                    r = self.L.get(it["pk"], it["seq"], self.a.timeout)
                    err = r["error"]
                    ok = err is None and r["seq"] == it["seq"]
                    if err is None and not ok:
                        err = "not found" if not r["seq"] else \
                            f"seq {r['seq']} instead of {it['seq']}"
                    l_rows.append({
                        "item": it["i"], "position": pos, "ok": bool(ok), "error": err,
                        "done_ms": rnd3(r["done_ms"]), "first_ms": rnd3(r["first_ms"]),
                        "alerts": r["alerts"]})
        return s_rows, l_rows

    def summarize(self, s_rows, l_rows):
        to = self.a.timeout * 1000

        def summ(rows, key, okkey="ok"):
            ok = [r[key] for r in rows if r[okkey] and r[key] is not None]
            with_fail = [r[key] if (r[okkey] and r[key] is not None) else to for r in rows]
            return {"lookups": len(rows), "failures": len(rows) - len(ok),
                    "p50_ms": rnd3(percentile(ok, 50)), "p99_ms": rnd3(percentile(ok, 99)),
                    "max_ms": rnd3(max(ok) if ok else None),
                    "mean_ms": rnd3(statistics.mean(ok) if ok else None),
                    "p99_ms_failures_as_timeout": rnd3(percentile(with_fail, 99))}

        s = summ(s_rows, "wall_ms")
        for r in s_rows:
            r["ok_elapsed"] = r["ok"]
        s["elapsed_ms"] = summ(s_rows, "elapsed_ms")
        qs = [r["queries"] for r in s_rows if r["queries"] is not None]
        s["queries_mean"] = rnd3(statistics.mean(qs)) if qs else None
        s["errors"] = sorted({r["error"] for r in s_rows if r["error"]})
        for r in l_rows:
            r["ok_first"] = r["first_ms"] is not None
        lsum = summ(l_rows, "done_ms")
        lsum["first_item"] = summ(l_rows, "first_ms", "ok_first")
        lsum["errors"] = sorted({r["error"] for r in l_rows if r["error"]})
        by_pos = {}
        for name, rows, key in (("swarmdns", s_rows, "wall_ms"), ("libtorrent", l_rows, "done_ms")):
            for pos in (0, 1):
                v = [r[key] for r in rows if r["ok"] and r["position"] == pos]
                by_pos[f"{name}_{'first' if pos == 0 else 'second'}"] = rnd3(percentile(v, 50))
        for r in s_rows:
            del r["ok_elapsed"]
        for r in l_rows:
            del r["ok_first"]
        return {"swarmdns": s, "libtorrent": lsum,
                "ratio_swarmdns_over_libtorrent": {
                    "p50": ratio(s["p50_ms"], lsum["p50_ms"]),
                    "p99": ratio(s["p99_ms"], lsum["p99_ms"])},
                "p50_ms_by_order_in_pair": by_pos,
                "samples": {"swarmdns": s_rows, "libtorrent": l_rows}}

    def stored_copies(self):
        """Items stored per swarm node now (to say what share of the copies a kill removes)."""
        out = {}
        for x in self.swarm:
            if x.stopped:
                continue
            try:
                out[x.name] = x.status()["dht"]["stored_items"]
            except Exception:
                out[x.name] = None
        return out

    def kill_nodes(self):
        n = round(self.a.nodes * self.a.kill)
        victims = self.rnd.sample(self.swarm, n)
        sig = signal.SIGSTOP if self.a.kill_mode == "stop" else signal.SIGKILL
        for x in victims:
            os.killpg(x.proc.pid, sig)
            x.stopped = True
        if sig == signal.SIGKILL:
            for x in victims:
                x.proc.wait(5)
        return victims

    # -- the run --------------------------------------------------------------------------

    def run(self):
        a = self.a
        t_start = time.monotonic()
        deadline = t_start + a.time_limit - 25  # leave time to stop everything and report
        self.private_binary()
        log(f"swarm of {a.nodes} nodes ({a.swarm}); {a.items} items per case; lookup timeout "
            f"{a.timeout:g} s; seed {a.seed}; time limit {a.time_limit} s; work dir {self.tmp}")
        rep = self.report
        rep.update({"benchmark": "dht-get-latency", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                          time.gmtime()),
                    "swarm": {"kind": a.swarm, "nodes": a.nodes}, "items_per_case": a.items,
                    "timeout_s": a.timeout, "seed": a.seed, "kill_share": a.kill,
                    "kill_mode": a.kill_mode, "warmup_lookups": a.warmup,
                    "cpus": os.cpu_count()})

        if a.swarm == "serve":
            self.start_serve_swarm()
            rep["swarm"]["ready"] = self.wait_swarm_ready()
        else:
            self.testnet = TestnetSwarm(self.binary, a.nodes, self.tmp, a.time_limit + 30)
            rep["swarm"]["ready"] = self.testnet.start()
            self.swarm_ports = self.testnet.ports
            log(rep["swarm"]["ready"])

        # A publishes, B and L look up; B and L join at the same time through the same nodes.
        boot_a = self.rnd.sample(self.swarm_ports, 4)
        boot_bl = self.rnd.sample(self.swarm_ports, 4)
        self.A = ServeNode(self.binary, "A", self.tmp, boot_a, 1000000)
        self.B = ServeNode(self.binary, "B", self.tmp, boot_bl, 1000000)
        self.A.start()
        self.B.start()
        self.L = LtClient(free_udp_range(1))
        for p in boot_bl:
            self.L.add_node(p)
        self.wait_started([self.A, self.B])
        rep["libtorrent_version"] = self.L.version

        log(f"making {2 * a.items} keys and zones")
        items = self.make_items(2 * a.items)
        # Both clients need a routing table before anything is measured.
        t = time.monotonic()
        while time.monotonic() - t < 30:
            lt_rt = self.L.routing_table()
            b_rt = self.B.status()["dht"]["routing_table"]
            if lt_rt and lt_rt[0] >= 8 and b_rt >= 8:
                break
            time.sleep(0.5)
        else:
            self.note(f"after 30 s libtorrent knows {lt_rt} nodes, swarmdns B {b_rt}")
        rep["clients_joined_after_s"] = round(time.monotonic() - t, 1)

        log(f"publishing {2 * a.items} zones through node A (set 1 for the healthy case, "
            "set 2 for the case with nodes silenced)")
        t = time.monotonic()
        items = self.publish(items)
        stored = [it["stored"] for it in items]
        rep["publish"] = {"seconds": round(time.monotonic() - t, 1),
                          "stored_min": min(stored), "stored_mean": round(statistics.mean(stored), 2),
                          "asked_mean": round(statistics.mean(it["asked"] for it in items), 2)}
        log(f"published: stored by {min(stored)} to {max(stored)} nodes each "
            f"(mean {rep['publish']['stored_mean']})")
        if min(stored) < 4:
            self.note(f"some items were stored by only {min(stored)} nodes")
        set1, set2 = items[:a.items], items[a.items:]

        rep["warmup"] = self.warm_up()
        rep["api_overhead_ms"] = rnd3(self.B.api_overhead())
        log(f"B's HTTP API round trip without DHT work: {rep['api_overhead_ms']:.3f} ms (median)")

        cases = {}
        rep["cases"] = cases
        state = self.client_state()
        log(f"healthy: measuring {len(set1)} items x 2 clients ({state})")
        # The healthy case may take 40% of the time left; the other case gets the rest.
        now = time.monotonic()
        budget = deadline if a.swarm == "testnet" else now + (deadline - now) * 0.4
        s_rows, l_rows = self.measure("healthy", set1, budget)
        cases["healthy"] = self.summarize(s_rows, l_rows)
        cases["healthy"]["clients_before"] = state
        self.log_case("healthy", cases["healthy"])

        if a.swarm == "serve":
            before = self.stored_copies()
            victims = self.kill_nodes()
            names = {x.name for x in victims}
            tot = sum(v for v in before.values() if v)
            lost = sum(v for k, v in before.items() if v and k in names)
            kinfo = {"nodes": len(victims), "of": len(self.swarm), "mode": a.kill_mode,
                     "stored_copies_total": tot, "stored_copies_on_silenced": lost,
                     "share_of_copies_silenced": round(lost / tot, 3) if tot else None}
            rep["kill"] = kinfo
            log(f"silenced {len(victims)} of {len(self.swarm)} swarm nodes "
                f"({'SIGSTOP' if a.kill_mode == 'stop' else 'SIGKILL'}); they held {lost} of "
                f"{tot} stored item copies")
            state = self.client_state()
            log(f"30% killed: measuring {len(set2)} items x 2 clients ({state})")
            s_rows, l_rows = self.measure("killed", set2, deadline)
            key = f"{round(a.kill * 100)}% killed"
            cases[key] = self.summarize(s_rows, l_rows)
            cases[key]["clients_before"] = state
            cases[key]["clients_after"] = self.client_state()
            self.log_case(key, cases[key])
        else:
            self.note("--swarm testnet: one process holds every node, so none can be silenced "
                      "alone; only the healthy case was measured")

        rep["goal"] = "swarmdns p99 <= 0.5 x libtorrent p99 in both cases"
        rep["goal_met"] = {k: (c["ratio_swarmdns_over_libtorrent"]["p99"] is not None
                               and c["ratio_swarmdns_over_libtorrent"]["p99"] <= 0.5
                               and c["swarmdns"]["failures"] <= c["libtorrent"]["failures"])
                           for k, c in cases.items()}
        rep["run_seconds"] = round(time.monotonic() - t_start, 1)

    def log_case(self, name, c):
        s, lt_ = c["swarmdns"], c["libtorrent"]
        log(f"{name}: swarmdns p50 {s['p50_ms']} p99 {s['p99_ms']} ms, {s['failures']} failed; "
            f"libtorrent p50 {lt_['p50_ms']} p99 {lt_['p99_ms']} ms, {lt_['failures']} failed")

    def print_table(self):
        rep = self.report
        cases = rep.get("cases", {})
        if not cases:
            return

        def f(x, w=9, d=2):
            return f"{'n/a':>{w}}" if x is None else f"{x:>{w}.{d}f}"

        print()
        print(f"DHT get latency on a {rep['swarm']['nodes']}-node loopback swarm "
              f"({rep['swarm']['kind']}), {rep['items_per_case']} items per case, each looked "
              f"up once by each client; lookup timeout {rep['timeout_s']:g} s")
        print(f"{'case':<12} {'client':<11} {'p50 ms':>9} {'p99 ms':>9} {'failures':>9}   "
              f"{'ratio p50':>9} {'ratio p99':>9}")
        for name, c in cases.items():
            s, l_ = c["swarmdns"], c["libtorrent"]
            r = c["ratio_swarmdns_over_libtorrent"]
            print(f"{name:<12} {'swarmdns':<11} {f(s['p50_ms'])} {f(s['p99_ms'])} "
                  f"{s['failures']:>5}/{s['lookups']:<3}   {f(r['p50'], 9, 3)} {f(r['p99'], 9, 3)}")
            print(f"{'':<12} {'libtorrent':<11} {f(l_['p50_ms'])} {f(l_['p99_ms'])} "
                  f"{l_['failures']:>5}/{l_['lookups']:<3}")
        print("(swarmdns: wall time of GET /v1/dht/<key> on node B until the lookup is done; "
              "libtorrent: dht_get_mutable_item until its authoritative alert. Ratio = "
              "swarmdns/libtorrent, below 1: swarmdns faster. Goal: p99 ratio <= 0.5.)")
        print("secondary figures:")
        for name, c in cases.items():
            s, l_ = c["swarmdns"], c["libtorrent"]
            e, fi = s["elapsed_ms"], l_["first_item"]
            print(f"  {name}: swarmdns elapsed_ms p50 {e['p50_ms']} p99 {e['p99_ms']}, "
                  f"{s['queries_mean']} queries per lookup; libtorrent first verified item "
                  f"p50 {fi['p50_ms']} p99 {fi['p99_ms']} ({fi['failures']} never); p99 "
                  f"counting failures as {rep['timeout_s']:g} s: swarmdns "
                  f"{s['p99_ms_failures_as_timeout']}, libtorrent "
                  f"{l_['p99_ms_failures_as_timeout']}")
        print(f"  B's HTTP round trip without DHT work: {rep.get('api_overhead_ms')} ms; "
              f"goal met: {rep.get('goal_met')}")
        if self.notes:
            print("notes:")
            for n in self.notes:
                print(f"  - {n}")

    def write_json(self):
        self.report["notes"] = self.notes
        out = Path(self.a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(json.dumps(self.report, indent=2) + "\n")
        tmp.replace(out)
        log(f"wrote {out}")

    def close(self):
        if self.L is not None:
            self.L.close()
        cleanup()
        if self.a.keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main(argv=None):
    args = parse_args(argv)
    try:
        import libtorrent  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as e:
        sys.exit(f"dht-bench: {e}: run with /usr/bin/python3 (Debian: python3-libtorrent, "
                 "python3-cryptography)")
    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.time_limit)
    bench = Bench(args)
    rc = 0
    try:
        bench.run()
    except TimeLimit:
        bench.note(f"stopped by the time limit of {args.time_limit} s")
        rc = 1
    except BenchError as e:
        log(f"error: {e}")
        bench.note(f"error: {e}")
        rc = 1
    finally:
        signal.alarm(0)
        bench.close()
    if bench.report.get("cases"):
        bench.print_table()
        bench.write_json()
    return rc


if __name__ == "__main__":
    sys.exit(main())
