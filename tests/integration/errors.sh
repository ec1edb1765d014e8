#!/bin/sh
# Clients that close at once, reset or vanish cost only their own connection.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

QUICK=20        # clients that connect and close at once
VANISH=10       # clients that send garbage and are killed mid-stream

plan 11

cfg=$(ini errors server.listen=127.0.0.1:0 connection.max_line=4k \
    daemon.log_level=debug)
check "daemon starts" start_daemon "$cfg"

# The client in the middle of an exchange: a line echoed, and a partial
# line held by the daemon while the others come and go.
open_client main
send main 'the first line of the exchange\n'
check "the main client is echoed" wait_echoed main
send main 'a line begun before the trouble, '
base=$(fd_count)
opened() { log_count ' debug: connection [0-9]* from '; }
opened_before=$(opened)

# Connect, then close at once without a byte (nc -z).
i=0
quick_ok=0
while [ $i -lt $QUICK ]; do
	nc -z -w "$WAIT_SECONDS" 127.0.0.1 "$PORT" && quick_ok=$((quick_ok + 1))
	i=$((i + 1))
done
check "$QUICK clients connect and close at once" test $quick_ok -eq $QUICK

# Connect, send garbage and vanish (SIGKILL): half of them read their echo
# (into /dev/null); half never read it (a FIFO nobody reads) and send more
# than the socket buffers hold (a sparse file of 64 MiB of NULs), so the
# daemon is caught both reading and with echo it cannot write.
head -c 1048576 /dev/urandom > "$WORKDIR/garbage"
truncate -s $((64 * 1024 * 1024)) "$WORKDIR/zeros"
mkfifo "$WORKDIR/unread"
sleep 86400 1<> "$WORKDIR/unread" &
track $!
vanish_pids=""
i=0
while [ $i -lt $VANISH ]; do
	if [ $((i % 2)) -eq 0 ]; then
		nc 127.0.0.1 "$PORT" < "$WORKDIR/garbage" > /dev/null 2>&1 &
	else
		nc 127.0.0.1 "$PORT" < "$WORKDIR/zeros" > "$WORKDIR/unread" \
		    2>/dev/null &
	fi
	track $!
	vanish_pids="$vanish_pids $!"
	i=$((i + 1))
done
# Each has sent something once its input has moved.
started_sending() {
	for _p in $vanish_pids; do
		_pos=$(sed -n 's/^pos:[^0-9]*//p' "/proc/$_p/fdinfo/0" 2>/dev/null)
		[ "${_pos:-0}" -gt 0 ] || return 1
	done
}
all_connected() {
	[ "$(opened)" -ge $((opened_before + QUICK + VANISH)) ]
}
connected_and_sending() {
	wait_until all_connected && wait_until started_sending
}
check "$VANISH garbage senders are connected and sending" connected_and_sending
for p in $vanish_pids; do
	stop_pid "$p" KILL
done

# A client vanishes while the daemon holds a partial line for it.  The
# partial line goes in the same write as a whole one, so they reach the
# daemon in the same read: the whole line's echo shows the rest is held.
open_client partial
send partial 'a whole line\n%s' 'then a partial line, then the client vanishes'
wait_until out_has partial 13
kill_client partial

send main 'completed after the others are gone\n'
check "the main client's held line comes back whole, byte for byte" \
    wait_echoed main
printf 'binary\000\r\n\377\376 after the errors\n' > "$WORKDIR/bin"
send_file main "$WORKDIR/bin"
check "the main client still echoes binary data byte for byte" \
    wait_echoed main
check "the daemon's descriptor count returns to its baseline ($base)" \
    wait_until fd_is "$base"
closed() { log_count ' debug: connection [0-9]* closed: '; }
all_but_main_closed() { [ "$(closed)" -eq $(($(opened) - 1)) ]; }
check "every connection but the main one has been closed" \
    wait_until all_but_main_closed
check "the main client ends with every byte it sent" closes_clean main

stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0
check "the daemon logged no error" test "$(log_count ' error: ')" -eq 0
diag "how the daemon's connections ended:"
sed -n 's/.* closed: //p' "$DAEMON_LOG" | sort | uniq -c | sed 's/^ */#   /'

finish
