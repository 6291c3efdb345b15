"""swarmdns as an installed service (docs/service.md): `make install` checked file by file,
`make deb` checked with dpkg-deb, the systemd unit with systemd-analyze, the man pages and
the sample configuration against the options the binary has (so that they cannot drift),
the sd_notify protocol of `serve`, and the hint for a privileged port.

`make install` and `make deb` run on the build directory of $SWARMDNS_BIN (its parent must
be a meson build directory) with `-o deps-run`, so that the test installs no packages.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, describe, run_cli

MAKE_TIMEOUT = 50


def build_dir(binary: Path) -> Path:
    d = Path(binary).resolve().parent
    if not (d / "build.ninja").exists():
        pytest.skip(f"{binary} is not in a meson build directory: make install needs one")
    return d


def make(build: Path, *args, env=None):
    """`make TARGET BUILD=...` in the repository, as a user types it (without the package
    installation step, deps-run)."""
    cp = subprocess.run(["make", "-C", str(REPO), "-o", "deps-run", f"BUILD={build}", *args],
                        capture_output=True, text=True, timeout=MAKE_TIMEOUT,
                        env={**os.environ, **(env or {})})
    assert cp.returncode == 0, f"make {' '.join(args)}: {describe(cp)}"
    return cp


def serve_options(binary) -> list:
    """The options of `swarmdns serve --help` (the table of src/conf/conf.c)."""
    cp = run_cli(binary, "serve", "--help")
    assert cp.returncode == 0, describe(cp)
    names = re.findall(r"^  --([a-z0-9-]+) ", cp.stdout, re.M)
    names = [n for n in names if n not in ("config", "check-config", "help")]
    assert len(names) > 40, f"too few options parsed from serve --help: {names}"
    return names


def commands(binary) -> list:
    cp = run_cli(binary, "--help")
    assert cp.returncode == 0, describe(cp)
    section = cp.stdout.split("Commands:", 1)[1]
    names = re.findall(r"^  ([a-z][a-z-]*) ", section, re.M)
    assert "serve" in names and "keygen" in names, cp.stdout
    return names


def render_man(page: Path) -> str:
    """The page as plain text (groff, as man(1) would format it); fails on any warning."""
    cp = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", str(page)],
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode == 0 and cp.stderr == "", f"groff {page}: {describe(cp)}"
    return cp.stdout.replace("\u2010", "-").replace("\u2212", "-")


def unit_dir_expected() -> set:
    """Where a /usr install puts the unit: pkg-config systemd's directory, else /usr/lib."""
    cp = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                        capture_output=True, text=True)
    if cp.returncode == 0 and cp.stdout.strip():
        return {cp.stdout.strip()}
    return {"/usr/lib/systemd/system"}


@pytest.fixture(scope="module")
def installed(swarmdns_bin, tmp_path_factory):
    """`make install DESTDIR=<tmp> PREFIX=/usr`: the staging root."""
    if not shutil.which("make") or not shutil.which("meson"):
        pytest.skip("make and meson are needed (scripts/install-deps.sh run)")
    root = tmp_path_factory.mktemp("destdir")
    make(build_dir(swarmdns_bin), "install", f"DESTDIR={root}", "PREFIX=/usr")
    return root


def test_make_install_puts_each_file_in_place(installed):
    files = {"/" + str(p.relative_to(installed)) for p in installed.rglob("*") if p.is_file()}
    units = {f for f in files if f.endswith("/swarmdns.service")}
    assert len(units) == 1 and os.path.dirname(units.pop()) in unit_dir_expected(), files
    assert files - {f for f in files if f.endswith("/swarmdns.service")} == {
        "/usr/bin/swarmdns",
        "/usr/share/man/man8/swarmdns.8",
        "/usr/share/man/man5/swarmdns.conf.5",
        "/etc/swarmdns/swarmdns.conf",
    }
    assert (installed / "usr/bin/swarmdns").stat().st_mode & 0o777 == 0o755
    assert (installed / "etc/swarmdns/swarmdns.conf").stat().st_mode & 0o777 == 0o644


def test_installed_binary_runs(installed, swarmdns_bin):
    cp = run_cli(installed / "usr/bin/swarmdns", "--version")
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout == run_cli(swarmdns_bin, "--version").stdout
    assert re.fullmatch(r"swarmdns \d+\.\d+\.\d+\n", cp.stdout), cp.stdout


def test_man_pages_render_and_man_finds_them(installed):
    man8 = render_man(installed / "usr/share/man/man8/swarmdns.8")
    man5 = render_man(installed / "usr/share/man/man5/swarmdns.conf.5")
    assert re.search(r"^NAME\n\s+swarmdns\s+-\s", man8, re.M), man8[:400]
    assert re.search(r"^NAME\n\s+swarmdns.conf\s+-\s", man5, re.M), man5[:400]
    if shutil.which("man"):
        cp = subprocess.run(["man", "-w", "swarmdns.conf"], capture_output=True, text=True,
                            env={**os.environ, "MANPATH": str(installed / "usr/share/man")})
        assert cp.stdout.strip() == str(installed / "usr/share/man/man5/swarmdns.conf.5"), \
            describe(cp)


def test_swarmdns_8_covers_every_command_and_the_signals(installed, swarmdns_bin):
    text = render_man(installed / "usr/share/man/man8/swarmdns.8")
    sections = dict(re.findall(r"^([A-Z][A-Z ]+)\n(.*?)(?=^[A-Z][A-Z ]+\n|\Z)", text,
                               re.M | re.S))
    missing = [c for c in commands(swarmdns_bin)
               if not re.search(rf"^ {{7}}{c}\b", sections["COMMANDS"], re.M)]
    assert not missing, f"commands of `swarmdns --help` missing in swarmdns(8): {missing}"
    for sig in ("SIGTERM", "SIGINT", "SIGHUP"):
        assert sig in sections["SIGNALS"], sections["SIGNALS"]


def test_swarmdns_conf_5_covers_every_option(installed, swarmdns_bin):
    text = render_man(installed / "usr/share/man/man5/swarmdns.conf.5")
    options = text.split("\nOPTIONS\n", 1)[1].split("\nFILES\n", 1)[0]
    documented = set(re.findall(r"^ {7}([a-z0-9-]+) \S", options, re.M))
    have = set(serve_options(swarmdns_bin))
    assert have - documented == set(), "options missing in swarmdns.conf(5)"
    assert documented - have == set(), "swarmdns.conf(5) documents options that do not exist"


def test_sample_config_has_every_option_and_is_valid(installed, swarmdns_bin, tmp_path):
    text = (installed / "etc/swarmdns/swarmdns.conf").read_text()
    missing = [o for o in serve_options(swarmdns_bin)
               if not re.search(rf"^#?{o} \S", text, re.M)]
    assert not missing, f"options missing in the sample configuration: {missing}"
    active = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert active == ["data-dir /var/lib/swarmdns"], active
    assert re.search(r"^#listen-dns 127\.0\.0\.1:53$", text, re.M)
    assert re.search(r"^#listen-dns \[::1\]:53$", text, re.M)

    # As installed (its data-dir in a temporary directory), and with every example line
    # taken in (but for placeholders): both are valid configurations.
    conf = tmp_path / "as-installed.conf"
    conf.write_text(text.replace("/var/lib/swarmdns", str(tmp_path / "data")))
    cp = run_cli(swarmdns_bin, "serve", "--check-config", "--config", conf)
    assert cp.returncode == 0 and "valid" in cp.stdout + cp.stderr, describe(cp)
    examples = [re.sub(r"^#", "", ln) for ln in conf.read_text().splitlines()
                if re.match(r"^#?[a-z]", ln) and "<" not in ln
                and not ln.startswith("#data-dir ")]
    every = tmp_path / "every-example.conf"
    seen, lines = set(), []
    for ln in examples:  # one value of each single-value option: the first shown
        name = ln.split()[0]
        if name in seen and name not in ("listen-dns", "bootstrap", "upstream", "listen-dot",
                                         "listen-doh"):
            continue
        seen.add(name)
        lines.append(ln)
    # --check-config opens the certificate and key the examples name: make real ones there.
    tls = tmp_path / "tls"
    cp = run_cli(swarmdns_bin, "cert", "-o", tls)
    assert cp.returncode == 0, describe(cp)
    shutil.copy(tls / "cert.pem", tls / "upstream-ca.pem")  # a CA file for upstream-ca
    every.write_text("\n".join(lines).replace("/etc/swarmdns/", f"{tls}/") + "\n")
    cp = run_cli(swarmdns_bin, "serve", "--check-config", "--config", every)
    assert cp.returncode == 0, f"{every}:\n{every.read_text()}\n{describe(cp)}"


def test_systemd_unit(installed, tmp_path):
    unit = next(installed.rglob("swarmdns.service"))
    text = unit.read_text()
    for line in ("Type=notify", "DynamicUser=yes", "StateDirectory=swarmdns",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID",
                 "ExecStart=/usr/bin/swarmdns serve --config /etc/swarmdns/swarmdns.conf"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), f"{line} not in {unit}"
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed: the unit's syntax is not checked")
    # systemd-analyze verify wants ExecStart's binary to exist: point it into DESTDIR, and
    # man(1) at the installed pages for Documentation=.
    copy = tmp_path / "swarmdns.service"
    copy.write_text(text.replace("/usr/bin/swarmdns", str(installed / "usr/bin/swarmdns"))
                    .replace("/etc/swarmdns", str(installed / "etc/swarmdns")))
    env = {**os.environ, "MANPATH": str(installed / "usr/share/man")}
    cp = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                        text=True, timeout=30, env=env)
    # verify exits 0 even on unknown or unparsable lines: it must say nothing at all.
    assert cp.returncode == 0 and cp.stdout + cp.stderr == "", describe(cp)
    cp = subprocess.run(["systemd-analyze", "security", "--offline=true", str(copy)],
                        capture_output=True, text=True, timeout=30, env=env)
    m = re.search(r"Overall exposure level for swarmdns.service: (\d+\.\d+)", cp.stdout)
    if m:  # systemd >= 252
        assert float(m.group(1)) <= 2.0, cp.stdout


def test_make_install_keeps_a_changed_config(installed, swarmdns_bin):
    conf = installed / "etc/swarmdns/swarmdns.conf"
    original = conf.read_text()
    conf.write_text(original + "log-level debug\n")
    try:
        make(build_dir(swarmdns_bin), "install", f"DESTDIR={installed}", "PREFIX=/usr")
        assert conf.read_text() == original + "log-level debug\n"
        assert (conf.parent / "swarmdns.conf.dist").read_text() == original
    finally:
        conf.write_text(original)
        (conf.parent / "swarmdns.conf.dist").unlink(missing_ok=True)


def test_make_deb(swarmdns_bin, tmp_path):
    for tool in ("make", "meson", "dpkg-deb"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    build = build_dir(swarmdns_bin)
    before = subprocess.run(["meson", "introspect", "--buildoptions", str(build)],
                            capture_output=True, text=True).stdout
    cp = make(build, "deb")
    deb = Path(next(ln for ln in cp.stdout.splitlines() if ln.endswith(".deb")))
    version = run_cli(swarmdns_bin, "--version").stdout.split()[1]
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True).stdout.strip()
    assert deb == build / f"swarmdns_{version}_{arch}.deb" and deb.is_file(), cp.stdout
    # make deb leaves the build directory's own prefix as it was.
    assert subprocess.run(["meson", "introspect", "--buildoptions", str(build)],
                          capture_output=True, text=True).stdout == before

    def field(name):
        out = subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True,
                             text=True).stdout
        return out.strip()

    assert field("Package") == "swarmdns"
    assert field("Version") == version and field("Architecture") == arch
    assert field("Maintainer") and field("Description")
    info = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True)
    assert info.returncode == 0, describe(info)
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+{script}\b", info.stdout,
                         re.M), info.stdout

    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True)
    files = {ln.split()[-1].lstrip(".") for ln in listing.stdout.splitlines()
             if ln.startswith("-")}
    units = {f for f in files if f.endswith("/swarmdns.service")}
    assert len(units) == 1 and os.path.dirname(units.pop()) in unit_dir_expected(), files
    for f in ("/usr/bin/swarmdns", "/etc/swarmdns/swarmdns.conf",
              "/usr/share/man/man8/swarmdns.8.gz", "/usr/share/man/man5/swarmdns.conf.5.gz",
              "/usr/share/doc/swarmdns/copyright"):
        assert f in files, listing.stdout
    assert all(ln.split()[1] == "root/root" for ln in listing.stdout.splitlines()), \
        listing.stdout

    # Unpacked: the conffiles, the maintainer scripts and the binary.
    x = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(x)], check=True, timeout=30)
    assert (x / "DEBIAN/conffiles").read_text().split() == ["/etc/swarmdns/swarmdns.conf"]
    postinst = (x / "DEBIAN/postinst").read_text()
    assert "deb-systemd-helper" in postinst and "daemon-reload" in postinst
    for script in ("postinst", "prerm", "postrm"):
        p = x / "DEBIAN" / script
        assert p.stat().st_mode & 0o111, f"{script} is not executable"
        assert subprocess.run(["sh", "-n", str(p)]).returncode == 0, f"{script}: syntax"
    cp = run_cli(x / "usr/bin/swarmdns", "--version")
    assert cp.returncode == 0 and cp.stdout.split()[1] == version, describe(cp)

    # Depends names the package of every shared library the binary loads.
    depends = {d.split()[0] for d in field("Depends").split(",")}
    ldd = subprocess.run(["ldd", str(x / "usr/bin/swarmdns")], capture_output=True, text=True)
    libs = re.findall(r"=> (/\S+)", ldd.stdout)
    assert libs, ldd.stdout
    # A library pulled in by another one is that one's dependency, not ours.
    needed = set(re.findall(r"\(NEEDED\).*\[(.*)\]", subprocess.run(
        ["readelf", "-d", str(x / "usr/bin/swarmdns")], capture_output=True, text=True).stdout))
    assert needed, "readelf -d found no NEEDED library"
    for lib in libs:
        if os.path.basename(lib) not in needed:
            continue
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True,
                               text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        if owner.returncode != 0:
            continue  # not from a package (a local build of a library)
        pkg = owner.stdout.split(":")[0]
        assert pkg in depends, f"{lib} ({pkg}) is linked but not in Depends: {depends}"


# --------------------------------------------------------------------------------------------
# The node under a service manager.


def test_serve_tells_systemd_ready_and_stopping(node_factory, tmp_path):
    """Type=notify: READY=1 once the node answers (sd_notify(3)), STOPPING=1 on SIGTERM."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    node = node_factory()
    with open(tmp_path / "serve.stderr", "wb") as err:
        node.proc = subprocess.Popen(node.argv(), stdin=subprocess.DEVNULL, stdout=err,
                                     stderr=subprocess.STDOUT,
                                     env={**os.environ, "NOTIFY_SOCKET": str(path)})
    node.stderr_path = tmp_path / "serve.stderr"
    try:
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg.split("\n"), msg
        # Ready means serving: the API and DNS answer now.
        assert node.status()
        assert node.query("example.", "SOA").rcode() is not None
        node.expect_exit = True
        node.proc.send_signal(signal.SIGTERM)
        msg = sock.recv(4096).decode()
        assert "STOPPING=1" in msg.split("\n"), msg
        assert node.proc.wait(5) == 0, node.stderr_tail()
    finally:
        sock.close()


def test_privileged_port_says_what_to_do(node_factory, swarmdns_bin):
    """Port 53 without CAP_NET_BIND_SERVICE: the error names the capability, not another
    server."""
    start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if start <= 53:
        pytest.skip("net.ipv4.ip_unprivileged_port_start lets anyone bind port 53 here")
    node = node_factory()
    argv = [a if a != f"127.0.0.1:{node.dns_port}" else "127.0.0.1:53" for a in node.argv()]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("setpriv is needed to drop CAP_NET_BIND_SERVICE as root")
        argv = ["setpriv", "--bounding-set=-net_bind_service",
                "--inh-caps=-net_bind_service", *argv]
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert cp.returncode != 0, describe(cp)
    line = next((ln for ln in cp.stderr.splitlines() if "cannot listen" in ln), "")
    assert "127.0.0.1:53" in line and "CAP_NET_BIND_SERVICE" in line, describe(cp)
    assert "setcap cap_net_bind_service=+ep" in line and "--listen-dns" in line, line
    assert "another server" not in line, line


def test_port_in_use_still_asks_about_another_server(node_factory):
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    try:
        node = node_factory()
        argv = node.argv()
        argv[argv.index("--listen-dns") + 1] = f"127.0.0.1:{busy.getsockname()[1]}"
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        assert cp.returncode != 0, describe(cp)
        assert "is another server using it? choose another with --listen-dns" in cp.stderr, \
            describe(cp)
    finally:
        busy.close()
