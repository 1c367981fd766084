// SPDX-License-Identifier: GPL-2.0
/*
 * bc-nowait: single RWF_NOWAIT direct I/Os, each on its own, counting the
 * ones that fail with EAGAIN.
 *
 *   bc-nowait read|write DEV OFFSET COUNT STRIDE BS
 *
 *	COUNT I/Os of BS bytes, at OFFSET, OFFSET + STRIDE, ... of DEV
 *	(opened O_DIRECT), each one preadv2()/pwritev2() with RWF_NOWAIT:
 *	what fio's pvsync2 engine with --nowait=1 makes, without starting
 *	a fio (about 1.5 s under TCG) for each. Writes write a fixed pattern.
 *	Prints how many failed with EAGAIN; exits 0. Any other error or a
 *	short transfer: a message, exit 1; bad arguments: exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static int num(const char *s, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return !*s || *s == '-' || *end || errno ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long long off, count, stride, bs, i, again = 0;
	struct iovec iov;
	int fd, wr;
	void *buf;
	ssize_t r;

	if (argc != 7 || (strcmp(argv[1], "read") && strcmp(argv[1], "write")) ||
	    num(argv[3], &off) || num(argv[4], &count) || num(argv[5], &stride) ||
	    num(argv[6], &bs) || !bs || bs % 512) {
		fprintf(stderr, "usage: bc-nowait read|write DEV OFFSET COUNT STRIDE BS\n");
		return 2;
	}
	wr = !strcmp(argv[1], "write");
	fd = open(argv[2], (wr ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "bc-nowait: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (posix_memalign(&buf, 4096, bs)) {
		fprintf(stderr, "bc-nowait: out of memory\n");
		return 1;
	}
	memset(buf, 0x5a, bs);
	iov.iov_base = buf;
	iov.iov_len = bs;
	for (i = 0; i < count; i++) {
		unsigned long long at = off + i * stride;

		r = wr ? pwritev2(fd, &iov, 1, at, RWF_NOWAIT) : preadv2(fd, &iov, 1, at, RWF_NOWAIT);
		if (r < 0 && errno == EAGAIN) {
			again++;
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "bc-nowait: %s at %llu: %s (errno %d), not EAGAIN\n", argv[1], at,
				strerror(errno), errno);
			return 1;
		}
		if ((unsigned long long)r != bs) {
			fprintf(stderr, "bc-nowait: %s at %llu: %zd bytes of %llu\n", argv[1], at, r, bs);
			return 1;
		}
	}
	printf("%llu\n", again);
	close(fd);
	return 0;
}
