#!/bin/sh
# The README's "Using pingpongd in your tests" examples, run as they are
# written there: a shell test and a Python test that start pingpongd on a
# free port with --ready-fd, echo a line and stop it.  Extracted from the
# README each time, so the text cannot drift from what works.
# shellcheck disable=SC2317
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

README="${abs_top_srcdir:-.}/README"
# The examples call pingpongd by name, as their readers will.
PATH="$(dirname "$PINGPONGD"):$PATH"
export PATH

plan 7

# example NAME: the indented block of the README whose second line is the
# comment "# NAME: ...", its shebang first, without the indentation.
example() {
	awk -v name="$1" '
	started && /^$/ { blank = blank "\n"; next }
	started && /^    / { printf "%s%s\n", blank, substr($0, 5); blank = ""; next }
	started { exit }
	prev ~ /^    #!/ && index($0, "    # " name ":") == 1 {
		started = 1
		print substr(prev, 5)
		print substr($0, 5)
	}
	{ prev = $0 }
	' "$README"
}

example test_echo.sh > "$WORKDIR/test_echo.sh"
example test_echo.py > "$WORKDIR/test_echo.py"
check "the README has the shell example" \
    grep -q '^pingpongd -l 127.0.0.1:0 --ready-fd 3' "$WORKDIR/test_echo.sh"
check "the README has the Python example" \
    grep -q '^proc, host, port = start_pingpongd()$' "$WORKDIR/test_echo.py"

# run_example NAME COMMAND...: its output in NAME.out, its errors in NAME.err.
run_example() {
	_n=$1
	shift
	(cd "$WORKDIR" && timeout $((WAIT_SECONDS * 2)) "$@") \
	    > "$WORKDIR/$_n.out" 2> "$WORKDIR/$_n.err"
	_status=$?
	sed 's/^/# /' "$WORKDIR/$_n.out"
	[ "$_status" -eq 0 ] || sed 's/^/#   /' "$WORKDIR/$_n.err"
	return $_status
}
echoed_line() { grep -q "^echoed through 127\.0\.0\.1:[0-9][0-9]*: $2" "$WORKDIR/$1.out"; }

# Each example waits for its daemon's exit status 0 after SIGTERM, so a
# run that ends well left no daemon behind.
check "the shell example runs: exit status 0" \
    run_example shell sh "$WORKDIR/test_echo.sh"
check "... and says its line was echoed" echoed_line shell 'hello$'
check "the Python example runs: exit status 0" \
    run_example python python3 "$WORKDIR/test_echo.py"
check "... and says its line was echoed" echoed_line python "b'hello\\\\n'$"

# When pingpongd cannot start, the shell example says so and fails.
sed 's/^pingpongd -l 127.0.0.1:0/pingpongd -l 127.0.0.1:0 -o connection.max_line=0/' \
    "$WORKDIR/test_echo.sh" > "$WORKDIR/broken.sh"
check "a daemon that cannot start: the shell example fails at once" \
    eval '! run_example broken sh "$WORKDIR/broken.sh"'

finish
