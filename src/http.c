/*
 * http.c — batches of HTTP requests over libcurl's multi interface, with a
 * pool of multi handles (each keeps its own keep-alive connections and is
 * used by one thread at a time: libcurl 7.88 cannot share a connection
 * cache between threads safely), a bound on transfers in flight,
 * retries with backoff, and a deadline per request (http.h says which).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "http.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000
#define RESP_MAX (64u << 20) /* a body kept in resp is a listing or an
				error text; anything larger is refused */
#define SLOT_WAIT_MS 20	     /* re-check for a free slot this often */
#define POOL_MAX 16	     /* idle multi handles kept (with their
				connections) for the next batches */

struct http {
	struct http_opts o;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	pthread_mutex_t slot_mu;
	pthread_cond_t slot_cv;
	unsigned inflight;
	CURLM *pool[POOL_MAX]; /* idle multi handles (guarded by slot_mu) */
	unsigned pooled;
	char *cafile;	/* h->o.cafile's copy */
	/* the server is down: until this time (CLOCK_MONOTONIC ms; guarded
	 * by slot_mu) a request makes one try, no retries */
	uint64_t down_until, down_since;
};

enum { X_WAITING, X_RUNNING, X_DONE };

struct xfer {
	struct http *h;
	struct http_req *r;
	CURL *e;
	struct curl_slist *hdrs;
	size_t up_pos;
	size_t resp_cap, hdr_len, hdr_cap;
	int state;
	int reauthed;
	int single;	/* started while the server was down: one try */
	uint64_t first_ms, next_ms;
	unsigned backoff_ms;
	char auth_line[8192];
	char curl_err[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void share_lock(CURL *e, curl_lock_data d, curl_lock_access a, void *u)
{
	struct http *h = u;
	pthread_mutex_lock(&h->share_mu[d]);
}

static void share_unlock(CURL *e, curl_lock_data d, void *u)
{
	struct http *h = u;
	pthread_mutex_unlock(&h->share_mu[d]);
}

struct http *http_new(const struct http_opts *o)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return NULL;
	struct http *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	if (o)
		h->o = *o;
	h->o.cafile = NULL;
	if (o && o->cafile && !(h->o.cafile = h->cafile = strdup(o->cafile))) {
		free(h);
		return NULL;
	}
	if (!h->o.max_conns)
		h->o.max_conns = 16;
	if (!h->o.timeout_ms)
		h->o.timeout_ms = 30000;
	if (!h->o.connect_ms)
		h->o.connect_ms = 3000;
	if (!h->o.stall_ms)
		h->o.stall_ms = 10000;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_mu[i], NULL);
	pthread_mutex_init(&h->slot_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->slot_cv, &ca);
	pthread_condattr_destroy(&ca);
	h->share = curl_share_init();
	if (!h->share) {
		http_free(h);
		return NULL;
	}
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return h;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < h->pooled; i++)
		curl_multi_cleanup(h->pool[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_mu[i]);
	pthread_mutex_destroy(&h->slot_mu);
	pthread_cond_destroy(&h->slot_cv);
	free(h);
}

const struct http_opts *http_get_opts(const struct http *h) { return &h->o; }

/* ---- the bound on transfers in flight, over every thread ---- */

static int slot_take(struct http *h)
{
	int ok = 0;
	pthread_mutex_lock(&h->slot_mu);
	if (h->inflight < h->o.max_conns) {
		h->inflight++;
		ok = 1;
	}
	pthread_mutex_unlock(&h->slot_mu);
	return ok;
}

static void slot_give(struct http *h)
{
	pthread_mutex_lock(&h->slot_mu);
	h->inflight--;
	pthread_cond_broadcast(&h->slot_cv);
	pthread_mutex_unlock(&h->slot_mu);
}

/* Nothing of ours is running: sleep until a slot frees or ms pass. */
static void slot_wait(struct http *h, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&h->slot_mu);
	if (h->inflight >= h->o.max_conns)
		pthread_cond_timedwait(&h->slot_cv, &h->slot_mu, &ts);
	else {
		pthread_mutex_unlock(&h->slot_mu);
		nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L},
			  NULL);
		return;
	}
	pthread_mutex_unlock(&h->slot_mu);
}

/* ---- the pool of multi handles: one batch (one thread) uses one ---- */

static CURLM *multi_take(struct http *h)
{
	CURLM *m = NULL;
	pthread_mutex_lock(&h->slot_mu);
	if (h->pooled)
		m = h->pool[--h->pooled];
	pthread_mutex_unlock(&h->slot_mu);
	return m ? m : curl_multi_init();
}

static void multi_give(struct http *h, CURLM *m)
{
	pthread_mutex_lock(&h->slot_mu);
	if (h->pooled < POOL_MAX) {
		h->pool[h->pooled++] = m;
		m = NULL;
	}
	pthread_mutex_unlock(&h->slot_mu);
	if (m)
		curl_multi_cleanup(m);
}

/* ---- the "server down" state ---- */

#define DOWN_CONNECT_MS 1000 /* a one-try request's bound on connecting */

/* Is the server down now?  Then *since is when it was found down. */
static int down_now(struct http *h, uint64_t now, uint64_t *since)
{
	pthread_mutex_lock(&h->slot_mu);
	int down = now < h->down_until;
	*since = h->down_since;
	pthread_mutex_unlock(&h->slot_mu);
	return down;
}

/* A request gave up without an answer: down for timeout_ms from now.  Not
 * for a handle whose caller does its own failover (max_tries: the ring
 * engine talks to many servers through one handle). */
static void down_mark(struct http *h, uint64_t now)
{
	if (h->o.max_tries)
		return;
	pthread_mutex_lock(&h->slot_mu);
	if (now >= h->down_until)
		h->down_since = now;
	h->down_until = now + h->o.timeout_ms;
	pthread_mutex_unlock(&h->slot_mu);
}

/* The server answered: it is up. */
static void down_clear(struct http *h)
{
	pthread_mutex_lock(&h->slot_mu);
	h->down_until = 0;
	pthread_mutex_unlock(&h->slot_mu);
}

/* ---- libcurl callbacks ---- */

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t left = x->r->body_len - x->up_pos, n = size * nmemb;
	if (n > left)
		n = left;
	memcpy(dst, (const char *)x->r->body + x->up_pos, n);
	x->up_pos += n;
	return n;
}

static int seek_cb(void *arg, curl_off_t off, int origin)
{
	struct xfer *x = arg;
	if (origin != SEEK_SET || off < 0 || (size_t)off > x->r->body_len)
		return CURL_SEEKFUNC_FAIL;
	x->up_pos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static int grow(char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c *= 2;
	char *n = realloc(*p, c);
	if (!n)
		return -1;
	*p = n;
	*cap = c;
	return 0;
}

static size_t write_cb(char *src, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct http_req *r = x->r;
	size_t n = size * nmemb;
	long st = 0;
	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &st);
	if (r->buf && st >= 200 && st < 300) {
		size_t room = r->buf_len - r->got, k = n < room ? n : room;
		memcpy((char *)r->buf + r->got, src, k);
		r->got += k;
		if (k < n)
			r->overflow = 1;
		if (r->on_body && k)
			r->on_body(r->on_body_arg, src, k);
		return n;
	}
	if (r->resp_len + n + 1 > RESP_MAX ||
	    grow(&r->resp, &x->resp_cap, r->resp_len + n + 1))
		return 0; /* CURLE_WRITE_ERROR */
	memcpy(r->resp + r->resp_len, src, n);
	r->resp_len += n;
	r->resp[r->resp_len] = 0;
	if (r->on_body && st >= 200 && st < 300)
		r->on_body(r->on_body_arg, src, n);
	return n;
}

static size_t header_cb(char *src, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct http_req *r = x->r;
	size_t n = size * nmemb;
	/* a new status line ("HTTP/1.1 100 Continue" then the real one):
	 * keep only the last response's headers */
	if (n >= 5 && !memcmp(src, "HTTP/", 5))
		x->hdr_len = 0;
	if (x->hdr_len + n + 1 > (1u << 20) ||
	    grow(&r->resp_headers, &x->hdr_cap, x->hdr_len + n + 1))
		return 0;
	memcpy(r->resp_headers + x->hdr_len, src, n);
	x->hdr_len += n;
	r->resp_headers[x->hdr_len] = 0;
	return n;
}

/* ---- one try ---- */

static int status_res(long st)
{
	if (st >= 200 && st < 300)
		return 0;
	switch (st) {
	case 404: return -ENOENT;
	case 416: return -ERANGE;
	case 507: return -ENOSPC;
	case 401: case 403: return -EACCES;
	case 409: case 412: return -EEXIST;
	case 422: return -EBADMSG;
	case 413: return -EFBIG;
	default: return -EIO;
	}
}

static int status_retryable(long st)
{
	return st == 500 || st == 502 || st == 503 || st == 504 || st == 408 ||
	       st == 429;
}

static void finish(struct xfer *x, int res)
{
	x->r->res = res;
	x->state = X_DONE;
}

static void fail(struct xfer *x, int res, const char *fmt, const char *what)
{
	snprintf(x->r->err, sizeof(x->r->err), fmt, x->r->method, x->r->url,
		 what);
	finish(x, res);
}

/* Set the handle up for the next try; < 0: the request failed. */
static int setup_try(struct xfer *x, uint64_t now)
{
	struct http *h = x->h;
	struct http_req *r = x->r;
	CURL *e = x->e;

	if (h->o.auth) {
		char aerr[sizeof(r->err)] = "";
		int a = h->o.auth(h->o.auth_arg, NULL, x->auth_line,
				  sizeof(x->auth_line), aerr, sizeof(aerr));
		if (a < 0) {
			snprintf(r->err, sizeof(r->err), "%s", aerr[0] ? aerr :
				 "authentication failed");
			finish(x, a);
			return a;
		}
	}
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	for (const char *const *p = r->headers; p && *p; p++)
		x->hdrs = curl_slist_append(x->hdrs, *p);
	/* no "Expect: 100-continue" round trip before bodies; not with
	 * SigV4, where libcurl 7.88 would sign the header it then drops */
	if (!r->aws_sigv4)
		x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	if (h->o.auth && x->auth_line[0])
		x->hdrs = curl_slist_append(x->hdrs, x->auth_line);
	if (!x->hdrs) {
		fail(x, -ENOMEM, "%s %s: %s", "out of memory");
		return -ENOMEM;
	}

	if (now >= x->first_ms + h->o.timeout_ms) {
		snprintf(r->err, sizeof(r->err), "%s %s: no answer within %u ms "
			 "(%u tries)", r->method, r->url, h->o.timeout_ms, r->tries);
		down_mark(h, now);
		finish(x, -EIO);
		return -EIO;
	}
	uint64_t left = x->first_ms + h->o.timeout_ms - now;
	x->up_pos = 0;
	r->got = 0;
	r->overflow = 0;
	r->resp_len = 0;
	if (r->resp)
		r->resp[0] = 0;
	x->hdr_len = 0;
	if (r->resp_headers)
		r->resp_headers[0] = 0;
	x->curl_err[0] = 0;
	r->tries++;
	if (r->on_body)
		r->on_body(r->on_body_arg, NULL, 0);

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	/* object keys may hold "/./" or "/../": send them, never squash */
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, h->share);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	uint64_t cmax = x->single && h->o.connect_ms > DOWN_CONNECT_MS ?
				DOWN_CONNECT_MS : h->o.connect_ms;
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(left < cmax ? left : cmax));
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
			 (long)(h->o.stall_ms + 999) / 1000);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	if (h->o.cafile)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->o.cafile);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	if (!strcmp(r->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, x);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)r->body_len);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
				 r->body ? r->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)r->body_len);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (r->aws_sigv4) {
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, r->aws_sigv4);
		if (r->user) {
			curl_easy_setopt(e, CURLOPT_USERNAME, r->user);
			curl_easy_setopt(e, CURLOPT_PASSWORD, r->password);
		} else {
			curl_easy_setopt(e, CURLOPT_USERPWD, r->userpwd);
		}
	}
	return 0;
}

/* Schedule another try after the backoff, or give up at the deadline. */
static void retry_or_fail(struct xfer *x, uint64_t now, const char *why,
			  int *gave_up)
{
	struct http *h = x->h;
	unsigned b = x->backoff_ms;
	/* jitter: 75 % to 125 % of the nominal backoff */
	unsigned j = b / 2 ? (unsigned)((now * 2654435761u + x->r->tries) %
				       (b / 2)) : 0;
	uint64_t at = now + b - b / 4 + j;
	if (h->o.max_tries && x->r->tries >= h->o.max_tries) {
		char msg[128];
		snprintf(msg, sizeof(msg), "%s (%u tries)", why, x->r->tries);
		fail(x, -EIO, "%s %s: %s", msg);
		return;
	}
	if (x->single) {
		char msg[400];
		uint64_t since;
		down_now(h, now, &since);
		snprintf(msg, sizeof(msg), "%s (the server is down: a request "
			 "gave up %.1f s ago; one try, no retries until it "
			 "answers or %u ms pass)", why, (now - since) / 1000.0,
			 h->o.timeout_ms);
		fail(x, -EIO, "%s %s: %s", msg);
		down_mark(h, now);
		*gave_up = 1;
		return;
	}
	if (at >= x->first_ms + h->o.timeout_ms) {
		char msg[400];
		snprintf(msg, sizeof(msg), "%s (gave up after %u tries in %.1f s)",
			 why, x->r->tries, (now - x->first_ms) / 1000.0);
		fail(x, -EIO, "%s %s: %s", msg);
		down_mark(h, now);
		*gave_up = 1;
		return;
	}
	x->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	x->next_ms = at;
	x->state = X_WAITING;
}

static void try_done(struct xfer *x, CURLcode rc, uint64_t now, int *gave_up)
{
	struct http *h = x->h;
	struct http_req *r = x->r;
	long st = 0;
	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &st);
	r->status = st;
	if (rc != CURLE_OK) {
		const char *why = x->curl_err[0] ? x->curl_err :
			curl_easy_strerror(rc);
		switch (rc) {
		case CURLE_WRITE_ERROR:
			fail(x, -EIO, "%s %s: %s", "response too large");
			return;
		case CURLE_OUT_OF_MEMORY:
			fail(x, -ENOMEM, "%s %s: %s", why);
			return;
		case CURLE_URL_MALFORMAT:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_BAD_FUNCTION_ARGUMENT:
		case CURLE_SSL_CACERT_BADFILE:
			fail(x, -EINVAL, "%s %s: %s", why);
			return;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH: {
			/* the same certificate will not verify on a retry */
			char msg[400];
			snprintf(msg, sizeof(msg), "%s (the server's TLS "
				 "certificate is not trusted: give its CA with "
				 "cafile=)", why);
			fail(x, -EIO, "%s %s: %s", msg);
			return;
		}
		default:
			retry_or_fail(x, now, why, gave_up);
			return;
		}
	}
	if ((st == 401 || st == 403) && h->o.auth && !x->reauthed) {
		/* the token may have expired: refresh it once */
		char aerr[sizeof(r->err)] = "", line[sizeof(x->auth_line)];
		x->reauthed = 1;
		int a = h->o.auth(h->o.auth_arg, x->auth_line, line,
				  sizeof(line), aerr, sizeof(aerr));
		if (a < 0) {
			snprintf(r->err, sizeof(r->err), "%s", aerr[0] ? aerr :
				 "authentication failed");
			finish(x, a);
			return;
		}
		x->next_ms = now;
		x->state = X_WAITING;
		return;
	}
	if (status_retryable(st)) {
		char why[48];
		snprintf(why, sizeof(why), "HTTP %ld", st);
		retry_or_fail(x, now, why, gave_up);
		return;
	}
	down_clear(h);
	int res = status_res(st);
	if (res < 0) {
		char why[48];
		snprintf(why, sizeof(why), "HTTP %ld", st);
		fail(x, res, "%s %s: %s", why);
		return;
	}
	finish(x, 0);
}

int http_run(struct http *h, struct http_req *reqs, size_t n)
{
	if (!n)
		return 0;
	struct xfer *xs = calloc(n, sizeof(*xs));
	CURLM *m = multi_take(h);
	int ret = 0;
	if (!xs || !m) {
		for (size_t i = 0; i < n; i++)
			reqs[i].res = -ENOMEM;
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		xs[i].h = h;
		xs[i].r = &reqs[i];
		xs[i].backoff_ms = BACKOFF_FIRST_MS;
		reqs[i].res = 0;
		reqs[i].status = 0;
		reqs[i].tries = 0;
		reqs[i].err[0] = 0;
		if (!(xs[i].e = curl_easy_init()))
			finish(&xs[i], -ENOMEM);
	}

	size_t done = 0;
	int gave_up = 0;
	unsigned running = 0;
	for (;;) {
		uint64_t now = now_ms(), next_due = UINT64_MAX;
		int blocked = 0;
		done = 0;
		for (size_t i = 0; i < n; i++) {
			struct xfer *x = &xs[i];
			if (x->state == X_DONE) {
				done++;
				continue;
			}
			if (x->state != X_WAITING)
				continue;
			if (gave_up && !x->first_ms) {
				fail(x, -EIO, "%s %s: %s", "not tried: the "
				     "server gave no answer to another request "
				     "of this batch");
				done++;
				continue;
			}
			if (x->next_ms > now) {
				if (x->next_ms < next_due)
					next_due = x->next_ms;
				continue;
			}
			if (blocked || !slot_take(h)) {
				blocked = 1;
				continue;
			}
			if (!x->first_ms) {
				uint64_t since;
				x->first_ms = now;
				x->single = down_now(h, now, &since);
			}
			if (setup_try(x, now) < 0 ||
			    curl_multi_add_handle(m, x->e) != CURLM_OK) {
				slot_give(h);
				if (x->state != X_DONE)
					fail(x, -ENOMEM, "%s %s: %s",
					     "cannot start the transfer");
				done++;
				continue;
			}
			x->state = X_RUNNING;
			running++;
		}
		if (done == n)
			break;
		unsigned wait = 1000;
		if (next_due != UINT64_MAX)
			wait = next_due - now < wait ? next_due - now : wait;
		if (blocked && wait > SLOT_WAIT_MS)
			wait = SLOT_WAIT_MS;
		if (!running) {
			slot_wait(h, wait ? wait : 1);
			continue;
		}
		int still;
		curl_multi_perform(m, &still);
		CURLMsg *msg;
		int q;
		while ((msg = curl_multi_info_read(m, &q))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct xfer *x;
			CURL *e = msg->easy_handle;
			CURLcode rc = msg->data.result;
			curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
			curl_multi_remove_handle(m, e);
			slot_give(h);
			running--;
			try_done(x, rc, now_ms(), &gave_up);
		}
		if (running)
			curl_multi_poll(m, NULL, 0, wait, NULL);
	}
	for (size_t i = 0; i < n; i++)
		if (reqs[i].res < 0 && !ret)
			ret = reqs[i].res;
out:
	if (xs)
		for (size_t i = 0; i < n; i++) {
			if (xs[i].e)
				curl_easy_cleanup(xs[i].e);
			curl_slist_free_all(xs[i].hdrs);
		}
	free(xs);
	if (m)
		multi_give(h, m);
	return ret;
}

int http_request(struct http *h, struct http_req *r) { return http_run(h, r, 1); }

void http_req_clear(struct http_req *r)
{
	free(r->resp);
	free(r->resp_headers);
	r->resp = r->resp_headers = NULL;
	r->resp_len = r->got = 0;
	r->res = r->overflow = 0;
	r->status = 0;
	r->tries = 0;
	r->err[0] = 0;
}

char *http_header(const struct http_req *r, const char *name, char *out,
		  size_t out_len)
{
	size_t nl = strlen(name);
	for (const char *p = r->resp_headers; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1, *end = p + ll;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' '))
				end--;
			if ((size_t)(end - v) >= out_len)
				return NULL;
			memcpy(out, v, end - v);
			out[end - v] = 0;
			return out;
		}
		p += ll + (eol ? 1 : 0);
	}
	return NULL;
}

int http_escape(const char *s, int keep_slash, char *out, size_t out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
			   *p == '_' || *p == '~' || (keep_slash && *p == '/');
		if (o + (keep ? 1 : 3) >= out_len)
			return -1;
		if (keep) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= out_len)
		return -1;
	out[o] = 0;
	return (int)o;
}
