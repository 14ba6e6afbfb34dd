/*
 * store_redis_conn.h — inside the Redis engine: the store handle, its
 * connection pool and cluster routing (store_redis_conn.c), shared with the
 * transaction engine (store_redis.c).  Not for use outside store_redis*.c.
 */
#ifndef CASSAFS_STORE_REDIS_CONN_H
#define CASSAFS_STORE_REDIS_CONN_H

#include <hiredis.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/time.h>

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

/*
 * The tracker (store_redis_track.c): one more connection, to the master of
 * the filesystem's slot, that holds CLIENT TRACKING in BCAST mode for the
 * filesystem's key prefix, redirected to itself and subscribed to
 * __redis__:invalidate (RESP2), read by a thread of its own.
 */
struct rtrack {
	int enabled;        /* tracking= (URL option), default on */
	int started;        /* the thread runs (started at first use) */
	pthread_t thread;
	int wake[2];        /* pipe: stop */
	int stop;
	/* read without a lock by readers (atomics) */
	int fd;             /* the subscribed socket, -1 when none */
	int busy;           /* reading or applying invalidations */
	uint64_t pong_ns;   /* last PING answered (monotonic) */
	unsigned long epoch; /* the store's master generation it serves */
	int up;             /* subscribed and answering */
	pthread_mutex_t start_mu;
	pthread_rwlock_t fn_lock; /* held while fn runs; watch() takes it */
	store_change_fn fn;
	void *fn_arg;
	uint64_t invalidations, messages; /* for the log */
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
	struct rtrack track;
};

/* One command for a pipeline. */
struct cmd {
	int argc;
	const char **argv;
	size_t *len;
};

/* keys: value key of a column, its row's prefix, the row's member set */
int colcmp(const void *a, size_t al, const void *b, size_t bl);
size_t vprefix(const struct rstore *s, char *buf, int fam, uint64_t row);
size_t vkey(const struct rstore *s, char *buf, int fam, uint64_t row,
	    const void *col, size_t col_len);
size_t zkey(const struct rstore *s, char *buf, int fam, uint64_t row);
int bad_args(int fam, size_t col_len);

/* one connection to a node: AUTH, SELECT; NULL with a message in err */
redisContext *node_connect(struct rstore *s, const struct hostport *hp,
			   int *rc, char *err, size_t err_len);

/* connections: checkout (reconnecting, following the cluster's map) and
 * return; a pipeline of n commands in one round trip; error replies */
struct rconn *conn_get(struct rstore *s, int *rc, char *err, size_t err_len);
void conn_put(struct rstore *s, struct rconn *c);
int pipe_run(struct rconn *c, int n, const struct cmd *cmds, redisReply **rep);
void free_replies(int n, redisReply **rep);
int reply_err(struct rstore *s, redisReply *r);
const char *rtext(redisReply *r);

/* the store_ops entries that concern the servers, not transactions */
int redis_open(const char *url, int flags, struct store **out, char *err,
	       size_t err_len);
int redis_cluster_open(const char *url, int flags, struct store **out,
		       char *err, size_t err_len);
void redis_close(struct store *base);
int redis_sync(struct store *base);
int redis_durability(struct store *base, char *warn, size_t len);
int redis_space(struct store *base, uint64_t *total, uint64_t *avail);
int redis_destroy(const char *url, char *err, size_t err_len);
int redis_cluster_destroy(const char *url, char *err, size_t err_len);

/* store_redis_track.c: the tracker's life; whether a trusted cache entry
 * may be used now (nothing pending on the socket, answering, current
 * master); the store_ops entries tracking and watch */
void track_init(struct rstore *s);
void track_start(struct rstore *s);
void track_stop(struct rstore *s);
int track_quiet(struct rstore *s);
int redis_tracking(struct store *base);
int redis_watch(struct store *base, store_change_fn fn, void *arg);

/* store_redis.c: load the commit function library on c's server (open) */
int load_functions(struct rstore *s, struct rconn *c, char *err, size_t err_len);

#endif
