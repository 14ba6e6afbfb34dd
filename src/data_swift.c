/*
 * data_swift.c — the data tier in OpenStack Swift, through its proxy.
 *
 *   swift://HOST:PORT/CONTAINER[?OPTION=VALUE&...]
 *
 * Options: auth=tempauth (default; TempAuth / v1: GET auth_url with
 * X-Auth-User and X-Auth-Key gives X-Storage-Url and X-Auth-Token) or
 * auth=keystone (Keystone v3 password auth: POST auth_url/auth/tokens, the
 * token in X-Subject-Token, the storage URL from the catalog's object-store
 * endpoint); auth_url=URL (default http://HOST:PORT/auth/v1.0 for
 * tempauth, http://HOST:5000/v3 for keystone); interface=public|internal|
 * admin and region=NAME pick the catalog endpoint; tls=1 speaks https;
 * timeout=SECONDS bounds each request, retries included (default 30);
 * conns=N bounds parallel transfers (default: data_opts.max_conns or 16).
 *
 * Credentials (data_remote.h: the secrets file, else the environment):
 * CASSAFS_DATA_USER and CASSAFS_DATA_KEY (tempauth: "account:user" and its
 * key; keystone: user name and password), for keystone also
 * CASSAFS_DATA_PROJECT, CASSAFS_DATA_USER_DOMAIN and
 * CASSAFS_DATA_PROJECT_DOMAIN (both "Default" if unset).
 *
 * The token is fetched at open (so wrong credentials fail there with
 * -EACCES) and again when the proxy answers 401 (expired); one object is
 * one Swift object named by its key; a put sends the body's MD5 as ETag so
 * the object server checks what it stores (a mismatch is 422: -EBADMSG).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "data.h"
#include "data_engine.h"
#include "data_remote.h"
#include "http.h"
#include "log.h"

#define URL_MAX 4096
#define LIST_LIMIT 10000

struct swift {
	struct http *h;	     /* object requests */
	struct http *auth_h; /* token requests (never waits for a data slot) */
	int keystone;
	char auth_url[1024];
	char interface[16], region[64];
	char user[256], key[512], project[256], udomain[256], pdomain[256];
	char container[3 * 256]; /* escaped */
	char shown[1100];	 /* swift://HOST:PORT/CONTAINER, for messages */
	char proxy[320];	 /* http(s)://HOST:PORT */
	pthread_mutex_t mu;	 /* guards token and storage_url */
	char token[8192];	 /* "X-Auth-Token: …", as http.h's hook gives it */
	char storage_url[1024];
};

static const char *const swift_options[] = {
	"auth", "auth_url", "interface", "region", "tls", "timeout", "conns",
	NULL,
};

/* ---- authentication (s->mu held) ---- */

static int auth_tempauth(struct swift *s, char *err, size_t err_len)
{
	char hu[600], hk[600];
	snprintf(hu, sizeof(hu), "X-Auth-User: %s", s->user);
	snprintf(hk, sizeof(hk), "X-Auth-Key: %s", s->key);
	const char *hdrs[] = {hu, hk, NULL};
	struct http_req r = {.method = "GET", .url = s->auth_url, .headers = hdrs};
	int rc = http_request(s->auth_h, &r);
	char tok[8000], surl[sizeof(s->storage_url)];
	if (rc == -EACCES) {
		snprintf(err, err_len, "%s: TempAuth at %s refused user '%s' (HTTP "
			 "%ld): check CASSAFS_DATA_USER / CASSAFS_DATA_KEY",
			 s->shown, s->auth_url, s->user, r.status);
	} else if (rc < 0) {
		snprintf(err, err_len, "%s: authentication failed: %s", s->shown,
			 r.err);
		if (rc == -ENOENT)
			rc = -EINVAL; /* a wrong auth URL */
	} else if (!http_header(&r, "X-Auth-Token", tok, sizeof(tok)) ||
		   !http_header(&r, "X-Storage-Url", surl, sizeof(surl))) {
		snprintf(err, err_len, "%s: %s answered without X-Auth-Token and "
			 "X-Storage-Url (not a Swift TempAuth endpoint?)",
			 s->shown, s->auth_url);
		rc = -EIO;
	} else {
		snprintf(s->token, sizeof(s->token), "X-Auth-Token: %s", tok);
		snprintf(s->storage_url, sizeof(s->storage_url), "%s", surl);
	}
	http_req_clear(&r);
	return rc;
}

/* The object-store endpoint of a Keystone v3 catalog, else NULL. */
static const char *catalog_url(json_t *token, const char *iface,
			       const char *region)
{
	json_t *cat = json_object_get(token, "catalog"), *svc;
	size_t i, j;
	json_array_foreach(cat, i, svc) {
		if (!json_is_string(json_object_get(svc, "type")) ||
		    strcmp(json_string_value(json_object_get(svc, "type")),
			   "object-store"))
			continue;
		json_t *ep;
		json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
			const char *in = json_string_value(
				json_object_get(ep, "interface"));
			const char *rg = json_string_value(
				json_object_get(ep, "region_id"));
			if (!rg)
				rg = json_string_value(json_object_get(ep, "region"));
			if (in && !strcmp(in, iface) &&
			    (!region[0] || (rg && !strcmp(rg, region))))
				return json_string_value(json_object_get(ep, "url"));
		}
	}
	return NULL;
}

static int auth_keystone(struct swift *s, char *err, size_t err_len)
{
	json_t *req = json_pack(
		"{s:{s:{s:[s],s:{s:{s:s,s:{s:s},s:s}}},s:{s:{s:s,s:{s:s}}}}}",
		"auth", "identity", "methods", "password", "password", "user",
		"name", s->user, "domain", "name", s->udomain, "password", s->key,
		"scope", "project", "name", s->project, "domain", "name",
		s->pdomain);
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body)
		return -ENOMEM;
	char url[1100];
	snprintf(url, sizeof(url), "%s/auth/tokens", s->auth_url);
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	struct http_req r = {.method = "POST", .url = url, .headers = hdrs,
			     .body = body, .body_len = strlen(body)};
	int rc = http_request(s->auth_h, &r);
	free(body);
	char tok[8000];
	json_t *resp = NULL;
	if (rc == -EACCES) {
		snprintf(err, err_len, "%s: Keystone at %s refused user '%s' of "
			 "project '%s' (HTTP %ld): check the CASSAFS_DATA_* "
			 "credentials", s->shown, s->auth_url, s->user,
			 s->project, r.status);
		goto out;
	}
	if (rc < 0) {
		snprintf(err, err_len, "%s: Keystone authentication failed: %s",
			 s->shown, r.err);
		if (rc == -ENOENT)
			rc = -EINVAL;
		goto out;
	}
	json_error_t je;
	resp = r.resp ? json_loads(r.resp, 0, &je) : NULL;
	json_t *token = json_object_get(resp, "token");
	if (!http_header(&r, "X-Subject-Token", tok, sizeof(tok)) || !token) {
		snprintf(err, err_len, "%s: %s answered without a token (not a "
			 "Keystone v3 endpoint?)", s->shown, url);
		rc = -EIO;
		goto out;
	}
	const char *surl = catalog_url(token, s->interface, s->region);
	const char *pid = json_string_value(
		json_object_get(json_object_get(token, "project"), "id"));
	if (!surl && !pid) {
		snprintf(err, err_len, "%s: the Keystone token has no object-store "
			 "endpoint and no project", s->shown);
		rc = -EIO;
		goto out;
	}
	snprintf(s->token, sizeof(s->token), "X-Auth-Token: %s", tok);
	if (surl)
		snprintf(s->storage_url, sizeof(s->storage_url), "%s", surl);
	else /* no catalog entry: the proxy given, keystoneauth's AUTH_ prefix */
		snprintf(s->storage_url, sizeof(s->storage_url), "%s/v1/AUTH_%s",
			 s->proxy, pid);
out:
	json_decref(resp);
	http_req_clear(&r);
	return rc;
}

static int authenticate(struct swift *s, char *err, size_t err_len)
{
	return s->keystone ? auth_keystone(s, err, err_len) :
			     auth_tempauth(s, err, err_len);
}

/* http.h's auth hook: the current token, refreshed if it was refused */
static int auth_hook(void *arg, const char *refused, char *line,
		     size_t line_len, char *err, size_t err_len)
{
	struct swift *s = arg;
	int r = 0;
	pthread_mutex_lock(&s->mu);
	if (refused && !strcmp(refused, s->token))
		r = authenticate(s, err, err_len);
	if (r == 0)
		snprintf(line, line_len, "%s", s->token);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* ---- open / close / prepare ---- */

static void swift_close(void *priv)
{
	struct swift *s = priv;
	if (!s)
		return;
	http_free(s->h);
	http_free(s->auth_h);
	pthread_mutex_destroy(&s->mu);
	explicit_bzero(s->key, sizeof(s->key));
	free(s);
}

static int secret(const struct data_opts *o, const char *name, char *out,
		  size_t len, const char *dflt, const char *shown, char *err,
		  size_t err_len)
{
	int r = data_secret(o->secrets_file, name, out, len, err, err_len);
	if (r < 0)
		return r;
	if (r == 0) {
		if (!dflt) {
			snprintf(err, err_len, "%s: no %s in %s", shown, name,
				 o->secrets_file ? o->secrets_file :
				 "the environment (or give a secrets file: "
				 "-o data_secrets=FILE)");
			return -EINVAL;
		}
		snprintf(out, len, "%s", dflt);
	}
	return 0;
}

static int swift_open(const char *url, const struct data_opts *o, void **priv,
		      char *err, size_t err_len)
{
	struct rurl u;
	int r = rurl_parse(url, swift_options, &u, err, err_len);
	if (r < 0)
		return r;
	struct swift *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	unsigned timeout, conns, tls;
	const char *auth = rurl_opt(&u, "auth", "tempauth");
	char hostport[300];
	snprintf(hostport, sizeof(hostport), "%s:%u", u.host, u.port ? u.port : 8080);
	snprintf(s->shown, sizeof(s->shown), "swift://%s/%s", hostport, u.name);
	if ((r = rurl_uint(&u, "timeout", 30, 1, 3600, &timeout, err, err_len)) ||
	    (r = rurl_uint(&u, "conns", o->max_conns ? o->max_conns : 16, 1,
			   1024, &conns, err, err_len)) ||
	    (r = rurl_uint(&u, "tls", 0, 0, 1, &tls, err, err_len)))
		goto fail;
	if (!strcmp(auth, "keystone")) {
		s->keystone = 1;
	} else if (strcmp(auth, "tempauth")) {
		snprintf(err, err_len, "%s: auth=%s: expected tempauth or keystone",
			 s->shown, auth);
		r = -EINVAL;
		goto fail;
	}
	const char *scheme = tls ? "https" : "http";
	snprintf(s->proxy, sizeof(s->proxy), "%s://%s", scheme, hostport);
	const char *au = rurl_opt(&u, "auth_url", NULL);
	if (au)
		snprintf(s->auth_url, sizeof(s->auth_url), "%s", au);
	else if (s->keystone)
		snprintf(s->auth_url, sizeof(s->auth_url), "%s://%s:5000/v3",
			 scheme, u.host);
	else
		snprintf(s->auth_url, sizeof(s->auth_url), "%s://%s/auth/v1.0",
			 scheme, hostport);
	snprintf(s->interface, sizeof(s->interface), "%s",
		 rurl_opt(&u, "interface", "public"));
	snprintf(s->region, sizeof(s->region), "%s", rurl_opt(&u, "region", ""));
	if (http_escape(u.name, 0, s->container, sizeof(s->container)) < 0) {
		r = -EINVAL;
		goto fail;
	}
	if ((r = secret(o, "CASSAFS_DATA_USER", s->user, sizeof(s->user), NULL,
			s->shown, err, err_len)) ||
	    (r = secret(o, "CASSAFS_DATA_KEY", s->key, sizeof(s->key), NULL,
			s->shown, err, err_len)))
		goto fail;
	if (s->keystone &&
	    ((r = secret(o, "CASSAFS_DATA_PROJECT", s->project,
			 sizeof(s->project), NULL, s->shown, err, err_len)) ||
	     (r = secret(o, "CASSAFS_DATA_USER_DOMAIN", s->udomain,
			 sizeof(s->udomain), "Default", s->shown, err, err_len)) ||
	     (r = secret(o, "CASSAFS_DATA_PROJECT_DOMAIN", s->pdomain,
			 sizeof(s->pdomain), "Default", s->shown, err, err_len))))
		goto fail;
	struct http_opts ho = {.max_conns = conns, .timeout_ms = timeout * 1000,
			       .auth = auth_hook, .auth_arg = s};
	struct http_opts ao = {.max_conns = 2, .timeout_ms = timeout * 1000};
	s->h = http_new(&ho);
	s->auth_h = http_new(&ao);
	if (!s->h || !s->auth_h) {
		r = -ENOMEM;
		goto fail;
	}
	pthread_mutex_lock(&s->mu);
	r = authenticate(s, err, err_len);
	pthread_mutex_unlock(&s->mu);
	if (r < 0)
		goto fail;
	*priv = s;
	return 0;
fail:
	swift_close(s);
	return r;
}

/* storage_url/container[/escaped key] into out */
static int make_url(struct swift *s, const char *key, char *out, size_t len)
{
	char ek[3 * DATA_MAX_KEY + 1];
	if (key && (!rkey_ok(key) || http_escape(key, 1, ek, sizeof(ek)) < 0))
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	int n = snprintf(out, len, "%s/%s%s%s", s->storage_url, s->container,
			 key ? "/" : "", key ? ek : "");
	pthread_mutex_unlock(&s->mu);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static int swift_prepare(void *priv, char *err, size_t err_len)
{
	struct swift *s = priv;
	char url[URL_MAX];
	int r = make_url(s, NULL, url, sizeof(url));
	if (r < 0)
		return r;
	struct http_req q = {.method = "PUT", .url = url};
	r = http_request(s->h, &q);
	if (r < 0)
		snprintf(err, err_len, "%s: cannot create the container: %s",
			 s->shown, q.err);
	http_req_clear(&q);
	return r;
}

/* ---- objects ---- */

/* One request's storage, alive while the batch runs. */
struct op {
	char url[URL_MAX];
	char h1[80];
	const char *hdrs[3];
};

static int md5_hex(const void *buf, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!EVP_Digest(buf, len, md, &n, EVP_md5(), NULL))
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	return 0;
}

static int swift_put_batch(void *priv, struct data_io *ios, size_t n)
{
	struct swift *s = priv;
	struct op *ops = calloc(n, sizeof(*ops));
	struct http_req *rq = calloc(n, sizeof(*rq));
	size_t m = 0, *map = calloc(n, sizeof(*map));
	int ret = 0;
	if (!ops || !rq || !map) {
		ret = -ENOMEM;
		for (size_t i = 0; i < n; i++)
			ios[i].res = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char md5[33];
		struct op *op = &ops[m];
		ios[i].res = make_url(s, ios[i].key, op->url, sizeof(op->url));
		if (!ios[i].res)
			ios[i].res = md5_hex(ios[i].buf, ios[i].len, md5);
		if (ios[i].res)
			continue;
		snprintf(op->h1, sizeof(op->h1), "ETag: %s", md5);
		op->hdrs[0] = op->h1;
		op->hdrs[1] = "Content-Type: application/octet-stream";
		rq[m] = (struct http_req){.method = "PUT", .url = op->url,
					  .headers = op->hdrs,
					  .body = ios[i].buf,
					  .body_len = ios[i].len};
		map[m++] = i;
	}
	http_run(s->h, rq, m);
	for (size_t j = 0; j < m; j++) {
		ios[map[j]].res = rq[j].res;
		if (rq[j].res < 0)
			log_error("%s: %s", s->shown, rq[j].err);
		http_req_clear(&rq[j]);
	}
	for (size_t i = 0; i < n; i++)
		if (ios[i].res < 0 && !ret)
			ret = ios[i].res;
out:
	free(map);
	free(ops);
	free(rq);
	return ret;
}

static int swift_get_batch(void *priv, struct data_io *ios, size_t n)
{
	struct swift *s = priv;
	struct op *ops = calloc(n, sizeof(*ops));
	struct http_req *rq = calloc(n, sizeof(*rq));
	int ret = 0;
	if (!ops || !rq) {
		for (size_t i = 0; i < n; i++)
			ios[i].res = -ENOMEM;
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct op *op = &ops[i];
		ios[i].got = 0;
		ios[i].res = make_url(s, ios[i].key, op->url, sizeof(op->url));
		if (ios[i].len) {
			snprintf(op->h1, sizeof(op->h1), "Range: bytes=%llu-%llu",
				 (unsigned long long)ios[i].off,
				 (unsigned long long)(ios[i].off + ios[i].len - 1));
			op->hdrs[0] = op->h1;
		}
		/* a zero-length read still says whether the object exists */
		rq[i] = (struct http_req){
			.method = ios[i].len ? "GET" : "HEAD", .url = op->url,
			.headers = op->hdrs, .buf = ios[i].buf,
			.buf_len = ios[i].len};
		if (ios[i].res)
			rq[i].url = NULL;
	}
	/* requests whose URL was refused are left out of the batch */
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (rq[i].url)
			rq[m++] = rq[i];
	http_run(s->h, rq, m);
	for (size_t i = 0, j = 0; i < n; i++) {
		if (ios[i].res)
			continue;
		struct http_req *q = &rq[j++];
		int res = q->res;
		if (res == -ERANGE) {
			res = 0; /* offset at or past the end */
		} else if (res == 0 && q->status == 200 && ios[i].off) {
			log_error("%s: %s ignored the Range header",
				s->shown, q->url);
			res = -EIO;
		} else if (res == 0) {
			ios[i].got = q->got;
		} else if (res != -ENOENT) {
			log_error("%s: %s", s->shown, q->err);
		}
		ios[i].res = res;
		http_req_clear(q);
	}
	for (size_t i = 0; i < n; i++)
		if (ios[i].res < 0 && !ret)
			ret = ios[i].res;
out:
	free(ops);
	free(rq);
	return ret;
}

static int swift_put(void *priv, const char *key, const void *buf, size_t len)
{
	struct data_io io = {.key = key, .buf = (void *)buf, .len = len};
	return swift_put_batch(priv, &io, 1);
}

static int swift_get(void *priv, const char *key, uint64_t off, void *buf,
		     size_t len, size_t *got)
{
	struct data_io io = {.key = key, .buf = buf, .len = len, .off = off};
	int r = swift_get_batch(priv, &io, 1);
	*got = io.got;
	return r;
}

static int swift_del(void *priv, const char *key)
{
	struct swift *s = priv;
	char url[URL_MAX];
	int r = make_url(s, key, url, sizeof(url));
	if (r < 0)
		return r;
	struct http_req q = {.method = "DELETE", .url = url};
	r = http_request(s->h, &q);
	if (r == -ENOENT)
		r = 0;
	else if (r < 0)
		log_error("%s: %s", s->shown, q.err);
	http_req_clear(&q);
	return r;
}

/* Paged JSON listing: ?format=json&prefix=P&marker=LAST&limit=N */
static int swift_list(void *priv, const char *prefix, data_list_fn fn,
		      void *arg)
{
	struct swift *s = priv;
	char base[URL_MAX], url[URL_MAX + 3 * 2 * DATA_MAX_KEY + 64];
	char ep[3 * DATA_MAX_KEY + 1], em[3 * 1024 + 1] = "";
	if (make_url(s, NULL, base, sizeof(base)) < 0 ||
	    http_escape(prefix ? prefix : "", 0, ep, sizeof(ep)) < 0)
		return -EINVAL;
	for (;;) {
		snprintf(url, sizeof(url), "%s?format=json&limit=%d&prefix=%s%s%s",
			 base, LIST_LIMIT, ep, em[0] ? "&marker=" : "", em);
		struct http_req q = {.method = "GET", .url = url};
		int r = http_request(s->h, &q);
		if (r < 0) {
			log_error("%s: listing: %s", s->shown, q.err);
			http_req_clear(&q);
			return r;
		}
		json_error_t je;
		json_t *a = q.status == 204 ? json_array() :
			    json_loads(q.resp ? q.resp : "", 0, &je);
		http_req_clear(&q);
		if (!json_is_array(a)) {
			log_error("%s: listing is not a JSON array",
				s->shown);
			json_decref(a);
			return -EIO;
		}
		size_t i, n = json_array_size(a);
		json_t *e;
		const char *last = NULL;
		json_array_foreach(a, i, e) {
			const char *name = json_string_value(json_object_get(e, "name"));
			json_t *b = json_object_get(e, "bytes");
			if (!name || !json_is_integer(b))
				continue;
			last = name;
			r = fn(arg, name, (uint64_t)json_integer_value(b));
			if (r) {
				json_decref(a);
				return r;
			}
		}
		if (n < LIST_LIMIT || !last) {
			json_decref(a);
			return 0;
		}
		r = http_escape(last, 0, em, sizeof(em));
		json_decref(a);
		if (r < 0)
			return -EIO;
	}
}

const struct data_ops data_swift_ops = {
	.scheme = "swift",
	.open = swift_open,
	.close = swift_close,
	.prepare = swift_prepare,
	.put = swift_put,
	.get = swift_get,
	.del = swift_del,
	.list = swift_list,
	.put_batch = swift_put_batch,
	.get_batch = swift_get_batch,
};
