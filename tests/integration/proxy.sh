#!/bin/sh
# The daemon's side of the PROXY protocol with raw headers from nc: v1 and
# v2 headers are consumed and never echoed; missing, malformed, truncated,
# oversized and late headers close the connection with no byte echoed, and
# so does a header from an address not in proxy_from; a reload switches it.
# shellcheck disable=SC2317,SC2016,SC2059 # helpers via check; sh -c gets arguments; expected text as a format
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 17

cfg=$(ini proxy server.listen=127.0.0.1:0 server.proxy_protocol=on \
    "server.proxy_from=127.0.0.1 ::1" daemon.log_level=debug)
check "daemon starts with proxy_protocol = on" start_daemon "$cfg"

# exchange NAME: send $WORKDIR/NAME, keep the echo in NAME.echo.
exchange() {
	nc -N -w "$WAIT_SECONDS" 127.0.0.1 "$PORT" < "$WORKDIR/$1" > "$WORKDIR/$1.echo"
}
# echo_is NAME EXPECTED: the echo of NAME is exactly the text EXPECTED.
echo_is() { exchange "$1"; printf "$2" | cmp -s - "$WORKDIR/$1.echo"; }
no_echo() { exchange "$1"; [ ! -s "$WORKDIR/$1.echo" ]; }

printf 'PROXY TCP4 192.0.2.1 127.0.0.1 40000 6567\r\nhello\nworld\n' > "$WORKDIR/v1"
check "v1: the header is consumed, the lines after it echoed" echo_is v1 'hello\nworld\n'
check "v1: the log names the client from the header" \
    wait_until log_has 'PROXY v1 header, client 192\.0\.2\.1:40000'

# v2, PROXY, TCP4: 198.51.100.7:4660 -> 127.0.0.1:6567, one TLV skipped.
printf '\015\012\015\012\000\015\012QUIT\012\041\021\000\021\306\063\144\007\177\000\000\001\022\064\031\247\004\000\002hiv2 data\n' > "$WORKDIR/v2"
check "v2: header and TLV consumed, data echoed" echo_is v2 'v2 data\n'
check "v2: the log names the client from the header" \
    wait_until log_has 'PROXY v2 header, client 198\.51\.100\.7:4660'
printf '\015\012\015\012\000\015\012QUIT\012\040\000\000\000health\n' > "$WORKDIR/local"
check "v2 LOCAL: served as the balancer's own connection" echo_is local 'health\n'

printf 'hello without a header\n' > "$WORKDIR/none"
check "no header from a trusted address: closed, nothing echoed" no_echo none
printf 'PROXY TCP4 192.0.2.1 127.0.0.1 99999 6567\r\nhello\n' > "$WORKDIR/bad"
check "malformed v1 header: closed, nothing echoed" no_echo bad
printf 'PROXY TCP4 192.0.2.1 12' > "$WORKDIR/truncated"
check "truncated header, then EOF: closed, nothing echoed" no_echo truncated
printf '\015\012\015\012\000\015\012QUIT\012\041\021\007\320' > "$WORKDIR/huge"
check "v2 header declaring 2000 bytes: closed at once" no_echo huge
check "each is counted and logged" wait_until log_has 'PROXY protocol: .*closed'

# A header that never completes: the connection is closed after 5 s.
open_client late
send late 'PROXY TCP4 1.2.3.4'
check "an incomplete header is closed after the header timeout" \
    wait_until log_has 'no PROXY header within 5 s'
kill_client late

# Loopback no longer trusted: plain clients are served, headers refused.
ini proxy server.listen=127.0.0.1:0 server.proxy_protocol=on \
    server.proxy_from=192.0.2.0/24 daemon.log_level=debug > /dev/null
kill -HUP "$DAEMON_PID"
wait_until log_has "reloaded"
printf 'plain\n' > "$WORKDIR/plain"
check "untrusted address without a header: served directly" echo_is plain 'plain\n'
check "untrusted address sending a header: closed, nothing echoed" no_echo v1

ini proxy server.listen=127.0.0.1:0 server.proxy_protocol=off \
    server.proxy_from=127.0.0.1 daemon.log_level=debug > /dev/null
kill -HUP "$DAEMON_PID"
refreshed() { [ "$(log_count 'reloaded')" -ge 2 ]; }
wait_until refreshed
printf 'PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n' > "$WORKDIR/off"
check "proxy_protocol off: a header line is ordinary data, echoed" \
    echo_is off 'PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n'
stop_daemon TERM
# A burst of 200 bad headers: the log's lines count all 200 while the
# daemon runs, the rest of the burst told at the end of its second.
cfg=$(ini proxyburst server.listen=127.0.0.1:0 server.proxy_protocol=on \
    server.proxy_from=127.0.0.1)
start_daemon "$cfg" "$WORKDIR/burst.log"
printf 'PROXY NONSENSE\r\n' > "$WORKDIR/nonsense"
burst=""
i=0
while [ $i -lt 200 ]; do
	nc -N -w "$WAIT_SECONDS" 127.0.0.1 "$PORT" < "$WORKDIR/nonsense" \
	    > /dev/null 2>&1 &
	burst="$burst $!"
	track $!
	i=$((i + 1))
done
for p in $burst; do wait "$p"; untrack "$p"; done
told_sum() {
	sed -n 's/.*PROXY protocol: closed \([0-9]*\) connection(s).*/\1/p' \
	    "$DAEMON_LOG" | awk '{ s += $1 } END { print s + 0 }'
}
sums_to() { [ "$(told_sum)" -eq "$1" ]; }
check "200 bad headers: the log's counts add up to 200" wait_until sums_to 200
diag "$(log_count 'PROXY protocol: closed') line(s) for them"
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
