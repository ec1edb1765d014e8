#!/bin/sh
# SIGUSR1: one line of statistics in the log whatever log_level says, with
# figures that are exactly what happened, and the echo undisturbed.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 12

# stats_line: the last statistics line, after asking for one.
asked=0
stats_now() {
	asked=$((asked + 1))
	kill -USR1 "$DAEMON_PID"
	wait_until stats_count_is "$asked" || return 1
	grep 'statistics: ' "$DAEMON_LOG" | tail -n 1 > "$WORKDIR/stats"
	diag "$(cat "$WORKDIR/stats")"
}
stats_count_is() { [ "$(log_count 'statistics: ')" -ge "$1" ]; }
# says TEXT: the last statistics line holds TEXT.
says() { grep -qF -- "$1" "$WORKDIR/stats"; }

for workers in 1 2; do
	asked=0
	cfg=$(ini stats$workers server.listen=127.0.0.1:0 \
	    server.workers=$workers connection.max_per_ip=3 \
	    daemon.log_level=error)
	start_daemon "$cfg" "$WORKDIR/stats$workers.log" ||
	    { fail "workers = $workers: the daemon started"; continue; }
	# Two lines and a partial one held; a third client; a fourth refused.
	a=a$workers b=b$workers c=c$workers
	open_client $a
	send $a 'one\ntwo\n'
	send $a 'held'
	open_client $b
	send $b 'b line\n'
	wait_echoed $b
	open_client $c
	send $c 'c\n'
	wait_echoed $c
	wait_until out_has $a 8
	# max_per_ip counts a source over every worker: the fourth is refused
	# whichever worker takes it.
	printf 'refused\n' > "$WORKDIR/refused"
	nc -N 127.0.0.1 "$PORT" < "$WORKDIR/refused" > /dev/null 2>&1
	refusals=1
	close_client $c
	check "workers = $workers: SIGUSR1 at log_level error: a statistics line" \
	    stats_now
	check "... 2 open, 3 served, $refusals refused at max_per_ip, 1 closed by its client" \
	    eval 'says "2 connection(s) open, 3 served" &&
	    says "refused: max_connections 0, max_per_ip $refusals," &&
	    says "closed: client 1,"'
	check "... 21 bytes received, 17 echoed in 4 lines, 4 bytes held in 1 buffer" \
	    eval 'says "21 bytes received, 17 bytes and 4 lines echoed" &&
	    says "4 bytes held in 1 buffer(s)"'
	check "... the echo goes on" eval 'send $b "after\n" && wait_echoed $b'
	close_client $a
	close_client $b
	stop_daemon TERM
	check "... SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0
done

# At the default log_level too, and more than once: the numbers move.
cfg=$(ini again server.listen=127.0.0.1:0)
start_daemon "$cfg" "$WORKDIR/again.log"
asked=0
stats_now
first=$(sed -n 's/.* \([0-9]*\) served.*/\1/p' "$WORKDIR/stats")
printf 'x\n' > "$WORKDIR/x"
echoes_back "$WORKDIR/x"
stats_now
check "asked twice, the served count moved from $first to 1" \
    test "$first" -eq 0 -a "$(sed -n 's/.* \([0-9]*\) served.*/\1/p' "$WORKDIR/stats")" -eq 1
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
