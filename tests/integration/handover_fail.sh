#!/bin/sh
# The hand-over on SIGUSR2 when it cannot go through, or is disturbed:
#   1. the program is gone from disk,
#   2. its -t check fails (the file now invalid, and not applied),
#   3. the exec itself fails after the check passed: the connections are
#      taken back in place, and a later SIGUSR2 goes through,
#   4. the new image cannot read the record (spoiled): it closes the
#      handed connections and keeps the listeners,
#   5. a record of version 3 is refused likewise; one of version 1 is read,
#   6. a second SIGUSR2 during the hand-over is ignored,
#   7. SIGTERM during the hand-over: the new image drains, and refuses a
#      SIGUSR2 meanwhile.
# In each, the process keeps its PID, clients connected before the signal
# with a partial line held finish it byte for byte where they survive,
# new clients are echoed, the descriptor table is as before (its size and
# its sockets' inodes), and the log says why.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
# shellcheck disable=SC2016 # eval and sh -c expand their words when run
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 82

# valgrind under make check-valgrind; the two variables are changed below
# for each start and set back.
UNDER=$PINGPONGD_WRAPPER
REAL=$PINGPONGD
BIN=$WORKDIR/bin
mkdir "$BIN"

# The new image closes every inherited descriptor the record does not
# name, so whatever this shell leaked into the daemon would show up as a
# change of its table: the daemon starts with 0 to 2 and 3 (--ready-fd).
cat > "$BIN/closefds" <<'EOF'
#!/bin/bash
for f in /proc/$$/fd/*; do
	n=${f##*/}
	if [ "$n" -gt 3 ]; then exec {n}>&-; fi
done
exec "$@"
EOF
chmod +x "$BIN/closefds"

# The program SIGUSR2 runs in cases 3, 6 and 7: a script that starts
# pingpongd with itself as argv[0], so that the daemon runs the script
# again, first with -t, then in place.  Its -t run does what wrapper.mode
# says: "vanish" removes the script first, so that the check passes and
# the exec then fails; "hold" waits until the test writes a line into
# wrapper.fifo (bounded, should the test die meanwhile); anything else
# checks at once.
mkfifo "$WORKDIR/wrapper.fifo"
install_wrapper() {
	cat > "$BIN/wrapper.new" <<EOF
#!/bin/bash
if [ "\${1:-}" = -t ]; then
	case \$(cat "$WORKDIR/wrapper.mode" 2>/dev/null) in
	vanish) rm -f "\$0" ;;
	hold)
		echo \$\$ > "$WORKDIR/wrapper.pid"
		read -r -t $((WAIT_SECONDS * 2)) _ <> "$WORKDIR/wrapper.fifo"
		;;
	esac
	exec "$REAL" "\$@"
fi
exec -a "\$0" "$REAL" "\$@"
EOF
	chmod +x "$BIN/wrapper.new" && mv -f "$BIN/wrapper.new" "$BIN/pingpongd"
}
holding() { [ -s "$WORKDIR/wrapper.pid" ]; }
release_check() {
	timeout "$WAIT_SECONDS" sh -c 'echo go > "$1"' sh "$WORKDIR/wrapper.fifo"
}
# A held -t run is the daemon's child, not this script's: ended by its
# PID, when its command line still shows it is ours.
end_wrapper() {
	_w=$(cat "$WORKDIR/wrapper.pid" 2>/dev/null) || return 0
	if tr '\0' ' ' 2>/dev/null < "/proc/$_w/cmdline" | grep -q "$WORKDIR"
	then
		kill -KILL "$_w"
	fi
}
trap 'end_wrapper; cleanup' EXIT

# conf NAME: $WORKDIR/NAME.ini for two workers on a free port; partial
# lines and the drain may last far longer than the test, valgrind or not.
conf() {
	ini "$1" server.listen=127.0.0.1:0 server.workers=2 \
	    server.max_connections=100 connection.line_timeout=10m \
	    daemon.log_level=info daemon.shutdown_timeout=10m
}

# launch NAME PROGRAM [VAR=VALUE...]: PROGRAM as pingpongd on conf NAME,
# with those variables in its environment, its log in NAME.log.  Then a
# reload, which lets go of the socket that held port 0's choice for the
# two workers, as a hand-over does: from then on the table stays the same
# across one.  NAME.base: the descriptors with no client.
launch() {
	_n=$1 _prog=$2
	shift 2
	CFG=$(conf "$_n") || return 1
	PINGPONGD=$_prog
	PINGPONGD_WRAPPER="$BIN/closefds env $* $UNDER"
	start_daemon "$CFG" "$WORKDIR/$_n.log"
	_rc=$?
	PINGPONGD=$REAL
	PINGPONGD_WRAPPER=$UNDER
	[ "$_rc" -eq 0 ] || return 1
	kill -HUP "$DAEMON_PID"
	wait_until log_has ': reloaded ' || return 1
	fds "$_n.base"
}
# launch_wrapped NAME: launch the wrapper script as pingpongd.  valgrind
# runs a binary, not a script: under it the program path is first a link
# to pingpongd, and the script takes its place once the daemon runs.
launch_wrapped() {
	rm -f "$WORKDIR/wrapper.mode" "$WORKDIR/wrapper.pid"
	if [ -z "$UNDER" ]; then
		install_wrapper
	else
		ln -sf "$REAL" "$BIN/pingpongd"
	fi
	launch "$1" "$BIN/pingpongd" || return 1
	[ -z "$UNDER" ] || install_wrapper
}

# fds NAME: the daemon's descriptor table into NAME.fds: how many, then
# the inode of each socket, sorted; NAME.links has every link for a diag.
fds() {
	_top=$(awk '/^Max open files/ { print $4 }' "/proc/$DAEMON_PID/limits")
	for _f in "/proc/$DAEMON_PID/fd/"*; do
		_d=${_f##*/}
		# valgrind keeps its own just under the limit; after an exec the
		# image runs without it.
		[ "$_d" -lt $((_top - 32)) ] || continue
		readlink "$_f" 2>/dev/null
	done > "$WORKDIR/$1.links"
	{
		echo "$(wc -l < "$WORKDIR/$1.links" | tr -d ' ') descriptors"
		grep '^socket:' "$WORKDIR/$1.links" | sort
	} > "$WORKDIR/$1.fds"
}
# same_fds A B: the tables A and B have the same size and sockets.
same_fds() {
	cmp -s "$WORKDIR/$1.fds" "$WORKDIR/$2.fds" && return 0
	diag "descriptors in $1 and in $2 differ:"
	diff "$WORKDIR/$1.links" "$WORKDIR/$2.links" | sed 's/^/#   /'
	return 1
}

# same_pid: the process started as DAEMON_PID is the one that serves: it
# runs, and every line pingpongd logged carries its PID.  Under valgrind,
# which reports at once and not at an exec, nothing was reported on it
# (what a -t run forked from it reports carries that run's PID).
same_pid() {
	alive "$DAEMON_PID" || return 1
	if grep 'pingpongd\[[0-9]*\]' "$DAEMON_LOG" |
	    grep -v "pingpongd\[$DAEMON_PID\]" > /dev/null; then
		diag "lines logged by another process:"
		grep -v "pingpongd\[$DAEMON_PID\]" "$DAEMON_LOG" | sed 's/^/#   /'
		return 1
	fi
	if grep -q "^==$DAEMON_PID==" "$DAEMON_LOG"; then
		diag "valgrind on pingpongd:"
		grep "^==$DAEMON_PID==" "$DAEMON_LOG" | sed 's/^/#   /'
		return 1
	fi
}

# hold NAME: a client whose first line has come back; the start of a
# second went in the same write, so the daemon read it too and holds it.
hold() {
	open_client "$1" || return 1
	send "$1" 'a whole line from %s\nand the start of a second, ' "$1"
	wait_until out_has "$1" $((${#1} + 19))
}
# end_line NAME: the held line ends now; all of it comes back, and all
# that came before, byte for byte.
end_line() {
	send "$1" 'ended after the signal\n'
	wait_echoed "$1"
}
both_complete() { end_line "$1" && end_line "$2"; }
# fresh TAG: a new client is echoed.
fresh() {
	printf 'a new client, %s\nand a second line\n' "$1" > "$WORKDIR/fresh.$1"
	echoes_back "$WORKDIR/fresh.$1"
}
# A client for the connections the new image is to close: it holds a
# partial line as hold does, then reads to the end of the connection and
# says how it ended: nc, its input still open, may outlive the close.
cat > "$WORKDIR/held.py" <<'EOF'
import socket
import sys

port, name, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(float(sys.argv[4]))
line = ("a whole line from %s\n" % name).encode()
s.sendall(line + b"and the start of a second, ")
got = b""
try:
    while len(got) < len(line):
        b = s.recv(65536)
        if not b:
            break
        got += b
    print("held", flush=True)
    while True:
        b = s.recv(65536)
        if not b:
            how = "end"
            break
        got += b
except socket.timeout:
    how = "timeout"
except ConnectionResetError:
    how = "reset"
with open(out, "wb") as f:
    f.write(got)
print(how, flush=True)
EOF
# hold_py NAME: held.py as NAME, once it holds its partial line.
hold_py() {
	# There for the first poll, before the background shell opens it.
	: > "$WORKDIR/$1.how"
	python3 "$WORKDIR/held.py" "$PORT" "$1" "$WORKDIR/$1.got" \
	    "$WAIT_SECONDS" > "$WORKDIR/$1.how" &
	echo $! > "$WORKDIR/$1.pid"
	track $!
	wait_until grep -q '^held$' "$WORKDIR/$1.how"
}
# cut_off NAME: the daemon closed the connection of hold_py NAME (an end
# of file, not a reset), which got back its whole line and nothing else.
cut_off() {
	wait_exit "$(cat "$WORKDIR/$1.pid")" &&
	    [ "$(sed -n 2p "$WORKDIR/$1.how")" = end ] &&
	    [ "$(cat "$WORKDIR/$1.got")" = "a whole line from $1" ]
}
# finish_case A B: both clients end, with every byte back, and SIGTERM
# stops the daemon with status 0.
finish_case() {
	closes_clean "$1" "$2" || return 1
	stop_daemon TERM
	[ "$DAEMON_STATUS" -eq 0 ]
}
# less_listeners A B: table B is table A less the sockets of the table
# with no client, NAME.base: the listeners.
less_listeners() {
	_base=${1%%.*}.base
	grep '^socket:' "$WORKDIR/$_base.fds" > "$WORKDIR/$_base.sockets"
	{
		echo "$(($(sed -n '1s/ .*//p' "$WORKDIR/$1.fds") -
		    $(wc -l < "$WORKDIR/$_base.sockets"))) descriptors"
		grep '^socket:' "$WORKDIR/$1.fds" |
		    grep -vxF -f "$WORKDIR/$_base.sockets"
	} > "$WORKDIR/$1.less.fds"
	cp "$WORKDIR/$1.links" "$WORKDIR/$1.less.links"
	same_fds "$1.less" "$2"
}
lacks() { ! log_has "$1"; }
count_is() { [ "$(log_count "$1")" -eq "$2" ]; }

# ----------------------------------------------------------------------
# 1. The program is removed from disk: nothing can be run, nothing moves.
mkdir "$BIN/copy"
cp "$REAL" "$BIN/copy/pingpongd"
check "1: a copy of pingpongd starts" launch removed "$BIN/copy/pingpongd"
hold r1
hold r2
fds removed.before
rm "$BIN/copy/pingpongd"
kill -USR2 "$DAEMON_PID"
if [ -z "$UNDER" ]; then
	why="SIGUSR2: cannot run $BIN/copy/pingpongd: No such file or directory; serving on as before"
else
	# posix_spawn under valgrind is a fork, then the exec: the missing
	# file is the child's exit status, 127, or 99 when valgrind found
	# leaks in that copy of the process as it ended.
	why="hand-over: $BIN/copy/pingpongd -t exited with status \(127\|99\); serving on as before"
fi
check "1: the log says the program cannot be run" wait_until log_has "$why"
check "1: the same PID serves" same_pid
check "1: the held lines complete byte for byte" both_complete r1 r2
check "1: a new client is echoed" fresh removed
fds removed.after
check "1: the descriptor table is as before" same_fds removed.before removed.after
check "1: nothing was executed" lacks "executing"
check "1: the clients end with every byte, SIGTERM exits 0" finish_case r1 r2

# ----------------------------------------------------------------------
# 2. The program fails -t: the file was made invalid after the start.  The
# hand-over stops there, and nothing of the file is applied.
check "2: daemon starts" launch badconf "$REAL"
hold b1
hold b2
fds badconf.before
# log_level = debug would log every connection, were the file applied.
ini badconf server.listen=127.0.0.1:0 server.workers=2 \
    server.max_connections=100 connection.line_timeout=10m \
    "connection.max_line=a lot" daemon.log_level=debug \
    daemon.shutdown_timeout=10m > /dev/null
kill -USR2 "$DAEMON_PID"
check "2: the log says -t exited with status 78" \
    wait_until log_has "hand-over: $REAL -t exited with status 78; serving on as before"
check "2: ... after the -t run named the file's bad line" \
    wait_until log_has "pingpongd: $CFG:[0-9]*: \[connection\] max_line"
check "2: the same PID serves" same_pid
check "2: the held lines complete byte for byte" both_complete b1 b2
check "2: a new client is echoed" fresh badconf
# Every line is logged in order: one logged after the new client's accept.
kill -USR1 "$DAEMON_PID"
wait_until log_has "statistics:"
check "2: the file's log_level = debug is not applied" lacks " debug: "
fds badconf.after
check "2: the descriptor table is as before" same_fds badconf.before badconf.after
check "2: nothing was executed" lacks "executing"
check "2: the clients end with every byte, SIGTERM exits 0" finish_case b1 b2

# ----------------------------------------------------------------------
# 3. The check passes, then the exec fails (the script removed itself):
# the daemon takes its connections back in place; once the script is back,
# a second SIGUSR2 goes through.
check "3: daemon starts through the wrapper script" launch_wrapped execfail
hold e1
hold e2
fds execfail.before
echo vanish > "$WORKDIR/wrapper.mode"
kill -USR2 "$DAEMON_PID"
check "3: the log says the exec failed, connections taken back in place" \
    wait_until log_has "hand-over: exec $BIN/pingpongd: No such file or directory; taking the connections back in place"
check "3: ... and the record gave them back: 2 connection(s) served on" \
    wait_until log_has "hand-over: serving 2 connection(s) taken over"
check "3: the same PID serves" same_pid
check "3: the held lines complete byte for byte" both_complete e1 e2
check "3: a new client is echoed" fresh execfail
fds execfail.after
check "3: the descriptor table is as before" same_fds execfail.before execfail.after
install_wrapper
echo pass > "$WORKDIR/wrapper.mode"
send e1 'held across the second hand-over, '
send e2 'held across the second hand-over, '
kill -USR2 "$DAEMON_PID"
check "3: a second SIGUSR2, the script back: the new image serves 2 connections" \
    wait_until count_is "hand-over: serving 2 connection(s) taken over" 2
check "3: ... after one more exec and no more failures" \
    eval 'count_is "executing" 2 && count_is "hand-over: exec " 1'
check "3: ... by the same PID" same_pid
check "3: ... with the held lines completed byte for byte" both_complete e1 e2
check "3: ... and new clients echoed" fresh execfail2
fds execfail.again
check "3: ... and the descriptor table as before" same_fds execfail.before execfail.again
check "3: the clients end with every byte, SIGTERM exits 0" finish_case e1 e2

# ----------------------------------------------------------------------
# 4 and 5. The new image cannot read the record: the handed connections
# are closed (their clients see the end), the listeners kept.
# refused_record NAME WHY VAR=VALUE
refused_record() {
	_n=$1 _why=$2 _env=$3
	check "$_n: daemon starts with $_env" launch "$_n" "$REAL" "$_env"
	hold_py "$_n.a"
	hold_py "$_n.b"
	kill -USR2 "$DAEMON_PID"
	check "$_n: the new image logs that the record cannot be read" \
	    wait_until log_has "hand-over: the state record cannot be read: $_why"
	check "$_n: ... keeps the 2 listeners and closes the connections" \
	    wait_until log_has "hand-over: kept 2 listener(s); closed 2 other descriptor(s)"
	check "$_n: the clients see the end, having got back their whole line" \
	    eval 'cut_off "$_n.a" && cut_off "$_n.b"'
	check "$_n: the same PID serves" same_pid
	check "$_n: new clients are echoed at the same address" \
	    eval 'fresh "$_n.1" && fresh "$_n.2"'
	wait_until count_is " running with " 2
	fds "$_n.after"
	check "$_n: the descriptor table is as it was with no client" \
	    same_fds "$_n.base" "$_n.after"
	stop_daemon TERM
	check "$_n: SIGTERM exits 0" test "$DAEMON_STATUS" -eq 0
}
refused_record corrupt "the checksum does not match" \
    PINGPONGD_TEST_HANDOVER_CORRUPT=1
refused_record version3 "version 3, this image reads 1 to 2" \
    PINGPONGD_TEST_HANDOVER_VERSION=3

# Version 1, the format before: read, and every connection goes on.
check "5: daemon starts writing version 1" \
    launch version1 "$REAL" PINGPONGD_TEST_HANDOVER_VERSION=1
hold v1
hold v2
fds version1.before
kill -USR2 "$DAEMON_PID"
check "5: the new image reads the version 1 record" \
    wait_until log_has "hand-over: a version 1 record: 2 listener(s), 2 connection(s)"
check "5: ... and serves the 2 connections" \
    wait_until log_has "hand-over: serving 2 connection(s) taken over"
check "5: the same PID serves" same_pid
check "5: the held lines complete byte for byte" both_complete v1 v2
check "5: a new client is echoed" fresh version1
fds version1.after
check "5: the descriptor table is as before" same_fds version1.before version1.after
check "5: the clients end with every byte, SIGTERM exits 0" finish_case v1 v2

# ----------------------------------------------------------------------
# 6. SIGUSR2 again while the -t run is held: ignored, one hand-over only.
check "6: daemon starts through the wrapper script" launch_wrapped twice
hold t1
hold t2
fds twice.before
echo hold > "$WORKDIR/wrapper.mode"
kill -USR2 "$DAEMON_PID"
check "6: the -t run of the first SIGUSR2 is held" wait_until holding
kill -USR2 "$DAEMON_PID"
check "6: the second SIGUSR2 is logged as ignored" \
    wait_until log_has "SIGUSR2 again: a hand-over is under way; this one is ignored"
check "6: the -t run goes on when let" release_check
check "6: the new image serves the 2 connections" \
    wait_until log_has "hand-over: serving 2 connection(s) taken over"
check "6: exactly one exec" count_is "executing" 1
check "6: the same PID serves" same_pid
check "6: the held lines complete byte for byte" both_complete t1 t2
check "6: a new client is echoed" fresh twice
fds twice.after
check "6: the descriptor table is as before" same_fds twice.before twice.after
check "6: still one exec, one hand-over taken" \
    eval 'count_is "executing" 1 && count_is "taken over" 1'
check "6: the clients end with every byte, SIGTERM exits 0" finish_case t1 t2

# ----------------------------------------------------------------------
# 7. SIGTERM while the -t run is held: the hand-over finishes, then the new
# image drains; a SIGUSR2 during the drain is refused.
check "7: daemon starts through the wrapper script" launch_wrapped term
hold d1
hold d2
fds term.before
echo hold > "$WORKDIR/wrapper.mode"
rm -f "$WORKDIR/wrapper.pid"
kill -USR2 "$DAEMON_PID"
check "7: the -t run is held" wait_until holding
kill -TERM "$DAEMON_PID"
check "7: SIGTERM is logged to drain once the hand-over is done" \
    wait_until log_has "SIGTERM: a hand-over is under way; the connections drain once it is done"
check "7: the daemon serves on meanwhile" eval 'alive "$DAEMON_PID" && fresh term'
release_check
check "7: the new image takes the 2 connections" \
    wait_until log_has "hand-over: serving 2 connection(s) taken over"
# Each worker closes its listener before it says so.
check "7: ... and both workers drain them" \
    wait_until count_is "SIGTERM: stopped accepting; draining" 2
check "7: the same PID drains" same_pid
check "7: new clients are refused during the drain" refused 127.0.0.1 "$PORT"
check "7: the held lines complete byte for byte during the drain" \
    both_complete d1 d2
kill -USR2 "$DAEMON_PID"
check "7: a SIGUSR2 during the drain is refused" \
    wait_until log_has "SIGUSR2: draining, no hand-over now"
check "7: ... one exec only" count_is "executing" 1
fds term.drain
check "7: draining, the table is the one before less the listeners" \
    less_listeners term.before term.drain
check "7: the clients end with every byte" closes_clean d1 d2
check "7: then the process exits with status 0" \
    eval 'wait_daemon && [ "$DAEMON_STATUS" -eq 0 ]'

finish
