#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The association contract of the coming kernel, on the patched test
# kernel (config/patches: association may sleep; creating a blkg sleeps
# blkcg_assoc_sleep_ms, set for the whole suite by the harness; the
# non-blocking association fails when no blkg exists or when debugfs
# blkcg_assoc/fail_nowait is set):
# 1. bufcache's own bios from a new cgroup (fills, writeback, a bypassed
#    stream) create their blkgs, sleeping, in its workers: no REQ_NOWAIT
#    bio ever waits for a creation (blkcg_assoc/nowait_slept), and the
#    bytes are charged to the cgroup;
# 2. with the non-blocking association failing, a bypassed stream is
#    deferred to the workers (assoc_again), still charged to its cgroup,
#    never to root; a REQ_NOWAIT read of it completes with EAGAIN
#    (nowait_again), and the retry without REQ_NOWAIT returns the right
#    bytes; with it working, REQ_NOWAIT bypassed reads go to the origin
#    from map;
# 3. the peers, for Documentation/cgroup.rst: a first REQ_NOWAIT read from
#    a new cgroup sleeps in blkg creation through dm-linear (its map
#    creates the origin's blkg), never through bufcache (whose map never
#    associates blocking); dm-ebs (dm-bufio) and dm-writecache run their
#    I/O from new cgroups (any splat fails the run).
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

D=/sys/kernel/debug/blkcg_assoc
[ -d "$D" ] || die "the test kernel lacks config/patches (no $D)"
[ "$(cat "$D/sleep_ms")" -gt 0 ] || die "blkcg_assoc_sleep_ms is not set on the kernel command line"
on_cleanup sh -c "echo 0 >$D/fail_nowait"
MB=$((1 << 20))

bc_setup 64
mm="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
run dd if=/dev/urandom of="$loop" bs=1M count=48 oflag=direct status=none
dm="$(bc_create ac "$loop" 4096 cache_size $((8 * MB)) sequential_cutoff $((1 * MB)) max_age_ms 0 readahead 0)"
P="$(cg_setup assoc "+io")"
mkdir -p "$P/C" "$P/E" "$P/F" "$P/F2" "$P/G" "$P/H"
on_cleanup rmdir "$P/C" "$P/E" "$P/F" "$P/F2" "$P/G" "$P/H" "$P"

# nowait_read CGROUP DEV KIB_OFFSET: one 256 KiB RWF_NOWAIT direct read
# (tests/tools/bc-nowait: preadv2, as fio's pvsync2 engine makes it) from
# CGROUP; prints ok or EAGAIN, dies on any other error.
nowait_read() {
	local out
	out="$(in_cg "$1" /tests/tools/bc-nowait read "$2" $(($3 * 1024)) 1 0 262144 2>&1)" ||
		die "RWF_NOWAIT read failed, but not with EAGAIN: $out"
	case "$out" in
	0) echo ok ;;
	1) echo EAGAIN ;;
	*) die "bc-nowait: $out" ;;
	esac
}

# 1. A new cgroup's fills, writeback and bypassed stream.
created0="$(cat "$D/created_sleeping")" slept0="$(cat "$D/nowait_slept")"
in_cg "$P/C" dd if="$dm" of=/dev/null bs=1M skip=0 count=8 iflag=direct status=none ||
	die "sequential read from C failed"
in_cg "$P/C" dd if=/dev/urandom of="$dm" bs=4k count=64 seek=$((40 * 256)) oflag=direct status=none ||
	die "write from C failed"
run dmsetup message ac 0 flush
created="$(($(cat "$D/created_sleeping") - created0))"
figure "cgroup C: $created blkg creations slept, $(bc_field ac bypassed_reads) bypassed reads, $(bc_field ac assoc_again) failed non-blocking associations"
# (The block layer creates C's blkg on the mapped device at submission;
# this only checks that the patched kernel sleeps when it creates one.)
[ "$created" -gt 0 ] || die "no blkg creation slept: blkcg_assoc_sleep_ms has no effect"
[ "$(bc_field ac bypassed_reads)" -gt 0 ] || die "C's stream was not bypassed"
[ "$(bc_field ac assoc_again)" -eq 0 ] || die "a non-blocking association failed although C's blkg existed"
rb="$(cg_io "$P/C" "$mm" rbytes)" wb="$(cg_io "$P/C" "$mm" wbytes)"
[ "$rb" -ge $((8 * MB)) ] || die "C read 8 MiB, $rb bytes charged to it on the origin"
[ "$wb" -ge $((256 * 1024)) ] || die "C wrote 256 KiB, $wb bytes charged to it on the origin"

# 2. The non-blocking association fails.
echo 1 >"$D/fail_nowait"
again0="$(bc_field ac assoc_again)" byp0="$(bc_field ac bypassed_reads)"
in_cg "$P/E" dd if="$dm" of=/dev/null bs=1M skip=8 count=8 iflag=direct status=none ||
	die "sequential read from E failed"
again="$(($(bc_field ac assoc_again) - again0))" byp="$(($(bc_field ac bypassed_reads) - byp0))"
rb="$(cg_io "$P/E" "$mm" rbytes)"
figure "fail_nowait: $again failed non-blocking associations, $byp bypassed reads (from workers), $rb bytes charged to E"
[ "$again" -gt 0 ] || die "no non-blocking association failed with fail_nowait set"
[ "$byp" -gt 0 ] || die "the deferred stream was not bypassed from the workers"
[ "$rb" -ge $((8 * MB)) ] || die "E read 8 MiB, $rb bytes charged to it: the rest went to root"

# A REQ_NOWAIT read continuing E's stream would block; its retry reads the
# origin's bytes.
nw0="$(bc_field ac nowait_again)"
in_cg "$P/E" dd if="$dm" of=/dev/null bs=1M skip=16 count=2 iflag=direct status=none ||
	die "sequential read from E failed"
assert_eq "$(nowait_read "$P/E" "$dm" $((18 * 1024)))" EAGAIN \
	"RWF_NOWAIT read of a bypassed stream with the non-blocking association failing"
[ "$(bc_field ac nowait_again)" -gt "$nw0" ] || die "nowait_again did not count it"
byp0="$(bc_field ac bypassed_reads)"
assert_eq "$(sha_range "$dm" 18 1)" "$(sha_range "$loop" 18 1)" "the retry of the RWF_NOWAIT read"
# The retry still belongs to the stream: it bypasses too.
[ "$(bc_field ac bypassed_reads)" -gt "$byp0" ] || die "the retry of a REQ_NOWAIT bypass restarted the stream"

# The non-blocking association works again: REQ_NOWAIT bypassed reads go
# to the origin from map.
echo 0 >"$D/fail_nowait"
in_cg "$P/E" dd if="$dm" of=/dev/null bs=1M skip=24 count=2 iflag=direct status=none ||
	die "sequential read from E failed"
again0="$(bc_field ac assoc_again)" byp0="$(bc_field ac bypassed_reads)"
assert_eq "$(nowait_read "$P/E" "$dm" $((26 * 1024)))" ok "RWF_NOWAIT read of a bypassed stream"
assert_eq "$(($(bc_field ac bypassed_reads) - byp0))" 1 "bypassed reads for one RWF_NOWAIT read"
assert_eq "$(bc_field ac assoc_again)" "$again0" "failed non-blocking associations with a blkg in place"
slept="$(($(cat "$D/nowait_slept") - slept0))"
assert_eq "$slept" 0 "REQ_NOWAIT bios that waited for a blkg creation through bufcache"
log "$(bc_status ac)"

# 3. The peers. A first REQ_NOWAIT read from a new cgroup: through
# bufcache (a miss: "would block") and through dm-linear over a new loop
# device (no blkg exists on it). dm-linear's map creates the cgroup's blkg
# on its origin (bio_set_dev), sleeping with REQ_NOWAIT set; bufcache's map
# never does. (The block layer creates the blkg on the mapped device when
# it allocates the bio, before it sets REQ_NOWAIT: not counted.)
slept0="$(cat "$D/nowait_slept")"
r_bc="$(nowait_read "$P/F" "$dm" $((44 * 1024)))"
s_bc="$(($(cat "$D/nowait_slept") - slept0))"
lin_loop="$(make_loop 16)"
lin="$(dm_create lin "0 $(blockdev --getsz "$lin_loop") linear $lin_loop 0")"
slept0="$(cat "$D/nowait_slept")"
r_lin="$(nowait_read "$P/F2" "$lin" 0)"
s_lin="$(($(cat "$D/nowait_slept") - slept0))"
figure "first REQ_NOWAIT read from a new cgroup: bufcache $r_bc, $s_bc sleep(s) in blkg creation; dm-linear $r_lin, $s_lin sleep(s)"
assert_eq "$r_bc" EAGAIN "a first RWF_NOWAIT read (a miss) through bufcache"
assert_eq "$s_bc" 0 "REQ_NOWAIT bios that slept in blkg creation through bufcache"
[ "$s_lin" -gt 0 ] ||
	die "dm-linear's map did not create a blkg for a REQ_NOWAIT bio: the peer figure in Documentation/cgroup.rst is wrong"
ebs_loop="$(make_loop 16)"
ebs="$(dm_create ebs "0 $(blockdev --getsz "$ebs_loop") ebs $ebs_loop 0 1 8")"
in_cg "$P/G" dd if=/dev/urandom of="$ebs" bs=4k count=64 oflag=direct status=none || die "dm-ebs write failed"
in_cg "$P/G" dd if="$ebs" of=/dev/null bs=4k count=256 skip=256 iflag=direct status=none || die "dm-ebs read failed"
wc_origin="$(make_loop 16)" wc_cache="$(make_loop 8)"
wc="$(dm_create wc "0 $(blockdev --getsz "$wc_origin") writecache s $wc_origin $wc_cache 4096 0")"
in_cg "$P/H" dd if=/dev/urandom of="$wc" bs=4k count=64 oflag=direct status=none || die "dm-writecache write failed"
run dmsetup message wc 0 flush
in_cg "$P/H" dd if="$wc" of=/dev/null bs=4k count=256 skip=256 iflag=direct status=none || die "dm-writecache read failed"
figure "dm-ebs and dm-writecache from new cgroups: no splat (the harness checks); $(($(cat "$D/created_sleeping") - created0)) blkg creations slept in this test"
log "OK"
