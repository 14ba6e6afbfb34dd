/*
 * data_remote.h — what the remote data engines (swift, s3) share: their
 * URL form, and credentials from a file of KEY=VALUE lines or the
 * environment (never from a URL or a command line, never written to the
 * superblock).  Private to src/data_*.c.
 */
#ifndef CASSAFS_DATA_REMOTE_H
#define CASSAFS_DATA_REMOTE_H

#include <stddef.h>

/*
 * Look name up (e.g. "CASSAFS_DATA_KEY"): in file if it is not NULL (then
 * only there: a file is the whole set of credentials), else in the
 * environment.  Returns 1 and copies the value, 0 if not set, or -errno
 * with err filled (the file is missing, unreadable, readable by group or
 * others, or a line is malformed or too long).
 */
int data_secret(const char *file, const char *name, char *out, size_t out_len,
		char *err, size_t err_len);

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

/* A key data.h allows: 1..DATA_MAX_KEY bytes of '!'..'~', no "//". */
int rkey_ok(const char *key);

#endif
