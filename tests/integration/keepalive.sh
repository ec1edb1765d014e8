#!/bin/sh
# tcp_keepalive: accepted connections carry SO_KEEPALIVE with the configured
# idle time (the kernel's keepalive timer, as ss(8) shows it), and none
# when it is 0.  A reload applies to new connections, both ways: the
# options live on the listening socket, which passes them on.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 5

cfg=$(ini ka server.listen=127.0.0.1:0 connection.tcp_keepalive=7s)
check "daemon starts with tcp_keepalive = 7s" start_daemon "$cfg"

# timers NAME: the kernel's timer on the daemon's end of client NAME's
# connection, from its local port.
timers() {
	_lport=$(ss -tnpH state established "( dport = :$PORT )" |
	    awk -v pid="pid=$(client_pid "$1")," 'index($0, pid) { split($3, a, ":"); print a[2] }')
	[ -n "$_lport" ] || return 1
	ss -tnoH state established "( sport = :$PORT and dport = :$_lport )"
}
# A keepalive timer under 10 s ("6.968ms" and "7sec" are both ss's way of
# saying seconds here; the 300 s default would read "4min59sec").
short_keepalive() { timers "$1" | grep -Eq 'timer:\(keepalive,[0-9.]+(ms|sec),'; }
# The connection is found, and it has no keepalive timer.
no_keepalive() {
	timers "$1" > "$WORKDIR/$1.timers" && ! grep -q keepalive "$WORKDIR/$1.timers"
}

open_client first
send first 'hello\n'
wait_echoed first
timers first | sed 's/^/# /'
check "the connection has a keepalive timer of under 10 s" short_keepalive first

ini ka server.listen=127.0.0.1:0 connection.tcp_keepalive=0 > /dev/null
kill -HUP "$DAEMON_PID"
wait_until log_has "reloaded"
open_client second
send second 'hello\n'
wait_echoed second
timers second | sed 's/^/# /'
check "after a reload to 0, a new connection has no keepalive timer" \
    no_keepalive second
check "the first connection keeps its keepalive" short_keepalive first
ini ka server.listen=127.0.0.1:0 connection.tcp_keepalive=7s > /dev/null
kill -HUP "$DAEMON_PID"
reloaded_twice() { [ "$(log_count "reloaded")" -ge 2 ]; }
wait_until reloaded_twice
open_client third
send third 'hello\n'
wait_echoed third
check "after a reload back to 7s, a new connection has the timer again" \
    short_keepalive third
close_client first; close_client second; close_client third
stop_daemon TERM
finish
