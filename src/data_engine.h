/*
 * data_engine.h — what a data-tier engine provides (private to src/data*.c).
 *
 * data.c parses the scheme, finds the engine in its table and forwards
 * every call; an engine that has no batch form gets the single-object calls
 * looped by data.c.  An engine owns its retries and timeouts: each call
 * returns within the bound the engine documents (docs/data.md).
 */
#ifndef CASSAFS_DATA_ENGINE_H
#define CASSAFS_DATA_ENGINE_H

#include "data.h"

struct data_ops {
	const char *scheme; /* "store", "file", "swift", "s3", "ring" */
	/* url is the whole URL; the engine keeps what it needs in *priv */
	int (*open)(const char *url, const struct data_opts *o, void **priv,
		    char *err, size_t err_len);
	void (*close)(void *priv);
	int (*prepare)(void *priv, char *err, size_t err_len);
	int (*put)(void *priv, const char *key, const void *buf, size_t len);
	int (*get)(void *priv, const char *key, uint64_t off, void *buf,
		   size_t len, size_t *got);
	int (*del)(void *priv, const char *key);
	int (*list)(void *priv, const char *prefix, data_list_fn fn,
		    void *arg);
	/* optional: parallel forms */
	int (*put_batch)(void *priv, struct data_io *ios, size_t n);
	int (*get_batch)(void *priv, struct data_io *ios, size_t n);
};

extern const struct data_ops data_store_ops, data_file_ops, data_swift_ops,
	data_s3_ops, data_ring_ops;

#endif
