#!/bin/sh
# Bad configuration from every angle, given to the daemon itself (not -t):
# each gives one clear line on stderr naming the file (and line and key
# where there is one), the documented exit status, and never a partial
# start: the valid listen line before the mistake is never bound.
# shellcheck disable=SC2317
# shellcheck disable=SC2016 # sh -c scripts get their values as arguments
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 25

# A port for the valid listen line that comes before each mistake; if the
# daemon started anyway, it would be bound.  A daemon on port 0 finds one
# free.
cfg=$(ini guard server.listen=127.0.0.1:0)
start_daemon "$cfg"
GUARD_PORT=$PORT
stop_daemon TERM

# bad NAME STATUS PATTERN: the daemon run on NAME.ini exits with STATUS and
# prints exactly one line matching PATTERN (grep -E), and binds nothing.
bad() {
	_f=$WORKDIR/$1.ini
	# shellcheck disable=SC2086 # the wrapper is a command line
	timeout "$WAIT_SECONDS" $PINGPONGD_WRAPPER "$PINGPONGD" -c "$_f" \
	    > "$WORKDIR/$1.out" 2> "$WORKDIR/$1.err"
	_status=$?
	sed "s/^/# $1: /" "$WORKDIR/$1.err"
	check "$1: exit status $_status, expected $2" test "$_status" -eq "$2"
	check "$1: one line naming the file: $3" \
	    sh -c '[ "$(wc -l < "$1")" -eq 1 ] && grep -Eq "$2" "$1"' sh \
	    "$WORKDIR/$1.err" "^pingpongd: $_f$3"
}
# header: a valid start, so that a partial start would have a listener.
header() { printf '[server]\nlisten = 127.0.0.1:%s\n' "$GUARD_PORT"; }

: > "$WORKDIR/empty.ini"
bad empty 78 ': the file is empty'

{ header; head -c 512 /dev/urandom; printf '\000\n'; } > "$WORKDIR/garbage.ini"
bad garbage 78 ':[0-9]+: '

mkdir "$WORKDIR/directory.ini"
bad directory 66 ': cannot read: Is a directory'

bad missing 66 ': cannot read: No such file or directory'

{ header; printf 'backlog = 99999999999999999999999\n'; } > "$WORKDIR/huge.ini"
bad huge 78 ':3: \[server\] backlog: .*out of range'

{ header; printf 'max_connections = -5\n'; } > "$WORKDIR/negative.ini"
bad negative 78 ':3: \[server\] max_connections: .*negative'

{ header; printf '[connection]\nmax_line = 64kb\n'; } > "$WORKDIR/junk.ini"
bad junk 78 ':4: \[connection\] max_line: "64kb": unknown unit'

{ header; printf '[daemon]\nlog_level = verbose\n'; } > "$WORKDIR/level.ini"
bad level 78 ':4: \[daemon\] log_level: "verbose"'

{ header; printf 'listen = localhost:6567\n'; } > "$WORKDIR/address.ini"
bad address 78 ':3: \[server\] listen: "localhost:6567"'

{ header; printf 'listen = 127.0.0.1:65536\n'; } > "$WORKDIR/port.ini"
bad port 78 ':3: \[server\] listen: "127.0.0.1:65536": port'

{ header; printf 'listen = 127.0.0.1:7\nlisten = 127.0.0.1:7\n'; } > "$WORKDIR/twice.ini"
bad twice 78 ':4: \[server\] listen: .*duplicate.*line 3'

# Unreadable: permission bits stop anyone but root, so read it as nobody.
{ header; } > "$WORKDIR/unreadable.ini"
chmod 000 "$WORKDIR/unreadable.ini"
chmod 755 "$WORKDIR"
setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$PINGPONGD" -t -c "$WORKDIR/unreadable.ini" 2> "$WORKDIR/unreadable.err"
status=$?
sed 's/^/# unreadable: /' "$WORKDIR/unreadable.err"
check "unreadable: exit status $status, expected 66" test "$status" -eq 66
check "unreadable: the reason is given" \
    grep -q "unreadable.ini: cannot read: Permission denied" "$WORKDIR/unreadable.err"

check "no partial start: the guard port was never bound" refused 127.0.0.1 "$GUARD_PORT"
finish
