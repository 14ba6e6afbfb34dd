/*
 * store_shared.c — two clients of one store (two store_open handles, as
 * two mounts are): what one commits, the other's transactions must not
 * miss, whatever the engine caches.  Also the fast-path calls of store.h
 * (get_except, put_max_time, hint_empty, validate) and their conflict
 * rules.  Usage: store_shared URL (the store is destroyed!).  For engines
 * that can be opened twice in one process (Redis, Redis Cluster).
 *
 * Every check is on outcomes, not on the engine's means: a transaction
 * that read an old value must not commit (commit or store_validate
 * answers -EAGAIN), and the retry sees the new one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "meta.h"
#include "store.h"
#include "test.h"

static struct store *s1, *s2;

static int put_in(struct store *s, int fam, uint64_t row, const char *col,
		  const void *val, size_t vl)
{
	for (int tries = 0; tries < 100; tries++) {
		struct store_txn *t;
		int r = store_txn_begin(s, 0, &t);
		if (r)
			return r;
		if ((r = store_put(t, fam, row, col, strlen(col), val, vl))) {
			store_abort(t);
			return r;
		}
		if ((r = store_commit(t)) != -EAGAIN)
			return r;
	}
	return -EAGAIN;
}

/* read col (a string value) in a read-only transaction: 0, -ENOENT */
static int get_in(struct store *s, int fam, uint64_t row, const char *col,
		  char *buf, size_t len)
{
	for (int tries = 0; tries < 100; tries++) {
		struct store_txn *t;
		const void *v;
		size_t vl;
		int r = store_txn_begin(s, STORE_RDONLY, &t);
		if (r)
			return r;
		r = store_get(t, fam, row, col, strlen(col), &v, &vl);
		if (r == 0) {
			snprintf(buf, len, "%.*s", (int)vl, (const char *)v);
			r = store_commit(t);
		} else if (r == -ENOENT) {
			int c = store_validate(t);
			store_abort(t);
			if (c)
				r = c;
		} else {
			store_abort(t);
		}
		if (r != -EAGAIN)
			return r;
	}
	return -EAGAIN;
}

/* 1. A value cached by s1 and changed by s2: s1's read-modify-write that
 * saw the old value must not commit. */
static void t_stale_value(void)
{
	char buf[64];
	CHECK_EQ(put_in(s1, STORE_INODE, 500, "a", "one", 3), 0);
	CHECK_EQ(get_in(s1, STORE_INODE, 500, "a", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "one"), "read back '%s'", buf);
	CHECK_EQ(put_in(s2, STORE_INODE, 500, "a", "two", 3), 0);
	int committed_old = 0, done = 0;
	for (int tries = 0; tries < 10 && !done; tries++) {
		struct store_txn *t;
		const void *v;
		size_t vl;
		CHECK_EQ(store_txn_begin(s1, 0, &t), 0);
		CHECK_EQ(store_get(t, STORE_INODE, 500, "a", 1, &v, &vl), 0);
		int old = vl == 3 && !memcmp(v, "one", 3);
		char copy[8];
		memcpy(copy, v, vl < 8 ? vl : 8);
		CHECK_EQ(store_put(t, STORE_INODE, 501, "a", 1, copy, vl < 8 ? vl : 8), 0);
		int r = store_commit(t);
		CHECK(r == 0 || r == -EAGAIN, "commit: %s", strerror(-r));
		if (r == 0) {
			committed_old |= old;
			done = 1;
		}
	}
	CHECK(done, "the read-modify-write never committed");
	CHECK(!committed_old, "a transaction that read the old value committed");
	CHECK_EQ(get_in(s1, STORE_INODE, 501, "a", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "two"), "copied '%s', want 'two'", buf);
	/* a read-only read of a value s1 holds and s2 then changes (the
	 * retry after a failed check answers what the check found) */
	for (int i = 0; i < 20; i++) {
		char want[16];
		snprintf(want, sizeof(want), "v%d", i);
		CHECK_EQ(put_in(s2, STORE_INODE, 500, "a", want, strlen(want)), 0);
		CHECK_EQ(get_in(s1, STORE_INODE, 500, "a", buf, sizeof(buf)), 0);
		CHECK(!strcmp(buf, want), "read '%s', want '%s'", buf, want);
	}
}

/* 2. "No such column" seen by s1, then created by s2: a failing
 * operation's check (store_validate) must say so. */
static void t_stale_absence(void)
{
	char buf[64];
	CHECK_EQ(get_in(s1, STORE_DIR, 502, "name", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(put_in(s2, STORE_DIR, 502, "name", "x", 1), 0);
	struct store_txn *t;
	const void *v;
	size_t vl;
	CHECK_EQ(store_txn_begin(s1, STORE_RDONLY, &t), 0);
	int r = store_get(t, STORE_DIR, 502, "name", 4, &v, &vl);
	CHECK(r == 0 || r == -ENOENT, "get: %s", strerror(-r));
	if (r == -ENOENT)
		CHECK_EQ(store_validate(t), -EAGAIN);
	else
		CHECK_EQ(store_validate(t), 0);
	store_abort(t);
	CHECK_EQ(get_in(s1, STORE_DIR, 502, "name", buf, sizeof(buf)), 0);
}

/* 3. get_except: a change inside the skipped bytes does not conflict, one
 * outside does. */
static void t_get_except(void)
{
	uint8_t v0[96], v1[96];
	memset(v0, 7, sizeof(v0));
	CHECK_EQ(put_in(s1, STORE_INODE, 503, "a", v0, sizeof(v0)), 0);
	for (int outside = 0; outside < 2; outside++) {
		struct store_txn *t;
		const void *v;
		size_t vl;
		CHECK_EQ(store_txn_begin(s1, 0, &t), 0);
		CHECK_EQ(store_get_except(t, STORE_INODE, 503, "a", 1, 52, 24, &v, &vl), 0);
		CHECK_EQ(vl, sizeof(v0));
		memcpy(v1, v, sizeof(v1));
		v1[outside ? 10 : 60]++; /* s2 changes a byte inside / outside */
		CHECK_EQ(put_in(s2, STORE_INODE, 503, "a", v1, sizeof(v1)), 0);
		CHECK_EQ(store_put(t, STORE_INODE, 504, "a", 1, "w", 1), 0);
		CHECK_EQ(store_commit(t), outside ? -EAGAIN : 0);
	}
}

static void mktime12(uint8_t out[12], uint64_t sec, uint32_t ns)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(sec >> (8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(ns >> (8 * i));
}

static uint64_t sec_at(struct store *s, uint64_t row, size_t off)
{
	for (int tries = 0; tries < 100; tries++) {
		struct store_txn *t;
		const void *v;
		size_t vl;
		uint64_t sec = 0;
		if (store_txn_begin(s, STORE_RDONLY, &t))
			return 0;
		int r = store_get(t, STORE_INODE, row, "a", 1, &v, &vl);
		if (r == 0 && vl >= off + 12)
			for (int i = 8; i-- > 0;)
				sec = (sec << 8) | ((const uint8_t *)v)[off + i];
		if (r) {
			store_abort(t);
			return 0;
		}
		if (store_commit(t) == 0)
			return sec;
	}
	return 0;
}

/* 4. put_max_time: the later time wins whatever the order; two writers
 * of one column do not conflict. */
static void t_max_time(void)
{
	uint8_t v0[96] = {0}, ts[12];
	CHECK_EQ(put_in(s1, STORE_INODE, 505, "a", v0, sizeof(v0)), 0);
	struct store_txn *a, *b;
	CHECK_EQ(store_txn_begin(s1, 0, &a), 0);
	CHECK_EQ(store_txn_begin(s2, 0, &b), 0);
	mktime12(ts, 200, 5);
	CHECK_EQ(store_put_max_time(a, STORE_INODE, 505, "a", 1, 52, ts), 0);
	mktime12(ts, 300, 0);
	CHECK_EQ(store_put_max_time(b, STORE_INODE, 505, "a", 1, 52, ts), 0);
	CHECK_EQ(store_commit(b), 0);
	CHECK_EQ(store_commit(a), 0);
	CHECK_EQ(sec_at(s1, 505, 52), 300);
	CHECK_EQ(sec_at(s2, 505, 52), 300);
	CHECK_EQ(store_txn_begin(s2, 0, &b), 0);
	mktime12(ts, 250, 0); /* earlier: no change */
	CHECK_EQ(store_put_max_time(b, STORE_INODE, 505, "a", 1, 52, ts), 0);
	CHECK_EQ(store_commit(b), 0);
	CHECK_EQ(sec_at(s1, 505, 52), 300);
	/* a reader that skipped those bytes does not conflict with them */
	struct store_txn *r;
	const void *v;
	size_t vl;
	CHECK_EQ(store_txn_begin(s1, 0, &r), 0);
	CHECK_EQ(store_get_except(r, STORE_INODE, 505, "a", 1, 52, 24, &v, &vl), 0);
	CHECK_EQ(store_txn_begin(s2, 0, &b), 0);
	mktime12(ts, 400, 0);
	CHECK_EQ(store_put_max_time(b, STORE_INODE, 505, "a", 1, 64, ts), 0);
	CHECK_EQ(store_commit(b), 0);
	mktime12(ts, 350, 0);
	CHECK_EQ(store_put_max_time(r, STORE_INODE, 505, "a", 1, 64, ts), 0);
	CHECK_EQ(store_commit(r), 0);
	CHECK_EQ(sec_at(s1, 505, 64), 400);
	/* an absent column stays absent */
	CHECK_EQ(store_txn_begin(s1, 0, &a), 0);
	CHECK_EQ(store_put_max_time(a, STORE_INODE, 506, "a", 1, 52, ts), 0);
	CHECK_EQ(store_commit(a), 0);
	char buf[8];
	CHECK_EQ(get_in(s2, STORE_INODE, 506, "a", buf, sizeof(buf)), -ENOENT);
}

static int count_cb(void *arg, const void *c, size_t cl, const void *v, size_t vl)
{
	(*(int *)arg)++;
	return 0;
}

/* scan a row in s1, then record the count: the count committed must be
 * the row's */
static int scan_and_note(uint64_t row, int fam)
{
	for (int tries = 0; tries < 10; tries++) {
		struct store_txn *t;
		int n = 0;
		uint8_t b[8];
		if (store_txn_begin(s1, 0, &t))
			return -1;
		int r = store_scan(t, fam, row, NULL, 0, count_cb, &n);
		store_be64(b, (uint64_t)n);
		if (!r)
			r = store_put(t, STORE_SUPER, row, "seen", 4, b, 8);
		if (r) {
			store_abort(t);
			return -1;
		}
		r = store_commit(t);
		if (r == 0)
			return n;
		if (r != -EAGAIN)
			return -1;
	}
	return -1;
}

/* 5. Rows noted empty (hint_empty) or left empty by a delete, then filled
 * by the other client: a scan that found them empty must not commit. */
static void t_empty_rows(void)
{
	struct store_txn *t;
	CHECK_EQ(store_txn_begin(s1, 0, &t), 0);
	CHECK_EQ(store_hint_empty(t, STORE_DIR, 507), 0);
	CHECK_EQ(store_put(t, STORE_INODE, 507, "a", 1, "d", 1), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(scan_and_note(507, STORE_DIR), 0);
	CHECK_EQ(put_in(s2, STORE_DIR, 507, "n", "x", 1), 0);
	CHECK_EQ(scan_and_note(507, STORE_DIR), 1);

	CHECK_EQ(put_in(s1, STORE_HOLDER, 508, "m", "h", 1), 0);
	CHECK_EQ(store_txn_begin(s1, 0, &t), 0);
	CHECK_EQ(store_del(t, STORE_HOLDER, 508, "m", 1), 0);
	CHECK_EQ(store_commit(t), 0);
	CHECK_EQ(scan_and_note(508, STORE_HOLDER), 0);
	CHECK_EQ(put_in(s2, STORE_HOLDER, 508, "o", "h", 1), 0);
	CHECK_EQ(scan_and_note(508, STORE_HOLDER), 1);
}

/* 6. add_le32 from two clients on one column commutes: neither conflicts
 * (each read the value except those bytes), both adds land; a reader of
 * the whole value does conflict. */
static void t_add_le32(void)
{
	uint8_t v0[96] = {0};
	v0[12] = 2;
	CHECK_EQ(put_in(s1, STORE_INODE, 510, "a", v0, sizeof(v0)), 0);
	struct store_txn *a, *b, *full;
	const void *v;
	size_t vl;
	CHECK_EQ(store_txn_begin(s1, 0, &a), 0);
	CHECK_EQ(store_txn_begin(s2, 0, &b), 0);
	CHECK_EQ(store_txn_begin(s1, 0, &full), 0);
	CHECK_EQ(store_get_except(a, STORE_INODE, 510, "a", 1, 12, 64, &v, &vl), 0);
	CHECK_EQ(store_get_except(b, STORE_INODE, 510, "a", 1, 12, 64, &v, &vl), 0);
	CHECK_EQ(store_get(full, STORE_INODE, 510, "a", 1, &v, &vl), 0);
	CHECK_EQ(store_add_le32(a, STORE_INODE, 510, "a", 1, 12, 1), 0);
	CHECK_EQ(store_add_le32(b, STORE_INODE, 510, "a", 1, 12, 1), 0);
	CHECK_EQ(store_put(full, STORE_INODE, 511, "a", 1, "x", 1), 0);
	CHECK_EQ(store_commit(a), 0);
	CHECK_EQ(store_commit(b), 0);
	CHECK_EQ(store_commit(full), -EAGAIN);
	for (int tries = 0; tries < 100; tries++) {
		struct store_txn *t;
		if (store_txn_begin(s2, STORE_RDONLY, &t))
			break;
		int r = store_get(t, STORE_INODE, 510, "a", 1, &v, &vl);
		uint8_t n = r == 0 && vl > 12 ? ((const uint8_t *)v)[12] : 0;
		if (r) {
			store_abort(t);
			CHECK_EQ(r, 0);
			break;
		}
		if (store_commit(t) == 0) {
			CHECK_EQ(n, 4);
			break;
		}
	}
}

/* 7. meta on two clients: an entry made in a directory (read skipping
 * its link count and times) conflicts with the directory's removal that
 * the other client commits meanwhile (nlink 0, kept as an orphan), but
 * not with the other client's mkdir beside it; the link count adds both
 * land. */
static int dir_change(struct store *s, uint64_t ino, int remove)
{
	for (int tries = 0; tries < 100; tries++) {
		struct store_txn *t;
		struct meta_inode d;
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		int r = store_txn_begin(s, 0, &t);
		if (r)
			return r;
		if (remove) {
			r = meta_inode_get(t, ino, &d);
			d.nlink = 0;
			d.ctime = now;
			if (!r)
				r = meta_inode_put(t, &d);
		} else {
			r = meta_dir_get_for_entry(t, ino, &d);
			if (!r)
				r = meta_dentry_put(t, ino, "y", 1, 998, 4);
			if (!r)
				r = meta_dir_link_count(t, ino, 1);
			if (!r)
				r = meta_dir_touch(t, ino, &now);
		}
		if (r) {
			store_abort(t);
			return r;
		}
		if ((r = store_commit(t)) != -EAGAIN)
			return r;
	}
	return -EAGAIN;
}

static void t_parent_removed(void)
{
	for (int removed = 0; removed < 2; removed++) {
		uint64_t ino = 520 + (uint64_t)removed;
		struct meta_inode d = {.ino = ino, .mode = S_IFDIR | 0755,
				       .nlink = 2, .parent = 1};
		struct store_txn *t;
		CHECK_EQ(store_txn_begin(s1, 0, &t), 0);
		CHECK_EQ(meta_inode_put(t, &d), 0);
		CHECK_EQ(store_commit(t), 0);
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		CHECK_EQ(store_txn_begin(s1, 0, &t), 0);
		CHECK_EQ(meta_dir_get_for_entry(t, ino, &d), 0);
		CHECK_EQ(meta_dentry_put(t, ino, "x", 1, 999, 4), 0);
		CHECK_EQ(meta_dir_link_count(t, ino, 1), 0);
		CHECK_EQ(meta_dir_touch(t, ino, &now), 0);
		CHECK_EQ(dir_change(s2, ino, removed), 0);
		CHECK_EQ(store_commit(t), removed ? -EAGAIN : 0);
		if (removed)
			continue;
		/* read-only, validated at commit (s2's cache holds its own
		 * view of the count) */
		int r = -EAGAIN;
		for (int tries = 0; tries < 100 && r == -EAGAIN; tries++) {
			CHECK_EQ(store_txn_begin(s2, STORE_RDONLY, &t), 0);
			if ((r = meta_inode_get(t, ino, &d)) == 0)
				r = store_commit(t);
			else
				store_abort(t);
		}
		CHECK_EQ(r, 0);
		CHECK_EQ(d.nlink, 4);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s STORE-URL (the store is destroyed!)\n", argv[0]);
		return 2;
	}
	char err[512] = "";
	store_destroy(argv[1], err, sizeof(err));
	int r = store_open(argv[1], STORE_CREATE, &s1, err, sizeof(err));
	CHECK(r == 0, "store_open(%s): %s", argv[1], err);
	if (r == 0) {
		r = store_open(argv[1], 0, &s2, err, sizeof(err));
		CHECK(r == 0, "second store_open(%s): %s", argv[1], err);
	}
	if (r)
		return test_done();
	struct {
		const char *name;
		void (*fn)(void);
	} steps[] = {
		{"stale value", t_stale_value},
		{"stale absence", t_stale_absence},
		{"get_except", t_get_except},
		{"put_max_time", t_max_time},
		{"empty rows", t_empty_rows},
		{"add_le32", t_add_le32},
		{"parent removed", t_parent_removed},
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int before = test_failed;
		steps[i].fn();
		printf("%-20s %s\n", steps[i].name, test_failed == before ? "ok" : "FAILED");
	}
	store_close(s2);
	store_close(s1);
	store_destroy(argv[1], err, sizeof(err));
	return test_done();
}
