#!/bin/sh
# Runs every libFuzzer target of a -Dfuzz=true build for SECONDS seconds each.
#
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]     (make fuzz SECONDS=600 [TARGETS="query bencode"])
#
# With TARGET names (as in fuzz-<name>), only those run.
# Each target works on a copy of its committed corpus in BUILD_DIR/fuzz-work/<target>/corpus
# (new inputs accumulate there across runs; the committed corpus is never written). Prints
# the executions of each target from libFuzzer's final "#N DONE ... exec/s: E" line. When a
# target crashes, leaks or times out, the input is copied to fuzz/corpus/<dir>-crashes/,
# a message says how to reproduce it, and the script exits 1 after running the others.
set -u

if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
	exit 2
fi
build=$1
seconds=$2
shift 2
only=" $* "
here=$(cd "$(dirname "$0")" && pwd)
case $seconds in
'' | *[!0-9]*)
	echo "$0: SECONDS must be a whole number, not '$seconds'" >&2
	exit 2
	;;
esac

# UBSan findings are crashes too; libFuzzer itself reports ASan's.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"

status=0
summary=""

# target name, corpus directory under fuzz/corpus, -max_len
for spec in "query query 65535" "zone-packet zone_packet 2048" "zonefile zonefile 16384" \
	"conf conf 4096" "bencode bencode 2048" "krpc-node krpc_node 2049" "bep44 bep44 2048" \
	"doh doh 16384" "http1 http1 20000" "api api 8192" "mlog-proof mlog_proof 4096" \
	"reg-item reg_item 2200"; do
	# shellcheck disable=SC2086 # split on purpose
	set -- $spec
	name=$1
	dir=$2
	maxlen=$3
	if [ "$only" != "  " ] && [ "${only#* "$name" }" = "$only" ]; then
		continue
	fi
	bin=$build/fuzz/fuzz-$name
	if [ ! -x "$bin" ]; then
		echo "$0: $bin missing: configure $build with -Dfuzz=true and build it" >&2
		exit 2
	fi
	work=$build/fuzz-work/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	rm -f "$work/artifacts"/*
	cp "$here/corpus/$dir"/* "$work/corpus/"
	log=$work/fuzz.log

	echo "== fuzz-$name: ${seconds}s, corpus $(find "$work/corpus" -type f | wc -l) inputs (log: $log)"
	"$bin" -max_total_time="$seconds" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
		-dict="$here/$dir.dict" -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1
	rc=$?

	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
	execs=$(printf '%s\n' "$done_line" | sed -n 's/^#\([0-9]*\).*/\1/p')
	rate=$(printf '%s\n' "$done_line" | sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p')
	if [ -z "$execs" ]; then
		# No DONE line when the run stopped at a crash: -print_final_stats still counts.
		execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
		rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	fi
	echo "   fuzz-$name: ${execs:-?} executions (${rate:-?} exec/s), exit $rc"
	summary="$summary  fuzz-$name: ${execs:-?} executions in ${seconds}s (${rate:-?} exec/s)\n"

	found=$(ls "$work/artifacts" 2>/dev/null)
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		status=1
		crashes=$here/corpus/$dir-crashes
		mkdir -p "$crashes"
		echo "!! fuzz-$name FAILED (exit $rc). What it reported:" >&2
		grep -E 'ERROR: |SUMMARY: |check failed|runtime error' "$log" | head -n 20 >&2
		for f in $found; do
			cp "$work/artifacts/$f" "$crashes/$f"
			echo "!! input saved as fuzz/corpus/$dir-crashes/$f" >&2
			echo "!!   reproduce: $bin $crashes/$f" >&2
		done
		echo "!! Full log: $log. Once fixed, move the input into fuzz/corpus/$dir/ so that" >&2
		echo "!! 'make test' replays it from then on." >&2
	fi
done

printf 'executions per target:\n%b' "$summary"
exit $status
