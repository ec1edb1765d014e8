#!/bin/sh
# SIGUSR2 hands every listener and connection to the program executed
# again in place.  500 clients in every state a connection can be in (idle,
# a partial line, a non-reader owed echo, a balancer half through its
# PROXY header, a partial line near its line_timeout, a half-closed client
# owed echo) live through it with the binary replaced on disk; then a
# worker count changed across it, and a socket passed by the service
# manager that never refuses a client meanwhile.
# shellcheck disable=SC2317 # helpers are called through check and wait_until
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

# Timers are seconds apart, so that a schedule restarted by the hand-over
# shows; under a wrapper such as valgrind, or a sanitizer build, setting
# up 500 clients and reading the non-readers' echo take longer, and the
# non-readers' partial lines must not time out meanwhile.
if [ -n "$PINGPONGD_WRAPPER" ] || [ "${PINGPONGD_SANITIZERS:-no}" = yes ]; then
	LINE_TIMEOUT=20
else
	LINE_TIMEOUT=6
fi

# The daemon runs from a copy of its own, which the test replaces.
mkdir "$WORKDIR/bin"
cp "$PINGPONGD" "$WORKDIR/bin/pingpongd"
PROGRAM=$WORKDIR/bin/pingpongd
PINGPONGD=$PROGRAM

# replace_program: a fresh copy moved over the program, a new inode, as
# make install or a package upgrade leaves it.
replace_program() {
	cp "$PROGRAM" "$PROGRAM.new" && mv "$PROGRAM.new" "$PROGRAM"
}

# fd_kinds: what the daemon's descriptors are, one per line, sorted:
# socket:[inode], anon_inode:[eventpoll], ... (one process: 500 fds).
# valgrind keeps its own descriptors just under the hard limit, and they
# go with it at the exec (the new image runs natively): those are not the
# daemon's.
fd_kinds() {
	_top=$(awk '/^Max open files/ { print $5 }' "/proc/$DAEMON_PID/limits")
	find "/proc/$DAEMON_PID/fd/" -mindepth 1 -printf '%f %l\n' |
	    awk -v top="${_top:-0}" -v wrapped="${PINGPONGD_WRAPPER:+1}" \
	    '!wrapped || top == 0 || $1 < top - 64 { print $2 }' | sort
}

# The clients' side: the Python program at the end of this file, driven
# over a pair of pipes.
sed -n '/^#CLIENTS$/,$p' "$0" | sed 1d > "$WORKDIR/clients.py"

# relay: the clients' PASS and FAIL lines as TAP, until the line $1.
relay() {
	while IFS= read -r _line <&"$CLIENTS_OUT"; do
		case $_line in
		"$1") return 0 ;;
		"PASS "*) pass "${_line#PASS }" ;;
		"FAIL "*) fail "${_line#FAIL }" ;;
		*) diag "$_line" ;;
		esac
	done
	fail "the clients ended before $1"
	return 1
}

# has TEXT PATTERN: TEXT matches the basic regular expression PATTERN.
has() { printf '%s\n' "$1" | grep -q -- "$2"; }

# log_count_is N PATTERN: N lines of the log match, counted at each call.
log_count_is() { [ "$(log_count "$2")" -eq "$1" ]; }
log_count_at_least() { [ "$(log_count "$2")" -ge "$1" ]; }

# the_log: the daemon's log less its debug lines, for diagnosis.
the_log() { grep -v ' debug: ' "$DAEMON_LOG" | sed 's/^/#   /'; }

# statistics: SIGUSR1's line, the Nth of the log.
statistics() {
	kill -USR1 "$DAEMON_PID"
	wait_until log_count_at_least "$1" 'statistics:' || return 1
	grep 'statistics:' "$DAEMON_LOG" | sed -n "${1}p"
}

# stats_say TEXT: SIGUSR1's next line, in $stats, contains TEXT.  The
# clients open their last connections just before READY: a daemon under
# valgrind may still be taking them from the listen queue.
nstats=0
stats_say() {
	nstats=$((nstats + 1))
	stats=$(statistics "$nstats") && has "$stats" "$1"
}

cfg=$(ini main server.listen=127.0.0.1:0 server.workers=1 \
    connection.max_per_ip=5 server.proxy_protocol=on server.proxy_from=127.0.0.2 \
    connection.line_timeout="${LINE_TIMEOUT}s" daemon.log_level=debug)
start_daemon "$cfg" || { fail "daemon starts"; finish; }
pid_before=$DAEMON_PID

mkfifo "$WORKDIR/to_clients" "$WORKDIR/from_clients"
python3 "$WORKDIR/clients.py" "$PORT" "$LINE_TIMEOUT" \
    < "$WORKDIR/to_clients" > "$WORKDIR/from_clients" &
CLIENTS_PID=$!
track "$CLIENTS_PID"
exec 7> "$WORKDIR/to_clients" 8< "$WORKDIR/from_clients"
CLIENTS_OUT=8

# The program is replaced before the balancer's connections open: their
# PROXY headers have 5 s in all, and under valgrind every step counts.
replace_program
new_inode=$(stat -c %i "$PROGRAM")
relay READY
check "500 connections open before the hand-over" \
    wait_until stats_say ': 500 connection(s) open'

held=$(echo "$stats" | sed -n 's/.* \([0-9][0-9]*\) bytes held in.*/\1/p')
diag "held by the daemon: $held bytes"
check "... the daemon holds echo and partial lines ($held bytes)" \
    test "${held:-0}" -gt 0
fds_before=$(fd_kinds)

kill -USR2 "$DAEMON_PID"
check "SIGUSR2: the new image serves the 500 connections" \
    wait_until log_has 'hand-over: serving 500 connection(s) taken over'
log_has 'hand-over: serving 500 connection(s)' || the_log
paused=$(sed -n 's/.*service paused for \([0-9.]*\) ms.*/\1/p' "$DAEMON_LOG")
diag "service paused for $paused ms"
check "... the same process (PID $pid_before)" alive "$pid_before"
exe=$(readlink "/proc/$DAEMON_PID/exe")
if [ -n "$PINGPONGD_WRAPPER" ]; then
	# The wrapper stays with the first image: the new one runs natively.
	diag "under $PINGPONGD_WRAPPER the program's image is: $exe"
fi
check "... /proc/PID/exe is the new file, not one deleted ($exe)" \
    test "$exe" = "$PROGRAM"
check "... the very file on disk now (inode $new_inode)" \
    test "$(stat -L -c %i "/proc/$DAEMON_PID/exe")" = "$new_inode"
fds_after=$(fd_kinds)
check "... the same descriptors, the same sockets: none leaked or lost" \
    test "$fds_before" = "$fds_after"
if [ "$fds_before" != "$fds_after" ]; then
	diag "before and after:"
	echo "$fds_before" > "$WORKDIR/fds.before"
	echo "$fds_after" > "$WORKDIR/fds.after"
	diff "$WORKDIR/fds.before" "$WORKDIR/fds.after" | sed 's/^/#   /'
fi

echo GO >&7
relay DONE
wait_exit "$CLIENTS_PID"
check "... the clients' program ends cleanly" test "$WAIT_STATUS" -eq 0
exec 7>&- 8<&-

nstats=$((nstats + 1))
stats=$(statistics "$nstats")
served=$(echo "$stats" | sed -n 's/.* open, \([0-9][0-9]*\) served.*/\1/p')
check "the counters go on from before the hand-over (${served:-?} served)" \
    test "${served:-0}" -ge 500
check "... line_timeout's closes counted: 40" \
    has "$stats" 'closed: .*line_timeout 40'

check "... the balancer's client, not the balancer, counted" \
    test "$(log_count 'PROXY v1 header, client 192\.0\.2\.1:4000')" -eq 1
check "... no hand-over line says a connection was left out" \
    test "$(log_count 'left out')" -eq 0
stop_daemon TERM
check "SIGTERM after the hand-over: exit status 0" test "$DAEMON_STATUS" -eq 0

# ---------------------------------------------------------------------
# Two workers become one, and one becomes two, on the configuration as it
# reads at the hand-over; port 0 keeps the port it had.
# spread_over_workers: new clients on the old port reach both workers.
spread_over_workers() {
	_mark=$(($(wc -l < "$DAEMON_LOG") + 1))
	for _i in 1 2 3 4 5 6 7 8; do
		echoes_back "$WORKDIR/new" "$port_before" || return 1
	done
	tail -n +"$_mark" "$DAEMON_LOG" | grep -q 'worker 1: connection .* from' &&
	    tail -n +"$_mark" "$DAEMON_LOG" | grep -q 'worker 2: connection .* from'
}

cfg=$(ini workers server.listen=127.0.0.1:0 server.workers=2 \
    daemon.log_level=debug)
start_daemon "$cfg" || { fail "daemon starts with 2 workers"; finish; }
port_before=$PORT
for i in 1 2 3 4 5 6; do
	open_client "w$i"
	send "w$i" 'worker line %d, ' "$i"
done
wait_until log_has 'connection 6 '
ini workers server.listen=127.0.0.1:0 server.workers=1 \
    daemon.log_level=debug > /dev/null
kill -USR2 "$DAEMON_PID"
check "2 workers to 1: the new image serves 6 connections" \
    wait_until log_has 'hand-over: serving 6 connection(s) taken over'
check "... with 1 worker" \
    test "$(log_count 'running .* with 1 worker:')" -eq 1
check "... on the port it had ($port_before)" \
    wait_until log_has "listening on 127.0.0.1:$port_before (token [0-9]*, the owner's)"
for i in 1 2 3 4 5 6; do send "w$i" 'then the rest %d\n' "$i"; done
ok=yes
for i in 1 2 3 4 5 6; do wait_echoed "w$i" || ok=no; done
check "... every connection completes its line byte-exact" test $ok = yes
printf 'a new client\n' > "$WORKDIR/new"
check "... a new client is echoed" echoes_back "$WORKDIR/new" "$port_before"

ini workers server.listen=127.0.0.1:0 server.workers=2 \
    daemon.log_level=debug > /dev/null
for i in 1 2 3 4 5 6; do send "w$i" 'worker line %d, ' "$i"; done
kill -USR2 "$DAEMON_PID"
check "1 worker to 2: the new image serves 6 connections" \
    wait_until log_count_is 2 'hand-over: serving 6 connection(s)'
for i in 1 2 3 4 5 6; do send "w$i" 'then the rest %d\n' "$i"; done
ok=yes
for i in 1 2 3 4 5 6; do wait_echoed "w$i" || ok=no; done
check "... every connection completes its line again" test $ok = yes
check "... both workers take new clients on the port it had" \
    wait_until spread_over_workers
for i in 1 2 3 4 5 6; do close_client "w$i"; done
stop_daemon TERM
check "exit status 0" test "$DAEMON_STATUS" -eq 0

# ---------------------------------------------------------------------
# Under the service manager: the socket it passed goes on accepting through
# the hand-over, never refusing a client, and the manager hears
# RELOADING=1, then READY=1 from the same process.
if [ "${PINGPONGD_SYSTEMD:-yes}" = yes ]; then
	NOTES=$WORKDIR/notes
	notes_at_least() { [ "$(grep -c -- "$2" "$NOTES")" -ge "$1" ]; }
	"${abs_top_builddir:-.}/tests/tools/notify_listener" \
	    "$WORKDIR/notify.sock" 60 > "$NOTES" &
	LISTENER_PID=$!
	track "$LISTENER_PID"
	wait_until grep -q LISTENING "$NOTES"
	cfg=$(ini activated server.listen=127.0.0.1:0)
	# systemd-socket-activate binds the port; one taken already makes it
	# fail, and another is tried.
	activate() {
		DAEMON_LOG=$WORKDIR/activated.log
		: > "$DAEMON_LOG"
		PORT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000 ))
		# shellcheck disable=SC2086 # the wrapper is a command line
		systemd-socket-activate -E NOTIFY_SOCKET="$WORKDIR/notify.sock" \
		    -l "127.0.0.1:$PORT" $PINGPONGD_WRAPPER "$PROGRAM" -c "$cfg" \
		    2> "$DAEMON_LOG" &
		DAEMON_PID=$!
		track "$DAEMON_PID"
		wait_until grep -q "Listening on 127.0.0.1:$PORT" "$DAEMON_LOG" &&
		    return 0
		stop_pid "$DAEMON_PID" KILL
		return 1
	}
	tries=0
	until activate || [ $tries -ge 20 ]; do tries=$((tries + 1)); done
	# The first client starts the daemon in systemd-socket-activate's place.
	open_client act
	send act 'held across, '
	check "socket activation: the daemon serves the passed socket" \
	    wait_until log_has 'passed by the service manager'
	wait_until grep -q '^READY=1' "$NOTES"

	cat > "$WORKDIR/loop.py" <<'PY'
# Connect, echo a line, close, again and again until the file $2 exists
# (bounded: 60 s); then print what became of every attempt.  $3 is made
# after 20 rounds.
import os, socket, sys, time
port, stop, going = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ok = refused = other = 0
end = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < end:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"ping %d\n" % ok)
            want, got = b"ping %d\n" % ok, b""
            while len(got) < len(want):
                b = s.recv(64)
                if not b:
                    break
                got += b
            if got == want:
                ok += 1
                if ok == 20:
                    open(going, "w").close()
            else:
                other += 1
    except ConnectionRefusedError:
        refused += 1
    except OSError as e:
        other += 1
        print("error:", e, flush=True)
print("echoed %d refused %d other %d" % (ok, refused, other), flush=True)
PY
	python3 "$WORKDIR/loop.py" "$PORT" "$WORKDIR/loop.stop" "$WORKDIR/loop.going" \
	    > "$WORKDIR/loop.out" 2>&1 &
	LOOP_PID=$!
	track "$LOOP_PID"
	# Some rounds before the hand-over, and some after.
	wait_until test -e "$WORKDIR/loop.going"
	kill -USR2 "$DAEMON_PID"
	check "socket activation: the hand-over keeps the passed socket" \
	    wait_until log_has 'hand-over: serving [12] connection(s) taken over'
	check "... and says it is the service manager's" \
	    wait_until log_has 'listening on 127.0.0.1:'"$PORT"' (token 0, passed by the service manager)'
	printf 'after\n' > "$WORKDIR/after"
	for i in 1 2 3 4 5; do echoes_back "$WORKDIR/after" "$PORT"; done
	touch "$WORKDIR/loop.stop"
	wait_exit "$LOOP_PID"
	result=$(cat "$WORKDIR/loop.out")
	diag "a client connecting in a loop through it: $result"
	check "... a client connecting in a loop meanwhile: never refused" \
	    has "$result" 'echoed [1-9][0-9]* refused 0 other 0$'
	send act 'the rest\n'
	check "... the held connection completes its line" wait_echoed act
	close_client act
	check "... RELOADING=1 with MONOTONIC_USEC= before the exec" \
	    grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9][0-9]*$' "$NOTES"
	check "... then READY=1 from the new image" \
	    wait_until notes_at_least 2 '^READY=1'
	check "... the same PID all along" alive "$DAEMON_PID"
	check "... no STOPPING=1 meanwhile" test "$(grep -c '^STOPPING' "$NOTES")" -eq 0
	stop_daemon TERM
	check "... SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0
	stop_pid "$LISTENER_PID"
fi

finish
#CLIENTS
# Clients in every state across a hand-over.
# usage: clients.py PORT LINE_TIMEOUT_S; prints READY, waits for GO on
# stdin, then prints PASS/FAIL lines, one per check, and DONE.
import errno, os, socket, sys, threading, time

PORT = int(sys.argv[1])
LINE_TIMEOUT = float(sys.argv[2])
SLACK = float(sys.argv[3]) if len(sys.argv) > 3 else 1.5
N_IDLE, N_PARTIAL, N_NONREADER, N_HALF, N_PROXY, N_TIMER = 220, 200, 10, 10, 20, 40
PER_SOURCE = 5                  # the daemon's max_per_ip
FILL_CAP = 8 << 20              # most bytes one non-reader sends
results = []

def report(ok, desc):
    print(("PASS " if ok else "FAIL ") + desc, flush=True)

sources = iter("127.0.1.%d" % (i // PER_SOURCE + 1) for i in range(10000))

def connect(src=None, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((src or next(sources), 0))
    s.settimeout(20)
    s.connect(("127.0.0.1", PORT))
    return s

def read_exact(s, n):
    got = bytearray()
    while len(got) < n:
        b = s.recv(min(1 << 20, n - len(got)))
        if not b:
            break
        got += b
    return bytes(got)

def read_to_eof(s):
    got = bytearray()
    while True:
        b = s.recv(1 << 20)
        if not b:
            return bytes(got)
        got += b

def fill(socks, tags):
    """Send lines on every socket, never reading, until the daemon has
    stopped taking them on all: 0.3 s without progress, or FILL_CAP each."""
    sent = [bytearray() for _ in socks]
    rest = [b"" for _ in socks]
    seq = [0 for _ in socks]
    for s in socks:
        s.setblocking(False)
    last_progress = time.monotonic()
    while time.monotonic() - last_progress < 0.3:
        moved = False
        for i, s in enumerate(socks):
            if len(sent[i]) >= FILL_CAP and not rest[i]:
                continue
            if not rest[i]:
                rest[i] = b"".join(b"%s:%07d %s\n" % (tags[i], seq[i] + k,
                                   b"x" * 40) for k in range(1000))
                seq[i] += 1000
            try:
                n = s.send(rest[i])
            except BlockingIOError:
                n = 0
            if n > 0:
                sent[i] += rest[i][:n]
                rest[i] = rest[i][n:]
                moved = True
        if moved:
            last_progress = time.monotonic()
        else:
            time.sleep(0.01)
    for s in socks:
        s.setblocking(True)
        s.settimeout(30)
    return [bytes(x) for x in sent]

def small(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    return s

# First the non-readers, slow to fill: no line_timeout runs on them, since
# every line they send is whole.
nonreaders = [small(connect(rcvbuf=4096)) for i in range(N_NONREADER)]
halfs = [small(connect(rcvbuf=4096)) for i in range(N_HALF)]
sent = fill(nonreaders + halfs, [b"nr%d" % i for i in range(N_NONREADER)] +
            [b"hc%d" % i for i in range(N_HALF)])
nonreader_sent, half_sent = sent[:N_NONREADER], sent[N_NONREADER:]
for s in halfs:
    s.shutdown(socket.SHUT_WR)
report(min(map(len, sent)) > 0,
       "non-readers sent %d..%d bytes each before the daemon stopped taking them"
       % (min(map(len, sent)), max(map(len, sent))))

t0 = time.monotonic()
# Oldest first: the partial lines that line_timeout will end.
timers = [connect() for _ in range(N_TIMER)]
for i, s in enumerate(timers):
    s.sendall(b"slow-%d-" % i)
timer_start = time.monotonic()

idle = [connect() for _ in range(N_IDLE)]
ok = True
for i, s in enumerate(idle):
    s.sendall(b"hello %d\n" % i)
for i, s in enumerate(idle):
    ok = ok and read_exact(s, len(b"hello %d\n" % i)) == b"hello %d\n" % i
report(ok, "%d idle clients echoed before the hand-over" % N_IDLE)

partial = [connect() for _ in range(N_PARTIAL)]
for i, s in enumerate(partial):
    s.sendall(b"part-%d-" % i)

headers = [b"PROXY TCP4 192.0.2.%d 127.0.0.1 4000 80\r\n" % (i + 1)
           for i in range(N_PROXY)]
# Old enough that a timer started again at the hand-over would be seen late.
while time.monotonic() - timer_start < LINE_TIMEOUT / 2:
    time.sleep(0.05)

# The balancer's connections last: their header has 5 s, whatever
# LINE_TIMEOUT is.
proxies = [connect(src="127.0.0.2") for _ in range(N_PROXY)]
for s, h in zip(proxies, headers):
    s.sendall(h[:len(h) // 2])
print("READY", flush=True)
if sys.stdin.readline().strip() != "GO":
    sys.exit(1)
handover_at = time.monotonic()

# line_timeout's connections: the time each ends, watched meanwhile.
timer_ends = [None] * N_TIMER
def watch(i, s):
    # line_timeout echoes the partial line, then closes.
    s.settimeout(LINE_TIMEOUT * 3)
    got = bytearray()
    try:
        while True:
            b = s.recv(100)
            if not b:
                break
            got += b
    except OSError as e:
        got = repr(e).encode()
    timer_ends[i] = (time.monotonic(), bytes(got))
watchers = [threading.Thread(target=watch, args=(i, s)) for i, s in enumerate(timers)]
for w in watchers:
    w.start()

ok = True
for s, h in zip(proxies, headers):
    s.sendall(h[len(h) // 2:])
for i, s in enumerate(proxies):
    s.sendall(b"via balancer %d\n" % i)
for i, s in enumerate(proxies):
    ok = ok and read_exact(s, len(b"via balancer %d\n" % i)) == b"via balancer %d\n" % i
report(ok, "%d balancer connections finish their PROXY header and echo" % N_PROXY)

ok = True
for i, s in enumerate(partial):
    s.sendall(b"rest\n")
for i, s in enumerate(partial):
    want = b"part-%d-rest\n" % i
    ok = ok and read_exact(s, len(want)) == want
report(ok, "%d partial lines complete byte-exact" % N_PARTIAL)

ok = True
for i, s in enumerate(idle):
    s.sendall(b"again %d\n" % i)
for i, s in enumerate(idle):
    want = b"again %d\n" % i
    ok = ok and read_exact(s, len(want)) == want
report(ok, "%d idle clients echoed after it" % N_IDLE)

ok = True
for s, sent in zip(nonreaders, nonreader_sent):
    # The fill may have stopped mid-line: that part is held until a newline.
    whole = sent.rfind(b"\n") + 1
    ok = ok and read_exact(s, whole) == sent[:whole]
    s.sendall(b"\n")
    ok = ok and read_exact(s, len(sent) - whole + 1) == sent[whole:] + b"\n"
report(ok, "%d non-readers read their whole echo, byte-exact" % N_NONREADER)

ok = True
for s, sent in zip(halfs, half_sent):
    ok = ok and read_to_eof(s) == sent
report(ok, "%d half-closed clients get their whole echo, then the end" % N_HALF)

# max_per_ip: every source is full, counts carried across.
s = connect(src="127.0.1.1")
try:
    s.sendall(b"sixth\n")
    refused = read_to_eof(s) == b""
except OSError:
    refused = True
report(refused, "a sixth connection from a full source is refused (max_per_ip 5 carried)")
s.close()
# A balancer's client counts as itself: four more as 192.0.2.1 fit, the fifth not.
extra = []
for k in range(PER_SOURCE):
    p = connect(src="127.0.0.2")
    p.sendall(b"PROXY TCP4 192.0.2.1 127.0.0.1 4001 80\r\nextra %d\n" % k)
    extra.append(p)
answers = []
for k, p in enumerate(extra):
    try:
        answers.append(read_exact(p, len(b"extra %d\n" % k)))
    except OSError:
        answers.append(b"")
# The daemon takes the five in whatever order its loop sees them.
report(sorted(answers) == [b""] + sorted(b"extra %d\n" % k for k in range(PER_SOURCE)
                                       if answers[k] != b""),
       "192.0.2.1 counts its handed connection: 4 more fit, a 5th is refused "
       "(%s)" % " ".join(str(len(a)) for a in answers))

for w in watchers:
    w.join()
deadline = timer_start + LINE_TIMEOUT
ends = [e[0] - deadline for e in timer_ends if e is not None]
closed = all(e is not None and e[1] == b"slow-%d-" % i
             for i, e in enumerate(timer_ends))
if not closed:
    print("timer ends: %r" % [e[1] if e else None for e in timer_ends], flush=True)
report(closed and len(ends) == N_TIMER and min(ends) > -0.5 and max(ends) < SLACK,
       "%d partial lines from before end at line_timeout on their first schedule: "
       "%.2f..%.2f s from it; the hand-over was %.2f s before it"
       % (N_TIMER, min(ends) if ends else -1, max(ends) if ends else -1,
          deadline - handover_at))
for s in idle + partial + nonreaders + halfs + proxies + extra + timers:
    s.close()
print("DONE", flush=True)
