# What make bench and make bench-peers share: the loads of the performance
# table, one pingpong --bench run, and the RSS per idle connection.  Sourced
# by tests/bench/bench.sh and tests/bench/peers.sh after lib.sh's helpers,
# which it sources.  The server under test is DAEMON_PID, listening on PORT.
#
# Environment: BENCH_SECONDS (per row, default 5), PINGPONGD, PINGPONG.
# shellcheck shell=sh
# The FIG_* and IDLE_BYTES variables set here are read by those scripts.
# shellcheck disable=SC2034,SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

: "${PINGPONG:=${abs_top_builddir:-.}/pingpong}"
SECONDS_PER_ROW=${BENCH_SECONDS:-5}
IDLE=10000
# The row with the most connections all busy at once; make bench hands its
# load over with SIGUSR2 too, so both name it here once.
ALL_ACTIVE_LABEL="5,000 conns all active, 1 x 32 B each"
ALL_ACTIVE_CONNS=5000
ALL_ACTIVE_ARGS="-C $ALL_ACTIVE_CONNS -d 1 -s 32"

# The server is pinned to CPU 0 and the client to CPU 1 when there are two.
if [ "$(nproc)" -ge 2 ]; then
	SERVER_CPU="taskset -c 0"
	CLIENT_CPU="taskset -c 1"
else
	SERVER_CPU=""
	CLIENT_CPU=""
fi

# bench_config [SECTION.KEY=VALUE...]: the config pingpongd is benchmarked
# with, plus these keys as ini takes them; prints its path.
bench_config() {
	ini bench server.listen=127.0.0.1:0 server.max_connections=19000 "$@"
}

# bench_loads FUNCTION: FUNCTION LABEL PINGPONG-ARGS... for each load of the
# table, in its order.
bench_loads() {
	"$1" "50 conns, 1 x 32 B in flight each" -C 50 -d 1 -s 32
	"$1" "50 conns, 16 x 32 B in flight each" -C 50 -d 16 -s 32
	"$1" "10 conns, 4 x 16 KiB in flight each" -C 10 -d 4 -s 16384
	"$1" "connect, one line, close; 10 at a time" --cycle -C 10 -s 32
	# shellcheck disable=SC2086 # the arguments are split at spaces
	"$1" "$ALL_ACTIVE_LABEL" $ALL_ACTIVE_ARGS
	# How the same load, one line in flight per connection, fares as
	# connections grow.
	"$1" "scaling: 10 conns, 1 x 32 B each" -C 10 -d 1 -s 32
	"$1" "scaling: 100 conns, 1 x 32 B each" -C 100 -d 1 -s 32
	"$1" "scaling: 1,000 conns, 1 x 32 B each" -C 1000 -d 1 -s 32
	"$1" "scaling: 10,000 conns, 1 x 32 B each" -C 10000 -d 1 -s 32
}

# bench_header: the machine and the pinning, two lines.
bench_header() {
	echo "$(uname -m), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)),"
	echo "server ${SERVER_CPU:-unpinned}, client ${CLIENT_CPU:-unpinned}, ${SECONDS_PER_ROW}s per row"
}

# field JSON KEY: a number from pingpong's one-line JSON report.
field() { sed -n "s/.*\"$2\": *\\([0-9.]*\\).*/\\1/p" "$1"; }

# Clock ticks per second, the unit of utime and stime in /proc/PID/stat.
TICKS_PER_SECOND=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu_per_line TICKS LINES: server CPU time per echoed line, in ns.
cpu_per_line() {
	awk -v t="$1" -v l="$2" -v hz="$TICKS_PER_SECOND" \
	    'BEGIN { if (l > 0) printf "%.0f", t * 1e9 / hz / l; else print "?" }'
}

# System calls per echoed line, over the window FIG_CPU covers: perf stat
# counts the raw_syscalls:sys_enter tracepoint for DAEMON_PID alone (all
# of its threads, none of the client's).  Every row pays for the count
# alike: while the tracepoint is on, each system call on the machine takes
# the kernel's slower traced path.  SYSCALLS_WHY says why there is no
# figure when perf cannot count here (not installed, or the tracepoint
# refused: no root, a kernel without it).
SYSCALL_EVENT=raw_syscalls:sys_enter
SYSCALL_COUNTER=""
SYSCALLS_WHY=""
# syscall_count FILE: the count in perf stat -x, output; false if none.
syscall_count() {
	awk -F, -v e="$SYSCALL_EVENT" '
	    index($3, e) == 1 && $1 ~ /^[0-9]+$/ { print $1; n++ }
	    END { exit n ? 0 : 1 }' "$1" 2>/dev/null
}
if ! command -v perf > /dev/null 2>&1; then
	SYSCALLS_WHY="perf is not installed (Debian package linux-perf)"
elif ! perf stat -e "$SYSCALL_EVENT" -x, -o "$WORKDIR/perf.probe" -- true \
    > /dev/null 2> "$WORKDIR/perf.probe.err" ||
    ! syscall_count "$WORKDIR/perf.probe" > /dev/null; then
	SYSCALLS_WHY="perf stat cannot count $SYSCALL_EVENT here: $(grep -v \
	    '^[[:space:]]*$' "$WORKDIR/perf.probe.err" | head -n 1)"
fi

# syscalls_start: count the server's system calls until syscalls_stop;
# nothing when SYSCALLS_WHY says perf cannot.
syscalls_start() {
	SYSCALL_COUNTER=""
	[ -z "$SYSCALLS_WHY" ] || return 0
	rm -f "$WORKDIR/perf.out" "$WORKDIR/perf.ready"
	# perf starts its workload only once it counts: the workload's PID
	# in perf.ready says counting has begun, and is what syscalls_stop
	# ends to make perf print.  Its sleep bounds perf should a row hang.
	# shellcheck disable=SC2016 # expanded by the inner shell
	$CLIENT_CPU perf stat -e "$SYSCALL_EVENT" -x, -p "$DAEMON_PID" \
	    -o "$WORKDIR/perf.out" -- sh -c \
	    'echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep "$2"' sh \
	    "$WORKDIR/perf.ready" $((SECONDS_PER_ROW * 4 + 60)) \
	    > /dev/null 2> "$WORKDIR/perf.err" &
	SYSCALL_COUNTER=$!
	track "$SYSCALL_COUNTER"
	wait_until perf_counting || true
}
perf_counting() { [ -s "$WORKDIR/perf.ready" ] || gone "$SYSCALL_COUNTER"; }

# syscalls_stop LINES: stop the count; sets FIG_SYSCALLS to the server's
# system calls per echoed line, or "n/a" when they were not counted.
syscalls_stop() {
	FIG_SYSCALLS="n/a"
	[ -n "$SYSCALL_COUNTER" ] || return 0
	# While perf lives its workload is not reaped: the PID is still it.
	if alive "$SYSCALL_COUNTER" && [ -s "$WORKDIR/perf.ready" ]; then
		kill "$(cat "$WORKDIR/perf.ready")" 2>/dev/null
	fi
	wait_until gone "$SYSCALL_COUNTER" ||
	    kill -KILL "$SYSCALL_COUNTER" 2>/dev/null
	wait "$SYSCALL_COUNTER" 2>/dev/null
	untrack "$SYSCALL_COUNTER"
	SYSCALL_COUNTER=""
	_calls=$(syscall_count "$WORKDIR/perf.out") || return 0
	FIG_SYSCALLS=$(awk -v c="$_calls" -v l="$1" \
	    'BEGIN { if (l > 0) printf "%.2f", c / l; else print "?" }')
}

# bench_figures PINGPONG-ARGS...: one pingpong --bench run against PORT for
# SECONDS_PER_ROW.  Sets FIG_LINES (lines/s), FIG_MB (MB/s), FIG_P50,
# FIG_P99 and FIG_MAX (us), FIG_CPU (the server's utime + stime over the
# run per echoed line, ns: a cost that drifts less than a rate),
# FIG_SYSCALLS (its system calls per echoed line over the same run); or
# FIG_ERROR and returns 1 when the run failed.
bench_figures() {
	syscalls_start
	_ticks=$(cpu_ticks)
	# shellcheck disable=SC2086
	$CLIENT_CPU "$PINGPONG" --bench --json -t "$SECONDS_PER_ROW" "$@" \
	    "127.0.0.1:$PORT" > "$WORKDIR/row.json" 2> "$WORKDIR/row.err"
	_status=$?
	_ticks=$(( $(cpu_ticks) - _ticks ))
	syscalls_stop "$(field "$WORKDIR/row.json" lines)"
	if [ "$_status" -ne 0 ]; then
		_why=$(head -n 1 "$WORKDIR/row.err")
		# Errors on the connections are in the report, not on stderr.
		[ -n "$_why" ] || _why=$(sed -n 's/.*"errors":\([0-9]*\).*"first_error":"\([^"]*\)".*/\1 error(s), the first: \2/p' \
		    "$WORKDIR/row.json")
		FIG_ERROR="failed (exit $_status): $_why"
		return 1
	fi
	FIG_LINES=$(field "$WORKDIR/row.json" lines_per_sec)
	FIG_MB=$(field "$WORKDIR/row.json" mb_per_sec)
	FIG_P50=$(field "$WORKDIR/row.json" p50_us)
	FIG_P99=$(field "$WORKDIR/row.json" p99_us)
	FIG_MAX=$(field "$WORKDIR/row.json" max_us)
	FIG_CPU=$(cpu_per_line "$_ticks" "$(field "$WORKDIR/row.json" lines)")
}

# idle_rss: sets IDLE_BYTES to the server's RSS per connection, in bytes,
# with IDLE connections open that send nothing, over several source
# addresses; to "?" when they could not all be opened.  Best measured first, while the
# server is fresh and no load has touched its tables.
idle_rss() {
	_base_rss=$(rss_kb)
	_base_fds=$(fd_count)
	if hold_clients idle "$IDLE" 0 4 &&
	    wait_until fds_above $((_base_fds + IDLE)); then
		IDLE_BYTES=$(( ($(rss_kb) - _base_rss) * 1024 / IDLE ))
	else
		IDLE_BYTES="?"
	fi
	release idle
	# The next load starts once the server has let them all go.
	wait_until fds_below $((_base_fds + 1)) || true
}
fds_above() { [ "$(fd_count)" -ge "$1" ]; }
fds_below() { [ "$(fd_count)" -lt "$1" ]; }
