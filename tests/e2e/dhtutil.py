"""Helpers for the DHT interoperability tests (test_dht.py), independent of the C code.

- a strict bencode encoder/decoder (canonical form only, as BEP 3 defines it);
- raw KRPC (BEP 5 / BEP 44) over a UDP socket, to talk to any DHT node from Python, and
  compact node/address encoders;
- BEP 42 node IDs (crc32c, bep42_id, bep42_ok) and near_id (an ID next to a target), for the
  Sybil tests (test_sybil.py, hostile.py);
- BEP 44 signing/verification with the `cryptography` package, and the 64-byte expanded
  Ed25519 secret key that libtorrent's `dht_put_mutable_item` wants;
- `Testnet`: a `swarmdns testnet` process; `LtSession`: one python3-libtorrent session with
  its DHT on 127.0.0.1, with an alert log for the assertion messages.
"""
import hashlib
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# --------------------------------------------------------------------------------------------
# Bencode (strict)


class BencodeError(ValueError):
    pass


def bencode(obj) -> bytes:
    if isinstance(obj, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(obj, int):
        return b"i%de" % obj
    if isinstance(obj, str):
        obj = obj.encode()
    if isinstance(obj, (bytes, bytearray)):
        return b"%d:" % len(obj) + bytes(obj)
    if isinstance(obj, (list, tuple)):
        return b"l" + b"".join(bencode(x) for x in obj) + b"e"
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            items.append((k.encode() if isinstance(k, str) else bytes(k), v))
        items.sort(key=lambda kv: kv[0])
        for a, b in zip(items, items[1:]):
            if a[0] == b[0]:
                raise TypeError(f"duplicate key {a[0]!r}")
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(obj).__name__}")


def _decode(data: bytes, i: int, depth: int):
    if depth > 64:
        raise BencodeError("nested too deeply")
    if i >= len(data):
        raise BencodeError("truncated")
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i + 1) if b"e" in data[i + 1:] else -1
        if end < 0:
            raise BencodeError(f"unterminated integer at {i}")
        text = data[i + 1:end]
        if not re.fullmatch(rb"-?(0|[1-9][0-9]*)", text) or text == b"-0":
            raise BencodeError(f"non-canonical integer {text!r} at {i}")
        return int(text), end + 1
    if c == b"l":
        i += 1
        out = []
        while True:
            if i >= len(data):
                raise BencodeError("unterminated list")
            if data[i:i + 1] == b"e":
                return out, i + 1
            v, i = _decode(data, i, depth + 1)
            out.append(v)
    if c == b"d":
        i += 1
        out = {}
        last = None
        while True:
            if i >= len(data):
                raise BencodeError("unterminated dictionary")
            if data[i:i + 1] == b"e":
                return out, i + 1
            if not data[i:i + 1].isdigit():
                raise BencodeError(f"dictionary key at {i} is not a string")
            k, i = _decode(data, i, depth + 1)
            if last is not None and k <= last:
                raise BencodeError(f"dictionary keys unsorted or duplicate: {last!r}, {k!r}")
            last = k
            v, i = _decode(data, i, depth + 1)
            out[k] = v
    if c.isdigit():
        colon = data.find(b":", i)
        if colon < 0:
            raise BencodeError(f"string length without ':' at {i}")
        text = data[i:colon]
        if not re.fullmatch(rb"0|[1-9][0-9]*", text):
            raise BencodeError(f"non-canonical string length {text!r} at {i}")
        n = int(text)
        if colon + 1 + n > len(data):
            raise BencodeError(f"string of {n} bytes at {i} runs past the end")
        return data[colon + 1:colon + 1 + n], colon + 1 + n
    raise BencodeError(f"unexpected byte {c!r} at {i}")


def bdecode(data: bytes):
    """Decodes one canonical bencoded value that spans all of `data` (bytes for strings)."""
    v, end = _decode(bytes(data), 0, 0)
    if end != len(data):
        raise BencodeError(f"{len(data) - end} trailing bytes")
    return v


# --------------------------------------------------------------------------------------------
# BEP 44 and Ed25519


def bep44_signed_buffer(seq: int, v_bencoded: bytes, salt: bytes = b"") -> bytes:
    """The bytes a BEP 44 mutable item's signature covers (v already bencoded)."""
    pre = b"4:salt%d:%s" % (len(salt), salt) if salt else b""
    return pre + b"3:seqi%de1:v" % seq + v_bencoded


def bep44_verify(pk: bytes, sig: bytes, seq: int, v_bencoded: bytes, salt: bytes = b"") -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(
            sig, bep44_signed_buffer(seq, v_bencoded, salt))
        return True
    except Exception:
        return False


def bep44_sign(seed: bytes, seq: int, v_bencoded: bytes, salt: bytes = b"") -> bytes:
    """The BEP 44 signature of a mutable item by the Ed25519 key with this 32-byte seed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed).sign(
        bep44_signed_buffer(seq, v_bencoded, salt))


def mutable_target(pk: bytes, salt: bytes = b"") -> bytes:
    return hashlib.sha1(pk + salt).digest()


def expanded_secret_key(seed: bytes) -> bytes:
    """libtorrent's (orlp ed25519) 64-byte secret key: SHA-512(seed) with the scalar clamped."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), as BEP 42 "Node ID restriction" uses."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def bep42_exempt(ip: str) -> bool:
    """BEP 42: local networks and loopback (IPv4) are exempt from the ID restriction."""
    a = socket.inet_aton(ip)
    return a[0] in (10, 127) or (a[0] == 172 and a[1] & 0xF0 == 16) or \
        (a[0] == 192 and a[1] == 168) or (a[0] == 169 and a[1] == 254)


def _bep42_crc(ip: str, r: int) -> int:
    a = bytearray(socket.inet_aton(ip))
    for i, m in enumerate((0x03, 0x0F, 0x3F, 0xFF)):
        a[i] &= m
    a[0] |= (r & 7) << 5
    return crc32c(bytes(a))


def bep42_id(ip: str, rnd: bytes = None) -> bytes:
    """A node ID that conforms to BEP 42 for this IPv4 address (rnd: 20 random bytes)."""
    rnd = rnd or os.urandom(20)
    r = rnd[19]
    crc = _bep42_crc(ip, r)
    return bytes([crc >> 24 & 0xFF, crc >> 16 & 0xFF, (crc >> 8 & 0xF8) | (rnd[2] & 7)]) + \
        rnd[3:19] + bytes([r])


def bep42_ok(ip: str, node_id: bytes) -> bool:
    """Whether node_id conforms to BEP 42 for ip (exempt addresses always do)."""
    if bep42_exempt(ip):
        return True
    crc = _bep42_crc(ip, node_id[19])
    return node_id[0] == crc >> 24 & 0xFF and node_id[1] == crc >> 16 & 0xFF and \
        node_id[2] & 0xF8 == crc >> 8 & 0xF8


def near_id(target: bytes, bits: int = 12, rnd=None) -> bytes:
    """An ID equal to target but for its last `bits` bits (random, never all equal): what a
    Sybil claims to sit next to a key."""
    import random as _random

    rnd = rnd or _random
    x = int.from_bytes(target, "big") ^ rnd.randrange(1, 1 << bits)
    return x.to_bytes(20, "big")


def xor_distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def closest(contacts, target: bytes, k: int = 8):
    """The k of [(ip, port, id)] closest to target."""
    t = int.from_bytes(target, "big")
    return sorted(contacts, key=lambda c: int.from_bytes(c[2], "big") ^ t)[:k]


# --------------------------------------------------------------------------------------------
# Raw KRPC


def compact_nodes(blob: bytes):
    """[(id, 'ip', port)] from BEP 5 compact node info (26 bytes each)."""
    assert len(blob) % 26 == 0, f"'nodes' is {len(blob)} bytes, not a multiple of 26: {blob!r}"
    out = []
    for off in range(0, len(blob), 26):
        e = blob[off:off + 26]
        out.append((e[:20], socket.inet_ntoa(e[20:24]), struct.unpack(">H", e[24:26])[0]))
    return out


def compact_node(node_id: bytes, ip: str, port: int) -> bytes:
    """BEP 5 compact node info of one IPv4 node (26 bytes)."""
    return node_id + socket.inet_aton(ip) + struct.pack(">H", port)


def compact_ip(ip: str, port: int) -> bytes:
    """BEP 5 compact IPv4 address (6 bytes), as BEP 42's `ip` carries it."""
    return socket.inet_aton(ip) + struct.pack(">H", port)


def compact_addr(blob: bytes):
    assert len(blob) == 6, f"compact IPv4 address must be 6 bytes, got {len(blob)}: {blob!r}"
    return socket.inet_ntoa(blob[:4]), struct.unpack(">H", blob[4:6])[0]


class KrpcClient:
    """A UDP socket on 127.0.0.1 (or another local address, `host`) that sends KRPC queries
    to 127.0.0.1 (or to `ip=` of send_raw/query) and returns (raw, decoded) replies."""

    def __init__(self, node_id: bytes = None, read_only: bool = False, host: str = "127.0.0.1"):
        self.id = node_id or os.urandom(20)
        self.read_only = read_only
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self._tid = 0
        self.transcript = []  # (direction, (ip, port), raw bytes)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def query_bytes(self, q: str, args: dict, tid: bytes = None) -> bytes:
        self._tid += 1
        tid = tid or struct.pack(">H", self._tid & 0xFFFF)
        a = {"id": self.id, **args}
        msg = {"t": tid, "y": "q", "q": q, "a": a}
        if self.read_only:
            msg["ro"] = 1
        return bencode(msg)

    def send_raw(self, port: int, wire: bytes, timeout: float = 1.0, tid: bytes = None,
                 ip: str = "127.0.0.1"):
        """Sends one datagram; returns (raw reply, decoded or None) or (None, None)."""
        dest = (ip, port)
        self.transcript.append(("sent", dest, wire))
        self.sock.sendto(wire, dest)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None, None
            self.transcript.append(("received", src, data))
            if src != dest:
                continue
            try:
                msg = bdecode(data)
            except BencodeError:
                return data, None
            if tid is not None and isinstance(msg, dict) and msg.get(b"t") != tid:
                continue  # a late reply to an earlier query
            return data, msg

    def query(self, port: int, q: str, args: dict, timeout: float = 1.0, tries: int = 3,
              ip: str = "127.0.0.1"):
        """Sends a query (retrying on silence); returns (sent, raw reply, decoded reply)."""
        wire = b""
        for _ in range(tries):
            wire = self.query_bytes(q, args)
            tid = bdecode(wire)[b"t"]
            raw, msg = self.send_raw(port, wire, timeout, tid=tid, ip=ip)
            if raw is not None:
                return wire, raw, msg
        return wire, None, None

    def transcript_text(self, last: int = 12) -> str:
        lines = []
        for direction, addr, data in self.transcript[-last:]:
            lines.append(f"  {direction} {addr[0]}:{addr[1]} {data!r}")
        return "\n".join(lines) or "  (nothing)"


# --------------------------------------------------------------------------------------------
# Ports and processes


def free_udp_range(n: int, lo: int = 20000, hi: int = 60000) -> int:
    """A base port P such that P..P+n-1 are free for UDP on 127.0.0.1 right now."""
    import random

    rnd = random.Random(os.getpid() ^ time.time_ns())
    for _ in range(200):
        base = rnd.randrange(lo, hi - n)
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
    raise RuntimeError(f"no {n} consecutive free UDP ports")


class Testnet:
    """`swarmdns testnet -n N --base-port P --seconds S`, waited for until it prints ready."""

    __test__ = False  # not a pytest test class

    def __init__(self, binary, n: int, log_dir: Path, seconds: int = 170):
        self.binary = Path(binary)
        self.n = n
        self.seconds = seconds
        self.log_path = Path(log_dir) / "testnet.log"
        self.base = None
        self.proc = None
        self.stdout = ""

    @property
    def ports(self):
        return list(range(self.base, self.base + self.n))

    def argv(self):
        return [str(self.binary), "testnet", "-n", str(self.n), "--base-port", str(self.base),
                "--seconds", str(self.seconds)]

    def start(self, timeout: float = 15.0, attempts: int = 3):
        last = ""
        for _ in range(attempts):
            self.base = free_udp_range(self.n)
            self.err = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=self.err)
            ok, last = self._wait_ready(timeout)
            if ok:
                return self
            self.stop()
        raise AssertionError(f"`{' '.join(self.argv())}` did not print 'testnet: ready' "
                             f"within {timeout} s\nstdout: {last!r}\n{self.log_tail()}")

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while time.monotonic() < deadline:
                if sel.select(timeout=0.1):
                    chunk = os.read(self.proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    buf += chunk
                    if b"testnet: ready" in buf:
                        self.stdout = buf.decode(errors="replace")
                        return True, self.stdout
                elif self.proc.poll() is not None:
                    break
        finally:
            sel.close()
        self.stdout = buf.decode(errors="replace")
        return False, self.stdout

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.err.close()
        return self.proc.returncode

    def log_tail(self, n: int = 3000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        return "--- testnet stderr (tail) ---\n" + (text[-n:] if text else "(empty)")


# --------------------------------------------------------------------------------------------
# libtorrent


def _as_bytes(x) -> bytes:
    """The bindings give some binary fields as bytes, others (salt) as str."""
    if isinstance(x, str):
        return x.encode("utf-8", "surrogateescape")
    return bytes(x)


def lt_settings(port: int) -> dict:
    """What libtorrent needs to run a DHT node among others on 127.0.0.1 (see issue 3)."""
    import libtorrent as lt

    cat = lt.alert.category_t
    return {
        "listen_interfaces": f"127.0.0.1:{port}",
        "outgoing_interfaces": "",
        "enable_dht": True,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_enforce_node_id": False,
        "dht_prefer_verified_node_ids": False,
        "dht_ignore_dark_internet": False,
        "dht_block_ratelimit": 100000,
        "dht_upload_rate_limit": 10_000_000,
        "dht_max_fail_count": 100,
        "alert_queue_size": 100000,
        "alert_mask": int(cat.dht_notification | cat.dht_operation_notification
                          | cat.error_notification | cat.status_notification
                          | cat.dht_log_notification),
    }


class LtSession:
    """One libtorrent session with its DHT on 127.0.0.1:port; keeps a log of its alerts."""

    def __init__(self, port: int):
        import libtorrent as lt

        self.lt = lt
        self.port = port
        self.ses = lt.session(lt_settings(port))
        self.log = []      # (what, message) of every alert except packets
        self.packets = []  # raw DHT datagrams from dht_pkt_alert (both directions)
        self.pending = []  # alerts not consumed by a waiter yet

    def close(self):
        try:
            self.ses.pause()
        except Exception:
            pass
        self.ses = None

    def add_node(self, port: int):
        self.ses.add_dht_node(("127.0.0.1", port))

    @staticmethod
    def _snapshot(a) -> dict:
        """The alert as plain data: libtorrent frees alerts at the next pop_alerts()."""
        what = a.what()
        d = {"what": what}
        try:
            if what == "dht_mutable_item":
                # item: {'key', 'value' (the decoded v), 'signature', 'seq', 'salt', ...}
                item = a.item
                d.update(key=_as_bytes(a.key), seq=int(a.seq), signature=_as_bytes(a.signature),
                         salt=_as_bytes(a.salt), authoritative=bool(a.authoritative),
                         value=item.get("value") if isinstance(item, dict) else item)
            elif what == "dht_put":
                d.update(public_key=_as_bytes(a.public_key), seq=int(a.seq),
                         signature=_as_bytes(a.signature), num_success=int(a.num_success))
            elif what == "dht_stats":
                d.update(routing_table=[dict(b) for b in a.routing_table],
                         active_requests=list(a.active_requests))
            elif what == "dht_live_nodes":
                nodes = []
                for e in a.nodes:
                    if isinstance(e, dict):
                        nid, ep = e.get("nid"), e.get("endpoint")
                    else:
                        nid, ep = e
                    nodes.append((nid.to_bytes() if hasattr(nid, "to_bytes") else bytes(nid),
                                  tuple(ep)))
                d.update(nodes=nodes)
        except Exception as e:  # keep the message at least
            d["error"] = repr(e)
        return d

    def pump(self):
        """Pops the session's alerts into the logs and the pending list (as plain data)."""
        for a in self.ses.pop_alerts():
            what = a.what()
            if what == "dht_pkt":
                self.packets.append(bytes(a.pkt_buf))
                if len(self.packets) > 5000:
                    del self.packets[:1000]
                continue
            if what == "dht_log":
                self.log.append((what, a.log_message()))
            else:
                self.log.append((what, a.message()))
                self.pending.append(self._snapshot(a))
            if len(self.log) > 5000:
                del self.log[:1000]

    def wait_alert(self, pred, timeout: float):
        """The first pending alert (a dict) for which pred(alert); or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            for i, a in enumerate(self.pending):
                if pred(a):
                    del self.pending[i]
                    return a
            if time.monotonic() >= deadline:
                return None
            self.ses.wait_for_alert(100)

    def take_all(self, what: str):
        self.pump()
        out = [a for a in self.pending if a["what"] == what]
        self.pending = [a for a in self.pending if a["what"] != what]
        return out

    def routing_table_size(self, timeout: float = 2.0):
        """(nodes, replacements) from a dht_stats_alert; None if none came."""
        self.take_all("dht_stats")
        self.ses.post_dht_stats()
        a = self.wait_alert(lambda x: x["what"] == "dht_stats", timeout)
        if a is None or "routing_table" not in a:
            return None
        n = sum(b.get("num_nodes", 0) for b in a["routing_table"])
        r = sum(b.get("num_replacements", 0) for b in a["routing_table"])
        return n, r

    def live_nodes(self, own_id: bytes, timeout: float = 5.0):
        """[(node id, (ip, port))] of the routing table (dht_live_nodes_alert); own_id is this
        session's DHT node id (the bindings ask for it); None if no alert came."""
        self.take_all("dht_live_nodes")
        self.ses.dht_live_nodes(self.lt.sha1_hash(own_id))
        a = self.wait_alert(lambda x: x["what"] == "dht_live_nodes", timeout)
        return None if a is None else a.get("nodes")

    def start_get_mutable(self, pk: bytes, salt: bytes = b""):
        self.take_all("dht_mutable_item")
        self.ses.dht_get_mutable_item(pk, salt)

    def poll_get_mutable(self, pk: bytes, want_seq=None, best=None):
        """(done, best alert so far) of a get started with start_get_mutable; no waiting."""
        for a in self.take_all("dht_mutable_item"):
            if a.get("key") != pk:
                continue
            best = a
            if a.get("authoritative") or (want_seq is not None and a.get("seq") == want_seq):
                return True, a
        return False, best

    def get_mutable(self, pk: bytes, salt: bytes = b"", timeout: float = 20.0, want_seq=None):
        """dht_get_mutable_item; the best dht_mutable_item alert (authoritative, or one with
        want_seq) or the last one seen, or None. Alerts are dicts (see _snapshot)."""
        return get_mutable_all([self], pk, salt, timeout, want_seq)[self.port]

    def put_mutable(self, sk: bytes, pk: bytes, data: bytes, salt: bytes = b"",
                    timeout: float = 20.0):
        """dht_put_mutable_item (value = the bencoded string `data`); the dht_put alert."""
        self.take_all("dht_put")
        self.ses.dht_put_mutable_item(sk, pk, data, salt)
        return self.wait_alert(
            lambda a: a["what"] == "dht_put" and a.get("public_key") == pk, timeout)

    def log_text(self, last: int = 40, include_dht_log: bool = True) -> str:
        rows = [f"  [{w}] {m}" for w, m in self.log if include_dht_log or w != "dht_log"]
        return "\n".join(rows[-last:]) or "  (no alerts)"

    def packets_text(self, last: int = 20, contains: bytes = None) -> str:
        rows = [p for p in self.packets if contains is None or contains in p]
        return "\n".join(f"  {b!r}" for b in rows[-last:]) or "  (no packets)"


def get_mutable_all(sessions, pk: bytes, salt: bytes = b"", timeout: float = 20.0, want_seq=None):
    """dht_get_mutable_item on every session at once; {port: best alert or None} when each
    has an authoritative answer (or one with want_seq), or at the deadline."""
    for s in sessions:
        s.start_get_mutable(pk, salt)
    best = {s.port: None for s in sessions}
    open_ = {s.port: s for s in sessions}
    deadline = time.monotonic() + timeout
    while open_ and time.monotonic() < deadline:
        for port, s in list(open_.items()):
            done, best[port] = s.poll_get_mutable(pk, want_seq, best[port])
            if done:
                del open_[port]
        if open_:
            time.sleep(0.05)
    return best
