#!/bin/sh
# Installs every Debian 12 package that building, running and testing swarmdns needs.
# Idempotent: packages already present are skipped, so `make run` stays fast after the first time.
# Usage: scripts/install-deps.sh [build|test|bench]   (default: test, which includes build)
set -eu

BUILD="meson ninja-build pkg-config gcc clang libknot-dev libuv1-dev libsodium-dev \
libgnutls28-dev libnghttp2-dev libmicrohttpd-dev liblmdb-dev libjansson-dev libcmocka-dev libcurl4-gnutls-dev libsystemd-dev"
TEST="python3-pytest python3-dnspython python3-libtorrent python3-cryptography dnsutils \
knot-dnsutils curl stubby nghttp2-client python3-prometheus-client knot nsd \
libclang-rt-14-dev"
BENCH="knot nsd dnsperf unbound knot-resolver dnsdist nghttp2-client knot-dnsutils"

case "${1:-test}" in
build) WANT="$BUILD" ;;
test) WANT="$BUILD $TEST" ;;
bench) WANT="$BUILD $TEST $BENCH" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
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
