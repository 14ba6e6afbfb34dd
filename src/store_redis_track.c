/*
 * store_redis_track.c — server-assisted invalidation of the Redis engine's
 * client cache (Redis 6+ CLIENT TRACKING, RESP2 redirect form, as hiredis
 * 0.14 speaks only RESP2).
 *
 * One more connection per store, to the master that serves the
 * filesystem's slot: CLIENT ID; CLIENT TRACKING on REDIRECT <its own id>
 * BCAST PREFIX "{cfs:NAME}:"; SUBSCRIBE __redis__:invalidate.  From then on
 * the server sends the names of the filesystem's keys that anyone changes
 * — a commit of any mount, this one included, and the server-side adds of
 * the commit function (a parent's link count and times) alike — and nil
 * when it dropped everything (FLUSHALL).  BCAST needs no per-connection
 * state on the server and no CLIENT TRACKING on the pooled connections, so
 * reconnecting them changes nothing here.
 *
 * A thread reads the messages: each key's entry is no longer trusted
 * (rcache_invalidate), and rows of changed keys are told to the watcher
 * (the vfs drops the kernel's attributes of those inodes).  Entries put
 * while tracking with a token that still holds are trusted
 * (store_redis_cache.h); STORE_CACHED reads take them without a round
 * trip, but only while track_quiet():
 *   - nothing unread is waiting on the socket and the thread is not
 *     between reading and applying: Redis writes the invalidations of a
 *     command to the subscribers before it writes the command's reply
 *     (beforeSleep: the BCAST messages are queued, then the pending
 *     writes go out, newest client first), so a change another mount's
 *     caller has seen acknowledged is at least waiting on our socket —
 *     and a read that finds it waiting is checked instead;
 *   - PING answered within TRUST_NS (a connection that died without a
 *     FIN: after that, reads are checked again);
 *   - the store still knows the same master (a failover or slot move
 *     stops trust until the thread has subscribed on the new one).
 * Losing the connection, (re)subscribing and FLUSHALL start a new cache
 * epoch: nothing trusted before is trusted after, and the watcher is told
 * that anything may have changed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "store_redis_cache.h"

#include "store_redis_conn.h"

#define PING_NS 250000000ull   /* a PING this often */
#define TRUST_NS 1000000000ull /* trusted entries used while answered */
#define DEAD_NS 3000000000ull  /* then the connection is given up */
#define RETRY_MS 200           /* between connection attempts */
#define REFUSED_MS 30000       /* after the server refused to track */
#define MAX_ROWS 256           /* rows told per batch of messages */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

void track_init(struct rstore *s)
{
	struct rtrack *k = &s->track;
	k->fd = -1;
	k->wake[0] = k->wake[1] = -1;
	pthread_mutex_init(&k->start_mu, NULL);
	pthread_rwlock_init(&k->fn_lock, NULL);
}

/* The watcher, told that anything may have changed or of some rows. */
static void tell(struct rstore *s, int n, const int *fam, const uint64_t *row)
{
	struct rtrack *k = &s->track;
	pthread_rwlock_rdlock(&k->fn_lock);
	if (k->fn) {
		if (n < 0)
			k->fn(k->fn_arg, -1, 0);
		for (int i = 0; i < n; i++)
			k->fn(k->fn_arg, fam[i], row[i]);
	}
	pthread_rwlock_unlock(&k->fn_lock);
}

/* Subscribe c: 0, -1 with a message in err, -2 when the server refused
 * (an ACL without CLIENT or SUBSCRIBE, a server without tracking). */
static int subscribe(struct rstore *s, redisContext *c, char *err,
		     size_t err_len)
{
	redisReply *r = redisCommand(c, "CLIENT ID");
	if (!r || r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, err_len, "CLIENT ID: %s", r ? rtext(r) : c->errstr);
		goto refused;
	}
	long long id = r->integer;
	freeReplyObject(r);
	char prefix[NAME_MAX_LEN + 16];
	int pl = snprintf(prefix, sizeof(prefix), "%s:", s->tag);
	r = redisCommand(c, "CLIENT TRACKING on REDIRECT %lld BCAST PREFIX %b", id,
			 prefix, (size_t)pl);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, err_len, "CLIENT TRACKING (Redis 6 or later): %s",
			 r ? rtext(r) : c->errstr);
		goto refused;
	}
	freeReplyObject(r);
	r = redisCommand(c, "SUBSCRIBE __redis__:invalidate");
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, err_len, "SUBSCRIBE: %s", r ? rtext(r) : c->errstr);
		goto refused;
	}
	freeReplyObject(r);
	return 0;
refused:
	if (r) {
		freeReplyObject(r);
		return -2; /* an answer, not a lost connection */
	}
	return -1;
}

/* Row of a value key "{cfs:NAME}:v:F:RRRRRRRRRRRRRRRR:COL": 1 and fam,
 * row; 0 for other keys (member sets, the superblock marker). */
static int key_row(struct rstore *s, const char *key, size_t kl, int *fam,
		   uint64_t *row)
{
	size_t t = s->tag_len;
	if (kl < t + 22 || memcmp(key, s->tag, t) || memcmp(key + t, ":v:", 3))
		return 0;
	const char *p = key + t + 3, *end = key + kl;
	int f = 0;
	while (p < end && *p >= '0' && *p <= '9')
		f = f * 10 + (*p++ - '0');
	if (p + 18 > end || *p != ':')
		return 0;
	p++;
	uint64_t r = 0;
	for (int i = 0; i < 16; i++, p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
		if (d < 0)
			return 0;
		r = r << 4 | (uint64_t)d;
	}
	*fam = f;
	*row = r;
	return 1;
}

/* Bytes read but not yet made into replies (a message cut in two).  After
 * a call that found nothing, hiredis 0.14 leaves ridx 0 with an untyped
 * task: that is not a message begun. */
static int reader_pending(redisContext *c)
{
	const redisReader *r = c->reader;
	return r->len > r->pos || r->ridx > 0 ||
	       (r->ridx == 0 && r->rstack[0].type >= 0);
}

/*
 * Apply every complete message hiredis holds: drop the keys, note the
 * rows.  -1 if the connection must go (an error, an unexpected reply).
 */
static int apply(struct rstore *s, redisContext *c, int *nrow, int *fam,
		 uint64_t *row, int *all)
{
	struct rtrack *k = &s->track;
	for (;;) {
		redisReply *r = NULL;
		if (redisGetReplyFromReader(c, (void **)&r) != REDIS_OK)
			return -1;
		if (!r)
			return 0;
		int bad = r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
			  r->element[0]->type != REDIS_REPLY_STRING;
		if (!bad && !strcmp(r->element[0]->str, "pong")) {
			STORE(k->pong_ns, mono_ns());
		} else if (!bad && !strcmp(r->element[0]->str, "message") &&
			   r->elements == 3) {
			redisReply *keys = r->element[2];
			k->messages++;
			if (keys->type == REDIS_REPLY_NIL) {
				/* FLUSHALL / FLUSHDB: everything went */
				rcache_tracking(&s->cache, 1, 1);
				*all = 1;
			} else if (keys->type == REDIS_REPLY_ARRAY) {
				for (size_t i = 0; i < keys->elements; i++) {
					redisReply *e = keys->element[i];
					if (e->type != REDIS_REPLY_STRING)
						continue;
					rcache_invalidate(&s->cache, e->str, e->len);
					k->invalidations++;
					int f;
					uint64_t w;
					if (!key_row(s, e->str, e->len, &f, &w))
						continue;
					if (*nrow && fam[*nrow - 1] == f && row[*nrow - 1] == w)
						continue;
					if (*nrow == MAX_ROWS)
						*all = 1; /* too many to tell one by one */
					else
						fam[*nrow] = f, row[(*nrow)++] = w;
				}
			} else {
				bad = 1;
			}
		} else if (!bad && !strcmp(r->element[0]->str, "subscribe")) {
			/* a repeated confirmation: nothing to do */
		} else {
			bad = 1;
		}
		if (bad)
			log_warn("store %s: unexpected message on the invalidation "
				 "connection (type %d); reconnecting",
				 s->base.url, r->type);
		freeReplyObject(r);
		if (bad)
			return -1;
	}
}

/* Serve one subscribed connection until it fails or the master changes. */
static void serve(struct rstore *s, redisContext *c, unsigned long epoch)
{
	struct rtrack *k = &s->track;
	int fam[MAX_ROWS];
	uint64_t row[MAX_ROWS];
	uint64_t last_ping = mono_ns();
	STORE(k->pong_ns, last_ping);
	STORE(k->epoch, epoch);
	STORE(k->fd, c->fd);
	rcache_tracking(&s->cache, 1, 0);
	STORE(k->up, 1);
	tell(s, -1, NULL, NULL); /* what was cached before may be stale */
	while (!LOAD(k->stop)) {
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
				      {.fd = k->wake[0], .events = POLLIN}};
		int n = poll(p, 2, 100);
		if (n < 0 && errno != EINTR)
			break;
		if (LOAD(k->stop))
			break;
		pthread_mutex_lock(&s->mu);
		unsigned long now_epoch = s->epoch;
		pthread_mutex_unlock(&s->mu);
		if (now_epoch != epoch)
			break; /* another master now: subscribe there */
		if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			int nrow = 0, all = 0;
			/* busy before the read, so that a reader who finds the
			 * socket empty and busy clear knows all is applied */
			STORE(k->busy, 1);
			if (redisBufferRead(c) != REDIS_OK ||
			    apply(s, c, &nrow, fam, row, &all) < 0) {
				log_info("store %s: invalidation connection lost (%s); "
					 "cached values are checked until it is back",
					 s->base.url, c->err ? c->errstr : "bad message");
				break;
			}
			if (!reader_pending(c))
				STORE(k->busy, 0);
			tell(s, all ? -1 : nrow, fam, row);
		}
		uint64_t now = mono_ns(), pong = LOAD(k->pong_ns);
		if (now > pong && now - pong > DEAD_NS) {
			log_warn("store %s: invalidation connection does not answer "
				 "for %llu ms; reconnecting", s->base.url,
				 (unsigned long long)((now - pong) / 1000000));
			break;
		}
		if (now - last_ping >= PING_NS) {
			int done = 0;
			last_ping = now;
			if (redisAppendCommand(c, "PING") != REDIS_OK)
				break;
			while (!done)
				if (redisBufferWrite(c, &done) != REDIS_OK)
					break;
			if (!done)
				break;
		}
	}
	/* nothing trusted from here on, before the socket goes */
	STORE(k->up, 0);
	rcache_tracking(&s->cache, 0, 0);
	STORE(k->fd, -1);
	STORE(k->busy, 0);
	tell(s, -1, NULL, NULL);
}

static void *track_main(void *arg)
{
	struct rstore *s = arg;
	struct rtrack *k = &s->track;
	int logged = 0;
	while (!LOAD(k->stop)) {
		char err[512] = "";
		int wait_ms = RETRY_MS;
		int rc;
		pthread_mutex_lock(&s->mu);
		int stale = s->cluster && s->stale;
		struct hostport m = s->master;
		unsigned long epoch = s->epoch;
		pthread_mutex_unlock(&s->mu);
		if (stale) {
			/* the pool asks the cluster for the map */
			struct rconn *pc = conn_get(s, &rc, err, sizeof(err));
			conn_put(s, pc);
		} else {
			redisContext *c = node_connect(s, &m, &rc, err, sizeof(err));
			int sr = c ? subscribe(s, c, err, sizeof(err)) : -1;
			if (sr == -2)
				wait_ms = REFUSED_MS; /* asking again soon won't help */
			if (c && sr == 0) {
				if (logged)
					log_info("store %s: invalidation connection to "
						 "%s:%d is back", s->base.url, m.host, m.port);
				logged = 0;
				serve(s, c, epoch);
			} else if (!logged++) {
				log_warn("store %s: no invalidation connection (%s): "
					 "cached values are checked at every read",
					 s->base.url, err);
			}
			if (c)
				redisFree(c);
		}
		struct pollfd p = {.fd = k->wake[0], .events = POLLIN};
		poll(&p, 1, wait_ms);
	}
	return NULL;
}

/* Start the thread at first use (mkfs, fsck and the CLI never need it). */
void track_start(struct rstore *s)
{
	struct rtrack *k = &s->track;
	if (!k->enabled || LOAD(k->started))
		return;
	pthread_mutex_lock(&k->start_mu);
	if (!k->started && pipe2(k->wake, O_CLOEXEC) == 0) {
		if (pthread_create(&k->thread, NULL, track_main, s) == 0) {
			STORE(k->started, 1);
		} else {
			close(k->wake[0]);
			close(k->wake[1]);
			k->wake[0] = k->wake[1] = -1;
			k->enabled = 0;
			log_warn("store %s: cannot start the invalidation thread; "
				 "cached values are checked at every read", s->base.url);
		}
	}
	pthread_mutex_unlock(&k->start_mu);
}

void track_stop(struct rstore *s)
{
	struct rtrack *k = &s->track;
	if (LOAD(k->started)) {
		STORE(k->stop, 1);
		if (write(k->wake[1], "x", 1) < 0) {
			/* the thread still sees stop within its poll timeout */
		}
		pthread_join(k->thread, NULL);
		close(k->wake[0]);
		close(k->wake[1]);
		log_debug("store %s: %llu invalidation messages, %llu keys",
			  s->base.url, (unsigned long long)k->messages,
			  (unsigned long long)k->invalidations);
	}
	pthread_rwlock_destroy(&k->fn_lock);
	pthread_mutex_destroy(&k->start_mu);
}

int track_quiet(struct rstore *s)
{
	struct rtrack *k = &s->track;
	if (!LOAD(k->up))
		return 0;
	int fd = LOAD(k->fd);
	if (fd < 0)
		return 0;
	/* socket first, then busy: see the comment at the top */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) != 0)
		return 0;
	if (LOAD(k->busy))
		return 0;
	uint64_t now = mono_ns(), pong = LOAD(k->pong_ns);
	if (now > pong && now - pong > TRUST_NS)
		return 0;
	/* no lock: a change of master that is being made now is as good
	 * as one made just after the read */
	return LOAD(s->epoch) == LOAD(k->epoch) && !(s->cluster && LOAD(s->stale));
}

int redis_tracking(struct store *base)
{
	struct rstore *s = (struct rstore *)base;
	if (!s->track.enabled)
		return STORE_TRACK_NONE;
	track_start(s);
	return LOAD(s->track.up) ? STORE_TRACK_UP : STORE_TRACK_DOWN;
}

int redis_watch(struct store *base, store_change_fn fn, void *arg)
{
	struct rstore *s = (struct rstore *)base;
	struct rtrack *k = &s->track;
	if (!k->enabled)
		return -EOPNOTSUPP;
	pthread_rwlock_wrlock(&k->fn_lock);
	k->fn = fn;
	k->fn_arg = arg;
	pthread_rwlock_unlock(&k->fn_lock);
	if (fn)
		track_start(s);
	return 0;
}
