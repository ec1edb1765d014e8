#!/bin/sh
# The manual pages render with no warning from groff (-ww: every warning),
# and document every configuration key and every exit status.
. "${abs_top_srcdir:-.}/tests/integration/lib.sh"

MAN="${abs_top_srcdir:-.}/man"
# pingpongd(8) is built from its .in, with the configured paths in it.
BUILT_MAN="${abs_top_builddir:-.}/man"

plan 5

for page in "$BUILT_MAN/pingpongd.8" "$MAN/pingpongd.ini.5"; do
	groff -ww -z -man "$page" > "$WORKDIR/${page##*/}.warnings" 2>&1
	page=${page##*/}
	sed 's/^/# /' "$WORKDIR/$page.warnings"
	check "$page renders without warnings" test ! -s "$WORKDIR/$page.warnings"
done

# conf/pingpongd.ini sets every key (check_config proves it): each of them
# must have its entry in the manual page.
keys=$(sed -n 's/^\([a-z_]*\) = .*/\1/p' "${abs_top_srcdir:-.}/conf/pingpongd.ini" | sort -u)
missing=""
for key in $keys; do
	grep -q "^\.BI $key " "$MAN/pingpongd.ini.5" || missing="$missing $key"
done
diag "keys: $(echo "$keys" | tr '\n' ' ')undocumented:${missing:- none}"
check "pingpongd.ini(5) documents every key of conf/pingpongd.ini" \
    test -n "$keys" -a -z "$missing"

missing=""
for status in 0 64 66 71 78; do
	grep -q "^\.B $status$" "$BUILT_MAN/pingpongd.8" || missing="$missing $status"
done
check "pingpongd(8) lists every exit status" test -z "$missing"

# FILES names the configuration where this build looks for it: the path
# the daemon's own help gives.
conf=$("$PINGPONGD" -h | sed -n 's|.*see \(/.*/pingpongd\.ini\)).*|\1|p')
diag "the daemon's configuration: $conf"
check "pingpongd(8) names the configuration path of this build ($conf)" \
    grep -q "^\.I $conf$" "$BUILT_MAN/pingpongd.8"

finish
