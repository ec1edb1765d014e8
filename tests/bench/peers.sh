#!/bin/sh
# make bench-peers: pingpongd and other single-thread echo servers side by
# side, under the loads of make bench, in one run on this machine.  Each
# server in turn is pinned to CPU 0 and driven by `pingpong --bench` pinned
# to CPU 1 (when there are two); redis-server, whose PING is no echo, is
# driven by redis-benchmark instead.  Prints one table per load and the RSS
# per idle connection of each; asserts nothing.  Each row also gives the
# server's system calls per echoed line, counted by perf stat on its PID
# over the row ("n/a" without perf; the notes say why).
#
# The peers: a minimal epoll loop, a minimal libev echo, libuv, a minimal
# io_uring echo (liburing: multishot accept and receive into provided
# buffers), mio 0.8, tokio 1.x (current-thread runtime) and Node.js, all
# under tests/bench/peers/ and built into the build tree, redis-server
# answering inline PING, and this pingpongd again with server.io =
# io_uring.  As root, the Debian packages they need and that are missing
# are installed; otherwise a peer whose packages are missing is skipped,
# and the output says so.  The best peer each table names is the best of
# the readiness-based ones (epoll, libev, libuv, mio, tokio, Node.js):
# uring_echo is a different kind of loop, shown on a line of its own, and
# redis-benchmark is another client.
#
# Environment: BENCH_SECONDS (per row, default 5), ROUNDS (default 3: each
# figure is the median of that many runs), PEERS (the peers to run beside
# pingpongd, separated by spaces or commas; default all: epoll libev libuv
# uring mio tokio node redis uring-pingpongd), BASELINE (another pingpongd
# binary, say the build before a change: with PEERS=baseline it is
# measured in the same rounds, to compare within one run; PEERS=scraped
# runs this pingpongd again with a metrics endpoint scraped once a second),
# PINGPONGD, PINGPONG, MAKE.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/bench/benchlib.sh"

ALL_PEERS="epoll libev libuv uring mio tokio node redis uring-pingpongd"
PEERS=$(echo "${PEERS:-$ALL_PEERS}" | tr ',' ' ')
PEER_SRC="${abs_top_srcdir:-.}/tests/bench/peers"
PEER_BUILD="${abs_top_builddir:-.}/tests/bench/peers"
# Debian's toolchain, which its crate registry is packaged for.
CARGO=/usr/bin/cargo
RUSTC=/usr/bin/rustc
export RUSTC
REDIS_MAXCLIENTS=19000          # pingpongd's max_connections in bench_config
REDIS_CYCLES=12000              # connections of redis's connect-and-close row
ROUNDS=${ROUNDS:-3}
case $ROUNDS in
''|*[!0-9]*|0) echo "bench-peers: ROUNDS must be a positive count" >&2; exit 2 ;;
esac

for _p in $PEERS; do
	case " $ALL_PEERS baseline scraped " in
	*" $_p "*) ;;
	*) echo "bench-peers: unknown peer '$_p' (peers: $ALL_PEERS baseline scraped)" >&2
	   exit 2 ;;
	esac
	if [ "$_p" = baseline ] && [ ! -x "${BASELINE:-}" ]; then
		echo "bench-peers: PEERS=baseline needs BASELINE, a pingpongd binary" >&2
		exit 2
	fi
done

# Every connection of the idle row and of the 5,000-connection row is a
# descriptor of the server under test.  (dash and bash both have ulimit
# -n and -H.)
# shellcheck disable=SC3045
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

notes=$WORKDIR/notes            # skipped peers, printed with the tables
results=$WORKDIR/results        # LOAD SERVER ok LINES MB P50 P99 CPU SYSCALLS | LOAD SERVER - WHY
idle=$WORKDIR/idle              # SERVER BYTES
: > "$notes"
: > "$results"
: > "$idle"
note() {
	echo "bench-peers: $*"
	# A server that fails to start says so in every round: once is enough.
	grep -qxF -- "$*" "$notes" || echo "$*" >> "$notes"
}

# packages PEER: the Debian packages the peer needs.
packages() {
	case $1 in
	libev) echo libev-dev ;;
	libuv) echo libuv1-dev ;;
	uring) echo liburing-dev ;;
	mio) echo cargo librust-mio-dev ;;
	tokio) echo cargo librust-tokio-dev ;;
	node) command -v node > /dev/null || echo nodejs ;;
	redis) echo redis-server redis-tools ;;
	esac
}
installed() {
	[ "$(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}
# missing PEER: those of its packages that are not installed.
missing() {
	for _pkg in $(packages "$1"); do
		installed "$_pkg" || printf ' %s' "$_pkg"
	done
}
# version PACKAGE: its upstream version, without epoch or Debian revision.
version() {
	dpkg-query -W -f '${Version}' "$1" 2>/dev/null |
	    sed -e 's/^[0-9]*://' -e 's/-[^-]*$//'
}

want=""
for _p in $PEERS; do
	for _pkg in $(missing "$_p"); do
		case " $want " in *" $_pkg "*) ;; *) want="$want $_pkg" ;; esac
	done
done
if [ -n "$want" ] && [ "$(id -u)" -eq 0 ]; then
	echo "bench-peers: installing:$want"
	# shellcheck disable=SC2086
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $want; } > "$WORKDIR/apt.log" 2>&1; then
		echo "bench-peers: apt-get failed: $(tail -n 1 "$WORKDIR/apt.log")"
	fi
fi

# build PEER: build it into the build tree, or say why it cannot run.
build() {
	_why=$(missing "$1")
	if [ -n "$_why" ]; then
		note "skipped: $1:$_why not installed"
		return 1
	fi
	case $1 in
	epoll|libev|libuv|uring)
		"${MAKE:-make}" -C "${abs_top_builddir:-.}" \
		    "tests/bench/peers/${1}_echo" > "$WORKDIR/build.log" 2>&1 ;;
	mio|tokio)
		build_crate "${1}_echo" > "$WORKDIR/build.log" 2>&1 ;;
	*)
		return 0 ;;
	esac || {
		note "skipped: $1: build failed: $(tail -n 1 "$WORKDIR/build.log")"
		return 1
	}
}

# build_crate NAME: cargo build of tests/bench/peers/NAME, offline, from
# Debian's crate registry, from a copy in the build tree so that the source
# tree stays as it is (cargo writes Cargo.lock beside Cargo.toml).
build_crate() {
	_cargo=$PEER_BUILD/cargo
	mkdir -p "$_cargo/home" "$_cargo/$1/src" || return 1
	for _f in Cargo.toml src/main.rs; do
		cmp -s "$PEER_SRC/$1/$_f" "$_cargo/$1/$_f" ||
		    cp "$PEER_SRC/$1/$_f" "$_cargo/$1/$_f" || return 1
	done
	cat > "$_cargo/home/config.toml" <<'EOF'
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "/usr/share/cargo/registry"

[net]
offline = true
EOF
	CARGO_HOME="$_cargo/home" "$CARGO" build --release --offline \
	    --manifest-path "$_cargo/$1/Cargo.toml" --target-dir "$_cargo/target"
}

# Servers: their name in the tables and the command that starts one.
label() {
	case $1 in
	pingpongd) echo pingpongd ;;
	baseline) echo "pingpongd (baseline)" ;;
	scraped) echo "pingpongd (scraped 1/s)" ;;
	uring-pingpongd) echo "pingpongd (io_uring)" ;;
	redis) echo "redis-server (redis-benchmark)" ;;
	*) echo "${1}_echo" ;;
	esac
}
command_of() {
	case $1 in
	epoll|libev|libuv|uring) echo "$PEER_BUILD/${1}_echo" ;;
	mio|tokio) echo "$PEER_BUILD/cargo/target/release/${1}_echo" ;;
	esac
}

# start_peer COMMAND...: run an echo server that takes the port as its last
# argument (0) and prints "port N"; sets DAEMON_PID and PORT.
start_peer() {
	: > "$WORKDIR/peer.out"
	# shellcheck disable=SC2086
	$SERVER_CPU "$@" 0 > "$WORKDIR/peer.out" 2> "$WORKDIR/peer.err" &
	DAEMON_PID=$!
	track "$DAEMON_PID"
	wait_until up_or_gone '^port [0-9]' && alive "$DAEMON_PID" || return 1
	PORT=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$WORKDIR/peer.out")
}
up_or_gone() { gone "$DAEMON_PID" || grep -q "$1" "$WORKDIR/peer.out"; }

# start_redis: redis-server on a free port, without persistence.  It
# cannot take port 0, so a port is picked and another tried if it is
# taken after all.
start_redis() {
	for _try in 1 2 3 4 5; do
		PORT=$(awk -v t="$_try" -v p="$$" \
		    'BEGIN { srand(); print 20000 + int(rand() * 10000 + t * 997 + p) % 10000 }')
		if command -v ss > /dev/null &&
		    [ -n "$(ss -Hltn "sport = :$PORT")" ]; then
			continue
		fi
		: > "$WORKDIR/peer.out"
		# Protected mode would refuse the idle row's clients from
		# 127.0.0.2 and up; it listens on 127.0.0.1 only.
		$SERVER_CPU redis-server --port "$PORT" --bind 127.0.0.1 \
		    --protected-mode no --save '' --appendonly no --daemonize no \
		    --maxclients "$REDIS_MAXCLIENTS" > "$WORKDIR/peer.out" 2>&1 &
		DAEMON_PID=$!
		track "$DAEMON_PID"
		if wait_until up_or_gone 'Ready to accept connections' &&
		    alive "$DAEMON_PID"; then
			return 0
		fi
		wait "$DAEMON_PID" 2>/dev/null
		untrack "$DAEMON_PID"
	done
	return 1
}

# redis_figures PINGPONG-ARGS...: the load those arguments describe, run
# with redis-benchmark -t ping_inline for about SECONDS_PER_ROW; sets FIG_*
# as bench_figures does.  The request count comes from a first run of
# about a second.
redis_figures() {
	_conns=50 _depth=1 _size=32 _cycle=0
	while [ $# -gt 0 ]; do
		case $1 in
		-C) _conns=$2; shift ;;
		-d) _depth=$2; shift ;;
		-s) _size=$2; shift ;;
		--cycle) _cycle=1 ;;
		esac
		shift
	done
	if [ "$_size" -ne 32 ]; then
		FIG_ERROR="n/a"
		return 1
	fi
	if [ "$_cycle" -eq 1 ]; then
		# redis-benchmark closes with a FIN: each connection leaves
		# a local port in TIME_WAIT, and the local port range (about
		# 28,000) would run out within seconds.  A fixed count,
		# well inside it, leaves room for the next row.
		redis_run "$REDIS_CYCLES" -c "$_conns" -k 0 || return 1
		redis_lines
		return
	fi
	set -- -c "$_conns" -P "$_depth"
	_n=$((100000 * _depth))
	[ "$_n" -ge $((_conns * 20)) ] || _n=$((_conns * 20))
	redis_run "$_n" "$@" || return 1
	_n=$(awk -v r="$FIG_RPS" -v s="$SECONDS_PER_ROW" -v n="$_n" \
	    'BEGIN { m = int(r * s); print (m > n ? m : n) }')
	redis_run "$_n" "$@" || return 1
	redis_lines
}
# redis_lines: FIG_LINES and FIG_MB from FIG_RPS.  Lines are "PING\r\n",
# 6 bytes (the reply is 7).
redis_lines() {
	FIG_LINES=$(awk -v r="$FIG_RPS" 'BEGIN { printf "%.0f", r }')
	FIG_MB=$(awk -v r="$FIG_RPS" 'BEGIN { printf "%.3f", r * 6 / 1e6 }')
	FIG_CPU=$(cpu_per_line "$FIG_TICKS" "$_count")
}
# redis_run COUNT ARGS...: one redis-benchmark run, bounded in time; sets
# FIG_RPS, FIG_P50 and FIG_P99 (us), FIG_TICKS and FIG_SYSCALLS, or
# FIG_ERROR.
redis_run() {
	_count=$1
	shift
	syscalls_start
	FIG_TICKS=$(cpu_ticks)
	# shellcheck disable=SC2086
	$CLIENT_CPU timeout $((SECONDS_PER_ROW * 4 + 30)) redis-benchmark \
	    -h 127.0.0.1 -p "$PORT" -n "$_count" "$@" -t ping_inline --csv \
	    --precision 3 > "$WORKDIR/redis.csv" 2> "$WORKDIR/redis.err"
	_status=$?
	FIG_TICKS=$(( $(cpu_ticks) - FIG_TICKS ))
	syscalls_stop "$_count"
	# "PING_INLINE","rps","avg","min","p50","p95","p99","max" (ms)
	_line=$(grep '^"PING_INLINE"' "$WORKDIR/redis.csv" | tr -d '"')
	if [ "$_status" -ne 0 ] || [ -z "$_line" ]; then
		FIG_ERROR="failed (exit $_status): $(grep -v -i warning "$WORKDIR/redis.err" | head -n 1)"
		return 1
	fi
	FIG_RPS=$(echo "$_line" | cut -d, -f2)
	FIG_P50=$(echo "$_line" | awk -F, '{ printf "%.1f", $5 * 1000 }')
	FIG_P99=$(echo "$_line" | awk -F, '{ printf "%.1f", $7 * 1000 }')
}

# measure LABEL PINGPONG-ARGS...: one load against the server under test,
# one line of $results.
measure() {
	LOAD=$((LOAD + 1))
	shift
	if [ "$SERVER" = redis ]; then
		redis_figures "$@"
	else
		bench_figures "$@"
	fi
	_status=$?
	if [ "$_status" -eq 0 ]; then
		printf '%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\n' "$LOAD" \
		    "$(label "$SERVER")" "$FIG_LINES" "$FIG_MB" "$FIG_P50" \
		    "$FIG_P99" "$FIG_CPU" "$FIG_SYSCALLS" >> "$results"
	else
		printf '%s\t%s\t-\t%s\n' "$LOAD" "$(label "$SERVER")" \
		    "$FIG_ERROR" >> "$results"
	fi
}
load_label() { echo "$1" >> "$WORKDIR/loads"; }

# run SERVER: start it, the idle row (first round only), every load, stop it.
run() {
	SERVER=$1
	echo "bench-peers: $(label "$1")"
	: > "$WORKDIR/peer.out"
	: > "$WORKDIR/peer.err"
	# A file, not /dev/null: the start and the metrics port are read there.
	DAEMON_LOG=$WORKDIR/server.log
	case $1 in
	pingpongd)
		# shellcheck disable=SC2034 # read by start_daemon in lib.sh
		PINGPONGD_WRAPPER="$SERVER_CPU"
		# shellcheck disable=SC2119 # the benchmark's config as it is
		start_daemon "$(bench_config)" ;;
	scraped)
		# shellcheck disable=SC2034 # read by start_daemon in lib.sh
		PINGPONGD_WRAPPER="$SERVER_CPU"
		start_daemon "$(bench_config metrics.listen=127.0.0.1:0 \
		    daemon.log_level=info)" "$DAEMON_LOG" && start_scraper ;;
	uring-pingpongd)
		# shellcheck disable=SC2034 # read by start_daemon in lib.sh
		PINGPONGD_WRAPPER="$SERVER_CPU"
		start_daemon "$(bench_config server.io=io_uring)" ;;
	baseline)
		_own=$PINGPONGD
		PINGPONGD=$BASELINE
		# shellcheck disable=SC2034 # read by start_daemon in lib.sh
		PINGPONGD_WRAPPER="$SERVER_CPU"
		# shellcheck disable=SC2119 # the benchmark's config as it is
		start_daemon "$(bench_config)"
		_started=$?
		PINGPONGD=$_own
		[ "$_started" -eq 0 ] ;;
	node) start_peer node "$PEER_SRC/node_echo.js" ;;
	redis) start_redis ;;
	*) start_peer "$(command_of "$1")" ;;
	esac || {
		note "skipped: $1: did not start: $(cat "$WORKDIR/peer.err" \
		    "$WORKDIR/peer.out" "$DAEMON_LOG" 2>/dev/null | tail -n 1)"
		[ -z "$DAEMON_PID" ] || stop_daemon KILL
		return
	}
	if [ "$ROUND" -eq 1 ]; then
		idle_rss
		printf '%s\t%s\n' "$(label "$1")" "$IDLE_BYTES" >> "$idle"
	fi
	LOAD=0
	bench_loads measure
	[ -z "$SCRAPER" ] || stop_pid "$SCRAPER"
	SCRAPER=""
	stop_daemon TERM
	DAEMON_PID=""
}

# start_scraper: GET /metrics once a second, as Prometheus would, for as
# long as the server runs (at most a day's worth of scrapes).
SCRAPER=""
start_scraper() {
	_mport=$(sed -n 's/.*metrics: serving \/metrics on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
	    "$DAEMON_LOG")
	[ -n "$_mport" ] || return 1
	(
		_i=0
		while [ $_i -lt 86400 ] && kill -0 "$DAEMON_PID" 2>/dev/null; do
			$CLIENT_CPU curl -s -o /dev/null -m 1 \
			    "http://127.0.0.1:$_mport/metrics"
			sleep 1
			_i=$((_i + 1))
		done
	) &
	SCRAPER=$!
	track "$SCRAPER"
}

[ -z "$SYSCALLS_WHY" ] || note "sys/line n/a: $SYSCALLS_WHY"
servers=pingpongd
for _p in $PEERS; do
	build "$_p" && servers="$servers $_p"
done
: > "$WORKDIR/loads"
bench_loads load_label
# Figures drift by a few percent over a run: every server is measured in
# each of ROUNDS rounds, each round starting one server further on, and the
# tables give the median of its rounds.
ROUND=1
while [ "$ROUND" -le "$ROUNDS" ]; do
	# shellcheck disable=SC2086 # one word per server
	set -- $servers
	_skip=$(( (ROUND - 1) % $# ))
	while [ "$_skip" -gt 0 ]; do
		_first=$1
		shift
		set -- "$@" "$_first"
		_skip=$((_skip - 1))
	done
	echo "bench-peers: round $ROUND of $ROUNDS: $*"
	for _s in "$@"; do
		run "$_s"
	done
	ROUND=$((ROUND + 1))
done

versions=$("${PINGPONGD:?}" --version)
for _p in $servers; do
	case $_p in
	libev) versions="$versions, libev $(version libev-dev)" ;;
	libuv) versions="$versions, libuv $(version libuv1-dev)" ;;
	uring) versions="$versions, liburing $(version liburing-dev)" ;;
	mio) versions="$versions, mio $(version librust-mio-dev)" ;;
	tokio) versions="$versions, tokio $(version librust-tokio-dev)" ;;
	node) versions="$versions, Node.js $(node --version)" ;;
	redis) versions="$versions, redis $(version redis-server)" ;;
	esac
done

echo
printf 'pingpongd beside its peers: '
bench_header
echo "$versions"
sed 's/^/  /' "$notes"
awk -F '\t' -v loads="$WORKDIR/loads" -v rounds="$ROUNDS" '
function median(list,    v, n, i, j, t) {
	n = split(list, v, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
# lowest(list) and highest(list): of the figures of the rounds.
function lowest(list,    v, n, i, m) {
	n = split(list, v, " ")
	m = v[1] + 0
	for (i = 2; i <= n; i++)
		if (v[i] + 0 < m) m = v[i] + 0
	return m
}
function highest(list,    v, n, i, m) {
	n = split(list, v, " ")
	m = v[1] + 0
	for (i = 2; i <= n; i++)
		if (v[i] + 0 > m) m = v[i] + 0
	return m
}
# counted(list): the median system calls per line, "n/a" unless every
# round counted them.
function counted(list,    v, n, i) {
	n = split(list, v, " ")
	for (i = 1; i <= n; i++)
		if (v[i] !~ /^[0-9]+(\.[0-9]*)?$/)
			return "n/a"
	return sprintf("%.2f", median(list))
}
BEGIN { while ((getline l < loads) > 0) label[++nloads] = l }
{
	if (!(($1, $2) in seen)) {
		seen[$1, $2] = 1
		server[$1, ++count[$1]] = $2
	}
	if ($3 == "ok") {
		lines[$1, $2] = lines[$1, $2] " " $4
		mb[$1, $2] = mb[$1, $2] " " $5
		p50[$1, $2] = p50[$1, $2] " " $6
		p99[$1, $2] = p99[$1, $2] " " $7
		cpu[$1, $2] = cpu[$1, $2] " " $8
		sys[$1, $2] = sys[$1, $2] " " $9
	} else {
		if (!(($1, $2) in why))
			why[$1, $2] = $4
		failed[$1, $2]++
	}
}
END {
	printf "\nEach figure is the median of %d round(s); \"rounds\" gives the\n", rounds
	printf "lowest and highest lines/s of the rounds, as a %% of the median;\n"
	printf "\"cpu ns/l\" is the server'"'"'s utime + stime per echoed line over the\n"
	printf "run (set-up of its connections included), \"cpu rounds\" its spread;\n"
	printf "\"sys/line\" the system calls of the server'"'"'s process per echoed line\n"
	printf "over the same run (perf stat, raw_syscalls:sys_enter).\n"
	for (l = 1; l <= nloads; l++) {
		printf "\n%s\n", label[l]
		printf "  %-30s %12s %10s %9s %9s  %-13s %8s  %-13s %8s\n", "server", \
		    "lines/s", "MB/s", "p50 us", "p99 us", "rounds", "cpu ns/l", \
		    "cpu rounds", "sys/line"
		best = ""; own = ""; delete L; delete CPU
		for (i = 1; i <= count[l]; i++) {
			s = server[l, i]
			if ((l, s) in why) {
				if (why[l, s] ~ /^n\/a/)
					printf "  %-30s %12s\n", s, why[l, s]
				else
					printf "  %-30s  in %d of %d round(s): %s\n", \
					    s, failed[l, s], rounds, why[l, s]
				continue
			}
			L[s] = median(lines[l, s]); P99[s] = median(p99[l, s])
			LO[s] = lowest(lines[l, s]); HI[s] = highest(lines[l, s])
			C = CPU[s] = median(cpu[l, s])
			printf "  %-30s %12.0f %10.3f %9.1f %9.1f  %-13s %8.0f  %-13s %8s\n", \
			    s, L[s], median(mb[l, s]), median(p50[l, s]), P99[s], \
			    sprintf("%.1f-%.1f%%", 100 * LO[s] / L[s], 100 * HI[s] / L[s]), \
			    C, (C > 0 ? sprintf("%.1f-%.1f%%", 100 * lowest(cpu[l, s]) / C, \
			    100 * highest(cpu[l, s]) / C) : ""), counted(sys[l, s])
			# redis-benchmark is another client: on a saturated
			# client CPU its own cost sets the pace as much as the
			# server does, so redis is shown but not ranked.  The
			# best peer is the best readiness-based loop, as
			# pingpongd is one: uring_echo gets a line of its own.
			if (s == "pingpongd")
				own = s
			else if (s !~ /^(redis|pingpongd)/ && s != "uring_echo" &&
			    (best == "" || L[s] > L[best]))
				best = s
		}
		# The same daemon before a change, measured in the same rounds.
		# The same daemon another way, measured in the same rounds.
		nv = split("pingpongd (baseline)|pingpongd (scraped 1/s)|pingpongd (io_uring)", \
		    variants, "|")
		for (v = 1; v <= nv; v++) {
			base = variants[v]
			if (own == "" || !(base in L))
				continue
			printf "  pingpongd against %s: lines/s %.1f%% (%s), cpu/line %.1f%%\n", \
			    base, 100 * L[own] / L[base], \
			    (HI[own] >= LO[base] && HI[base] >= LO[own] ? \
			    "the rounds overlap" : "the rounds do not overlap"), \
			    (CPU[base] > 0 ? 100 * CPU[own] / CPU[base] : 0)
		}
		if ("uring_echo" in L) {
			u = "uring_echo"
			printf "  io_uring peer, not ranked: uring_echo, %.0f lines/s", L[u]
			if (own != "")
				printf "; pingpongd %.1f%% of it", 100 * L[own] / L[u]
			if ("pingpongd (io_uring)" in L)
				printf "; pingpongd (io_uring) %.1f%% of it", \
				    100 * L["pingpongd (io_uring)"] / L[u]
			printf "\n"
		}
		if (best == "")
			continue
		printf "  best readiness-based peer (most lines/s; pingpongd, uring_echo, redis not counted): %s\n", best
		if (own == "")
			continue
		# Short of the best by less than the rounds themselves
		# vary, the order of the two is not settled by this run.
		if (L[own] >= L[best])
			verdict = "yes"
		else if (HI[own] >= LO[best])
			verdict = "within the spread of rounds"
		else
			verdict = "no"
		printf "  pingpongd matched it: lines/s %s (%.1f%%), p99 %s (%.1f vs %.1f us)\n", \
		    verdict, 100 * L[own] / L[best], \
		    (P99[own] <= P99[best] ? "yes" : "no"), P99[own], P99[best]
	}
}' "$results"
echo
echo "10,000 idle connections: RSS per connection"
awk -F '\t' '{ printf "  %-30s %12s bytes\n", $1, $2 }' "$idle"
case " $servers " in
*" redis "*)
	echo
	cat <<EOF
redis-server (redis-benchmark): redis-server answers inline PING; it is
driven by redis-benchmark -t ping_inline, not by pingpong, with the same
connections and pipeline depth (-c, -P; -k 0 to connect for each
request).  Its lines are 6 bytes ("PING\\r\\n", answered by 7); MB/s counts
6 bytes a line.  Its connect-and-close row is $REDIS_CYCLES connections, not
${SECONDS_PER_ROW} s: redis-benchmark closes with a FIN, and the local ports left
in TIME_WAIT would run out (pingpong --cycle closes with a reset).
n/a: no inline PING carries a 16 KiB line.
EOF
	;;
esac
