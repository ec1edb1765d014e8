#!/bin/sh
# A client that never reads stalls only itself; daemon memory stays bounded.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

BIG=$((64 * 1024 * 1024))       # bytes the non-reader tries to send
RSS_MAX_KB=$((64 * 1024))       # VmRSS bound for the bare daemon
RSS_GROWTH_KB=$((16 * 1024))    # allowed VmRSS growth while it is stalled
# A sanitizer's own memory grows with what the daemon touches: TSan keeps
# shadow bytes for each byte the run-ahead moves through, ASan pads and
# quarantines what is allocated.  With io_uring they measured +13.6 to
# +18.6 MiB (TSan) and +9.2 MiB (ASan) where the plain build grows by
# +3.7 to +3.9 MiB.
# Three times the bound still fails a daemon that takes the 64 MiB in.
if [ "${PINGPONGD_SANITIZERS:-no}" = yes ]; then
	RSS_GROWTH_KB=$((3 * RSS_GROWTH_KB))
fi
EXCHANGES=5

plan 13

cfg=$(ini backpressure server.listen=127.0.0.1:0 connection.max_line=64k \
    daemon.log_level=debug)
check "daemon starts with max_line 64k" start_daemon "$cfg"
base_fds=$(fd_count)
base_rss=$(rss_kb)

# 64 MiB of NUL bytes (a sparse file: no disk, no newline, so every 64k
# goes back as a fragment).  The socket buffers on both sides hold a few
# MiB: a daemon that keeps reading while its echo is refused would take
# it all.
start_nonreader $BIG
hog=$NONREADER

# How far the non-reader got into its input.
sent() { sed -n 's/^pos:[^0-9]*//p' "/proc/$hog/fdinfo/0" 2>/dev/null; }
# Stalled: it has sent something, then nothing more for 0.5 s.  The fixed
# wait is the assertion itself (no progress within a time).
stalled() {
	_before=$(sent)
	sleep 0.5
	[ "${_before:-0}" -gt 0 ] && [ "$(sent)" = "$_before" ]
}
wait_stalled() {
	_tries=$((WAIT_SECONDS * 2))
	while [ "$_tries" -gt 0 ]; do
		stalled && return 0
		_tries=$((_tries - 1))
	done
	return 1
}
check "the non-reader's sending stalls (back-pressure reaches it)" \
    wait_stalled
diag "the non-reader stalled after sending $(sent) of $BIG bytes"

max_rss=$(rss_kb)
i=0
while [ $i -lt $EXCHANGES ]; do
	printf 'exchange %d while another client is stalled\n' $i \
	    > "$WORKDIR/line.$i"
	check "another client's line $i echoes (nc -w bounds the wait)" \
	    echoes_back "$WORKDIR/line.$i"
	rss=$(rss_kb)
	[ "$rss" -gt "$max_rss" ] && max_rss=$rss
	i=$((i + 1))
done

still_stalled() { alive "$hog" && [ "$(sent)" -lt "$BIG" ]; }
check "the non-reader is still connected and could not send all its data" \
    still_stalled
diag "VmRSS: $base_rss KiB at start, at most $max_rss KiB while stalled"
check "VmRSS stays under its start value + $((RSS_GROWTH_KB / 1024)) MiB" \
    test "$max_rss" -lt $((base_rss + RSS_GROWTH_KB))
# A wrapper such as valgrind, or a sanitizer's shadow memory, counts in
# the daemon's VmRSS; the growth bound above still holds.
if [ -z "$PINGPONGD_WRAPPER" ] && [ "${PINGPONGD_SANITIZERS:-no}" != yes ]; then
	check "VmRSS stays under $((RSS_MAX_KB / 1024)) MiB" \
	    test "$max_rss" -lt $RSS_MAX_KB
else
	skip "VmRSS under $((RSS_MAX_KB / 1024)) MiB: the wrapper's or sanitizer's memory counts too"
fi

# The non-reader vanishes; the daemon closes its connection and carries on.
stop_pid $hog KILL
check "the non-reader's connection is closed after it is killed" \
    wait_until fd_is "$base_fds"
printf 'still healthy\n' > "$WORKDIR/after"
check "the daemon still echoes" echoes_back "$WORKDIR/after"

stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
