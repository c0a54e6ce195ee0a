#!/usr/bin/env bash
# Installs what segd's build, demo and tests need on Debian 12. Idempotent; run as root.
# Installed without recommends, so everything the builds and suites use is named here:
#   builds: meson, ninja, pkg-config, gcc and libc6-dev (headers and the libc.a of the static
#     probe; only a recommendation of gcc), clang and libclang-rt-14-dev (clang's sanitizer
#     runtime, only a recommendation of clang-14: without it the ASan/UBSan build cannot link),
#     clang-format (the format test: every C file as .clang-format has it);
#   suites: nftables (nft), iproute2 (ip), procps (sysctl), python3 (stdlib only),
#     util-linux (nsenter, flock, setsid), passwd (groupadd/groupdel: test_audit),
#     conntrack (tests/security: an attacker with CAP_NET_ADMIN forges a conntrack entry with
#     `conntrack -I`, and the suite flushes what its attacks left in the attackers' namespaces),
#     etcd-server and etcd-client (a real etcd 3.4: the etcd client's unit test
#     tests/daemon/test-etcd.c starts one on loopback ports, as the fleet tests do; etcdctl to
#     look at a test's store by hand; tests/lib/etcd.py runs the fleet suite's 3-member
#     clusters), openssl (tests/lib/etcd.py makes the TLS cluster's CA, server and client
#     certificates with its CLI).
# Not here: Podman and its helpers (scripts/podman-env.sh installs them for the Podman suites
# and the demo), Docker (scripts/docker-env.sh: docker.io, containerd, runc for the Docker
# suite) and the benchmarks' tools (tests/bench/run installs them).
set -euo pipefail

PACKAGES=(
	meson ninja-build pkg-config gcc libc6-dev clang libclang-rt-14-dev clang-format
	libnftnl-dev libmnl-dev libnl-3-dev libnl-route-3-dev libjansson-dev libyaml-dev
	libmicrohttpd-dev libcurl4-openssl-dev libcmocka-dev libnetfilter-log-dev
	libnetfilter-conntrack-dev
	nftables iproute2 python3 procps util-linux passwd conntrack
	etcd-server etcd-client openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
