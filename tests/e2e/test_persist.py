"""Persistence: zones survive a clean restart (SIGTERM) and a `kill -9`; every zone the
node acknowledged (204, or `swarmdns publish` exit 0) is served after restart on the same
data directory (docs/design.md section 8)."""
import dns.flags
import dns.rcode

from conftest import sign_zone, split_relay


def zone_text(i: int, version: int = 0) -> str:
    return (f"$TTL 600\n@ IN A 192.0.2.{i}\nwww IN CNAME @\n"
            f"@ IN TXT \"zone {i} version {version}\"\n")


def assert_zone_served(node, key, i, version=0):
    resp = node.query(key.name("www"), "A")
    assert resp.rcode() == dns.rcode.NOERROR, (
        f"zone {i} ({key.z32}) not served: {dns.rcode.to_text(resp.rcode())}\n{node.stderr_tail()}")
    assert resp.flags & dns.flags.AA
    assert [r.to_text() for r in resp.answer[-1]] == [f"192.0.2.{i}"]
    resp = node.query(key.origin, "TXT", tcp=True)
    assert [r.to_text() for r in resp.answer[0]] == [f'"zone {i} version {version}"'], (
        f"zone {i}: not the latest acknowledged version")


def test_zones_survive_sigterm_restart(node, publish):
    keys = [publish(zone_text(i))[0] for i in range(1, 4)]
    for i, key in enumerate(keys, 1):
        assert_zone_served(node, key, i)
    assert node.status()["zones"] == 3
    rc = node.stop()
    assert rc == 0, f"SIGTERM should end the node cleanly (exit 0), got {rc}\n{node.stderr_tail()}"
    node.start()
    for i, key in enumerate(keys, 1):
        assert_zone_served(node, key, i)
    assert node.status()["zones"] == 3


def test_acknowledged_zones_survive_kill9(node, publish, make_key, swarmdns_bin):
    keys = {i: publish(zone_text(i))[0] for i in range(1, 4)}
    node.restart()
    for i, key in keys.items():
        assert_zone_served(node, key, i)

    # More zones and an update, straight through the API; kill -9 right after the last 204.
    bodies = {}
    for i in range(4, 10):
        keys[i] = make_key()
        bodies[keys[i].z32] = sign_zone(swarmdns_bin, keys[i], zone_text(i))
    updated = sign_zone(swarmdns_bin, keys[2], zone_text(2, version=1))
    versions = {i: 0 for i in keys}
    for i in range(4, 10):
        r = node.put_relay(keys[i].z32, bodies[keys[i].z32])
        assert r.status == 204, f"PUT zone {i}: {r.status} {r.body!r}"
    r = node.put_relay(keys[2].z32, updated)
    assert r.status == 204, f"PUT update of zone 2: {r.status} {r.body!r}"
    bodies[keys[2].z32] = updated
    versions[2] = 1
    node.kill9()

    node.start()
    for i, key in keys.items():
        assert_zone_served(node, key, i, versions[i])
    for z32, body in bodies.items():
        g = node.api("GET", f"/{z32}")
        assert g.status == 200 and g.body == body, f"stored body of {z32} changed after kill -9"
    assert node.status()["zones"] == len(keys)


def test_seq_rollback_protection_survives_restart(node, publish, swarmdns_bin):
    key, _ = publish(zone_text(7))
    stored = node.api("GET", f"/{key.z32}").body
    seq = split_relay(stored)[1]
    node.kill9()
    node.start()
    older = sign_zone(swarmdns_bin, key, zone_text(7, version=9), seq=seq - 1)
    r = node.put_relay(key.z32, older)
    assert r.status == 409, f"an older seq after restart: {r.status} {r.body!r}"
    assert_zone_served(node, key, 7, 0)


def test_restart_on_empty_data_dir_serves_nothing(node_factory, swarmdns_bin, make_key):
    """Control: a node on a fresh data dir does not know the zones of another node."""
    first = node_factory().start()
    key = make_key()
    r = first.put_relay(key.z32, sign_zone(swarmdns_bin, key, zone_text(5)))
    assert r.status == 204
    first.stop()
    second = node_factory().start()
    assert second.api("GET", f"/{key.z32}").status == 503  # not here, no DHT to ask
    assert second.status()["zones"] == 0
