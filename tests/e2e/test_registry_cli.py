"""The registrar's rate limit (docs/limits.md `registrar-rate`), as a user meets it.

- `registrar-rate`: requests to the registrar over the rate get 429 with Retry-After and a
  line saying how long to wait, which `swarmdns register` prints; the log's reads are not
  counted; each refusal counts in swarmdns_limit_hits_total{limit="registrar-rate"}.
"""
import time

from conftest import describe, run_cli


def cli(binary, node, *args):
    return run_cli(binary, *args, "--api", node.api_url)


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
