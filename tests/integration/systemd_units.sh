#!/bin/sh
# The shipped units pass `systemd-analyze verify` with no warning, and the
# service's exposure score from `systemd-analyze security --offline` stays at
# or below the bound (Debian's hardened redis-server.service rates 1.2).
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

MAX_EXPOSURE=1.1
UNITS="$WORKDIR/units"
mkdir -p "$UNITS" "$WORKDIR/man/man8" "$WORKDIR/man/man5"

plan 4

# The unit as `make install` writes it, pointing at the built daemon, and
# the manual pages where `man` finds them (verify checks Documentation=).
sed -e "s|@sbindir@|${abs_top_builddir:-.}|g" \
    -e "s|@sysconfdir@|${abs_top_srcdir:-.}/conf/..|g" \
    "${abs_top_srcdir:-.}/systemd/pingpongd.service.in" > "$UNITS/pingpongd.service"
cp "${abs_top_srcdir:-.}/systemd/pingpongd.socket" "$UNITS/"
cp "${abs_top_builddir:-.}/man/pingpongd.8" "$WORKDIR/man/man8/"
cp "${abs_top_srcdir:-.}/man/pingpongd.ini.5" "$WORKDIR/man/man5/"

check "ExecStart runs the daemon with -c the installed config" \
    grep -q "^ExecStart=${abs_top_builddir:-.}/pingpongd -c .*/pingpongd/pingpongd.ini$" \
    "$UNITS/pingpongd.service"

(cd "$UNITS" && MANPATH="$WORKDIR/man" systemd-analyze verify \
    ./pingpongd.service ./pingpongd.socket) > "$WORKDIR/verify.out" 2>&1
status=$?
sed 's/^/# verify: /' "$WORKDIR/verify.out"
check "systemd-analyze verify accepts both units" test "$status" -eq 0
check "systemd-analyze verify prints no warning" test ! -s "$WORKDIR/verify.out"

(cd "$UNITS" && systemd-analyze security --offline=yes ./pingpongd.service) \
    > "$WORKDIR/security.out" 2>&1
score=$(sed -n 's/.*Overall exposure level for pingpongd.service: \([0-9.]*\).*/\1/p' \
    "$WORKDIR/security.out")
diag "exposure score: ${score:-none}"
check "security --offline exposure ${score:-?} <= $MAX_EXPOSURE" \
    awk -v s="${score:-99}" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s + 0 <= m + 0) }'

finish
