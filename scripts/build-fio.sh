#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds the fio that goes into the guest image: Debian's fio source, the
# version the host has installed, configured without the engines the tests
# never use. Debian's fio links 64 shared libraries for its ceph, gluster,
# RDMA, PMEM and nbd engines: under TCG loading them is most of a fio
# start (fio --version 0.6-1.3 s), and they are about 25 MB of the 75 MB
# guest base image, which every boot unpacks. This one links libc, libm,
# zlib and libaio (the libaio engine), and runs the same fio release.
#
#   scripts/build-fio.sh            build (or find) it; print its path
#   scripts/build-fio.sh --cached   print its path if it is built, else fail
#
# The source comes through apt (deb-src on the archive the machine's apt
# sources already use for bookworm: a mirror or proxy is respected; apt
# checks it against the archive's signed index). Cached under
# $BUFCACHE_CACHE/tools/fio-<key>/, keyed by the version and this recipe.
. "$(dirname "$0")/lib.sh"

CONFIGURE=(--disable-native)
# The source version (a binNMU's binary version, +bN, has no source of
# its own).
VER="$(dpkg-query -W -f='${source:Version}' fio 2>/dev/null)" ||
	die "fio is not installed on the host (scripts/setup-host.sh installs it)"
KEY="$(key_of "$VER" "${CONFIGURE[*]}" "$(cat "$0")")"
OUT="$BUFCACHE_CACHE/tools/fio-$KEY"
if [ -x "$OUT/fio" ]; then
	echo "$OUT/fio"
	exit 0
fi
[ "${1:-}" != --cached ] || die "the guest's fio is not built: run scripts/build-fio.sh (scripts/setup.sh does)"

step "building the guest's fio $VER (Debian's source, without the engines the tests do not use)"
need_cmd dpkg-source "install dpkg-dev"
if ! apt-get source --print-uris -q "fio=$VER" 2>/dev/null | grep -q "\.dsc'"; then
	src=/etc/apt/sources.list.d/dm-bufcache-src.sources
	uri="$(debian_archive_uri)" ||
		die "apt knows no Debian archive for bookworm (o=Debian, n=bookworm in apt-cache policy): run apt-get update, check /etc/apt/sources.list*"
	# The same keyring as the machine's entry for that archive and suite
	# (apt refuses two entries that disagree), or none if it names none.
	key="$(debian_archive_keyring "$uri")"
	log "adding deb-src for bookworm on $uri ($src)"
	{
		echo "# Added by dm-bufcache scripts/build-fio.sh: the source of the"
		echo "# guest's fio. Same archive as the machine's bookworm entry."
		echo "Types: deb-src"
		echo "URIs: $uri"
		echo "Suites: bookworm"
		echo "Components: main"
		[ -z "$key" ] || echo "Signed-By: $key"
	} | sudo_if_needed tee "$src" >/dev/null
	if ! sudo_if_needed apt-get update -q; then
		sudo_if_needed rm -f "$src"
		die "apt-get update failed with $src (removed again)"
	fi
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get source -q --download-only "fio=$VER") >"$tmp/fetch.log" 2>&1 || {
	cat "$tmp/fetch.log" >&2
	die "apt-get source fio=$VER failed"
}
# apt checked the files against the archive's signed Sources index.
(cd "$tmp" && dpkg-source --no-check -x ./fio_*.dsc src) >"$tmp/unpack.log" 2>&1 || {
	cat "$tmp/unpack.log" >&2
	die "dpkg-source -x failed"
}
(cd "$tmp/src" && ./configure "${CONFIGURE[@]}") >"$tmp/configure.log" 2>&1 || {
	tail -n 20 "$tmp/configure.log" >&2
	die "fio's configure failed"
}
grep -q '^Linux AIO support  *yes' "$tmp/configure.log" ||
	die "fio's configure found no libaio (install libaio-dev: scripts/setup-host.sh)"
log "make (about 1 minute)"
make -C "$tmp/src" -j"$(nproc)" fio >"$tmp/make.log" 2>&1 || {
	tail -n 20 "$tmp/make.log" >&2
	die "building fio failed"
}
mkdir -p "$OUT.tmp.$$"
strip -o "$OUT.tmp.$$/fio" "$tmp/src/fio"
"$OUT.tmp.$$/fio" --version >/dev/null || die "the built fio does not run"
rm -rf "$OUT"
mv "$OUT.tmp.$$" "$OUT"
log "guest fio: $OUT/fio ($(ldd "$OUT/fio" | grep -c '=>') shared libraries, $(du -k "$OUT/fio" | cut -f1) KB)"
echo "$OUT/fio"
