#!/bin/sh
# A log that never stops the echo: with log_level = debug and a stderr pipe
# that nobody reads, connections keep coming and going at full service,
# memory stays bounded, SIGTERM still ends the daemon, and once a reader
# reads again one line says how many log lines were dropped.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

: "${PINGPONG:=${abs_top_builddir:-.}/pingpong}"
# Two debug lines per connection of about 120 bytes: the pipe (64 KiB) and
# the daemon's buffer (64 KiB) are full after some 600 connections, where
# a blocking log stopped the daemon (at about 355 with the pipe alone).
WANT=3000

plan 11

# start_stalled NAME: pingpongd with its stderr into a FIFO that a process
# holds open for reading and never reads; reads its address from --ready-fd.
start_stalled() {
	mkfifo "$WORKDIR/$1.err" "$WORKDIR/$1.fifo" || return 1
	sleep 86400 < "$WORKDIR/$1.err" &
	echo $! > "$WORKDIR/$1.holder"
	track $!
	# shellcheck disable=SC2086
	$PINGPONGD_WRAPPER "$PINGPONGD" -l 127.0.0.1:0 \
	    -o daemon.log_level=debug -o daemon.shutdown_timeout=2s \
	    --ready-fd 3 3> "$WORKDIR/$1.fifo" 2> "$WORKDIR/$1.err" &
	DAEMON_PID=$!
	track "$DAEMON_PID"
	ADDR=$(timeout "$WAIT_SECONDS" cat "$WORKDIR/$1.fifo")
	[ -n "$ADDR" ]
}

# cycles_until N: connect, echo a line and close, in runs of 2 s, until N
# connections are done; each run must be clean.  Bounded by WAIT_SECONDS
# runs.  Sets CYCLES.
cycles_until() {
	CYCLES=0
	_runs=0
	while [ "$CYCLES" -lt "$1" ] && [ "$_runs" -lt "$WAIT_SECONDS" ]; do
		"$PINGPONG" --cycle -C 10 -t 2 --json "$ADDR" \
		    > "$WORKDIR/cycle.json" 2> "$WORKDIR/cycle.err" || return 1
		_n=$(sed -n 's/.*"lines":\([0-9]*\).*/\1/p' "$WORKDIR/cycle.json")
		grep -q '"errors":0,' "$WORKDIR/cycle.json" || return 1
		[ "${_n:-0}" -gt 0 ] || return 1
		CYCLES=$((CYCLES + _n))
		_runs=$((_runs + 1))
	done
	diag "$CYCLES connections in $_runs run(s) of 2 s"
	[ "$CYCLES" -ge "$1" ]
}

check "a daemon starts with its stderr read by nobody" start_stalled one
base_kb=$(rss_kb)
check "$WANT connections come and go, every echo intact" cycles_until "$WANT"
echoes_now() { "$PINGPONG" -q -c 3 -i 0.01 "$ADDR" > /dev/null; }
check "... the daemon still echoes at once" echoes_now
if [ -z "$PINGPONGD_WRAPPER" ]; then
	grew=$(( $(rss_kb) - base_kb ))
	diag "RSS grew by $grew KiB"
	check "... its memory stayed bounded (grew $grew KiB < 4096 KiB)" \
	    test "$grew" -lt 4096
else
	skip "RSS is not the daemon's own under $PINGPONGD_WRAPPER"
fi

# A reader comes: what waits is written, then the count of what was not.
cat "$WORKDIR/one.err" > "$WORKDIR/one.read" &
track $!
told() {
	grep -q "warning: log: [1-9][0-9]* line(s) dropped while the reader of stderr fell behind" \
	    "$WORKDIR/one.read"
}
check "a reader reads again: one line says how many were dropped" \
    wait_until told
dropped=$(sed -n 's/.*log: \([0-9]*\) line(s) dropped.*/\1/p' "$WORKDIR/one.read")
kill -USR1 "$DAEMON_PID"
stats() { grep -q "statistics: .* $dropped log line(s) dropped" "$WORKDIR/one.read"; }
check "... SIGUSR1's statistics count the same $dropped" wait_until stats
# Lines are dropped whole: every line written is a whole line.
whole_lines() {
	! grep -v '^[0-9-]*T[0-9:.]* pingpongd\[[0-9]*\] [a-z]*: ' \
	    "$WORKDIR/one.read"
}
check "... and every line written is whole, none cut by a drop" whole_lines
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

# SIGTERM while nobody reads: the daemon ends all the same.
check "a second daemon, its stderr read by nobody" start_stalled two
cycles_until 1000 > /dev/null
kill -TERM "$DAEMON_PID"
check "SIGTERM with the log blocked: the daemon exits" wait_daemon
check "... with status 0" test "$DAEMON_STATUS" -eq 0

finish
