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
#include "url.h"

#define KEY_MAX (1 + 8 + STORE_MAX_COLUMN)
#define LMDB_MAP_SIZE (1ull << 40) /* address space only; the file grows as used */
#define BATCH_MAX_BYTES (64u << 20)
#define LOW_SPACE_BYTES (512ull << 20) /* below this, commit per operation */

/*
 * One LMDB environment per directory per process, shared by every
 * store_open() of it (LMDB forbids opening an environment twice in one
 * process).
 */
struct lmdb_env {
	struct lmdb_env *next; /* registry; registry_lock */
	int refs;              /* registry_lock */
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
	MDB_txn *batch;        /* the open batch, if any */
	int want_batch;        /* a writer waits for a batch to be begun */
	size_t batch_bytes;    /* bytes written into the batch */
	unsigned batch_ops;
	unsigned batch_acked;  /* ops in the batch already acknowledged */
	struct timespec batch_start;
	uint64_t commit_seq;   /* commits done */
	uint64_t want_seq;     /* a waiter needs commit_seq >= this */
	int last_commit_err;
	int failed;            /* a batch was lost: refuse further work */
	int stop;
	pthread_t owner;       /* thread holding the batch for a transaction */
	int owned;
	int low_space;
	time_t space_checked;
};

struct lmdb_store {
	struct store base;
	struct lmdb_env *e;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lmdb_env *registry;

struct lmdb_txn {
	struct store_txn base;
	MDB_txn *txn;    /* own, nested, or the batch (reads in batch mode) */
	MDB_dbi dbi;
	int rdonly;
	int in_batch;    /* holds e->owned */
	int own_txn;     /* txn must be ended by us */
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

/* "lmdb:///dir[?opt=val&…]", split by url_parse. */
static int parse_url(const char *url, struct lmdb_env *e, char *err,
		     size_t err_len)
{
	struct url *u = malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	int r = url_parse(url, u, err, err_len);
	if (r == -ENAMETOOLONG)
		goto out;
	if (r || u->has_userinfo || u->authority[0] || u->path[0] != '/') {
		r = -EINVAL;
		snprintf(err, err_len,
			 "'%s': expected lmdb:///ABSOLUTE/PATH (three slashes)", url);
		goto out;
	}
	r = -EINVAL;
	size_t n = strlen(u->path);
	while (n > 1 && u->path[n - 1] == '/')
		n--;
	if (n >= sizeof(e->dir)) {
		snprintf(err, err_len, "'%s': path too long", url);
		r = -ENAMETOOLONG;
		goto out;
	}
	memcpy(e->dir, u->path, n);
	e->dir[n] = 0;
	e->batch_mode = 1;
	e->commit_ms = 1000;
	for (int i = 0; i < u->nparams; i++) {
		const struct url_param *o = &u->params[i];
		if (!strcmp(o->key, "sync") && !strcmp(o->value, "batch")) {
			e->batch_mode = 1;
		} else if (!strcmp(o->key, "sync") && !strcmp(o->value, "commit")) {
			e->batch_mode = 0;
		} else if (!strcmp(o->key, "commit_ms") && atoi(o->value) > 0 &&
			   atoi(o->value) <= 60000) {
			e->commit_ms = (unsigned)atoi(o->value);
		} else {
			snprintf(err, err_len,
				 "'%s': unknown option '%s%s%s' (known: sync=batch, "
				 "sync=commit, commit_ms=1..60000)", url, o->key,
				 o->has_value ? "=" : "", o->value);
			goto out;
		}
	}
	r = 0;
out:
	free(u);
	return r;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ---- the committer (batch mode) ---- */

static void check_space(struct lmdb_env *e)
{
	time_t now = time(NULL);
	if (now == e->space_checked)
		return;
	e->space_checked = now;
	struct statvfs sv;
	if (statvfs(e->dir, &sv) == 0)
		e->low_space = (uint64_t)sv.f_bavail * sv.f_frsize <
			       LOW_SPACE_BYTES + 2ull * BATCH_MAX_BYTES;
}

static void commit_batch(struct lmdb_env *e)
{
	int rc = mdb_txn_commit(e->batch);
	e->batch = NULL;
	if (rc == EIO) {
		/* LMDB reports a short write as EIO: a disk that filled up
		 * under the commit is ENOSPC to the user. */
		struct statvfs sv;
		if (statvfs(e->dir, &sv) == 0 &&
		    (uint64_t)sv.f_bavail * sv.f_frsize < e->batch_bytes + (1u << 20))
			rc = ENOSPC;
	}
	if (rc && e->batch_acked) {
		log_error("store %s: LOST the last %u operations: commit failed: "
			  "%s; the filesystem refuses further changes until it "
			  "is mounted again", e->dir, e->batch_ops, mdb_strerror(rc));
		e->failed = 1;
	} else if (rc) {
		/* Every operation of the batch is still waiting for this
		 * commit (low space): each gets the error, nothing acknowledged
		 * is lost, and work can go on. */
		log_warn("store %s: commit failed: %s", e->dir, mdb_strerror(rc));
	}
	e->batch_ops = 0;
	e->batch_acked = 0;
	e->batch_bytes = 0;
	e->commit_seq++;
	e->last_commit_err = map_err(rc);
	pthread_cond_broadcast(&e->cond);
}

/*
 * The committer begins a batch when a writer asks for one and commits it
 * when it is due.  LMDB's writer lock belongs to the thread that began the
 * transaction, so both happen here.  Between batches no writer lock is
 * held, so other processes (status, fsck) are never shut out for long.
 */
static void *committer_main(void *arg)
{
	struct lmdb_env *e = arg;
	pthread_mutex_lock(&e->lock);
	for (;;) {
		if (e->batch && !e->owned &&
		    (e->stop || e->want_seq > e->commit_seq ||
		     e->batch_bytes >= BATCH_MAX_BYTES ||
		     ms_since(&e->batch_start) >= (long)e->commit_ms)) {
			commit_batch(e);
			continue;
		}
		if (!e->batch && e->want_seq > e->commit_seq) {
			/* nothing pending: every batch so far is durable */
			e->commit_seq = e->want_seq;
			e->last_commit_err = e->failed ? -EIO : 0;
			pthread_cond_broadcast(&e->cond);
			continue;
		}
		if (e->stop && !e->batch)
			break;
		if (!e->batch && e->want_batch && !e->failed) {
			int rc = mdb_txn_begin(e->env, NULL, 0, &e->batch);
			if (rc) {
				log_error("store %s: cannot start a transaction: %s",
					  e->dir, mdb_strerror(rc));
				e->batch = NULL;
				e->failed = 1;
			}
			clock_gettime(CLOCK_MONOTONIC, &e->batch_start);
			e->want_batch = 0;
			pthread_cond_broadcast(&e->cond);
			continue;
		}
		if (e->batch) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			long ms = (long)e->commit_ms - ms_since(&e->batch_start);
			if (ms < 1)
				ms = 1;
			until.tv_sec += ms / 1000;
			until.tv_nsec += (ms % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&e->wake, &e->lock, &until);
		} else {
			pthread_cond_wait(&e->wake, &e->lock);
		}
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* Ask for a commit of everything done so far and wait for it; lock held. */
static int wait_commit_locked(struct lmdb_env *e)
{
	uint64_t target = e->commit_seq + 1;
	if (e->want_seq < target)
		e->want_seq = target;
	pthread_cond_signal(&e->wake);
	while (e->commit_seq < target)
		pthread_cond_wait(&e->cond, &e->lock);
	return e->last_commit_err;
}

/* ---- open / close ---- */

static int env_open(struct lmdb_env *e, const char *url, int flags, char *err,
		    size_t err_len)
{
	MDB_txn *txn = NULL;
	int rc;
	char data[4200];
	snprintf(data, sizeof(data), "%s/data.mdb", e->dir);
	struct stat st;
	if (stat(e->dir, &st) < 0) {
		if (errno != ENOENT || !(flags & STORE_CREATE)) {
			rc = -errno;
			snprintf(err, err_len, "cannot open store %s: %s%s", url,
				 strerror(errno),
				 errno == ENOENT ? " (run 'cassafs mkfs' first?)" : "");
			return rc;
		}
		/* mkfs lmdb:///var/lib/cassafs/NAME: make the parents too */
		char parent[sizeof(e->dir)];
		snprintf(parent, sizeof(parent), "%s", e->dir);
		for (char *p = parent + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = 0;
			if (mkdir(parent, 0755) < 0 && errno != EEXIST)
				break; /* the final mkdir reports it */
			*p = '/';
		}
		if (mkdir(e->dir, 0700) < 0) {
			rc = -errno;
			snprintf(err, err_len, "cannot create %s: %s", e->dir,
				 strerror(errno));
			return rc;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, err_len, "cannot open store %s: %s is not a directory",
			 url, e->dir);
		return -ENOTDIR;
	}
	int exists = access(data, F_OK) == 0;
	if (!exists && !(flags & STORE_CREATE)) {
		snprintf(err, err_len,
			 "cannot open store %s: no data.mdb in %s (run 'cassafs mkfs' first?)",
			 url, e->dir);
		return -ENOENT;
	}
	if ((rc = mdb_env_create(&e->env)) ||
	    (rc = mdb_env_set_mapsize(e->env, LMDB_MAP_SIZE)) ||
	    (rc = mdb_env_set_maxreaders(e->env, 1024))) {
		snprintf(err, err_len, "cannot set up LMDB: %s", mdb_strerror(rc));
		return map_err(rc);
	}
	rc = mdb_env_open(e->env, e->dir,
			  MDB_NOTLS | (e->batch_mode ? 0 : MDB_NOMETASYNC), 0600);
	if (rc) {
		int bad = rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
			  rc == MDB_CORRUPTED;
		snprintf(err, err_len, "cannot open store %s: %s%s", url,
			 mdb_strerror(rc),
			 bad ? " (not an LMDB file, or a corrupt one)" : "");
		return bad ? -EUCLEAN : map_err(rc);
	}
	/* Clear reader slots left by processes that died. */
	int dead;
	mdb_reader_check(e->env, &dead);
	/* The main database needs no write transaction to open once the file
	 * exists: a mounted daemon may be holding the writer lock. */
	if ((rc = mdb_txn_begin(e->env, NULL, exists ? MDB_RDONLY : 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &e->dbi)) ||
	    (rc = mdb_txn_commit(txn))) {
		if (txn && rc)
			mdb_txn_abort(txn);
		snprintf(err, err_len, "cannot open store %s: %s%s", url,
			 mdb_strerror(rc),
			 rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_PAGE_NOTFOUND
				 ? " (corrupt data)" : "");
		return rc == MDB_CORRUPTED || rc == MDB_INVALID ? -EUCLEAN
								: map_err(rc);
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	pthread_cond_init(&e->wake, NULL);
	if (e->batch_mode) {
		if (pthread_create(&e->committer, NULL, committer_main, e)) {
			snprintf(err, err_len, "cannot start the committer thread");
			return -EAGAIN;
		}
		e->committer_started = 1;
	}
	return 0;
}

static void env_free(struct lmdb_env *e)
{
	if (e->committer_started) {
		pthread_mutex_lock(&e->lock);
		e->stop = 1;
		pthread_cond_signal(&e->wake);
		pthread_mutex_unlock(&e->lock);
		pthread_join(e->committer, NULL);
		pthread_mutex_destroy(&e->lock);
		pthread_cond_destroy(&e->cond);
		pthread_cond_destroy(&e->wake);
	}
	if (e->env)
		mdb_env_close(e->env);
	free(e);
}

static int lmdb_open(const char *url, int flags, struct store **out,
		     char *err, size_t err_len)
{
	struct lmdb_store *s = calloc(1, sizeof(*s));
	struct lmdb_env *e = calloc(1, sizeof(*e));
	int rc = -ENOMEM;
	if (!s || !e)
		goto fail;
	if ((rc = parse_url(url, e, err, err_len)) < 0)
		goto fail;
	pthread_mutex_lock(&registry_lock);
	for (struct lmdb_env *x = registry; x; x = x->next)
		if (!strcmp(x->dir, e->dir)) {
			if (x->batch_mode != e->batch_mode) {
				pthread_mutex_unlock(&registry_lock);
				snprintf(err, err_len, "%s is already open here with "
					 "another sync mode", e->dir);
				rc = -EBUSY;
				goto fail;
			}
			free(e);
			e = x;
			e->refs++;
			break;
		}
	if (!e->refs) {
		rc = env_open(e, url, flags, err, err_len);
		if (rc < 0) {
			pthread_mutex_unlock(&registry_lock);
			goto fail;
		}
		e->refs = 1;
		e->next = registry;
		registry = e;
	}
	pthread_mutex_unlock(&registry_lock);
	s->e = e;
	*out = &s->base;
	return 0;
fail:
	if (e && !e->refs)
		env_free(e);
	free(s);
	return rc;
}

static void lmdb_close(struct store *base)
{
	struct lmdb_store *s = (struct lmdb_store *)base;
	struct lmdb_env *e = s->e;
	pthread_mutex_lock(&registry_lock);
	if (--e->refs == 0) {
		struct lmdb_env **p = &registry;
		while (*p != e)
			p = &(*p)->next;
		*p = e->next;
	}
	int last = e->refs == 0;
	pthread_mutex_unlock(&registry_lock);
	if (last)
		env_free(e);
	free(s);
}

/* ---- transactions ---- */

static struct lmdb_env *env_of(struct store *base)
{
	return ((struct lmdb_store *)base)->e;
}

static int lmdb_txn_begin(struct store *base, int flags, struct store_txn **out)
{
	struct lmdb_env *e = env_of(base);
	struct lmdb_txn *t = calloc(1, sizeof(*t));
	int rc;
	if (!t)
		return -ENOMEM;
	t->rdonly = !!(flags & (STORE_RDONLY | STORE_LIVE)); /* a snapshot */
	t->dbi = e->dbi;
	t->own_txn = 1;
	if (!e->batch_mode) {
		rc = mdb_txn_begin(e->env, NULL, t->rdonly ? MDB_RDONLY : 0, &t->txn);
		if (rc) {
			free(t);
			return map_err(rc);
		}
		*out = &t->base;
		return 0;
	}
	pthread_mutex_lock(&e->lock);
	if (e->owned && pthread_equal(e->owner, pthread_self())) {
		/* One transaction per thread at a time, as in LMDB. */
		pthread_mutex_unlock(&e->lock);
		free(t);
		return -EDEADLK;
	}
	for (;;) {
		if (e->failed) {
			pthread_mutex_unlock(&e->lock);
			free(t);
			return -EIO;
		}
		if (!e->owned && (e->batch || t->rdonly))
			break;
		if (!e->owned && !e->batch) {
			e->want_batch = 1;
			pthread_cond_signal(&e->wake);
		}
		pthread_cond_wait(&e->cond, &e->lock);
	}
	if (t->rdonly && e->batch) {
		t->txn = e->batch; /* reads see every applied operation */
		t->own_txn = 0;
	} else if ((rc = mdb_txn_begin(e->env, t->rdonly ? NULL : e->batch,
				       t->rdonly ? MDB_RDONLY : 0, &t->txn))) {
		pthread_mutex_unlock(&e->lock);
		free(t);
		return map_err(rc);
	}
	e->owned = 1;
	e->owner = pthread_self();
	t->in_batch = 1;
	pthread_mutex_unlock(&e->lock);
	*out = &t->base;
	return 0;
}

/* End a batch-mode transaction: hand the batch to the next one (lock
 * held and kept). */
static void release_batch_locked(struct lmdb_env *e)
{
	e->owned = 0;
	pthread_cond_broadcast(&e->cond);
	if (e->stop || e->want_seq > e->commit_seq)
		pthread_cond_signal(&e->wake);
}

/* The same, then drop the lock. */
static void release_batch(struct lmdb_env *e)
{
	release_batch_locked(e);
	pthread_mutex_unlock(&e->lock);
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
	struct lmdb_env *e = env_of(base->store);
	int rc = 0;
	if (!t->in_batch) {
		rc = t->rdonly ? (mdb_txn_abort(t->txn), 0) : mdb_txn_commit(t->txn);
		free(t);
		return map_err(rc);
	}
	if (t->rdonly) {
		if (t->own_txn)
			mdb_txn_abort(t->txn);
		pthread_mutex_lock(&e->lock);
		release_batch(e);
		free(t);
		return 0;
	}
	/* The nested transaction merges into the batch (no I/O). */
	rc = map_err(mdb_txn_commit(t->txn));
	pthread_mutex_lock(&e->lock);
	if (rc == 0 && t->bytes) {
		e->batch_ops++;
		e->batch_bytes += t->bytes;
		check_space(e);
		if (e->low_space) {
			/* Let a full disk fail this operation, not a batch:
			 * give the batch up (others may go on meanwhile) and
			 * wait for the commit that holds this operation. */
			free(t);
			release_batch_locked(e);
			rc = wait_commit_locked(e);
			pthread_mutex_unlock(&e->lock);
			return rc;
		}
		e->batch_acked++;
		if (e->batch_bytes >= BATCH_MAX_BYTES)
			pthread_cond_signal(&e->wake);
	}
	free(t);
	release_batch(e);
	return rc;
}

static void lmdb_abort(struct store_txn *base)
{
	struct lmdb_txn *t = (struct lmdb_txn *)base;
	struct lmdb_env *e = env_of(base->store);
	if (t->own_txn)
		mdb_txn_abort(t->txn);
	if (t->in_batch) {
		pthread_mutex_lock(&e->lock);
		release_batch(e);
	}
	free(t);
}

static int lmdb_sync(struct store *base)
{
	struct lmdb_env *e = env_of(base);
	if (!e->batch_mode)
		return map_err(mdb_env_sync(e->env, 1));
	pthread_mutex_lock(&e->lock);
	int r = wait_commit_locked(e);
	pthread_mutex_unlock(&e->lock);
	return r;
}

static int lmdb_space(struct store *base, uint64_t *total, uint64_t *avail)
{
	struct statvfs sv;
	if (statvfs(env_of(base)->dir, &sv) < 0)
		return -errno;
	*total = (uint64_t)sv.f_blocks * sv.f_frsize;
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	return 0;
}

static int lmdb_destroy(const char *url, char *err, size_t err_len)
{
	struct lmdb_env s;
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
