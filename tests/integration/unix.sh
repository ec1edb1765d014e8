#!/bin/sh
# Unix-domain listeners: path and abstract sockets from the file, -l and -o,
# with --ready-fd; the socket file's life (its mode from the umask, a live
# socket or a regular file refused and left, stale after kill -9 and then
# replaced, gone at SIGTERM and when a reload drops or rolls back its line);
# max_per_ip, PROXY trust, workers, the drain and socket activation.  Every
# echo is checked byte for byte, from nc -U and from Python clients.  The
# results name the sockets by their files in the work directory (pp.sock)
# and the abstract one as @NAME.
# shellcheck disable=SC2317 # helpers are called through check and wait_until
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 93

SOCK=$WORKDIR/pp.sock
# Abstract names are shared by the whole network namespace: the work
# directory's unique name keeps parallel runs apart.
ABSTRACT=@${WORKDIR##*/}

# spawn NAME ARG...: pingpongd ARG... --ready-fd 3 in the background, under
# the umask UMASK when that is set, its log in $WORKDIR/NAME.log.  Returns
# once the daemon has closed descriptor 3, which it does when it listens or
# when it fails; sets SPAWNED (its PID) and READY, what it wrote there.
spawn() {
	_n=$1
	shift
	mkfifo "$WORKDIR/$_n.ready" || return 1
	# shellcheck disable=SC2086 # the wrapper is a command line
	(
		if [ -n "${UMASK:-}" ]; then umask "$UMASK"; fi
		exec $PINGPONGD_WRAPPER "$PINGPONGD" "$@" --ready-fd 3 \
		    3> "$WORKDIR/$_n.ready" 2> "$WORKDIR/$_n.log"
	) &
	SPAWNED=$!
	track "$SPAWNED"
	# The FIFO's end of file is the daemon's word, with no polling.
	cat "$WORKDIR/$_n.ready" > "$WORKDIR/$_n.addrs" &
	_reader=$!
	track "$_reader"
	wait_exit "$_reader" || return 1
	READY=$(cat "$WORKDIR/$_n.addrs")
}
# launch NAME ARG...: spawn the daemon the script then works with, as
# DAEMON_PID and DAEMON_LOG.
launch() {
	spawn "$@"
	DAEMON_PID=$SPAWNED
	DAEMON_LOG=$WORKDIR/$1.log
}
# serving ADDRESS...: the daemon runs and wrote exactly these addresses.
serving() {
	alive "$DAEMON_PID" || return 1
	_want=$(printf '%s\n' "$@")
	[ "$READY" = "$_want" ] && return 0
	diag "--ready-fd gave '$READY', expected '$_want'; the log:"
	sed 's/^/#   /' "$DAEMON_LOG"
	return 1
}
# attempt NAME ARG...: a start that should fail, beside DAEMON_PID; sets
# STATUS (or "running") and READY, and leaves the log in $WORKDIR/NAME.log.
attempt() {
	spawn "$@"
	if wait_exit "$SPAWNED"; then
		STATUS=$WAIT_STATUS
	else
		STATUS=running
		stop_pid "$SPAWNED" KILL
	fi
}
# refused_with NAME STATUS WORDS: the attempt NAME exited with STATUS, wrote
# nothing to --ready-fd, and its log has the fixed string WORDS.
refused_with() {
	[ "$STATUS" = "$2" ] && [ -z "$READY" ] &&
	    grep -qF -- "$3" "$WORKDIR/$1.log" && return 0
	diag "exit status $STATUS, --ready-fd gave '$READY'; the log:"
	sed 's/^/#   /' "$WORKDIR/$1.log"
	return 1
}

# A client of our own for what nc cannot do: abstract names, a bound
# client address, reading the echo while the first line is still open.
cat > "$WORKDIR/uxclient.py" <<'EOF'
import os
import socket
import sys
import threading


def connect(addr, bind=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(float(os.environ["WAIT_SECONDS"]))
    if bind:
        s.bind(bind)
    s.connect("\0" + addr[1:] if addr.startswith("@") else addr)
    return s


# The daemon may close a refused connection before reading it: a reset
# ends the exchange like an end of file, and what came back is what counts.
def read_to_end(s, got):
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return
            got += b
    except ConnectionResetError:
        return


def send_all(s, data):
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass


mode, addr, out = sys.argv[1:4]
got = bytearray()
if mode == "echo":
    # echo ADDR OUT IN [BIND]: send IN, half-close, read to the end.
    with open(sys.argv[4], "rb") as f:
        data = f.read()
    s = connect(addr, sys.argv[5] if len(sys.argv) > 5 else None)
    # Read while sending, or a long echo would fill both buffers and stall.
    reader = threading.Thread(target=read_to_end, args=(s, got))
    reader.start()
    send_all(s, data)
    reader.join()
elif mode == "halfclose":
    # halfclose ADDR OUT: a whole line comes back while the connection is
    # open both ways; a partial one only once this side is shut.
    s = connect(addr)
    s.sendall(b"whole line\n")
    while len(got) < len(b"whole line\n"):
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.sendall(b"partial line")
    s.shutdown(socket.SHUT_WR)
    read_to_end(s, got)
with open(out, "wb") as f:
    f.write(got)
EOF
uxclient() { WAIT_SECONDS=$WAIT_SECONDS python3 "$WORKDIR/uxclient.py" "$@"; }
# py_echoes_back FILE ADDR [BIND]: the Python client's echo of FILE is FILE.
py_echoes_back() {
	uxclient echo "$2" "$1.echo" "$1" ${3:+"$3"} && cmp -s "$1" "$1.echo"
}
# nothing_back FILE PATH: nc sends FILE to the Unix socket at PATH and gets
# no byte back before the daemon closes.  nc's status is not asked: a
# connection closed with its bytes unread may end in a reset.
nothing_back() {
	nc -N -w "$WAIT_SECONDS" -U "$2" < "$1" > "$1.echo" 2> "$1.err"
	[ ! -s "$1.echo" ]
}
# no_listener PATH: nothing accepts connections at PATH.
no_listener() { ! nc -z -w "$WAIT_SECONDS" -U "$1" 2>/dev/null; }
mode_is() { [ "$(stat -c %A "$1")" = "$2" ]; }
inode() { stat -c %i "$1"; }

TEXT=$WORKDIR/text
printf 'hello over a Unix socket\nsecond line\n' > "$TEXT"
# Every byte value, random bytes, and a last line without its newline:
# only the half-close brings that fragment back.
BIN=$WORKDIR/binary
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 16)' > "$BIN"
head -c 262144 /dev/urandom >> "$BIN"
printf '\000\r\nno newline at the end' >> "$BIN"

# A path socket from the configuration file.
cfg=$(ini file "server.listen=unix:$SOCK")
launch file -c "$cfg"
check "listen = unix:PATH in the file: --ready-fd names unix:pp.sock" \
    serving "unix:$SOCK"
check "the log says listening on unix:pp.sock (token 0)" \
    wait_until log_has "listening on unix:$SOCK (token 0)\$"
check "the path is a socket" test -S "$SOCK"
check "text lines echo byte for byte (nc -U)" echoes_back "$TEXT" "unix:$SOCK"
check "$(wc -c < "$BIN") bytes of binary data, last line partial, echo byte for byte (nc -U)" \
    echoes_back "$BIN" "unix:$SOCK"
check "the same from the Python client" py_echoes_back "$BIN" "$SOCK"
printf 'whole line\npartial line' > "$WORKDIR/half"
half_close() {
	uxclient halfclose "$SOCK" "$WORKDIR/half.echo" &&
	    cmp -s "$WORKDIR/half" "$WORKDIR/half.echo"
}
check "half-close: a whole line comes back at once, a partial one after the shutdown" \
    half_close
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0
check "... and the socket file is gone" test ! -e "$SOCK"

# -l and -o on the command line; an abstract name has no file.
launch cmdline -l "unix:$SOCK" -o "server.listen=unix:$ABSTRACT"
check "-l unix:PATH -o server.listen=unix:@NAME: --ready-fd names both, in order" \
    serving "unix:$SOCK" "unix:$ABSTRACT"
check "the log says listening on unix:@NAME (token 1)" \
    wait_until log_has "listening on unix:$ABSTRACT (token 1)\$"
check "the path socket from -l echoes" echoes_back "$TEXT" "unix:$SOCK"
check "the abstract socket echoes binary data (Python client)" \
    py_echoes_back "$BIN" "$ABSTRACT"
check "the abstract socket echoes text (nc -U @NAME)" \
    echoes_back "$TEXT" "unix:$ABSTRACT"
attempt abstract_taken -l "unix:$ABSTRACT"
check "a second daemon on the same abstract name: exit status 71, named" \
    refused_with abstract_taken 71 "bind unix:$ABSTRACT: Address already in use"
check "... and the first still echoes on it" \
    py_echoes_back "$TEXT" "$ABSTRACT"
stop_daemon TERM
check "SIGTERM: exit status 0, and the -l socket file is gone" \
    test "$DAEMON_STATUS" -eq 0 -a ! -e "$SOCK"

# Mistakes on the command line, and -t, which creates nothing.
attempt relative -l unix:relative.sock
check "-l unix:relative.sock: exit status 78 (not an absolute path)" \
    refused_with relative 78 "a Unix socket is an absolute path"
attempt nodir -l "unix:$WORKDIR/no-such-dir/pp.sock"
check "-l into a missing directory: exit status 71, named" \
    refused_with nodir 71 "bind unix:$WORKDIR/no-such-dir/pp.sock: No such file or directory"
# shellcheck disable=SC2086 # the wrapper is a command line
$PINGPONGD_WRAPPER "$PINGPONGD" -t -l "unix:$SOCK" > "$WORKDIR/t.out" 2>&1
check "-t -l unix:PATH: exit status 0, and no file made" \
    test $? -eq 0 -a ! -e "$SOCK"

# The file's mode is the process umask's.
UMASK=077
launch umask077 -l "unix:$SOCK"
check "under umask 077 the daemon starts" serving "unix:$SOCK"
check "... and the file is srwx------" mode_is "$SOCK" srwx------
stop_daemon TERM
UMASK=022
launch umask022 -l "unix:$SOCK"
UMASK=
check "under umask 022 the daemon starts" serving "unix:$SOCK"
check "... and the file is srwxr-xr-x" mode_is "$SOCK" srwxr-xr-x

# A live socket at the path: a second daemon is refused and changes nothing.
ino=$(inode "$SOCK")
attempt live -l "unix:$SOCK"
check "a second daemon on the live socket: exit status 71, nothing on --ready-fd" \
    refused_with live 71 "bind unix:$SOCK: a live socket: something accepts connections there; left as it is"
check "... the socket file is the same (inode $ino)" test "$(inode "$SOCK")" = "$ino"
check "... and the first daemon still echoes" echoes_back "$TEXT" "unix:$SOCK"

# A regular file at the path: refused, and the file is left as it was.
REGULAR=$WORKDIR/regular
printf 'precious contents\n' > "$REGULAR"
cp "$REGULAR" "$REGULAR.orig"
ino=$(inode "$REGULAR")
attempt regular -l "unix:$REGULAR"
check "a regular file at the path: exit status 71, named" \
    refused_with regular 71 "bind unix:$REGULAR: the path exists and is not a socket; left as it is"
check "... the file is the same (inode $ino)" \
    test "$(inode "$REGULAR")" = "$ino" -a -f "$REGULAR"
check "... contents unchanged" cmp -s "$REGULAR" "$REGULAR.orig"

# kill -9 leaves the file behind, stale; the next start replaces it.
stop_daemon KILL
check "kill -9: exit status 137" test "$DAEMON_STATUS" -eq 137
check "... the socket file stays behind" test -S "$SOCK"
check "... and nothing accepts on it" no_listener "$SOCK"
launch stale -l "unix:$SOCK"
check "the next start replaces the stale file" serving "unix:$SOCK"
check "... and echoes on it" echoes_back "$TEXT" "unix:$SOCK"
# At exit only the daemon's own file goes: not one put in its place.
rm "$SOCK"
printf 'put in its place\n' > "$SOCK"
cp "$SOCK" "$WORKDIR/replacement"
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0
check "... a regular file put at its path meanwhile is left as it is" \
    cmp -s "$SOCK" "$WORKDIR/replacement"
rm "$SOCK"

# Reloads add and drop Unix listen lines; the umask applies to new files.
A=$WORKDIR/a.sock
B=$WORKDIR/b.sock
cfg=$(ini reload "server.listen=unix:$A")
UMASK=077
launch reload -c "$cfg"
UMASK=
check "daemon starts on unix:a.sock" serving "unix:$A"
open_client held "unix:$A"
send held 'before the reloads\n'
check "a client holds a connection on unix:a.sock" wait_echoed held
ini reload "server.listen=unix:$A" "server.listen=unix:$B" > /dev/null
kill -HUP "$DAEMON_PID"
reloads() { [ "$(log_count "reloaded $cfg")" -ge "$1" ]; }
check "SIGHUP adding unix:b.sock: reloaded" wait_until reloads 1
check "... the log says listening on unix:b.sock (token 1)" \
    wait_until log_has "listening on unix:$B (token 1)\$"
check "... its file is made, srwx------ under umask 077" mode_is "$B" srwx------
check "... it echoes" echoes_back "$BIN" "unix:$B"
check "... and unix:a.sock still echoes" echoes_back "$TEXT" "unix:$A"
ini reload "server.listen=unix:$B" > /dev/null
kill -HUP "$DAEMON_PID"
check "SIGHUP dropping unix:a.sock: reloaded" wait_until reloads 2
check "... the log says no longer listening on unix:a.sock" \
    wait_until log_has "no longer listening on unix:$A (token 0)\$"
check "... its file is removed" wait_until test ! -e "$A"
send held 'after the reloads\n'
check "... the connection already open on it is still served" \
    closes_clean held
check "... and unix:b.sock still echoes" echoes_back "$TEXT" "unix:$B"
ino=$(inode "$REGULAR")
ini reload "server.listen=unix:$B" "server.listen=unix:$REGULAR" > /dev/null
kill -HUP "$DAEMON_PID"
check "SIGHUP adding a regular file's path: the reload fails, named" \
    wait_until log_has "reload failed, keeping the running configuration: bind unix:$REGULAR: the path exists and is not a socket"
check "... the file is left as it was" \
    test "$(inode "$REGULAR")" = "$ino" -a -f "$REGULAR"
check "... contents unchanged" cmp -s "$REGULAR" "$REGULAR.orig"
check "... and unix:b.sock still echoes" echoes_back "$TEXT" "unix:$B"
# A reload the workers cannot take is rolled back, the socket it made too.
C=$WORKDIR/c.sock
ini reload "server.listen=unix:$B" "server.listen=unix:$C" \
    server.listen=192.0.2.1:0 > /dev/null
kill -HUP "$DAEMON_PID"
check "SIGHUP adding unix:c.sock and an address not ours: the reload fails" \
    wait_until log_has "reload failed, keeping the running configuration: bind 192\.0\.2\.1:0: "
check "... the worker had listened on unix:c.sock and lets it go" \
    wait_until log_has "no longer listening on unix:$C (token [0-9]*): the reload is rolled back"
check "... and the file made for it is removed" wait_until test ! -e "$C"
check "... and unix:b.sock still echoes" echoes_back "$TEXT" "unix:$B"
stop_daemon TERM
check "SIGTERM: exit status 0, and the file of unix:b.sock is gone" \
    test "$DAEMON_STATUS" -eq 0 -a ! -e "$B"

# Every Unix peer is one source for max_per_ip, whatever its own name.
cfg=$(ini per_ip "server.listen=unix:$SOCK" server.listen=127.0.0.1:0 \
    connection.max_per_ip=1)
launch per_ip -c "$cfg"
PORT=$(printf '%s\n' "$READY" | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p')
check "daemon starts with max_per_ip = 1 on unix:pp.sock and 127.0.0.1:$PORT" \
    test -n "$PORT" -a -S "$SOCK"
open_client u1 "unix:$SOCK"
send u1 'the first Unix client\n'
check "a first Unix client is served" wait_echoed u1
check "a second Unix client (nc -U) gets nothing back" \
    nothing_back "$TEXT" "$SOCK"
check "the refusal is logged: max_per_ip (1) reached ... from unix" \
    wait_until log_has "max_per_ip (1) reached: closed 1 new connection(s), the last from unix\$"
named_refused() {
	uxclient echo "$SOCK" "$WORKDIR/named.echo" "$TEXT" \
	    "$WORKDIR/named-client.sock" && [ ! -s "$WORKDIR/named.echo" ]
}
check "a Unix client bound to a name of its own gets nothing back either" \
    named_refused
check "... and is logged by that name" \
    wait_until log_has "max_per_ip (1) reached: closed 1 new connection(s), the last from unix:$WORKDIR/named-client.sock\$"
check "a TCP client from 127.0.0.1 is another source: served" \
    echoes_back "$TEXT" "$PORT"
send u1 'still open\n'
check "the first Unix client is not disturbed" closes_clean u1
check "once it has closed, a Unix client is served again" \
    echoes_back "$TEXT" "unix:$SOCK"
stop_daemon TERM

# PROXY headers from Unix peers: trusted only when proxy_from lists unix.
HEADER=$WORKDIR/header
printf 'PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\nafter the header\n' > "$HEADER"
cfg=$(ini proxy "server.listen=unix:$SOCK" server.proxy_protocol=on \
    daemon.log_level=debug)
launch proxy -c "$cfg"
check "daemon starts with proxy_protocol = on, proxy_from left at loopback" \
    serving "unix:$SOCK"
check "untrusted: a Unix client sending a PROXY header gets nothing back" \
    nothing_back "$HEADER" "$SOCK"
check "... and is logged as from an untrusted address" \
    wait_until log_has "PROXY protocol: closed 1 connection(s) over their header, the last from unix: PROXY header from an untrusted address\$"
check "untrusted: plain data from a Unix client is echoed" \
    echoes_back "$BIN" "unix:$SOCK"
cfg=$(ini proxy "server.listen=unix:$SOCK" server.proxy_protocol=on \
    "server.proxy_from=0.0.0.0/0 ::/0" daemon.log_level=debug)
kill -HUP "$DAEMON_PID"
wait_until reloads 1
check "proxy_from = 0.0.0.0/0 ::/0, every IP: a Unix client's header still gets nothing" \
    nothing_back "$HEADER" "$SOCK"
proxy_refusals() { [ "$(log_count 'from an untrusted address$')" -ge "$1" ]; }
check "... and is logged as from an untrusted address" \
    wait_until proxy_refusals 2
cfg=$(ini proxy "server.listen=unix:$SOCK" server.proxy_protocol=on \
    server.proxy_from=unix daemon.log_level=debug)
kill -HUP "$DAEMON_PID"
wait_until reloads 2
printf 'after the header\n' > "$WORKDIR/after"
uxclient echo "$SOCK" "$WORKDIR/trusted.echo" "$HEADER"
check "proxy_from = unix: the header is consumed, the rest echoed" \
    cmp -s "$WORKDIR/after" "$WORKDIR/trusted.echo"
check "... and the log names the client from the header, 192.0.2.1:1000" \
    wait_until log_has "PROXY v1 header, client 192\.0\.2\.1:1000\$"
check "proxy_from = unix: a Unix client without a header gets nothing back" \
    nothing_back "$TEXT" "$SOCK"
stop_daemon TERM
check "SIGTERM: exit status 0" test "$DAEMON_STATUS" -eq 0

# workers = 2: the owner holds one socket, every worker watches it.  The
# drain at the end must outlast every wait.
cfg=$(ini workers "server.listen=unix:$SOCK" "server.listen=unix:$ABSTRACT" \
    server.workers=2 daemon.shutdown_timeout=10m)
launch workers -c "$cfg"
check "daemon starts with workers = 2" serving "unix:$SOCK" "unix:$ABSTRACT"
both_listen() {
	[ "$(log_count "worker [12]: listening on unix:$SOCK (token 0)\$")" -eq 2 ]
}
check "worker 1 and worker 2 each log listening on unix:pp.sock" \
    wait_until both_listen
listening_sockets() {
	awk -v p="$SOCK" '$NF == p && $4 == "00010000"' /proc/net/unix | wc -l
}
check "one listening socket at the path, not one per worker" \
    test "$(listening_sockets)" -eq 1
i=0
while [ $i -lt 20 ]; do
	{ printf 'client %d\n' $i; head -c 4096 /dev/urandom; printf '\nend %d' $i; } \
	    > "$WORKDIR/w$i"
	if [ $((i % 2)) -eq 0 ]; then to=$SOCK; else to=$ABSTRACT; fi
	nc -N -w "$WAIT_SECONDS" -U "$to" < "$WORKDIR/w$i" > "$WORKDIR/w$i.echo" &
	track $!
	i=$((i + 1))
done
wait_clients
bad=0
i=0
while [ $i -lt 20 ]; do
	cmp -s "$WORKDIR/w$i" "$WORKDIR/w$i.echo" || bad=$((bad + 1))
	i=$((i + 1))
done
check "20 parallel Unix clients, half on each socket, each get their own echo ($bad differ)" \
    test "$bad" -eq 0
# SIGTERM: as the TCP listeners, the Unix sockets refuse new clients at
# once, while a client mid-transfer is served to its end.
open_client draining "unix:$SOCK"
send draining 'first half\n'
wait_echoed draining
kill -TERM "$DAEMON_PID"
both_stopping() {
	[ "$(log_count 'worker [12]: SIGTERM: stopped accepting')" -eq 2 ]
}
check "SIGTERM: both workers stop accepting" wait_until both_stopping
# Still draining: the daemon's exit would refuse them too.
draining_and() { alive "$DAEMON_PID" && "$@"; }
check "... new clients of unix:pp.sock are refused while it drains" \
    wait_until draining_and no_listener "$SOCK"
check "... its file is removed" wait_until draining_and test ! -e "$SOCK"
check "... new clients of unix:@NAME are refused" \
    wait_until draining_and no_listener "$ABSTRACT"
send draining 'second half\nand a partial line'
check "... the client mid-transfer gets every byte back" closes_clean draining
wait_daemon
check "... exit status 0" test "$DAEMON_STATUS" -eq 0

# Socket activation with a Unix socket the service manager made.
ACT=$WORKDIR/activated.sock
cfg=$(ini activation "server.listen=unix:$SOCK")
: > "$WORKDIR/activation.log"
# shellcheck disable=SC2086 # the wrapper is a command line
systemd-socket-activate -l "$ACT" $PINGPONGD_WRAPPER "$PINGPONGD" -c "$cfg" \
    2> "$WORKDIR/activation.log" &
ACT_PID=$!
track "$ACT_PID"
DAEMON_LOG=$WORKDIR/activation.log
check "systemd-socket-activate listens on activated.sock" \
    wait_until log_has "Listening on $ACT"
if [ "${PINGPONGD_SYSTEMD:-yes}" = yes ]; then
	check "socket activation: echo through the passed Unix socket" \
	    echoes_back "$BIN" "unix:$ACT"
	check "... the log names it: listening on unix:activated.sock (token 0, passed by the service manager)" \
	    wait_until log_has "listening on unix:$ACT (token 0, passed by the service manager)\$"
	check "... the listen line is not used: no file at pp.sock" test ! -e "$SOCK"
	kill -TERM "$ACT_PID"
	wait "$ACT_PID"
	check "... SIGTERM: exit status 0" test $? -eq 0
	untrack "$ACT_PID"
	check "... the service manager's socket file is left to it" test -S "$ACT"
else
	# The passed socket is ignored: the daemon makes its own.
	nc -z -U "$ACT"
	check "built without systemd: listens on its own listen line" \
	    wait_until log_has "listening on unix:$SOCK (token 0)\$"
	kill -TERM "$ACT_PID"
	wait "$ACT_PID"
	check "built without systemd: SIGTERM: exit status 0" test $? -eq 0
	untrack "$ACT_PID"
	for what in "the log" "the listen line" "the socket file"; do
		skip "socket activation, $what: built without systemd"
	done
fi
finish
