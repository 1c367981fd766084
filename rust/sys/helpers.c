// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for dm-bufcache, see helpers.h.
 */
#include <linux/bio.h>
#include <linux/blk-cgroup.h>
#include <linux/blkdev.h>
#include <linux/cgroup.h>
#include <linux/device-mapper.h>
#include <linux/highmem.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "dm-core.h"
#include "helpers.h"

void bufcache_bio_set_dev(struct bio *bio, struct block_device *bdev)
{
	bio_set_dev(bio, bdev);
}

/*
 * Non-blocking association of a bio headed for @bdev with @css (NULL: the
 * root). Kernels with the non-blocking API (the project's test kernels, see
 * config/patches; the RFC "blk-cgroup: protect blkgs with blkcg_mutex")
 * associate when the blkg exists and fail with -EAGAIN otherwise. Other
 * kernels have no association that is both non-blocking and honest (their
 * bio_associate_blkg_from_css() may fall back to the root blkg when a
 * GFP_NOWAIT creation fails), so it always fails there: the caller then
 * associates from a worker. On failure the bio is left as it was.
 */
int bufcache_bio_remap_nowait(struct bio *bio, struct block_device *bdev,
			      struct cgroup_subsys_state *css)
{
#if defined(CONFIG_BLK_CGROUP) && defined(BIO_HAVE_ASSOCIATE_BLKG_NOWAIT)
	struct block_device *old = bio->bi_bdev;
	int ret;

	bio->bi_bdev = bdev;
	ret = bio_associate_blkg_from_css_nowait(bio, css);
	if (ret) {
		bio->bi_bdev = old;
		return ret;
	}
	/* What bio_set_dev() does besides its (blocking) association. */
	bio_clear_flag(bio, BIO_REMAPPED);
	if (old != bdev)
		bio_clear_flag(bio, BIO_BPS_THROTTLED);
	return 0;
#elif defined(CONFIG_BLK_CGROUP)
	return -EAGAIN;
#else
	bio_set_dev(bio, bdev);
	return 0;
#endif
}

#ifdef BUFCACHE_TEST
/*
 * Test flavour only (test_atomic_association): association under a
 * spinlock. The plain module has neither the function nor its lock.
 */
static DEFINE_SPINLOCK(bufcache_test_assoc_lock);

void bufcache_test_associate_atomic(struct bio *bio,
				    struct cgroup_subsys_state *css)
{
	spin_lock(&bufcache_test_assoc_lock);
	bio_associate_blkg_from_css(bio, css);
	spin_unlock(&bufcache_test_assoc_lock);
}
#endif

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

unsigned int bufcache_memalloc_noio_save(void)
{
	return memalloc_noio_save();
}

void bufcache_memalloc_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}

unsigned int bufcache_memalloc_nofs_save(void)
{
	return memalloc_nofs_save();
}

void bufcache_memalloc_nofs_restore(unsigned int flags)
{
	memalloc_nofs_restore(flags);
}

unsigned int bufcache_memalloc_flags_save(unsigned int flags)
{
	return memalloc_flags_save(flags);
}

void bufcache_memalloc_flags_restore(unsigned int flags)
{
	memalloc_flags_restore(flags);
}

unsigned int bufcache_current_memalloc_flags(void)
{
	return current->flags & (PF_MEMALLOC_NOIO | PF_MEMALLOC_NOFS);
}

void *bufcache_buf_alloc(unsigned int size, gfp_t gfp)
{
	struct page *page;

	if (size < PAGE_SIZE)
		return kmalloc(size, gfp);
	page = alloc_pages(gfp | __GFP_COMP, get_order(size));
	return page ? page_address(page) : NULL;
}

void bufcache_buf_free(void *buf, unsigned int size)
{
	if (size < PAGE_SIZE)
		kfree(buf);
	else
		__free_pages(virt_to_page(buf), get_order(size));
}

void bufcache_buf_zero(void *buf, unsigned int off, unsigned int len)
{
	memset(buf + off, 0, len);
}

void bufcache_buf_copy(void *dst, const void *src, unsigned int len)
{
	memcpy(dst, src, len);
}

void bufcache_bio_copy_to_buf(struct bio *bio, void *buf, unsigned int len)
{
	struct bvec_iter iter = bio->bi_iter;
	struct bio_vec bv;

	while (len && iter.bi_size) {
		bv = bio_iter_iovec(bio, iter);
		bv.bv_len = min(bv.bv_len, len);
		memcpy_from_bvec(buf, &bv);
		bio_advance_iter_single(bio, &iter, bv.bv_len);
		buf += bv.bv_len;
		len -= bv.bv_len;
	}
}

void bufcache_bio_copy_from_buf(struct bio *bio, const void *buf, unsigned int len)
{
	struct bvec_iter iter = bio->bi_iter;
	struct bio_vec bv;

	while (len && iter.bi_size) {
		bv = bio_iter_iovec(bio, iter);
		bv.bv_len = min(bv.bv_len, len);
		memcpy_to_bvec(&bv, buf);
		bio_advance_iter_single(bio, &iter, bv.bv_len);
		buf += bv.bv_len;
		len -= bv.bv_len;
	}
}

void bufcache_bio_endio_status(struct bio *bio, u8 status)
{
	bio->bi_status = status;
	bio_endio(bio);
}

u8 bufcache_bio_status(struct bio *bio)
{
	return bio->bi_status;
}

void bufcache_bio_add_buf(struct bio *bio, void *buf, unsigned int len)
{
	bio_add_virt_nofail(bio, buf, len);
}

void bufcache_bio_set_end_io(struct bio *bio, void (*end_io)(struct bio *), void *private)
{
	bio->bi_end_io = end_io;
	bio->bi_private = private;
}

void *bufcache_bio_private(struct bio *bio)
{
	return bio->bi_private;
}

void bufcache_bio_wouldblock_error(struct bio *bio)
{
	bio_wouldblock_error(bio);
}

struct workqueue_struct *bufcache_alloc_workqueue(const char *name, unsigned int flags,
						  int max_active)
{
	return alloc_workqueue("%s", flags, max_active, name);
}

void bufcache_cond_resched(void)
{
	cond_resched();
}

unsigned long bufcache_totalram_bytes(void)
{
	return totalram_pages() << PAGE_SHIFT;
}

struct cgroup_subsys_state *bufcache_orig_bio_css(struct bio *clone)
{
	struct dm_target_io *tio = container_of(clone, struct dm_target_io, clone);
	struct bio *orig = tio->io ? tio->io->orig_bio : NULL;

	return orig ? bio_blkcg_css(orig) : NULL;
}

struct cgroup_subsys_state *bufcache_blkcg_root_css(void)
{
	return blkcg_root_css;
}

void bufcache_css_get(struct cgroup_subsys_state *css)
{
	css_get(css);
}

void bufcache_css_put(struct cgroup_subsys_state *css)
{
	css_put(css);
}

bool bufcache_css_is_dying(struct cgroup_subsys_state *css)
{
	return css_is_dying(css);
}

int bufcache_css_path(struct cgroup_subsys_state *css, char *buf, size_t len)
{
	return cgroup_path(css->cgroup, buf, len);
}

/*
 * max_cache_size_bytes, the memory budget shared by all bufcache targets:
 * writable at run time (0644), as dm-bufio's is. The kernel crate's module
 * parameters are read-only and not in sysfs, so this one is declared here
 * and read with bufcache_max_cache_size_param() whenever the budget is
 * needed (0 means 2% of RAM, computed by the caller).
 */
static u64 bufcache_max_cache_size_bytes;	/* x86-64 only: no torn READ_ONCE */

static int bufcache_budget_set(const char *val, const struct kernel_param *kp)
{
	u64 v;
	int r = kstrtoull(val, 0, &v);

	if (r)
		return r;
	/*
	 * Bounded by RAM: the budget sizes the slot index of a target loaded
	 * without cache_size, and the budget arithmetic must not overflow.
	 */
	if (v > ((u64)totalram_pages() << PAGE_SHIFT)) {
		pr_warn("dm-bufcache: max_cache_size_bytes %llu refused: larger than the machine's RAM (%llu bytes)\n",
			v, (u64)totalram_pages() << PAGE_SHIFT);
		return -EINVAL;
	}
	WRITE_ONCE(bufcache_max_cache_size_bytes, v);
	return 0;
}

static int bufcache_budget_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(bufcache_max_cache_size_bytes));
}

static const struct kernel_param_ops bufcache_budget_ops = {
	.set = bufcache_budget_set,
	.get = bufcache_budget_get,
};

module_param_cb(max_cache_size_bytes, &bufcache_budget_ops, NULL, 0644);
__MODULE_PARM_TYPE(max_cache_size_bytes, "ullong");
MODULE_PARM_DESC(max_cache_size_bytes,
		 "Memory budget shared by all bufcache targets, in bytes (0: 2% of RAM; at most RAM); writable at run time");

/* Static inline (no-ops) without CONFIG_LOCKDEP, as in the benchmark kernel. */
void bufcache_fs_reclaim_acquire(void)
{
	fs_reclaim_acquire(GFP_KERNEL);
}

void bufcache_fs_reclaim_release(void)
{
	fs_reclaim_release(GFP_KERNEL);
}

u64 bufcache_max_cache_size_param(void)
{
	return READ_ONCE(bufcache_max_cache_size_bytes);
}
