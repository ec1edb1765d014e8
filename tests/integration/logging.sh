#!/bin/sh
# Log format: under journald (JOURNAL_STREAM names stderr) every line starts
# with its syslog priority; otherwise with a timestamp, the PID and the level
# in words.  log_level filters: debug shows each connection, info does not.
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 10

cfg=$(ini debug server.listen=127.0.0.1:0 daemon.log_level=debug)

# journald hands the daemon a stream and names it "DEV:INODE": here the log
# file itself stands for that stream.
JLOG="$WORKDIR/journal.log"
: > "$JLOG"
JOURNAL_STREAM=$(stat -c '%d:%i' "$JLOG") start_daemon "$cfg" "$JLOG"
printf 'journal\n' > "$WORKDIR/line"
echoes_back "$WORKDIR/line"
check "journal: connection lines at debug carry <7>" \
    wait_until grep -q '^<7>connection [0-9]* from 127\.0\.0\.1:' "$JLOG"
check "journal: listening line carries <6>" \
    grep -q '^<6>listening on 127\.0\.0\.1:' "$JLOG"
stop_daemon TERM
check "journal: every line starts with a priority" \
    test "$(grep -vc '^<[0-7]>' "$JLOG")" -eq 0

# A JOURNAL_STREAM that names another stream is not ours: plain format.
PLOG="$WORKDIR/plain.log"
JOURNAL_STREAM=1:1 start_daemon "$cfg" "$PLOG"
echoes_back "$WORKDIR/line"
check "plain: timestamp, PID and level in words" \
    wait_until grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+ pingpongd\[[0-9]+\] debug: connection [0-9]+ from ' "$PLOG"
check "plain: no priority prefix" test "$(grep -c '^<' "$PLOG")" -eq 0
# A freed slot is used again, but a connection's number never is.
echoes_back "$WORKDIR/line"
numbers() { sed -n 's/.* debug: connection \([0-9]*\) from .*(slot \([0-9]*\)).*/\1 \2/p' "$PLOG"; }
two_opened() { [ "$(numbers | wc -l)" -eq 2 ]; }
wait_until two_opened
diag "number and slot of each: $(numbers | tr '\n' ';')"
check "plain: two connections one after the other share the slot" \
    test "$(numbers | cut -d' ' -f2 | sort -u | wc -l)" -eq 1
check "... but not the number: 1, then 2" \
    test "$(numbers | cut -d' ' -f1 | tr '\n' ' ')" = "1 2 "
stop_daemon TERM

# At info, no connection is logged.
cfg=$(ini info server.listen=127.0.0.1:0 daemon.log_level=info)
ILOG="$WORKDIR/info.log"
start_daemon "$cfg" "$ILOG"
echoes_back "$WORKDIR/line"
stop_daemon TERM
check "info: the exchange happened" grep -q 'stopped: 1 connection(s) served' "$ILOG"
check "info: no debug line" test "$(grep -c 'debug:' "$ILOG")" -eq 0
check "info: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
