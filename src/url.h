/*
 * url.h — the one parser of CassaFS's engine URLs (lmdb://, redis://,
 * redis-cluster://, zk://):
 *
 *   SCHEME://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…][/PATH][?K=V&…]
 *
 * The authority may be empty (lmdb:///dir).  USER, PASSWORD and option
 * values are percent-decoded; PATH is kept as written.  Each engine then
 * checks what it needs (how many hosts, the path's form, known options)
 * and words its own errors.  libcurl's URL API does not fit: it refuses a
 * list of hosts and an empty host.
 */
#ifndef CASSAFS_URL_H
#define CASSAFS_URL_H

#include <stddef.h>

#define URL_MAX_HOSTS 16
#define URL_MAX_PARAMS 16

struct url_host {
	char host[256];
	int port; /* 1..65535 */
};

struct url_param {
	char key[64];
	char value[1024]; /* decoded */
	int has_value;    /* "K=V" (1) or a bare "K" (0) */
};

struct url {
	char scheme[32];
	char authority[1024]; /* as written, without USER:PASSWORD@ */
	int has_userinfo;     /* "USER:PASSWORD@" present */
	char user[256], password[512];
	int nhosts;
	struct url_host hosts[URL_MAX_HOSTS];
	char path[1024];      /* from the '/' after the authority; "" if none */
	int nparams;
	struct url_param params[URL_MAX_PARAMS];
};

/* Split s into u.  Returns 0, or -EINVAL / -ENAMETOOLONG with a message
 * in err ("'URL': …") saying what is wrong. */
int url_parse(const char *s, struct url *u, char *err, size_t err_len);

/* The value of parameter key (the last one given), or NULL. */
const char *url_param(const struct url *u, const char *key);

#endif
