"""The README's tour, run as a new user would run it, and its outputs checked against the
README (issue 12: "a README tour whose commands work when pasted in order on a fresh machine,
with true sample outputs").

The test clones the repository (its committed state: commit README changes before running
this) into a temporary directory, points the clone's `./build/swarmdns` at $SWARMDNS_BIN (so
nothing is rebuilt), starts the node `make run` starts, then runs every command of the tour
in one bash session in the clone, in order, its output on a terminal (a pty, so that stdout
and stderr interleave as a user sees them), and compares each command's output with the lines
after it in README.md.

How README.md marks the tour, and the rules for what varies, are written in README.md itself
(the paragraph that starts "In the blocks of this tour"):
- in a ```sh block, a line starting with `$ ` is a command; it goes on into the next line when
  it ends with `\\`, and up to the terminator line when it has a here-document (`<<'EOF'`);
- the lines after a command, up to the next command or the end of the block, are its output;
  a block without `$ ` lines (`make run`) is not run by this test;
- in the output: a 52-character z-base32 word is a key (the same README key must be the same
  key throughout the tour); a hex string of 16 or more digits (any of the same length), a
  number of 10 or more digits (seq), a time in ms and the TTL of a `dig` answer line may be
  anything; `[1] 12345` lines (an interactive shell's job notices) are not printed here and
  are skipped; a line `...` matches any number of lines; `/home/you/swarmdns` stands for the
  clone's directory; runs of blanks and tabs compare as one space.

Unlike the user's `make run` node, the node started here must not reach the Internet: it gets
`--bootstrap none` (not the public routers) and `--upstream` a local fake server (not the
machine's resolv.conf), and its DHT port stays on 127.0.0.1; every `swarmdns serve` of the
tour gets the same `--upstream`. The tour's fixed ports (5300, 8053, 6881 of `make run`, and
those its commands name) must be free: a busy one fails the test, naming it.
"""
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from upstreamutil import FakeUpstream

pytestmark = pytest.mark.phase_timeout(60)

README = REPO / "README.md"
# `make run`: ./build/swarmdns serve with the defaults of src/conf/conf.c.
MAKE_RUN_DNS = 5300
MAKE_RUN_API = 8053
MAKE_RUN_DHT = 6881
COMMAND_TIMEOUT = 20.0
Z32 = "ybndrfg8ejkmcpqxot1uwisza345h769"
HOME_PLACEHOLDER = "/home/you/swarmdns"
JOB_LINE = re.compile(r"^\[\d+\] \d+$")
HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")
DIG_ANSWER = re.compile(r"^(\S+) (\d+) (IN \S+ .*)$")
TOKENS = re.compile(
    "(?P<home>" + re.escape(HOME_PLACEHOLDER) + ")"
    r"|(?P<key>(?<![0-9a-z])[" + Z32 + r"]{52}(?![0-9a-z]))"
    r"|(?P<hex>(?<![0-9a-z])[0-9a-f]{16,}(?![0-9a-z]))"
    r"|(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"
    r"|(?P<ms>(?<![\d.])\d+(?:\.\d+)? ms\b)"
    r"|(?P<num>(?<!\d)\d{10,}(?!\d))")


# --------------------------------------------------------------------------------------------
# Reading the tour out of README.md.

def tour_steps(text: str):
    """[(command, [expected output lines], README line number)] of every ```sh block."""
    steps = []
    lines = text.split("\n")
    i = 0
    in_sh = False
    while i < len(lines):
        line = lines[i]
        if not in_sh:
            in_sh = line.strip() == "```sh"
            i += 1
            continue
        if line.strip() == "```":
            in_sh = False
            i += 1
            continue
        if not line.startswith("$ "):
            i += 1  # a block without commands (`make run`) or text before the first one
            continue
        lineno = i + 1
        cmd = [line[2:]]
        i += 1
        while cmd[-1].endswith("\\") and i < len(lines):
            cmd.append(lines[i])
            i += 1
        m = HEREDOC.search(cmd[0])
        if m:
            while i < len(lines) and lines[i] != m.group(1):
                cmd.append(lines[i])
                i += 1
            cmd.append(lines[i])
            i += 1
        out = []
        while i < len(lines) and not lines[i].startswith("$ ") and lines[i].strip() != "```":
            out.append(lines[i])
            i += 1
        steps.append(("\n".join(cmd), out, lineno))
    return steps


def tour_ports(steps):
    """The fixed ports the tour uses: make run's, every 127.0.0.1:PORT and -p PORT in the
    commands, and the range of `testnet -n N --base-port P`."""
    ports = {MAKE_RUN_DNS, MAKE_RUN_API, MAKE_RUN_DHT}
    for cmd, _, _ in steps:
        ports |= {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", cmd) if int(p)}
        ports |= {int(p) for p in re.findall(r"\s-p\s+(\d+)", cmd)}
        t = re.search(r"testnet\s+-n\s+(\d+)\s+--base-port\s+(\d+)", cmd)
        if t:
            ports |= set(range(int(t.group(2)), int(t.group(2)) + int(t.group(1))))
    return sorted(ports)


def busy_ports(ports):
    busy = []
    for port in ports:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                if kind == socket.SOCK_STREAM:
                    # As the servers do (libuv): connections of an earlier run still in
                    # TIME_WAIT do not make a port busy; a listener does.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    busy.append(f"{port}/{'tcp' if kind == socket.SOCK_STREAM else 'udp'}")
    return busy


# --------------------------------------------------------------------------------------------
# Comparing an output with the README's, by the rules above.

def normalize(text: str):
    lines = [re.sub(r"[ \t]+", " ", l).rstrip() for l in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


class Matcher:
    """Turns expected lines into one regex; keys bind across the whole tour."""

    def __init__(self, home: str):
        self.home = home
        self.keys = {}  # README key -> the key this run printed in its place

    def line_regex(self, line: str, groups: dict) -> str:
        ttl = DIG_ANSWER.match(line)
        if ttl:  # the TTL of a dig answer line may be anything (a cache counts down)
            return (self.line_regex(ttl.group(1), groups) + r" \d+ " +
                    self.line_regex(ttl.group(3), groups))
        out, pos = [], 0
        for m in TOKENS.finditer(line):
            out.append(re.escape(line[pos:m.start()]))
            pos = m.end()
            tok = m.group(0)
            if m.group("home"):
                out.append(re.escape(self.home))
            elif m.group("key"):
                if tok in self.keys:
                    out.append(re.escape(self.keys[tok]))
                elif tok in groups:
                    out.append(f"(?P={groups[tok]})")
                else:
                    groups[tok] = f"k{len(groups)}"
                    out.append(f"(?P<{groups[tok]}>[{Z32}]{{52}})")
            elif m.group("hex"):
                out.append(f"[0-9a-f]{{{len(tok)}}}")
            elif m.group("date"):
                out.append(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
            elif m.group("ms"):
                out.append(r"\d+(?:\.\d+)? ms")
            else:
                out.append(r"\d{10,}")
        out.append(re.escape(line[pos:]))
        return "".join(out)

    def match(self, expected_lines, actual: str) -> bool:
        groups = {}
        parts = []
        for line in normalize("\n".join(expected_lines)):
            if JOB_LINE.match(line):
                continue
            if line == "...":
                parts.append(r"(?:[^\n]*\n)*?")
            else:
                parts.append(self.line_regex(line, groups) + "\n")
        got = "".join(l + "\n" for l in normalize(actual))
        m = re.fullmatch("".join(parts), got)
        if m:
            for readme_key, group in groups.items():
                self.keys[readme_key] = m.group(group)
        return m is not None


# --------------------------------------------------------------------------------------------
# One bash session on a terminal, as the user's second terminal.

class Shell:
    END = "@@readme-step-done"

    def __init__(self, cwd: Path, env: dict):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"], cwd=cwd, env=env, stdin=subprocess.PIPE,
            stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)

    def run(self, cmd: str, timeout: float = COMMAND_TIMEOUT):
        """(exit code, output) of cmd; (None, output so far) when it takes too long."""
        self.proc.stdin.write((cmd + f"\nprintf '\\n{self.END} %d\\n' $?\n").encode())
        self.proc.stdin.flush()
        buf = b""
        deadline = time.monotonic() + timeout
        end = re.compile(rb"\r?\n" + self.END.encode() + rb" (\d+)\r?\n")
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    buf += os.read(self.master, 65536)
                except OSError:
                    break
            m = end.search(buf)
            if m:
                return int(m.group(1)), buf[:m.start()].decode(errors="replace")
        return None, buf.decode(errors="replace")

    def close(self):
        """Ends the shell and everything it started in the background (its process group:
        a non-interactive bash runs background jobs in its own group)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=3)
                time.sleep(0.2)  # let the group's other members go too
            except subprocess.TimeoutExpired:
                continue
        os.close(self.master)


def wait_api(port: int, proc, log: Path, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the make-run node exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"the make-run node did not answer on its API port {port}:\n{log.read_text()}")


def test_readme_tour_runs_as_written(swarmdns_bin, tmp_path):
    for tool in ("git", "bash", "dig", "kdig"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (the tour uses it)")
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "--git-dir"],
                      capture_output=True).returncode != 0:
        pytest.skip(f"{REPO} is not a git checkout: the tour is run on a fresh clone of it")
    steps = tour_steps(README.read_text())
    assert len(steps) >= 10, f"README.md has {len(steps)} tour commands; its ```sh blocks " \
                             "lost their `$ ` lines?"
    busy = busy_ports(tour_ports(steps))
    if busy:
        pytest.fail(f"the README tour's port(s) {', '.join(busy)} on 127.0.0.1 are busy: is a "
                    "`make run` node or an earlier tour still running? Stop it and run again.",
                    pytrace=False)

    clone = tmp_path / "swarmdns"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=60)
    (clone / "build").mkdir()
    (clone / "build" / "swarmdns").symlink_to(Path(swarmdns_bin).resolve())

    upstream = FakeUpstream(delay=0)
    node = shell = None
    log = tmp_path / "make-run.log"
    try:
        # `make run` is ./build/swarmdns serve with its embedded defaults. Here it must not
        # reach the Internet: no public bootstrap routers, the fake upstream instead of
        # resolv.conf's servers, the DHT on 127.0.0.1 (same port as the default 0.0.0.0:6881).
        with open(log, "wb") as f:
            node = subprocess.Popen(
                ["./build/swarmdns", "serve", "--bootstrap", "none",
                 "--upstream", f"127.0.0.1:{upstream.port}",
                 "--dht-listen", f"127.0.0.1:{MAKE_RUN_DHT}"],
                cwd=clone, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_api(MAKE_RUN_API, node, log)

        env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMDNS_")}
        env.update(HOME=str(tmp_path), TERM="dumb", LC_ALL="C.UTF-8")
        shell = Shell(clone, env)
        matcher = Matcher(str(clone))
        for cmd, expected, lineno in steps:
            # The tour's own nodes get the fake upstream too (see the module's docstring).
            run = cmd.replace("swarmdns serve ",
                              f"swarmdns serve --upstream 127.0.0.1:{upstream.port} ")
            rc, out = shell.run(run)
            where = f"README.md line {lineno}: $ {cmd}"
            out = out.replace("\r\n", "\n")
            if rc is None:
                pytest.fail(f"{where}\ndid not finish in {COMMAND_TIMEOUT:.0f} s; it printed:\n"
                            f"{out}", pytrace=False)
            if rc != 0:
                pytest.fail(f"{where}\nexited with {rc}; it printed:\n{out}", pytrace=False)
            if not matcher.match(expected, out):
                pytest.fail(f"{where}\nprinted:\n{out}\nwhere README.md says (rules in the "
                            "paragraph \"In the blocks of this tour\"):\n" + "\n".join(expected),
                            pytrace=False)
    finally:
        if shell:
            shell.close()
        if node:
            node.terminate()
            try:
                node.wait(timeout=5)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
        upstream.close()
