#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Status counters move as they should: a second read of a hot set adds only
# hits; writes to cached blocks are write hits, to uncached ones misses;
# sequential misses trigger readahead; a flush counts and cleans.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_load
loop="$(make_loop 64)"
dm="$(bc_create st "$loop" 4096 cache_size $((16 << 20)) readahead 0 max_age_ms 0)"
f() { bc_field st "$1"; }

# Cold read of 4 MiB (1024 blocks): all misses.
sha_range "$dm" 0 4 >/dev/null
assert_eq "$(f read_misses)" 1024 "misses after cold read"
assert_eq "$(f read_hits)" 0 "hits after cold read"
assert_eq "$(f blocks_cached)" 1024 "blocks cached"
# Hot read: only hits.
sha_range "$dm" 0 4 >/dev/null
assert_eq "$(f read_misses)" 1024 "misses after hot read"
assert_eq "$(f read_hits)" 1024 "hits after hot read"

# Writes: cached blocks are hits, new ones misses.
run dd if=/dev/zero of="$dm" bs=4k count=256 oflag=direct status=none
run dd if=/dev/zero of="$dm" bs=4k seek=2048 count=256 oflag=direct status=none
assert_eq "$(f write_hits)" 256 "write hits"
assert_eq "$(f write_misses)" 256 "write misses"
assert_eq "$(f dirty_blocks)" 512 "dirty blocks"
# Partial-block writes to an uncached block: read-modify-write.
run dd if=/dev/zero of="$dm" bs=512 seek=$((4096 * 8 + 1)) count=1 oflag=direct status=none
assert_eq "$(f write_misses)" 257 "partial write miss"

# Flush: counts and cleans.
run sync "$dm"
[ "$(f flushes)" -ge 1 ] || die "flush not counted"
assert_eq "$(f dirty_blocks)" 0 "dirty after flush"
[ "$(f writebacks)" -ge 513 ] || die "writebacks $(f writebacks) < 513"
[ "$(f writeback_bios)" -lt "$(f writebacks)" ] || die "adjacent blocks were not merged ($(bc_status st))"
log "writeback merged $(f writebacks) blocks into $(f writeback_bios) bios"

# Readahead on sequential misses.
run dmsetup message st 0 clear_stats
run dmsetup reload st --table "$(dmsetup table st | sed 's/readahead 0/readahead 8/')"
run dmsetup resume st
sha_range "$dm" 32 4 >/dev/null
ra="$(f readahead)"
misses="$(f read_misses)"
log "sequential 4 MiB read with readahead 8: misses=$misses readahead=$ra hits=$(f read_hits)"
[ "$ra" -gt 500 ] || die "readahead did not happen ($ra blocks)"
[ "$misses" -lt 500 ] || die "readahead did not save misses ($misses)"
log "$(bc_status st)"
log "OK"
