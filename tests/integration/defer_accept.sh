#!/bin/sh
# defer_accept: a client that connects and stays silent waits in the kernel
# (SYN-RECV on the daemon's side), so it takes no slot, while a client that
# speaks is served at once.  A reload applies to new connections; a silent
# client is handed over in the end.
# shellcheck disable=SC2317 # helpers are called through check and wait_until
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 7

# An hour: far past WAIT_SECONDS, so only the option can keep a client out.
cfg=$(ini defer server.listen=127.0.0.1:0 server.defer_accept=1h \
    server.max_connections=1 daemon.log_level=debug)
check "daemon starts with defer_accept = 1h and max_connections = 1" \
    start_daemon "$cfg"

# lport NAME: the local port of client NAME's connection (established on
# the client's side as soon as the handshake is done, deferred or not).
lport() {
	ss -tnpH state established "( dport = :$PORT )" |
	    awk -v pid="pid=$(client_pid "$1")," \
	    'index($0, pid) { n = split($3, a, ":"); print a[n] }'
}
# in_kernel NAME: the daemon's side of NAME's connection is a request the
# kernel still holds.
in_kernel() {
	_lp=$(lport "$1")
	[ -n "$_lp" ] &&
	    [ -n "$(ss -tnH state syn-recv "( sport = :$PORT and dport = :$_lp )")" ]
}
# taken NAME: the daemon holds the socket of NAME's connection.
taken() {
	_lp=$(lport "$1")
	[ -n "$_lp" ] &&
	    ss -tnpH state established "( sport = :$PORT and dport = :$_lp )" |
	    grep -q "pid=$DAEMON_PID,"
}
reloads_at_least() { [ "$(log_count "reloaded")" -ge "$1" ]; }

open_client silent
check "a silent client is held by the kernel (SYN-RECV), not the daemon" \
    wait_until in_kernel silent
open_client talker
send talker 'first words\n'
check "a client that speaks is echoed, though the silent one came first" \
    wait_echoed talker
# took_only NAME: the one connection the daemon has taken is NAME's.
took_only() {
	[ "$(log_count "connection [0-9]* from")" -eq 1 ] &&
	    log_has "connection [0-9]* from 127\.0\.0\.1:$(lport "$1") "
}
# The log's writer thread may write the line after the echo went out.
check "the daemon took one connection, the talker's, into its one slot" \
    wait_until took_only talker
close_client talker
close_client silent

ini defer server.listen=127.0.0.1:0 server.defer_accept=0 \
    server.max_connections=100 daemon.log_level=debug > /dev/null
kill -HUP "$DAEMON_PID"
wait_until reloads_at_least 1
open_client prompt
check "after a reload to 0, a silent client is taken at once" \
    wait_until taken prompt

# The kernel offers a silent connection again after its SYN-ACK retries,
# at 1, 3 and 7 s: 5 s takes three, ample time to see it held first.
ini defer server.listen=127.0.0.1:0 server.defer_accept=5s \
    server.max_connections=100 daemon.log_level=debug > /dev/null
kill -HUP "$DAEMON_PID"
wait_until reloads_at_least 2
open_client late
check "after a reload to 5s, a silent client is held by the kernel again" \
    wait_until in_kernel late
check "and is handed over to the daemon in the end" wait_until taken late
close_client late; close_client prompt
stop_daemon TERM
finish
