#!/bin/sh
# Installs the Debian 12 packages that swarmdns needs, in sets:
#   run    building a node and running it (`make`, `make run`, `make install`, `make deb`):
#          a C compiler, meson, ninja, pkg-config and the libraries' -dev packages
#   test   run + what the tests use (`make test`, `unit`, `e2e`, `asan`, `fuzz`): cmocka,
#          clang and its sanitizer runtime, the Python test libraries, dig and kdig, curl,
#          reference servers (knot, nsd, unbound), stubby, and the tools test_install.py checks
#          the installed files with (dpkg-shlibdeps, groff)
#   bench  test + the servers the benchmarks compare against
# Idempotent: packages already present are skipped, so `make run` stays fast after the
# first time.
# Usage: scripts/install-deps.sh [run|test|bench]   (default: test; 'build' = run)
set -eu

RUN="meson ninja-build pkg-config gcc libc6-dev libknot-dev libuv1-dev libsodium-dev \
libgnutls28-dev libnghttp2-dev libmicrohttpd-dev liblmdb-dev libjansson-dev \
libcurl4-gnutls-dev libsystemd-dev"
TEST="libcmocka-dev clang libclang-rt-14-dev python3-pytest python3-dnspython \
python3-libtorrent python3-cryptography python3-prometheus-client dnsutils knot-dnsutils \
curl stubby nghttp2-client knot nsd unbound dpkg-dev groff-base"
BENCH="knot nsd dnsperf unbound knot-resolver dnsdist nghttp2-client knot-dnsutils"

case "${1:-test}" in
run | build) WANT="$RUN" ;;
test) WANT="$RUN $TEST" ;;
bench) WANT="$RUN $TEST $BENCH" ;;
*) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;;
esac

MISSING=""
for p in $WANT; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		MISSING="$MISSING $p"
done
[ -z "$MISSING" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
	command -v sudo >/dev/null || {
		echo "swarmdns: missing packages:$MISSING" >&2
		echo "swarmdns: run this script as root, or install them with apt-get" >&2
		exit 1
	}
else
	SUDO=
fi
echo "swarmdns: installing Debian packages:$MISSING"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Server packages (knot, nsd, unbound) must not start system daemons that take port 53.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	CLEANUP=1
fi
$SUDO apt-get install -y -qq --no-install-recommends $MISSING
[ "${CLEANUP:-0}" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
exit 0
