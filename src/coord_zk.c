/*
 * coord_zk.c — coordination through Apache ZooKeeper (libzookeeper-mt).
 *
 * URL: zk://HOST:PORT[,HOST:PORT…]/CHROOT[?param=value&…]
 *   credentials=/path   file whose first line is "user:password"
 *   session_timeout=ms  requested session timeout (default 10000; the
 *                       server clamps it to [2, 20] × tickTime)
 *   connect_timeout=ms  how long coord_open waits for a session (15000)
 *   op_timeout=ms       how long one call keeps retrying through a lost
 *                       connection before it fails with -EIO (default
 *                       2 × session timeout)
 *   notice_ttl=ms       age at which change notices are trimmed (30000)
 * Credentials come from, in this order: the credentials= parameter, the
 * file named by $CASSAFS_ZK_CREDENTIALS_FILE, or $CASSAFS_ZK_AUTH
 * ("user:password").  Never from the command line, so they stay out of ps.
 *
 * Znode layout (R = CHROOT/<fsid>; every znode from R down carries one
 * digest ACL, user:base64(sha1("user:password")) with all permissions;
 * CHROOT's own components are created open if missing):
 *   R                         "cassafs"
 *   R/sessions/s-<sid>        ephemeral, one per live coord handle: the
 *                             liveness token that record locks point at
 *   R/mounts/m-<sid>          ephemeral mount record (host, pid, since,
 *                             version, mountpoint) — list_mounts
 *   R/locks/<name>            container node per named lock
 *   R/locks/<name>/<guid>-<R|W>-<seq>   ephemeral sequential lock waiters
 *   R/plocks/<ino>            POSIX/flock lock table of one inode
 *   R/events/n-<guid>-<n>-<ms>-<ino>-<parent>-<hexname>-<seq>
 *                             change notices (persistent sequential,
 *                             trimmed by age and count)
 *
 * Threads: the ZooKeeper client runs its IO thread and its completion
 * thread, on which every watcher runs.  Watchers here only record what
 * happened under c->mu and signal c->cv; nothing blocks on that thread.  A
 * worker thread of ours replaces an expired session, re-registers the
 * mount, and delivers change notices to the filesystem's callback (which
 * may call FUSE notify functions and so must not run on the ZK thread).
 *
 * The handle pointer is guarded by c->zh_lock: every call holds it for
 * reading, the worker takes it for writing to swap in a new session.  Each
 * call that meets a connection loss waits for the session to come back and
 * retries until its op_timeout deadline: reads and versioned writes are
 * idempotent, and creates whose outcome is unknown are resolved by looking
 * for our own name (lock GUIDs, session ids) before trying again.
 *
 * POSIX record locks: the lock table of inode I is the text of znode
 * R/plocks/I, one record per line: holder (the s-<sid> name of the owning
 * handle's session node), lock owner, start, end, type, pid, flock flag.
 * A change is read-modify-write with the znode version as compare-and-set
 * (retry on ZBADVERSION).  Records whose holder's session node is gone
 * belong to dead clients and are ignored and dropped on the next write, so
 * a killed client's locks disappear when its session expires.  F_SETLKW
 * waits for a watch on the table znode or on the conflicting holder's
 * session node (whichever changes first), then tries again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zookeeper.h>

#include "coord.h"
#include "log.h"
#include "metrics.h"

#define ZK_DEFAULT_SESSION_MS 10000
#define ZK_DEFAULT_CONNECT_MS 15000
#define ZK_NOTICE_TTL_MS 30000   /* default age at which notices are trimmed */
/* At most this many notices are kept: a listing must stay below the
 * server's 1 MB packet limit (a notice name is at most ~600 bytes). */
#define ZK_NOTICE_MAX 1000
/* A listing of the notice queue reads all of it (up to ZK_NOTICE_MAX
 * names), and each watch event would cost one: at most one listing per
 * this many ms, so a burst of notices from other mounts (every rename,
 * unlink, rmdir publishes) costs each mount a few listings, not one per
 * notice (docs/distributed.md, "why three mounts cost more"). */
#define ZK_NOTICE_COALESCE_MS 20
#define ZK_MAX_PUBLISHERS 64
#define ZK_PLOCK_MAX (512 * 1024) /* a lock table must stay < 1 MB */

struct zk_waiter {
	struct zk_waiter *next;
	const char *path;
	int fired;
};

/* A blocked F_SETLKW, so that coord_plock_cancel can end it. */
struct zk_pwait {
	struct zk_pwait *next;
	uint64_t ino, owner;
	int cancelled;
};

/* An inode on which this handle may hold record locks: an unlock of any
 * other inode needs no round trip (every close unlocks, and most files
 * never had a lock). */
struct zk_pino {
	struct zk_pino *next;
	uint64_t ino;
	int inflight; /* plock_set calls under way */
	int has;      /* our records may exist in its table */
	unsigned gen; /* bumps at each call's start */
};

#define ZK_PINO_BUCKETS 256

struct zk_orphan {
	struct zk_orphan *next;
	unsigned gen;
	char path[];
};

struct zk_publisher {
	char guid[17];
	uint64_t last;
};

struct coord_zk {
	struct coord base;
	char hosts[1024];
	char root[1024]; /* CHROOT/<fsid> */
	char chroot[1024];
	char cred[512];  /* user:password or "" */
	char acl_id[600];
	struct ACL acl_entry;
	struct ACL_vector acl;
	int session_ms, connect_ms, op_ms, notice_ttl;
	char guid[17];   /* this handle: names its notices */

	pthread_rwlock_t zh_lock; /* read: using zh; write: replacing it */
	zhandle_t *zh;

	pthread_mutex_t mu; /* everything below */
	pthread_cond_t cv;
	int state;          /* last session state reported */
	unsigned gen;       /* bumps when the session is replaced */
	int expired;        /* worker must replace the session */
	int closing;
	int auth_done, auth_rc;
	char session[32];   /* s-<sid> of the current session */
	int registered;
	struct coord_mount_info mount;
	struct zk_waiter *waiters;
	struct zk_pwait *pwaits;
	struct zk_pino *pinos[ZK_PINO_BUCKETS];
	struct zk_orphan *orphans;
	coord_notice_fn notice_fn;
	void *notice_arg;
	int notice_pending, notice_reset;
	int64_t last_seq;
	uint64_t pub_count;
	int pub_since_trim; /* publishes since our last trim */
	struct zk_publisher pubs[ZK_MAX_PUBLISHERS];
	int npubs;
	int64_t last_trim;
	int64_t last_pump; /* when the notice queue was last listed */
	pthread_t worker;
	int worker_started;
	char events[1100]; /* R/events */
};

struct coord_lock {
	struct coord_zk *c;
	unsigned gen;
	char path[];
};

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Timed wait on c->cv until the monotonic deadline (ms); -1 = forever. */
static void zk_cond_wait(struct coord_zk *c, int64_t deadline)
{
	if (deadline < 0) {
		pthread_cond_wait(&c->cv, &c->mu);
		return;
	}
	struct timespec ts = {deadline / 1000, (deadline % 1000) * 1000000};
	pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[32];
	if (RAND_bytes(b, (int)nbytes) != 1)
		for (size_t i = 0; i < nbytes; i++)
			b[i] = (unsigned char)(random() ^ (now_ms() >> (i % 8)));
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int zk_errno(int rc)
{
	switch (rc) {
	case ZOK: return 0;
	case ZNONODE: return -ENOENT;
	case ZNODEEXISTS: return -EEXIST;
	case ZNOAUTH:
	case ZAUTHFAILED: return -EACCES;
	case ZNOTEMPTY: return -ENOTEMPTY;
	case ZBADVERSION: return -EAGAIN;
	case ZMARSHALLINGERROR: return -E2BIG;
	case ZBADARGUMENTS: return -EINVAL;
	default: return -EIO;
	}
}

static int zk_transient(int rc)
{
	return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT ||
	       rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE ||
	       rc == ZSESSIONMOVED || rc == ZCLOSING;
}

/* The ZooKeeper client's own log lines (connection refused, …): forwarded
 * to our logger at most once every 5 s so a server outage does not flood
 * it. */
static void zk_log_cb(const char *message)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last;
	static unsigned dropped;
	int64_t t = now_ms();
	pthread_mutex_lock(&m);
	if (t - last < 5000) {
		dropped++;
		pthread_mutex_unlock(&m);
		return;
	}
	unsigned d = dropped;
	dropped = 0;
	last = t;
	pthread_mutex_unlock(&m);
	log_warn("zookeeper client: %s%s", message,
		 d ? " (similar messages suppressed)" : "");
}

static void zk_quiet_client_log(void)
{
	zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
}

/* ---- the watcher: runs on the ZK completion thread, never blocks ---- */

static void zk_watcher(zhandle_t *zh, int type, int state, const char *path,
		       void *ctx)
{
	struct coord_zk *c = ctx;
	pthread_mutex_lock(&c->mu);
	if (c->zh == NULL || zh == c->zh) {
		if (type == ZOO_SESSION_EVENT) {
			c->state = state;
			metrics_add(MC_COORD_SESSION_EVENTS, 1);
			metrics_gauge_set(MG_COORD_SESSION,
					  state == ZOO_CONNECTED_STATE ? 1
					  : state == ZOO_EXPIRED_SESSION_STATE ||
							  state == ZOO_AUTH_FAILED_STATE
						  ? -1
						  : 0);
			if (state == ZOO_EXPIRED_SESSION_STATE ||
			    state == ZOO_AUTH_FAILED_STATE)
				c->expired = 1;
			/* let every waiter look again */
			for (struct zk_waiter *w = c->waiters; w; w = w->next)
				w->fired = 1;
		} else if (path) {
			if (!strcmp(path, c->events))
				c->notice_pending = 1;
			for (struct zk_waiter *w = c->waiters; w; w = w->next)
				if (!strcmp(w->path, path))
					w->fired = 1;
		}
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void waiter_add(struct coord_zk *c, struct zk_waiter *w, const char *path)
{
	w->path = path;
	w->fired = 0;
	pthread_mutex_lock(&c->mu);
	w->next = c->waiters;
	c->waiters = w;
	pthread_mutex_unlock(&c->mu);
}

static void waiter_del(struct coord_zk *c, struct zk_waiter *w)
{
	pthread_mutex_lock(&c->mu);
	for (struct zk_waiter **p = &c->waiters; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&c->mu);
}

/* ---- calls with retry through connection loss ---- */

static zhandle_t *zk_hold(struct coord_zk *c)
{
	pthread_rwlock_rdlock(&c->zh_lock);
	return c->zh;
}

static void zk_release(struct coord_zk *c)
{
	pthread_rwlock_unlock(&c->zh_lock);
}

/* After a call failed with rc: 1 if rc is transient and the session came
 * back (connected) before the deadline, so the caller should try again. */
static int zk_again(struct coord_zk *c, int rc, int64_t deadline)
{
	if (!zk_transient(rc))
		return 0;
	pthread_mutex_lock(&c->mu);
	/* the worker is the one that replaces an expired session: it must
	 * not wait for itself */
	if (c->expired && c->worker_started &&
	    pthread_equal(pthread_self(), c->worker)) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	/* a connection loss seen by the call may not have reached the
	 * watcher yet: give the state a moment to change */
	if (c->state == ZOO_CONNECTED_STATE && !c->expired)
		zk_cond_wait(c, now_ms() + 50 < deadline ? now_ms() + 50 : deadline);
	while (!c->closing && (c->state != ZOO_CONNECTED_STATE || c->expired ||
			       !c->zh) && now_ms() < deadline)
		zk_cond_wait(c, deadline);
	int ok = !c->closing && c->state == ZOO_CONNECTED_STATE &&
		 !c->expired && now_ms() < deadline;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static int64_t op_deadline(struct coord_zk *c)
{
	return now_ms() + c->op_ms;
}

static int zk_get(struct coord_zk *c, const char *path, int watch, char *buf,
		  int *len, struct Stat *st)
{
	int64_t dl = op_deadline(c);
	int rc, cap = *len;
	do {
		*len = cap;
		zhandle_t *zh = zk_hold(c);
		rc = watch ? zoo_wget(zh, path, zk_watcher, c, buf, len, st)
			   : zoo_get(zh, path, 0, buf, len, st);
		zk_release(c);
	} while (rc != ZOK && zk_again(c, rc, dl));
	return rc;
}

static int zk_exists(struct coord_zk *c, const char *path, int watch)
{
	int64_t dl = op_deadline(c);
	int rc;
	struct Stat st;
	do {
		zhandle_t *zh = zk_hold(c);
		rc = watch ? zoo_wexists(zh, path, zk_watcher, c, &st)
			   : zoo_exists(zh, path, 0, &st);
		zk_release(c);
	} while (rc != ZOK && rc != ZNONODE && zk_again(c, rc, dl));
	return rc;
}

static int zk_children(struct coord_zk *c, const char *path, int watch,
		       struct String_vector *sv)
{
	int64_t dl = op_deadline(c);
	int rc;
	do {
		memset(sv, 0, sizeof(*sv));
		zhandle_t *zh = zk_hold(c);
		rc = watch ? zoo_wget_children(zh, path, zk_watcher, c, sv)
			   : zoo_get_children(zh, path, 0, sv);
		zk_release(c);
	} while (rc != ZOK && zk_again(c, rc, dl));
	return rc;
}

/* Delete: a retry after a lost reply may find it already gone (ZNONODE). */
static int zk_delete(struct coord_zk *c, const char *path, int version)
{
	int64_t dl = op_deadline(c);
	int rc;
	do {
		zhandle_t *zh = zk_hold(c);
		rc = zoo_delete(zh, path, version);
		zk_release(c);
	} while (rc != ZOK && zk_again(c, rc, dl));
	return rc;
}

/* Create a non-sequential node: after a lost reply, ZNODEEXISTS may be
 * our own create, so callers treat it as success where that is safe. */
static int zk_create(struct coord_zk *c, const char *path, const char *val,
		     int len, const struct ACL_vector *acl, int mode)
{
	int64_t dl = op_deadline(c);
	int rc;
	do {
		zhandle_t *zh = zk_hold(c);
		rc = zoo_create(zh, path, val, len, acl, mode, NULL, 0);
		zk_release(c);
	} while (rc != ZOK && zk_again(c, rc, dl));
	return rc;
}

/* ---- URL, credentials, ACL ---- */

static int read_cred_file(const char *path, char *out, size_t len, char *err,
			  size_t err_len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, err_len,
			 "cannot read ZooKeeper credentials file %s: %s", path,
			 strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		log_warn("ZooKeeper credentials file %s is readable by "
			 "others (chmod 600 it)", path);
	if (!fgets(out, (int)len, f))
		out[0] = 0;
	fclose(f);
	out[strcspn(out, "\r\n")] = 0;
	if (!strchr(out, ':') || out[0] == ':') {
		out[0] = 0;
		snprintf(err, err_len,
			 "ZooKeeper credentials file %s: first line must be "
			 "user:password", path);
		return -EINVAL;
	}
	return 0;
}

static int parse_url(struct coord_zk *c, const char *url, char *err,
		     size_t err_len)
{
	const char *p = url + strlen("zk://");
	const char *slash = strchr(p, '/');
	const char *q = strchr(p, '?');
	if (q && slash && q < slash)
		slash = NULL;
	size_t hl = slash ? (size_t)(slash - p) : q ? (size_t)(q - p) : strlen(p);
	if (hl == 0 || hl >= sizeof(c->hosts)) {
		snprintf(err, err_len,
			 "'%s': expected zk://HOST:PORT[,HOST:PORT…]/CHROOT", url);
		return -EINVAL;
	}
	memcpy(c->hosts, p, hl);
	c->hosts[hl] = 0;
	size_t cl = 0;
	if (slash)
		cl = q ? (size_t)(q - slash) : strlen(slash);
	if (cl >= sizeof(c->chroot)) {
		snprintf(err, err_len, "'%s': chroot too long", url);
		return -ENAMETOOLONG;
	}
	memcpy(c->chroot, slash ? slash : "", cl);
	c->chroot[cl] = 0;
	while (cl > 0 && c->chroot[cl - 1] == '/')
		c->chroot[--cl] = 0;
	if (strstr(c->chroot, "//") || strstr(c->chroot, "/./") ||
	    strstr(c->chroot, "/../")) {
		snprintf(err, err_len, "'%s': bad chroot path '%s'", url, c->chroot);
		return -EINVAL;
	}
	c->session_ms = ZK_DEFAULT_SESSION_MS;
	c->connect_ms = ZK_DEFAULT_CONNECT_MS;
	c->op_ms = -1;
	c->notice_ttl = ZK_NOTICE_TTL_MS;
	char credfile[1024] = "";
	for (const char *a = q ? q + 1 : NULL; a && *a;) {
		const char *e = strchr(a, '&');
		size_t n = e ? (size_t)(e - a) : strlen(a);
		char kv[1100];
		if (n >= sizeof(kv)) {
			snprintf(err, err_len, "'%s': parameter too long", url);
			return -EINVAL;
		}
		memcpy(kv, a, n);
		kv[n] = 0;
		char *v = strchr(kv, '=');
		if (!v) {
			snprintf(err, err_len, "'%s': parameter '%s' needs a value",
				 url, kv);
			return -EINVAL;
		}
		*v++ = 0;
		if (!strcmp(kv, "credentials"))
			snprintf(credfile, sizeof(credfile), "%s", v);
		else if (!strcmp(kv, "session_timeout"))
			c->session_ms = atoi(v);
		else if (!strcmp(kv, "connect_timeout"))
			c->connect_ms = atoi(v);
		else if (!strcmp(kv, "op_timeout"))
			c->op_ms = atoi(v);
		else if (!strcmp(kv, "notice_ttl"))
			c->notice_ttl = atoi(v);
		else {
			snprintf(err, err_len,
				 "'%s': unknown parameter '%s' (known: credentials, "
				 "session_timeout, connect_timeout, op_timeout, "
				 "notice_ttl)",
				 url, kv);
			return -EINVAL;
		}
		a = e ? e + 1 : NULL;
	}
	if (c->session_ms <= 0 || c->connect_ms <= 0 || c->notice_ttl <= 0) {
		snprintf(err, err_len, "'%s': timeouts must be positive", url);
		return -EINVAL;
	}
	if (c->op_ms <= 0)
		c->op_ms = 2 * c->session_ms;
	const char *envfile = getenv("CASSAFS_ZK_CREDENTIALS_FILE");
	const char *envauth = getenv("CASSAFS_ZK_AUTH");
	if (credfile[0])
		return read_cred_file(credfile, c->cred, sizeof(c->cred), err,
				      err_len);
	if (envfile && envfile[0])
		return read_cred_file(envfile, c->cred, sizeof(c->cred), err,
				      err_len);
	if (envauth && envauth[0]) {
		if (!strchr(envauth, ':') || envauth[0] == ':' ||
		    strlen(envauth) >= sizeof(c->cred)) {
			snprintf(err, err_len,
				 "CASSAFS_ZK_AUTH must be user:password");
			return -EINVAL;
		}
		snprintf(c->cred, sizeof(c->cred), "%s", envauth);
	}
	return 0;
}

/* Digest ACL id: user:base64(sha1("user:password")), as ZooKeeper's
 * DigestAuthenticationProvider computes it. */
static int make_acl(struct coord_zk *c)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(c->cred, strlen(c->cred), md, &mdlen, EVP_sha1(), NULL))
		return -EIO;
	size_t ul = strcspn(c->cred, ":");
	memcpy(c->acl_id, c->cred, ul);
	c->acl_id[ul] = ':';
	EVP_EncodeBlock((unsigned char *)c->acl_id + ul + 1, md, (int)mdlen);
	c->acl_entry.perms = ZOO_PERM_ALL;
	c->acl_entry.id.scheme = (char *)"digest";
	c->acl_entry.id.id = c->acl_id;
	c->acl.count = 1;
	c->acl.data = &c->acl_entry;
	return 0;
}

/* ---- session setup ---- */

static void auth_done_cb(int rc, const void *data)
{
	struct coord_zk *c = (struct coord_zk *)data;
	pthread_mutex_lock(&c->mu);
	c->auth_done = 1;
	c->auth_rc = rc;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Make a new handle.  Called with zh_lock held for writing. */
static int zk_start(struct coord_zk *c, char *err, size_t err_len)
{
	pthread_mutex_lock(&c->mu);
	c->zh = NULL;
	c->state = 0;
	c->auth_done = 0;
	pthread_mutex_unlock(&c->mu);
	errno = 0;
	zhandle_t *zh = zookeeper_init2(c->hosts, zk_watcher, c->session_ms,
					NULL, c, ZOO_NO_LOG_CLIENTENV, zk_log_cb);
	if (!zh) {
		int e = errno ? errno : EIO;
		snprintf(err, err_len, "cannot start ZooKeeper client for %s: %s",
			 c->hosts, strerror(e));
		return -e;
	}
	pthread_mutex_lock(&c->mu);
	c->zh = zh;
	c->gen++;
	c->expired = 0;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* Wait (bounded by connect_timeout) for the new session and for its
 * authentication, which completes asynchronously. */
static int zk_wait_ready(struct coord_zk *c, char *err, size_t err_len)
{
	int64_t dl = now_ms() + c->connect_ms;
	pthread_mutex_lock(&c->mu);
	zhandle_t *zh = c->zh;
	while (c->state != ZOO_CONNECTED_STATE && !c->expired && !c->closing &&
	       now_ms() < dl) {
		if (zoo_state(zh) == ZOO_CONNECTED_STATE) {
			c->state = ZOO_CONNECTED_STATE;
			break;
		}
		int64_t t = now_ms() + 100;
		zk_cond_wait(c, t < dl ? t : dl);
	}
	int ok = c->state == ZOO_CONNECTED_STATE;
	pthread_mutex_unlock(&c->mu);
	if (!ok) {
		snprintf(err, err_len,
			 "cannot reach ZooKeeper at %s within %d ms (is a server "
			 "running there? check the HOST:PORT list in the URL)",
			 c->hosts, c->connect_ms);
		return -ETIMEDOUT;
	}
	if (c->cred[0]) {
		zhandle_t *h = zk_hold(c);
		int rc = zoo_add_auth(h, "digest", c->cred, (int)strlen(c->cred),
				      auth_done_cb, c);
		zk_release(c);
		pthread_mutex_lock(&c->mu);
		while (rc == ZOK && !c->auth_done && now_ms() < dl)
			zk_cond_wait(c, dl);
		if (rc == ZOK)
			rc = c->auth_done ? c->auth_rc : ZOPERATIONTIMEOUT;
		pthread_mutex_unlock(&c->mu);
		if (rc != ZOK) {
			snprintf(err, err_len,
				 "ZooKeeper at %s: authentication failed: %s",
				 c->hosts, zerror(rc));
			return zk_errno(rc);
		}
	}
	return 0;
}

/* The session node names this session as a lock holder.  Its name is
 * fixed by the session id, so a retry after a lost reply that finds it
 * existing is our own. */
static int zk_make_session_node(struct coord_zk *c)
{
	zhandle_t *zh = zk_hold(c);
	const clientid_t *id = zoo_client_id(zh);
	char s[32];
	snprintf(s, sizeof(s), "s-%016" PRIx64, (uint64_t)id->client_id);
	zk_release(c);
	char path[1200];
	snprintf(path, sizeof(path), "%s/sessions/%s", c->root, s);
	int rc = zk_create(c, path, c->guid, (int)strlen(c->guid), &c->acl,
			   ZOO_EPHEMERAL);
	if (rc == ZNODEEXISTS)
		rc = ZOK;
	if (rc == ZOK) {
		pthread_mutex_lock(&c->mu);
		snprintf(c->session, sizeof(c->session), "%s", s);
		pthread_mutex_unlock(&c->mu);
	}
	return rc;
}


static int zk_make_mount_node(struct coord_zk *c)
{
	char buf[2048], path[1200];
	pthread_mutex_lock(&c->mu);
	int n = coord_format_mount_info(buf, sizeof(buf), &c->mount);
	snprintf(path, sizeof(path), "%s/mounts/m-%s", c->root, c->session + 2);
	pthread_mutex_unlock(&c->mu);
	int rc = zk_create(c, path, buf, n, &c->acl, ZOO_EPHEMERAL);
	return rc == ZNODEEXISTS ? ZOK : rc;
}

static const char *const zk_subdirs[] = {"sessions", "mounts", "locks",
					 "plocks", "events"};

/* Create CHROOT (open ACL, as a shared parent) and the filesystem's tree
 * (digest ACL); refuse clearly when the tree exists under another ACL. */
static int zk_prepare_tree(struct coord_zk *c, char *err, size_t err_len)
{
	char path[1200];
	int rc;
	for (const char *s = c->chroot; s && *s; s = strchr(s + 1, '/')) {
		const char *next = strchr(s + 1, '/');
		size_t n = (size_t)((next ? next : s + strlen(s)) - c->chroot);
		snprintf(path, sizeof(path), "%.*s", (int)n, c->chroot);
		rc = zk_exists(c, path, 0);
		if (rc == ZNONODE) {
			rc = zk_create(c, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
				       ZOO_PERSISTENT);
			if (rc == ZNODEEXISTS)
				rc = ZOK;
		}
		if (rc != ZOK) {
			snprintf(err, err_len,
				 "ZooKeeper at %s: cannot create chroot %s: %s%s",
				 c->hosts, path, zerror(rc),
				 rc == ZNOAUTH ? " (not authorised)" : "");
			return zk_errno(rc);
		}
	}
	char buf[64];
	int len = sizeof(buf);
	struct Stat st;
	rc = zk_get(c, c->root, 0, buf, &len, &st);
	if (rc == ZNOAUTH)
		goto noauth;
	if (rc == ZNONODE) {
		if (!c->cred[0]) {
			snprintf(err, err_len,
				 "ZooKeeper: no credentials for %s: set "
				 "CASSAFS_ZK_CREDENTIALS_FILE (a file holding "
				 "user:password), CASSAFS_ZK_AUTH, or add "
				 "?credentials=/path to the URL; the filesystem's "
				 "znodes are always protected by a digest ACL",
				 c->root);
			return -EACCES;
		}
		rc = zk_create(c, c->root, "cassafs", 7, &c->acl, ZOO_PERSISTENT);
		if (rc == ZNODEEXISTS)
			rc = zk_get(c, c->root, 0, buf, &(int){sizeof(buf)}, &st);
		if (rc == ZNOAUTH)
			goto noauth;
	}
	if (rc != ZOK)
		goto fail;
	for (size_t i = 0; i < sizeof(zk_subdirs) / sizeof(zk_subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->root, zk_subdirs[i]);
		rc = zk_create(c, path, NULL, -1, &c->acl, ZOO_PERSISTENT);
		if (rc == ZNOAUTH)
			goto noauth;
		if (rc != ZOK && rc != ZNODEEXISTS)
			goto fail;
	}
	/* Creating the subdirs needs no read right on them: prove we can
	 * read what is there (a tree made by someone else). */
	rc = zk_exists(c, c->events, 0);
	len = sizeof(buf);
	if (rc == ZOK)
		rc = zk_get(c, c->events, 0, buf, &len, &st);
	if (rc == ZNOAUTH)
		goto noauth;
	if (rc != ZOK)
		goto fail;
	return 0;
noauth:
	snprintf(err, err_len,
		 "ZooKeeper at %s: not authorised to use %s: its znodes are "
		 "protected by a digest ACL and %s (set "
		 "CASSAFS_ZK_CREDENTIALS_FILE, CASSAFS_ZK_AUTH or "
		 "?credentials=/path)",
		 c->hosts, c->root,
		 c->cred[0] ? "the credentials given do not match it"
			    : "no credentials were given");
	return -EACCES;
fail:
	snprintf(err, err_len, "ZooKeeper at %s: cannot prepare %s: %s",
		 c->hosts, c->root, zerror(rc));
	return zk_errno(rc);
}

/* ---- worker thread: session renewal, orphan cleanup, notices ---- */

/* An orphan is a queue node we gave up on but could not delete, or, when
 * its path ends in '-' (a lock prefix DIR/<guid>-W-), a create of unknown
 * outcome: then every child of DIR that carries our GUID goes. */
static int zk_delete_orphan(struct coord_zk *c, const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || path[n - 1] != '-')
		return zk_delete(c, path, -1);
	const char *slash = strrchr(path, '/');
	char dir[1600], child[1800];
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	struct String_vector sv;
	int rc = zk_children(c, dir, 0, &sv);
	if (rc == ZNONODE)
		return ZOK;
	if (rc != ZOK)
		return rc;
	for (int i = 0; i < sv.count && (rc == ZOK || rc == ZNONODE); i++)
		if (!strncmp(sv.data[i], slash + 1, 16)) {
			snprintf(child, sizeof(child), "%s/%s", dir, sv.data[i]);
			rc = zk_delete(c, child, -1);
		}
	deallocate_String_vector(&sv);
	return rc == ZNONODE ? ZOK : rc;
}

static void zk_pump_notices(struct coord_zk *c);

/* Replace an expired session: new handle, new session node, mount record
 * and notice watch again.  Locks of the old session are gone. */
static void zk_renew(struct coord_zk *c)
{
	char err[512] = "";
	log_warn("ZooKeeper session for %s expired: opening a new one "
		 "(locks held by this mount were released)", c->root);
	pthread_rwlock_wrlock(&c->zh_lock);
	zhandle_t *old = c->zh;
	pthread_mutex_lock(&c->mu);
	c->zh = NULL;
	pthread_mutex_unlock(&c->mu);
	if (old)
		zookeeper_close(old);
	int r = zk_start(c, err, sizeof(err));
	pthread_rwlock_unlock(&c->zh_lock);
	if (r == 0)
		r = zk_wait_ready(c, err, sizeof(err));
	if (r == 0)
		r = zk_errno(zk_make_session_node(c));
	if (r == 0 && c->registered)
		r = zk_errno(zk_make_mount_node(c));
	pthread_mutex_lock(&c->mu);
	if (r != 0) {
		log_error("ZooKeeper at %s: cannot renew the session: %s",
			  c->hosts, err[0] ? err : strerror(-r));
		c->expired = 1; /* try again */
	} else {
		c->notice_pending = 1;
		c->notice_reset = 1;
	}
	for (struct zk_waiter *w = c->waiters; w; w = w->next)
		w->fired = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void *zk_worker(void *arg)
{
	struct coord_zk *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->closing) {
		if (c->expired) {
			pthread_mutex_unlock(&c->mu);
			zk_renew(c);
			pthread_mutex_lock(&c->mu);
			if (c->expired && !c->closing)
				zk_cond_wait(c, now_ms() + 1000);
			continue;
		}
		if (c->orphans && c->state == ZOO_CONNECTED_STATE) {
			struct zk_orphan *o = c->orphans;
			c->orphans = o->next;
			unsigned gen = c->gen;
			pthread_mutex_unlock(&c->mu);
			int rc = o->gen == gen ? zk_delete_orphan(c, o->path) : ZOK;
			pthread_mutex_lock(&c->mu);
			if (zk_transient(rc)) {
				o->next = c->orphans;
				c->orphans = o;
				zk_cond_wait(c, now_ms() + 1000);
			} else {
				free(o);
			}
			continue;
		}
		if ((c->notice_fn && c->notice_pending) ||
		    ((c->notice_fn || c->pub_count) &&
		     now_ms() - c->last_trim > c->notice_ttl / 2)) {
			int64_t due = c->last_pump + ZK_NOTICE_COALESCE_MS;
			if (now_ms() < due) {
				zk_cond_wait(c, due);
				continue;
			}
			c->last_pump = now_ms();
			c->notice_pending = 0;
			pthread_mutex_unlock(&c->mu);
			zk_pump_notices(c);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		zk_cond_wait(c, now_ms() + 1000);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- open / close / mounts ---- */

static void zk_free(struct coord_zk *c)
{
	if (c->worker_started) {
		pthread_mutex_lock(&c->mu);
		c->closing = 1;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->worker, NULL);
	}
	pthread_mutex_lock(&c->mu);
	c->closing = 1;
	zhandle_t *zh = c->zh;
	pthread_mutex_unlock(&c->mu);
	/* Closing the handle ends the session at once: its ephemeral nodes
	 * (session, mount, locks) go with it. */
	if (zh)
		zookeeper_close(zh);
	for (int i = 0; i < ZK_PINO_BUCKETS; i++)
		while (c->pinos[i]) {
			struct zk_pino *e = c->pinos[i];
			c->pinos[i] = e->next;
			free(e);
		}
	while (c->orphans) {
		struct zk_orphan *o = c->orphans;
		c->orphans = o->next;
		free(o);
	}
	pthread_rwlock_destroy(&c->zh_lock);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	OPENSSL_cleanse(c->cred, sizeof(c->cred));
	free(c);
}

static int zk_open(const char *url, const char *fsid, struct coord **out,
		   char *err, size_t err_len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, zk_quiet_client_log);

	if (!fsid || !fsid[0] || strchr(fsid, '/')) {
		snprintf(err, err_len, "ZooKeeper: bad filesystem id '%s'",
			 fsid ? fsid : "");
		return -EINVAL;
	}
	struct coord_zk *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* Writer preference: a session renewal must not starve behind a
	 * steady stream of calls (no call ever holds it twice). */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&c->zh_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	random_hex(c->guid, 8);
	c->last_seq = -1;

	int r = parse_url(c, url, err, err_len);
	if (r)
		goto fail;
	if (snprintf(c->root, sizeof(c->root), "%s/%s", c->chroot, fsid) >=
	    (int)sizeof(c->root)) {
		snprintf(err, err_len, "'%s': path too long", url);
		r = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(c->events, sizeof(c->events), "%s/events", c->root);
	if (c->cred[0] && (r = make_acl(c)) != 0) {
		snprintf(err, err_len, "cannot compute the ZooKeeper digest ACL");
		goto fail;
	}
	if (!c->cred[0]) /* only used to make the tree, which we then refuse */
		c->acl = ZOO_OPEN_ACL_UNSAFE;
	pthread_rwlock_wrlock(&c->zh_lock);
	r = zk_start(c, err, err_len);
	pthread_rwlock_unlock(&c->zh_lock);
	if (r || (r = zk_wait_ready(c, err, err_len)) != 0)
		goto fail;
	if ((r = zk_prepare_tree(c, err, err_len)) != 0)
		goto fail;
	int rc = zk_make_session_node(c);
	if (rc != ZOK) {
		snprintf(err, err_len, "ZooKeeper at %s: cannot create session "
			 "node under %s/sessions: %s%s", c->hosts, c->root,
			 zerror(rc), rc == ZNOAUTH ? " (not authorised)" : "");
		r = zk_errno(rc);
		goto fail;
	}
	if (pthread_create(&c->worker, NULL, zk_worker, c)) {
		snprintf(err, err_len, "cannot start ZooKeeper worker thread");
		r = -EAGAIN;
		goto fail;
	}
	c->worker_started = 1;
	*out = &c->base;
	return 0;
fail:
	zk_free(c);
	return r;
}

static void zk_close(struct coord *base)
{
	zk_free((struct coord_zk *)base);
}

static int zk_register_mount(struct coord *base,
			     const struct coord_mount_info *m, char *err,
			     size_t err_len)
{
	struct coord_zk *c = (struct coord_zk *)base;
	pthread_mutex_lock(&c->mu);
	c->mount = *m;
	c->registered = 1;
	pthread_mutex_unlock(&c->mu);
	int rc = zk_make_mount_node(c);
	if (rc != ZOK) {
		snprintf(err, err_len,
			 "ZooKeeper at %s: cannot register mount under %s/mounts: "
			 "%s%s", c->hosts, c->root, zerror(rc),
			 rc == ZNOAUTH ? " (not authorised)" : "");
		return zk_errno(rc);
	}
	return 0;
}

static int zk_list_mounts(struct coord *base, coord_mount_fn fn, void *arg)
{
	struct coord_zk *c = (struct coord_zk *)base;
	char path[1400];
	struct String_vector sv;
	snprintf(path, sizeof(path), "%s/mounts", c->root);
	int rc = zk_children(c, path, 0, &sv);
	if (rc != ZOK)
		return zk_errno(rc);
	int r = 0;
	for (int i = 0; i < sv.count && r == 0; i++) {
		char buf[2048];
		int len = sizeof(buf) - 1;
		struct Stat st;
		snprintf(path, sizeof(path), "%s/mounts/%s", c->root, sv.data[i]);
		rc = zk_get(c, path, 0, buf, &len, &st);
		if (rc == ZNONODE) /* unmounted meanwhile */
			continue;
		if (rc != ZOK) {
			r = zk_errno(rc);
			break;
		}
		buf[len < 0 ? 0 : len] = 0;
		struct coord_mount_info m;
		coord_parse_mount_info(buf, &m);
		r = fn(arg, &m);
	}
	deallocate_String_vector(&sv);
	return r;
}

/* ---- named locks ---- */

/* Lock names are the caller's ("inode/42", "name/1/6162"): one znode name
 * each, with everything outside [A-Za-z0-9._-] escaped as %XX; a long
 * name becomes its SHA-1 so that paths stay short. */
static void lock_znode_name(const char *name, char *out, size_t len)
{
	size_t o = 0;
	out[o++] = 'l';
	out[o++] = '-';
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (o + 4 >= len || o > 200)
			goto hash;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')
			out[o++] = (char)*p;
		else
			o += (size_t)sprintf(out + o, "%%%02X", *p);
	}
	out[o] = 0;
	return;
hash:;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(name, strlen(name), md, &n, EVP_sha1(), NULL);
	o = (size_t)snprintf(out, len, "h-");
	for (unsigned int i = 0; i < n && o + 3 < len; i++)
		o += (size_t)sprintf(out + o, "%02x", md[i]);
}

static long long seq_of(const char *name)
{
	size_t n = strlen(name);
	return n >= 10 ? atoll(name + n - 10) : -1;
}

static int cmp_seq(const void *a, const void *b)
{
	long long x = seq_of(*(char *const *)a), y = seq_of(*(char *const *)b);
	return x < y ? -1 : x > y;
}

static void add_orphan(struct coord_zk *c, const char *path, unsigned gen)
{
	struct zk_orphan *o = malloc(sizeof(*o) + strlen(path) + 1);
	if (!o)
		return; /* the node goes with the session anyway */
	strcpy(o->path, path);
	o->gen = gen;
	pthread_mutex_lock(&c->mu);
	o->next = c->orphans;
	c->orphans = o;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Give up our place in a lock queue; if the node cannot be deleted now,
 * the worker keeps trying (else it would block others until the session
 * ends). */
static void drop_node(struct coord_zk *c, const char *path, unsigned gen)
{
	zhandle_t *zh = zk_hold(c);
	int rc = zoo_delete(zh, path, -1);
	zk_release(c);
	/* one attempt only, so that a failing call stays within its bound */
	if (zk_transient(rc))
		add_orphan(c, path, gen);
}

static unsigned cur_gen(struct coord_zk *c)
{
	pthread_mutex_lock(&c->mu);
	unsigned g = c->gen;
	pthread_mutex_unlock(&c->mu);
	return g;
}

/*
 * The lock recipe of ZooKeeper's recipes page: each contender creates
 * DIR/<guid>-<R|W>-<seq> (ephemeral sequential), lists the children
 * without a watch, and is the holder when no conflicting node precedes it
 * (exclusive: any node; shared: any W node).  Otherwise it watches only
 * the nearest conflicting predecessor, so a release wakes one waiter, not
 * the herd.  The GUID lets a create whose reply was lost find its node.
 */
static int zk_lock(struct coord *base, const char *name,
		   enum coord_lock_mode mode, int timeout_ms,
		   struct coord_lock **out)
{
	struct coord_zk *c = (struct coord_zk *)base;
	char zname[256], dir[1400], prefix[1500], guid[17], mine[1600];
	lock_znode_name(name, zname, sizeof(zname));
	snprintf(dir, sizeof(dir), "%s/locks/%s", c->root, zname);
	int64_t dl = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	int r = 0;
restart:
	random_hex(guid, 8);
	snprintf(prefix, sizeof(prefix), "%s/%s-%c-", dir, guid,
		 mode == COORD_EXCLUSIVE ? 'W' : 'R');
	unsigned gen = cur_gen(c);
	int64_t odl = op_deadline(c);
	mine[0] = 0;
	int rc;
	for (;;) {
		zhandle_t *zh = zk_hold(c);
		rc = zoo_create(zh, prefix, NULL, -1, &c->acl,
				    ZOO_EPHEMERAL_SEQUENTIAL, mine, sizeof(mine));
		zk_release(c);
		if (rc == ZOK)
			break;
		if (rc == ZNONODE) {
			rc = zk_create(c, dir, NULL, -1, &c->acl, ZOO_CONTAINER);
			if (rc == ZOK || rc == ZNODEEXISTS)
				continue;
		}
		if (!zk_again(c, rc, odl))
			goto lost_create;
		/* The lost create may have happened: look for our GUID before
		 * creating again, or we would queue twice (and wait for
		 * ourselves).  A failed look is retried, never skipped. */
		struct String_vector sv;
		rc = zk_children(c, dir, 0, &sv);
		if (rc == ZNONODE)
			continue;
		if (rc != ZOK)
			goto lost_create;
		for (int i = 0; i < sv.count; i++)
			if (!strncmp(sv.data[i], guid, 16))
				snprintf(mine, sizeof(mine), "%s/%s", dir,
					 sv.data[i]);
		deallocate_String_vector(&sv);
		if (mine[0])
			break;
	}
	const char *myname = mine + strlen(dir) + 1;
	for (;;) {
		struct String_vector sv;
		rc = zk_children(c, dir, 0, &sv);
		if (rc != ZOK && rc != ZNONODE) {
			r = zk_errno(rc);
			goto give_up;
		}
		if (rc == ZNONODE)
			sv.count = 0;
		qsort(sv.data, (size_t)sv.count, sizeof(char *), cmp_seq);
		int me = -1;
		for (int i = 0; i < sv.count; i++)
			if (!strcmp(sv.data[i], myname))
				me = i;
		if (me < 0) {
			/* our node vanished: the session was replaced */
			deallocate_String_vector(&sv);
			if (dl >= 0 && now_ms() >= dl)
				return -ETIMEDOUT;
			goto restart;
		}
		int pred = -1;
		for (int i = me - 1; i >= 0 && pred < 0; i--)
			if (mode == COORD_EXCLUSIVE || strstr(sv.data[i], "-W-"))
				pred = i;
		if (pred < 0) {
			deallocate_String_vector(&sv);
			break;
		}
		char ppath[1600];
		snprintf(ppath, sizeof(ppath), "%s/%s", dir, sv.data[pred]);
		deallocate_String_vector(&sv);
		if (timeout_ms == 0) {
			r = -EAGAIN;
			goto give_up;
		}
		struct zk_waiter w;
		waiter_add(c, &w, ppath);
		rc = zk_exists(c, ppath, 1);
		if (rc == ZOK) {
			pthread_mutex_lock(&c->mu);
			while (!w.fired && !c->closing &&
			       (dl < 0 || now_ms() < dl))
				zk_cond_wait(c, dl);
			pthread_mutex_unlock(&c->mu);
		}
		waiter_del(c, &w);
		if (rc != ZOK && rc != ZNONODE) {
			r = zk_errno(rc);
			goto give_up;
		}
		if (rc == ZOK && !w.fired) {
			r = -ETIMEDOUT;
			goto give_up;
		}
	}
	struct coord_lock *l = malloc(sizeof(*l) + strlen(mine) + 1);
	if (!l) {
		r = -ENOMEM;
		goto give_up;
	}
	l->c = c;
	l->gen = gen;
	strcpy(l->path, mine);
	*out = l;
	return 0;
give_up:
	drop_node(c, mine, gen);
	return r;
lost_create:
	/* a create of unknown outcome: the worker removes whatever node of
	 * ours it finds once the server answers again */
	if (zk_transient(rc))
		add_orphan(c, prefix, gen);
	return zk_errno(rc);
}

static void zk_unlock(struct coord_lock *l)
{
	/* After a session change the node is already gone with the old
	 * session. */
	if (l->gen == cur_gen(l->c))
		drop_node(l->c, l->path, l->gen);
	free(l);
}

/* ---- POSIX record locks and flock ---- */

struct prec {
	char holder[32];
	uint64_t owner, start, end;
	int type; /* F_RDLCK / F_WRLCK */
	int pid;
	int flock;
};

struct ptable {
	struct prec *v;
	int n, cap;
};

static int pt_push(struct ptable *t, const struct prec *r)
{
	if (t->n == t->cap) {
		int cap = t->cap ? 2 * t->cap : 8;
		struct prec *v = realloc(t->v, (size_t)cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = *r;
	return 0;
}

static int pt_parse(struct ptable *t, const char *buf)
{
	for (const char *p = buf; *p;) {
		struct prec r = {0};
		char ty;
		int n = 0;
		if (sscanf(p, "%31s %" SCNx64 " %" SCNx64 " %" SCNx64 " %c %d %d%n",
			   r.holder, &r.owner, &r.start, &r.end, &ty, &r.pid,
			   &r.flock, &n) == 7) {
			r.type = ty == 'W' ? F_WRLCK : F_RDLCK;
			if (pt_push(t, &r))
				return -ENOMEM;
		}
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

static char *pt_format(const struct ptable *t, int *len)
{
	size_t cap = (size_t)t->n * 96 + 1;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t o = 0;
	s[0] = 0;
	for (int i = 0; i < t->n; i++) {
		const struct prec *r = &t->v[i];
		o += (size_t)snprintf(s + o, cap - o,
				      "%s %" PRIx64 " %" PRIx64 " %" PRIx64
				      " %c %d %d\n", r->holder, r->owner, r->start,
				      r->end, r->type == F_WRLCK ? 'W' : 'R',
				      r->pid, r->flock);
	}
	*len = (int)o;
	return s;
}

/* Drop records of holders whose session node is gone (dead clients). */
static int pt_prune(struct coord_zk *c, struct ptable *t, const char *me)
{
	int foreign = 0;
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->v[i].holder, me))
			foreign = 1;
	if (!foreign)
		return 0;
	char path[1200];
	struct String_vector sv;
	snprintf(path, sizeof(path), "%s/sessions", c->root);
	int rc = zk_children(c, path, 0, &sv);
	if (rc != ZOK)
		return zk_errno(rc);
	int k = 0;
	for (int i = 0; i < t->n; i++) {
		int live = !strcmp(t->v[i].holder, me);
		for (int j = 0; j < sv.count && !live; j++)
			live = !strcmp(sv.data[j], t->v[i].holder);
		if (live)
			t->v[k++] = t->v[i];
	}
	t->n = k;
	deallocate_String_vector(&sv);
	return 0;
}

static int overlaps(const struct prec *r, uint64_t start, uint64_t end)
{
	return r->start <= end && start <= r->end;
}

static int same_owner(const struct prec *r, const char *holder,
		      const struct coord_plock *pl)
{
	return !strcmp(r->holder, holder) && r->owner == pl->owner &&
	       r->flock == (pl->flock != 0);
}

/* The first record of another owner that conflicts with pl, or NULL.
 * flock and fcntl locks live in separate spaces, as on Linux. */
static const struct prec *pt_conflict(const struct ptable *t, const char *me,
				      const struct coord_plock *pl)
{
	for (int i = 0; i < t->n; i++) {
		const struct prec *r = &t->v[i];
		if (r->flock != (pl->flock != 0) || same_owner(r, me, pl))
			continue;
		if (overlaps(r, pl->start, pl->end) &&
		    (r->type == F_WRLCK || pl->type == F_WRLCK))
			return r;
	}
	return NULL;
}

static int touches(const struct prec *a, uint64_t start, uint64_t end)
{
	return (a->end == UINT64_MAX || a->end + 1 >= start) &&
	       (end == UINT64_MAX || end + 1 >= a->start);
}

/* Apply pl for its owner: cut [start, end] out of the owner's records
 * (splitting one that spans it), then add the new range merged with the
 * owner's adjacent or overlapping ranges of the same type. */
static int pt_apply(struct ptable *t, const char *me,
		    const struct coord_plock *pl)
{
	struct ptable o = {0};
	int r = 0;
	for (int i = 0; i < t->n && r == 0; i++) {
		struct prec x = t->v[i];
		if (!same_owner(&x, me, pl) || !overlaps(&x, pl->start, pl->end)) {
			r = pt_push(&o, &x);
			continue;
		}
		if (x.start < pl->start) {
			struct prec a = x;
			a.end = pl->start - 1;
			r = pt_push(&o, &a);
		}
		if (r == 0 && x.end > pl->end) {
			struct prec b = x;
			b.start = pl->end + 1;
			r = pt_push(&o, &b);
		}
	}
	if (r == 0 && pl->type != F_UNLCK) {
		struct prec n = {0};
		snprintf(n.holder, sizeof(n.holder), "%s", me);
		n.owner = pl->owner;
		n.start = pl->start;
		n.end = pl->end;
		n.type = pl->type;
		n.pid = pl->pid;
		n.flock = pl->flock != 0;
		int k = 0;
		for (int i = 0; i < o.n; i++) {
			struct prec *x = &o.v[i];
			if (same_owner(x, me, pl) && x->type == n.type &&
			    touches(x, n.start, n.end)) {
				if (x->start < n.start)
					n.start = x->start;
				if (x->end > n.end)
					n.end = x->end;
				continue;
			}
			o.v[k++] = *x;
		}
		o.n = k;
		r = pt_push(&o, &n);
	}
	free(t->v);
	*t = o;
	return r;
}

static int pt_load(struct coord_zk *c, const char *path, int watch,
		   struct ptable *t, int *version)
{
	int cap = 4096;
	for (;;) {
		char *buf = malloc((size_t)cap + 1);
		if (!buf)
			return -ENOMEM;
		int len = cap;
		struct Stat st;
		int rc = zk_get(c, path, watch, buf, &len, &st);
		if (rc == ZNONODE) {
			free(buf);
			*version = -1;
			t->n = 0;
			return 0;
		}
		if (rc != ZOK) {
			free(buf);
			return zk_errno(rc);
		}
		if (st.dataLength > cap) { /* zoo_get truncates silently */
			free(buf);
			cap = st.dataLength;
			continue;
		}
		buf[len < 0 ? 0 : len] = 0;
		*version = st.version;
		t->n = 0;
		int r = pt_parse(t, buf);
		free(buf);
		return r;
	}
}

static void my_holder(struct coord_zk *c, char *out, size_t len)
{
	pthread_mutex_lock(&c->mu);
	snprintf(out, len, "%s", c->session);
	pthread_mutex_unlock(&c->mu);
}

static int check_plock(const struct coord_plock *pl)
{
	if (pl->start > pl->end)
		return -EINVAL;
	if (pl->type != F_RDLCK && pl->type != F_WRLCK && pl->type != F_UNLCK)
		return -EINVAL;
	return 0;
}

static int zk_plock_get(struct coord *base, struct coord_plock *inout)
{
	struct coord_zk *c = (struct coord_zk *)base;
	char path[1200], me[32];
	int r = check_plock(inout), version;
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/plocks/%" PRIu64, c->root, inout->ino);
	my_holder(c, me, sizeof(me));
	struct ptable t = {0};
	if ((r = pt_load(c, path, 0, &t, &version)) == 0 &&
	    (r = pt_prune(c, &t, me)) == 0) {
		struct coord_plock q = *inout;
		if (q.type == F_UNLCK)
			q.type = F_WRLCK;
		const struct prec *x = pt_conflict(&t, me, &q);
		if (x) {
			inout->start = x->start;
			inout->end = x->end;
			inout->type = x->type;
			inout->pid = x->pid;
			inout->owner = x->owner;
		} else {
			inout->type = F_UNLCK;
		}
	}
	free(t.v);
	return r;
}

/* Enter a plock_set on ino: NULL (and nothing to do) for an unlock of an
 * inode where we hold nothing. */
static struct zk_pino *pino_enter(struct coord_zk *c, uint64_t ino, int unlock,
				  int *skip, int *solo, unsigned *gen)
{
	struct zk_pino **b = &c->pinos[ino % ZK_PINO_BUCKETS], *e;
	*skip = 0;
	pthread_mutex_lock(&c->mu);
	for (e = *b; e && e->ino != ino; e = e->next)
		;
	if (!e && unlock) {
		*skip = 1;
	} else if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
		e->ino = ino;
		e->next = *b;
		*b = e;
	} else if (!e) {
		*skip = -1; /* out of memory: untracked locks could never go */
	}
	if (e) {
		*solo = e->inflight++ == 0;
		*gen = ++e->gen;
		if (!unlock)
			e->has = 1; /* until a successful write says otherwise */
	}
	pthread_mutex_unlock(&c->mu);
	return e;
}

/* Leave it; has = 0/1 when the table we last wrote or read is known to
 * hold none/some of our records, -1 when unknown (keep the old value).
 * "None" only counts if no other call on the inode overlapped ours: its
 * write may have come after the table we saw. */
static void pino_leave(struct coord_zk *c, struct zk_pino *e, int has,
		       int solo, unsigned gen)
{
	if (!e)
		return;
	pthread_mutex_lock(&c->mu);
	if (has == 1 || (has == 0 && solo && e->gen == gen))
		e->has = has;
	if (--e->inflight == 0 && !e->has) {
		for (struct zk_pino **p = &c->pinos[e->ino % ZK_PINO_BUCKETS]; *p;
		     p = &(*p)->next)
			if (*p == e) {
				*p = e->next;
				break;
			}
		free(e);
	}
	pthread_mutex_unlock(&c->mu);
}

static int pt_has(const struct ptable *t, const char *me)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].holder, me))
			return 1;
	return 0;
}

static int zk_plock_set(struct coord *base, const struct coord_plock *pl,
			int wait)
{
	struct coord_zk *c = (struct coord_zk *)base;
	char path[1200], me[32], hpath[1200];
	int r = check_plock(pl);
	if (r)
		return r;
	int skip, has = -1, solo = 0;
	unsigned pgen = 0;
	struct zk_pino *pe = pino_enter(c, pl->ino, pl->type == F_UNLCK, &skip,
					&solo, &pgen);
	if (skip)
		return skip > 0 ? 0 : -ENOMEM;
	snprintf(path, sizeof(path), "%s/plocks/%" PRIu64, c->root, pl->ino);
	struct ptable t = {0};
	struct zk_waiter wt, wh;
	struct zk_pwait pw = {.ino = pl->ino, .owner = pl->owner};
	if (wait) {
		pthread_mutex_lock(&c->mu);
		pw.next = c->pwaits;
		c->pwaits = &pw;
		pthread_mutex_unlock(&c->mu);
	}
	for (;;) {
		int version;
		my_holder(c, me, sizeof(me));
		/* register before reading, so no change slips in between */
		waiter_add(c, &wt, path);
		r = pt_load(c, path, wait, &t, &version);
		if (r == 0)
			r = pt_prune(c, &t, me);
		if (r)
			goto out_wt;
		const struct prec *x = pl->type == F_UNLCK ? NULL
							    : pt_conflict(&t, me, pl);
		if (x) {
			if (!wait) {
				r = -EAGAIN;
				goto out_wt;
			}
			snprintf(hpath, sizeof(hpath), "%s/sessions/%s", c->root,
				 x->holder);
			waiter_add(c, &wh, hpath);
			int rc = zk_exists(c, hpath, 1);
			pthread_mutex_lock(&c->mu);
			while (rc == ZOK && !wt.fired && !wh.fired && !c->closing &&
			       !pw.cancelled)
				zk_cond_wait(c, -1);
			int closing = c->closing || pw.cancelled;
			pthread_mutex_unlock(&c->mu);
			waiter_del(c, &wh);
			waiter_del(c, &wt);
			if (rc != ZOK && rc != ZNONODE) {
				r = zk_errno(rc);
				goto out;
			}
			if (closing) {
				r = -EINTR;
				goto out;
			}
			continue;
		}
		waiter_del(c, &wt);
		char *old = NULL, *neu = NULL;
		int olen = 0, nlen = 0;
		old = pt_format(&t, &olen);
		r = pt_apply(&t, me, pl);
		if (r == 0)
			neu = pt_format(&t, &nlen);
		if (r == 0 && (!old || !neu))
			r = -ENOMEM;
		int same = r == 0 && olen == nlen && !memcmp(old, neu, (size_t)olen);
		free(old);
		if (r || (same && version >= 0) || (t.n == 0 && version < 0)) {
			free(neu);
			if (r == 0)
				has = pt_has(&t, me);
			goto out;
		}
		if (nlen > ZK_PLOCK_MAX) {
			free(neu);
			r = -ENOLCK;
			goto out;
		}
		int64_t dl = op_deadline(c);
		zhandle_t *zh = zk_hold(c);
		int rc;
		if (t.n == 0)
			rc = zoo_delete(zh, path, version);
		else if (version < 0)
			rc = zoo_create(zh, path, neu, nlen, &c->acl,
					ZOO_PERSISTENT, NULL, 0);
		else
			rc = zoo_set(zh, path, neu, nlen, version);
		zk_release(c);
		free(neu);
		/* Lost reply = unknown outcome: the loop re-reads the table and
		 * re-applies, which is idempotent (a no-op if it was done). */
		if (rc == ZOK) {
			has = pt_has(&t, me);
			goto out;
		}
		if (rc == ZBADVERSION || rc == ZNODEEXISTS || rc == ZNONODE)
			continue;
		if (zk_again(c, rc, dl))
			continue;
		r = zk_errno(rc);
		goto out;
	}
out_wt:
	waiter_del(c, &wt);
out:
	free(t.v);
	pino_leave(c, pe, has, solo, pgen);
	if (wait) {
		pthread_mutex_lock(&c->mu);
		for (struct zk_pwait **p = &c->pwaits; *p; p = &(*p)->next)
			if (*p == &pw) {
				*p = pw.next;
				break;
			}
		pthread_mutex_unlock(&c->mu);
	}
	return r;
}

/* End blocked F_SETLKW calls of (ino, owner) with -EINTR (a FUSE
 * interrupt: the process waiting in fcntl got a signal).  -ENOENT if none
 * is waiting: it may not have started waiting yet or may already hold the
 * lock, so the caller must still undo a lock granted to an interrupted
 * request. */
static int zk_plock_cancel(struct coord *base, uint64_t ino, uint64_t owner)
{
	struct coord_zk *c = (struct coord_zk *)base;
	int found = 0;
	pthread_mutex_lock(&c->mu);
	for (struct zk_pwait *p = c->pwaits; p; p = p->next)
		if (p->ino == ino && p->owner == owner) {
			p->cancelled = 1;
			found = 1;
		}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return found ? 0 : -ENOENT;
}

/* ---- change notices ---- */

static void publish_done(int rc, const char *value, const void *data)
{
	if (rc != ZOK && rc != ZCLOSING)
		log_warn("ZooKeeper: cannot publish a change notice: %s",
			 zerror(rc));
}

/* A notice is all in its znode's name (one listing reads a batch):
 * n-<guid>-<count>-<ms>-<ino>-<parent>-<hexname>-<seq>, numbers in hex.
 * count numbers the publisher's notices, so a reader sees a gap when
 * trimming removed some before it read them. */
static int zk_publish(struct coord *base, uint64_t ino, uint64_t parent,
		      const char *name, size_t name_len)
{
	struct coord_zk *c = (struct coord_zk *)base;
	if (name_len > 255)
		return -ENAMETOOLONG;
	char path[1800];
	pthread_mutex_lock(&c->mu);
	uint64_t n = ++c->pub_count;
	if (++c->pub_since_trim >= ZK_NOTICE_MAX / 2) {
		/* a busy publisher keeps the queue short even if nobody
		 * watches it */
		c->last_trim = 0;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	int o = snprintf(path, sizeof(path), "%s/n-%s-%" PRIx64 "-%" PRIx64
			 "-%" PRIx64 "-%" PRIx64 "-", c->events, c->guid, n,
			 (uint64_t)wall_ms(), ino, parent);
	for (size_t i = 0; i < name_len; i++)
		o += sprintf(path + o, "%02x", (unsigned char)name[i]);
	path[o++] = '-';
	path[o] = 0;
	zhandle_t *zh = zk_hold(c);
	int rc = zoo_acreate(zh, path, NULL, -1, &c->acl,
			     ZOO_PERSISTENT_SEQUENTIAL, publish_done, NULL);
	zk_release(c);
	if (rc == ZOK)
		metrics_add(MC_NOTICES_SENT, 1);
	return zk_errno(rc);
}

static void trim_done(int rc, const void *data)
{
}

struct notice {
	int idx; /* in the listing */
	long long seq;
	char guid[17];
	uint64_t count, ms, ino, parent;
	char name[256];
	size_t name_len;
};

static int parse_notice(const char *s, struct notice *n)
{
	int pos = 0;
	char hexname[600];
	memset(n, 0, sizeof(*n));
	if (sscanf(s, "n-%16[0-9a-f]-%" SCNx64 "-%" SCNx64 "-%" SCNx64 "-%" SCNx64
		   "-%n", n->guid, &n->count, &n->ms, &n->ino, &n->parent,
		   &pos) != 5 || pos == 0)
		return -1;
	const char *h = s + pos, *dash = strrchr(h, '-');
	if (!dash || (size_t)(dash - h) >= sizeof(hexname) || (dash - h) % 2)
		return -1;
	memcpy(hexname, h, (size_t)(dash - h));
	hexname[dash - h] = 0;
	n->name_len = (size_t)(dash - h) / 2;
	for (size_t i = 0; i < n->name_len; i++) {
		unsigned v;
		if (sscanf(hexname + 2 * i, "%2x", &v) != 1)
			return -1;
		n->name[i] = (char)v;
	}
	n->seq = atoll(dash + 1);
	return 0;
}

static int cmp_notice(const void *a, const void *b)
{
	const struct notice *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Returns 1 when notices of this publisher were lost (a gap). */
static int note_publisher(struct coord_zk *c, const struct notice *n)
{
	for (int i = 0; i < c->npubs; i++)
		if (!strcmp(c->pubs[i].guid, n->guid)) {
			int gap = n->count > c->pubs[i].last + 1;
			if (n->count > c->pubs[i].last)
				c->pubs[i].last = n->count;
			return gap;
		}
	int i = c->npubs < ZK_MAX_PUBLISHERS ? c->npubs++ : (int)(n->count % ZK_MAX_PUBLISHERS);
	snprintf(c->pubs[i].guid, sizeof(c->pubs[i].guid), "%s", n->guid);
	c->pubs[i].last = n->count;
	return 0;
}

/* Read the notice queue (re-arming the watch in the same call, so nothing
 * published after this listing is missed), deliver the new ones in order,
 * and now and then trim old ones.  Runs on the worker thread. */
static void zk_pump_notices(struct coord_zk *c)
{
	struct String_vector sv;
	pthread_mutex_lock(&c->mu);
	int watch = c->notice_fn != NULL;
	pthread_mutex_unlock(&c->mu);
	int rc = zk_children(c, c->events, watch, &sv);
	if (rc != ZOK) {
		log_warn("ZooKeeper: cannot read change notices %s: %s",
			 c->events, zerror(rc));
		/* try again in a second (unless the session must be renewed
		 * first); never spin on a persistent error */
		pthread_mutex_lock(&c->mu);
		c->notice_pending = watch;
		c->last_trim = now_ms();
		if (!c->closing && !c->expired)
			zk_cond_wait(c, now_ms() + 1000);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	struct notice *v = calloc((size_t)sv.count + 1, sizeof(*v));
	int n = 0;
	for (int i = 0; v && i < sv.count; i++)
		if (parse_notice(sv.data[i], &v[n]) == 0)
			v[n++].idx = i;
	if (v)
		qsort(v, (size_t)n, sizeof(*v), cmp_notice);
	pthread_mutex_lock(&c->mu);
	coord_notice_fn fn = c->notice_fn;
	void *arg = c->notice_arg;
	long long last = c->last_seq;
	int reset = c->notice_reset;
	c->notice_reset = 0;
	int64_t trim = now_ms() - c->last_trim > c->notice_ttl / 2 ||
		       n > ZK_NOTICE_MAX;
	if (trim) {
		c->last_trim = now_ms();
		c->pub_since_trim = 0;
	}
	pthread_mutex_unlock(&c->mu);
	long long prev = last;
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < n; i++) {
		if (v[i].seq <= last)
			continue;
		last = v[i].seq;
		if (!strcmp(v[i].guid, c->guid))
			continue;
		if (note_publisher(c, &v[i]))
			reset = 1;
	}
	pthread_mutex_unlock(&c->mu);
	/* ino 0: notices were lost (session replaced, or trimmed before we
	 * read them) — drop every cache. */
	if (reset && fn) {
		fn(arg, 0, 0, NULL, 0);
		metrics_add(MC_NOTICES_LOST, 1);
	}
	for (int i = 0; i < n && fn; i++)
		if (v[i].seq > prev && strcmp(v[i].guid, c->guid)) {
			fn(arg, v[i].ino, v[i].parent,
			   v[i].name_len ? v[i].name : NULL, v[i].name_len);
			metrics_add(MC_NOTICES_RECEIVED, 1);
		}
	pthread_mutex_lock(&c->mu);
	c->last_seq = last;
	pthread_mutex_unlock(&c->mu);
	if (trim && v) {
		int64_t cut = wall_ms() - c->notice_ttl;
		for (int i = 0; i < n; i++) {
			if ((int64_t)v[i].ms >= cut && n - i <= ZK_NOTICE_MAX)
				break;
			char path[1800];
			snprintf(path, sizeof(path), "%s/%s", c->events,
				 sv.data[v[i].idx]);
			/* asynchronous: the worker must not wait for a batch
			 * of deletes; another mount may win the race (ZNONODE) */
			zhandle_t *zh = zk_hold(c);
			zoo_adelete(zh, path, -1, trim_done, NULL);
			zk_release(c);
		}
	}
	free(v);
	deallocate_String_vector(&sv);
}

static int zk_watch(struct coord *base, coord_notice_fn fn, void *arg)
{
	struct coord_zk *c = (struct coord_zk *)base;
	struct String_vector sv;
	/* Start after what is queued now: older notices predate our caches. */
	int rc = zk_children(c, c->events, 1, &sv);
	if (rc != ZOK)
		return zk_errno(rc);
	long long last = -1;
	for (int i = 0; i < sv.count; i++)
		if (seq_of(sv.data[i]) > last)
			last = seq_of(sv.data[i]);
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < sv.count; i++) {
		struct notice n;
		if (parse_notice(sv.data[i], &n) == 0)
			note_publisher(c, &n);
	}
	c->last_seq = last;
	c->notice_fn = fn;
	c->notice_arg = arg;
	c->last_trim = 0;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	deallocate_String_vector(&sv);
	return 0;
}

const struct coord_ops coord_zk_ops = {
	.scheme = "zk",
	.open = zk_open,
	.close = zk_close,
	.register_mount = zk_register_mount,
	.list_mounts = zk_list_mounts,
	.lock = zk_lock,
	.unlock = zk_unlock,
	.plock_get = zk_plock_get,
	.plock_set = zk_plock_set,
	.plock_cancel = zk_plock_cancel,
	.watch = zk_watch,
	.publish = zk_publish,
};
