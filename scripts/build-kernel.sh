#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Configures and builds the debug test kernel out of tree, under
# $BUFCACHE_CACHE/kernel-build/<key>, where the key covers the source version,
# the config fragment, the project's kernel patches (config/patches), rustc
# and bindgen. A finished build is never redone.
# KERNEL_FLAVOUR=bench builds the benchmark kernel instead: the same with
# config/bufcache-bench.config on top (no lockdep, kmemleak, debug lists,
# slab debugging or Rust debug assertions); scripts/bench.sh asks for it.
. "$(dirname "$0")/lib.sh"

command -v bindgen >/dev/null || die "bindgen not found; run scripts/setup-host.sh"
kernel_paths

# The Makefile builds the module against the tree named here: current-<series>
# (and current, the last one built).
record_current() {
	[ "$KERNEL_FLAVOUR" = test ] || return 0
	mkdir -p "$BUFCACHE_CACHE/kernel-build"
	echo "$KBUILD_OUT" >"$BUFCACHE_CACHE/kernel-build/current-$KERNEL_SERIES"
	echo "$KBUILD_OUT" >"$BUFCACHE_CACHE/kernel-build/current"
}

# The patched source tree: a copy of Debian's with config/patches applied,
# made once per set of patches (about a minute), never modified afterwards.
prepare_source() {
	local top="${KSRC%/*}" tmp p
	[ -f "$top/.bufcache-patched" ] && return 0
	[ "${#KERNEL_PATCHES[@]}" -gt 0 ] || die "no kernel patches in config/patches"
	# One preparer at a time (a test and a benchmark kernel build may start
	# together); the second finds the tree ready.
	exec 9>"$top.lock"
	flock 9
	[ -f "$top/.bufcache-patched" ] && return 0
	need_cmd patch "run scripts/setup-host.sh"
	[ -f "$KSRC_PRISTINE/Makefile" ] || die "no kernel source in $KSRC_PRISTINE; run scripts/fetch-kernel.sh"
	step "patching linux-source-$KERNEL_SERIES: ${#KERNEL_PATCHES[@]} patch(es) from config/patches"
	tmp="$top.tmp"
	rm -rf "$tmp" "$top"
	mkdir -p "$tmp"
	cp -a "$KSRC_PRISTINE" "$tmp/"
	for p in "${KERNEL_PATCHES[@]}"; do
		log "  $(basename "$p")"
		patch -d "$tmp/linux-source-$KERNEL_SERIES" -p1 --batch --forward --quiet <"$p" ||
			die "$(basename "$p") does not apply to linux-source-$KERNEL_SERIES $KERNEL_DEB_VERSION"
	done
	touch "$tmp/.bufcache-patched"
	mv "$tmp" "$top"
}

if [ -f "$KBUILD_OUT/.bufcache-built" ]; then
	record_current
	log "$KERNEL_FLAVOUR kernel: cached build $KBUILD_OUT ($(cat "$KBUILD_OUT/include/config/kernel.release"))"
	exit 0
fi

prepare_source

JOBS="${JOBS:-$(($(nproc) + 1))}"
KMAKE=(make -C "$KSRC" O="$KBUILD_OUT" ARCH=x86_64 -j"$JOBS")

mkdir -p "$KBUILD_OUT"

step "checking Rust support in the kernel tree"
"${KMAKE[@]}" -s rustavailable >"$KBUILD_OUT/rustavailable.log" 2>&1 || {
	cat "$KBUILD_OUT/rustavailable.log" >&2
	die "the kernel build says Rust is not available (see above; LIBCLANG_PATH=$LIBCLANG_PATH)"
}

if [ -f "$KBUILD_OUT/.bufcache-configured" ]; then
	log "config: already done for this key"
else
	step "configuring: tinyconfig + $(for f in "${KCONFIG_FRAGMENTS[@]}"; do printf '%s ' "$(basename "$f")"; done)"
	"${KMAKE[@]}" -s tinyconfig >/dev/null
	(cd "$KBUILD_OUT" && ARCH=x86_64 "$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KBUILD_OUT" \
		"$KBUILD_OUT/.config" "${KCONFIG_FRAGMENTS[@]}" >"$KBUILD_OUT/merge.log" 2>&1) ||
		die "merge_config.sh failed (see $KBUILD_OUT/merge.log)"
	"${KMAKE[@]}" -s olddefconfig >/dev/null

	# Every option of the fragments must have survived (a later fragment
	# overrides an earlier one).
	declare -A WANT=()
	OPTS=()
	for f in "${KCONFIG_FRAGMENTS[@]}"; do
		while IFS= read -r line; do
			case "$line" in '' | '#'*) continue ;; esac
			[ -n "${WANT[${line%%=*}]:-}" ] || OPTS+=("${line%%=*}")
			WANT["${line%%=*}"]="$line"
		done <"$f"
	done
	bad=0
	for opt in "${OPTS[@]}"; do
		line="${WANT[$opt]}"
		val="${line#*=}"
		if [ "$val" = n ]; then
			grep -qx "$opt=.*" "$KBUILD_OUT/.config" && grep -qx "$opt=[ym]" "$KBUILD_OUT/.config" && {
				log "config: $opt should be off but is $(grep -x "$opt=.*" "$KBUILD_OUT/.config")"
				bad=1
			}
			continue
		fi
		grep -qxF "$line" "$KBUILD_OUT/.config" || {
			log "config: wanted '$line', got '$(grep -E "^(# )?$opt[= ]" "$KBUILD_OUT/.config" || echo unset)'"
			bad=1
		}
	done
	[ "$bad" -eq 0 ] || die "the config fragments did not apply cleanly (missing dependencies, see above)"
	log "config OK: $(grep -c '=[ym]$' "$KBUILD_OUT/.config") options set"
	touch "$KBUILD_OUT/.bufcache-configured"
fi

step "building bzImage and modules with $JOBS jobs (about 10 minutes on 2 cores)"
start=$SECONDS
HEARTBEAT=60 run_logged "$KBUILD_OUT/build.log" "${KMAKE[@]}" bzImage modules ||
	die "kernel build failed (full log: $KBUILD_OUT/build.log)"
log "kernel built in $((SECONDS - start))s: $(cat "$KBUILD_OUT/include/config/kernel.release")"
[ -f "$KBUILD_OUT/rust/kernel.o" ] || [ -f "$KBUILD_OUT/rust/libkernel.rmeta" ] ||
	die "kernel built without the Rust kernel crate"
echo "$((SECONDS - start))" >"$KBUILD_OUT/.build-seconds"
touch "$KBUILD_OUT/.bufcache-built"
record_current
