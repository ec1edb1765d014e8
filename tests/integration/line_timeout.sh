#!/bin/sh
# line_timeout: a partial line held past it is echoed as it is and the
# connection closed, even when the client trickles a byte at a time (which
# keeps resetting idle_timeout); complete lines never trip it.
# shellcheck disable=SC2317
# shellcheck disable=SC2016 # sh -c scripts get their values as arguments
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 8

cfg=$(ini line server.listen=127.0.0.1:0 connection.idle_timeout=60s \
    connection.line_timeout=1s daemon.log_level=debug)
check "daemon starts with line_timeout = 1s" start_daemon "$cfg"

# The trickler sends one byte every 0.2 s and never a newline: its idle
# time never exceeds 0.2 s, yet its line must time out.
open_client trickler
trickle() {
	_i=0
	while [ $_i -lt 100 ] && alive "$(client_pid trickler)"; do
		send trickler 'x' 2>/dev/null
		sleep 0.2
		_i=$((_i + 1))
	done
}
trickle &
trickler_loop=$!
track $trickler_loop
# A steady client sends a whole line every 0.2 s over the same time.
open_client steady
steady() {
	_i=0
	while [ $_i -lt 20 ]; do
		send steady 'line %d\n' $_i
		sleep 0.2
		_i=$((_i + 1))
	done
}
steady
check "the trickling client was closed by the daemon" \
    wait_until gone "$(client_pid trickler)"
wait $trickler_loop 2>/dev/null
untrack $trickler_loop
got=$(out_size trickler)
check "the trickled bytes were echoed before the close ($got bytes)" \
    sh -c 'test "$1" -gt 0 && head -c "$1" "$2" | cmp -s - "$3"' sh \
    "$got" "$WORKDIR/trickler.sent" "$WORKDIR/trickler.out"
check "the daemon logged the line timeout" wait_until log_has "line_timeout: closed"
check "... and the close gives that cause, not the end of input" \
    wait_until log_has "closed: \(echo complete after \)\?line timeout$"
check "the client sending whole lines for 4 s is still served" \
    alive "$(client_pid steady)"
check "and its echo is byte-exact" closes_clean steady
stop_daemon TERM
check "exit status 0" test "$DAEMON_STATUS" -eq 0
finish
