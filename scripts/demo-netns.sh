#!/usr/bin/env bash
# The segd demo without containers: labelled network namespaces (web, api, db) plus an "intruder" in one
# namespace "shop", a three-tier policy applied with segctl, and real connection attempts
# before and after that show what passes. Builds everything first. Run as root on Debian 12.
# Set SEGD_DEMO_KEEP=1 to leave the namespaces and segd running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null

SEGD=$top/build/daemon/segd
SEGCTL=$top/build/cli/segctl
PROBE=$top/build/tests/tools/segd-probe
RUN=/run/segd-demo
export SEGD_SOCKET=$RUN/segd.sock
P=segd-demo
TIERS=(web api db intruder)
declare -A IP=([web]=10.77.0.11 [api]=10.77.0.12 [db]=10.77.0.13 [intruder]=10.77.0.66)
declare -A IP6=([web]=fd77::11 [api]=fd77::12 [db]=fd77::13 [intruder]=fd77::66)

cleanup() {
	[ "${SEGD_DEMO_KEEP:-0}" = 1 ] && { echo "(kept: segd pid $(cat $RUN/segd.pid 2>/dev/null), netns $P-*)"; return; }
	[ -f $RUN/segd.pid ] && kill "$(cat $RUN/segd.pid)" 2>/dev/null || true
	for t in "${TIERS[@]}"; do
		ip netns pids "$P-$t" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$P-$t" 2>/dev/null || true
	done
	ip netns del "$P-hub" 2>/dev/null || true
	rm -rf "$RUN"
}
trap cleanup EXIT
cleanup
mkdir -p $RUN

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Four network namespaces on a bridge (the bridge lives in a namespace of its own)"
ip netns add $P-hub
ip -n $P-hub link add br0 type bridge
ip -n $P-hub link set br0 up
for t in "${TIERS[@]}"; do
	ip netns add $P-$t
	ip link add "v-$t" netns $P-hub type veth peer name eth0 netns $P-$t
	ip -n $P-hub link set "v-$t" master br0 up
	ip -n $P-$t link set lo up
	ip -n $P-$t addr add "${IP[$t]}/24" dev eth0
	ip -n $P-$t addr add "${IP6[$t]}/64" dev eth0 nodad
	ip -n $P-$t link set eth0 up
	ip netns exec $P-$t "$PROBE" serve --tcp 80,8080,5432 >/dev/null &
	echo "  $t: ${IP[$t]} ${IP6[$t]}  (serving TCP 80, 8080, 5432)"
done

say "segd, with its control socket at $SEGD_SOCKET"
"$SEGD" --socket "$SEGD_SOCKET" --state-dir $RUN/state --audit-log $RUN/audit.jsonl --engine none 2>$RUN/segd.log &
echo $! > $RUN/segd.pid
for _ in $(seq 100); do [ -S "$SEGD_SOCKET" ] && break; sleep 0.05; done
run "$SEGCTL" status

say "Register the namespaces as endpoints, labelled like pods"
run "$SEGCTL" endpoint add web --netns $P-web --namespace shop --label app=web
run "$SEGCTL" endpoint add api --netns $P-api --namespace shop --label app=api --port http-api=8080/TCP
run "$SEGCTL" endpoint add db --netns $P-db --namespace shop --label app=db
run "$SEGCTL" endpoint add intruder --netns $P-intruder --namespace shop --label app=debug
run "$SEGCTL" get endpoints -n shop

# Every ordered pair, on the port the receiving tier serves.
declare -A PORT=([web]=80 [api]=8080 [db]=5432 [intruder]=80)
matrix() {
	printf '  %-9s' "from\\to"
	for d in "${TIERS[@]}"; do printf '%-16s' "$d:${PORT[$d]}"; done
	echo
	for s in "${TIERS[@]}"; do
		printf '  %-9s' "$s"
		for d in "${TIERS[@]}"; do
			if [ "$s" = "$d" ]; then printf '%-16s' "-"; continue; fi
			r4=$(ip netns exec $P-$s "$PROBE" connect --timeout-ms 300 "tcp:${IP[$d]}:${PORT[$d]}" | awk '{print $2}')
			r6=$(ip netns exec $P-$s "$PROBE" connect --timeout-ms 300 "tcp:[${IP6[$d]}]:${PORT[$d]}" | awk '{print $2}')
			if [ "$r4" = ok ] && [ "$r6" = ok ]; then c="allowed"; elif [ "$r4" = fail ] && [ "$r6" = fail ]; then c="denied"; else c="v4 $r4/v6 $r6"; fi
			printf '%-16s' "$c"
		done
		echo
	done
}

say "Before any policy: everyone reaches everyone (IPv4 and IPv6 probed)"
matrix

say "Apply the three-tier policy (examples/three-tier.yaml)"
run "$SEGCTL" apply -f examples/three-tier.yaml
run "$SEGCTL" get networkpolicies -n shop
run "$SEGCTL" get endpoints -n shop

say "After: only web -> api:8080 and api -> db:5432 pass"
matrix

say "The ruleset segd installed in the api namespace, read back from the kernel"
run "$SEGCTL" rules api

say "Relabel the intruder as web: it now reaches the api"
run "$SEGCTL" endpoint label intruder app=web
matrix

say "A bad policy file is refused as a whole, with positions"
printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: shop}\nspec:\n  podSelector: {}\n  ingress:\n    - from:\n        - ipBlock: {cidr: 10.0.0.0/33}\n      ports:\n        - {port: 80, endPort: 70}\n' > $RUN/bad.yaml
"$SEGCTL" apply -f $RUN/bad.yaml || true

say "Done. segd's log:"
sed 's/^/  /' $RUN/segd.log
