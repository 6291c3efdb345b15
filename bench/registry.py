#!/usr/bin/python3
"""Benchmarks of registries (issue 11, docs/registries.md; bench/README.md "Registries").

--case register (the default): registration throughput at the registrar, without proof of
  work. One `swarmdns serve` node (`--bootstrap none`, `--upstream` a free port on 127.0.0.1
  where nothing listens, `--registrar KEY`) runs a `closed` registry; the script signs every
  claim beforehand (the owner's and the registry key's Ed25519 signatures of
  docs/registries.md "Signatures", with python3-cryptography), then sends the POST
  /v1/registry/<R>/register requests over --concurrency keep-alive connections as fast as the
  node answers, and reports names/s, p50/p99 latency, the node's CPU time per registration
  and the share of the time its thread was on the CPU (the rest is waiting, mostly for the
  disk: a registration is one durable LMDB transaction, store/mlog.h). Goal: >= 500 names/s.
  The same machine's cost of one durable LMDB transaction is bench-mlog -d's
  (bench/mlog.c), run next to it when built: the ratio says how much of a registration is the
  disk.

--case resolve: a fresh node resolving a random registered name (`www.<label>.p2p.` under the
  node's `root p2p=<R>` on two fresh nodes of four, `www.<label>.<R>.` on the others) against a
  plain key name `www.<owner z32>.` on the same local DHT swarm, as a ratio (goal <= 2).
  Needs the resolver side of issue 11; on a build without it the registered names answer
  NXDOMAIN or SERVFAIL and the script says "registered-name resolution not available in this
  build" (exit 3) after checking that the key names resolve.

Everything listens on 127.0.0.1; every process started is its own process group, dies with
the script and is stopped at the end (also on errors, Ctrl-C and --time-limit). Runs
$SWARMDNS_BIN or build/swarmdns from a private copy; /usr/bin/python3 (Debian's
python3-cryptography).
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dht  # noqa: E402  processes, ports, z-base32, percentiles (one way for each thing)
from dht import (BenchError, TimeLimit, cleanup, free_port, percentile, ratio,  # noqa: E402
                 rnd3, spawn, z32_encode)

ROOT = Path(__file__).resolve().parent.parent
T0 = time.monotonic()
CLK_TCK = os.sysconf("SC_CLK_TCK")
CLAIM = b"swarmdns registry claim v1"


def log(msg: str):
    print(f"registry-bench: [{time.monotonic() - T0:5.0f}s] {msg}", file=sys.stderr, flush=True)


def ed25519(seed: bytes):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.from_private_bytes(seed)


def claim_msg(reg_pub: bytes, label: str, owner: bytes) -> bytes:
    """docs/registries.md "Signatures" (registrar_op_msg "claim"): what the owner and, for a
    closed registry, the registry key sign."""
    return CLAIM + reg_pub + bytes([len(label)]) + label.encode() + owner + bytes(8)


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), clock ticks (proc(5) fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def stat_ticks():
    """(busy, total) ticks of all cores from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)


def binary_copy(tmp: Path) -> Path:
    src = Path(os.environ.get("SWARMDNS_BIN", ROOT / "build" / "swarmdns"))
    if not src.exists():
        raise BenchError(f"{src} does not exist: run `make` (or set SWARMDNS_BIN)")
    dst = tmp / "swarmdns"
    shutil.copy2(src, dst)
    return dst


def keygen(binary: Path, path: Path):
    """(seed, public key) of a key made by `swarmdns keygen`."""
    cp = subprocess.run([str(binary), "keygen", "-o", str(path)], capture_output=True,
                        text=True, timeout=10)
    if cp.returncode != 0:
        raise BenchError(f"swarmdns keygen: {cp.stderr.strip()}")
    seed = bytes.fromhex(path.read_text().strip())
    return seed, dht.public_key(seed)


def unused_udp_port() -> int:
    """A port on 127.0.0.1 where nothing listens over UDP or TCP now (the node's --upstream,
    never asked in these benchmarks)."""
    for _ in range(100):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise BenchError("no free port")


class Api:
    """Keep-alive HTTP/1.1 to a node's API."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method: str, path: str, body: bytes = None):
        for attempt in (0, 1):  # one reconnect: the node may close an idle connection
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                hdr = {"Content-Type": "application/json"} if body is not None else {}
                self.conn.request(method, path, body, hdr)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def json(self, method: str, path: str, obj=None):
        st, body = self.request(method, path, None if obj is None else json.dumps(obj).encode())
        if st != 200:
            raise BenchError(f"{method} {path}: {st} {body[:300]!r}")
        return json.loads(body)

    def close(self):
        if self.conn:
            self.conn.close()


def start_node(binary: Path, tmp: Path, name: str, extra, bootstrap=None):
    """A `swarmdns serve` on 127.0.0.1 (free ports, --upstream where nothing listens);
    returns (Popen, api port), once /v1/status answers. DNS is on a port of the kernel's
    choice: these benchmarks ask through the API."""
    api_port = free_port()
    argv = [binary, "serve", "--data-dir", tmp / name, "--listen-dns", "127.0.0.1:0",
            "--listen-api", f"127.0.0.1:{api_port}", "--dht-listen", "127.0.0.1:0",
            "--upstream", f"127.0.0.1:{unused_udp_port()}", "--workers", "1",
            "--log-level", "info", *extra]
    for b in bootstrap or ["none"]:
        argv += ["--bootstrap", b]
    proc = spawn(argv, tmp / f"{name}.log")
    api = Api(api_port, timeout=1.0)
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode}: "
                             f"{(tmp / f'{name}.log').read_text(errors='replace')[-800:]}")
        try:
            if api.request("GET", "/v1/status")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{name} did not answer /v1/status within 20 s")
        time.sleep(0.05)
    api.close()
    return proc, api_port


def registry_init(binary: Path, api_port: int, reg_z32: str, policy: str = "closed"):
    cp = subprocess.run([str(binary), "registry", "init", "-r", reg_z32, "--policy", policy,
                         "--api", f"http://127.0.0.1:{api_port}"], capture_output=True,
                        text=True, timeout=30)
    if cp.returncode != 0:
        raise BenchError(f"swarmdns registry init: {cp.stdout}{cp.stderr}")


def sign_claims(reg_seed: bytes, reg_pub: bytes, owners, labels):
    """The JSON bodies of POST .../register for a closed registry, signed beforehand so that
    the timed part is the registrar's work only."""
    rk = ed25519(reg_seed)
    oks = [(ed25519(s), p, z32_encode(p)) for s, p in owners]
    bodies = []
    for i, label in enumerate(labels):
        ok, opub, oz = oks[i % len(oks)]
        msg = claim_msg(reg_pub, label, opub)
        bodies.append(json.dumps({"label": label, "owner": oz, "sig": ok.sign(msg).hex(),
                                  "registry_sig": rk.sign(msg).hex()}).encode())
    return bodies


def register_all(api_port: int, reg_z32: str, bodies, concurrency: int):
    """Sends every body once over `concurrency` keep-alive connections, each taking the next
    unsent body. Returns (seconds, latencies in ms, failures as (status, text), names/s in
    each tenth of the run by order of completion)."""
    path = f"/v1/registry/{reg_z32}/register"
    lat = [None] * len(bodies)
    done_at = [None] * len(bodies)
    fails = []
    nxt = iter(range(len(bodies)))
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def worker():
        api = Api(api_port, timeout=30.0)
        start.wait()
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                break
            t = time.perf_counter()
            try:
                st, body = api.request("POST", path, bodies[i])
            except (OSError, http.client.HTTPException) as e:
                st, body = 0, repr(e).encode()
            done_at[i] = time.perf_counter()
            lat[i] = (done_at[i] - t) * 1000
            if st != 200:
                with lock:
                    fails.append((st, body[:200].decode(errors="replace")))
        api.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    ends = sorted(done_at)
    tenths, prev = [], t0
    for k in range(1, 11):
        j = len(ends) * k // 10 - 1
        if j >= 0 and ends[j] > prev:
            tenths.append(round((len(ends) // 10) / (ends[j] - prev), 1))
            prev = ends[j]
    return time.perf_counter() - t0, lat, fails, tenths


def mlog_durable(tmp: Path, ops: int):
    """bench-mlog -d: the cost of the registrar's storage alone on this file system, or None
    when it is not built."""
    exe = Path(os.environ.get("BENCH_MLOG", ROOT / "build" / "bench" / "bench-mlog"))
    if not exe.exists():
        log(f"{exe} not built (ninja -C build bench/bench-mlog): no storage figure")
        return None
    cp = subprocess.run([str(exe), "-d", str(tmp / "mlog-durable"), "-n", "0", "-w", str(ops)],
                        capture_output=True, text=True, timeout=300)
    m = re.search(r"^storage txn_us=([\d.]+) registration_like_us=([\d.]+)$", cp.stdout, re.M)
    if cp.returncode != 0 or not m:
        log(f"bench-mlog -w failed: {cp.stderr.strip()[-300:]}")
        return None
    return {"txn_us": float(m.group(1)), "registration_like_us": float(m.group(2)),
            "ops": ops}


def wait_puts(api_port: int, within: float):
    """Until the registrar's put queue (swarmdns_registry_puts_waiting and _running) is
    empty, at most `within` seconds, saying how it goes every 30 s."""
    t0 = said = time.monotonic()
    while time.monotonic() - t0 < within:
        conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        except (OSError, http.client.HTTPException):
            text = ""
        finally:
            conn.close()
        left = [float(m) for m in re.findall(
            r"^swarmdns_registry_puts_(?:waiting|running) (\S+)$", text, re.M)]
        if len(left) == 2 and sum(left) == 0:
            return
        if time.monotonic() - said > 30:
            said = time.monotonic()
            log(f"the registrar's puts: {sum(left):.0f} waiting or running")
        time.sleep(0.5)


def case_register(args, tmp: Path, binary: Path):
    reg_seed, reg_pub = keygen(binary, tmp / "registry.key")
    reg_z32 = z32_encode(reg_pub)
    owners = []
    for _ in range(args.owners):
        seed = os.urandom(32)
        owners.append((seed, dht.public_key(seed)))
    labels = [f"n{i:06d}" for i in range(args.names)]
    log(f"signing {args.names} claims ({args.owners} owners) before the run")
    bodies = sign_claims(reg_seed, reg_pub, owners, labels)

    proc, api_port = start_node(binary, tmp, "registrar",
                                   ["--registrar", tmp / "registry.key"])
    registry_init(binary, api_port, reg_z32)
    busy = dht.cpu_busy(1.0)
    log(f"closed registry {reg_z32} on 127.0.0.1:{api_port}; machine busy {busy} % before "
        f"the run")
    c0 = cpu_ticks(proc.pid)
    b0, t0 = stat_ticks()
    w0 = time.monotonic()
    secs, lat, fails, tenths = register_all(api_port, reg_z32, bodies, args.concurrency)
    cpu_s = (cpu_ticks(proc.pid) - c0) / CLK_TCK
    wall = time.monotonic() - w0
    b1, t1 = stat_ticks()
    # Both cores' busy share during the run, and what of it was neither the registrar nor
    # this script (other processes on a shared machine).
    busy_run = round(100.0 * (b1 - b0) / max(1, t1 - t0), 1)
    ok = args.names - len(fails)
    if fails:
        log(f"{len(fails)} registrations refused or failed, e.g. {fails[:3]}")

    # Check: the log holds every name, and a sample of names is registered to its owner.
    api = Api(api_port)
    sth = api.json("GET", f"/v1/registry/{reg_z32}/log/sth")
    for i in random.Random(1).sample(range(args.names), min(20, args.names)):
        rec = api.json("GET", f"/v1/registry/{reg_z32}/name/{labels[i]}")
        if rec.get("owner") != z32_encode(owners[i % len(owners)][1]):
            raise BenchError(f"{labels[i]}: owner {rec.get('owner')} after the run")
    # The proofs as the registrar serves them (GET .../log/proof/...), at the log's size,
    # once its put queue is empty: with no DHT peers (--bootstrap none) every label item's put
    # still runs as a lookup that finds nobody, three times, on the loop that serves the API
    # (100,000 names: about 20 s of it), which is not what a proof costs.
    t_q = time.monotonic()
    wait_puts(api_port, 300)
    log(f"the registrar's put queue empty after {time.monotonic() - t_q:.1f} s more")
    proof_ms = {}
    rnd = random.Random(2)
    for kind, q in (("inclusion", "index"), ("consistency", "first")):
        ms = []
        for _ in range(args.proofs):
            v = rnd.randrange(sth["size"]) if kind == "inclusion" else \
                rnd.randrange(1, sth["size"])
            t = time.perf_counter()
            st, body = api.request("GET", f"/v1/registry/{reg_z32}/log/proof/{kind}?{q}={v}")
            ms.append((time.perf_counter() - t) * 1000)
            if st != 200 or not json.loads(body).get("proof"):
                raise BenchError(f"{kind} proof {q}={v}: {st} {body[:200]!r}")
        proof_ms[kind] = {"p50": rnd3(percentile(ms, 50)), "p99": rnd3(percentile(ms, 99))}
    st_ms = []
    for _ in range(args.proofs):
        t = time.perf_counter()
        api.request("GET", f"/v1/registry/{reg_z32}/log/sth")
        st_ms.append((time.perf_counter() - t) * 1000)
    proof_ms["sth_peer"] = {"p50": rnd3(percentile(st_ms, 50)),
                            "p99": rnd3(percentile(st_ms, 99))}
    api.close()
    rss = None
    with open(f"/proc/{proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    data_kb = sum(p.stat().st_size for p in (tmp / "registrar").rglob("*") if p.is_file()) // 1024
    dht.stop_node(type("N", (), {"proc": proc})())

    storage = mlog_durable(tmp, args.storage_ops)
    rate = ok / secs
    res = {
        "benchmark": "registry-register",
        "names": args.names, "registered": ok, "failed": len(fails),
        "concurrency": args.concurrency, "owners": args.owners,
        "log_size_after": sth["size"],
        "seconds": rnd3(secs), "names_per_s": round(rate, 1),
        "names_per_s_by_tenth": tenths,
        "machine_busy_pct_before": busy, "machine_busy_pct_during": busy_run,
        "latency_ms": {"p50": rnd3(percentile(lat, 50)), "p90": rnd3(percentile(lat, 90)),
                       "p99": rnd3(percentile(lat, 99)), "max": rnd3(max(lat))},
        "registrar_cpu_us_per_name": round(cpu_s * 1e6 / max(1, ok), 1),
        "registrar_cpu_share_pct": round(100 * cpu_s / wall, 1),
        "registrar_rss_kb": rss, "data_dir_kb": data_kb,
        "goal_names_per_s_at_least_500": rate >= 500,
        "storage": storage,
        "served_proofs_ms": proof_ms,
    }
    if storage:
        # A registration's storage: one durable transaction for the entry and the label item,
        # one for the tree head (src/registrar/registrar.c apply(), head_sign()).
        per = storage["registration_like_us"]
        res["storage_only_names_per_s"] = round(1e6 / per, 1) if per else None
        res["ratio_storage_time_per_registration"] = ratio(per / 1e6, secs / max(1, ok))
    print(f"Registration at the registrar: {ok} of {args.names} names in {secs:.1f} s over "
          f"{args.concurrency} connections (closed registry, no proof of work)")
    print(f"  {rate:,.0f} names/s; latency p50 {res['latency_ms']['p50']} ms, "
          f"p99 {res['latency_ms']['p99']} ms, max {res['latency_ms']['max']} ms")
    print(f"  both cores busy {busy_run} % during the run ({busy} % before it, idle)")
    print(f"  names/s in each tenth of the run: {tenths}")
    print(f"  registrar CPU {res['registrar_cpu_us_per_name']} us per name, on the CPU "
          f"{res['registrar_cpu_share_pct']} % of the run (the rest: waiting, mostly for fsync)")
    if storage:
        print(f"  storage alone on the same file system (bench-mlog -w): one durable "
              f"transaction {storage['txn_us']:.0f} us, a registration's (with its tree head) "
              f"{storage['registration_like_us']:.0f} us = {res['storage_only_names_per_s']:,.0f}"
              f" names/s at most; share of a registration's time: "
              f"{res['ratio_storage_time_per_registration']}")
    print(f"  goal (>= 500 names/s): {'met' if rate >= 500 else 'not met'}")
    print(f"  proofs served over HTTP at {sth['size']} entries, keep-alive, {args.proofs} each: "
          f"inclusion p50 {proof_ms['inclusion']['p50']} ms p99 {proof_ms['inclusion']['p99']}"
          f" ms, consistency p50 {proof_ms['consistency']['p50']} ms p99 "
          f"{proof_ms['consistency']['p99']} ms; the tree head (GET .../log/sth, same "
          f"connection) p50 {proof_ms['sth_peer']['p50']} ms: ratio inclusion/sth "
          f"{ratio(proof_ms['inclusion']['p50'], proof_ms['sth_peer']['p50'])}")
    return res, 0 if not fails else 1


# --------------------------------------------------------------------------------------------
# --case resolve

def resolve(api_port: int, name: str, timeout: float):
    """(ms, rcode text or error, source, answer as JSON text) of GET
    /v1/resolve?name=NAME&type=A (docs/api.md) on a new connection (made before the clock
    starts)."""
    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=timeout)
    try:
        conn.connect()
        t = time.perf_counter()
        conn.request("GET", f"/v1/resolve?name={name}&type=A")
        r = conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t) * 1000
    except (OSError, http.client.HTTPException) as e:
        return None, f"error {e!r}", None, ""
    finally:
        conn.close()
    try:
        j = json.loads(body)
    except ValueError:
        return ms, f"HTTP {r.status}", None, ""
    rcode = str(j.get("rcode", r.status))
    answers = j.get("answer") or []
    if rcode == "NOERROR" and not answers:
        rcode = "NODATA"
    return ms, rcode, j.get("source"), json.dumps(answers)


def dht_port(log_path: Path) -> int:
    """The DHT port a node logged at start ("DHT node on 127.0.0.1:PORT")."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = re.search(r"DHT node on 127\.0\.0\.1:(\d+)", log_path.read_text(errors="replace"))
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise BenchError(f"no DHT port in {log_path}")


def fin(x):
    """A percentile for the JSON: None when it fell on a failure (JSON has no infinity)."""
    return None if x is None or x == float("inf") else rnd3(x)


def case_resolve(args, tmp: Path, binary: Path):
    log(f"starting a swarm of {args.nodes} nodes")
    rnd = random.Random(args.seed)
    dht_ports = []
    # Each label item is stored by the 8 nodes closest to it: a swarm of a few dozen nodes
    # holds names * 8 / nodes items each, all put by one registrar (one network), where on
    # the DHT each label goes to other nodes. Room for them, and no share per network.
    items = max(4096, args.names * 16 // args.nodes)
    store = ["--dht-max-items", str(items), "--dht-max-bytes", str(min(items * 1024, 1 << 30)),
             "--dht-net-share", "100"]
    for i in range(args.nodes):
        boot = sorted(set(dht_ports[:1] + rnd.sample(dht_ports, min(3, len(dht_ports)))))
        # Every node is on 127.0.0.1: the per-IP limits would count the registrar's puts of
        # all labels at every node, where on the DHT each label goes to other nodes.
        start_node(binary, tmp, f"s{i:03d}", ["--dht-rate-limit", "1000000",
                                               "--dht-puts-per-minute", "1000000", *store],
                   bootstrap=[f"127.0.0.1:{p}" for p in boot])
        dht_ports.append(dht_port(tmp / f"s{i:03d}.log"))
    boot = [f"127.0.0.1:{p}" for p in rnd.sample(dht_ports, min(4, len(dht_ports)))]

    reg_seed, reg_pub = keygen(binary, tmp / "registry.key")
    reg_z32 = z32_encode(reg_pub)
    proc, api_port = start_node(binary, tmp, "registrar",
                                   ["--registrar", tmp / "registry.key",
                                    "--dht-rate-limit", "1000000"], bootstrap=boot)
    registry_init(binary, api_port, reg_z32)
    # Owners: a key and a zone each (www A), published from the registrar node, which
    # puts them into the swarm; label i is registered to owner i % zones.
    zones = min(args.names, args.zones)
    owners = []
    for i in range(zones):
        seed, pub = keygen(binary, tmp / f"owner{i}.key")
        owners.append((seed, pub))
    labels = [f"n{i:06d}" for i in range(args.names)]
    log(f"publishing {zones} owner zones and registering {args.names} names")
    for i, (seed, pub) in enumerate(owners):
        z = z32_encode(pub)
        zone = tmp / f"owner{i}.zone"
        zone.write_text(f"$ORIGIN {z}.\n@ 3600 IN SOA ns. h. 1 3600 600 86400 300\n"
                        f"www 3600 IN A 198.18.{i // 256 % 256}.{i % 256}\n")
        cp = subprocess.run([str(binary), "publish", "--local-ok", "-k",
                             str(tmp / f"owner{i}.key"), "--api",
                             f"http://127.0.0.1:{api_port}", str(zone)],
                            capture_output=True, text=True, timeout=30)
        if cp.returncode != 0:
            raise BenchError(f"publish {z}: {cp.stdout}{cp.stderr}")
    bodies = sign_claims(reg_seed, reg_pub, owners, labels)
    secs, _, fails, _ = register_all(api_port, reg_z32, bodies, 8)
    if fails:
        raise BenchError(f"{len(fails)} registrations failed, e.g. {fails[:3]}")
    reg_ms, key_ms, reg_fail, key_fail, samples = [], [], 0, 0, []
    form_ms = {"p2p": [], "key": []}
    order = list(range(args.names))
    rnd.shuffle(order)
    # The registrar's DHT puts go through a queue (src/daemon/regput.c): the names measured
    # must be in the DHT first, or a fresh node rightly says NXDOMAIN. Asked of the
    # registrar's own node (GET /v1/dht/<R>?salt=L), which the fresh nodes do not share.
    t_put = time.monotonic()
    waiting = {labels[order[k % len(order)]] for k in range(args.fresh)}
    put_wait, said = 120 + args.names / 100, t_put
    while waiting and time.monotonic() - t_put < put_wait:
        if time.monotonic() - said > 30:
            said = time.monotonic()
            log(f"waiting for the registrar's puts: {args.fresh - len(waiting)} of the "
                f"{args.fresh} measured labels in the DHT after {said - t_put:.0f} s")
        for lb in sorted(waiting):
            conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
            try:
                conn.request("GET", f"/v1/dht/{reg_z32}?salt={lb}")
                if conn.getresponse().status == 200:
                    waiting.discard(lb)
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
        if waiting:
            time.sleep(0.5)
    found_s = time.monotonic() - t_put
    # The rest of the registrar's puts too: while it puts a large registry, the swarm's 50
    # nodes on this machine's cores answer every lookup later, key names as well.
    wait_puts(api_port, max(0.0, put_wait - found_s))
    log(f"registered {args.names} names in {secs:.1f} s; the measured ones in the DHT after "
        f"{found_s:.1f} s more ({len(waiting)} not found), all put after "
        f"{time.monotonic() - t_put:.1f} s; measuring with {args.fresh} fresh nodes")
    for k in range(args.fresh):
        i = order[k % len(order)]
        root = ["--root", f"p2p={reg_z32}"]
        fproc, fport = start_node(binary, tmp, f"fresh{k}",
                                     ["--dht-rate-limit", "1000000", *root], bootstrap=boot)
        time.sleep(args.settle)
        # Alternate which goes first, so neither always gets the warmer routing table; and
        # which form the registered name has: `www.<label>.p2p.` (the node's `root p2p=<R>`
        # names R a registry: its apex, policy and label items are asked for at once) or
        # `www.<label>.<R>.` (R unknown to a fresh node: apex first, then R's policy).
        form = "p2p" if k % 4 < 2 else "key"
        reg_name = f"www.{labels[i]}.{'p2p' if form == 'p2p' else reg_z32}."
        # The key name is another owner's: the registered name ends in its owner's zone,
        # which must not be in the fresh node's cache from the key name (or the other way).
        oi = i % zones
        j = (oi + zones // 2) % zones
        if j == oi:
            raise BenchError("--names must be at least 2")
        names = [("registered", reg_name, oi),
                 ("key", f"www.{z32_encode(owners[j][1])}.", j)]
        if k % 2:
            names.reverse()
        for kind, name, o in names:
            addr = f"198.18.{o // 256 % 256}.{o % 256}"
            ms, rcode, source, answer = resolve(fport, name, args.timeout)
            # A fast wrong answer is not speed: the owner's address or it failed.
            right = f'"{addr}"' in answer or f" {addr}" in answer
            samples.append({"node": k, "kind": kind, "form": form if kind == "registered"
                            else None, "name": name, "ms": rnd3(ms), "rcode": rcode,
                            "source": source, "right_address": right})
            good = rcode == "NOERROR" and ms is not None and right
            if kind == "registered":
                reg_ms.append(ms if good else float("inf"))
                form_ms[form].append(ms if good else float("inf"))
                reg_fail += not good
            else:
                key_ms.append(ms if good else float("inf"))
                key_fail += not good
        dht.stop_node(type("N", (), {"proc": fproc})())
        shutil.rmtree(tmp / f"fresh{k}", ignore_errors=True)
    res = {
        "benchmark": "registry-resolve", "nodes": args.nodes, "names": args.names,
        "zones": min(args.names, args.zones), "fresh_nodes": args.fresh, "registry": reg_z32,
        "key_name": {"p50_ms": fin(percentile(key_ms, 50)),
                     "p99_ms": fin(percentile(key_ms, 99)), "failed": key_fail},
        "registered_name": {"p50_ms": fin(percentile(reg_ms, 50)),
                            "p99_ms": fin(percentile(reg_ms, 99)), "failed": reg_fail},
        "samples": samples,
    }
    if key_fail == len(key_ms):
        raise BenchError(f"no key name resolved on a fresh node: {samples[:4]}")
    if reg_fail == len(reg_ms) and all(s["rcode"] in ("3", "NXDOMAIN", "2", "SERVFAIL")
                                       for s in samples if s["kind"] == "registered"):
        res["available"] = False
        print(f"registered-name resolution not available in this build: every registered "
              f"name answered {sorted({s['rcode'] for s in samples if s['kind'] == 'registered'})}"
              f" while the key names resolved (p50 {res['key_name']['p50_ms']} ms)")
        return res, 3
    res["available"] = True
    res["ratio_registered_over_key"] = {
        "p50": ratio(percentile(reg_ms, 50), percentile(key_ms, 50)),
        "p99": ratio(percentile(reg_ms, 99), percentile(key_ms, 99))}
    for form, ms in form_ms.items():
        res[f"registered_name_{form}_form"] = {
            "samples": len(ms), "p50_ms": fin(percentile(ms, 50)), "p99_ms": fin(percentile(ms, 99)),
            "ratio_p50": ratio(percentile(ms, 50), percentile(key_ms, 50))}
    r50 = res["ratio_registered_over_key"]["p50"]
    res["goal_ratio_at_most_2"] = r50 is not None and r50 <= 2
    print(f"Fresh node, {args.fresh} samples each: key name p50 {res['key_name']['p50_ms']} ms "
          f"p99 {res['key_name']['p99_ms']} ms ({key_fail} failed); registered name p50 "
          f"{res['registered_name']['p50_ms']} ms p99 {res['registered_name']['p99_ms']} ms "
          f"({reg_fail} failed)")
    print(f"  ratio registered/key: p50 {r50}, p99 {res['ratio_registered_over_key']['p99']}; "
          f"goal (<= 2): {'met' if res['goal_ratio_at_most_2'] else 'not met'}")
    for form, label in (("p2p", "www.<label>.p2p. (root p2p=<R>)"),
                        ("key", "www.<label>.<R>.")):
        f = res[f"registered_name_{form}_form"]
        print(f"  {label}: {f['samples']} samples, p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, "
              f"ratio p50 {f['ratio_p50']}")
    return res, 0 if reg_fail == 0 and key_fail == 0 else 1


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Registry benchmarks (issue 11): registration throughput at the "
                    "registrar (--case register) and registered-name resolution against a "
                    "key name (--case resolve). See bench/README.md \"Registries\".")
    p.add_argument("--case", choices=("register", "resolve"), default="register")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 2,000 names (register), 20 nodes and 6 fresh nodes "
                        "(resolve)")
    p.add_argument("--names", type=int, help="names to register (register: 100000; "
                                             "resolve: 200)")
    p.add_argument("--concurrency", type=int, default=16,
                   help="connections sending registrations at once (default 16)")
    p.add_argument("--owners", type=int, default=64,
                   help="owner keys the names are spread over (register; default 64)")
    p.add_argument("--storage-ops", type=int, default=2000,
                   help="durable transactions timed by bench-mlog -w (default 2000)")
    p.add_argument("--proofs", type=int, default=1000,
                   help="proofs of each kind fetched from the registrar after the run "
                        "(register; default 1000)")
    p.add_argument("--nodes", type=int, help="swarm nodes (resolve; default 50)")
    p.add_argument("--zones", type=int, default=200,
                   help="owner zones the names are spread over (resolve; default 200)")
    p.add_argument("--fresh", type=int, help="fresh nodes, one registered and one key name "
                                             "each (resolve; default 20)")
    p.add_argument("--settle", type=float, default=2.0,
                   help="seconds a fresh node has to bootstrap before it resolves (default 2)")
    p.add_argument("--timeout", type=float, default=10.0, help="per resolution (default 10 s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="JSON (default bench/out/registry-CASE.json)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--time-limit", type=int, default=900, help="seconds (default 900)")
    a = p.parse_args(argv)
    if a.case == "register":
        a.names = a.names or (2000 if a.quick else 100000)
    else:
        a.names = a.names or (20 if a.quick else 200)
        a.nodes = a.nodes or (20 if a.quick else 50)
        a.fresh = a.fresh or (6 if a.quick else 20)
    if a.names < 1 or a.concurrency < 1 or a.owners < 1:
        p.error("--names, --concurrency and --owners must be at least 1")
    a.out = a.out or ROOT / "bench" / "out" / f"registry-{a.case}.json"
    return a


def main(argv=None):
    args = parse_args(argv)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, dht._on_signal)
    signal.signal(signal.SIGALRM, dht._on_alarm)
    signal.alarm(args.time_limit)
    tmp = Path(tempfile.mkdtemp(prefix="swarmdns-regbench-"))
    rc, failed = 2, True
    try:
        binary = binary_copy(tmp)
        res, rc = (case_register if args.case == "register" else case_resolve)(args, tmp,
                                                                             binary)
        res["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        res["swarmdns_sha256"] = hashlib.sha256(binary.read_bytes()).hexdigest()
        res["git_head"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                                         capture_output=True, text=True).stdout.strip()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n")
        log(f"wrote {args.out}")
        failed = rc not in (0, 3)
    except BenchError as e:
        log(f"error: {e}")
    except TimeLimit:
        log(f"stopped: the time limit of {args.time_limit} s")
    finally:
        cleanup()
        if args.keep or failed:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
