/*
 * data.c — picks the data-tier engine by URL scheme and forwards to it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "data_engine.h"

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
	int r = ops->open(url, o ? o : &none, &d->priv, err, err_len);
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
	return d->ops->get(d->priv, key, off, buf, len, got);
}

int data_del(struct data *d, const char *key)
{
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

int data_get_batch(struct data *d, struct data_io *ios, size_t n)
{
	if (d->ops->get_batch)
		return d->ops->get_batch(d->priv, ios, n);
	for (size_t i = 0; i < n; i++)
		ios[i].res = d->ops->get(d->priv, ios[i].key, ios[i].off,
					 ios[i].buf, ios[i].len, &ios[i].got);
	return first_failure(ios, n);
}
