/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims for static inline kernel functions and macros that Rust cannot
 * call directly. Every shim is a one-line forward to the kernel function of
 * the same name without the bufcache_ prefix (the prefix keeps them apart
 * from the kernel crate's own rust_helper_* symbols). No logic lives here.
 */
#ifndef _DM_BUFCACHE_HELPERS_H
#define _DM_BUFCACHE_HELPERS_H

#include <linux/types.h>

struct bio;
struct block_device;
struct dm_target;

/* linux/bio.h */
void bufcache_bio_set_dev(struct bio *bio, struct block_device *bdev);

/* linux/blkdev.h */
sector_t bufcache_bdev_nr_sectors(struct block_device *bdev);
unsigned int bufcache_bdev_logical_block_size(struct block_device *bdev);
unsigned int bufcache_bdev_max_discard_sectors(struct block_device *bdev);

/* linux/device-mapper.h bitfields of struct dm_target */
void bufcache_ti_set_flush_supported(struct dm_target *ti, bool v);
void bufcache_ti_set_discards_supported(struct dm_target *ti, bool v);

#endif
