/*
 * unit_data_cache — the local read cache (src/data_cache.c) on a real
 * directory, and through data.c on a file:// tier: copies read back whole
 * and in ranges; a damaged, truncated or foreign copy is never returned
 * (dropped, a miss); the size bound holds after every fill, least recently
 * used copies going first; the index survives a reopen (and a smaller
 * bound evicts down to it); one process per directory; through the data
 * layer a second read sends no get to the tier, a batch fetches an object
 * once, an object larger than the cache's limit is read uncached, and the
 * store tier refuses a cache; the file engine's batched put stores every
 * object of a batch whole and reports a bad one on its own.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "data_cache.h"
#include "metrics.h"
#include "test.h"

/* paths are under a short mkdtemp name: they never come near the bounds */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static char dir[512];
static uint32_t rnd_state = 7;

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rnd_state = rnd_state * 1103515245u + 12345u;
		p[i] = (uint8_t)(rnd_state >> 16);
	}
}

/* The one copy file in dir other than .lock (the newest if several). */
static int copy_path(char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(out, len, "%s/%s", dir, de->d_name);
			n++;
		}
	if (d)
		closedir(d);
	return n;
}

/* Sum of the sizes of the copies in dir, and their count. */
static uint64_t dir_bytes(int *files)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t sum = 0;
	*files = 0;
	while (d && (de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0))
			continue;
		sum += (uint64_t)st.st_size;
		(*files)++;
	}
	if (d)
		closedir(d);
	return sum;
}

static int reads_back(struct data_cache *c, const char *key, const uint8_t *want,
		      size_t len)
{
	uint8_t *got = malloc(len + 10);
	size_t n = 0;
	int ok = data_cache_get(c, key, 0, got, len + 10, &n) == 0 && n == len &&
		 !memcmp(got, want, len);
	free(got);
	return ok;
}

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	if (fd < 0 || pread(fd, &b, 1, at) != 1)
		return;
	b ^= 0x5a;
	if (pwrite(fd, &b, 1, at) != 1)
		fprintf(stderr, "pwrite failed\n");
	close(fd);
}

static void copies(void)
{
	char err[256], path[512];
	struct data_cache *c = NULL, *c2 = NULL;
	CHECK_EQ(data_cache_open(dir, 4u << 20, &c, err, sizeof(err)), 0);
	size_t len = 300000;
	uint8_t *obj = malloc(len), *buf = malloc(len);
	fill(obj, len);
	size_t got = 1;
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", 0, buf, 10, &got), -ENOENT);
	CHECK_EQ(data_cache_put(c, "fs/0000000000000001", obj, len), 0);
	CHECK(reads_back(c, "fs/0000000000000001", obj, len), "whole copy");
	/* a range across a 64 KiB block boundary, one at the end, one past */
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", 65000, buf, 1000, &got), 0);
	CHECK(got == 1000 && !memcmp(buf, obj + 65000, 1000), "range");
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", len - 5, buf, 100, &got), 0);
	CHECK(got == 5 && !memcmp(buf, obj + len - 5, 5), "short at the end");
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", len + 5, buf, 100, &got), 0);
	CHECK_EQ(got, 0);
	/* same hash name, other key: not this copy (a collision is a miss) */
	CHECK_EQ(data_cache_get(c, "fs/0000000000000002", 0, buf, 10, &got), -ENOENT);
	CHECK_EQ(copy_path(path, sizeof(path)), 1);

	/* one process per directory */
	CHECK_EQ(data_cache_open(dir, 4u << 20, &c2, err, sizeof(err)), -EBUSY);
	CHECK(strstr(err, "another mount") != NULL, "message: %s", err);

	/* damage in the data: dropped, a miss, never returned */
	struct stat st;
	stat(path, &st);
	flip_byte(path, st.st_size - 70000);
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", 0, buf, len, &got), -ENOENT);
	CHECK_ERRNO(stat(path, &st), ENOENT);
	struct data_cache_stats s;
	data_cache_stats(c, &s);
	CHECK_EQ(s.dropped, 1);
	CHECK_EQ(s.files, 0);
	/* a read checks the blocks it touches: damage in the last block
	 * leaves the first readable, and the last is a miss */
	CHECK_EQ(data_cache_put(c, "fs/0000000000000001", obj, len), 0);
	stat(path, &st);
	flip_byte(path, st.st_size - 1);
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", 0, buf, 1000, &got), 0);
	CHECK(got == 1000 && !memcmp(buf, obj, 1000), "undamaged block");
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", len - 10, buf, 10, &got), -ENOENT);
	/* truncated by a byte */
	CHECK_EQ(data_cache_put(c, "fs/0000000000000001", obj, len), 0);
	CHECK_OK(truncate(path, len));
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", 0, buf, 10, &got), -ENOENT);
	CHECK_ERRNO(stat(path, &st), ENOENT);
	/* damaged header (the key) */
	CHECK_EQ(data_cache_put(c, "fs/0000000000000001", obj, len), 0);
	flip_byte(path, 22);
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", 0, buf, 10, &got), -ENOENT);
	CHECK_ERRNO(stat(path, &st), ENOENT);
	/* removed from outside: a miss */
	CHECK_EQ(data_cache_put(c, "fs/0000000000000001", obj, len), 0);
	unlink(path);
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", 0, buf, 10, &got), -ENOENT);
	/* an empty object */
	CHECK_EQ(data_cache_put(c, "fs/empty", obj, 0), 0);
	got = 9;
	CHECK_EQ(data_cache_get(c, "fs/empty", 0, buf, 10, &got), 0);
	CHECK_EQ(got, 0);
	data_cache_drop(c, "fs/empty");
	CHECK_EQ(data_cache_get(c, "fs/empty", 0, buf, 10, &got), -ENOENT);
	/* too big for the cache */
	CHECK_EQ(data_cache_put(c, "fs/big", obj, DATA_CACHE_OBJECT_MAX + 1), -EFBIG);
	data_cache_stats(c, &s);
	CHECK_EQ(s.files, 0);
	data_cache_close(c);
	free(obj);
	free(buf);
}

struct filler {
	struct data_cache *c;
	const uint8_t *obj;
};

static void *fill_later(void *arg)
{
	struct filler *f = arg;
	usleep(200 * 1000);
	data_cache_put(f->c, "fs/claimed", f->obj, 5000);
	return NULL;
}

/* Claims: one reader fetches an object, the others wait for its copy. */
static void claims(void)
{
	char err[256];
	struct data_cache *c = NULL;
	CHECK_EQ(data_cache_open(dir, 4u << 20, &c, err, sizeof(err)), 0);
	uint8_t obj[5000], buf[5000];
	size_t got;
	fill(obj, sizeof(obj));
	CHECK_EQ(data_cache_claim(c, "fs/claimed"), 1);
	CHECK_EQ(data_cache_claim(c, "fs/claimed"), 0);
	CHECK_EQ(data_cache_get(c, "fs/claimed", 0, buf, 10, &got), -ENOENT);
	data_cache_release(c, "fs/claimed");
	CHECK_EQ(data_cache_claim(c, "fs/claimed"), 1);
	struct filler f = {c, obj};
	pthread_t t;
	pthread_create(&t, NULL, fill_later, &f);
	uint64_t t0 = metrics_now_ns();
	data_cache_wait(c, "fs/claimed", 10);
	uint64_t waited = metrics_now_ns() - t0;
	CHECK(waited >= 150000000ull && waited < 5000000000ull, "waited %llu ns",
	      (unsigned long long)waited);
	CHECK_EQ(data_cache_get(c, "fs/claimed", 0, buf, sizeof(buf), &got), 0);
	CHECK(got == sizeof(obj) && !memcmp(buf, obj, got), "the claimed copy");
	pthread_join(t, NULL);
	/* nobody holds a claim: no wait */
	t0 = metrics_now_ns();
	data_cache_wait(c, "fs/claimed", 10);
	CHECK(metrics_now_ns() - t0 < 100000000ull, "no wait");
	/* a claim given up wakes the waiter too */
	CHECK_EQ(data_cache_claim(c, "fs/other"), 1);
	data_cache_release(c, "fs/other");
	data_cache_wait(c, "fs/other", 10);
	CHECK_EQ(data_cache_get(c, "fs/other", 0, buf, 10, &got), -ENOENT);
	data_cache_drop(c, "fs/claimed");
	struct data_cache_stats s;
	data_cache_stats(c, &s);
	CHECK_EQ(s.files, 0);
	CHECK_EQ(s.bytes, 0);
	data_cache_close(c);
}

static void bound_and_reopen(void)
{
	char err[256], key[64];
	struct data_cache *c = NULL;
	uint64_t max = 2u << 20;
	CHECK_EQ(data_cache_open(dir, max, &c, err, sizeof(err)), 0);
	size_t len = 256u << 10;
	uint8_t *obj = malloc(len), *buf = malloc(len);
	int files, over = 0;
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "fs/%016d", i);
		obj[0] = (uint8_t)i;
		CHECK_EQ(data_cache_put(c, key, obj, len), 0);
		if (dir_bytes(&files) > max)
			over++;
		/* keep object 0 in use: it must outlive the others */
		size_t got;
		CHECK_EQ(data_cache_get(c, "fs/0000000000000000", 0, buf, 1, &got), 0);
	}
	CHECK_EQ(over, 0);
	struct data_cache_stats s;
	data_cache_stats(c, &s);
	CHECK(s.bytes <= max && s.files >= 6 && s.files <= 8, "%llu bytes, %llu files",
	      (unsigned long long)s.bytes, (unsigned long long)s.files);
	CHECK(s.evictions >= 12, "%llu evictions", (unsigned long long)s.evictions);
	CHECK_EQ(dir_bytes(&files) <= max, 1);
	CHECK_EQ((uint64_t)files, s.files);
	size_t got;
	CHECK_EQ(data_cache_get(c, "fs/0000000000000000", 0, buf, len, &got), 0);
	CHECK(got == len && buf[0] == 0, "the copy in use survived");
	CHECK_EQ(data_cache_get(c, "fs/0000000000000001", 0, buf, len, &got), -ENOENT);
	CHECK_EQ(data_cache_get(c, "fs/0000000000000019", 0, buf, len, &got), 0);
	CHECK(got == len && buf[0] == 19, "the newest copy is there");
	uint64_t held = s.files;
	data_cache_close(c);

	/* a crash's temporary file is removed at open; the copies stay */
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s/.tmp.0123456789abcdef.1.1", dir);
	close(open(tmp, O_CREAT | O_WRONLY, 0600));
	CHECK_EQ(data_cache_open(dir, max, &c, err, sizeof(err)), 0);
	struct stat st;
	CHECK_ERRNO(stat(tmp, &st), ENOENT);
	data_cache_stats(c, &s);
	CHECK_EQ(s.files, held);
	CHECK_EQ(data_cache_get(c, "fs/0000000000000019", 0, buf, len, &got), 0);
	CHECK(got == len && buf[0] == 19, "read after reopen");
	data_cache_close(c);
	/* a smaller bound: evicted down to it at open */
	CHECK_EQ(data_cache_open(dir, 1u << 20, &c, err, sizeof(err)), 0);
	data_cache_stats(c, &s);
	CHECK(s.bytes <= (1u << 20) && s.files <= 3, "%llu bytes",
	      (unsigned long long)s.bytes);
	CHECK_EQ(dir_bytes(&files) <= (1u << 20), 1);
	CHECK_EQ((uint64_t)files, s.files);
	data_cache_close(c);
	free(obj);
	free(buf);
}

static uint64_t counter(enum metrics_counter k)
{
	static struct metrics_snapshot snap;
	metrics_snapshot(&snap);
	return snap.counter[k];
}

static void through_data(void)
{
	char err[512], url[600], cdir[600];
	snprintf(url, sizeof(url), "file://%s/tier", dir);
	snprintf(cdir, sizeof(cdir), "%s/cache2", dir);
	struct data_opts o = {.cache_dir = cdir, .cache_size = 64u << 20};
	struct data *d = NULL;
	CHECK_EQ(data_open(url, &o, &d, err, sizeof(err)), 0);
	if (!d)
		return;
	CHECK_EQ(data_prepare(d, err, sizeof(err)), 0);
	size_t len = 3u << 20, blen = (4u << 20) + 4096;
	uint8_t *obj = malloc(blen), *buf = malloc(blen);
	fill(obj, blen);
	CHECK_EQ(data_put(d, "fs/0000000000000010", obj, len), 0);
	CHECK_EQ(data_put(d, "fs/0000000000000011", obj, blen), 0);
	size_t got;
	uint64_t g0 = counter(MC_DATA_GETS);
	CHECK_EQ(data_get(d, "fs/0000000000000010", 1000, buf, 5000, &got), 0);
	CHECK(got == 5000 && !memcmp(buf, obj + 1000, 5000), "first read");
	CHECK_EQ(counter(MC_DATA_GETS) - g0, 1);
	CHECK_EQ(data_get(d, "fs/0000000000000010", 2u << 20, buf, 2u << 20, &got), 0);
	CHECK(got == (1u << 20) && !memcmp(buf, obj + (2u << 20), got), "second read");
	CHECK_EQ(counter(MC_DATA_GETS) - g0, 1);
	/* a batch of three ranges of an uncached object: one get */
	data_del(d, "fs/0000000000000010"); /* also drops the copy */
	CHECK_EQ(data_put(d, "fs/0000000000000012", obj, len), 0);
	uint8_t *b3 = malloc(3 * 4096);
	struct data_io io[3] = {
		{"fs/0000000000000012", b3, 4096, 0, 0, 0},
		{"fs/0000000000000012", b3 + 4096, 4096, 1u << 20, 0, 0},
		{"fs/0000000000000012", b3 + 8192, 4096, len - 100, 0, 0},
	};
	g0 = counter(MC_DATA_GETS);
	CHECK_EQ(data_get_batch(d, io, 3), 0);
	CHECK_EQ(counter(MC_DATA_GETS) - g0, 1);
	CHECK(io[0].got == 4096 && !memcmp(b3, obj, 4096) && io[1].got == 4096 &&
	      !memcmp(b3 + 4096, obj + (1u << 20), 4096) && io[2].got == 100 &&
	      !memcmp(b3 + 8192, obj + len - 100, 100), "batch ranges");
	/* a deleted object's copy is gone: ENOENT from the tier */
	data_del(d, "fs/0000000000000012");
	CHECK_EQ(data_get(d, "fs/0000000000000012", 0, buf, 10, &got), -ENOENT);
	/* larger than the cache takes: read as asked, right bytes, uncached */
	CHECK_EQ(data_get(d, "fs/0000000000000011", blen - 8192, buf, 8192, &got), 0);
	CHECK(got == 8192 && !memcmp(buf, obj + blen - 8192, 8192), "big object end");
	CHECK_EQ(data_get(d, "fs/0000000000000011", 10, buf, 100, &got), 0);
	CHECK(got == 100 && !memcmp(buf, obj + 10, 100), "big object start");
	g0 = counter(MC_DATA_GETS);
	CHECK_EQ(data_get(d, "fs/0000000000000011", 10, buf, 100, &got), 0);
	CHECK_EQ(counter(MC_DATA_GETS) - g0, 1);
	CHECK_EQ(data_get(d, "fs/missing", 0, buf, 10, &got), -ENOENT);
	data_close(d);
	free(b3);

	/* the store tier keeps objects in the metadata store: refused */
	d = NULL;
	CHECK_EQ(data_open("store", &o, &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "cache_dir") != NULL, "message: %s", err);
	free(obj);
	free(buf);
}

/* Count the files whose name starts with ".tmp." under the tier dir t. */
static int tmp_files(const char *t)
{
	int n = 0;
	for (unsigned h = 0; h < 256; h++) {
		char p[700];
		snprintf(p, sizeof(p), "%s/%02x", t, h);
		DIR *dd = opendir(p);
		if (!dd)
			continue;
		struct dirent *e;
		while ((e = readdir(dd)))
			n += !strncmp(e->d_name, ".tmp.", 5);
		closedir(dd);
	}
	return n;
}

/* The file engine's batched put (steps over all of a batch's objects):
 * more objects than one group, one bad key among them: the others are
 * stored whole, the bad one's result is its own, no temporary is left. */
static void file_put_batch(void)
{
	char err[512], url[600], t[600];
	snprintf(t, sizeof(t), "%s/batch", dir);
	snprintf(url, sizeof(url), "file://%s", t);
	struct data_opts o = {0};
	struct data *d = NULL;
	CHECK_EQ(data_open(url, &o, &d, err, sizeof(err)), 0);
	if (!d)
		return;
	CHECK_EQ(data_prepare(d, err, sizeof(err)), 0);
	enum { N = 11, LEN = 100000 };
	uint8_t *obj = malloc(N * LEN), *buf = malloc(LEN);
	fill(obj, N * LEN);
	char keys[N][32];
	struct data_io io[N];
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), i == 9 ? "fs/bad key %d" : "fs/%016d", i);
		io[i] = (struct data_io){keys[i], obj + i * LEN, LEN - i, 0, 0, 0};
	}
	CHECK_EQ(data_put_batch(d, io, N), -EINVAL);
	size_t got;
	for (int i = 0; i < N; i++) {
		CHECK_EQ(io[i].res, i == 9 ? -EINVAL : 0);
		if (i == 9)
			continue;
		CHECK_EQ(data_get(d, keys[i], 0, buf, LEN, &got), 0);
		CHECK(got == (size_t)(LEN - i) && !memcmp(buf, obj + i * LEN, got),
		      "object %d read back", i);
	}
	/* a put over an object replaces it whole */
	io[0].buf = obj + LEN;
	CHECK_EQ(data_put_batch(d, io, 1), 0);
	CHECK_EQ(data_get(d, keys[0], 0, buf, LEN, &got), 0);
	CHECK(got == LEN && !memcmp(buf, obj + LEN, LEN), "replaced object");
	CHECK_EQ(tmp_files(t), 0);
	data_close(d);
	free(obj);
	free(buf);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/unit_data_cache.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/c", dir);
	char top[512];
	snprintf(top, sizeof(top), "%s", dir);
	snprintf(dir, sizeof(dir), "%s", sub);
	copies();
	claims();
	bound_and_reopen();
	snprintf(dir, sizeof(dir), "%s", top);
	through_data();
	file_put_batch();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	if (system(cmd))
		fprintf(stderr, "cleanup failed\n");
	return test_done();
}
