/*
 * data_remote.c — URL parsing and credentials of the remote data engines.
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

#include "data.h"
#include "data_remote.h"

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
