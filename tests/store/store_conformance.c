/*
 * store_conformance.c — every promise of src/store.h, checked against one
 * engine named by a URL:  store_conformance URL
 *
 * The program destroys whatever store the URL names, creates a scratch one
 * (STORE_CREATE), runs every check and destroys it again, so the URL must
 * point at something disposable.  It is written once and runs unchanged
 * against every engine (tests/t_store_*.sh give it the URL).
 *
 * Transactions may fail with -EAGAIN anywhere (conflict); the helpers below
 * retry whole operations the way callers above the store do.  Nothing here
 * asks which engine it talks to.
 */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "test.h"

static const char *url;
static struct store *st;

/* ---- small helpers ----------------------------------------------------- */

static struct store_txn *begin(int flags)
{
	struct store_txn *t = NULL;
	int r = store_txn_begin(st, flags, &t);
	CHECK(r == 0, "store_txn_begin: %s", strerror(-r));
	return r == 0 ? t : NULL;
}

/* Put one column in its own transaction (retrying conflicts). */
static int put1(int fam, uint64_t row, const void *col, size_t cl,
		const void *val, size_t vl)
{
	for (int tries = 0; tries < 100; tries++) {
		struct store_txn *t;
		int r = store_txn_begin(st, 0, &t);
		if (r)
			return r;
		r = store_put(t, fam, row, col, cl, val, vl);
		if (r) {
			store_abort(t);
			if (r == -EAGAIN)
				continue;
			return r;
		}
		r = store_commit(t);
		if (r != -EAGAIN)
			return r;
	}
	return -EAGAIN;
}

/*
 * Read one column in a read-only transaction into buf (NUL-terminated when
 * it fits).  Returns the value length or -errno.
 */
static long get1(int fam, uint64_t row, const void *col, size_t cl,
		 void *buf, size_t buf_len)
{
	for (int tries = 0; tries < 100; tries++) {
		struct store_txn *t;
		const void *v;
		size_t vl;
		int r = store_txn_begin(st, STORE_RDONLY, &t);
		if (r)
			return r;
		r = store_get(t, fam, row, col, cl, &v, &vl);
		if (r == 0 && buf) {
			size_t n = vl < buf_len ? vl : buf_len;
			memcpy(buf, v, n);
			if (vl < buf_len)
				((char *)buf)[vl] = 0;
		}
		if (r && r != -ENOENT) {
			store_abort(t);
			if (r == -EAGAIN)
				continue;
			return r;
		}
		int c = store_commit(t);
		if (c == -EAGAIN)
			continue;
		if (c)
			return c;
		return r ? r : (long)vl;
	}
	return -EAGAIN;
}

/* Collected scan output: columns and values concatenated, with lengths. */
struct scan_out {
	int n;
	int stop_after; /* return stop_ret after this many calls (0 = never) */
	int stop_ret;
	size_t col_len[4096];
	size_t val_len[4096];
	uint8_t *cols[4096];
	uint8_t *vals[4096];
};

static void scan_out_free(struct scan_out *o)
{
	for (int i = 0; i < o->n; i++) {
		free(o->cols[i]);
		free(o->vals[i]);
	}
	o->n = 0;
}

static int collect(void *arg, const void *col, size_t cl, const void *val,
		   size_t vl)
{
	struct scan_out *o = arg;
	if (o->n >= 4096)
		return -E2BIG;
	int i = o->n++;
	o->cols[i] = malloc(cl + 1);
	o->vals[i] = malloc(vl + 1);
	memcpy(o->cols[i], col, cl);
	memcpy(o->vals[i], val, vl);
	o->col_len[i] = cl;
	o->val_len[i] = vl;
	if (o->stop_after && o->n == o->stop_after)
		return o->stop_ret;
	return 0;
}

/* memcmp order, shorter first on a common prefix — the header's order. */
static int colcmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* Scan a whole row in a read-only transaction (retrying conflicts). */
static int scan1(int fam, uint64_t row, const void *start, size_t sl,
		 struct scan_out *o)
{
	for (int tries = 0; tries < 100; tries++) {
		struct store_txn *t;
		scan_out_free(o);
		int r = store_txn_begin(st, STORE_RDONLY, &t);
		if (r)
			return r;
		r = store_scan(t, fam, row, start, sl, collect, o);
		if (r < 0) {
			store_abort(t);
			if (r == -EAGAIN)
				continue;
			return r;
		}
		int c = store_commit(t);
		if (c == -EAGAIN)
			continue;
		return c ? c : r;
	}
	return -EAGAIN;
}

static int has_col(struct scan_out *o, int i, const char *s)
{
	return i < o->n && o->col_len[i] == strlen(s) &&
	       !memcmp(o->cols[i], s, o->col_len[i]);
}

/* ---- the checks -------------------------------------------------------- */

static void t_open_missing(void)
{
	/* The scratch store does not exist yet: opening without STORE_CREATE
	 * must fail with a message, never create it silently. */
	char err[512] = "";
	struct store *s = NULL;
	int r = store_open(url, 0, &s, err, sizeof(err));
	CHECK(r < 0, "opening a missing store without STORE_CREATE succeeded");
	CHECK(r >= 0 || err[0], "no error message for a missing store");
	if (r == 0)
		store_close(s);
}

static void t_basic(void)
{
	char buf[64];
	CHECK_EQ(get1(STORE_INODE, 1, "a", 1, buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(put1(STORE_INODE, 1, "a", 1, "hello", 5), 0);
	CHECK_EQ(get1(STORE_INODE, 1, "a", 1, buf, sizeof(buf)), 5);
	CHECK(!strcmp(buf, "hello"), "got '%s'", buf);
	/* overwrite with a shorter value */
	CHECK_EQ(put1(STORE_INODE, 1, "a", 1, "hi", 2), 0);
	CHECK_EQ(get1(STORE_INODE, 1, "a", 1, buf, sizeof(buf)), 2);
	CHECK(!strcmp(buf, "hi"), "got '%s'", buf);
	/* empty value */
	CHECK_EQ(put1(STORE_INODE, 1, "empty", 5, "", 0), 0);
	CHECK_EQ(get1(STORE_INODE, 1, "empty", 5, buf, sizeof(buf)), 0);

	/* delete, and delete of an absent column */
	struct store_txn *t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_del(t, STORE_INODE, 1, "a", 1), 0);
	CHECK_EQ(store_del(t, STORE_INODE, 1, "nope", 4), 0);
	CHECK_EQ(store_del(t, STORE_INODE, 999, "nope", 4), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(get1(STORE_INODE, 1, "a", 1, buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(get1(STORE_INODE, 1, "empty", 5, buf, sizeof(buf)), 0);

	/* several get pointers stay valid together until the next write */
	CHECK_EQ(put1(STORE_INODE, 2, "x", 1, "xxxx", 4), 0);
	CHECK_EQ(put1(STORE_INODE, 2, "y", 1, "yyyyyy", 6), 0);
	t = begin(STORE_RDONLY);
	if (!t)
		return;
	const void *v1, *v2;
	size_t l1, l2;
	CHECK_EQ(store_get(t, STORE_INODE, 2, "x", 1, &v1, &l1), 0);
	CHECK_EQ(store_get(t, STORE_INODE, 2, "y", 1, &v2, &l2), 0);
	CHECK(l1 == 4 && !memcmp(v1, "xxxx", 4), "first pointer clobbered");
	CHECK(l2 == 6 && !memcmp(v2, "yyyyyy", 6), "second value wrong");
	store_abort(t);
}

static void t_scan_order(void)
{
	/* Inserted out of order, with binary bytes and common prefixes. */
	static const struct {
		const char *c;
		size_t l;
	} cols[] = {
		{"b", 1},	{"a", 1},	    {"ab", 2},	    {"a\0", 2},
		{"\xff", 1},	{"\0", 1},	    {"\0\0", 2},    {"aa", 2},
		{"a\xff", 2},	{"\x80z", 2},	    {"B", 1},	    {"abc", 3},
	};
	const int n = sizeof(cols) / sizeof(cols[0]);
	const uint64_t row = 77;
	struct store_txn *t = begin(0);
	if (!t)
		return;
	for (int i = 0; i < n; i++) {
		char v[16];
		int vl = snprintf(v, sizeof(v), "v%d", i);
		CHECK_EQ(store_put(t, STORE_DIR, row, cols[i].c, cols[i].l, v,
				   (size_t)vl), 0);
	}
	/* neighbours that must not appear in the scan */
	CHECK_EQ(store_put(t, STORE_DIR, row - 1, "a", 1, "x", 1), 0);
	CHECK_EQ(store_put(t, STORE_DIR, row + 1, "\0", 1, "x", 1), 0);
	CHECK_EQ(store_put(t, STORE_XATTR, row, "a0", 2, "x", 1), 0);
	CHECK_EQ(store_commit(t), 0);

	static struct scan_out o;
	CHECK_EQ(scan1(STORE_DIR, row, NULL, 0, &o), 0);
	CHECK_EQ(o.n, n);
	for (int i = 1; i < o.n; i++)
		CHECK(colcmp(o.cols[i - 1], o.col_len[i - 1], o.cols[i],
			     o.col_len[i]) < 0,
		      "scan out of order at %d", i);
	/* every value belongs to its column */
	for (int i = 0; i < o.n; i++) {
		int found = 0;
		for (int j = 0; j < n; j++) {
			char v[16];
			int vl = snprintf(v, sizeof(v), "v%d", j);
			if (cols[j].l == o.col_len[i] &&
			    !memcmp(cols[j].c, o.cols[i], cols[j].l))
				found = o.val_len[i] == (size_t)vl &&
					!memcmp(o.vals[i], v, (size_t)vl);
		}
		CHECK(found, "column %d has the wrong value", i);
	}
	CHECK(o.col_len[0] == 1 && o.cols[0][0] == 0, "first is \\0");
	CHECK(o.col_len[n - 1] == 1 && o.cols[n - 1][0] == 0xff, "last is \\xff");

	/* start exactly at an existing column includes it */
	CHECK_EQ(scan1(STORE_DIR, row, "a", 1, &o), 0);
	CHECK(has_col(&o, 0, "a"), "start 'a' begins at 'a'");
	CHECK(o.n >= 2 && o.col_len[1] == 2 && !memcmp(o.cols[1], "a\0", 2),
	      "'a\\0' follows 'a'");
	/* start between columns begins at the next one */
	CHECK_EQ(scan1(STORE_DIR, row, "aaa", 3, &o), 0);
	CHECK(has_col(&o, 0, "ab"), "start 'aaa' begins at 'ab'");
	CHECK_EQ(scan1(STORE_DIR, row, "a\x01", 2, &o), 0);
	CHECK(has_col(&o, 0, "aa"), "start 'a\\1' begins at 'aa'");
	/* start past the end: nothing, 0 */
	CHECK_EQ(scan1(STORE_DIR, row, "\xff\0", 2, &o), 0);
	CHECK_EQ(o.n, 0);
	/* a row with nothing in it */
	CHECK_EQ(scan1(STORE_DIR, 123456789, NULL, 0, &o), 0);
	CHECK_EQ(o.n, 0);

	/* stop (> 0) and abort (< 0) from the callback */
	o.stop_after = 3;
	o.stop_ret = 42;
	CHECK_EQ(scan1(STORE_DIR, row, NULL, 0, &o), 42);
	CHECK_EQ(o.n, 3);
	o.stop_after = 2;
	o.stop_ret = -E2BIG;
	CHECK_EQ(scan1(STORE_DIR, row, NULL, 0, &o), -E2BIG);
	CHECK_EQ(o.n, 2);
	o.stop_after = 0;
	scan_out_free(&o);
}

static void t_binary_limits(void)
{
	uint8_t col[STORE_MAX_COLUMN + 1];
	for (size_t i = 0; i < sizeof(col); i++)
		col[i] = (uint8_t)(i * 7); /* includes zero bytes */
	size_t big = STORE_MAX_VALUE;
	uint8_t *val = malloc(big + 1), *back = malloc(big + 1);
	if (!val || !back) {
		CHECK(0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i <= big; i++)
		val[i] = (uint8_t)(i * 31 + (i >> 9));
	val[0] = val[100] = 0;

	CHECK_EQ(put1(STORE_XATTR, 5, col, STORE_MAX_COLUMN, val, 300), 0);
	CHECK_EQ(get1(STORE_XATTR, 5, col, STORE_MAX_COLUMN, back, big + 1), 300);
	CHECK(!memcmp(back, val, 300), "256-byte column: value differs");
	/* a shorter prefix of that column is a different column */
	CHECK_EQ(get1(STORE_XATTR, 5, col, STORE_MAX_COLUMN - 1, NULL, 0), -ENOENT);
	/* a column made of zero bytes only */
	CHECK_EQ(put1(STORE_XATTR, 5, "\0\0\0", 3, "\0z\0", 3), 0);
	CHECK_EQ(get1(STORE_XATTR, 5, "\0\0\0", 3, back, big), 3);
	CHECK(!memcmp(back, "\0z\0", 3), "zero-byte value differs");
	CHECK_EQ(get1(STORE_XATTR, 5, "\0\0", 2, NULL, 0), -ENOENT);

	/* the largest value, byte for byte */
	CHECK_EQ(put1(STORE_BLOCK, 5, "\0\0\0\0\0\0\0\1", 8, val, big), 0);
	memset(back, 0xAA, big + 1);
	CHECK_EQ(get1(STORE_BLOCK, 5, "\0\0\0\0\0\0\0\1", 8, back, big + 1),
		 (long)big);
	CHECK(!memcmp(back, val, big), "1 MiB value differs");

	/* past the limits: -EINVAL, and nothing written */
	struct store_txn *t = begin(0);
	if (!t)
		goto out;
	CHECK_EQ(store_put(t, STORE_XATTR, 5, col, STORE_MAX_COLUMN + 1, "x", 1),
		 -EINVAL);
	CHECK_EQ(store_put(t, STORE_XATTR, 5, "", 0, "x", 1), -EINVAL);
	CHECK_EQ(store_put(t, STORE_BLOCK, 5, "big", 3, val, big + 1), -EINVAL);
	CHECK_EQ(store_commit(t), 0);
	/* an over-long column cannot exist: either answer is fine */
	long g = get1(STORE_XATTR, 5, col, STORE_MAX_COLUMN + 1, NULL, 0);
	CHECK(g == -ENOENT || g == -EINVAL, "get of a 257-byte column: %ld", g);
	CHECK_EQ(get1(STORE_BLOCK, 5, "big", 3, NULL, 0), -ENOENT);
out:
	free(val);
	free(back);
}

struct iso_arg {
	volatile int done;
	int begin, c2, c3, c5, scan, cols, order_ok;
	char c3val[16];
};

static void *iso_reader(void *arg)
{
	struct iso_arg *a = arg;
	struct store_txn *r;
	const void *v;
	size_t vl;
	static struct scan_out o;
	a->begin = store_txn_begin(st, STORE_RDONLY, &r);
	if (a->begin)
		goto out;
	a->c2 = store_get(r, STORE_DIR, 300, "c2", 2, &v, &vl);
	a->c3 = store_get(r, STORE_DIR, 300, "c3", 2, &v, &vl);
	if (a->c3 == 0)
		snprintf(a->c3val, sizeof(a->c3val), "%.*s", (int)(vl < 15 ? vl : 15),
			 (const char *)v);
	a->c5 = store_get(r, STORE_DIR, 300, "c5", 2, &v, &vl);
	a->scan = store_scan(r, STORE_DIR, 300, NULL, 0, collect, &o);
	a->cols = o.n;
	a->order_ok = has_col(&o, 0, "c1") && has_col(&o, 1, "c3") &&
		      has_col(&o, 2, "c5");
	scan_out_free(&o);
	store_abort(r);
out:
	a->done = 1;
	return NULL;
}

static void t_own_writes_and_abort(void)
{
	const uint64_t row = 300;
	char buf[64];
	CHECK_EQ(put1(STORE_DIR, row, "c1", 2, "old1", 4), 0);
	CHECK_EQ(put1(STORE_DIR, row, "c3", 2, "old3", 4), 0);
	CHECK_EQ(put1(STORE_DIR, row, "c5", 2, "old5", 4), 0);

	struct store_txn *t = begin(0);
	if (!t)
		return;
	const void *v;
	size_t vl;
	CHECK_EQ(store_put(t, STORE_DIR, row, "c2", 2, "new2", 4), 0);
	CHECK_EQ(store_put(t, STORE_DIR, row, "c3", 2, "new3", 4), 0);
	CHECK_EQ(store_del(t, STORE_DIR, row, "c5", 2), 0);
	CHECK_EQ(store_get(t, STORE_DIR, row, "c2", 2, &v, &vl), 0);
	CHECK(vl == 4 && !memcmp(v, "new2", 4), "own put not seen");
	CHECK_EQ(store_get(t, STORE_DIR, row, "c3", 2, &v, &vl), 0);
	CHECK(vl == 4 && !memcmp(v, "new3", 4), "own overwrite not seen");
	CHECK_EQ(store_get(t, STORE_DIR, row, "c5", 2, &v, &vl), -ENOENT);
	/* a scan inside the transaction merges its writes in order */
	static struct scan_out o;
	CHECK_EQ(store_scan(t, STORE_DIR, row, NULL, 0, collect, &o), 0);
	CHECK_EQ(o.n, 3);
	CHECK(has_col(&o, 0, "c1") && has_col(&o, 1, "c2") && has_col(&o, 2, "c3"),
	      "scan in txn should be c1 c2 c3");
	CHECK(o.n == 3 && o.val_len[2] == 4 && !memcmp(o.vals[2], "new3", 4),
	      "scan in txn sees the old c3");
	scan_out_free(&o);
	CHECK_EQ(store_scan(t, STORE_DIR, row, "c2", 2, collect, &o), 0);
	CHECK(o.n == 2 && has_col(&o, 0, "c2"), "scan from c2 in txn");
	scan_out_free(&o);

	/* Another transaction, in another thread, sees none of it.  An engine
	 * that serializes transactions makes that reader wait until this one
	 * ends — after the abort below — so the answer is the same. */
	static struct iso_arg ia;
	memset(&ia, 0, sizeof(ia));
	pthread_t th;
	pthread_create(&th, NULL, iso_reader, &ia);
	for (int i = 0; i < 100 && !ia.done; i++) /* up to 1 s */
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	int concurrent = ia.done;
	store_abort(t);
	pthread_join(th, NULL);
	printf("  isolation: the reader ran %s\n",
	       concurrent ? "while the writer was open"
			  : "after it (the engine serializes transactions)");
	CHECK_EQ(ia.begin, 0);
	CHECK_EQ(ia.c2, -ENOENT);
	CHECK(ia.c3 == 0 && !strcmp(ia.c3val, "old3"), "uncommitted write leaked: c3 %d '%s'",
	      ia.c3, ia.c3val);
	CHECK_EQ(ia.c5, 0);
	CHECK(ia.scan == 0 && ia.cols == 3 && ia.order_ok,
	      "uncommitted scan leaked (%d: %d columns)", ia.scan, ia.cols);
	/* the abort dropped everything */
	CHECK_EQ(get1(STORE_DIR, row, "c2", 2, NULL, 0), -ENOENT);
	CHECK_EQ(get1(STORE_DIR, row, "c3", 2, buf, sizeof(buf)), 4);
	CHECK(!strcmp(buf, "old3"), "abort kept c3 = '%s'", buf);
	CHECK_EQ(get1(STORE_DIR, row, "c5", 2, NULL, 0), 4);

	/* the same writes, committed */
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_put(t, STORE_DIR, row, "c2", 2, "new2", 4), 0);
	CHECK_EQ(store_put(t, STORE_DIR, row, "c3", 2, "new3", 4), 0);
	CHECK_EQ(store_del(t, STORE_DIR, row, "c5", 2), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(scan1(STORE_DIR, row, NULL, 0, &o), 0);
	CHECK(o.n == 3 && has_col(&o, 0, "c1") && has_col(&o, 1, "c2") &&
		      has_col(&o, 2, "c3"),
	      "committed scan wrong (%d columns)", o.n);
	scan_out_free(&o);
}

static void t_del_row(void)
{
	const uint64_t row = 400;
	static struct scan_out o;
	struct store_txn *t = begin(0);
	if (!t)
		return;
	for (int i = 0; i < 50; i++) {
		char c[8];
		int cl = snprintf(c, sizeof(c), "k%02d", i);
		CHECK_EQ(store_put(t, STORE_XATTR, row, c, (size_t)cl, c, (size_t)cl), 0);
	}
	CHECK_EQ(store_put(t, STORE_XATTR, row + 1, "k00", 3, "keep", 4), 0);
	CHECK_EQ(store_put(t, STORE_INODE, row, "k00", 3, "keep", 4), 0);
	CHECK_EQ(store_commit(t), 0);

	/* del_row, then new puts in the same transaction */
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_del_row(t, STORE_XATTR, row), 0);
	const void *v;
	size_t vl;
	CHECK_EQ(store_get(t, STORE_XATTR, row, "k10", 3, &v, &vl), -ENOENT);
	CHECK_EQ(store_put(t, STORE_XATTR, row, "k20", 3, "again", 5), 0);
	CHECK_EQ(store_put(t, STORE_XATTR, row, "zz", 2, "z", 1), 0);
	CHECK_EQ(store_scan(t, STORE_XATTR, row, NULL, 0, collect, &o), 0);
	CHECK(o.n == 2 && has_col(&o, 0, "k20") && has_col(&o, 1, "zz"),
	      "scan after del_row in txn: %d columns", o.n);
	scan_out_free(&o);
	CHECK_EQ(store_commit(t), 0);

	CHECK_EQ(scan1(STORE_XATTR, row, NULL, 0, &o), 0);
	CHECK(o.n == 2 && has_col(&o, 0, "k20") && has_col(&o, 1, "zz"),
	      "after del_row commit: %d columns", o.n);
	scan_out_free(&o);
	CHECK_EQ(get1(STORE_XATTR, row + 1, "k00", 3, NULL, 0), 4);
	CHECK_EQ(get1(STORE_INODE, row, "k00", 3, NULL, 0), 4);

	/* del_row of an empty row, and of a whole row without re-puts */
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_del_row(t, STORE_XATTR, 987654), 0);
	CHECK_EQ(store_del_row(t, STORE_XATTR, row), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(scan1(STORE_XATTR, row, NULL, 0, &o), 0);
	CHECK_EQ(o.n, 0);
	CHECK_EQ(get1(STORE_XATTR, row, "k20", 3, NULL, 0), -ENOENT);
	/* a row can be used again after del_row */
	CHECK_EQ(put1(STORE_XATTR, row, "back", 4, "1", 1), 0);
	CHECK_EQ(get1(STORE_XATTR, row, "back", 4, NULL, 0), 1);
	scan_out_free(&o);
}

static int64_t read_counter(int fam, uint64_t row, const char *col)
{
	uint8_t b[16];
	long n = get1(fam, row, col, strlen(col), b, sizeof(b));
	if (n == -ENOENT)
		return 0;
	CHECK_EQ(n, 8);
	return n == 8 ? (int64_t)store_get_be64(b) : INT64_MIN;
}

static void t_add(void)
{
	struct store_txn *t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_add(t, STORE_SUPER, 0, "ctr", 3, 5), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(read_counter(STORE_SUPER, 0, "ctr"), 5);
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_add(t, STORE_SUPER, 0, "ctr", 3, -7), 0);
	CHECK_EQ(store_add(t, STORE_SUPER, 0, "ctr", 3, 1000), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(read_counter(STORE_SUPER, 0, "ctr"), 998);
	/* a counter set with put is the same 8-byte big-endian value */
	uint8_t b[8];
	store_be64(b, (uint64_t)-3);
	CHECK_EQ(put1(STORE_SUPER, 0, "neg", 3, b, 8), 0);
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_add(t, STORE_SUPER, 0, "neg", 3, 1), 0);
	CHECK_EQ(store_add(t, STORE_SUPER, 0, "big", 3, INT64_C(1) << 40), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(read_counter(STORE_SUPER, 0, "neg"), -2);
	CHECK_EQ(read_counter(STORE_SUPER, 0, "big"), INT64_C(1) << 40);
	/* exact past 2^53 (no floating point on the way) */
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_add(t, STORE_SUPER, 0, "big", 3, (INT64_C(1) << 60) + 1), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(read_counter(STORE_SUPER, 0, "big"),
		 (INT64_C(1) << 60) + (INT64_C(1) << 40) + 1);
	/* an aborted add does nothing */
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_add(t, STORE_SUPER, 0, "ctr", 3, 1), 0);
	store_abort(t);
	CHECK_EQ(read_counter(STORE_SUPER, 0, "ctr"), 998);
	/* a counter shows up in a scan like any column */
	static struct scan_out o;
	CHECK_EQ(scan1(STORE_SUPER, 0, "ctr", 3, &o), 0);
	CHECK(o.n >= 1 && has_col(&o, 0, "ctr") && o.val_len[0] == 8,
	      "counter column in scan");
	scan_out_free(&o);
}

static void t_families_rows(void)
{
	/* the same column in every family and in neighbouring rows */
	const uint64_t rows[] = {0, 1, 2, 255, 256, UINT64_MAX - 1, UINT64_MAX};
	const int nr = sizeof(rows) / sizeof(rows[0]);
	struct store_txn *t = begin(0);
	if (!t)
		return;
	for (int f = 0; f < STORE_FAMILIES; f++)
		for (int i = 0; i < nr; i++) {
			char v[32];
			int vl = snprintf(v, sizeof(v), "f%d r%d", f, i);
			CHECK_EQ(store_put(t, f, rows[i], "same", 4, v, (size_t)vl), 0);
		}
	CHECK_EQ(store_commit(t), 0);
	int bad = 0;
	for (int f = 0; f < STORE_FAMILIES; f++)
		for (int i = 0; i < nr; i++) {
			char v[32], buf[32];
			int vl = snprintf(v, sizeof(v), "f%d r%d", f, i);
			long n = get1(f, rows[i], "same", 4, buf, sizeof(buf));
			if (n != vl || memcmp(buf, v, (size_t)vl))
				bad++;
		}
	CHECK_EQ(bad, 0);
	/* removing one (family,row) leaves the others alone */
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_del_row(t, STORE_ORPHAN, UINT64_MAX), 0);
	CHECK_EQ(store_del(t, STORE_BLOCK, 0, "same", 4), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(get1(STORE_ORPHAN, UINT64_MAX, "same", 4, NULL, 0), -ENOENT);
	CHECK_EQ(get1(STORE_ORPHAN, UINT64_MAX - 1, "same", 4, NULL, 0),
		 (long)strlen("f5 r5"));
	CHECK_EQ(get1(STORE_BLOCK, 0, "same", 4, NULL, 0), -ENOENT);
	CHECK(get1(STORE_BLOCK, 1, "same", 4, NULL, 0) > 0, "block row 1 lost");
	CHECK(get1(STORE_INODE, 0, "same", 4, NULL, 0) > 0, "inode row 0 lost");
	static struct scan_out o;
	CHECK_EQ(scan1(STORE_ORPHAN, UINT64_MAX - 1, NULL, 0, &o), 0);
	CHECK(o.n == 1 && has_col(&o, 0, "same"), "row UINT64_MAX-1 scan");
	scan_out_free(&o);
}

static void t_many(void)
{
	/* many rows, committed in a few transactions */
	const int nrows = 2000;
	int bad = 0;
	for (int base = 0; base < nrows; base += 500) {
		struct store_txn *t = begin(0);
		if (!t)
			return;
		for (int i = base; i < base + 500; i++) {
			uint8_t v[8];
			store_be64(v, (uint64_t)i * 3);
			if (store_put(t, STORE_INODE, 100000 + (uint64_t)i, "a", 1,
				      v, 8))
				bad++;
		}
		CHECK_EQ(store_commit(t), 0);
	}
	struct store_txn *t = begin(STORE_RDONLY);
	if (!t)
		return;
	for (int i = 0; i < nrows; i++) {
		const void *v;
		size_t vl;
		if (store_get(t, STORE_INODE, 100000 + (uint64_t)i, "a", 1, &v,
			      &vl) ||
		    vl != 8 || store_get_be64(v) != (uint64_t)i * 3)
			bad++;
	}
	store_abort(t);
	CHECK_EQ(bad, 0);
	bad = 0;

	/* one wide row (a big directory): ordered, complete, resumable */
	const int ncols = 3000;
	t = begin(0);
	if (!t)
		return;
	for (int i = 0; i < ncols; i++) {
		char c[32];
		/* a scrambled insertion order */
		int k = (int)(((long)i * 7919) % ncols);
		int cl = snprintf(c, sizeof(c), "name-%d", k);
		if (store_put(t, STORE_DIR, 5000, c, (size_t)cl, c, (size_t)cl))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(store_commit(t), 0);
	static struct scan_out o;
	CHECK_EQ(scan1(STORE_DIR, 5000, NULL, 0, &o), 0);
	CHECK_EQ(o.n, ncols);
	bad = 0;
	for (int i = 1; i < o.n; i++)
		if (colcmp(o.cols[i - 1], o.col_len[i - 1], o.cols[i], o.col_len[i]) >= 0 ||
		    o.col_len[i] != o.val_len[i] ||
		    memcmp(o.cols[i], o.vals[i], o.col_len[i]))
			bad++;
	CHECK_EQ(bad, 0);
	/* resume from the middle: the way readdir continues */
	if (o.n == ncols) {
		size_t ml = o.col_len[1500];
		uint8_t mid[64];
		memcpy(mid, o.cols[1500], ml);
		static struct scan_out o2;
		CHECK_EQ(scan1(STORE_DIR, 5000, mid, ml, &o2), 0);
		CHECK_EQ(o2.n, ncols - 1500);
		scan_out_free(&o2);
	}
	scan_out_free(&o);
	/* deleting the wide row removes every column */
	t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_del_row(t, STORE_DIR, 5000), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(scan1(STORE_DIR, 5000, NULL, 0, &o), 0);
	CHECK_EQ(o.n, 0);
	CHECK_EQ(get1(STORE_DIR, 5000, "name-1234", 9, NULL, 0), -ENOENT);
	scan_out_free(&o);
}

/* ---- concurrency ------------------------------------------------------- */

#define NTHREADS 4
#define NINCR 100

static int64_t be_val(const void *v, size_t vl)
{
	return vl == 8 ? (int64_t)store_get_be64(v) : -1;
}

/* Read-modify-write increments with a whole-operation retry loop. */
static long rmw_retries; /* conflicts seen, for the log */
static pthread_mutex_t rmw_mu = PTHREAD_MUTEX_INITIALIZER;
static void *rmw_thread(void *arg)
{
	long *errs = arg;
	for (int i = 0; i < NINCR; i++) {
		int r;
		int tries = 0;
		do {
			struct store_txn *t;
			const void *v;
			size_t vl;
			int64_t cur = 0;
			r = store_txn_begin(st, 0, &t);
			if (r)
				break;
			r = store_get(t, STORE_SUPER, 1, "rmw", 3, &v, &vl);
			if (r == 0)
				cur = be_val(v, vl);
			if (r == 0 || r == -ENOENT) {
				uint8_t b[8];
				store_be64(b, (uint64_t)(cur + 1));
				r = store_put(t, STORE_SUPER, 1, "rmw", 3, b, 8);
			}
			if (r) {
				store_abort(t);
				continue;
			}
			r = store_commit(t);
		} while (r == -EAGAIN && ++tries < 10000);
		if (r)
			(*errs)++;
		pthread_mutex_lock(&rmw_mu);
		rmw_retries += tries;
		pthread_mutex_unlock(&rmw_mu);
	}
	return NULL;
}

/* Counter adds: must never conflict. */
static void *add_thread(void *arg)
{
	long *errs = arg;
	for (int i = 0; i < NINCR; i++) {
		struct store_txn *t;
		int r = store_txn_begin(st, 0, &t);
		if (r) {
			(*errs)++;
			continue;
		}
		r = store_add(t, STORE_SUPER, 1, "adds", 4, 3);
		if (r) {
			store_abort(t);
			(*errs)++;
			continue;
		}
		if (store_commit(t))
			(*errs)++;
	}
	return NULL;
}

/*
 * Atomicity seen from outside: a writer keeps setting two columns in two
 * different rows to the same value in one transaction; readers that
 * commit their read-only transaction must never see them differ.
 */
static volatile int writer_done;
static void *pair_writer(void *arg)
{
	long *errs = arg;
	for (int i = 1; i <= 150; i++) {
		int r, tries = 0;
		do {
			struct store_txn *t;
			uint8_t b[8];
			store_be64(b, (uint64_t)i);
			r = store_txn_begin(st, 0, &t);
			if (r)
				break;
			if ((r = store_put(t, STORE_INODE, 700, "p", 1, b, 8)) ||
			    (r = store_put(t, STORE_BLOCK, 701, "q", 1, b, 8))) {
				store_abort(t);
				continue;
			}
			r = store_commit(t);
		} while (r == -EAGAIN && ++tries < 10000);
		if (r)
			(*errs)++;
		/* leave readers gaps to complete in, as real writers do */
		nanosleep(&(struct timespec){0, 500000}, NULL);
	}
	writer_done = 1;
	return NULL;
}

struct pair_reader_arg {
	long errs, torn, seen;
};
static void *pair_reader(void *arg)
{
	struct pair_reader_arg *a = arg;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* until the writer is done and this reader completed a few reads
	 * (at most 30 s: a loaded machine must not hang the suite) */
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((writer_done && a->seen >= 5) || now.tv_sec - t0.tv_sec > 30)
			break;
		struct store_txn *t;
		const void *v;
		size_t vl;
		int64_t p = -1, q = -1;
		if (store_txn_begin(st, STORE_RDONLY, &t)) {
			a->errs++;
			break;
		}
		int r1 = store_get(t, STORE_INODE, 700, "p", 1, &v, &vl);
		if (r1 == 0)
			p = be_val(v, vl);
		int r2 = store_get(t, STORE_BLOCK, 701, "q", 1, &v, &vl);
		if (r2 == 0)
			q = be_val(v, vl);
		if ((r1 && r1 != -ENOENT) || (r2 && r2 != -ENOENT)) {
			store_abort(t);
			if (r1 != -EAGAIN && r2 != -EAGAIN)
				a->errs++;
			continue;
		}
		int c = store_commit(t);
		if (c == -EAGAIN)
			continue; /* the engine told us the view was not consistent */
		if (c) {
			a->errs++;
			continue;
		}
		a->seen++;
		if (p != q)
			a->torn++;
		/* do not spin a core flat out on a small shared machine */
		nanosleep(&(struct timespec){0, 200000}, NULL);
	}
	return NULL;
}

static void t_concurrency(void)
{
	pthread_t th[NTHREADS];
	long errs[NTHREADS] = {0};
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, rmw_thread, &errs[i]);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	long e = 0;
	for (int i = 0; i < NTHREADS; i++)
		e += errs[i];
	CHECK_EQ(e, 0);
	CHECK_EQ(read_counter(STORE_SUPER, 1, "rmw"), NTHREADS * NINCR);
	printf("  %d increments from %d threads: %ld conflicts retried\n",
	       NTHREADS * NINCR, NTHREADS, rmw_retries);

	memset(errs, 0, sizeof(errs));
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, add_thread, &errs[i]);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	e = 0;
	for (int i = 0; i < NTHREADS; i++)
		e += errs[i];
	CHECK(e == 0, "%ld counter adds failed or conflicted", e);
	CHECK_EQ(read_counter(STORE_SUPER, 1, "adds"), NTHREADS * NINCR * 3);

	pthread_t w, r[2];
	long werr = 0;
	struct pair_reader_arg ra[2];
	memset(ra, 0, sizeof(ra));
	writer_done = 0;
	pthread_create(&w, NULL, pair_writer, &werr);
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, pair_reader, &ra[i]);
	pthread_join(w, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	CHECK_EQ(werr, 0);
	CHECK_EQ(ra[0].errs + ra[1].errs, 0);
	CHECK(ra[0].torn + ra[1].torn == 0, "%ld torn reads of %ld",
	      ra[0].torn + ra[1].torn, ra[0].seen + ra[1].seen);
	CHECK(ra[0].seen + ra[1].seen > 0, "readers never completed a read");
	printf("  atomicity: %ld consistent reads of a pair during 150 commits\n",
	       ra[0].seen + ra[1].seen);
	CHECK_EQ(read_counter(STORE_INODE, 700, "p"), 150);
}

/*
 * A lost update must be impossible: T1 reads x, T2 (another thread) reads
 * x and commits x+1, then T1 writes x+1.  An optimistic engine lets T2 run
 * and must answer -EAGAIN to T1's commit; an engine that serializes
 * writers blocks T2 until T1 ends, and then T2 sees T1's value.  Either
 * way the final value tells.
 */
static volatile int t2_done;
static void *t2_thread(void *arg)
{
	long *res = arg;
	struct store_txn *t;
	const void *v;
	size_t vl;
	int r = store_txn_begin(st, 0, &t);
	if (r) {
		*res = r;
		goto out;
	}
	int64_t cur = 0;
	r = store_get(t, STORE_SUPER, 2, "lost", 4, &v, &vl);
	if (r == 0)
		cur = be_val(v, vl);
	uint8_t b[8];
	store_be64(b, (uint64_t)(cur + 1));
	if (!r)
		r = store_put(t, STORE_SUPER, 2, "lost", 4, b, 8);
	if (r)
		store_abort(t);
	else
		r = store_commit(t);
	*res = r;
out:
	t2_done = 1;
	return NULL;
}

static void *live_writer(void *arg)
{
	uint8_t two[8];
	store_be64(two, 2);
	int *res = arg;
	res[0] = put1(STORE_DIR, 7707, "live-a", 6, two, 8);
	res[1] = put1(STORE_DIR, 7707, "live-c", 6, two, 8);
	return NULL;
}

/*
 * STORE_LIVE: read-only and not validated.  A live transaction whose rows
 * another client changes meanwhile still commits (a validated read-only
 * one may not), reads the other client's committed value when it reads
 * after the change, and cannot write.
 */
static void t_live(void)
{
	uint8_t one[8];
	store_be64(one, 1);
	CHECK_EQ(put1(STORE_DIR, 7707, "live-a", 6, one, 8), 0);
	CHECK_EQ(put1(STORE_DIR, 7707, "live-b", 6, one, 8), 0);
	struct store_txn *t = begin(STORE_LIVE);
	if (!t)
		return;
	const void *v;
	size_t vl;
	CHECK_EQ(store_get(t, STORE_DIR, 7707, "live-a", 6, &v, &vl), 0);
	CHECK_EQ(be_val(v, vl), 1);
	static struct scan_out o;
	memset(&o, 0, sizeof(o));
	CHECK_EQ(store_scan(t, STORE_DIR, 7707, NULL, 0, collect, &o), 0);
	CHECK_EQ(o.n, 2);
	scan_out_free(&o);
	CHECK(store_put(t, STORE_DIR, 7707, "live-d", 6, one, 8) < 0,
	      "a live transaction cannot write");
	/* another client (thread) changes both rows read so far; an engine
	 * that runs one process's transactions one at a time (LMDB) lets it
	 * in only after this one ends */
	pthread_t th;
	int res[2] = {-1, -1};
	pthread_create(&th, NULL, live_writer, res);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	int joined = pthread_timedjoin_np(th, NULL, &until) == 0;
	if (joined)
		CHECK_EQ(store_get(t, STORE_DIR, 7707, "live-b", 6, &v, &vl), 0);
	CHECK_EQ(store_commit(t), 0);
	if (!joined)
		pthread_join(th, NULL);
	CHECK_EQ(res[0], 0);
	CHECK_EQ(res[1], 0);
}

static void t_lost_update(void)
{
	uint8_t zero[8] = {0};
	CHECK_EQ(put1(STORE_SUPER, 2, "lost", 4, zero, 8), 0);
	struct store_txn *t = begin(0);
	if (!t)
		return;
	const void *v;
	size_t vl;
	int64_t cur = -1;
	CHECK_EQ(store_get(t, STORE_SUPER, 2, "lost", 4, &v, &vl), 0);
	cur = be_val(v, vl);
	CHECK_EQ(cur, 0);
	pthread_t th;
	long t2_res = 1;
	t2_done = 0;
	pthread_create(&th, NULL, t2_thread, &t2_res);
	for (int i = 0; i < 200 && !t2_done; i++) /* up to 2 s */
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	int t2_first = t2_done;
	uint8_t b[8];
	store_be64(b, (uint64_t)(cur + 1));
	CHECK_EQ(store_put(t, STORE_SUPER, 2, "lost", 4, b, 8), 0);
	int r = store_commit(t);
	pthread_join(th, NULL);
	CHECK_EQ(t2_res, 0);
	if (t2_first) {
		CHECK(r == -EAGAIN, "stale read-modify-write committed (%d)", r);
		CHECK_EQ(read_counter(STORE_SUPER, 2, "lost"), 1);
	} else {
		CHECK_EQ(r, 0);
		CHECK_EQ(read_counter(STORE_SUPER, 2, "lost"), 2);
	}
	/* empty transactions */
	t = begin(0);
	if (t)
		CHECK_EQ(store_commit(t), 0);
	t = begin(STORE_RDONLY);
	if (t)
		CHECK_EQ(store_commit(t), 0);
	t = begin(0);
	if (t)
		store_abort(t);
}

/* store_get_many: the answers of n store_gets, own writes included, and
 * validated like them (a batched read-modify-write must not commit over
 * another's change). */
static void t_get_many(void)
{
	char name[16], val[16];
	for (int i = 0; i < 10; i++) {
		if (i == 5)
			continue; /* row 705 has no column */
		snprintf(val, sizeof(val), "v%d", i);
		CHECK_EQ(put1(STORE_INODE, 700 + i, "a", 1, val, strlen(val)), 0);
	}
	struct store_key k[12];
	struct store_val o[12];
	for (int i = 0; i < 10; i++)
		k[i] = (struct store_key){700 + (uint64_t)i, "a", 1};
	k[10] = k[3]; /* twice */
	k[11] = (struct store_key){9999, "a", 1};
	for (int flags = 0; flags <= STORE_LIVE; flags++) {
		struct store_txn *t = begin(flags);
		if (!t)
			return;
		CHECK_EQ(store_get_many(t, STORE_INODE, 12, k, o), 0);
		for (int i = 0; i < 12; i++) {
			int want = i == 5 || i == 11 ? -ENOENT : 0;
			CHECK_EQ(o[i].r, want);
			if (want || o[i].r)
				continue;
			snprintf(val, sizeof(val), "v%d", i == 10 ? 3 : i);
			CHECK(o[i].len == strlen(val) && !memcmp(o[i].val, val, o[i].len),
			      "get_many[%d] = '%.*s', want '%s'", i, (int)o[i].len,
			      (const char *)o[i].val, val);
		}
		CHECK_EQ(store_get_many(t, STORE_INODE, 0, k, o), 0);
		CHECK_EQ(store_commit(t), 0);
	}
	/* own writes: a put and a delete of this transaction show */
	struct store_txn *t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_put(t, STORE_INODE, 701, "a", 1, "mine", 4), 0);
	CHECK_EQ(store_del(t, STORE_INODE, 702, "a", 1), 0);
	CHECK_EQ(store_put(t, STORE_INODE, 705, "a", 1, "new", 3), 0);
	CHECK_EQ(store_get_many(t, STORE_INODE, 6, k, o), 0);
	CHECK(o[1].r == 0 && o[1].len == 4 && !memcmp(o[1].val, "mine", 4),
	      "own put not seen by get_many");
	CHECK_EQ(o[2].r, -ENOENT);
	CHECK(o[5].r == 0 && o[5].len == 3 && !memcmp(o[5].val, "new", 3),
	      "own put of an absent column not seen by get_many");
	CHECK(o[0].r == 0 && o[0].len == 2 && !memcmp(o[0].val, "v0", 2),
	      "get_many[0] wrong beside own writes");
	store_abort(t);
	CHECK_EQ(get1(STORE_INODE, 701, "a", 1, name, sizeof(name)), 2);
	/* a value read by get_many and changed by another transaction
	 * before commit: the commit fails */
	uint8_t zero[8] = {0};
	CHECK_EQ(put1(STORE_SUPER, 2, "lost", 4, zero, 8), 0);
	if (!(t = begin(0)))
		return;
	struct store_key lk[2] = {{2, "lost", 4}, {3, "none", 4}};
	CHECK_EQ(store_get_many(t, STORE_SUPER, 2, lk, o), 0);
	CHECK_EQ(o[0].r, 0);
	CHECK_EQ(o[1].r, -ENOENT);
	int64_t cur = o[0].r == 0 ? be_val(o[0].val, o[0].len) : -1;
	CHECK_EQ(cur, 0);
	pthread_t th;
	long t2_res = 1;
	t2_done = 0;
	pthread_create(&th, NULL, t2_thread, &t2_res);
	for (int i = 0; i < 200 && !t2_done; i++) /* up to 2 s */
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	int t2_first = t2_done;
	uint8_t b[8];
	store_be64(b, (uint64_t)(cur + 1));
	CHECK_EQ(store_put(t, STORE_SUPER, 2, "lost", 4, b, 8), 0);
	int r = store_commit(t);
	pthread_join(th, NULL);
	CHECK_EQ(t2_res, 0);
	if (t2_first) {
		CHECK(r == -EAGAIN, "stale batched read-modify-write committed (%d)", r);
		CHECK_EQ(read_counter(STORE_SUPER, 2, "lost"), 1);
	} else {
		CHECK_EQ(r, 0);
		CHECK_EQ(read_counter(STORE_SUPER, 2, "lost"), 2);
	}
}

static uint32_t le32_at(uint64_t row, size_t off)
{
	uint8_t b[32];
	long n = get1(STORE_INODE, row, "a", 1, b, sizeof(b));
	if (n < (long)(off + 4))
		return 0xdeadbeef;
	return (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 |
	       (uint32_t)b[off + 2] << 16 | (uint32_t)b[off + 3] << 24;
}

/* store_add_le32: adds modulo 2^32 to 4 bytes of a value, nothing else */
static void t_add_le32(void)
{
	uint8_t v[24];
	for (int i = 0; i < 24; i++)
		v[i] = (uint8_t)(0xa0 + i);
	v[4] = 2, v[5] = v[6] = v[7] = 0;
	CHECK_EQ(put1(STORE_INODE, 720, "a", 1, v, sizeof(v)), 0);
	struct store_txn *t = begin(0);
	if (!t)
		return;
	CHECK_EQ(store_add_le32(t, STORE_INODE, 720, "a", 1, 4, 3), 0);
	CHECK_EQ(store_add_le32(t, STORE_INODE, 720, "a", 1, 4, -1), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(le32_at(720, 4), 4);
	uint8_t b[32];
	CHECK_EQ(get1(STORE_INODE, 720, "a", 1, b, sizeof(b)), 24);
	CHECK(!memcmp(b, v, 4) && !memcmp(b + 8, v + 8, 16),
	      "add_le32 changed bytes beside its own");
	/* modulo 2^32, carrying across the four bytes */
	if (!(t = begin(0)))
		return;
	CHECK_EQ(store_add_le32(t, STORE_INODE, 720, "a", 1, 4, 252), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(le32_at(720, 4), 256);
	if (!(t = begin(0)))
		return;
	CHECK_EQ(store_add_le32(t, STORE_INODE, 720, "a", 1, 4, -257), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(le32_at(720, 4), 0xffffffffu);
	/* aborted: nothing; absent column or too short: nothing */
	if (!(t = begin(0)))
		return;
	CHECK_EQ(store_add_le32(t, STORE_INODE, 720, "a", 1, 4, 1), 0);
	store_abort(t);
	CHECK_EQ(le32_at(720, 4), 0xffffffffu);
	CHECK_EQ(put1(STORE_INODE, 721, "a", 1, "abc", 3), 0);
	if (!(t = begin(0)))
		return;
	CHECK_EQ(store_add_le32(t, STORE_INODE, 722, "a", 1, 0, 1), 0);
	CHECK_EQ(store_add_le32(t, STORE_INODE, 721, "a", 1, 0, 1), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(get1(STORE_INODE, 722, "a", 1, b, sizeof(b)), -ENOENT);
	CHECK_EQ(get1(STORE_INODE, 721, "a", 1, b, sizeof(b)), 3);
	CHECK(!memcmp(b, "abc", 3), "add_le32 changed a too short value");
}

static void t_reopen_sync(void)
{
	CHECK_EQ(put1(STORE_SUPER, 0, "persist", 7, "yes", 3), 0);
	CHECK_EQ(store_sync(st), 0);
	/* capacity: known and sane, or honestly unknown */
	uint64_t total = 0, avail = 0;
	int sp = store_space(st, &total, &avail);
	CHECK(sp == -EOPNOTSUPP || (sp == 0 && total > 0 && avail <= total),
	      "store_space: %d total %llu avail %llu", sp,
	      (unsigned long long)total, (unsigned long long)avail);
	store_close(st);
	st = NULL;
	char err[512] = "";
	int r = store_open(url, 0, &st, err, sizeof(err));
	CHECK(r == 0, "reopen %s: %s", url, err);
	if (r) {
		st = NULL;
		return;
	}
	char buf[16];
	CHECK_EQ(get1(STORE_SUPER, 0, "persist", 7, buf, sizeof(buf)), 3);
	CHECK(!memcmp(buf, "yes", 3), "value lost over reopen");
	CHECK_EQ(read_counter(STORE_SUPER, 1, "rmw"), NTHREADS * NINCR);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s STORE-URL (the store is destroyed!)\n",
			argv[0]);
		return 2;
	}
	url = argv[1];
	char err[512] = "";
	store_destroy(url, err, sizeof(err)); /* leftovers of an earlier run */

	t_open_missing();
	err[0] = 0;
	int r = store_open(url, STORE_CREATE, &st, err, sizeof(err));
	CHECK(r == 0, "store_open(%s, STORE_CREATE): %s", url, err);
	if (r)
		return test_done();

	struct {
		const char *name;
		void (*fn)(void);
	} steps[] = {
		{"basic", t_basic},
		{"scan order", t_scan_order},
		{"binary and limits", t_binary_limits},
		{"own writes, isolation, abort", t_own_writes_and_abort},
		{"del_row", t_del_row},
		{"counters", t_add},
		{"families and rows", t_families_rows},
		{"many rows, wide row", t_many},
		{"concurrency", t_concurrency},
		{"lost update", t_lost_update},
		{"live reads", t_live},
		{"get_many", t_get_many},
		{"add_le32", t_add_le32},
		{"sync and reopen", t_reopen_sync},
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int before = test_failed;
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		steps[i].fn();
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("%-30s %s (%.2fs)\n", steps[i].name,
		       test_failed == before ? "ok" : "FAILED",
		       (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
		fflush(stdout);
		if (!st)
			break;
	}
	if (st)
		store_close(st);
	err[0] = 0;
	r = store_destroy(url, err, sizeof(err));
	CHECK(r == 0, "store_destroy(%s): %s", url, err);
	/* after destroy the store is gone */
	struct store *s2 = NULL;
	r = store_open(url, 0, &s2, err, sizeof(err));
	CHECK(r < 0, "store still opens after store_destroy");
	if (r == 0)
		store_close(s2);
	return test_done();
}
