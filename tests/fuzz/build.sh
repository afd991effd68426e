#!/bin/sh
# build.sh - builds the libFuzzer targets of tests/fuzz with clang.
#
# usage: build.sh BUILDDIR [TARGET...]
#
# BUILDDIR is a configured build directory (it holds ac_config.h). The
# project's own objects are built by gcc, so every libsendmx source
# (src/*.c but main.c, and compat/ replacements ac_config.h asks for) is
# compiled again here with clang, ASan, UBSan and the coverage
# instrumentation of -fsanitize=fuzzer-no-link, into BUILDDIR/fuzz/obj;
# then each target is linked with -fsanitize=fuzzer. A source is
# recompiled only when it or a header it includes changed.
#
# Environment: FUZZ_CC (default: clang, else clang-14), FUZZ_JOBS
# (parallel compilers, default 2).
#
# -nt is not in POSIX but dash, bash and busybox sh have it; the literal
# quotes in $cflags are meant (-DSYSCONFDIR="/etc" is a C string).
# shellcheck disable=SC3013,SC2089,SC2090
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILDDIR [TARGET...]" >&2; exit 2; }
builddir=$(cd "$1" && pwd)
shift
targets=${*:-"header recipients intake smtp config qctl mx"}

[ -f "$builddir/ac_config.h" ] || {
	echo "$0: $builddir/ac_config.h missing: run configure there first" >&2
	exit 2
}
cc=${FUZZ_CC:-}
if [ -z "$cc" ]; then
	for c in clang clang-14; do
		if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
	done
fi
[ -n "$cc" ] || { echo "$0: clang not found (Debian: apt-get install clang)" >&2; exit 2; }

out=$builddir/fuzz
mkdir -p "$out/obj"

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=c11 -g -O1 -fno-omit-frame-pointer $san \
	-Wall -Wextra -Wno-unused-parameter \
	-I$builddir -I$srcdir/src -I$srcdir/tests/fuzz \
	-DSYSCONFDIR=\"/etc\" -DLOCALSTATEDIR=\"/var\" \
	$(pkg-config --cflags libconfuse libcares libssl libcrypto)"
libs="$(pkg-config --libs libconfuse libcares libssl libcrypto)"

# Is $1 (an object with a .d file next to it) older than what it came from?
stale() {
	[ -f "$1" ] && [ -f "${1%.o}.d" ] || return 0
	# shellcheck disable=SC2013  # words: a .d file lists paths
	for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "${1%.o}.d"); do
		[ "$dep" -nt "$1" ] && return 0
	done
	return 1
}

sources=""
for s in "$srcdir"/src/*.c; do
	[ "${s##*/}" = main.c ] || sources="$sources $s"
done
grep -q '^#define HAVE_STRLCPY 1' "$builddir/ac_config.h" ||
	sources="$sources $srcdir/compat/strlcpy.c"

todo=""
objs=""
for s in $sources; do
	o=$out/obj/$(basename "$s" .c).o
	objs="$objs $o"
	if stale "$o"; then todo="$todo $s"; fi
done
if [ -n "$todo" ]; then
	echo "fuzz: compiling$(echo "$todo" | wc -w | sed 's/^/ /') sources with $cc"
	# The child shells split FZ_CFLAGS as this one does (no second
	# round of quote removal, which would eat the -D quotes).
	FZ_CC=$cc FZ_CFLAGS=$cflags FZ_OUT=$out
	export FZ_CC FZ_CFLAGS FZ_OUT
	# shellcheck disable=SC2086,SC2016
	printf '%s\n' $todo | xargs -P "${FUZZ_JOBS:-2}" -n 1 sh -c '
		o=$FZ_OUT/obj/$(basename "$1" .c).o
		$FZ_CC $FZ_CFLAGS -fsanitize=fuzzer-no-link -MMD -MF "${o%.o}.d" \
			-c "$1" -o "$o" || { rm -f "$o"; exit 255; }' sh
	rm -f "$out/libsendmx-fuzz.a"
fi
if [ ! -f "$out/libsendmx-fuzz.a" ]; then
	# shellcheck disable=SC2086
	ar rcs "$out/libsendmx-fuzz.a" $objs
fi

for t in $targets; do
	src=$srcdir/tests/fuzz/fuzz_$t.c
	bin=$out/fuzz_$t
	[ -f "$src" ] || { echo "$0: no target $t ($src)" >&2; exit 2; }
	extra=""
	# The config target answers config.c's host name lookup itself.
	[ "$t" = config ] && extra="-Wl,--wrap=getaddrinfo"
	if [ ! -f "$bin" ] || [ "$src" -nt "$bin" ] ||
	   [ "$srcdir/tests/fuzz/fuzz.h" -nt "$bin" ] ||
	   [ "$out/libsendmx-fuzz.a" -nt "$bin" ]; then
		echo "fuzz: linking fuzz_$t"
		# shellcheck disable=SC2086
		$cc $cflags -fsanitize=fuzzer "$src" "$out/libsendmx-fuzz.a" \
			$extra $libs -o "$bin"
	fi
done
