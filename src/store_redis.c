/*
 * store_redis.c — the distributed engine: one Redis server or a Redis
 * Cluster, through hiredis 0.14 (old API, no cluster support of its own).
 *
 * URLs (docs/redis.md has the long form):
 *   redis://[[USER]:PASSWORD@]HOST:PORT[/DB][?OPTIONS]
 *   redis-cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/NAME[?OPTIONS]
 * OPTIONS (joined with &): name=NAME (standalone; default "cassafs"),
 * password_file=PATH, timeout=SECONDS (each command, default 5),
 * connect_timeout=SECONDS (default 3).  The password comes from the URL,
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
 * Transactions are optimistic.  Every read WATCHes the keys it reads (in
 * the same round trip as the read); writes are buffered in the transaction
 * (so it sees its own writes, and others see nothing before commit);
 * commit sends MULTI, the buffered writes, EXEC.  A watched key changed by
 * someone else makes EXEC answer nil: -EAGAIN, nothing applied.  Read-only
 * transactions watch too and their commit validates with an empty
 * MULTI/EXEC, so a read-only transaction that commits with 0 saw one
 * consistent state.  Counter adds and del_row run as Lua scripts inside
 * the MULTI and watch nothing, so adders never conflict with each other.
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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "metrics.h"
#include "store.h"
#include "store_redis_cache.h"

#define NAME_MAX_LEN 64
#define MAX_NODES 32
#define KEY_BUF (NAME_MAX_LEN + 48 + STORE_MAX_COLUMN)
#define SCAN_BATCH 256 /* members per ZRANGEBYLEX */
#define VALUE_BATCH 32 /* values per MGET (values may be 1 MiB) */
#define POOL_MAX 32
#define REDIRECTED (-100000) /* internal: MOVED, map updated */

struct hostport {
	char host[256];
	int port;
};

struct rconn {
	redisContext *c;
	unsigned long epoch; /* master generation it was opened for */
	int broken;
	int unwatch; /* an aborted transaction left watches: UNWATCH first */
	struct rconn *next;
};

struct rstore {
	struct store base;
	int cluster;
	char name[NAME_MAX_LEN + 1];
	char tag[NAME_MAX_LEN + 8]; /* "{cfs:NAME}" */
	size_t tag_len;
	uint16_t slot;
	char user[256];
	char pass[512];
	int has_pass;
	int db;
	struct hostport seeds[MAX_NODES];
	int nseeds;
	struct timeval conn_tv, cmd_tv;

	pthread_mutex_t refresh_mu; /* one cluster_refresh at a time; taken
				      * before mu, held across the network */
	pthread_mutex_t mu; /* guards everything below; never held across
			     * a network round trip */
	struct hostport master;
	struct hostport known[MAX_NODES]; /* every node CLUSTER SLOTS named */
	int nknown;
	unsigned long epoch;
	int stale;
	int down; /* the last connect failed: log changes, not every attempt */
	struct rconn *idle;
	int nidle;
	unsigned long refresh_gen; /* cluster_refreshes finished */
	int refresh_rc;            /* and the last one's outcome */
	char refresh_err[512];
	struct rcache cache; /* small values, validated at every commit */
};

enum { OV_PUT, OV_DEL, OV_DELROW, OV_ADD, OV_MAXTIME };

/* One buffered write. */
struct ov {
	int kind;
	int fam;
	uint64_t row;
	uint8_t *col;
	size_t col_len;
	uint8_t *val;
	size_t val_len;
	int64_t delta; /* OV_ADD; OV_MAXTIME: the byte offset */
};

struct rtxn {
	struct store_txn base;
	struct rstore *s;
	struct rconn *conn;
	int rdonly;
	int live; /* STORE_LIVE: reads are not WATCHed nor validated */
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
};

/* One command for a pipeline. */
struct cmd {
	int argc;
	const char **argv;
	size_t *len;
};

/* ---- small helpers ----------------------------------------------------- */

/* CRC16-CCITT (XMODEM), the function Redis Cluster hashes keys with. */
static uint16_t crc16(const char *buf, size_t len)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)((uint8_t)buf[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021)
					   : (uint16_t)(crc << 1);
	}
	return crc;
}

/* The slot of a key: only the part inside the first {…} counts. */
static uint16_t key_slot(const char *key, size_t len)
{
	const char *o = memchr(key, '{', len);
	if (o) {
		const char *c = memchr(o + 1, '}', len - (size_t)(o + 1 - key));
		if (c && c > o + 1)
			return crc16(o + 1, (size_t)(c - o - 1)) & 16383;
	}
	return crc16(key, len) & 16383;
}

static int colcmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* "{cfs:NAME}:v:F:RRRRRRRRRRRRRRRR:" — the prefix of a row's value keys. */
static size_t vprefix(const struct rstore *s, char *buf, int fam, uint64_t row)
{
	return (size_t)sprintf(buf, "%s:v:%d:%016llx:", s->tag, fam,
			       (unsigned long long)row);
}

static size_t vkey(const struct rstore *s, char *buf, int fam, uint64_t row,
		   const void *col, size_t col_len)
{
	size_t n = vprefix(s, buf, fam, row);
	memcpy(buf + n, col, col_len);
	return n + col_len;
}

static size_t zkey(const struct rstore *s, char *buf, int fam, uint64_t row)
{
	return (size_t)sprintf(buf, "%s:z:%d:%016llx", s->tag, fam,
			       (unsigned long long)row);
}

static int bad_args(int fam, size_t col_len)
{
	return fam < 0 || fam >= STORE_FAMILIES || col_len > STORE_MAX_COLUMN;
}

/* ---- connections ------------------------------------------------------- */

static void conn_free(struct rconn *c)
{
	if (!c)
		return;
	if (c->c)
		redisFree(c->c);
	free(c);
}

/* An idle connection has nothing to read; readable means EOF or error. */
static int conn_alive(struct rconn *c)
{
	if (!c->c || c->c->err)
		return 0;
	struct pollfd p = {.fd = c->c->fd, .events = POLLIN};
	int n = poll(&p, 1, 0);
	return n == 0;
}

/* Text of an error reply, for messages. */
static const char *rtext(redisReply *r)
{
	return r && r->str ? r->str : "no reply";
}

/*
 * Connect to one node, authenticate and (standalone) select the database.
 * On failure writes a message naming the node and the cause.
 */
static redisContext *node_connect(struct rstore *s, const struct hostport *hp,
				  int *rc, char *err, size_t err_len)
{
	redisContext *c = redisConnectWithTimeout(hp->host, hp->port, s->conn_tv);
	redisReply *r = NULL;
	if (!c || c->err) {
		snprintf(err, err_len, "cannot connect to redis at %s:%d: %s",
			 hp->host, hp->port, c ? c->errstr : "out of memory");
		*rc = c ? -EIO : -ENOMEM;
		goto fail;
	}
	redisSetTimeout(c, s->cmd_tv);
	redisEnableKeepAlive(c);
	if (s->has_pass) {
		if (s->user[0])
			r = redisCommand(c, "AUTH %b %b", s->user, strlen(s->user),
					 s->pass, strlen(s->pass));
		else
			r = redisCommand(c, "AUTH %b", s->pass, strlen(s->pass));
		if (!r) {
			snprintf(err, err_len, "redis at %s:%d: AUTH failed: %s",
				 hp->host, hp->port, c->errstr);
			*rc = -EIO;
			goto fail;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			snprintf(err, err_len,
				 "redis at %s:%d refused the password (%s); check the "
				 "password in the URL, password_file= or "
				 "CASSAFS_REDIS_PASSWORD",
				 hp->host, hp->port, rtext(r));
			*rc = -EACCES;
			goto fail;
		}
		freeReplyObject(r);
		r = NULL;
	}
	if (!s->cluster && s->db) {
		r = redisCommand(c, "SELECT %d", s->db);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, err_len, "redis at %s:%d: SELECT %d failed: %s",
				 hp->host, hp->port, s->db,
				 r ? rtext(r) : c->errstr);
			*rc = -EIO;
			if (r && strstr(rtext(r), "NOAUTH")) {
				snprintf(err, err_len,
					 "redis at %s:%d requires a password (%s); give it in "
					 "the URL, password_file= or CASSAFS_REDIS_PASSWORD",
					 hp->host, hp->port, rtext(r));
				*rc = -EACCES;
			}
			goto fail;
		}
		freeReplyObject(r);
		r = NULL;
	}
	return c;
fail:
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return NULL;
}

static void add_known(struct rstore *s, const char *host, int port)
{
	for (int i = 0; i < s->nknown; i++)
		if (s->known[i].port == port && !strcmp(s->known[i].host, host))
			return;
	if (s->nknown < MAX_NODES) {
		snprintf(s->known[s->nknown].host, sizeof(s->known[0].host), "%.255s", host);
		s->known[s->nknown++].port = port;
	}
}

/* What one node said in CLUSTER SLOTS. */
struct slot_map {
	struct hostport master; /* port 0: no master serves our slot */
	struct hostport nodes[MAX_NODES];
	int nnodes;
};

static void map_add(struct slot_map *map, const char *host, int port)
{
	for (int i = 0; i < map->nnodes; i++)
		if (map->nodes[i].port == port && !strcmp(map->nodes[i].host, host))
			return;
	if (map->nnodes < MAX_NODES) {
		snprintf(map->nodes[map->nnodes].host, sizeof(map->nodes[0].host),
			 "%.255s", host);
		map->nodes[map->nnodes++].port = port;
	}
}

/*
 * Ask one node for CLUSTER SLOTS: the master of our slot and every node
 * named.  Network only: called without s->mu (a node that does not answer
 * takes up to the command timeout, and the engine must not stall on it).
 */
static int slots_from(struct rstore *s, const struct hostport *hp,
		      struct slot_map *map, char *err, size_t err_len)
{
	int rc = -EIO;
	map->master.port = 0;
	map->nnodes = 0;
	redisContext *c = node_connect(s, hp, &rc, err, err_len);
	if (!c)
		return rc;
	redisReply *r = redisCommand(c, "CLUSTER SLOTS");
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, err_len, "redis at %s:%d: CLUSTER SLOTS failed: %s%s",
			 hp->host, hp->port, r ? rtext(r) : c->errstr,
			 r && strstr(rtext(r), "cluster support disabled")
				 ? " (not a cluster node: use redis://)" : "");
		rc = -EIO;
		if (r && strstr(rtext(r), "NOAUTH")) {
			snprintf(err, err_len,
				 "redis at %s:%d requires a password (%s); give it in "
				 "the URL, password_file= or CASSAFS_REDIS_PASSWORD",
				 hp->host, hp->port, rtext(r));
			rc = -EACCES;
		}
		goto out;
	}
	rc = -EIO;
	snprintf(err, err_len, "redis cluster via %s:%d: no master serves slot %u "
		 "of '%s' (cluster down?)", hp->host, hp->port, s->slot, s->tag);
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
			continue;
		for (size_t j = 2; j < e->elements; j++) {
			redisReply *n = e->element[j];
			if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
			    n->element[0]->type != REDIS_REPLY_STRING)
				continue;
			/* an empty address means "the node you asked" */
			const char *h = n->element[0]->len ? n->element[0]->str : hp->host;
			map_add(map, h, (int)n->element[1]->integer);
		}
		long long lo = e->element[0]->integer, hi = e->element[1]->integer;
		redisReply *m = e->element[2];
		if (s->slot < lo || s->slot > hi || m->type != REDIS_REPLY_ARRAY ||
		    m->elements < 2)
			continue;
		const char *h = m->element[0]->len ? m->element[0]->str : hp->host;
		snprintf(map->master.host, sizeof(map->master.host), "%.255s", h);
		map->master.port = (int)m->element[1]->integer;
		rc = 0;
	}
out:
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return rc;
}

/*
 * Find the master of our slot: last master, nodes seen, seeds.  Called
 * without s->mu, which is taken only to read the candidates and to
 * install the answer: requests that need no new map (returning a
 * connection, a MOVED) never wait for a node that does not answer.  One
 * thread asks at a time; the others wait for its outcome and take it (a
 * failover must not cost each waiting request a full round of timeouts,
 * one after the other).
 */
static int cluster_refresh(struct rstore *s, char *err, size_t err_len)
{
	struct hostport cand[1 + 2 * MAX_NODES];
	int n = 0, rc = -EIO;
	pthread_mutex_lock(&s->mu);
	unsigned long gen = s->refresh_gen;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_lock(&s->refresh_mu);
	pthread_mutex_lock(&s->mu);
	if (s->refresh_gen != gen || !s->stale) {
		/* another thread asked while we waited: its answer is ours */
		rc = s->stale ? s->refresh_rc : 0;
		if (rc)
			snprintf(err, err_len, "%s", s->refresh_err);
		pthread_mutex_unlock(&s->mu);
		pthread_mutex_unlock(&s->refresh_mu);
		return rc;
	}
	if (s->master.port)
		cand[n++] = s->master;
	for (int i = 0; i < s->nknown + s->nseeds; i++) {
		const struct hostport *h =
			i < s->nknown ? &s->known[i] : &s->seeds[i - s->nknown];
		int dup = 0;
		for (int j = 0; j < n && !dup; j++)
			dup = cand[j].port == h->port && !strcmp(cand[j].host, h->host);
		if (!dup)
			cand[n++] = *h; /* each node once: bounded time when all are down */
	}
	pthread_mutex_unlock(&s->mu);
	struct slot_map *map = malloc(sizeof(*map));
	if (!map) {
		snprintf(err, err_len, "out of memory");
		rc = -ENOMEM;
	}
	for (int i = 0; map && i < n; i++) {
		rc = slots_from(s, &cand[i], map, err, err_len);
		if (rc == 0 || rc == -EACCES || rc == -ENOMEM)
			break;
	}
	pthread_mutex_lock(&s->mu);
	if (rc == 0) {
		for (int i = 0; i < map->nnodes; i++)
			add_known(s, map->nodes[i].host, map->nodes[i].port);
		if (map->master.port != s->master.port ||
		    strcmp(map->master.host, s->master.host)) {
			if (s->master.port)
				log_info("store %s: slot %u is now served by %s:%d",
					 s->base.url, s->slot, map->master.host,
					 map->master.port);
			s->master = map->master;
			s->epoch++;
		}
		s->stale = 0;
	}
	s->refresh_gen++;
	s->refresh_rc = rc;
	snprintf(s->refresh_err, sizeof(s->refresh_err), "%s", rc ? err : "");
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->refresh_mu);
	free(map);
	return rc;
}

/* Log a lost or regained server once, not on every operation. */
static void note_state(struct rstore *s, int down, const char *err)
{
	pthread_mutex_lock(&s->mu);
	int was = s->down;
	s->down = down;
	pthread_mutex_unlock(&s->mu);
	if (down && !was)
		log_warn("store %s: %s (further failures not logged until it "
			 "answers again)", s->base.url, err);
	else if (!down && was)
		log_info("store %s: connected again", s->base.url);
}

/* Check a connection out of the pool, or open one to the current master. */
static struct rconn *conn_get(struct rstore *s, int *rc, char *err,
			      size_t err_len)
{
	char ebuf[512];
	int retried = 0;
	if (!err) {
		err = ebuf;
		err_len = sizeof(ebuf);
	}
again:
	pthread_mutex_lock(&s->mu);
	if (s->cluster && s->stale) {
		pthread_mutex_unlock(&s->mu); /* no engine lock across the network */
		int r = cluster_refresh(s, err, err_len);
		if (r) {
			if (err == ebuf) /* else the caller reports it */
				note_state(s, 1, err);
			*rc = r;
			return NULL;
		}
		pthread_mutex_lock(&s->mu);
	}
	while (s->idle) {
		struct rconn *c = s->idle;
		s->idle = c->next;
		s->nidle--;
		if (c->epoch == s->epoch && conn_alive(c)) {
			pthread_mutex_unlock(&s->mu);
			c->next = NULL;
			return c;
		}
		conn_free(c);
	}
	struct hostport m = s->master;
	unsigned long epoch = s->epoch;
	pthread_mutex_unlock(&s->mu);

	struct rconn *c = calloc(1, sizeof(*c));
	if (!c) {
		*rc = -ENOMEM;
		return NULL;
	}
	c->epoch = epoch;
	c->c = node_connect(s, &m, rc, err, err_len);
	if (!c->c) {
		free(c);
		if (s->cluster) {
			pthread_mutex_lock(&s->mu);
			s->stale = 1;
			pthread_mutex_unlock(&s->mu);
			/* The master we knew is gone: a replica may have taken
			 * over while we were idle.  Ask the cluster once more
			 * before failing, so the first call after a failover
			 * does not fail when the rest of the cluster knows. */
			if (!retried++)
				goto again;
		}
		if (err == ebuf) /* else the caller reports it */
			note_state(s, 1, err);
		return NULL;
	}
	if (__atomic_load_n(&s->down, __ATOMIC_RELAXED))
		note_state(s, 0, NULL);
	return c;
}

static void conn_put(struct rstore *s, struct rconn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&s->mu);
	if (!c->broken && c->epoch == s->epoch && s->nidle < POOL_MAX) {
		c->next = s->idle;
		s->idle = c;
		s->nidle++;
		c = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	conn_free(c);
}

/*
 * Classify an error reply.  MOVED updates the slot map and answers
 * REDIRECTED; replies that are not errors answer 0.
 */
static int reply_err(struct rstore *s, redisReply *r)
{
	if (!r)
		return -EIO;
	if (r->type != REDIS_REPLY_ERROR)
		return 0;
	const char *m = rtext(r);
	if (!strncmp(m, "MOVED ", 6)) {
		const char *hp = strchr(m + 6, ' ');
		const char *colon = hp ? strrchr(hp, ':') : NULL;
		pthread_mutex_lock(&s->mu);
		if (colon && colon - hp - 1 < (int)sizeof(s->master.host)) {
			char host[256];
			int port = atoi(colon + 1);
			snprintf(host, sizeof(host), "%.*s", (int)(colon - hp - 1), hp + 1);
			if (port != s->master.port || strcmp(host, s->master.host)) {
				log_info("store %s: slot %u moved to %s:%d",
					 s->base.url, s->slot, host, port);
				snprintf(s->master.host, sizeof(s->master.host), "%s", host);
				s->master.port = port;
				s->epoch++;
			}
		} else {
			s->stale = 1;
		}
		pthread_mutex_unlock(&s->mu);
		return REDIRECTED;
	}
	if (!strncmp(m, "ASK ", 4) || !strncmp(m, "TRYAGAIN", 8))
		return -EAGAIN;
	if (!strncmp(m, "OOM", 3))
		return -ENOSPC;
	if (!strncmp(m, "READONLY", 8) || !strncmp(m, "CLUSTERDOWN", 11) ||
	    !strncmp(m, "MASTERDOWN", 10) || !strncmp(m, "LOADING", 7)) {
		/* talking to a demoted master or a cluster mid-failover */
		if (s->cluster) {
			pthread_mutex_lock(&s->mu);
			s->stale = 1;
			pthread_mutex_unlock(&s->mu);
		}
		return -EIO;
	}
	if (!strncmp(m, "EXECABORT", 9))
		return -EAGAIN; /* the queued command's own error decides */
	log_warn("store %s: redis error: %s", s->base.url ? s->base.url : s->tag, m);
	return -EIO;
}

/* Send n commands in one round trip and read exactly n replies. */
static int pipe_run(struct rconn *c, int n, const struct cmd *cmds,
		    redisReply **rep)
{
	uint64_t t0 = metrics_now_ns();
	for (int i = 0; i < n; i++)
		rep[i] = NULL;
	if (c->unwatch) {
		/* sent with the next pipeline instead of its own round trip */
		if (redisAppendCommand(c->c, "UNWATCH") != REDIS_OK) {
			c->broken = 1;
			return -EIO;
		}
	}
	for (int i = 0; i < n; i++)
		if (redisAppendCommandArgv(c->c, cmds[i].argc, cmds[i].argv,
					   cmds[i].len) != REDIS_OK) {
			c->broken = 1;
			return -EIO;
		}
	if (c->unwatch) {
		redisReply *u = NULL;
		if (redisGetReply(c->c, (void **)&u) != REDIS_OK) {
			c->broken = 1;
			return -EIO;
		}
		if (u->type == REDIS_REPLY_ERROR)
			c->broken = 1; /* answer the caller, then drop it */
		freeReplyObject(u);
		c->unwatch = 0;
	}
	for (int i = 0; i < n; i++)
		if (redisGetReply(c->c, (void **)&rep[i]) != REDIS_OK) {
			rep[i] = NULL;
			c->broken = 1;
			return -EIO;
		}
	metrics_round_trip(metrics_now_ns() - t0);
	return 0;
}

static void free_replies(int n, redisReply **rep)
{
	for (int i = 0; i < n; i++)
		if (rep[i]) {
			freeReplyObject(rep[i]);
			rep[i] = NULL;
		}
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

/* ---- URL --------------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copy n bytes of a URL part, decoding %XX. */
static int url_decode(char *out, size_t out_len, const char *in, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];
		if (c == '%' && i + 2 < n && hexval(in[i + 1]) >= 0 &&
		    hexval(in[i + 2]) >= 0) {
			c = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
			i += 2;
		}
		if (o + 1 >= out_len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

static int valid_name(const char *n)
{
	if (!*n || strlen(n) > NAME_MAX_LEN)
		return 0;
	for (; *n; n++)
		if (!(('a' <= *n && *n <= 'z') || ('A' <= *n && *n <= 'Z') ||
		      ('0' <= *n && *n <= '9') || *n == '_' || *n == '-' || *n == '.'))
			return 0;
	return 1;
}

static int read_password_file(struct rstore *s, const char *path, char *err,
			      size_t err_len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, err_len, "cannot read redis password file %s: %s", path,
			 strerror(e));
		return -e;
	}
	size_t n = fread(s->pass, 1, sizeof(s->pass) - 1, f);
	fclose(f);
	s->pass[n] = 0;
	while (n && (s->pass[n - 1] == '\n' || s->pass[n - 1] == '\r'))
		s->pass[--n] = 0;
	s->has_pass = 1;
	return 0;
}

static int parse_url(struct rstore *s, const char *url, int cluster, char *err,
		     size_t err_len)
{
	const char *scheme = cluster ? "redis-cluster://" : "redis://";
	const char *form = cluster
		? "redis-cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/NAME[?OPTIONS]"
		: "redis://[[USER]:PASSWORD@]HOST:PORT[/DB][?OPTIONS]";
	char pwfile[1024] = "";
	s->cluster = cluster;
	strcpy(s->name, "cassafs");
	s->conn_tv = (struct timeval){3, 0};
	s->cmd_tv = (struct timeval){5, 0};
	if (strncmp(url, scheme, strlen(scheme)))
		goto bad;
	const char *p = url + strlen(scheme);
	const char *end = p + strcspn(p, "/?");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (!colon)
			goto bad;
		if (url_decode(s->user, sizeof(s->user), p, (size_t)(colon - p)) ||
		    url_decode(s->pass, sizeof(s->pass), colon + 1,
			       (size_t)(at - colon - 1)))
			goto bad;
		s->has_pass = 1;
		p = at + 1;
	}
	/* HOST:PORT[,HOST:PORT…] */
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *colon = NULL;
		for (const char *q = p; q < e; q++)
			if (*q == ':')
				colon = q;
		if (!colon || colon == p || s->nseeds == MAX_NODES ||
		    (size_t)(colon - p) >= sizeof(s->seeds[0].host))
			goto bad;
		struct hostport *hp = &s->seeds[s->nseeds++];
		memcpy(hp->host, p, (size_t)(colon - p));
		hp->host[colon - p] = 0;
		char *pe;
		long port = strtol(colon + 1, &pe, 10);
		if (pe != e || port <= 0 || port > 65535)
			goto bad;
		hp->port = (int)port;
		p = comma ? comma + 1 : e;
	}
	if (!s->nseeds || (!cluster && s->nseeds != 1))
		goto bad;
	p = end;
	if (*p == '/' && p[1] && p[1] != '?') {
		const char *e = p + 1 + strcspn(p + 1, "?");
		char part[128];
		if ((size_t)(e - p - 1) >= sizeof(part))
			goto bad;
		memcpy(part, p + 1, (size_t)(e - p - 1));
		part[e - p - 1] = 0;
		if (cluster) {
			if (strlen(part) > NAME_MAX_LEN)
				goto bad;
			snprintf(s->name, sizeof(s->name), "%.64s", part);
		} else {
			char *pe;
			long db = strtol(part, &pe, 10);
			if (*pe || db < 0 || db > 100000)
				goto bad;
			s->db = (int)db;
		}
		p = e;
	} else if (cluster) {
		goto bad; /* the name is required: it is the hash tag */
	} else if (*p == '/') {
		p++;
	}
	if (*p == '?') {
		char opts[2048];
		snprintf(opts, sizeof(opts), "%s", p + 1);
		for (char *sv, *o = strtok_r(opts, "&", &sv); o;
		     o = strtok_r(NULL, "&", &sv)) {
			char *eq = strchr(o, '=');
			if (!eq)
				goto badopt;
			*eq++ = 0;
			if (!strcmp(o, "name") && !cluster) {
				if (strlen(eq) > NAME_MAX_LEN) {
					snprintf(s->name, sizeof(s->name), "%.60s...", eq);
					goto badname;
				}
				snprintf(s->name, sizeof(s->name), "%.64s", eq);
			} else if (!strcmp(o, "password_file")) {
				if (url_decode(pwfile, sizeof(pwfile), eq, strlen(eq)))
					goto badopt;
			} else if (!strcmp(o, "timeout") || !strcmp(o, "connect_timeout")) {
				char *pe;
				double v = strtod(eq, &pe);
				if (*pe || v <= 0 || v > 3600)
					goto badopt;
				struct timeval tv = {(time_t)v,
						     (suseconds_t)((v - (long)v) * 1e6)};
				*(!strcmp(o, "timeout") ? &s->cmd_tv : &s->conn_tv) = tv;
			} else {
				eq[-1] = '=';
				snprintf(err, err_len,
					 "'%s': unknown option '%s' (known: %spassword_file=, "
					 "timeout=, connect_timeout=)",
					 s->base.url ? s->base.url : scheme, o,
					 cluster ? "" : "name=, ");
				return -EINVAL;
			}
		}
	}
	if (!valid_name(s->name)) {
badname:
		snprintf(err, err_len,
			 "redis store name '%s' is not 1..%d characters of A-Z a-z 0-9 . _ -",
			 s->name, NAME_MAX_LEN);
		return -EINVAL;
	}
	if (!s->has_pass && pwfile[0]) {
		int r = read_password_file(s, pwfile, err, err_len);
		if (r)
			return r;
	}
	if (!s->has_pass && getenv("CASSAFS_REDIS_PASSWORD")) {
		snprintf(s->pass, sizeof(s->pass), "%s", getenv("CASSAFS_REDIS_PASSWORD"));
		s->has_pass = 1;
	}
	s->tag_len = (size_t)snprintf(s->tag, sizeof(s->tag), "{cfs:%s}", s->name);
	s->slot = key_slot(s->tag, s->tag_len);
	if (!cluster)
		s->master = s->seeds[0];
	else
		s->stale = 1;
	return 0;
bad:
	snprintf(err, err_len, "'%s' is not a redis store URL (expected %s)",
		 s->base.url ? s->base.url : "(url)", form);
	return -EINVAL;
badopt:
	snprintf(err, err_len, "'%s': malformed option (expected NAME=VALUE)",
		 s->base.url ? s->base.url : "(url)");
	return -EINVAL;
}

/* The URL with the password replaced, for messages and store->url. */
static char *redact(const char *url)
{
	const char *p = strstr(url, "://");
	char *out = strdup(url);
	if (!p || !out)
		return out;
	p += 3;
	const char *end = p + strcspn(p, "/?");
	const char *at = memchr(p, '@', (size_t)(end - p));
	const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon) {
		size_t pre = (size_t)(colon + 1 - url);
		snprintf(out + pre, strlen(url) + 1 - pre, "***%s", at);
	}
	return out;
}

/* ---- store ------------------------------------------------------------- */

static void rstore_free(struct rstore *s)
{
	while (s->idle) {
		struct rconn *c = s->idle;
		s->idle = c->next;
		conn_free(c);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->refresh_mu);
	rcache_free(&s->cache);
	memset(s->pass, 0, sizeof(s->pass));
	free(s);
}

static int rstore_new(const char *url, int cluster, struct rstore **out,
		      char *err, size_t err_len)
{
	struct rstore *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->refresh_mu, NULL);
	if (rcache_init(&s->cache)) {
		pthread_mutex_destroy(&s->mu);
		pthread_mutex_destroy(&s->refresh_mu);
		free(s);
		return -ENOMEM;
	}
	s->base.url = redact(url);
	int r = s->base.url ? parse_url(s, url, cluster, err, err_len) : -ENOMEM;
	if (r) {
		free(s->base.url);
		rstore_free(s);
		return r;
	}
	/* hiredis writes with write(2): a server that went away must give
	 * EPIPE, not kill the process. */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	*out = s;
	return 0;
}

/*
 * Follow an ASK redirect ("ASK SLOT HOST:PORT": the slot is migrating and
 * this key already moved) for one command: ASKING, then the command, on a
 * one-off connection to the importing node.
 */
static redisReply *ask_cmd(struct rstore *s, const char *m,
			   const struct cmd *cmd, int *rc, char *err,
			   size_t err_len)
{
	struct hostport hp;
	const char *sp = strchr(m + 4, ' ');
	const char *colon = sp ? strrchr(sp, ':') : NULL;
	if (!colon || colon - sp - 1 >= (int)sizeof(hp.host)) {
		snprintf(err, err_len, "redis store %s: bad redirect '%s'",
			 s->base.url, m);
		*rc = -EIO;
		return NULL;
	}
	snprintf(hp.host, sizeof(hp.host), "%.*s", (int)(colon - sp - 1), sp + 1);
	hp.port = atoi(colon + 1);
	struct rconn tmp = {.c = node_connect(s, &hp, rc, err, err_len)};
	if (!tmp.c)
		return NULL;
	const char *aa[1] = {"ASKING"};
	size_t al[1] = {6};
	struct cmd two[2] = {{1, aa, al}, *cmd};
	redisReply *rep[2];
	int r = pipe_run(&tmp, 2, two, rep);
	if (!r && !(r = reply_err(s, rep[0])))
		r = reply_err(s, rep[1]);
	if (r) {
		snprintf(err, err_len, "redis store %s: %s on %s:%d after ASK: %s",
			 s->base.url, cmd->argv[0], hp.host, hp.port,
			 rep[1] ? rtext(rep[1]) : tmp.c->errstr);
		free_replies(2, rep);
		*rc = r == REDIRECTED ? -EAGAIN : r;
		redisFree(tmp.c);
		return NULL;
	}
	freeReplyObject(rep[0]);
	redisFree(tmp.c);
	return rep[1];
}

/* One command outside a transaction (open, destroy, sync), following MOVED
 * and ASK. */
static redisReply *simple_cmd(struct rstore *s, int *rc, char *err,
			      size_t err_len, const struct cmd *cmd)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		struct rconn *c = conn_get(s, rc, err, err_len);
		if (!c)
			return NULL;
		redisReply *rep;
		int r = pipe_run(c, 1, cmd, &rep);
		if (r == 0)
			r = reply_err(s, rep);
		if (r == 0) {
			conn_put(s, c);
			return rep;
		}
		const char *what = rep ? rtext(rep) : c->c->errstr;
		if (rep && !strncmp(what, "ASK ", 4)) {
			redisReply *ar = ask_cmd(s, what, cmd, rc, err, err_len);
			freeReplyObject(rep);
			conn_put(s, c);
			return ar;
		}
		if (r == REDIRECTED) {
			c->broken = 1;
		} else {
			snprintf(err, err_len, "redis store %s: %s %s", s->base.url,
				 cmd->argv[0], what);
			if (strstr(what, "NOAUTH"))
				snprintf(err, err_len,
					 "redis store %s requires a password (%s): give it "
					 "in the URL, password_file= or CASSAFS_REDIS_PASSWORD",
					 s->base.url, what);
			if (strstr(what, "NOAUTH") || strstr(what, "WRONGPASS"))
				r = -EACCES;
		}
		if (rep)
			freeReplyObject(rep);
		conn_put(s, c);
		if (r != REDIRECTED) {
			*rc = r;
			return NULL;
		}
	}
	snprintf(err, err_len, "redis store %s: redirected too often", s->base.url);
	*rc = -EIO;
	return NULL;
}

static int load_functions(struct rstore *s, struct rconn *c, char *err,
			  size_t err_len);

static int open_common(const char *url, int cluster, int flags,
		       struct store **out, char *err, size_t err_len)
{
	struct rstore *s;
	int rc = rstore_new(url, cluster, &s, err, err_len);
	if (rc)
		return rc;
	char key[KEY_BUF];
	size_t kl = (size_t)sprintf(key, "%s:meta", s->tag);
	const char *argv[3] = {"EXISTS", key};
	size_t len[3] = {6, kl};
	struct cmd c = {2, argv, len};
	redisReply *r = simple_cmd(s, &rc, err, err_len, &c);
	if (!r)
		goto fail;
	long long exists = r->integer;
	freeReplyObject(r);
	if (!exists && !(flags & STORE_CREATE)) {
		snprintf(err, err_len,
			 "no CassaFS store '%s' in redis %s (run 'cassafs mkfs' first?)",
			 s->name, s->base.url);
		rc = -ENOENT;
		goto fail;
	}
	/* the commit function, loaded once per server (a library of this
	 * version that is there already is kept) */
	struct rconn *fc = conn_get(s, &rc, err, err_len);
	if (!fc)
		goto fail;
	rc = load_functions(s, fc, err, err_len);
	conn_put(s, fc);
	if (rc)
		goto fail;
	if (!exists) {
		argv[0] = "SET";
		len[0] = 3;
		argv[2] = "cassafs-redis 1";
		len[2] = strlen(argv[2]);
		c.argc = 3;
		r = simple_cmd(s, &rc, err, err_len, &c);
		if (!r)
			goto fail;
		freeReplyObject(r);
	}
	*out = &s->base;
	return 0;
fail:
	free(s->base.url);
	rstore_free(s);
	return rc;
}

static int redis_open(const char *url, int flags, struct store **out,
		      char *err, size_t err_len)
{
	return open_common(url, 0, flags, out, err, err_len);
}

static int redis_cluster_open(const char *url, int flags, struct store **out,
			      char *err, size_t err_len)
{
	return open_common(url, 1, flags, out, err, err_len);
}

/* store.c frees base.url after close */
static void redis_close(struct store *base)
{
	rstore_free((struct rstore *)base);
}

/* The value of "field:" in an INFO reply, or -1. */
static long long info_field(const redisReply *r, const char *field)
{
	if (!r || r->type != REDIS_REPLY_STRING)
		return -1;
	size_t fl = strlen(field);
	for (const char *p = r->str; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (!strncmp(p, field, fl) && p[fl] == ':')
			return strtoll(p + fl + 1, NULL, 10);
	return -1;
}

/*
 * fsync: return once every transaction committed before this call is on
 * every replica the master has now (WAIT), or fail.  WAIT counts the
 * replicas that acknowledged the replication offset of *this connection's*
 * last write, and a pooled connection may have written nothing: so it
 * first writes a key of ours (INCR {tag}:sync), which the master's single
 * replication stream orders after every earlier commit.  What this does
 * and does not make durable (appendfsync, failover) is in docs/redis.md.
 */
static int redis_sync(struct store *base)
{
	struct rstore *s = (struct rstore *)base;
	char err[512] = "", key[KEY_BUF];
	int rc = -EIO;
	size_t kl = (size_t)snprintf(key, sizeof(key), "%s:sync", s->tag);
	long long wait_ms = (long long)s->cmd_tv.tv_sec * 1000 +
			    s->cmd_tv.tv_usec / 1000;
	wait_ms = wait_ms > 200 ? wait_ms * 3 / 4 : 150; /* below the socket timeout */
	char wms[32];
	snprintf(wms, sizeof(wms), "%lld", wait_ms);
	for (int attempt = 0; attempt < 3; attempt++) {
		struct rconn *c = conn_get(s, &rc, err, sizeof(err));
		if (!c)
			break;
		const char *iv[2] = {"INFO", "replication"};
		size_t il[2] = {4, 11};
		struct cmd ic = {2, iv, il};
		redisReply *ir;
		int r = pipe_run(c, 1, &ic, &ir);
		if (!r)
			r = reply_err(s, ir);
		long long nrep = r ? -1 : info_field(ir, "connected_slaves");
		if (ir)
			freeReplyObject(ir);
		if (r || nrep <= 0) {
			/* no replica: the server answering is all there is */
			conn_put(s, c);
			if (r)
				snprintf(err, sizeof(err), "INFO failed");
			rc = r;
			if (r == REDIRECTED)
				continue;
			break;
		}
		char n[32];
		snprintf(n, sizeof(n), "%lld", nrep);
		const char *av[2] = {"INCR", key}, *wv[3] = {"WAIT", n, wms};
		size_t al[2] = {4, kl}, wl[3] = {4, strlen(n), strlen(wms)};
		struct cmd two[2] = {{2, av, al}, {3, wv, wl}};
		redisReply *rep[2];
		r = pipe_run(c, 2, two, rep);
		if (!r && !(r = reply_err(s, rep[0])))
			r = reply_err(s, rep[1]);
		long long acked = r ? -1 : rep[1]->integer;
		free_replies(2, rep);
		if (r == REDIRECTED) /* the slot moved: ask the new master */
			c->broken = 1;
		conn_put(s, c);
		if (r == REDIRECTED)
			continue;
		if (r) {
			snprintf(err, sizeof(err), "INCR/WAIT failed");
			rc = r;
			break;
		}
		if (acked >= nrep)
			return 0;
		snprintf(err, sizeof(err),
			 "only %lld of %lld replicas acknowledged the data within "
			 "%lld ms", acked, nrep, wait_ms);
		rc = -EIO;
		/* a replica may have gone meanwhile: count them again once */
		if (attempt)
			break;
	}
	if (rc)
		log_warn("store %s: fsync: %s", s->base.url, err);
	return rc;
}

/*
 * How durable an acknowledged write is, as far as the server tells:
 * a warning unless the append-only file is on and fsynced on every write.
 * CONFIG may be disabled or renamed (rename-command): say so then.
 */
static int redis_durability(struct store *base, char *warn, size_t len)
{
	struct rstore *s = (struct rstore *)base;
	char err[512];
	int rc;
	const char *iv[2] = {"INFO", "persistence"};
	size_t il[2] = {4, 11};
	struct cmd ic = {2, iv, il};
	redisReply *r = simple_cmd(s, &rc, err, sizeof(err), &ic);
	if (!r) {
		snprintf(warn, len, "cannot ask the server how durable writes "
				    "are: %s", err);
		return 1;
	}
	long long aof = info_field(r, "aof_enabled");
	freeReplyObject(r);
	if (aof == 0) {
		snprintf(warn, len, "the server's appendonly is off: a Redis "
				    "crash loses every write since its last RDB "
				    "snapshot (set appendonly yes, appendfsync "
				    "always; docs/redis.md)");
		return 1;
	}
	const char *cv[3] = {"CONFIG", "GET", "appendfsync"};
	size_t cl[3] = {6, 3, 11};
	struct cmd cc = {3, cv, cl};
	struct rconn *c = conn_get(s, &rc, err, sizeof(err));
	if (!c) {
		snprintf(warn, len, "cannot ask the server how durable writes "
				    "are: %s", err);
		return 1;
	}
	/* not simple_cmd: an error reply here is an answer, not a failure */
	int pr = pipe_run(c, 1, &cc, &r);
	conn_put(s, c);
	if (pr || !r) {
		snprintf(warn, len, "cannot ask the server how durable writes are "
				    "(CONFIG GET appendfsync: no answer)");
		return 1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(warn, len, "cannot read the server's appendfsync "
				    "(CONFIG GET: %s; CONFIG disabled or renamed?): "
				    "unless it is 'always', a Redis crash can lose "
				    "up to a second of acknowledged writes",
			 rtext(r));
		freeReplyObject(r);
		return 1;
	}
	const char *v = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
				r->element[1]->type == REDIS_REPLY_STRING
			? r->element[1]->str
			: "?";
	int bad = strcmp(v, "always") != 0;
	if (bad)
		snprintf(warn, len, "the server's appendfsync is '%s', not "
				    "'always': a Redis crash can lose %s of "
				    "writes that fsync acknowledged (docs/redis.md)",
			 v, !strcmp(v, "everysec") ? "up to a second" : "seconds");
	freeReplyObject(r);
	return bad;
}

/* Capacity = maxmemory (or the machine's memory when unlimited). */
static int redis_space(struct store *base, uint64_t *total, uint64_t *avail)
{
	struct rstore *s = (struct rstore *)base;
	char err[512];
	int rc;
	const char *argv[2] = {"INFO", "memory"};
	size_t len[2] = {4, 6};
	struct cmd c = {2, argv, len};
	redisReply *r = simple_cmd(s, &rc, err, sizeof(err), &c);
	if (!r) {
		log_warn("store: space: %s", err);
		return rc;
	}
	unsigned long long used = 0, maxm = 0, sys = 0;
	const char *p;
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
		if ((p = strstr(r->str, "\nused_memory:")))
			used = strtoull(p + 13, NULL, 10);
		if ((p = strstr(r->str, "\nmaxmemory:")))
			maxm = strtoull(p + 11, NULL, 10);
		if ((p = strstr(r->str, "\ntotal_system_memory:")))
			sys = strtoull(p + 21, NULL, 10);
	}
	freeReplyObject(r);
	*total = maxm ? maxm : sys;
	if (!*total)
		return -EOPNOTSUPP;
	*avail = *total > used ? *total - used : 0;
	return 0;
}

static int destroy_common(const char *url, int cluster, char *err,
			  size_t err_len)
{
	struct rstore *s;
	int rc = rstore_new(url, cluster, &s, err, err_len);
	if (rc)
		return rc;
	char pat[KEY_BUF], cursor[32] = "0";
	size_t pl = (size_t)sprintf(pat, "%s:*", s->tag);
	do {
		const char *argv[6] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
		size_t len[6] = {4, strlen(cursor), 5, pl, 5, 4};
		struct cmd c = {6, argv, len};
		redisReply *r = simple_cmd(s, &rc, err, err_len, &c);
		if (!r)
			goto out;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			rc = -EIO;
			snprintf(err, err_len, "redis store %s: bad SCAN reply", s->base.url);
			goto out;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		redisReply *keys = r->element[1];
		if (keys->elements) {
			const char **kv = malloc((keys->elements + 1) * sizeof(*kv));
			size_t *kl = malloc((keys->elements + 1) * sizeof(*kl));
			if (!kv || !kl) {
				free(kv);
				free(kl);
				freeReplyObject(r);
				rc = -ENOMEM;
				goto out;
			}
			kv[0] = "UNLINK";
			kl[0] = 6;
			for (size_t i = 0; i < keys->elements; i++) {
				kv[i + 1] = keys->element[i]->str;
				kl[i + 1] = keys->element[i]->len;
			}
			struct cmd d = {(int)keys->elements + 1, kv, kl};
			redisReply *dr = simple_cmd(s, &rc, err, err_len, &d);
			free(kv);
			free(kl);
			if (!dr) {
				freeReplyObject(r);
				goto out;
			}
			freeReplyObject(dr);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
	rc = 0;
out:
	free(s->base.url);
	rstore_free(s);
	return rc;
}

static int redis_destroy(const char *url, char *err, size_t err_len)
{
	return destroy_common(url, 0, err, err_len);
}

static int redis_cluster_destroy(const char *url, char *err, size_t err_len)
{
	return destroy_common(url, 1, err, err_len);
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
	t->rdonly = !!(flags & (STORE_RDONLY | STORE_LIVE));
	t->live = !!(flags & STORE_LIVE);
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
	    ((kind == OV_PUT || kind == OV_MAXTIME) &&
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
		if (e->kind == OV_ADD || e->kind == OV_MAXTIME ||
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

static int get_common(struct rtxn *t, int fam, uint64_t row, const void *col,
		      size_t col_len, size_t skip_off, size_t skip_len,
		      const void **val, size_t *val_len)
{
	if (bad_args(fam, col_len) || !col_len)
		return -EINVAL;
	if (t->err)
		return t->err;
	struct ov *o;
	if (ov_find(t, fam, row, col, col_len, &o)) {
		if (!o)
			return -ENOENT;
		*val = o->val;
		*val_len = o->val_len;
		return 0;
	}
	char key[KEY_BUF];
	size_t kl = vkey(t->s, key, fam, row, col, col_len);
	/*
	 * A validated transaction may take the value from the cache: its
	 * commit (or redis_validate) checks it against the server.  A live
	 * one is never validated, so it always asks the server.
	 */
	if (!t->live) {
		struct rread *d = rd_find_cached(t, key, kl);
		if (!d) {
			int present;
			uint8_t *v;
			size_t vl;
			int h = rcache_get(&t->s->cache, key, kl, &present, &v, &vl);
			if (h < 0)
				return h;
			if (h == 1 && !(d = rd_add(t, key, kl, 1, present, v, vl))) {
				free(v);
				return -ENOMEM;
			}
			if (d) {
				d->skip_off = skip_off;
				d->skip_len = skip_len;
			}
		}
		if (d) {
			if (d->skip_len < skip_len || (d->skip_len && skip_len &&
						       d->skip_off != skip_off))
				d->skip_len = 0; /* read in full as well */
			if (!d->present)
				return -ENOENT;
			*val = d->val;
			*val_len = d->vl;
			return 0;
		}
	}
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
		rcache_put(&t->s->cache, key, kl, present, rep->str, present ? rep->len : 0);
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
	if (!t->live) {
		t->watched++;
		/* remembered so that a failed commit can drop it */
		if (!rd_add(t, key, kl, 0, 0, NULL, 0)) {
			freeReplyObject(rep[0]);
			freeReplyObject(rep[1]);
			return -ENOMEM;
		}
	}
	freeReplyObject(rep[0]);
	if (rep[1]->type == REDIS_REPLY_NIL) {
		freeReplyObject(rep[1]);
		rcache_put(&t->s->cache, key, kl, 0, NULL, 0);
		return -ENOENT;
	}
	if (rep[1]->type != REDIS_REPLY_STRING) {
		freeReplyObject(rep[1]);
		return t->err = -EIO;
	}
	rcache_put(&t->s->cache, key, kl, 1, rep[1]->str, rep[1]->len);
	if ((r = keep_reply(t, rep[1]))) {
		freeReplyObject(rep[1]);
		return r;
	}
	*val = rep[1]->str;
	*val_len = rep[1]->len;
	return 0;
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
	if (n > VALUE_BATCH)
		n = VALUE_BATCH;
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
		int h = rcache_get(&t->s->cache, it.zk, it.zkl, &present, &v, &vl);
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
 *   A COL DELTA8  add to a counter    R PREFIX     delete the row (the
 *                                                  value keys share the tag,
 *                                                  so they are in one slot)
 * and the answer is a string of one letter per write: "e" if the row has
 * no column left after it, else "n" (so the client knows which rows are
 * empty without asking).  Everything is checked before the first write: a
 * function is atomic but not rolled back on error.  Counters add bytewise
 * with carry, exact for all of int64 (Lua numbers are doubles).
 */
#define FN_COMMIT "cassafs_commit_v3"
static const char fn_library[] =
	"#!lua name=cassafs_v3\n"
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
static int load_functions(struct rstore *s, struct rconn *c, char *err,
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
		case OV_MAXTIME: {
			char *n = offs + 24 * i;
			arg(b, "T", 1), arg(b, n, (size_t)sprintf(n, "%lld", (long long)o->delta));
			arg(b, o->val, 12);
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
		for (size_t i = 0; i + 1 < r->elements; i += 2) {
			long long c = r->element[i]->integer;
			redisReply *v = r->element[i + 1];
			/* check c is the c-th cached read */
			for (size_t j = 0; j < t->nrd; j++) {
				if (!t->rd[j].cached || --c)
					continue;
				if (t->rd[j].empty)
					rcache_drop(&s->cache, t->rd[j].key, t->rd[j].kl);
				else
					rcache_put(&s->cache, t->rd[j].key, t->rd[j].kl,
						   v->type == REDIS_REPLY_STRING, v->str,
						   v->type == REDIS_REPLY_STRING ? v->len : 0);
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
			if (rcache_get(&s->cache, key, kl, &present, &v, &vl) == 1 &&
			    present && vl >= off + 12 && time_newer(o->val, v + off)) {
				memcpy(v + off, o->val, 12);
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
	if ((r = pipe_run(t->conn, 1, &cmd, &rep)))
		goto out;
	if ((r = fcall_result(t, rep)) == 0)
		t->validated = 1;
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
	.abort = redis_abort,
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
	.abort = redis_abort,
	.sync = redis_sync,
	.durability = redis_durability,
	.space = redis_space,
	.destroy = redis_cluster_destroy,
};
