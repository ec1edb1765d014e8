#!/bin/sh
# 200 clients at once, each with its own lines; each gets only its own bytes.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

CLIENTS=200

plan 7

cfg=$(ini concurrent server.listen=127.0.0.1:0 connection.max_line=1k)
check "daemon starts on a free port" start_daemon "$cfg"
base=$(fd_count)

# Each client's input differs from every other's in its lines, their number
# and their length; some lines are longer than max_line.
i=0
while [ $i -lt $CLIENTS ]; do
	j=0
	while [ $j -lt $((3 + i % 5)) ]; do
		printf 'client %d line %d %*s|\n' $i $j $(((i * 7 + j * 13) % 1500)) "$i"
		j=$((j + 1))
	done > "$WORKDIR/in.$i"
	printf 'client %d ends with a partial line' $i >> "$WORKDIR/in.$i"
	i=$((i + 1))
done

# Every client connects first and waits at a gate: its input is a FIFO fed
# by `cat - FILE < gate`, which sends nothing until the gate closes.  Then
# all of them send at once.
mkfifo "$WORKDIR/gate"
sleep 86400 1<> "$WORKDIR/gate" &
gate_pid=$!
track $gate_pid
nc_pids=""
i=0
while [ $i -lt $CLIENTS ]; do
	mkfifo "$WORKDIR/fifo.$i"
	cat - "$WORKDIR/in.$i" < "$WORKDIR/gate" > "$WORKDIR/fifo.$i" &
	track $!
	nc -N -w "$WAIT_SECONDS" 127.0.0.1 "$PORT" < "$WORKDIR/fifo.$i" \
	    > "$WORKDIR/out.$i" 2> "$WORKDIR/err.$i" &
	track $!
	nc_pids="$nc_pids $!"
	i=$((i + 1))
done
all_open() { [ "$(fd_count)" -ge $((base + CLIENTS)) ]; }
check "$CLIENTS connections are open at once" wait_until all_open

stop_pid "$gate_pid"

exited=0
for p in $nc_pids; do
	if wait_exit "$p"; then exited=$((exited + 1)); fi
done
check "all $CLIENTS clients finish (the daemon closes each after its echo)" \
    test "$exited" -eq $CLIENTS

matched=0
i=0
while [ $i -lt $CLIENTS ]; do
	if cmp -s "$WORKDIR/in.$i" "$WORKDIR/out.$i"; then
		matched=$((matched + 1))
	else
		diag "client $i: echo differs from its input"
	fi
	i=$((i + 1))
done
check "each of the $CLIENTS clients got back exactly its own bytes (cmp)" \
    test "$matched" -eq $CLIENTS
check "every connection's descriptor is closed again" wait_until fd_is "$base"

stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0
check "the daemon logged no error" test "$(log_count ' error: ')" -eq 0

finish
