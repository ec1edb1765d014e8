#!/bin/sh
# framing = bytes: the RFC 862 echo service.  Every byte goes back at once,
# no newline needed; line_timeout has nothing to time; back-pressure and
# the other limits hold; a reload applies framing to new connections only.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 13

# held_now: ask for statistics and print the bytes held they give.
asked=0
held_now() {
	asked=$((asked + 1))
	kill -USR1 "$DAEMON_PID"
	wait_until stats_count_is "$asked" || return 1
	grep 'statistics: ' "$DAEMON_LOG" | tail -n 1 |
	    sed -n 's/.*; \([0-9]*\) bytes held in \([0-9]*\) buffer.*/\1 \2/p'
}
stats_count_is() { [ "$(log_count 'statistics: ')" -ge "$1" ]; }
# held_is BYTES BUFFERS: the daemon holds exactly that, now.
held_is() { [ "$(held_now)" = "$1 $2" ]; }
# held_within BYTES: the daemon holds something, but no more than BYTES.
# Through a ring it may hold nothing: it stops receiving once its sends
# stall, and what the client sent waits in the kernel.
held_within() {
	set -- "$1" $(held_now)
	{ [ "${2:-0}" -gt 0 ] || [ "$RUNAHEAD_BYTES" -gt 0 ]; } &&
	    [ "${2:-0}" -le "$1" ]
}

# The non-reader below stalls, and so idles: it must not be idled out
# before its held bytes are looked at: under valgrind 10 s once was not enough.
if [ -n "$PINGPONGD_WRAPPER" ]; then IDLE=40; else IDLE=10; fi
cfg=$(ini bytes server.listen=127.0.0.1:0 connection.framing=bytes \
    connection.line_timeout=1s "connection.idle_timeout=${IDLE}s" \
    connection.max_line=4k daemon.log_level=debug)
check "daemon starts with framing = bytes" start_daemon "$cfg"

# A generic echo client: no newline, and it still has its echo while the
# connection is open.
open_client generic
send generic 'abc'
check "3 bytes with no newline come back at once, the client still connected" \
    wait_until out_has generic 3
check "... byte for byte" echoed generic
send generic '\001\000\377 and more'
check "binary bytes, NUL included, come back too" wait_echoed generic

# nc sending no newline and ending its side.
printf 'no newline at all' > "$WORKDIR/nonl"
check "nc -N with no newline: the whole echo" echoes_back "$WORKDIR/nonl"

# line_timeout (1s) has no partial line to time: the idle client is closed
# by idle_timeout, and the log says which.
check "the quiet client is closed in the end, by idle_timeout" \
    wait_until log_has "closed: idle timeout"
check "... not by line_timeout" test "$(log_count "line timeout")" -eq 0
kill_client generic

# Back-pressure: a client that never reads stalls only itself.
start_nonreader 100M
open_client busy
send busy 'still served\n'
check "a non-reader stalls only itself: another client is served" \
    wait_echoed busy
check "... and what it owes is held, no more than max_line (4096)$(
    [ "$RUNAHEAD_BYTES" -eq 0 ] || echo " and the ring's run-ahead")" \
    wait_until held_within $((4096 + RUNAHEAD_BYTES))
kill -KILL "$NONREADER"

# A reload to lines: the open bytes connection keeps its framing, a new
# one gets the new.
open_client old
send old 'x'
wait_until out_has old 1
ini bytes server.listen=127.0.0.1:0 connection.framing=lines \
    daemon.log_level=debug > /dev/null
kill -HUP "$DAEMON_PID"
check "reload to framing = lines" wait_until log_has "reloaded"
send old 'yz'
check "the connection opened before it still echoes every byte" \
    wait_until out_has old 3
open_client new
send new 'held'
check "a new connection holds its partial line: 4 bytes in 1 buffer" \
    wait_until held_is 4 1
send new ' until now\n'
check "... and echoes it whole with its newline" wait_echoed new
stop_daemon TERM

finish
