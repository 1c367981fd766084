// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for dm-bufcache, see helpers.h.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>

#include "helpers.h"

void bufcache_bio_set_dev(struct bio *bio, struct block_device *bdev)
{
	bio_set_dev(bio, bdev);
}

sector_t bufcache_bdev_nr_sectors(struct block_device *bdev)
{
	return bdev_nr_sectors(bdev);
}

unsigned int bufcache_bdev_logical_block_size(struct block_device *bdev)
{
	return bdev_logical_block_size(bdev);
}

unsigned int bufcache_bdev_max_discard_sectors(struct block_device *bdev)
{
	return bdev_max_discard_sectors(bdev);
}

void bufcache_ti_set_flush_supported(struct dm_target *ti, bool v)
{
	ti->flush_supported = v;
}

void bufcache_ti_set_discards_supported(struct dm_target *ti, bool v)
{
	ti->discards_supported = v;
}
