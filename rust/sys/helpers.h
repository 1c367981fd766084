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

/*
 * Exceptions to "no logic": association that must not block, whose kernel
 * API is not settled yet (helpers.c says what each kernel gets), and a
 * test-only misuse for a negative control.
 */
struct cgroup_subsys_state;
int bufcache_bio_remap_nowait(struct bio *bio, struct block_device *bdev,
			      struct cgroup_subsys_state *css);
#ifdef BUFCACHE_TEST
/* The test flavour only (make BUFCACHE_TEST=1): the plain module has none. */
void bufcache_test_associate_atomic(struct bio *bio,
				    struct cgroup_subsys_state *css);
#endif

/* linux/blkdev.h */
sector_t bufcache_bdev_nr_sectors(struct block_device *bdev);
unsigned int bufcache_bdev_logical_block_size(struct block_device *bdev);
unsigned int bufcache_bdev_max_discard_sectors(struct block_device *bdev);

/* linux/device-mapper.h bitfields of struct dm_target */
void bufcache_ti_set_flush_supported(struct dm_target *ti, bool v);
void bufcache_ti_set_discards_supported(struct dm_target *ti, bool v);

/* linux/sched/mm.h: memalloc scopes (PF_MEMALLOC_NOIO / PF_MEMALLOC_NOFS) */
unsigned int bufcache_memalloc_noio_save(void);
void bufcache_memalloc_noio_restore(unsigned int flags);
unsigned int bufcache_memalloc_nofs_save(void);
void bufcache_memalloc_nofs_restore(unsigned int flags);
unsigned int bufcache_memalloc_flags_save(unsigned int flags);
void bufcache_memalloc_flags_restore(unsigned int flags);
unsigned int bufcache_current_memalloc_flags(void);

/*
 * Block buffers: kmalloc() below PAGE_SIZE (naturally aligned for the
 * power-of-two sizes we use), a compound page allocation from PAGE_SIZE up.
 */
void *bufcache_buf_alloc(unsigned int size, gfp_t gfp);
void bufcache_buf_free(void *buf, unsigned int size);
void bufcache_buf_zero(void *buf, unsigned int off, unsigned int len);
void bufcache_buf_copy(void *dst, const void *src, unsigned int len);

/*
 * Copy @len bytes between the data of @bio (from its current position)
 * and @buf. Only these copies touch buffer contents: Rust never forms a
 * reference to them.
 */
void bufcache_bio_copy_to_buf(struct bio *bio, void *buf, unsigned int len);
void bufcache_bio_copy_from_buf(struct bio *bio, const void *buf, unsigned int len);

/* linux/bio.h */
void bufcache_bio_endio_status(struct bio *bio, u8 status);
u8 bufcache_bio_status(struct bio *bio);
void bufcache_bio_add_buf(struct bio *bio, void *buf, unsigned int len);
void bufcache_bio_set_end_io(struct bio *bio, void (*end_io)(struct bio *), void *private);
void *bufcache_bio_private(struct bio *bio);
void bufcache_bio_wouldblock_error(struct bio *bio);

/* linux/workqueue.h: alloc_workqueue() is a variadic macro */
struct workqueue_struct *bufcache_alloc_workqueue(const char *name, unsigned int flags,
						  int max_active);

/*
 * cgroups. DM's clone in map() carries no blkg in 7.2 (alloc_tio() sets
 * bi_bdev without associating), so the cgroup that caused an I/O is found
 * on the original bio, reached through the clone's struct dm_target_io
 * (drivers/md/dm-core.h, only in the full source tree). No reference is
 * taken: the original bio holds one until all its clones complete.
 */
struct cgroup_subsys_state;
struct cgroup_subsys_state *bufcache_orig_bio_css(struct bio *clone);
struct cgroup_subsys_state *bufcache_blkcg_root_css(void);
void bufcache_css_get(struct cgroup_subsys_state *css);
void bufcache_css_put(struct cgroup_subsys_state *css);
bool bufcache_css_is_dying(struct cgroup_subsys_state *css);
int bufcache_css_path(struct cgroup_subsys_state *css, char *buf, size_t len);

/* linux/mm.h */
unsigned long bufcache_totalram_bytes(void);
/* The max_cache_size_bytes module parameter (0: the default budget). */
u64 bufcache_max_cache_size_param(void);
/* fs_reclaim_acquire/release(GFP_KERNEL): lockdep annotations. */
void bufcache_fs_reclaim_acquire(void);
void bufcache_fs_reclaim_release(void);
void bufcache_cond_resched(void);

#endif
