#!/bin/sh
# Builds a Debian package of swarmdns from an existing meson build directory (`make deb`):
# installs it with prefix /usr and sysconfdir /etc into a staging tree (meson install
# --destdir), adds DEBIAN/ (control with the Depends of the libraries the binary links,
# conffiles, and the maintainer scripts that register swarmdns.service the Debian way) and
# runs dpkg-deb --build. The build directory's install options are put back afterwards.
# Writes BUILD/swarmdns_<version>_<arch>.deb and prints its path.
# Usage: scripts/make-deb.sh [BUILD]   (default: build)
set -eu

BUILD=$(cd "${1:-build}" && pwd)
WORK=$BUILD/deb
PKG=swarmdns

opt() { # the value of a meson option of $BUILD
	meson introspect --buildoptions "$BUILD" |
		/usr/bin/python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
VERSION=$(meson introspect --projectinfo "$BUILD" |
	/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
ARCH=$(dpkg --print-architecture)

OLD_PREFIX=$(opt prefix)
OLD_SYSCONFDIR=$(opt sysconfdir)
restore() { meson configure "$BUILD" --prefix="$OLD_PREFIX" --sysconfdir="$OLD_SYSCONFDIR" >/dev/null; }
trap restore EXIT
meson configure "$BUILD" --prefix=/usr --sysconfdir=/etc >/dev/null
ninja -C "$BUILD" >/dev/null # regenerate now rather than noisily inside meson install

# dpkg-shlibdeps looks for debian/control and wants the files under debian/<package>.
rm -rf "$WORK"
ROOT=$WORK/debian/$PKG
mkdir -p "$ROOT/DEBIAN"
: >"$WORK/debian/control"
meson install -C "$BUILD" --destdir "$ROOT" --strip --quiet

# Debian policy §12.3: man pages compressed; §12.5: a copyright file.
find "$ROOT/usr/share/man" -type f -exec gzip -9n {} +
mkdir -p "$ROOT/usr/share/doc/$PKG"
cat >"$ROOT/usr/share/doc/$PKG/copyright" <<END
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: swarmdns
Files: *
License: MIT
END

# Depends: what the binary links, as the libraries' packages say (their shlibs/symbols);
# without dpkg-dev, the packages owning the libraries it links, unversioned.
if command -v dpkg-shlibdeps >/dev/null; then
	DEPENDS=$(cd "$WORK" && dpkg-shlibdeps -O -e"debian/$PKG/usr/bin/swarmdns" 2>/dev/null |
		sed -n 's/^shlibs:Depends=//p')
else
	DEPENDS=$(ldd "$ROOT/usr/bin/swarmdns" | awk '$3 ~ /^\// { print $3 }' |
		while read -r lib; do
			dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null
		done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g')
fi
[ -n "$DEPENDS" ] || { echo "make-deb: cannot work out the package's Depends" >&2; exit 1; }

cat >"$ROOT/DEBIAN/control" <<END
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: ${DEBFULLNAME:-swarmdns developers} <${DEBEMAIL:-swarmdns@localhost}>
Installed-Size: $(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
Depends: $DEPENDS
Section: net
Priority: optional
Description: decentralized DNS: names owned by keys, records signed by their owners
 A swarmdns node serves DNS (UDP, TCP, TLS, HTTPS) for names that are public keys, whose
 zones are signed by their owners and kept in the Mainline DHT (BEP 44, pkarr-compatible),
 and passes other names to ordinary DNS servers. The package runs it as swarmdns.service,
 configured by /etc/swarmdns/swarmdns.conf.
END
# The configuration is the operator's: dpkg keeps their changes on upgrade.
echo /etc/swarmdns/swarmdns.conf >"$ROOT/DEBIAN/conffiles"

# Maintainer scripts: enable the unit on first install and keep the operator's choice on
# upgrade (deb-systemd-helper, from init-system-helpers), start or restart it through
# deb-systemd-invoke (which honours policy-rc.d), stop it on removal, forget it on purge.
# Each step is guarded so that the package installs where systemd is absent.
cat >"$ROOT/DEBIAN/postinst" <<'END'
#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] ||
	[ "$1" = abort-remove ]; then
	if command -v deb-systemd-helper >/dev/null; then
		deb-systemd-helper unmask swarmdns.service >/dev/null || true
		if deb-systemd-helper --quiet was-enabled swarmdns.service; then
			deb-systemd-helper enable swarmdns.service >/dev/null || true
		else
			deb-systemd-helper update-state swarmdns.service >/dev/null || true
		fi
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if command -v deb-systemd-invoke >/dev/null; then
			if [ -n "${2:-}" ]; then action=restart; else action=start; fi
			deb-systemd-invoke $action swarmdns.service >/dev/null || true
		fi
	fi
fi
exit 0
END
cat >"$ROOT/DEBIAN/prerm" <<'END'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ] && command -v deb-systemd-invoke >/dev/null; then
	deb-systemd-invoke stop swarmdns.service >/dev/null || true
fi
exit 0
END
cat >"$ROOT/DEBIAN/postrm" <<'END'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper mask swarmdns.service >/dev/null || true
fi
if [ "$1" = purge ]; then
	if command -v deb-systemd-helper >/dev/null; then
		deb-systemd-helper purge swarmdns.service >/dev/null || true
		deb-systemd-helper unmask swarmdns.service >/dev/null || true
	fi
	# The node's storage (DynamicUser keeps it in /var/lib/private/swarmdns).
	rm -rf /var/lib/swarmdns /var/lib/private/swarmdns
fi
exit 0
END
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm" "$ROOT/DEBIAN/postrm"

OUT=$BUILD/${PKG}_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT" >/dev/null
echo "$OUT"
