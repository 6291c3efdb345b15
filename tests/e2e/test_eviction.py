"""The eviction flood of issue 10 against the real binary (docs/design.md section 4 "Storage").

Before: 4,275 validly signed puts from one address in 3.5 s evicted a stored item, and its
older version was then accepted again as a first put. Now one network (/24) may fill only its
share of the store (`dht-net-share`) and evicts its own items beyond it, and the highest seq of
an evicted item is remembered (`dht-seq-memory`), so its older version gets 302.

Loopback and private putters each count as their own network (address and port, docs/dht.md),
so the flood must come from public-looking addresses: the test creates a network namespace
with a veth pair on 198.18.0.0/15 (RFC 2544 benchmarking space; nothing leaves the machine),
the node listens on the root end (198.18.0.1), the honest publisher sends from 198.18.2.2 and
the attacker from 198.18.1.2 and 198.18.1.3 (one /24, two addresses). The sockets are made in
a thread that entered the namespace (setns is per thread), and the namespace is removed at
the end. Needs root and iproute2; skipped otherwise.

Environment: SWARMDNS_EVICTION_SEED fixes the random seed (printed on failure).
"""
import contextlib
import ctypes
import hashlib
import os
import random
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from dhtutil import BencodeError, bdecode, bencode, bep44_sign

MAX_ITEMS = 64
SHARE_MIN = 16  # DHT_NET_SHARE_MIN_ITEMS: 10 % of 64 is less
FLOOD = 4000
NODE_IP = "198.18.0.1"
HONEST_IPS = ["198.18.2.2"]
ATTACKER_IPS = ["198.18.1.2", "198.18.1.3"]
SEED = int(os.environ.get("SWARMDNS_EVICTION_SEED") or random.SystemRandom().randrange(2**32))

CLONE_NEWNET = 0x40000000


def _run(*argv):
    cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=10)
    assert cp.returncode == 0, f"{' '.join(argv)}: exit {cp.returncode}: {cp.stderr.strip()}"


@pytest.fixture
def netns():
    """A namespace `swev<pid>` joined to this one by a veth pair: 198.18.0.1/15 here, the
    honest and attacker addresses there. Removed (with the pair) at teardown."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 to create a network namespace")
    name = f"swev{os.getpid() % 100000}"
    host_if, ns_if = f"{name}a", f"{name}b"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
    try:
        _run("ip", "netns", "add", name)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", name)
        _run("ip", "addr", "add", f"{NODE_IP}/15", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        for ip in HONEST_IPS + ATTACKER_IPS:
            _run("ip", "-n", name, "addr", "add", f"{ip}/15", "dev", ns_if)
        _run("ip", "-n", name, "link", "set", ns_if, "up")
        _run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def sockets_in(ns: str, addrs):
    """UDP sockets bound to addrs inside namespace ns, made by a thread that joined it."""
    libc = ctypes.CDLL(None, use_errno=True)
    out, err = [], []

    def work():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            for a in addrs:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                s.bind((a, 0))
                out.append(s)
        except Exception as e:  # reported in the main thread
            err.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join(10)
    assert not err, f"cannot open sockets in namespace {ns}: {err[0]!r}"
    assert len(out) == len(addrs)
    return out


class Krpc:
    """Raw KRPC over one UDP socket to the node at (NODE_IP, port)."""

    def __init__(self, sock: socket.socket, port: int):
        self.s = sock
        self.dest = (NODE_IP, port)
        self.id = os.urandom(20)
        self.tid = 0

    def send(self, q: str, args: dict) -> bytes:
        self.tid = (self.tid + 1) & 0xFFFFFFFF
        t = struct.pack(">I", self.tid)
        self.s.sendto(bencode({"t": t, "y": "q", "q": q, "a": {"id": self.id, **args}}),
                      self.dest)
        return t

    def recv(self, timeout: float):
        """The next decoded message from the node, or None after timeout."""
        self.s.settimeout(timeout)
        while True:
            try:
                data, src = self.s.recvfrom(65535)
            except (socket.timeout, BlockingIOError):
                return None
            if src != self.dest:
                continue
            try:
                return bdecode(data)
            except BencodeError:
                continue

    def query(self, q: str, args: dict, timeout: float = 1.0, tries: int = 3):
        for _ in range(tries):
            t = self.send(q, args)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                m = self.recv(left)
                if m is None:
                    break
                if m.get(b"t") == t:
                    return m
        return None

    def token(self) -> bytes:
        m = self.query("get", {"target": os.urandom(20)})
        assert m and m.get(b"y") == b"r", f"no reply to get from {self.s.getsockname()}: {m!r}"
        return m[b"r"][b"token"]

    def get(self, target: bytes) -> dict:
        m = self.query("get", {"target": target})
        assert m and m.get(b"y") == b"r", f"no reply to get: {m!r}"
        return m[b"r"]


class Item:
    """A mutable item of its own key: v is a bencoded string."""

    def __init__(self, rng: random.Random, text: bytes):
        self.seed = rng.randbytes(32)
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.pk = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.target = hashlib.sha1(self.pk).digest()
        self.text = text

    def put_args(self, token: bytes, seq: int, text: bytes = None) -> dict:
        text = text if text is not None else self.text
        # v goes into the message as the string itself; the signature covers it bencoded.
        return {"token": token, "k": self.pk, "seq": seq, "v": text,
                "sig": bep44_sign(self.seed, seq, bencode(text))}


def put(c: Krpc, token: bytes, item: Item, seq: int, text: bytes = None):
    """One put, waiting for its answer: ('r', None) or ('e', code)."""
    m = c.query("put", item.put_args(token, seq, text))
    assert m is not None, f"no answer to the put of seq {seq} (seed {SEED})"
    if m.get(b"y") == b"e":
        return "e", m[b"e"][0]
    return m[b"y"].decode(), None


def flood(clients, tokens, items, window: int = 256):
    """Puts every item once (seq 1), spread over the clients, `window` in flight per client;
    returns (stored, refused, unanswered)."""
    ok = refused = 0
    sent = 0
    per = [items[i::len(clients)] for i in range(len(clients))]
    pending = [0] * len(clients)
    idx = [0] * len(clients)
    while any(idx[i] < len(per[i]) or pending[i] for i in range(len(clients))):
        for i, c in enumerate(clients):
            while idx[i] < len(per[i]) and pending[i] < window:
                c.send("put", per[i][idx[i]].put_args(tokens[i], 1))
                idx[i] += 1
                pending[i] += 1
                sent += 1
        progressed = False
        for i, c in enumerate(clients):
            while pending[i]:
                m = c.recv(0.5 if not progressed else 0.01)
                if m is None:
                    break
                progressed = True
                if m.get(b"y") == b"q":
                    continue  # the node pings us back: not an answer
                pending[i] -= 1
                if m.get(b"y") == b"r":
                    ok += 1
                else:
                    refused += 1
        if not progressed:
            break  # silence for half a second: the rest is lost
    return ok, refused, sent - ok - refused


def limit_hits(node, limit):
    return node.metrics().get(("swarmdns_limit_hits_total", (("limit", limit),)), 0)


@pytest.mark.phase_timeout(60)
def test_flood_from_one_network_cannot_evict_or_roll_back(node_factory, netns):
    rng = random.Random(SEED)
    node = node_factory(extra_args=[
        "--dht-listen", f"{NODE_IP}:0",
        "--dht-max-items", str(MAX_ITEMS),
        # The flood must reach the store: the per-IP rates would stop it first.
        "--dht-puts-per-minute", "1000000",
        "--dht-rate-limit", "1000000",
    ]).start()
    port = node.dht_port()
    honest_sock, *attack_socks = sockets_in(netns, HONEST_IPS + ATTACKER_IPS)
    honest = Krpc(honest_sock, port)
    attackers = [Krpc(s, port) for s in attack_socks]
    try:
        h_token = honest.token()
        a_tokens = [a.token() for a in attackers]
        victim = Item(rng, b"honest zone, seq 2")
        assert put(honest, h_token, victim, 1, b"honest zone, seq 1") == ("r", None)
        assert put(honest, h_token, victim, 2) == ("r", None)

        # The flood: thousands of validly signed puts, each of a new key, from one /24.
        items = [Item(rng, b"flood %d" % i) for i in range(FLOOD)]
        t0 = time.monotonic()
        ok, refused, lost = flood(attackers, a_tokens, items)
        took = time.monotonic() - t0
        info = (f"seed {SEED}: {FLOOD} puts in {took:.1f} s: {ok} stored, {refused} refused, "
                f"{lost} unanswered")
        assert ok >= FLOOD * 9 // 10, info
        print(info)

        r = honest.get(victim.target)
        assert r.get(b"seq") == 2 and r.get(b"v") == victim.text, (
            f"the honest item did not survive the flood ({info}); get answered {r!r}")
        # The attacker's network holds its share and no more: its first items are gone.
        first = attackers[0].get(items[0].target)
        assert b"v" not in first, f"the flood's first item is still stored ({info})"
        evicted_share = limit_hits(node, "dht-net-share")
        assert evicted_share >= ok - SHARE_MIN, (
            f"dht-net-share counted {evicted_share} evictions, expected >= {ok - SHARE_MIN} "
            f"({info})")
        assert limit_hits(node, "dht-max-items") == 0, "the store was never full"

        # Force the victim's eviction the only way left: its own network at its share.
        for i in range(SHARE_MIN):
            assert put(honest, h_token, Item(rng, b"own %d" % i), 1) == ("r", None)
        r = honest.get(victim.target)
        assert b"v" not in r, f"the victim should have been evicted by its own share: {r!r}"

        # Its older version must not come back as a first put, from either network.
        assert put(attackers[0], a_tokens[0], victim, 1, b"honest zone, seq 1") == ("e", 302)
        assert put(honest, h_token, victim, 1, b"honest zone, seq 1") == ("e", 302)
        r = honest.get(victim.target)
        assert b"v" not in r, f"a refused put was stored: {r!r}"
        m = node.metrics()
        assert m.get(("swarmdns_dht_puts_seq_remembered_total", ()), 0) == 2, m
        # The newest version is stored again.
        assert put(attackers[1], a_tokens[1], victim, 2) == ("r", None)
        assert honest.get(victim.target).get(b"seq") == 2
    finally:
        for s in [honest_sock, *attack_socks]:
            with contextlib.suppress(OSError):
                s.close()
