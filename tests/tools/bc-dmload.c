// SPDX-License-Identifier: GPL-2.0
/*
 * bc-dmload: load one table into a device-mapper device with the Nth
 * memory allocation of that load failed, and nothing else.
 *
 *   bc-dmload [-k] [-n N] NAME START LEN TYPE PARAMS
 *
 *	One DM_TABLE_LOAD ioctl (the table goes into NAME's inactive slot;
 *	`dmsetup resume NAME` would make it live), with one target. With
 *	-n N, N is written to /proc/thread-self/fail-nth right before the
 *	ioctl, so the Nth allocation that the fault-injection attributes
 *	(failslab, fail_page_alloc, with their filters) let through during
 *	the load fails; fail-nth is cleared right after. Doing it here, and
 *	not in a shell that then runs dmsetup, counts only the load: not
 *	the exec, the library start-up, or the device creation.
 *
 *	Prints one line: "load ok|failed (ERRNO) counted C injected 0|1",
 *	where C is how many allocations fail-nth counted (N minus what was
 *	left; all of them when none was injected). With -k, the kernel log
 *	records made during the load (read from /dev/kmsg, opened at its end
 *	before the ioctl) that contain "bufcache: Cannot" are counted: the
 *	line goes on with " ctr_errors K" (and " kmsg_lost" if records
 *	were overwritten before they were read), and if K > 0 with " ctr_last: "
 *	and the last one's text from "bufcache: Cannot" on (the target's
 *	constructor error as DM logged it; a shell reading dmesg around each
 *	load cost more than the load). Exits 0 if the load succeeded, 1 if
 *	it failed, 2 on a usage or system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CTR_MARK "bufcache: Cannot"

/*
 * Both file descriptors are opened before fail-nth is set: an open() after
 * it would count (and could fail) allocations of its own.
 */
static int nth_w = -1, nth_r = -1;

static int write_nth(unsigned long n)
{
	char s[32];
	int len;

	len = snprintf(s, sizeof(s), "%lu", n);
	return pwrite(nth_w, s, len, 0) == len ? 0 : -1;
}

static long read_nth(void)
{
	char s[32] = "";
	ssize_t r;

	r = pread(nth_r, s, sizeof(s) - 1, 0);
	if (r <= 0)
		return -1;
	return strtol(s, NULL, 10);
}

/*
 * Reads the records of /dev/kmsg (opened non-blocking at its end) up to
 * now: counts those with CTR_MARK and keeps the last one's text from
 * CTR_MARK to the end of its first line in last.
 */
static int scan_kmsg(int kfd, char *last, size_t lsize, int *lost)
{
	char rec[8192];
	int n = 0;

	for (;;) {
		ssize_t r = read(kfd, rec, sizeof(rec) - 1);
		char *m, *nl;

		if (r < 0 && errno == EPIPE) {
			/* Records overwritten before we read them. */
			*lost = 1;
			continue;
		}
		if (r < 0 && errno == EINVAL)
			continue; /* a record longer than rec: skipped */
		if (r <= 0)
			break;
		rec[r] = 0;
		m = strchr(rec, ';');
		if (!m)
			continue;
		nl = strchr(m, '\n');
		if (nl)
			*nl = 0;
		m = strstr(m, CTR_MARK);
		if (!m)
			continue;
		n++;
		snprintf(last, lsize, "%s", m);
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long nth = 0, start, len;
	struct dm_ioctl *io;
	struct dm_target_spec *spec;
	size_t size, plen;
	long left = 0;
	int c, fd, r, err = 0, kmsg = 0, kfd = -1, nctr = 0, lost = 0;
	char *end, last[512] = "";

	while ((c = getopt(argc, argv, "kn:")) != -1) {
		if (c == 'k') {
			kmsg = 1;
			continue;
		}
		if (c != 'n')
			goto usage;
		nth = strtoul(optarg, &end, 10);
		if (*end || !nth)
			goto usage;
	}
	if (argc - optind != 5)
		goto usage;
	start = strtoul(argv[optind + 1], &end, 10);
	if (*end)
		goto usage;
	len = strtoul(argv[optind + 2], &end, 10);
	if (*end || !len)
		goto usage;
	if (strlen(argv[optind]) >= DM_NAME_LEN ||
	    strlen(argv[optind + 3]) >= DM_MAX_TYPE_NAME)
		goto usage;

	plen = strlen(argv[optind + 4]) + 1;
	size = sizeof(*io) + sizeof(*spec) + ((plen + 7) & ~7UL);
	io = calloc(1, size);
	if (!io) {
		perror("bc-dmload: calloc");
		return 2;
	}
	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = size;
	io->data_start = sizeof(*io);
	io->target_count = 1;
	strcpy(io->name, argv[optind]);
	spec = (struct dm_target_spec *)((char *)io + io->data_start);
	spec->sector_start = start;
	spec->length = len;
	strcpy(spec->target_type, argv[optind + 3]);
	spec->next = 0;
	memcpy(spec + 1, argv[optind + 4], plen);

	fd = open("/dev/mapper/control", O_RDWR);
	if (fd < 0) {
		perror("bc-dmload: /dev/mapper/control");
		return 2;
	}
	if (kmsg) {
		kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
		if (kfd < 0 || lseek(kfd, 0, SEEK_END) < 0) {
			perror("bc-dmload: /dev/kmsg");
			return 2;
		}
	}
	if (nth) {
		nth_w = open("/proc/thread-self/fail-nth", O_WRONLY);
		nth_r = open("/proc/thread-self/fail-nth", O_RDONLY);
		if (nth_w < 0 || nth_r < 0) {
			perror("bc-dmload: /proc/thread-self/fail-nth");
			return 2;
		}
	}
	if (nth && write_nth(nth)) {
		perror("bc-dmload: /proc/thread-self/fail-nth");
		return 2;
	}
	r = ioctl(fd, DM_TABLE_LOAD, io);
	if (r)
		err = errno;
	if (nth) {
		left = read_nth();
		write_nth(0);
		if (left < 0) {
			perror("bc-dmload: reading fail-nth");
			return 2;
		}
	}
	close(fd);
	if (kmsg)
		nctr = scan_kmsg(kfd, last, sizeof(last), &lost);
	/*
	 * fail-nth counts down to 0 and then fails that allocation: 0 left
	 * means the Nth one came (and failed).
	 */
	printf("load %s", r ? "failed" : "ok");
	if (r)
		printf(" (%s)", strerror(err));
	if (nth)
		printf(" counted %lu injected %d", left ? nth - left : nth, left == 0);
	if (kmsg) {
		printf(" ctr_errors %d%s", nctr, lost ? " kmsg_lost" : "");
		if (nctr)
			printf(" ctr_last: %s", last);
	}
	printf("\n");
	free(io);
	return r ? 1 : 0;
usage:
	fprintf(stderr, "usage: bc-dmload [-k] [-n N] NAME START LEN TYPE PARAMS\n");
	return 2;
}
