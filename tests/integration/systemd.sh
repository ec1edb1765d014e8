#!/bin/sh
# The service manager's protocols with real tools: notifications (READY,
# STATUS, RELOADING + MONOTONIC_USEC, STOPPING, WATCHDOG) received on our own
# NOTIFY_SOCKET, and socket activation by systemd-socket-activate.  Built
# --without-systemd, the daemon must send nothing and serve its listen lines.
# shellcheck disable=SC2317 # helpers are called through check and wait_until
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

LISTENER="${abs_top_builddir:-.}/tests/tools/notify_listener"
NOTES="$WORKDIR/notes"

# defer_accept is for sockets the daemon opens itself: a passed one is
# left as the service manager made it, with a warning.
cfg=$(ini notify server.listen=127.0.0.1:0 server.defer_accept=5s)

# The manager's end of the protocol, started before the daemon.
"$LISTENER" "$WORKDIR/notify.sock" 60 > "$NOTES" &
LISTENER_PID=$!
track "$LISTENER_PID"
wait_until grep -q LISTENING "$NOTES"

notes_have() { grep -q -- "$1" "$NOTES"; }
notes_count() { grep -c -- "$1" "$NOTES"; }
# notes_at_least N PATTERN: re-counted on every call, for wait_until.
notes_at_least() { test "$(notes_count "$2")" -ge "$1"; }

NOTIFY_SOCKET="$WORKDIR/notify.sock" WATCHDOG_USEC=200000 \
    start_daemon "$cfg"
printf 'notified\n' > "$WORKDIR/line"
check "daemon under NOTIFY_SOCKET echoes" echoes_back "$WORKDIR/line"

if [ "${PINGPONGD_SYSTEMD:-yes}" = yes ]; then
	check "READY=1 with a STATUS= line once listening" \
	    wait_until notes_have '^READY=1|STATUS=serving: '
	check "... the STATUS= line names the address bound" \
	    notes_have "^READY=1|STATUS=serving: .*; listening on 127\.0\.0\.1:$PORT$"
	check "WATCHDOG=1 pings at half of WATCHDOG_USEC" \
	    wait_until notes_at_least 3 '^WATCHDOG=1$'
	kill -HUP "$DAEMON_PID"
	check "SIGHUP: RELOADING=1 with MONOTONIC_USEC=" \
	    wait_until notes_have '^RELOADING=1|MONOTONIC_USEC=[0-9][0-9]*$'
	check "SIGHUP: READY=1 again after the reload" \
	    wait_until notes_at_least 2 '^READY=1|STATUS='
	stop_daemon TERM
	check "SIGTERM: STOPPING=1 with a STATUS= line" \
	    notes_have '^STOPPING=1|STATUS=draining: '
	check "exit status 0" test "$DAEMON_STATUS" -eq 0
else
	stop_daemon TERM
	check "exit status 0" test "$DAEMON_STATUS" -eq 0
	# Without libsystemd the calls are no-ops: the socket got nothing.
	check "built without systemd: no notification sent" \
	    test "$(grep -vc LISTENING "$NOTES")" -eq 0
	for what in WATCHDOG RELOADING READY STOPPING; do
		check "built without systemd: no $what" \
		    test "$(notes_count "^$what")" -eq 0
	done
fi
stop_pid "$LISTENER_PID"

# systemd-socket-activate binds the port and starts the daemon on the first
# connection.  A port taken by someone else makes it fail: try another.
activate() {
	ACT_LOG="$WORKDIR/activate.log"
	: > "$ACT_LOG"
	ACT_PORT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000 ))
	# shellcheck disable=SC2086 # the wrapper is a command line
	systemd-socket-activate -l "127.0.0.1:$ACT_PORT" \
	    $PINGPONGD_WRAPPER "$PINGPONGD" -c "$cfg" 2> "$ACT_LOG" &
	ACT_PID=$!
	track "$ACT_PID"
	if wait_until grep -q "Listening on 127.0.0.1:$ACT_PORT" "$ACT_LOG"; then
		return 0
	fi
	stop_pid "$ACT_PID" KILL
	return 1
}
tries=0
until activate; do
	tries=$((tries + 1))
	[ $tries -lt 20 ] || break
done

printf 'through a passed socket\n' > "$WORKDIR/activated"
if [ "${PINGPONGD_SYSTEMD:-yes}" = yes ]; then
	check "socket activation: echo through the passed socket" \
	    echoes_back "$WORKDIR/activated" "$ACT_PORT"
	check "socket activation: the daemon says it took fd 3" \
	    grep -q "listening on 127.0.0.1:$ACT_PORT (token 0, passed by the service manager)" "$ACT_LOG"
	check "socket activation: the listen line (port 0) is not used" \
	    test "$(grep -c 'listening on' "$ACT_LOG")" -eq 1
	check "socket activation: defer_accept is not applied, with a warning" \
	    grep -q "defer_accept is not applied to sockets passed by the service manager" "$ACT_LOG"
	kill -HUP "$ACT_PID"
	wait_until grep -q "reloaded" "$ACT_LOG"
	check "socket activation: reload keeps the passed socket" \
	    echoes_back "$WORKDIR/activated" "$ACT_PORT"
	kill -TERM "$ACT_PID"
	wait "$ACT_PID"
	check "socket activation: exit status 0 on SIGTERM" test $? -eq 0
	untrack "$ACT_PID"
else
	# The passed socket is ignored: the daemon listens on its own line.
	nc -z 127.0.0.1 "$ACT_PORT"
	check "built without systemd: listens on its own listen line" \
	    wait_until grep -q "listening on 127.0.0.1:[0-9]* (token 0)$" "$ACT_LOG"
	kill -TERM "$ACT_PID"
	wait "$ACT_PID"
	check "built without systemd: exit status 0" test $? -eq 0
	untrack "$ACT_PID"
fi

finish
