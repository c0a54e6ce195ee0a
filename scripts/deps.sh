#!/usr/bin/env bash
# Installs what segd's build, demo and tests need on Debian 12. Idempotent; run as root.
set -euo pipefail

PACKAGES=(
	meson ninja-build pkg-config gcc clang
	libnftnl-dev libmnl-dev libnl-3-dev libnl-route-3-dev libjansson-dev libyaml-dev
	libmicrohttpd-dev libcurl4-openssl-dev libcmocka-dev libnetfilter-log-dev
	nftables iproute2 python3 procps
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
