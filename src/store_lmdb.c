/*
 * store_lmdb.c — the embedded engine: one LMDB environment in a directory.
 *
 * URL: lmdb:///ABSOLUTE/DIR[?sync=commit|lazy].  DIR holds data.mdb and
 * lock.mdb (and the mount lock of coord_local).
 *
 * Layout: one unnamed database; key = family byte | be64 row | column,
 * so a row's columns are contiguous and ordered and a scan is one cursor
 * walk.  LMDB allows one writer at a time, so commits never conflict.
 *
 * Durability: with sync=commit (the default) every commit fdatasync()s
 * the data pages and writes the meta page without syncing
 * (MDB_NOMETASYNC): a power cut may undo the last transaction but never
 * leaves a torn database.  sync=lazy (MDB_NOSYNC) syncs only on
 * store_sync() and is for scratch filesystems: a power cut may then lose
 * or corrupt recent transactions.  A killed process loses nothing in
 * either mode, because committed pages are already in the kernel.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store.h"

#define KEY_MAX (1 + 8 + STORE_MAX_COLUMN)
#define LMDB_MAP_SIZE (1ull << 40) /* address space only; the file grows as used */

struct lmdb_store {
	struct store base;
	MDB_env *env;
	MDB_dbi dbi;
	char dir[4096];
};

struct lmdb_txn {
	struct store_txn base;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rdonly;
};

static int map_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case ENOSPC:
		return -ENOSPC;
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
		return -EAGAIN;
	case ENOMEM:
		return -ENOMEM;
	case EINVAL:
		return -EINVAL;
	case EACCES:
	case EROFS:
		return -rc;
	default:
		return -EIO;
	}
}

static size_t make_key(uint8_t *key, int fam, uint64_t row, const void *col,
		       size_t col_len)
{
	key[0] = (uint8_t)fam;
	store_be64(key + 1, row);
	if (col_len)
		memcpy(key + 9, col, col_len);
	return 9 + col_len;
}

/* Parse "lmdb:///dir[?sync=…]" into dir and the env flags. */
static int parse_url(const char *url, char *dir, size_t dir_len,
		     unsigned *flags, char *err, size_t err_len)
{
	const char *p = url + strlen("lmdb://");
	if (*p != '/') {
		snprintf(err, err_len,
			 "'%s': expected lmdb:///ABSOLUTE/PATH (three slashes)", url);
		return -EINVAL;
	}
	const char *q = strchr(p, '?');
	size_t n = q ? (size_t)(q - p) : strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n >= dir_len) {
		snprintf(err, err_len, "'%s': path too long", url);
		return -ENAMETOOLONG;
	}
	memcpy(dir, p, n);
	dir[n] = 0;
	*flags = MDB_NOTLS | MDB_NOMETASYNC;
	if (q) {
		if (!strcmp(q, "?sync=lazy"))
			*flags = MDB_NOTLS | MDB_NOSYNC;
		else if (strcmp(q, "?sync=commit")) {
			snprintf(err, err_len,
				 "'%s': unknown option '%s' (known: ?sync=commit, ?sync=lazy)",
				 url, q + 1);
			return -EINVAL;
		}
	}
	return 0;
}

static int lmdb_open(const char *url, int flags, struct store **out,
		     char *err, size_t err_len)
{
	struct lmdb_store *s = calloc(1, sizeof(*s));
	unsigned env_flags;
	MDB_txn *txn = NULL;
	int rc;
	if (!s)
		return -ENOMEM;
	rc = parse_url(url, s->dir, sizeof(s->dir), &env_flags, err, err_len);
	if (rc < 0)
		goto fail;

	char data[4200];
	snprintf(data, sizeof(data), "%s/data.mdb", s->dir);
	struct stat st;
	if (stat(s->dir, &st) < 0) {
		if (errno != ENOENT || !(flags & STORE_CREATE)) {
			rc = -errno;
			snprintf(err, err_len, "cannot open store %s: %s%s", url,
				 strerror(errno),
				 errno == ENOENT ? " (run 'cassafs mkfs' first?)" : "");
			goto fail;
		}
		if (mkdir(s->dir, 0700) < 0) {
			rc = -errno;
			snprintf(err, err_len, "cannot create %s: %s", s->dir,
				 strerror(errno));
			goto fail;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		rc = -ENOTDIR;
		snprintf(err, err_len, "cannot open store %s: %s is not a directory",
			 url, s->dir);
		goto fail;
	} else if (!(flags & STORE_CREATE) && access(data, F_OK) < 0) {
		rc = -ENOENT;
		snprintf(err, err_len,
			 "cannot open store %s: no data.mdb in %s (run 'cassafs mkfs' first?)",
			 url, s->dir);
		goto fail;
	}

	if ((rc = mdb_env_create(&s->env)) ||
	    (rc = mdb_env_set_mapsize(s->env, LMDB_MAP_SIZE)) ||
	    (rc = mdb_env_set_maxreaders(s->env, 1024))) {
		snprintf(err, err_len, "cannot set up LMDB: %s", mdb_strerror(rc));
		rc = map_err(rc);
		goto fail;
	}
	rc = mdb_env_open(s->env, s->dir, env_flags, 0600);
	if (rc) {
		snprintf(err, err_len, "cannot open store %s: %s%s", url,
			 mdb_strerror(rc),
			 rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH
				 ? " (not an LMDB file, or a corrupt one)" : "");
		rc = rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ? -EINVAL
								      : map_err(rc);
		goto fail;
	}
	/* Clear reader slots left by processes that died. */
	int dead;
	mdb_reader_check(s->env, &dead);
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) ||
	    (rc = mdb_txn_commit(txn))) {
		if (txn && rc)
			mdb_txn_abort(txn);
		snprintf(err, err_len, "cannot open store %s: %s", url,
			 mdb_strerror(rc));
		rc = map_err(rc);
		goto fail;
	}
	*out = &s->base;
	return 0;
fail:
	if (s->env)
		mdb_env_close(s->env);
	free(s);
	return rc;
}

static void lmdb_close(struct store *base)
{
	struct lmdb_store *s = (struct lmdb_store *)base;
	mdb_env_close(s->env);
	free(s);
}

static int lmdb_txn_begin(struct store *base, int flags, struct store_txn **out)
{
	struct lmdb_store *s = (struct lmdb_store *)base;
	struct lmdb_txn *t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->rdonly = !!(flags & STORE_RDONLY);
	t->dbi = s->dbi;
	int rc = mdb_txn_begin(s->env, NULL, t->rdonly ? MDB_RDONLY : 0, &t->txn);
	if (rc) {
		free(t);
		return map_err(rc);
	}
	*out = &t->base;
	return 0;
}

static int lmdb_get(struct store_txn *base, int fam, uint64_t row,
		    const void *col, size_t col_len, const void **val,
		    size_t *val_len)
{
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	uint8_t key[KEY_MAX];
	MDB_val k = {make_key(key, fam, row, col, col_len), key}, v;
	int rc = mdb_get(t->txn, t->dbi, &k, &v);
	if (rc)
		return map_err(rc);
	*val = v.mv_data;
	*val_len = v.mv_size;
	return 0;
}

static int lmdb_put(struct store_txn *base, int fam, uint64_t row,
		    const void *col, size_t col_len, const void *val,
		    size_t val_len)
{
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	uint8_t key[KEY_MAX];
	MDB_val k = {make_key(key, fam, row, col, col_len), key};
	MDB_val v = {val_len, (void *)val};
	return map_err(mdb_put(t->txn, t->dbi, &k, &v, 0));
}

static int lmdb_del(struct store_txn *base, int fam, uint64_t row,
		    const void *col, size_t col_len)
{
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	uint8_t key[KEY_MAX];
	MDB_val k = {make_key(key, fam, row, col, col_len), key};
	int rc = mdb_del(t->txn, t->dbi, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

/*
 * Walk the keys of (fam,row) from start; call fn, or delete each key when
 * fn is NULL.
 */
static int walk_row(struct lmdb_txn *t, int fam, uint64_t row,
		    const void *start, size_t start_len, store_scan_fn fn,
		    void *arg)
{
	uint8_t key[KEY_MAX];
	size_t klen = make_key(key, fam, row, start, start_len);
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, t->dbi, &cur);
	if (rc)
		return map_err(rc);
	MDB_val k = {klen, key}, v;
	int r = 0;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size < 9 || memcmp(k.mv_data, key, 9))
			break;
		if (fn) {
			r = fn(arg, (uint8_t *)k.mv_data + 9, k.mv_size - 9,
			       v.mv_data, v.mv_size);
			if (r)
				break;
		} else if ((rc = mdb_cursor_del(cur, 0))) {
			break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (r)
		return r;
	return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

static int lmdb_scan(struct store_txn *base, int fam, uint64_t row,
		     const void *start, size_t start_len, store_scan_fn fn,
		     void *arg)
{
	return walk_row((struct lmdb_txn *)base, fam, row, start, start_len, fn,
			arg);
}

static int lmdb_del_row(struct store_txn *base, int fam, uint64_t row)
{
	return walk_row((struct lmdb_txn *)base, fam, row, NULL, 0, NULL, NULL);
}

static int lmdb_add(struct store_txn *base, int fam, uint64_t row,
		    const void *col, size_t col_len, int64_t delta)
{
	const void *val;
	size_t len;
	int64_t cur = 0;
	int r = lmdb_get(base, fam, row, col, col_len, &val, &len);
	if (r == 0 && len == 8)
		cur = (int64_t)store_get_be64(val);
	else if (r && r != -ENOENT)
		return r;
	uint8_t buf[8];
	store_be64(buf, (uint64_t)(cur + delta));
	return lmdb_put(base, fam, row, col, col_len, buf, 8);
}

static int lmdb_commit(struct store_txn *base)
{
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	int rc = mdb_txn_commit(t->txn);
	free(t);
	return map_err(rc);
}

static void lmdb_abort(struct store_txn *base)
{
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	mdb_txn_abort(t->txn);
	free(t);
}

static int lmdb_sync(struct store *base)
{
	struct lmdb_store *s = (struct lmdb_store *)base;
	return map_err(mdb_env_sync(s->env, 1));
}

static int lmdb_space(struct store *base, uint64_t *total, uint64_t *avail)
{
	struct lmdb_store *s = (struct lmdb_store *)base;
	struct statvfs sv;
	if (statvfs(s->dir, &sv) < 0)
		return -errno;
	*total = (uint64_t)sv.f_blocks * sv.f_frsize;
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return 0;
}

static int lmdb_destroy(const char *url, char *err, size_t err_len)
{
	char dir[4096], path[4200];
	unsigned flags;
	int rc = parse_url(url, dir, sizeof(dir), &flags, err, err_len);
	if (rc < 0)
		return rc;
	static const char *const files[] = {"data.mdb", "lock.mdb", "mount.lock"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (unlink(path) < 0 && errno != ENOENT) {
			rc = -errno;
			snprintf(err, err_len, "cannot remove %s: %s", path,
				 strerror(errno));
			return rc;
		}
	}
	if (rmdir(dir) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, err_len, "cannot remove %s: %s", dir, strerror(errno));
		return rc;
	}
	return 0;
}

const struct store_ops store_lmdb_ops = {
	.scheme = "lmdb",
	.open = lmdb_open,
	.close = lmdb_close,
	.txn_begin = lmdb_txn_begin,
	.get = lmdb_get,
	.put = lmdb_put,
	.del = lmdb_del,
	.del_row = lmdb_del_row,
	.scan = lmdb_scan,
	.add = lmdb_add,
	.commit = lmdb_commit,
	.abort = lmdb_abort,
	.sync = lmdb_sync,
	.space = lmdb_space,
	.destroy = lmdb_destroy,
};
