/*
 * store_redis.c — the distributed engine: one Redis server or a Redis
 * Cluster, through hiredis 0.14 (old API, no cluster support of its own).
 * This file: the transactions (reads, the client cache, the commit
 * function); store_redis_conn.c: URLs, connections, cluster routing and
 * the store's life; store_redis_cache.c: the cache's table.
 *
 * URLs (docs/redis.md has the long form):
 *   redis://[[USER]:PASSWORD@]HOST:PORT[/DB][?OPTIONS]
 *   redis-cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/NAME[?OPTIONS]
 * OPTIONS (joined with &): name=NAME (standalone; default "cassafs"),
 * password_file=PATH, timeout=SECONDS (each command, default 5),
 * connect_timeout=SECONDS (default 3), tracking=on|off (server-assisted
 * invalidation of the client cache, store_redis_track.c; default on).
 * The password comes from the URL,
 * else from password_file, else from $CASSAFS_REDIS_PASSWORD, so it never
 * has to appear on a command line.
 *
 * Key layout.  Every key of a filesystem starts with the hash tag
 * "{cfs:NAME}", so in a cluster they all live in one slot on one master and
 * a single WATCH/MULTI/EXEC covers any set of them:
 *   {cfs:NAME}:meta                      marker written by STORE_CREATE
 *   {cfs:NAME}:v:F:RRRRRRRRRRRRRRRR:COL  string = value of one column
 *   {cfs:NAME}:z:F:RRRRRRRRRRRRRRRR      sorted set, score 0, members = the
 *                                        row's column names
 * (F = family digit, R = row in hex, COL = the raw column bytes.)  A sorted
 * set whose scores are all equal orders its members bytewise with the
 * shorter first on a common prefix — exactly the store's column order — so
 * a scan is ZRANGEBYLEX plus MGET of the value keys.  One key per column
 * (rather than one hash per row) makes WATCH per column: two mounts
 * creating different names in one directory do not conflict unless one of
 * them scanned the directory.
 *
 * Transactions are optimistic, one round trip per operation when the
 * client cache holds what it reads (docs/redis.md).  A read is served from
 * the cache of small values (store_redis_cache.h), else from the server
 * with the key WATCHed in the same round trip; writes are buffered in the
 * transaction (so it sees its own writes, and others see nothing before
 * commit).  Commit is one FCALL of the function library below: it checks
 * every value taken from the cache against the server and applies the
 * writes atomically, or answers the current values (-EAGAIN, nothing
 * applied, cache refreshed); with watched keys it runs inside MULTI/EXEC
 * in the same pipeline, so a watched key changed by someone else makes
 * EXEC answer nil.  Read-only transactions are checked the same way, so a
 * read-only transaction that commits with 0 saw one consistent state.
 * Counter adds and del_row are writes of the function that read nothing,
 * so adders never conflict with each other.
 *
 * Connections: hiredis contexts are not thread-safe; each transaction
 * checks one out of a pool for its whole life (WATCH state belongs to the
 * connection) and returns it at commit/abort.  Every context has connect
 * and command timeouts, so a dead or hung server gives -EIO in bounded
 * time; a broken context is dropped and the next checkout reconnects,
 * re-sending AUTH and SELECT.  A pooled connection whose server closed it
 * is noticed without a round trip (poll for EOF) before it is reused.
 *
 * Cluster: CRC16 of the tag gives the slot; CLUSTER SLOTS (asked of the
 * last master, then every node seen, then the seeds) gives its master.  A
 * MOVED reply or a connection failure makes the map stale; the next
 * checkout asks again.  A MOVED on the first command of a transaction is
 * followed at once; later in a transaction (watches would be lost) it
 * becomes -EAGAIN so the caller runs the whole operation again.  ASK and
 * TRYAGAIN (the slot is being migrated) also become -EAGAIN: a migrating
 * slot cannot serve a multi-key transaction until the move ends.
 */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "store_redis_cache.h"

#include "store_redis_conn.h"

enum { OV_PUT, OV_DEL, OV_DELROW, OV_ADD, OV_MAXTIME, OV_ADDLE32 };

/* One buffered write. */
struct ov {
	int kind;
	int fam;
	uint64_t row;
	uint8_t *col;
	size_t col_len;
	uint8_t *val;
	size_t val_len;
	int64_t delta; /* OV_ADD; OV_MAXTIME, OV_ADDLE32: the byte offset
			* (OV_ADDLE32: the le32 delta in val) */
};

struct rtxn {
	struct store_txn base;
	struct rstore *s;
	struct rconn *conn;
	int rdonly;
	int live; /* STORE_LIVE: reads are not WATCHed nor validated */
	int cached; /* STORE_CACHED: trusted cache entries need no check */
	int touched; /* a command of this transaction reached the server */
	int watched;
	int err;     /* sticky failure: commit reports it */
	struct ov *ov;
	size_t nov, cap;
	redisReply **keep; /* replies that get() pointers point into */
	size_t nkeep, capkeep;
	struct rread *rd;  /* the reads: values served from the cache are
			    * checked by the commit function */
	size_t nrd, caprd;
	int validated;     /* redis_validate found every cached read current */
};

/* One read of a transaction. */
struct rread {
	char *key;
	size_t kl;
	int cached;  /* served from the cache: validated by value at commit;
		      * else read from the server under WATCH */
	int present;
	uint8_t *val; /* cached: what the transaction saw */
	size_t vl;
	int empty;   /* key is a row's member set, seen empty in the cache */
	size_t skip_off, skip_len; /* get_except: bytes the check ignores */
	int hint;    /* store_hint_empty: key is a member set to be noted
		      * empty after commit; no read */
	int fresh;   /* taken from the failed check just before (see fresh) */
	int trusted; /* STORE_CACHED: a trusted entry, not checked (val
		      * kept here for the transaction's life) */
	struct rcache_token tok; /* cached: taken before the check was sent */
};

/*
 * A read-only transaction with one cached read whose check failed got the
 * key's current value in the same atomic call.  The retry (the next
 * transaction on this thread, which run_txn starts at once) may return it
 * without checking again if that is all it reads: the operation then
 * answers the state at the instant of that call, which lies within the
 * operation.  Without this, a getattr of a directory that another mount
 * keeps changing could fail its check again and again.
 */
static __thread struct {
	struct rstore *s;
	char key[KEY_BUF];
	size_t kl;
	int present, set;
	uint8_t *val;
	size_t vl;
} fresh;

static void fresh_clear(void)
{
	free(fresh.val);
	fresh.val = NULL;
	fresh.set = 0;
}

/*
 * Run a pipeline for a transaction.  A failure before anything of the
 * transaction reached the server (a pooled connection that died, a MOVED
 * after failover) is retried once on a fresh connection; later it is
 * -EIO (outcome unknown) or -EAGAIN (redirected: run the operation again).
 */
static int txn_run(struct rtxn *t, int n, const struct cmd *cmds,
		   redisReply **rep)
{
	struct rstore *s = t->s;
	for (int attempt = 0;; attempt++) {
		int r = t->conn ? pipe_run(t->conn, n, cmds, rep) : -EIO;
		if (r == 0)
			for (int i = 0; i < n && !r; i++)
				r = reply_err(s, rep[i]);
		if (r == 0) {
			t->touched = 1;
			return 0;
		}
		free_replies(n, rep);
		if (r == -EIO && t->conn && t->conn->broken && s->cluster) {
			pthread_mutex_lock(&s->mu);
			s->stale = 1;
			pthread_mutex_unlock(&s->mu);
		}
		if ((r == -EIO || r == REDIRECTED) && !t->touched && attempt == 0) {
			int rc;
			if (t->conn && r == REDIRECTED)
				t->conn->broken = 1; /* wrong node */
			conn_put(s, t->conn);
			t->conn = conn_get(s, &rc, NULL, 0);
			if (t->conn)
				continue;
			r = rc;
		}
		if (r == REDIRECTED) {
			if (t->conn)
				t->conn->broken = 1;
			r = -EAGAIN;
		}
		t->err = r;
		return r;
	}
}

/* ---- transactions ------------------------------------------------------ */

static void drop_kept(struct rtxn *t)
{
	for (size_t i = 0; i < t->nkeep; i++)
		freeReplyObject(t->keep[i]);
	t->nkeep = 0;
}

static int keep_reply(struct rtxn *t, redisReply *r)
{
	if (t->nkeep == t->capkeep) {
		size_t n = t->capkeep ? 2 * t->capkeep : 8;
		redisReply **k = realloc(t->keep, n * sizeof(*k));
		if (!k)
			return -ENOMEM;
		t->keep = k;
		t->capkeep = n;
	}
	t->keep[t->nkeep++] = r;
	return 0;
}

static void txn_free(struct rtxn *t)
{
	drop_kept(t);
	free(t->keep);
	for (size_t i = 0; i < t->nrd; i++) {
		free(t->rd[i].key);
		free(t->rd[i].val);
	}
	free(t->rd);
	for (size_t i = 0; i < t->nov; i++) {
		free(t->ov[i].col);
		free(t->ov[i].val);
	}
	free(t->ov);
	free(t);
}

/* Hand the connection back; watches must not outlive the transaction. */
static void txn_release(struct rtxn *t)
{
	struct rconn *c = t->conn;
	t->conn = NULL;
	if (c && t->watched)
		c->unwatch = 1; /* read-only work is mostly aborted: no extra trip */
	conn_put(t->s, c);
}

static int redis_txn_begin(struct store *base, int flags, struct store_txn **out)
{
	struct rstore *s = (struct rstore *)base;
	struct rtxn *t = calloc(1, sizeof(*t));
	int rc;
	if (!t)
		return -ENOMEM;
	t->s = s;
	t->rdonly = !!(flags & (STORE_RDONLY | STORE_LIVE | STORE_CACHED));
	t->live = !!(flags & STORE_LIVE);
	t->cached = !t->live && (flags & STORE_CACHED) && s->track.enabled;
	if (t->cached)
		track_start(s);
	t->conn = conn_get(s, &rc, NULL, 0);
	if (!t->conn) {
		free(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

static int ov_add(struct rtxn *t, int kind, int fam, uint64_t row,
		  const void *col, size_t col_len, const void *val,
		  size_t val_len, int64_t delta)
{
	if (t->rdonly)
		return -EINVAL;
	if (t->nov == t->cap) {
		size_t n = t->cap ? 2 * t->cap : 16;
		struct ov *o = realloc(t->ov, n * sizeof(*o));
		if (!o)
			return -ENOMEM;
		t->ov = o;
		t->cap = n;
	}
	struct ov *o = &t->ov[t->nov];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->fam = fam;
	o->row = row;
	o->delta = delta;
	o->col_len = col_len;
	o->val_len = val_len;
	if ((col_len && !(o->col = malloc(col_len))) ||
	    ((kind == OV_PUT || kind == OV_MAXTIME || kind == OV_ADDLE32) &&
	     !(o->val = malloc(val_len ? val_len : 1)))) {
		free(o->col);
		return -ENOMEM;
	}
	if (col_len)
		memcpy(o->col, col, col_len);
	if (val_len)
		memcpy(o->val, val, val_len);
	t->nov++;
	drop_kept(t); /* the header lets writes invalidate get() pointers */
	return 0;
}

/*
 * The transaction's own latest write to a column: 1 = found (put: *o set;
 * deleted: *o NULL), 0 = not written here.  Adds are not reflected.
 */
static int ov_find(struct rtxn *t, int fam, uint64_t row, const void *col,
		   size_t col_len, struct ov **o)
{
	for (size_t i = t->nov; i-- > 0;) {
		struct ov *e = &t->ov[i];
		if (e->fam != fam || e->row != row)
			continue;
		if (e->kind == OV_DELROW) {
			*o = NULL;
			return 1;
		}
		if (e->kind == OV_ADD || e->kind == OV_MAXTIME || e->kind == OV_ADDLE32 ||
		    e->col_len != col_len ||
		    memcmp(e->col, col, col_len))
			continue;
		*o = e->kind == OV_PUT ? e : NULL;
		return 1;
	}
	return 0;
}

/* Note a read; val (cached reads only) is taken over by the record. */
static struct rread *rd_add(struct rtxn *t, const char *key, size_t kl,
			    int cached, int present, uint8_t *val, size_t vl)
{
	if (t->nrd == t->caprd) {
		size_t n = t->caprd ? 2 * t->caprd : 8;
		struct rread *d = realloc(t->rd, n * sizeof(*d));
		if (!d)
			return NULL;
		t->rd = d;
		t->caprd = n;
	}
	char *k = malloc(kl);
	if (!k)
		return NULL;
	memcpy(k, key, kl);
	struct rread *d = &t->rd[t->nrd++];
	*d = (struct rread){k, kl, cached, present, val, vl};
	return d;
}

/* The transaction's earlier cached read of key, if any. */
static struct rread *rd_find_cached(struct rtxn *t, const char *key, size_t kl)
{
	for (size_t i = 0; i < t->nrd; i++)
		if (t->rd[i].cached && t->rd[i].kl == kl &&
		    !memcmp(t->rd[i].key, key, kl))
			return &t->rd[i];
	return NULL;
}

/*
 * The part of a get that needs no server: the transaction's own writes,
 * the answer of the check that failed just before (fresh), the client
 * cache.  1 = answered (*res 0 with *val, or -ENOENT), 0 = ask the server,
 * < 0 = error.  store_get and store_get_many both read through here.
 */
static int get_local(struct rtxn *t, int fam, uint64_t row, const void *col,
		     size_t col_len, size_t skip_off, size_t skip_len,
		     const char *key, size_t kl, const void **val,
		     size_t *val_len, int *res)
{
	struct ov *o;
	if (ov_find(t, fam, row, col, col_len, &o)) {
		*res = o ? 0 : -ENOENT;
		if (o) {
			*val = o->val;
			*val_len = o->val_len;
		}
		return 1;
	}
	/*
	 * A validated transaction may take the value from the cache: its
	 * commit (or redis_validate) checks it against the server.  A live
	 * one is never validated, so it always asks the server.
	 */
	if (t->live)
		return 0;
	struct rread *d = rd_find_cached(t, key, kl);
	if (!d && fresh.set && !t->nrd && fresh.s == t->s && fresh.kl == kl &&
	    !memcmp(fresh.key, key, kl)) {
		/* the retry of a read-only check that failed: its answer */
		if ((d = rd_add(t, key, kl, 1, fresh.present, fresh.val, fresh.vl))) {
			fresh.val = NULL;
			d->fresh = 1;
			d->skip_off = skip_off;
			d->skip_len = skip_len;
		}
	}
	if (fresh.set)
		fresh_clear(); /* good for the first read of the retry only */
	if (!d) {
		int present, trusted;
		uint8_t *v;
		size_t vl;
		int h = rcache_get(&t->s->cache, key, kl, &present, &v, &vl, &trusted);
		if (h < 0)
			return h;
		/* STORE_CACHED: a trusted entry, and no invalidation waiting
		 * that could concern it, is the answer without a check */
		int take = h == 1 && t->cached && trusted && track_quiet(t->s);
		if (h == 1 && !(d = rd_add(t, key, kl, !take, present, v, vl))) {
			free(v);
			return -ENOMEM;
		}
		if (d) {
			d->trusted = take;
			d->skip_off = skip_off;
			d->skip_len = skip_len;
		}
	}
	if (!d)
		return 0;
	if (d->skip_len < skip_len ||
	    (d->skip_len && skip_len && d->skip_off != skip_off))
		d->skip_len = 0; /* read in full as well */
	*res = d->present ? 0 : -ENOENT;
	if (d->present) {
		*val = d->val;
		*val_len = d->vl;
	}
	return 1;
}

/*
 * A value read from the server (GET or an element of MGET, WATCHed unless
 * live): note the read and cache it.  0 or -ENOENT; the reply stays the
 * caller's (kept by the transaction if *val points into it).
 */
static int got_server(struct rtxn *t, const char *key, size_t kl,
		      redisReply *v, const struct rcache_token *tok,
		      const void **val, size_t *val_len)
{
	if (!t->live) {
		t->watched++;
		/* remembered so that a failed commit can drop it */
		if (!rd_add(t, key, kl, 0, 0, NULL, 0))
			return -ENOMEM;
	}
	if (v->type == REDIS_REPLY_NIL) {
		rcache_put_token(&t->s->cache, key, kl, 0, NULL, 0, tok);
		return -ENOENT;
	}
	if (v->type != REDIS_REPLY_STRING)
		return t->err = -EIO;
	rcache_put_token(&t->s->cache, key, kl, 1, v->str, v->len, tok);
	*val = v->str;
	*val_len = v->len;
	return 0;
}

static int get_common(struct rtxn *t, int fam, uint64_t row, const void *col,
		      size_t col_len, size_t skip_off, size_t skip_len,
		      const void **val, size_t *val_len)
{
	if (bad_args(fam, col_len) || !col_len)
		return -EINVAL;
	if (t->err)
		return t->err;
	char key[KEY_BUF];
	size_t kl = vkey(t->s, key, fam, row, col, col_len);
	int res, h = get_local(t, fam, row, col, col_len, skip_off, skip_len, key,
			       kl, val, val_len, &res);
	if (h)
		return h < 0 ? h : res;
	/* taken before the server is asked: see store_redis_cache.h */
	struct rcache_token tok;
	rcache_token(&t->s->cache, key, kl, &tok);
	if (skip_len && !t->live) {
		/* not WATCHed (a change in the skipped bytes must not
		 * conflict): checked by value at commit like a cached read */
		const char *ga[2] = {"GET", key};
		size_t gl[2] = {3, kl};
		struct cmd cmd = {2, ga, gl};
		redisReply *rep = NULL;
		int r = txn_run(t, 1, &cmd, &rep);
		if (r)
			return r;
		if (rep->type != REDIS_REPLY_NIL && rep->type != REDIS_REPLY_STRING) {
			freeReplyObject(rep);
			return t->err = -EIO;
		}
		int present = rep->type == REDIS_REPLY_STRING;
		uint8_t *v = present ? malloc(rep->len ? rep->len : 1) : NULL;
		if (present && !v) {
			freeReplyObject(rep);
			return -ENOMEM;
		}
		if (present)
			memcpy(v, rep->str, rep->len);
		rcache_put_token(&t->s->cache, key, kl, present, rep->str,
				 present ? rep->len : 0, &tok);
		struct rread *d = rd_add(t, key, kl, 1, present, v, present ? rep->len : 0);
		freeReplyObject(rep);
		if (!d) {
			free(v);
			return -ENOMEM;
		}
		d->skip_off = skip_off;
		d->skip_len = skip_len;
		if (!present)
			return -ENOENT;
		*val = d->val;
		*val_len = d->vl;
		return 0;
	}
	const char *wa[2] = {"WATCH", key}, *ga[2] = {"GET", key};
	size_t wl[2] = {5, kl}, gl[2] = {3, kl};
	struct cmd cmds[2] = {{2, wa, wl}, {2, ga, gl}};
	redisReply *rep[2] = {NULL, NULL};
	int r = t->live ? txn_run(t, 1, &cmds[1], &rep[1])
			: txn_run(t, 2, cmds, rep);
	if (r)
		return r;
	freeReplyObject(rep[0]);
	r = got_server(t, key, kl, rep[1], &tok, val, val_len);
	if (r == 0 && (r = keep_reply(t, rep[1])) == 0)
		return 0;
	freeReplyObject(rep[1]);
	return r;
}

/*
 * Batched gets: each key is read as get_common reads it (get_local), and
 * those the server must answer go in one pipeline, WATCH k… + MGET k…
 * (MGET alone when live).  The keys of a filesystem share one hash tag,
 * so in a cluster they are all in the slot of the transaction's node.
 */
static int redis_get_many(struct store_txn *base, int fam, size_t n,
			  const struct store_key *keys, struct store_val *out)
{
	struct rtxn *t = (struct rtxn *)base;
	if (t->err)
		return t->err;
	for (size_t i = 0; i < n; i++)
		if (bad_args(fam, keys[i].col_len) || !keys[i].col_len)
			return -EINVAL;
	char *kb = malloc((n ? n : 1) * KEY_BUF);
	size_t *miss = malloc((n ? n : 1) * sizeof(*miss));
	const char **a = malloc((n + 1) * sizeof(*a));
	size_t *l = malloc((n + 1) * sizeof(*l));
	const char **a2 = malloc((n + 1) * sizeof(*a2));
	size_t *l2 = malloc((n + 1) * sizeof(*l2));
	struct rcache_token *tok = malloc((n ? n : 1) * sizeof(*tok));
	size_t m = 0;
	int r = -ENOMEM;
	if (!kb || !miss || !a || !l || !a2 || !l2 || !tok)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *k = kb + i * KEY_BUF;
		size_t kl = vkey(t->s, k, fam, keys[i].row, keys[i].col,
				 keys[i].col_len);
		out[i].val = NULL;
		out[i].len = 0;
		int h = get_local(t, fam, keys[i].row, keys[i].col, keys[i].col_len,
				  0, 0, k, kl, &out[i].val, &out[i].len, &out[i].r);
		if (h < 0) {
			r = h;
			goto out;
		}
		if (!h) {
			rcache_token(&t->s->cache, k, kl, &tok[m]);
			miss[m++] = i;
			a[m] = a2[m] = k;
			l[m] = l2[m] = kl;
		}
	}
	r = 0;
	if (!m)
		goto out;
	a[0] = "WATCH";
	l[0] = 5;
	a2[0] = "MGET";
	l2[0] = 4;
	struct cmd cmds[2] = {{(int)m + 1, a, l}, {(int)m + 1, a2, l2}};
	redisReply *rep[2] = {NULL, NULL};
	r = t->live ? txn_run(t, 1, &cmds[1], &rep[1]) : txn_run(t, 2, cmds, rep);
	if (r)
		goto out;
	if (rep[0])
		freeReplyObject(rep[0]);
	if (rep[1]->type != REDIS_REPLY_ARRAY || rep[1]->elements != m) {
		freeReplyObject(rep[1]);
		r = t->err = -EIO;
		goto out;
	}
	for (size_t j = 0; j < m && !r; j++) {
		size_t i = miss[j];
		out[i].r = got_server(t, a2[j + 1], l2[j + 1], rep[1]->element[j],
				      &tok[j], &out[i].val, &out[i].len);
		if (out[i].r == -ENOENT)
			continue;
		r = out[i].r;
	}
	if (r || (r = keep_reply(t, rep[1])))
		freeReplyObject(rep[1]);
out:
	free(tok);
	free(kb);
	free(miss);
	free(a);
	free(l);
	free(a2);
	free(l2);
	return r;
}

static int redis_get(struct store_txn *base, int fam, uint64_t row,
		     const void *col, size_t col_len, const void **val,
		     size_t *val_len)
{
	return get_common((struct rtxn *)base, fam, row, col, col_len, 0, 0, val,
			  val_len);
}

static int redis_get_except(struct store_txn *base, int fam, uint64_t row,
			    const void *col, size_t col_len, size_t skip_off,
			    size_t skip_len, const void **val, size_t *val_len)
{
	return get_common((struct rtxn *)base, fam, row, col, col_len, skip_off,
			  skip_len, val, val_len);
}

static int redis_put_max_time(struct store_txn *base, int fam, uint64_t row,
			      const void *col, size_t col_len, size_t off,
			      const uint8_t time[12])
{
	if (bad_args(fam, col_len) || !col_len || off > STORE_MAX_VALUE - 12)
		return -EINVAL;
	return ov_add((struct rtxn *)base, OV_MAXTIME, fam, row, col, col_len, time,
		      12, (int64_t)off);
}

static int redis_add_le32(struct store_txn *base, int fam, uint64_t row,
			  const void *col, size_t col_len, size_t off,
			  int32_t delta)
{
	if (bad_args(fam, col_len) || !col_len || off > STORE_MAX_VALUE - 4)
		return -EINVAL;
	uint8_t d[4];
	uint32_t x = (uint32_t)delta;
	for (int i = 0; i < 4; i++, x >>= 8)
		d[i] = (uint8_t)x;
	return ov_add((struct rtxn *)base, OV_ADDLE32, fam, row, col, col_len, d,
		      4, (int64_t)off);
}

static int redis_put(struct store_txn *base, int fam, uint64_t row,
		     const void *col, size_t col_len, const void *val,
		     size_t val_len)
{
	if (bad_args(fam, col_len) || !col_len || val_len > STORE_MAX_VALUE)
		return -EINVAL;
	return ov_add((struct rtxn *)base, OV_PUT, fam, row, col, col_len, val,
		      val_len, 0);
}

static int redis_del(struct store_txn *base, int fam, uint64_t row,
		     const void *col, size_t col_len)
{
	if (bad_args(fam, col_len) || !col_len)
		return -EINVAL;
	return ov_add((struct rtxn *)base, OV_DEL, fam, row, col, col_len, NULL,
		      0, 0);
}

static int redis_del_row(struct store_txn *base, int fam, uint64_t row)
{
	if (bad_args(fam, 0))
		return -EINVAL;
	return ov_add((struct rtxn *)base, OV_DELROW, fam, row, NULL, 0, NULL, 0, 0);
}

static int redis_add(struct store_txn *base, int fam, uint64_t row,
		     const void *col, size_t col_len, int64_t delta)
{
	if (bad_args(fam, col_len) || !col_len)
		return -EINVAL;
	return ov_add((struct rtxn *)base, OV_ADD, fam, row, col, col_len, NULL,
		      0, delta);
}

/* ---- scan -------------------------------------------------------------- */

static int ov_cmp_idx(const void *a, const void *b, void *ctx)
{
	struct rtxn *t = ctx;
	const struct ov *x = &t->ov[*(const size_t *)a], *y = &t->ov[*(const size_t *)b];
	int c = colcmp(x->col, x->col_len, y->col, y->col_len);
	if (c)
		return c;
	/* later writes last, so the last of equal columns wins */
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/*
 * The transaction's own writes to one row, as a sorted list of the final
 * put/delete per column >= start.  *row_deleted tells whether a del_row
 * hides everything the server has.
 */
static int ov_row(struct rtxn *t, int fam, uint64_t row, const void *start,
		  size_t start_len, size_t **out, size_t *n, int *row_deleted)
{
	size_t first = 0;
	*row_deleted = 0;
	*out = NULL;
	*n = 0;
	for (size_t i = t->nov; i-- > 0;)
		if (t->ov[i].fam == fam && t->ov[i].row == row &&
		    t->ov[i].kind == OV_DELROW) {
			first = i + 1;
			*row_deleted = 1;
			break;
		}
	size_t cnt = 0;
	for (size_t i = first; i < t->nov; i++) {
		struct ov *e = &t->ov[i];
		if (e->fam == fam && e->row == row &&
		    (e->kind == OV_PUT || e->kind == OV_DEL) &&
		    colcmp(e->col, e->col_len, start, start_len) >= 0)
			cnt++;
	}
	if (!cnt)
		return 0;
	size_t *idx = malloc(cnt * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	cnt = 0;
	for (size_t i = first; i < t->nov; i++) {
		struct ov *e = &t->ov[i];
		if (e->fam == fam && e->row == row &&
		    (e->kind == OV_PUT || e->kind == OV_DEL) &&
		    colcmp(e->col, e->col_len, start, start_len) >= 0)
			idx[cnt++] = i;
	}
	qsort_r(idx, cnt, sizeof(*idx), ov_cmp_idx, t);
	/* keep the last write of each column */
	size_t m = 0;
	for (size_t i = 0; i < cnt; i++) {
		if (i + 1 < cnt) {
			struct ov *a = &t->ov[idx[i]], *b = &t->ov[idx[i + 1]];
			if (!colcmp(a->col, a->col_len, b->col, b->col_len))
				continue;
		}
		idx[m++] = idx[i];
	}
	*out = idx;
	*n = m;
	return 0;
}

/* Server-side cursor over one row: members in batches, values in chunks. */
struct srv_iter {
	struct rtxn *t;
	int fam;
	uint64_t row;
	char zk[KEY_BUF];
	size_t zkl;
	redisReply *members; /* ZRANGEBYLEX reply */
	redisReply *vals;    /* MGET reply for members[vbase …] */
	size_t pos, vbase;
	int done;            /* no more members on the server */
	uint8_t *next_min;   /* "(" + last member, for the next batch */
	size_t next_min_len;
	const void *start;
	size_t start_len;
	int first;
};

static void srv_iter_free(struct srv_iter *it)
{
	if (it->members)
		freeReplyObject(it->members);
	if (it->vals)
		freeReplyObject(it->vals);
	free(it->next_min);
}

/* Fetch the next batch of member names (WATCHing the set on the first). */
static int srv_fetch_members(struct srv_iter *it)
{
	struct rtxn *t = it->t;
	if (it->members) {
		freeReplyObject(it->members);
		it->members = NULL;
	}
	if (it->vals) {
		freeReplyObject(it->vals);
		it->vals = NULL;
	}
	it->pos = it->vbase = 0;
	uint8_t minbuf[STORE_MAX_COLUMN + 2];
	const char *min;
	size_t minl;
	if (!it->first) {
		min = (const char *)it->next_min;
		minl = it->next_min_len;
	} else if (it->start_len) {
		minbuf[0] = '[';
		memcpy(minbuf + 1, it->start, it->start_len);
		min = (const char *)minbuf;
		minl = it->start_len + 1;
	} else {
		min = "-";
		minl = 1;
	}
	char cnt[16];
	snprintf(cnt, sizeof(cnt), "%d", SCAN_BATCH);
	const char *za[7] = {"ZRANGEBYLEX", it->zk, min, "+", "LIMIT", "0", cnt};
	size_t zl[7] = {11, it->zkl, minl, 1, 5, 1, strlen(cnt)};
	const char *wa[2] = {"WATCH", it->zk};
	size_t wl[2] = {5, it->zkl};
	struct cmd cmds[2] = {{2, wa, wl}, {7, za, zl}};
	redisReply *rep[2];
	int first = it->first && !t->live;
	int r = first ? txn_run(t, 2, cmds, rep) : txn_run(t, 1, &cmds[1], &rep[1]);
	if (r)
		return r;
	if (first) {
		freeReplyObject(rep[0]);
		t->watched += 2; /* a scan reads many keys: always validate */
	}
	it->first = 0;
	it->members = rep[1];
	if (it->members->type != REDIS_REPLY_ARRAY)
		return t->err = -EIO;
	size_t n = it->members->elements;
	if (n < SCAN_BATCH) {
		it->done = 1;
	} else {
		redisReply *last = it->members->element[n - 1];
		uint8_t *nm = realloc(it->next_min, last->len + 1);
		if (!nm)
			return -ENOMEM;
		nm[0] = '(';
		memcpy(nm + 1, last->str, last->len);
		it->next_min = nm;
		it->next_min_len = last->len + 1;
	}
	return 0;
}

/* WATCH and MGET the values of members[from … from+VALUE_BATCH). */
static int srv_fetch_values(struct srv_iter *it, size_t from)
{
	struct rtxn *t = it->t;
	size_t n = it->members->elements - from;
	/* directory entries are 9 bytes: a whole member batch at once */
	size_t batch = it->fam == STORE_DIR ? SCAN_BATCH : VALUE_BATCH;
	if (n > batch)
		n = batch;
	if (it->vals) {
		freeReplyObject(it->vals);
		it->vals = NULL;
	}
	char pre[KEY_BUF];
	size_t pl = vprefix(t->s, pre, it->fam, it->row);
	char *keys = malloc(n * KEY_BUF);
	const char **a = malloc((n + 1) * sizeof(*a));
	size_t *l = malloc((n + 1) * sizeof(*l));
	int r = -ENOMEM;
	if (!keys || !a || !l)
		goto out;
	for (size_t i = 0; i < n; i++) {
		redisReply *m = it->members->element[from + i];
		char *k = keys + i * KEY_BUF;
		memcpy(k, pre, pl);
		memcpy(k + pl, m->str, m->len);
		a[i + 1] = k;
		l[i + 1] = pl + m->len;
	}
	/* WATCH k… then MGET k…: the same argv with another verb */
	const char **a2 = malloc((n + 1) * sizeof(*a2));
	if (!a2)
		goto out;
	memcpy(a2, a, (n + 1) * sizeof(*a2));
	a[0] = "WATCH";
	a2[0] = "MGET";
	size_t *l2 = malloc((n + 1) * sizeof(*l2));
	if (!l2) {
		free(a2);
		goto out;
	}
	memcpy(l2, l, (n + 1) * sizeof(*l2));
	l[0] = 5;
	l2[0] = 4;
	struct cmd cmds[2] = {{(int)n + 1, a, l}, {(int)n + 1, a2, l2}};
	redisReply *rep[2] = {NULL, NULL};
	r = t->live ? txn_run(t, 1, &cmds[1], &rep[1]) : txn_run(t, 2, cmds, rep);
	free(a2);
	free(l2);
	if (r)
		goto out;
	freeReplyObject(rep[0]);
	it->vals = rep[1];
	it->vbase = from;
	if (it->vals->type != REDIS_REPLY_ARRAY || it->vals->elements != n)
		r = t->err = -EIO;
out:
	free(keys);
	free(a);
	free(l);
	return r;
}

static int redis_scan(struct store_txn *base, int fam, uint64_t row,
		      const void *start, size_t start_len, store_scan_fn fn,
		      void *arg)
{
	struct rtxn *t = (struct rtxn *)base;
	if (bad_args(fam, start_len))
		return -EINVAL;
	if (t->err)
		return t->err;
	size_t *ov = NULL, nov = 0, j = 0;
	int row_deleted;
	int r = ov_row(t, fam, row, start, start_len, &ov, &nov, &row_deleted);
	if (r)
		return r;
	struct srv_iter it = {.t = t, .fam = fam, .row = row, .start = start,
			      .start_len = start_len, .first = 1};
	it.zkl = zkey(t->s, it.zk, fam, row);
	/* A row the cache knows to be empty costs no round trip: the commit
	 * checks that its member set still does not exist. */
	struct rread *d = NULL;
	if (!row_deleted && !t->live && !(d = rd_find_cached(t, it.zk, it.zkl))) {
		int present;
		uint8_t *v;
		size_t vl;
		int h = rcache_get(&t->s->cache, it.zk, it.zkl, &present, &v, &vl,
				   NULL);
		free(v);
		if (h < 0) {
			r = h;
			goto out;
		}
		if (h == 1 && !present) {
			if (!(d = rd_add(t, it.zk, it.zkl, 1, 0, NULL, 0))) {
				r = -ENOMEM;
				goto out;
			}
			d->empty = 1;
		}
	}
	if (row_deleted || d) {
		it.done = 1;
		it.first = 0;
	} else if ((r = srv_fetch_members(&it))) {
		goto out;
	} else if (!start_len && it.done && !it.members->elements) {
		rcache_put(&t->s->cache, it.zk, it.zkl, 0, NULL, 0);
	}
	for (;;) {
		/* refill the server side */
		if (it.members && it.pos == it.members->elements && !it.done &&
		    (r = srv_fetch_members(&it)))
			goto out;
		int have_srv = it.members && it.pos < it.members->elements;
		if (!have_srv && j == nov)
			break;
		redisReply *m = have_srv ? it.members->element[it.pos] : NULL;
		struct ov *o = j < nov ? &t->ov[ov[j]] : NULL;
		int c = !m ? 1 : !o ? -1 : colcmp(m->str, m->len, o->col, o->col_len);
		if (c < 0) {
			if (!it.vals || it.pos >= it.vbase + it.vals->elements)
				if ((r = srv_fetch_values(&it, it.pos)))
					goto out;
			redisReply *v = it.vals->element[it.pos - it.vbase];
			it.pos++;
			/* nil: deleted since the member list was read; the
			 * watch makes commit fail, so just skip it */
			if (v->type != REDIS_REPLY_STRING)
				continue;
			r = fn(arg, m->str, m->len, v->str, v->len);
		} else {
			if (c == 0)
				it.pos++; /* our write hides the server's */
			j++;
			if (o->kind != OV_PUT)
				continue;
			r = fn(arg, o->col, o->col_len, o->val, o->val_len);
		}
		if (r)
			goto out;
	}
	r = 0;
out:
	srv_iter_free(&it);
	free(ov);
	return r;
}

/* ---- commit ------------------------------------------------------------ */

/*
 * The server side of a commit, one Redis 7 function library (FUNCTION LOAD
 * once; unlike EVALSHA's script cache it survives a restart and a failover
 * and replicates).  The version is in the library's and the function's
 * names, so mounts of different builds can share a server.
 *
 * FCALL cassafs_commit_v1 NKEYS KEY… N [PRESENT VALUE]×N [OP …]…
 * The first N keys are values the transaction read from the client cache:
 * PRESENT "1" with the VALUE it saw, "0" (it saw none), or "E" for a
 * row's member set that it saw empty (VALUE ""), or "MOFF:LEN" with the
 * VALUE it saw, compared except for LEN bytes at OFF.  If any differs
 * from what the server holds, nothing is written and the answer is
 * {check number, current value or nil, …} so that the client refreshes
 * those entries; else the writes follow, each with two keys (value key,
 * member set):
 *   S COL VALUE   set a column        D COL        delete a column
 *   T OFF TIME12  the 12 bytes at OFF, a time (le64 seconds, le32 ns),
 *                 become TIME if it is later
 *   N OFF DELTA4  add DELTA4 (le32) to the le32 at OFF, modulo 2^32
 *   A COL DELTA8  add to a counter    R PREFIX     delete the row (the
 *                                                  value keys share the tag,
 *                                                  so they are in one slot)
 * and the answer is a string of one letter per write: "e" if the row has
 * no column left after it, else "n" (so the client knows which rows are
 * empty without asking).  Everything is checked before the first write: a
 * function is atomic but not rolled back on error.  Counters add bytewise
 * with carry, exact for all of int64 (Lua numbers are doubles).
 */
#define FN_COMMIT "cassafs_commit_v4"
static const char fn_library[] =
	"#!lua name=cassafs_v4\n"
	"local function add8(cur, d)\n"
	"  if not cur or #cur ~= 8 then cur = string.char(0,0,0,0,0,0,0,0) end\n"
	"  local out, carry = {}, 0\n"
	"  for i = 8, 1, -1 do\n"
	"    local s = string.byte(cur, i) + string.byte(d, i) + carry\n"
	"    out[i] = s % 256\n"
	"    carry = math.floor(s / 256)\n"
	"  end\n"
	"  return string.char(unpack(out))\n"
	"end\n"
	"local function le(s, i, n)\n"
	"  local x = 0\n"
	"  for j = i + n - 1, i, -1 do x = x * 256 + string.byte(s, j) end\n"
	"  return x\n"
	"end\n"
	"local function newer(a, b)\n"
	"  local as, bs = le(a, 1, 8), le(b, 1, 8)\n"
	"  return as > bs or (as == bs and le(a, 9, 4) > le(b, 9, 4))\n"
	"end\n"
	"local function commit(keys, args)\n"
	"  local n = tonumber(args[1])\n"
	"  local bad, a = {}, 2\n"
	"  for c = 1, n do\n"
	"    if args[a] == 'E' then\n"
	"      if redis.call('EXISTS', keys[c]) == 1 then\n"
	"        bad[#bad + 1] = c\n"
	"        bad[#bad + 1] = false\n"
	"      end\n"
	"    elseif string.byte(args[a]) == 77 then\n" /* 'M' */
	"      local cur, v = redis.call('GET', keys[c]), args[a + 1]\n"
	"      local o, l = string.match(args[a], '^M(%d+):(%d+)$')\n"
	"      o, l = tonumber(o), tonumber(l)\n"
	"      if not cur or #cur ~= #v or string.sub(cur, 1, o) ~= string.sub(v, 1, o)\n"
	"         or string.sub(cur, o + l + 1) ~= string.sub(v, o + l + 1) then\n"
	"        bad[#bad + 1] = c\n"
	"        bad[#bad + 1] = cur\n"
	"      end\n"
	"    else\n"
	"      local cur = redis.call('GET', keys[c])\n"
	"      if (args[a] == '1' and cur ~= args[a + 1]) or (args[a] ~= '1' and cur) then\n"
	"        bad[#bad + 1] = c\n"
	"        bad[#bad + 1] = cur\n"
	"      end\n"
	"    end\n"
	"    a = a + 2\n"
	"  end\n"
	"  if #bad > 0 then return bad end\n"
	"  local k, flags = n + 1, {}\n"
	"  while a <= #args do\n"
	"    local op, v, z = args[a], keys[k], keys[k + 1]\n"
	"    if op == 'S' then\n"
	"      redis.call('SET', v, args[a + 2])\n"
	"      redis.call('ZADD', z, 0, args[a + 1])\n"
	"      a = a + 3\n"
	"    elseif op == 'D' then\n"
	"      redis.call('UNLINK', v)\n"
	"      redis.call('ZREM', z, args[a + 1])\n"
	"      a = a + 2\n"
	"    elseif op == 'T' then\n"
	"      local cur, o, t = redis.call('GET', v), tonumber(args[a + 1]), args[a + 2]\n"
	"      if cur and #cur >= o + 12 and newer(t, string.sub(cur, o + 1, o + 12)) then\n"
	"        redis.call('SET', v, string.sub(cur, 1, o) .. t .. string.sub(cur, o + 13))\n"
	"      end\n"
	"      a = a + 3\n"
	"    elseif op == 'N' then\n"
	"      local cur, o = redis.call('GET', v), tonumber(args[a + 1])\n"
	"      if cur and #cur >= o + 4 then\n"
	"        local x, b = (le(cur, o + 1, 4) + le(args[a + 2], 1, 4)) % 4294967296, {}\n"
	"        for i = 1, 4 do b[i] = x % 256; x = math.floor(x / 256) end\n"
	"        redis.call('SET', v, string.sub(cur, 1, o) .. string.char(unpack(b)) .. string.sub(cur, o + 5))\n"
	"      end\n"
	"      a = a + 3\n"
	"    elseif op == 'A' then\n"
	"      redis.call('SET', v, add8(redis.call('GET', v), args[a + 2]))\n"
	"      redis.call('ZADD', z, 0, args[a + 1])\n"
	"      a = a + 3\n"
	"    else\n"
	"      while true do\n"
	"        local m = redis.call('ZRANGE', z, 0, 999)\n"
	"        if #m == 0 then break end\n"
	"        for i = 1, #m do redis.call('UNLINK', args[a + 1] .. m[i]) end\n"
	"        redis.call('ZREMRANGEBYRANK', z, 0, #m - 1)\n"
	"      end\n"
	"      a = a + 2\n"
	"    end\n"
	"    flags[#flags + 1] = redis.call('EXISTS', z) == 0 and 'e' or 'n'\n"
	"    k = k + 2\n"
	"  end\n"
	"  return table.concat(flags)\n"
	"end\n"
	"redis.register_function('" FN_COMMIT "', commit)\n";

/* Load the library on c's server: 0, or -EIO with the server's answer. */
int load_functions(struct rstore *s, struct rconn *c, char *err,
		   size_t err_len)
{
	const char *a[3] = {"FUNCTION", "LOAD", fn_library};
	size_t l[3] = {8, 4, sizeof(fn_library) - 1};
	struct cmd cmd = {3, a, l};
	redisReply *rep;
	int r = pipe_run(c, 1, &cmd, &rep);
	if (r)
		return r;
	if (rep->type == REDIS_REPLY_ERROR && !strstr(rep->str, "already exists")) {
		if (err)
			snprintf(err, err_len,
				 "redis store %s: cannot load the cassafs functions "
				 "(FUNCTION LOAD needs Redis 7 and the @scripting "
				 "commands): %s",
				 s->base.url, rep->str);
		else
			log_error("store %s: cannot load the cassafs functions: %s",
				  s->base.url, rep->str);
		r = -EIO;
	}
	freeReplyObject(rep);
	return r;
}

/* A reply that says the server has no cassafs functions (restarted
 * without persistence, a new master after a slot moved): load them. */
static int missing_function(struct rstore *s, struct rconn *c, redisReply *r)
{
	if (!r || r->type != REDIS_REPLY_ERROR ||
	    !strstr(r->str, "Function not found"))
		return 0;
	log_info("store %s: loading the cassafs functions again", s->base.url);
	if (load_functions(s, c, NULL, 0))
		c->broken = 1;
	return 1;
}

/* The argv of one FCALL, and of MULTI/EXEC around it. */
struct fbuf {
	const char **argv;
	size_t *len;
	char *keys;   /* KEY_BUF each */
	int nargv, nkeys;
	char numkeys[24], nchecks[24];
	void *owned[2]; /* freed with it */
};

static int fbuf_init(struct fbuf *b, size_t nkeys, size_t nargs)
{
	memset(b, 0, sizeof(*b));
	b->argv = malloc((nargs + 8) * sizeof(*b->argv));
	b->len = malloc((nargs + 8) * sizeof(*b->len));
	b->keys = malloc((nkeys + 1) * KEY_BUF);
	return b->argv && b->len && b->keys ? 0 : -ENOMEM;
}

static void fbuf_free(struct fbuf *b)
{
	free(b->owned[0]);
	free(b->owned[1]);
	free(b->argv);
	free(b->len);
	free(b->keys);
}

static void arg(struct fbuf *b, const void *p, size_t n)
{
	b->argv[b->nargv] = p;
	b->len[b->nargv++] = n;
}

/*
 * Build FCALL for the transaction's cached reads (checks) and, unless
 * checks_only, its writes: keys first (checks, then two per write), then
 * the arguments, as the function above reads them.
 */
static int build_fcall(struct rtxn *t, int checks_only, struct fbuf *b,
		       size_t *nchecks)
{
	struct rstore *s = t->s;
	size_t nc = 0, nov = checks_only ? 0 : t->nov;
	for (size_t i = 0; i < t->nrd; i++)
		nc += t->rd[i].cached;
	*nchecks = nc;
	size_t nkeys = nc + 2 * nov;
	int r = fbuf_init(b, nkeys, 4 + nkeys + 2 * nc + 3 * nov);
	char *kinds = NULL, *offs = NULL;
	if (!r && (!(kinds = calloc(nc + 1, 48)) || !(offs = calloc(nov + 1, 24))))
		r = -ENOMEM;
	b->owned[0] = kinds;
	b->owned[1] = offs;
	if (r)
		return r;
	arg(b, "FCALL", 5);
	arg(b, FN_COMMIT, sizeof(FN_COMMIT) - 1);
	arg(b, b->numkeys, (size_t)sprintf(b->numkeys, "%zu", nkeys));
	for (size_t i = 0; i < t->nrd; i++)
		if (t->rd[i].cached)
			arg(b, t->rd[i].key, t->rd[i].kl);
	for (size_t i = 0; i < nov; i++) {
		struct ov *o = &t->ov[i];
		char *vk = b->keys + (b->nkeys++) * KEY_BUF;
		char *zk = b->keys + (b->nkeys++) * KEY_BUF;
		size_t zl = zkey(s, zk, o->fam, o->row);
		size_t vl = o->kind == OV_DELROW ? zl
						 : vkey(s, vk, o->fam, o->row, o->col, o->col_len);
		arg(b, o->kind == OV_DELROW ? zk : vk, vl);
		arg(b, zk, zl);
	}
	arg(b, b->nchecks, (size_t)sprintf(b->nchecks, "%zu", nc));
	for (size_t i = 0, c = 0; i < t->nrd; i++) {
		struct rread *d = &t->rd[i];
		if (!d->cached)
			continue;
		if (d->skip_len && d->present) {
			char *k = kinds + 48 * c++;
			arg(b, k, (size_t)sprintf(k, "M%zu:%zu", d->skip_off, d->skip_len));
		} else {
			arg(b, d->empty ? "E" : d->present ? "1" : "0", 1);
		}
		arg(b, d->present ? (const char *)d->val : "", d->present ? d->vl : 0);
	}
	for (size_t i = 0; i < nov; i++) {
		struct ov *o = &t->ov[i];
		/* the delta sits in the spare end of the value key's buffer */
		uint8_t *delta = (uint8_t *)b->keys + (2 * i + 1) * KEY_BUF - 8;
		char *pre = b->keys + 2 * i * KEY_BUF;
		switch (o->kind) {
		case OV_PUT:
			arg(b, "S", 1), arg(b, o->col, o->col_len);
			arg(b, o->val, o->val_len);
			break;
		case OV_DEL:
			arg(b, "D", 1), arg(b, o->col, o->col_len);
			break;
		case OV_ADD:
			store_be64(delta, (uint64_t)o->delta);
			arg(b, "A", 1), arg(b, o->col, o->col_len), arg(b, delta, 8);
			break;
		case OV_DELROW:
			arg(b, "R", 1);
			arg(b, pre, vprefix(s, pre, o->fam, o->row));
			break;
		case OV_MAXTIME:
		case OV_ADDLE32: {
			char *n = offs + 24 * i;
			int mt = o->kind == OV_MAXTIME;
			arg(b, mt ? "T" : "N", 1);
			arg(b, n, (size_t)sprintf(n, "%lld", (long long)o->delta));
			arg(b, o->val, mt ? 12 : 4);
			break;
		}
		}
	}
	return 0;
}

/*
 * The function's answer: 0 = applied, -EAGAIN = a cached read was stale
 * (those cache entries are refreshed from the answer), -EIO otherwise.
 */
static int fcall_result(struct rtxn *t, redisReply *r)
{
	struct rstore *s = t->s;
	if (r->type == REDIS_REPLY_STRING)
		return 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements % 2 == 0 && r->elements) {
		size_t nchecks = 0;
		for (size_t j = 0; j < t->nrd; j++)
			nchecks += t->rd[j].cached;
		for (size_t i = 0; i + 1 < r->elements; i += 2) {
			long long c = r->element[i]->integer;
			redisReply *v = r->element[i + 1];
			if (t->rdonly && nchecks == 1 && !t->watched &&
			    (v->type == REDIS_REPLY_STRING || v->type == REDIS_REPLY_NIL)) {
				for (size_t j = 0; j < t->nrd; j++) {
					struct rread *d = &t->rd[j];
					if (!d->cached || d->empty || d->kl > KEY_BUF)
						continue;
					fresh_clear();
					fresh.present = v->type == REDIS_REPLY_STRING;
					fresh.vl = fresh.present ? v->len : 0;
					if (fresh.present && !(fresh.val = malloc(v->len ? v->len : 1)))
						break;
					if (fresh.present)
						memcpy(fresh.val, v->str, v->len);
					memcpy(fresh.key, d->key, d->kl);
					fresh.kl = d->kl;
					fresh.s = s;
					fresh.set = 1;
					break;
				}
			}
			/* check c is the c-th cached read */
			for (size_t j = 0; j < t->nrd; j++) {
				if (!t->rd[j].cached || --c)
					continue;
				if (t->rd[j].empty)
					rcache_drop(&s->cache, t->rd[j].key, t->rd[j].kl);
				else /* read atomically by the call: as good as a GET */
					rcache_put_token(&s->cache, t->rd[j].key, t->rd[j].kl,
							 v->type == REDIS_REPLY_STRING, v->str,
							 v->type == REDIS_REPLY_STRING ? v->len : 0,
							 &t->rd[j].tok);
				break;
			}
		}
		return -EAGAIN;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		if (missing_function(s, t->conn, r))
			return -EAGAIN;
		int e = reply_err(s, r);
		if (e == REDIRECTED) {
			t->conn->broken = 1;
			return -EAGAIN;
		}
		if (e == -EIO)
			log_error("store %s: commit failed: %s", s->base.url, r->str);
		return e ? e : -EIO;
	}
	log_error("store %s: commit answered an unexpected reply (type %d)",
		  s->base.url, r->type);
	return -EIO;
}

static uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t x = 0;
	for (int i = n; i-- > 0;)
		x = (x << 8) | p[i];
	return x;
}

/* a and b: 12-byte times (le64 seconds, le32 nanoseconds); a later? */
static int time_newer(const uint8_t *a, const uint8_t *b)
{
	uint64_t as = le_get(a, 8), bs = le_get(b, 8);
	return as > bs || (as == bs && le_get(a + 8, 4) > le_get(b + 8, 4));
}

/*
 * After a commit: the cache takes the values the transaction wrote and
 * which rows it left empty (flags: the function's answer, one letter per
 * write; NULL when nothing was written).
 */
static void cache_writes(struct rtxn *t, const char *flags, size_t nflags)
{
	struct rstore *s = t->s;
	for (size_t i = 0; i < t->nrd; i++)
		if (t->rd[i].hint)
			rcache_put(&s->cache, t->rd[i].key, t->rd[i].kl, 0, NULL, 0);
	for (size_t i = 0; i < t->nov; i++) {
		struct ov *o = &t->ov[i];
		char key[KEY_BUF], zk[KEY_BUF];
		size_t zl = zkey(s, zk, o->fam, o->row);
		if (i < nflags && flags[i] == 'e')
			rcache_put(&s->cache, zk, zl, 0, NULL, 0);
		else
			rcache_drop(&s->cache, zk, zl);
		if (o->kind == OV_DELROW)
			continue; /* stale entries of the row fail their checks */
		size_t kl = vkey(s, key, o->fam, o->row, o->col, o->col_len);
		if (o->kind == OV_MAXTIME) {
			/* our view of the value: others' later times may be
			 * there too, which only a full read notices */
			int present;
			uint8_t *v;
			size_t vl;
			size_t off = (size_t)o->delta;
			if (rcache_get(&s->cache, key, kl, &present, &v, &vl, NULL) == 1 &&
			    present && vl >= off + 12 && time_newer(o->val, v + off)) {
				memcpy(v + off, o->val, 12);
				rcache_put(&s->cache, key, kl, 1, v, vl);
			}
			free(v);
		} else if (o->kind == OV_ADDLE32) {
			/* our view, as for a time: others' adds may be there too */
			int present;
			uint8_t *v;
			size_t vl;
			size_t off = (size_t)o->delta;
			if (rcache_get(&s->cache, key, kl, &present, &v, &vl, NULL) == 1 &&
			    present && vl >= off + 4) {
				uint32_t x = (uint32_t)le_get(v + off, 4) +
					     (uint32_t)le_get(o->val, 4);
				for (int j = 0; j < 4; j++, x >>= 8)
					v[off + j] = (uint8_t)x;
				rcache_put(&s->cache, key, kl, 1, v, vl);
			}
			free(v);
		} else if (o->kind == OV_ADD)
			rcache_drop(&s->cache, key, kl);
		else
			rcache_put(&s->cache, key, kl, o->kind == OV_PUT, o->val,
				   o->val_len);
	}
}

/* Before the check of the cached reads goes to the server: what the cache
 * knew (fcall_result and confirm_checks store answers with it). */
static void take_tokens(struct rtxn *t)
{
	for (size_t i = 0; i < t->nrd; i++)
		if (t->rd[i].cached)
			rcache_token(&t->s->cache, t->rd[i].key, t->rd[i].kl,
				     &t->rd[i].tok);
}

/* Every check passed: each value compared in full was the stored one
 * when the server ran the call, as if a GET had read it then. */
static void confirm_checks(struct rtxn *t)
{
	for (size_t i = 0; i < t->nrd; i++) {
		struct rread *d = &t->rd[i];
		if (d->cached && !d->empty && !(d->skip_len && d->present))
			rcache_put_token(&t->s->cache, d->key, d->kl, d->present,
					 d->val, d->vl, &d->tok);
	}
}

/* The transaction's reads may be stale: forget them. */
static void uncache_reads(struct rtxn *t)
{
	for (size_t i = 0; i < t->nrd; i++)
		rcache_drop(&t->s->cache, t->rd[i].key, t->rd[i].kl);
}

/* The connection died while a commit was in flight: we cannot know whether
 * it ran. */
static void commit_lost(struct rstore *s)
{
	if (s->cluster) {
		pthread_mutex_lock(&s->mu);
		s->stale = 1;
		pthread_mutex_unlock(&s->mu);
	}
}

/*
 * Commit in one round trip: FCALL checks the cached reads and applies the
 * writes atomically.  Server reads are WATCHed; when there are any, the
 * FCALL goes inside MULTI/EXEC in the same pipeline, so a changed watched
 * key makes EXEC answer nil and nothing runs.
 */
static int redis_commit(struct store_txn *base)
{
	struct rtxn *t = (struct rtxn *)base;
	struct rstore *s = t->s;
	int r = t->err;
	redisReply *rep[3] = {NULL, NULL, NULL};
	struct fbuf b = {0};
	size_t nchecks = 0;
	if (r)
		goto out;
	for (size_t i = 0; i < t->nrd; i++)
		nchecks += t->rd[i].cached;
	/* read only, and the one value read is the answer of the check that
	 * failed just before: nothing to check (see fresh) */
	if (!t->nov && t->nrd == 1 && t->rd[0].fresh && !t->watched)
		goto out;
	/* Nothing written, nothing from the cache and at most one key read:
	 * that one GET saw one state by itself, so there is nothing to
	 * validate (no round trip for a getattr that missed the cache). */
	if (!t->nov && !nchecks && t->watched <= 1)
		goto out;
	if (!t->conn) {
		r = -EIO;
		goto out;
	}
	const char *ma[1] = {"MULTI"}, *ea[1] = {"EXEC"};
	size_t ml[1] = {5}, el[1] = {4};
	struct cmd cmds[3];
	int n = 0;
	if (t->watched)
		cmds[n++] = (struct cmd){1, ma, ml};
	if (t->nov || nchecks) {
		if ((r = build_fcall(t, 0, &b, &nchecks)))
			goto out;
		cmds[n++] = (struct cmd){b.nargv, b.argv, b.len};
	}
	if (t->watched)
		cmds[n++] = (struct cmd){1, ea, el};
	take_tokens(t);
	if ((r = pipe_run(t->conn, n, cmds, rep))) {
		commit_lost(s);
		goto out;
	}
	redisReply *fr;
	if (t->watched) {
		t->watched = 0; /* EXEC (even a failed one) drops the watches */
		redisReply *ex = rep[n - 1];
		if (ex->type == REDIS_REPLY_NIL) {
			r = -EAGAIN; /* a watched key changed */
			uncache_reads(t);
			goto out;
		}
		if (ex->type == REDIS_REPLY_ERROR) {
			/* EXECABORT: a command was refused while queueing
			 * (MOVED, OOM, …); nothing ran.  Report the cause. */
			r = -EIO;
			for (int i = 0; i < n - 1; i++)
				if (rep[i]->type == REDIS_REPLY_ERROR) {
					r = missing_function(s, t->conn, rep[i])
						    ? -EAGAIN
						    : reply_err(s, rep[i]);
					break;
				}
			if (r == REDIRECTED) {
				t->conn->broken = 1;
				r = -EAGAIN;
			}
			if (r == -EIO)
				log_warn("store %s: commit refused: %s", s->base.url,
					 rtext(ex));
			goto out;
		}
		if (ex->type != REDIS_REPLY_ARRAY ||
		    ex->elements != (size_t)(n - 2)) {
			r = -EIO;
			goto out;
		}
		if (n == 2)
			goto applied; /* validation only */
		fr = ex->element[0];
	} else {
		fr = rep[0];
	}
	if ((r = fcall_result(t, fr)))
		goto out;
	confirm_checks(t);
	cache_writes(t, fr->str, fr->len);
	goto out;
applied:
	cache_writes(t, NULL, 0);
out:
	free_replies(3, rep);
	fbuf_free(&b);
	txn_release(t);
	txn_free(t);
	return r;
}

/*
 * Check, without writing, that every value the transaction took from the
 * cache is still current: the caller is about to act on a failed
 * operation's reads (ENOENT, EEXIST, …) without committing.
 */
static int redis_validate(struct store_txn *base)
{
	struct rtxn *t = (struct rtxn *)base;
	struct fbuf b;
	size_t nchecks;
	redisReply *rep = NULL;
	if (t->err)
		return t->err;
	int r = 0;
	for (size_t i = 0; i < t->nrd; i++)
		r |= t->rd[i].cached;
	if (!r)
		return 0; /* every read was live */
	if (!t->conn)
		return -EIO;
	if ((r = build_fcall(t, 1, &b, &nchecks)))
		goto out;
	struct cmd cmd = {b.nargv, b.argv, b.len};
	take_tokens(t);
	if ((r = pipe_run(t->conn, 1, &cmd, &rep)))
		goto out;
	if ((r = fcall_result(t, rep)) == 0) {
		t->validated = 1;
		confirm_checks(t);
	}
out:
	if (rep)
		freeReplyObject(rep);
	fbuf_free(&b);
	return r;
}

/* Rows of a new inode: remember them as empty once this commits. */
static int redis_hint_empty(struct store_txn *base, int fam, uint64_t row)
{
	struct rtxn *t = (struct rtxn *)base;
	if (bad_args(fam, 0))
		return -EINVAL;
	if (t->rdonly)
		return 0;
	char zk[KEY_BUF];
	size_t zl = zkey(t->s, zk, fam, row);
	struct rread *d = rd_add(t, zk, zl, 0, 0, NULL, 0);
	if (!d)
		return -ENOMEM;
	d->hint = 1;
	return 0;
}

static void redis_abort(struct store_txn *base)
{
	struct rtxn *t = (struct rtxn *)base;
	/* an operation that failed on values nobody validated may have
	 * failed because they were stale (a retry must not see them again) */
	if (!t->validated)
		for (size_t i = 0; i < t->nrd; i++)
			if (t->rd[i].cached)
				rcache_drop(&t->s->cache, t->rd[i].key, t->rd[i].kl);
	txn_release(t);
	txn_free(t);
}

const struct store_ops store_redis_ops = {
	.scheme = "redis",
	.open = redis_open,
	.close = redis_close,
	.txn_begin = redis_txn_begin,
	.get = redis_get,
	.put = redis_put,
	.del = redis_del,
	.del_row = redis_del_row,
	.scan = redis_scan,
	.add = redis_add,
	.commit = redis_commit,
	.validate = redis_validate,
	.hint_empty = redis_hint_empty,
	.get_except = redis_get_except,
	.put_max_time = redis_put_max_time,
	.add_le32 = redis_add_le32,
	.get_many = redis_get_many,
	.abort = redis_abort,
	.tracking = redis_tracking,
	.watch = redis_watch,
	.sync = redis_sync,
	.durability = redis_durability,
	.space = redis_space,
	.destroy = redis_destroy,
};

const struct store_ops store_redis_cluster_ops = {
	.scheme = "redis-cluster",
	.open = redis_cluster_open,
	.close = redis_close,
	.txn_begin = redis_txn_begin,
	.get = redis_get,
	.put = redis_put,
	.del = redis_del,
	.del_row = redis_del_row,
	.scan = redis_scan,
	.add = redis_add,
	.commit = redis_commit,
	.validate = redis_validate,
	.hint_empty = redis_hint_empty,
	.get_except = redis_get_except,
	.put_max_time = redis_put_max_time,
	.add_le32 = redis_add_le32,
	.get_many = redis_get_many,
	.abort = redis_abort,
	.tracking = redis_tracking,
	.watch = redis_watch,
	.sync = redis_sync,
	.durability = redis_durability,
	.space = redis_space,
	.destroy = redis_cluster_destroy,
};
