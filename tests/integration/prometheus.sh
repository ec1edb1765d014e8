#!/bin/sh
# The metrics as a real Prometheus sees them: Debian's prometheus scrapes
# the daemon every second, and the values its own query API returns are
# exactly the connections, lines and bytes this script sent, refusals at
# max_per_ip and a close by idle_timeout included.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}

plan 11

cfg=$(ini prom server.listen=127.0.0.1:0 server.workers=2 \
    connection.max_per_ip=2 connection.idle_timeout=2s \
    metrics.listen=127.0.0.1:0 daemon.log_level=debug)
check "daemon starts with a metrics endpoint" start_daemon "$cfg"
MPORT=$(sed -n 's/.*metrics: serving \/metrics on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
    "$DAEMON_LOG")

# Prometheus takes no port 0: a free one is picked, another if it is taken.
prom_up() {
	alive "$PROM_PID" || return 0
	curl -s -m 2 "http://127.0.0.1:$PPORT/-/ready" > /dev/null
}
start_prometheus() {
	PPORT=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000 ))
	[ -z "$(ss -Hltn "sport = :$PPORT")" ] || return 1
	cat > "$WORKDIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pingpongd
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
YML
	"$PROMETHEUS" --config.file="$WORKDIR/prometheus.yml" \
	    --storage.tsdb.path="$WORKDIR/tsdb" \
	    --web.listen-address="127.0.0.1:$PPORT" \
	    > "$WORKDIR/prometheus.log" 2>&1 &
	PROM_PID=$!
	track "$PROM_PID"
	wait_until prom_up && alive "$PROM_PID" && return 0
	stop_pid "$PROM_PID"
	return 1
}
tries=0
until start_prometheus || [ $tries -ge 10 ]; do tries=$((tries + 1)); done
check "prometheus starts on 127.0.0.1:$PPORT" alive "$PROM_PID"

# query EXPR: the value Prometheus's query API gives for EXPR, or nothing.
query() {
	curl -s -m 5 -G "http://127.0.0.1:$PPORT/api/v1/query" \
	    --data-urlencode "query=$1" |
	    jq -r 'if .status == "success" and (.data.result | length) > 0
		then .data.result[0].value[1] else empty end'
}
is() { [ "$(query "$1")" = "$2" ]; }
target_up() { is 'up{job="pingpongd"}' 1; }
check "its target, the daemon, is up" wait_until target_up

# What is sent: two clients from 127.0.0.1 held open (max_per_ip = 2), two
# more refused, three exchanges of known lines, one client left to idle out.
open_client held1
open_client held2
send held1 'held one\n'
send held2 'held two\n'
wait_echoed held1 && wait_echoed held2
for i in 1 2; do
	nc -N 127.0.0.1 "$PORT" < /dev/null > /dev/null 2>&1
done
close_client held2
printf 'a first line\nand a second\n' > "$WORKDIR/x"
printf 'one more\n' > "$WORKDIR/y"
echoes_back "$WORKDIR/x"
echoes_back "$WORKDIR/y"
# held1 says nothing more: idle_timeout (2s) closes it.
check "the idle client is closed by the daemon" \
    wait_until log_has "closed: idle timeout"
kill_client held1
# Connections: 2 held + 2 refused + 2 exchanges = 6; lines 2 + 2 + 1 = 5;
# bytes 9 + 9 + 26 + 9 = 53.
settled() { is 'sum(pingpongd_connections_closed_total)' 4; }
check "Prometheus scraped the end: 4 connections closed" wait_until settled
check "accepted: 6, every one taken from the queue" \
    is 'sum(pingpongd_connections_accepted_total)' 6
check "refused at max_per_ip: 2" \
    is 'sum(pingpongd_connections_refused_total{reason="max_per_ip"})' 2
check "closed by idle_timeout: 1, by their client: 3" \
    eval 'is "sum(pingpongd_connections_closed_total{reason=\"idle_timeout\"})" 1 &&
    is "sum(pingpongd_connections_closed_total{reason=\"client\"})" 3'
check "lines echoed: 5" is 'sum(pingpongd_echoed_lines_total)' 5
check "bytes received and echoed: 53 each" \
    eval 'is "sum(pingpongd_received_bytes_total)" 53 &&
    is "sum(pingpongd_echoed_bytes_total)" 53'
check "open now: 0, over both workers' series" \
    eval 'is "sum(pingpongd_connections_open)" 0 &&
    is "count(pingpongd_connections_open)" 2'

stop_pid "$PROM_PID"
stop_daemon TERM
finish
