/*
 * data_cache.h — a bounded local read cache of data-tier objects, in a
 * directory (-o cache_dir=DIR,cache_size=BYTES).
 *
 * Objects never change once written (a key names one content for ever),
 * so a cached copy is never stale and nothing is ever invalidated: a copy
 * leaves the cache only when it is evicted (least recently used first, to
 * stay under the size), when the object is deleted, or when it fails its
 * check.  Each copy is one file, written under a temporary name and
 * renamed into place; it carries its key, its length and a CRC-32 per
 * 64 KiB block, checked on every read, so a torn, truncated or damaged
 * copy is dropped and reported as a miss, never returned.
 *
 * The index (key hash, size, recency) lives in memory, at most
 * DATA_CACHE_MAX_FILES entries, and is rebuilt from the directory at open,
 * so the cache survives a remount.  A directory that fills (ENOSPC, EDQUOT)
 * or fails (EIO, EROFS) turns filling off for DATA_CACHE_RETRY_S seconds
 * with a log line; reads are never failed by the cache.
 *
 * data.c wraps an engine's gets with it (data_opts.cache_dir); nothing
 * above data.h knows it exists.  Thread-safe.
 */
#ifndef CASSAFS_DATA_CACHE_H
#define CASSAFS_DATA_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* objects larger than this are not cached (LAYOUT_OBJECT_MAX: layout
 * writes none larger) */
#define DATA_CACHE_OBJECT_MAX (4u << 20)
/* entries in the index at most: bounds its memory (~48 bytes each) */
#define DATA_CACHE_MAX_FILES (1u << 18)
#define DATA_CACHE_RETRY_S 60

struct data_cache;

struct data_cache_stats {
	uint64_t files, bytes;      /* held now (bytes: on disk, headers too) */
	uint64_t hits, misses;      /* reads served from the cache or not */
	uint64_t fills, evictions;  /* copies written; removed for room */
	uint64_t dropped;           /* copies that failed their check */
	uint64_t fill_errors;       /* copies that could not be written */
};

/* Open (creating DIR if needed) a cache of at most max_bytes.  Another
 * process holding DIR is -EBUSY.  err gets a one-line reason. */
int data_cache_open(const char *dir, uint64_t max_bytes,
		    struct data_cache **out, char *err, size_t err_len);
void data_cache_close(struct data_cache *c);

/* Read len bytes at off of the object key from its cached copy: 0 (got
 * set, short only at the object's end) or -ENOENT (not cached, or the
 * copy failed its check and was dropped). */
int data_cache_get(struct data_cache *c, const char *key, uint64_t off,
		   void *buf, size_t len, size_t *got);
/*
 * A reader about to fetch a whole object to cache it claims it first:
 * 1 — claimed: fetch it, then data_cache_put (or data_cache_release if
 *     the fetch failed); 0 — another reader is fetching it: wait for that
 *     (data_cache_wait, holding no claim of one's own, so that no two
 *     readers wait on each other) and read the cache again; -1 — the cache
 *     takes nothing now (filling off, no memory).
 */
int data_cache_claim(struct data_cache *c, const char *key);
void data_cache_release(struct data_cache *c, const char *key);
/* Until nobody holds a claim on key, at most seconds. */
void data_cache_wait(struct data_cache *c, const char *key, int seconds);
/* Keep a copy of the whole object (len bytes): fulfils the caller's claim
 * on key, if any.  A failure to write is logged (and turns filling off
 * for a while); the return (0, -EFBIG, -ENOSPC, ...) is for tests. */
int data_cache_put(struct data_cache *c, const char *key, const void *buf,
		   size_t len);
/* The object was deleted from the tier: drop its copy. */
void data_cache_drop(struct data_cache *c, const char *key);
/* 1 if a fill of len bytes would be tried now (filling on, size fits). */
int data_cache_wants(struct data_cache *c, size_t len);
void data_cache_stats(struct data_cache *c, struct data_cache_stats *out);

#endif
