#!/usr/bin/env bash
# The long fuzzing run behind the figures in BENCHMARKS.md: each libFuzzer harness, one at a
# time, for RUNS executions (default 10 M) or MAX_TIME seconds, whichever ends first, starting
# from its seed corpus. New inputs go to a work directory, never into the tree.
#
#   CC=clang meson setup build-fuzz -Dfuzz=true --buildtype=debugoptimized && ninja -C build-fuzz
#   tests/fuzz/long-run.sh [-B build-fuzz] [-o OUT] [-r RUNS] [-t MAX_TIME] [-j JOBS] [HARNESS...]
#
# HARNESS is a name such as "parse" (default: every tests/fuzz/corpus/* that has a binary).
# JOBS > 1 runs that many harnesses at once (each still single-process). Results: OUT/<harness>/
# (corpus, crash/leak/timeout artifacts, log) and OUT/results.md, one table row per harness:
# executions, exec/s, coverage (edges) and features, corpus size, findings (artifacts).
# Exits non-zero if any harness found anything.
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
build=$top/build-fuzz
out=${TMPDIR:-/tmp}/segd-fuzz-long
runs=10000000
max_time=0
jobs=1

while getopts "B:o:r:t:j:" o; do
	case $o in
	B) build=$(cd "$OPTARG" && pwd) ;;
	o) out=$OPTARG ;;
	r) runs=$OPTARG ;;
	t) max_time=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then
	harnesses=("$@")
else
	harnesses=()
	for d in "$top"/tests/fuzz/corpus/*/; do
		h=$(basename "$d")
		[ -x "$build/tests/fuzz/fuzz-$h" ] && harnesses+=("$h")
	done
fi
[ "${#harnesses[@]}" -gt 0 ] || { echo "long-run: no harness built in $build (-Dfuzz=true, clang)" >&2; exit 2; }
mkdir -p "$out"

# One harness: prints its table row (and keeps it in OUT/<h>/row).
run_one() {
	local h=$1 dir=$out/$1 bin=$build/tests/fuzz/fuzz-$1 log t0 t1 execs rate cov ft corp findings
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	log=$dir/log
	t0=$(date +%s)
	# The seed corpus is read-only input (second directory): new units go to $dir/corpus.
	nice -n 19 "$bin" -runs="$runs" -max_total_time="$max_time" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
		"$dir/corpus" "$top/tests/fuzz/corpus/$h" >"$log" 2>&1
	t1=$(date +%s)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
	ft=$(grep -aoE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
	corp=$(grep -aoE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | sed 's/corp: //')
	findings=$(find "$dir/artifacts" -type f | wc -l)
	printf '| %s | %s | %s | %s | %s | %s | %s | %ss |\n' "fuzz-$h" "${execs:-?}" "${rate:-?}" \
		"${cov:-?}" "${ft:-?}" "${corp:-?}" "$findings" "$((t1 - t0))" | tee "$dir/row"
}

echo "| harness | executions | exec/s | coverage (edges) | features | corpus (units/bytes) | findings | wall time |"
echo "|---|---|---|---|---|---|---|---|"
running=0
for h in "${harnesses[@]}"; do
	[ -x "$build/tests/fuzz/fuzz-$h" ] || { echo "| fuzz-$h | not built |"; continue; }
	run_one "$h" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait
{
	echo "| harness | executions | exec/s | coverage (edges) | features | corpus (units/bytes) | findings | wall time |"
	echo "|---|---|---|---|---|---|---|---|"
	for h in "${harnesses[@]}"; do cat "$out/$h/row" 2>/dev/null; done
} >"$out/results.md"
found=0
for h in "${harnesses[@]}"; do
	n=$(find "$out/$h/artifacts" -type f 2>/dev/null | wc -l)
	[ "$n" -gt 0 ] && { echo "fuzz-$h: $n finding(s) in $out/$h/artifacts" >&2; found=1; }
done
echo "results: $out/results.md"
exit "$found"
