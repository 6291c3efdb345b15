"""A fake upstream DNS server for the forwarder's end-to-end tests (test_forward_spoof.py,
test_join.py): UDP and TCP on one port of 127.0.0.1, every query recorded, answers late on
purpose, optionally preceded by wrong-ID forgeries. Answers come from dnspython, not from
swarmdns's own code. `with_upstream()` points a conftest Node at it."""
import socket
import struct
import threading
import time

import dns.message
import dns.rcode
import dns.rrset
import pytest

from conftest import free_port

REAL_ADDR = "192.0.2.7"
FORGED_ADDR = "6.6.6.6"


def with_upstream(node, port: int):
    """Makes node forward to 127.0.0.1:port instead of conftest's `--upstream none` (a
    repeated option would make a list with `none` in it)."""
    argv = node.argv

    def replaced():
        a = argv()
        a[a.index("--upstream") + 1] = f"127.0.0.1:{port}"
        return a

    node.argv = replaced
    return node


class FakeUpstream:
    """A DNS server on 127.0.0.1 (UDP and TCP, one port) that answers A queries with
    REAL_ADDR after `delay` seconds and records every query. With `spoof` = N, each UDP query
    is first answered N times with a wrong ID and FORGED_ADDR. `answer_fn(query)` may
    replace the answer: it returns a response message, or None for no answer at all."""

    def __init__(self, delay: float = 0.3, spoof: int = 0, answer_fn=None):
        self.delay = delay
        self.spoof = spoof
        self.answer_fn = answer_fn
        self.lock = threading.Lock()
        self.udp_queries = []  # (source port, query message)
        self.tcp_queries = []
        self.stopping = False
        for _ in range(20):
            port = free_port()
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.udp.bind(("127.0.0.1", port))
                self.tcp.bind(("127.0.0.1", port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise RuntimeError("no free port for the fake upstream")
        self.port = port
        self.tcp.listen(16)
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def reply(self, q: dns.message.Message):
        if self.answer_fn is not None:
            r = self.answer_fn(q)
            return None if r is None else r.to_wire()
        return self.answer(q, REAL_ADDR)

    def answer(self, q: dns.message.Message, addr: str) -> bytes:
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(q.question[0].name, 300, "IN", "A", addr))
        return r.to_wire()

    def _udp_loop(self):
        while not self.stopping:
            try:
                wire, src = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(wire)
            except Exception:
                continue
            with self.lock:
                self.udp_queries.append((src[1], q))
            for i in range(self.spoof):
                forged = bytearray(self.answer(q, FORGED_ADDR))
                struct.pack_into("!H", forged, 0, (q.id + 1 + i) & 0xFFFF)
                self.udp.sendto(bytes(forged), src)
            real = self.reply(q)
            if real is None:
                continue
            t = threading.Timer(self.delay, self._send_late, (real, src))
            t.daemon = True
            t.start()

    def _send_late(self, wire, dst):
        try:
            self.udp.sendto(wire, dst)
        except OSError:
            pass

    def _tcp_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn):
        with conn:
            conn.settimeout(5)
            try:
                hdr = conn.recv(2, socket.MSG_WAITALL)
                (n,) = struct.unpack("!H", hdr)
                q = dns.message.from_wire(conn.recv(n, socket.MSG_WAITALL))
            except Exception:
                return
            with self.lock:
                self.tcp_queries.append(q)
            time.sleep(self.delay)
            a = self.reply(q)
            if a is None:
                return
            try:
                conn.sendall(struct.pack("!H", len(a)) + a)
            except OSError:
                pass

    def close(self):
        self.stopping = True
        for t in self.threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()




@pytest.fixture
def upstream_factory():
    """Makes FakeUpstream servers; all are closed at teardown."""
    made = []

    def make(**kw):
        u = FakeUpstream(**kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()
