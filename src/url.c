/*
 * url.c — the one parser of the engines' URLs (see url.h).
 */
#include "url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode in[0..n) into out; -1 if it does not fit. */
static int decode(char *out, size_t out_len, const char *in, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];
		if (c == '%' && i + 2 < n && hexval(in[i + 1]) >= 0 &&
		    hexval(in[i + 2]) >= 0) {
			c = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
			i += 2;
		}
		if (o + 1 >= out_len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

static int copy(char *out, size_t out_len, const char *in, size_t n)
{
	if (n >= out_len)
		return -1;
	memcpy(out, in, n);
	out[n] = 0;
	return 0;
}

/* s with the password of USER:PASSWORD@ shown as ***, for messages. */
static void redact(char *out, size_t len, const char *s)
{
	const char *sep = strstr(s, "://");
	const char *p = sep ? sep + 3 : s;
	const char *end = p + strcspn(p, "/?");
	const char *at = memchr(p, '@', (size_t)(end - p));
	const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon)
		snprintf(out, len, "%.*s***%s", (int)(colon + 1 - s), s, at);
	else
		snprintf(out, len, "%s", s);
}

int url_parse(const char *url, struct url *u, char *err, size_t err_len)
{
	char s[1200]; /* the URL as messages show it */
	redact(s, sizeof(s), url);
	memset(u, 0, sizeof(*u));
	const char *sep = strstr(url, "://");
	if (!sep || sep == url) {
		snprintf(err, err_len, "'%s': not a URL (expected SCHEME://…)", s);
		return -EINVAL;
	}
	for (const char *q = url; q < sep; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
		      *q == '-' || *q == '+' || *q == '.')) {
			snprintf(err, err_len, "'%s': bad scheme '%.*s'", s,
				 (int)(sep - url), url);
			return -EINVAL;
		}
	if (copy(u->scheme, sizeof(u->scheme), url, (size_t)(sep - url)))
		goto toolong;
	const char *p = sep + 3;
	const char *end = p + strcspn(p, "/?");
	/* USER:PASSWORD@ (an '@' in a password is written %40) */
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (!colon) {
			snprintf(err, err_len, "'%s': expected [USER]:PASSWORD@ "
				 "before the host", s);
			return -EINVAL;
		}
		if (decode(u->user, sizeof(u->user), p, (size_t)(colon - p)) ||
		    decode(u->password, sizeof(u->password), colon + 1,
			   (size_t)(at - colon - 1)))
			goto toolong;
		u->has_userinfo = 1;
		p = at + 1;
	}
	if (copy(u->authority, sizeof(u->authority), p, (size_t)(end - p)))
		goto toolong;
	/* HOST:PORT[,HOST:PORT…] */
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		const char *colon = NULL;
		for (const char *q = p; q < e; q++)
			if (*q == ':')
				colon = q;
		if (!colon || colon == p) {
			snprintf(err, err_len, "'%s': expected HOST:PORT, not "
				 "'%.*s'", s, (int)(e - p), p);
			return -EINVAL;
		}
		if (u->nhosts == URL_MAX_HOSTS) {
			snprintf(err, err_len, "'%s': more than %d hosts", s,
				 URL_MAX_HOSTS);
			return -EINVAL;
		}
		struct url_host *h = &u->hosts[u->nhosts];
		if (copy(h->host, sizeof(h->host), p, (size_t)(colon - p)))
			goto toolong;
		char *pe;
		long port = strtol(colon + 1, &pe, 10);
		if (pe != e || colon + 1 == e || port <= 0 || port > 65535) {
			snprintf(err, err_len, "'%s': bad port in '%.*s' "
				 "(1..65535)", s, (int)(e - p), p);
			return -EINVAL;
		}
		h->port = (int)port;
		u->nhosts++;
		if (comma && comma + 1 == end) {
			snprintf(err, err_len, "'%s': empty host after ','", s);
			return -EINVAL;
		}
		p = comma ? comma + 1 : e;
	}
	p = end;
	size_t pl = strcspn(p, "?");
	if (copy(u->path, sizeof(u->path), p, pl))
		goto toolong;
	p += pl;
	if (*p != '?')
		return 0;
	for (const char *a = p + 1; *a;) {
		size_t n = strcspn(a, "&");
		if (n == 0) { /* "?&x=1" or "x=1&&y=2": nothing to say */
			a++;
			continue;
		}
		if (u->nparams == URL_MAX_PARAMS) {
			snprintf(err, err_len, "'%s': more than %d options", s,
				 URL_MAX_PARAMS);
			return -EINVAL;
		}
		struct url_param *o = &u->params[u->nparams++];
		const char *eq = memchr(a, '=', n);
		size_t kl = eq ? (size_t)(eq - a) : n;
		if (kl == 0) {
			snprintf(err, err_len, "'%s': option '%.*s' has no name",
				 s, (int)n, a);
			return -EINVAL;
		}
		if (copy(o->key, sizeof(o->key), a, kl))
			goto toolong;
		if (eq) {
			o->has_value = 1;
			if (decode(o->value, sizeof(o->value), eq + 1,
				   n - kl - 1))
				goto toolong;
		}
		a += n;
		if (*a == '&')
			a++;
	}
	return 0;
toolong:
	snprintf(err, err_len, "'%s': a part of the URL is too long", s);
	return -ENAMETOOLONG;
}

const char *url_param(const struct url *u, const char *key)
{
	for (int i = u->nparams - 1; i >= 0; i--)
		if (!strcmp(u->params[i].key, key))
			return u->params[i].has_value ? u->params[i].value : "";
	return NULL;
}
