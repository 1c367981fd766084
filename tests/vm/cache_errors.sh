#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Origin write errors: writeback fails, the blocks stay dirty and are
# counted, a FLUSH returns the error; once the origin heals, a flush
# succeeds and the data is on the origin. Origin read errors fail the read
# and cache nothing.
# vm-timeout: 300
# vm-group: yes
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/bufcache.sh"

bc_setup 64
# The origin is a dm device we can switch between linear and error.
dm_create orig "0 $sz linear $loop 0" >/dev/null
origin="$(dm_dev orig)"
on_cleanup dmsetup resume orig
dm="$(bc_create ec "$origin" 4096 cache_size $((16 << 20)) max_age_ms 0 high_watermark 100 low_watermark 100 readahead 0)"

run dd if=/dev/urandom of=/tmp/p bs=1M count=2 status=none
run dd if=/tmp/p of="$dm" bs=1M count=2 oflag=direct status=none
want="$(sha256sum </tmp/p | cut -d' ' -f1)"
assert_eq "$(bc_field ec dirty_blocks)" 512 "dirty blocks"

run dmsetup reload orig --table "0 $sz error"
run dmsetup resume orig
expect_fail "flush with a failing origin" sync "$dm"
assert_eq "$(bc_field ec dirty_blocks)" 512 "dirty blocks after failed writeback"
[ "$(bc_field ec writeback_errors)" -gt 0 ] || die "writeback errors not counted"
[ "$(bc_field ec errors)" -gt 0 ] || die "errors not counted"
expect_fail "flush message with a failing origin" dmsetup message ec 0 flush
# The data is still served from the cache.
assert_eq "$(sha_range "$dm" 0 2)" "$want" "cached data while the origin fails"
# A read miss fails and caches nothing.
cached="$(bc_field ec blocks_cached)"
expect_fail "read miss with a failing origin" dd if="$dm" of=/dev/null bs=4k skip=4096 count=1 iflag=direct status=none
assert_eq "$(bc_field ec blocks_cached)" "$cached" "blocks cached after a failed fill"
[ "$(bc_field ec fill_errors)" -gt 0 ] || die "fill errors not counted"
log "while failing: $(bc_status ec)"

run dmsetup reload orig --table "0 $sz linear $loop 0"
run dmsetup resume orig
run sync "$dm"
assert_eq "$(bc_field ec dirty_blocks)" 0 "dirty after the origin healed"
assert_eq "$(sha_range "$loop" 0 2)" "$want" "data on the origin after retry"
log "healed: $(bc_status ec)"
log "OK"
