#!/bin/sh
# Hostile clients of the metrics port, one kind after another against one
# daemon: slow requests holding every HTTP slot, a 1 MiB header, a
# pipelined flood that never reads its answers, 1,000 connections at once;
# then the other way round, the echo service full.  Through each the echo
# clients are served, and after each the metrics port answers again.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

PINGPONG=${abs_top_builddir:-.}/pingpong
MAX_HTTP=4              # [metrics] max_connections
MAX_ECHO=5              # [server] max_connections
FLOOD=5000              # pipelined requests on one connection
MANY=1000               # metrics connections opened at once
RSS_GROWTH_KB=4096      # what the flood may cost the daemon
# The slow clients are cut by the daemon's own clock, while the script
# looks at them in between; under valgrind everything the script does
# takes longer, so the timeout is longer there, and so is each echo's wait.
if [ -n "$PINGPONGD_WRAPPER" ]; then
	TIMEOUT=5 ECHO_WAIT=10 SCRAPE_MAX=10
else
	TIMEOUT=2 ECHO_WAIT=1 SCRAPE_MAX=1
fi

plan 34

cat > "$WORKDIR/hostile.py" <<'PY'
import os, resource, select, socket, sys, time

REQUEST = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
mode, port = sys.argv[1], int(sys.argv[2])


def connect(p, timeout):
    return socket.create_connection(("127.0.0.1", p), timeout=timeout)


def until_released(limit):
    """Wait for standard input to close (the script's release), at most limit s."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        r, _, _ = select.select([sys.stdin], [], [], 0.5)
        if r and not os.read(sys.stdin.fileno(), 4096):
            return


def slow(count, gap, limit):
    # Each socket gets one byte of its request every gap seconds, so that
    # none is ever silent; a line for each once the daemon closes it.
    socks = [connect(port, limit) for _ in range(count)]
    start = time.monotonic()
    sent = {s: 0 for s in socks}
    for s in socks:
        s.setblocking(False)
    print("open", count, flush=True)
    live, tick = list(socks), start
    while live and time.monotonic() - start < limit:
        for s in select.select(live, [], [], 0.05)[0]:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            print("answered" if data else "cut",
                  "%.2f" % (time.monotonic() - start), sent[s], flush=True)
            live.remove(s)
        if time.monotonic() >= tick:
            tick += gap
            for s in live:
                if sent[s] < len(REQUEST):
                    try:
                        sent[s] += s.send(REQUEST[sent[s]:sent[s] + 1])
                    except OSError:
                        pass
    print("held", len(live), flush=True)


def big(echo_port, size, wait):
    # The header goes in 8 KiB pieces, and between two pieces a line goes
    # to the echo service and must come back within wait seconds.
    m, e = connect(port, wait * 4), connect(echo_port, wait)
    request = (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size
               + b"\r\n\r\n")
    off = echoes = 0
    while off < len(request):
        try:
            off += m.send(request[off:off + 8192])
        except OSError:
            break
        line = b"echo %d while the header goes\n" % echoes
        e.sendall(line)
        back = b""
        while len(back) < len(line):
            chunk = e.recv(len(line) - len(back))
            if not chunk:
                break
            back += chunk
        if back != line:
            print("echo lost after", off, "bytes of header")
            return 1
        echoes += 1
    reply, closed = b"", "open"
    try:
        while True:
            chunk = m.recv(65536)
            if not chunk:
                closed = "closed"
                break
            reply += chunk
    except ConnectionResetError:
        closed = "closed"
    except socket.timeout:
        pass
    print(reply.split(b"\r\n")[0].decode(), closed)
    print("sent", off, "echoes", echoes)
    return 0


def flood(count, limit):
    # Sent as fast as the daemon takes it; never a byte read back.
    s = connect(port, limit)
    s.setblocking(False)
    data, off = REQUEST * count, 0
    end = time.monotonic() + limit
    while off < len(data) and time.monotonic() < end:
        if not select.select([], [s], [], 0.5)[1]:
            break
        try:
            off += s.send(data[off:])
        except BlockingIOError:
            pass
        except OSError:
            break
    print("sent", off // len(REQUEST), "of", count, flush=True)
    until_released(120)
    s.close()


def many(count, limit):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    # The kernel queues what the daemon has not accepted yet: the rest
    # keep trying, still held, until they close.
    poll = select.poll()
    for s in socks:
        poll.register(s, select.POLLOUT)
    done, end = set(), time.monotonic() + limit
    while len(done) < count and time.monotonic() < end:
        for fd, _ in poll.poll(100):
            done.add(fd)
            poll.unregister(fd)
    print("open", len(socks), "connected", len(done), flush=True)
    until_released(120)
    for s in socks:
        s.close()


if mode == "slow":
    slow(int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
elif mode == "big":
    sys.exit(big(int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
elif mode == "flood":
    flood(int(sys.argv[3]), float(sys.argv[4]))
elif mode == "many":
    many(int(sys.argv[3]), float(sys.argv[4]))
PY

# hostile NAME MODE ARG...: the helper in the background, its output in
# NAME.out and its standard input a FIFO held open until release NAME.
hostile() {
	_n=$1
	shift
	mkfifo "$WORKDIR/$_n.in"
	: > "$WORKDIR/$_n.out"
	sleep 86400 1<> "$WORKDIR/$_n.in" &
	echo $! > "$WORKDIR/$_n.holder"
	track $!
	python3 "$WORKDIR/hostile.py" "$@" < "$WORKDIR/$_n.in" \
	    > "$WORKDIR/$_n.out" 2> "$WORKDIR/$_n.err" &
	echo $! > "$WORKDIR/$_n.pid"
	track $!
}
out_has_line() { grep -q "$2" "$WORKDIR/$1.out"; }

metrics_port() {
	sed -n 's/.*metrics: serving \/metrics on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
	    "$DAEMON_LOG" | tail -n 1
}
# scrape NAME: one GET /metrics answered 200 within WAIT_SECONDS; the body
# in NAME.body, the seconds it took in NAME.time.
scrape() {
	_code=$(curl -s -m "$WAIT_SECONDS" -o "$WORKDIR/$1.body" \
	    -w '%{http_code} %{time_total}' "$URL")
	echo "${_code#* }" > "$WORKDIR/$1.time"
	[ "${_code%% *}" = 200 ]
}
quick() { awk -v t="$(cat "$WORKDIR/$1.time")" -v m="$SCRAPE_MAX" 'BEGIN { exit !(t < m) }'; }
# sum NAME METRIC: the sum of METRIC's samples in NAME.body.
sum() {
	awk -v m="$2" 'index($1, m "{") == 1 || $1 == m { s += $2 } END { print s + 0 }' \
	    "$WORKDIR/$1.body"
}
# echoes: a new echo client sends 5 lines and gets each back intact
# within ECHO_WAIT seconds.
echoes() {
	"$PINGPONG" -q -c 5 -i 0.01 -W "$ECHO_WAIT" "127.0.0.1:$PORT" \
	    >> "$WORKDIR/pingpong.out" 2>&1
}
echoes_thrice() { echoes && echoes && echoes; }
# metrics_held N: the daemon holds N descriptors more than at the start:
# N accepted HTTP clients while nothing else is connected.
metrics_held() { [ "$(fd_count)" -eq $((base_fds + $1)) ]; }
# queued N: N connections wait in the metrics port's listen queue.
queued() {
	[ "$(ss -tlnH "( sport = :$MPORT )" | awk '{ print $2 }')" = "$1" ]
}

# One worker: with more, each has its own share of max_connections, and
# which one a client lands on is the kernel's choice.
cfg=$(ini mhostile server.listen=127.0.0.1:0 "server.max_connections=$MAX_ECHO" \
    metrics.listen=127.0.0.1:0 \
    "metrics.max_connections=$MAX_HTTP" "metrics.timeout=${TIMEOUT}s" \
    daemon.log_level=debug)
check "daemon starts: metrics.max_connections $MAX_HTTP, timeout ${TIMEOUT}s" \
    start_daemon "$cfg"
MPORT=$(metrics_port)
URL=http://127.0.0.1:$MPORT/metrics
diag "echo on port $PORT, metrics on port $MPORT"
# Before any client: a scrape's connection may not be closed yet after it.
base_fds=$(fd_count)
check "a first scrape: 200" scrape first

# 1. Slowloris: as many slow clients as there are HTTP slots, each sending
# its request a byte every 0.25s, too slowly to finish within the timeout.
hostile slow slow "$MPORT" "$MAX_HTTP" 0.25 $((TIMEOUT + WAIT_SECONDS))
slow=$(cat "$WORKDIR/slow.pid")
check "slowloris: $MAX_HTTP slow clients hold every metrics connection" \
    wait_until metrics_held "$MAX_HTTP"
curl -s -m "$WAIT_SECONDS" -o /dev/null -w '%{http_code}\n' "$URL" \
    > "$WORKDIR/waiting.out" &
waiting=$!
track $waiting
check "... a scrape meanwhile waits in the listen queue: past the limit" \
    wait_until queued 1
check "... the echo meanwhile: 3 clients, 5 round trips each, each in time" \
    echoes_thrice
unanswered_while_held() {
	alive "$waiting" && [ ! -s "$WORKDIR/waiting.out" ] &&
	    ! out_has_line slow '^cut\|^answered'
}
check "... the scrape is still unanswered while they hold" unanswered_while_held
# Each "cut SECONDS BYTES" line: closed by the daemon with no answer,
# SECONDS after connecting.
all_cut_in_time() {
	wait_exit "$slow" &&
	    [ "$(grep -c '^cut' "$WORKDIR/slow.out")" -eq "$MAX_HTTP" ] &&
	    awk -v t="$TIMEOUT" '/^cut/ && $2 < t - 0.1 { e = 1 } END { exit e }' \
	    "$WORKDIR/slow.out"
}
check "... the daemon cuts every slow client after ${TIMEOUT}s, none answered" \
    all_cut_in_time
sed 's/^/# slow: /' "$WORKDIR/slow.out"
# The log is written by its own thread: it may trail what clients saw.
logged_cuts() {
	[ "$(log_count "took over ${TIMEOUT}s to send its request")" -ge "$MAX_HTTP" ]
}
check "... and logs why" wait_until logged_cuts
waiting_answered() {
	wait_exit "$waiting" && [ "$(cat "$WORKDIR/waiting.out")" = 200 ]
}
check "... then the waiting scrape is answered: 200" waiting_answered
check "... and a new one" scrape after_slow
release slow

# 2. A 1 MiB header, a line echoed between every two 8 KiB pieces of it.
python3 "$WORKDIR/hostile.py" big "$MPORT" "$PORT" 1048576 "$ECHO_WAIT" \
    > "$WORKDIR/big.out" 2>&1
big_status=$?
sed 's/^/# big: /' "$WORKDIR/big.out"
check "a 1 MiB header: 431 and the connection closed" \
    test "$(head -n 1 "$WORKDIR/big.out")" = \
    "HTTP/1.1 431 Request Header Fields Too Large closed"
echoed_between() {
	[ "$big_status" -eq 0 ] &&
	    [ "$(sed -n 's/^sent .* echoes \([0-9]*\)$/\1/p' "$WORKDIR/big.out")" -ge 2 ]
}
check "... every line echoed in time while the header went" echoed_between
check "... the port answers again" scrape after_big

# 3. One connection, thousands of pipelined requests, no answer read.
base_rss=$(rss_kb)
hostile flood flood "$MPORT" "$FLOOD" "$WAIT_SECONDS"
flood_sent() {
	wait_until out_has_line flood '^sent' &&
	    out_has_line flood "^sent $FLOOD of $FLOOD\$"
}
check "a pipelined flood: $FLOOD requests sent on one connection" flood_sent
# The daemon's answers pile up in a queue nobody reads: its side of the
# connection has more than 64 KiB unsent (ss column 2).
backed_up() {
	ss -tnH state established "( sport = :$MPORT )" |
	    awk '$2 > 65536 { f = 1 } END { exit !f }'
}
check "... the daemon's answers back up, unread" wait_until backed_up
diag "bytes of answers the flood left unread: $(ss -tnH state established \
    "( sport = :$MPORT )" | awk '{ print $2 }' | sort -n | tail -n 1)"
rss_flood=$(rss_kb)
check "... the echo goes on meanwhile" echoes_thrice
check "... and another client is answered meanwhile" scrape during_flood
release flood
check "... closed, the port answers again" scrape after_flood
rss_after=$(rss_kb)
diag "VmRSS: $base_rss KiB before the flood, $rss_flood during, $rss_after after"
if [ -z "$PINGPONGD_WRAPPER" ] && [ "${PINGPONGD_SANITIZERS:-no}" != yes ]; then
	check "... VmRSS during and after within $((RSS_GROWTH_KB / 1024)) MiB of before" \
	    test "$rss_flood" -lt $((base_rss + RSS_GROWTH_KB)) -a \
	    "$rss_after" -lt $((base_rss + RSS_GROWTH_KB))
else
	skip "VmRSS through the flood: RSS is not the daemon's own here"
fi

# 4. 1,000 metrics connections at once, held while echo clients take
# every echo slot.  The kernel completes as many as the listen queue
# holds; the others keep trying, and all are held until release.
hostile many many "$MPORT" "$MANY" 2
check "$MANY connections to the metrics port at once, held" \
    wait_until out_has_line many "^open $MANY "
diag "many: $(cat "$WORKDIR/many.out")"
check "... the daemon takes $MAX_HTTP of them" wait_until metrics_held "$MAX_HTTP"
# The names are not _c: open_client and send use that one.
all_echo() {
	for _e in "$@"; do
		open_client "$_e" && send "$_e" 'line 1 from %s\n' "$_e" || return 1
	done
	all_echoed "$@"
}
all_echoed() {
	for _e in "$@"; do wait_echoed "$_e" || return 1; done
}
check "... $MAX_ECHO echo clients, every echo slot, all connect and echo" \
    all_echo e1 e2 e3 e4 e5
for _e in e1 e2 e3 e4 e5; do send "$_e" 'line 2 from %s\n' "$_e"; done
check "... and echo again" all_echoed e1 e2 e3 e4 e5
check "... and leave with all their echo" closes_clean e1 e2 e3 e4 e5
release many
check "closed, the metrics port answers again" scrape after_many
check "... and the echo service refused none: no slot of its was taken" \
    test "$(sum after_many pingpongd_connections_refused_total)" -eq 0
fds_back() { [ "$(fd_count)" -eq "$base_fds" ]; }
check "... every descriptor is free again ($base_fds)" wait_until fds_back

# 5. The other way round: echo clients take every slot and more wait to
# be turned away; scrapes are answered all along.
check "echo clients fill max_connections: $MAX_ECHO held, 45 more turned away" \
    hold_clients fill 50 0 1
told_sum() {
	sed -n "s/.*max_connections ($MAX_ECHO) reached: closed \([0-9]*\) new.*/\1/p" \
	    "$DAEMON_LOG" | awk '{ s += $1 } END { print s + 0 }'
}
refusals_told() { [ "$(told_sum)" -eq 45 ]; }
check "... the daemon tells of the 45 it turned away" wait_until refusals_told
full_figures() {
	scrape full &&
	    [ "$(sum full pingpongd_connections_open)" -eq "$MAX_ECHO" ] &&
	    [ "$(sum full pingpongd_connections_refused_total)" -eq 45 ]
}
check "... a scrape meanwhile shows them: $MAX_ECHO open, 45 refused" full_figures
scrapes_quick() {
	for _i in 1 2 3 4 5; do scrape "full$_i" && quick "full$_i" || return 1; done
}
check "... 5 scrapes in a row, each answered within ${SCRAPE_MAX}s" scrapes_quick
release fill
check "... released, the echo comes back" echoes

check "every descriptor is free again ($base_fds)" wait_until fds_back
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0
finish
