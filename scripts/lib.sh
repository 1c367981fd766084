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

# The kernel series: the environment's KERNEL_SERIES, else the default.
KERNEL_SERIES="${KERNEL_SERIES:-$KERNEL_SERIES_DEFAULT}"
_kv="KERNEL_DEB_VERSION_${KERNEL_SERIES//./_}"
[ -n "${!_kv:-}" ] ||
	die "KERNEL_SERIES=$KERNEL_SERIES is not supported (config/versions.mk: $(grep -o '^KERNEL_DEB_VERSION_[0-9_]*' "$REPO_ROOT/config/versions.mk" | sed 's/KERNEL_DEB_VERSION_//; s/_/./g' | tr '\n' ' '))"
KERNEL_DEB_VERSION_PREFERRED="${!_kv}"
export KERNEL_SERIES

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
	local rec
	rec="$(kernel_selected_file)"
	[ -f "$rec" ] || die "no linux-source-$KERNEL_SERIES selected yet; run scripts/setup.sh"
	KERNEL_DEB_VERSION="$(cat "$rec")"
	# The source as Debian ships it, and the tree the kernels are built
	# from: a copy with the project's patches (config/patches) applied,
	# keyed by them.
	KSRC_PRISTINE="$BUFCACHE_CACHE/kernel-src/$KERNEL_DEB_VERSION/linux-source-$KERNEL_SERIES"
	local nullglob
	nullglob="$(shopt -p nullglob || true)"
	shopt -s nullglob
	KERNEL_PATCHES=("$REPO_ROOT"/config/patches/*.patch)
	eval "$nullglob"
	KERNEL_PATCH_KEY="$(key_of "${KERNEL_PATCHES[@]}")"
	KSRC="$BUFCACHE_CACHE/kernel-src/$KERNEL_DEB_VERSION/patched-$KERNEL_PATCH_KEY/linux-source-$KERNEL_SERIES"
	# KERNEL_FLAVOUR: test (the debug test kernel, default) or bench (the
	# same without the debug options, config/bufcache-bench.config on top).
	KERNEL_FLAVOUR="${KERNEL_FLAVOUR:-test}"
	KCONFIG_FRAGMENTS=("$REPO_ROOT/config/bufcache-test.config")
	# Options whose name differs between series.
	[ ! -f "$REPO_ROOT/config/bufcache-test-$KERNEL_SERIES.config" ] ||
		KCONFIG_FRAGMENTS+=("$REPO_ROOT/config/bufcache-test-$KERNEL_SERIES.config")
	case "$KERNEL_FLAVOUR" in
	test) ;;
	bench) KCONFIG_FRAGMENTS+=("$REPO_ROOT/config/bufcache-bench.config") ;;
	*) die "KERNEL_FLAVOUR must be test or bench, not '$KERNEL_FLAVOUR'" ;;
	esac
	# Rust modules must be built by the same rustc as the kernel: key on it.
	local extra=()
	[ "$KERNEL_FLAVOUR" = test ] || extra=("$KERNEL_FLAVOUR")
	KCONFIG_KEY="$(key_of "$KERNEL_DEB_VERSION" "${KCONFIG_FRAGMENTS[@]}" \
		"$(rustc --version)" "$(bindgen --version 2>/dev/null || echo no-bindgen)" build-v1 \
		"patches-$KERNEL_PATCH_KEY" "${extra[@]}")"
	KBUILD_OUT="$BUFCACHE_CACHE/kernel-build/$KCONFIG_KEY"
	# Another kernel build tree for the VM runs (a stock kernel, say):
	# BUFCACHE_KBUILD_OUT=<tree>; build the module with make KDIR=<tree>.
	[ -z "${BUFCACHE_KBUILD_OUT:-}" ] || KBUILD_OUT="$BUFCACHE_KBUILD_OUT"
	export KSRC KBUILD_OUT KERNEL_DEB_VERSION
}

# The file recording which linux-source-$KERNEL_SERIES version the cache
# holds (scripts/fetch-kernel.sh writes it). A cache from before there were
# several series has one "selected" file: it counts for its own series.
kernel_selected_file() {
	local dir="$BUFCACHE_CACHE/kernel-src"
	local rec="$dir/selected-$KERNEL_SERIES"
	if [ ! -f "$rec" ] && [ -f "$dir/selected" ] && grep -q "^$KERNEL_SERIES\." "$dir/selected"; then
		cp "$dir/selected" "$rec"
	fi
	echo "$rec"
}

# The URI of the Debian archive the machine already uses for bookworm (its
# mirror or proxy), as apt itself sees its sources (`apt-cache policy`, any
# format of sources): the entry whose index says o=Debian, n=bookworm, so
# neither a third-party repository for bookworm nor the security and
# updates archives are taken. Needs the machine's package lists (apt-get
# update; scripts/setup-host.sh installs through apt first).
debian_archive_uri() {
	local policy uri
	policy="$(apt-cache policy 2>/dev/null)" || return 1
	uri="$(awk '
		$NF == "Packages" { uri = $2; next }
		uri != "" && $1 == "release" {
			if ($2 ~ /(^|,)o=Debian(,|$)/ && $2 ~ /(^|,)n=bookworm(,|$)/) { print uri; exit }
			uri = ""
		}
	' <<<"$policy")"
	[ -n "$uri" ] || return 1
	echo "$uri"
}

# debian_archive_keyring URI: the Signed-By keyring of the machine's own
# bookworm entry for URI (deb822 "Signed-By:" or one-line "[signed-by=]"),
# if it names one; nothing otherwise. An entry added for the same archive
# and suite must name the same keyring, or apt refuses both.
debian_archive_keyring() {
	local f files=()
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	[ "${#files[@]}" -gt 0 ] || return 0
	awk -v want="$1" '
		function flush() { if (ok && uri && key != "") { print key; found = 1; exit } ok = 0; uri = 0; key = "" }
		FILENAME ~ /\.sources$/ {
			if (FNR == 1) flush()
			if ($0 ~ /^[[:space:]]*$/) { flush(); next }
			if ($1 == "URIs:") for (i = 2; i <= NF; i++) if ($i == want || $i == want "/") uri = 1
			if ($1 == "Suites:") for (i = 2; i <= NF; i++) if ($i == "bookworm") ok = 1
			if (tolower($1) == "signed-by:") key = $2
			next
		}
		$1 == "deb" && $0 ~ /signed-by=/ {
			k = $0; sub(/.*signed-by=/, "", k); sub(/[] ].*/, "", k)
			for (i = 2; i < NF; i++)
				if (($i == want || $i == want "/") && $(i + 1) == "bookworm") { print k; found = 1; exit }
		}
		END { if (!found) flush() }
	' "${files[@]}"
}
