/*
 * unit_layout — the layout (src/layout.c) through vfs on a real LMDB store
 * with a file:// data tier, against a model held in memory: random writes
 * of every size (small buffers, so many flushes, packed objects and
 * compactions), truncates, holes punched, ranges zeroed and allocated,
 * copy_file_range to a second file; after each step the files read back
 * as the model says.  Then: fsck's data check is clean, gc leaves exactly
 * the referenced objects, and a corrupt record or a missing object is EIO.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "layout.h"
#include "store.h"
#include "test.h"
#include "vfs.h"

#define SPAN (40u << 20) /* bytes the random operations touch */

static struct vfs *v;
static struct meta *m;
static struct vfs_ctx root_ctx = {0, 0, 1, 0, {0}};
static uint8_t *model[2], *buf;
static uint64_t msize[2];
static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 1;
}

static uint64_t rnd_off(void)
{
	uint64_t r = ((uint64_t)rnd() << 16) ^ rnd();
	return r % SPAN;
}

/* The whole file reads as the model. */
static int same(struct vfs_file *f, int i)
{
	struct stat st;
	if (vfs_getattr(v, 0, &st), 0)
		return 0;
	ssize_t n = vfs_read(v, f, (char *)buf, SPAN + (4u << 20), 0);
	if (n < 0 || (uint64_t)n != msize[i]) {
		fprintf(stderr, "file %d: read %zd, size %llu\n", i, n,
			(unsigned long long)msize[i]);
		return 0;
	}
	for (uint64_t k = 0; k < msize[i]; k++)
		if (buf[k] != model[i][k]) {
			fprintf(stderr, "file %d: byte %llu is %u, want %u\n", i,
				(unsigned long long)k, buf[k], model[i][k]);
			return 0;
		}
	return 1;
}

/* The same, read as a sequential reader does (128 KiB at a time: the
 * read-ahead path). */
static int same_seq(struct vfs_file *f, int i)
{
	for (uint64_t off = 0; off < msize[i]; off += 128 << 10) {
		ssize_t n = vfs_read(v, f, (char *)buf, 128 << 10, (off_t)off);
		uint64_t want = msize[i] - off < (128 << 10) ? msize[i] - off
							     : 128 << 10;
		if (n != (ssize_t)want || memcmp(buf, model[i] + off, want)) {
			fprintf(stderr, "file %d: sequential read at %llu differs\n",
				i, (unsigned long long)off);
			return 0;
		}
	}
	return 1;
}

static void model_size(int i, uint64_t size)
{
	if (size < msize[i])
		memset(model[i] + size, 0, msize[i] - size);
	msize[i] = size;
}

static unsigned count_objects(const char *dir)
{
	unsigned n = 0;
	char path[512];
	for (int h = 0; h < 256; h++) {
		snprintf(path, sizeof(path), "%s/%02x", dir, h);
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.')
				n++;
		if (d)
			closedir(d);
	}
	return n;
}

struct poke {
	uint64_t ino;
};

static int corrupt_txn(struct store_txn *t, void *arg)
{
	struct poke *p = arg;
	uint8_t col[8];
	store_be64(col, 0);
	return store_put(t, STORE_LAYOUT, p->ino, col, 8, "garbage", 7);
}

struct slices {
	uint64_t ino;
	uint32_t n, base;
};

/* The slice count and compaction base of chunk 0 (layout.c's header). */
static int slices_txn(struct store_txn *t, void *arg)
{
	struct slices *sl = arg;
	uint8_t col[8];
	const void *v;
	size_t len;
	store_be64(col, 0);
	int r = store_get(t, STORE_LAYOUT, sl->ino, col, 8, &v, &len);
	if (r < 0)
		return r;
	const uint8_t *p = v;
	sl->n = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	sl->base = (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15];
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/unit_layout.XXXXXX", url[300], durl[320], err[512];
	char objdir[300];
	struct store *s;
	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "lmdb://%s/store", dir);
	snprintf(objdir, sizeof(objdir), "%s/objects", dir);
	snprintf(durl, sizeof(durl), "file://%s", objdir);
	struct data *d;
	struct data_opts dopt = {0};
	if (store_open(url, STORE_CREATE, &s, err, sizeof(err)) ||
	    data_open(durl, &dopt, &d, err, sizeof(err)) ||
	    data_prepare(d, err, sizeof(err)) ||
	    meta_mkfs_data(s, 4096, 0, 0, durl, err, sizeof(err)) ||
	    meta_open(s, &m, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	data_close(d);
	/* 256 KiB of buffer per file: many flushes */
	struct vfs_options o = {256 << 10, 4 << 20};
	CHECK_EQ(vfs_new(m, NULL, &o, &v), 0);
	for (int i = 0; i < 2; i++)
		model[i] = calloc(1, SPAN + (4u << 20));
	buf = malloc(SPAN + (4u << 20));
	uint8_t *src = malloc(1 << 20);

	struct vfs_entry e[2];
	struct vfs_file *f[2];
	CHECK_EQ(vfs_create(v, &root_ctx, 1, "a", 0644, O_RDWR, &e[0], &f[0]), 0);
	CHECK_EQ(vfs_create(v, &root_ctx, 1, "b", 0644, O_RDWR, &e[1], &f[1]), 0);

	int bad_steps = 0;
	for (int step = 0; step < 400; step++) {
		uint32_t op = rnd() % 100;
		int i = rnd() % 2;
		uint64_t off = rnd_off();
		size_t len;
		switch (rnd() % 4) {
		case 0: len = 1 + rnd() % 64; break;
		case 1: len = 4096; off &= ~4095ull; break;
		case 2: len = 1 + rnd() % (300 << 10); break;
		default: len = 1 + rnd() % (1 << 20); break;
		}
		if (off + len > SPAN)
			len = SPAN - off;
		int r = 0;
		if (op < 70) { /* write */
			for (size_t k = 0; k < len; k++)
				src[k] = (uint8_t)rnd();
			r = vfs_write(v, &root_ctx, f[i], (char *)src, len, (off_t)off) ==
					    (ssize_t)len ? 0 : -1;
			memcpy(model[i] + off, src, len);
			if (off + len > msize[i])
				msize[i] = off + len;
		} else if (op < 76) { /* truncate */
			struct stat st = {.st_size = (off_t)off};
			r = vfs_setattr(v, &root_ctx, e[i].ino, &st, VFS_SET_SIZE, NULL);
			model_size(i, off);
		} else if (op < 82) { /* punch */
			r = vfs_fallocate(v, &root_ctx, f[i], FALLOC_FL_PUNCH_HOLE |
					  FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
			if (off < msize[i])
				memset(model[i] + off, 0,
				       (off + len < msize[i] ? off + len : msize[i]) - off);
		} else if (op < 88) { /* zero range (grows the size) */
			r = vfs_fallocate(v, &root_ctx, f[i], FALLOC_FL_ZERO_RANGE, (off_t)off,
					  (off_t)len);
			memset(model[i] + off, 0, len);
			if (off + len > msize[i])
				msize[i] = off + len;
		} else if (op < 92) { /* allocate (keeps data) */
			r = vfs_fallocate(v, &root_ctx, f[i], 0, (off_t)off, (off_t)len);
			if (off + len > msize[i])
				msize[i] = off + len;
		} else { /* copy a range of one file into the other */
			uint64_t off2 = rnd_off();
			if (off2 + len > SPAN)
				len = SPAN - off2;
			ssize_t n = vfs_copy_range(v, &root_ctx, f[i], (off_t)off, f[1 - i],
						   (off_t)off2, len);
			uint64_t want = off < msize[i] ? (msize[i] - off < len
							  ? msize[i] - off : len) : 0;
			r = n == (ssize_t)want ? 0 : -1;
			if (want) {
				memcpy(model[1 - i] + off2, model[i] + off, want);
				if (off2 + want > msize[1 - i])
					msize[1 - i] = off2 + want;
			}
		}
		if (r < 0) {
			bad_steps++;
			fprintf(stderr, "step %d op %u failed\n", step, op);
		}
		if (step % 40 == 39) {
			CHECK(same(f[0], 0), "file a after step %d", step);
			CHECK(same(f[1], 1), "file b after step %d", step);
			CHECK(same_seq(f[step % 80 == 39], step % 80 == 39),
			      "sequential reads after step %d", step);
		}
	}
	CHECK_EQ(bad_steps, 0);
	/* many small writes into one chunk: compacted when 256 slices more
	 * than the last compaction left have gathered */
	for (int k = 0; k < 2400; k++) {
		uint64_t off = rnd() % (1u << 20);
		for (size_t q = 0; q < 100; q++)
			src[q] = (uint8_t)rnd();
		CHECK_EQ(vfs_write(v, &root_ctx, f[0], (char *)src, 100, (off_t)off), 100);
		memcpy(model[0] + off, src, 100);
		if (off + 100 > msize[0])
			msize[0] = off + 100;
		if (k % 2)
			CHECK_EQ(vfs_flush(v, f[0], 0), 0);
	}
	struct slices sl = {e[0].ino};
	CHECK_EQ(meta_read(m, slices_txn, &sl), 0);
	/* (the runs are mostly apart, so compaction keeps one slice each) */
	CHECK(sl.base > 0, "chunk 0 was compacted (base %u)", sl.base);
	CHECK(sl.n <= sl.base + LAYOUT_COMPACT_SLICES + 2,
	      "chunk 0 holds %u slices, %u after its last compaction", sl.n,
	      sl.base);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(vfs_flush(v, f[i], 0), 0);
		CHECK(same(f[i], i), "file %d at the end", i);
	}

	/* the references match the layout; gc leaves only what is used */
	struct layout *l;
	CHECK_EQ(layout_open(m, durl, NULL, &l, err, sizeof(err)), 0);
	struct layout_gc_report g;
	CHECK_EQ(layout_gc(l, 1, 0, &g), 0);
	CHECK_EQ(layout_check(l, 0, &g), 0);
	CHECK_EQ(g.bad_refs, 0);
	CHECK_EQ(g.missing, 0);
	CHECK_EQ(g.leaked, 0);
	CHECK_EQ(count_objects(objdir), g.objects);
	/* few objects for what was written: packing and compaction */
	CHECK(g.objects < 1000, "%llu objects", (unsigned long long)g.objects);

	/* unlink both: every object goes */
	CHECK_EQ(vfs_release(v, f[1], 0), 0);
	CHECK_EQ(vfs_unlink(v, 1, "b"), 0);
	vfs_forget(v, e[1].ino, 1);
	/* a corrupt record is EIO, not garbage bytes */
	struct poke p = {e[0].ino};
	CHECK_EQ(meta_write(m, corrupt_txn, &p), 0);
	CHECK_EQ(vfs_read(v, f[0], (char *)buf, 4096, 0), -EIO);
	CHECK_EQ(vfs_release(v, f[0], 0), 0);
	CHECK_EQ(vfs_unlink(v, 1, "a"), 0);
	vfs_forget(v, e[0].ino, 1);
	/* the corrupt record's objects keep their counts: fsck --repair
	 * sets them from the records there are, then gc deletes them */
	CHECK_EQ(layout_gc(l, 1, 0, &g), 0);
	CHECK(g.objects > 0, "the corrupt record's objects stay referenced");
	CHECK_EQ(layout_check(l, 1, &g), 0);
	CHECK(g.bad_refs > 0, "fsck sees the counts no record backs");
	CHECK_EQ(layout_gc(l, 1, 0, &g), 0);
	CHECK_EQ(g.objects, 0);
	CHECK_EQ(count_objects(objdir), 0);

	/* a missing object is EIO */
	struct vfs_file *fc;
	struct vfs_entry ec;
	CHECK_EQ(vfs_create(v, &root_ctx, 1, "c", 0644, O_RDWR, &ec, &fc), 0);
	CHECK_EQ(vfs_write(v, &root_ctx, fc, "hello", 5, 0), 5);
	CHECK_EQ(vfs_flush(v, fc, 0), 0);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "find %s -type f -delete", objdir);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(vfs_read(v, fc, (char *)buf, 5, 0), -EIO);
	CHECK_EQ(layout_check(l, 0, &g), 0);
	CHECK_EQ(g.missing, 1);
	CHECK_EQ(vfs_release(v, fc, 0), 0);
	layout_close(l);

	vfs_free(v);
	meta_close(m);
	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return test_done();
}
