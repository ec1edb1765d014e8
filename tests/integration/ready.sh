#!/bin/sh
# Race-free readiness and the command line's settings at run time: the
# bound addresses on --ready-fd, -l and -o over the file and the defaults,
# and again after a reload.  No log line is waited for here.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 25

printf 'ping\nbinary \001\377 line\n' > "$WORKDIR/lines"

# The harness case: no file, a free port, and the log kept quiet.
check "pingpongd -l 127.0.0.1:0 --ready-fd 3: an address comes" \
    start_ready quiet -l 127.0.0.1:0 -o daemon.log_level=warning
addr=$(ready_line quiet 1)
diag "ready: $(tr '\n' ' ' < "$WORKDIR/quiet.ready")"
check "... exactly one line, 127.0.0.1 with the port bound" \
    test "$(wc -l < "$WORKDIR/quiet.ready")" -eq 1 -a \
    "${addr%:*}" = 127.0.0.1 -a "$(port_of "$addr")" -gt 0
check "... it echoes there at once" \
    echoes_back "$WORKDIR/lines" "$(port_of "$addr")"
check "... and, at log_level warning, logged nothing" \
    test ! -s "$WORKDIR/quiet.log"
stop_daemon TERM
check "... SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

# Several listeners: one line each, in the order given.
set -- -l 127.0.0.1:0 -l 127.0.0.2:0 -l "unix:$WORKDIR/r.sock"
want=3
if ipv6_loopback; then
	set -- "$@" -l '[::1]:0'
	want=4
fi
check "$want listeners: addresses come" start_ready many "$@"
check "... $want lines" test "$(wc -l < "$WORKDIR/many.ready")" -eq "$want"
check "... in the order of the command line" \
    test "$(ready_line many 1 | cut -d: -f1)" = 127.0.0.1 -a \
    "$(ready_line many 2 | cut -d: -f1)" = 127.0.0.2 -a \
    "$(ready_line many 3)" = "unix:$WORKDIR/r.sock"
check "... the second echoes" \
    echoes_back "$WORKDIR/lines" "$(port_of "$(ready_line many 2)")" 127.0.0.2
unix_echo() { nc -N -U "$WORKDIR/r.sock" < "$1" > "$1.unix" && cmp -s "$1" "$1.unix"; }
check "... the Unix socket echoes" unix_echo "$WORKDIR/lines"
if [ "$want" -eq 4 ]; then
	check "... [::1] echoes" echoes_back "$WORKDIR/lines" \
	    "$(port_of "$(ready_line many 4)")" ::1
else
	skip "no IPv6 loopback here"
fi
stop_daemon TERM

# A failure before readiness: the reader sees the end with nothing, and
# the exit status says why.
start_ready badvalue -l 127.0.0.1:0 -o connection.max_line=0
check "a bad -o: nothing written on the descriptor" \
    test ! -s "$WORKDIR/badvalue.ready"
wait_daemon
check "... and exit status 78" test "$DAEMON_STATUS" -eq 78
cfg=$(ini taken server.listen=127.0.0.1:0)
check "a daemon holds a port" start_daemon "$cfg"
holder=$DAEMON_PID
start_ready busy -l "127.0.0.1:$PORT"
check "a second on the same port: nothing written" test ! -s "$WORKDIR/busy.ready"
wait_daemon
check "... and exit status 71" test "$DAEMON_STATUS" -eq 71
DAEMON_PID=$holder
stop_daemon TERM

# -l replaces the file's listen lines; -o wins over the file, and both win
# again after a reload that changes the file under them.
file=$(ini layered server.listen=127.0.0.3:0 daemon.log_level=info \
    connection.idle_timeout=300s)
check "-c FILE with -l and -o: an address comes" \
    start_ready layered -c "$file" -l 127.0.0.1:0 -o daemon.log_level=debug
addr=$(ready_line layered 1)
check "... only the -l address, not the file's 127.0.0.3" \
    test "$(cat "$WORKDIR/layered.ready")" = "$addr" -a "${addr%:*}" = 127.0.0.1
echoes_back "$WORKDIR/lines" "$(port_of "$addr")"
check "... -o log_level=debug wins over the file's info" \
    wait_until log_has "debug: connection [0-9]* from 127.0.0.1:"
ini layered server.listen=127.0.0.4:0 daemon.log_level=error \
    connection.idle_timeout=1s > /dev/null
: > "$DAEMON_LOG"
kill -HUP "$DAEMON_PID"
check "SIGHUP: the file is re-read" wait_until log_has "reloaded $file"
check "... the -l address still serves" \
    echoes_back "$WORKDIR/lines" "$(port_of "$addr")"
check "... debug still, from -o, though the file now says error" \
    wait_until log_has "debug: connection [0-9]* from 127.0.0.1:"
check "... and the file's new listen line is not opened" \
    test "$(log_count "listening on 127.0.0.4")" -eq 0
# What the command line does not set comes from the file: idle_timeout 1s.
PORT=$(port_of "$addr")
open_client idler
check "... the file's new idle_timeout (1s) applies" \
    wait_until log_has "closed: idle timeout"
stop_daemon TERM
check "... SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
