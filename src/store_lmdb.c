/*
 * store_lmdb.c — the embedded engine: one LMDB environment in a directory.
 *
 * URL: lmdb:///ABSOLUTE/DIR[?sync=batch|commit][&commit_ms=N]
 * DIR holds data.mdb and lock.mdb (and the mount lock of coord_local).
 *
 * Layout: one unnamed database; key = family byte | be64 row | column,
 * so a row's columns are contiguous and ordered and a scan is one cursor
 * walk.  Transactions never conflict (LMDB has one writer at a time).
 *
 * Durability modes:
 *
 *  sync=batch (default) — group commit.  A committer thread keeps one
 *    LMDB write transaction open (the batch); every store transaction of
 *    this process runs as a nested transaction inside it, serialised by
 *    one mutex, so an operation is atomic and visible at once to all later
 *    ones.  The batch is committed with LMDB's full sync every commit_ms
 *    (default 1000), when it holds 64 MiB, and whenever store_sync() asks
 *    (fsync).  LMDB's commit is all-or-nothing, so a crash or a power cut
 *    loses at most the operations since the last commit and never leaves a
 *    torn database; fsync'ed data is always there.  Other processes (status,
 *    fsck) see the state as of the last commit.  When the disk runs low, each
 *    operation waits for its own commit, so "disk full" reaches the
 *    operation that caused it instead of an already acknowledged batch.
 *
 *  sync=commit — every transaction is its own LMDB transaction, made
 *    durable before it returns (data fdatasync'ed, meta page written
 *    without sync: a power cut may undo only the last one).  Slower: one
 *    disk flush per operation.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

#define KEY_MAX (1 + 8 + STORE_MAX_COLUMN)
#define LMDB_MAP_SIZE (1ull << 40) /* address space only; the file grows as used */
#define BATCH_MAX_BYTES (64u << 20)
#define LOW_SPACE_BYTES (512ull << 20) /* below this, commit per operation */

struct lmdb_store {
	struct store base;
	MDB_env *env;
	MDB_dbi dbi;
	char dir[4096];
	int batch_mode;
	unsigned commit_ms;

	/* batch mode only; the fields below are protected by lock */
	pthread_mutex_t lock;  /* guards the batch and the fields below */
	pthread_cond_t cond;   /* transactions and sync callers wait here */
	pthread_cond_t wake;   /* the committer waits here */
	pthread_t committer;
	int committer_started;
	MDB_txn *batch;        /* the open batch, NULL while (re)starting */
	size_t batch_bytes;    /* bytes written into the batch */
	unsigned batch_ops;
	struct timespec batch_start;
	uint64_t commit_seq;   /* commits done */
	uint64_t want_seq;     /* a waiter needs commit_seq >= this */
	int last_commit_err;
	int failed;            /* a batch was lost: refuse further work */
	int stop;
	pthread_t owner;       /* thread holding lock for a transaction */
	int owned;
	int low_space;
	time_t space_checked;
};

struct lmdb_txn {
	struct store_txn base;
	MDB_txn *txn;    /* own or nested transaction; the batch for reads */
	MDB_dbi dbi;
	int rdonly;
	int in_batch;    /* holds s->lock */
	size_t bytes;
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

/* Parse "lmdb:///dir[?opt=val&…]". */
static int parse_url(const char *url, struct lmdb_store *s, char *err,
		     size_t err_len)
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
	if (n >= sizeof(s->dir)) {
		snprintf(err, err_len, "'%s': path too long", url);
		return -ENAMETOOLONG;
	}
	memcpy(s->dir, p, n);
	s->dir[n] = 0;
	s->batch_mode = 1;
	s->commit_ms = 1000;
	while (q && *q) {
		const char *opt = q + 1;
		size_t len = strcspn(opt, "&");
		q = opt[len] ? opt + len : NULL;
		if (len == 10 && !strncmp(opt, "sync=batch", len)) {
			s->batch_mode = 1;
		} else if (len == 11 && !strncmp(opt, "sync=commit", len)) {
			s->batch_mode = 0;
		} else if (len > 10 && !strncmp(opt, "commit_ms=", 10) &&
			   atoi(opt + 10) > 0 && atoi(opt + 10) <= 60000) {
			s->commit_ms = (unsigned)atoi(opt + 10);
		} else {
			snprintf(err, err_len,
				 "'%s': unknown option '%.*s' (known: sync=batch, "
				 "sync=commit, commit_ms=1..60000)", url, (int)len, opt);
			return -EINVAL;
		}
	}
	return 0;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ---- the committer (batch mode) ---- */

static void check_space(struct lmdb_store *s)
{
	time_t now = time(NULL);
	if (now == s->space_checked)
		return;
	s->space_checked = now;
	struct statvfs sv;
	if (statvfs(s->dir, &sv) == 0)
		s->low_space = (uint64_t)sv.f_bavail * sv.f_frsize <
			       LOW_SPACE_BYTES + 2ull * BATCH_MAX_BYTES;
}

static void *committer_main(void *arg)
{
	struct lmdb_store *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stop || s->batch_ops) {
		if (!s->batch && !s->failed) {
			int rc = mdb_txn_begin(s->env, NULL, 0, &s->batch);
			if (rc) {
				log_error("store %s: cannot start a transaction: %s",
					  s->dir, mdb_strerror(rc));
				s->batch = NULL;
				s->failed = 1;
			}
			s->batch_bytes = 0;
			s->batch_ops = 0;
			pthread_cond_broadcast(&s->cond);
		}
		int due = s->batch_ops &&
			  (s->stop || s->want_seq > s->commit_seq ||
			   s->batch_bytes >= BATCH_MAX_BYTES ||
			   ms_since(&s->batch_start) >= (long)s->commit_ms);
		if (!due) {
			if (s->want_seq > s->commit_seq) {
				/* nothing to commit: the waiter is satisfied */
				s->commit_seq++;
				s->last_commit_err = s->failed ? -EIO : 0;
				pthread_cond_broadcast(&s->cond);
				continue;
			}
			if (s->stop)
				break;
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (long)(s->commit_ms % 1000) * 1000000 + 1000000;
			until.tv_sec += s->commit_ms / 1000 + until.tv_nsec / 1000000000;
			until.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&s->wake, &s->lock, &until);
			continue;
		}
		int rc = mdb_txn_commit(s->batch);
		s->batch = NULL;
		if (rc) {
			log_error("store %s: LOST the last %u operations: commit "
				  "failed: %s; the filesystem refuses further "
				  "changes until it is mounted again",
				  s->dir, s->batch_ops, mdb_strerror(rc));
			s->failed = 1;
		}
		s->batch_ops = 0;
		s->commit_seq++;
		s->last_commit_err = map_err(rc);
		pthread_cond_broadcast(&s->cond);
	}
	if (s->batch) {
		mdb_txn_abort(s->batch); /* empty */
		s->batch = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Ask for a commit of everything done so far and wait for it; lock held. */
static int wait_commit_locked(struct lmdb_store *s)
{
	uint64_t target = s->commit_seq + 1;
	if (s->want_seq < target)
		s->want_seq = target;
	pthread_cond_signal(&s->wake);
	while (s->commit_seq < target)
		pthread_cond_wait(&s->cond, &s->lock);
	return s->last_commit_err;
}

/* ---- open / close ---- */

static int lmdb_open(const char *url, int flags, struct store **out,
		     char *err, size_t err_len)
{
	struct lmdb_store *s = calloc(1, sizeof(*s));
	MDB_txn *txn = NULL;
	int rc;
	if (!s)
		return -ENOMEM;
	rc = parse_url(url, s, err, err_len);
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
	rc = mdb_env_open(s->env, s->dir,
			  MDB_NOTLS | (s->batch_mode ? 0 : MDB_NOMETASYNC), 0600);
	if (rc) {
		int bad = rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
			  rc == MDB_CORRUPTED;
		snprintf(err, err_len, "cannot open store %s: %s%s", url,
			 mdb_strerror(rc),
			 bad ? " (not an LMDB file, or a corrupt one)" : "");
		rc = bad ? -EUCLEAN : map_err(rc);
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
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->wake, NULL);
	if (s->batch_mode) {
		if (pthread_create(&s->committer, NULL, committer_main, s)) {
			snprintf(err, err_len, "cannot start the committer thread");
			rc = -EAGAIN;
			goto fail;
		}
		s->committer_started = 1;
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
	if (s->committer_started) {
		pthread_mutex_lock(&s->lock);
		s->stop = 1;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->committer, NULL);
	}
	mdb_env_close(s->env);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->wake);
	free(s);
}

/* ---- transactions ---- */

static int lmdb_txn_begin(struct store *base, int flags, struct store_txn **out)
{
	struct lmdb_store *s = (struct lmdb_store *)base;
	struct lmdb_txn *t = calloc(1, sizeof(*t));
	int rc;
	if (!t)
		return -ENOMEM;
	t->rdonly = !!(flags & STORE_RDONLY);
	t->dbi = s->dbi;
	if (!s->batch_mode) {
		rc = mdb_txn_begin(s->env, NULL, t->rdonly ? MDB_RDONLY : 0, &t->txn);
		if (rc) {
			free(t);
			return map_err(rc);
		}
		*out = &t->base;
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	if (s->owned && pthread_equal(s->owner, pthread_self())) {
		/* One transaction per thread at a time, as in LMDB. */
		pthread_mutex_unlock(&s->lock);
		free(t);
		return -EDEADLK;
	}
	while (s->owned || (!s->batch && !s->failed))
		pthread_cond_wait(&s->cond, &s->lock);
	if (s->failed) {
		pthread_mutex_unlock(&s->lock);
		free(t);
		return -EIO;
	}
	if (t->rdonly) {
		t->txn = s->batch; /* reads see every applied operation */
	} else if ((rc = mdb_txn_begin(s->env, s->batch, 0, &t->txn))) {
		pthread_mutex_unlock(&s->lock);
		free(t);
		return map_err(rc);
	}
	s->owned = 1;
	s->owner = pthread_self();
	t->in_batch = 1;
	*out = &t->base;
	return 0;
}

/* End a batch-mode transaction: give the batch to the next one. */
static void release_batch(struct lmdb_store *s)
{
	s->owned = 0;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
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
	if (t->rdonly)
		return -EROFS;
	uint8_t key[KEY_MAX];
	MDB_val k = {make_key(key, fam, row, col, col_len), key};
	MDB_val v = {val_len, (void *)val};
	t->bytes += val_len + col_len + 16;
	return map_err(mdb_put(t->txn, t->dbi, &k, &v, 0));
}

static int lmdb_del(struct store_txn *base, int fam, uint64_t row,
		    const void *col, size_t col_len)
{
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	if (t->rdonly)
		return -EROFS;
	uint8_t key[KEY_MAX];
	MDB_val k = {make_key(key, fam, row, col, col_len), key};
	t->bytes += 64;
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
		} else {
			t->bytes += 64;
			if ((rc = mdb_cursor_del(cur, 0)))
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
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	if (t->rdonly)
		return -EROFS;
	return walk_row(t, fam, row, NULL, 0, NULL, NULL);
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
	struct lmdb_store *s = (struct lmdb_store *)base->store;
	int rc = 0;
	if (!t->in_batch) {
		rc = t->rdonly ? (mdb_txn_abort(t->txn), 0) : mdb_txn_commit(t->txn);
		free(t);
		return map_err(rc);
	}
	if (!t->rdonly) {
		rc = map_err(mdb_txn_commit(t->txn));
		if (rc == 0 && t->bytes) {
			if (s->batch_ops++ == 0)
				clock_gettime(CLOCK_MONOTONIC, &s->batch_start);
			s->batch_bytes += t->bytes;
			check_space(s);
			if (s->low_space) {
				/* Let a full disk fail this operation, not a batch. */
				s->owned = 0;
				rc = wait_commit_locked(s);
			} else if (s->batch_bytes >= BATCH_MAX_BYTES) {
				pthread_cond_signal(&s->wake);
			}
		}
	}
	free(t);
	release_batch(s);
	return rc;
}

static void lmdb_abort(struct store_txn *base)
{
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	struct lmdb_store *s = (struct lmdb_store *)base->store;
	if (!t->in_batch || !t->rdonly)
		mdb_txn_abort(t->txn);
	if (t->in_batch)
		release_batch(s);
	free(t);
}

static int lmdb_sync(struct store *base)
{
	struct lmdb_store *s = (struct lmdb_store *)base;
	if (!s->batch_mode)
		return map_err(mdb_env_sync(s->env, 1));
	pthread_mutex_lock(&s->lock);
	int r = wait_commit_locked(s);
	pthread_mutex_unlock(&s->lock);
	return r;
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
	struct lmdb_store s;
	char path[4200];
	int rc = parse_url(url, &s, err, err_len);
	if (rc < 0)
		return rc;
	static const char *const files[] = {"data.mdb", "lock.mdb", "mount.lock"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", s.dir, files[i]);
		if (unlink(path) < 0 && errno != ENOENT) {
			rc = -errno;
			snprintf(err, err_len, "cannot remove %s: %s", path,
				 strerror(errno));
			return rc;
		}
	}
	if (rmdir(s.dir) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, err_len, "cannot remove %s: %s", s.dir, strerror(errno));
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
