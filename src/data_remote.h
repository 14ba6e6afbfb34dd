/*
 * data_remote.h — what the remote data engines (swift, s3) share: their
 * URL form and connection options, credentials from a file of KEY=VALUE
 * lines or the environment (never from a URL or a command line, never
 * written to the superblock), and the object calls over http.h (an engine
 * gives its URLs, headers and signing; the batching, range checks and
 * logging are here).  Private to src/data_*.c.
 */
#ifndef CASSAFS_DATA_REMOTE_H
#define CASSAFS_DATA_REMOTE_H

#include <stddef.h>
#include <stdint.h>

struct data_io;
struct data_opts;
struct http;
struct http_opts;
struct http_req;

/*
 * Look name up (e.g. "CASSAFS_DATA_KEY"): in file if it is not NULL (then
 * only there: a file is the whole set of credentials), else in the
 * environment.  Returns 1 and copies the value, 0 if not set, or -errno
 * with err filled (the file is missing, unreadable, readable by group or
 * others, or a line is malformed or too long).
 */
int data_secret(const char *file, const char *name, char *out, size_t out_len,
		char *err, size_t err_len);

/*
 * A required credential: data_secret of name, else (no secrets file) of
 * the environment variable alt if it is not NULL, else dflt if it is not
 * NULL; else -EINVAL with err saying which is missing (shown names the
 * tier).
 */
int data_credential(const struct data_opts *o, const char *name,
		    const char *alt, const char *dflt, char *out,
		    size_t out_len, const char *shown, char *err,
		    size_t err_len);

#define RURL_MAX_OPTS 16

/* SCHEME://HOST[:PORT]/NAME[?KEY=VALUE&…] (HOST may be [v6addr]) */
struct rurl {
	char host[256];
	unsigned port;		/* 0 if absent */
	char name[256];		/* container or bucket */
	unsigned nopts;
	char key[RURL_MAX_OPTS][32], val[RURL_MAX_OPTS][256];
};

/* Parse url; known is the NULL-terminated list of option keys the engine
 * takes.  -EINVAL with err filled on anything else. */
int rurl_parse(const char *url, const char *const *known, struct rurl *u,
	       char *err, size_t err_len);
/* The value of option key, or dflt. */
const char *rurl_opt(const struct rurl *u, const char *key, const char *dflt);
/* An option as a number in [lo, hi]; -EINVAL with err filled otherwise. */
int rurl_uint(const struct rurl *u, const char *key, unsigned dflt,
	      unsigned lo, unsigned hi, unsigned *out, char *err,
	      size_t err_len);

/*
 * The options both engines take: timeout=SECONDS (1..3600, default 30),
 * conns=N (1..1024, default data_opts.max_conns or 16), tls=0|1 and
 * cafile=PATH (with tls=1: the CA certificates, PEM, that the server's
 * certificate must chain to, instead of the system's).  Fills the http
 * options they give (cafile points into u) and *tls; -EINVAL or -errno
 * with err filled (cafile= without tls=1, or a file that cannot be read).
 */
int rurl_http_opts(const struct rurl *u, const struct data_opts *o,
		   const char *shown, struct http_opts *ho, unsigned *tls,
		   char *err, size_t err_len);

/* A key data.h allows: 1..DATA_MAX_KEY bytes of '!'..'~', no "//". */
int rkey_ok(const char *key);

/* ---- the object calls, shared ---- */

struct rengine {
	struct http *h;
	const char *shown;	/* the tier, for messages */
	void *arg;		/* the engine, passed to the hooks */
	/* the URL of object key into out; -EINVAL for a key data.h refuses */
	int (*url)(void *arg, const char *key, char *out, size_t len);
	/* a put's checksum header line of the body ("ETag: …") */
	int (*digest)(const void *buf, size_t len, char *line, size_t line_len);
	const char *put_hdr;	/* one more header line on puts (or NULL) */
	const char *get_hdr;	/* … on gets, heads and deletes (or NULL) */
	void (*sign)(void *arg, struct http_req *q);	/* may be NULL */
	/* refine q->res from the answer (e.g. an error code in the body);
	 * NULL: q->res as it is */
	int (*result)(void *arg, struct http_req *q);
};

/* data_engine.h's put_batch / get_batch / put / get / del, for an engine
 * whose priv begins with its struct rengine (so they go straight into its
 * data_ops).  A get asks for its range (a zero-length one is a HEAD: does
 * it exist?); an offset at or past the end gives 0 bytes; a server that
 * ignores Range is an error.  Failures other than a missing object are
 * logged. */
int rengine_put_batch(void *priv, struct data_io *ios, size_t n);
int rengine_get_batch(void *priv, struct data_io *ios, size_t n);
int rengine_put(void *priv, const char *key, const void *buf, size_t len);
int rengine_get(void *priv, const char *key, uint64_t off, void *buf,
		size_t len, size_t *got);
int rengine_del(void *priv, const char *key);

#endif
