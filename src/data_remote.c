/*
 * data_remote.c — URL parsing, connection options, credentials and the
 * object calls the remote data engines share.
 *
 * Credentials:
 * File format: one KEY=VALUE per line; blank lines and lines starting with
 * '#' are skipped; spaces around KEY and VALUE are trimmed; the value is
 * taken as it is otherwise (no quoting).  The file must not be readable by
 * group or others, as ssh requires of its keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "data_remote.h"
#include "http.h"
#include "log.h"

#define URL_MAX 4096

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			 e[-1] == '\r'))
		*--e = 0;
	return s;
}

static int copy_out(const char *v, char *out, size_t out_len, const char *name,
		    char *err, size_t err_len)
{
	if (strlen(v) >= out_len) {
		snprintf(err, err_len, "%s: value longer than %zu bytes", name,
			 out_len - 1);
		return -EINVAL;
	}
	strcpy(out, v);
	return 1;
}

int data_secret(const char *file, const char *name, char *out, size_t out_len,
		char *err, size_t err_len)
{
	if (!file) {
		const char *v = getenv(name);
		if (!v || !*v)
			return 0;
		return copy_out(v, out, out_len, name, err, err_len);
	}
	FILE *f = fopen(file, "re");
	if (!f) {
		int e = errno;
		snprintf(err, err_len, "secrets file %s: %s", file, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		snprintf(err, err_len, "secrets file %s is readable by others "
			 "(mode %03o): chmod 600 it", file, st.st_mode & 0777);
		fclose(f);
		return -EACCES;
	}
	char line[4096];
	int r = 0;
	unsigned no = 0;
	size_t nl = strlen(name);
	while (fgets(line, sizeof(line), f)) {
		no++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, err_len, "secrets file %s, line %u: longer "
				 "than %zu bytes", file, no, sizeof(line) - 2);
			r = -EINVAL;
			break;
		}
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, err_len, "secrets file %s, line %u: not "
				 "KEY=VALUE", file, no);
			r = -EINVAL;
			break;
		}
		*eq = 0;
		char *k = trim(s);
		if (strlen(k) == nl && !memcmp(k, name, nl)) {
			r = copy_out(trim(eq + 1), out, out_len, name, err,
				     err_len);
			if (r == 1 && !*out)
				r = 0;
		}
	}
	fclose(f);
	return r;
}

int data_credential(const struct data_opts *o, const char *name,
		    const char *alt, const char *dflt, char *out,
		    size_t out_len, const char *shown, char *err,
		    size_t err_len)
{
	int r = data_secret(o->secrets_file, name, out, out_len, err, err_len);
	if (r == 0 && alt && !o->secrets_file)
		r = data_secret(NULL, alt, out, out_len, err, err_len);
	if (r < 0)
		return r;
	if (r == 0 && dflt) {
		snprintf(out, out_len, "%s", dflt);
		return 0;
	}
	if (r == 0) {
		char nor[80] = "";
		if (alt)
			snprintf(nor, sizeof(nor), " (nor %s)", alt);
		if (o->secrets_file)
			snprintf(err, err_len, "%s: no %s in %s", shown, name,
				 o->secrets_file);
		else
			snprintf(err, err_len, "%s: no %s in the environment%s "
				 "(or give a secrets file: -o data_secrets=FILE)",
				 shown, name, nor);
		return -EINVAL;
	}
	return 0;
}

int rurl_parse(const char *url, const char *const *known, struct rurl *u,
	       char *err, size_t err_len)
{
	memset(u, 0, sizeof(*u));
	const char *p = strstr(url, "://");
	if (!p)
		goto bad;
	p += 3;
	const char *hend;
	if (*p == '[') {
		hend = strchr(p, ']');
		if (!hend)
			goto bad;
		hend++;
	} else {
		hend = p + strcspn(p, ":/?");
	}
	if (hend == p || (size_t)(hend - p) >= sizeof(u->host))
		goto bad;
	memcpy(u->host, p, hend - p);
	p = hend;
	if (*p == ':') {
		char *e;
		unsigned long port = strtoul(p + 1, &e, 10);
		if (e == p + 1 || port == 0 || port > 65535)
			goto bad;
		u->port = (unsigned)port;
		p = e;
	}
	if (*p != '/')
		goto bad;
	p++;
	size_t nl = strcspn(p, "?");
	if (!nl || nl >= sizeof(u->name) || memchr(p, '/', nl))
		goto bad;
	memcpy(u->name, p, nl);
	p += nl;
	if (*p == '?')
		p++;
	while (*p) {
		size_t kl = strcspn(p, "=&"), vl = 0;
		const char *v = p + kl;
		if (*v == '=')
			v++, vl = strcspn(v, "&");
		if (!kl || kl >= sizeof(u->key[0]) || vl >= sizeof(u->val[0]) ||
		    u->nopts == RURL_MAX_OPTS) {
			snprintf(err, err_len, "%s: bad option near '%.20s'", url, p);
			return -EINVAL;
		}
		memcpy(u->key[u->nopts], p, kl);
		memcpy(u->val[u->nopts], v, vl);
		int ok = 0;
		for (const char *const *k = known; k && *k; k++)
			ok |= !strcmp(*k, u->key[u->nopts]);
		if (!ok) {
			char list[256] = "";
			for (const char *const *k = known; k && *k; k++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list),
					 "%s%s", list[0] ? ", " : "", *k);
			snprintf(err, err_len, "%s: unknown option '%s' (known: %s)",
				 url, u->key[u->nopts], list);
			return -EINVAL;
		}
		u->nopts++;
		p = v + vl;
		if (*p == '&')
			p++;
	}
	return 0;
bad:
	snprintf(err, err_len, "%s: expected SCHEME://HOST[:PORT]/NAME[?OPTION=VALUE&...]",
		 url);
	return -EINVAL;
}

const char *rurl_opt(const struct rurl *u, const char *key, const char *dflt)
{
	for (unsigned i = u->nopts; i-- > 0;)
		if (!strcmp(u->key[i], key))
			return u->val[i];
	return dflt;
}

int rurl_uint(const struct rurl *u, const char *key, unsigned dflt,
	      unsigned lo, unsigned hi, unsigned *out, char *err,
	      size_t err_len)
{
	const char *v = rurl_opt(u, key, NULL);
	if (!v) {
		*out = dflt;
		return 0;
	}
	char *e;
	unsigned long n = strtoul(v, &e, 10);
	if (!*v || *e || n < lo || n > hi) {
		snprintf(err, err_len, "option %s=%s: expected a number from %u "
			 "to %u", key, v, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}

int rkey_ok(const char *key)
{
	size_t n = strlen(key);
	if (!n || n > DATA_MAX_KEY || strstr(key, "//"))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			return 0;
	return 1;
}

int rurl_http_opts(const struct rurl *u, const struct data_opts *o,
		   const char *shown, struct http_opts *ho, unsigned *tls,
		   char *err, size_t err_len)
{
	unsigned timeout, conns;
	int r;
	if ((r = rurl_uint(u, "timeout", 30, 1, 3600, &timeout, err, err_len)) ||
	    (r = rurl_uint(u, "conns", o->max_conns ? o->max_conns : 16, 1,
			   1024, &conns, err, err_len)) ||
	    (r = rurl_uint(u, "tls", 0, 0, 1, tls, err, err_len)))
		return r;
	ho->timeout_ms = timeout * 1000;
	ho->max_conns = conns;
	ho->cafile = rurl_opt(u, "cafile", NULL);
	if (ho->cafile && !*tls) {
		snprintf(err, err_len, "%s: cafile= is for tls=1 (the requests "
			 "would be plain HTTP)", shown);
		return -EINVAL;
	}
	if (ho->cafile && access(ho->cafile, R_OK) < 0) {
		int e = errno;
		snprintf(err, err_len, "%s: cafile=%s: %s", shown, ho->cafile,
			 strerror(e));
		return -e;
	}
	return 0;
}

/* ---- the object calls ---- */

/* One request's storage, alive while the batch runs. */
struct rop {
	char url[URL_MAX];
	char h1[80];
	const char *hdrs[4];
};

/* The result of q (refined by the engine), logged unless it is quiet. */
static int result(const struct rengine *e, struct http_req *q, int quiet)
{
	int r = e->result ? e->result(e->arg, q) : q->res;
	if (r < 0 && !(quiet && (r == -ENOENT || r == -ERANGE)))
		log_error("%s: %s", e->shown, q->err);
	return r;
}

/* Set up the request of a put of io: 0, or -errno for io. */
static int put_req(const struct rengine *e, struct data_io *io,
		   struct rop *op, struct http_req *q)
{
	int r = e->url(e->arg, io->key, op->url, sizeof(op->url));
	if (!r)
		r = e->digest(io->buf, io->len, op->h1, sizeof(op->h1));
	if (r)
		return r;
	int h = 0;
	op->hdrs[h++] = op->h1;
	op->hdrs[h++] = "Content-Type: application/octet-stream";
	if (e->put_hdr)
		op->hdrs[h++] = e->put_hdr;
	*q = (struct http_req){.method = "PUT", .url = op->url,
			       .headers = op->hdrs, .body = io->buf,
			       .body_len = io->len};
	return 0;
}

/* … of a get of io (a zero-length one is a HEAD: does it exist?) */
static int get_req(const struct rengine *e, struct data_io *io,
		   struct rop *op, struct http_req *q)
{
	io->got = 0;
	int r = e->url(e->arg, io->key, op->url, sizeof(op->url));
	if (r)
		return r;
	int h = 0;
	if (io->len) {
		snprintf(op->h1, sizeof(op->h1), "Range: bytes=%llu-%llu",
			 (unsigned long long)io->off,
			 (unsigned long long)(io->off + io->len - 1));
		op->hdrs[h++] = op->h1;
	}
	if (e->get_hdr)
		op->hdrs[h++] = e->get_hdr;
	*q = (struct http_req){.method = io->len ? "GET" : "HEAD",
			       .url = op->url, .headers = op->hdrs,
			       .buf = io->buf, .buf_len = io->len};
	return 0;
}

/* The result of a get of io, its byte count in io->got. */
static int get_done(const struct rengine *e, struct data_io *io,
		    struct http_req *q)
{
	int r = result(e, q, 1);
	if (r == -ERANGE)
		return 0; /* offset at or past the end */
	if (r == 0 && q->status == 200 && io->off) {
		log_error("%s: %s ignored the Range header", e->shown, q->url);
		return -EIO;
	}
	if (r == 0)
		io->got = q->got;
	return r;
}

/* Every io of the batch as one http_run; ios whose request could not be
 * made (a refused key) are left out, with their res. */
static int batch(const struct rengine *e, struct data_io *ios, size_t n,
		 int put)
{
	struct rop *ops = calloc(n, sizeof(*ops));
	struct http_req *rq = calloc(n, sizeof(*rq));
	size_t m = 0, *map = calloc(n, sizeof(*map));
	int ret = 0;
	if (!ops || !rq || !map) {
		for (size_t i = 0; i < n; i++)
			ios[i].res = -ENOMEM;
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ios[i].res = (put ? put_req : get_req)(e, &ios[i], &ops[m],
							 &rq[m]);
		if (ios[i].res)
			continue;
		if (e->sign)
			e->sign(e->arg, &rq[m]);
		map[m++] = i;
	}
	http_run(e->h, rq, m);
	for (size_t j = 0; j < m; j++) {
		struct data_io *io = &ios[map[j]];
		io->res = put ? result(e, &rq[j], 0) : get_done(e, io, &rq[j]);
		http_req_clear(&rq[j]);
	}
	for (size_t i = 0; i < n && !ret; i++)
		ret = ios[i].res < 0 ? ios[i].res : 0;
out:
	free(map);
	free(ops);
	free(rq);
	return ret;
}

int rengine_put_batch(void *priv, struct data_io *ios, size_t n)
{
	return batch(priv, ios, n, 1);
}

int rengine_get_batch(void *priv, struct data_io *ios, size_t n)
{
	return batch(priv, ios, n, 0);
}

int rengine_put(void *priv, const char *key, const void *buf, size_t len)
{
	struct data_io io = {.key = key, .buf = (void *)buf, .len = len};
	return batch(priv, &io, 1, 1);
}

int rengine_get(void *priv, const char *key, uint64_t off, void *buf,
		size_t len, size_t *got)
{
	struct data_io io = {.key = key, .buf = buf, .len = len, .off = off};
	int r = batch(priv, &io, 1, 0);
	*got = io.got;
	return r;
}

int rengine_del(void *priv, const char *key)
{
	const struct rengine *e = priv;
	char url[URL_MAX];
	int r = e->url(e->arg, key, url, sizeof(url));
	if (r < 0)
		return r;
	const char *hdrs[] = {e->get_hdr, NULL};
	struct http_req q = {.method = "DELETE", .url = url, .headers = hdrs};
	if (e->sign)
		e->sign(e->arg, &q);
	http_request(e->h, &q);
	r = result(e, &q, 1);
	http_req_clear(&q);
	return r == -ENOENT ? 0 : r;
}
