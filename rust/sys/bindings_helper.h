/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers for the module-local bindgen run (see Kbuild). Only items defined
 * in the allowlisted files are generated; everything they refer to (struct
 * bio, struct block_device, ...) comes from the kernel crate's own bindings,
 * so the types stay the kernel crate's.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-ioctl.h>
#include <linux/gfp.h>
#include <linux/sched.h>
#include <linux/workqueue.h>
#include "helpers.h"

/*
 * Macros with casts that bindgen cannot evaluate, turned into constants the
 * way rust/bindings/bindings_helper.h does it.
 */
const blk_opf_t BUFCACHE_REQ_OP_MASK = REQ_OP_MASK;
const blk_opf_t BUFCACHE_REQ_PREFLUSH = REQ_PREFLUSH;
const blk_opf_t BUFCACHE_REQ_FUA = REQ_FUA;
const blk_opf_t BUFCACHE_REQ_NOWAIT = REQ_NOWAIT;
const blk_opf_t BUFCACHE_REQ_SYNC = REQ_SYNC;
const blk_opf_t BUFCACHE_REQ_IDLE = REQ_IDLE;
const blk_opf_t BUFCACHE_REQ_RAHEAD = REQ_RAHEAD;
const blk_opf_t BUFCACHE_REQ_ATOMIC = REQ_ATOMIC;
const blk_opf_t BUFCACHE_REQ_POLLED = REQ_POLLED;
const blk_opf_t BUFCACHE_REQ_DRV = REQ_DRV;
const blk_mode_t BUFCACHE_BLK_OPEN_WRITE = BLK_OPEN_WRITE;
const blk_status_t BUFCACHE_BLK_STS_OK = BLK_STS_OK;
const blk_status_t BUFCACHE_BLK_STS_IOERR = BLK_STS_IOERR;
const blk_status_t BUFCACHE_BLK_STS_AGAIN = BLK_STS_AGAIN;
const blk_status_t BUFCACHE_BLK_STS_RESOURCE = BLK_STS_RESOURCE;
const blk_status_t BUFCACHE_BLK_STS_NOTSUPP = BLK_STS_NOTSUPP;
const gfp_t BUFCACHE_GFP_KERNEL = GFP_KERNEL;
const gfp_t BUFCACHE_GFP_NOIO = GFP_NOIO;
const gfp_t BUFCACHE_GFP_NOWAIT = GFP_NOWAIT;
const gfp_t BUFCACHE_GFP_ATOMIC = GFP_ATOMIC;
const gfp_t BUFCACHE___GFP_IO = __GFP_IO;
const gfp_t BUFCACHE___GFP_FS = __GFP_FS;
const gfp_t BUFCACHE___GFP_NORETRY = __GFP_NORETRY;
const gfp_t BUFCACHE___GFP_NOWARN = __GFP_NOWARN;
const gfp_t BUFCACHE___GFP_NOMEMALLOC = __GFP_NOMEMALLOC;
const gfp_t BUFCACHE___GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM;
const unsigned int BUFCACHE_PF_MEMALLOC_NOIO = PF_MEMALLOC_NOIO;
const unsigned int BUFCACHE_PF_MEMALLOC_NOFS = PF_MEMALLOC_NOFS;
const unsigned long BUFCACHE_PAGE_SIZE = PAGE_SIZE;
const unsigned int BUFCACHE_WQ_MEM_RECLAIM = WQ_MEM_RECLAIM;
const unsigned int BUFCACHE_WQ_UNBOUND = WQ_UNBOUND;
