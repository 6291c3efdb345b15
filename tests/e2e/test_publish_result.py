"""What `swarmdns publish` says about the DHT, and TTLs of cached DHT zones (issue 12).

- To a node that has not joined the DHT (`--bootstrap none`), publish says plainly that no
  DHT node stored the zone, and why, and exits 3; with --local-ok it exits 0.
- On a testnet, publish exits 0, and a second node that resolves the name from the DHT
  serves it with a TTL that counts down (two queries 2 s apart: 2 s less), while the
  publishing node, whose own zone it is, keeps the full TTL.
"""
import re
import time

from conftest import describe, finish_all, run_cli, start_joined, write_zone
from dhtutil import Testnet

ZONE = "www 3600 IN A 192.0.2.2\n"


def test_publish_to_a_node_outside_the_dht(swarmdns_bin, node, make_key, tmp_path):
    key = make_key()
    zone = write_zone(tmp_path, ZONE)
    cp = run_cli(swarmdns_bin, "publish", "-k", key.path, "--api", node.api_url, zone)
    assert cp.returncode == 3, describe(cp)
    assert "published to the node, but no DHT node stored it" in cp.stderr, describe(cp)
    assert "has not joined the DHT (0 nodes in its routing table)" in cp.stderr, describe(cp)
    assert "--local-ok" in cp.stderr, describe(cp)
    # The node has it and serves it all the same.
    assert node.api("GET", f"/{key.z32}").status == 200
    assert [rr.to_text() for rr in node.query(key.name("www"), "A").answer[0]] == ["192.0.2.2"]
    cp = run_cli(swarmdns_bin, "publish", "--local-ok", "-k", key.path, "--api", node.api_url,
                 zone)
    assert cp.returncode == 0, describe(cp)
    assert "no DHT node stored it" in cp.stderr, "the message stays, only the exit changes"
    cp = run_cli(swarmdns_bin, "publish", "--help")
    assert "--local-ok" in cp.stdout and re.search(r"\b3\b.*no DHT node", cp.stdout, re.S), \
        cp.stdout


def test_publish_on_a_testnet_and_cached_ttl_counts_down(swarmdns_bin, make_key, tmp_path):
    testnet = Testnet(swarmdns_bin, 12, tmp_path, seconds=120).start()
    nodes = []
    try:
        a, b = start_joined(nodes, swarmdns_bin, tmp_path, testnet.base)
        key = make_key()
        cp = run_cli(swarmdns_bin, "publish", "-k", key.path, "--api", a.api_url,
                     write_zone(tmp_path, ZONE))
        assert cp.returncode == 0, describe(cp)
        assert re.search(r"by [1-9]\d* of \d+ DHT nodes", cp.stdout), describe(cp)

        # B has the zone from the DHT (the first query waits for the lookup), then from its
        # cache: the zone lives 300 s (min-ttl, the SOA's), the A record says 3600.
        first = b.query(key.name("www"), "A", timeout=10)
        assert [rr.to_text() for rr in first.answer[0]] == ["192.0.2.2"], first.to_text()
        t1 = b.query(key.name("www"), "A").answer[0].ttl
        time.sleep(2)
        t2 = b.query(key.name("www"), "A").answer[0].ttl
        assert t1 <= 300, f"a cached answer outlives the cache entry: TTL {t1}"
        assert 2 <= t1 - t2 <= 3, f"TTL {t1}, then {t2} 2 s later: not counting down"
        # The publishing node answers from its own zone: the record's TTL, always.
        assert a.query(key.name("www"), "A").answer[0].ttl == 3600
    finally:
        errors = finish_all(nodes)
        testnet.stop()
        assert not errors, "\n".join(errors)
