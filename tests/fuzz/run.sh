#!/bin/sh
# run.sh - builds the fuzz targets (build.sh), replays the saved
# regression inputs, then fuzzes each target for a set time.
#
# usage: run.sh BUILDDIR SECONDS [TARGET...]
#
# For each target T:
#   1. every file in tests/fuzz/regressions/T/ is run once: a crash fixed
#      once must stay fixed;
#   2. fuzz_T runs for SECONDS on BUILDDIR/fuzz/corpus/T (the working
#      corpus, which grows) and tests/fuzz/corpus/T (the seeds, read
#      only), with tests/fuzz/dict/*.dict where one fits; a crash leaves
#      its input in BUILDDIR/fuzz/artifacts/T/ and the log in
#      BUILDDIR/fuzz/logs/T.log.
# A summary line per target gives runs, exec/s, coverage (libFuzzer's
# cov: edges and ft: features) and crashes. Exit status 1 if anything
# crashed.
#
# Environment: FUZZ_PARALLEL (targets run at once, default 1),
# FUZZ_FLAGS (more libFuzzer flags), and build.sh's FUZZ_CC, FUZZ_JOBS.
set -u

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 BUILDDIR SECONDS [TARGET...]" >&2; exit 2; }
builddir=$(cd "$1" && pwd) || exit 2
seconds=$2
shift 2
targets=${*:-"header recipients intake smtp config qctl mx"}
out=$builddir/fuzz
parallel=${FUZZ_PARALLEL:-1}

# shellcheck disable=SC2086  # one word per target
sh "$here/build.sh" "$builddir" $targets || exit 2

dict_for() {
	case $1 in
	header|recipients|intake) echo "$here/dict/header.dict" ;;
	smtp|config|qctl) echo "$here/dict/$1.dict" ;;
	esac
}

# Replays the regression inputs of target $1, each on its own so that
# every one that fails is named; 0 when none does.
replay() {
	dir=$here/regressions/$1
	bin=$out/fuzz_$1
	log=$out/logs/$1.replay.log
	failed=0
	ls "$dir"/* >/dev/null 2>&1 || return 0
	# shellcheck disable=SC2012  # names are ours, plain
	echo "fuzz: $1: replaying $(ls "$dir" | wc -l) regression inputs"
	: >"$log"
	for f in "$dir"/*; do
		# Never with the known-bug filter: these inputs must run.
		env -u SENDMX_FUZZ_SKIP_KNOWN "$bin" -runs=1 "$f" >>"$log" 2>&1 &&
			continue
		echo "fuzz: $1: FAILS: $f" >&2
		failed=1
	done
	[ "$failed" -eq 0 ] && return 0
	echo "fuzz: $1: regression inputs fail again, see $log" >&2
	grep -E '^\*\*\* property|^==[0-9]+==ERROR|runtime error|^SUMMARY' "$log" | sort -u >&2
	return 1
}

# Fuzzes target $1 for $seconds, then prints its summary line.
fuzz_one() {
	t=$1
	log=$out/logs/$t.log
	d=$(dict_for "$t")
	mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
	# Crashes of this run only: those of earlier runs stay for study.
	: >"$out/artifacts/$t/.start"
	started=$(date +%s)
	# shellcheck disable=SC2086
	"$out/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$t/" ${d:+-dict="$d"} \
		${FUZZ_FLAGS:-} "$out/corpus/$t" "$here/corpus/$t" \
		</dev/null >"$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - started ))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
	crashes=$(find "$out/artifacts/$t" -type f -newer "$out/artifacts/$t/.start" \
		-name '[clots]*-*' | grep -c -E '/(crash|leak|timeout|oom|slow-unit)-[^/]*$')
	printf 'fuzz: %-10s %4ss  runs %-10s exec/s %-7s %-22s crashes %s%s\n' \
		"$t" "$took" "${runs:-?}" "${speed:-?}" "${cov:-cov: ?}" \
		"$crashes" "$([ "$rc" -ne 0 ] && echo " (exit $rc, see $log)")"
	[ "$rc" -eq 0 ]
}

# The intake and config targets keep their files under TMPDIR; a crash
# leaves them behind, so each run starts with an empty one.
TMPDIR=$out/tmp
export TMPDIR
rm -rf "$TMPDIR"
mkdir -p "$out/logs" "$TMPDIR"
status=0
for t in $targets; do
	replay "$t" || status=1
done

running=0
for t in $targets; do
	fuzz_one "$t" >"$out/logs/$t.summary" &
	running=$((running + 1))
	if [ "$running" -ge "$parallel" ]; then
		wait
		running=0
	fi
done
wait
for t in $targets; do
	cat "$out/logs/$t.summary"
	grep -q 'crashes 0$' "$out/logs/$t.summary" || status=1
done
exit $status
