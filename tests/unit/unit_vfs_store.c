/*
 * unit_vfs_store — the vfs against a store it cannot trust or must drain,
 * called directly (no FUSE) on a real LMDB store:
 *   - a stored block longer than the block size (a corrupt store) gives
 *     EIO and a log line on every path that reads it — read, a partial
 *     write that loads the block, a flush that merges it — never a heap
 *     overflow;
 *   - vfs_flush_all (unmount) writes every dirty file, also when more than
 *     256 of them share one bucket of the vnode table.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "meta.h"
#include "store.h"
#include "test.h"
#include "vfs.h"

#define BS 4096
static struct vfs *v;
static struct meta *m;
static struct vfs_ctx root_ctx = {0, 0, 1, 0, {0}};

struct poke {
	uint64_t ino, idx;
	size_t len;
};

/* Write a block value of any length straight into the store. */
static int poke_txn(struct store_txn *t, void *arg)
{
	struct poke *p = arg;
	uint8_t col[8];
	store_be64(col, p->idx);
	char *val = malloc(p->len);
	if (!val)
		return -ENOMEM;
	memset(val, 'Z', p->len);
	int r = store_put(t, STORE_BLOCK, p->ino, col, 8, val, p->len);
	free(val);
	return r;
}

struct make_file {
	uint64_t ino;
	char name[32];
};

/* A regular file with a chosen inode number, in the root directory. */
static int make_file_txn(struct store_txn *t, void *arg)
{
	struct make_file *f = arg;
	struct meta_inode in = {.ino = f->ino, .mode = S_IFREG | 0644,
				.nlink = 1};
	clock_gettime(CLOCK_REALTIME, &in.mtime);
	in.atime = in.ctime = in.btime = in.mtime;
	int r = meta_inode_put(t, &in);
	return r ? r : meta_dentry_put(t, 1, f->name, strlen(f->name), f->ino,
				       (uint8_t)(in.mode >> 12));
}

struct block_check {
	uint64_t ino;
	char want;
	int ok;
};

static int block_check_txn(struct store_txn *t, void *arg)
{
	struct block_check *b = arg;
	const void *d;
	size_t len;
	b->ok = 0;
	int r = meta_block_get(t, b->ino, 0, &d, &len);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	b->ok = len == 1000 && ((const char *)d)[0] == b->want &&
		((const char *)d)[999] == b->want;
	return 0;
}

static void oversized_block(const char *logpath)
{
	struct vfs_entry e;
	struct vfs_file *fh;
	char buf[3 * BS];
	memset(buf, 'a', sizeof(buf));
	CHECK_EQ(vfs_create(v, &root_ctx, 1, "bad", 0644, O_RDWR, &e, &fh), 0);
	CHECK_EQ(vfs_write(v, NULL, fh, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK_EQ(vfs_flush(v, fh, 0), 0);
	/* 16 block sizes where one fits: the old code copied it into a
	 * block_size buffer */
	for (uint64_t idx = 0; idx < 3; idx++) {
		struct poke p = {e.ino, idx, 16 * BS};
		CHECK_EQ(meta_write(m, poke_txn, &p), 0);
	}
	CHECK_EQ(vfs_read(v, fh, buf, BS, 0), -EIO);
	/* a partial write loads the block into the write buffer */
	CHECK_EQ(vfs_write(v, NULL, fh, "x", 1, BS + 10), -EIO);
	/* a flush merges buffered bytes over the stored block: make a
	 * buffer first, then corrupt the block under it */
	struct poke ok = {e.ino, 2, BS};
	CHECK_EQ(meta_write(m, poke_txn, &ok), 0);
	CHECK_EQ(vfs_write(v, NULL, fh, "y", 1, 2 * BS + 10), 1);
	struct poke bad = {e.ino, 2, 16 * BS};
	CHECK_EQ(meta_write(m, poke_txn, &bad), 0);
	CHECK_EQ(vfs_flush(v, fh, 0), -EIO);
	/* drop the buffer that cannot be written: a good block again */
	CHECK_EQ(meta_write(m, poke_txn, &ok), 0);
	CHECK_EQ(vfs_flush(v, fh, 0), 0);
	CHECK_EQ(vfs_release(v, fh, 0), 0);
	vfs_forget(v, e.ino, 1);
	FILE *lf = fopen(logpath, "r");
	char line[512];
	int logged = 0;
	while (lf && fgets(line, sizeof(line), lf))
		if (strstr(line, "longer than the block size"))
			logged++;
	if (lf)
		fclose(lf);
	CHECK(logged >= 3, "a log line for each corrupt read (%d)", logged);
}

/* Inode numbers n*step that all land in the vnode table bucket 0. */
static uint64_t colliding_step(void)
{
	/* bucket = (ino * K) >> 48: with ino = j * step, j * (step * K mod
	 * 2^64) stays below 2^48 for j <= 400 when step * K mod 2^64 is small */
	for (uint64_t step = 1 << 20;; step++)
		if (step * 0x9E3779B97F4A7C15ull < (1ull << 48) / 512)
			return step;
}

static void flush_many_in_one_bucket(void)
{
	enum { N = 300 };
	uint64_t step = colliding_step();
	static struct vfs_file *fh[N];
	char buf[1000];
	for (int j = 0; j < N; j++) {
		struct make_file f = {(uint64_t)(j + 1) * step};
		snprintf(f.name, sizeof(f.name), "c%d", j);
		CHECK_EQ(meta_write(m, make_file_txn, &f), 0);
		CHECK_EQ(vfs_open(v, &root_ctx, f.ino, O_RDWR, &fh[j]), 0);
		memset(buf, 'A' + j % 26, sizeof(buf));
		CHECK_EQ(vfs_write(v, NULL, fh[j], buf, sizeof(buf), 0), 1000);
	}
	CHECK_EQ(vfs_flush_all(v), 0);
	int stored = 0;
	for (int j = 0; j < N; j++) {
		struct block_check b = {(uint64_t)(j + 1) * step, (char)('A' + j % 26)};
		CHECK_EQ(meta_read(m, block_check_txn, &b), 0);
		stored += b.ok;
	}
	CHECK(stored == N, "vfs_flush_all wrote %d of %d dirty files of one bucket",
	      stored, N);
	for (int j = 0; j < N; j++)
		vfs_release(v, fh[j], 0);
}

int main(void)
{
	char dir[] = "/tmp/unit_vfs_store.XXXXXX", url[256], err[512], logpath[300];
	struct store *s;
	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "lmdb://%s/store", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	if (store_open(url, STORE_CREATE, &s, err, sizeof(err)) ||
	    /* format 1: these checks poke the BLOCK rows of that format
	     * (a data tier's records are checked by unit_layout) */
	    meta_mkfs_data(s, BS, 0, 0, NULL, err, sizeof(err)) ||
	    meta_open(s, &m, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	log_open(logpath, LOG_LVL_INFO);
	struct vfs_options o = {1 << 20, 64 << 20};
	CHECK_EQ(vfs_new(m, NULL, &o, &v), 0);
	oversized_block(logpath);
	flush_many_in_one_bucket();
	vfs_free(v);
	meta_close(m);
	store_close(s);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return test_done();
}
