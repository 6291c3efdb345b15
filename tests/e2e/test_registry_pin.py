"""Keeping a registry's items alive (docs/registries.md "Pinning a registry", "Pinning a
name", "Mirroring a log"), on a local testnet of 5 DHT nodes.

The registrar's node gives out alice, bob and carol, then carol is released; it never joins
the DHT (`--bootstrap none`), so nothing it signs reaches the DHT and it re-puts nothing.
The test signs R's policy item (naming the registrar's URL, `api=`), its tree head (the root
the registrar serves) and label items of the three names with R's key and puts them into one
testnet node only. A fresh storage node
joins afterwards: it holds none of them (asked directly over KRPC). Then:

- an owner's node with `pin alice.p2p` (under `root p2p=<R>`) re-puts alice's label item at
  its first republish round (3 s after joining): the fresh node holds it, and not bob's; a
  pinned name nobody registered is reported in the log;
- a node with `pin <R>` and no copy of R's log reads the log from the registrar URL of R's
  policy (another, from the URL of its `audit <R>=URL`), replays it, and re-puts the policy,
  the tree head and the live label items: the fresh node holds bob's too, and never carol's
  (released).

Every check is of the fresh node's own storage, which only these nodes' puts fill. The DHT
has 9 nodes at most, so a put reaches every other node (BEP 44 puts to the K = 8 closest).

And a node with `audit <R>` (no URL) and `audit-mirror yes`, started once R signs nothing
new, copies R's log from the registrar URL of R's policy (it used to wait for R's tree head
to grow before asking the policy, and copied nothing).
"""
import time

from conftest import Node, describe, finish_all, run_cli, zone_packet
from dhtutil import KrpcClient, Testnet, mutable_target
from test_registry_audit import cli, logged, wait_good
from test_registry_resolve import label_packet, policy_packet, put_everywhere, signed


def holds(c, port, reg, salt):
    """The v that the DHT node on port stores under R and salt (a KRPC get), or None."""
    _, _, msg = c.query(port, "get", {"target": mutable_target(reg.pub, salt.encode())})
    assert msg is not None and msg.get(b"y") == b"r", f"no answer from port {port}: {msg}"
    return msg[b"r"].get(b"v")


def wait_holds(c, port, reg, salt, within=10):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if holds(c, port, reg, salt) is not None:
            return True
        time.sleep(0.2)
    return False


def wait_logged(node, text, within=15):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not logged(node, text):
        time.sleep(0.2)
    assert logged(node, text), f"not logged: {text!r}\n{node.stderr_tail()}"


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


def test_owner_node_and_registry_pin_reput_label_items(swarmdns_bin, tmp_path, make_key):
    reg, alice, bob, carol = (make_key() for _ in range(4))
    testnet = Testnet(swarmdns_bin, 5, tmp_path, seconds=60).start()
    nodes = []
    try:
        join = ["--bootstrap", f"127.0.0.1:{testnet.base}"]
        a = registrar(swarmdns_bin, tmp_path, reg)
        nodes.append(a)
        register_all(swarmdns_bin, a, reg, {"alice": alice, "bob": bob, "carol": carol})
        cp = cli(swarmdns_bin, a, "registry", "release", f"carol.{reg.z32}", "-k", carol.path)
        assert cp.returncode == 0, describe(cp)

        # R's items in one node of the testnet only: its policy, its tree head (the root of
        # the registrar's log) and the label items.
        sth = a.api("GET", f"/v1/registry/{reg.z32}/log/sth").json()
        assert sth["size"] == 4, sth
        head = zone_packet(reg.origin, [("_log", "TXT", f'"size=4" "root={sth["root"]}" '
                                         f'"time={int(time.time())}"')])
        with KrpcClient() as c:
            items = [signed(reg.seed, policy_packet(reg.z32, "closed", [f"api={a.api_url}"]),
                            b"_policy"), signed(reg.seed, head, b"_log")]
            for label, owner in (("alice", alice), ("bob", bob), ("carol", carol)):
                items.append(signed(reg.seed, label_packet(reg.z32, label, owner.z32),
                                    label.encode()))
            for it in items:
                assert put_everywhere(c, testnet.ports[:1], it) == 1

            # A fresh storage node: none of R's items.
            (tmp_path / "fresh").mkdir()
            f = Node(swarmdns_bin, tmp_path / "fresh", tmp_path, join).start()
            nodes.append(f)
            wait_good([f])
            fport = f.dht_port()
            for salt in ("_policy", "_log", "alice", "bob", "carol"):
                assert holds(c, fport, reg, salt) is None, salt

            # The owner's node pins its own name, and a name nobody registered.
            (tmp_path / "owner").mkdir()
            o = Node(swarmdns_bin, tmp_path / "owner", tmp_path,
                     join + ["--root", f"p2p={reg.z32}", "--pin", "alice.p2p",
                             "--pin", "nobody.p2p"]).start()
            nodes.append(o)
            wait_logged(o, f"pinned name alice.p2p (alice.{reg.z32}): its label item (seq 1) "
                        "re-put")
            wait_logged(o, f"pinned name nobody.p2p (nobody.{reg.z32}): no label item of it "
                        "found in the DHT")
            assert wait_holds(c, fport, reg, "alice"), o.stderr_tail()
            assert holds(c, fport, reg, "bob") is None

            # Nodes pinning R without a copy of its log: the log from the policy's URL, and
            # from the URL of the audit option (written with a final slash here, so that the
            # log line shows which was read).
            (tmp_path / "pinner").mkdir()
            p = Node(swarmdns_bin, tmp_path / "pinner", tmp_path,
                     join + ["--pin", reg.z32]).start()
            nodes.append(p)
            (tmp_path / "pinner2").mkdir()
            p2 = Node(swarmdns_bin, tmp_path / "pinner2", tmp_path,
                      join + ["--pin", reg.z32, "--audit", f"{reg.z32}={a.api_url}/"]).start()
            nodes.append(p2)
            wait_logged(p, f"pinned registry {reg.z32}: 4 new entries of its log read from "
                        f"{a.api_url} (4 of 4)")
            wait_logged(p2, f"pinned registry {reg.z32}: 4 new entries of its log read from "
                        f"{a.api_url}/ (4 of 4)")
            # The policy, the tree head and the live labels alice and bob.
            wait_logged(p, f"pinned registry {reg.z32}: 4 of its 4 items re-put (policy, tree "
                        "head and 2 live labels)")
            assert wait_holds(c, fport, reg, "bob"), p.stderr_tail()
            assert wait_holds(c, fport, reg, "_policy"), p.stderr_tail()
            assert wait_holds(c, fport, reg, "_log"), p.stderr_tail()
            assert holds(c, fport, reg, "carol") is None
    finally:
        errors = finish_all(nodes)
        testnet.stop()
    assert not errors, errors


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
