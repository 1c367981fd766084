// SPDX-License-Identifier: GPL-2.0
/*
 * bc-dmctl: device-mapper ioctls read from stdin, one request a line, one
 * reply line each, for tests that make hundreds of them. Under TCG every
 * dmsetup run costs about 0.1 s of process start-up (a dynamic binary and
 * its libraries); this one process makes the ioctls themselves, the same
 * ones dmsetup would, and a test drives it as a bash coprocess.
 *
 *   load NAME START LEN TYPE [PARAMS]
 *	One DM_TABLE_LOAD (the table goes into NAME's inactive slot), one
 *	target, PARAMS as they are (the kernel splits them). LEN may be 0:
 *	DM core refuses that itself. Reply: "ok" or "failed ERRNO TEXT".
 *   clear NAME
 *	DM_TABLE_CLEAR (NAME's inactive slot). Reply: "ok" or "failed ..."
 *   info NAME
 *	DM_DEV_STATUS. Reply: "tables none|live|inactive|live,inactive" or
 *	"failed ERRNO TEXT".
 *   message NAME SECTOR TEXT
 *	DM_TARGET_MSG with TEXT as it is (the kernel splits it into words;
 *	unlike dmsetup, nothing here takes "-1" for an option). Reply: "ok"
 *	or "failed ERRNO TEXT".
 *   create NAME START LEN TYPE [PARAMS]
 *	DM_DEV_CREATE, then the load above and a resume: a live device with
 *	that table (undone, the device removed, if the load or the resume
 *	fails). Reply: "ok /dev/dm-MINOR" or "failed ERRNO TEXT".
 *   remove NAME
 *	DM_DEV_REMOVE. Reply: "ok" or "failed ERRNO TEXT".
 *   resume NAME
 *	DM_DEV_SUSPEND without DM_SUSPEND_FLAG: the inactive table, if any,
 *	becomes live, and the device resumes. Reply: "ok" or "failed ...".
 *   type NAME [inactive]
 *	DM_TABLE_STATUS (of the inactive slot with "inactive"): the first
 *	target's type. Reply: "type TYPE", "type none" (no table, or no
 *	target) or "failed ERRNO TEXT".
 *   write DEV SECTOR FILE [OFFSET LENGTH [STEP]]
 *   verify DEV SECTOR FILE [OFFSET LENGTH [STEP]]
 *	FILE's bytes (or LENGTH of them from byte OFFSET) written to, or read
 *	back from and compared with, block device DEV at SECTOR, with
 *	O_DIRECT; their size a multiple of 512 bytes, at most 1 MiB (a
 *	larger FILE is refused, not cut). One request of them all, or one
 *	per STEP bytes, in order (as dd with bs=STEP). "differs at byte K"
 *	counts from OFFSET (from SECTOR on the device). Reply: "ok", "differs at byte K" (verify) or
 *	"failed ERRNO TEXT" (the open, the read or the write failed, or came
 *	short: ERRNO 0).
 *
 * A request it cannot parse gets "bad REQUEST" (the test then stops). Exits
 * 0 at the end of its input, 2 if /dev/mapper/control cannot be opened.
 *
 * bc-dmctl status NAME
 *	One DM_TABLE_STATUS, printed as dmsetup status prints it: a line
 *	"START LEN TYPE PARAMS" per target. Exits 1 if the ioctl fails (its
 *	error on stderr). The status reads of the tests' library use it: a
 *	static binary starts several times faster than dmsetup under TCG.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
/* Room for a message's reply (status-like messages return text). */
#define MSG_SIZE (16 * 1024)

static int ctl = -1;
static union {
	struct dm_ioctl io;
	char bytes[BUF_SIZE];
} buf;

/* A fresh request for NAME; 0, or -1 if NAME is too long. */
static int begin(const char *name)
{
	memset(&buf, 0, sizeof(buf));
	if (strlen(name) >= DM_NAME_LEN)
		return -1;
	buf.io.version[0] = DM_VERSION_MAJOR;
	buf.io.data_size = sizeof(buf.io);
	buf.io.data_start = sizeof(buf.io);
	strcpy(buf.io.name, name);
	return 0;
}

static void reply_ioctl(unsigned long cmd)
{
	if (ioctl(ctl, cmd, &buf.io))
		printf("failed %d %s\n", errno, strerror(errno));
	else
		printf("ok\n");
}

/* Next space-separated word of *s (NUL-terminated in place), or NULL. */
static char *word(char **s)
{
	char *w = *s + strspn(*s, " \t");

	if (!*w)
		return NULL;
	*s = w + strcspn(w, " \t");
	if (**s)
		*(*s)++ = '\0';
	return w;
}

static int number(const char *w, unsigned long long *v)
{
	char *end;

	if (!w || !*w || *w == '-')
		return -1;
	errno = 0;
	*v = strtoull(w, &end, 10);
	return *end || errno ? -1 : 0;
}

/*
 * The DM_TABLE_LOAD request of "NAME START LEN TYPE [PARAMS]" in buf;
 * -1 if it cannot be parsed. *name is set to NAME.
 */
static int load_request(char *s, char **name_out)
{
	char *name = word(&s), *st = word(&s), *ln = word(&s), *type = word(&s);
	char *params = s + strspn(s, " \t");
	struct dm_target_spec *spec;
	unsigned long long start, len;

	if (!name || !type || number(st, &start) || number(ln, &len) ||
	    begin(name) || strlen(type) >= DM_MAX_TYPE_NAME ||
	    sizeof(buf.io) + sizeof(*spec) + strlen(params) + 8 > BUF_SIZE)
		return -1;
	*name_out = name;
	buf.io.target_count = 1;
	spec = (struct dm_target_spec *)(buf.bytes + buf.io.data_start);
	spec->sector_start = start;
	spec->length = len;
	strcpy(spec->target_type, type);
	strcpy((char *)(spec + 1), params);
	buf.io.data_size = (sizeof(buf.io) + sizeof(*spec) + strlen(params) + 1 + 7) & ~7UL;
	return 0;
}

static int do_load(char *s)
{
	char *name;

	if (load_request(s, &name))
		return -1;
	reply_ioctl(DM_TABLE_LOAD);
	return 0;
}

static int do_create(char *s)
{
	char line[BUF_SIZE / 2], name[DM_NAME_LEN], *n;
	unsigned int minor;
	int err;

	if (strlen(s) >= sizeof(line))
		return -1;
	strcpy(line, s);
	if (load_request(line, &n))
		return -1;
	strcpy(name, n);
	begin(name);
	if (ioctl(ctl, DM_DEV_CREATE, &buf.io)) {
		printf("failed %d %s\n", errno, strerror(errno));
		return 0;
	}
	minor = (buf.io.dev & 0xff) | ((buf.io.dev >> 12) & 0xfff00);
	strcpy(line, s);
	load_request(line, &n);
	err = ioctl(ctl, DM_TABLE_LOAD, &buf.io) ? errno : 0;
	if (!err) {
		begin(name);
		err = ioctl(ctl, DM_DEV_SUSPEND, &buf.io) ? errno : 0;
	}
	if (err) {
		begin(name);
		if (ioctl(ctl, DM_DEV_REMOVE, &buf.io))
			printf("failed %d %s (and the device's removal failed: %s)\n", err,
			       strerror(err), strerror(errno));
		else
			printf("failed %d %s\n", err, strerror(err));
		return 0;
	}
	printf("ok /dev/dm-%u\n", minor);
	return 0;
}

static int do_info(char *s)
{
	char *name = word(&s);
	unsigned int f;

	if (!name || word(&s) || begin(name))
		return -1;
	if (ioctl(ctl, DM_DEV_STATUS, &buf.io)) {
		printf("failed %d %s\n", errno, strerror(errno));
		return 0;
	}
	f = buf.io.flags;
	if (!(f & (DM_ACTIVE_PRESENT_FLAG | DM_INACTIVE_PRESENT_FLAG)))
		printf("tables none\n");
	else
		printf("tables %s%s%s\n", f & DM_ACTIVE_PRESENT_FLAG ? "live" : "",
		       (f & DM_ACTIVE_PRESENT_FLAG) && (f & DM_INACTIVE_PRESENT_FLAG) ? "," : "",
		       f & DM_INACTIVE_PRESENT_FLAG ? "inactive" : "");
	return 0;
}

/* A request of one name and no more: clear, resume, remove (CMD). */
static int do_name(char *s, unsigned long cmd)
{
	char *name = word(&s);

	if (!name || word(&s) || begin(name))
		return -1;
	reply_ioctl(cmd);
	return 0;
}

static int do_message(char *s)
{
	char *name = word(&s), *sec = word(&s);
	char *text = s + strspn(s, " \t");
	struct dm_target_msg *msg;
	unsigned long long sector;

	if (!name || number(sec, &sector) || begin(name) ||
	    sizeof(buf.io) + sizeof(*msg) + strlen(text) + 1 > MSG_SIZE)
		return -1;
	msg = (struct dm_target_msg *)(buf.bytes + buf.io.data_start);
	msg->sector = sector;
	strcpy(msg->message, text);
	buf.io.data_size = MSG_SIZE;
	reply_ioctl(DM_TARGET_MSG);
	return 0;
}

static int do_type(char *s)
{
	char *name = word(&s), *which = word(&s);
	struct dm_target_spec *spec;

	if (!name || (which && strcmp(which, "inactive")) || word(&s) || begin(name))
		return -1;
	/* The table line (as dmsetup table), not the target's status. */
	buf.io.flags |= DM_STATUS_TABLE_FLAG;
	if (which)
		buf.io.flags |= DM_QUERY_INACTIVE_TABLE_FLAG;
	buf.io.data_size = BUF_SIZE;
	if (ioctl(ctl, DM_TABLE_STATUS, &buf.io)) {
		printf("failed %d %s\n", errno, strerror(errno));
		return 0;
	}
	if (!buf.io.target_count) {
		printf("type none\n");
		return 0;
	}
	spec = (struct dm_target_spec *)(buf.bytes + buf.io.data_start);
	printf("type %.*s\n", DM_MAX_TYPE_NAME, spec->target_type);
	return 0;
}

#define IO_MAX (1024 * 1024)
static char io_file[IO_MAX] __attribute__((aligned(4096)));
static char io_dev[IO_MAX] __attribute__((aligned(4096)));

/* write/verify DEV SECTOR FILE: see the header. */
static int do_io(char *s, int verify)
{
	char *dev = word(&s), *sec = word(&s), *file = word(&s);
	char *fo = word(&s), *fl = fo ? word(&s) : NULL, *st = fl ? word(&s) : NULL;
	unsigned long long sector, foff = 0, flen, step = 0;
	ssize_t len, got;
	struct stat sb;
	size_t i, at;
	int fd;

	if (!dev || number(sec, &sector) || !file || (fo && (number(fo, &foff) || number(fl, &flen))) ||
	    (st && number(st, &step)) || word(&s))
		return -1;
	fd = open(file, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb)) {
		printf("failed %d %s: %s\n", errno, file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (!fo) {
		foff = 0;
		flen = sb.st_size;
	}
	if (!flen || flen % 512 || flen > IO_MAX || (step && (step % 512 || flen % step))) {
		printf("failed 0 %s: %llu bytes: a multiple of 512 (and of the step) up to %d\n", file,
		       flen, IO_MAX);
		close(fd);
		return 0;
	}
	len = pread(fd, io_file, flen, foff);
	i = len < 0 ? errno : 0;
	close(fd);
	if (len != (ssize_t)flen) {
		printf("failed %zu %s: %zd of %llu bytes at %llu\n", i, file, len, flen, foff);
		return 0;
	}
	if (!step)
		step = len;
	if (sector > (unsigned long long)(INT64_MAX - len) / 512) {
		printf("failed 0 sector %llu: past any device\n", sector);
		return 0;
	}
	fd = open(dev, (verify ? O_RDONLY : O_WRONLY) | O_DIRECT);
	if (fd < 0) {
		printf("failed %d %s: %s\n", errno, dev, strerror(errno));
		return 0;
	}
	/* One bio of LENGTH, or one per STEP bytes, in order. */
	for (at = 0; at < (size_t)len; at += step) {
		if (verify)
			got = pread(fd, io_dev + at, step, sector * 512 + at);
		else
			got = pwrite(fd, io_file + at, step, sector * 512 + at);
		if (got != (ssize_t)step) {
			printf("failed %d %s %s: %zd of %llu bytes at byte %zu\n", got < 0 ? errno : 0,
			       verify ? "read" : "write", got < 0 ? strerror(errno) : "short", got, step,
			       at);
			close(fd);
			return 0;
		}
	}
	close(fd);
	if (verify && memcmp(io_file, io_dev, len)) {
		for (i = 0; io_file[i] == io_dev[i]; i++)
			;
		printf("differs at byte %zu\n", i);
		return 0;
	}
	printf("ok\n");
	return 0;
}

/* bc-dmctl status NAME: see the header. */
static int status(const char *name)
{
	const char *out = buf.bytes;
	struct dm_target_spec *spec;
	size_t off;
	unsigned int i;

	if (begin(name)) {
		fprintf(stderr, "bc-dmctl: name too long\n");
		return 1;
	}
	buf.io.data_size = BUF_SIZE;
	if (ioctl(ctl, DM_TABLE_STATUS, &buf.io)) {
		fprintf(stderr, "bc-dmctl: status %s: %s\n", name, strerror(errno));
		return 1;
	}
	if (buf.io.flags & DM_BUFFER_FULL_FLAG) {
		fprintf(stderr, "bc-dmctl: status %s: reply larger than %d bytes\n", name, BUF_SIZE);
		return 1;
	}
	off = buf.io.data_start;
	for (i = 0; i < buf.io.target_count; i++) {
		if (off + sizeof(*spec) > buf.io.data_size || off + sizeof(*spec) > BUF_SIZE)
			return 1;
		spec = (struct dm_target_spec *)(out + off);
		printf("%llu %llu %.*s %.*s\n", (unsigned long long)spec->sector_start,
		       (unsigned long long)spec->length, DM_MAX_TYPE_NAME, spec->target_type,
		       (int)(BUF_SIZE - off - sizeof(*spec)), (const char *)(spec + 1));
		off = buf.io.data_start + spec->next;
	}
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	char *line = NULL, *s, *cmd;
	size_t cap = 0;
	ssize_t n;
	int r;

	ctl = open("/dev/mapper/control", O_RDWR);
	if (ctl < 0) {
		perror("bc-dmctl: /dev/mapper/control");
		return 2;
	}
	if (argc == 3 && !strcmp(argv[1], "status"))
		return status(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: bc-dmctl [status NAME] (requests on stdin without arguments)\n");
		return 2;
	}
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		s = line;
		cmd = word(&s);
		r = -1;
		if (!cmd)
			r = -1;
		else if (!strcmp(cmd, "load"))
			r = do_load(s);
		else if (!strcmp(cmd, "clear"))
			r = do_name(s, DM_TABLE_CLEAR);
		else if (!strcmp(cmd, "info"))
			r = do_info(s);
		else if (!strcmp(cmd, "message"))
			r = do_message(s);
		else if (!strcmp(cmd, "create"))
			r = do_create(s);
		else if (!strcmp(cmd, "remove"))
			r = do_name(s, DM_DEV_REMOVE);
		else if (!strcmp(cmd, "resume"))
			r = do_name(s, DM_DEV_SUSPEND); /* without DM_SUSPEND_FLAG: resume */
		else if (!strcmp(cmd, "type"))
			r = do_type(s);
		else if (!strcmp(cmd, "write"))
			r = do_io(s, 0);
		else if (!strcmp(cmd, "verify"))
			r = do_io(s, 1);
		if (r)
			printf("bad request\n");
		fflush(stdout);
	}
	free(line);
	close(ctl);
	return 0;
}
