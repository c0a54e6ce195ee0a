#!/usr/bin/env bash
# The segd demo: real Podman containers isolated by label. Three tiers (web, api, db) and an
# intruder run in namespace "shop"; segd follows them through Podman's API and its OCI hook,
# applies examples/three-tier.yaml (web -> api:8080, api -> db:5432, nothing else), and real
# connection attempts between the containers show what passes, before and after. Then the same
# with Docker: a private dockerd whose default runtime is segd-runc, the Compose project of
# examples/compose brought up with docker-compose and isolated by examples/compose/policy.yaml.
# Builds everything and sets Podman and Docker up first (scripts/podman-env.sh: runc, rlimits,
# an offline image, the API service; scripts/docker-env.sh: a private containerd and dockerd).
# Run as root on Debian 12. SEGD_DEMO_KEEP=1 leaves it all running.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it starts containers)" >&2; exit 1; }
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null

RUN=/run/segd-demo
export SEGD_SOCKET=$RUN/segd.sock
SEGD=$top/build/daemon/segd
SEGCTL=$top/build/cli/segctl
NET=segd-demo
TIERS=(web api db intruder)
declare -A IP=([web]=10.77.0.11 [api]=10.77.0.12 [db]=10.77.0.13 [intruder]=10.77.0.66)
declare -A LABELS=([web]="--label app=web" [api]="--label app=api --label segd.io/ports=http-api=8080/TCP"
		   [db]="--label app=db" [intruder]="--label app=debug")
declare -A PORT=([web]=80 [api]=8080 [db]=5432 [intruder]=80)

mkdir -p $RUN
eval "$(scripts/podman-env.sh setup --state-dir $RUN/podman --hook "$top/build/daemon/segd-oci-hook" \
	--segd-socket "$SEGD_SOCKET")"
export CONTAINERS_CONF

podman_down() {
	for t in "${TIERS[@]}"; do podman rm -f -t 0 "demo-$t" >/dev/null 2>&1 || true; done
	podman network rm -f $NET >/dev/null 2>&1 || true
	scripts/podman-env.sh stop --state-dir $RUN/podman >/dev/null 2>&1 || true
}
stop_segd() {
	local pid
	pid=$(cat $RUN/segd.pid 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f $RUN/segd.pid
}
cleanup() {
	[ "${SEGD_DEMO_KEEP:-0}" = 1 ] && { echo "(kept: containers demo-* and shop_*, segd pid $(cat $RUN/segd.pid 2>/dev/null))"; return; }
	podman_down
	if [ -n "${DOCKER_HOST:-}" ]; then
		IMAGE=$SEGD_DOCKER_IMAGE docker-compose -p shop -f examples/compose/compose.yaml \
			down -t 1 >/dev/null 2>&1 || true
		scripts/docker-env.sh stop >/dev/null 2>&1 || true
	fi
	stop_segd
}
trap cleanup EXIT
for t in "${TIERS[@]}"; do podman rm -f -t 0 "demo-$t" >/dev/null 2>&1 || true; done
podman network rm -f $NET >/dev/null 2>&1 || true

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# Waits until each NAME=APP given is an enforced endpoint labelled app=APP (the OCI hook
# isolates a container before it starts; its labels arrive with the engine's event).
wait_labels() {
	local i
	for i in $(seq 300); do
		"$SEGCTL" get endpoints -n shop -o json | python3 -c '
import json, sys
eps = {e["name"]: e for e in json.load(sys.stdin)["items"]}
sys.exit(any((eps.get(n) or {}).get("state") != "enforced" or
             ((eps.get(n) or {}).get("labels") or {}).get("app") != app
             for n, app in (a.split("=") for a in sys.argv[1:])))' "$@" && return 0
		sleep 0.1
	done
	echo "demo: segd did not enforce $* within 30 s; its log: $RUN/segd.log" >&2
	return 1
}

say "segd follows Podman ($SEGD_PODMAN_SOCKET); its OCI hook isolates containers before they start"
rm -rf $RUN/state
"$SEGD" --socket "$SEGD_SOCKET" --state-dir $RUN/state --audit-log $RUN/audit.jsonl --engine "unix://$SEGD_PODMAN_SOCKET" \
	--resync-interval 10 2>$RUN/segd.log &
echo $! > $RUN/segd.pid
for _ in $(seq 100); do [ -S "$SEGD_SOCKET" ] && break; sleep 0.05; done
run "$SEGCTL" apply -f examples/three-tier.yaml

say "Four containers in namespace shop, labelled by tier, each serving TCP 80, 8080 and 5432"
podman network create --subnet 10.77.0.0/24 $NET >/dev/null
for t in "${TIERS[@]}"; do
	run podman run -d --name "demo-$t" --network $NET --ip "${IP[$t]}" \
		--label segd.io/namespace=shop ${LABELS[$t]} "$SEGD_PODMAN_IMAGE" \
		segd-probe serve --tcp 80,8080,5432 >/dev/null
done
wait_labels demo-web=web demo-api=api demo-db=db demo-intruder=debug
run "$SEGCTL" get endpoints -n shop

# Real connections from every container to every other's port: matrix CONTAINER_OF where
# CONTAINER_OF T prints the container of tier T; the tiers, their addresses and ports are in
# the arrays named by $M_TIERS, $M_IP and $M_PORT (set below for each engine).
matrix() {
	local of=$1 s d r c
	local -n tiers=$M_TIERS ip=$M_IP port=$M_PORT
	printf '  %-9s' "from\\to"
	for d in "${tiers[@]}"; do printf '%-14s' "$d:${port[$d]}"; done
	echo
	for s in "${tiers[@]}"; do
		printf '  %-9s' "$s"
		for d in "${tiers[@]}"; do
			if [ "$s" = "$d" ]; then printf '%-14s' "-"; continue; fi
			r=$($ENGINE exec "$($of "$s")" segd-probe connect --timeout-ms 300 \
				"tcp:${ip[$d]}:${port[$d]}" | awk '{print $2}')
			[ "$r" = ok ] && c=allowed || c=denied
			printf '%-14s' "$c"
		done
		echo
	done
}
podman_of() { echo "demo-$1"; }
ENGINE=podman M_TIERS=TIERS M_IP=IP M_PORT=PORT

say "Real connections between the containers: only web -> api:8080 and api -> db:5432 pass"
matrix podman_of

say "The same from the plans: segctl matrix, and why one flow passes and another does not"
run "$SEGCTL" matrix -n shop --port 8080 --port 5432
run "$SEGCTL" check demo-api demo-db 5432/TCP
run "$SEGCTL" check demo-intruder demo-db 5432/TCP

say "Who tried and was refused (flow logs from the containers' own rulesets)"
run "$SEGCTL" flows --endpoint demo-db --verdict denied --since 1h

say "The ruleset in the api container's network namespace, read back from the kernel"
run "$SEGCTL" rules demo-api

say "Relabel by recreating: the intruder comes back as app=web and reaches the api"
podman rm -f -t 0 demo-intruder >/dev/null
run podman run -d --name demo-intruder --network $NET --ip "${IP[intruder]}" \
	--label segd.io/namespace=shop --label app=web "$SEGD_PODMAN_IMAGE" \
	segd-probe serve --tcp 80,8080,5432 >/dev/null
wait_labels demo-intruder=web
matrix podman_of

say "Stop the policy: delete it, and everyone reaches everyone again"
run "$SEGCTL" delete -f examples/three-tier.yaml
matrix podman_of

say "Podman's part is done. segd's log:"
grep -v "^API " $RUN/segd.log | sed 's/^/  /' | tail -15

# ---------------------------------------------------------------- Docker and Compose
say "Docker: a private dockerd whose default runtime is segd-runc (segd's hooks in every bundle)"
podman_down
stop_segd
eval "$(scripts/docker-env.sh setup --runtime "$top/build/daemon/segd-runc" --segd-socket "$SEGD_SOCKET")"
export DOCKER_HOST DOCKER_CONFIG
docker() { /usr/bin/docker "$@"; } # Debian's 20.10 client (another docker may come first on PATH)
rm -rf $RUN/state
start_segd_docker() {
	"$SEGD" --socket "$SEGD_SOCKET" --state-dir $RUN/state --audit-log $RUN/audit.jsonl \
		--engine "unix://$SEGD_DOCKER_SOCKET" --resync-interval 10 2>>$RUN/segd.log &
	echo $! > $RUN/segd.pid
	for _ in $(seq 100); do "$SEGCTL" status >/dev/null 2>&1 && break; sleep 0.05; done
}
: >$RUN/segd.log
start_segd_docker
run docker info --format '{{.DefaultRuntime}} runtime, {{.ServerVersion}}'

say "Compose: examples/compose as project shop (the namespace), labels only; then its policy"
export IMAGE=$SEGD_DOCKER_IMAGE
run docker-compose -p shop -f examples/compose/compose.yaml up -d
wait_labels shop_web_1=web shop_api_1=api shop_db_1=db
run "$SEGCTL" apply -f examples/compose/policy.yaml
run "$SEGCTL" get endpoints -n shop

SVCS=(web api db)
declare -A SPORT=([web]=80 [api]=8080 [db]=5432) SIP=()
for s in "${SVCS[@]}"; do
	SIP[$s]=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "shop_${s}_1")
done
compose_of() { echo "shop_$1_1"; }
ENGINE=docker M_TIERS=SVCS M_IP=SIP M_PORT=SPORT
say "Real connections between the Compose services: only web -> api:8080 and api -> db:5432"
matrix compose_of
run "$SEGCTL" check shop_web_1 shop_api_1 8080/TCP
run "$SEGCTL" check shop_db_1 shop_web_1 80/TCP

say "A container started while segd is down is still isolated: segd-runc's hook fails closed"
stop_segd
run docker run -d --name shop_late_1 --network shop_shop --label app=web \
	--label com.docker.compose.project=shop "$IMAGE" segd-probe serve --tcp 80 >/dev/null
late_pid=$(docker inspect -f '{{.State.Pid}}' shop_late_1)
echo "  tables in shop_late_1's network namespace (segd is not running):"
nsenter --net=/proc/$late_pid/ns/net nft list tables | sed 's/^/    /'
docker rm -f shop_late_1 >/dev/null

say "segd comes back: it takes its tables back (they stayed owned meanwhile) and resyncs"
start_segd_docker
wait_labels shop_web_1=web shop_api_1=api shop_db_1=db
"$SEGCTL" get endpoints -n shop | cut -c1-100   # (labels cut short)

say "Compose down: the endpoints go with their containers"
run docker-compose -p shop -f examples/compose/compose.yaml down -t 1
for _ in $(seq 300); do
	[ "$("$SEGCTL" get endpoints -n shop -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" = 0 ] && break
	sleep 0.1
done
run "$SEGCTL" get endpoints -n shop

say "Done. segd's log:"
grep -v "^API " $RUN/segd.log | sed 's/^/  /' | tail -20
