#!/bin/sh
# The pingpong client against the daemon and against faulty peers
# (tests/tools/badecho): its output, its exit statuses, corrupted and
# missing echoes caught, SIGINT, and the --bench and --cycle load modes.
# Correctness only: no number of lines per second is asserted.
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

PINGPONG="${abs_top_builddir:-.}/pingpong"
BADECHO="${abs_top_builddir:-.}/tests/tools/badecho"

plan 49

# pp ARG...: the client, under the same wrapper as the daemon (valgrind in
# make check-valgrind).
pp() {
	# shellcheck disable=SC2086
	$PINGPONGD_WRAPPER "$PINGPONG" "$@"
}
# run NAME ARG...: pp with its output in $WORKDIR/NAME.out and NAME.err,
# copied into the TAP log; STATUS is its exit status.
run() {
	_n=$1
	shift
	pp "$@" > "$WORKDIR/$_n.out" 2> "$WORKDIR/$_n.err"
	STATUS=$?
	sed 's/^/#   /' "$WORKDIR/$_n.out" "$WORKDIR/$_n.err"
}
out_matches() { grep -Eq -- "$2" "$WORKDIR/$1.out"; }
out_lacks() { ! grep -Eq -- "$2" "$WORKDIR/$1.out"; }
err_matches() { grep -Eq -- "$2" "$WORKDIR/$1.err"; }
# exited_with WANT NAME PATTERN: STATUS is WANT and NAME.out matches.
exited_with() { [ "$STATUS" -eq "$1" ] && out_matches "$2" "$3"; }
# failed_with WANT NAME PATTERN: STATUS is WANT and NAME.err matches.
failed_with() { [ "$STATUS" -eq "$1" ] && err_matches "$2" "$3"; }
echo_lines() { grep -c ' bytes from ' "$WORKDIR/$1.out"; }
has_echo_lines() { [ "$(echo_lines "$1")" -ge "$2" ]; }

# json_field NAME KEY: a number from the JSON report in NAME.out.
json_field() {
	sed -n "s/.*\"$2\":\([0-9.]*\)[,}].*/\1/p" "$WORKDIR/$1.out"
}
# json_positive NAME KEY: that number is above 0.
json_positive() {
	_v=$(json_field "$1" "$2")
	[ -n "$_v" ] && awk -v v="$_v" 'BEGIN { exit !(v > 0) }'
}
# json_valid NAME: NAME.out is one line, one JSON object with every key
# the manual promises (parsed by jq).
json_valid() {
	_f=$WORKDIR/$1.out
	[ "$(wc -l < "$_f")" -eq 1 ] || return 1
	for _k in mode target conns depth size threads seconds lines \
	    lines_per_sec mb_per_sec p50_us p90_us p99_us p999_us max_us \
	    corrupted errors interrupted first_error; do
		grep -q "\"$_k\":" "$_f" || return 1
	done
	# jq is installed by ./bootstrap: a missing jq fails the check.
	jq -e 'type == "object"' "$_f" > /dev/null
}

# interrupt PID: SIGINT to a tracked client; STATUS is its exit status,
# or 999 when it does not exit within WAIT_SECONDS.
interrupt() {
	kill -INT "$1"
	if wait_exit "$1"; then STATUS=$WAIT_STATUS; else STATUS=999; fi
}
# connected_to PORT: some connection to 127.0.0.1:PORT is established.
connected_to() {
	[ -n "$(ss -Htn state established "( dport = :$1 )" 2>/dev/null)" ]
}

# exited_valid NAME: STATUS is 0 and NAME.out is valid JSON.
exited_valid() { [ "$STATUS" -eq 0 ] && json_valid "$1"; }

# start_badecho MODE [ARG]: the faulty peer on a free port; sets BAD_PID
# and BAD_PORT.
start_badecho() {
	"$BADECHO" "$@" > "$WORKDIR/badecho.out" &
	BAD_PID=$!
	track "$BAD_PID"
	wait_until grep -q '^port ' "$WORKDIR/badecho.out" || return 1
	BAD_PORT=$(sed -n 's/^port //p' "$WORKDIR/badecho.out")
}
stop_badecho() { stop_pid "$BAD_PID"; }

have_ipv6=no
if ipv6_loopback; then have_ipv6=yes; fi
if [ "$have_ipv6" = yes ]; then
	cfg=$(ini pingpong server.listen=127.0.0.1:0 "server.listen=[::1]:0" \
	    connection.max_line=4k)
else
	cfg=$(ini pingpong server.listen=127.0.0.1:0 connection.max_line=4k)
fi
check "daemon starts on a free port" start_daemon "$cfg"
TARGET=127.0.0.1:$PORT
RE_TARGET="127\\.0\\.0\\.1:$PORT"

# Ping mode against the daemon.
run ping -c 3 -i 0.2 "$TARGET"
check "-c 3: exit status 0" test "$STATUS" -eq 0
check "the header names the address and the line size" \
    test "$(head -n 1 "$WORKDIR/ping.out")" = \
    "PINGPONG $TARGET: 32 bytes per line"
seqs=$(sed -n "s/^32 bytes from $RE_TARGET: seq=\([0-9]*\) time=[0-9]*\.[0-9][0-9][0-9] ms\$/\1/p" \
    "$WORKDIR/ping.out" | tr '\n' ' ')
check "one echo line per line sent, seq 1 2 3 in order" \
    test "$seqs" = "1 2 3 "
check "the summary counts 3 transmitted, 3 received, 0 corrupted" \
    out_matches ping '^3 lines transmitted, 3 received, 0 corrupted, 0% loss, time [0-9]+ms$'
check "the summary gives rtt min/avg/max/mdev" \
    out_matches ping '^rtt min/avg/max/mdev = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms$'

run quiet -q -c 2 -i 0.1 "$TARGET"
check "-q: exit status 0 and the summary" \
    exited_with 0 quiet '^2 lines transmitted, 2 received'
check "-q: no header, no echo lines" out_lacks quiet 'PINGPONG|bytes from'

run one -c 2 -i 0.1 -s 1 "$TARGET"
check "-s 1: lines that are just the newline come back (exit 0)" \
    exited_with 0 one '^1 bytes from'
run big -c 2 -i 0.1 -s 10000 "$TARGET"
check "-s 10000 (past max_line): every line comes back whole (exit 0)" \
    exited_with 0 big '^10000 bytes from'

if [ "$have_ipv6" = yes ]; then
	P6=$(listen_port '\[::1\]')
	run v6 -c 2 -i 0.1 "[::1]:$P6"
	check "[::1]:PORT: exit status 0 over IPv6" \
	    exited_with 0 v6 "^PINGPONG \\[::1\\]:$P6: 32 bytes per line\$"
else
	skip "no IPv6 loopback"
fi

run name -c 2 -i 0.1 "localhost:$PORT"
check "a name resolves: 'PINGPONG localhost (ADDRESS)', exit status 0" \
    exited_with 0 name "^PINGPONG localhost \\($RE_TARGET\\): 32 bytes per line\$"

# Ctrl-C: the summary of what was done, and the status it calls for.
# Started as a plain command, not through pp: $! must be the client's PID.
# shellcheck disable=SC2086
$PINGPONGD_WRAPPER "$PINGPONG" -i 0.2 "$TARGET" > "$WORKDIR/int.out" \
    2> "$WORKDIR/int.err" &
pid=$!
track "$pid"
wait_until has_echo_lines int 2
interrupt "$pid"
sed 's/^/#   /' "$WORKDIR/int.out" "$WORKDIR/int.err"
# A line sent just before the signal may still be on its way: 0 or 1.
check "SIGINT: the run ends with status 0 or 1, not killed" \
    test "$STATUS" -le 1
check "SIGINT: the summary is printed" \
    out_matches int '^[0-9]+ lines transmitted, [0-9]+ received'

# Faulty peers.
start_badecho flip 5
run flip -c 3 -i 0.1 "127.0.0.1:$BAD_PORT"
check "a flipped byte: exit status 1" test "$STATUS" -eq 1
check "the corrupted echo is shown with the byte that differs" \
    out_matches flip "seq=1 time=[0-9.]+ ms CORRUPTED: byte 6 is 'x', sent '0'\$"
check "the lines after it come back intact: 3 received, 1 corrupted" \
    out_matches flip '^3 lines transmitted, 3 received, 1 corrupted, 0% loss'
run flipbench --bench -C 2 -d 4 -t 1 --json "127.0.0.1:$BAD_PORT"
check "--bench against a flipped byte: exit status 1" test "$STATUS" -eq 1
check "--bench counts the corrupted lines" json_positive flipbench corrupted
stop_badecho

start_badecho extra
run extra -c 3 -i 0.1 "127.0.0.1:$BAD_PORT"
check "a line that was never sent comes back: exit status 1" \
    exited_with 1 extra ', \+25 bytes never sent, '
stop_badecho

start_badecho mute
run mute -c 2 -i 0.1 -W 0.5 "127.0.0.1:$BAD_PORT"
check "-W 0.5 against a peer that never answers: exit status 1" \
    test "$STATUS" -eq 1
check "each line is reported lost" test "$(grep -c \
    "^no echo from 127\\.0\\.0\\.1:$BAD_PORT: seq=[12] within 0.5 s\$" \
    "$WORKDIR/mute.out")" -eq 2
check "the summary: 0 received, 100% loss" \
    out_matches mute '^2 lines transmitted, 0 received, 0 corrupted, 100% loss'
run mutebench --bench -C 2 -t 1 -W 0.5 "127.0.0.1:$BAD_PORT"
check "--bench against it: a stall past -W is an error, exit status 2" \
    exited_with 2 mutebench '^0 corrupted, 2 errors \(first: .*no echo for 0.5 s\)$'
stop_badecho

start_badecho hangup
run hangup -c 3 -i 0.1 "127.0.0.1:$BAD_PORT"
check "the peer closes mid-run: exit status 2, the reason on stderr" \
    failed_with 2 hangup ': connection closed by the peer$'
stop_badecho

# A port nobody listens on any more: badecho's, once it has exited.
DEAD_PORT=$BAD_PORT
run refused -c 1 "127.0.0.1:$DEAD_PORT"
check "an unreachable port: exit status 2, 'Connection refused'" \
    failed_with 2 refused "^pingpong: connect 127\\.0\\.0\\.1:$DEAD_PORT: Connection refused\$"
run refusedbench --bench -t 1 "127.0.0.1:$DEAD_PORT"
check "--bench to an unreachable port: exit status 2" test "$STATUS" -eq 2

# Usage errors: each says why on stderr and exits 2.
usage_fails() {
	run usage "$@"
	failed_with 2 usage '^pingpong: .+'
}
check "usage error: -s 0" usage_fails -s 0 "$TARGET"
check "usage error: -C without --bench" usage_fails -C 4 "$TARGET"
check "usage error: no HOST" usage_fails -c 2
check "usage error: '[::1'" usage_fails "[::1"
check "usage error: port 70000" usage_fails 127.0.0.1:70000
check "usage error: -d with --cycle" usage_fails --cycle -d 4 "$TARGET"

# Load modes against the daemon.
run bench --bench -C 4 -d 4 -t 1 --json "$TARGET"
check "--bench --json: exit status 0, one valid JSON object" \
    exited_valid bench
check "--bench: none corrupted, no error" test \
    "$(json_field bench corrupted)/$(json_field bench errors)" = 0/0
check "--bench: lines were echoed" json_positive bench lines
check "--bench: lines_per_sec is positive" json_positive bench lines_per_sec
check "--bench: the report gives back the options" test \
    "$(json_field bench conns)/$(json_field bench depth)/$(json_field bench size)" \
    = 4/4/32

run benchtext --bench -C 4 -d 2 -s 100 -T 2 -t 1 "$TARGET"
check "--bench -T 2 as text: exit status 0, lines/s and MB/s" \
    exited_with 0 benchtext '^[0-9]+ lines in [0-9.]+ s: [0-9]+ lines/s, [0-9.]+ MB/s$'
check "the text report gives the percentiles" out_matches benchtext \
    '^latency p50/p90/p99/p99\.9/max = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ us$'
check "the text report: 0 corrupted, 0 errors" \
    out_matches benchtext '^0 corrupted, 0 errors$'
check "no progress line when stdout is not a terminal" \
    out_lacks benchtext "$(printf '\r')"

run cycle --cycle -C 4 -t 1 --json "$TARGET"
check "--cycle --json: exit status 0, one valid JSON object" \
    exited_valid cycle
check "--cycle: cycles counted, none corrupted, no error" \
    out_matches cycle '"mode":"cycle".*"cycles":[1-9][0-9]*,.*"corrupted":0,"errors":0,'

# SIGINT in a long --bench run: the report so far, and status 0.
# shellcheck disable=SC2086
$PINGPONGD_WRAPPER "$PINGPONG" --bench -C 2 -t 600 --json "$TARGET" \
    > "$WORKDIR/benchint.out" 2> "$WORKDIR/benchint.err" &
pid=$!
track "$pid"
# Before it connects, the client may not yet watch for SIGINT.
wait_until connected_to "$PORT"
sleep 0.5
interrupt "$pid"
sed 's/^/#   /' "$WORKDIR/benchint.out" "$WORKDIR/benchint.err"
check "SIGINT stops --bench: exit status 0 and the report, interrupted" \
    exited_with 0 benchint '"interrupted":true'

# The daemon came through all of it.
printf 'still there\n' > "$WORKDIR/after"
check "pingpongd still echoes after the load" echoes_back "$WORKDIR/after"
stop_daemon TERM
check "SIGTERM: the daemon exits 0" test "$DAEMON_STATUS" -eq 0
check "the daemon logged no error" test "$(log_count ' error: ')" -eq 0

MAN="${abs_top_srcdir:-.}/man/pingpong.1"
groff -ww -z -man "$MAN" > "$WORKDIR/man.warnings" 2>&1
sed 's/^/# /' "$WORKDIR/man.warnings"
check "pingpong.1 renders without warnings" test ! -s "$WORKDIR/man.warnings"

finish
