"""The command line: keygen, sign, publish, --help, serve -c / --check-config."""
import os
import re
import stat
import subprocess
import time

import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from conftest import (
    PACKET_MAX,
    Node,
    free_port,
    is_key_name,
    key_from_seed,
    keygen,
    now_us,
    public_key,
    run_cli,
    describe,
    split_relay,
    verify_relay,
    write_zone,
    z32encode,
    _finish,
)

# --------------------------------------------------------------------------------------------
# keygen


def test_keygen_writes_0600_seed_and_prints_key_name(swarmdns_bin, tmp_path):
    path = tmp_path / "me.key"
    cp = run_cli(swarmdns_bin, "keygen", "-o", path)
    assert cp.returncode == 0, describe(cp)
    lines = cp.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be exactly the key name: {cp.stdout!r}"
    z32 = lines[0]
    assert is_key_name(z32), f"{z32!r} is not 52 characters of z-base32"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", content), f"key file content: {content!r}"
    # The printed name is the z-base32 of the Ed25519 public key of the seed in the file.
    assert z32 == z32encode(public_key(bytes.fromhex(content.strip())))


def test_keygen_mode_0600_even_with_permissive_umask(swarmdns_bin, tmp_path):
    path = tmp_path / "umask.key"
    cp = subprocess.run([str(swarmdns_bin), "keygen", "-o", str(path)], capture_output=True,
                        text=True, timeout=15, preexec_fn=lambda: os.umask(0))
    assert cp.returncode == 0, describe(cp)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keygen_makes_different_keys(swarmdns_bin, tmp_path):
    a = keygen(swarmdns_bin, tmp_path / "a.key")
    b = keygen(swarmdns_bin, tmp_path / "b.key")
    assert a.z32 != b.z32
    assert a.seed != b.seed


@pytest.mark.parametrize("existing", ["key", "other"])
def test_keygen_refuses_to_overwrite(swarmdns_bin, tmp_path, existing):
    path = tmp_path / "exists.key"
    if existing == "key":
        keygen(swarmdns_bin, path)
    else:
        path.write_text("precious data\n")
    before = path.read_bytes()
    cp = run_cli(swarmdns_bin, "keygen", "-o", path)
    assert cp.returncode == 1, describe(cp)
    assert cp.stderr.strip(), "an error message on stderr is expected"
    assert cp.stdout.strip() == "", f"nothing on stdout on failure: {cp.stdout!r}"
    assert path.read_bytes() == before, "the existing file was modified"


# --------------------------------------------------------------------------------------------
# sign

ZONE = """\
$TTL 3600
@        IN A     192.0.2.1
www      IN A     192.0.2.2
www 7200 IN AAAA  2001:db8::2
_hello   IN TXT   "world"
@        IN MX    10 mail
mail     IN A     192.0.2.25
"""


def expected_records(zone_text: str, origin: str):
    """The zone as dnspython reads it: {(name, rdtype): rdataset}."""
    z = dns.zone.from_text(zone_text, origin=origin, relativize=False, check_origin=False)
    out = {}
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            out[(name, rds.rdtype)] = rds
    return out


def packet_records(packet: bytes):
    """Parses a zone packet with dnspython; returns (message, {(name, rdtype): rrset})."""
    msg = dns.message.from_wire(packet)
    out = {}
    for rrset in msg.answer:
        key = (rrset.name, rrset.rdtype)
        if key in out:  # a packet may split an RRset; merge
            out[key].union_update(rrset)
        else:
            out[key] = rrset
    return msg, out


def sign(swarmdns_bin, key, zone_path, *extra, cwd=None):
    cp = run_cli(swarmdns_bin, "sign", "-k", key.path, *extra, zone_path, cwd=cwd, text=False)
    return cp


def test_sign_output_is_a_valid_relay_body(swarmdns_bin, make_key, tmp_path):
    key = make_key()
    zone = write_zone(tmp_path, ZONE)
    before = now_us()
    cp = sign(swarmdns_bin, key, zone)
    after = now_us()
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    body = cp.stdout
    sig, seq, packet = split_relay(body)
    assert verify_relay(key.pub, body), "signature does not verify over 3:seqi<seq>e1:v<len>:<packet>"
    assert before <= seq <= after, f"default seq {seq} is not the current time in microseconds"
    assert len(packet) <= PACKET_MAX

    msg, got = packet_records(packet)
    assert msg.id == 0
    assert msg.flags & dns.flags.QR, "zone packet must have QR=1"
    assert msg.flags & dns.flags.AA, "zone packet must have AA=1"
    assert len(msg.question) == 0
    want = expected_records(ZONE, key.origin)
    assert set(got) == set(want), f"records differ: got {sorted(map(str, got))}"
    for k, rds in want.items():
        assert set(got[k]) == set(rds), f"{k}: {got[k]} != {rds}"
        assert got[k].ttl == rds.ttl, f"{k}: TTL {got[k].ttl} != {rds.ttl}"
    apex = dns.name.from_text(key.origin)
    for name, _ in got:
        assert name.is_subdomain(apex), f"{name} is not under {apex}"


def test_sign_explicit_origin_and_relative_names(swarmdns_bin, make_key, tmp_path):
    key = make_key()
    text = (f"$ORIGIN {key.origin}\n$TTL 600\n@ IN TXT \"apex\"\n"
            f"$ORIGIN sub.{key.origin}\nwww IN A 192.0.2.9\n@ IN A 192.0.2.8\n")
    cp = sign(swarmdns_bin, key, write_zone(tmp_path, text))
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    _, got = packet_records(split_relay(cp.stdout)[2])
    n = dns.name.from_text
    assert set(got) == {
        (n(key.origin), dns.rdatatype.TXT),
        (n(f"www.sub.{key.origin}"), dns.rdatatype.A),
        (n(f"sub.{key.origin}"), dns.rdatatype.A),
    }
    assert got[(n(f"www.sub.{key.origin}"), dns.rdatatype.A)].ttl == 600


@pytest.mark.parametrize("seq", [1, 1700000000000000, 2**53 + 1, 2**63 - 1])
def test_sign_seq_is_64_bit_big_endian(swarmdns_bin, make_key, tmp_path, seq):
    key = make_key()
    cp = sign(swarmdns_bin, key, write_zone(tmp_path, ZONE), "--seq", str(seq))
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    assert cp.stdout[64:72] == seq.to_bytes(8, "big")
    assert verify_relay(key.pub, cp.stdout)


def test_sign_to_file_equals_stdout(swarmdns_bin, make_key, tmp_path):
    key = make_key()
    zone = write_zone(tmp_path, ZONE)
    out = tmp_path / "zone.relay"
    cp1 = sign(swarmdns_bin, key, zone, "--seq", "42", "-o", out)
    assert cp1.returncode == 0, cp1.stderr.decode(errors="replace")
    assert cp1.stdout == b"", "with -o nothing goes to stdout"
    cp2 = sign(swarmdns_bin, key, zone, "--seq", "42")
    assert cp2.returncode == 0
    # Ed25519 is deterministic: same key, seq and zone give the same bytes.
    assert out.read_bytes() == cp2.stdout


def test_sign_with_vector_seed_matches_pkarr_records(swarmdns_bin, vectors, tmp_path):
    v = vectors["pkarr_packet"]
    key = key_from_seed(bytes.fromhex(v["seed"]), tmp_path / "vector.key")
    assert key.z32 == v["z32"]
    zone = write_zone(tmp_path, "\n".join(v["records"]) + "\n")
    cp = sign(swarmdns_bin, key, zone, "--seq", str(v["seq"]))
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    sig, seq, packet = split_relay(cp.stdout)
    assert seq == v["seq"]
    assert verify_relay(bytes.fromhex(v["public_key"]), cp.stdout)
    _, got = packet_records(packet)
    _, want = packet_records(bytes.fromhex(v["v"]))
    assert {k: set(r) for k, r in got.items()} == {k: set(r) for k, r in want.items()}


@pytest.mark.parametrize("bad_line", [
    "www IN A 999.1.2.3",
    "www IN MX notanumber mail",
    "www IN BOGUSTYPE 1",
    "www IN AAAA 192.0.2.1",
    "evil.example.com. IN A 192.0.2.1",  # outside the key's zone
])
def test_sign_bad_record_reports_file_and_line(swarmdns_bin, make_key, tmp_path, bad_line):
    key = make_key()
    (tmp_path / "bad.zone").write_text(f"$TTL 300\n@ IN A 192.0.2.1\n{bad_line}\nok IN A 192.0.2.2\n")
    out = tmp_path / "bad.relay"
    cp = run_cli(swarmdns_bin, "sign", "-k", key.path, "-o", out, "bad.zone", cwd=tmp_path)
    assert cp.returncode == 1, describe(cp)
    assert "bad.zone:3:" in cp.stderr, f"expected 'bad.zone:3: problem' on stderr: {cp.stderr!r}"
    assert not out.exists() or out.stat().st_size == 0, "no relay body on error"


def test_sign_missing_zone_file(swarmdns_bin, make_key, tmp_path):
    key = make_key()
    cp = run_cli(swarmdns_bin, "sign", "-k", key.path, tmp_path / "nope.zone")
    assert cp.returncode == 1, describe(cp)
    assert "nope.zone" in cp.stderr


def test_sign_missing_key_file(swarmdns_bin, tmp_path):
    zone = write_zone(tmp_path, ZONE)
    cp = run_cli(swarmdns_bin, "sign", "-k", tmp_path / "nokey.key", zone)
    assert cp.returncode == 1, describe(cp)
    assert "nokey.key" in cp.stderr


def txt_zone(n_records: int, length: int) -> str:
    return "$TTL 300\n" + "".join(f"t{i} IN TXT \"{'x' * length}\"\n" for i in range(n_records))


def dnspython_packet_size(zone_text: str, origin: str) -> int:
    msg = dns.message.Message(id=0)
    msg.flags = dns.flags.QR | dns.flags.AA
    for (name, rdtype), rds in expected_records(zone_text, origin).items():
        rrset = dns.rrset.RRset(name, rds.rdclass, rdtype)
        rrset.update(rds)
        msg.answer.append(rrset)
    return len(msg.to_wire())


def test_sign_refuses_zone_over_996_bytes(swarmdns_bin, make_key, tmp_path):
    key = make_key()
    text = txt_zone(24, 40)
    size = dnspython_packet_size(text, key.origin)
    assert size > PACKET_MAX + 50, size  # the test's own premise
    out = tmp_path / "big.relay"
    cp = run_cli(swarmdns_bin, "sign", "-k", key.path, "-o", out, write_zone(tmp_path, text))
    assert cp.returncode == 1, describe(cp)
    assert "996" in cp.stderr, f"the limit must be named: {cp.stderr!r}"
    numbers = [int(x) for x in re.findall(r"\d+", cp.stderr)]
    assert any(abs(n - size) <= 16 for n in numbers if n != 996), (
        f"the packet size (~{size} bytes) must be named: {cp.stderr!r}")
    assert not out.exists() or out.stat().st_size == 0


def test_sign_accepts_zone_just_under_limit(swarmdns_bin, make_key, tmp_path):
    key = make_key()
    text = txt_zone(16, 40)
    size = dnspython_packet_size(text, key.origin)
    assert PACKET_MAX - 60 <= size <= PACKET_MAX - 10, size  # the test's own premise
    cp = sign(swarmdns_bin, key, write_zone(tmp_path, text))
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    packet = split_relay(cp.stdout)[2]
    assert len(packet) <= PACKET_MAX
    assert len(packet_records(packet)[1]) == 16


# --------------------------------------------------------------------------------------------
# publish


def test_publish_without_node_says_so(swarmdns_bin, make_key, tmp_path):
    key = make_key()
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    cp = run_cli(swarmdns_bin, "publish", "-k", key.path, "--api", url, write_zone(tmp_path, ZONE))
    assert cp.returncode == 1, describe(cp)
    assert time.monotonic() - start < 10, "publish must fail fast when nothing listens"
    assert url in cp.stderr, f"the URL must be named: {cp.stderr!r}"
    assert "swarmdns serve" in cp.stderr, f"must suggest `swarmdns serve`: {cp.stderr!r}"
    assert re.search(r"no (swarmdns )?node", cp.stderr, re.I), cp.stderr


def test_publish_prints_key_and_seq_and_node_serves_it(swarmdns_bin, node, make_key, tmp_path):
    key = make_key()
    before = now_us()
    cp = run_cli(swarmdns_bin, "publish", "--local-ok", "-k", key.path, "--api", node.api_url,
                 write_zone(tmp_path, ZONE))
    assert cp.returncode == 0, describe(cp)
    assert key.z32 in cp.stdout and "seq" in cp.stdout, cp.stdout
    r = node.api("GET", f"/{key.z32}")
    assert r.status == 200
    assert verify_relay(key.pub, r.body)
    seq = split_relay(r.body)[1]
    assert seq >= before
    assert str(seq) in cp.stdout, f"stdout should show the published seq {seq}: {cp.stdout!r}"
    resp = node.query(key.name("www"), "A")
    assert [rr.to_text() for rr in resp.answer[0]] == ["192.0.2.2"]


def test_publish_twice_quickly_replaces_zone(swarmdns_bin, node, make_key, tmp_path):
    """seq = max(now_us, last_seq + 1): a second publish right away must not be 'older'."""
    key = make_key()
    for i in range(3):
        cp = run_cli(swarmdns_bin, "publish", "--local-ok", "-k", key.path, "--api", node.api_url,
                     write_zone(tmp_path, f"@ 300 IN TXT \"version {i}\"\n"))
        assert cp.returncode == 0, describe(cp)
    resp = node.query(key.name(), "TXT")
    assert [rr.to_text() for rr in resp.answer[0]] == ['"version 2"']


# --------------------------------------------------------------------------------------------
# --help and usage errors

HELP = {
    None: ["keygen", "sign", "publish", "serve"],
    "keygen": ["-o"],
    "sign": ["-k", "--seq", "-o"],
    "publish": ["-k", "--api"],
    "serve": ["--data-dir", "--listen-dns", "--listen-api", "-c", "--check-config"],
}


@pytest.mark.parametrize("sub", list(HELP), ids=lambda s: s or "top")
def test_help(swarmdns_bin, sub):
    args = [sub, "--help"] if sub else ["--help"]
    cp = run_cli(swarmdns_bin, *args)
    assert cp.returncode == 0, describe(cp)
    assert "usage" in cp.stdout.lower(), f"usage on stdout expected: {cp.stdout!r}"
    for word in HELP[sub]:
        assert word in cp.stdout, f"`{' '.join(args)}` does not mention {word}: {cp.stdout!r}"


def test_unknown_subcommand(swarmdns_bin):
    cp = run_cli(swarmdns_bin, "frobnicate")
    assert cp.returncode != 0
    assert "frobnicate" in cp.stderr, cp.stderr


def test_sign_without_zone_argument(swarmdns_bin, make_key):
    cp = run_cli(swarmdns_bin, "sign", "-k", make_key().path)
    assert cp.returncode != 0
    assert cp.stderr.strip()


# --------------------------------------------------------------------------------------------
# serve -c and --check-config


def good_config(tmp_path, dns_port, api_port) -> str:
    return (
        "# swarmdns test configuration\n"
        f"data-dir {tmp_path / 'cfgdata'}\n"
        "\n"
        f"listen-dns 127.0.0.1:{dns_port}\n"
        f"listen-api 127.0.0.1:{api_port}\n"
        "log-level info\n"
        "# a private DHT: no bootstrap routers, any free port\n"
        "dht-listen 127.0.0.1:0\n"
        "bootstrap none\n"
        "upstream none\n"
    )


def test_check_config_good(swarmdns_bin, tmp_path):
    conf = tmp_path / "good.conf"
    conf.write_text(good_config(tmp_path, free_port(), free_port()))
    cp = run_cli(swarmdns_bin, "serve", "-c", conf, "--check-config", timeout=10)
    assert cp.returncode == 0, describe(cp)


@pytest.mark.parametrize("line,token", [
    ("no-such-option yes", "no-such-option"),
    ("listen-dns 127.0.0.1:99999", "99999"),
    ("listen-dns not-an-address", "not-an-address"),
    ("log-level loud", "loud"),
    ("data-dir", "data-dir"),
])
def test_check_config_bad(swarmdns_bin, tmp_path, line, token):
    conf = tmp_path / "bad.conf"
    # Without its log-level line: a second one would be refused as such (test_config.py).
    good = good_config(tmp_path, free_port(), free_port()).replace("log-level info\n", "")
    conf.write_text(good + line + "\n")
    cp = run_cli(swarmdns_bin, "serve", "-c", conf, "--check-config", timeout=10)
    assert cp.returncode == 1, describe(cp)
    assert token in cp.stderr or "bad.conf:7" in cp.stderr, (
        f"the message must point at the problem ({token!r} or bad.conf:7): {cp.stderr!r}")


def test_check_config_missing_file(swarmdns_bin, tmp_path):
    cp = run_cli(swarmdns_bin, "serve", "-c", tmp_path / "absent.conf", "--check-config")
    assert cp.returncode == 1, describe(cp)
    assert "absent.conf" in cp.stderr


class ConfigNode(Node):
    """A node started from a config file only."""

    def __init__(self, binary, conf, base):
        super().__init__(binary, base, base)
        self.conf = conf

    def argv(self):
        return [str(self.binary), "serve", "-c", str(self.conf)]


def test_serve_from_config_file(swarmdns_bin, make_key, tmp_path):
    node = ConfigNode(swarmdns_bin, tmp_path / "serve.conf", tmp_path)
    node.conf.write_text(good_config(tmp_path, node.dns_port, node.api_port))
    try:
        node.start()
        key = make_key()
        cp = run_cli(swarmdns_bin, "publish", "--local-ok", "-k", key.path, "--api", node.api_url,
                     write_zone(tmp_path, ZONE))
        assert cp.returncode == 0, describe(cp)
        resp = node.query(key.name("www"), "A")
        assert [rr.to_text() for rr in resp.answer[0]] == ["192.0.2.2"]
        assert (tmp_path / "cfgdata").is_dir(), "data-dir from the config file is used"
    finally:
        _finish(node)
