"""Auditing a registry's log (docs/registries.md "What an auditor checks", "Verifying a log"):
`swarmdns registry verify` and a node's option `audit`, on a local testnet.

A registrar gives out names, transfers one and releases another; `registry verify` finds the
log consistent with its signed tree head and with every label item the DHT holds. Then the
registrar forks its log: the same registry key serves another log (another run's data-dir,
swapped in), which lacks the names the label items in the DHT hold. `registry verify
--label` reports each such label item and exits 1; a node with `audit R=URL` finds that the
forked log's tree head does not extend the one it verified (and so does a node with `audit R`
alone, which asks the registrar URL of the policy) and says so in its log,
/v1/status and /metrics, keeping the last verified head (in LMDB, across a restart). With
`audit-mirror`, the auditor serves a copy of the log it verified, and not the forked one; with
`pin <R>` it re-puts the registry's items, the label items of the names live in its copy.

A node with `audit R` also checks the label items it resolves against the log: a registered
name's is in it; a label item signed by R by hand (the test holds R's key) and put into the
DHT, which R's log does not hold (at an index where the log has another entry, or beyond
every tree head), is reported in the node's log, /v1/status and /metrics, and the verdicts
and counts stay across a restart.
"""
import time

import dns.rcode

from conftest import (Node, describe, finish_all, publish_zone, query, run_cli,
                      zone_packet)
from dhtutil import KrpcClient, Testnet
from test_registry_resolve import put_everywhere, signed


def cli(binary, node, *args):
    return run_cli(binary, *args, "--api", node.api_url)


def wait_good(nodes, good=4, within=15):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and \
            min(n.status()["dht"]["good_nodes"] for n in nodes) < good:
        time.sleep(0.1)


def wait_item(node, reg, salt, within=10):
    """The salted item of reg the node's DHT get finds (GET /v1/dht/<R>?salt=)."""
    deadline = time.monotonic() + within
    got = None
    while time.monotonic() < deadline:
        r = node.api("GET", f"/v1/dht/{reg.z32}?salt={salt}", timeout=15)
        got = r.json()
        if r.status == 200:
            return got
        time.sleep(0.3)
    return got


def wait_audit(node, cond, within=15):
    """The node's /v1/status registries.audit row (one registry audited) once cond holds."""
    deadline = time.monotonic() + within
    row = None
    while time.monotonic() < deadline:
        row = node.status().get("registries", {}).get("audit", [None])[0]
        if row and cond(row):
            return row
        time.sleep(0.2)
    raise AssertionError(f"audit state not reached within {within} s: {row}")


def test_verify_usage(swarmdns_bin):
    cp = run_cli(swarmdns_bin, "registry", "verify", "--help")
    assert cp.returncode == 0 and "registry verify REGISTRY" in cp.stdout, describe(cp)
    cp = run_cli(swarmdns_bin, "registry", "verify", "not-a-key")
    assert cp.returncode == 2 and "not a registry key" in cp.stderr, describe(cp)
    cp = run_cli(swarmdns_bin, "registry", "verify", "x" * 52, "--label", "_policy")
    assert cp.returncode == 2 and "--label takes a label" in cp.stderr, describe(cp)


def test_verify_consistent_then_forked(swarmdns_bin, tmp_path, make_key):
    reg, alice, bob, carol, dave = (make_key() for _ in range(5))
    testnet = Testnet(swarmdns_bin, 12, tmp_path, seconds=120).start()
    nodes = []
    try:
        join = ["--bootstrap", f"127.0.0.1:{testnet.base}", "--dht-rate-limit", "100000"]
        (tmp_path / "registrar").mkdir()
        a = Node(swarmdns_bin, tmp_path / "registrar", tmp_path,
                 join + ["--registrar", str(reg.path)]).start()
        nodes.append(a)
        # The auditor asks the registrar's node for consistency proofs, and mirrors the log.
        (tmp_path / "auditor").mkdir()
        b = Node(swarmdns_bin, tmp_path / "auditor", tmp_path,
                 join + ["--audit", f"{reg.z32}={a.api_url}", "--audit-interval", "1",
                         "--audit-mirror", "yes", "--pin", reg.z32]).start()
        nodes.append(b)
        # Another auditor is given no URL: it asks the registrar URL the policy publishes.
        (tmp_path / "auditor2").mkdir()
        c = Node(swarmdns_bin, tmp_path / "auditor2", tmp_path,
                 join + ["--audit", reg.z32, "--audit-interval", "1"]).start()
        nodes.append(c)
        wait_good(nodes)
        assert cli(swarmdns_bin, a, "registry", "init", "--policy", "closed", "--url",
                   a.api_url).returncode == 0
        for who, label in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            cp = cli(swarmdns_bin, a, "register", f"{label}.{reg.z32}", "-k", who.path,
                     "--registry-key", reg.path)
            assert cp.returncode == 0, describe(cp)
        cp = cli(swarmdns_bin, a, "registry", "transfer", f"bob.{reg.z32}", "--to", dave.z32,
                 "-k", bob.path)
        assert cp.returncode == 0, describe(cp)
        cp = cli(swarmdns_bin, a, "registry", "release", f"carol.{reg.z32}", "-k", carol.path)
        assert cp.returncode == 0, describe(cp)
        for label in ("alice", "bob"):
            assert wait_item(b, reg, label).get("found"), label

        # The whole log, each entry, and the label items the other node finds in the DHT.
        cp = run_cli(swarmdns_bin, "registry", "verify", reg.z32, "--api", a.api_url)
        assert cp.returncode == 0, describe(cp)
        assert "5 entries, 3 names" in cp.stdout and "verified" in cp.stdout, describe(cp)
        assert "INCONSISTENT" not in cp.stdout and cp.stdout.rstrip().endswith("consistent"), \
            describe(cp)
        found = [ln for ln in cp.stdout.splitlines() if "have a label item in the DHT" in ln]
        assert found and int(found[0].split()[0]) >= 2, describe(cp)

        # The auditor has verified the registry's tree head of 5 entries.
        audit = wait_audit(b, lambda r: r["verified_size"] == 5)
        assert audit["state"] == "consistent" and audit["failures"] == 0, audit
        assert audit["registry"] == reg.z32 and audit["source"] == a.api_url, audit
        audit = wait_audit(c, lambda r: r["verified_size"] == 5)
        assert audit["state"] == "consistent", audit

        # The mirror serves the log it verified: verify checks it against the signed head.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = b.api("GET", f"/v1/registry/{reg.z32}/log/sth")
            if r.status == 200 and r.json()["size"] == 5 and r.json()["head"]:
                break
            time.sleep(0.2)
        assert r.status == 200 and r.json()["size"] == 5, r.body
        cp = run_cli(swarmdns_bin, "registry", "verify", reg.z32, "--no-dht", "--api",
                     b.api_url)
        assert cp.returncode == 0 and "5 entries, 3 names" in cp.stdout, describe(cp)
        mirrored = b.api("GET", f"/v1/registry/{reg.z32}/log/entries?start=0&end=4").json()
        served = a.api("GET", f"/v1/registry/{reg.z32}/log/entries?start=0&end=4").json()
        assert mirrored["entries"] == served["entries"]

        # The fork: the same key, another run's log (another data-dir), served by the node
        # in place of the first. Its entry 0 is not alice's registration.
        a.stop()
        (tmp_path / "fork").mkdir()
        f = Node(swarmdns_bin, tmp_path / "fork", tmp_path,
                 ["--registrar", str(reg.path)]).start()
        nodes.append(f)
        assert cli(swarmdns_bin, f, "registry", "init", "--policy", "closed", "--url",
                   a.api_url).returncode == 0
        for i in range(8):
            cp = cli(swarmdns_bin, f, "register", f"m{i}.{reg.z32}", "-k", alice.path,
                     "--registry-key", reg.path)
            assert cp.returncode == 0, describe(cp)
        f.stop()
        a.data_dir, f.data_dir = f.data_dir, a.data_dir
        a.start()
        # One more registration: the forked log's tree head (9 entries, a higher seq) goes
        # into the DHT; the auditor finds that it does not extend the 5 it verified.
        cp = cli(swarmdns_bin, a, "register", f"m8.{reg.z32}", "-k", alice.path,
                 "--registry-key", reg.path)
        assert cp.returncode == 0, describe(cp)
        audit = wait_audit(b, lambda r: r["failures"] >= 1)
        assert audit["state"] == "inconsistent" and audit["verified_size"] == 5, audit
        assert "fork" in audit["last_error"], audit
        audit = wait_audit(c, lambda r: r["failures"] >= 1)
        assert audit["verified_size"] == 5 and audit["source"] == a.api_url, audit
        metrics = b.api("GET", "/metrics").body.decode()
        line = f'swarmdns_registry_audit_failures_total{{registry="{reg.z32}"}} '
        assert any(ln.startswith(line) and int(ln.split()[-1]) >= 1
                   for ln in metrics.splitlines()), metrics
        assert f'swarmdns_registry_audit_verified_size{{registry="{reg.z32}"}} 5' in metrics
        assert "INCONSISTENT" in b.stderr_path.read_text(errors="replace")
        # The mirror did not take the forked log's entries.
        assert b.api("GET", f"/v1/registry/{reg.z32}/log/sth").json()["size"] == 5
        # The auditor keeps it across a restart: the last verified head is in its LMDB.
        b.stop()
        b.start()
        audit = wait_audit(b, lambda r: r["checked"] > 0)
        assert audit["verified_size"] == 5, audit
        # It pins the registry: with the log mirrored, it re-puts the policy, the tree head
        # and the label items of the live names (alice and bob; carol was released).
        deadline = time.monotonic() + 15
        want = f"pinned registry {reg.z32}: 4 of its 4 items re-put (policy, tree head and " \
            "2 live labels)"
        while time.monotonic() < deadline and \
                want not in b.stderr_path.read_text(errors="replace"):
            time.sleep(0.2)
        assert want in b.stderr_path.read_text(errors="replace"), b.stderr_tail()

        # Its entries are consistent in themselves and with its signed head; the label
        # items of the names the first log gave out are still in the DHT, and this log has
        # no entry of them: the fork shows when verify looks them up.
        cp = run_cli(swarmdns_bin, "registry", "verify", reg.z32, "--api", a.api_url)
        assert cp.returncode == 0 and "9 entries, 9 names" in cp.stdout, describe(cp)
        cp = run_cli(swarmdns_bin, "registry", "verify", reg.z32, "--label", "alice",
                     "--label", "bob", "--api", a.api_url)
        assert cp.returncode == 1, describe(cp)
        for label in ("alice", "bob"):
            assert f"INCONSISTENT: the label item of {label} (log index" in cp.stdout \
                and f"the log has no entry of {label}" in cp.stdout, describe(cp)
        assert "2 inconsistencies" in cp.stdout, describe(cp)
        # The log alone is consistent in itself: only the DHT shows the fork.
        cp = run_cli(swarmdns_bin, "registry", "verify", reg.z32, "--no-dht", "--api",
                     a.api_url)
        assert cp.returncode == 0 and "consistent" in cp.stdout, describe(cp)
    finally:
        errors = finish_all(nodes)
        testnet.stop()
    assert not errors, errors


def forged_label(reg, label, owner_z32, index):
    """A label item of label signed with R's key whose record claims log index `index`, as
    the closed policy of `registry init` wants it (no expiry, no evidence), never logged."""
    rec = [f"owner={owner_z32}", f"index={index}", "expires=0",
           f"registered={int(time.time()) - 60}"]
    packet = zone_packet(reg.origin, [
        (label, "NS", f"{owner_z32}."),
        (f"_reg.{label}", "TXT", " ".join(f'"{s}"' for s in rec))])
    return signed(reg.seed, packet, label.encode())


def resolve_until(node, name, cond, within=15):
    """Asks node for name (A) until its audit row satisfies cond; returns the row."""
    deadline = time.monotonic() + within
    row = None
    while time.monotonic() < deadline:
        try:
            query(node.dns_port, name, "A", timeout=3)
        except Exception:  # a timeout while the lookup runs: ask again
            pass
        row = node.status().get("registries", {}).get("audit", [None])[0]
        if row and cond(row):
            # The row as it is now: cond may read the node's log, written after row.
            return node.status()["registries"]["audit"][0]
        time.sleep(0.3)
    raise AssertionError(f"audit state not reached within {within} s: {row}")


def ask_a(node, name, within=10):
    """The A answer for name once it is not SERVFAIL (the owner's zone may still be on its
    way into the DHT), or the last one."""
    deadline = time.monotonic() + within
    while True:
        r = query(node.dns_port, name, "A", timeout=within)
        if r.rcode() != dns.rcode.SERVFAIL or time.monotonic() >= deadline:
            return r
        time.sleep(0.3)


def metric(node, name, reg):
    lines = node.api("GET", "/metrics").body.decode().splitlines()
    want = f'{name}{{registry="{reg.z32}"}} '
    got = [int(ln.split()[-1]) for ln in lines if ln.startswith(want)]
    assert got, f"no {want} in /metrics"
    return got[0]


def logged(node, text):
    return text in node.stderr_path.read_text(errors="replace")


def test_auditor_checks_label_items_it_resolves(swarmdns_bin, tmp_path, make_key):
    reg, alice, carol, mallory = (make_key() for _ in range(4))
    testnet = Testnet(swarmdns_bin, 8, tmp_path, seconds=90).start()
    nodes = []
    try:
        join = ["--bootstrap", f"127.0.0.1:{testnet.base}", "--dht-rate-limit", "100000"]
        (tmp_path / "registrar").mkdir()
        a = Node(swarmdns_bin, tmp_path / "registrar", tmp_path,
                 join + ["--registrar", str(reg.path)]).start()
        nodes.append(a)
        (tmp_path / "auditor").mkdir()
        b = Node(swarmdns_bin, tmp_path / "auditor", tmp_path,
                 join + ["--audit", f"{reg.z32}={a.api_url}", "--audit-interval", "1"]).start()
        nodes.append(b)
        # Another auditor mirrors the log: it checks label items against its own copy. It
        # serves on two threads: each worker's resolver reports to the one auditor.
        (tmp_path / "mirror").mkdir()
        m = Node(swarmdns_bin, tmp_path / "mirror", tmp_path,
                 join + ["--audit", f"{reg.z32}={a.api_url}", "--audit-interval", "1",
                         "--audit-mirror", "yes", "--workers", "2"]).start()
        nodes.append(m)
        wait_good(nodes)
        assert cli(swarmdns_bin, a, "registry", "init", "--policy", "closed", "--url",
                   a.api_url).returncode == 0
        for who, label in ((alice, "alice"), (carol, "carol")):
            cp = cli(swarmdns_bin, a, "register", f"{label}.{reg.z32}", "-k", who.path,
                     "--registry-key", reg.path)
            assert cp.returncode == 0, describe(cp)
        cp = cli(swarmdns_bin, a, "registry", "release", f"carol.{reg.z32}", "-k", carol.path)
        assert cp.returncode == 0, describe(cp)
        assert wait_item(b, reg, "alice").get("found")
        publish_zone(swarmdns_bin, a, alice, "www 300 IN A 192.0.2.7\n")

        # A registered name: its label item is entry 0 of the log, proved by inclusion.
        ok = "the label item of alice (log index 0) is in the log: its register"
        row = resolve_until(b, f"www.alice.{reg.z32}.", lambda r: logged(b, ok))
        assert ask_a(b, f"www.alice.{reg.z32}.").rcode() == dns.rcode.NOERROR
        items = row["label_items"]
        assert items["checked"] == 1 and items["inconsistent"] == 0, row
        assert row["state"] == "consistent" and "last_problem" not in items, row
        assert logged(b, f"{ok}, in the tree head of 3 entries (from {a.api_url})"), \
            b.stderr_tail()
        # A released name answers NXDOMAIN through its last label item, the release (2).
        ok = "the label item of carol (log index 2) is in the log: its release"
        row = resolve_until(b, f"www.carol.{reg.z32}.", lambda r: logged(b, ok))
        assert row["label_items"]["checked"] == 2, row
        # The mirror's auditor reads the entry and the proof from its own copy.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and \
                m.api("GET", f"/v1/registry/{reg.z32}/log/sth").json().get("size") != 3:
            time.sleep(0.2)
        row = resolve_until(m, f"www.alice.{reg.z32}.",
                            lambda r: r["label_items"]["checked"] >= 1)
        assert row["label_items"]["inconsistent"] == 0, row
        assert logged(m, "alice (log index 0) is in the log: its register, in the tree head "
                      "of 3 entries (from this node's mirror)"), m.stderr_tail()

        # A label item R signed that its log does not hold: mallory claims entry 0, which
        # is alice's registration.
        with KrpcClient() as c:
            n = put_everywhere(c, testnet.ports, forged_label(reg, "mallory", mallory.z32, 0))
            assert n >= 4, f"the forged label item was stored by {n} testnet nodes"
        for node, checked in ((b, 3), (m, 2)):
            row = resolve_until(node, f"www.mallory.{reg.z32}.",
                                lambda r: r["label_items"]["inconsistent"] >= 1)
            items = row["label_items"]
            assert row["state"] == "inconsistent" and items["checked"] == checked, row
            assert "mallory" in items["last_problem"] and \
                "entry 0 is a register of alice" in items["last_problem"], row
            assert row["failures"] == 0, row  # the log itself is consistent
            assert metric(node, "swarmdns_registry_audit_items_checked_total", reg) == checked
            assert metric(node, "swarmdns_registry_audit_items_inconsistent_total", reg) == 1
            assert logged(node, "INCONSISTENT: the label item of mallory"), node.stderr_tail()

        # One beyond every tree head R signs: reported once a few heads have not covered it.
        with KrpcClient() as c:
            assert put_everywhere(c, testnet.ports,
                                  forged_label(reg, "ghost", mallory.z32, 1000)) >= 4
        row = resolve_until(b, f"www.ghost.{reg.z32}.",
                            lambda r: r["label_items"]["inconsistent"] >= 2)
        assert "ghost" in row["label_items"]["last_problem"] and \
            "no tree head" in row["label_items"]["last_problem"], row

        # The verdicts and counts are in the auditor's LMDB: kept across a restart, and a
        # label item checked before is not checked again.
        b.stop()
        b.start()
        row = wait_audit(b, lambda r: r["checked"] > 0)
        assert row["label_items"]["checked"] == 4, row
        assert row["label_items"]["inconsistent"] == 2 and row["state"] == "inconsistent", row
        # www.alice.<R> answers only through the label item, verified again after the
        # restart (the resolver's cache is in memory): its verdict is in LMDB already.
        r = ask_a(b, f"www.alice.{reg.z32}.")
        assert r.rcode() == dns.rcode.NOERROR and r.answer, r
        time.sleep(0.5)
        assert b.status()["registries"]["audit"][0]["label_items"]["checked"] == 4
        assert not logged(b, "label item of alice"), b.stderr_tail()
    finally:
        errors = finish_all(nodes)
        testnet.stop()
    assert not errors, errors
