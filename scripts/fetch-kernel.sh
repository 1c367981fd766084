#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fetches Debian's linux-source-$KERNEL_SERIES (downloaded, never installed)
# from trixie-backports or sid, on the archive the machine's apt sources
# already name (a mirror or proxy is respected), and extracts it under
# $BUFCACHE_CACHE/kernel-src. The preferred version is pinned in
# config/versions.mk; another $KERNEL_SERIES.y is accepted as a
# fallback. The version used is recorded in kernel-src/selected-<series> and the .deb
# is kept, so a rebuild does not depend on the archive any more.
. "$(dirname "$0")/lib.sh"

SRCDIR="$BUFCACHE_CACHE/kernel-src"
mkdir -p "$SRCDIR/debs"

SELECTED="$(kernel_selected_file)"
if [ -f "$SELECTED" ]; then
	v="$(cat "$SELECTED")"
	if [ -f "$SRCDIR/$v/.extracted" ]; then
		log "kernel source: linux-source-$KERNEL_SERIES $v (cached)"
		exit 0
	fi
fi

# Use a kept .deb if there is one: preferred version first.
pick_cached_deb() {
	local d
	d="$SRCDIR/debs/linux-source-${KERNEL_SERIES}_${KERNEL_DEB_VERSION_PREFERRED//:/%3a}_all.deb"
	if [ -f "$d" ]; then echo "$d"; return; fi
	ls -1 "$SRCDIR"/debs/linux-source-"${KERNEL_SERIES}"_*_all.deb 2>/dev/null | sort -V | tail -n1
}

deb="$(pick_cached_deb || true)"
if [ -z "$deb" ]; then
	step "adding apt sources for trixie-backports and sid (pinned low, download only)"
	src=/etc/apt/sources.list.d/dm-bufcache-kernel.sources
	pref=/etc/apt/preferences.d/dm-bufcache-kernel
	if [ ! -f "$src" ]; then
		uri="$(debian_archive_uri)" ||
			die "no Debian archive URI for bookworm in the machine's apt sources (/etc/apt/sources.list*)"
		log "archive URI from the machine's apt sources: $uri"
		sudo_if_needed tee "$src" >/dev/null <<-EOF
			# Added by dm-bufcache scripts/fetch-kernel.sh: only used to
			# download linux-source-$KERNEL_SERIES. Same archive as the
			# machine's bookworm entry. Pinned low in
			# /etc/apt/preferences.d/dm-bufcache-kernel.
			Types: deb
			URIs: $uri
			Suites: trixie-backports sid
			Components: main
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
	fi
	if [ ! -f "$pref" ]; then
		sudo_if_needed tee "$pref" >/dev/null <<-'EOF'
			# Never upgrade bookworm packages from these suites.
			Package: *
			Pin: release n=trixie-backports
			Pin-Priority: 50

			Package: *
			Pin: release n=sid
			Pin-Priority: 50
		EOF
	fi
	sudo_if_needed apt-get update -q >/dev/null || die "apt-get update failed"

	mapfile -t versions < <(apt-cache madison "linux-source-$KERNEL_SERIES" | awk -F'|' '{gsub(/ /,"",$2); print $2}')
	[ "${#versions[@]}" -gt 0 ] ||
		die "linux-source-$KERNEL_SERIES not found in trixie-backports or sid"
	log "available: ${versions[*]}"
	want=""
	for v in "${versions[@]}"; do
		[ "$v" = "$KERNEL_DEB_VERSION_PREFERRED" ] && want="$v"
	done
	if [ -z "$want" ]; then
		want="$(printf '%s\n' "${versions[@]}" | sort -V | tail -n1)"
		log "WARNING: preferred $KERNEL_DEB_VERSION_PREFERRED is gone; falling back to $want"
	fi
	step "downloading linux-source-$KERNEL_SERIES=$want"
	(cd "$SRCDIR/debs" && apt-get download -q "linux-source-$KERNEL_SERIES=$want") ||
		die "apt-get download linux-source-$KERNEL_SERIES=$want failed"
	deb="$(ls -1 "$SRCDIR"/debs/linux-source-"${KERNEL_SERIES}"_*_all.deb | grep -F "${want//:/%3a}" | head -n1)"
fi

v="$(dpkg-deb -f "$deb" Version)"
dest="$SRCDIR/$v"
step "extracting linux-source-$KERNEL_SERIES $v"
rm -rf "$dest" && mkdir -p "$dest/deb"
dpkg-deb -x "$deb" "$dest/deb"
tarball="$(ls "$dest"/deb/usr/src/linux-source-"$KERNEL_SERIES".tar.* | head -n1)"
[ -f "$tarball" ] || die "no source tarball in $deb"
tar -C "$dest" -xf "$tarball"
rm -rf "$dest/deb"
[ -f "$dest/linux-source-$KERNEL_SERIES/Makefile" ] || die "extracted tree has no Makefile"
touch "$dest/.extracted"
echo "$v" >"$SELECTED"
log "kernel source ready: $dest/linux-source-$KERNEL_SERIES ($(make -s -C "$dest/linux-source-$KERNEL_SERIES" kernelversion))"
