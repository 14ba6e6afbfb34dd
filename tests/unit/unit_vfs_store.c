/*
 * unit_vfs_store — the vfs against a store it cannot trust or must drain,
 * called directly (no FUSE) on a real LMDB store:
 *   - a stored block longer than the block size (a corrupt store) gives
 *     EIO and a log line on every path that reads it — read, a partial
 *     write that loads the block, a flush that merges it — never a heap
 *     overflow.
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

static void oversized_block(const char *logpath)
{
	struct vfs_entry e;
	struct vfs_file *fh;
	char buf[3 * BS];
	memset(buf, 'a', sizeof(buf));
	CHECK_EQ(vfs_create(v, &root_ctx, 1, "bad", 0644, O_RDWR, &e, &fh), 0);
	CHECK_EQ(vfs_write(v, fh, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	CHECK_EQ(vfs_flush(v, fh), 0);
	/* 16 block sizes where one fits: the old code copied it into a
	 * block_size buffer */
	for (uint64_t idx = 0; idx < 3; idx++) {
		struct poke p = {e.ino, idx, 16 * BS};
		CHECK_EQ(meta_write(m, poke_txn, &p), 0);
	}
	CHECK_EQ(vfs_read(v, fh, buf, BS, 0), -EIO);
	/* a partial write loads the block into the write buffer */
	CHECK_EQ(vfs_write(v, fh, "x", 1, BS + 10), -EIO);
	/* a flush merges buffered bytes over the stored block: make a
	 * buffer first, then corrupt the block under it */
	struct poke ok = {e.ino, 2, BS};
	CHECK_EQ(meta_write(m, poke_txn, &ok), 0);
	CHECK_EQ(vfs_write(v, fh, "y", 1, 2 * BS + 10), 1);
	struct poke bad = {e.ino, 2, 16 * BS};
	CHECK_EQ(meta_write(m, poke_txn, &bad), 0);
	CHECK_EQ(vfs_flush(v, fh), -EIO);
	/* drop the buffer that cannot be written: a good block again */
	CHECK_EQ(meta_write(m, poke_txn, &ok), 0);
	CHECK_EQ(vfs_flush(v, fh), 0);
	CHECK_EQ(vfs_release(v, fh), 0);
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

int main(void)
{
	char dir[] = "/tmp/unit_vfs_store.XXXXXX", url[256], err[512], logpath[300];
	struct store *s;
	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "lmdb://%s/store", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	if (store_open(url, STORE_CREATE, &s, err, sizeof(err)) ||
	    meta_mkfs(s, BS, 0, 0, err, sizeof(err)) ||
	    meta_open(s, &m, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	log_open(logpath, LOG_LVL_INFO);
	struct vfs_options o = {1 << 20, 64 << 20};
	CHECK_EQ(vfs_new(m, NULL, &o, &v), 0);
	oversized_block(logpath);
	vfs_free(v);
	meta_close(m);
	store_close(s);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return test_done();
}
