/*
 * store.c — picks the engine from the URL scheme and forwards every call
 * through its struct store_ops.  Nothing else knows which engine runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

extern const struct store_ops store_lmdb_ops;
extern const struct store_ops store_redis_ops;
extern const struct store_ops store_redis_cluster_ops;

static const struct store_ops *const engines[] = {
	&store_lmdb_ops,
	&store_redis_ops,
	&store_redis_cluster_ops,
};

static const struct store_ops *find_engine(const char *url, char *err,
					   size_t err_len)
{
	const char *sep = strstr(url, "://");
	if (!sep) {
		snprintf(err, err_len,
			 "'%s' is not a store URL (expected lmdb:///PATH or "
			 "redis://HOST:PORT[/DB])", url);
		return NULL;
	}
	size_t n = (size_t)(sep - url);
	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++)
		if (strlen(engines[i]->scheme) == n &&
		    !strncmp(engines[i]->scheme, url, n))
			return engines[i];
	snprintf(err, err_len, "unknown store scheme '%.*s' in '%s' (known: lmdb, redis, redis-cluster)",
		 (int)n, url, url);
	return NULL;
}

int store_open(const char *url, int flags, struct store **out, char *err,
	       size_t err_len)
{
	const struct store_ops *ops = find_engine(url, err, err_len);
	if (!ops)
		return -EINVAL;
	int r = ops->open(url, flags, out, err, err_len);
	if (r < 0)
		return r;
	(*out)->ops = ops;
	if (!(*out)->url && !((*out)->url = strdup(url))) {
		ops->close(*out);
		return -ENOMEM;
	}
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	char *url = s->url;
	s->ops->close(s);
	free(url);
}

int store_destroy(const char *url, char *err, size_t err_len)
{
	const struct store_ops *ops = find_engine(url, err, err_len);
	if (!ops)
		return -EINVAL;
	if (!ops->destroy) {
		snprintf(err, err_len, "the %s engine cannot destroy stores", ops->scheme);
		return -EOPNOTSUPP;
	}
	return ops->destroy(url, err, err_len);
}

int store_txn_begin(struct store *s, int flags, struct store_txn **out)
{
	int r = s->ops->txn_begin(s, flags, out);
	if (r == 0)
		(*out)->store = s;
	return r;
}

int store_get(struct store_txn *t, int fam, uint64_t row, const void *col,
	      size_t col_len, const void **val, size_t *val_len)
{
	return t->store->ops->get(t, fam, row, col, col_len, val, val_len);
}

int store_get_many(struct store_txn *t, int fam, size_t n,
		   const struct store_key *keys, struct store_val *out)
{
	if (t->store->ops->get_many)
		return t->store->ops->get_many(t, fam, n, keys, out);
	/* an engine whose reads are local: one after the other */
	for (size_t i = 0; i < n; i++) {
		out[i].val = NULL;
		out[i].len = 0;
		out[i].r = store_get(t, fam, keys[i].row, keys[i].col,
				     keys[i].col_len, &out[i].val, &out[i].len);
		if (out[i].r < 0 && out[i].r != -ENOENT)
			return out[i].r;
	}
	return 0;
}

int store_put(struct store_txn *t, int fam, uint64_t row, const void *col,
	      size_t col_len, const void *val, size_t val_len)
{
	if (col_len == 0 || col_len > STORE_MAX_COLUMN || val_len > STORE_MAX_VALUE)
		return -EINVAL;
	return t->store->ops->put(t, fam, row, col, col_len, val, val_len);
}

int store_del(struct store_txn *t, int fam, uint64_t row, const void *col,
	      size_t col_len)
{
	return t->store->ops->del(t, fam, row, col, col_len);
}

int store_del_row(struct store_txn *t, int fam, uint64_t row)
{
	return t->store->ops->del_row(t, fam, row);
}

int store_scan(struct store_txn *t, int fam, uint64_t row, const void *start,
	       size_t start_len, store_scan_fn fn, void *arg)
{
	return t->store->ops->scan(t, fam, row, start, start_len, fn, arg);
}

int store_add(struct store_txn *t, int fam, uint64_t row, const void *col,
	      size_t col_len, int64_t delta)
{
	return t->store->ops->add(t, fam, row, col, col_len, delta);
}

int store_commit(struct store_txn *t)
{
	return t->store->ops->commit(t);
}

int store_tracking(struct store *s)
{
	return s->ops->tracking ? s->ops->tracking(s) : STORE_TRACK_NONE;
}

int store_watch(struct store *s, store_change_fn fn, void *arg)
{
	return s->ops->watch ? s->ops->watch(s, fn, arg) : -EOPNOTSUPP;
}

int store_validate(struct store_txn *t)
{
	return t->store->ops->validate ? t->store->ops->validate(t) : 0;
}

int store_hint_empty(struct store_txn *t, int fam, uint64_t row)
{
	return t->store->ops->hint_empty ? t->store->ops->hint_empty(t, fam, row) : 0;
}

int store_get_except(struct store_txn *t, int fam, uint64_t row,
		     const void *col, size_t col_len, size_t skip_off,
		     size_t skip_len, const void **val, size_t *val_len)
{
	if (t->store->ops->get_except)
		return t->store->ops->get_except(t, fam, row, col, col_len, skip_off,
						 skip_len, val, val_len);
	return store_get(t, fam, row, col, col_len, val, val_len);
}

static uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t x = 0;
	for (int i = n; i-- > 0;)
		x = (x << 8) | p[i];
	return x;
}

int store_put_max_time(struct store_txn *t, int fam, uint64_t row,
		       const void *col, size_t col_len, size_t off,
		       const uint8_t time[12])
{
	if (t->store->ops->put_max_time)
		return t->store->ops->put_max_time(t, fam, row, col, col_len, off,
						   time);
	/* an engine that serializes writers: read, compare, write */
	const void *v;
	size_t len;
	int r = store_get(t, fam, row, col, col_len, &v, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || len < off + 12)
		return r;
	const uint8_t *cur = (const uint8_t *)v + off;
	uint64_t ns = le_get(time, 8), cs = le_get(cur, 8);
	if (ns < cs || (ns == cs && le_get(time + 8, 4) <= le_get(cur + 8, 4)))
		return 0;
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, v, len);
	memcpy(copy + off, time, 12);
	r = store_put(t, fam, row, col, col_len, copy, len);
	free(copy);
	return r;
}

int store_add_le32(struct store_txn *t, int fam, uint64_t row,
		   const void *col, size_t col_len, size_t off, int32_t delta)
{
	if (t->store->ops->add_le32)
		return t->store->ops->add_le32(t, fam, row, col, col_len, off,
					       delta);
	/* an engine that serializes writers: read, add, write */
	const void *v;
	size_t len;
	int r = store_get(t, fam, row, col, col_len, &v, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || len < off + 4)
		return r;
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, v, len);
	uint32_t x = (uint32_t)le_get(copy + off, 4) + (uint32_t)delta;
	for (int i = 0; i < 4; i++, x >>= 8)
		copy[off + i] = (uint8_t)x;
	r = store_put(t, fam, row, col, col_len, copy, len);
	free(copy);
	return r;
}

void store_abort(struct store_txn *t)
{
	t->store->ops->abort(t);
}

int store_sync(struct store *s)
{
	return s->ops->sync(s);
}

int store_durability(struct store *s, char *warn, size_t len)
{
	return s->ops->durability ? s->ops->durability(s, warn, len) : 0;
}

int store_space(struct store *s, uint64_t *total, uint64_t *avail)
{
	return s->ops->space ? s->ops->space(s, total, avail) : -EOPNOTSUPP;
}
