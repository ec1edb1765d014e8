#!/bin/sh
# make bench: pingpongd under the loads of the performance table, measured
# with `pingpong --bench` from one run on this machine.  The daemon is
# pinned to CPU 0 and the client to CPU 1 when there are two.  Also: RSS
# per idle connection at 10,000 connections, and system calls per echoed
# line from strace -c on a short run.  Prints one table; asserts nothing.
#
# Environment: BENCH_SECONDS (per row, default 5), PINGPONGD, PINGPONG.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

: "${PINGPONG:=${abs_top_builddir:-.}/pingpong}"
LOADCLIENT="${abs_top_builddir:-.}/tests/tools/loadclient"
SECONDS_PER_ROW=${BENCH_SECONDS:-5}
IDLE=10000

if [ "$(nproc)" -ge 2 ]; then
	SERVER_CPU="taskset -c 0"
	CLIENT_CPU="taskset -c 1"
else
	SERVER_CPU=""
	CLIENT_CPU=""
fi

cfg=$(config bench <<'INI'
[server]
listen = 127.0.0.1:0
max_connections = 19000
INI
)
# shellcheck disable=SC2034 # read by start_daemon in lib.sh
PINGPONGD_WRAPPER="$SERVER_CPU"
start_daemon "$cfg" || { echo "bench: pingpongd did not start" >&2; exit 2; }

# field JSON KEY: a number from pingpong's one-line JSON report.
field() { sed -n "s/.*\"$2\": *\\([0-9.]*\\).*/\\1/p" "$1"; }

rows=$WORKDIR/rows
: > "$rows"
# row LABEL ARGS...: one pingpong --bench run, one table row.
row() {
	_label=$1
	shift
	# shellcheck disable=SC2086
	$CLIENT_CPU "$PINGPONG" --bench --json -t "$SECONDS_PER_ROW" "$@" \
	    "127.0.0.1:$PORT" > "$WORKDIR/row.json" 2> "$WORKDIR/row.err"
	_status=$?
	if [ "$_status" -ne 0 ]; then
		printf '%-46s  failed (exit %s): %s\n' "$_label" "$_status" \
		    "$(head -n 1 "$WORKDIR/row.err")" >> "$rows"
		return
	fi
	printf '%-46s %12s %10s %9s %9s\n' "$_label" \
	    "$(field "$WORKDIR/row.json" lines_per_sec)" \
	    "$(field "$WORKDIR/row.json" mb_per_sec)" \
	    "$(field "$WORKDIR/row.json" p50_us)" \
	    "$(field "$WORKDIR/row.json" p99_us)" >> "$rows"
}

# RSS per idle connection: 10,000 connections that send nothing, first,
# while the daemon is fresh and no load has touched its tables.
base_rss=$(rss_kb)
mkfifo "$WORKDIR/idle.in"
sleep 86400 1<> "$WORKDIR/idle.in" &
idle_holder=$!
track $idle_holder
"$LOADCLIENT" hold "$PORT" "$IDLE" 0 4 < "$WORKDIR/idle.in" > "$WORKDIR/idle.out" &
idle_client=$!
track $idle_client
idle_open() { [ "$(fd_count)" -ge $((IDLE + 5)) ]; }
if wait_until grep -q "^ready $IDLE" "$WORKDIR/idle.out" && wait_until idle_open; then
	idle_bytes=$(( ($(rss_kb) - base_rss) * 1024 / IDLE ))
else
	idle_bytes="?"
fi
kill $idle_holder; wait $idle_holder 2>/dev/null; untrack $idle_holder
wait $idle_client 2>/dev/null; untrack $idle_client


row "50 conns, 1 x 32 B in flight each" -C 50 -d 1 -s 32
row "50 conns, 16 x 32 B in flight each" -C 50 -d 16 -s 32
row "10 conns, 4 x 16 KiB in flight each" -C 10 -d 4 -s 16384
row "connect, one line, close; 10 at a time" --cycle -C 10 -s 32
row "5,000 conns all active, 1 x 32 B each" -C 5000 -d 1 -s 32

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
	kill -INT $tracer; wait $tracer 2>/dev/null; untrack $tracer
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
echo "pingpongd benchmark: $(uname -m), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)),"
echo "server ${SERVER_CPU:-unpinned}, client ${CLIENT_CPU:-unpinned}, ${SECONDS_PER_ROW}s per row"
echo
printf '%-46s %12s %10s %9s %9s\n' "load" "lines/s" "MB/s" "p50 us" "p99 us"
cat "$rows"
printf '%-46s %12s\n' "10,000 idle connections: RSS per connection" "$idle_bytes bytes"
printf '%-46s %12s\n' "system calls per echoed line (50 x 16 x 32 B)" "$syscalls"
if [ -s "$WORKDIR/strace.table" ]; then
	echo
	echo "system calls during the traced run:"
	cat "$WORKDIR/strace.table"
fi
