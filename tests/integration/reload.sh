#!/bin/sh
# SIGHUP applies a valid file, keeps connections, survives an invalid file.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 29

# write_config LISTEN...: rewrite the daemon's one config file with these
# listen lines and the current MAX_LINE and LOG_LEVEL.
CFG=$WORKDIR/reload.ini
MAX_LINE=4k
LOG_LEVEL=info
write_config() {
	# The list is read once: each LISTEN goes on the end as an ini
	# argument and comes off the front.
	for _a in "$@"; do
		set -- "$@" "server.listen=$_a"
		shift
	done
	ini reload "$@" "connection.max_line=$MAX_LINE" \
	    "daemon.log_level=$LOG_LEVEL" > /dev/null
}
# reload N: send SIGHUP and wait for the Nth "reloaded" line.
reloaded() { [ "$(log_count ': reloaded ')" -ge "$1" ]; }
reload() {
	kill -HUP "$DAEMON_PID"
	wait_until reloaded "$1"
}
line() { printf '%s\n' "$2" > "$WORKDIR/$1"; }

write_config 127.0.0.1:0
check "daemon starts on 127.0.0.1:0" start_daemon "$CFG"
# shellcheck disable=SC2153 # PORT is set by start_daemon
PORT1=$PORT

# A client connected before the reloads, held open throughout.
open_client old
send old 'before any reload\n'
check "a client connected before the reloads is echoed" wait_echoed old

# 1. A second listen line: the new listener serves, the old one stays.
write_config 127.0.0.1:0 127.0.0.2:0
check "SIGHUP with a second listen line: the daemon logs 'reloaded'" reload 1
PORT2=$(listen_port '127\.0\.0\.2')
check "... and logs 'listening on 127.0.0.2:PORT'" test -n "$PORT2"
line new2 'through the listener added by the reload'
check "the new listener 127.0.0.2:$PORT2 echoes" \
    echoes_back "$WORKDIR/new2" "$PORT2" 127.0.0.2
line old1 'through the first listener, after the reload'
check "the first listener 127.0.0.1:$PORT1 still echoes" \
    echoes_back "$WORKDIR/old1" "$PORT1"
send old 'after the first reload\n'
check "the client connected before keeps echoing" wait_echoed old

# 2. The first listen line removed: that listener closes, the other serves,
# and a connection it accepted earlier goes on.
write_config 127.0.0.2:0
check "SIGHUP without the first listen line: 'reloaded'" reload 2
check "... and 'no longer listening on 127.0.0.1:$PORT1'" \
    wait_until log_has "no longer listening on 127\.0\.0\.1:$PORT1 "
check "connecting to 127.0.0.1:$PORT1 now fails" refused 127.0.0.1 "$PORT1"
line still2 'the second listener, alone now'
check "127.0.0.2:$PORT2 still echoes" \
    echoes_back "$WORKDIR/still2" "$PORT2" 127.0.0.2
send old 'after its listener closed\n'
check "the client accepted by the closed listener keeps echoing" \
    wait_echoed old

# 3. max_line 4k -> 8, while the old client holds a partial line.
send old 'a partial line held across the reload'
MAX_LINE=8
write_config 127.0.0.2:0
check "SIGHUP with max_line = 8: 'reloaded'" reload 3
# A new client sends 20 bytes and no newline: with max_line 8 two
# fragments (16 bytes) come back while the connection is open, and the
# last 4 when it ends its input.
open_client frag "$PORT2" 127.0.0.2
send frag '%s' 'abcdefghijklmnopqrst'
check "a new client gets 16 of its 20 bytes back as fragments" \
    wait_until out_has frag 16
check "... exactly the first 16, nothing more while it is open" \
    test "$(cat "$WORKDIR/frag.out")" = "abcdefghijklmnop"
check "... and the last 4 when it closes" closes_clean frag
send old ' completed after the reload\n'
check "the old client's held partial line comes back whole" wait_echoed old

# 4. An invalid file: the daemon keeps running on the old configuration.
ini reload server.listen=127.0.0.2:0 "connection.max_line=a lot" > /dev/null
kill -HUP "$DAEMON_PID"
check "SIGHUP with an invalid file: the daemon logs 'reload failed'" \
    wait_until log_has "reload failed"
check "... naming $CFG:4" wait_until log_has "reload failed.*$CFG:4"
line bad 'after a failed reload'
check "the daemon is still running and echoes on the old configuration" \
    echoes_back "$WORKDIR/bad" "$PORT2" 127.0.0.2

# 5. A valid file with a listen address that cannot be bound (the port the
# daemon already has on 127.0.0.2, written out) next to a new one: the
# reload fails as a whole, the new listener is closed again, and nothing
# else in the file (log_level = debug) applies.
fds=$(fd_count)
LOG_LEVEL=debug
write_config 127.0.0.3:0 "127.0.0.2:$PORT2"
kill -HUP "$DAEMON_PID"
failed_twice() { [ "$(log_count 'reload failed')" -eq 2 ]; }
check "SIGHUP with an address in use: the daemon logs 'reload failed'" \
    wait_until failed_twice
check "... naming 127.0.0.2:$PORT2 and 'Address already in use'" \
    wait_until log_has "reload failed.*127\.0\.0\.2:$PORT2.*Address already in use"
check "... and the listener it opened meanwhile is closed again" \
    fd_is "$fds"
line inuse 'after a reload that could not bind'
check "the daemon still echoes on the old listener" \
    echoes_back "$WORKDIR/inuse" "$PORT2" 127.0.0.2
check "log_level = debug from that file did not apply" \
    test "$(log_count ' debug: ')" -eq 0

# 6. log_level = debug: connections are now logged.
write_config 127.0.0.2:0
check "SIGHUP with log_level = debug: 'reloaded'" reload 4
line dbg 'logged at debug level'
echoes_back "$WORKDIR/dbg" "$PORT2" 127.0.0.2
check "new connections are now logged at debug level" \
    wait_until log_has " debug: connection"

check "the client connected before every reload ends with all its bytes" \
    closes_clean old
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
