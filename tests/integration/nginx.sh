#!/bin/sh
# The README's nginx stream {} block, read from the README itself, run by
# the real nginx in front of two pingpongd instances with proxy_protocol =
# on: it listens on loopback only; echo through it is byte-exact; a client
# that half-closes gets its whole echo, the bytes after its last newline
# included, and then the close; the instance learns the client's address
# from a PROXY v1 header; 20 clients from 20 addresses, connected at once,
# all get their echo, and the hash spreads them over both instances.
# shellcheck disable=SC2317,SC2016 # helpers via check; sh -c gets arguments
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 16

NGINX=/usr/sbin/nginx
README=${abs_top_srcdir:-.}/README

# The block as the README shows it: from its "stream {" line to the brace
# that closes it, the only one indented as deep, without the indent.
sed -n '/^    stream {$/,/^    }$/s/^    //p' "$README" \
    > "$WORKDIR/stream.readme"
has_ports() {
	grep -q '^ *listen 127\.0\.0\.1:6567;$' "$1" &&
	    grep -q '^ *server 127\.0\.0\.1:6568;$' "$1" &&
	    grep -q '^ *server 127\.0\.0\.1:6569;$' "$1" &&
	    [ "$(tail -n 1 "$1")" = "}" ]
}
check "the README has the stream block, on ports 6567, 6568 and 6569" \
    has_ports "$WORKDIR/stream.readme"

daemon_cfg() {
	ini "$1" server.listen=127.0.0.1:0 server.proxy_protocol=on \
	    daemon.log_level=debug
}
# start_instance N: a daemon on a free port, its PID, log and port in D<N>_*.
start_instance() {
	start_daemon "$(daemon_cfg "d$1")" "$WORKDIR/d$1.log" || return 1
	eval "D$1_PID=\$DAEMON_PID D$1_LOG=\$DAEMON_LOG D$1_PORT=\$PORT"
}
check "first daemon starts" start_instance 1
check "second daemon starts" start_instance 2

# Debian's own nginx.conf loads the module through modules-enabled/; this
# one is written from scratch, so it loads it itself.  The path is absolute
# because a relative one is taken from -p, the work directory here.
MODULE=$(dpkg -L libnginx-mod-stream 2>/dev/null |
    grep '/ngx_stream_module\.so$')
NGINX_CONF=$WORKDIR/nginx.conf
NGINX_LOG=$WORKDIR/nginx.log
# nginx_conf FRONT: the README's block on ports FRONT, D1_PORT and D2_PORT,
# in a configuration whose every file is in the work directory.  Run as
# root, the worker switches to nobody: it only needs the descriptors the
# master opened, so the private work directory is no obstacle.
nginx_conf() {
	{
		cat <<CONF
load_module $MODULE;
daemon off;
master_process on;
worker_processes 1;
pid $WORKDIR/nginx.pid;
error_log $NGINX_LOG info;
events {
    worker_connections 256;
}
CONF
		sed -e "s/127\\.0\\.0\\.1:6567;/127.0.0.1:$1;/" \
		    -e "s/127\\.0\\.0\\.1:6568;/127.0.0.1:$D1_PORT;/" \
		    -e "s/127\\.0\\.0\\.1:6569;/127.0.0.1:$D2_PORT;/" \
		    "$WORKDIR/stream.readme"
	} > "$NGINX_CONF"
}

nginx_conf 6567
# -e: the error log before the configuration is read, which would
# otherwise be the system's.
check "the block in a minimal nginx.conf passes nginx -t" \
    "$NGINX" -t -q -c "$NGINX_CONF" -p "$WORKDIR/" -e "$NGINX_LOG"

# nginx cannot take port 0: try a port nothing listens on, and another if
# it was taken meanwhile (nginx then exits, after its own bind retries).
nginx_up() {
	alive "$NGINX_PID" || return 0
	[ -n "$(ps -o pid= --ppid "$NGINX_PID")" ] &&
	    [ -n "$(ss -Hltn "sport = :$FRONT")" ]
}
start_nginx() {
	FRONT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000 ))
	[ -z "$(ss -Hltn "sport = :$FRONT")" ] || return 1
	nginx_conf "$FRONT"
	: > "$NGINX_LOG"
	# Run directly, not from a function, so that $! is nginx's master.
	# Its output goes to a file: a master that outlived the script must
	# not hold the test driver's pipe.
	"$NGINX" -c "$NGINX_CONF" -p "$WORKDIR/" -e "$NGINX_LOG" \
	    > "$WORKDIR/nginx.out" 2>&1 &
	NGINX_PID=$!
	track "$NGINX_PID"
	if wait_until nginx_up && alive "$NGINX_PID"; then
		# Tracked too: a master killed by the cleanup would leave its
		# worker serving.
		NGINX_WORKERS=$(ps -o pid= --ppid "$NGINX_PID")
		for _w in $NGINX_WORKERS; do track "$_w"; done
		return 0
	fi
	wait "$NGINX_PID" 2>/dev/null
	untrack "$NGINX_PID"
	NGINX_PID=""
	return 1
}
NGINX_PID=""
NGINX_WORKERS=""
tries=0
until start_nginx || [ $tries -ge 20 ]; do tries=$((tries + 1)); done

# Its listening socket, and only that one, is on 127.0.0.1 and is nginx's.
loopback_only() {
	[ -n "$NGINX_PID" ] && alive "$NGINX_PID" || return 1
	ss -Hltnp "sport = :$FRONT" > "$WORKDIR/listening"
	[ -s "$WORKDIR/listening" ] &&
	    grep -q "pid=$NGINX_PID," "$WORKDIR/listening" &&
	    awk -v a="127.0.0.1:$FRONT" '$4 != a { bad = 1 } END { exit bad }' \
	        "$WORKDIR/listening"
}
if loopback_only; then
	pass "nginx starts and listens on 127.0.0.1:$FRONT only"
else
	fail "nginx starts and listens on 127.0.0.1:$FRONT only"
	sed 's/^/# nginx: /' "$NGINX_LOG"
	sed 's/^/# ss: /' "$WORKDIR/listening" 2>/dev/null
fi

# Binary data, several lines and a last line with no newline, sent at once
# and followed by the client's FIN.
head -c 65536 /dev/urandom > "$WORKDIR/random"
{
	cat "$WORKDIR/random"
	printf '\nsecond line\r\n\000third\n'
	printf 'last, no newline'
} > "$WORKDIR/payload"
check "64 KiB of binary data and lines through nginx are byte-exact" \
    sh -c 'nc -N -w "$1" 127.0.0.1 "$2" < "$3" | cmp -s - "$3"' \
    sh "$WAIT_SECONDS" "$FRONT" "$WORKDIR/payload"

# The same, one step at a time: the complete lines come back while the
# connection is open, the bytes after the last newline are held, and only
# the half-close brings them back, and then the close.
head -c 4096 /dev/urandom > "$WORKDIR/chunk"
printf '\n' >> "$WORKDIR/chunk"
open_client hc "$FRONT"
send_file hc "$WORKDIR/chunk"
send hc 'one\ntwo\n'
lines=$(wc -c < "$WORKDIR/hc.sent" | tr -d ' ')
send hc 'held until the FIN \001\377'
held_back() {
	wait_until out_has hc "$lines" && [ "$(out_size hc)" -eq "$lines" ]
}
check "the lines come back at once, the partial one is held" held_back
check "after the client's FIN the rest comes back, then the close" \
    closes_clean hc

seen_v1() { grep -q "PROXY v1 header, client $1:" "$D1_LOG" "$D2_LOG"; }
check "an instance got the PROXY v1 header with client 127.0.0.1" \
    wait_until seen_v1 '127\.0\.0\.1'

# 20 clients from 127.0.0.1 .. 127.0.0.20, all connected at once.
many=""
i=1
while [ $i -le 20 ]; do
	open_client "c$i" "$FRONT" 127.0.0.1 "127.0.0.$i"
	many="$many c$i"
	i=$((i + 1))
done
for c in $many; do
	head -c 2048 /dev/urandom > "$WORKDIR/$c.chunk"
	send_file "$c" "$WORKDIR/$c.chunk"
	send "$c" '\nfrom %s\n' "$c"
done
all_echoed() { for _c in $many; do echoed "$_c" || return 1; done; }
check "20 clients connected at once all get their lines back" \
    wait_until all_echoed
for c in $many; do send "$c" 'tail of %s' "$c"; done
# shellcheck disable=SC2086 # the names are split on purpose
check "each, half-closing, gets its whole echo, then the close" \
    closes_clean $many
every_address() {
	_i=1
	while [ "$_i" -le 20 ]; do
		seen_v1 "127\\.0\\.0\\.$_i" || return 1
		_i=$((_i + 1))
	done
}
check "the instances saw each client's own address in its v1 header" \
    every_address
served() { grep -q 'PROXY v1 header, client 127\.0\.0\.[0-9]*:' "$1"; }
both_served() { served "$D1_LOG" && served "$D2_LOG"; }
check "hash \$remote_addr sent clients to both instances" both_served

check "nginx logged no error" \
    sh -c '! grep -q "\[\(error\|crit\|alert\|emerg\)\]" "$1"' sh "$NGINX_LOG"

# The master stops its worker and waits for it before it exits.
nginx_status=1
if [ -n "$NGINX_PID" ]; then
	kill -TERM "$NGINX_PID"
	wait_exit "$NGINX_PID" && nginx_status=$WAIT_STATUS
fi
nginx_stopped() {
	[ "$nginx_status" -eq 0 ] || return 1
	for _w in $NGINX_WORKERS; do gone "$_w" || return 1; done
}
check "nginx stops on SIGTERM with status 0, its worker gone" nginx_stopped
for w in $NGINX_WORKERS; do untrack "$w"; done

# Under valgrind, an error or a leak shows in the status.
DAEMON_PID=$D1_PID; stop_daemon TERM; d1_status=$DAEMON_STATUS
DAEMON_PID=$D2_PID; stop_daemon TERM; d2_status=$DAEMON_STATUS
check "both instances stop with status 0" \
    test "$d1_status" -eq 0 -a "$d2_status" -eq 0

[ "$tap_failed" -eq 0 ] || sed 's/^/# nginx: /' "$NGINX_LOG"
finish
