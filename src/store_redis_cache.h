/*
 * store_redis_cache.h — the Redis engine's client cache of small values,
 * keyed by the Redis value key.  Entries may be stale: every value served
 * from here is validated at commit by the server-side function (the commit
 * compares the value each transaction saw with the stored one), so the
 * cache only saves round trips and never decides an outcome.  Internal to
 * store_redis*.c.
 */
#ifndef CASSAFS_STORE_REDIS_CACHE_H
#define CASSAFS_STORE_REDIS_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define RCACHE_MAX_VALUE 512    /* larger values are not kept */
#define RCACHE_MAX_ENTRIES 32768 /* then the whole cache is dropped (a few MB) */

struct rcache_entry;

#define RCACHE_NGEN 4096 /* invalidation counters (key hash buckets) */

struct rcache {
	pthread_mutex_t mu;
	struct rcache_entry **bucket;
	size_t nbucket, n;
	uint64_t hits, misses; /* for the log at close */
	uint64_t epoch;  /* bumped when tracking starts, stops or is flushed */
	int tracking;    /* invalidations arrive */
	uint32_t *gen;   /* RCACHE_NGEN: bumped per invalidated key */
};

/* What the cache knew before a value was asked of the server. */
struct rcache_token {
	uint64_t epoch;
	uint32_t gen;
	int tracking;
};

int rcache_init(struct rcache *c);
void rcache_free(struct rcache *c);
/*
 * 1 and a fresh copy of the cached state (present = 0: known absent; else
 * *val malloc'ed, *val_len bytes, freed by the caller), 0 if not cached,
 * -ENOMEM.
 */
int rcache_get(struct rcache *c, const char *key, size_t kl, int *present,
	       uint8_t **val, size_t *val_len, int *trusted);
/* Remember key's value (present = 0: absent), not trusted; too large a
 * value drops it. */
void rcache_put(struct rcache *c, const char *key, size_t kl, int present,
		const void *val, size_t val_len);
/* Take before sending the command whose answer rcache_put_token stores. */
void rcache_token(struct rcache *c, const char *key, size_t kl,
		  struct rcache_token *tok);
/* rcache_put of a value the server answered after tok was taken:
 * trusted if nothing came in between that could make it stale. */
void rcache_put_token(struct rcache *c, const char *key, size_t kl,
		      int present, const void *val, size_t val_len,
		      const struct rcache_token *tok);
void rcache_drop(struct rcache *c, const char *key, size_t kl);
void rcache_clear(struct rcache *c);
/* The server says key changed: untrust its entry and answers in flight. */
void rcache_invalidate(struct rcache *c, const char *key, size_t kl);
/* Tracking starts (on) or stops: no entry trusted so far stays trusted;
 * flush: the server dropped everything (FLUSHALL), the entries too. */
void rcache_tracking(struct rcache *c, int on, int flush);

#endif
