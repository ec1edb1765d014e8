#!/bin/sh
# Soak: SOAK_SECONDS (default 120) of mixed load on loopback against one
# daemon: pipelining clients, connection churn, resets mid-echo, slow
# readers, over-long lines.  Then: every well-behaved client's echo was
# byte-exact, the daemon's descriptors and RSS are back at their baseline,
# it still answers, and it exits 0 on SIGTERM.  Run by make check-soak.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-120}
RSS_SLACK_KB=4096       # how far above its start RSS may settle afterwards

plan 10

cfg=$(ini soak server.listen=127.0.0.1:0 connection.max_line=4k \
    connection.idle_timeout=30s connection.line_timeout=10s)
check "daemon starts" start_daemon "$cfg"
base_fds=$(fd_count)
base_rss=$(rss_kb)
diag "baseline: $base_fds descriptors, RSS $base_rss KiB; soaking ${SOAK_SECONDS}s"
END=$(( $(date +%s) + SOAK_SECONDS ))
running() { [ "$(date +%s)" -lt "$END" ]; }

# Each worker loops until END and records a failure in its own file.
# Pipelining clients: floods of 5 s, every byte checked.
flooder() {
	while running; do
		"$LOADCLIENT" flood "$PORT" 5 > /dev/null 2>> "$WORKDIR/flood.err" ||
		    echo "flood failed" >> "$WORKDIR/failures"
	done
}
# Churn: short nc exchanges of a few lines, each compared.
churner() {
	_n=0
	while running; do
		printf 'churn %s %s\nsecond line\n' "$1" "$_n" > "$WORKDIR/churn.$1"
		echoes_back "$WORKDIR/churn.$1" ||
		    echo "churn $1 $_n differs" >> "$WORKDIR/failures"
		_n=$((_n + 1))
	done
	echo "$_n" > "$WORKDIR/churn.$1.count"
}
# Round trips, one line at a time.
roundtripper() {
	while running; do
		"$LOADCLIENT" roundtrips "$PORT" 500 200 > /dev/null ||
		    echo "roundtrips failed" >> "$WORKDIR/failures"
	done
}
# Over-long lines: 20 KiB lines against max_line 4k come back whole.
longliner() {
	head -c 20000 /dev/zero | tr '\0' 'L' > "$WORKDIR/long"
	printf '\n' >> "$WORKDIR/long"
	while running; do
		echoes_back "$WORKDIR/long" ||
		    echo "long line differs" >> "$WORKDIR/failures"
	done
}
# Resets mid-echo: not well-behaved, nothing to check but the daemon.
resetter() {
	while running; do
		"$LOADCLIENT" reset "$PORT" 262144 > /dev/null 2>&1
	done
}
# Slow readers: 8 MiB sent, echo read by nobody for a while, then killed.
slowreader() {
	truncate -s 8M "$WORKDIR/slow.data"
	mkfifo "$WORKDIR/slow.fifo"
	sleep 86400 1<> "$WORKDIR/slow.fifo" &
	_holder=$!
	while running; do
		nc -N 127.0.0.1 "$PORT" < "$WORKDIR/slow.data" > "$WORKDIR/slow.fifo" &
		_nc=$!
		# Deliberately slow: the reader stays stalled for a second.
		sleep 1
		kill -KILL "$_nc" 2>/dev/null
		wait "$_nc" 2>/dev/null
	done
	kill "$_holder"
	wait "$_holder" 2>/dev/null
}

: > "$WORKDIR/failures"
for w in flooder roundtripper longliner resetter slowreader; do
	$w &
	track $!
done
for c in 1 2 3 4; do
	churner "$c" &
	track $!
done
wait_clients

churns=$(cat "$WORKDIR"/churn.*.count 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
diag "churn exchanges: $churns; failures: $(wc -l < "$WORKDIR/failures")"
sed 's/^/# /' "$WORKDIR/failures" | head -n 20
check "every well-behaved client's echo was byte-exact" test ! -s "$WORKDIR/failures"
check "churn really ran ($churns exchanges)" test "$churns" -gt 100
check "the daemon is still running" alive "$DAEMON_PID"
printf 'still there?\n' > "$WORKDIR/probe"
check "it still answers" echoes_back "$WORKDIR/probe"
fds_back() { [ "$(fd_count)" -eq "$base_fds" ]; }
check "descriptors back at the baseline ($base_fds)" wait_until fds_back
rss_back() { [ "$(rss_kb)" -lt $((base_rss + RSS_SLACK_KB)) ]; }
if [ -z "$PINGPONGD_WRAPPER" ] && [ "${PINGPONGD_SANITIZERS:-no}" != yes ]; then
	check "RSS back within $RSS_SLACK_KB KiB of the baseline" wait_until rss_back
else
	skip "RSS back at the baseline: RSS is not the daemon's own here"
fi
diag "after: $(fd_count) descriptors, RSS $(rss_kb) KiB"
check "no error in the log" test "$(log_count ' error: ')" -eq 0
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0
check "the log tells what was served" log_has "stopped: [0-9]* connection(s) served"
finish
