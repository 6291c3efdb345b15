"""Logs an operator can use (issue 12), end to end on 127.0.0.1.

  - started by systemd (JOURNAL_STREAM names stderr's device:inode, systemd.exec(5)), every
    line starts with its syslog priority <N> and has no timestamp; otherwise a timestamp;
  - an upstream that stops answering: one "upstream 127.0.0.1:PORT down" line, and "back"
    when it answers again (a fake upstream, upstreamutil.py);
  - a zone published through the API: one line; published again and again: at most 5 lines a
    minute (rate limiting of a repeated event);
  - a limit that starts to act: one line naming it;
  - the query log: one line per query with client, name, type, rcode, source and time.
"""
import os
import re
import socket
import time

import dns.message
import dns.rcode
import pytest

from conftest import keygen, publish_zone
from upstreamutil import FakeUpstream, with_upstream

ZONE = "@ 300 IN A 192.0.2.1\nwww 300 IN A 192.0.2.2\n"


def wait_log(node, pattern, timeout=5.0, since=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = node.stderr_text()[since:]
        if re.search(pattern, text, re.M):
            return text
        time.sleep(0.05)
    pytest.fail(f"no log line matching {pattern!r} within {timeout} s\n{node.stderr_tail()}",
                pytrace=False)


def test_journal_stream_gives_priorities_and_no_timestamps(node_factory, monkeypatch, tmp_path):
    conf = tmp_path / "swarmdns.conf"
    conf.write_text("stale-max 60\n")
    node = node_factory(extra_args=["-c", str(conf)])
    # The stderr file exists before the start (Node opens it with "wb": same inode).
    path = node.log_dir / f"node-{node.dns_port}-{node.starts + 1}.stderr"
    path.touch()
    st = os.stat(path)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    node.start()
    conf.write_text("stale-max 60\napi-max-clients 7\n")  # needs a restart: a warning
    node.proc.send_signal(1)
    wait_log(node, r"^<6>reloaded ")
    conf.write_text("stale-max sixty\n")  # does not parse: an error
    node.proc.send_signal(1)
    wait_log(node, r"^<3>cannot reload ")
    lines = [line for line in node.stderr_text().splitlines() if line]
    assert lines and all(re.match(r"^<[3467]>", line) for line in lines), lines
    assert not any(re.match(r"^<\d>\d{4}-\d\d-\d\dT", line) for line in lines), (
        f"the journal adds its own timestamps:\n{lines}")
    assert any(line.startswith("<6>") and "ready" in line for line in lines), lines
    assert any(line.startswith("<4>option api-max-clients changed") for line in lines), lines


def test_without_the_journal_lines_have_timestamps(node_factory, monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")  # not our stderr (e.g. a shell in a unit)
    node = node_factory().start()
    line = next(ln for ln in node.stderr_text().splitlines() if "ready" in ln)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ swarmdns\[info\]: ", line), line


def test_upstream_down_then_back_is_logged_once_each_by_address(node_factory):
    silent = {"on": False}

    def answer(q):
        if silent["on"]:
            return None
        r = dns.message.make_response(q)
        return r

    up = FakeUpstream(delay=0, answer_fn=answer)
    try:
        node = with_upstream(node_factory(), up.port).start()
        name = f"127.0.0.1:{up.port}"
        assert node.query("ok1.example.", "A").rcode() == dns.rcode.NOERROR
        silent["on"] = True
        for i in range(2):  # a lone server is tried twice per query: 4 tries in a row
            node.query(f"silent{i}.example.", "A", timeout=3)
        wait_log(node, rf"upstream {re.escape(name)} down")
        node.query("silent9.example.", "A", timeout=3)
        silent["on"] = False
        assert node.query("ok2.example.", "A").rcode() == dns.rcode.NOERROR
        text = wait_log(node, rf"upstream {re.escape(name)} back")
        assert text.count(f"upstream {name} down") == 1, text
        assert text.count(f"upstream {name} back") == 1, text
        assert "upstream 0" not in text and "upstream 1 " not in text
    finally:
        up.close()


def test_publish_logs_one_line_and_a_repeated_event_is_rate_limited(swarmdns_bin, node,
                                                                    tmp_path):
    key = keygen(swarmdns_bin, tmp_path / "k.key")
    publish_zone(swarmdns_bin, node, key, ZONE)
    text = wait_log(node, rf"zone {key.z32} published: seq \d+")
    assert text.count(f"zone {key.z32} published") == 1, text
    for i in range(8):
        publish_zone(swarmdns_bin, node, key, ZONE + f'txt 300 IN TXT "v{i}"\n')
    time.sleep(0.2)
    n = node.stderr_text().count(f"zone {key.z32} published")
    assert n == 5, f"9 publishes in a few seconds gave {n} lines, not 5 (5 a minute)"
    assert node.api("GET", "/v1/status").status == 200


def test_a_limit_starting_to_act_is_logged_once(node_factory):
    node = node_factory(extra_args=["--tcp-max-clients", "1"]).start()
    socks = [socket.create_connection(("127.0.0.1", node.dns_port), timeout=2)
             for _ in range(4)]
    try:
        text = wait_log(node, r"limit tcp-max-clients is acting \(\d+ hits in the last "
                        r"minute\); see docs/limits.md")
        more = [socket.create_connection(("127.0.0.1", node.dns_port), timeout=2)
                for _ in range(3)]
        time.sleep(2.5)  # the limits are looked at every 2 s
        for s in more:
            s.close()
        assert node.stderr_text().count("limit tcp-max-clients is acting") == 1, text
    finally:
        for s in socks:
            s.close()


def test_query_log_one_line_per_query_with_its_fields(swarmdns_bin, node_factory, tmp_path):
    qlog = tmp_path / "queries.log"
    node = node_factory(extra_args=["--query-log", str(qlog)]).start()
    key = keygen(swarmdns_bin, tmp_path / "k.key")
    publish_zone(swarmdns_bin, node, key, ZONE)
    assert node.query(key.name("www"), "A").rcode() == dns.rcode.NOERROR
    assert node.query(key.name("www"), "AAAA", tcp=True) is not None
    assert node.query("outside.example.", "A").rcode() == dns.rcode.REFUSED
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and \
            (not qlog.exists() or qlog.read_text().count("\n") < 4):
        time.sleep(0.1)
    lines = qlog.read_text().splitlines()
    assert len(lines) == 4, lines
    # publish's GET /<z32> (the last seq) looked the key up through the resolver, as an API
    # question for the key's apex (docs/api.md "pkarr relay"): SERVFAIL, this node has no peers.
    first = lines.pop(0)
    assert re.match(rf"^\S+Z 127\.0\.0\.1:\d+ api {re.escape(key.name('@'))} SOA SERVFAIL none "
                    r"\d+ms$", first), first
    pat = r"^\S+Z 127\.0\.0\.1:\d+ (udp|tcp) (\S+) (\S+) ([A-Z]+) (\S+) \d+ms$"
    got = [re.match(pat, ln) for ln in lines]
    assert all(got), lines
    assert [(m[1], m[2], m[3], m[4], m[5]) for m in got] == [
        ("udp", key.name("www"), "A", "NOERROR", "local"),
        ("tcp", key.name("www"), "AAAA", "NOERROR", "local"),
        ("udp", "outside.example.", "A", "REFUSED", "none"),
    ], lines
    assert "outside.example." not in node.stderr_text(), "query lines went to the node log"
