/*
 * store_redis_cache.c — a mutex-guarded chained hash table of small Redis
 * values (see store_redis_cache.h for why stale entries are harmless).
 * Bounded by dropping everything when full: the cache is refilled by the
 * next reads, and nothing is lost but round trips.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_redis_cache.h"

struct rcache_entry {
	struct rcache_entry *next;
	uint64_t hash;
	size_t kl, vl;
	int present;
	int trusted;    /* put with a token that still held */
	uint64_t epoch; /* the cache's epoch then */
	uint8_t data[]; /* key, then value */
};

#define NBUCKET 16384

static uint64_t hash_key(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)k[i];
		h *= 1099511628211ull;
	}
	return h;
}

int rcache_init(struct rcache *c)
{
	memset(c, 0, sizeof(*c));
	c->bucket = calloc(NBUCKET, sizeof(*c->bucket));
	if (!c->bucket)
		return -ENOMEM;
	c->nbucket = NBUCKET;
	c->gen = calloc(RCACHE_NGEN, sizeof(*c->gen));
	if (!c->gen) {
		free(c->bucket);
		c->bucket = NULL;
		return -ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	return 0;
}

static void clear_locked(struct rcache *c)
{
	for (size_t i = 0; i < c->nbucket; i++) {
		struct rcache_entry *e = c->bucket[i];
		while (e) {
			struct rcache_entry *n = e->next;
			free(e);
			e = n;
		}
		c->bucket[i] = NULL;
	}
	c->n = 0;
}

void rcache_free(struct rcache *c)
{
	if (!c->bucket)
		return;
	clear_locked(c);
	free(c->bucket);
	c->bucket = NULL;
	free(c->gen);
	c->gen = NULL;
	pthread_mutex_destroy(&c->mu);
}

static struct rcache_entry **find_locked(struct rcache *c, const char *key,
					 size_t kl, uint64_t h)
{
	struct rcache_entry **p = &c->bucket[h % c->nbucket];
	for (; *p; p = &(*p)->next)
		if ((*p)->hash == h && (*p)->kl == kl &&
		    !memcmp((*p)->data, key, kl))
			break;
	return p;
}

int rcache_get(struct rcache *c, const char *key, size_t kl, int *present,
	       uint8_t **val, size_t *val_len, int *trusted)
{
	uint64_t h = hash_key(key, kl);
	int r = 0;
	*val = NULL;
	*val_len = 0;
	if (trusted)
		*trusted = 0;
	pthread_mutex_lock(&c->mu);
	struct rcache_entry *e = *find_locked(c, key, kl, h);
	if (e) {
		*present = e->present;
		if (trusted)
			*trusted = e->trusted && e->epoch == c->epoch && c->tracking;
		if (e->present) {
			*val = malloc(e->vl ? e->vl : 1);
			if (!*val) {
				r = -ENOMEM;
				goto out;
			}
			memcpy(*val, e->data + e->kl, e->vl);
			*val_len = e->vl;
		}
		c->hits++;
		r = 1;
	} else {
		c->misses++;
	}
out:
	pthread_mutex_unlock(&c->mu);
	return r;
}

static void put(struct rcache *c, const char *key, size_t kl, int present,
		const void *val, size_t val_len, const struct rcache_token *tok)
{
	uint64_t h = hash_key(key, kl);
	struct rcache_entry *e = NULL;
	if (!present)
		val_len = 0;
	if (val_len <= RCACHE_MAX_VALUE) {
		e = malloc(sizeof(*e) + kl + val_len);
		if (e) {
			e->hash = h;
			e->kl = kl;
			e->vl = val_len;
			e->present = present;
			memcpy(e->data, key, kl);
			if (val_len)
				memcpy(e->data + kl, val, val_len);
		}
	}
	pthread_mutex_lock(&c->mu);
	struct rcache_entry **p = find_locked(c, key, kl, h);
	if (*p) {
		struct rcache_entry *old = *p;
		*p = old->next;
		free(old);
		c->n--;
	}
	if (e) {
		e->epoch = c->epoch;
		e->trusted = tok && tok->tracking && c->tracking &&
			     tok->epoch == c->epoch &&
			     tok->gen == c->gen[h % RCACHE_NGEN];
		if (c->n >= RCACHE_MAX_ENTRIES) {
			clear_locked(c);
			p = &c->bucket[h % c->nbucket];
		}
		e->next = *p;
		*p = e;
		c->n++;
	}
	pthread_mutex_unlock(&c->mu);
}

void rcache_put(struct rcache *c, const char *key, size_t kl, int present,
		const void *val, size_t val_len)
{
	put(c, key, kl, present, val, val_len, NULL);
}

void rcache_put_token(struct rcache *c, const char *key, size_t kl,
		      int present, const void *val, size_t val_len,
		      const struct rcache_token *tok)
{
	put(c, key, kl, present, val, val_len, tok);
}

void rcache_token(struct rcache *c, const char *key, size_t kl,
		  struct rcache_token *tok)
{
	uint64_t h = hash_key(key, kl);
	pthread_mutex_lock(&c->mu);
	tok->epoch = c->epoch;
	tok->gen = c->gen[h % RCACHE_NGEN];
	tok->tracking = c->tracking;
	pthread_mutex_unlock(&c->mu);
}

void rcache_invalidate(struct rcache *c, const char *key, size_t kl)
{
	uint64_t h = hash_key(key, kl);
	pthread_mutex_lock(&c->mu);
	c->gen[h % RCACHE_NGEN]++;
	/* kept, but checked again at its next use like any untrusted value:
	 * most changes are this mount's own commits, whose values are the
	 * entries already (dropping them would cost the next writer a GET) */
	struct rcache_entry *e = *find_locked(c, key, kl, h);
	if (e)
		e->trusted = 0;
	pthread_mutex_unlock(&c->mu);
}

void rcache_tracking(struct rcache *c, int on, int flush)
{
	pthread_mutex_lock(&c->mu);
	c->epoch++;
	c->tracking = on;
	if (flush)
		clear_locked(c);
	pthread_mutex_unlock(&c->mu);
}

void rcache_drop(struct rcache *c, const char *key, size_t kl)
{
	uint64_t h = hash_key(key, kl);
	pthread_mutex_lock(&c->mu);
	struct rcache_entry **p = find_locked(c, key, kl, h);
	if (*p) {
		struct rcache_entry *old = *p;
		*p = old->next;
		free(old);
		c->n--;
	}
	pthread_mutex_unlock(&c->mu);
}

void rcache_clear(struct rcache *c)
{
	pthread_mutex_lock(&c->mu);
	clear_locked(c);
	pthread_mutex_unlock(&c->mu);
}
