// SPDX-License-Identifier: GPL-2.0
/*
 * bc-logreplay: the power-cut tests' workload and replay checker for
 * dm-log-writes logs (format: the kernel's
 * Documentation/admin-guide/device-mapper/log-writes.rst and
 * drivers/md/dm-log-writes.c).
 *
 * dm-log-writes logs a write only once it is on stable media: a plain write
 * at the next flush that follows its completion, a FUA write at its
 * completion. Replaying a prefix of the log therefore gives a state the
 * device could really be in after a power cut at that point.
 *
 *   bc-logreplay work DEV BS MANIFEST TAG FIRST COUNT ROUNDS WRITES MARKCMD \
 *		[dsync-only]
 *
 *	Writes ROUNDS rounds of WRITES blocks, each at a random block in
 *	[FIRST, FIRST + COUNT) of DEV (O_DIRECT), stamped with its block
 *	number and a generation; every 8th write is O_DSYNC (FUA). After
 *	each O_DSYNC write returns, and after each round's fsync() returns,
 *	it appends what is now acknowledged (block, generation) to MANIFEST
 *	under a new mark name TAG-N and runs "MARKCMD TAG-N" (a dmsetup
 *	message that puts mark TAG-N into the log). MARKCMD "dm-mark:NAME"
 *	sends the message "mark TAG-N" to the dm-log-writes device NAME
 *	itself (the DM_TARGET_MSG ioctl that dmsetup would make, without a
 *	shell and a dmsetup to start for each of the hundreds of marks).
 *	With dsync-only, only the O_DSYNC writes are acknowledged (the
 *	fsyncs still run).
 *
 *   bc-logreplay check [-n] [-f FINAL] [-s FSCK_IMAGE -e EVERY [-a MARK]] \
 *		LOG BYTES BS MANIFEST...
 *
 *	Replays LOG into an image of BYTES bytes, entry by entry. At each
 *	flush and each FUA entry and at each mark, it checks that every
 *	block acknowledged under a mark already replayed holds that
 *	generation or a newer one, and that every block changed since the
 *	last point is whole (zero, or one intact stamp for that very block;
 *	-n: the blocks are not stamped, e.g. a file system's).
 *	With -f, the final image must equal FINAL byte for byte (the origin
 *	after the run: checks the replay itself). With -s, the image is also
 *	written to FSCK_IMAGE at every EVERY-th point (from mark MARK on,
 *	with -a) and the shell command $FSCK run, with the last mark
 *	replayed in $BC_LAST_MARK; an exit status above 1 is a failure.
 *	Prints what it checked; exits 1 on any violation.
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

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Block stamp: magic, block, generation, then a stream seeded by both. */
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
 * What a block of the image holds: 0 if all zero (never written), the
 * generation (> 0) if it is one intact stamp for block `blk`, -1 if it is
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

/*
 * dm_mark: the message "mark TAG" to the dm device NAME (a dm-log-writes
 * target), as "dmsetup message NAME 0 mark TAG" sends it; 0 or an errno.
 */
static int dm_mark(const char *name, const char *tag)
{
	static int ctl = -1;
	static union {
		struct dm_ioctl io;
		char bytes[4096];
	} buf;
	struct dm_target_msg *msg;

	if (ctl < 0) {
		ctl = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			die("cannot open /dev/mapper/control: %s", strerror(errno));
	}
	memset(&buf, 0, sizeof(buf));
	if (strlen(name) >= DM_NAME_LEN ||
	    sizeof(buf.io) + sizeof(*msg) + strlen("mark ") + strlen(tag) + 1 > sizeof(buf))
		die("dm_mark: name or tag too long");
	buf.io.version[0] = DM_VERSION_MAJOR;
	buf.io.data_size = sizeof(buf);
	buf.io.data_start = sizeof(buf.io);
	strcpy(buf.io.name, name);
	msg = (struct dm_target_msg *)(buf.bytes + buf.io.data_start);
	msg->sector = 0;
	snprintf(msg->message, sizeof(buf) - buf.io.data_start - sizeof(*msg), "mark %s", tag);
	return ioctl(ctl, DM_TARGET_MSG, &buf.io) ? errno : 0;
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

static int do_work(int argc, char **argv)
{
	const char *dev, *manifest, *tag, *markcmd;
	uint64_t first, count, rounds, writes, gen = 0, *latest, r, i, mark = 0;
	unsigned int bs;
	unsigned char *buf;
	char *touched, name[256];
	int fd, fds, dsync_only;
	FILE *m;
	uint64_t seed;

	if (argc != 10 && !(argc == 11 && !strcmp(argv[10], "dsync-only")))
		die("usage: work DEV BS MANIFEST TAG FIRST COUNT ROUNDS WRITES MARKCMD [dsync-only]");
	dsync_only = argc == 11;
	dev = argv[1];
	bs = strtoul(argv[2], NULL, 0);
	manifest = argv[3];
	tag = argv[4];
	first = strtoull(argv[5], NULL, 0);
	count = strtoull(argv[6], NULL, 0);
	rounds = strtoull(argv[7], NULL, 0);
	writes = strtoull(argv[8], NULL, 0);
	markcmd = argv[9];
	if (bs < 512 || bs & (bs - 1) || !count || !rounds || !writes)
		die("work: bad arguments");
	fd = open(dev, O_RDWR | O_DIRECT);
	fds = open(dev, O_RDWR | O_DIRECT | O_DSYNC);
	if (fd < 0 || fds < 0)
		die("cannot open %s: %s", dev, strerror(errno));
	m = fopen(manifest, "w");
	if (!m)
		die("cannot create %s: %s", manifest, strerror(errno));
	if (posix_memalign((void **)&buf, 4096, bs))
		die("out of memory");
	latest = calloc(count, sizeof(*latest));
	touched = calloc(count, 1);
	if (!latest || !touched)
		die("out of memory");
	seed = 0x2545f4914f6cdd1dULL ^ (uint64_t)getpid() << 20 ^ first;
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < writes; i++) {
			uint64_t b = xorshift(&seed) % count;
			int dsync = i % 8 == 7;

			stamp(buf, bs, first + b, ++gen);
			pwrite_all(dsync ? fds : fd, buf, bs, (off_t)((first + b) * bs));
			latest[b] = gen;
			touched[b] = 1;
			if (dsync) {
				/* Durable now: acknowledge it under a new mark. */
				fprintf(m, "%s-%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", tag, ++mark,
					first + b, gen);
				fflush(m);
				snprintf(name, sizeof(name), "%s-%" PRIu64, tag, mark);
				mark_cmd(markcmd, name);
			}
		}
		if (fsync(fd))
			die("fsync of %s: %s", dev, strerror(errno));
		if (dsync_only)
			continue;
		/* Everything written so far is durable now. */
		++mark;
		for (i = 0; i < count; i++) {
			if (!touched[i])
				continue;
			fprintf(m, "%s-%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", tag, mark, first + i,
				latest[i]);
			touched[i] = 0;
		}
		fflush(m);
		snprintf(name, sizeof(name), "%s-%" PRIu64, tag, mark);
		mark_cmd(markcmd, name);
	}
	if (fclose(m))
		die("cannot write %s", manifest);
	printf("work %s: %" PRIu64 " writes (%" PRIu64 " O_DSYNC), %" PRIu64 " fsyncs, %" PRIu64
	       " marks%s\n",
	       tag, rounds * writes, rounds * (writes / 8), rounds, mark,
	       dsync_only ? " (O_DSYNC writes only acknowledged)" : "");
	return 0;
}

/* ---- check ---- */

struct ack {
	char *mark;
	uint64_t blk, gen;
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
	char line[512], name[256];
	unsigned long long blk, gen;
	FILE *f = fopen(path, "r");

	if (!f)
		die("cannot open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %llu %llu", name, &blk, &gen) != 3)
			die("%s: bad line '%s'", path, line);
		if (nacks == cap_acks) {
			cap_acks = cap_acks ? 2 * cap_acks : 1024;
			acks = realloc(acks, cap_acks * sizeof(*acks));
			if (!acks)
				die("out of memory");
		}
		acks[nacks].mark = strdup(name);
		acks[nacks].blk = blk;
		acks[nacks].gen = gen;
		acks[nacks].seen = 0;
		nacks++;
	}
	fclose(f);
}

/* The replay's state, shared with point(). */
static unsigned char *image, *dirty, *fsdirty, *fua_since_flush;
static int64_t *state;
static uint64_t *required, nblocks, every = 1;
static unsigned int bs;
static const char *fsimg, *fsck, *arm_mark;
static int armed = 1, no_stamps;
static uint64_t points, checks, verified, lost, torn, fscks, fsck_bad, superseded;

/*
 * A check point: the image is a state the origin could be in after a power
 * cut here. Blocks changed since the last point are verified whole (their
 * state is then cached); every acknowledged block must hold its
 * acknowledged generation or a newer one.
 */
static void point(uint64_t e, const char *what)
{
	uint64_t b;

	points++;
	for (b = 0; b < nblocks; b++) {
		if (dirty[b] && no_stamps) {
			dirty[b] = 0;
		} else if (dirty[b]) {
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
		if (state[b] >= 0 && (uint64_t)state[b] < required[b] && lost++ < 10)
			printf("LOST: block %" PRIu64 " holds generation %" PRId64
			       ", acknowledged %" PRIu64 " (entry %" PRIu64 ", %s point)\n",
			       b, state[b], required[b], e, what);
	}
	if (fsimg && armed && points % every == 0) {
		int ifd = open(fsimg, O_WRONLY);

		if (ifd < 0)
			die("cannot open %s: %s", fsimg, strerror(errno));
		for (b = 0; b < nblocks; b++) {
			if (!fsdirty[b])
				continue;
			pwrite_all(ifd, image + b * bs, bs, (off_t)(b * bs));
			fsdirty[b] = 0;
		}
		close(ifd);
		fscks++;
		if (run_cmd(fsck) > 1 && fsck_bad++ < 10)
			printf("FSCK: '%s' found errors at entry %" PRIu64 " (%s point)\n", fsck, e,
			       what);
	}
}

static int do_check(int argc, char **argv)
{
	const char *logpath, *final = NULL;
	uint64_t bytes, e = 0, entries, pos;
	uint64_t flushes = 0, fuas = 0, marks = 0, writes = 0, discards = 0;
	unsigned int ss;
	unsigned char *hdr;
	struct log_write_super super;
	int fd, opt, end_seen = 0;
	size_t a;


	while ((opt = getopt(argc, argv, "f:s:e:a:n")) != -1) {
		switch (opt) {
		case 'n':
			no_stamps = 1;
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
		default:
			die("usage: check [-n] [-f FINAL] [-s FSCK_IMAGE -e EVERY [-a MARK]] LOG BYTES BS "
			    "MANIFEST...");
		}
	}
	if (argc - optind < 3)
		die("usage: check [-n] [-f FINAL] [-s FSCK_IMAGE -e EVERY [-a MARK]] LOG BYTES BS "
		    "MANIFEST...");
	logpath = argv[optind];
	bytes = strtoull(argv[optind + 1], NULL, 0);
	bs = strtoul(argv[optind + 2], NULL, 0);
	if (bs < 512 || bs & (bs - 1) || !bytes || bytes % bs || !every)
		die("check: bad arguments");
	fsck = getenv("FSCK");
	if (fsimg && !fsck)
		die("check: -s needs the command in $FSCK");
	for (int i = optind + 3; i < argc; i++)
		load_manifest(argv[i]);
	qsort(acks, nacks, sizeof(*acks), ack_cmp);
	nblocks = bytes / bs;
	image = calloc(1, bytes);
	required = calloc(nblocks, sizeof(*required));
	state = calloc(nblocks, sizeof(*state));
	dirty = calloc(nblocks, 1);
	fsdirty = calloc(nblocks, 1);
	fua_since_flush = calloc(nblocks, 1);
	if (!image || !required || !state || !dirty || !fsdirty || !fua_since_flush)
		die("out of memory");

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
	hdr = malloc(ss);
	if (!hdr)
		die("out of memory");

	pos = ss;
	for (e = 0; e < entries; e++) {
		struct log_write_entry le;
		uint64_t off, len;

		pread_all(fd, hdr, ss, (off_t)pos);
		pos += ss;
		memcpy(&le, hdr, sizeof(le));
		if (le.flags & LOG_MARK_FLAG) {
			char name[256];
			struct ack key = { .mark = name }, *f;
			size_t n = le.data_len < sizeof(name) - 1 ? le.data_len : sizeof(name) - 1;

			memcpy(name, hdr + sizeof(le), n);
			name[n] = 0;
			if (!strcmp(name, "dm-log-writes-end")) {
				end_seen = 1;
				continue;
			}
			/* For $FSCK: the last acknowledgement replayed. */
			setenv("BC_LAST_MARK", name, 1);
			if (arm_mark && !strcmp(name, arm_mark))
				armed = 1;
			f = bsearch(&key, acks, nacks, sizeof(*acks), ack_cmp);
			if (f) {
				while (f > acks && !strcmp(f[-1].mark, name))
					f--;
				for (; f < acks + nacks && !strcmp(f->mark, name); f++) {
					f->seen = 1;
					if (f->blk >= nblocks)
						die("manifest block %" PRIu64 " beyond the image",
						    f->blk);
					if (f->gen > required[f->blk])
						required[f->blk] = f->gen;
				}
			}
			marks++;
			point(e, "mark");
			continue;
		}
		off = le.sector * ss;
		len = le.nr_sectors * ss;
		if (len && off + len > bytes)
			die("entry %" PRIu64 ": sectors %" PRIu64 "+%" PRIu64 " beyond the image", e,
			    le.sector, le.nr_sectors);
		if (len && le.flags & LOG_DISCARD_FLAG) {
			memset(image + off, 0, len);
			discards++;
		} else if (len && !(le.flags & LOG_FUA_FLAG) && !no_stamps && off % bs == 0 &&
			   len % bs == 0) {
			/*
			 * dm-log-writes logs a FUA write when it completes, a
			 * plain one only at the next flush: a plain write that
			 * completed before a FUA write to the same block was
			 * issued (and so is older, and lost to it on a real
			 * device) can follow it in the log. Such a block keeps
			 * the newer stamp.
			 */
			unsigned char *data = malloc(len);

			if (!data)
				die("out of memory");
			pread_all(fd, data, len, (off_t)pos);
			for (uint64_t k = 0; k < len / bs; k++) {
				uint64_t b = off / bs + k;
				int64_t in = block_state(data + k * bs, bs, b);
				int64_t cur = block_state(image + b * bs, bs, b);

				if (fua_since_flush[b] && in > 0 && cur > in) {
					superseded++;
					continue;
				}
				memcpy(image + b * bs, data + k * bs, bs);
			}
			free(data);
			pos += len;
			writes++;
		} else if (len) {
			pread_all(fd, image + off, len, (off_t)pos);
			pos += len;
			writes++;
		}
		for (uint64_t b = off / bs; len && b < (off + len + bs - 1) / bs; b++) {
			dirty[b] = fsdirty[b] = 1;
			if (le.flags & LOG_FUA_FLAG)
				fua_since_flush[b] = 1;
		}
		if (le.flags & LOG_FLUSH_FLAG) {
			memset(fua_since_flush, 0, nblocks);
			flushes++;
			point(e, "flush");
		}
		if (le.flags & LOG_FUA_FLAG) {
			fuas++;
			point(e, "FUA");
		}
	}
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
	       "acknowledgements, %" PRIu64 " block checks, %" PRIu64 " bytes verified; lost=%" PRIu64
	       " torn=%" PRIu64 "\n",
	       entries, writes, discards, points, flushes, fuas, marks, nacks, checks, verified,
	       lost, torn);
	if (superseded)
		printf("%" PRIu64 " older plain writes logged after a FUA write to the same block "
		       "were kept out (log-writes logs FUA writes first)\n", superseded);
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
			       ")\n", final, b);
			return 1;
		}
		printf("the replayed image equals %s (%" PRIu64 " bytes)\n", final, bytes);
	}
	return lost || torn || fsck_bad ? 1 : 0;
}

/* stamp BS BLK GEN: one stamped block to stdout (for the tool's self-test). */
static int do_stamp(int argc, char **argv)
{
	unsigned int bs;
	unsigned char *buf;

	if (argc != 4)
		die("usage: stamp BS BLK GEN");
	bs = strtoul(argv[1], NULL, 0);
	if (bs < 512 || bs & (bs - 1))
		die("stamp: bad block size");
	buf = malloc(bs);
	if (!buf)
		die("out of memory");
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
	fprintf(stderr, "usage: bc-logreplay work|check ... (see the source's header)\n");
	return 2;
}
