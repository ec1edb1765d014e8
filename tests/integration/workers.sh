#!/bin/sh
# workers = 2: two threads, each with its own loop and its own SO_REUSEPORT
# listener on the same port; the echo contract, reload and drain hold for
# both; signals go to the main thread; the service manager hears from it;
# socket activation is shared by the workers.
# shellcheck disable=SC2317,SC2016 # helpers via check; sh -c gets arguments
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

NOTIFY_LISTENER="${abs_top_builddir:-.}/tests/tools/notify_listener"

cfg=$(ini workers server.listen=127.0.0.1:0 server.workers=2 \
    daemon.log_level=debug)
check "daemon starts with workers = 2" start_daemon "$cfg"
ports_of() { sed -n "s/.*worker $1: listening on 127\\.0\\.0\\.1:\\([0-9]*\\) (token 0).*/\\1/p" "$DAEMON_LOG"; }
check "both workers listen on the one port $PORT (port 0 chosen once)" \
    test "$(ports_of 1)" = "$PORT" -a "$(ports_of 2)" = "$PORT"

# 200 concurrent clients, each with its own content.
i=0
while [ $i -lt 200 ]; do
	printf 'client %d line one\nclient %d line two\n' $i $i > "$WORKDIR/c$i"
	nc -N -w "$WAIT_SECONDS" 127.0.0.1 "$PORT" < "$WORKDIR/c$i" > "$WORKDIR/c$i.echo" &
	track $!
	i=$((i + 1))
done
wait_clients
bad=0
i=0
while [ $i -lt 200 ]; do
	cmp -s "$WORKDIR/c$i" "$WORKDIR/c$i.echo" || bad=$((bad + 1))
	i=$((i + 1))
done
check "200 concurrent clients each get their own echo ($bad differ)" test "$bad" -eq 0

# A reload reaches both workers: a new listen line on 127.0.0.2.
ini workers server.listen=127.0.0.1:0 server.listen=127.0.0.2:0 \
    server.workers=2 daemon.log_level=debug > /dev/null
kill -HUP "$DAEMON_PID"
both_listen_2() {
	[ "$(grep -c 'worker [12]: listening on 127\.0\.0\.2:' "$DAEMON_LOG")" -eq 2 ]
}
check "SIGHUP: both workers open the new listen line" wait_until both_listen_2
port2=$(listen_port '127\.0\.0\.2')
printf 'reloaded\n' > "$WORKDIR/r"
check "and it echoes" echoes_back "$WORKDIR/r" "$port2" 127.0.0.2
ini workers server.bogus=1 > /dev/null
kill -HUP "$DAEMON_PID"
check "SIGHUP with a bad file: logged with file:line, nothing changes" \
    wait_until log_has "reload failed.*workers.ini:2:"
check "the old configuration still serves" echoes_back "$WORKDIR/r"

# SIGTERM mid-transfer: the client loses nothing, the daemon exits 0.
open_client mid
send mid 'first half\n'
wait_echoed mid
kill -TERM "$DAEMON_PID"
both_stopping() {
	[ "$(grep -c 'worker [12]: SIGTERM: stopped accepting' "$DAEMON_LOG")" -eq 2 ]
}
check "SIGTERM: both workers stop accepting" wait_until both_stopping
check "new connections are refused" refused 127.0.0.1 "$PORT"
send mid 'second half\nand a partial line'
check "the client mid-transfer gets every byte back" closes_clean mid
wait_daemon
check "exit status 0" test "$DAEMON_STATUS" -eq 0
served() {
	sed -n "s/.*worker $1: stopped: \\([0-9]*\\) connection(s) served.*/\\1/p" "$DAEMON_LOG"
}
diag "worker 1 served $(served 1), worker 2 served $(served 2)"
check "both workers served connections" \
    test "$(served 1)" -gt 0 -a "$(served 2)" -gt 0

# workers = auto: one per CPU.
start_daemon "$(ini workers server.listen=127.0.0.1:0 server.workers=auto \
    daemon.log_level=debug)"
cpus=$(nproc)
[ "$cpus" -le 64 ] || cpus=64
if [ "$cpus" -gt 1 ]; then
	check "workers = auto starts $cpus workers" wait_until log_has "with $cpus workers"
else
	check "workers = auto on one CPU runs one server" \
	    test "$(log_count 'worker 1:')" -eq 0
fi
stop_daemon TERM

if [ "${PINGPONGD_SYSTEMD:-yes}" = yes ]; then
	# The main thread speaks to the service manager, for all workers.
	cfg=$(ini workers server.listen=127.0.0.1:0 server.workers=2 \
	    daemon.log_level=debug)
	"$NOTIFY_LISTENER" "$WORKDIR/notify.sock" 60 > "$WORKDIR/notes" &
	listener=$!
	track $listener
	wait_until grep -q LISTENING "$WORKDIR/notes"
	NOTIFY_SOCKET="$WORKDIR/notify.sock" WATCHDOG_USEC=400000 \
	    start_daemon "$cfg"
	check "READY=1 once both workers listen" \
	    wait_until grep -q '^READY=1|STATUS=serving: 2 workers' "$WORKDIR/notes"
	pings() { [ "$(grep -c '^WATCHDOG=1$' "$WORKDIR/notes")" -ge 3 ]; }
	check "WATCHDOG=1 while both workers beat" wait_until pings
	stop_daemon TERM
	check "STOPPING=1 on SIGTERM" grep -q '^STOPPING=1' "$WORKDIR/notes"
	stop_pid $listener

	# Socket activation: every worker watches the passed socket.
	ACT_PORT=""
	tries=0
	while [ -z "$ACT_PORT" ] && [ $tries -lt 20 ]; do
		tries=$((tries + 1))
		p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000 ))
		: > "$WORKDIR/act.log"
		# shellcheck disable=SC2086 # the wrapper is a command line
		systemd-socket-activate -l "127.0.0.1:$p" \
		    $PINGPONGD_WRAPPER "$PINGPONGD" -c "$cfg" \
		    2> "$WORKDIR/act.log" &
		act=$!
		track $act
		if wait_until grep -q "Listening on 127.0.0.1:$p" "$WORKDIR/act.log"; then
			ACT_PORT=$p
		else
			stop_pid $act KILL
		fi
	done
	printf 'activated\n' > "$WORKDIR/a"
	check "socket activation with 2 workers echoes" echoes_back "$WORKDIR/a" "$ACT_PORT"
	both_passed() {
		[ "$(grep -c "worker [12]: listening on 127.0.0.1:$ACT_PORT (token 0, passed" "$WORKDIR/act.log")" -eq 2 ]
	}
	check "both workers watch the passed socket" wait_until both_passed
	kill -TERM "$act"; wait "$act"; status=$?; untrack "$act"
	check "exit status 0" test "$status" -eq 0
else
	for what in READY WATCHDOG STOPPING activation "activation workers" "activation exit"; do
		skip "$what: built without systemd"
	done
fi
finish
