"""Keeping a registry's log and items (docs/registries.md "Mirroring a log"), on a local
testnet of 5 DHT nodes.

A node with `audit <R>` (no URL) and `audit-mirror yes`, started once R signs nothing new,
copies R's log from the registrar URL of R's policy (it used to wait for R's tree head to grow
before asking the policy, and copied nothing).
"""
import time

from conftest import Node, describe, finish_all, run_cli
from dhtutil import Testnet
from test_registry_audit import cli, wait_good


def registrar(swarmdns_bin, tmp_path, reg, join=()):
    """A node running registry R."""
    (tmp_path / "registrar").mkdir()
    return Node(swarmdns_bin, tmp_path / "registrar", tmp_path,
                [*join, "--registrar", str(reg.path)]).start()


def register_all(swarmdns_bin, a, reg, names):
    """R made a closed registry whose policy names a's URL, that gives out names (label ->
    owner key)."""
    cp = cli(swarmdns_bin, a, "registry", "init", "--policy", "closed", "--url", a.api_url)
    assert cp.returncode == 0, describe(cp)
    for label, owner in names.items():
        cp = cli(swarmdns_bin, a, "register", f"{label}.{reg.z32}", "-k", owner.path,
                 "--registry-key", reg.path)
        assert cp.returncode == 0, describe(cp)


def test_mirror_without_url_copies_a_log_that_does_not_grow(swarmdns_bin, tmp_path, make_key):
    reg, alice, bob = (make_key() for _ in range(3))
    testnet = Testnet(swarmdns_bin, 5, tmp_path, seconds=60).start()
    nodes = []
    try:
        join = ["--bootstrap", f"127.0.0.1:{testnet.base}"]
        a = registrar(swarmdns_bin, tmp_path, reg, join)
        nodes.append(a)
        wait_good([a])
        register_all(swarmdns_bin, a, reg, {"alice": alice, "bob": bob})
        sth = a.api("GET", f"/v1/registry/{reg.z32}/log/sth").json()
        assert sth["size"] == 2, sth

        # Started after the last registration: R's tree head never grows in its life.
        (tmp_path / "mirror").mkdir()
        m = Node(swarmdns_bin, tmp_path / "mirror", tmp_path,
                 join + ["--audit", reg.z32, "--audit-interval", "1",
                         "--audit-mirror", "yes"]).start()
        nodes.append(m)
        deadline = time.monotonic() + 10
        got = None
        while time.monotonic() < deadline:
            r = m.api("GET", f"/v1/registry/{reg.z32}/log/sth")
            got = r.json() if r.status == 200 else r.body
            if r.status == 200 and got["size"] == 2 and got["head"]:
                break
            time.sleep(0.2)
        assert isinstance(got, dict) and got["size"] == 2 and got["root"] == sth["root"], \
            f"{got}\n{m.stderr_tail()}"
        cp = run_cli(swarmdns_bin, "registry", "verify", reg.z32, "--no-dht", "--api",
                     m.api_url)
        assert cp.returncode == 0 and "2 entries, 2 names" in cp.stdout, describe(cp)
    finally:
        errors = finish_all(nodes)
        testnet.stop()
    assert not errors, errors
