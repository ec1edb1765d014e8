#!/bin/sh
# Command-line options, their long forms, and every documented exit status.
# check and wait_until call this script's helper functions.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

GOOD="${abs_top_srcdir:-.}/conf/pingpongd.ini"

plan 50

# run NAME ARG...: run pingpongd with ARGs, stdout into $WORKDIR/NAME.out
# and stderr into NAME.err, and set STATUS.  In the background, so that a
# daemon that wrongly starts serving is found out (STATUS=running) rather
# than waited for.
run() {
	_name=$1
	shift
	# shellcheck disable=SC2086
	$PINGPONGD_WRAPPER "$PINGPONGD" "$@" > "$WORKDIR/$_name.out" \
	    2> "$WORKDIR/$_name.err" &
	_pid=$!
	track $_pid
	if wait_exit $_pid; then
		STATUS=$WAIT_STATUS
	else
		STATUS=running
		stop_pid $_pid KILL
	fi
}
status_is() {
	[ "$STATUS" = "$1" ] && return 0
	diag "exit status $STATUS, expected $1; stderr:"
	sed 's/^/#   /' "$WORKDIR/$_name.err"
	return 1
}
# stdout_has NAME PATTERN, stderr_has NAME PATTERN: a line of the run's
# stdout (stderr) matches the basic regular expression PATTERN.
stdout_has() { grep -q -- "$2" "$WORKDIR/$1.out"; }
stderr_has() { grep -q -- "$2" "$WORKDIR/$1.err"; }
# stderr_has_all NAME STRING...: one line of stderr holds every fixed STRING.
stderr_has_all() {
	_lines=$(cat "$WORKDIR/$1.err")
	shift
	for _s in "$@"; do
		_lines=$(printf '%s\n' "$_lines" | grep -F -- "$_s") || return 1
	done
}
usage_ok() { status_is 0 && stdout_has "$1" "^usage: pingpongd"; }
version_ok() { status_is 0 && stdout_has "$1" "$VERSION_RE"; }

# -t on the configuration file we ship, and on the built-in defaults.
run good -t -c "$GOOD"
check "-t -c conf/pingpongd.ini: exit status 0" status_is 0
check "... and it prints OK" stdout_has good "OK"
run defaults -t
check "-t with no -c checks the built-in defaults: exit status 0" status_is 0
check "... and it prints OK" stdout_has defaults "OK"
run long_test --test --config "$GOOD"
check "--test --config FILE: exit status 0" status_is 0
run long_eq --test --config="$GOOD"
check "--test --config=FILE: exit status 0" status_is 0

# A bad value on line 4: exit 78 (EX_CONFIG), message with FILE:LINE and key.
bad=$(ini badvalue server.listen=127.0.0.1:0 connection.max_line=lots)
run badvalue -t -c "$bad"
check "-t on a bad value: exit status 78" status_is 78
check "... the message names $bad:4 and max_line" \
    stderr_has_all badvalue "$bad:4" "max_line"
run badvalue_run -c "$bad"
check "starting on a bad value: exit status 78" status_is 78

unknown=$(ini unknown server.listen=127.0.0.1:0 server.colour=blue)
run unknown -t -c "$unknown"
check "-t on an unknown key: exit status 78" status_is 78
check "... the message names $unknown:3 and colour" \
    stderr_has_all unknown "$unknown:3" "colour"

# A file that cannot be read: exit 66 (EX_NOINPUT), naming the path.
run missing -t -c "$WORKDIR/no-such-file.ini"
check "-t on a missing file: exit status 66" status_is 66
check "... the message names the file" \
    stderr_has_all missing "$WORKDIR/no-such-file.ini"
mkdir "$WORKDIR/a-directory.ini"
run directory -t -c "$WORKDIR/a-directory.ini"
check "-t on a directory: exit status 66" status_is 66
check "... the message names the directory" \
    stderr_has_all directory "$WORKDIR/a-directory.ini"

# Usage errors: exit 64 (EX_USAGE) with the usage on stderr.
run badopt --no-such-option
check "an unknown long option: exit status 64" status_is 64
check "... with the usage on stderr" stderr_has badopt "^usage: pingpongd"
run badshort -x
check "an unknown short option: exit status 64" status_is 64
run extra -t -c "$GOOD" surplus
check "an extra argument: exit status 64" status_is 64
check "... the message names it" stderr_has extra "surplus"
run noarg -t -c
check "-c without its file: exit status 64" status_is 64

# Help and version: exit 0 on stdout.
run help -h
check "-h: exit status 0" status_is 0
check "... prints the usage on stdout" stdout_has help "^usage: pingpongd"
run long_help --help
check "--help: exit status 0 and the usage" usage_ok long_help
VERSION_RE='^pingpongd [0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*[0-9A-Za-z.~+-]*$'
run version -V
check "-V: exit status 0" status_is 0
check "... prints 'pingpongd VERSION'" stdout_has version "$VERSION_RE"
run long_version --version
check "--version: exit status 0 and the version" version_ok long_version

# Settings on the command line: -o SECTION.KEY=VALUE and -l ADDR, checked
# as lines of a file.  A malformed one is a usage error (64); a bad key or
# value a configuration error (78) whose one line names the option as
# given.
run o_malformed -t -o connection.max_line
check "-o without '=': exit status 64" status_is 64
check "... the message names the option and the form wanted" \
    stderr_has_all o_malformed "pingpongd: -o connection.max_line:" \
    "SECTION.KEY=VALUE"
run o_nodot --set max_line=4
check "--set without a dot: exit status 64" status_is 64
check "... named as given, --set" stderr_has o_nodot "^pingpongd: --set max_line=4:"
run o_value -t -o connection.max_line=0
check "-o connection.max_line=0: exit status 78" status_is 78
check "... one line: 'pingpongd: -o connection.max_line=0: ...out of range'" \
    stderr_has o_value '^pingpongd: -o connection\.max_line=0: "0": out of range'
run o_unknown -o server.colour=blue
check "-o with an unknown key, starting: exit status 78" status_is 78
check "... the message names it" \
    stderr_has_all o_unknown "-o server.colour=blue:" "unknown key"
run o_twice -t -o daemon.log_level=debug -o daemon.log_level=error
check "the same -o key twice: exit status 78" status_is 78
check "... the second is named" \
    stderr_has o_twice "^pingpongd: -o daemon.log_level=error: given twice"
run l_bad -l 127.0.0.1
check "-l with a bad address: exit status 78" status_is 78
check "... named as given" \
    stderr_has l_bad '^pingpongd: -l 127\.0\.0\.1: "127\.0\.0\.1": missing ":PORT"'
run l_ok -t -c "$GOOD" -l 127.0.0.1:0 --listen '[::1]:0' -o connection.framing=bytes
check "-t checks the file and the command line together: exit status 0" \
    status_is 0
check "... and says both were checked" \
    stdout_has l_ok "with the command line's settings OK$"
run l_file_bad -t -c "$bad" -o connection.max_line=4k
check "-o does not hide a bad line of the file: exit status 78" status_is 78
run fd_closed --ready-fd 9 -l 127.0.0.1:0
check "--ready-fd on a descriptor that is not open: exit status 64" \
    status_is 64
check "... the message names it" stderr_has fd_closed "^pingpongd: --ready-fd 9:"
run fd_word --ready-fd three -l 127.0.0.1:0
check "--ready-fd with no number: exit status 64" status_is 64

# An address already in use: exit 71 (EX_OSERR) naming the address.
cfg=$(ini first server.listen=127.0.0.1:0)
check "a first daemon starts on a free port" start_daemon "$cfg"
taken=$(ini taken "server.listen=127.0.0.1:$PORT")
run taken -c "$taken"
check "a second daemon on the same address: exit status 71" status_is 71
check "... the message names 127.0.0.1:$PORT and 'Address already in use'" \
    stderr_has_all taken "127.0.0.1:$PORT" "Address already in use"
printf 'still here\n' > "$WORKDIR/line"
check "the first daemon is unharmed and still echoes" \
    echoes_back "$WORKDIR/line"
stop_daemon TERM
check "the first daemon: SIGTERM, exit status 0" test "$DAEMON_STATUS" -eq 0

finish
