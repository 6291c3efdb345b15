"""The config file as an operator meets it (issue 12): '#' inside a value, quoted values, a
single-value option given twice, --config=FILE and --opt=value, --check-config opening the
files the configuration names, --print-config read back, and one node per data-dir.

Each pitfall is checked with `serve --check-config` and, where it changes what the node
does, with a real `serve`.
"""
import re
import subprocess
import time

from conftest import Node, describe, free_port, run_cli, _finish


def base_config(tmp_path, dns_port, api_port, data_dir=None) -> str:
    return (
        "# swarmdns test configuration\n"
        f"data-dir {data_dir or tmp_path / 'data'}\n"
        f"listen-dns 127.0.0.1:{dns_port}\n"
        f"listen-api 127.0.0.1:{api_port}\n"
        "dht-listen 127.0.0.1:0\n"
        "bootstrap none\n"
        "upstream none\n"
    )


class ConfigNode(Node):
    """A node started from a config file (and the extra arguments given)."""

    def __init__(self, binary, conf, base, dns_port, api_port, config_arg="-c"):
        super().__init__(binary, base, base)
        self.conf = conf
        self.config_arg = config_arg
        self.dns_port, self.api_port = dns_port, api_port  # the config file's

    def argv(self):
        if self.config_arg == "=":
            return [str(self.binary), "serve", f"--config={self.conf}", *self.extra_args]
        return [str(self.binary), "serve", "-c", str(self.conf), *self.extra_args]


def check(binary, conf, *extra):
    return run_cli(binary, "serve", "-c", conf, "--check-config", *extra, timeout=10)


def print_config(binary, *args):
    cp = run_cli(binary, "serve", *args, "--print-config", timeout=10)
    assert cp.returncode == 0, describe(cp)
    return cp.stdout


def values(printed: str) -> list:
    """--print-config without its comments: what the node would run with."""
    return [re.sub(r"  # .*$", "", line) for line in printed.splitlines()
            if line and not line.startswith("#")]


def origin(printed: str, option: str) -> str:
    m = re.search(rf"^{re.escape(option)} .*  # (.*)$", printed, re.M)
    assert m, f"{option} not in --print-config:\n{printed}"
    return m.group(1)


def test_hash_inside_a_value_is_not_a_comment(swarmdns_bin, tmp_path):
    dns_port, api_port = free_port(), free_port()
    conf = tmp_path / "hash.conf"
    data = tmp_path / "data#1"
    conf.write_text(base_config(tmp_path, dns_port, api_port, data_dir=data)
                    + "api-token abc#def   # the comment after blanks goes\n"
                    + "#min-ttl 1\n")
    cp = check(swarmdns_bin, conf)
    assert cp.returncode == 0, describe(cp)
    out = print_config(swarmdns_bin, "-c", conf)
    assert 'api-token "abc#def"  # ' in out, out
    assert "min-ttl 300  # default" in out, out
    node = ConfigNode(swarmdns_bin, conf, tmp_path, dns_port, api_port)
    try:
        node.start()
        assert node.status()["data_dir"] == str(data)
        assert data.is_dir(), "the node uses the data-dir with '#' in its name"
    finally:
        _finish(node)


def test_quoted_values_lose_their_quotes(swarmdns_bin, tmp_path):
    dns_port, api_port = free_port(), free_port()
    conf = tmp_path / "quoted.conf"
    data = tmp_path / "my data"
    text = base_config(tmp_path, dns_port, api_port).replace(
        f"data-dir {tmp_path / 'data'}", f'data-dir "{data}"  # spaces need quotes')
    conf.write_text(text + "api-token 'a \"b\" # c'\nkey-suffix \"k\\\\ey\"\n")
    out = print_config(swarmdns_bin, "-c", conf)
    assert f'data-dir "{data}"  # {conf}:2' in out, out
    assert f'api-token "a \\"b\\" # c"  # {conf}:8' in out, out
    node = ConfigNode(swarmdns_bin, conf, tmp_path, dns_port, api_port)
    try:
        node.start()
        assert node.status()["data_dir"] == str(data), "quotes must not be part of the path"
        assert data.is_dir()
        assert not (tmp_path / '"my data"').exists()
    finally:
        _finish(node)
    conf.write_text(text + 'api-token "unterminated\n')
    cp = check(swarmdns_bin, conf)
    assert cp.returncode == 1 and "quoted.conf:8:" in cp.stderr and "closing" in cp.stderr, \
        describe(cp)


def test_single_value_option_twice_is_an_error(swarmdns_bin, tmp_path):
    dns_port, api_port = free_port(), free_port()
    conf = tmp_path / "twice.conf"
    conf.write_text(base_config(tmp_path, dns_port, api_port) + "min-ttl 60\n# later\n"
                    "min-ttl 120\n")
    for argv in (["serve", "-c", conf, "--check-config"], ["serve", "-c", conf]):
        cp = run_cli(swarmdns_bin, *argv, timeout=10)
        assert cp.returncode == 1, describe(cp)
        assert "twice.conf:10:" in cp.stderr and "lines 8 and 10" in cp.stderr, describe(cp)
        assert "min-ttl" in cp.stderr
    # Twice on the command line: also an error, naming both arguments.
    conf.write_text(base_config(tmp_path, dns_port, api_port))
    cp = check(swarmdns_bin, conf, "--min-ttl", "60", "--min-ttl=120")
    assert cp.returncode == 2, describe(cp)
    assert "--min-ttl" in cp.stderr and "twice on the command line" in cp.stderr, describe(cp)
    # A repeatable option collects its values; the command line still overrides the file.
    conf.write_text(base_config(tmp_path, dns_port, api_port) + "min-ttl 60\n"
                    "key-suffix a\nkey-suffix b\n")
    out = print_config(swarmdns_bin, "-c", conf, "--min-ttl", "90")
    assert "min-ttl 90  # command line" in out, out
    assert f"key-suffix a  # {conf}:9" in out and f"key-suffix b  # {conf}:10" in out, out


def test_config_equals_file_and_option_equals_value(swarmdns_bin, tmp_path):
    dns_port, api_port = free_port(), free_port()
    conf = tmp_path / "eq.conf"
    conf.write_text(base_config(tmp_path, dns_port, api_port))
    cp = run_cli(swarmdns_bin, "serve", f"--config={conf}", "--check-config", timeout=10)
    assert cp.returncode == 0, describe(cp)
    out = print_config(swarmdns_bin, f"--config={conf}", "--max-ttl=3600")
    assert f"listen-dns 127.0.0.1:{dns_port}  # {conf}:3" in out, out
    assert "max-ttl 3600  # command line" in out, out
    node = ConfigNode(swarmdns_bin, conf, tmp_path, dns_port, api_port, config_arg="=")
    node.extra_args = ["--log-level=debug"]
    try:
        node.start()
        assert node.api("GET", "/v1/status").status == 200
    finally:
        _finish(node)


def test_print_config_reads_back_to_the_same(swarmdns_bin, tmp_path):
    dns_port, api_port = free_port(), free_port()
    conf = tmp_path / "first.conf"
    conf.write_text(base_config(tmp_path, dns_port, api_port)
                    + "api-token \"p#ss word\"\nroot home=" + "y" * 52 + "\n")
    first = print_config(swarmdns_bin, "-c", conf, "--min-ttl", "120", "--dns-cookies", "no")
    assert origin(first, "listen-api") == f"{conf}:4"
    assert origin(first, "min-ttl") == "command line"
    assert origin(first, "max-ttl") == "default"
    assert origin(first, "dns-cookies") == "command line"
    assert "# forward (no value)  # default" in first, first
    pasted = tmp_path / "pasted.conf"
    pasted.write_text(first)
    cp = check(swarmdns_bin, pasted)
    assert cp.returncode == 0, describe(cp)
    second = print_config(swarmdns_bin, "-c", pasted)
    assert values(second) == values(first), "\n".join(
        f"{a!r} != {b!r}" for a, b in zip(values(first), values(second)) if a != b)
    assert origin(second, "max-ttl") == f"{pasted}:" + str(
        first.splitlines().index("max-ttl 86400  # default") + 1)


def test_check_config_opens_the_files(swarmdns_bin, tmp_path):
    dns_port, api_port = free_port(), free_port()
    conf = tmp_path / "tls.conf"
    base = base_config(tmp_path, dns_port, api_port)
    missing = tmp_path / "missing-cert.pem"
    conf.write_text(base + f"tls-cert {missing}\ntls-key {tmp_path / 'k.pem'}\n")
    cp = check(swarmdns_bin, conf)
    assert cp.returncode == 1, describe(cp)
    assert "tls-cert" in cp.stderr and str(missing) in cp.stderr, describe(cp)
    assert "No such file or directory" in cp.stderr, describe(cp)
    # Not a certificate: GnuTLS says so.
    made = run_cli(swarmdns_bin, "cert", "-o", tmp_path / "tls")
    assert made.returncode == 0, describe(made)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    conf.write_text(base + f"tls-cert {junk}\ntls-key {tmp_path / 'tls' / 'key.pem'}\n")
    cp = check(swarmdns_bin, conf)
    assert cp.returncode == 1 and "tls-cert" in cp.stderr and str(junk) in cp.stderr, \
        describe(cp)
    # A key file that cannot be read (a directory in its place).
    conf.write_text(base + f"tls-cert {tmp_path / 'tls' / 'cert.pem'}\ntls-key {tmp_path}\n")
    cp = check(swarmdns_bin, conf)
    assert cp.returncode == 1 and "tls-key" in cp.stderr and str(tmp_path) in cp.stderr, \
        describe(cp)
    # The pair `swarmdns cert` made is valid.
    conf.write_text(base + f"tls-cert {tmp_path / 'tls' / 'cert.pem'}\n"
                    f"tls-key {tmp_path / 'tls' / 'key.pem'}\n")
    cp = check(swarmdns_bin, conf)
    assert cp.returncode == 0, describe(cp)


def test_second_node_on_a_data_dir_is_refused(swarmdns_bin, tmp_path):
    data = tmp_path / "shared"
    data.mkdir()
    first = Node(swarmdns_bin, data, tmp_path)
    try:
        first.start()
        second = Node(swarmdns_bin, data, tmp_path)
        cp = subprocess.run(second.argv(), capture_output=True, text=True, timeout=10)
        assert cp.returncode != 0, describe(cp)
        assert f"PID {first.proc.pid}" in cp.stderr, describe(cp)
        assert str(data) in cp.stderr and "swarmdns serve" in cp.stderr, describe(cp)
        first.assert_alive()
        assert first.api("GET", "/v1/status").status == 200
        # Once the first has stopped, the data-dir is free again.
        assert first.stop() == 0
        first.start()
    finally:
        _finish(first)
