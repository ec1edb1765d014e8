#!/bin/sh
# Out of descriptors: accept hits EMFILE, the daemon pauses accepting
# instead of spinning (its CPU time stays near zero, read from /proc), keeps
# serving the open connections, says so in its log, and accepts again as
# soon as descriptors free up.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

NOFILE=32               # the daemon's whole descriptor budget
CROWD=60                # connections that will not all fit
CPU_TICKS_MAX=20        # clock ticks (1/100 s) of CPU allowed over the watch
WATCH_SECONDS=2

plan 8

cfg=$(ini emfile server.listen=127.0.0.1:0)
# ulimit -n sets the hard limit too, so the daemon cannot raise it back.
printf '#!/bin/sh\nulimit -n %d || exit 1\nexec "$@"\n' "$NOFILE" \
    > "$WORKDIR/limited"
chmod +x "$WORKDIR/limited"
PINGPONGD_WRAPPER="$WORKDIR/limited $PINGPONGD_WRAPPER"
start_daemon "$cfg"
check "daemon runs with $NOFILE descriptors" alive "$DAEMON_PID"

open_client first
send first 'before the crowd\n'
wait_echoed first

# The crowd takes every descriptor the daemon has left and then some.
check "the crowd of $CROWD is connected (some wait in the backlog)" \
    hold_clients crowd "$CROWD" 0 1
check "the daemon logs that accept paused on EMFILE" \
    wait_until log_has "accept: Too many open files; pausing new connections"

# CPU time (utime + stime, clock ticks) over a fixed watch: a loop that
# spins on the pending connection burns a tick per 10 ms.
t0=$(cpu_ticks)
# The assertion is about what does not happen within the watch: a fixed wait.
sleep "$WATCH_SECONDS"
t1=$(cpu_ticks)
diag "CPU over ${WATCH_SECONDS}s at EMFILE: $((t1 - t0)) ticks"
check "no spinning: $((t1 - t0)) ticks of CPU in ${WATCH_SECONDS}s (max $CPU_TICKS_MAX)" \
    test $((t1 - t0)) -le $CPU_TICKS_MAX

send first 'during the crowd\n'
check "an open connection is still served at EMFILE" wait_echoed first

# The crowd leaves: descriptors come back and accept resumes.
release crowd
printf 'after the crowd\n' > "$WORKDIR/after"
check "a new client is accepted once descriptors free up" \
    wait_until echoes_back "$WORKDIR/after"
check "the first client's echo is byte-exact" closes_clean first
stop_daemon TERM
check "exit status 0" test "$DAEMON_STATUS" -eq 0

finish
