#!/bin/sh
# Past max_connections a new client is closed at once; open ones keep echoing.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 16

cfg=$(ini limits server.listen=127.0.0.1:0 server.max_connections=3)
check "daemon starts with max_connections = 3" start_daemon "$cfg"

# Three clients take every slot; an echo shows each has been accepted.
for c in a b c; do
	open_client $c
	send $c 'first line from %s\n' $c
done
all_echoed() {
	for _n in "$@"; do wait_echoed "$_n" || return 1; done
}
check "three clients are served (each got its echo)" all_echoed a b c

# The fourth gets no slot: the daemon closes it at once, without echo.  No
# -w: if the daemon left it waiting, nc would not exit and the wait fails.
printf 'fourth client\n' > "$WORKDIR/fourth"
nc -N 127.0.0.1 "$PORT" < "$WORKDIR/fourth" > "$WORKDIR/fourth.out" \
    2> "$WORKDIR/fourth.err" &
fourth=$!
track $fourth
check "a fourth client is closed by the daemon" wait_exit $fourth
check "the fourth client got no echo" test ! -s "$WORKDIR/fourth.out"
# The log's writer thread may write it after nc saw the close.
check "the daemon logs 'max_connections (3) reached'" \
    wait_until log_has "max_connections (3) reached"

for c in a b c; do
	send $c 'second line from %s, after the refusal\n' $c
	check "client $c still echoes byte for byte" wait_echoed $c
done

# A client that leaves frees its slot for the next one.
check "client a leaves and gets everything it sent" closes_clean a
printf 'fifth client, in the slot a freed\n' > "$WORKDIR/fifth"
check "a new client takes the freed slot and is echoed" \
    echoes_back "$WORKDIR/fifth"
check "clients b and c leave and get everything they sent" closes_clean b c

stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

# A burst of 12 connections at once against max_connections = 2: the
# first refusal is logged at once, the rest of the burst at the end of its
# second, and the counts of the lines add up to the 10 refused.
cfg=$(ini burst server.listen=127.0.0.1:0 server.max_connections=2)
check "a daemon with max_connections = 2" start_daemon "$cfg" "$WORKDIR/burst.log"
check "12 connections at once" hold_clients burst 12 0 1
told_sum() {
	sed -n 's/.*max_connections (2) reached: closed \([0-9]*\) new.*/\1/p' \
	    "$DAEMON_LOG" | awk '{ s += $1 } END { print s + 0 }'
}
sums_to() { [ "$(told_sum)" -eq "$1" ]; }
check "the log's counts add up to the 10 refused, while it runs" \
    wait_until sums_to 10
diag "$(grep -c 'max_connections (2) reached' "$DAEMON_LOG") line(s):" \
    "$(sed -n 's/.*reached: closed \([0-9]*\) new.*/\1/p' "$DAEMON_LOG" | tr '\n' ' ')"
release burst
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
