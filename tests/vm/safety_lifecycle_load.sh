#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Lifecycle under load: no stale read, no lost write, no hang while fio
# verifies and the device is suspended, reloaded and reconfigured.
#
# The origin is a loop device under dm-delay (reads 3 ms, writes 25 ms: the
# writebacks of a suspend, a flush or a reload are in flight for a while).
# The cache is small (2 MiB, 4 KiB blocks, readahead 4) against 2 fio
# workers that each write 6 MiB of their own region with crc32c headers,
# at random, and read all of it back and verify it at the end of the run
# (not behind the writes: fio then never rereads a block it verified
# early, and a block lost by a later reload went unnoticed), run after run
# (a new seed each run), so that evictions,
# background writeback and fills run all the time. Meanwhile, for 40 s,
# one operation after another from this list: suspend/resume;
# suspend --noflush/resume; reload of the same table (a new cache takes
# over: the old one wrote back at its suspend), also with a --noflush
# suspend (as LVM does); reload in writethrough
# mode and back; the messages cache_size (shrink to 1 MiB and back),
# mode (writethrough and back), flush, invalidate (may be refused with
# EBUSY while dirty) and watermarks. Every operation must succeed (its
# exit status is checked; only an invalidate refused for dirty blocks is
# allowed), every fio run must verify (a stale read or a lost write fails
# fio's verification), nothing may stay blocked for more than 120 s after
# the operations stop, every --noflush reload keeps 4 blocks written just
# before it, and at the end, after the cache is removed, the
# last run of each worker is on the loop device itself: byte for byte the
# data that run's own verification read through the device (fio checks
# each block's header seed and checksum against the run that wrote it, so
# a block left over from an older run fails there; fio's --verify_only
# alone would pass it, taking the seed from the block's own header).
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 32
od="$(dm_create od "0 $sz delay $loop 0 3 $loop 0 25")"
TABLE="0 $sz bufcache $od 4096 4 cache_size $((2 << 20)) readahead 4"
WT_TABLE="0 $sz bufcache $od 4096 5 cache_size $((2 << 20)) writethrough readahead 4"
dm="$(dm_create lc "$TABLE")"
log "table: $TABLE"
on_cleanup sh -c "dmsetup info lc >/dev/null 2>&1 && dmsetup resume lc; true"

MB=$((1 << 20))
# job I RUN DEV [FIO-ARG...]: worker I's run RUN (region I, seed from RUN).
job() {
	local i="$1" r="$2" dev="$3"
	shift 3
	fio --output-format=terse --terse-version=3 --name="j$i" --filename="$dev" \
		--rw=randwrite --bs=4k --offset=$((i * 8 * MB)) --size=$((6 * MB)) \
		--direct=1 --ioengine=psync --verify=crc32c --verify_fatal=1 \
		--randseed=$((1000 * i + r)) "$@" >/dev/null
}
# worker I: runs until /tmp/stop exists; the number of the last run that
# verified in /tmp/last.I, the failure in /tmp/fail.I.
worker() {
	local i="$1" r=0
	while [ ! -f /tmp/stop ]; do
		r=$((r + 1))
		if ! job "$i" "$r" "$dm" --do_verify=1 2>"/tmp/fio.$i.err"; then
			echo "run $r: $(tail -n 5 "/tmp/fio.$i.err" | tr '\n' ' ')" >"/tmp/fail.$i"
			return 1
		fi
		echo "$r" >"/tmp/last.$i"
	done
}
rm -f /tmp/stop /tmp/last.* /tmp/fail.*
bg_start w1 worker 1
bg_start w2 worker 2
# A failure stops the workers first: they hold the devices.
on_cleanup sh -c "touch /tmp/stop; pkill -x fio; sleep 2; true"

ops=0
declare -A count=()
# op NAME CMD...: one operation; its failure fails the test.
op() {
	local name="$1"
	shift
	"$@" 2>/tmp/op.err || die "$name failed: $* ($(tr '\n' ' ' </tmp/op.err)); $(bc_status lc)"
}
reload() { # table [--noflush]
	dmsetup reload lc --table "$1" && dmsetup suspend ${2:-} lc && dmsetup resume lc
}
# canary_reload: a reload with a --noflush suspend, as LVM does, checked
# on its own: 4 blocks written just before it (dirty in the old table) must
# read back the same through the new one. fio alone can miss a loss there:
# it rereads a block only at the end of its run, and may have verified it
# through the old table already.
CANARY=$((28 * MB / 4096))
canary_reload() {
	dd if=/dev/urandom of=/tmp/canary bs=4k count=4 status=none
	op noflush_reload dmsetup reload lc --table "$TABLE"
	# Right before the suspend: still dirty then (the timer writes back
	# blocks older than max_age_ms, and a table load takes a while).
	dd if=/tmp/canary of="$dm" bs=4k seek="$CANARY" count=4 oflag=direct status=none ||
		die "canary write failed; $(bc_status lc)"
	op noflush_reload dmsetup suspend --noflush lc
	op noflush_reload dmsetup resume lc
	cmp -s /tmp/canary <(dd if="$dm" bs=4k skip="$CANARY" count=4 iflag=direct status=none) ||
		die "stale read: 4 blocks written before a --noflush reload read back different through the new table; $(bc_status lc)"
}
t_end=$((SECONDS + 40))
while [ "$SECONDS" -lt "$t_end" ]; do
	[ ! -f /tmp/fail.1 ] && [ ! -f /tmp/fail.2 ] || break
	case $((ops % 12)) in
	0) name=suspend && op "$name" dmsetup suspend lc && op "$name" dmsetup resume lc ;;
	1) name=noflush && op "$name" dmsetup suspend --noflush lc && op "$name" dmsetup resume lc ;;
	2) name=reload && op "$name" reload "$TABLE" ;;
	11) name=noflush_reload && canary_reload ;;
	3) name=cache_size && op "$name" dmsetup message lc 0 cache_size $((1 << 20)) &&
		sleep 1 && op "$name" dmsetup message lc 0 cache_size $((2 << 20)) ;;
	4) name=mode && op "$name" dmsetup message lc 0 mode writethrough &&
		sleep 1 && op "$name" dmsetup message lc 0 mode writeback ;;
	5) name=flush && op "$name" dmsetup message lc 0 flush ;;
	6)
		name=invalidate
		if ! dmsetup message lc 0 invalidate 2>/tmp/op.err; then
			grep -q "Device or resource busy" /tmp/op.err ||
				die "invalidate failed other than with EBUSY: $(tr '\n' ' ' </tmp/op.err)"
			name=invalidate_busy
		fi
		;;
	7) name=wt_reload && op "$name" reload "$WT_TABLE" && sleep 1 && op "$name" reload "$TABLE" ;;
	8) name=watermarks && op "$name" dmsetup message lc 0 watermarks 10 5 &&
		sleep 1 && op "$name" dmsetup message lc 0 watermarks 50 25 ;;
	9 | 10) name=pause && sleep 0.5 ;;
	esac
	count[$name]=$((${count[$name]:-0} + 1))
	ops=$((ops + 1))
	sleep 0.3
done
summary=""
for k in "${!count[@]}"; do summary+="$k=${count[$k]} "; done
figure "$ops operations in 40 s under fio verify: $summary"
touch /tmp/stop
for w in w1 w2; do
	rc="$(bg_wait "$w" 120)" || die "fio worker $w still running 120 s after the operations stopped; $(bc_status lc)"
	i="${w#w}"
	[ "$rc" = 0 ] || die "worker $i: fio verification failed: $(cat "/tmp/fail.$i" 2>/dev/null)"
	[ -f "/tmp/last.$i" ] || die "worker $i finished no run"
done
figure "fio runs verified through the device: worker 1 $(cat /tmp/last.1), worker 2 $(cat /tmp/last.2) (6 MiB each)"
# What the last runs verified, read again through the device (nothing
# writes any more): the bytes the loop device must hold in the end.
declare -A want=()
for i in 1 2; do
	want[$i]="$(dd if="$dm" bs=1M skip=$((i * 8)) count=6 iflag=direct status=none | sha_of)" ||
		die "reading worker $i's region through the device failed"
done
log "$(bc_status lc)"
assert_eq "$(dmsetup status lc | awk '{ print $3 }')" bufcache "target after the operations"

# The last run of each worker is on the origin once the cache is gone.
run dmsetup remove lc
for i in 1 2; do
	got="$(dd if="$loop" bs=1M skip=$((i * 8)) count=6 iflag=direct status=none | sha_of)" ||
		die "reading worker $i's region of the loop device failed"
	[ "$got" = "${want[$i]}" ] ||
		die "worker $i's last run does not verify on the loop device: its region differs from what the run verified through the device"
	job "$i" "$(cat "/tmp/last.$i")" "$loop" --verify_only 2>/tmp/fio.v.err ||
		die "worker $i's last run does not verify on the loop device: $(tail -n 3 /tmp/fio.v.err | tr '\n' ' ')"
done
log "both workers' last runs are on the loop device, byte for byte"
log "OK"
