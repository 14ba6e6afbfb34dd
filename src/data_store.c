/*
 * data_store.c — the `store` data engine: objects kept in the metadata
 * store itself, family STORE_OBJECT (the embedded default: one LMDB file,
 * no server).
 *
 * URL: store   (or store:)
 *
 * An object is cut into parts of PART_SIZE bytes, one column each, in row 0:
 *     column  key ‖ 0x00 ‖ be32(part)
 *     value   part 0: be64(object size) ‖ the first bytes; others: bytes
 * Keys are printable ASCII, so the 0x00 separator sorts a key's parts
 * before any longer key, and a scan from a prefix lists keys in order.
 * A put writes every part in one store transaction, so an object is there
 * whole or not at all.  Parts bound the store's value size (STORE_MAX_VALUE)
 * and let a range read fetch only the parts it needs.
 *
 * Timeouts are the store's own (each call is one store transaction).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_engine.h"
#include "store.h"

#ifndef PART_SIZE
#define PART_SIZE (256u * 1024)
#endif
#define HDR 8
#define MAX_TRIES 1000

struct dstore {
	struct store *store;
};

static size_t make_col(uint8_t *col, const char *key, size_t klen,
		       uint32_t part)
{
	memcpy(col, key, klen);
	col[klen] = 0;
	col[klen + 1] = (uint8_t)(part >> 24);
	col[klen + 2] = (uint8_t)(part >> 16);
	col[klen + 3] = (uint8_t)(part >> 8);
	col[klen + 4] = (uint8_t)part;
	return klen + 5;
}

static int check_key(const char *key, size_t *klen)
{
	size_t n = strlen(key);
	if (!n || n > DATA_MAX_KEY)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			return -EINVAL;
	*klen = n;
	return 0;
}

static int ds_open(const char *url, const struct data_opts *o, void **priv,
		   char *err, size_t err_len)
{
	if (strcmp(url, "store") && strcmp(url, "store:") &&
	    strcmp(url, "store://")) {
		snprintf(err, err_len, "%s: the store data tier takes no "
			 "arguments (write: store)", url);
		return -EINVAL;
	}
	if (!o->store) {
		snprintf(err, err_len, "the store data tier needs the "
			 "metadata store open");
		return -EINVAL;
	}
	struct dstore *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->store = o->store;
	*priv = d;
	return 0;
}

static void ds_close(void *priv) { free(priv); }

/* Size of an object from its part 0, or -ENOENT. */
static int obj_size(struct store_txn *t, const char *key, size_t klen,
		    uint64_t *size)
{
	uint8_t col[DATA_MAX_KEY + 5];
	const void *v;
	size_t len;
	int r = store_get(t, STORE_OBJECT, 0, col, make_col(col, key, klen, 0),
			  &v, &len);
	if (r < 0)
		return r;
	if (len < HDR)
		return -EBADMSG;
	*size = store_get_be64(v);
	return 0;
}

static int del_parts(struct store_txn *t, const char *key, size_t klen,
		     uint64_t size)
{
	uint8_t col[DATA_MAX_KEY + 5];
	uint32_t parts = size ? (uint32_t)((size - 1) / PART_SIZE + 1) : 1;
	for (uint32_t p = 0; p < parts; p++) {
		int r = store_del(t, STORE_OBJECT, 0, col,
				  make_col(col, key, klen, p));
		if (r < 0)
			return r;
	}
	return 0;
}

/* Run body in a read-write transaction, retrying conflicts. */
typedef int (*body_fn)(struct store_txn *t, void *arg);
static int run(struct dstore *d, int flags, body_fn fn, void *arg)
{
	for (int i = 0; i < MAX_TRIES; i++) {
		struct store_txn *t;
		int r = store_txn_begin(d->store, flags, &t);
		if (r < 0)
			return r;
		r = fn(t, arg);
		if (r < 0) {
			store_abort(t);
			if (r == -EAGAIN)
				continue;
			return r;
		}
		int c = store_commit(t);
		if (c == -EAGAIN)
			continue;
		return c < 0 ? c : r;
	}
	return -EIO;
}

struct put_args {
	const char *key;
	size_t klen;
	const uint8_t *buf;
	size_t len;
	uint8_t *scratch; /* PART_SIZE + HDR */
};

static int put_body(struct store_txn *t, void *arg)
{
	struct put_args *a = arg;
	uint64_t old;
	int r = obj_size(t, a->key, a->klen, &old);
	if (r == 0)
		r = del_parts(t, a->key, a->klen, old);
	else if (r == -ENOENT || r == -EBADMSG)
		r = 0;
	if (r < 0)
		return r;
	uint8_t col[DATA_MAX_KEY + 5];
	uint32_t parts = a->len ? (uint32_t)((a->len - 1) / PART_SIZE + 1) : 1;
	for (uint32_t p = 0; p < parts; p++) {
		size_t off = (size_t)p * PART_SIZE;
		size_t n = a->len - off < PART_SIZE ? a->len - off : PART_SIZE;
		const void *val = a->buf + off;
		size_t vlen = n;
		if (p == 0) {
			store_be64(a->scratch, a->len);
			if (n)
				memcpy(a->scratch + HDR, a->buf, n);
			val = a->scratch;
			vlen = n + HDR;
		}
		r = store_put(t, STORE_OBJECT, 0, col,
			      make_col(col, a->key, a->klen, p), val, vlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static int ds_put(void *priv, const char *key, const void *buf, size_t len)
{
	struct put_args a = {key, 0, buf, len, NULL};
	int r = check_key(key, &a.klen);
	if (r < 0)
		return r;
	if (!(a.scratch = malloc(PART_SIZE + HDR)))
		return -ENOMEM;
	r = run(priv, 0, put_body, &a);
	free(a.scratch);
	return r;
}

struct get_args {
	const char *key;
	size_t klen;
	uint64_t off;
	uint8_t *buf;
	size_t len, got;
};

static int get_body(struct store_txn *t, void *arg)
{
	struct get_args *a = arg;
	uint64_t size;
	a->got = 0;
	int r = obj_size(t, a->key, a->klen, &size);
	if (r < 0)
		return r;
	if (a->off >= size)
		return 0;
	uint64_t end = a->off + a->len < size ? a->off + a->len : size;
	uint8_t col[DATA_MAX_KEY + 5];
	for (uint64_t pos = a->off; pos < end;) {
		uint32_t p = (uint32_t)(pos / PART_SIZE);
		uint64_t pstart = (uint64_t)p * PART_SIZE;
		const void *v;
		size_t vlen;
		r = store_get(t, STORE_OBJECT, 0, col,
			      make_col(col, a->key, a->klen, p), &v, &vlen);
		if (r == -ENOENT)
			return -EBADMSG; /* a part is missing: corrupt */
		if (r < 0)
			return r;
		const uint8_t *d = v;
		if (p == 0) {
			d += HDR;
			vlen -= HDR;
		}
		uint64_t pend = pstart + PART_SIZE < end ? pstart + PART_SIZE
							 : end;
		if (pend - pstart > vlen)
			return -EBADMSG;
		memcpy(a->buf + (pos - a->off), d + (pos - pstart), pend - pos);
		pos = pend;
	}
	a->got = (size_t)(end - a->off);
	return 0;
}

static int ds_get(void *priv, const char *key, uint64_t off, void *buf,
		  size_t len, size_t *got)
{
	struct get_args a = {key, 0, off, buf, len, 0};
	int r = check_key(key, &a.klen);
	if (r < 0)
		return r;
	r = run(priv, STORE_RDONLY, get_body, &a);
	if (got)
		*got = r < 0 ? 0 : a.got;
	return r;
}

struct del_args {
	const char *key;
	size_t klen;
};

static int del_body(struct store_txn *t, void *arg)
{
	struct del_args *a = arg;
	uint64_t size;
	int r = obj_size(t, a->key, a->klen, &size);
	if (r == -ENOENT)
		return 0;
	if (r == -EBADMSG)
		size = 0;
	else if (r < 0)
		return r;
	return del_parts(t, a->key, a->klen, size);
}

static int ds_del(void *priv, const char *key)
{
	struct del_args a = {key, 0};
	int r = check_key(key, &a.klen);
	return r < 0 ? r : run(priv, 0, del_body, &a);
}

/*
 * Listing: the scan runs in a live (unvalidated) transaction, gathering a
 * page of keys; the callback runs after the transaction ends, so it may
 * call the engine itself (gc deletes as it lists).
 */
#define LIST_PAGE 512

struct list_args {
	const char *prefix;
	size_t plen;
	char (*keys)[DATA_MAX_KEY + 1];
	uint64_t *sizes;
	size_t n;
	uint8_t last[DATA_MAX_KEY + 6];
	size_t last_len;
	int more;
};

static int list_col(void *arg, const void *col, size_t col_len,
		    const void *val, size_t val_len)
{
	struct list_args *a = arg;
	const uint8_t *c = col;
	if (col_len < a->plen || memcmp(c, a->prefix, a->plen))
		return 1; /* past the prefix */
	if (col_len < 5 || c[col_len - 5] != 0)
		return 0;
	size_t klen = col_len - 5;
	if (col_len == a->last_len && !memcmp(c, a->last, col_len))
		return 0; /* where the previous page stopped */
	if (c[col_len - 4] | c[col_len - 3] | c[col_len - 2] | c[col_len - 1])
		return 0; /* not part 0 */
	if (a->n == LIST_PAGE) {
		a->more = 1;
		return 1;
	}
	memcpy(a->keys[a->n], c, klen);
	a->keys[a->n][klen] = 0;
	a->sizes[a->n] = val_len >= HDR ? store_get_be64(val) : 0;
	a->n++;
	memcpy(a->last, c, col_len);
	a->last_len = col_len;
	return 0;
}

static int list_body(struct store_txn *t, void *arg)
{
	struct list_args *a = arg;
	a->n = 0;
	a->more = 0;
	const void *start = a->last_len ? (const void *)a->last : a->prefix;
	size_t slen = a->last_len ? a->last_len : a->plen;
	int r = store_scan(t, STORE_OBJECT, 0, start, slen, list_col, a);
	return r < 0 ? r : 0;
}

static int ds_list(void *priv, const char *prefix, data_list_fn fn, void *arg)
{
	struct dstore *d = priv;
	struct list_args a = {prefix, strlen(prefix)};
	a.keys = malloc(LIST_PAGE * sizeof(*a.keys));
	a.sizes = malloc(LIST_PAGE * sizeof(*a.sizes));
	int r = 0;
	if (!a.keys || !a.sizes) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		/* a page of keys, read in one live transaction */
		uint8_t saved[sizeof(a.last)];
		size_t saved_len = a.last_len;
		memcpy(saved, a.last, saved_len);
		for (int i = 0;; i++) {
			struct store_txn *t;
			if ((r = store_txn_begin(d->store, STORE_RDONLY | STORE_LIVE,
						 &t)) < 0)
				goto out;
			memcpy(a.last, saved, saved_len);
			a.last_len = saved_len;
			r = list_body(t, &a);
			store_abort(t);
			if (r != -EAGAIN || i > MAX_TRIES)
				break;
		}
		if (r < 0)
			goto out;
		for (size_t i = 0; i < a.n; i++)
			if ((r = fn(arg, a.keys[i], a.sizes[i])) != 0)
				goto out;
		if (!a.more)
			break;
	}
out:
	free(a.keys);
	free(a.sizes);
	return r;
}

const struct data_ops data_store_ops = {
	.scheme = "store",
	.open = ds_open,
	.close = ds_close,
	.put = ds_put,
	.get = ds_get,
	.del = ds_del,
	.list = ds_list,
};
