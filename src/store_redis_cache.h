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

struct rcache {
	pthread_mutex_t mu;
	struct rcache_entry **bucket;
	size_t nbucket, n;
	uint64_t hits, misses; /* for the log at close */
};

int rcache_init(struct rcache *c);
void rcache_free(struct rcache *c);
/*
 * 1 and a fresh copy of the cached state (present = 0: known absent; else
 * *val malloc'ed, *val_len bytes, freed by the caller), 0 if not cached,
 * -ENOMEM.
 */
int rcache_get(struct rcache *c, const char *key, size_t kl, int *present,
	       uint8_t **val, size_t *val_len);
/* Remember key's value (present = 0: absent); too large a value drops it. */
void rcache_put(struct rcache *c, const char *key, size_t kl, int present,
		const void *val, size_t val_len);
void rcache_drop(struct rcache *c, const char *key, size_t kl);
void rcache_clear(struct rcache *c);

#endif
