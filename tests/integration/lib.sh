# Shared helpers for the integration tests: TAP output, a private work
# directory, and a pingpongd started on a free loopback port and stopped by
# its PID.  Sourced by each tests/integration/*.sh script.
#
# Environment: PINGPONGD (the binary; set by make check), PINGPONGD_WRAPPER
# (a command to run it under, e.g. valgrind; set by make check-valgrind),
# LOADCLIENT (tests/tools/loadclient), PINGPONGD_IO (the [server] io every
# daemon started here uses unless the test sets it; make check's second
# pass sets io_uring).

# Variables set here are read by the scripts that source this file.
# shellcheck disable=SC2034
set -u

: "${PINGPONGD:=${abs_top_builddir:-.}/pingpongd}"
: "${PINGPONGD_WRAPPER:=}"
: "${PINGPONGD_IO:=}"
# With io = io_uring a receive can run ahead of back-pressure by what the
# kernel had taken in before it was stopped: at most the ring's buffers
# (RING_BUFFER_BYTES in src/ring.c).  Bounds on what a non-reader costs
# add this.
RING_RUNAHEAD_BYTES=$((2 * 1024 * 1024))
if [ "$PINGPONGD_IO" = io_uring ]; then RUNAHEAD_BYTES=$RING_RUNAHEAD_BYTES; else RUNAHEAD_BYTES=0; fi
: "${LOADCLIENT:=${abs_top_builddir:-.}/tests/tools/loadclient}"

# Waits are for events, not for time: each polls a condition and gives up
# after WAIT_SECONDS (longer under a wrapper such as valgrind).
if [ -n "$PINGPONGD_WRAPPER" ]; then WAIT_SECONDS=60; else WAIT_SECONDS=15; fi

WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/pingpongd-test.XXXXXX")
TEST_PIDS=""            # every process this script started in the background
DAEMON_PID=""
DAEMON_LOG=""
PORT=""
tap_count=0
tap_failed=0

tap_planned=""
plan() { tap_planned=$1; echo "1..$1"; }
diag() { echo "# $*"; }
pass() { tap_count=$((tap_count + 1)); echo "ok $tap_count - $1"; }
skip() { tap_count=$((tap_count + 1)); echo "ok $tap_count # SKIP $1"; }
fail() {
	tap_count=$((tap_count + 1)); tap_failed=$((tap_failed + 1))
	echo "not ok $tap_count - $1"
}
# check DESCRIPTION COMMAND...: one TAP result from a command's status.
check() {
	_desc=$1; shift
	if "$@"; then pass "$_desc"; else fail "$_desc"; fi
}

track() { TEST_PIDS="$TEST_PIDS $1"; }
untrack() {
	_new=""
	for _p in $TEST_PIDS; do [ "$_p" = "$1" ] || _new="$_new $_p"; done
	TEST_PIDS=$_new
}

cleanup() {
	for _p in $TEST_PIDS; do kill -KILL "$_p" 2>/dev/null; done
	for _p in $TEST_PIDS; do wait "$_p" 2>/dev/null; done
	rm -rf "$WORKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until COMMAND...: true once COMMAND succeeds, false after WAIT_SECONDS.
wait_until() {
	_tries=$((WAIT_SECONDS * 20))
	while [ "$_tries" -gt 0 ]; do
		if "$@"; then return 0; fi
		_tries=$((_tries - 1))
		sleep 0.05
	done
	return 1
}

log_has() { grep -q -- "$1" "$DAEMON_LOG" 2>/dev/null; }
log_count() { grep -c -- "$1" "$DAEMON_LOG" 2>/dev/null || true; }
alive() { kill -0 "$1" 2>/dev/null; }
# The shell reaps an exited background child while it waits for a
# foreground command (wait_until's sleep), so kill -0 then fails.
gone() { ! alive "$1"; }

# wait_exit PID: true once PID (a tracked child) has exited, within
# WAIT_SECONDS; reaps and untracks it and sets WAIT_STATUS.
wait_exit() {
	wait_until gone "$1" || return 1
	wait "$1"
	WAIT_STATUS=$?
	untrack "$1"
}

# wait_clients: wait for every tracked process but the daemon to exit on
# its own, and untrack each.  No WAIT_SECONDS here: the clients bound their
# own time (nc -w, the soak's end).
wait_clients() {
	for _w in $TEST_PIDS; do
		[ "$_w" = "$DAEMON_PID" ] && continue
		wait "$_w"
		untrack "$_w"
	done
}

# stop_pid PID [SIGNAL]: signal a tracked process (TERM by default), reap it
# and untrack it; one that has already exited is only reaped.
stop_pid() {
	kill "-${2:-TERM}" "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	untrack "$1"
}

# ini NAME SECTION.KEY=VALUE...: write $WORKDIR/NAME.ini and print its path.
# Each SECTION gets one [SECTION] header, the sections in the order they
# first appear, each KEY = VALUE line under its own in argument order; a key
# given twice (two server.listen=) gives two lines.  A VALUE may hold spaces
# and '=' when the argument is quoted.  The same NAME again replaces the
# file: a rewrite before a SIGHUP.
ini() {
	_ini=$WORKDIR/$1.ini
	shift
	_sections=""
	for _a in "$@"; do
		_k=${_a%%=*}
		# The section names are kept in a list split at spaces.
		case $_k in
		"$_a" | .* | *. | *.*.* | *[!A-Za-z0-9_.-]*) _k="" ;;
		esac
		case $_k in
		*.*) ;;
		*) echo "ini: not SECTION.KEY=VALUE: $_a" >&2; return 1 ;;
		esac
		case " $_sections " in
		*" ${_k%.*} "*) ;;
		*) _sections="$_sections ${_k%.*}" ;;
		esac
	done
	# Moved into place whole, so that a reload never reads half a file.
	for _s in $_sections; do
		echo "[$_s]"
		for _a in "$@"; do
			_k=${_a%%=*}
			if [ "${_k%.*}" = "$_s" ]; then
				printf '%s = %s\n' "${_k#*.}" "${_a#*=}"
			fi
		done
	done > "$_ini.tmp" && mv "$_ini.tmp" "$_ini" && echo "$_ini"
}

# io_option TEXT...: "-o server.io=$PINGPONGD_IO" when that is set and
# the text (a config file's, or arguments) does not choose an io itself.
io_option() {
	[ -n "$PINGPONGD_IO" ] || return 0
	case "$*" in
	*server.io=* | *"io = "* | *"io="*) ;;
	*) echo "-o server.io=$PINGPONGD_IO" ;;
	esac
}

# start_daemon CONFIG [LOG]: run pingpongd in the background and wait until
# it serves; sets DAEMON_PID, DAEMON_LOG, READY (the addresses it bound,
# one per line, from --ready-fd) and PORT (the first one's port, so port
# 0 in the config gives a free port).  When the config logs at info or
# more, also waits for the "running" line, so that every line logged
# while starting is in the log for the script to read.
start_daemon() {
	DAEMON_LOG=${2:-$WORKDIR/daemon.log}
	: > "$DAEMON_LOG"
	# An earlier build without --ready-fd (make bench-peers' baseline) is
	# known ready by its log alone.
	if ! "$PINGPONGD" -h 2>/dev/null | grep -q -- --ready-fd; then
		start_daemon_logged "$1"
		return
	fi
	_starts=$((${_starts:-0} + 1))
	_fifo=$WORKDIR/start.$_starts.ready
	mkfifo "$_fifo" || return 1
	# shellcheck disable=SC2086
	$PINGPONGD_WRAPPER "$PINGPONGD" -c "$1" $(io_option "$(cat "$1")") \
	    --ready-fd 3 3> "$_fifo" \
	    2> "$DAEMON_LOG" &
	DAEMON_PID=$!
	track "$DAEMON_PID"
	READY=$(timeout "$WAIT_SECONDS" cat "$_fifo")
	rm -f "$_fifo"
	if [ -z "$READY" ] || { ! grep -Eq '^log_level *= *(error|warning)' "$1" &&
	    ! wait_until daemon_ready; }; then
		diag "pingpongd did not start; its log:"
		sed 's/^/#   /' "$DAEMON_LOG"
		return 1
	fi
	PORT=$(echo "$READY" | sed -n '1s/.*:\([0-9][0-9]*\)$/\1/p')
	[ -n "$PORT" ]
}
start_daemon_logged() {
	# shellcheck disable=SC2086
	$PINGPONGD_WRAPPER "$PINGPONGD" -c "$1" $(io_option "$(cat "$1")") \
	    2> "$DAEMON_LOG" &
	DAEMON_PID=$!
	track "$DAEMON_PID"
	wait_until daemon_ready || return 1
	PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\) (token .*/\1/p' \
	    "$DAEMON_LOG" | head -n 1)
	[ -n "$PORT" ]
}
# start_ready NAME ARG...: run pingpongd ARG... --ready-fd 3 in the
# background, its stderr in $WORKDIR/NAME.log, and read what it writes on
# descriptor 3 to the end into $WORKDIR/NAME.ready: the bound addresses,
# one per line, once it listens.  Sets DAEMON_PID and DAEMON_LOG; true
# when an address came.  No log is read and nothing is polled.
start_ready() {
	_n=$1
	shift
	rm -f "$WORKDIR/$_n.fifo"
	mkfifo "$WORKDIR/$_n.fifo" || return 1
	DAEMON_LOG=$WORKDIR/$_n.log
	# shellcheck disable=SC2086
	$PINGPONGD_WRAPPER "$PINGPONGD" "$@" $(io_option "$@") --ready-fd 3 \
	    3> "$WORKDIR/$_n.fifo" 2> "$DAEMON_LOG" &
	DAEMON_PID=$!
	track "$DAEMON_PID"
	timeout "$WAIT_SECONDS" cat "$WORKDIR/$_n.fifo" > "$WORKDIR/$_n.ready"
	[ -s "$WORKDIR/$_n.ready" ]
}
# ready_line NAME N: the Nth address start_ready read for NAME.
ready_line() { sed -n "${2}p" "$WORKDIR/$1.ready"; }
# port_of ADDR: the port of "127.0.0.1:41873" or "[::1]:41874".
port_of() { echo "${1##*:}"; }

daemon_ready() {
	alive "$DAEMON_PID" || return 2
	log_has "running"
}

# stop_daemon [SIGNAL]: signal the daemon, wait for it, set DAEMON_STATUS.
stop_daemon() {
	kill "-${1:-TERM}" "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID"
	DAEMON_STATUS=$?
	untrack "$DAEMON_PID"
}

# wait_daemon: the daemon, already signalled, exits within WAIT_SECONDS;
# sets DAEMON_STATUS.
wait_daemon() {
	wait_exit "$DAEMON_PID" || return 1
	DAEMON_STATUS=$WAIT_STATUS
}

# listen_port ADDR: the port of the daemon's last listener logged on ADDR
# (a sed basic regular expression: '127\.0\.0\.2', '\[::1\]').
listen_port() {
	sed -n "s/.*listening on $1:\([0-9][0-9]*\) (token .*/\1/p" \
	    "$DAEMON_LOG" | tail -n 1
}

# ipv6_loopback: ::1 is up on lo, as /proc/net/if_inet6 lists it.
ipv6_loopback() {
	grep -q '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6 \
	    2>/dev/null
}

# CPU time the daemon has used, in clock ticks (1/100 s): utime + stime.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DAEMON_PID/stat"; }

# Descriptors the daemon holds, and its resident memory in KiB.
fd_count() {
	set -- "/proc/$DAEMON_PID/fd/"*
	echo $#
}
fd_is() { [ "$(fd_count)" -eq "$1" ]; }
rss_kb() {
	sed -n 's/^VmRSS:[^0-9]*\([0-9][0-9]*\) kB$/\1/p' \
	    "/proc/$DAEMON_PID/status"
}

# A netcat client that sends its stdin, half-closes, and prints the echo
# until the daemon closes.  -w bounds a hung exchange.  HOST defaults to
# 127.0.0.1; an IPv6 HOST makes it use IPv6 (-6).  A PORT of unix:/PATH or
# unix:@NAME is a Unix socket, and HOST is not used.
client() {
	case ${2:-} in
	unix:*) nc -N -w "$WAIT_SECONDS" -U "${2#unix:}" < "$1"; return ;;
	esac
	case ${3:-127.0.0.1} in
	*:*) nc -6 -N -w "$WAIT_SECONDS" "$3" "${2:-$PORT}" < "$1" ;;
	*) nc -N -w "$WAIT_SECONDS" "${3:-127.0.0.1}" "${2:-$PORT}" < "$1" ;;
	esac
}

# echoes_back FILE [PORT [HOST]]: the echo of FILE is FILE, byte for byte.
echoes_back() {
	client "$1" "${2:-}" "${3:-}" > "$1.echo" && cmp -s "$1" "$1.echo"
}

# refused HOST PORT: nothing accepts connections there.
refused() { ! nc -z -w "$WAIT_SECONDS" "$1" "$2" 2>/dev/null; }

# Clients that stay connected while the script acts on them.
# open_client NAME [PORT [HOST [SOURCE]]] runs nc (from the local address
# SOURCE when given; to a Unix socket for a PORT of unix:/PATH or
# unix:@NAME, as client does) reading the FIFO $WORKDIR/NAME.in;
# a tracked holder process keeps that FIFO open, so nc sees no end of input
# until close_client NAME.  send and send_file write into the FIFO and append
# the same bytes to NAME.sent; the echo lands in NAME.out.
open_client() {
	_c=$WORKDIR/$1
	mkfifo "$_c.in" || return 1
	: > "$_c.sent"
	: > "$_c.out"
	# The holder only keeps the FIFO open.  Read-write, the open never
	# blocks, and no other process inherits the descriptor.
	sleep 86400 1<> "$_c.in" &
	echo $! > "$_c.holder"
	track $!
	case ${2:-} in
	unix:*) nc -N -U "${2#unix:}" < "$_c.in" > "$_c.out" 2> "$_c.err" & ;;
	*) nc -N ${4:+-s "$4"} "${3:-127.0.0.1}" "${2:-$PORT}" < "$_c.in" \
	    > "$_c.out" 2> "$_c.err" & ;;
	esac
	echo $! > "$_c.pid"
	track $!
	# Bytes written into the FIFO before nc opens it would be lost when
	# the writer closes: wait until nc reads from it (or has failed).
	wait_until reads_fifo $! "$_c.in"
}
reads_fifo() {
	[ "$(readlink -f "/proc/$1/fd/0")" = "$(readlink -f "$2")" ] || gone "$1"
}
client_pid() { cat "$WORKDIR/$1.pid"; }

# send NAME FORMAT [ARG...]: printf into the client's connection.
send() {
	_c=$WORKDIR/$1
	shift
	# shellcheck disable=SC2059
	printf "$@" >> "$_c.sent"
	# shellcheck disable=SC2059
	printf "$@" 1<> "$_c.in"
}
# send_file NAME FILE: the bytes of FILE into the client's connection.
send_file() {
	cat "$2" >> "$WORKDIR/$1.sent"
	cat "$2" 1<> "$WORKDIR/$1.in"
}

# echoed NAME: everything sent so far has come back, byte for byte.
echoed() { cmp -s "$WORKDIR/$1.sent" "$WORKDIR/$1.out"; }
wait_echoed() { wait_until echoed "$1"; }
# out_size NAME: bytes echoed to the client so far.
out_size() { wc -c < "$WORKDIR/$1.out" | tr -d ' '; }
out_has() { [ "$(out_size "$1")" -ge "$2" ]; }

# close_client NAME: end the client's input (nc half-closes); true once nc
# has exited, that is once the daemon has echoed the rest and closed.
close_client() {
	stop_pid "$(cat "$WORKDIR/$1.holder")"
	wait_exit "$(client_pid "$1")"
}

# start_nonreader SIZE: a client that sends SIZE bytes of NULs (a sparse
# file: no newline, so each max_line goes back as a fragment) and never
# reads its echo: nc's output is a FIFO held open but never read, so nc
# blocks on it, stops reading its socket, and the daemon's echo backs up.
# Sets NONREADER to nc's PID.
start_nonreader() {
	truncate -s "$1" "$WORKDIR/nonreader.data"
	mkfifo "$WORKDIR/nonreader.out"
	sleep 86400 1<> "$WORKDIR/nonreader.out" &
	track $!
	nc -N 127.0.0.1 "$PORT" < "$WORKDIR/nonreader.data" \
	    > "$WORKDIR/nonreader.out" &
	NONREADER=$!
	track "$NONREADER"
}

# hold_clients NAME COUNT BYTES SOURCES: COUNT connections, each sending
# BYTES bytes with no newline, from 127.0.0.1 .. 127.0.0.SOURCES, held open
# by one loadclient until release NAME; true once all are open.
hold_clients() {
	rm -f "$WORKDIR/$1.in"
	mkfifo "$WORKDIR/$1.in"
	# Exists before the first poll below, which would otherwise complain.
	: > "$WORKDIR/$1.out"
	sleep 86400 1<> "$WORKDIR/$1.in" &
	echo $! > "$WORKDIR/$1.holder"
	track $!
	"$LOADCLIENT" hold "$PORT" "$2" "$3" "$4" < "$WORKDIR/$1.in" \
	    > "$WORKDIR/$1.out" 2> "$WORKDIR/$1.err" &
	echo $! > "$WORKDIR/$1.pid"
	track $!
	wait_until grep -q "^ready $2" "$WORKDIR/$1.out"
}
# release NAME: the held connections close; waits for the loadclient.
release() {
	stop_pid "$(cat "$WORKDIR/$1.holder")"
	_p=$(cat "$WORKDIR/$1.pid")
	wait "$_p"; untrack "$_p"
}

# closes_clean NAME...: close_client each in turn, and everything each sent
# came back; false at the first that fails.
closes_clean() {
	for _n in "$@"; do close_client "$_n" && echoed "$_n" || return 1; done
}

# kill_client NAME: the client vanishes (SIGKILL, no shutdown of its own);
# the kernel closes its socket, with a reset if echo was left unread.
kill_client() {
	stop_pid "$(client_pid "$1")" KILL
	stop_pid "$(cat "$WORKDIR/$1.holder")"
}

# finish: end the script; prints the plan now when it was not declared first.
finish() {
	[ -n "$tap_planned" ] || echo "1..$tap_count"
	[ "$tap_failed" -eq 0 ]
	exit $?
}
