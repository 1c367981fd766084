#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds the guest initramfs for the QEMU test harness (scripts/vm-run.sh).
#
# The image is two newc cpio archives, concatenated (the kernel unpacks them
# in order into the same rootfs): the base uncompressed, the overlay gzip'd.
#
#  base     The HOST's own binaries (bash, coreutils, util-linux, dmsetup,
#           fio, e2fsprogs, kmod, procps, ...) plus every shared library
#           ldd names for them, and busybox-static for whatever is still
#           missing (reboot, ...). Slow to make (~75 MB), so it is cached
#           under $BUFCACHE_CACHE/initramfs/<key>/base.cpio, keyed by this
#           script and the versions of every Debian package that owns a
#           copied file.
#  overlay  Small, made per run and never cached: the guest /init, the
#           tests (tests/vm -> /tests/vm), their tools (tests/tools/*.c,
#           built static -> /tests/tools/), and the modules under
#           /lib/modules/<kernel.release>/ with depmod's output:
#           dm_bufcache.ko (from the repo root, if built), brd.ko, null_blk.ko, and any
#           other module given with -m.
#
# Usage: tests/harness/mkinitramfs.sh -o OUT.cpio.gz [-m MODULE]...
#   -m MODULE  a path to an out-of-tree .ko (installed under extra/), or the
#              name of an in-tree module of the test kernel (e.g. brd)
#   --base-only  only make sure the cached base exists; print its path
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"

# Packages whose every executable goes into the image, plus single commands.
ALL_BIN_PACKAGES=(bash coreutils util-linux mount dmsetup e2fsprogs kmod
	procps psmisc grep sed mawk findutils diffutils xxd gzip)
SINGLE_COMMANDS=(awk busybox)
# fio: built by scripts/build-fio.sh from Debian's source without the
# engines the tests never use (Debian's links 64 libraries).
GUEST_FIO="$("$(dirname "$0")/../../scripts/build-fio.sh" --cached)" || exit 1
# Data-only libraries replaced by a tiny stub with the same SONAME and data
# symbols (all zero). libicudata (31 MB, a third of the image, and every
# boot pays for unpacking it) is needed only through fio -> libnbd ->
# libxml2 -> libicuuc, i.e. fio's nbd engine, which the tests never use;
# ICU checks its data's header and fails cleanly on the stub.
STUB_DATA_LIBS=('libicudata.so.*')
# Commands the guest init and tests rely on: the build fails without them.
REQUIRED_COMMANDS=(bash sh mount umount losetup blockdev fsfreeze lsblk
	mkswap swapon dmsetup fio mkfs.ext4 fsck.ext4 e2fsck insmod rmmod
	modprobe depmod lsmod ps free sysctl grep sed awk find cmp sha256sum
	md5sum dd timeout sync xxd od stty dmesg reboot head tail sort)

usage() {
	cat >&2 <<-'EOF'
		Usage: tests/harness/mkinitramfs.sh -o OUT.cpio.gz [-m MODULE]...
		       tests/harness/mkinitramfs.sh --base-only
		  -m MODULE    a path to an out-of-tree .ko (installed under extra/), or
		               the name of an in-tree module of the test kernel (brd)
		  --base-only  only build (or find) the cached base image; print its path
	EOF
	exit 2
}

OUT=""
BASE_ONLY=0
MODULES=()
while [ $# -gt 0 ]; do
	case "$1" in
	-o) [ $# -ge 2 ] || usage; OUT="$2"; shift 2 ;;
	-m) [ $# -ge 2 ] || usage; MODULES+=("$2"); shift 2 ;;
	--base-only) BASE_ONLY=1; shift ;;
	-h | --help) usage ;;
	*) die "mkinitramfs.sh: unknown argument '$1' (see --help)" ;;
	esac
done
[ "$BASE_ONLY" -eq 1 ] || [ -n "$OUT" ] || die "mkinitramfs.sh: -o OUT is required (see --help)"

for c in cpio gzip ldd dpkg dpkg-query ldconfig depmod strip flock; do
	need_cmd "$c" "needed to build the guest initramfs"
done
[ -x /bin/busybox ] || die "busybox not found: install busybox-static (scripts/setup-host.sh)"
busybox --list-full >/dev/null 2>&1 || die "/bin/busybox does not list its applets"

# --- base image ----------------------------------------------------------

is_elf() {
	local magic=""
	LC_ALL=C read -r -N4 magic <"$1" 2>/dev/null || true
	[ "$magic" = $'\177ELF' ]
}

# Scripts are only useful if their interpreter is in the image.
usable_script() {
	local first
	IFS= read -r first <"$1" || return 1
	case "$first" in
	'#!/bin/sh'* | '#!/bin/bash'* | '#!/usr/bin/env bash'* | '#!/usr/bin/env sh'*) return 0 ;;
	esac
	return 1
}

# Host executables to copy, one absolute path per line.
list_executables() {
	local p f
	for p in "${ALL_BIN_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			die "host package '$p' is not installed: apt-get install -t bookworm $p (it belongs in HOST_PACKAGES of scripts/setup-host.sh)"
		dpkg -L "$p" | grep -E '^(/usr)?/s?bin/[^/]+$' | while IFS= read -r f; do
			if [ ! -f "$f" ] || [ ! -x "$f" ]; then continue; fi
			if is_elf "$f" || usable_script "$f"; then echo "$f"; fi
		done
	done
	for p in "${SINGLE_COMMANDS[@]}"; do
		f="$(command -v "$p")" || die "host command '$p' not found"
		echo "$f"
	done
	# The guest's own fio (scripts/build-fio.sh), staged as /usr/bin/fio.
	echo "$GUEST_FIO"
}

# Shared libraries (and the ELF interpreter) of the given ELF files.
list_libraries() {
	local out
	out="$(ldd "$@" 2>&1)" || true # ldd fails for static binaries in the list
	if grep -q 'not found' <<<"$out"; then
		grep -B20 'not found' <<<"$out" | grep -E '^/|not found' >&2
		die "ldd: a shared library of a guest binary is missing on the host"
	fi
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' <<<"$out" | sort -u
}

# Debian packages owning the given paths (merged /usr: dpkg may know a file
# under /bin or under /usr/bin), with their versions.
package_versions() {
	local p alt pats=()
	for p in "$@"; do
		pats+=("$p")
		case "$p" in
		/usr/*) alt="${p#/usr}" ;;
		*) alt="/usr$p" ;;
		esac
		pats+=("$alt")
	done
	# "pkg1:amd64, pkg2: /path" -> pkg1 pkg2
	{ dpkg -S "${pats[@]}" 2>/dev/null || true; } | grep -v '^diversion ' | sed 's|: /.*||' |
		tr ',' '\n' | sed 's/^ *//; s/:.*//; /^$/d' | sort -u |
		xargs -r dpkg-query -W -f="\${Package}=\${Version}\n"
}

# Copies an absolute host path into the staging dir $STAGE, keeping symlinks
# as symlinks (and copying what they point to). Directory components are
# resolved first, so /lib/x/libc.so lands in usr/lib/x/ like on the host.
copy_path() {
	local src="$1" dir dst link target
	dir="$(readlink -f "$(dirname "$src")")" || die "cannot resolve $(dirname "$src")"
	src="$dir/$(basename "$src")"
	dst="$STAGE$src"
	[ -e "$dst" ] || [ -L "$dst" ] && return 0
	mkdir -p "$STAGE$dir"
	if [ -L "$src" ]; then
		link="$(readlink "$src")"
		ln -s "$link" "$dst"
		case "$link" in
		/*) target="$link" ;;
		*) target="$dir/$link" ;;
		esac
		copy_path "$target"
	else
		[ -f "$src" ] || die "cannot copy '$src' into the initramfs: not a file"
		cp -p "$src" "$dst"
	fi
}

# The base's key needs ldd and dpkg over every guest binary (most of this
# script's 4-5 s): it is remembered per state of the package database
# (its status file changes with every install, upgrade or removal) and of
# this script, so a run of the suite pays for it once.
mkdir -p "$BUFCACHE_CACHE/initramfs"
KEY_MEMO="$BUFCACHE_CACHE/initramfs/base-key-$(key_of "$0" "$(stat -c '%Y %s %i' /var/lib/dpkg/status)" "$GUEST_FIO")"
BASE_KEY=""
[ ! -f "$KEY_MEMO" ] || read -r BASE_KEY <"$KEY_MEMO" || BASE_KEY=""
if [ -z "$BASE_KEY" ] || [ ! -f "$BUFCACHE_CACHE/initramfs/$BASE_KEY/base.cpio" ]; then
	mapfile -t EXES < <(list_executables | sort -u)
	[ "${#EXES[@]}" -gt 50 ] || die "found only ${#EXES[@]} host executables; dpkg database broken?"
	ELFS=()
	while IFS= read -r f; do
		if is_elf "$f"; then ELFS+=("$f"); fi
	done < <(readlink -f -- "${EXES[@]}" | sort -u)
	mapfile -t LIBS < <(list_libraries "${ELFS[@]}")
	[ "${#LIBS[@]}" -gt 0 ] || die "ldd found no libraries at all"
	PKGVERS="$(package_versions "${EXES[@]}" "${LIBS[@]}")"
	[ -n "$PKGVERS" ] || die "dpkg -S found no owners for the guest binaries"
	BASE_KEY="$(key_of "$0" "$PKGVERS" "${EXES[*]}" "$(sha256sum <"$GUEST_FIO")" base-v3)"
	printf '%s\n' "$BASE_KEY" >"$KEY_MEMO.tmp.$$" && mv "$KEY_MEMO.tmp.$$" "$KEY_MEMO"
fi
BASE_DIR="$BUFCACHE_CACHE/initramfs/$BASE_KEY"
# Uncompressed: every boot unpacks it, and gunzip of the 30 MB it made
# compressed took 3.6 s of each boot under TCG; copying 75 MB into the guest
# costs QEMU about nothing.
BASE="$BASE_DIR/base.cpio"

# Replaces each STUB_DATA_LIBS file in $STAGE by a stub (see above). A
# library that exports functions is left alone.
stub_data_libs() {
	local pat lib soname syms=()
	command -v gcc >/dev/null || {
		log "  no gcc: keeping the real data-only libraries"
		return 0
	}
	for pat in "${STUB_DATA_LIBS[@]}"; do
		while IFS= read -r lib; do
			if [ ! -f "$lib" ] || [ -L "$lib" ]; then continue; fi
			if nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWiI]$/ { f = 1 } END { exit !f }'; then
				log "  $(basename "$lib") exports functions: not stubbed"
				continue
			fi
			soname="$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')"
			mapfile -t syms < <(nm -D --defined-only "$lib" | awk '$2 ~ /^[RDBrdb]$/ { print $3 }')
			if [ -z "$soname" ] || [ "${#syms[@]}" -eq 0 ]; then continue; fi
			printf 'const unsigned char %s[64] __attribute__((aligned(64))) = { 0 };\n' "${syms[@]}" |
				gcc -x c -shared -fPIC -fno-common -Wl,-soname,"$soname" -o "$lib.stub" - ||
				die "building the stub for $lib failed"
			log "  $(basename "$lib"): $(du -k "$lib" | cut -f1) KB replaced by a $(du -k "$lib.stub" | cut -f1) KB stub"
			mv "$lib.stub" "$lib"
		done < <(find "$STAGE/usr/lib" -name "$pat")
	done
}

build_base() {
	local tmp="$BASE_DIR.tmp.$$" start=$SECONDS applet name have d
	step "building the guest base image ($BASE_KEY): ${#EXES[@]} executables, ${#LIBS[@]} libraries"
	rm -rf "$tmp"
	STAGE="$tmp/root"
	mkdir -p "$STAGE"/{usr/bin,usr/sbin,usr/lib,usr/lib64,dev,proc,sys,tmp,run,root,etc,mnt,var/tmp,tests}
	ln -s usr/bin "$STAGE/bin"
	ln -s usr/sbin "$STAGE/sbin"
	ln -s usr/lib "$STAGE/lib"
	ln -s usr/lib64 "$STAGE/lib64"

	for f in "${EXES[@]}"; do
		[ "$f" = "$GUEST_FIO" ] || copy_path "$f"
	done
	install -m 0755 "$GUEST_FIO" "$STAGE/usr/bin/fio"
	for f in "${LIBS[@]}"; do copy_path "$f"; done
	log "  copied executables and libraries ($((SECONDS - start))s)"

	stub_data_libs

	# /bin/sh is dash on the host; bash is the guest shell.
	rm -f "$STAGE/usr/bin/sh"
	ln -s bash "$STAGE/usr/bin/sh"

	# busybox fills the gaps (reboot, poweroff, hostname, ...), never
	# replacing a real tool, and never /init.
	copy_path /bin/busybox
	while IFS= read -r applet; do
		name="${applet##*/}"
		case "$name" in init | linuxrc | sh | ash) continue ;; esac
		have=0
		for d in usr/bin usr/sbin; do
			[ -e "$STAGE/$d/$name" ] || [ -L "$STAGE/$d/$name" ] && have=1
		done
		[ "$have" -eq 1 ] && continue
		case "$applet" in
		*sbin/*) ln -s ../bin/busybox "$STAGE/usr/sbin/$name" ;;
		*) ln -s busybox "$STAGE/usr/bin/$name" ;;
		esac
	done < <(busybox --list-full)

	# Minimal /etc.
	printf 'root:x:0:0:root:/root:/bin/bash\n' >"$STAGE/etc/passwd"
	printf 'root:x:0:\n' >"$STAGE/etc/group"
	printf 'bufcache-vm\n' >"$STAGE/etc/hostname"
	ln -s ../proc/self/mounts "$STAGE/etc/mtab"
	[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$STAGE/etc/"
	find "$STAGE/usr/lib" "$STAGE/usr/lib64" -name '*.so*' -printf '%h\n' | sort -u |
		sed "s|^$STAGE||" >"$STAGE/etc/ld.so.conf"
	ldconfig -r "$STAGE" || die "ldconfig -r $STAGE failed"
	printf '%s\n' "$PKGVERS" >"$STAGE/etc/bufcache-packages"

	for c in "${REQUIRED_COMMANDS[@]}"; do
		[ -e "$STAGE/usr/bin/$c" ] || [ -e "$STAGE/usr/sbin/$c" ] ||
			die "the guest image lacks the command '$c'"
	done
	# Every ELF file must find its libraries inside the image.
	if command -v chroot >/dev/null && [ "$(id -u)" -eq 0 ]; then
		chroot "$STAGE" /usr/bin/bash -c 'fio --version && dmsetup --version && mkfs.ext4 -V' \
			>"$tmp/smoke.log" 2>&1 || {
			cat "$tmp/smoke.log" >&2
			die "the guest image does not run its own tools (chroot smoke test)"
		}
	fi

	log "  writing cpio ($(du -sm "$STAGE" | cut -f1) MB)"
	(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$tmp/base.cpio" ||
		die "cpio of the base image failed"
	rm -rf "$STAGE"
	rm -rf "$BASE_DIR"
	mv "$tmp" "$BASE_DIR"
	log "  base image ready: $BASE ($(du -m "$BASE" | cut -f1) MB, $((SECONDS - start))s)"
	# Keep the three newest base images (a run that uses an older one has
	# its own copy of the initrd already).
	find "$BUFCACHE_CACHE/initramfs" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' |
		sort -rn | tail -n +4 | cut -d' ' -f2- | while IFS= read -r d; do rm -rf "$d"; done
}

mkdir -p "$BUFCACHE_CACHE/initramfs"
# One builder at a time (vm-run.sh may run concurrently).
exec 9>"$BUFCACHE_CACHE/initramfs/.lock"
flock 9 || die "cannot lock $BUFCACHE_CACHE/initramfs/.lock"
if [ -f "$BASE" ]; then
	log "guest base image: cached $BASE ($(du -m "$BASE" | cut -f1) MB)"
else
	build_base
fi
exec 9>&-
if [ "$BASE_ONLY" -eq 1 ]; then
	echo "$BASE"
	exit 0
fi

# --- overlay ---------------------------------------------------------------

kernel_paths
[ -f "$KBUILD_OUT/.bufcache-built" ] ||
	die "the test kernel is not built yet ($KBUILD_OUT): run scripts/build-kernel.sh"
RELEASE="$(cat "$KBUILD_OUT/include/config/kernel.release")"
GUEST_INIT="$REPO_ROOT/tests/harness/guest-init.sh"
[ -f "$GUEST_INIT" ] || die "guest init missing: $GUEST_INIT"

OV="$(mktemp -d "${TMPDIR:-/tmp}/bufcache-overlay.XXXXXX")"
trap 'rm -rf "$OV"' EXIT
ln -s usr/lib "$OV/lib" # for depmod -b; not put into the archive
MODDIR="$OV/usr/lib/modules/$RELEASE"
mkdir -p "$MODDIR"

# install_module SRC.ko RELDIR
install_module() {
	mkdir -p "$MODDIR/$2"
	strip --strip-debug -o "$MODDIR/$2/$(basename "$1")" "$1" ||
		die "strip failed for $1"
}

add_module() {
	local m="$1" found
	case "$m" in
	*.ko)
		[ -f "$m" ] || die "module file not found: $m"
		install_module "$m" extra
		;;
	*)
		found="$(find "$KBUILD_OUT" -name "$m.ko" -not -path '*/.tmp*' | head -n1)"
		[ -n "$found" ] ||
			die "in-tree module '$m' not found under $KBUILD_OUT (is it =m in config/bufcache-test.config?)"
		found="${found#"$KBUILD_OUT"/}"
		install_module "$KBUILD_OUT/$found" "kernel/$(dirname "$found")"
		;;
	esac
}

# BUFCACHE_KO: another build of the module (scripts/bench.sh).
BUFCACHE_KO="${BUFCACHE_KO:-$REPO_ROOT/dm_bufcache.ko}"
if [ -f "$BUFCACHE_KO" ]; then
	vermagic="$(modinfo -F vermagic "$BUFCACHE_KO" 2>/dev/null | cut -d' ' -f1)"
	[ "$vermagic" = "$RELEASE" ] ||
		log "WARNING: dm_bufcache.ko was built for '${vermagic:-?}', the test kernel is '$RELEASE': rebuild it with make"
	modinfo -F parm "$BUFCACHE_KO" | grep -q '^test_' ||
		log "note: dm_bufcache.ko is the plain module: the tests that use test-only parameters need the test flavour (make BUFCACHE_TEST=1)"
	add_module "$BUFCACHE_KO"
else
	log "note: $BUFCACHE_KO is not built (run make BUFCACHE_TEST=1): tests that load dm-bufcache will fail"
fi
add_module brd
add_module null_blk
for m in "${MODULES[@]}"; do add_module "$m"; done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$KBUILD_OUT/$f" ] && cp "$KBUILD_OUT/$f" "$MODDIR/"
done
depmod_log="$(depmod -b "$OV" -e -F "$KBUILD_OUT/System.map" "$RELEASE" 2>&1)" ||
	die "depmod failed: $depmod_log"
[ -z "$depmod_log" ] || log "depmod: $depmod_log"
[ -f "$MODDIR/modules.dep" ] || die "depmod wrote no modules.dep"

install -m 0755 "$GUEST_INIT" "$OV/init"
mkdir -p "$OV/tests/tools"
cp -a "$REPO_ROOT/tests/vm" "$OV/tests/vm"
# The tests' own tools (tests/tools/*.c), static: nothing to resolve in the
# guest.
for c in "$REPO_ROOT"/tests/tools/*.c; do
	[ -f "$c" ] || continue
	cc -O2 -Wall -Wextra -Werror -static -o "$OV/tests/tools/$(basename "$c" .c)" "$c" ||
		die "cannot build the test tool $c"
done
printf '%s\n' "$RELEASE" >"$OV/tests/kernel.release"

(cd "$OV" && find init tests usr | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -n >"$OV/overlay.cpio.gz" || die "cpio/gzip of the overlay failed"
mkdir -p "$(dirname "$OUT")"
cat "$BASE" "$OV/overlay.cpio.gz" >"$OUT" || die "cannot write $OUT"
log "initramfs: $OUT ($(du -k "$BASE" | cut -f1) KB base + $(du -k "$OV/overlay.cpio.gz" | cut -f1) KB overlay); modules: $(cd "$MODDIR" && find . -name '*.ko' -printf '%f ')"
rm -f "$OV/overlay.cpio.gz"
