#!/bin/sh
# Fairness: one client pipelining without pause gets a bounded share of each
# loop iteration (SERVER_READ_BUDGET bytes), so a second client's round
# trips stay prompt while the first floods; every byte of both is checked.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

# The flood must outlast the round trips: under valgrind, whose daemon
# waits in slices of 10 ms with io_uring, 300 of them outlasted a 4 s flood.
if [ -n "$PINGPONGD_WRAPPER" ]; then FLOOD_SECONDS=15; else FLOOD_SECONDS=4; fi
ROUNDTRIPS=300
# A starved client would wait for the whole flood (seconds); a fair loop
# answers within a few budget-sized turns (well under a millisecond each).
# The bound is generous so that a loaded machine or valgrind cannot trip it.
WORST_MS_MAX=1000

plan 5

cfg=$(ini fairness server.listen=127.0.0.1:0)
check "daemon starts" start_daemon "$cfg"

"$LOADCLIENT" flood "$PORT" "$FLOOD_SECONDS" > "$WORKDIR/flood.out" \
    2> "$WORKDIR/flood.err" &
flood=$!
track $flood
# Wait until the flood is really flowing: the daemon has spent 50 ms of CPU.
flowing() { [ "$(cpu_ticks)" -ge 5 ]; }
wait_until flowing

"$LOADCLIENT" roundtrips "$PORT" "$ROUNDTRIPS" 64 > "$WORKDIR/rt.out" \
    2> "$WORKDIR/rt.err"
rt_status=$?
still_flooding=no
alive "$flood" && still_flooding=yes
worst=$(sed -n 's/^roundtrips [0-9]* max_ms \([0-9.]*\)$/\1/p' "$WORKDIR/rt.out")
diag "worst round trip while flooding: ${worst:-none} ms"
check "$ROUNDTRIPS round trips of the second client are byte-exact" \
    test "$rt_status" -eq 0
check "the flood was still running throughout" test "$still_flooding" = yes
check "worst round trip ${worst:-?} ms <= $WORST_MS_MAX ms" \
    awk -v w="${worst:-99999}" -v m="$WORST_MS_MAX" 'BEGIN { exit !(w + 0 <= m) }'

wait "$flood"
flood_status=$?
untrack "$flood"
diag "flood: $(cat "$WORKDIR/flood.out") bytes echoed and checked"
check "the flooding client's echo is byte-exact too" test "$flood_status" -eq 0

stop_daemon TERM
finish
