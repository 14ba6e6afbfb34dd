/*
 * crash_load — a write-heavy load for the crash test, and its checker.
 *
 *   crash_load run DIR JOURNAL SEED   write until killed
 *   crash_load check DIR JOURNAL      verify every fsync'ed file
 *
 * "run" writes generations of files DIR/g<N> (size and content derived
 * from N), in several pwrite() calls at varied offsets, then fsync()s
 * the file and only then appends "W <N>" to JOURNAL (outside the mount,
 * itself fsync'ed).  It also unlinks old generations (journalled "D <N>"
 * after unlink returns), renames, makes and removes directories, and
 * keeps one unlinked file open and written, so the daemon dies with
 * orphans and half-done buffers.  "check" demands that every file
 * journalled as written and not as deleted exists with exactly its
 * content.  Prints "RESULT p passed, f failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define MAX_GEN 100000

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static size_t gen_size(uint64_t n)
{
	/* 0 .. ~400 KiB, crossing 64 KiB blocks, some tiny */
	uint64_t h = mix(n * 7 + 1);
	return (h & 3) == 0 ? (size_t)(h >> 8) % 100 : (size_t)(h >> 8) % 409600;
}

static void gen_fill(uint64_t n, uint8_t *buf, size_t len)
{
	uint64_t st = mix(n + 0x1234);
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			st = mix(st + i);
		buf[i] = (uint8_t)(st >> (8 * (i % 8)));
	}
}

static void journal(int jfd, char kind, uint64_t n)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%c %llu\n", kind,
			   (unsigned long long)n);
	if (write(jfd, line, (size_t)len) != len || fsync(jfd) < 0) {
		perror("journal");
		exit(3);
	}
}

static int write_gen(const char *dir, uint64_t n)
{
	char path[4096];
	size_t size = gen_size(n);
	uint8_t *buf = malloc(size + 1);
	snprintf(path, sizeof(path), "%s/g%llu", dir, (unsigned long long)n);
	gen_fill(n, buf, size);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		return -1;
	/* Write the second half first, then the first: exercises holes and
	 * read-modify-write of partial blocks. */
	size_t half = size / 2 + (mix(n) % 4096);
	if (half > size)
		half = size;
	if (pwrite(fd, buf + half, size - half, (off_t)half) != (ssize_t)(size - half) ||
	    pwrite(fd, buf, half, 0) != (ssize_t)half || fsync(fd) < 0) {
		close(fd);
		free(buf);
		return -1;
	}
	free(buf);
	return close(fd);
}

static int run(const char *dir, const char *jpath, uint64_t seed)
{
	int jfd = open(jpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (jfd < 0) {
		perror(jpath);
		return 3;
	}
	char path[4096], path2[4096];
	snprintf(path, sizeof(path), "%s/orphan-%llu", dir, (unsigned long long)seed);
	int ofd = open(path, O_CREAT | O_RDWR, 0644);
	if (ofd >= 0)
		unlink(path);
	uint64_t base = seed * MAX_GEN;
	for (uint64_t i = 0; i < MAX_GEN; i++) {
		uint64_t n = base + i;
		if (write_gen(dir, n) < 0) {
			perror("write");
			return 3;
		}
		journal(jfd, 'W', n);
		if (i >= 3 && i % 2) {
			snprintf(path, sizeof(path), "%s/g%llu", dir,
				 (unsigned long long)(n - 3));
			if (unlink(path) == 0)
				journal(jfd, 'D', n - 3);
		}
		/* metadata churn that is never fsync'ed */
		snprintf(path, sizeof(path), "%s/d%llu", dir, (unsigned long long)(i % 7));
		snprintf(path2, sizeof(path2), "%s/e%llu", dir, (unsigned long long)(i % 5));
		if (mkdir(path, 0755) == 0)
			rename(path, path2) == 0 ? (void)rmdir(path2) : (void)rmdir(path);
		if (ofd >= 0) {
			char b[8192];
			memset(b, (int)i, sizeof(b));
			if (pwrite(ofd, b, sizeof(b), (off_t)((i % 64) * sizeof(b))) < 0)
				perror("orphan write");
		}
	}
	return 0;
}

static int check(const char *dir, const char *jpath)
{
	FILE *j = fopen(jpath, "r");
	if (!j) {
		perror(jpath);
		return 3;
	}
	/* Latest state per generation: 1 written, 2 deleted. */
	size_t cap = 1024, n = 0;
	struct rec {
		uint64_t gen;
		int state;
	} *recs = malloc(cap * sizeof(*recs));
	char kind;
	unsigned long long g;
	while (fscanf(j, " %c %llu", &kind, &g) == 2) {
		if (kind == 'W') {
			if (n == cap)
				recs = realloc(recs, (cap *= 2) * sizeof(*recs));
			recs[n].gen = g;
			recs[n++].state = 1;
		} else {
			for (size_t i = n; i-- > 0;)
				if (recs[i].gen == g) {
					recs[i].state = 2;
					break;
				}
		}
	}
	fclose(j);
	size_t checked = 0;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].state != 1)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/g%llu", dir,
			 (unsigned long long)recs[i].gen);
		size_t size = gen_size(recs[i].gen);
		uint8_t *want = malloc(size + 1), *got = malloc(size + 2);
		gen_fill(recs[i].gen, want, size);
		int fd = open(path, O_RDONLY);
		CHECK(fd >= 0, "fsync'ed file %s is missing: %s", path, strerror(errno));
		if (fd >= 0) {
			ssize_t r = read(fd, got, size + 1);
			ssize_t r2 = r == (ssize_t)size + 1 ? r : 0;
			while (r >= 0 && (size_t)r < size) {
				ssize_t m = read(fd, got + r, size + 1 - (size_t)r);
				if (m <= 0)
					break;
				r += m;
			}
			CHECK(r == (ssize_t)size && r2 == 0,
			      "%s: size %zd, want %zu", path, r, size);
			CHECK(r != (ssize_t)size || !memcmp(want, got, size),
			      "%s: content differs from what was fsync'ed", path);
			close(fd);
		}
		free(want);
		free(got);
		checked++;
	}
	printf("checked %zu fsync'ed files\n", checked);
	free(recs);
	return test_done();
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "run"))
		return run(argv[2], argv[3], strtoull(argv[4], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check(argv[2], argv[3]);
	fprintf(stderr, "usage: crash_load run DIR JOURNAL SEED | check DIR JOURNAL\n");
	return 2;
}
