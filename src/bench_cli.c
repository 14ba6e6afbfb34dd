/*
 * bench_cli.c — `cassafs bench MOUNTPOINT`: a quick throughput and
 * metadata check of a mounted filesystem (like `juicefs bench`), through
 * the ordinary system calls, in a scratch directory it removes afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <mntent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char bench_usage[] =
	"usage: cassafs bench [--big SIZE] [--small SIZE] [--files N] MOUNTPOINT\n"
	"\n"
	"Measure a mounted filesystem in a scratch directory (removed at the\n"
	"end): write and read one big file (1 MiB requests, fsync after\n"
	"writing, page cache dropped before reading), write and read N small\n"
	"files, stat, create, rename and unlink N files.  Prints a table.\n"
	"\n"
	"  --big SIZE    the big file (64M; suffixes K, M, G)\n"
	"  --small SIZE  each small file (128K)\n"
	"  --files N     small files and metadata operations (100)\n"
	"  -h, --help    show this help\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	}
	if (*end || v == 0)
		return -1;
	*out = v;
	return 0;
}

/* The filesystem type of the mount holding path, from /proc/mounts. */
static void mount_type(const char *path, char *out, size_t len)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *e;
	size_t best = 0;
	snprintf(out, len, "?");
	if (!f)
		return;
	while ((e = getmntent(f))) {
		size_t n = strlen(e->mnt_dir);
		if (!strncmp(path, e->mnt_dir, n) &&
		    (path[n] == '/' || path[n] == 0 || n == 1) && n >= best) {
			best = n;
			snprintf(out, len, "%s", e->mnt_type);
		}
	}
	endmntent(f);
}

struct row {
	const char *what, *unit;
	double value, ms_per_op;
};

static int write_file(const char *path, const char *buf, size_t chunk,
		      uint64_t size, int do_fsync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	for (uint64_t done = 0; done < size;) {
		size_t n = size - done < chunk ? (size_t)(size - done) : chunk;
		ssize_t w = write(fd, buf, n);
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			return -e;
		}
		done += (uint64_t)w;
	}
	if (do_fsync && fsync(fd) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int read_file(const char *path, char *buf, size_t chunk, uint64_t *total)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n;
	while ((n = read(fd, buf, chunk)) > 0)
		*total += (uint64_t)n;
	int e = n < 0 ? errno : 0;
	close(fd);
	return -e;
}

static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{"big", required_argument, NULL, 'b'},
		{"small", required_argument, NULL, 's'},
		{"files", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	uint64_t big = 64 << 20, small = 128 << 10, files = 100;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		uint64_t *dst = ch == 'b' ? &big : ch == 's' ? &small : &files;
		if (ch == 'h') {
			fputs(bench_usage, stdout);
			return 0;
		}
		if ((ch != 'b' && ch != 's' && ch != 'n') ||
		    parse_bytes(optarg, dst) < 0 || (ch == 'n' && files > 1000000)) {
			if (ch == 'b' || ch == 's' || ch == 'n')
				fprintf(stderr, "cassafs bench: bad value '%s' for --%s\n",
					optarg, ch == 'b' ? "big" : ch == 's' ? "small" : "files");
			else
				fputs(bench_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(bench_usage, stderr);
		return 2;
	}
	char mp[PATH_MAX], dir[PATH_MAX + 64], path[PATH_MAX + 128],
		path2[PATH_MAX + 128], type[64];
	struct stat st;
	if (!realpath(argv[optind], mp) || stat(mp, &st) < 0) {
		fprintf(stderr, "cassafs bench: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "cassafs bench: %s is not a directory\n", mp);
		return 1;
	}
	mount_type(mp, type, sizeof(type));
	snprintf(dir, sizeof(dir), "%s/.cassafs-bench-%d", mp, (int)getpid());
	if (mkdir(dir, 0700) < 0) {
		fprintf(stderr, "cassafs bench: cannot make %s: %s\n", dir, strerror(errno));
		return 1;
	}
	size_t chunk = 1 << 20;
	char *buf = malloc(chunk);
	struct row rows[8];
	int nrows = 0, r = 0;
	const char *failed = NULL;
	if (!buf) {
		rmdir(dir);
		return 1;
	}
	/* incompressible, so that no layer can cheat */
	srandom((unsigned)getpid());
	for (size_t i = 0; i < chunk; i++)
		buf[i] = (char)random();
	printf("cassafs bench %s (%s): big file %llu MiB, %llu small files of "
	       "%llu KiB\n", mp, type, (unsigned long long)(big >> 20),
	       (unsigned long long)files, (unsigned long long)(small >> 10));
	fflush(stdout);

	snprintf(path, sizeof(path), "%s/big", dir);
	double t = now_s();
	if ((r = write_file(path, buf, chunk, big, 1)) < 0) {
		failed = "write the big file";
		goto out;
	}
	t = now_s() - t;
	rows[nrows++] = (struct row){"write big file", "MiB/s",
				     (double)big / (1 << 20) / t,
				     t * 1000 / ((double)big / chunk)};
	drop_cache(path);
	uint64_t got = 0;
	t = now_s();
	if ((r = read_file(path, buf, chunk, &got)) < 0 || got != big) {
		r = r < 0 ? r : -EIO;
		failed = "read the big file back";
		goto out;
	}
	t = now_s() - t;
	rows[nrows++] = (struct row){"read big file", "MiB/s",
				     (double)big / (1 << 20) / t,
				     t * 1000 / ((double)big / chunk)};
	unlink(path);

	t = now_s();
	for (uint64_t i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/small%llu", dir, (unsigned long long)i);
		if ((r = write_file(path, buf, chunk, small, 0)) < 0) {
			failed = "write a small file";
			goto out;
		}
	}
	t = now_s() - t;
	rows[nrows++] = (struct row){"write small files", "files/s",
				     (double)files / t, t * 1000 / (double)files};
	for (uint64_t i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/small%llu", dir, (unsigned long long)i);
		drop_cache(path);
	}
	t = now_s();
	for (uint64_t i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/small%llu", dir, (unsigned long long)i);
		got = 0;
		if ((r = read_file(path, buf, chunk, &got)) < 0 || got != small) {
			r = r < 0 ? r : -EIO;
			failed = "read a small file back";
			goto out;
		}
	}
	t = now_s() - t;
	rows[nrows++] = (struct row){"read small files", "files/s",
				     (double)files / t, t * 1000 / (double)files};
	t = now_s();
	for (uint64_t i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/small%llu", dir, (unsigned long long)i);
		if (stat(path, &st) < 0) {
			r = -errno;
			failed = "stat a file";
			goto out;
		}
	}
	t = now_s() - t;
	rows[nrows++] = (struct row){"stat files", "ops/s", (double)files / t,
				     t * 1000 / (double)files};
	t = now_s();
	for (uint64_t i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/small%llu", dir, (unsigned long long)i);
		snprintf(path2, sizeof(path2), "%s/renamed%llu", dir, (unsigned long long)i);
		if (rename(path, path2) < 0) {
			r = -errno;
			failed = "rename a file";
			goto out;
		}
	}
	t = now_s() - t;
	rows[nrows++] = (struct row){"rename files", "ops/s", (double)files / t,
				     t * 1000 / (double)files};
	t = now_s();
	for (uint64_t i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/renamed%llu", dir, (unsigned long long)i);
		if (unlink(path) < 0) {
			r = -errno;
			failed = "unlink a file";
			goto out;
		}
	}
	t = now_s() - t;
	rows[nrows++] = (struct row){"unlink files", "ops/s", (double)files / t,
				     t * 1000 / (double)files};
	t = now_s();
	for (uint64_t i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/empty%llu", dir, (unsigned long long)i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = -errno;
			failed = "create a file";
			goto out;
		}
		close(fd);
	}
	t = now_s() - t;
	rows[nrows++] = (struct row){"create files", "ops/s", (double)files / t,
				     t * 1000 / (double)files};
out:
	/* leave nothing behind, whatever happened */
	snprintf(path, sizeof(path), "%s/big", dir);
	unlink(path);
	for (uint64_t i = 0; i < files; i++) {
		static const char *const pre[] = {"small", "renamed", "empty"};
		for (int k = 0; k < 3; k++) {
			snprintf(path, sizeof(path), "%s/%s%llu", dir, pre[k],
				 (unsigned long long)i);
			unlink(path);
		}
	}
	rmdir(dir);
	free(buf);
	printf("\n| %-18s | %12s | %-8s | %10s |\n", "test", "result", "unit",
	       "ms per op");
	printf("|--------------------|-------------:|----------|-----------:|\n");
	for (int i = 0; i < nrows; i++)
		printf("| %-18s | %12.1f | %-8s | %10.3f |\n", rows[i].what,
		       rows[i].value, rows[i].unit, rows[i].ms_per_op);
	if (failed) {
		fprintf(stderr, "cassafs bench: could not %s in %s: %s\n", failed,
			dir, strerror(-r));
		return 1;
	}
	return 0;
}
