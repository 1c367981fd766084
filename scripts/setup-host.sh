#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Installs the host tools needed to build the test kernel, the module and the
# guest image: Debian bookworm packages, rust-src, libclang 19, a pinned
# bindgen-cli. Idempotent: a second run checks and does nothing.
. "$(dirname "$0")/lib.sh"

HOST_PACKAGES=(
	# kernel build
	build-essential bc flex bison libelf-dev libssl-dev cpio kmod xxd
	xz-utils rsync patch python3 "$LIBCLANG_PKG"
	# make bench: its plot (run with /usr/bin/python3)
	python3-matplotlib
	# QEMU and the guest userspace (copied from the host into an initramfs)
	qemu-system-x86 busybox-static fio dmsetup e2fsprogs util-linux
	# the guest's fio, built from Debian's source (scripts/build-fio.sh)
	dpkg-dev libaio-dev zlib1g-dev
	bash coreutils procps psmisc kmod
)

stamp="$BUFCACHE_CACHE/tools/host-$(key_of "${HOST_PACKAGES[*]}" "$BINDGEN_VERSION" v1).ok"
if [ -f "$stamp" ] && command -v bindgen >/dev/null; then
	log "host tools: already installed ($stamp)"
	exit 0
fi
mkdir -p "$BUFCACHE_CACHE/tools"

step "host packages (bookworm)"
need_cmd apt-get "this project expects Debian bookworm"
missing=()
for p in "${HOST_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing: ${missing[*]}"
	sudo_if_needed apt-get update -q
	DEBIAN_FRONTEND=noninteractive sudo_if_needed \
		apt-get install -y -q -t bookworm --no-install-recommends "${missing[@]}" ||
		die "apt-get install failed for: ${missing[*]}"
else
	log "all packages present"
fi
[ -e "$LIBCLANG_PATH/libclang.so" ] || ls "$LIBCLANG_PATH"/libclang*.so* >/dev/null 2>&1 ||
	die "libclang not found in $LIBCLANG_PATH (package $LIBCLANG_PKG)"

step "rust toolchain"
need_cmd rustup "install Rust with rustup first (stable toolchain; see Requirements in README.md)"
need_cmd rustc
rustup component list --installed | grep -q '^rust-src' || {
	log "adding rust-src"
	rustup component add rust-src
}
for c in rustfmt clippy; do
	rustup component list --installed | grep -q "^$c" || rustup component add "$c"
done
log "$(rustc --version)"

step "bindgen-cli $BINDGEN_VERSION"
bg_root="$BUFCACHE_CACHE/tools/bindgen-$BINDGEN_VERSION"
if [ ! -x "$bg_root/bin/bindgen" ]; then
	log "cargo install bindgen-cli $BINDGEN_VERSION (about 2 minutes)"
	run_logged "$BUFCACHE_CACHE/tools/bindgen-install.log" \
		cargo install bindgen-cli --version "$BINDGEN_VERSION" --locked --root "$bg_root" ||
		die "cargo install bindgen-cli failed"
fi
log "$("$bg_root/bin/bindgen" --version)"

touch "$stamp"
log "host tools ready"
