/*
 * data.c — picks the data-tier engine by URL scheme and forwards to it;
 * with -o cache_dir, object reads go through the local read cache
 * (data_cache.h) first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "data_cache.h"
#include "data_engine.h"
#include "metrics.h"

/* Engines are added here as they are built. */
static const struct data_ops *const engines[] = {
	&data_store_ops,
	&data_file_ops,
	&data_swift_ops,
	&data_s3_ops,
	&data_ring_ops,
	NULL,
};

struct data {
	const struct data_ops *ops;
	void *priv;
	char *url;
	struct data_cache *cache; /* NULL: none */
};

static const struct data_ops *find_engine(const char *url)
{
	size_t n = strcspn(url, ":");
	for (size_t i = 0; engines[i]; i++)
		if (strlen(engines[i]->scheme) == n &&
		    !strncmp(url, engines[i]->scheme, n))
			return engines[i];
	return NULL;
}

int data_open(const char *url, const struct data_opts *o, struct data **out,
	      char *err, size_t err_len)
{
	const char *at = strchr(url, '@'), *slash = strstr(url, "://");
	if (at && slash && at > slash && !memchr(slash + 3, '/', at - slash - 3)) {
		snprintf(err, err_len, "%s: credentials do not belong in the "
			 "data URL; put them in a secrets file "
			 "(-o data_secrets=FILE) or the environment", url);
		return -EINVAL;
	}
	const struct data_ops *ops = find_engine(url);
	if (!ops) {
		snprintf(err, err_len, "%s: unknown data tier (known: store, "
			 "file:///DIR, swift://, s3://, ring://)", url);
		return -EINVAL;
	}
	struct data *d = calloc(1, sizeof(*d));
	if (!d || !(d->url = strdup(url))) {
		free(d);
		return -ENOMEM;
	}
	d->ops = ops;
	struct data_opts none = {0};
	o = o ? o : &none;
	if (o->cache_dir && !strcmp(ops->scheme, "store")) {
		snprintf(err, err_len, "cache_dir: the store tier keeps objects "
			 "in the metadata store, so a local read cache would "
			 "only copy them; it is for the file, swift, s3 and "
			 "ring tiers");
		free(d->url);
		free(d);
		return -EINVAL;
	}
	int r = ops->open(url, o, &d->priv, err, err_len);
	if (r == 0 && o->cache_dir &&
	    (r = data_cache_open(o->cache_dir, o->cache_size ? o->cache_size
							     : DATA_CACHE_DEFAULT,
				 &d->cache, err, err_len)) < 0)
		ops->close(d->priv);
	if (r < 0) {
		free(d->url);
		free(d);
		return r;
	}
	*out = d;
	return 0;
}

void data_close(struct data *d)
{
	if (!d)
		return;
	d->ops->close(d->priv);
	data_cache_close(d->cache);
	free(d->url);
	free(d);
}

const char *data_url(const struct data *d) { return d->url; }

int data_prepare(struct data *d, char *err, size_t err_len)
{
	return d->ops->prepare ? d->ops->prepare(d->priv, err, err_len) : 0;
}

int data_put(struct data *d, const char *key, const void *buf, size_t len)
{
	return d->ops->put(d->priv, key, buf, len);
}

int data_get(struct data *d, const char *key, uint64_t off, void *buf,
	     size_t len, size_t *got)
{
	struct data_io io = {key, buf, len, off, 0, 0};
	int r = data_get_batch(d, &io, 1);
	*got = io.got;
	return r;
}

int data_del(struct data *d, const char *key)
{
	if (d->cache)
		data_cache_drop(d->cache, key);
	return d->ops->del(d->priv, key);
}

int data_list(struct data *d, const char *prefix, data_list_fn fn, void *arg)
{
	return d->ops->list(d->priv, prefix, fn, arg);
}

static int first_failure(struct data_io *ios, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ios[i].res < 0)
			return ios[i].res;
	return 0;
}

int data_put_batch(struct data *d, struct data_io *ios, size_t n)
{
	if (d->ops->put_batch)
		return d->ops->put_batch(d->priv, ios, n);
	for (size_t i = 0; i < n; i++)
		ios[i].res = d->ops->put(d->priv, ios[i].key, ios[i].buf,
					 ios[i].len);
	return first_failure(ios, n);
}

static int engine_get_batch(struct data *d, struct data_io *ios, size_t n)
{
	int r;
	if (d->ops->get_batch) {
		r = d->ops->get_batch(d->priv, ios, n);
	} else {
		for (size_t i = 0; i < n; i++)
			ios[i].res = d->ops->get(d->priv, ios[i].key, ios[i].off,
						 ios[i].buf, ios[i].len,
						 &ios[i].got);
		r = first_failure(ios, n);
	}
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += ios[i].res == 0 ? ios[i].got : 0;
	metrics_add(MC_DATA_GETS, n);
	metrics_add(MC_DATA_GET_BYTES, bytes);
	return r;
}

/*
 * Whole objects fetched to fill the cache are held in memory until
 * written: at most FILL_BUDGET bytes of them in the process at a time;
 * a miss beyond it is read as asked, uncached.
 */
#define FILL_LEN (DATA_CACHE_OBJECT_MAX + 1) /* +1: tells a larger object */
#define FILL_BUDGET (32u << 20)
static size_t fill_held; /* atomic */

static int fill_reserve(void)
{
	if (__atomic_add_fetch(&fill_held, FILL_LEN, __ATOMIC_RELAXED) <= FILL_BUDGET)
		return 1;
	__atomic_sub_fetch(&fill_held, FILL_LEN, __ATOMIC_RELAXED);
	return 0;
}

static void fill_release(void)
{
	__atomic_sub_fetch(&fill_held, FILL_LEN, __ATOMIC_RELAXED);
}

/* Serve io from obj (whole object, or its first FILL_LEN bytes if big). */
static int serve_from(struct data *d, struct data_io *io, const uint8_t *obj,
		      size_t olen, int whole)
{
	if (!whole && io->off + io->len > olen) /* past what was fetched */
		return engine_get_batch(d, io, 1);
	io->got = io->off >= olen ? 0
		  : olen - io->off < io->len ? (size_t)(olen - io->off) : io->len;
	memcpy(io->buf, obj + (io->off < olen ? io->off : olen), io->got);
	return io->res = 0;
}

/* How long a reader waits for another's fetch of the same object before
 * fetching it itself (the engines' own bounds are shorter). */
#define FILL_WAIT_S 60
#define DEFERRED (SIZE_MAX - 1)

/* The deferred reads (another reader was fetching their object): wait for
 * it, read the cache again, and fetch from the tier what is still
 * missing, as asked. */
static void deferred_gets(struct data *d, struct data_io *ios, size_t n,
			  const size_t *of)
{
	struct data_io *left = calloc(n, sizeof(*left));
	size_t *at = malloc(n * sizeof(*at)), m = 0;
	for (size_t i = 0; i < n; i++) {
		if (of[i] != DEFERRED)
			continue;
		struct data_io *io = &ios[i];
		data_cache_wait(d->cache, io->key, FILL_WAIT_S);
		if (data_cache_get(d->cache, io->key, io->off, io->buf, io->len,
				   &io->got) == 0) {
			io->res = 0;
		} else if (left && at) {
			left[m] = *io;
			at[m++] = i;
		} else {
			engine_get_batch(d, io, 1);
		}
	}
	if (m)
		engine_get_batch(d, left, m);
	for (size_t j = 0; j < m; j++) {
		ios[at[j]].res = left[j].res;
		ios[at[j]].got = left[j].got;
	}
	free(left);
	free(at);
}

/*
 * With a cache: hits are copied from it; each missed object is fetched
 * whole, once per batch however many ranges of it were asked, kept in the
 * cache and the ranges copied from it.  An object another reader is
 * fetching is waited for, after this batch's own fetches (so that no two
 * readers wait on each other).
 */
static int cached_get_batch(struct data *d, struct data_io *ios, size_t n)
{
	struct data_io *fio = calloc(n, sizeof(*fio));
	size_t *of = malloc(n * sizeof(*of)); /* io → its fetch */
	char *whole = calloc(n, 1);           /* fetch of a whole object */
	if (!fio || !of || !whole) {
		free(fio);
		free(of);
		free(whole);
		return engine_get_batch(d, ios, n);
	}
	size_t k = 0;
	int deferred = 0;
	for (size_t i = 0; i < n; i++) {
		struct data_io *io = &ios[i];
		of[i] = SIZE_MAX;
		if (data_cache_get(d->cache, io->key, io->off, io->buf, io->len,
				   &io->got) == 0) {
			io->res = 0;
			continue;
		}
		for (size_t j = 0; j < k; j++)
			if (whole[j] && !strcmp(fio[j].key, io->key)) {
				of[i] = j;
				break;
			}
		if (of[i] != SIZE_MAX)
			continue;
		int claim = data_cache_wants(d->cache, FILL_LEN - 1)
				    ? data_cache_claim(d->cache, io->key) : -1;
		if (claim == 0) {
			of[i] = DEFERRED;
			deferred = 1;
			continue;
		}
		of[i] = k;
		fio[k] = *io; /* as asked, unless a whole fetch can be held */
		if (claim == 1 && fill_reserve()) {
			if ((fio[k].buf = malloc(FILL_LEN))) {
				fio[k].off = 0;
				fio[k].len = FILL_LEN;
				whole[k] = 1;
			} else {
				fio[k].buf = io->buf;
				fill_release();
			}
		}
		if (claim == 1 && !whole[k])
			data_cache_release(d->cache, io->key);
		k++;
	}
	if (k)
		engine_get_batch(d, fio, k);
	for (size_t j = 0; j < k; j++) {
		struct data_io *f = &fio[j];
		if (!whole[j])
			continue;
		if (f->res == 0 && f->got < FILL_LEN)
			data_cache_put(d->cache, f->key, f->buf, f->got);
		else
			data_cache_release(d->cache, f->key);
	}
	for (size_t i = 0; i < n; i++) {
		if (of[i] >= DEFERRED)
			continue;
		struct data_io *f = &fio[of[i]], *io = &ios[i];
		if (f->res < 0) {
			io->res = f->res;
			io->got = 0;
		} else if (whole[of[i]]) {
			serve_from(d, io, f->buf, f->got, f->got < FILL_LEN);
		} else {
			io->res = f->res;
			io->got = f->got;
		}
	}
	for (size_t j = 0; j < k; j++)
		if (whole[j]) {
			free(fio[j].buf);
			fill_release();
		}
	if (deferred)
		deferred_gets(d, ios, n, of);
	free(fio);
	free(of);
	free(whole);
	return first_failure(ios, n);
}

int data_get_batch(struct data *d, struct data_io *ios, size_t n)
{
	return d->cache ? cached_get_batch(d, ios, n)
			: engine_get_batch(d, ios, n);
}
