# shellcheck shell=bash disable=SC2154 # $top, $state: the sourcing script's
# The offline test image's rootfs, shared by scripts/podman-env.sh and scripts/docker-env.sh
# (sourced, not run). There is no registry: both engines import the same tarball.
#
#   build_probe          sets probe_static: the statically linked tests/tools/probe*.c, built
#                        into $state/segd-probe-static unless probe_static is already set
#                        (then it must be executable); rebuilt only when its sources change.
#   image_inputs_hash    prints the hash of everything the image is made of (the recipe below,
#                        /bin/busybox, the probe): engines tag the image NAME:h-HASH and rebuild
#                        it only when that changes.
#   make_rootfs_tar DIR  writes DIR/rootfs.tar: busybox-static with every applet linked, the
#                        probe as /usr/local/bin/segd-probe, /etc/passwd and /etc/group.
#
# Needs: $top (the source tree), $state (a writable directory), say and die.

IMAGE_RECIPE=1 # bump when the image layout in make_rootfs_tar changes
IMAGE_BUSYBOX=/bin/busybox # from busybox-static (it conflicts with the dynamic busybox package)

build_probe() {
	local src=("$top"/tests/tools/probe*.c) sum
	if [ -n "${probe_static:-}" ]; then
		[ -x "$probe_static" ] || die "--probe-static $probe_static is not executable"
		probe_static=$(readlink -f "$probe_static")
		return
	fi
	probe_static=$state/segd-probe-static
	sum=$(cat "${src[@]}" "$top/tests/tools/probe.h" | sha256sum | cut -d' ' -f1)
	if [ -x "$probe_static" ] && [ "$(cat "$probe_static.src" 2>/dev/null)" = "$sum" ]; then
		return
	fi
	say "building $probe_static"
	"${CC:-cc}" -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -static -o "$probe_static.tmp" "${src[@]}" >&2
	mv "$probe_static.tmp" "$probe_static"
	echo "$sum" >"$probe_static.src"
}

image_inputs_hash() {
	[ -x "$IMAGE_BUSYBOX" ] || die "$IMAGE_BUSYBOX (busybox-static) not found"
	{ echo "recipe $IMAGE_RECIPE"; sha256sum <"$IMAGE_BUSYBOX"; sha256sum <"$probe_static"; } |
		sha256sum | cut -c1-32
}

make_rootfs_tar() {
	local work=$1 rootfs=$1/rootfs a
	mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,proc,sys,dev,root,run,var}
	chmod 1777 "$rootfs/tmp"
	cp "$IMAGE_BUSYBOX" "$rootfs/bin/busybox"
	for a in $("$IMAGE_BUSYBOX" --list-full); do
		[ "$a" = bin/busybox ] || [ -e "$rootfs/$a" ] || ln -s /bin/busybox "$rootfs/$a"
	done
	cp "$probe_static" "$rootfs/usr/local/bin/segd-probe"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
		>"$rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
	tar -C "$rootfs" -cf "$work/rootfs.tar" .
}
