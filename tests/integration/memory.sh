#!/bin/sh
# Memory is bounded and given back: 5,000 connections each holding
# max_line - 1 bytes with no newline grow the daemon's RSS by less than
# 5000 x max_line plus a stated overhead, and after they close RSS falls
# back close to where it started.  Idle connections cost no buffer: RSS
# grows by less than 1 KiB per idle connection.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

MAX_LINE=4096
HOLDERS=5000
OVERHEAD_KB=8192        # slots, event loop and allocator slack for 5,000
RETURN_KB=4096          # how far above the start RSS may stay afterwards
# The per-process descriptor limit here is 20,000, and the daemon needs a
# few for itself: this many idle connections is as close to 20,000 as fits.
IDLE=19900
IDLE_BYTES_MAX=1024

# RSS figures mean something only for the plain build: AddressSanitizer
# keeps freed memory in quarantine and valgrind has its own heap.  There the
# same load runs (smaller under valgrind) and the figures are skipped.
measuring=yes
if [ -n "$PINGPONGD_WRAPPER" ] || [ "${PINGPONGD_SANITIZERS:-no}" = yes ]; then
	measuring=no
fi
[ -z "$PINGPONGD_WRAPPER" ] || { HOLDERS=500; IDLE=2000; }
# check_rss DESCRIPTION COMMAND...: a check on an RSS figure.
check_rss() {
	if [ "$measuring" = yes ]; then
		check "$@"
	else
		tap_count=$((tap_count + 1))
		echo "ok $tap_count - $1 # SKIP RSS is not the daemon's own here"
	fi
}

plan 8

cfg=$(ini memory server.listen=127.0.0.1:0 server.max_connections=20000 \
    "connection.max_line=$MAX_LINE")
check "daemon starts" start_daemon "$cfg"

open_count() { [ "$(($(fd_count) - base_fds))" -eq "$1" ]; }

base_fds=$(fd_count)
before_idle=$(rss_kb)
hold_clients idle "$IDLE" 0 8
wait_until open_count "$IDLE"
idle_rss=$(rss_kb)
per_conn=$(( (idle_rss - before_idle) * 1024 / IDLE ))
diag "$IDLE idle connections: RSS +$((idle_rss - before_idle)) KiB, $per_conn bytes each"
check "$IDLE idle connections are all open" open_count "$IDLE"
check_rss "RSS per idle connection $per_conn bytes < $IDLE_BYTES_MAX" \
    test "$per_conn" -lt "$IDLE_BYTES_MAX"
release idle
wait_until open_count 0


base_rss=$(rss_kb)
diag "start: RSS $base_rss KiB"

hold_clients holders "$HOLDERS" $((MAX_LINE - 1)) 4
wait_until open_count "$HOLDERS"
held_rss=$(rss_kb)
growth=$((held_rss - base_rss))
bound=$((HOLDERS * MAX_LINE / 1024 + OVERHEAD_KB))
diag "$HOLDERS connections holding $((MAX_LINE - 1)) bytes: RSS +$growth KiB (bound $bound KiB)"
check_rss "$HOLDERS x $((MAX_LINE - 1)) held bytes: RSS growth $growth KiB < $bound KiB" \
    test "$growth" -lt "$bound"
check_rss "the held bytes are really held (growth > $HOLDERS x 3 KiB)" \
    test "$growth" -gt $((HOLDERS * 3))

release holders
check "all $HOLDERS closed" wait_until open_count 0
# The buffers go back to the system on the next housekeeping round.
rss_back() { [ "$(rss_kb)" -lt $((base_rss + RETURN_KB)) ]; }
check_rss "RSS returns within $RETURN_KB KiB of the start" wait_until rss_back
diag "after: RSS $(rss_kb) KiB"

stop_daemon TERM
check "exit status 0" test "$DAEMON_STATUS" -eq 0
finish
