#!/bin/sh
# Past max_connections a new client is closed at once; open ones keep echoing.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 12

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
check "the daemon logs 'max_connections (3) reached'" \
    log_has "max_connections (3) reached"

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

finish
