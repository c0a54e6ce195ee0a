#!/usr/bin/env bash
# Podman environment for segd's container tests and demos. Idempotent; run as root on Debian 12.
#
#   scripts/podman-env.sh setup [--state-dir DIR] [--hook BIN] [--segd-socket SOCK]
#                               [--hook-timeout-ms N] [--hook-config FILE] [--api-socket PATH]
#                               [--probe-static BIN]
#                               [--image NAME] [--no-service] [--private-storage]
#   scripts/podman-env.sh stop  [--state-dir DIR] [--api-socket PATH]
#   scripts/podman-env.sh env   [--state-dir DIR] [--api-socket PATH] [--image NAME]
#
# setup:
#   - installs podman, runc, busybox-static, uidmap (and netavark, aardvark-dns, catatonit,
#     iptables, gcc, libc6-dev) when missing; apt-get update only then;
#   - writes DIR/containers.conf from contrib/podman/containers.conf (runc, explicit ulimits,
#     hooks_dir = DIR/hooks.d) and DIR/containers-nohooks.conf (hooks_dir = an empty dir);
#     /etc is never touched: everything that runs podman must export CONTAINERS_CONF;
#   - with --hook BIN: DIR/hooks.d/segd.json runs `BIN --socket SOCK [--timeout-ms N] [--config FILE]
#     createRuntime` for every container, DIR/hooks.d/segd-poststop.json runs `... poststop`
#     (SOCK: --segd-socket, default /run/segd/segd.sock). Without --hook both files are removed;
#   - builds the statically linked probe (tests/tools/probe*.c; or takes --probe-static) and the
#     image localhost/segd-test:latest: busybox-static with every applet linked, the probe as
#     /usr/local/bin/segd-probe (scripts/test-image.sh, shared with docker-env.sh). The image
#     is also tagged NAME:h-HASH (HASH of its inputs) and is rebuilt only when that changes;
#   - starts `podman system service --time=0 unix://PATH` (default /run/podman/podman.sock)
#     unless something already answers there; pid in DIR/podman-service.pid, log in
#     DIR/podman-service.log. A service this script did not start is left alone.
#   - with --private-storage: podman's storage, container database, events log and runtime
#     dir are segd's own (/var/lib/segd-podman/storage, /run/segd-podman/storage-run,
#     /run/segd-podman/libpod; CONTAINERS_STORAGE_CONF=DIR/storage.conf): test containers are
#     invisible to the host's other podman users and their segd, and a test's segd never sees
#     (let alone enforces on) anybody else's containers. Network definitions stay shared
#     (/etc/containers/networks), so bridges and subnets never collide;
# stop: stops the API service recorded in DIR/podman-service.pid (only that one).
# env:  prints the variables without changing anything.
#
# Progress goes to stderr. stdout is only shell assignments, so either
#   eval "$(scripts/podman-env.sh setup --hook build/daemon/segd-oci-hook)"
# or read CONTAINERS_CONF=... from it. Default DIR: /run/segd-podman.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}
[ $# -gt 0 ] && shift

state=/run/segd-podman
hook=
segd_socket=/run/segd/segd.sock
hook_timeout_ms=
hook_config=
api_socket=/run/podman/podman.sock
probe_static=
image=localhost/segd-test:latest
service=1
private=0

say() { echo "podman-env: $*" >&2; }
die() { say "$*"; exit 1; }
# The image's rootfs and probe: build_probe, image_inputs_hash, make_rootfs_tar.
# shellcheck source=scripts/test-image.sh
. "$top/scripts/test-image.sh"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--state-dir) state=$2; shift 2 ;;
	--hook) hook=$2; shift 2 ;;
	--segd-socket) segd_socket=$2; shift 2 ;;
	--hook-timeout-ms) hook_timeout_ms=$2; shift 2 ;;
	--hook-config) hook_config=$2; shift 2 ;;
	--api-socket) api_socket=$2; shift 2 ;;
	--probe-static) probe_static=$2; shift 2 ;;
	--image) image=$2; shift 2 ;;
	--no-service) service=0; shift ;;
	--private-storage) private=1; shift ;;
	-h|--help) usage ;;
	*) say "unknown argument: $1"; usage ;;
	esac
done
case $cmd in setup|stop|env) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || die "run as root"

conf=$state/containers.conf
conf_nohooks=$state/containers-nohooks.conf
storage_conf=$state/storage.conf
if [ -f "$storage_conf" ] && [ "$cmd" != setup ]; then private=1; fi
pidfile=$state/podman-service.pid
svclog=$state/podman-service.log

print_env() {
	local q
	for kv in "CONTAINERS_CONF=$conf" "SEGD_PODMAN_CONF_NOHOOKS=$conf_nohooks" \
		"SEGD_PODMAN_SOCKET=$api_socket" "SEGD_PODMAN_IMAGE=$image" \
		"SEGD_PODMAN_STATE=$state" "SEGD_PODMAN_PROBE=${probe_static:-$state/segd-probe-static}" \
		$([ "$private" = 1 ] && echo "CONTAINERS_STORAGE_CONF=$storage_conf"); do
		printf -v q '%q' "${kv#*=}"
		echo "export ${kv%%=*}=$q"
	done
}

# True when a Docker-compatible API answers on $1.
api_answers() {
	[ -S "$1" ] && curl -sf -m 2 --unix-socket "$1" http://d/_ping >/dev/null 2>&1
}

# The pid in $pidfile if it is a live podman API service on $api_socket.
our_service_pid() {
	local pid
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile" 2>/dev/null || true)
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "system service.*unix://$api_socket" || return 1
	echo "$pid"
}

stop_service() {
	local pid i
	if pid=$(our_service_pid); then
		say "stopping podman API service pid $pid"
		kill "$pid" 2>/dev/null || true
		for i in $(seq 50); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
		[ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
		rm -f "$pidfile"
		api_answers "$api_socket" || rm -f "$api_socket"
	else
		rm -f "$pidfile"
	fi
}

install_packages() {
	local missing=() p
	for p in podman runc busybox-static uidmap netavark aardvark-dns catatonit iptables \
		conmon curl gcc libc6-dev; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		say "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >&2
		apt-get install -y -q "${missing[@]}" >&2
	fi
}

write_confs() {
	local tmpl=$top/contrib/podman/containers.conf
	[ -f "$tmpl" ] || die "missing $tmpl"
	mkdir -p "$state/hooks.d" "$state/hooks-none.d"
	local extra=
	if [ "$private" = 1 ]; then
		mkdir -p /var/lib/segd-podman/storage /run/segd-podman/storage-run /run/segd-podman/libpod
		printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
			/var/lib/segd-podman/storage /run/segd-podman/storage-run >"$storage_conf.tmp"
		mv "$storage_conf.tmp" "$storage_conf"
		export CONTAINERS_STORAGE_CONF=$storage_conf
		extra='tmp_dir = "/run/segd-podman/libpod"'
	else
		rm -f "$storage_conf"
	fi
	# GNU sed's `a` needs text: only append when there is something to append.
	local add=()
	[ -n "$extra" ] && add=(-e "/^hooks_dir/a $extra")
	sed -e "s|@HOOKS_DIR@|$state/hooks.d|" "${add[@]}" "$tmpl" >"$conf.tmp" &&
		mv "$conf.tmp" "$conf"
	sed -e "s|@HOOKS_DIR@|$state/hooks-none.d|" "${add[@]}" "$tmpl" >"$conf_nohooks.tmp" &&
		mv "$conf_nohooks.tmp" "$conf_nohooks"
}

json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

write_hooks() {
	local f=$state/hooks.d/segd.json fp=$state/hooks.d/segd-poststop.json args stage
	if [ -z "$hook" ]; then
		rm -f "$f" "$fp"
		return
	fi
	[ -x "$hook" ] || die "--hook $hook is not executable"
	hook=$(readlink -f "$hook")
	for stage in createRuntime poststop; do
		args="$(json_str segd-oci-hook), \"--socket\", $(json_str "$segd_socket")"
		[ -n "$hook_timeout_ms" ] && args+=", \"--timeout-ms\", \"$hook_timeout_ms\""
		[ -n "$hook_config" ] && args+=", \"--config\", $(json_str "$hook_config")"
		args+=", \"$stage\""
		[ "$stage" = createRuntime ] && out=$f || out=$fp
		cat >"$out.tmp" <<EOF
{
  "version": "1.0.0",
  "hook": {"path": $(json_str "$hook"), "args": [$args], "timeout": 30},
  "when": {"always": true},
  "stages": ["$stage"]
}
EOF
		mv "$out.tmp" "$out"
	done
	say "OCI hooks: $f, $fp -> $hook (segd socket $segd_socket)"
}

build_image() {
	local want work old oldid
	want=$(image_inputs_hash)
	# One builder at a time (parallel test runs share the image).
	exec 9>"/run/segd-podman-image.lock"
	flock 9
	# The inputs' hash is a second tag (NAME:h-HASH), not a label: image labels become
	# container labels, and container labels are segd's pod labels.
	if podman image exists "${image%:*}:h-$want" && podman image exists "$image" &&
		[ "$(podman image inspect --format '{{.Id}}' "$image")" = \
		  "$(podman image inspect --format '{{.Id}}' "${image%:*}:h-$want")" ]; then
		flock -u 9
		return
	fi
	say "building image $image (inputs $want)"
	work=$(mktemp -d "$state/image.XXXXXX")
	make_rootfs_tar "$work"
	for old in $(podman images --format '{{.Repository}}:{{.Tag}}' "${image%:*}" |
		grep ":h-" || true); do
		podman untag "$image" "$old" >/dev/null 2>&1 || podman rmi "$old" >/dev/null 2>&1 || true
	done
	oldid=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
	podman import -q --change 'CMD ["/bin/sh"]' "$work/rootfs.tar" "$image" >/dev/null
	# The previous build, unless containers still use it.
	[ -n "$oldid" ] && podman rmi "$oldid" >/dev/null 2>&1 || true
	podman tag "$image" "${image%:*}:h-$want"
	rm -rf "$work"
	flock -u 9
}

start_service() {
	local i
	if api_answers "$api_socket"; then
		if our_service_pid >/dev/null; then
			say "podman API service already running (pid $(cat "$pidfile")) on $api_socket"
		else
			say "an API service already answers on $api_socket (not started by this script)"
		fi
		return
	fi
	stop_service
	mkdir -p "$(dirname "$api_socket")"
	rm -f "$api_socket"
	say "starting podman API service on $api_socket (log $svclog)"
	if [ "$private" = 1 ]; then export CONTAINERS_STORAGE_CONF=$storage_conf; fi
	CONTAINERS_CONF=$conf setsid podman system service --time=0 "unix://$api_socket" \
		</dev/null >>"$svclog" 2>&1 &
	echo $! >"$pidfile"
	for i in $(seq 100); do
		api_answers "$api_socket" && return
		[ -d "/proc/$(cat "$pidfile")" ] || break
		sleep 0.1
	done
	tail -20 "$svclog" >&2 || true
	die "podman API service did not answer on $api_socket"
}

case $cmd in
setup)
	install_packages
	mkdir -p "$state"
	write_confs
	write_hooks
	build_probe
	export CONTAINERS_CONF=$conf
	build_image
	[ "$service" = 1 ] && start_service
	print_env
	;;
stop)
	if [ "$private" = 1 ]; then export CONTAINERS_STORAGE_CONF=$storage_conf; fi
	stop_service
	;;
env)
	print_env
	;;
esac
