"""Controlling a running node through the API and the CLI, as `unbound-control` and `knotc`
are used (docs/design.md section 11, docs/api.md "Control"): flush (all, one name), zone list /
export / remove, log level, /healthz and the DHT health of /v1/status and `swarmdns status`,
and the CLI's way to the API (Authorization header, SWARMDNS_API, SWARMDNS_API_TOKEN, an
https:// URL with --cacert) checked with Python's own HTTP servers."""
import http.server
import json
import os
import re
import socket
import ssl
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from conftest import Key, describe, publish_zone, run_cli, start_joined, write_zone
from dhtutil import Testnet
from upstreamutil import REAL_ADDR, upstream_factory, with_upstream  # noqa: F401


def with_option(node, name: str, value: str):
    """Replaces the value conftest gives option `name` (a repeated single-value option is
    an error in a config)."""
    argv = node.argv

    def replaced():
        a = argv()
        a[a.index(name) + 1] = value
        return a

    node.argv = replaced
    return node


def resolve(node, name, rdtype="A"):
    r = node.api("GET", f"/v1/resolve?name={name}&type={rdtype}")
    assert r.status == 200, (r.status, r.body)
    return r.json()


def records(packet: bytes):
    """The records of a zone packet as a set of (owner, TTL, type, rdata) texts."""
    m = dns.message.from_wire(packet)
    return {(rr.name.to_text(), rr.ttl, dns.rdatatype.to_text(rr.rdtype), rd.to_text())
            for rr in m.answer for rd in rr}


# --------------------------------------------------------------------------------------------
# Flush


def test_flush_upstream_answers_all_and_one_name(swarmdns_bin, node_factory, upstream_factory):
    """An answer from the upstream is cached; `swarmdns flush NAME` drops that name (the
    next question goes upstream again) and not another; `swarmdns flush` drops all."""
    up = upstream_factory(delay=0)
    node = with_upstream(node_factory(), up.port).start()
    env = dict(os.environ, SWARMDNS_API=node.api_url)

    def asks():
        with up.lock:
            return len(up.udp_queries) + len(up.tcp_queries)

    for name in ("a.example.com", "b.example.com"):
        j = resolve(node, name)
        assert j["source"] == "upstream" and j["answer"], j
    assert asks() == 2
    for name in ("a.example.com", "b.example.com"):
        resolve(node, name)
    assert asks() == 2, "the second answers must come from the forwarder's cache"

    cp = run_cli_env(swarmdns_bin, env, "flush", "A.Example.COM")
    assert cp.returncode == 0, describe(cp)
    assert "1 upstream answer" in cp.stdout, describe(cp)
    resolve(node, "b.example.com")
    assert asks() == 2, "flushing a.example.com dropped b.example.com"
    j = resolve(node, "a.example.com")
    assert j["source"] == "upstream" and REAL_ADDR in " ".join(j["answer"]), j
    assert asks() == 3, "after the flush a.example.com was not asked upstream again"

    cp = run_cli_env(swarmdns_bin, env, "flush")
    assert cp.returncode == 0, describe(cp)
    assert "the whole cache" in cp.stdout and "2 upstream answers" in cp.stdout, describe(cp)
    resolve(node, "a.example.com")
    resolve(node, "b.example.com")
    assert asks() == 5
    assert "API: flushed A.Example.COM: 0 cached zones, 1 upstream answer" in \
        node.stderr_text()


def run_cli_env(binary, env, *args, timeout=15):
    import subprocess
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_dht_health_joined_and_flush_of_a_dht_zone(swarmdns_bin, tmp_path):
    """Two nodes on a testnet: both report "joined" (/healthz 200, /v1/status, `swarmdns
    status`); B answers A's name from the DHT, then from its cache; after `swarmdns flush
    NAME` on B the next answer comes from the DHT again, and after a whole flush too."""
    testnet = Testnet(swarmdns_bin, 8, tmp_path, seconds=60).start()
    nodes = []
    try:
        a, b = start_joined(nodes, swarmdns_bin, tmp_path, testnet.base, good=3, within=20)
        for n in nodes:
            r = n.api("GET", "/healthz")
            h = r.json()
            assert r.status == 200 and h["state"] == "joined" and h["status"] == "ok", h
            assert h["good_nodes"] >= 1 and h["since"] <= time.time() + 1, h
            d = n.status()["dht"]
            assert d["state"] == "joined" and d["good_nodes"] >= 1, d
        keyfile = tmp_path / "a.key"
        cp = run_cli(swarmdns_bin, "keygen", "-o", keyfile)
        assert cp.returncode == 0, describe(cp)
        key = Key(keyfile, cp.stdout.strip())
        out = publish_zone(swarmdns_bin, a, key, "www 300 IN A 192.0.2.99\n",
                           directory=tmp_path)
        assert re.search(r"by [1-9]\d* of \d+ DHT nodes", out), out

        name = f"www.{key.z32}."
        j = resolve(b, name)
        assert j["source"] == "dht" and j["answer"], j
        assert resolve(b, name)["source"] == "cache"
        d = b.status()["dht"]
        assert isinstance(d["last_lookup_ok"], int) and \
            d["last_lookup_ok"] >= time.time() - 30, d
        cp = run_cli(swarmdns_bin, "status", "--api", b.api_url)
        assert cp.returncode == 0, describe(cp)
        assert re.search(r"^DHT health\s+joined since \S+ \S+, [1-9]\d* good nodes, last "
                         r"successful lookup \d{4}-", cp.stdout, re.M), cp.stdout

        cp = run_cli(swarmdns_bin, "flush", "--api", b.api_url, f"other.{key.z32}")
        assert cp.returncode == 0 and "1 cached zone," in cp.stdout, describe(cp)
        j = resolve(b, name)
        assert j["source"] == "dht", j
        assert resolve(b, name)["source"] == "cache"
        cp = run_cli(swarmdns_bin, "flush", "--api", b.api_url)
        assert cp.returncode == 0 and "1 cached zone," in cp.stdout, describe(cp)
        assert resolve(b, name)["source"] == "dht"
    finally:
        for n in nodes:
            n.stop()
        testnet.stop()


# --------------------------------------------------------------------------------------------
# Own zones: list, export, remove

ZONE = """\
@        300 IN A     192.0.2.1
www      300 IN A     192.0.2.2
www      600 IN AAAA  2001:db8::2
www          IN TXT   "hello world" "semi;colon" "quote\\"d"
mail     300 IN MX    10 mx.example.com.
_x._tcp  300 IN SRV   0 5 443 www
alias    300 IN CNAME www
@        300 IN CAA   0 issue "letsencrypt.org"
odd      300 IN TYPE65400 \\# 3 010203
"""


def test_zone_list_export_round_trip(swarmdns_bin, node_factory, make_key, tmp_path):
    """`zone export` gives a zone file that `swarmdns sign` turns into the same records as
    the original; `zone list` shows the zone and a pinned one; a key that is not ours is a
    clear 404."""
    key, pinned = make_key(), make_key()
    node = node_factory(extra_args=["--pin", pinned.z32]).start()
    publish_zone(swarmdns_bin, node, key, ZONE)
    env = dict(os.environ, SWARMDNS_API=node.api_url)

    cp = run_cli_env(swarmdns_bin, env, "zone", "list")
    assert cp.returncode == 0, describe(cp)
    assert re.search(rf"^{key.z32}  seq \d+, 9 records, \d+ bytes, republished ",
                     cp.stdout, re.M), cp.stdout
    assert re.search(rf"^{pinned.z32}  pinned, republished ", cp.stdout, re.M), cp.stdout
    lst = node.api("GET", "/v1/zones").json()["zones"]
    assert [(z["key"], z.get("records"), z["pinned"]) for z in lst] == \
        [(key.z32, 9, False), (pinned.z32, None, True)], lst

    out = tmp_path / "exported.zone"
    cp = run_cli_env(swarmdns_bin, env, "zone", "export", key.origin, "-o", out)
    assert cp.returncode == 0, describe(cp)
    r = node.api("GET", f"/v1/zones/{key.z32}")
    assert r.status == 200 and r.headers["content-type"].startswith("text/dns"), r.headers
    assert r.body.decode() == out.read_text()

    orig = write_zone(tmp_path, ZONE)
    signed = []
    for f in (orig, out):
        cp = run_cli(swarmdns_bin, "sign", "-k", key.path, f, text=False)
        assert cp.returncode == 0, cp.stderr
        signed.append(records(cp.stdout[72:]))
    assert signed[0] == signed[1], (signed[0] ^ signed[1])
    assert len(signed[0]) == 9

    other = make_key()
    cp = run_cli_env(swarmdns_bin, env, "zone", "export", other.z32)
    assert cp.returncode == 1 and "is not an own zone" in cp.stderr, describe(cp)
    cp = run_cli_env(swarmdns_bin, env, "zone", "export", "nonsense")
    assert cp.returncode == 2 and "not a zone's key name" in cp.stderr, describe(cp)
    cp = run_cli(swarmdns_bin, "zone", "export", "--help")
    assert cp.returncode == 0 and "Usage: swarmdns zone" in cp.stdout


def test_zone_remove_stays_removed(swarmdns_bin, node, make_key):
    """After `zone remove` the name is no longer answered as an own zone (no DHT here:
    SERVFAIL), the zone is gone from the list, and it stays gone after a restart."""
    key, keep = make_key(), make_key()
    publish_zone(swarmdns_bin, node, key, "www 300 IN A 192.0.2.5\n")
    publish_zone(swarmdns_bin, node, keep, "www 300 IN A 192.0.2.6\n")
    m = node.query(key.name("www"), "A")
    assert m.rcode() == dns.rcode.NOERROR and m.answer, m.to_text()

    cp = run_cli(swarmdns_bin, "zone", "remove", "--api", node.api_url, key.z32)
    assert cp.returncode == 0 and "removed" in cp.stdout, describe(cp)
    assert f"zone {key.z32} removed" in node.stderr_text()

    def gone():
        m = node.query(key.name("www"), "A")
        assert m.rcode() == dns.rcode.SERVFAIL and not m.answer, m.to_text()
        assert resolve(node, key.name("www"))["source"] != "local"
        assert [z["key"] for z in node.api("GET", "/v1/zones").json()["zones"]] == [keep.z32]
        assert node.query(keep.name("www"), "A").answer

    gone()
    cp = run_cli(swarmdns_bin, "zone", "remove", "--api", node.api_url, key.z32)
    assert cp.returncode == 1 and "is not an own zone" in cp.stderr, describe(cp)
    node.restart()
    gone()


# --------------------------------------------------------------------------------------------
# Log level, health


def test_log_level_change_shows_in_the_log(swarmdns_bin, node_factory):
    """Started at warn: no debug lines; `swarmdns log-level debug` makes libmicrohttpd's
    complaint about a bad request appear; `log-level error` hides the info lines again."""
    node = with_option(node_factory(), "--log-level", "warn").start()

    def bad_request():
        with socket.create_connection(("127.0.0.1", node.api_port), timeout=2) as s:
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            try:
                s.recv(4096)
            except OSError:
                pass

    bad_request()
    time.sleep(0.2)
    assert "[debug]" not in node.stderr_text()
    cp = run_cli(swarmdns_bin, "log-level", "--api", node.api_url, "debug")
    assert cp.returncode == 0 and "debug" in cp.stdout, describe(cp)
    bad_request()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and "[debug]: HTTP API" not in node.stderr_text():
        time.sleep(0.05)
    log = node.stderr_text()
    assert "API: log level set to debug" in log and "[debug]: HTTP API" in log, log
    cp = run_cli(swarmdns_bin, "log-level", "--api", node.api_url, "error")
    assert cp.returncode == 0, describe(cp)
    assert node.api("POST", "/v1/flush").status == 200
    log = node.stderr_text()
    assert "API: log level set to error" in log and "API: flushed" not in log, log
    cp = run_cli(swarmdns_bin, "log-level", "--api", node.api_url, "loud")
    assert cp.returncode == 2 and "not a level" in cp.stderr, describe(cp)
    r = node.api("PUT", "/v1/log-level?level=loud")
    assert r.status == 400, r.body


def test_healthz_and_status_isolated(swarmdns_bin, node):
    """With --bootstrap none and nobody calling: isolated, 503, since the start."""
    t0 = time.time()
    r = node.api("GET", "/healthz")
    h = r.json()
    assert r.status == 503 and h["state"] == "isolated" and h["status"] == "isolated", h
    assert h["good_nodes"] == 0 and h["last_lookup_ok"] is None, h
    assert t0 - 30 <= h["since"] <= t0 + 1, h
    d = node.status()["dht"]
    assert d["state"] == "isolated" and d["since"] == h["since"], d
    cp = run_cli(swarmdns_bin, "status", "--api", node.api_url)
    assert cp.returncode == 0, describe(cp)
    assert re.search(r"^DHT health\s+isolated since .*, 0 good nodes, last successful lookup "
                     r"never$", cp.stdout, re.M), cp.stdout


def test_reload_through_the_cli(swarmdns_bin, tmp_path, make_key):
    """`swarmdns reload` applies a changed root (the new name answers at once) and prints
    what changed; a file that does not parse is a 400 with the reason, the old root
    serves on."""
    from test_reload import FileNode, a_records
    from conftest import finish_all

    a, b = make_key(), make_key()
    node = FileNode(swarmdns_bin, tmp_path / "n", [f"root one={a.z32}", "bootstrap none"])
    try:
        node.start()
        publish_zone(swarmdns_bin, node, a, "www 300 IN A 192.0.2.1\n")
        publish_zone(swarmdns_bin, node, b, "www 300 IN A 192.0.2.2\n")
        assert a_records(node.query("www.one.", "A")) == ["192.0.2.1"]
        node.write_conf([f"root one={a.z32}", f"root two={b.z32}", "bootstrap none"])
        cp = run_cli(swarmdns_bin, "reload", "--api", node.api_url)
        assert cp.returncode == 0 and "root" in cp.stdout, describe(cp)
        assert a_records(node.query("www.two.", "A")) == ["192.0.2.2"]
        assert "API: reload requested" in node.stderr_text()

        node.write_conf(["bootstrap none", "min-ttl banana"])
        r = node.api("POST", "/v1/reload")
        assert r.status == 400 and b"min-ttl" in r.body, (r.status, r.body)
        cp = run_cli(swarmdns_bin, "reload", "--api", node.api_url)
        assert cp.returncode == 1 and "HTTP 400" in cp.stderr and "min-ttl" in cp.stderr, \
            describe(cp)
        assert a_records(node.query("www.two.", "A")) == ["192.0.2.2"]
        assert node.api("GET", "/v1/reload").status == 405
    finally:
        errors = finish_all([node])
    assert not errors, errors


# --------------------------------------------------------------------------------------------
# The CLI's side of the API: token, address, https


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request's method, path and Authorization header; answers /v1/zones with
    an empty list, 403 when the server's `refuse` is set."""

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        if self.server.refuse:
            body, code = b"writes are allowed from loopback only\n", 403
        else:
            body, code = json.dumps({"zones": [], "name": None, "zones_flushed": 0}).encode(), 200
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *a):
        pass


def serve_recorder(tls_cert=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.seen, srv.refuse = [], False
    if tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_cert / "cert.pem", tls_cert / "key.pem")
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def recorder():
    srv = serve_recorder()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_cli_sends_the_token_and_reads_swarmdns_api(swarmdns_bin, recorder):
    url = f"http://127.0.0.1:{recorder.server_address[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMDNS_API")}
    cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url, SWARMDNS_API_TOKEN="t0k3n"),
                     "zone", "list")
    assert cp.returncode == 0, describe(cp)
    assert recorder.seen[-1] == ("GET", "/v1/zones", "Bearer t0k3n"), recorder.seen
    # --token and --api win over the environment; --token anywhere on the line.
    cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API="http://127.0.0.1:1",
                                        SWARMDNS_API_TOKEN="t0k3n"),
                     "flush", "--api", url, "www.example.com", "--token=other")
    assert recorder.seen[-1] == ("POST", "/v1/flush?name=www.example.com", "Bearer other"), \
        recorder.seen
    # Other commands send it too (publish's GET of the current zone, status, resolve).
    for args in (["status"], ["resolve", "www.example.com"], ["log-level", "info"]):
        run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url, SWARMDNS_API_TOKEN="t0k3n"),
                    *args)
        assert recorder.seen[-1][2] == "Bearer t0k3n", (args, recorder.seen)
    # No token: no header.
    cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url), "zone", "list")
    assert cp.returncode == 0 and recorder.seen[-1][2] is None, recorder.seen
    # A refusal says which of the two it is.
    recorder.refuse = True
    cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url), "flush")
    assert cp.returncode == 1 and "token is missing" in cp.stderr, describe(cp)
    cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url, SWARMDNS_API_TOKEN="x"), "flush")
    assert cp.returncode == 1 and "token is wrong" in cp.stderr, describe(cp)
    # Nobody listening: the URL and what to check.
    cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API="http://127.0.0.1:1"), "zone", "list")
    assert cp.returncode == 1 and "http://127.0.0.1:1" in cp.stderr and \
        "SWARMDNS_API" in cp.stderr, describe(cp)


def test_cli_https_api_with_cacert(swarmdns_bin, tmp_path):
    cp = run_cli(swarmdns_bin, "cert", "-o", tmp_path / "tls")
    assert cp.returncode == 0, describe(cp)
    srv = serve_recorder(tmp_path / "tls")
    try:
        url = f"https://127.0.0.1:{srv.server_address[1]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMDNS_API")}
        cp = run_cli_env(swarmdns_bin, env, "zone", "list", "--api", url, "--token", "tt")
        assert cp.returncode == 1 and "--cacert" in cp.stderr, describe(cp)
        cp = run_cli_env(swarmdns_bin, env, "zone", "list", "--api", url, "--token", "tt",
                         "--cacert", tmp_path / "tls" / "cert.pem")
        assert cp.returncode == 0, describe(cp)
        assert srv.seen[-1] == ("GET", "/v1/zones", "Bearer tt"), srv.seen
        cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url,
                                            SWARMDNS_API_CACERT=str(tmp_path / "tls" /
                                                                    "cert.pem")),
                         "zone", "list")
        assert cp.returncode == 0, describe(cp)
    finally:
        srv.shutdown()
        srv.server_close()


def test_writes_beyond_loopback_need_the_token(swarmdns_bin, node_factory):
    """In a network namespace, the API on a non-loopback address: control writes without
    the api-token, or with a wrong one, are refused (403) and the CLI says so; with it they
    are done. Reads need no token."""
    import netns

    ok, why = netns.available()
    if not ok:
        pytest.skip(f"network namespaces cannot be used here: {why}")
    ns = netns.Netns("control")
    try:
        ip = ns.add("198.18.7.1")[0]
        with ns.inside():
            node = node_factory(extra_args=["--api-token", "s3cret"])
            port = node.api_port
            with_option(node, "--listen-api", f"0.0.0.0:{port}")
            node.start()
            url = f"http://{ip}:{port}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMDNS_API")}
            for args in (["flush"], ["log-level", "debug"], ["reload"]):
                cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url), *args)
                assert cp.returncode == 1 and "token is missing" in cp.stderr, describe(cp)
                cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url,
                                                    SWARMDNS_API_TOKEN="wrong"), *args)
                assert cp.returncode == 1 and "token is wrong" in cp.stderr, describe(cp)
            cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url), "zone", "list")
            assert cp.returncode == 0, describe(cp)
            cp = run_cli_env(swarmdns_bin, dict(env, SWARMDNS_API=url,
                                                SWARMDNS_API_TOKEN="s3cret"), "flush")
            assert cp.returncode == 0, describe(cp)
            node.stop()
    finally:
        ns.remove()
