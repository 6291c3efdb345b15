"""Hostile Mainline DHT nodes for the Sybil tests (test_sybil.py) and bench/dht.py.

`Hostile` runs many hostile KRPC nodes in one thread: one UDP socket each, on many ports and
(inside a network namespace, see netns.py) many addresses. They behave like honest nodes
towards the honest swarm (they answer ping and find_node, and send honest nodes a find_node now
and then so that they stay in their routing tables: `join()`) and attack the lookups of
everybody else. Strategies
(any combination, `strategies=`):

- "replay":  `get` for a target is answered with an older, validly signed item: the one the
             test gives (`give()`), or the first one that was `put` to this node (the attacker
             keeps what it saw first and acknowledges every later put without storing it);
- "forge":   `get` is answered with a forged item (seq far above, signature broken);
- "swallow": `get` gets `nodes` and a token but never a value;
- "silent":  `get` gets no reply at all;
- "sybil":   replies to find_node/get/get_peers carry made-up node IDs a few bits from the
             target, each pointing at one of the hostile sockets, and the replying node claims
             a new ID next to the target in every reply;
- `lie_ip`:  every reply's `ip` (BEP 42 vote) says the requester is at this address;
- pushing:   whoever queries a hostile node is pinged by every hostile node (once), so that
             they all get into its routing table: its lookups then start at them;
- `refer`:   (not "sybil") `nodes` in replies are these real nodes instead of hostile ones:
             an entry point that passes the joiner on to the network while steering its ID.

Node IDs are chosen next to the given targets (`targets=`), so that the hostile nodes are the
closest ones the honest nodes know. Every query received is logged (`log`), with the ID the node
claimed in its reply, so that a test can show which hostile nodes were used and by whom.
"""
import os
import random
import selectors
import socket
import threading
import time

from dhtutil import (
    BencodeError,
    bdecode,
    bencode,
    closest,
    compact_ip,
    compact_node,
    compact_nodes,
    mutable_target,
    near_id,
)

STRATEGIES = {"replay", "forge", "swallow", "silent", "sybil"}
K = 8


class HostileNode:
    def __init__(self, sock, ip, port, node_id):
        self.sock = sock
        self.ip = ip
        self.port = port
        self.id = node_id
        self.peers = []  # honest (ip, port) it keeps in touch with


class Hostile:
    """N hostile nodes, on `addrs` (one node per entry: repeat an address for several ports).

    `sock_factory(ip)` makes a bound UDP socket (default: socket.socket bound to (ip, 0));
    netns.py gives one that makes the socket inside a namespace. `seed` makes the IDs and
    choices replayable (printed by the tests)."""

    def __init__(self, addrs, targets, strategies=("replay",), lie_ip=None, seed=None,
                 sock_factory=None, near_bits=12):
        unknown = set(strategies) - STRATEGIES
        assert not unknown, f"unknown strategies {unknown}"
        self.strategies = set(strategies)
        self.targets = list(targets)
        self.lie_ip = lie_ip
        self.seed = seed if seed is not None else random.randrange(1 << 32)
        self.rnd = random.Random(self.seed)
        self.near_bits = near_bits
        self.items = {}       # target -> item dict (k, seq, sig, v[, salt]) to replay
        self.first_put = {}   # target -> the first item put to any hostile node
        self.log = []         # (time, node index, (ip, port) of sender, method, target, our id)
        self.honest = []      # (ip, port) pinged now and then to stay in their tables
        self.refer = []       # [(id, ip, port)]: given in `nodes` instead of hostile nodes
        self.pushed = set()   # addresses every hostile node has pinged
        self._honest_set = set()
        self.nodes = []
        self._lock = threading.Lock()
        make = sock_factory or _bound_socket
        for i, ip in enumerate(addrs):
            s = make(ip)
            s.setblocking(False)
            target = self.targets[i % len(self.targets)] if self.targets else os.urandom(20)
            nid = near_id(target, self.near_bits, self.rnd)
            self.nodes.append(HostileNode(s, ip, s.getsockname()[1], nid))
        self._sel = selectors.DefaultSelector()
        for i, n in enumerate(self.nodes):
            self._sel.register(n.sock, selectors.EVENT_READ, i)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-dht", daemon=True)
        self._thread.start()

    # -- control --

    def close(self):
        self._stop.set()
        self._thread.join(3)
        self._sel.close()
        for n in self.nodes:
            n.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def give(self, target: bytes, item: dict):
        """The item (k, seq, sig, v) every hostile node answers `get` for target with."""
        with self._lock:
            self.items[target] = dict(item)

    def addrs(self):
        return [(n.ip, n.port) for n in self.nodes]

    def named_by(self, client, honest, targets):
        """Whether the attack is in place: of the K honest nodes [(ip, port, id)] closest to
        each target, how many answered find_node(target) (by client), and how many of those
        answers named a hostile node. Returns (named, answered)."""
        haddrs = set(self.addrs())
        hit = total = 0
        for target in targets:
            for ip, port, _ in closest(honest, target, K):
                _, _, msg = client.query(port, "find_node", {"target": target}, ip=ip,
                                         timeout=0.3, tries=1)
                if msg is None or msg.get(b"y") != b"r":
                    continue
                total += 1
                given = {(i, p) for _, i, p in compact_nodes(msg[b"r"].get(b"nodes", b""))}
                hit += bool(given & haddrs)
        return hit, total

    def join(self, honest, interval: float = 4.0, closest: int = None):
        """Makes every hostile node known to the honest nodes [(ip, port)]: each sends them a
        find_node for its own ID now and every `interval` seconds (so that they stay good in
        the honest routing tables). With [(ip, port, id)] and `closest`, each hostile node
        only talks to the `closest` honest nodes nearest its own ID (those whose answers
        about its target matter), which keeps a large swarm's traffic down."""
        with self._lock:
            self.honest = [tuple(h[:2]) for h in honest]
            self._honest_set = set(self.honest)
            for n in self.nodes:
                if closest is None:
                    n.peers = list(self.honest)
                else:
                    me = int.from_bytes(n.id, "big")
                    near = sorted(honest, key=lambda h: int.from_bytes(h[2], "big") ^ me)
                    n.peers = [tuple(h[:2]) for h in near[:closest]]
            self._interval = interval
            self._next_ping = 0.0

    def queries(self, method=None, target=None, src=None, since=0.0):
        with self._lock:
            return [e for e in self.log if (method is None or e[3] == method)
                    and (target is None or e[4] == target)
                    and (src is None or e[2] == src or e[2][0] == src) and e[0] >= since]

    def queries_text(self, last: int = 20, src=None) -> str:
        """The last queries received (from src, an ip or (ip, port), or a list of them)."""
        srcs = src if isinstance(src, list) else [src]
        rows = [f"  {self.nodes[i].ip}:{self.nodes[i].port} <- {s[0]}:{s[1]} {q} "
                f"{t.hex()[:12] if t else '-'} (we claimed {nid.hex()[:12]})"
                for _, i, s, q, t, nid in self.queries()
                if src is None or s in srcs or s[0] in srcs][-last:]
        return "\n".join(rows) or "  (none)"

    # -- the thread --

    def _run(self):
        while not self._stop.is_set():
            self._maybe_ping()
            for key, _ in self._sel.select(timeout=0.1):
                n = self.nodes[key.data]
                for _ in range(64):
                    try:
                        data, src = n.sock.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    try:
                        self._handle(key.data, n, data, src)
                    except Exception:  # a hostile node must not die on odd input
                        pass

    def _maybe_ping(self):
        with self._lock:
            honest = list(self.honest)
            due = honest and time.monotonic() >= self._next_ping
            if due:
                self._next_ping = time.monotonic() + self._interval
        if not due:
            return
        for n in self.nodes:
            for dst in n.peers:
                msg = {"t": os.urandom(2), "y": "q", "q": "find_node",
                       "a": {"id": n.id, "target": n.id}}
                try:
                    n.sock.sendto(bencode(msg), dst)
                except OSError:
                    pass

    def _push(self, dst):
        for h in self.nodes:
            msg = {"t": os.urandom(2), "y": "q", "q": "ping", "a": {"id": h.id}}
            try:
                h.sock.sendto(bencode(msg), dst)
            except OSError:
                pass

    def _fake_nodes(self, target: bytes) -> bytes:
        """K made-up entries next to target, each pointing at a hostile socket."""
        out = b""
        for _ in range(K):
            h = self.nodes[self.rnd.randrange(len(self.nodes))]
            out += compact_node(near_id(target, self.near_bits, self.rnd), h.ip, h.port)
        return out

    def _nodes(self, n, target: bytes, sybil: bool) -> bytes:
        if sybil:
            return self._fake_nodes(target)
        with self._lock:
            refer = list(self.refer)
        if refer:  # an entry point that passes on real nodes (and lies about `ip`)
            refer.sort(key=lambda e: int.from_bytes(e[0], "big") ^ int.from_bytes(target, "big"))
            return b"".join(compact_node(*e) for e in refer[:K])
        return b"".join(compact_node(h.id, h.ip, h.port) for h in self.nodes[:K + 1]
                        if h is not n)[:26 * K]

    def _handle(self, idx, n, data, src):
        try:
            msg = bdecode(data)
        except BencodeError:
            return
        if not isinstance(msg, dict) or msg.get(b"y") != b"q":
            return  # replies to our pings: nothing to do
        q = msg.get(b"q", b"").decode(errors="replace")
        a = msg.get(b"a", {})
        target = a.get(b"target") or a.get(b"info_hash")
        sybil = "sybil" in self.strategies
        my_id = near_id(target, self.near_bits, self.rnd) if sybil and target else n.id
        with self._lock:
            self.log.append((time.monotonic(), idx, src, q, target, my_id))
            item = self.items.get(target) or self.first_put.get(target)
        if src not in self.pushed and src not in self._honest_set:
            self.pushed.add(src)
            self._push(src)
        if q == "get" and "silent" in self.strategies:
            return
        r = {"id": my_id}
        if q in ("find_node", "get", "get_peers") and target:
            r["nodes"] = self._nodes(n, target, sybil)
        if q in ("get", "get_peers"):
            r["token"] = b"hostile"
        if q == "get" and "swallow" not in self.strategies:
            if "forge" in self.strategies and item is not None:
                sig = bytearray(item["sig"])
                sig[7] ^= 0x40
                r.update(k=item["k"], seq=item["seq"] + 1000, sig=bytes(sig), v=item["v"])
            elif "replay" in self.strategies and item is not None:
                r.update(k=item["k"], seq=item["seq"], sig=item["sig"], v=item["v"])
        if q == "put" and b"k" in a and b"v" in a:
            # The attacker keeps the first version it saw and acknowledges the rest.
            t = mutable_target(a[b"k"], a.get(b"salt", b""))
            with self._lock:
                self.first_put.setdefault(t, {"k": a[b"k"], "seq": a.get(b"seq", 0),
                                              "sig": a.get(b"sig", b""), "v": a[b"v"]})
        if q not in ("ping", "find_node", "get", "get_peers", "announce_peer", "put"):
            reply = {"t": msg.get(b"t", b""), "y": "e", "e": [204, "Method Unknown"]}
        else:
            reply = {"t": msg.get(b"t", b""), "y": "r", "r": r}
            reply["ip"] = compact_ip(self.lie_ip, src[1]) if self.lie_ip else \
                compact_ip(src[0], src[1])
        try:
            n.sock.sendto(bencode(reply), src)
        except OSError:
            pass


def _bound_socket(ip: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    return s
