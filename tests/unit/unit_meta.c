/*
 * unit_meta — the schema layer against a real LMDB store in a temp dir:
 * superblock checks, inode/entry/block/xattr/orphan encoding, cookies,
 * truncation, counters and inode number allocation.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta.h"
#include "test.h"

static char url[256];

static int put_inode_txn(struct store_txn *t, void *arg)
{
	return meta_inode_put(t, arg);
}

struct blk {
	struct meta_inode in;
	uint64_t idx;
	const void *data;
	size_t len;
};

static int put_block_txn(struct store_txn *t, void *arg)
{
	struct blk *b = arg;
	int r = meta_block_put(t, &b->in, b->idx, b->data, b->len);
	return r < 0 ? r : meta_inode_put(t, &b->in);
}

static int get_block_txn(struct store_txn *t, void *arg)
{
	struct blk *b = arg;
	return meta_block_get(t, b->in.ino, b->idx, &b->data, &b->len);
}

static int truncate_txn(struct store_txn *t, void *arg)
{
	struct blk *b = arg;
	return meta_blocks_truncate(t, &b->in, b->idx, 4096);
}

struct names {
	char seen[16][32];
	uint64_t cookies[16];
	int n;
};

static int collect(void *arg, const char *name, size_t len, uint64_t ino,
		   uint8_t type, uint64_t cookie)
{
	struct names *n = arg;
	if (n->n < 16) {
		memcpy(n->seen[n->n], name, len);
		n->seen[n->n][len] = 0;
		n->cookies[n->n++] = cookie;
	}
	return 0;
}

static int dentries_txn(struct store_txn *t, void *arg)
{
	int r;
	for (int i = 0; i < 10; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		if ((r = meta_dentry_put(t, 1, name, strlen(name), 100 + i, 8)) < 0)
			return r;
	}
	return 0;
}

static int scan_txn(struct store_txn *t, void *arg)
{
	struct names *n = arg;
	uint64_t from = n->n ? n->cookies[n->n - 1] : 0;
	if (n->n)
		from++;
	n->n = 0;
	return meta_dir_scan(t, 1, from, collect, n);
}

static int lookup_txn(struct store_txn *t, void *arg)
{
	uint64_t *ino = arg;
	uint8_t type;
	return meta_dentry_get(t, 1, "n7", 2, ino, &type);
}

static int xattr_txn(struct store_txn *t, void *arg)
{
	const void *v;
	size_t len;
	char list[64];
	int r;
	if ((r = meta_xattr_put(t, 5, "user.empty", "", 0)) < 0 ||
	    (r = meta_xattr_put(t, 5, "user.a", "xyz", 3)) < 0)
		return r;
	CHECK_EQ(meta_xattr_get(t, 5, "user.empty", &v, &len), 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(meta_xattr_get(t, 5, "user.a", &v, &len), 0);
	CHECK(len == 3 && !memcmp(v, "xyz", 3), "value round trip");
	CHECK_EQ(meta_xattr_get(t, 5, "user.none", &v, &len), -ENOENT);
	CHECK_EQ(meta_xattr_list(t, 5, list, sizeof(list), &len), 0);
	CHECK(len == strlen("user.a") + 1 + strlen("user.empty") + 1,
	      "list length %zu", len);
	CHECK_EQ(meta_xattr_list(t, 5, list, 4, &len), -ERANGE);
	CHECK_EQ(meta_xattr_del(t, 5, "user.a"), 0);
	CHECK_EQ(meta_xattr_get(t, 5, "user.a", &v, &len), -ENOENT);
	return 0;
}

static int count_orphan(void *arg, uint64_t ino)
{
	(*(int *)arg)++;
	return 0;
}

static int orphan_txn(struct store_txn *t, void *arg)
{
	int n = 0, r;
	if ((r = meta_orphan_add(t, 42)) < 0 || (r = meta_orphan_add(t, 43)) < 0 ||
	    (r = meta_orphan_del(t, 42)) < 0 ||
	    (r = meta_orphan_scan(t, count_orphan, &n)) < 0)
		return r;
	CHECK_EQ(n, 1);
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/unit_meta.XXXXXX", err[512];
	struct store *s;
	struct meta *m;
	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "lmdb://%s/store", dir);

	CHECK_EQ(store_open(url, STORE_CREATE, &s, err, sizeof(err)), 0);
	CHECK_EQ(meta_open(s, &m, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "mkfs") != NULL, "message suggests mkfs: %s", err);
	CHECK_EQ(meta_mkfs(s, 3000, 0, 0, err, sizeof(err)), -EINVAL);
	CHECK_EQ(meta_mkfs(s, 4096, 0, 0, err, sizeof(err)), 0);
	CHECK_EQ(meta_mkfs(s, 4096, 0, 0, err, sizeof(err)), -EEXIST);
	CHECK_EQ(meta_open(s, &m, err, sizeof(err)), 0);
	CHECK_EQ(meta_super(m)->block_size, 4096);
	CHECK_EQ(strlen(meta_super(m)->uuid), 36);

	/* inode round trip, with nanoseconds and a parent */
	struct meta_inode in = {.ino = 5, .mode = 0100644, .uid = 1000, .gid = 1001,
				.nlink = 3, .size = 123456789012ull, .rdev = 77,
				.blocks = 9, .parent = 1};
	in.mtime.tv_sec = 1700000000;
	in.mtime.tv_nsec = 999999999;
	CHECK_EQ(meta_write(m, put_inode_txn, &in), 0);
	struct blk b = {.in = in};
	struct meta_inode got;
	struct store_txn *t;
	CHECK_EQ(store_txn_begin(s, STORE_RDONLY, &t), 0);
	CHECK_EQ(meta_inode_get(t, 5, &got), 0);
	store_abort(t);
	CHECK(!memcmp(&got, &in, sizeof(in)), "inode round trip");

	/* blocks: trailing zeros trimmed, all-zero block is a hole */
	uint8_t data[4096];
	memset(data, 0, sizeof(data));
	memcpy(data, "hello", 5);
	b.in.blocks = 0;
	b.idx = 3;
	b.data = data;
	b.len = sizeof(data);
	CHECK_EQ(meta_write(m, put_block_txn, &b), 0);
	CHECK_EQ(b.in.blocks, 1);
	CHECK_EQ(meta_read(m, get_block_txn, &b), 0);
	CHECK_EQ(b.len, 5);
	memset(data, 0, sizeof(data));
	b.data = data;
	b.len = sizeof(data);
	CHECK_EQ(meta_write(m, put_block_txn, &b), 0);
	CHECK_EQ(b.in.blocks, 0);
	CHECK_EQ(meta_read(m, get_block_txn, &b), -ENOENT);

	/* truncate keeps the head of the last block and zeros its tail */
	memset(data, 'x', sizeof(data));
	for (uint64_t i = 0; i < 4; i++) {
		b.idx = i;
		b.data = data;
		b.len = sizeof(data);
		CHECK_EQ(meta_write(m, put_block_txn, &b), 0);
	}
	CHECK_EQ(b.in.blocks, 4);
	b.idx = 4096 + 10; /* new size: 1 block + 10 bytes */
	CHECK_EQ(meta_write(m, truncate_txn, &b), 0);
	CHECK_EQ(b.in.blocks, 2);
	b.idx = 1;
	CHECK_EQ(meta_read(m, get_block_txn, &b), 0);
	CHECK_EQ(b.len, 10);
	b.idx = 2;
	CHECK_EQ(meta_read(m, get_block_txn, &b), -ENOENT);

	/* directory entries: cookies are stable scan positions */
	CHECK_EQ(meta_write(m, dentries_txn, NULL), 0);
	struct names n = {0};
	CHECK_EQ(meta_read(m, scan_txn, &n), 0);
	CHECK_EQ(n.n, 10);
	for (int i = 1; i < n.n; i++)
		CHECK(n.cookies[i] > n.cookies[i - 1], "cookies ascend");
	for (int i = 0; i < n.n; i++)
		CHECK(n.cookies[i] >= 3, "cookie %d leaves room for . and ..", i);
	CHECK_EQ(meta_name_cookie("n3", 2), meta_name_cookie("n3", 2));
	/* resuming after entry 4 yields exactly the rest */
	n.n = 5;
	CHECK_EQ(meta_read(m, scan_txn, &n), 0);
	CHECK_EQ(n.n, 5);
	uint64_t ino = 0;
	CHECK_EQ(meta_read(m, lookup_txn, &ino), 0);
	CHECK_EQ(ino, 107);

	CHECK_EQ(meta_write(m, xattr_txn, NULL), 0);
	CHECK_EQ(meta_write(m, orphan_txn, NULL), 0);

	/* inode numbers are unique and never reused, even across reopen */
	uint64_t a, c, d;
	CHECK_EQ(meta_alloc_ino(m, &a), 0);
	CHECK_EQ(meta_alloc_ino(m, &c), 0);
	CHECK(a > 1 && c == a + 1, "numbers %llu then %llu",
	      (unsigned long long)a, (unsigned long long)c);
	meta_close(m);
	CHECK_EQ(meta_open(s, &m, err, sizeof(err)), 0);
	CHECK_EQ(meta_alloc_ino(m, &d), 0);
	CHECK(d > c, "after reopen %llu > %llu", (unsigned long long)d,
	      (unsigned long long)c);
	meta_close(m);
	store_close(s);
	CHECK_EQ(store_destroy(url, err, sizeof(err)), 0);
	rmdir(dir);
	return test_done();
}
