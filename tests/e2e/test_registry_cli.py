"""The registry commands' NAME forms and the registrar's rate limit (docs/registries.md
"Running a registry", docs/limits.md `registrar-rate`), as a user meets them.

- `swarmdns register alice.p2p` through a node with `root p2p=<R>`: the CLI learns the node's
  roots from GET /v1/status and registers alice.<R>; transfer and release take the same form;
  a root the node does not know, a bad label and a NAME without a label are refused, each
  saying what to give instead.
- `registrar-rate`: requests to the registrar over the rate get 429 with Retry-After and a
  line saying how long to wait, which `swarmdns register` prints; the log's reads are not
  counted; each refusal counts in swarmdns_limit_hits_total{limit="registrar-rate"}, and the
  node's log says once that the limit acts.
"""
import time

from conftest import describe, run_cli


def cli(binary, node, *args):
    return run_cli(binary, *args, "--api", node.api_url)


def test_register_under_a_root(swarmdns_bin, node_factory, make_key):
    reg, alice, bob, other = make_key(), make_key(), make_key(), make_key()
    node = node_factory(extra_args=["--registrar", str(reg.path), "--root", f"p2p={reg.z32}",
                                    "--root", f"other.example={other.z32}"]).start()
    assert node.status()["roots"] == {"p2p": reg.z32, "other.example": other.z32}
    cp = cli(swarmdns_bin, node, "registry", "init", "--policy", "closed")
    assert cp.returncode == 0, describe(cp)

    cp = cli(swarmdns_bin, node, "register", "Alice.P2P.", "-k", alice.path, "--registry-key",
             reg.path)
    assert cp.returncode == 0 and f"alice.{reg.z32}: registered at log index 0" in cp.stdout, \
        describe(cp)
    rec = node.api("GET", f"/v1/registry/{reg.z32}/name/alice").json()
    assert rec["owner"] == alice.z32

    # The other commands that take a NAME map it the same way.
    cp = cli(swarmdns_bin, node, "registry", "transfer", "alice.p2p", "--to", bob.z32, "-k",
             alice.path)
    assert cp.returncode == 0 and "transferred" in cp.stdout, describe(cp)
    cp = cli(swarmdns_bin, node, "registry", "release", "alice.p2p", "-k", bob.path)
    assert cp.returncode == 0 and "released at log index 2" in cp.stdout, describe(cp)

    # A root the node does not know: which ones it knows, and what to do.
    cp = cli(swarmdns_bin, node, "register", "alice.p2q", "-k", alice.path)
    assert cp.returncode == 1, describe(cp)
    assert "p2q is not a root the node at" in cp.stderr, describe(cp)
    assert "its roots: " in cp.stderr and "p2p" in cp.stderr and "other.example" in cp.stderr
    assert "root p2q=<registry key>" in cp.stderr, describe(cp)
    cp = cli(swarmdns_bin, node, "registry", "renew", "alice.nowhere", "-k", alice.path)
    assert cp.returncode == 1 and "nowhere is not a root" in cp.stderr, describe(cp)
    # A bad label is said before the node is asked anything; a NAME without one is a usage
    # error.
    cp = cli(swarmdns_bin, node, "register", "bad-.p2p", "-k", alice.path)
    assert cp.returncode == 1 and "'bad-' is not a label" in cp.stderr, describe(cp)
    cp = cli(swarmdns_bin, node, "register", "p2p", "-k", alice.path)
    assert cp.returncode == 2 and "is not a registry name" in cp.stderr, describe(cp)
    # The log holds the three operations under R, whatever the name was given as.
    assert node.api("GET", f"/v1/registry/{reg.z32}/log/sth").json()["size"] == 3


def test_registrar_rate_limit(swarmdns_bin, node_factory, make_key):
    reg, alice = make_key(), make_key()
    # One request a second, no burst: two requests in a row are always one too many.
    node = node_factory(extra_args=["--registrar", str(reg.path), "--registrar-rate",
                                    "1"]).start()
    cp = cli(swarmdns_bin, node, "registry", "init", "-r", reg.z32, "--policy", "closed")
    assert cp.returncode == 0, describe(cp)
    time.sleep(1.1)

    # `register` asks for the policy, then posts the claim at once: the claim is refused.
    cp = cli(swarmdns_bin, node, "register", f"alice.{reg.z32}", "-k", alice.path,
             "--registry-key", reg.path)
    assert cp.returncode == 1, describe(cp)
    assert "limiting requests from this network (HTTP 429, its option registrar-rate)" in \
        cp.stderr and "wait 1 s and send the request again" in cp.stderr, describe(cp)

    r = node.api("GET", f"/v1/registry/{reg.z32}/policy")
    assert r.status == 429, (r.status, r.body)
    assert r.headers["retry-after"] == "1"
    assert b"too many requests to this registrar from your network" in r.body
    # The log is read in bulk by auditors and mirrors: not counted.
    for _ in range(3):
        sth = node.api("GET", f"/v1/registry/{reg.z32}/log/sth")
        assert sth.status == 200 and sth.json()["size"] == 0, (sth.status, sth.body)
    assert node.metrics()[("swarmdns_limit_hits_total", (("limit", "registrar-rate"),))] == 2

    # A second later the registrar takes requests again.
    time.sleep(1.1)
    r = node.api("GET", f"/v1/registry/{reg.z32}/policy")
    assert r.status == 200 and r.json()["rules"] == "closed", (r.status, r.body)
    # The operator hears of it once in the node's log (docs/limits.md).
    deadline = time.monotonic() + 6
    while "limit registrar-rate is acting" not in node.stderr_text():
        assert time.monotonic() < deadline, node.stderr_tail()
        time.sleep(0.2)
