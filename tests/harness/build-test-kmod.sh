#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds the harness self-test module tests/harness/kmod/bufcache_splat.ko against
# the test kernel and prints the path of the .ko on stdout.
#
# The sources are copied to $BUFCACHE_CACHE/test-kmod/<key>/ and built there
# (make -C $KBUILD_OUT M=<that dir>), so the work tree gets no build outputs.
# The key covers the sources and the kernel build; a cached .ko is reused.
# shellcheck source=../../scripts/lib.sh
. "$(dirname "$0")/../../scripts/lib.sh"

SRC="$REPO_ROOT/tests/harness/kmod"
for f in Kbuild bufcache_splat.c; do
	[ -f "$SRC/$f" ] || die "self-test module source missing: $SRC/$f"
done
kernel_paths
[ -f "$KBUILD_OUT/.bufcache-built" ] ||
	die "the test kernel is not built yet ($KBUILD_OUT): run scripts/build-kernel.sh"
[ -f "$KBUILD_OUT/Module.symvers" ] ||
	die "$KBUILD_OUT/Module.symvers missing: the kernel build did not finish 'make modules'"

KEY="$(key_of "$SRC/Kbuild" "$SRC/bufcache_splat.c" "$KBUILD_OUT" \
	"$(cat "$KBUILD_OUT/include/config/kernel.release")" kmod-v1)"
DIR="$BUFCACHE_CACHE/test-kmod/$KEY"
KO="$DIR/bufcache_splat.ko"

mkdir -p "$BUFCACHE_CACHE/test-kmod"
exec 9>"$BUFCACHE_CACHE/test-kmod/.lock"
flock 9 || die "cannot lock $BUFCACHE_CACHE/test-kmod/.lock"
if [ -f "$KO" ]; then
	log "self-test module: cached $KO"
	echo "$KO"
	exit 0
fi

step "building the self-test module bufcache_splat.ko"
rm -rf "$DIR.tmp"
mkdir -p "$DIR.tmp"
cp "$SRC/Kbuild" "$SRC/bufcache_splat.c" "$DIR.tmp/"
run_logged "$DIR.tmp/build.log" make -C "$KBUILD_OUT" M="$DIR.tmp" modules ||
	die "building bufcache_splat.ko failed (log: $DIR.tmp/build.log)"
# Kbuild's outputs name their directory (.cmd files): build in place, then
# move only the module and the log.
[ -f "$DIR.tmp/bufcache_splat.ko" ] || die "make succeeded but produced no bufcache_splat.ko"
mkdir -p "$DIR"
mv "$DIR.tmp/bufcache_splat.ko" "$DIR.tmp/build.log" "$DIR/"
rm -rf "$DIR.tmp"
# Keep the three newest builds.
find "$BUFCACHE_CACHE/test-kmod" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' |
	sort -rn | tail -n +4 | cut -d' ' -f2- | while IFS= read -r d; do rm -rf "$d"; done
log "self-test module: built $KO"
echo "$KO"
