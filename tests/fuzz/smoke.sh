#!/usr/bin/env bash
# The fuzz suite of tests/run-all.sh: every libFuzzer harness of a -Dfuzz=true clang build
# (ASan + UBSan + libFuzzer) runs for SECONDS (default 10) from a temporary copy of its seed
# corpus (tests/fuzz/corpus/<harness>/), so that the tree does not grow. A crash, a leak, a
# timeout (-timeout=10 per input), an out-of-memory or a harness without seeds fails it.
#
#   tests/fuzz/smoke.sh BUILD [SECONDS]
#
# Prints one line per harness and "N passed, N failed"; artifacts of a failure are kept under
# $TMPDIR and named in its line.
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
build=${1:?usage: smoke.sh BUILD [SECONDS]}
secs=${2:-10}
passed=0
failed=0

bins=("$build"/tests/fuzz/fuzz-*)
if [ ! -x "${bins[0]}" ]; then
	echo "smoke: no harness in $build/tests/fuzz (CC=clang meson setup ... -Dfuzz=true)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/segd-fuzz-smoke.XXXXXX")
for bin in "${bins[@]}"; do
	[ -x "$bin" ] && [ -f "$bin" ] || continue
	h=${bin##*/fuzz-}
	seeds=$top/tests/fuzz/corpus/$h
	dir=$work/$h
	mkdir -p "$dir/artifacts"
	if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
		echo "FAIL fuzz-$h: no seed corpus in tests/fuzz/corpus/$h"
		failed=$((failed + 1))
		continue
	fi
	cp -r "$seeds" "$dir/corpus"
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
	cov=$(grep -aoE 'cov: [0-9]+' "$dir/log" | tail -1)
	if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$dir/artifacts")" ]; then
		echo "ok   fuzz-$h: ${execs:-?} executions, ${cov:-cov: ?}"
		passed=$((passed + 1))
		rm -rf "$dir"
	else
		echo "FAIL fuzz-$h: exit $rc; log and artifacts in $dir"
		grep -aE '^(==[0-9]+==|SUMMARY|artifact_prefix)' "$dir/log" | head -5 | sed 's/^/     /'
		failed=$((failed + 1))
	fi
done
rmdir "$work" 2>/dev/null
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
