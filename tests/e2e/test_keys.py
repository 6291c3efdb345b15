"""Key files as a user handles them (issue 12): `swarmdns key show`, keygen's mode and its
message to back the key up, and the refusal of a key file that group or others can read, by
every command that reads one (key show, sign, publish), with the chmod to run.
"""
import stat

import pytest

from conftest import describe, keygen, run_cli, write_zone

ZONE = "www 300 IN A 192.0.2.2\n"


def test_keygen_mode_and_backup_message(swarmdns_bin, tmp_path):
    path = tmp_path / "me.key"
    cp = run_cli(swarmdns_bin, "keygen", "-o", path)
    assert cp.returncode == 0, describe(cp)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    z32 = cp.stdout.strip()
    assert "back" in cp.stderr.lower() and "up" in cp.stderr, describe(cp)
    assert str(path.resolve()) in cp.stderr, f"the message must say where the key is: {cp.stderr!r}"
    assert z32 in cp.stderr


def test_key_show_prints_the_key_name(swarmdns_bin, tmp_path):
    key = keygen(swarmdns_bin, tmp_path / "a.key")
    cp = run_cli(swarmdns_bin, "key", "show", key.path)
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout == key.z32 + "\n"
    cp = run_cli(swarmdns_bin, "key", "show", "--help")
    assert cp.returncode == 0 and "Usage: swarmdns key show KEYFILE" in cp.stdout, describe(cp)
    cp = run_cli(swarmdns_bin, "key")
    assert cp.returncode == 2 and "show KEYFILE" in cp.stderr, describe(cp)
    cp = run_cli(swarmdns_bin, "key", "--help")
    assert cp.returncode == 0 and "show KEYFILE" in cp.stdout, describe(cp)
    cp = run_cli(swarmdns_bin, "--help")
    assert "key show KEYFILE" in cp.stdout, cp.stdout
    cp = run_cli(swarmdns_bin, "key", "show", tmp_path / "absent.key")
    assert cp.returncode == 1 and "absent.key" in cp.stderr, describe(cp)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others_is_refused(swarmdns_bin, node, tmp_path, mode):
    key = keygen(swarmdns_bin, tmp_path / "open.key")
    key.path.chmod(mode)
    zone = write_zone(tmp_path, ZONE)
    hint = f"chmod 600 {key.path}"
    for args in (["key", "show", key.path], ["sign", "-k", key.path, zone],
                 ["publish", "--local-ok", "-k", key.path, "--api", node.api_url, zone]):
        cp = run_cli(swarmdns_bin, *args)
        assert cp.returncode == 1, describe(cp)
        assert str(key.path) in cp.stderr and f"{mode:04o}" in cp.stderr, describe(cp)
        assert hint in cp.stderr, f"{args[0]}: the chmod to run is missing: {cp.stderr!r}"
    assert node.api("GET", f"/{key.z32}").status == 503, "nothing was published (and no DHT to ask)"
    # After the chmod the user was told to run, it works.
    key.path.chmod(0o600)
    cp = run_cli(swarmdns_bin, "key", "show", key.path)
    assert cp.returncode == 0 and cp.stdout.strip() == key.z32, describe(cp)
    cp = run_cli(swarmdns_bin, "publish", "--local-ok", "-k", key.path, "--api", node.api_url,
                 zone)
    assert cp.returncode == 0, describe(cp)
