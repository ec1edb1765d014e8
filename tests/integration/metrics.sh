#!/bin/sh
# [metrics] listen: GET and HEAD /metrics in the Prometheus text format,
# from two workers, on TCP and a Unix socket; 404, 405, 400 and 431;
# keep-alive; a silent or slow client timed out; reload adding and
# dropping endpoints; and figures equal to what was sent.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 30

# metrics_port: the port of the last TCP endpoint the log announced.
metrics_port() {
	sed -n 's/.*metrics: serving \/metrics on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
	    "$DAEMON_LOG" | tail -n 1
}
# get NAME ARGS...: curl, the headers in NAME.head, the body in NAME.body.
get() {
	_n=$1
	shift
	curl -s -S -m "$WAIT_SECONDS" -D "$WORKDIR/$_n.head" \
	    -o "$WORKDIR/$_n.body" "$@"
}
status_is() { head -n 1 "$WORKDIR/$1.head" | grep -q "^HTTP/1\.1 $2 "; }
header_is() { grep -qi "^$2: $3"$'\r'"\$" "$WORKDIR/$1.head"; }
# value NAME SAMPLE: the value of the sample line SAMPLE (labels included).
value() { awk -v s="$2" '$1 == s { print $2 }' "$WORKDIR/$1.body"; }
# sum NAME METRIC: the sum of METRIC over its samples (every worker).
sum() {
	awk -v m="$2" 'index($1, m "{") == 1 || $1 == m { s += $2 } END { print s + 0 }' \
	    "$WORKDIR/$1.body"
}

cfg=$(ini metrics server.listen=127.0.0.1:0 server.workers=2 \
    metrics.listen=127.0.0.1:0 "metrics.listen=unix:$WORKDIR/metrics.sock" \
    metrics.timeout=1s metrics.max_connections=8)
check "daemon starts with two metrics endpoints and two workers" \
    start_daemon "$cfg"
MPORT=$(metrics_port)
URL=http://127.0.0.1:$MPORT/metrics
diag "metrics on port $MPORT"

check "GET /metrics: 200" eval 'get get "$URL" && status_is get 200'
check "... Content-Type: text/plain; version=0.0.4; charset=utf-8" \
    header_is get Content-Type "text/plain; version=0.0.4; charset=utf-8"
promtool check metrics < "$WORKDIR/get.body" > "$WORKDIR/promtool.out" 2>&1
sed 's/^/# /' "$WORKDIR/promtool.out"
check "promtool check metrics prints nothing" test ! -s "$WORKDIR/promtool.out"
check "pingpongd_build_info names the version" \
    test "$(value get "pingpongd_build_info{version=\"$("$PINGPONGD" -V | cut -d' ' -f2)\"}")" = 1
check "per-worker figures for worker 1 and 2, none without the label" \
    eval 'value get "pingpongd_connections_open{worker=\"1\"}" | grep -q . &&
    value get "pingpongd_connections_open{worker=\"2\"}" | grep -q . &&
    ! grep -q "^pingpongd_connections_open " "$WORKDIR/get.body"'
check "the standard process metrics" \
    eval 'for m in process_cpu_seconds_total process_resident_memory_bytes \
	process_open_fds process_max_fds process_start_time_seconds; do
	grep -q "^$m [0-9]" "$WORKDIR/get.body" || exit 1; done'

# HEAD: the headers a GET gets, and not one byte of body after them.
cat > "$WORKDIR/head.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
reply = b""
while chunk := s.recv(65536):
    reply += chunk
head, _, body = reply.partition(b"\r\n\r\n")
sys.stdout.write(head.decode() + "\n")
sys.exit(0 if body == b"" else 1)
PY
check "HEAD /metrics: 200, no body" \
    eval 'python3 "$WORKDIR/head.py" "$MPORT" > "$WORKDIR/head.head" &&
    status_is head 200'
check "... the same Content-Type and a Content-Length" \
    eval 'header_is head Content-Type "text/plain; version=0.0.4; charset=utf-8" &&
    grep -qi "^Content-Length: [1-9]" "$WORKDIR/head.head"'
check "GET /other: 404" \
    eval 'get other "http://127.0.0.1:$MPORT/other" && status_is other 404'
check "POST /metrics: 405, Allow: GET, HEAD" \
    eval 'get post -d x "$URL" && status_is post 405 && header_is post Allow "GET, HEAD"'

# Prometheus keeps its connection between scrapes.
curl -s -S -v -m "$WAIT_SECONDS" -o /dev/null -o /dev/null "$URL" "$URL" \
    2> "$WORKDIR/keepalive.err"
check "keep-alive: two scrapes on one connection" \
    grep -q "Re-using existing connection" "$WORKDIR/keepalive.err"
check "the Unix endpoint answers too" \
    eval 'get unix --unix-socket "$WORKDIR/metrics.sock" http://localhost/metrics &&
    status_is unix 200'

# Raw requests, answered and closed; raw.py prints the status line and
# whether the daemon closed the connection after it.
cat > "$WORKDIR/raw.py" <<'PY'
import socket, sys
port, header = int(sys.argv[1]), sys.argv[2].encode()
if len(sys.argv) > 3:
    header += b"a" * int(sys.argv[3])
request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n"
s = socket.create_connection(("127.0.0.1", port), timeout=15)
try:
    s.sendall(request)
except OSError:
    pass
reply = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    closed = "closed"
except (socket.timeout, ConnectionResetError):
    closed = "open" if not reply else "closed"
print(reply.split(b"\r\n")[0].decode(), closed)
PY
raw() { python3 "$WORKDIR/raw.py" "$MPORT" "$@"; }
check "a malformed header line: 400 and the connection closed" \
    test "$(raw 'no colon here')" = "HTTP/1.1 400 Bad Request closed"
raw "X-Big: " 1048576 > "$WORKDIR/big.out"
diag "1 MiB header: $(cat "$WORKDIR/big.out")"
check "a 1 MiB header: 431 and the connection closed" \
    test "$(cat "$WORKDIR/big.out")" = "HTTP/1.1 431 Request Header Fields Too Large closed"

# A silent client, and one sending its request a byte at a time, are cut
# after metrics.timeout (1s) though the second never stops sending.
nc 127.0.0.1 "$MPORT" < /dev/null > /dev/null 2>&1 &
silent=$!
track $silent
check "a silent client is closed by the daemon" wait_exit $silent
cat > "$WORKDIR/slow.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.2)
for i in range(200):
    try:
        s.send(b"G")
        if s.recv(1) == b"":
            print("closed")
            break
    except socket.timeout:
        pass
    except OSError:
        print("closed")
        break
else:
    print("still open after 200 bytes")
PY
check "a client sending a byte every 0.2s is closed too" \
    test "$(timeout "$WAIT_SECONDS" python3 "$WORKDIR/slow.py" "$MPORT")" = closed

# Figures equal to what was sent: 3 clients, 5 lines and 39 bytes.
printf 'one\ntwo\n' > "$WORKDIR/a"
printf 'three\nfour\n' > "$WORKDIR/b"
printf 'five, the last line\n' > "$WORKDIR/c"
for f in a b c; do echoes_back "$WORKDIR/$f"; done
figures() {
	get fig "$URL" &&
	    [ "$(sum fig pingpongd_connections_closed_total)" -eq 3 ]
}
wait_until figures
check "3 connections accepted, 3 closed by their client, none open" \
    eval 'test "$(sum fig pingpongd_connections_accepted_total)" -eq 3 &&
    test "$(awk "/reason=\"client\"/ { s += \$2 } END { print s }" \
	"$WORKDIR/fig.body")" -eq 3 &&
    test "$(sum fig pingpongd_connections_open)" -eq 0'
check "39 bytes received and echoed, 5 lines" \
    eval 'test "$(sum fig pingpongd_received_bytes_total)" -eq 39 &&
    test "$(sum fig pingpongd_echoed_bytes_total)" -eq 39 &&
    test "$(sum fig pingpongd_echoed_lines_total)" -eq 5'
check "the scrapes are not counted as echo connections" \
    test "$(sum fig pingpongd_connections_refused_total)" -eq 0

# A reload adds an endpoint and drops the Unix one.
ini metrics server.listen=127.0.0.1:0 server.workers=2 \
    metrics.listen=127.0.0.1:0 metrics.listen=127.0.0.2:0 \
    metrics.timeout=1s metrics.max_connections=8 > /dev/null
kill -HUP "$DAEMON_PID"
check "SIGHUP: reloaded" wait_until log_has "reloaded"
check "... the new endpoint on 127.0.0.2 serves" \
    eval 'p=$(sed -n "s/.*metrics: serving \/metrics on 127\.0\.0\.2:\([0-9]*\)$/\1/p" \
	"$DAEMON_LOG") && get new "http://127.0.0.2:$p/metrics" && status_is new 200'
check "... the Unix one is gone, and its file" \
    eval 'log_has "metrics: no longer serving on unix:" &&
    test ! -e "$WORKDIR/metrics.sock"'
check "... the first one still serves" eval 'get again "$URL" && status_is again 200'
check "... pingpongd_reloads_total counts it" \
    test "$(value again 'pingpongd_reloads_total{result="success"}')" = 1
check "the echo goes on" echoes_back "$WORKDIR/a"
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

# Mistakes: the metrics endpoint on the echo address; a port taken.
run_status() { "$PINGPONGD" "$@" > /dev/null 2> "$WORKDIR/run.err"; echo $?; }
check "metrics.listen equal to a listen address: 78" \
    test "$(run_status -t -l 127.0.0.1:7 -o metrics.listen=127.0.0.1:7)" -eq 78
check "... and the message says so" \
    grep -q "is also a \[server\] listen address" "$WORKDIR/run.err"
cfg=$(ini holder server.listen=127.0.0.1:0)
start_daemon "$cfg"
check "metrics.listen on a port taken: 71" \
    test "$(run_status -l 127.0.0.1:0 -o "metrics.listen=127.0.0.1:$PORT")" -eq 71
stop_daemon TERM

finish
