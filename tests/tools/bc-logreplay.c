// SPDX-License-Identifier: GPL-2.0
/*
 * bc-logreplay: the power-cut tests' workload and replay checker for
 * dm-log-writes logs (format: the kernel's
 * Documentation/admin-guide/device-mapper/log-writes.rst and
 * drivers/md/dm-log-writes.c).
 *
 * dm-log-writes logs a write only once it is on stable media: a plain write
 * or a discard at the next flush that follows its completion (just before
 * that flush's entry, in completion order), a FUA write at its completion.
 * Replaying a prefix of the log therefore gives a state the device could
 * really be in after a power cut at that point.
 *
 * Two flushes in flight. That holds while one flush at a time is in
 * flight at log-writes. A flush takes the completed, unflushed writes
 * when it is mapped and logs them when it completes; a second flush,
 * mapped later, takes none of them, and if it completes first, its
 * entry comes first. Yet a real device holds, once that second flush
 * completes, every write completed before it was issued, those too: a
 * prefix of the log ending there shows a state no device can be in, and
 * an acknowledgement made after that flush looks LOST. Seen with the
 * cache (dm-delay under log-writes): a discard completed, then the two
 * writers' fsyncs sent their flushes 70 us apart; the first carried the
 * discard, the second completed first, the writer marked, and the
 * discard was logged after its mark. So the writers take one lock (flock,
 * exclusive, on a file they both open)
 * around every operation that flushes (lock=PATH); a missing or
 * misordered flush of the cache still fails, as no other flush can
 * cover it.
 *
 *   bc-logreplay work DEV BS MANIFEST TAG FIRST COUNT ROUNDS WRITES MARKCMD \
 *		[OPTION...]
 *
 *	Writes ROUNDS rounds of WRITES writes, each at a random place in the
 *	units [FIRST, FIRST + COUNT) of DEV (O_DIRECT; a unit is BS bytes,
 *	512 to 65536), each unit it covers stamped with the unit's number and
 *	the write's generation (one per write, growing); every 8th write is
 *	O_DSYNC (FUA). After each O_DSYNC write returns, and after each
 *	round's fsync() returns, it appends what is now acknowledged (unit,
 *	generation) to MANIFEST under a new mark name TAG-N and runs
 *	"MARKCMD TAG-N" (a dmsetup message that puts mark TAG-N into the
 *	log). MARKCMD "dm-mark:NAME" sends the message "mark TAG-N" to the
 *	dm-log-writes device NAME itself (the DM_TARGET_MSG ioctl that
 *	dmsetup would make, without a shell and a dmsetup to start for each
 *	of the hundreds of marks). Options:
 *	  dsync-only   only the O_DSYNC writes are acknowledged (the fsyncs
 *	               still run);
 *	  sizes=A,B,.. each write covers one of these numbers of units, picked
 *	               at random (default 1): multi-block bios, and with BS
 *	               512 on a cache of 4 KiB blocks, partial-block writes;
 *	  align=N      writes start at a multiple of N units (default 1);
 *	  discard=E:M:A  every E-th operation of a round is a BLKDISCARD of A
 *	               to M units (a multiple of A, at a multiple of A) instead
 *	               of a write: announced under a mark first ("MARK UNIT
 *	               GEN d": from here on zeroes also satisfy the unit), it
 *	               takes a generation, its units are then zeroes, and an
 *	               fsync and an acknowledgement ("MARK UNIT GEN z": zeroes,
 *	               discarded at GEN) follow at once;
 *	  suspend=NAME:E  every E-th round ends with no fsync but a suspend
 *	               of the dm device NAME (DM_DEV_SUSPEND, as "dmsetup
 *	               suspend" makes it; every second one --noflush), the
 *	               acknowledgement of everything this writer wrote (every
 *	               suspend of the cache, --noflush too, writes back and
 *	               flushes the origin), the mark (TAG-N-suspend), and the
 *	               resume; with lock=, the writer holds the lock from its
 *	               round's last O_DSYNC write to the resume, so that no
 *	               other writer's flush makes the writes between durable
 *	               before the suspend does (only the suspend may: no
 *	               discard is made then, a plain write in its place);
 *	  flushdev=PATH  a round's flush (and a discard's) is an fsync of the
 *	               block device PATH (the origin, under the cache) instead
 *	               of DEV: in writethrough mode a completed write is on the
 *	               origin, so the origin's own flush makes it durable;
 *	  dsync-at=K   the O_DSYNC write is the one at K modulo 8 (default 7,
 *	               the last of a round: its flush of DEV, which the block
 *	               layer adds, covers the whole round).
 *	  premark      "TAG-pre" is marked before each operation that
 *	               flushes (for check -o: flushes of the writers may
 *	               overlap);
 *	  lock=PATH    each operation that flushes (an O_DSYNC write, an
 *	               fsync, a discard and its fsync, a suspend) runs under
 *	               flock(PATH), shared by the writers: at most one flush
 *	               is in flight at log-writes (see "Two flushes in
 *	               flight" below).
 *
 *   bc-logreplay check [-n] [-c] [-k KINDS] [-f FINAL] \
 *		[-s FSCK_IMAGE -e EVERY [-a MARK] [-j JOBS]] LOG BYTES BS MANIFEST...
 *
 *	Replays LOG into an image of BYTES bytes, entry by entry, checking
 *	every logged write (rule W) and the image at each flush, each FUA
 *	entry, each mark and the end (rule P). With -f, the final image must
 *	equal FINAL byte for byte (the origin after the run: checks the
 *	replay itself). With -s, the image is also written to FSCK_IMAGE (a
 *	fresh copy each time: the command may change it) at
 *	every EVERY-th point (from mark MARK on, with -a; with -c only when
 *	it changed since the last such run: every distinct state; with -k
 *	only at the points of these kinds, e.g. "flush,end") and the
 *	shell command $FSCK run, with the last mark replayed in
 *	$BC_LAST_MARK and the kind of point in $BC_POINT; an exit status
 *	above 1 is a failure. -j JOBS: up to JOBS commands run at once,
 *	each on its own image, FSCK_IMAGE.SLOT (SLOT 0..JOBS-1, in
 *	$BC_SLOT; the image's path in $BC_IMAGE, as it is with -j 1, where
 *	the image is FSCK_IMAGE itself); the replay goes on meanwhile. -t UNIT (up to 8 times) prints every logged
 *	write, discard and acknowledgement of UNIT, -T A:B every entry from A
 *	to B (a failure's context). -o: the writers' flushes may overlap
 *	(they ran without lock= and with premark): an acknowledgement made
 *	while another writer's operation is in flight applies once that one
 *	is acknowledged too. Prints what it checked;
 *	exits 1 on any violation.
 *
 * The rules. A unit is BS bytes of the image; per unit u the checker keeps
 * ack(u), the newest generation acknowledged under a mark already replayed
 * (for an acknowledged discard its generation, the state being zeroes), and
 * hi(u), the newest generation any logged write has carried for u. A flush
 * group is the run of entries between two flush entries. A correct cache
 * never has two writes of one unit in flight at once (the origin could
 * complete them in either order), so of two writes of u the one that
 * completed later carries data at least as new.
 *
 *   W, every logged write of a stamped unit u, carrying generation g, at the
 *   write (whatever follows it: a power cut between it and the next write
 *   of u leaves it on the device):
 *   W1 (TORN) the unit is one intact stamp for u, or all zeroes;
 *   W2 (STALE) g >= max(hi(u), ack(u)): no write older than what the log
 *      already put on u or than what was acknowledged durable for u, even
 *      if a fresh write of u follows in the same flush group; zeroes only
 *      where u was never written, or was discarded since its last write,
 *      and no stamp is acknowledged for it;
 *   W3 (the one exception, "superseded") a plain write, logged in a flush
 *      group where a FUA write of u with a newer generation was logged
 *      before it, may have completed before that FUA write was issued
 *      (log-writes logs FUA writes at once, plain ones at the flush): it
 *      is kept out of the image, as the device holds the FUA write's data,
 *      but only if g is not older than hi(u) and ack(u) were when the group
 *      began (whatever was logged in an earlier group completed before
 *      it) nor than any plain write of u logged before it in the group
 *      (completion order); zeroes (a 512-byte unit of a cache block
 *      written back before the unit was first written) only if zeroes
 *      were a right state of u when the group began and no plain write
 *      of u with a stamp came before them in the group. Otherwise it is
 *      STALE: the rule hides no write that a power cut could leave on the
 *      device over newer data.
 *   P, at every point: each unit changed since the last point is whole
 *      (TORN otherwise), and each acknowledged unit holds its acknowledged
 *      generation or a newer one, or zeroes once its discard was announced
 *      (LOST otherwise: also for discarded data that comes back, older
 *      than the discard's acknowledged generation).
 *   Units without stamps (-n, a file system): an acknowledgement "MARK
 *   UNIT h:HASH:LEN" is the hash of the first LEN bytes of a file's block
 *   fsync'ed before MARK (written by "fmark"), "MARK UNIT -" ends it (the
 *   file was removed after MARK). While it holds, every logged write of the
 *   unit (W: STALE otherwise) and its state at every point (P: LOST
 *   otherwise) must have those bytes. A discard entry zeroes its units; it
 *   is checked by the points that follow it.
 *
 *   bc-logreplay fmark MANIFEST MARK PATH SOURCE BS [release]
 *	Appends to MANIFEST, under MARK, the hash of each BS-byte block of
 *	SOURCE at the unit that holds the same block of the file PATH on its
 *	file system (FIEMAP; the file must be fsync'ed, with no unwritten or
 *	inline extent), or with "release" the line that ends it.
 *
 *   bc-logreplay hash BS FILE
 *	Prints "h:HASH:LEN" for each BS-byte block of FILE (self-test).
 *
 *   bc-logreplay stamp BS UNIT GEN
 *	Writes one stamped unit to stdout (self-test).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/dm-ioctl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_FLUSH_FLAG (1 << 0)
#define LOG_FUA_FLAG (1 << 1)
#define LOG_DISCARD_FLAG (1 << 2)
#define LOG_MARK_FLAG (1 << 3)
#define WRITE_LOG_MAGIC 0x6a736677736872ULL
#define WRITE_LOG_VERSION 1ULL
#define STAMP_MAGIC 0x59414c5045524342ULL /* "BCREPLAY" */
#define MAX_UNIT 65536

struct log_write_super {
	uint64_t magic, version, nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_write_entry {
	uint64_t sector, nr_sectors, flags, data_len;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bc-logreplay: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory");
	return p;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Unit stamp: magic, unit, generation, then a stream seeded by both. */
static void stamp(unsigned char *buf, unsigned int bs, uint64_t blk, uint64_t gen)
{
	uint64_t *w = (uint64_t *)buf, s = (blk + 1) * 0x9e3779b97f4a7c15ULL ^ gen;
	unsigned int i;

	w[0] = STAMP_MAGIC;
	w[1] = blk;
	w[2] = gen;
	for (i = 3; i < bs / 8; i++)
		w[i] = xorshift(&s);
}

/*
 * What a unit holds: 0 if all zero (never written, or discarded), the
 * generation (> 0) if it is one intact stamp for unit `blk`, -1 if it is
 * anything else (torn, misdirected, garbage).
 */
static int64_t block_state(const unsigned char *buf, unsigned int bs, uint64_t blk)
{
	const uint64_t *w = (const uint64_t *)buf;
	uint64_t s, gen;
	unsigned int i;

	if (w[0] != STAMP_MAGIC) {
		for (i = 0; i < bs / 8; i++)
			if (w[i])
				return -1;
		return 0;
	}
	gen = w[2];
	if (w[1] != blk || gen == 0 || gen > INT64_MAX)
		return -1;
	s = (blk + 1) * 0x9e3779b97f4a7c15ULL ^ gen;
	for (i = 3; i < bs / 8; i++)
		if (w[i] != xorshift(&s))
			return -1;
	return (int64_t)gen;
}

/* FNV-1a, 64 bits: the hash of an acknowledged block without a stamp. */
static uint64_t fnv(const unsigned char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static void pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);

	if (n != (ssize_t)len)
		die("write of %zu bytes at %lld: %s", len, (long long)off,
		    n < 0 ? strerror(errno) : "short write");
}

static void pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + done);

		if (n <= 0)
			die("read of %zu bytes at %lld: %s", len, (long long)off,
			    n < 0 ? strerror(errno) : "end of file");
		done += n;
	}
}

static int run_cmd(const char *cmd)
{
	int st = system(cmd);

	if (st == -1)
		die("cannot run '%s'", cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- device-mapper ioctls (what dmsetup would send) ---- */

static int dm_ctl = -1;
static union {
	struct dm_ioctl io;
	char bytes[4096];
} dmbuf;

static void dm_begin(const char *name)
{
	if (dm_ctl < 0) {
		dm_ctl = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
		if (dm_ctl < 0)
			die("cannot open /dev/mapper/control: %s", strerror(errno));
	}
	if (strlen(name) >= DM_NAME_LEN)
		die("dm device name too long: %s", name);
	memset(&dmbuf, 0, sizeof(dmbuf));
	dmbuf.io.version[0] = DM_VERSION_MAJOR;
	dmbuf.io.data_size = sizeof(dmbuf);
	dmbuf.io.data_start = sizeof(dmbuf.io);
	strcpy(dmbuf.io.name, name);
}

/*
 * dm_mark: the message "mark TAG" to the dm device NAME (a dm-log-writes
 * target), as "dmsetup message NAME 0 mark TAG" sends it; 0 or an errno.
 */
static int dm_mark(const char *name, const char *tag)
{
	struct dm_target_msg *msg;

	dm_begin(name);
	if (sizeof(dmbuf.io) + sizeof(*msg) + strlen("mark ") + strlen(tag) + 1 > sizeof(dmbuf))
		die("dm_mark: tag too long");
	msg = (struct dm_target_msg *)(dmbuf.bytes + dmbuf.io.data_start);
	msg->sector = 0;
	snprintf(msg->message, sizeof(dmbuf) - dmbuf.io.data_start - sizeof(*msg), "mark %s", tag);
	return ioctl(dm_ctl, DM_TARGET_MSG, &dmbuf.io) ? errno : 0;
}

/*
 * dm_suspend: suspend (1) or resume (0) the dm device NAME, as "dmsetup
 * suspend [--noflush] NAME" and "dmsetup resume NAME" do (DM_DEV_SUSPEND
 * with and without DM_SUSPEND_FLAG); dies on failure.
 */
static void dm_suspend(const char *name, int suspend, int noflush)
{
	dm_begin(name);
	dmbuf.io.data_size = sizeof(dmbuf.io);
	dmbuf.io.flags = (suspend ? DM_SUSPEND_FLAG : 0) | (noflush ? DM_NOFLUSH_FLAG : 0);
	if (ioctl(dm_ctl, DM_DEV_SUSPEND, &dmbuf.io))
		die("%s of %s failed: %s", suspend ? "suspend" : "resume", name, strerror(errno));
}

/* mark MARKCMD TAG: "MARKCMD TAG", or the message itself for dm-mark:NAME. */
static void mark_cmd(const char *markcmd, const char *tag)
{
	char cmd[512];
	int err;

	if (!strncmp(markcmd, "dm-mark:", 8)) {
		err = dm_mark(markcmd + 8, tag);
		if (err)
			die("message 'mark %s' to %s failed: %s", tag, markcmd + 8, strerror(err));
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s %s", markcmd, tag);
	if (run_cmd(cmd))
		die("'%s' failed", cmd);
}

/* ---- work ---- */

struct writer {
	const char *tag, *markcmd;
	FILE *m;
	uint64_t first, count, mark, *latest;
	unsigned char *touched, *zeroed;
};

/* ack: everything touched since the last one, under a new mark TAG-N[SUFFIX]. */
static void ack_touched(struct writer *w, const char *suffix)
{
	char name[256];
	uint64_t i;

	++w->mark;
	for (i = 0; i < w->count; i++) {
		if (!w->touched[i])
			continue;
		fprintf(w->m, "%s-%" PRIu64 "%s %" PRIu64 " %" PRIu64 "%s\n", w->tag, w->mark,
			suffix, w->first + i, w->latest[i], w->zeroed[i] ? " z" : "");
		w->touched[i] = 0;
	}
	if (fflush(w->m))
		die("cannot write the manifest");
	snprintf(name, sizeof(name), "%s-%" PRIu64 "%s", w->tag, w->mark, suffix);
	mark_cmd(w->markcmd, name);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || (*end && *end != ',' && *end != ':'))
		die("work: bad %s '%s'", what, s);
	return v;
}

/* lock=PATH: its descriptor, -1 without. */
static int lockfd = -1;

/* premark: "TAG-pre" is marked before each operation that flushes. */
static int premark;

/* An operation that flushes begins: its mark, with premark. */
static void op_begin(struct writer *w)
{
	char name[256];

	if (!premark)
		return;
	snprintf(name, sizeof(name), "%s-pre", w->tag);
	mark_cmd(w->markcmd, name);
}

/* Takes (1) or drops (0) the writers' flush lock, if there is one. */
static void flush_lock(int take)
{
	if (lockfd >= 0 && flock(lockfd, take ? LOCK_EX : LOCK_UN))
		die("flock: %s", strerror(errno));
}

static int do_work(int argc, char **argv)
{
	const char *dev, *manifest, *susp_name = NULL, *flushdev = NULL;
	uint64_t rounds, writes, gen = 0, r, i, seed, nw = 0, nunits = 0, nds = 0, nfs = 0;
	uint64_t sizes[16] = { 1 }, nsizes = 1, align = 1, maxsize = 1;
	uint64_t disc_every = 0, disc_max = 0, disc_align = 1, susp_every = 0;
	uint64_t ndisc = 0, nsusp = 0, ndsync = 0, dsync_at = 7;
	struct writer w = { 0 };
	unsigned int bs;
	unsigned char *buf;
	int fd, fds, ffd = -1, dsync_only = 0, a;

	lockfd = -1;

	if (argc < 10)
		die("usage: work DEV BS MANIFEST TAG FIRST COUNT ROUNDS WRITES MARKCMD [OPTION...]");
	dev = argv[1];
	bs = strtoul(argv[2], NULL, 0);
	manifest = argv[3];
	w.tag = argv[4];
	w.first = parse_u64(argv[5], "FIRST");
	w.count = parse_u64(argv[6], "COUNT");
	rounds = parse_u64(argv[7], "ROUNDS");
	writes = parse_u64(argv[8], "WRITES");
	w.markcmd = argv[9];
	for (a = 10; a < argc; a++) {
		char *o = argv[a];

		if (!strcmp(o, "dsync-only")) {
			dsync_only = 1;
		} else if (!strncmp(o, "sizes=", 6)) {
			char *p = o + 6;

			for (nsizes = 0; *p; nsizes++) {
				if (nsizes == 16)
					die("work: at most 16 sizes");
				sizes[nsizes] = parse_u64(p, "size");
				if (!sizes[nsizes])
					die("work: a size of 0");
				if (sizes[nsizes] > maxsize)
					maxsize = sizes[nsizes];
				p += strcspn(p, ",");
				if (*p)
					p++;
			}
		} else if (!strncmp(o, "align=", 6)) {
			align = parse_u64(o + 6, "align");
		} else if (!strncmp(o, "discard=", 8)) {
			char *p = o + 8;

			disc_every = parse_u64(p, "discard interval");
			p = strchr(p, ':');
			if (!p)
				die("work: discard=EVERY:MAX:ALIGN");
			disc_max = parse_u64(++p, "discard size");
			p = strchr(p, ':');
			if (!p)
				die("work: discard=EVERY:MAX:ALIGN");
			disc_align = parse_u64(++p, "discard alignment");
		} else if (!strncmp(o, "suspend=", 8)) {
			char *c = strrchr(o, ':');

			if (!c || c == o + 8)
				die("work: suspend=NAME:EVERY");
			*c = 0;
			susp_name = o + 8;
			susp_every = parse_u64(c + 1, "suspend interval");
		} else if (!strncmp(o, "dsync-at=", 9)) {
			dsync_at = parse_u64(o + 9, "dsync-at");
			if (dsync_at > 7)
				die("work: dsync-at is 0 to 7");
		} else if (!strncmp(o, "flushdev=", 9)) {
			flushdev = o + 9;
		} else if (!strcmp(o, "premark")) {
			premark = 1;
		} else if (!strncmp(o, "lock=", 5)) {
			lockfd = open(o + 5, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			if (lockfd < 0)
				die("cannot open %s: %s", o + 5, strerror(errno));
		} else {
			die("work: unknown option '%s'", o);
		}
	}
	if (bs < 512 || bs > MAX_UNIT || bs & (bs - 1) || !w.count || !rounds || !writes ||
	    !align || maxsize > w.count || (susp_name && !susp_every) ||
	    (disc_every && (!disc_align || disc_max < disc_align || disc_max > w.count ||
			    w.first % disc_align || dsync_only)) || (premark && dsync_only))
		die("work: bad arguments");
	fd = open(dev, O_RDWR | O_DIRECT);
	fds = open(dev, O_RDWR | O_DIRECT | O_DSYNC);
	if (fd < 0 || fds < 0)
		die("cannot open %s: %s", dev, strerror(errno));
	if (flushdev) {
		/* Read-only is enough to flush it (the cache holds it open). */
		ffd = open(flushdev, O_RDONLY);
		if (ffd < 0)
			die("cannot open %s: %s", flushdev, strerror(errno));
	}
	w.m = fopen(manifest, "w");
	if (!w.m)
		die("cannot create %s: %s", manifest, strerror(errno));
	if (posix_memalign((void **)&buf, 4096, maxsize * bs))
		die("out of memory");
	w.latest = xcalloc(w.count, sizeof(*w.latest));
	w.touched = xcalloc(w.count, 1);
	w.zeroed = xcalloc(w.count, 1);
	seed = 0x2545f4914f6cdd1dULL ^ (uint64_t)getpid() << 20 ^ w.first;
	for (r = 0; r < rounds; r++) {
		int susp_round = susp_name && r % susp_every == susp_every - 1;
		int held = 0; /* the lock, kept until the suspend */

		for (i = 0; i < writes; i++) {
			uint64_t n = sizes[xorshift(&seed) % nsizes], b, k;
			int dsync = i % 8 == dsync_at;

			if (disc_every && i % disc_every == disc_every / 2 && !dsync && !held) {
				/* A discard, made durable and acknowledged at once. */
				uint64_t range[2];

				flush_lock(1);
				n = disc_align * (1 + xorshift(&seed) % (disc_max / disc_align));
				b = disc_align * (xorshift(&seed) % ((w.count - n) / disc_align + 1));
				range[0] = (w.first + b) * bs;
				range[1] = n * bs;
				/*
				 * Announced first: from this mark on, zeroes
				 * also satisfy these units' acknowledgements.
				 */
				{
					char name[256];

					++w.mark;
					for (k = 0; k < n; k++)
						fprintf(w.m, "%s-%" PRIu64 " %" PRIu64 " %" PRIu64 " d\n",
							w.tag, w.mark, w.first + b + k, w.latest[b + k]);
					if (fflush(w.m))
						die("cannot write %s", manifest);
					snprintf(name, sizeof(name), "%s-%" PRIu64, w.tag, w.mark);
					mark_cmd(w.markcmd, name);
				}
				op_begin(&w);
				if (ioctl(fd, BLKDISCARD, range))
					die("BLKDISCARD of %" PRIu64 " units at unit %" PRIu64 ": %s", n,
					    w.first + b, strerror(errno));
				++gen;
				for (k = 0; k < n; k++) {
					w.latest[b + k] = gen;
					w.zeroed[b + k] = 1;
					w.touched[b + k] = 1;
				}
				if (fsync(ffd >= 0 ? ffd : fd))
					die("fsync after a discard: %s", strerror(errno));
				ack_touched(&w, "");
				if (!held)
					flush_lock(0);
				ndisc++;
				nds += n;
				nfs++;
				continue;
			}
			b = align * (xorshift(&seed) % ((w.count - n) / align + 1));
			++gen;
			for (k = 0; k < n; k++)
				stamp(buf + k * bs, bs, w.first + b + k, gen);
			if (dsync) {
				flush_lock(1);
				op_begin(&w);
			}
			pwrite_all(dsync ? fds : fd, buf, n * bs, (off_t)((w.first + b) * bs));
			nw++;
			nunits += n;
			ndsync += dsync;
			for (k = 0; k < n; k++) {
				w.latest[b + k] = gen;
				w.zeroed[b + k] = 0;
				w.touched[b + k] = 1;
			}
			if (dsync) {
				/* Durable now: acknowledge it under a new mark. */
				char name[256];

				++w.mark;
				for (k = 0; k < n; k++)
					fprintf(w.m, "%s-%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", w.tag,
						w.mark, w.first + b + k, gen);
				if (fflush(w.m))
					die("cannot write %s", manifest);
				snprintf(name, sizeof(name), "%s-%" PRIu64, w.tag, w.mark);
				mark_cmd(w.markcmd, name);
				/*
				 * A round that ends with a suspend keeps the
				 * lock from its last O_DSYNC write on: the
				 * writes after it are durable by the suspend
				 * alone, or not at all.
				 */
				if (!susp_round || i + 8 < writes)
					flush_lock(0);
				else
					held = 1;
			}
		}
		if (susp_round) {
			/*
			 * A suspend writes back every dirty block and flushes
			 * the origin: all this writer wrote is durable once it
			 * returns (its writes all completed before).
			 */
			flush_lock(1);
			op_begin(&w);
			dm_suspend(susp_name, 1, nsusp % 2);
			ack_touched(&w, "-suspend");
			dm_suspend(susp_name, 0, 0);
			flush_lock(0);
			nsusp++;
			continue;
		}
		flush_lock(1);
		op_begin(&w);
		if (fsync(ffd >= 0 ? ffd : fd))
			die("fsync of %s: %s", ffd >= 0 ? flushdev : dev, strerror(errno));
		nfs++;
		/* Everything written so far is durable now. */
		if (!dsync_only)
			ack_touched(&w, "");
		flush_lock(0);
	}
	if (fclose(w.m))
		die("cannot write %s", manifest);
	printf("work %s: %" PRIu64 " writes of %" PRIu64 " units of %u bytes (%" PRIu64
	       " O_DSYNC), %" PRIu64 " discards of %" PRIu64 " units, %" PRIu64 " fsyncs%s, %" PRIu64
	       " suspends (%" PRIu64 " --noflush), %" PRIu64 " marks%s\n",
	       w.tag, nw, nunits, bs, ndsync, ndisc, nds, nfs,
	       flushdev ? " (of the origin)" : "", nsusp, nsusp / 2, w.mark,
	       dsync_only ? " (O_DSYNC writes only acknowledged)" : "");
	return 0;
}

/* ---- fmark, hash ---- */

/* "h:HASH:LEN" of each BS-byte block of SOURCE, in memory. */
static unsigned char *read_file(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *d;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st))
		die("cannot read %s: %s", path, strerror(errno));
	*len = st.st_size;
	d = xcalloc(1, *len + 1);
	if (*len)
		pread_all(fd, d, *len, 0);
	close(fd);
	return d;
}

static int do_hash(int argc, char **argv)
{
	unsigned int bs;
	size_t len, off;
	unsigned char *d;

	if (argc != 3)
		die("usage: hash BS FILE");
	bs = strtoul(argv[1], NULL, 0);
	if (bs < 512 || bs > MAX_UNIT || bs & (bs - 1))
		die("hash: bad block size");
	d = read_file(argv[2], &len);
	for (off = 0; off < len; off += bs) {
		size_t n = len - off < bs ? len - off : bs;

		printf("h:%016" PRIx64 ":%zu\n", fnv(d + off, n), n);
	}
	return 0;
}

static int do_fmark(int argc, char **argv)
{
	const char *manifest, *mark, *path, *source;
	unsigned int bs, e;
	size_t len, lines = 0;
	unsigned char *d;
	struct fiemap *fm;
	FILE *m;
	int fd, release;

	if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "release")))
		die("usage: fmark MANIFEST MARK PATH SOURCE BS [release]");
	manifest = argv[1];
	mark = argv[2];
	path = argv[3];
	source = argv[4];
	bs = strtoul(argv[5], NULL, 0);
	release = argc == 7;
	if (bs < 512 || bs > MAX_UNIT || bs & (bs - 1))
		die("fmark: bad block size");
	d = read_file(source, &len);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	fm = xcalloc(1, sizeof(*fm) + 256 * sizeof(struct fiemap_extent));
	fm->fm_start = 0;
	fm->fm_length = ~0ULL;
	fm->fm_flags = FIEMAP_FLAG_SYNC;
	fm->fm_extent_count = 256;
	if (ioctl(fd, FS_IOC_FIEMAP, fm))
		die("FIEMAP of %s: %s", path, strerror(errno));
	close(fd);
	m = fopen(manifest, "a");
	if (!m)
		die("cannot open %s: %s", manifest, strerror(errno));
	for (e = 0; e < fm->fm_mapped_extents; e++) {
		struct fiemap_extent *x = &fm->fm_extents[e];
		uint64_t o;

		if (x->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
				   FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_NOT_ALIGNED |
				   FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_DATA_TAIL |
				   FIEMAP_EXTENT_UNWRITTEN))
			die("fmark: %s has an extent with flags %#x", path, x->fe_flags);
		if (x->fe_logical % bs || x->fe_physical % bs || x->fe_length % bs)
			die("fmark: %s has an extent not aligned to %u bytes", path, bs);
		for (o = 0; o < x->fe_length; o += bs) {
			uint64_t lo = x->fe_logical + o, unit = (x->fe_physical + o) / bs;

			if (lo >= len)
				break;
			if (release) {
				fprintf(m, "%s %" PRIu64 " -\n", mark, unit);
			} else {
				size_t n = len - lo < bs ? len - lo : bs;

				fprintf(m, "%s %" PRIu64 " h:%016" PRIx64 ":%zu\n", mark, unit,
					fnv(d + lo, n), n);
			}
			lines++;
		}
	}
	if (lines != (len + bs - 1) / bs)
		die("fmark: %s maps %zu of its %zu blocks", path, lines, (len + bs - 1) / bs);
	if (fclose(m))
		die("cannot write %s", manifest);
	return 0;
}

/* ---- check ---- */

enum ack_kind { ACK_GEN, ACK_ZERO, ACK_MAYZERO, ACK_HASH, ACK_RELEASE };

struct ack {
	char *mark;
	uint64_t blk, gen, hash;
	uint32_t hlen;
	uint8_t kind;
	int seen;
};

static struct ack *acks;
static size_t nacks, cap_acks;

static int ack_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ack *)a)->mark, ((const struct ack *)b)->mark);
}

static void load_manifest(const char *path)
{
	char line[512], name[256], what[64], flag[8];
	unsigned long long blk, v;
	unsigned int hlen;
	FILE *f = fopen(path, "r");

	if (!f)
		die("cannot open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		struct ack a = { 0 };
		int n = sscanf(line, "%255s %llu %63s %7s", name, &blk, what, flag);

		if (n < 3)
			die("%s: bad line '%s'", path, line);
		a.blk = blk;
		if (!strcmp(what, "-")) {
			a.kind = ACK_RELEASE;
		} else if (sscanf(what, "h:%llx:%u", &v, &hlen) == 2) {
			a.kind = ACK_HASH;
			a.hash = v;
			a.hlen = hlen;
		} else if (sscanf(what, "%llu", &v) == 1) {
			a.gen = v;
			a.kind = n < 4 ? ACK_GEN : !strcmp(flag, "z") ? ACK_ZERO :
				 !strcmp(flag, "d") ? ACK_MAYZERO : 255;
			if (a.kind == 255)
				die("%s: bad line '%s'", path, line);
		} else {
			die("%s: bad line '%s'", path, line);
		}
		if (nacks == cap_acks) {
			cap_acks = cap_acks ? 2 * cap_acks : 1024;
			acks = realloc(acks, cap_acks * sizeof(*acks));
			if (!acks)
				die("out of memory");
		}
		a.mark = strdup(name);
		acks[nacks++] = a;
	}
	fclose(f);
}

/* The replay's state, shared with point() and check_write(). */
static unsigned char *image, *dirty, *fsdirty;
static int64_t *state;
static uint64_t nblocks, every = 1, epoch;
static unsigned int bs;
static const char *fsimg, *fsck, *arm_mark, *kinds;
static int armed = 1, no_stamps, only_changed, fs_changed = 1;
/* The last mark replayed (named in the reports of a mark point). */
static char last_mark[256];
static uint64_t points, checks, verified, lost, torn, fscks, fsck_bad, superseded, stale;
/* -j: the $FSCK commands in flight, one per image slot. */
#define MAX_JOBS 8
static unsigned int jobs = 1;
static struct fsck_job {
	pid_t pid;		/* 0: the slot is free */
	uint64_t entry;		/* the entry its point came after */
	const char *what;	/* the kind of point */
} job[MAX_JOBS];

/* Waits for slot i's command and counts its verdict. */
static void reap_job(unsigned int i)
{
	int st;

	if (!job[i].pid)
		return;
	if (waitpid(job[i].pid, &st, 0) != job[i].pid)
		die("waitpid: %s", strerror(errno));
	job[i].pid = 0;
	if ((!WIFEXITED(st) || WEXITSTATUS(st) > 1) && fsck_bad++ < 10)
		printf("FSCK: '%s' found errors at entry %" PRIu64 " (%s point)\n", fsck,
		       job[i].entry, job[i].what);
}

/* A free slot: waits for the oldest command when all are busy. */
static unsigned int free_job(void)
{
	static unsigned int next;
	unsigned int i = next;

	next = (next + 1) % jobs;
	reap_job(i);
	return i;
}
static uint64_t wchecked, wunits;
/* -t: units whose every logged write, discard and acknowledgement is printed. */
static uint64_t traced[8];
static int ntraced;
/* -T A:B: every entry from A to B is printed. */
static uint64_t dump_from = UINT64_MAX, dump_to;

static int is_traced(uint64_t b)
{
	for (int i = 0; i < ntraced; i++)
		if (traced[i] == b)
			return 1;
	return 0;
}
/* Per unit: acknowledged generation (or discard), whether zeroes satisfy it. */
static uint64_t *required;
static unsigned char *reqz;
/*
 * Per unit, the newest generation a discard announcement covered: an
 * acknowledgement of that generation or an older one, applied later (-o
 * defers acknowledgements, never announcements), keeps zeroes allowed.
 */
static uint64_t *mzgen;
/* -o: apply only the announcements (zeroes allowed) of a mark. */
static int only_mayzero;
/* Per unit, no stamps: the acknowledged hash, and whether the image has it. */
static struct ack **reqhash;
static signed char *hashok;
/* Per unit, rule W: newest generation logged, zeroes allowed (discarded). */
static uint64_t *hi;
static unsigned char *zero_ok;
/* Per unit, this flush group: floor when it began, newest plain and FUA. */
static uint64_t *grp, *floor0, *plain_hi, *fua_hi;
/* Per unit, this flush group: zeroes were a right state when it began. */
static unsigned char *zok0;

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static int hash_matches(const unsigned char *d, const struct ack *a)
{
	return a->hlen <= bs && fnv(d, a->hlen) == a->hash;
}

/*
 * Rule W for one unit `b` of a write logged at entry `e`; `d` is its data.
 * Returns whether the image takes it (not if superseded, see W3).
 */
static int check_write(uint64_t e, uint64_t b, const unsigned char *d, int at_completion)
{
	const char *how = at_completion ? "FUA" : "plain";
	int64_t in;
	uint64_t floor;

	wunits++;
	if (no_stamps) {
		if (reqhash[b] && !hash_matches(d, reqhash[b]) && stale++ < 10)
			printf("STALE: block %" PRIu64 ": %s write at entry %" PRIu64
			       " does not carry the data fsync'ed before mark %s\n",
			       b, how, e, reqhash[b]->mark);
		return 1;
	}
	if (grp[b] != epoch) {
		grp[b] = epoch;
		floor0[b] = max64(hi[b], required[b]);
		zok0[b] = (!hi[b] || zero_ok[b]) && (!required[b] || reqz[b]);
		plain_hi[b] = fua_hi[b] = 0;
	}
	in = block_state(d, bs, b);
	if (ntraced && is_traced(b))
		printf("TRACE: block %" PRIu64 ": entry %" PRIu64 " %s write, holds %" PRId64
		       " (before: hi %" PRIu64 ", acknowledged %" PRIu64 "%s, group floor %" PRIu64
		       ", group plain %" PRIu64 ", group FUA %" PRIu64 ")\n",
		       b, e, how, in, hi[b], required[b], reqz[b] ? " or zeroes" : "", floor0[b],
		       plain_hi[b], fua_hi[b]);
	if (in < 0) {
		if (torn++ < 10)
			printf("TORN: block %" PRIu64 " in write entry %" PRIu64
			       " (%s) is not one intact stamp for it\n", b, e, how);
		return 1;
	}
	if (in == 0) {
		if ((hi[b] && !zero_ok[b]) || (required[b] && !reqz[b])) {
			if (!at_completion && fua_hi[b] && zok0[b] && !plain_hi[b]) {
				/* W3: the unit before its first write, in a block written back. */
				superseded++;
				return 0;
			}
			if (stale++ < 10)
				printf("STALE: block %" PRIu64 ": %s write at entry %" PRIu64
				       " carries zeroes over generation %" PRIu64
				       " (acknowledged %" PRIu64 "%s), not discarded since\n",
				       b, how, e, hi[b], required[b], reqz[b] ? ", discarded" : "");
		}
		return 1;
	}
	floor = max64(hi[b], required[b]);
	if ((uint64_t)in >= floor) {
		hi[b] = in;
		zero_ok[b] = 0;
		if (at_completion)
			fua_hi[b] = max64(fua_hi[b], in);
		else
			plain_hi[b] = in;
		return 1;
	}
	if (!at_completion && fua_hi[b] > (uint64_t)in && (uint64_t)in >= floor0[b] &&
	    (uint64_t)in >= plain_hi[b]) {
		/* W3: may have completed before the FUA write was issued. */
		plain_hi[b] = in;
		superseded++;
		return 0;
	}
	if (stale++ < 10) {
		char why[160] = "";

		if (!at_completion && fua_hi[b] > (uint64_t)in && (uint64_t)in < floor0[b])
			snprintf(why, sizeof(why),
				 " (not superseded: older than generation %" PRIu64
				 ", what it held when its flush group began)", floor0[b]);
		else if (!at_completion && fua_hi[b] > (uint64_t)in)
			snprintf(why, sizeof(why),
				 " (not superseded: older than generation %" PRIu64
				 ", a plain write logged before it in its flush group)", plain_hi[b]);
		printf("STALE: block %" PRIu64 ": %s write at entry %" PRIu64
		       " carries generation %" PRId64 ", older than generation %" PRIu64
		       " %s for it%s\n",
		       b, how, e, in, floor, required[b] > hi[b] ? "acknowledged" : "already logged",
		       why);
	}
	return 1;
}

/*
 * A check point: the image is a state the origin could be in after a power
 * cut here. Units changed since the last point are verified whole (their
 * state is then cached); every acknowledged unit must hold its
 * acknowledged generation or a newer one (or zeroes, discarded; or the
 * acknowledged bytes, without stamps).
 */
static void point(uint64_t e, const char *what)
{
	uint64_t b;

	points++;
	for (b = 0; b < nblocks; b++) {
		if (no_stamps) {
			if (reqhash[b] && (dirty[b] || hashok[b] < 0)) {
				hashok[b] = hash_matches(image + b * bs, reqhash[b]);
				verified += reqhash[b]->hlen;
			}
			dirty[b] = 0;
			if (!reqhash[b])
				continue;
			checks++;
			if (!hashok[b] && lost++ < 10)
				printf("LOST: block %" PRIu64 " does not hold the data fsync'ed before "
				       "mark %s (entry %" PRIu64 ", %s point%s%s)\n",
				       b, reqhash[b]->mark, e, what, *what == 'm' ? " " : "",
				       *what == 'm' ? last_mark : "");
			continue;
		}
		if (dirty[b]) {
			state[b] = block_state(image + b * bs, bs, b);
			verified += bs;
			dirty[b] = 0;
			if (state[b] < 0 && torn++ < 10)
				printf("TORN: block %" PRIu64 " at entry %" PRIu64 " (%s point)\n", b, e,
				       what);
		}
		if (!required[b])
			continue;
		checks++;
		if (state[b] < 0)
			continue;
		if (reqz[b] ? state[b] > 0 && (uint64_t)state[b] < required[b] :
			      (uint64_t)state[b] < required[b]) {
			if (lost++ < 10)
				printf("LOST: block %" PRIu64 " holds generation %" PRId64
				       ", acknowledged %" PRIu64 "%s (entry %" PRIu64 ", %s point%s%s)\n",
				       b, state[b], required[b],
				       reqz[b] ? " (discarded: zeroes)" : "", e, what,
				       *what == 'm' ? " " : "", *what == 'm' ? last_mark : "");
		}
	}
	if (fsimg && armed && points % every == 0 && (!only_changed || fs_changed) &&
	    (!kinds || strstr(kinds, what))) {
		/*
		 * A fresh image each time (the command may change it: a
		 * journal replay does): emptied, then every block the log
		 * ever wrote (fsdirty) written; the rest are holes (zeroes).
		 * Cheaper than a copy per point in the guest.
		 */
		unsigned int slot = free_job();
		char path[4096], sl[16];
		int ifd;

		if (jobs == 1)
			snprintf(path, sizeof(path), "%s", fsimg);
		else
			snprintf(path, sizeof(path), "%s.%u", fsimg, slot);
		ifd = open(path, O_WRONLY | O_TRUNC | O_CREAT, 0600);
		if (ifd < 0)
			die("cannot open %s: %s", path, strerror(errno));
		if (ftruncate(ifd, (off_t)(nblocks * bs)))
			die("cannot size %s: %s", path, strerror(errno));
		for (b = 0; b < nblocks; b++) {
			if (fsdirty[b])
				pwrite_all(ifd, image + b * bs, bs, (off_t)(b * bs));
		}
		close(ifd);
		fs_changed = 0;
		fscks++;
		setenv("BC_POINT", what, 1);
		setenv("BC_IMAGE", path, 1);
		snprintf(sl, sizeof(sl), "%u", slot);
		setenv("BC_SLOT", sl, 1);
		fflush(stdout);
		job[slot].pid = fork();
		if (job[slot].pid < 0)
			die("fork: %s", strerror(errno));
		if (!job[slot].pid) {
			execl("/bin/sh", "sh", "-c", fsck, (char *)NULL);
			_exit(127);
		}
		job[slot].entry = e;
		job[slot].what = what;
		if (jobs == 1)
			reap_job(slot);
	}
}

/* The acknowledgements under mark `name`: releases first, then the rest. */
static void apply_mark(const char *name, uint64_t e)
{
	struct ack key = { .mark = (char *)name }, *f, *s;
	int pass;

	s = bsearch(&key, acks, nacks, sizeof(*acks), ack_cmp);
	if (!s)
		return;
	while (s > acks && !strcmp(s[-1].mark, name))
		s--;
	for (pass = 0; pass < 2; pass++) {
		for (f = s; f < acks + nacks && !strcmp(f->mark, name); f++) {
			if ((f->kind == ACK_RELEASE) != (pass == 0))
				continue;
			if (only_mayzero && f->kind != ACK_MAYZERO)
				continue;
			f->seen = 1;
			if (f->blk >= nblocks)
				die("manifest block %" PRIu64 " beyond the image", f->blk);
			if (ntraced && is_traced(f->blk))
				printf("TRACE: block %" PRIu64 ": entry %" PRIu64 " mark %s acknowledges %s %"
				       PRIu64 "\n", f->blk, e, name,
				       f->kind == ACK_ZERO ? "zeroes at" : f->kind == ACK_MAYZERO ?
				       "a discard (zeroes allowed) at" : f->kind == ACK_GEN ? "generation" :
				       "bytes (or releases them), ack line", f->gen);
			switch (f->kind) {
			case ACK_RELEASE:
				reqhash[f->blk] = NULL;
				break;
			case ACK_HASH:
				reqhash[f->blk] = f;
				hashok[f->blk] = -1;
				break;
			case ACK_MAYZERO:
				reqz[f->blk] = 1;
				if (f->gen > mzgen[f->blk])
					mzgen[f->blk] = f->gen;
				break;
			default:
				if (f->gen > required[f->blk]) {
					required[f->blk] = f->gen;
					reqz[f->blk] = f->kind == ACK_ZERO || f->gen <= mzgen[f->blk];
				}
			}
		}
	}
}

/*
 * -o: the writers' flushes may overlap (no lock). Each writer marks
 * "TAG-pre" before an operation that flushes and acknowledges after it
 * ("TAG-N..."). An acknowledgement made while another writer's operation
 * is in flight (its "-pre" logged, its acknowledgement not yet) is
 * applied only once every such operation has been acknowledged too: that
 * writer's flush may have been mapped first and taken the acknowledged
 * writes with it (the header: "Two flushes in flight"). Acknowledgements
 * are applied in log order (a queue); the end applies what is left.
 */
static int overlap;
#define MAX_WRITERS 16
static char wtag[MAX_WRITERS][64];
static int winflight[MAX_WRITERS], nwtags;
struct deferred {
	char name[256];
	uint64_t e;
	unsigned int waits;
};
static struct deferred *dq;
static size_t dq_head, dq_len, dq_cap;
static uint64_t deferred_marks;

/* The writer a mark belongs to: NAME less "-pre", "-suspend" and "-N". */
static int writer_of(const char *name, int *pre)
{
	char t[256];
	size_t n;
	int w;

	snprintf(t, sizeof(t), "%s", name);
	n = strlen(t);
	*pre = n > 4 && !strcmp(t + n - 4, "-pre");
	if (*pre) {
		t[n - 4] = 0;
	} else {
		if (n > 8 && !strcmp(t + n - 8, "-suspend"))
			t[n -= 8] = 0;
		while (n && t[n - 1] >= '0' && t[n - 1] <= '9')
			n--;
		if (!n || t[n - 1] != '-')
			return -1;
		t[n - 1] = 0;
	}
	for (w = 0; w < nwtags; w++)
		if (!strcmp(wtag[w], t))
			return w;
	if (nwtags == MAX_WRITERS)
		die("check -o: more than %d writers", MAX_WRITERS);
	snprintf(wtag[nwtags], sizeof(wtag[0]), "%s", t);
	return nwtags++;
}

static void drain_deferred(void)
{
	while (dq_head < dq_len && !dq[dq_head].waits) {
		apply_mark(dq[dq_head].name, dq[dq_head].e);
		dq_head++;
	}
}

/* A mark in -o mode: in-flight bookkeeping, then apply now or later. */
static void overlap_mark(const char *name, uint64_t e)
{
	unsigned int waits = 0;
	size_t k;
	int pre, w = writer_of(name, &pre), o;

	if (w < 0) {
		apply_mark(name, e);
		return;
	}
	if (pre) {
		winflight[w] = 1;
		return;
	}
	winflight[w] = 0;
	for (k = dq_head; k < dq_len; k++)
		dq[k].waits &= ~(1u << w);
	for (o = 0; o < nwtags; o++)
		if (winflight[o])
			waits |= 1u << o;
	drain_deferred();
	if (!waits && dq_head == dq_len) {
		apply_mark(name, e);
		return;
	}
	/* An announcement only allows more (zeroes): it applies now. */
	only_mayzero = 1;
	apply_mark(name, e);
	only_mayzero = 0;
	deferred_marks++;
	if (dq_len == dq_cap) {
		dq_cap = dq_cap ? 2 * dq_cap : 64;
		dq = realloc(dq, dq_cap * sizeof(*dq));
		if (!dq)
			die("out of memory");
	}
	snprintf(dq[dq_len].name, sizeof(dq[0].name), "%s", name);
	dq[dq_len].e = e;
	dq[dq_len].waits = waits;
	dq_len++;
}

static int do_check(int argc, char **argv)
{
	const char *logpath, *final = NULL;
	uint64_t bytes, e = 0, entries, pos;
	uint64_t flushes = 0, fuas = 0, marks = 0, writes = 0, discards = 0;
	unsigned int ss;
	unsigned char *hdr, *data;
	struct log_write_super super;
	int fd, opt, end_seen = 0;
	size_t a;

	while ((opt = getopt(argc, argv, "f:s:e:a:k:t:T:j:nco")) != -1) {
		switch (opt) {
		case 'n':
			no_stamps = 1;
			break;
		case 'c':
			only_changed = 1;
			break;
		case 'o':
			overlap = 1;
			break;
		case 'k':
			kinds = optarg;
			break;
		case 't':
			if (ntraced == 8)
				die("check: at most 8 -t");
			traced[ntraced++] = strtoull(optarg, NULL, 0);
			break;
		case 'T':
			if (sscanf(optarg, "%" SCNu64 ":%" SCNu64, &dump_from, &dump_to) != 2)
				die("check: -T FROM:TO");
			break;
		case 'a':
			arm_mark = optarg;
			armed = 0;
			break;
		case 'f':
			final = optarg;
			break;
		case 's':
			fsimg = optarg;
			break;
		case 'e':
			every = strtoull(optarg, NULL, 0);
			break;
		case 'j':
			jobs = strtoul(optarg, NULL, 0);
			if (!jobs || jobs > MAX_JOBS)
				die("check: -j 1..%d", MAX_JOBS);
			break;
		default:
			die("usage: check [-n] [-c] [-o] [-k KINDS] [-t UNIT] [-T A:B] [-f FINAL] [-s FSCK_IMAGE -e EVERY [-a MARK] [-j JOBS]] LOG "
			    "BYTES BS MANIFEST...");
		}
	}
	if (argc - optind < 3)
		die("usage: check [-n] [-c] [-o] [-k KINDS] [-t UNIT] [-T A:B] [-f FINAL] [-s FSCK_IMAGE -e EVERY [-a MARK] [-j JOBS]] LOG BYTES BS "
		    "MANIFEST...");
	logpath = argv[optind];
	bytes = strtoull(argv[optind + 1], NULL, 0);
	bs = strtoul(argv[optind + 2], NULL, 0);
	if (bs < 512 || bs > MAX_UNIT || bs & (bs - 1) || !bytes || bytes % bs || !every)
		die("check: bad arguments");
	fsck = getenv("FSCK");
	if (fsimg && !fsck)
		die("check: -s needs the command in $FSCK");
	for (int i = optind + 3; i < argc; i++)
		load_manifest(argv[i]);
	qsort(acks, nacks, sizeof(*acks), ack_cmp);
	nblocks = bytes / bs;
	image = xcalloc(1, bytes);
	required = xcalloc(nblocks, sizeof(*required));
	reqz = xcalloc(nblocks, 1);
	mzgen = xcalloc(nblocks, sizeof(*mzgen));
	reqhash = xcalloc(nblocks, sizeof(*reqhash));
	hashok = xcalloc(nblocks, 1);
	state = xcalloc(nblocks, sizeof(*state));
	dirty = xcalloc(nblocks, 1);
	fsdirty = xcalloc(nblocks, 1);
	hi = xcalloc(nblocks, sizeof(*hi));
	zero_ok = xcalloc(nblocks, 1);
	grp = xcalloc(nblocks, sizeof(*grp));
	floor0 = xcalloc(nblocks, sizeof(*floor0));
	plain_hi = xcalloc(nblocks, sizeof(*plain_hi));
	fua_hi = xcalloc(nblocks, sizeof(*fua_hi));
	zok0 = xcalloc(nblocks, 1);
	epoch = 1;

	fd = open(logpath, O_RDONLY);
	if (fd < 0)
		die("cannot open %s: %s", logpath, strerror(errno));
	pread_all(fd, &super, sizeof(super), 0);
	if (super.magic != WRITE_LOG_MAGIC || super.version != WRITE_LOG_VERSION)
		die("%s: not a dm-log-writes log (magic %#llx, version %llu)", logpath,
		    (unsigned long long)super.magic, (unsigned long long)super.version);
	ss = super.sectorsize;
	if (ss < 512 || ss & (ss - 1) || ss > bs)
		die("%s: sector size %u", logpath, ss);
	entries = super.nr_entries;
	hdr = xcalloc(1, ss);

	pos = ss;
	for (e = 0; e < entries; e++) {
		struct log_write_entry le;
		uint64_t off, len, b;
		int at_completion;

		pread_all(fd, hdr, ss, (off_t)pos);
		pos += ss;
		memcpy(&le, hdr, sizeof(le));
		if (e >= dump_from && e <= dump_to)
			printf("ENTRY %" PRIu64 ": flags %#" PRIx64 " sectors %" PRIu64 "+%" PRIu64 "%s%.*s\n",
			       e, (uint64_t)le.flags, (uint64_t)le.sector, (uint64_t)le.nr_sectors,
			       le.flags & LOG_MARK_FLAG ? " mark " : "",
			       le.flags & LOG_MARK_FLAG ? (int)(le.data_len < 200 ? le.data_len : 200) : 0,
			       (const char *)hdr + sizeof(le));
		if (le.flags & LOG_MARK_FLAG) {
			char name[256];
			size_t n = le.data_len < sizeof(name) - 1 ? le.data_len : sizeof(name) - 1;

			memcpy(name, hdr + sizeof(le), n);
			name[n] = 0;
			if (!strcmp(name, "dm-log-writes-end")) {
				end_seen = 1;
				continue;
			}
			/* For $FSCK: the last acknowledgement replayed. */
			setenv("BC_LAST_MARK", name, 1);
			snprintf(last_mark, sizeof(last_mark), "%s", name);
			if (arm_mark && !strcmp(name, arm_mark))
				armed = 1;
			if (overlap)
				overlap_mark(name, e);
			else
				apply_mark(name, e);
			marks++;
			point(e, "mark");
			continue;
		}
		off = le.sector * ss;
		len = le.nr_sectors * ss;
		if (len && off + len > bytes)
			die("entry %" PRIu64 ": sectors %" PRIu64 "+%" PRIu64 " beyond the image", e,
			    le.sector, le.nr_sectors);
		/* Logged at its completion (FUA, a flush with data), not at a flush. */
		at_completion = !!(le.flags & (LOG_FUA_FLAG | LOG_FLUSH_FLAG));
		for (b = off / bs; ntraced && len && b < (off + len + bs - 1) / bs; b++)
			if (is_traced(b) && (le.flags & LOG_DISCARD_FLAG || off % bs || len % bs))
				printf("TRACE: block %" PRIu64 ": entry %" PRIu64 " %s of sectors %" PRIu64
				       "+%" PRIu64 " (flags %#" PRIx64 ")\n", b, e,
				       le.flags & LOG_DISCARD_FLAG ? "discard" : "unaligned write",
				       le.sector, le.nr_sectors, (uint64_t)le.flags);
		if (len && le.flags & LOG_DISCARD_FLAG) {
			memset(image + off, 0, len);
			for (b = off / bs; b < (off + len) / bs; b++)
				if (off <= b * bs)
					zero_ok[b] = 1;
			discards++;
		} else if (len && off % bs == 0 && len % bs == 0) {
			/* Rule W for each unit; the image takes what is not superseded. */
			data = malloc(len);
			if (!data)
				die("out of memory");
			pread_all(fd, data, len, (off_t)pos);
			for (uint64_t k = 0; k < len / bs; k++) {
				b = off / bs + k;
				if (check_write(e, b, data + k * bs, at_completion))
					memcpy(image + b * bs, data + k * bs, bs);
			}
			free(data);
			pos += len;
			writes++;
			wchecked++;
		} else if (len) {
			/* Not whole units: replayed, checked at the points only. */
			pread_all(fd, image + off, len, (off_t)pos);
			pos += len;
			writes++;
		}
		for (b = off / bs; len && b < (off + len + bs - 1) / bs; b++)
			dirty[b] = fsdirty[b] = 1;
		if (len)
			fs_changed = 1;
		if (le.flags & LOG_FLUSH_FLAG) {
			flushes++;
			point(e, "flush");
			epoch++;
		}
		if (le.flags & LOG_FUA_FLAG) {
			fuas++;
			point(e, "FUA");
		}
	}
	/* Every operation has ended: what waited applies now. */
	for (; dq_head < dq_len; dq_head++)
		apply_mark(dq[dq_head].name, dq[dq_head].e);
	point(e, "end");
	for (a = 0; a < nacks; a++) {
		if (!acks[a].seen) {
			printf("MISSING: mark %s (acknowledged block %" PRIu64 ") is not in the log\n",
			       acks[a].mark, acks[a].blk);
			lost++;
			break;
		}
	}
	printf("replayed %" PRIu64 " entries (%" PRIu64 " writes, %" PRIu64 " discards): %" PRIu64
	       " points checked (%" PRIu64 " flush, %" PRIu64 " FUA, %" PRIu64 " marks); %zu "
	       "acknowledgements, %" PRIu64 " block checks, %" PRIu64 " bytes verified; %" PRIu64
	       " writes checked (%" PRIu64 " blocks of %u bytes); lost=%" PRIu64 " torn=%" PRIu64
	       " stale=%" PRIu64 "\n",
	       entries, writes, discards, points, flushes, fuas, marks, nacks, checks, verified,
	       wchecked, wunits, bs, lost, torn, stale);
	if (overlap)
		printf("%" PRIu64 " acknowledgements waited for another writer's operation in "
		       "flight (overlapping flushes)\n", deferred_marks);
	if (superseded)
		printf("%" PRIu64 " older plain writes logged after a FUA write to the same block "
		       "in their flush group were kept out (superseded: log-writes logs FUA writes "
		       "first)\n", superseded);
	for (unsigned int i = 0; i < jobs; i++)
		reap_job(i);
	if (fsimg)
		printf("fsck: %" PRIu64 " runs, %" PRIu64 " with errors\n", fscks, fsck_bad);
	if (!end_seen)
		printf("note: no dm-log-writes-end mark (log not closed?)\n");
	if (final) {
		int ffd = open(final, O_RDONLY);
		unsigned char *fb = malloc(bytes);

		if (ffd < 0 || !fb)
			die("cannot read %s", final);
		pread_all(ffd, fb, bytes, 0);
		if (memcmp(fb, image, bytes)) {
			uint64_t b = 0;

			while (!memcmp(fb + b * bs, image + b * bs, bs))
				b++;
			printf("MISMATCH: the replayed image differs from %s (first at block %" PRIu64
			       ": it holds %" PRId64 ", the replay %" PRId64 ")\n", final, b,
			       block_state(fb + b * bs, bs, b), block_state(image + b * bs, bs, b));
			return 1;
		}
		printf("the replayed image equals %s (%" PRIu64 " bytes)\n", final, bytes);
	}
	return lost || torn || stale || fsck_bad ? 1 : 0;
}

/* stamp BS BLK GEN: one stamped unit to stdout (for the tool's self-test). */
static int do_stamp(int argc, char **argv)
{
	unsigned int bs;
	unsigned char *buf;

	if (argc != 4)
		die("usage: stamp BS BLK GEN");
	bs = strtoul(argv[1], NULL, 0);
	if (bs < 512 || bs > MAX_UNIT || bs & (bs - 1))
		die("stamp: bad block size");
	buf = xcalloc(1, bs);
	stamp(buf, bs, strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
	if (fwrite(buf, 1, bs, stdout) != bs)
		die("stamp: write failed");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "stamp"))
		return do_stamp(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "work"))
		return do_work(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return do_check(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "fmark"))
		return do_fmark(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "hash"))
		return do_hash(argc - 1, argv + 1);
	fprintf(stderr, "usage: bc-logreplay work|check|fmark|hash|stamp ... (see the source's header)\n");
	return 2;
}
