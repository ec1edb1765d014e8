#!/bin/sh
# max_per_ip: past N open connections from one source address a new one is
# accepted and closed at once, counted and logged; other addresses and the
# connections already open are not disturbed.  A reload changes the limit.
# shellcheck disable=SC2317
# shellcheck disable=SC2016 # sh -c scripts get their values as arguments
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 9

cfg=$(ini per_ip server.listen=127.0.0.1:0 connection.max_per_ip=2)
check "daemon starts with max_per_ip = 2" start_daemon "$cfg"

open_client a1 "$PORT" 127.0.0.1
open_client a2 "$PORT" 127.0.0.1
send a1 'one\n'
send a2 'two\n'
wait_echoed a1
wait_echoed a2
printf 'third from the same address\n' > "$WORKDIR/third"
# 127.0.0.1 already has two: the third gets no echo.
nc -N -w "$WAIT_SECONDS" 127.0.0.1 "$PORT" < "$WORKDIR/third" > "$WORKDIR/third.echo"
check "the third connection from 127.0.0.1 gets nothing back" \
    test ! -s "$WORKDIR/third.echo"
check "the refusal is logged with the address" \
    wait_until log_has "max_per_ip (2) reached: closed 1 new connection(s), the last from 127.0.0.1:"
printf 'from another address\n' > "$WORKDIR/other"
check "a client from 127.0.0.3 is served" \
    sh -c 'nc -N -w "$1" -s 127.0.0.3 127.0.0.1 "$2" < "$3" | cmp -s - "$3"' \
    sh "$WAIT_SECONDS" "$PORT" "$WORKDIR/other"
send a1 'still here\n'
check "the open connections are not disturbed" wait_echoed a1

check "closing one frees its place" closes_clean a2
check "then 127.0.0.1 is served again" echoes_back "$WORKDIR/third"

ini per_ip server.listen=127.0.0.1:0 connection.max_per_ip=0 > /dev/null
kill -HUP "$DAEMON_PID"
wait_until log_has "reloaded"
open_client a3 "$PORT" 127.0.0.1
open_client a4 "$PORT" 127.0.0.1
send a3 'unlimited\n'
send a4 'after reload\n'
both() { echoed a3 && echoed a4 && echoes_back "$WORKDIR/third"; }
check "after a reload to 0 (no limit) four from one address are served" \
    wait_until both
close_client a1; close_client a3; close_client a4
stop_daemon TERM
check "exit status 0" test "$DAEMON_STATUS" -eq 0
finish
