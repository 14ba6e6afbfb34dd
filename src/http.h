/*
 * http.h — a small HTTP client over libcurl for the object-store engines
 * (data_swift.c, data_s3.c, data_ring.c).
 *
 * One struct http per engine: it keeps connections alive and reuses them
 * across calls and threads (a pool of libcurl multi handles, each with
 * its own connection cache and used by one call at a time), and bounds
 * the transfers in flight at once, over all threads, to max_conns.  A call
 * runs a batch of requests in parallel (libcurl's multi interface).
 *
 * Retries: a connection error (refused, reset, nothing received), a
 * timeout, or a 500, 502, 503, 504, 408 or 429 answer is retried after an
 * exponential backoff (100 ms doubling up to 2 s, jittered).  A request
 * gives up timeout_ms after its first try started: then res is -EIO and
 * err says why.  Once one request of a batch gave up that way, the ones not
 * started yet fail at once, so a whole batch also returns within about
 * timeout_ms when the server is down.  Nothing waits without a deadline.
 *
 * The server down: once a request gave up that way (no answer but
 * retryable failures until its deadline), the server counts as down for
 * timeout_ms: a request started then makes one try and no retries (its
 * connect bounded by 1 s), and one more failure keeps it down for another
 * timeout_ms; any other answer ends it.  So a caller making several calls
 * in turn (the kernel retrying a failed read-ahead, a layout reading two
 * chunks) waits timeout_ms once, not once per call, and a server that is
 * back is used at the next call.
 *
 * Results (res): 2xx → 0; 404 → -ENOENT; 416 → -ERANGE; 507 → -ENOSPC;
 * 401/403 → -EACCES (after one refresh through the auth hook, if any);
 * 409/412 → -EEXIST; 422 → -EBADMSG (the server's checksum of the body
 * differs: ETag / Content-MD5); 413 → -EFBIG; any other answer, or a
 * failure after the retries → -EIO.  TLS: the server's certificate is
 * always verified (chain and host name); a certificate that does not
 * verify is -EIO at once, never retried, with libcurl's reason in err; a
 * CA file that cannot be used is -EINVAL.  status always holds the last HTTP
 * status seen (0 if none).
 *
 * Thread safety: an http object may be used by many threads at once; the
 * auth hook may be called from several of them concurrently.
 */
#ifndef CASSAFS_HTTP_H
#define CASSAFS_HTTP_H

#include <stddef.h>

struct http;

/*
 * Optional hook giving a token-type credential as one header line
 * ("X-Auth-Token: …").  refused is NULL before the first try, else the line
 * the server just answered 401/403 to: the hook fetches a new token unless
 * another thread did already (its current line differs from refused).
 * Returns 0, or -errno (-EACCES: credentials refused; -EIO: auth server
 * unreachable), and may leave a reason in err.
 */
typedef int (*http_auth_fn)(void *arg, const char *refused, char *line,
			    size_t line_len, char *err, size_t err_len);

struct http_opts {
	unsigned max_conns;  /* transfers in flight at once (0: 16) */
	unsigned timeout_ms; /* a request gives up this long after its first
				try started (0: 30000) */
	unsigned connect_ms; /* bound on one connect (0: 3000) */
	unsigned stall_ms;   /* a try moving < 1 KiB/s this long is cut and
				retried (0: 10000) */
	unsigned max_tries;  /* 0: retry until timeout_ms; N: at most N tries
				of a request, and a request that gives up after
				them does not cut the rest of its batch (for an
				engine that fails over to another server itself,
				as the ring engine does: max_tries 1) */
	http_auth_fn auth;   /* may be NULL */
	void *auth_arg;
	/* --- added after http.h was first published --- */
	const char *cafile;  /* https: trust the CA certificates (PEM) in this
				file instead of the system's (NULL: the
				system's); copied by http_new */
};

struct http_req {
	/* --- in --- */
	const char *method;	   /* "GET", "PUT", "POST", "DELETE", "HEAD" */
	const char *url;	   /* absolute, already escaped */
	const char *const *headers; /* "Name: value" lines, NULL-terminated */
	const void *body;	   /* PUT/POST body (body_len bytes) */
	size_t body_len;
	void *buf;		   /* a 2xx response's body goes here, at most
				      buf_len bytes (the rest is dropped,
				      overflow set); NULL, or an error
				      answer's body: kept in resp */
	size_t buf_len;
	const char *aws_sigv4;	   /* CURLOPT_AWS_SIGV4 ("aws:amz:REGION:s3") */
	const char *userpwd;	   /* with aws_sigv4: "ACCESS:SECRET" … */
	/* --- out --- */
	int res;		   /* 0 or -errno, as above */
	long status;		   /* last HTTP status, 0 if none */
	size_t got;		   /* bytes stored in buf */
	int overflow;		   /* the body was longer than buf_len */
	unsigned tries;		   /* attempts made */
	char *resp;		   /* body when buf is NULL (NUL-terminated) */
	size_t resp_len;
	char *resp_headers;	   /* header lines of the last response */
	char err[512];		   /* why res < 0, one line */
	/* --- in (added after http.h was first published) --- */
	const char *user;	   /* … or these two, when ACCESS has a ':' */
	const char *password;	   /*   (user set: userpwd is ignored) */
	/* A hook on a 2xx body as it arrives (NULL: none), e.g. to hash it
	 * while the bytes come: on_body(arg, NULL, 0) as each try starts (a
	 * retry sends the body again: forget what came before), then
	 * on_body(arg, p, n) for each piece, in order, as it is stored in buf
	 * (bytes past buf_len are not passed) or in resp (buf NULL).  Called
	 * on the thread running http_run; must not block. */
	void (*on_body)(void *arg, const void *p, size_t n);
	void *on_body_arg;
};

/* NULL on out of memory. */
struct http *http_new(const struct http_opts *o);
void http_free(struct http *h);
const struct http_opts *http_get_opts(const struct http *h);

/* Run every request of the batch, in parallel up to max_conns.  Returns 0
 * if all succeeded, else the first failure's res.  Each request must be
 * zero-initialised in its out fields or have passed http_req_clear(). */
int http_run(struct http *h, struct http_req *reqs, size_t n);
int http_request(struct http *h, struct http_req *r);

/* Free resp and resp_headers and zero the out fields (for reuse). */
void http_req_clear(struct http_req *r);

/* Copy the value of response header name (case-insensitive) into out;
 * returns out, or NULL if absent or too long. */
char *http_header(const struct http_req *r, const char *name, char *out,
		  size_t out_len);

/* Percent-encode s for a URL (keeps A-Z a-z 0-9 - . _ ~, and '/' if
 * keep_slash).  Returns the length written, or -1 if out is too small. */
int http_escape(const char *s, int keep_slash, char *out, size_t out_len);

#endif
