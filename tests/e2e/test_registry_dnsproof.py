"""A `dns-proof` registry end to end (issue 11: "dns-proof with Knot DNS as the upstream holding
the TXT record"; docs/registries.md "dns-proof"), all on 127.0.0.1.

Knot DNS serves `example.test` with the TXT record `_swarmdns.alice.example.test.` saying
`swarmdns-claim=<R>,<alice>`, and nothing at `_swarmdns.bob.example.test.`. The registrar's
node (`--registrar`, on a testnet, Knot as its `--upstream`) publishes a dns-proof policy
under `example.test` with `swarmdns registry init`; then through the CLI as a claimant would:

  - `swarmdns register alice.<R>` is accepted (the registrar looked the TXT record up through
    its upstream) and prints the log index;
  - `swarmdns register bob.<R>` is refused, saying which TXT record must say what;
  - a fresh node (`--root p2p=<R>`, the same Knot upstream) resolves `www.alice.p2p.` to
    alice's zone, checking the same TXT record itself;

and a registrar without an upstream refuses to init a dns-proof policy, saying it needs one;
one whose upstream never answers refuses the claim saying so, and answers other requests
while the claim waits (the request is suspended, not the event loop).
"""
import threading
import time

import dns.rcode
import pytest

from conftest import describe, finish_all, free_port, keygen, publish_zone, run_cli
from dhtutil import Testnet
from resolveutil import BlackHole, Knot, addrs, ask, ede_of, have, wait_joined
from test_resolve import ResolveNode

N_TESTNET = 8
JOIN_TIMEOUT = 15.0

pytestmark = pytest.mark.skipif(not have(Knot.binary), reason="knotd is not installed")


def cli(binary, node, *args):
    return run_cli(binary, *args, "--api", node.api_url)


def test_dns_proof_registry_with_knot_upstream(swarmdns_bin, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    reg, alice, bob = (keygen(swarmdns_bin, keys / f"{n}.key") for n in ("r", "alice", "bob"))
    zone = "\n".join([
        "$ORIGIN example.test.", "$TTL 300",
        "@ SOA ns.example.test. admin.example.test. 1 3600 600 86400 300",
        "@ NS ns.example.test.", "ns A 127.0.0.1",
        f'_swarmdns.alice TXT "swarmdns-claim={reg.z32},{alice.z32}"']) + "\n"
    knot = Knot(tmp_path / "knot", free_port(), {"example.test": zone})
    tn = Testnet(swarmdns_bin, N_TESTNET, tmp_path, seconds=120)
    nodes = []
    try:
        knot.start()
        tn.start()
        up = ["--bootstrap", f"127.0.0.1:{tn.base}", "--upstream", f"127.0.0.1:{knot.port}",
              "--dht-rate-limit", "100000"]
        for name, extra in (("registrar", ["--registrar", str(reg.path)]),
                            ("fresh", ["--root", f"p2p={reg.z32}"])):
            (tmp_path / name).mkdir()
            nodes.append(ResolveNode(swarmdns_bin, tmp_path / name, tmp_path,
                                     extra_args=up + extra).start())
        registrar, fresh = nodes
        for n in nodes:
            wait_joined(n, N_TESTNET // 2, JOIN_TIMEOUT)

        cp = cli(swarmdns_bin, registrar, "registry", "init", "--policy", "dns-proof",
                 "--dns-suffix", "example.test")
        assert cp.returncode == 0 and "policy dns-proof published" in cp.stdout, describe(cp)
        policy = registrar.api("GET", f"/v1/registry/{reg.z32}/policy").json()
        assert policy["dns_prefix"] == "_swarmdns" and policy["dns_suffixes"] == [
            "example.test"], policy

        cp = cli(swarmdns_bin, registrar, "register", f"alice.{reg.z32}", "-k", alice.path)
        assert cp.returncode == 0, f"{describe(cp)}\n{knot.log_tail()}"
        assert f"alice.{reg.z32}: registered at log index 0" in cp.stdout, describe(cp)
        cp = cli(swarmdns_bin, registrar, "register", f"bob.{reg.z32}", "-k", bob.path)
        assert cp.returncode == 1, describe(cp)
        assert (f'no TXT record _swarmdns.bob.example.test. saying "swarmdns-claim={reg.z32},'
                f'{bob.z32}"') in cp.stderr, describe(cp)
        assert "publish it in your DNS zone and try again" in cp.stderr, describe(cp)
        # Claiming a domain that is not the label under the policy's suffix is refused too.
        cp = cli(swarmdns_bin, registrar, "register", f"alice2.{reg.z32}", "-k", alice.path,
                 "--dns", "alice.example.test")
        assert cp.returncode == 1 and "the domain is not the same label" in cp.stderr, \
            describe(cp)
        log = registrar.api("GET", f"/v1/registry/{reg.z32}/log/sth").json()
        assert log["size"] == 1, log

        # The fresh node resolves alice's name once the label item is in the DHT.
        publish_zone(swarmdns_bin, registrar, alice, "$TTL 60\nwww A 192.0.2.88\n")
        rec = registrar.api("GET", f"/v1/registry/{reg.z32}/name/alice").json()
        deadline = time.monotonic() + 10
        while True:
            got = fresh.api("GET", f"/v1/dht/{reg.z32}?salt=alice", timeout=15)
            if got.status == 200 and got.json().get("seq") == rec["seq"]:
                break
            assert time.monotonic() < deadline, f"label item not in the DHT: {got.body!r}"
            time.sleep(0.2)
        r = ask(fresh, "www.alice.p2p.")
        assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["192.0.2.88"], (
            f"{r}\n{ede_of(r)}\n{fresh.stderr_tail()}\n{knot.log_tail()}")
    finally:
        errors = finish_all(nodes)
        tn.stop()
        knot.stop()
    assert not errors, errors


def test_dns_proof_needs_an_upstream(swarmdns_bin, node_factory, make_key):
    reg = make_key()
    node = node_factory(extra_args=["--registrar", str(reg.path)]).start()  # --upstream none
    cp = cli(swarmdns_bin, node, "registry", "init", "--policy", "dns-proof")
    assert cp.returncode == 1, describe(cp)
    assert "dns-proof needs an upstream" in cp.stderr and "--upstream" in cp.stderr, describe(cp)
    assert node.api("GET", f"/v1/registry/{reg.z32}/policy").status == 404


def test_dns_proof_upstream_that_never_answers(swarmdns_bin, tmp_path, make_key):
    reg, alice = make_key(), make_key()
    hole = BlackHole(free_port())
    (tmp_path / "node").mkdir()
    node = ResolveNode(swarmdns_bin, tmp_path / "node", tmp_path, extra_args=[
        "--registrar", str(reg.path), "--upstream", f"127.0.0.1:{hole.port}"])
    try:
        node.start()
        cp = cli(swarmdns_bin, node, "registry", "init", "--policy", "dns-proof")
        assert cp.returncode == 0, describe(cp)
        out = {}
        t = threading.Thread(target=lambda: out.update(cp=cli(
            swarmdns_bin, node, "register", f"alice.{reg.z32}", "-k", alice.path,
            "--dns", "alice.example.test")))
        t.start()
        # While the registrar waits for the upstream, the API answers other requests.
        deadline = time.monotonic() + 5
        while hole.received == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hole.received > 0 and t.is_alive(), "the TXT query never reached the upstream"
        started = time.monotonic()
        assert node.api("GET", "/v1/status").status == 200
        assert time.monotonic() - started < 0.5
        t.join(15)
        cp = out["cp"]
        assert cp.returncode == 1, describe(cp)
        assert "HTTP 502" in cp.stderr and ("the upstream did not answer the TXT query for "
                                            "_swarmdns.alice.example.test.") in cp.stderr, \
            describe(cp)
        assert node.api("GET", f"/v1/registry/{reg.z32}/name/alice").status == 404
    finally:
        errors = finish_all([node])
        hole.close()
    assert not errors, errors
