#!/bin/sh
# [::1]:0 echoes byte-exact over IPv6 (skipped without an IPv6 loopback).
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

CHECKS=7
plan $CHECKS

if ! ipv6_loopback; then
	i=0
	while [ $i -lt $CHECKS ]; do
		skip "no IPv6 loopback"
		i=$((i + 1))
	done
	finish
fi

# IPv6 first, so that PORT (the first listener's) is the IPv6 one.
cfg=$(ini ipv6 "server.listen=[::1]:0" server.listen=127.0.0.1:0 \
    connection.max_line=4k)
check "daemon starts on [::1]:0 and 127.0.0.1:0" start_daemon "$cfg"
check "it logs 'listening on [::1]:PORT'" \
    test "$(listen_port '\[::1\]')" = "$PORT"

printf 'hello over IPv6\n' > "$WORKDIR/one"
check "a line comes back over IPv6 (nc -6)" \
    echoes_back "$WORKDIR/one" "$PORT" ::1
head -c 1048576 /dev/urandom > "$WORKDIR/binary"
check "1 MiB of binary data comes back byte-exact over IPv6" \
    echoes_back "$WORKDIR/binary" "$PORT" ::1
printf 'first\nand a partial line' > "$WORKDIR/partial"
check "a partial line before EOF comes back over IPv6" \
    echoes_back "$WORKDIR/partial" "$PORT" ::1
printf 'hello over IPv4, beside IPv6\n' > "$WORKDIR/four"
check "the IPv4 listener next to it echoes too" \
    echoes_back "$WORKDIR/four" "$(listen_port '127\.0\.0\.1')"

stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

finish
