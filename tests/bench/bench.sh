#!/bin/sh
# make bench: pingpongd under the loads of the performance table, measured
# with `pingpong --bench` from one run on this machine.  The daemon is
# pinned to CPU 0 and the client to CPU 1 when there are two.  Each row
# gives the daemon's system calls per echoed line, counted by perf stat
# over the row ("n/a" without perf).  Also: RSS per idle connection at
# 10,000 connections, the system calls of a short run by name from
# strace -c, and the hand-over on SIGUSR2: how long service pauses, under
# load and with many connections at rest.  Prints figures; asserts
# nothing.
#
# Environment: BENCH_SECONDS (per row, default 5), BENCH_SECTIONS (the
# parts to run, separated by spaces or commas: table, handover; default
# both), HANDOVER_ROUNDS (SIGUSR2s in a row per size at rest, default 5),
# PINGPONGD, PINGPONG.
# shellcheck disable=SC2317 # helpers are called through wait_until
. "${abs_top_srcdir:-.}/tests/bench/benchlib.sh"

ALL_SECTIONS="table handover"
SECTIONS=$(echo "${BENCH_SECTIONS:-$ALL_SECTIONS}" | tr ',' ' ')
for _s in $SECTIONS; do
	case " $ALL_SECTIONS " in
	*" $_s "*) ;;
	*) echo "bench: unknown section '$_s' (sections: $ALL_SECTIONS)" >&2
	   exit 2 ;;
	esac
done
wanted() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }

HANDOVER_ROUNDS=${HANDOVER_ROUNDS:-5}
case $HANDOVER_ROUNDS in
''|*[!0-9]*|0) echo "bench: HANDOVER_ROUNDS must be a positive count" >&2
	exit 2 ;;
esac
# Connections held at rest through the hand-overs, each with this many
# bytes of a line and no newline, from this many source addresses.
HANDOVER_SIZES="1000 10000"
HANDOVER_HELD=24
HANDOVER_SOURCES=8

# shellcheck disable=SC2034 # read by start_daemon in lib.sh
PINGPONGD_WRAPPER="$SERVER_CPU"

# ---------------------------------------------------------------------
# The table: the loads, idle RSS, defer_accept, system calls per line.

rows=$WORKDIR/rows
: > "$rows"
# row LABEL ARGS...: one pingpong --bench run, one table row.
row() {
	_label=$1
	shift
	if bench_figures "$@"; then
		printf '%-46s %12s %10s %9s %9s %9s %9s\n' "$_label" \
		    "$FIG_LINES" "$FIG_MB" "$FIG_P50" "$FIG_P99" "$FIG_CPU" \
		    "$FIG_SYSCALLS" >> "$rows"
		case $_label in
		"scaling: 10 conns"*) scale_from=$FIG_LINES ;;
		"scaling: 10,000 conns"*) scale_to=$FIG_LINES ;;
		"$ALL_ACTIVE_LABEL") all_active_max=$FIG_MAX ;;
		esac
	else
		printf '%-46s  %s\n' "$_label" "$FIG_ERROR" >> "$rows"
	fi
}

run_table() {
	cfg=$(bench_config)
	start_daemon "$cfg" ||
	    { echo "bench: pingpongd did not start" >&2; exit 2; }
	idle_rss
	bench_loads row

	# The connect-and-close load again with defer_accept, which hands a
	# connection over with its first line: one wakeup less per
	# connection.  Not in bench_config: the idle row's silent connections
	# would then stay in the kernel and cost the daemon nothing.
	bench_config server.defer_accept=1s > /dev/null
	kill -HUP "$DAEMON_PID"
	deferred="connect, one line, close; defer_accept = 1s"
	if wait_until log_has "reloaded"; then
		row "$deferred" --cycle -C 10 -s 32
	else
		printf '%-46s  %s\n' "$deferred" \
		    "failed: the daemon did not reload" >> "$rows"
	fi

	# System calls per echoed line: strace -c on the daemon through a
	# short pipelined run (strace slows it down; only the ratio matters).
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
		if [ -n "$calls" ] && [ -n "$lines" ] &&
		    [ "${lines%.*}" -gt 0 ]; then
			syscalls=$(awk -v c="$calls" -v l="$lines" \
			    'BEGIN { printf "%.3f", c / l }')
		fi
		sed 's/^/    /' "$WORKDIR/strace.out" > "$WORKDIR/strace.table"
	fi
	stop_daemon TERM
}

print_table() {
	echo
	printf '%-46s %12s %10s %9s %9s %9s %9s\n' "load" "lines/s" "MB/s" \
	    "p50 us" "p99 us" "cpu ns/l" "sys/line"
	cat "$rows"
	printf '%-46s %12s\n' "10,000 idle connections: RSS per connection" \
	    "$IDLE_BYTES bytes"
	printf '%-46s %12s\n' "system calls per echoed line (50 x 16 x 32 B)" \
	    "$syscalls (strace -c, traced)"
	if [ -n "${scale_from:-}" ] && [ -n "${scale_to:-}" ]; then
		printf '%-46s %11s%%\n' "lines/s at 10,000 conns over 10 conns" \
		    "$(awk -v a="$scale_to" -v b="$scale_from" \
		    'BEGIN { printf "%.1f", 100 * a / b }')"
	fi
	echo
	echo "cpu ns/l: the daemon's utime + stime per echoed line over the row;"
	if [ -n "$SYSCALLS_WHY" ]; then
		echo "sys/line n/a: $SYSCALLS_WHY."
	else
		echo "sys/line: its system calls per echoed line over the same row"
		echo "(perf stat -e $SYSCALL_EVENT -p on the daemon)."
	fi
	if [ -s "$WORKDIR/strace.table" ]; then
		echo
		echo "system calls during the traced run:"
		cat "$WORKDIR/strace.table"
	fi
}

# ---------------------------------------------------------------------
# The hand-over: SIGUSR2 to a daemon under the all-active load, then
# rounds of it with connections at rest, each holding a partial line.
# The pause is the daemon's own "service paused for" figure: from the
# workers told to stop to the new image's workers holding the connections.

handover=$WORKDIR/handover
: > "$handover"
# ho_line LABEL VALUE: one line of the hand-over figures.
ho_line() { printf '  %-44s %s\n' "$1" "$2" >> "$handover"; }

serving_lines() { log_count 'hand-over: serving'; }
serving_above() { [ "$(serving_lines)" -gt "$1" ]; }
# last_pause: the last "service paused for" figure of the log, in ms.
last_pause() {
	sed -n 's/.*hand-over: serving.* service paused for \([0-9.]*\) ms.*/\1/p' \
	    "$DAEMON_LOG" | tail -n 1
}
# last_taken: the connections the last "serving" line says it took over.
last_taken() {
	sed -n 's/.*hand-over: serving \([0-9]*\) connection.*/\1/p' \
	    "$DAEMON_LOG" | tail -n 1
}

# statistics: SIGUSR1's line, once the daemon has logged it (within 5 s);
# sets STAT_OPEN (connections open) and STAT_HELD (bytes held).
statistics() {
	_before=$(log_count 'statistics:')
	kill -USR1 "$DAEMON_PID"
	_polls=0
	while [ "$(log_count 'statistics:')" -le "$_before" ]; do
		_polls=$((_polls + 1))
		[ "$_polls" -le 100 ] || return 1
		sleep 0.05
	done
	_stat=$(grep 'statistics:' "$DAEMON_LOG" | tail -n 1)
	STAT_OPEN=$(echo "$_stat" |
	    sed -n 's/.*statistics: \([0-9]*\) connection(s) open.*/\1/p')
	STAT_HELD=$(echo "$_stat" | sed -n 's/.* \([0-9]*\) bytes held in.*/\1/p')
}
# holds N [BYTES]: the daemon has N connections open (holding BYTES in all).
holds() {
	statistics && [ "$STAT_OPEN" = "$1" ] &&
	    { [ $# -lt 2 ] || [ "$STAT_HELD" = "$2" ]; }
}
# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false once
# SECONDS have passed on the clock.  wait_until counts tries instead, and a
# try of holds() costs a signal and a wait for the log.
wait_for() {
	_until=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$_until" ] || return 1
		sleep 0.1
	done
}

# commas N: 10000 as 10,000.
commas() {
	echo "$1" | sed -e ':a' \
	    -e 's/^\([0-9]*[0-9]\)\([0-9]\{3\}\)/\1,\2/' -e 'ta'
}

# ms US: microseconds as milliseconds, one decimal.
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

# handover_under_load: the all-active load for SECONDS_PER_ROW, and one
# SIGUSR2 a third of the way in, once every connection is up.
handover_under_load() {
	echo "hand-over under load ($ALL_ACTIVE_LABEL):" >> "$handover"
	_base=$(fd_count)
	# Counts are taken against what the daemon held before: a stray
	# client of another program on this machine may have found its port.
	statistics || STAT_OPEN=0
	_open0=$STAT_OPEN
	_want=$((_open0 + ALL_ACTIVE_CONNS))
	_json=$WORKDIR/handover_load.json
	# shellcheck disable=SC2086 # the arguments are split at spaces
	$CLIENT_CPU "$PINGPONG" --bench --json -t "$SECONDS_PER_ROW" \
	    $ALL_ACTIVE_ARGS "127.0.0.1:$PORT" > "$_json" \
	    2> "$WORKDIR/handover_load.err" &
	_client=$!
	track "$_client"
	_open_before="?" _taken="?" _open_after="?" _pause=""
	if wait_until fds_above $((_base + ALL_ACTIVE_CONNS)); then
		# The clock starts once all are connected; the load settles.
		sleep "$(awk -v s="$SECONDS_PER_ROW" 'BEGIN { print s / 3 }')"
		statistics && _open_before=$STAT_OPEN
		_served=$(serving_lines)
		kill -USR2 "$DAEMON_PID"
		if wait_until serving_above "$_served"; then
			_pause=$(last_pause)
			_taken=$(last_taken)
			statistics && _open_after=$STAT_OPEN
		fi
	fi
	# pingpong ends on its own after its -t seconds.
	wait "$_client"
	_status=$?
	untrack "$_client"
	_max=$(field "$_json" max_us)
	_errors=$(field "$_json" errors)
	_corrupted=$(field "$_json" corrupted)
	if [ -z "$_max" ]; then
		ho_line "the client" "failed (exit $_status): $(head -n 1 \
		    "$WORKDIR/handover_load.err")"
		return
	fi
	ho_line "worst echo latency across it (client's max)" \
	    "$(ms "$_max") ms (p99 $(ms "$(field "$_json" p99_us)") ms)"
	if [ -n "${all_active_max:-}" ]; then
		ho_line "... the table's run of it, no hand-over" \
		    "$(ms "$all_active_max") ms"
	fi
	if [ -n "$_pause" ]; then
		ho_line "service paused for (the daemon's figure)" "$_pause ms"
	else
		ho_line "service paused for (the daemon's figure)" \
		    "? (the new image logged no \"serving\" line)"
	fi
	_verdict="none lost"
	if [ "$_errors" != 0 ] || [ "$_open_before" != "$_want" ] ||
	    [ "$_taken" != "$_want" ] || [ "$_open_after" != "$_want" ]; then
		_verdict="LOST: $(sed -n 's/.*"first_error":"\([^"]*\)".*/\1/p' "$_json")"
	fi
	ho_line "conns open before / taken over / open after" \
	    "$_open_before / $_taken / $_open_after; client errors $_errors,\
 corrupted $_corrupted: $_verdict"
	# Every connection the client closed is closed by the new image too.
	if ! wait_for "$WAIT_SECONDS" holds "$_open0"; then
		ho_line "... still open ${WAIT_SECONDS}s after the client ended" \
		    "$((${STAT_OPEN:-_open0} - _open0)) conn(s)"
	fi
}

# handover_at_rest N: N connections held open, each with a partial line;
# HANDOVER_ROUNDS SIGUSR2s, each once the last one's image serves.
handover_at_rest() {
	_n=$1
	_label="$(commas "$_n") conns"
	if [ "$FD_LIMIT" != unlimited ] && [ "$FD_LIMIT" -lt $((_n + 64)) ]; then
		printf '  %-18s skipped: the descriptor limit is %s\n' "$_label" \
		    "$FD_LIMIT" >> "$handover"
		return
	fi
	: > "$WORKDIR/pauses"
	_why=""
	statistics || STAT_OPEN=0 STAT_HELD=0
	_open0=$STAT_OPEN
	_want=$((_open0 + _n))
	_bytes=$((STAT_HELD + _n * HANDOVER_HELD))
	if ! hold_clients "rest$_n" "$_n" "$HANDOVER_HELD" "$HANDOVER_SOURCES"; then
		_why="the clients could not connect: $(head -n 1 \
		    "$WORKDIR/rest$_n.err")"
	elif ! wait_for "$WAIT_SECONDS" holds "$_want" "$_bytes"; then
		_why="the daemon holds ${STAT_OPEN:-?} conns, ${STAT_HELD:-?} bytes"
	fi
	_r=0
	while [ -z "$_why" ] && [ "$_r" -lt "$HANDOVER_ROUNDS" ]; do
		_r=$((_r + 1))
		_served=$(serving_lines)
		kill -USR2 "$DAEMON_PID"
		if ! wait_until serving_above "$_served"; then
			_why="round $_r: no \"serving\" line"
		elif [ "$(last_taken)" != "$_want" ]; then
			_why="round $_r: $(last_taken) taken over"
		else
			last_pause >> "$WORKDIR/pauses"
		fi
	done
	# What each held came through all the rounds.
	if [ -z "$_why" ] && ! holds "$_want" "$_bytes"; then
		_why="after: ${STAT_OPEN:-?} conns, ${STAT_HELD:-?} bytes held"
	fi
	release "rest$_n"
	if ! wait_for "$WAIT_SECONDS" holds "$_open0" && [ -z "$_why" ]; then
		_why="$((${STAT_OPEN:-_open0} - _open0)) still open after the clients closed"
	fi
	_figures=$(sort -n "$WORKDIR/pauses" | awk '{ v[NR] = $1 }
	    END { if (NR == 0) exit
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%8.1f ms  %8.1f..%.1f ms", m, v[1], v[NR] }')
	_done="$(wc -l < "$WORKDIR/pauses" | tr -d ' ') round(s)"
	[ "$_open0" -eq 0 ] || _done="$_done, $_open0 other conn(s) open too"
	printf '  %-18s %-32s %s\n' "$_label" "${_figures:-}" \
	    "$_done${_why:+; failed: $_why}" >> "$handover"
}

run_handover() {
	# Every held connection is a descriptor of the daemon and of the
	# client.  (dash and bash both have ulimit -n and -H.)
	# shellcheck disable=SC3045
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	# shellcheck disable=SC3045
	FD_LIMIT=$(ulimit -n)
	# Partial lines stay held through every round: line_timeout is not
	# to end them meanwhile.
	cfg=$(bench_config connection.line_timeout=5m)
	if ! start_daemon "$cfg" "$WORKDIR/handover.log"; then
		echo "hand-over: pingpongd did not start" >> "$handover"
		return
	fi
	handover_under_load
	echo "hand-over pause at rest, every conn holding a partial line" \
	    "($HANDOVER_ROUNDS rounds):" >> "$handover"
	printf '  %-18s %s\n' "" "  median     min..max" >> "$handover"
	for _n in $HANDOVER_SIZES; do
		alive "$DAEMON_PID" || break
		handover_at_rest "$_n"
	done
	if ! alive "$DAEMON_PID"; then
		echo "hand-over: the daemon died; its log:" >> "$handover"
		grep -v ' debug: ' "$DAEMON_LOG" | tail -n 20 | sed 's/^/    /' \
		    >> "$handover"
		return
	fi
	stop_daemon TERM
	# A figure that looks wrong may have its reason there.
	if grep -Eq ' (warning|error): ' "$DAEMON_LOG"; then
		echo "the daemon's warnings and errors (the last 10):" >> "$handover"
		grep -E ' (warning|error): ' "$DAEMON_LOG" | tail -n 10 |
		    sed 's/^/    /' >> "$handover"
	fi
}

# ---------------------------------------------------------------------

if wanted table; then run_table; fi
if wanted handover; then run_handover; fi

echo
printf 'pingpongd benchmark: '
bench_header
if wanted table; then print_table; fi
if wanted handover; then
	echo
	cat "$handover"
fi
