#!/bin/sh
# Two pingpongd instances with proxy_protocol = on behind a real HAProxy
# sending PROXY v2 headers: echo through the balancer is byte-exact; the
# daemons see clients from 127.0.0.2 and 127.0.0.3 as such (max_per_ip = 1
# refuses a second client from one address, not one from the other); when
# one daemon stops the health check takes it out and new connections echo
# through the other; started again, it is taken back.
# shellcheck disable=SC2317,SC2016,SC2094,SC2153 # helpers via check; sh -c gets arguments; D2_PID is set by eval
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

plan 15

check "the shipped conf/haproxy.cfg is valid for haproxy -c" \
    haproxy -c -q -f "${abs_top_srcdir:-.}/conf/haproxy.cfg"

daemon_cfg() {
	ini "$1" "server.listen=127.0.0.1:$2" server.proxy_protocol=on \
	    connection.max_per_ip=1 daemon.log_level=debug \
	    daemon.shutdown_timeout=2s
}

# start_instance N PORT: a daemon whose PID, log and port go in D<N>_*.
start_instance() {
	start_daemon "$(daemon_cfg "d$1" "$2")" "$WORKDIR/d$1.log" || return 1
	eval "D$1_PID=\$DAEMON_PID D$1_LOG=\$DAEMON_LOG D$1_PORT=\$PORT"
}
check "first daemon starts" start_instance 1 0
check "second daemon starts" start_instance 2 0

# HAProxy on a port of its own: a taken port makes it exit, so try another.
HP_LOG=$WORKDIR/haproxy.log
start_haproxy() {
	FRONT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000 ))
	cat > "$WORKDIR/haproxy.cfg" <<CFG
global
    log stderr format raw local0 info
defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend echo
    bind 127.0.0.1:$FRONT
    default_backend pingpongd
backend pingpongd
    balance source
    option tcp-check
    tcp-check send "health\\n"
    tcp-check expect string health
    default-server check inter 200ms fall 2 rise 2 send-proxy-v2 check-send-proxy
    server pp1 127.0.0.1:$D1_PORT
    server pp2 127.0.0.1:$D2_PORT
CFG
	haproxy -db -f "$WORKDIR/haproxy.cfg" > "$HP_LOG" 2>&1 &
	HP_PID=$!
	track $HP_PID
	# Up when the frontend accepts; gone when the port was taken.
	if wait_until sh -c 'nc -z 127.0.0.1 "$1" || ! kill -0 "$2"' sh \
	    "$FRONT" "$HP_PID" && alive $HP_PID; then
		return 0
	fi
	wait $HP_PID 2>/dev/null
	untrack $HP_PID
	return 1
}
tries=0
until start_haproxy || [ $tries -ge 20 ]; do tries=$((tries + 1)); done
sed 's/^/# haproxy: /' "$HP_LOG"

# A health check reached each daemon, as the balancer's own connection.
checked() { grep -q 'PROXY v2 header, client 127\.0\.0\.1:[0-9]* (the balancer itself)' "$1"; }
both_checked() { checked "$D1_LOG" && checked "$D2_LOG"; }
check "haproxy runs and its v2 LOCAL health checks reach both daemons" \
    wait_until both_checked

head -c 65536 /dev/urandom > "$WORKDIR/random"
{ cat "$WORKDIR/random"; printf '\nlast line\n'; } > "$WORKDIR/payload"
check "64 KiB of binary data through the balancer is byte-exact" \
    sh -c 'nc -N -w "$1" -s 127.0.0.2 127.0.0.1 "$2" < "$3" | cmp -s - "$3"' \
    sh "$WAIT_SECONDS" "$FRONT" "$WORKDIR/payload"
seen_as() { grep -q "PROXY v2 header, client $1:" "$D1_LOG" "$D2_LOG"; }
check "the daemon saw the client as 127.0.0.2, not the balancer" \
    wait_until seen_as '127\.0\.0\.2'

# max_per_ip = 1 per real client: one from 127.0.0.2 stays connected...
open_client a "$FRONT" 127.0.0.1 127.0.0.2
send a 'first from .2\n'
wait_echoed a
# ...so a second from 127.0.0.2 (same daemon: balance source) is refused,
printf 'second from .2\n' > "$WORKDIR/second"
nc -N -w "$WAIT_SECONDS" -s 127.0.0.2 127.0.0.1 "$FRONT" < "$WORKDIR/second" \
    > "$WORKDIR/second.echo"
check "a second client from 127.0.0.2 gets nothing back" \
    test ! -s "$WORKDIR/second.echo"
refused_2() { grep -q 'max_per_ip (1) reached: .* from 127\.0\.0\.2:' "$D1_LOG" "$D2_LOG"; }
check "the daemon refused it as 127.0.0.2 (max_per_ip)" wait_until refused_2
# ...while one from 127.0.0.3 is served.
printf 'from .3\n' > "$WORKDIR/three"
check "a client from 127.0.0.3 is served meanwhile" \
    sh -c 'nc -N -w "$1" -s 127.0.0.3 127.0.0.1 "$2" < "$3" | cmp -s - "$3"' \
    sh "$WAIT_SECONDS" "$FRONT" "$WORKDIR/three"
check "the first client from 127.0.0.2 got all its echo" closes_clean a

# Stop the first daemon: the health check takes it out.
kill -TERM "$D1_PID"
wait "$D1_PID"
d1_status=$?
untrack "$D1_PID"
check "the first daemon stops with status 0" test "$d1_status" -eq 0
check "haproxy marks it DOWN" wait_until grep -q 'Server pingpongd/pp1 is DOWN' "$HP_LOG"
# every_source_served: clients from eight addresses all echo, whichever
# daemon their address hashes to.
every_source_served() {
	for _s in 2 3 4 5 6 7 8 9; do
		printf 'from .%s\n' "$_s" > "$WORKDIR/src$_s"
		nc -N -w "$WAIT_SECONDS" -s "127.0.0.$_s" 127.0.0.1 "$FRONT" \
		    < "$WORKDIR/src$_s" | cmp -s - "$WORKDIR/src$_s" || return 1
	done
}
check "new connections from eight addresses echo through the second" \
    every_source_served

# Start it again on the same port: the health check brings it back.
: > "$D1_LOG.2"
start_daemon "$(daemon_cfg d1 "$D1_PORT")" "$D1_LOG.2"
D1_PID=$DAEMON_PID
check "haproxy marks it UP again" wait_until grep -q 'Server pingpongd/pp1 is UP' "$HP_LOG"
served_by_1() { every_source_served && grep -q 'PROXY v2 header, client 127\.0\.0\.[2-9]:' "$D1_LOG.2"; }
check "clients reach the restarted daemon again" wait_until served_by_1

for pid in "$HP_PID" "$D1_PID" "$D2_PID"; do
	stop_pid "$pid"
done
finish
