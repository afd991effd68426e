#!/bin/sh
# fetch-tools.sh - unpack the benchmark's receiver and peers from Debian's
# packages into a private directory, without installing them:
#
#   sh tests/bench/fetch-tools.sh DIR
#
# postfix (for smtp-sink), dma and nullmailer are fetched with
# `apt-get download` and unpacked with `dpkg -x` into DIR/<package>/; none
# becomes the system MTA and nothing outside DIR changes (as root, a
# failed download is retried once after `apt-get update`). DIR/<package>.status
# says "ok <version>" or why the package is missing; bench.py reports a
# peer without one as skipped with that reason. Packages already unpacked
# are not fetched again. Binaries never go into the source tree.
set -u

dir=${1:?usage: fetch-tools.sh DIR}
mkdir -p "$dir/download" || exit 1
updated=no

fetch() {
	pkg=$1
	if [ -f "$dir/$pkg/.unpacked" ]; then
		return 0
	fi
	rm -rf "${dir:?}/$pkg" "$dir/download/${pkg}_"*.deb
	if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
		echo "not a Debian system (no apt-get/dpkg)" > "$dir/$pkg.status"
		return 1
	fi
	# -o APT::Sandbox::User=root: as root, apt would otherwise download as
	# _apt, which cannot write DIR.
	get() {
		(cd "$dir/download" && apt-get -q -o APT::Sandbox::User=root \
			download "$pkg") > "$dir/$pkg.log" 2>&1
	}
	if ! get; then
		if [ "$(id -u)" = 0 ] && [ $updated = no ]; then
			updated=yes
			apt-get -q update >/dev/null 2>&1
			get
		fi
	fi
	deb=
	for f in "$dir/download/${pkg}_"*.deb; do
		[ -f "$f" ] && deb=$f
	done
	if [ -z "$deb" ]; then
		echo "apt-get download $pkg failed: $(tail -n 1 "$dir/$pkg.log")" \
			> "$dir/$pkg.status"
		return 1
	fi
	if ! dpkg -x "$deb" "$dir/$pkg" 2>> "$dir/$pkg.log"; then
		echo "dpkg -x $deb failed" > "$dir/$pkg.status"
		return 1
	fi
	: > "$dir/$pkg/.unpacked"
	echo "ok $(dpkg-deb -f "$deb" Version)" > "$dir/$pkg.status"
}

rc=0
for pkg in postfix dma nullmailer; do
	fetch "$pkg" || rc=1
	echo "fetch-tools: $pkg: $(cat "$dir/$pkg.status")"
done
exit $rc
