#!/bin/sh
# The echo contract over a real socket with nc: byte-exact lines, many lines
# at once, binary data, a partial line before EOF, fragments past max_line.
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 9

cfg=$(ini basic server.listen=127.0.0.1:0 connection.max_line=4k)
check "daemon starts on a free port" start_daemon "$cfg"

printf 'hello, pingpongd\n' > "$WORKDIR/one"
check "one line comes back byte for byte" echoes_back "$WORKDIR/one"

i=0
while [ $i -lt 1000 ]; do echo "line $i of a thousand"; i=$((i + 1)); done \
    > "$WORKDIR/thousand"
check "1000 lines sent at once come back in order" \
    echoes_back "$WORKDIR/thousand"

# 8 MiB with NUL, CR and bytes >= 0x80 among the newlines.
head -c 8388608 /dev/urandom > "$WORKDIR/binary"
check "8 MiB of binary data is byte-exact (cmp)" echoes_back "$WORKDIR/binary"

printf 'complete\npartial line with no newline' > "$WORKDIR/partial"
check "a partial line before EOF is echoed, then the daemon closes" \
    echoes_back "$WORKDIR/partial"

head -c 20000 /dev/zero | tr '\0' 'x' > "$WORKDIR/long"
printf '\nshort\n' >> "$WORKDIR/long"
check "a line of 20000 bytes with max_line 4k comes back whole" \
    echoes_back "$WORKDIR/long"

printf 'cr\r\nnul\000byte\n\377\376high\n' > "$WORKDIR/special"
check "CR, NUL and high bytes are ordinary data" echoes_back "$WORKDIR/special"

stop_daemon TERM
check "SIGTERM with no client: exit status 0" test "$DAEMON_STATUS" -eq 0
check "the daemon logged no error" test "$(log_count ' error: ')" -eq 0

finish
