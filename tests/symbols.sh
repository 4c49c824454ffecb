#!/bin/sh
# symbols.sh - STYLE.md rule 1: every global symbol that libkw.a defines
# starts with "kw_"; everything else is static. Lists each stray symbol as
# "object: symbol" and fails when there is one.
#
# Usage: symbols.sh path/to/libkw.a   (meson passes kwlib.full_path())
set -eu

lib=${1:?usage: symbols.sh LIBRARY}
nm=${NM:-nm}

if [ ! -r "$lib" ]; then
	echo "symbols.sh: cannot read $lib" >&2
	exit 2
fi

# nm prints "member.o:" before each member's symbols; defined globals are
# "ADDRESS TYPE NAME" lines. Names the compiler makes for instrumentation
# (ASan's "__odr_asan.kw_x" beside a kw_x global, coverage and sanitizer
# runtime hooks) are not ours and are skipped.
out=$("$nm" -g --defined-only "$lib") || {
	echo "symbols.sh: $nm failed on $lib" >&2
	exit 2
}
stray=$(printf '%s\n' "$out" | awk '
	/:$/ { obj = substr($0, 1, length($0) - 1); next }
	NF != 3 { next }
	$3 ~ /^kw_/ { next }
	$3 ~ /^__odr_asan\.kw_/ { next }
	$3 ~ /^__(asan|ubsan|sanitizer|sancov|gcov|llvm)_/ { next }
	{ print obj ": " $3 }
')
count=$(printf '%s\n' "$out" | awk 'NF == 3 { n++ } END { print n + 0 }')

if [ -n "$stray" ]; then
	echo "global symbols in $lib without the kw_ prefix (make them static or prefix them):"
	printf '%s\n' "$stray"
	exit 1
fi
if [ "$count" -eq 0 ]; then
	echo "symbols.sh: no defined global symbols found in $lib" >&2
	exit 2
fi
echo "symbols.sh: $count global symbols, all kw_"
