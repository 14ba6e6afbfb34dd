/*
 * store_redis_conn.c — the Redis engine's servers: URL parsing, the
 * connection pool, cluster routing (CRC16 slot, CLUSTER SLOTS, MOVED and
 * ASK), pipelines, and the store's life (open, close, sync, durability,
 * space, destroy).  The transactions are in store_redis.c; both are
 * described at the top of store_redis.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "store.h"
#include "store_redis_cache.h"

#include "store_redis_conn.h"
#include "url.h"

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

int colcmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* "{cfs:NAME}:v:F:RRRRRRRRRRRRRRRR:" — the prefix of a row's value keys. */
size_t vprefix(const struct rstore *s, char *buf, int fam, uint64_t row)
{
	return (size_t)sprintf(buf, "%s:v:%d:%016llx:", s->tag, fam,
			       (unsigned long long)row);
}

size_t vkey(const struct rstore *s, char *buf, int fam, uint64_t row,
		   const void *col, size_t col_len)
{
	size_t n = vprefix(s, buf, fam, row);
	memcpy(buf + n, col, col_len);
	return n + col_len;
}

size_t zkey(const struct rstore *s, char *buf, int fam, uint64_t row)
{
	return (size_t)sprintf(buf, "%s:z:%d:%016llx", s->tag, fam,
			       (unsigned long long)row);
}

int bad_args(int fam, size_t col_len)
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
const char *rtext(redisReply *r)
{
	return r && r->str ? r->str : "no reply";
}

/*
 * Connect to one node, authenticate and (standalone) select the database.
 * On failure writes a message naming the node and the cause.
 */
redisContext *node_connect(struct rstore *s, const struct hostport *hp,
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
struct rconn *conn_get(struct rstore *s, int *rc, char *err,
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

void conn_put(struct rstore *s, struct rconn *c)
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
int reply_err(struct rstore *s, redisReply *r)
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
int pipe_run(struct rconn *c, int n, const struct cmd *cmds,
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

void free_replies(int n, redisReply **rep)
{
	for (int i = 0; i < n; i++)
		if (rep[i]) {
			freeReplyObject(rep[i]);
			rep[i] = NULL;
		}
}

/* ---- URL --------------------------------------------------------------- */

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
	const char *scheme = cluster ? "redis-cluster" : "redis";
	const char *form = cluster
		? "redis-cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/NAME[?OPTIONS]"
		: "redis://[[USER]:PASSWORD@]HOST:PORT[/DB][?OPTIONS]";
	char pwfile[1024] = "";
	s->cluster = cluster;
	strcpy(s->name, "cassafs");
	s->conn_tv = (struct timeval){3, 0};
	s->cmd_tv = (struct timeval){5, 0};
	s->track.enabled = 1;
	struct url *u = malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	int r = -EINVAL;
	if (url_parse(url, u, err, err_len) || strcmp(u->scheme, scheme))
		goto bad;
	if (u->has_userinfo) {
		if (snprintf(s->user, sizeof(s->user), "%s", u->user) >=
			    (int)sizeof(s->user) ||
		    snprintf(s->pass, sizeof(s->pass), "%s", u->password) >=
			    (int)sizeof(s->pass))
			goto bad;
		s->has_pass = 1;
	}
	if (!u->nhosts || u->nhosts > MAX_NODES || (!cluster && u->nhosts != 1))
		goto bad;
	for (int i = 0; i < u->nhosts; i++) {
		struct hostport *hp = &s->seeds[s->nseeds++];
		if (snprintf(hp->host, sizeof(hp->host), "%s", u->hosts[i].host) >=
		    (int)sizeof(hp->host))
			goto bad;
		hp->port = u->hosts[i].port;
	}
	const char *part = u->path[0] == '/' ? u->path + 1 : u->path;
	if (*part) {
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
	} else if (cluster) {
		goto bad; /* the name is required: it is the hash tag */
	}
	for (int i = 0; i < u->nparams; i++) {
		const struct url_param *o = &u->params[i];
		const char *eq = o->value;
		if (!o->has_value)
			goto badopt;
		if (!strcmp(o->key, "name") && !cluster) {
			if (strlen(eq) > NAME_MAX_LEN) {
				snprintf(s->name, sizeof(s->name), "%.60s...", eq);
				goto badname;
			}
			snprintf(s->name, sizeof(s->name), "%.64s", eq);
		} else if (!strcmp(o->key, "tracking")) {
			if (strcmp(eq, "on") && strcmp(eq, "off")) {
				snprintf(err, err_len, "'%s': tracking=%s: expected "
					 "on or off", s->base.url ? s->base.url : scheme, eq);
				goto out;
			}
			s->track.enabled = !strcmp(eq, "on");
		} else if (!strcmp(o->key, "password_file")) {
			snprintf(pwfile, sizeof(pwfile), "%s", eq);
		} else if (!strcmp(o->key, "timeout") ||
			   !strcmp(o->key, "connect_timeout")) {
			char *pe;
			double v = strtod(eq, &pe);
			if (*pe || v <= 0 || v > 3600)
				goto badopt;
			struct timeval tv = {(time_t)v,
					     (suseconds_t)((v - (long)v) * 1e6)};
			*(!strcmp(o->key, "timeout") ? &s->cmd_tv : &s->conn_tv) = tv;
		} else {
			snprintf(err, err_len,
				 "'%s': unknown option '%s=%s' (known: %spassword_file=, "
				 "timeout=, connect_timeout=, tracking=)",
				 s->base.url ? s->base.url : scheme, o->key, eq,
				 cluster ? "" : "name=, ");
			goto out;
		}
	}
	free(u);
	u = NULL;
	if (!valid_name(s->name)) {
badname:
		snprintf(err, err_len,
			 "redis store name '%s' is not 1..%d characters of A-Z a-z 0-9 . _ -",
			 s->name, NAME_MAX_LEN);
		free(u);
		return -EINVAL;
	}
	if (!s->has_pass && pwfile[0]) {
		int pr = read_password_file(s, pwfile, err, err_len);
		if (pr)
			return pr;
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
	goto out;
badopt:
	snprintf(err, err_len, "'%s': malformed option (expected NAME=VALUE)",
		 s->base.url ? s->base.url : "(url)");
out:
	free(u);
	return r;
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
	track_stop(s); /* first: its thread uses the pool and the cache */
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
	track_init(s);
	if (rcache_init(&s->cache)) {
		track_stop(s);
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

int redis_open(const char *url, int flags, struct store **out,
		      char *err, size_t err_len)
{
	return open_common(url, 0, flags, out, err, err_len);
}

int redis_cluster_open(const char *url, int flags, struct store **out,
			      char *err, size_t err_len)
{
	return open_common(url, 1, flags, out, err, err_len);
}

/* store.c frees base.url after close */
void redis_close(struct store *base)
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
int redis_sync(struct store *base)
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
int redis_durability(struct store *base, char *warn, size_t len)
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
int redis_space(struct store *base, uint64_t *total, uint64_t *avail)
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

int redis_destroy(const char *url, char *err, size_t err_len)
{
	return destroy_common(url, 0, err, err_len);
}

int redis_cluster_destroy(const char *url, char *err, size_t err_len)
{
	return destroy_common(url, 1, err, err_len);
}

