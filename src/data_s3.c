/*
 * data_s3.c — the data tier in an S3 bucket, requests signed with AWS
 * Signature Version 4 (libcurl's CURLOPT_AWS_SIGV4).
 *
 *   s3://HOST:PORT/BUCKET[?OPTION=VALUE&...]
 *
 * Options: style=path (default: http://HOST:PORT/BUCKET/KEY) or
 * style=virtual (virtual-hosted: http://BUCKET.HOST:PORT/KEY; the bucket
 * name must then be a valid host label); region=NAME (default us-east-1;
 * part of the signature); tls=1 speaks https; timeout=SECONDS bounds each
 * request, retries included (default 30); conns=N bounds parallel
 * transfers (default: data_opts.max_conns or 16).
 *
 * Credentials (data_remote.h: the secrets file, else the environment):
 * CASSAFS_DATA_USER = the access key id, CASSAFS_DATA_KEY = the secret key;
 * without a secrets file AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are
 * taken too.  open checks them with a signed ListBuckets (GET /), so wrong
 * ones fail there with -EACCES and S3's error code.
 *
 * Bodies are not hashed into the signature (x-amz-content-sha256:
 * UNSIGNED-PAYLOAD); a put sends Content-MD5, which the server checks
 * (a mismatch is BadDigest: -EBADMSG).  Listing is ListObjectsV2, paged by
 * continuation token, parsed with libxml2.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "data.h"
#include "data_engine.h"
#include "data_remote.h"
#include "http.h"
#include "log.h"

#define URL_MAX 4096
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3 {
	struct http *h;
	char root[600];	  /* scheme://HOST:PORT (ListBuckets) */
	char base[1700];  /* the bucket: root/BUCKET or scheme://BUCKET.HOST:PORT */
	char sigv4[100];  /* "aws:amz:REGION:s3" */
	char access[256], secret[256];
	char shown[700];  /* s3://HOST:PORT/BUCKET, for messages */
};

static const char *const s3_options[] = {
	"style", "region", "tls", "timeout", "conns", NULL,
};

/* ---- S3's XML ---- */

static xmlNode *child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    !strcmp((const char *)c->name, name))
			return c;
	return NULL;
}

/* The text of n's child name into out ("" if absent). */
static const char *child_text(xmlNode *n, const char *name, char *out,
			      size_t len)
{
	out[0] = 0;
	xmlNode *c = child(n, name);
	xmlChar *t = c ? xmlNodeGetContent(c) : NULL;
	if (t) {
		snprintf(out, len, "%s", (const char *)t);
		xmlFree(t);
	}
	return out;
}

static xmlDoc *parse(const struct http_req *q)
{
	if (!q->resp || !q->resp_len)
		return NULL;
	return xmlReadMemory(q->resp, (int)q->resp_len, NULL, NULL,
			     XML_PARSE_NONET | XML_PARSE_NOBLANKS |
			     XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* S3's error code ("NoSuchBucket", "SignatureDoesNotMatch") into code. */
static const char *error_code(const struct http_req *q, char *code, size_t len)
{
	code[0] = 0;
	xmlDoc *doc = parse(q);
	if (doc) {
		child_text(xmlDocGetRootElement(doc), "Code", code, len);
		xmlFreeDoc(doc);
	}
	return code;
}

/* Refine http.h's result with S3's error code; log what went wrong. */
static int s3_result(struct s3 *s, struct http_req *q)
{
	char code[64];
	int r = q->res;
	if (r == 0 || !q->resp)
		goto log;
	error_code(q, code, sizeof(code));
	if (!strcmp(code, "BadDigest") || !strcmp(code, "InvalidDigest"))
		r = -EBADMSG;
	else if (!strcmp(code, "EntityTooLarge"))
		r = -EFBIG;
	else if (!strcmp(code, "InvalidAccessKeyId") ||
		 !strcmp(code, "SignatureDoesNotMatch") ||
		 !strcmp(code, "AccessDenied"))
		r = -EACCES;
	if (code[0]) {
		size_t l = strlen(q->err);
		snprintf(q->err + l, sizeof(q->err) - l, " (%s)", code);
	}
log:
	if (r < 0 && r != -ENOENT && r != -ERANGE)
		log_error("%s: %s", s->shown, q->err);
	return r;
}

/* ---- requests ---- */

/* The headers every request carries; extra ones first. */
struct op {
	char url[URL_MAX];
	char h1[80], h2[80];
	const char *hdrs[5];
};

static void sign(struct s3 *s, struct http_req *q)
{
	q->aws_sigv4 = s->sigv4;
	q->user = s->access;
	q->password = s->secret;
}

static int obj_url(struct s3 *s, const char *key, char *out, size_t len)
{
	char ek[3 * DATA_MAX_KEY + 1];
	if (!rkey_ok(key) || http_escape(key, 1, ek, sizeof(ek)) < 0)
		return -EINVAL;
	int n = snprintf(out, len, "%s/%s", s->base, ek);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static void s3_close(void *priv)
{
	struct s3 *s = priv;
	if (!s)
		return;
	http_free(s->h);
	explicit_bzero(s->secret, sizeof(s->secret));
	free(s);
}

static int credential(const struct data_opts *o, const char *name,
		      const char *aws, char *out, size_t len, const char *shown,
		      char *err, size_t err_len)
{
	int r = data_secret(o->secrets_file, name, out, len, err, err_len);
	if (r == 0 && !o->secrets_file)
		r = data_secret(NULL, aws, out, len, err, err_len);
	if (r == 0) {
		snprintf(err, err_len, "%s: no %s in %s", shown, name,
			 o->secrets_file ? o->secrets_file :
			 "the environment (nor AWS_* variables; or give a "
			 "secrets file: -o data_secrets=FILE)");
		return -EINVAL;
	}
	return r < 0 ? r : 0;
}

/* A bucket name usable as a host label, for virtual-hosted style. */
static int host_label_ok(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
		return 0;
	for (; *b; b++)
		if (!((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') ||
		      *b == '-'))
			return 0;
	return 1;
}

static int s3_open(const char *url, const struct data_opts *o, void **priv,
		   char *err, size_t err_len)
{
	struct rurl u;
	int r = rurl_parse(url, s3_options, &u, err, err_len);
	if (r < 0)
		return r;
	xmlInitParser();
	struct s3 *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	unsigned timeout, conns, tls;
	char hostport[300];
	if (u.port)
		snprintf(hostport, sizeof(hostport), "%s:%u", u.host, u.port);
	else
		snprintf(hostport, sizeof(hostport), "%s", u.host);
	snprintf(s->shown, sizeof(s->shown), "s3://%s/%s", hostport, u.name);
	if ((r = rurl_uint(&u, "timeout", 30, 1, 3600, &timeout, err, err_len)) ||
	    (r = rurl_uint(&u, "conns", o->max_conns ? o->max_conns : 16, 1,
			   1024, &conns, err, err_len)) ||
	    (r = rurl_uint(&u, "tls", 0, 0, 1, &tls, err, err_len)))
		goto fail;
	const char *scheme = tls ? "https" : "http";
	const char *style = rurl_opt(&u, "style", "path");
	const char *region = rurl_opt(&u, "region", "us-east-1");
	snprintf(s->root, sizeof(s->root), "%s://%s", scheme, hostport);
	char eb[3 * 256];
	if (http_escape(u.name, 0, eb, sizeof(eb)) < 0) {
		r = -EINVAL;
		goto fail;
	}
	if (!strcmp(style, "path")) {
		snprintf(s->base, sizeof(s->base), "%s/%s", s->root, eb);
	} else if (!strcmp(style, "virtual")) {
		if (!host_label_ok(u.name)) {
			snprintf(err, err_len, "%s: bucket '%s' cannot be a host "
				 "name (style=virtual needs 3-63 of a-z 0-9 -)",
				 s->shown, u.name);
			r = -EINVAL;
			goto fail;
		}
		snprintf(s->base, sizeof(s->base), "%s://%s.%s", scheme, u.name,
			 hostport);
	} else {
		snprintf(err, err_len, "%s: style=%s: expected path or virtual",
			 s->shown, style);
		r = -EINVAL;
		goto fail;
	}
	if (!region[0] || strchr(region, ':')) {
		snprintf(err, err_len, "%s: bad region '%s'", s->shown, region);
		r = -EINVAL;
		goto fail;
	}
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", region);
	if ((r = credential(o, "CASSAFS_DATA_USER", "AWS_ACCESS_KEY_ID",
			    s->access, sizeof(s->access), s->shown, err,
			    err_len)) ||
	    (r = credential(o, "CASSAFS_DATA_KEY", "AWS_SECRET_ACCESS_KEY",
			    s->secret, sizeof(s->secret), s->shown, err,
			    err_len)))
		goto fail;
	struct http_opts ho = {.max_conns = conns, .timeout_ms = timeout * 1000};
	if (!(s->h = http_new(&ho))) {
		r = -ENOMEM;
		goto fail;
	}
	/* check the credentials: ListBuckets needs no bucket */
	char rurl[sizeof(s->root) + 2];
	snprintf(rurl, sizeof(rurl), "%s/", s->root);
	const char *hdrs[] = {"x-amz-content-sha256: " EMPTY_SHA256, NULL};
	struct http_req q = {.method = "GET", .url = rurl, .headers = hdrs};
	sign(s, &q);
	r = http_request(s->h, &q);
	if (r < 0) {
		char code[64];
		error_code(&q, code, sizeof(code));
		if (r == -EACCES || !strcmp(code, "InvalidAccessKeyId") ||
		    !strcmp(code, "SignatureDoesNotMatch")) {
			r = -EACCES;
			snprintf(err, err_len, "%s: S3 refused access key '%s' (%s, "
				 "HTTP %ld): check CASSAFS_DATA_USER / "
				 "CASSAFS_DATA_KEY and region=", s->shown,
				 s->access, code[0] ? code : "no code",
				 q.status);
		} else {
			snprintf(err, err_len, "%s: %s", s->shown, q.err);
			if (r == -ENOENT)
				r = -EINVAL;
		}
	}
	http_req_clear(&q);
	if (r < 0)
		goto fail;
	*priv = s;
	return 0;
fail:
	s3_close(s);
	return r;
}

static int s3_prepare(void *priv, char *err, size_t err_len)
{
	struct s3 *s = priv;
	char url[sizeof(s->base) + 2];
	snprintf(url, sizeof(url), "%s/", s->base);
	const char *hdrs[] = {"x-amz-content-sha256: " EMPTY_SHA256, NULL};
	struct http_req q = {.method = "PUT", .url = url, .headers = hdrs};
	sign(s, &q);
	int r = http_request(s->h, &q);
	char code[64] = "";
	if (r < 0)
		error_code(&q, code, sizeof(code));
	if (r < 0 && !strcmp(code, "BucketAlreadyOwnedByYou"))
		r = 0;
	else if (r < 0)
		snprintf(err, err_len, "%s: cannot create the bucket: %s%s%s%s",
			 s->shown, q.err, code[0] ? " (" : "", code,
			 code[0] ? ")" : "");
	http_req_clear(&q);
	return r;
}

static int md5_b64(const void *buf, size_t len, char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!EVP_Digest(buf, len, md, &n, EVP_md5(), NULL))
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)out, md, (int)n);
	return 0;
}

static int s3_put_batch(void *priv, struct data_io *ios, size_t n)
{
	struct s3 *s = priv;
	struct op *ops = calloc(n, sizeof(*ops));
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
		struct op *op = &ops[m];
		char md5[32];
		ios[i].res = obj_url(s, ios[i].key, op->url, sizeof(op->url));
		if (!ios[i].res)
			ios[i].res = md5_b64(ios[i].buf, ios[i].len, md5);
		if (ios[i].res)
			continue;
		snprintf(op->h1, sizeof(op->h1), "Content-MD5: %s", md5);
		op->hdrs[0] = op->h1;
		op->hdrs[1] = "Content-Type: application/octet-stream";
		op->hdrs[2] = "x-amz-content-sha256: UNSIGNED-PAYLOAD";
		rq[m] = (struct http_req){.method = "PUT", .url = op->url,
					  .headers = op->hdrs,
					  .body = ios[i].buf,
					  .body_len = ios[i].len};
		sign(s, &rq[m]);
		map[m++] = i;
	}
	http_run(s->h, rq, m);
	for (size_t j = 0; j < m; j++) {
		ios[map[j]].res = s3_result(s, &rq[j]);
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

static int s3_get_batch(void *priv, struct data_io *ios, size_t n)
{
	struct s3 *s = priv;
	struct op *ops = calloc(n, sizeof(*ops));
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
		struct op *op = &ops[m];
		ios[i].got = 0;
		ios[i].res = obj_url(s, ios[i].key, op->url, sizeof(op->url));
		if (ios[i].res)
			continue;
		int h = 0;
		if (ios[i].len) {
			snprintf(op->h1, sizeof(op->h1), "Range: bytes=%llu-%llu",
				 (unsigned long long)ios[i].off,
				 (unsigned long long)(ios[i].off + ios[i].len - 1));
			op->hdrs[h++] = op->h1;
		}
		op->hdrs[h++] = "x-amz-content-sha256: " EMPTY_SHA256;
		/* a zero-length read still says whether the object exists */
		rq[m] = (struct http_req){
			.method = ios[i].len ? "GET" : "HEAD", .url = op->url,
			.headers = op->hdrs, .buf = ios[i].buf,
			.buf_len = ios[i].len};
		sign(s, &rq[m]);
		map[m++] = i;
	}
	http_run(s->h, rq, m);
	for (size_t j = 0; j < m; j++) {
		struct http_req *q = &rq[j];
		struct data_io *io = &ios[map[j]];
		int res = s3_result(s, q);
		if (res == -ERANGE) {
			res = 0; /* offset at or past the end */
		} else if (res == 0 && q->status == 200 && io->off) {
			log_error("%s: %s ignored the Range header", s->shown,
				  q->url);
			res = -EIO;
		} else if (res == 0) {
			io->got = q->got;
		}
		io->res = res;
		http_req_clear(q);
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

static int s3_put(void *priv, const char *key, const void *buf, size_t len)
{
	struct data_io io = {.key = key, .buf = (void *)buf, .len = len};
	return s3_put_batch(priv, &io, 1);
}

static int s3_get(void *priv, const char *key, uint64_t off, void *buf,
		  size_t len, size_t *got)
{
	struct data_io io = {.key = key, .buf = buf, .len = len, .off = off};
	int r = s3_get_batch(priv, &io, 1);
	*got = io.got;
	return r;
}

static int s3_del(void *priv, const char *key)
{
	struct s3 *s = priv;
	char url[URL_MAX];
	int r = obj_url(s, key, url, sizeof(url));
	if (r < 0)
		return r;
	const char *hdrs[] = {"x-amz-content-sha256: " EMPTY_SHA256, NULL};
	struct http_req q = {.method = "DELETE", .url = url, .headers = hdrs};
	sign(s, &q);
	http_request(s->h, &q);
	r = s3_result(s, &q);
	http_req_clear(&q);
	return r == -ENOENT ? 0 : r;
}

/*
 * ListObjectsV2.  The query is written in the order SigV4's canonical form
 * wants (parameters sorted by name, values percent-encoded), because
 * libcurl 7.88 signs the query string as it is given.
 */
static int s3_list(void *priv, const char *prefix, data_list_fn fn, void *arg)
{
	struct s3 *s = priv;
	char ep[3 * DATA_MAX_KEY + 1], tok[3 * 1024 + 1] = "";
	char url[sizeof(s->base) + sizeof(ep) + sizeof(tok) + 100];
	if (http_escape(prefix ? prefix : "", 0, ep, sizeof(ep)) < 0)
		return -EINVAL;
	const char *hdrs[] = {"x-amz-content-sha256: " EMPTY_SHA256, NULL};
	for (;;) {
		snprintf(url, sizeof(url), "%s/?%s%s%slist-type=2&max-keys=1000"
			 "&prefix=%s", s->base, tok[0] ? "continuation-token=" : "",
			 tok, tok[0] ? "&" : "", ep);
		struct http_req q = {.method = "GET", .url = url, .headers = hdrs};
		sign(s, &q);
		http_request(s->h, &q);
		int r = s3_result(s, &q);
		xmlDoc *doc = r == 0 ? parse(&q) : NULL;
		http_req_clear(&q);
		if (r < 0)
			return r;
		xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
		if (!root || strcmp((const char *)root->name, "ListBucketResult")) {
			log_error("%s: listing: not a ListBucketResult", s->shown);
			xmlFreeDoc(doc);
			return -EIO;
		}
		for (xmlNode *c = root->children; c && !r; c = c->next) {
			if (c->type != XML_ELEMENT_NODE ||
			    strcmp((const char *)c->name, "Contents"))
				continue;
			char key[DATA_MAX_KEY * 4 + 1], size[32];
			child_text(c, "Key", key, sizeof(key));
			child_text(c, "Size", size, sizeof(size));
			if (key[0])
				r = fn(arg, key, strtoull(size, NULL, 10));
		}
		char trunc[8], next[1025];
		child_text(root, "IsTruncated", trunc, sizeof(trunc));
		child_text(root, "NextContinuationToken", next, sizeof(next));
		xmlFreeDoc(doc);
		if (r)
			return r;
		if (strcmp(trunc, "true") || !next[0])
			return 0;
		if (http_escape(next, 0, tok, sizeof(tok)) < 0)
			return -EIO;
	}
}

const struct data_ops data_s3_ops = {
	.scheme = "s3",
	.open = s3_open,
	.close = s3_close,
	.prepare = s3_prepare,
	.put = s3_put,
	.get = s3_get,
	.del = s3_del,
	.list = s3_list,
	.put_batch = s3_put_batch,
	.get_batch = s3_get_batch,
};
