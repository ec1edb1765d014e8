#!/bin/sh
# idle_timeout closes an idle connection, not an active one; 0 turns it off.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 11

cfg=$(ini idle server.listen=127.0.0.1:0 connection.idle_timeout=1s \
    daemon.log_level=debug)
check "daemon starts with idle_timeout = 1s" start_daemon "$cfg"

# An idle client: it sends nothing and, without -N, does not half-close
# at the end of its (empty) input, so only the daemon can end it; nc then
# exits on its own.
nc 127.0.0.1 "$PORT" < /dev/null > "$WORKDIR/idle.out" 2>&1 &
idle=$!
track $idle

# An active client, connected at the same time, sends a line about every
# 0.3 s for about 2 s: twice the timeout, but never 1 s without progress.
open_client active
ticks=0
i=0
while [ $i -lt 7 ]; do
	send active 'tick %d\n' $i
	wait_echoed active || break
	ticks=$((ticks + 1))
	i=$((i + 1))
	# Pacing, not synchronisation: the gap between lines is what is tested.
	sleep 0.3
done
check "the idle client is closed by the daemon (its nc exits)" wait_exit $idle
check "the daemon says why: idle timeout" wait_until log_has "closed: idle timeout"
check "the active client's 7 lines, sent over 2 s, all come back" \
    test "$ticks" -eq 7
check "only the idle connection was closed for idleness" \
    test "$(log_count 'closed: idle timeout')" -eq 1

# Once the active client stops, it idles out too.
idled_out_twice() { [ "$(log_count 'closed: idle timeout')" -eq 2 ]; }
check "the active client is closed once it stops sending" \
    wait_until idled_out_twice
check "its nc then ends and everything it sent came back" closes_clean active
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

cfg=$(ini never server.listen=127.0.0.1:0 connection.idle_timeout=0 \
    daemon.log_level=debug)
check "daemon starts with idle_timeout = 0" \
    start_daemon "$cfg" "$WORKDIR/never.log"
nc 127.0.0.1 "$PORT" < /dev/null > "$WORKDIR/never.out" 2>&1 &
never=$!
track $never
wait_until log_has "debug: connection .* from"
# A fixed wait, because the assertion is that nothing happens: twice the
# timeout that closed the idle client above.
sleep 2
still_open() { alive "$1" && ! log_has "closed: idle timeout"; }
check "with idle_timeout = 0 an idle client is still connected after 2 s" \
    still_open $never
stop_pid $never
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
