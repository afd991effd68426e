#!/usr/bin/env bash
# contrib/check.sh - build sendmx from a clean clone and run every test.
#
# This is the README's test command and exactly what CI runs (.ci/run):
#
#   bash contrib/check.sh
#
# 1. Installs the build and test dependencies with apt-get (Debian 12), when
#    run as root and something is missing; otherwise it only reports what is
#    missing and carries on.
# 2. autoreconf -fi && ./configure && make -j2 && make -j2 check, then
#    make distcheck (the release tarball builds and passes the same tests)
# 3. Prints the automake test-suite summary as the last line:
#      N passed, N failed, N skipped
#    and exits non-zero if anything failed (or could not be built).
#
# Environment:
#   SENDMX_CONFIGURE_FLAGS  extra ./configure arguments (e.g. --enable-sanitizers)
#   SENDMX_DISTCHECK=0      skip `make distcheck`
#   SENDMX_SANITIZERS=0     skip the second run of `make check` in an
#                           ASan+UBSan build (./configure --enable-sanitizers)
#   SENDMX_FUZZ=0           skip `make fuzz-smoke` (libFuzzer, 30 s a target)
#   SENDMX_BENCH=0          skip `make bench-smoke` (benchmarks, small counts)
#   SENDMX_NO_APT=1         never call apt-get
#   JOBS                    make parallelism (default 2)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
jobs=${JOBS:-2}

DEPS=(build-essential autoconf automake pkg-config libconfuse-dev libc-ares-dev
      libssl-dev libcmocka-dev python3 python3-aiosmtpd openssl php-cli
      ca-certificates dnsmasq-base clang libclang-rt-dev msmtp gnuplot-nox
      valgrind time)

say() { printf 'check.sh: %s\n' "$*"; }

install_deps() {
	local missing=() p
	if ! command -v dpkg-query >/dev/null 2>&1; then
		say "not a Debian system: not checking packages (${DEPS[*]})"
		return 0
	fi
	for p in "${DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "all build and test dependencies are installed"
		return 0
	fi
	if [ "${SENDMX_NO_APT:-}" = 1 ] || [ "$(id -u)" -ne 0 ]; then
		say "missing packages: ${missing[*]} (install them as root:" \
		    "apt-get install ${missing[*]}); carrying on"
		return 0
	fi
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || say "apt-get update failed; trying the install anyway"
	apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		say "apt-get install failed; the build may fail"
}

# The summary line CI reads; failures are at least 1 when we could not
# even get to the tests.
finish() {
	local passed=$1 failed=$2 skipped=$3
	printf '%s passed, %s failed, %s skipped\n' "$passed" "$failed" "$skipped"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

build_failed() {
	say "$1 failed: no tests were run"
	finish 0 1 0
}

count() {
	# automake's test-suite.log header: "# PASS:  12"
	local n
	n=$(sed -n "s/^# $1: *\\([0-9][0-9]*\\).*/\\1/p" test-suite.log | head -n 1)
	echo "${n:-0}"
}

# A real mail reader reads back the mailboxes sendmx writes (test_local.py).
# Debian's bsd-mailx depends on an MTA, which installing would make the
# system's sendmail: so it is unpacked into _tools/ instead, never
# installed, and named to the tests through MAILX.
fetch_mail_reader() {
	local t="$root/_tools" deb
	if [ -x "$t/mail" ]; then
		export MAILX="$t/mail"
		return 0
	fi
	command -v mail >/dev/null 2>&1 && return 0
	[ "${SENDMX_NO_APT:-}" = 1 ] && return 0
	command -v apt-get >/dev/null 2>&1 || return 0
	mkdir -p "$t/debs" && cd "$t/debs" || return 0
	if apt-get download -q bsd-mailx liblockfile1 libbsd0 >/dev/null 2>&1; then
		for deb in ./*.deb; do dpkg -x "$deb" "$t/root"; done
		printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' \
			"$t/root/usr/lib/x86_64-linux-gnu:$t/root/lib/x86_64-linux-gnu" \
			"$t/root/usr/bin/bsd-mailx" >"$t/mail"
		chmod +x "$t/mail"
		export MAILX="$t/mail"
		say "mail reader unpacked into _tools/ (bsd-mailx, not installed)"
	else
		say "could not download bsd-mailx: the mail-reader check will be skipped"
	fi
	cd "$root" || exit 1
}

install_deps
fetch_mail_reader

say "autoreconf -fi"
autoreconf -fi || build_failed autoreconf
# shellcheck disable=SC2086  # word splitting of the flags is intended
./configure ${SENDMX_CONFIGURE_FLAGS:-} || build_failed configure
make -j"$jobs" || build_failed make

rm -f test-suite.log
say "make -j$jobs check"
VERBOSE=1 make -j"$jobs" check
check_rc=$?

if [ ! -f test-suite.log ]; then
	say "make check produced no test-suite.log (exit $check_rc)"
	finish 0 1 0
fi
# A TAP program that reported failing cases also exits non-zero, which
# tap-driver counts as one more ERROR ("- exited with status 1"); do not
# count that failure twice.
exit_dups() {
	local f n=0
	while IFS= read -r f; do
		grep -qF "FAIL: $f " test-suite.log && n=$((n + 1))
	done < <(sed -n 's/^ERROR: \(.*\) - exited with status [0-9][0-9]*$/\1/p' \
			test-suite.log | sort -u)
	echo "$n"
}

pass=$(count PASS)
skip=$(count SKIP)
xfail=$(count XFAIL)
fail=$(( $(count FAIL) + $(count XPASS) + $(count ERROR) - $(exit_dups) ))
say "test-suite.log: $(count TOTAL) total, $pass pass, $fail fail/error/xpass," \
    "$skip skip, $xfail xfail"
if [ "$check_rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
	say "make check exited $check_rc without a failed test: counting it as a failure"
	fail=1
fi

if [ "${SENDMX_DISTCHECK:-1}" != 0 ]; then
	say "make distcheck"
	if ! make -j"$jobs" distcheck; then
		say "make distcheck failed"
		fail=$((fail + 1))
	fi
fi

# The benchmark suite's quick mode (tests/bench), so that it cannot rot.
# It fails only when a workload could not run for sendmx, never on a
# missed target; counted as one test.
if [ "${SENDMX_BENCH:-1}" != 0 ]; then
	say "make bench-smoke"
	if make bench-smoke BENCH_TOOLS="$root/_tools/bench" \
	    BENCH_FLAGS="--results=$root/_tools/bench-smoke"; then
		pass=$((pass + 1))
	else
		say "make bench-smoke failed"
		fail=$((fail + 1))
	fi
fi

# The same tests again under AddressSanitizer and UBSan, in a build
# directory of its own (the source tree is cleaned first: automake
# refuses a VPATH build next to an in-tree one).
if [ "${SENDMX_SANITIZERS:-1}" != 0 ] &&
   ! echo "${SENDMX_CONFIGURE_FLAGS:-}" | grep -q sanitizers; then
	say "make check under --enable-sanitizers"
	make distclean >/dev/null 2>&1
	rm -rf _build-san && mkdir _build-san && cd _build-san || exit 1
	if ../configure --enable-sanitizers >/dev/null &&
	   make -j"$jobs" >/dev/null; then
		VERBOSE=1 make -j"$jobs" check
		san_rc=$?
		if [ -f test-suite.log ]; then
			san_fail=$(( $(count FAIL) + $(count XPASS) + $(count ERROR) - $(exit_dups) ))
			say "sanitizer run: $(count PASS) pass, $san_fail fail/error"
			pass=$((pass + $(count PASS)))
			skip=$((skip + $(count SKIP)))
			fail=$((fail + san_fail))
			[ "$san_rc" -ne 0 ] && [ "$san_fail" -eq 0 ] && fail=$((fail + 1))
		else
			say "sanitizer run produced no test-suite.log"
			fail=$((fail + 1))
		fi
	else
		say "sanitizer build failed"
		fail=$((fail + 1))
	fi
	cd "$root" || exit 1
fi

# libFuzzer smoke run (tests/fuzz): every saved crash input replayed,
# then 30 s per target; counted as one test.
if [ "${SENDMX_FUZZ:-1}" != 0 ]; then
	fuzzdir=$root
	[ -f "$root/_build-san/Makefile" ] && fuzzdir=$root/_build-san
	say "make fuzz-smoke"
	if FUZZ_PARALLEL=$jobs make -C "$fuzzdir" fuzz-smoke; then
		pass=$((pass + 1))
	else
		say "fuzz-smoke failed: see $fuzzdir/fuzz/logs/"
		fail=$((fail + 1))
	fi
fi

cd "$root" || exit 1
finish "$pass" "$fail" "$skip"
