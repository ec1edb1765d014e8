#!/bin/sh
# Run each libFuzzer harness for a bounded time on a fresh copy of its seed
# corpus, and say for each how many inputs it tried and whether any broke it.
#
#   tests/fuzz/run.sh [HARNESS...]    (default: conn config proxy handover)
#
# From the build directory, after "make fuzz"; "make fuzz-run" does both.
# Environment:
#   FUZZ_SECONDS   time per harness, in seconds (default 60)
#   FUZZ_SRCDIR    the source tree (default: two levels above this script)
#   FUZZ_OPTIONS   more libFuzzer flags, say "-seed=1" or "-max_len=512"
#
# Each harness ends with one line of its own and, last of all, one
# "PASS: fuzz_NAME" or "FAIL: fuzz_NAME" line per harness, so that CI can
# count them.  The exit status is 0 only when every harness passed.
# Inputs that broke a harness are kept under tests/fuzz/work/NAME/.
set -u

seconds=${FUZZ_SECONDS:-60}
srcdir=${FUZZ_SRCDIR:-$(dirname "$0")/../..}
case $seconds in
'' | *[!0-9]* | 0)
	echo "run.sh: FUZZ_SECONDS must be a whole number of seconds > 0," \
	    "not \"$seconds\"" >&2
	exit 2 ;;
esac
[ $# -gt 0 ] || set -- conn config proxy handover

# Lines of a failure's log worth showing in a CI transcript.
report='violated|ERROR|SUMMARY|runtime error|(READ|WRITE) of'
report="$report|(src|tests/fuzz)/[a-z_]+\.c:[0-9]"
summary=
failed=0
for name in "$@"; do
	bin=tests/fuzz/fuzz_$name
	seeds=$srcdir/tests/fuzz/corpus/$name
	work=tests/fuzz/work/$name
	log=$work/fuzz.log

	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "fuzz_$name: no $bin or no $seeds (run make fuzz first)"
		summary="${summary}FAIL: fuzz_$name
"
		failed=1
		continue
	fi
	# libFuzzer adds what it finds to its corpus; the seeds stay as is.
	rm -rf "$work"
	mkdir -p "$work/corpus"
	cp "$seeds"/* "$work/corpus/"
	# Seeds from a read-only tree (make distcheck) must not stay read-only.
	chmod -R u+w "$work/corpus"

	start=$(date +%s)
	# -max_total_time is only looked at between inputs: -timeout makes a
	# hang a failure rather than a job that never ends.
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
	    -artifact_prefix="$work/" ${FUZZ_OPTIONS:-} "$work/corpus" \
	    >"$log" 2>&1
	status=$?
	end=$(date +%s)

	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -n 1)
	took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" |
	    tail -n 1)
	[ -n "$took" ] || took=$((end - start))
	if [ "$status" -eq 0 ] && [ -n "$runs" ]; then
		echo "fuzz_$name: $runs executions in $took s, no crash"
		summary="${summary}PASS: fuzz_$name
"
	else
		# The oracle's or the sanitizer's words and the frames in our
		# own code; the rest is in the log.
		grep -E "$report" "$log" | head -n 30 | sed 's/^/    /'
		for kept in "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
		    "$work"/oom-* "$work"/slow-unit-*; do
			[ -f "$kept" ] && echo "    replay: $bin $kept"
		done
		echo "fuzz_$name: FAILED (exit status $status) after" \
		    "${runs:-?} executions in $took s; log: $log"
		summary="${summary}FAIL: fuzz_$name
"
		failed=1
	fi
done
printf '%s' "$summary"
exit "$failed"
