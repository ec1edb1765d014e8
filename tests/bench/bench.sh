#!/bin/sh
# make bench: pingpongd under the loads of the performance table, measured
# with `pingpong --bench` from one run on this machine.  The daemon is
# pinned to CPU 0 and the client to CPU 1 when there are two.  Also: RSS
# per idle connection at 10,000 connections, and system calls per echoed
# line from strace -c on a short run.  Prints one table; asserts nothing.
#
# Environment: BENCH_SECONDS (per row, default 5), PINGPONGD, PINGPONG.
. "${abs_top_srcdir:-.}/tests/bench/benchlib.sh"

cfg=$(bench_config)
# shellcheck disable=SC2034 # read by start_daemon in lib.sh
PINGPONGD_WRAPPER="$SERVER_CPU"
start_daemon "$cfg" || { echo "bench: pingpongd did not start" >&2; exit 2; }

rows=$WORKDIR/rows
: > "$rows"
# row LABEL ARGS...: one pingpong --bench run, one table row.
row() {
	_label=$1
	shift
	if bench_figures "$@"; then
		printf '%-46s %12s %10s %9s %9s %9s\n' "$_label" "$FIG_LINES" \
		    "$FIG_MB" "$FIG_P50" "$FIG_P99" "$FIG_CPU" >> "$rows"
		case $_label in
		"scaling: 10 conns"*) scale_from=$FIG_LINES ;;
		"scaling: 10,000 conns"*) scale_to=$FIG_LINES ;;
		esac
	else
		printf '%-46s  %s\n' "$_label" "$FIG_ERROR" >> "$rows"
	fi
}

idle_rss
bench_loads row

# The connect-and-close load again with defer_accept, which hands a
# connection over with its first line: one wakeup less per connection.
# Not in bench_config: the idle row's silent connections would then stay
# in the kernel and cost the daemon nothing.
bench_config server.defer_accept=1s > /dev/null
kill -HUP "$DAEMON_PID"
deferred="connect, one line, close; defer_accept = 1s"
if wait_until log_has "reloaded"; then
	row "$deferred" --cycle -C 10 -s 32
else
	printf '%-46s  %s\n' "$deferred" "failed: the daemon did not reload" \
	    >> "$rows"
fi

# System calls per echoed line: strace -c on the daemon through a short
# pipelined run (strace slows it down; only the ratio matters).
syscalls="?"
if command -v strace > /dev/null; then
	strace -c -f -p "$DAEMON_PID" -o "$WORKDIR/strace.out" &
	tracer=$!
	track $tracer
	sleep 0.5
	$CLIENT_CPU "$PINGPONG" --bench --json -t 2 -C 50 -d 16 -s 32 \
	    "127.0.0.1:$PORT" > "$WORKDIR/traced.json" 2>/dev/null
	stop_pid $tracer INT
	# The total row: "100.00 seconds usecs/call calls [errors] total".
	calls=$(awk '$NF == "total" { print $4 }' "$WORKDIR/strace.out")
	lines=$(field "$WORKDIR/traced.json" lines)
	if [ -n "$calls" ] && [ -n "$lines" ] && [ "${lines%.*}" -gt 0 ]; then
		syscalls=$(awk -v c="$calls" -v l="$lines" 'BEGIN { printf "%.3f", c / l }')
	fi
	sed 's/^/    /' "$WORKDIR/strace.out" > "$WORKDIR/strace.table"
fi
stop_daemon TERM

echo
printf 'pingpongd benchmark: '
bench_header
echo
printf '%-46s %12s %10s %9s %9s %9s\n' "load" "lines/s" "MB/s" "p50 us" "p99 us" \
    "cpu ns/l"
cat "$rows"
printf '%-46s %12s\n' "10,000 idle connections: RSS per connection" "$IDLE_BYTES bytes"
printf '%-46s %12s\n' "system calls per echoed line (50 x 16 x 32 B)" "$syscalls"
if [ -n "${scale_from:-}" ] && [ -n "${scale_to:-}" ]; then
	printf '%-46s %11s%%\n' "lines/s at 10,000 conns over 10 conns" \
	    "$(awk -v a="$scale_to" -v b="$scale_from" 'BEGIN { printf "%.1f", 100 * a / b }')"
fi
if [ -s "$WORKDIR/strace.table" ]; then
	echo
	echo "system calls during the traced run:"
	cat "$WORKDIR/strace.table"
fi
