/*
 * data.h — the data tier: where file contents live, as immutable objects.
 *
 * meta holds metadata only: inodes (with the file size), directory entries,
 * xattrs, and the map of which objects make up which byte ranges of a file
 * (the layout, written in the same metadata transaction that changes the
 * size).  The objects themselves live in a data tier, chosen by URL at mkfs
 * and recorded in the superblock (without secrets):
 *
 *   store              objects in the metadata store itself (the embedded
 *                      default: one LMDB file, no server)
 *   file:///DIR        files under a directory (local disk, or a shared
 *                      mount such as NFS that every host sees)
 *   swift://HOST:PORT/CONTAINER   OpenStack Swift through its proxy
 *   s3://HOST:PORT/BUCKET         the S3 API (SigV4)
 *   ring:///PATH/object.ring.gz   straight to Swift object servers, placed
 *                                 by a ring (CassaFS is its own proxy)
 *
 * An object is written once, whole, under a key no other object ever had
 * (keys carry a never-reused id); it is never rewritten, only deleted once
 * no layout references it.  So a reader never sees a torn object, and a
 * racing mount sees either the old layout or the new one.
 *
 * Keys are printable ASCII without "//", at most DATA_MAX_KEY bytes, chosen
 * by the layout code above this header; engines store them as they are.
 *
 * Every engine (data_store.c, data_file.c, data_swift.c, …) fills a struct
 * data_ops (data_engine.h); data_open() picks the engine from the URL
 * scheme, and nothing above this header asks which engine it talks to.
 *
 * Errors are negative errno values:
 *   -ENOENT  no such object          -EIO     the object store failed (after
 *   -ENOSPC  the store is full                the engine's bounded retries)
 *   -EINVAL  bad URL or argument     -EACCES  credentials refused
 *   -ENOMEM  out of memory           -EBADMSG object corrupt (checksum)
 * No call blocks longer than the engine's documented timeout.
 */
#ifndef CASSAFS_DATA_H
#define CASSAFS_DATA_H

#include <stddef.h>
#include <stdint.h>

#define DATA_MAX_KEY 255

struct store;
struct data;

struct data_opts {
	/* the metadata store, for the `store` engine (may be NULL otherwise) */
	struct store *store;
	/* file of KEY=VALUE lines with credentials (NULL: the environment,
	 * CASSAFS_DATA_USER, CASSAFS_DATA_KEY, …); never on a command line */
	const char *secrets_file;
	/* upper bound on concurrent requests to the object store (0: default) */
	unsigned max_conns;
	/* a local read cache of objects in this directory (NULL: none), of at
	 * most cache_size bytes (0: DATA_CACHE_DEFAULT); remote tiers only
	 * (data_cache.h) */
	const char *cache_dir;
	uint64_t cache_size;
};

#define DATA_CACHE_DEFAULT (1ull << 30)

/* Open the data tier named by url.  err gets a one-line reason. */
int data_open(const char *url, const struct data_opts *o, struct data **out,
	      char *err, size_t err_len);
void data_close(struct data *d);
/* The URL as recorded in the superblock: secrets removed. */
const char *data_url(const struct data *d);

/* Create what the tier needs (a container, a bucket, a directory) at mkfs;
 * succeeds if it exists already. */
int data_prepare(struct data *d, char *err, size_t err_len);

/*
 * One object transfer of a batch.  For a put: buf/len is the whole object.
 * For a get: read len bytes from offset off into buf; got is set to what was
 * read (less than len only at the object's end).  res is 0 or -errno.
 */
struct data_io {
	const char *key;
	void *buf;
	size_t len;
	uint64_t off;
	size_t got;
	int res;
};

/* Run every transfer of the batch, in parallel where the engine can; the
 * return is 0 if every one succeeded, else the first failure's -errno (each
 * io's res says which). */
int data_put_batch(struct data *d, struct data_io *ios, size_t n);
int data_get_batch(struct data *d, struct data_io *ios, size_t n);

/* Single-object forms. */
int data_put(struct data *d, const char *key, const void *buf, size_t len);
int data_get(struct data *d, const char *key, uint64_t off, void *buf,
	     size_t len, size_t *got);

/* Delete an object; a missing object is not an error. */
int data_del(struct data *d, const char *key);

/* Call fn for every object whose key starts with prefix (order unspecified).
 * fn returns 0 to go on, > 0 to stop (returned), < 0 to abort. */
typedef int (*data_list_fn)(void *arg, const char *key, uint64_t size);
int data_list(struct data *d, const char *prefix, data_list_fn fn, void *arg);

#endif
