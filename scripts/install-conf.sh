#!/bin/sh
# Installs the sample configuration (meson install script, meson.build): copies SOURCE to
# ${DESTDIR}DIR/swarmdns.conf unless a configuration is already there, so that a
# `make install` over an older one never loses the operator's changes; the new sample then
# goes beside it as swarmdns.conf.dist. (The Debian package leaves this to dpkg's conffile
# handling.)
# Usage: scripts/install-conf.sh SOURCE DIR
set -eu
src=$1
dir=${DESTDIR:-}$2
mkdir -p "$dir"
if [ -e "$dir/swarmdns.conf" ] && ! cmp -s "$src" "$dir/swarmdns.conf"; then
	install -m 0644 "$src" "$dir/swarmdns.conf.dist"
	echo "swarmdns: kept $dir/swarmdns.conf; the new sample is $dir/swarmdns.conf.dist"
else
	install -m 0644 "$src" "$dir/swarmdns.conf"
	echo "Installing $src to $dir"
fi
