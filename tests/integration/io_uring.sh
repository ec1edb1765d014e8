#!/bin/sh
# io = io_uring where it differs from epoll: the kernel it needs, a ring
# that cannot be set up, clients that never read beside one that does (the
# shared receive buffers go back at once), a reload that asks for the other
# io, and hand-overs from one io to the other.  (Everything they share, the
# rest of the suite checks twice, once with each.)
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

DENY_URING=${abs_top_builddir:-.}/tests/tools/deny_uring
MAX_LINE=4096
NONREADERS=4

plan 22

# The kernel: setarch makes uname(2) say 2.6, as an old kernel would.
"$PINGPONGD" -t -o server.io=io_uring > "$WORKDIR/t.out" 2>&1
check "-t with io = io_uring passes on this kernel ($(uname -r))" \
    test $? -eq 0
setarch "$(uname -m)" --uname-2.6 "$PINGPONGD" -t -o server.io=io_uring \
    > "$WORKDIR/old.out" 2>&1
status=$?
check "an older kernel: exit 78 (EX_CONFIG)" test "$status" -eq 78
check "... saying io_uring needs Linux 6.1 and which kernel this is" \
    grep -q "io: io_uring needs Linux 6.1 or later; this kernel is 2\.6\." \
    "$WORKDIR/old.out"
setarch "$(uname -m)" --uname-2.6 "$PINGPONGD" -t -o server.io=epoll \
    > /dev/null 2>&1
check "... where io = epoll still runs" test $? -eq 0

# No ring: io_uring_setup fails as a seccomp profile makes it fail.
# shellcheck disable=SC2086
"$DENY_URING" $PINGPONGD_WRAPPER "$PINGPONGD" -l 127.0.0.1:0 \
    -o server.io=io_uring 2> "$WORKDIR/denied.log" &
denied=$!
track "$denied"
wait_exit "$denied"
check "io_uring refused by the kernel: exit 71 (EX_OSERR)" \
    test "$WAIT_STATUS" -eq 71
check "... saying the ring cannot be set up, and why" \
    grep -q "io_uring: cannot set up a ring: Operation not permitted" \
    "$WORKDIR/denied.log"

# Clients that never read, each sending far more than the ring's buffers
# hold, and one client that reads.
cfg=$(ini ring server.listen=127.0.0.1:0 server.io=io_uring \
    "connection.max_line=$MAX_LINE" daemon.log_level=info)
check "daemon starts with io = io_uring" start_daemon "$cfg"
check "... and says so" wait_until log_has "running .* io io_uring$"
i=0
while [ "$i" -lt "$NONREADERS" ]; do
	i=$((i + 1))
	truncate -s 64M "$WORKDIR/flood.$i"
	mkfifo "$WORKDIR/flood.$i.out"
	sleep 86400 1<> "$WORKDIR/flood.$i.out" &
	track $!
	nc -N 127.0.0.1 "$PORT" < "$WORKDIR/flood.$i" \
	    > "$WORKDIR/flood.$i.out" &
	track $!
done
asked=0
# stats: ask for statistics; print the bytes received and the bytes held.
stats() {
	asked=$((asked + 1))
	kill -USR1 "$DAEMON_PID"
	wait_until stats_count_is "$asked" || return 1
	grep 'statistics: ' "$DAEMON_LOG" | tail -n 1 | sed -n \
	    's/.*; \([0-9]*\) bytes received, .*; \([0-9]*\) bytes held in .*/\1 \2/p'
}
held_now() { stats | cut -d ' ' -f 2; }
stats_count_is() { [ "$(log_count 'statistics: ')" -ge "$1" ]; }
# Stalled: the non-readers have sent megabytes, and the daemon takes no
# more in: its bytes received stay where they were at the last look.
last_received=-1
stalled() {
	_r=$(stats | cut -d ' ' -f 1)
	[ "${_r:-0}" -gt $((1024 * 1024)) ] && [ "$_r" -eq "$last_received" ] &&
	    return 0
	last_received=${_r:--1}
	return 1
}
check "$NONREADERS non-readers are stalled" wait_until stalled
held=$(held_now)
diag "held for the non-readers: $held bytes"
check "... holding no more than max_line and the run-ahead each" \
    test "$held" -le $((NONREADERS * (MAX_LINE + RING_RUNAHEAD_BYTES)))
open_client reader
i=0
while [ "$i" -lt 200 ]; do
	i=$((i + 1))
	send reader 'line %d of the client that reads\n' "$i"
done
check "a client that reads is served beside them, byte for byte" \
    wait_echoed reader
check "... and the non-readers still hold what they held" \
    test "$(held_now)" -le $((NONREADERS * (MAX_LINE + RING_RUNAHEAD_BYTES)))

# A reload cannot switch the io of running workers.
ini ring server.listen=127.0.0.1:0 server.io=epoll \
    "connection.max_line=$MAX_LINE" daemon.log_level=info > /dev/null
kill -HUP "$DAEMON_PID"
check "a reload to io = epoll: io_uring goes on, and the log says so" \
    wait_until log_has "io: a change takes effect at restart or at a hand-over (SIGUSR2); io_uring goes on"
send reader 'after the reload\n'
check "... still serving" wait_echoed reader

# A hand-over from io_uring to epoll and back, with a partial line held.
send reader 'half a line'
kill -USR2 "$DAEMON_PID"
check "hand-over to io = epoll: the new image runs it" \
    wait_until log_has "running .* io epoll$"
send reader ', whole after the first hand-over\n'
check "... and echoes the held line whole" wait_echoed reader
ini ring server.listen=127.0.0.1:0 server.io=io_uring \
    "connection.max_line=$MAX_LINE" daemon.log_level=info > /dev/null
send reader 'another half'
kill -USR2 "$DAEMON_PID"
uring_twice() { [ "$(log_count 'running .* io io_uring$')" -ge 2 ]; }
check "hand-over back to io = io_uring" wait_until uring_twice
send reader ', whole after the second\n'
check "... and echoes that line whole too" wait_echoed reader
stop_daemon KILL

# Connections closed while their bytes still arrive: a PROXY header from an
# address not in proxy_from closes the connection at its first bytes, and
# the receives that completed for it after those come back to nobody.
# Their buffers must go back to the ring as the kernel left them (a buffer
# consumed in pieces may still be the kernel's), or later bytes land in
# the wrong place: a reader's lines after them, over 4 times the ring's 2 MiB,
# must echo byte for byte.
cfg=$(ini refused server.listen=127.0.0.1:0 server.io=io_uring \
    server.proxy_protocol=on server.proxy_from=192.0.2.0/24 \
    daemon.log_level=debug)
check "a daemon refusing PROXY headers from 127.0.0.1 starts" \
    start_daemon "$cfg"
# Linux 6.12 takes buffers consumed in pieces; an older kernel, whole ones.
release=$(uname -r)
major=${release%%.*}
minor=${release#*.}
minor=${minor%%[!0-9]*}
if [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 12 ]; }; then
	buffers='32 receive buffers of 64 KiB, consumed in pieces'
else
	buffers='1024 receive buffers of 2 KiB, each receive taking one whole'
fi
check "... with $buffers (Linux $release)" \
    wait_until log_has "io_uring: $buffers$"
{
	printf 'PROXY TCP4 192.0.2.1 192.0.2.2 40000 7\r\n'
	head -c 262144 /dev/zero | tr '\0' 'x'
} > "$WORKDIR/refused.in"
i=0
while [ "$i" -lt 20 ]; do
	i=$((i + 1))
	# The daemon resets it; what nc says about that is not the point.
	nc -N -w "$WAIT_SECONDS" 127.0.0.1 "$PORT" < "$WORKDIR/refused.in" \
	    > /dev/null 2>&1
done
awk 'BEGIN { for (i = 0; i < 120000; i++)
	printf "line %06d of the reader after the refusals %s\n", i,
	    substr("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQ", 1 + i % 53) }' \
    > "$WORKDIR/after"
check "... and over 8 MiB of lines after them echo byte for byte" \
    echoes_back "$WORKDIR/after"
stop_daemon TERM
check "... the 20 were closed over their header" \
    log_has "stopped: .*, 20 over a PROXY header,"

finish
