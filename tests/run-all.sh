#!/usr/bin/env bash
# segd's whole test suite, as CI runs it: builds with gcc (-Werror) and with clang + ASan/UBSan
# (-Werror), runs the unit, golden and CLI suites on both, 6 s of every fuzz harness (clang,
# libFuzzer + ASan/UBSan), then the root-only suites against the
# sanitized build: kernel apply tests, hostile API input, integration tests in real network
# namespaces, the restart test, audit and explain (check, matrix, diff, audit log, roles,
# metrics), drift repair, the security suite (every escape from confinement tried with real
# packets, in namespaces and with real Podman containers), failures that must stay where they
# are (one namespace one endpoint; a refused endpoint retried without holding up others), abuse
# of the control API by local users (connection floods, trickled requests, callers with no role,
# segctl's timeouts), state faults (a full state dir, a damaged state.json or journal: fail
# closed, with real packets), a hostile fake engine, real Podman and Docker containers (the
# same scenarios for both), the Compose example, real Docker containers through segd-runc, the
# zero-window measurement (200 container starts with Podman, 100 with Docker), a fleet of
# three segd nodes sharing a real etcd cluster, and the NetworkPolicy and ClusterNetworkPolicy
# conformance cases. Run as root on Debian 12.
# The last line is "N passed, N failed" over every test of every suite.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
logdir=${SEGD_TEST_LOGS:-$top/build-logs}
mkdir -p "$logdir"

[ "$(id -u)" = 0 ] || { echo "run-all: run as root (tests create network namespaces)" >&2; exit 1; }
scripts/deps.sh || { echo "run-all: installing dependencies failed" >&2; exit 1; }

passed=0
failed=0
skipped=0
suites_failed=()
durations=()

# Runs one suite, shows its output and its duration (CI must stay under 40 minutes: the
# durations, also listed at the end, show where the time goes), and adds its counts (its own
# "N passed, N failed" line, or meson's Ok/Fail summary). A suite that fails without printing
# counts counts as one failure.
suite() {
	local name=$1; shift
	local log="$logdir/$name.log" rc p f s t0 secs
	echo "=== $name: $*"
	t0=$(date +%s)
	# A pipeline, not > >(tee): bash waits for every part of it, so the log is complete
	# when it is read below; the suite's own status is PIPESTATUS[0].
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	if line=$(grep -aE '^[A-Za-z]*:? ?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1); [ -n "$line" ]; then
		p=$(sed -E 's/^[^0-9]*([0-9]+) passed.*/\1/' <<<"$line")
		f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
		s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || echo 0)
	elif grep -aqE '^Ok:' "$log"; then
		p=$(grep -aE '^Ok:' "$log" | tail -1 | grep -oE '[0-9]+')
		f=$(( $(grep -aE '^Fail:' "$log" | tail -1 | grep -oE '[0-9]+') + $(grep -aE '^Timeout:' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0) ))
		s=$(grep -aE '^Skipped:' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
	else
		p=0; f=0; s=0
	fi
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
	[ "$rc" -ne 0 ] && suites_failed+=("$name")
	secs=$(($(date +%s) - t0))
	durations+=("$name ${secs}s")
	echo "=== $name: exit $rc (passed ${p:-0}, failed ${f:-0}, skipped ${s:-0}) in ${secs}s"
}

build() {
	local cc=$1 dir=$2; shift 2
	[ -f "$dir/build.ninja" ] || CC=$cc meson setup "$dir" "$@" || return 1
	ninja -C "$dir"
}

suite build-gcc build gcc "$top/build-gcc" -Dwerror=true --buildtype=debugoptimized
suite unit-gcc meson test -C "$top/build-gcc" --print-errorlogs
suite build-asan build clang "$top/build-asan" -Dwerror=true --buildtype=debug \
	-Db_sanitize=address,undefined -Db_lundef=false
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
suite unit-asan meson test -C "$top/build-asan" --print-errorlogs
# libFuzzer harnesses (clang, ASan + UBSan + -fsanitize=fuzzer): 6 s each from a temporary
# copy of its seed corpus; tests/fuzz/long-run.sh is the long run of BENCHMARKS.md.
suite build-fuzz build clang "$top/build-fuzz" -Dfuzz=true --buildtype=debugoptimized
suite fuzz tests/fuzz/smoke.sh "$top/build-fuzz" 6
suite kernel-asan meson test -C "$top/build-asan" --suite integration --print-errorlogs

B=$top/build-asan
bins=(--segd "$B/daemon/segd" --segctl "$B/cli/segctl" --probe "$B/tests/tools/segd-probe")
suite bad-input python3 tests/integration/test_bad_input.py "${bins[@]}"
suite integration python3 tests/integration/test_netns.py "${bins[@]}"
suite restart python3 tests/integration/test_restart.py "${bins[@]}"
suite incremental python3 tests/integration/test_incremental.py "${bins[@]}"
suite audit python3 tests/integration/test_audit.py "${bins[@]}"
suite cnp python3 tests/integration/test_cnp.py "${bins[@]}"
# Three segd nodes sharing a real 3-member etcd cluster (tests/lib/etcd.py), with etcd's leader
# killed during applies, all of etcd stopped, a node killed, and a TLS cluster.
suite fleet python3 tests/integration/test_fleet.py "${bins[@]}"
suite drift python3 tests/integration/test_drift.py "${bins[@]}"
suite security python3 tests/security/test_security.py "${bins[@]}"
suite faults python3 tests/security/test_faults.py "${bins[@]}"
suite api-abuse python3 tests/security/test_api_abuse.py "${bins[@]}"
suite state-faults python3 tests/security/test_state_faults.py "${bins[@]}"
suite engine-input python3 tests/integration/test_engine_input.py "${bins[@]}"
# Real Podman containers (tests/lib/podman.py sets Podman up with scripts/podman-env.sh), and
# the same scenarios with real Docker containers (tests/lib/docker.py: a private containerd and
# dockerd from scripts/docker-env.sh, every container under segd-runc).
suite podman python3 tests/integration/test_containers.py --engine podman --build "$B"
suite docker python3 tests/integration/test_containers.py --engine docker --build "$B"
# examples/compose with Compose v1 (Debian's docker-compose) and its policy file.
suite compose python3 tests/integration/test_compose.py --build "$B"
suite podman-security python3 tests/security/test_podman_security.py --build "$B"
# Real Docker (20.10: dockerd, containerd and its shim; the same docker-env.sh fixture) through
# segd-runc, with its special cases (a missing hook, `--runtime runc` caught through PATH).
suite docker-runc python3 tests/integration/test_docker_runc.py --build "$B"
# The zero-window measurement under a connection hammer, with each engine: Podman's OCI hook
# (200 starts), Docker's containers through segd-runc (100: the same code path after the
# runtime wrapper, and CI's 40 minutes are shared with the fleet suite).
suite zero-window python3 tests/integration/test_zero_window.py --engine podman --build "$B" --starts 200
suite zero-window-docker python3 tests/integration/test_zero_window.py --engine docker --build "$B" \
	--starts 100 --control-starts 10 --label-starts 10
# NetworkPolicy cases (nine x/y/z pods), then the ClusterNetworkPolicy (tier) cases with their
# own topology; the runner sets each topology up once and skips cases needing unclaimed features.
cases=(tests/conformance/cases)
if [ -d "$top/../shared/conformance/cases" ]; then
	cases=("$(cd "$top/../shared/conformance/cases" && pwd)" "${cases[@]}")
else
	echo "note: ../shared/conformance/cases not found; running the project's own cases only"
fi
if [ -d "$top/../shared/conformance/cases-tiers" ]; then
	cases+=("$(cd "$top/../shared/conformance/cases-tiers" && pwd)")
fi
if [ -d tests/conformance/cases-tiers ]; then
	cases+=(tests/conformance/cases-tiers)
fi
cases+=(tests/conformance/fixtures)
suite conformance python3 tests/conformance/run.py "${bins[@]}" --family both "${cases[@]}"
# The benchmark suite's quick profile: keeps it working, and fails when a target of issue 13
# ((a) compile slope, (c) cost of a change vs N, (f) memory and descriptors per endpoint) is missed.
suite bench-quick env SEGD_BENCH_BUILD="$top/build-bench" python3 tests/bench/run --quick \
	--out "$logdir/bench"

echo
echo "durations:"
printf '  %s\n' "${durations[@]}"
if [ "${#suites_failed[@]}" -gt 0 ]; then
	echo "failed suites: ${suites_failed[*]} (logs in $logdir)"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
