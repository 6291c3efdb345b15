"""A network namespace with public-looking addresses, for the tests that need BEP 42 and the
address-diversity rules to apply (loopback and private addresses are exempt from both).

`Netns` makes one namespace and a veth pair whose both ends live inside it (nothing is added
to the machine's own interfaces or routes, and nothing can leave the namespace): every address
the test asks for (`add()`, e.g. 198.18.1.1, 100.65.7.1) is put on the namespace's side, so the
swarmdns nodes, the honest nodes and the hostile nodes each have their own address, in
distinct /24s and /16s, and talk to each other with those as source addresses.

- `inside()`: a context manager that moves the calling thread into the namespace (setns(2));
  sockets made and processes started there (subprocess) belong to the namespace, so the
  conftest helpers (Node, dnspython, http.client on 127.0.0.1) work unchanged inside it;
- `socket(ip)`: a UDP socket bound to ip:0 inside the namespace (for hostile.py);
- `remove()`: deletes the namespace (and with it every interface and address); also done by
  the context manager and at interpreter exit, whatever happened.

`available()` says whether namespaces can be made here (root, ip(8), setns), with the reason.
"""
import atexit
import contextlib
import ctypes
import os
import socket
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_live = set()


def _ip(*args, check=True):
    cp = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and cp.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed (exit {cp.returncode}): "
                           f"{cp.stderr.strip()}")
    return cp


def _setns(fd: int):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def available():
    """(True, '') or (False, why namespaces cannot be used here)."""
    if os.geteuid() != 0:
        return False, "not root: network namespaces need CAP_SYS_ADMIN"
    name = f"swdns-{os.getpid()}-probe"
    try:
        _ip("netns", "add", name)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        return False, f"cannot create a network namespace: {e}"
    try:
        fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(fd)
            _setns(own)
        finally:
            os.close(fd)
            os.close(own)
    except OSError as e:
        return False, f"cannot enter a network namespace: {e}"
    finally:
        _ip("netns", "del", name, check=False)
    return True, ""


def _remove_stale():
    """Removes the namespaces of earlier runs whose process is gone (killed with SIGKILL,
    so that neither teardown nor atexit ran): swdns-<pid>-<tag> with no process <pid>."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) >= 3 and parts[0] == "swdns" and parts[1].isdigit() \
                and not os.path.exists(f"/proc/{parts[1]}"):
            _ip("netns", "del", name, check=False)


class Netns:
    """One namespace `swdns-<pid>-<tag>` with lo up and a veth pair (both ends inside)."""

    def __init__(self, tag: str):
        self.name = f"swdns-{os.getpid()}-{tag}"
        self.addrs = []
        _remove_stale()
        _ip("netns", "del", self.name, check=False)
        _ip("netns", "add", self.name)
        _live.add(self.name)
        try:
            self.exec("ip", "link", "set", "lo", "up")
            # Both ends of the pair inside: a real link (not lo) for the public-looking
            # addresses, whose traffic never leaves the namespace.
            self.exec("ip", "link", "add", "swa", "type", "veth", "peer", "name", "swb")
            self.exec("ip", "link", "set", "swa", "up")
            self.exec("ip", "link", "set", "swb", "up")
        except BaseException:
            self.remove()
            raise

    def exec(self, *argv):
        cp = subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                            text=True, timeout=10)
        if cp.returncode != 0:
            raise RuntimeError(f"`{' '.join(argv)}` in {self.name} failed: {cp.stderr.strip()}")
        return cp.stdout

    def add(self, *ips):
        """Puts these addresses (/32) on the namespace's veth; returns them."""
        for ip in ips:
            self.exec("ip", "addr", "add", f"{ip}/32", "dev", "swa")
            self.addrs.append(ip)
        return list(ips)

    @contextlib.contextmanager
    def inside(self):
        """Runs the block with the calling thread in the namespace (and back after)."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/var/run/netns/{self.name}", os.O_RDONLY)
        try:
            _setns(fd)
            try:
                yield self
            finally:
                _setns(own)
        finally:
            os.close(fd)
            os.close(own)

    def socket(self, ip: str) -> socket.socket:
        """A UDP socket bound to ip:0 inside the namespace."""
        with self.inside():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ip, 0))
        return s

    def remove(self):
        _ip("netns", "del", self.name, check=False)
        _live.discard(self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


@atexit.register
def _remove_all():
    for name in list(_live):
        _ip("netns", "del", name, check=False)
