"""`swarmdns publish --bootstrap`: with no node running, the zone goes straight into a DHT,
and another node resolves it from there (issue 4, "Publishing")."""
import re

from conftest import Node, run_cli, write_zone
from dhtutil import KrpcClient, Testnet, mutable_target

ZONE = "$TTL 3600\nwww A 192.0.2.77\n"


class JoinedNode(Node):
    def __init__(self, binary, base, boot_port):
        super().__init__(binary, base / "data", base)
        self.boot_port = boot_port

    def argv(self):
        return super().argv() + ["--bootstrap", f"127.0.0.1:{self.boot_port}",
                                 "--dht-rate-limit", "100000"]


def test_publish_bootstrap_without_node(swarmdns_bin, make_key, tmp_path):
    tn = Testnet(swarmdns_bin, 12, tmp_path, seconds=60).start()
    node = None
    try:
        key = make_key()
        zone = write_zone(tmp_path, ZONE)
        cp = run_cli(swarmdns_bin, "publish", "-k", key.path, "--bootstrap",
                     f"127.0.0.1:{tn.ports[0]}", zone, timeout=60)
        assert cp.returncode == 0, cp.stderr
        m = re.search(r"seq (\d+), packet \d+ of 996 bytes, stored by (\d+) of (\d+) DHT",
                      cp.stdout)
        assert m, cp.stdout
        seq, stored = int(m.group(1)), int(m.group(2))
        assert stored >= 1
        assert "joining the DHT" in cp.stderr, "progress is shown while it waits"

        # The item is on the testnet nodes, with that seq.
        target = mutable_target(key.pub)
        found = 0
        with KrpcClient() as kc:
            for port in tn.ports:
                _sent, _raw, r = kc.query(port, "get", {"target": target})
                if r and r.get(b"r", {}).get(b"seq") == seq:
                    found += 1
        assert found >= 1

        # Publishing again takes a higher seq.
        cp2 = run_cli(swarmdns_bin, "publish", "-k", key.path, "--bootstrap",
                      f"127.0.0.1:{tn.ports[3]}", zone, timeout=60)
        assert cp2.returncode == 0, cp2.stderr
        seq2 = int(re.search(r"seq (\d+)", cp2.stdout).group(1))
        assert seq2 > seq

        # Another node resolves it from the DHT.
        node = JoinedNode(swarmdns_bin, tmp_path, tn.ports[5])
        node.start()
        resp = node.query(key.name("www"), "A")
        assert [rr.to_text() for rr in resp.answer[0]] == ["192.0.2.77"]
    finally:
        if node:
            node.stop()
        tn.stop()


def test_publish_bootstrap_nobody_there(swarmdns_bin, make_key, tmp_path):
    key = make_key()
    zone = write_zone(tmp_path, ZONE)
    # A port with nothing behind it on loopback.
    cp = run_cli(swarmdns_bin, "publish", "-k", key.path, "--bootstrap", "127.0.0.1:9",
                 zone, timeout=60)
    assert cp.returncode == 1
    assert "no DHT node answered" in cp.stderr
