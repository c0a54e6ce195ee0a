#!/usr/bin/env bash
# Docker environment for segd's container tests and demos: a private containerd and dockerd.
# Idempotent; run as root on Debian 12.
#
#   scripts/docker-env.sh setup [--state-dir DIR] [--data-root D] [--runtime SEGD_RUNC_BIN]
#                               [--segd-socket SOCK] [--hook-timeout-ms N] [--hook-config FILE]
#                               [--oci-hook PATH] [--runc-on-path] [--probe-static BIN]
#                               [--image NAME]
#   scripts/docker-env.sh stop  [--state-dir DIR] [--dockerd-only]
#   scripts/docker-env.sh env   [--state-dir DIR] [--data-root D] [--image NAME]
#
# setup:
#   - installs docker.io, containerd, runc, docker-compose (Compose v1: the Compose example's
#     suite and the demo), busybox-static (and curl, gcc, libc6-dev) when missing; apt-get
#     update only then;
#   - starts containerd (its own config DIR/containerd.toml, so /etc/containerd is never read;
#     the CRI plugin disabled; root D/containerd, state DIR/containerd, socket
#     DIR/containerd.sock) and dockerd (its own DIR/daemon.json, so /etc/docker is never read:
#     data root D/docker, exec root DIR/exec, socket DIR/docker.sock, --iptables=false
#     --ip-masq=false --ip-forward=false --bridge=none, so the host's firewall and sysctls are
#     untouched and containers need a user-defined network; live-restore, so containers outlive
#     a dockerd restart). Nothing of the host's Docker (/var/lib/docker, /run/docker,
#     /run/containerd/containerd.sock) is used. Default D: /var/lib/segd-docker (kept, so the
#     image survives), default DIR: /run/segd-docker. One D serves one DIR at a time;
#   - with --runtime BIN (segd-runc): dockerd runs every container with BIN (default runtime
#     "segd"), and containerd, whose environment the runtime inherits through its shims, gets
#     SEGD_SOCKET (--segd-socket, default /run/segd/segd.sock), SEGD_RUNC (the real runc),
#     SEGD_OCI_HOOK (segd-oci-hook next to BIN, when there), SEGD_HOOK_TIMEOUT_MS and
#     SEGD_HOOK_CONFIG. Daemons this script started with another configuration are restarted
#     (containerd only when its environment changes); containers keep running;
#   - --oci-hook PATH (with --runtime): SEGD_OCI_HOOK=PATH instead of the hook next to BIN.
#     PATH must be absolute but need not exist: a missing hook makes segd-runc refuse every
#     container (a test of failing closed);
#   - --runc-on-path (with --runtime): DIR/runc-path/runc, a symbolic link to BIN, comes first
#     on containerd's PATH (DIR/runc-path:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:
#     /sbin:/bin) and SEGD_RUNC is the real runc, so `docker run --runtime runc` (dockerd's
#     built-in runc, found on the shim's PATH) runs segd-runc too (contrib/docker/README.md);
#   - waits (bounded) until both answer; pids in DIR/containerd.pid and DIR/dockerd.pid, logs in
#     DIR/containerd.log and DIR/dockerd.log;
#   - imports the image localhost/segd-test:latest from the rootfs of scripts/test-image.sh
#     (busybox-static and the static probe, as for Podman), also tagged NAME:h-HASH (HASH of
#     its inputs) and rebuilt only when that changes.
# stop: kills the containers still running in this environment (they would outlive containerd),
#   stops dockerd, then containerd: only daemons this script started (its pid files), and waits
#   until they are gone. With --dockerd-only: stops dockerd only; containerd and the containers
#   keep running (an engine outage), and `setup` brings dockerd back.
# env:  prints the variables without changing anything.
#
# Progress goes to stderr. stdout is only shell assignments, so
#   eval "$(scripts/docker-env.sh setup --runtime build/daemon/segd-runc)"
# sets DOCKER_HOST, DOCKER_CONFIG and SEGD_DOCKER_*; use /usr/bin/docker (Debian's CLI).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}
[ $# -gt 0 ] && shift

state=/run/segd-docker
data=/var/lib/segd-docker
runtime=
segd_socket=/run/segd/segd.sock
hook_timeout_ms=
hook_config=
oci_hook=
runc_on_path=0
probe_static=
image=localhost/segd-test:latest
dockerd_only=0
DOCKER=/usr/bin/docker # Debian's CLI, whatever else comes first on PATH

say() { echo "docker-env: $*" >&2; }
die() { say "$*"; exit 1; }
# The image's rootfs and probe: build_probe, image_inputs_hash, make_rootfs_tar.
# shellcheck source=scripts/test-image.sh
. "$top/scripts/test-image.sh"

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--state-dir) state=$2; shift 2 ;;
	--data-root) data=$2; shift 2 ;;
	--runtime) runtime=$2; shift 2 ;;
	--segd-socket) segd_socket=$2; shift 2 ;;
	--hook-timeout-ms) hook_timeout_ms=$2; shift 2 ;;
	--hook-config) hook_config=$2; shift 2 ;;
	--oci-hook) oci_hook=$2; shift 2 ;;
	--runc-on-path) runc_on_path=1; shift ;;
	--probe-static) probe_static=$2; shift 2 ;;
	--image) image=$2; shift 2 ;;
	--dockerd-only) dockerd_only=1; shift ;;
	-h|--help) usage ;;
	*) say "unknown argument: $1"; usage ;;
	esac
done
case $cmd in setup|stop|env) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || die "run as root"
case $state in /*) ;; *) die "--state-dir must be absolute" ;; esac
case $data in /*) ;; *) die "--data-root must be absolute" ;; esac
# A socket path must fit sockaddr_un (108 bytes) with the longest name below.
[ "${#state}" -le 80 ] || die "--state-dir $state is too long (at most 80 characters)"
if [ -z "$runtime" ] && { [ -n "$oci_hook" ] || [ "$runc_on_path" = 1 ]; }; then
	die "--oci-hook and --runc-on-path need --runtime"
fi
case $oci_hook in ''|/*) ;; *) die "--oci-hook must be absolute" ;; esac
[[ $oci_hook == *[[:cntrl:]]* ]] && die "control character in --oci-hook"
case $data in /var/lib/docker|/var/lib/docker/*) die "--data-root must not be the host's Docker's" ;; esac
case $state in /run/docker|/run/docker/*|/var/run/docker|/var/run/docker/*)
	die "--state-dir must not be the host's Docker's" ;;
esac

api_socket=$state/docker.sock
ctr_socket=$state/containerd.sock
exec_root=$state/exec
daemon_json=$state/daemon.json
ctr_conf=$state/containerd.toml
ctr_env=$state/containerd.env
runc_path=$state/runc-path
ctr_pidfile=$state/containerd.pid
dockerd_pidfile=$state/dockerd.pid
cli_config=$state/cli

print_env() {
	local q
	for kv in "DOCKER_HOST=unix://$api_socket" "DOCKER_CONFIG=$cli_config" \
		"SEGD_DOCKER_SOCKET=$api_socket" "SEGD_DOCKER_CONTAINERD=$ctr_socket" \
		"SEGD_DOCKER_EXEC_ROOT=$exec_root" "SEGD_DOCKER_DATA=$data" \
		"SEGD_DOCKER_IMAGE=$image" "SEGD_DOCKER_STATE=$state" \
		"SEGD_DOCKER_PROBE=${probe_static:-$state/segd-probe-static}"; do
		printf -v q '%q' "${kv#*=}"
		echo "export ${kv%%=*}=$q"
	done
}

# True when a Docker API answers on $1.
api_answers() {
	[ -S "$1" ] && curl -sf -m 2 --unix-socket "$1" http://d/_ping >/dev/null 2>&1
}

containerd_answers() {
	[ -S "$ctr_socket" ] && timeout 5 ctr --address "$ctr_socket" version >/dev/null 2>&1
}

# The pid in pid file $1 if it is a live process whose command line matches $2.
our_pid() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null || true)
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
	echo "$pid"
}
our_dockerd() { our_pid "$dockerd_pidfile" "dockerd --config-file $daemon_json"; }
our_containerd() { our_pid "$ctr_pidfile" "containerd --config $ctr_conf"; }

# Sends SIGTERM to $2 (named $1), waits up to $3 tenths of a second, then SIGKILL.
stop_pid() {
	local what=$1 pid=$2 n=$3
	say "stopping $what pid $pid"
	kill "$pid" 2>/dev/null || true
	for _ in $(seq "$n"); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
	say "$what pid $pid did not exit on SIGTERM: SIGKILL"
	kill -9 "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
	die "$what pid $pid is still there after SIGKILL"
}

# $1 = all: the containers still running are killed through dockerd first (it then releases
# their networks and mounts); dockerd-only: they keep running (live-restore).
stop_dockerd() {
	local pid ids
	if pid=$(our_dockerd); then
		if [ "${1:-}" = all ] && api_answers "$api_socket"; then
			ids=$(docker_cli ps -q 2>/dev/null || true)
			if [ -n "$ids" ]; then
				say "killing the containers still running: $(tr '\n' ' ' <<<"$ids")"
				# shellcheck disable=SC2086
				docker_cli kill $ids >/dev/null 2>&1 || true
			fi
		fi
		stop_pid dockerd "$pid" 200
	fi
	rm -f "$dockerd_pidfile"
	api_answers "$api_socket" || rm -f "$api_socket"
}

# Containers left running in our containerd: without containerd their shims would live on.
kill_tasks() {
	local ids id
	containerd_answers || return 0
	ids=$(ctr --address "$ctr_socket" -n moby tasks ls -q 2>/dev/null || true)
	[ -n "$ids" ] || return 0
	say "killing the containers still running: $(tr '\n' ' ' <<<"$ids")"
	for id in $ids; do
		ctr --address "$ctr_socket" -n moby tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
	done
	for id in $ids; do
		for _ in $(seq 100); do
			ctr --address "$ctr_socket" -n moby tasks delete "$id" >/dev/null 2>&1 && break
			ctr --address "$ctr_socket" -n moby tasks ls -q 2>/dev/null | grep -qx "$id" || break
			sleep 0.1
		done
	done
}

# $1 = all: the containers still running are killed first; otherwise their shims keep them
# running and the restarted containerd finds them again.
stop_containerd() {
	local pid
	if pid=$(our_containerd); then
		[ "${1:-}" = all ] && kill_tasks
		stop_pid containerd "$pid" 100
	fi
	rm -f "$ctr_pidfile"
	containerd_answers || rm -f "$ctr_socket" "$ctr_socket.ttrpc"
}

# With both daemons gone: what dockerd leaves mounted for a restart (live-restore) is released:
# the data root's bind mount, container rootfs overlays, network namespace files.
release_mounts() {
	local m
	our_dockerd >/dev/null && return
	our_containerd >/dev/null && return
	{ awk '{print $5}' /proc/self/mountinfo | grep -E "^($data/docker|$exec_root)(/|$)" || true; } |
		sort -r | while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
		done
	# Fixed paths these versions use whatever the configuration says, removed when empty and
	# the host's own daemon is not running: containerd 1.6 puts its shims' sockets in
	# /run/containerd/s (and ctr its FIFOs in /run/containerd/fifo unless --fifo-dir);
	# dockerd 20.10 makes its plugins' exec root /run/docker/plugins (we use no plugins).
	[ -S /run/containerd/containerd.sock ] ||
		rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null || true
	[ -S /run/docker.sock ] || [ -f /run/docker.pid ] ||
		rmdir /run/docker/plugins /run/docker 2>/dev/null || true
}

install_packages() {
	local missing=() p
	for p in docker.io containerd runc docker-compose busybox-static iptables curl gcc libc6-dev; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		say "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >&2
		# Debian's docker.io and containerd start the host's daemons where they can (with
		# the host's iptables rules): a policy-rc.d that forbids it for the install, unless
		# the machine has its own.
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\n# scripts/docker-env.sh, during apt-get install\nexit 101\n' \
				>/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			trap 'rm -f /usr/sbin/policy-rc.d' EXIT
		fi
		apt-get install -y -q "${missing[@]}" >&2
		if grep -q "^# scripts/docker-env.sh" /usr/sbin/policy-rc.d 2>/dev/null; then
			rm -f /usr/sbin/policy-rc.d
			trap - EXIT
		fi
	fi
	[ -x "$DOCKER" ] || die "$DOCKER (docker.io's CLI) not found"
}

# $1 as a JSON (and TOML) string.
json_str() {
	local s=$1
	[[ $s == *[[:cntrl:]]* ]] && die "control character in $(printf %q "$1")"
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"\n' "$s"
}

# One data root, one state dir: two dockerds on one data root would corrupt it.
claim_data_root() {
	local owner
	mkdir -p "$data"
	owner=$(cat "$data/state-dir" 2>/dev/null || true)
	if [ -n "$owner" ] && [ "$owner" != "$state" ]; then
		if our_pid "$owner/dockerd.pid" "dockerd --config-file $owner/daemon.json" >/dev/null ||
			our_pid "$owner/containerd.pid" "containerd --config $owner/containerd.toml" >/dev/null; then
			die "data root $data is in use by the environment in $owner (stop it first)"
		fi
	fi
	echo "$state" >"$data/state-dir"
}

write_confs() {
	local rt='' real_runc hook
	mkdir -p "$state" "$exec_root" "$cli_config" "$data/containerd" "$data/docker" "$data/opt"
	cat >"$ctr_conf.tmp" <<EOF
# Written by scripts/docker-env.sh: segd's private containerd (not /etc/containerd).
version = 2
root = $(json_str "$data/containerd")
state = $(json_str "$state/containerd")
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = $(json_str "$ctr_socket")

[ttrpc]
  address = $(json_str "$ctr_socket.ttrpc")

[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = $(json_str "$data/opt")
EOF
	mv "$ctr_conf.tmp" "$ctr_conf"

	: >"$ctr_env.new"
	if [ -n "$runtime" ]; then
		[ -x "$runtime" ] || die "--runtime $runtime is not executable"
		runtime=$(readlink -f "$runtime")
		real_runc=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v runc) ||
			die "runc not found"
		[ "$(readlink -f "$real_runc")" != "$runtime" ] || die "runc on PATH ($real_runc) is $runtime"
		rt=", \"default-runtime\": \"segd\", \"runtimes\": {\"segd\": {\"path\": $(json_str "$runtime")}}"
		{
			echo "SEGD_SOCKET=$segd_socket"
			echo "SEGD_RUNC=$real_runc"
			hook=$(dirname "$runtime")/segd-oci-hook
			if [ -n "$oci_hook" ]; then
				echo "SEGD_OCI_HOOK=$oci_hook"
			elif [ -x "$hook" ]; then
				echo "SEGD_OCI_HOOK=$hook"
			fi
			if [ "$runc_on_path" = 1 ]; then
				mkdir -p "$runc_path"
				ln -sfn "$runtime" "$runc_path/runc"
				echo "PATH=$runc_path:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
			fi
			[ -n "$hook_timeout_ms" ] && echo "SEGD_HOOK_TIMEOUT_MS=$hook_timeout_ms"
			[ -n "$hook_config" ] && echo "SEGD_HOOK_CONFIG=$(readlink -f "$hook_config")"
			true
		} >"$ctr_env.new"
	fi
	cat >"$daemon_json.new" <<EOF
{
  "data-root": $(json_str "$data/docker"),
  "exec-root": $(json_str "$exec_root"),
  "pidfile": $(json_str "$exec_root/dockerd.pid"),
  "deprecated-key-path": $(json_str "$data/docker/key.json"),
  "hosts": [$(json_str "unix://$api_socket")],
  "containerd": $(json_str "$ctr_socket"),
  "iptables": false,
  "ip-masq": false,
  "ip-forward": false,
  "bridge": "none",
  "userland-proxy": false,
  "live-restore": true,
  "shutdown-timeout": 5,
  "log-driver": "json-file"$rt
}
EOF
}

# Starts $1 (containerd or dockerd) with the rest of the arguments in its own session; waits
# until $check answers.
start_daemon() {
	local what=$1 pidfile=$2 check=$3 log=$state/$1.log pid
	shift 3
	say "starting $what (log $log)"
	setsid "$@" </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"
	for _ in $(seq 300); do
		"$check" && return
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	tail -20 "$log" >&2 || true
	die "$what did not answer (pid $pid)"
}

start_daemons() {
	local envs=()
	# containerd's environment reaches the runtime (segd-runc) through its shims.
	if our_containerd >/dev/null && ! cmp -s "$ctr_env.new" "$ctr_env"; then
		say "containerd's environment changed: restarting dockerd and containerd"
		stop_dockerd
		stop_containerd
	fi
	if our_dockerd >/dev/null && ! cmp -s "$daemon_json.new" "$daemon_json"; then
		say "dockerd's configuration changed: restarting it"
		stop_dockerd
	fi
	mv "$ctr_env.new" "$ctr_env"
	mv "$daemon_json.new" "$daemon_json"
	if our_containerd >/dev/null; then
		say "containerd already running (pid $(cat "$ctr_pidfile"))"
	elif containerd_answers; then
		die "something else answers on $ctr_socket"
	else
		rm -f "$ctr_socket" "$ctr_socket.ttrpc"
		mapfile -t envs <"$ctr_env"
		# Only the runtime's variables written above, none from the caller's environment.
		start_daemon containerd "$ctr_pidfile" containerd_answers \
			env -u SEGD_SOCKET -u SEGD_RUNC -u SEGD_OCI_HOOK -u SEGD_HOOK_TIMEOUT_MS \
			-u SEGD_HOOK_CONFIG "${envs[@]}" containerd --config "$ctr_conf"
	fi
	if our_dockerd >/dev/null; then
		say "dockerd already running (pid $(cat "$dockerd_pidfile")) on $api_socket"
	elif api_answers "$api_socket"; then
		die "something else answers on $api_socket"
	else
		rm -f "$api_socket"
		start_daemon dockerd "$dockerd_pidfile" dockerd_answers \
			dockerd --config-file "$daemon_json"
	fi
}
dockerd_answers() { api_answers "$api_socket"; }

build_image() {
	local want work old oldid
	want=$(image_inputs_hash)
	# One builder at a time.
	exec 9>"$data/image.lock"
	flock 9
	if [ "$(docker_cli image inspect --format '{{.Id}}' "$image" 2>/dev/null)" = \
	     "$(docker_cli image inspect --format '{{.Id}}' "${image%:*}:h-$want" 2>/dev/null || echo none)" ]; then
		flock -u 9
		return
	fi
	say "building image $image (inputs $want)"
	work=$(mktemp -d "$state/image.XXXXXX")
	make_rootfs_tar "$work"
	for old in $(docker_cli images --format '{{.Repository}}:{{.Tag}}' "${image%:*}" |
		grep ":h-" || true); do
		docker_cli rmi "$old" >/dev/null 2>&1 || true
	done
	oldid=$(docker_cli image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
	docker_cli import --change 'CMD ["/bin/sh"]' "$work/rootfs.tar" "$image" >/dev/null
	# The previous build, unless containers still use it.
	if [ -n "$oldid" ]; then docker_cli rmi "$oldid" >/dev/null 2>&1 || true; fi
	docker_cli tag "$image" "${image%:*}:h-$want"
	rm -rf "$work"
	flock -u 9
}
docker_cli() { DOCKER_HOST=unix://$api_socket DOCKER_CONFIG=$cli_config "$DOCKER" "$@"; }

case $cmd in
setup)
	install_packages
	mkdir -p "$state"
	claim_data_root
	write_confs
	build_probe
	start_daemons
	build_image
	print_env
	;;
stop)
	if [ "$dockerd_only" = 1 ]; then
		stop_dockerd
	else
		stop_dockerd all
		stop_containerd all
		release_mounts
	fi
	;;
env)
	print_env
	;;
esac
