#!/bin/sh
# SIGTERM/SIGINT drain connections losslessly; a timeout or 2nd signal ends it.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 25

# drain_config TIMEOUT: a config file with that shutdown_timeout.
drain_config() {
	ini "drain-$1" server.listen=127.0.0.1:0 "daemon.shutdown_timeout=$1"
}
# Part 1 of a transfer: whole lines.  Part 2: more lines, then a final
# partial line that only the end of input releases.
i=0
while [ $i -lt 300 ]; do
	printf 'part 1, line %d: before the signal\n' $i
	i=$((i + 1))
done > "$WORKDIR/part1"
i=0
while [ $i -lt 300 ]; do
	printf 'part 2, line %d: during the drain\n' $i
	i=$((i + 1))
done > "$WORKDIR/part2.lines"
cp "$WORKDIR/part2.lines" "$WORKDIR/part2"
printf 'and a final line with no newline' >> "$WORKDIR/part2"
exits_with() { wait_daemon && [ "$DAEMON_STATUS" -eq "$1" ]; }
log_lacks() { ! log_has "$1"; }

# SIGNAL mid-transfer, with a drain long enough never to expire here: the
# drain must end because the last client has finished.
for sig in TERM INT; do
	check "SIG$sig: daemon starts" \
	    start_daemon "$(drain_config 10m)" "$WORKDIR/$sig.log"
	open_client "mid$sig"
	send_file "mid$sig" "$WORKDIR/part1"
	check "SIG$sig: part 1 of the transfer is echoed" wait_echoed "mid$sig"
	kill "-$sig" "$DAEMON_PID"
	check "SIG$sig: the daemon logs 'stopped accepting'" \
	    wait_until log_has "SIG$sig: stopped accepting"
	check "SIG$sig: a new connection is refused" refused 127.0.0.1 "$PORT"
	send_file "mid$sig" "$WORKDIR/part2"
	if [ $sig = TERM ]; then
		cat "$WORKDIR/part1" "$WORKDIR/part2.lines" > "$WORKDIR/lines"
		lines_size=$(wc -c < "$WORKDIR/lines")
		check "SIGTERM: part 2's whole lines are echoed during the drain" \
		    wait_until out_has midTERM "$lines_size"
	fi
	check "SIG$sig: the client ends its input and gets every byte (cmp)" \
	    closes_clean "mid$sig"
	check "SIG$sig: the daemon then exits with status 0" exits_with 0
	if [ $sig = TERM ]; then
		check "SIGTERM: the drain ended with the client, not the timeout" \
		    log_lacks "shutdown_timeout: closing"
	fi
done

# shutdown_timeout = 1s and a client that stays, holding a partial line.
check "shutdown_timeout = 1s: daemon starts" \
    start_daemon "$(drain_config 1s)" "$WORKDIR/timeout.log"
open_client stays
send stays 'a whole line\n'
wait_echoed stays
send stays 'held: no newline'
kill -TERM "$DAEMON_PID"
check "shutdown_timeout = 1s: the daemon exits with status 0" exits_with 0
check "... after the timeout closed the connection" \
    wait_until log_has "shutdown_timeout: closing 1 connection"
check "... and the client got its held bytes before the close" \
    wait_echoed stays
close_client stays

# A second SIGTERM during a long drain ends it at once.
check "a second SIGTERM: daemon starts" \
    start_daemon "$(drain_config 10m)" "$WORKDIR/again.log"
open_client again
send again 'a line: the daemon has accepted the client once it is echoed\n'
wait_echoed again
send again 'held before the signal'
kill -TERM "$DAEMON_PID"
check "... the first SIGTERM starts the drain" \
    wait_until log_has "SIGTERM: stopped accepting"
# A SIGHUP during the drain, with the file now naming the very port just
# closed, must not make the daemon listen again.
ini drain-10m "server.listen=127.0.0.1:$PORT" daemon.shutdown_timeout=10m \
    > /dev/null
kill -HUP "$DAEMON_PID"
# The next held bytes go in the same write as a line's end, so they reach
# the daemon in the same read: the line's echo shows they are held.  It
# also comes after the SIGHUP has been handled.
held='held when the second signal comes'
send again ', completed during the drain\n%s' "$held"
sent_size=$(wc -c < "$WORKDIR/again.sent")
check "... open connections are still served during the drain" \
    wait_until out_has again $((sent_size - ${#held}))
check "... after a SIGHUP during the drain, new connections are still refused" \
    refused 127.0.0.1 "$PORT"
kill -TERM "$DAEMON_PID"
# Far less than the 10 minutes of shutdown_timeout.
check "... the second SIGTERM ends it: exit status 0 at once" exits_with 0
check "... the daemon logs 'SIGTERM again'" wait_until log_has "SIGTERM again"
check "... the client got its held bytes before the close" wait_echoed again
close_client again

finish
