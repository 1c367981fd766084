# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Common helpers for the dm-bufcache scripts. Source it; do not run it.
#
# Everything that is slow to produce (tool installs, kernel source, kernel
# builds, guest images) lives under $BUFCACHE_CACHE, outside the work tree,
# in directories keyed by whatever produced them. A second run finds them
# and does nothing.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUFCACHE_CACHE="${BUFCACHE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dm-bufcache}"

# Pinned inputs (shared with the Makefile). Change them there, and the cache
# keys change with them.
# shellcheck source=../config/versions.mk
. "$REPO_ROOT/config/versions.mk"

export LIBCLANG_PATH="${LIBCLANG_PATH:-$LIBCLANG_PATH_DEFAULT}"
export PATH="$BUFCACHE_CACHE/tools/bindgen-$BINDGEN_VERSION/bin:$HOME/.cargo/bin:$PATH"

_ts() { date +%H:%M:%S; }
log() { printf '[%s] %s\n' "$(_ts)" "$*" >&2; }
step() { printf '[%s] ==> %s\n' "$(_ts)" "$*" >&2; }
die() {
	printf '[%s] ERROR: %s\n' "$(_ts)" "$*" >&2
	exit 1
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "missing command '$1'${2:+ ($2)}"
}

# Short hash of files and strings, used as a cache key.
key_of() {
	local f
	for f in "$@"; do
		if [ -f "$f" ]; then
			printf 'file:%s\n' "$(basename "$f")"
			cat "$f"
		else
			printf 'str:%s\n' "$f"
		fi
	done | sha256sum | cut -c1-16
}

# Runs a long command, showing a heartbeat line every $HEARTBEAT seconds
# and the command's last output line, so a 10 minute step is not silent.
# Full output goes to the log file $1.
run_logged() {
	local logfile="$1"
	shift
	local hb="${HEARTBEAT:-30}"
	"$@" >"$logfile" 2>&1 &
	local pid=$! start=$SECONDS rc next
	next=$((SECONDS + hb))
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if ((SECONDS >= next)); then
			next=$((next + hb))
			log "  ... $((SECONDS - start))s: $(tail -n1 "$logfile" 2>/dev/null | cut -c1-100)"
		fi
	done
	if wait "$pid"; then rc=0; else rc=$?; fi
	if [ "$rc" -ne 0 ]; then
		log "command failed (exit $rc): $*"
		log "last lines of $logfile:"
		tail -n 40 "$logfile" >&2
	fi
	return "$rc"
}

sudo_if_needed() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Paths derived from the pinned inputs, filled in by kernel_paths.
kernel_paths() {
	local rec="$BUFCACHE_CACHE/kernel-src/selected"
	[ -f "$rec" ] || die "no kernel source selected yet; run scripts/setup.sh"
	KERNEL_DEB_VERSION="$(cat "$rec")"
	KSRC="$BUFCACHE_CACHE/kernel-src/$KERNEL_DEB_VERSION/linux-source-$KERNEL_SERIES"
	# KERNEL_FLAVOUR: test (the debug test kernel, default) or bench (the
	# same without the debug options, config/bufcache-bench.config on top).
	KERNEL_FLAVOUR="${KERNEL_FLAVOUR:-test}"
	KCONFIG_FRAGMENTS=("$REPO_ROOT/config/bufcache-test.config")
	case "$KERNEL_FLAVOUR" in
	test) ;;
	bench) KCONFIG_FRAGMENTS+=("$REPO_ROOT/config/bufcache-bench.config") ;;
	*) die "KERNEL_FLAVOUR must be test or bench, not '$KERNEL_FLAVOUR'" ;;
	esac
	# Rust modules must be built by the same rustc as the kernel: key on it.
	# (The test flavour's key is what it was before flavours existed.)
	local extra=()
	[ "$KERNEL_FLAVOUR" = test ] || extra=("${KCONFIG_FRAGMENTS[1]}" "$KERNEL_FLAVOUR")
	KCONFIG_KEY="$(key_of "$KERNEL_DEB_VERSION" "$REPO_ROOT/config/bufcache-test.config" \
		"$(rustc --version)" "$(bindgen --version 2>/dev/null || echo no-bindgen)" build-v1 "${extra[@]}")"
	KBUILD_OUT="$BUFCACHE_CACHE/kernel-build/$KCONFIG_KEY"
	export KSRC KBUILD_OUT KERNEL_DEB_VERSION
}
