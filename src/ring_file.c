/*
 * ring_file.c — Swift's ring file (R1NG format 1) and our builder file.
 *
 * Ring file: gzip( "R1NG" | u16 BE 1 | u32 BE json_len | JSON | rows ), rows
 * being the u16 device ids of each replica row in the byte order the JSON
 * names.  We read gzip or raw zlib, any JSON layout, either byte order; we
 * write gzip with the host's byte order, as Swift does.
 *
 * No JSON library is among the project's dependencies, and the ring header
 * is a fixed, small schema, so a strict recursive-descent parser for just
 * what the header needs lives here (depth- and size-bounded: it is fuzzed).
 *
 * Builder file: documented in docs/ring.md — a text header, the binary
 * table and a CRC-32 trailer, written to a temporary file and renamed.
 */
#include "ring_builder.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define JSON_MAX_LEN   (64u << 20)
#define JSON_MAX_DEPTH 64
#define BUILDER_MAGIC  "CASSAFS-RING-BUILDER 1\n"

static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static int host_little(void)
{
	uint16_t x = 1;
	return *(unsigned char *)&x == 1;
}

static void swap16(uint16_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (uint16_t)(v[i] << 8 | v[i] >> 8);
}

/* ---- growable byte buffer ---- */

struct buf {
	char *p;
	size_t n, cap;
};

static int buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return buf_add(b, tmp, n);
}

/* ---- JSON out ---- */

static int json_str(struct buf *b, const char *s)
{
	int rc = buf_add(b, "\"", 1);

	for (; *s && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			rc = buf_add(b, e, 2);
		} else if (c < 0x20) {
			rc = buf_printf(b, "\\u%04x", c);
		} else {
			rc = buf_add(b, s, 1);
		}
	}
	return rc ? rc : buf_add(b, "\"", 1);
}

static int json_float(struct buf *b, double v)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "%.17g", v);
	/* shortest representation that reads back exactly */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	if (!strpbrk(tmp, ".eEn"))
		strcat(tmp, ".0");
	return buf_add(b, tmp, strlen(tmp));
}

static int ring_json(const struct ring *r, struct buf *b)
{
	int rc = buf_printf(b, "{\"byteorder\": \"%s\", \"devs\": [",
			    host_little() ? "little" : "big");

	for (uint32_t i = 0; i < r->ndevs && rc == 0; i++) {
		const struct ring_dev *d = &r->devs[i];
		if (i)
			rc = buf_add(b, ", ", 2);
		if (rc)
			break;
		if (!d->present) {
			rc = buf_add(b, "null", 4);
			continue;
		}
		rc = buf_add(b, "{\"device\": ", 11);
		rc = rc ? rc : json_str(b, d->device);
		rc = rc ? rc : buf_printf(b, ", \"id\": %u, \"ip\": ", d->id);
		rc = rc ? rc : json_str(b, d->ip);
		rc = rc ? rc : buf_add(b, ", \"meta\": ", 10);
		rc = rc ? rc : json_str(b, d->meta);
		rc = rc ? rc : buf_printf(b, ", \"port\": %d, \"region\": %d, "
					  "\"replication_ip\": ", d->port,
					  d->region);
		rc = rc ? rc : json_str(b, d->repl_ip);
		rc = rc ? rc : buf_printf(b, ", \"replication_port\": %d, "
					  "\"weight\": ", d->repl_port);
		rc = rc ? rc : json_float(b, d->weight);
		rc = rc ? rc : buf_printf(b, ", \"zone\": %d}", d->zone);
	}
	if (rc)
		return rc;
	rc = buf_printf(b, "], ");
	if (!rc && r->next_part_power >= 0)
		rc = buf_printf(b, "\"next_part_power\": %d, ",
				r->next_part_power);
	if (!rc)
		rc = buf_printf(b, "\"part_shift\": %u, \"replica_count\": %u",
				32 - r->part_power, r->nrows);
	if (!rc && r->version >= 0)
		rc = buf_printf(b, ", \"version\": %lld", r->version);
	return rc ? rc : buf_add(b, "}", 1);
}

/* ---- atomic file writing ---- */

struct out {
	FILE *f;
	gzFile gz;
	uLong crc;
	int failed;
};

static void out_write(struct out *o, const void *p, size_t n)
{
	if (o->failed || !n)
		return;
	o->crc = crc32(o->crc, p, (uInt)n);
	if (o->gz) {
		const char *c = p;
		while (n && !o->failed) {
			unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
			if (gzwrite(o->gz, c, chunk) != (int)chunk)
				o->failed = EIO;
			c += chunk;
			n -= chunk;
		}
	} else if (fwrite(p, 1, n, o->f) != n) {
		o->failed = errno ? errno : EIO;
	}
}

/* Rows in little-endian (builder) or host order (ring file). */
static void out_rows(struct out *o, const struct ring *r, int force_le)
{
	for (unsigned i = 0; i < r->nrows; i++) {
		if (force_le && !host_little()) {
			uint16_t tmp[4096];
			for (uint32_t p = 0; p < r->row_len[i]; p += 4096) {
				uint32_t n = r->row_len[i] - p < 4096 ?
					     r->row_len[i] - p : 4096;
				memcpy(tmp, r->rows[i] + p, n * 2);
				swap16(tmp, n);
				out_write(o, tmp, (size_t)n * 2);
			}
		} else {
			out_write(o, r->rows[i], (size_t)r->row_len[i] * 2);
		}
	}
}

static int tmp_open(const char *path, char *tmp, size_t tmplen)
{
	snprintf(tmp, tmplen, "%s.tmp-%ld", path, (long)getpid());
	return open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static int fsync_dir_of(const char *path)
{
	char d[PATH_MAX];
	int fd;

	snprintf(d, sizeof(d), "%s", path);
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fsync(fd);
	close(fd);
	return 0;
}

int ring_save(const struct ring *r, const char *path, char *err,
	      size_t errlen)
{
	struct buf js = {0};
	struct out o = {0};
	char tmp[PATH_MAX];
	unsigned char hdr[10];
	int fd = -1, rc;

	if ((rc = ring_json(r, &js)) < 0) {
		errf(err, errlen, "cannot encode ring %s: %s", path,
		     strerror(-rc));
		goto out;
	}
	fd = tmp_open(path, tmp, sizeof(tmp));
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* level 1: Swift writes level 9, but the table is nearly random u16s
	 * that compress little either way, and level 1 is ~5x faster */
	o.gz = gzdopen(dup(fd), "wb1");
	if (!o.gz) {
		rc = -ENOMEM;
		errf(err, errlen, "cannot start gzip stream for %s", tmp);
		goto fail;
	}
	gzbuffer(o.gz, 1 << 17);
	memcpy(hdr, "R1NG", 4);
	hdr[4] = 0;
	hdr[5] = 1;
	hdr[6] = (unsigned char)(js.n >> 24);
	hdr[7] = (unsigned char)(js.n >> 16);
	hdr[8] = (unsigned char)(js.n >> 8);
	hdr[9] = (unsigned char)js.n;
	out_write(&o, hdr, 10);
	out_write(&o, js.p, js.n);
	out_rows(&o, r, 0);
	if (gzclose(o.gz) != Z_OK && !o.failed)
		o.failed = EIO;
	if (!o.failed && fsync(fd) < 0)
		o.failed = errno;
	if (o.failed) {
		rc = -o.failed;
		errf(err, errlen, "cannot write %s: %s", tmp, strerror(o.failed));
		goto fail;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		errf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
		     strerror(errno));
		goto fail;
	}
	fsync_dir_of(path);
	rc = 0;
	goto out;
fail:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(js.p);
	return rc;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY | O_CLOEXEC), out, rc = 0;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = -errno;
		close(in);
		return rc;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			rc = -EIO;
			break;
		}
	if (n < 0)
		rc = -errno;
	if (close(out) < 0 && !rc)
		rc = -errno;
	close(in);
	if (rc)
		unlink(to);
	return rc;
}

int ring_save_backup_copy(const char *path, char *err, size_t errlen)
{
	char d[PATH_MAX], n[PATH_MAX], bdir[PATH_MAX], dst[PATH_MAX + 64];

	snprintf(d, sizeof(d), "%s", path);
	snprintf(n, sizeof(n), "%s", path);
	snprintf(bdir, sizeof(bdir), "%s/backups", dirname(d));
	if (mkdir(bdir, 0755) < 0 && errno != EEXIST) {
		errf(err, errlen, "cannot create backup directory %s: %s",
		     bdir, strerror(errno));
		return -errno;
	}
	snprintf(dst, sizeof(dst), "%s/%ld.%s", bdir, (long)time(NULL),
		 basename(n));
	unlink(dst);
	/* a hard link: the saved file is never rewritten in place; where
	 * the filesystem has none, a copy */
	if (link(path, dst) == 0)
		return 0;
	int rc = copy_file(path, dst);
	if (rc < 0) {
		errf(err, errlen, "cannot keep backup %s: %s", dst,
		     strerror(-rc));
		return rc;
	}
	return 0;
}

/* ---- reading whole files ---- */

static int read_file(const char *path, char **out, size_t *len, char *err,
		     size_t errlen)
{
	struct buf b = {0};
	char chunk[65536];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		int e = errno;
		errf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n) < 0) {
			fclose(f);
			free(b.p);
			errf(err, errlen, "cannot read %s: out of memory", path);
			return -ENOMEM;
		}
	if (ferror(f)) {
		int e = errno ? errno : EIO;
		fclose(f);
		free(b.p);
		errf(err, errlen, "cannot read %s: %s", path, strerror(e));
		return -e;
	}
	fclose(f);
	*out = b.p ? b.p : calloc(1, 1);
	*len = b.n;
	return *out ? 0 : -ENOMEM;
}

/* Inflate gzip (possibly several members) or zlib into one buffer. */
static int inflate_all(const void *in, size_t inlen, struct buf *out,
		       char *err, size_t errlen)
{
	z_stream z = {0};
	unsigned char chunk[65536];
	int rc;

	if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_in = (unsigned char *)in;
	z.avail_in = inlen > UINT_MAX ? UINT_MAX : (uInt)inlen;
	for (;;) {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		rc = inflate(&z, Z_NO_FLUSH);
		if (buf_add(out, chunk, sizeof(chunk) - z.avail_out) < 0) {
			rc = -ENOMEM;
			break;
		}
		if (rc == Z_STREAM_END) {
			if (z.avail_in >= 2 && z.next_in[0] == 0x1f &&
			    z.next_in[1] == 0x8b) {
				inflateReset(&z);
				continue;
			}
			rc = 0;
			break;
		}
		if (rc == Z_BUF_ERROR && z.avail_in == 0) {
			errf(err, errlen, "compressed data is truncated");
			rc = -EINVAL;
			break;
		}
		if (rc != Z_OK) {
			errf(err, errlen, "compressed data is corrupt (%s)",
			     z.msg ? z.msg : "zlib error");
			rc = -EINVAL;
			break;
		}
	}
	inflateEnd(&z);
	return rc;
}

/* ---- JSON in ---- */

struct jp {
	const char *s, *e;
	int depth;
	char *err;
	size_t errlen;
};

static void jws(struct jp *j)
{
	while (j->s < j->e && (*j->s == ' ' || *j->s == '\t' ||
			       *j->s == '\n' || *j->s == '\r'))
		j->s++;
}

static int jfail(struct jp *j, const char *what)
{
	errf(j->err, j->errlen, "ring metadata JSON is invalid: %s", what);
	return -EINVAL;
}

static int jlit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->e - j->s) < n || memcmp(j->s, lit, n))
		return 0;
	j->s += n;
	return 1;
}

static int hex4(const char *s, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			*v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			*v |= c - 'A' + 10;
		else
			return -1;
	}
	return 0;
}

static int put_utf8(struct buf *b, unsigned cp)
{
	char u[4];
	int n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(b, u, n);
}

/* A string; *out (if out) receives a NUL-terminated copy. */
static int jstring(struct jp *j, char **out)
{
	struct buf b = {0};
	int rc = 0;

	jws(j);
	if (j->s >= j->e || *j->s != '"')
		return jfail(j, "expected a string");
	j->s++;
	for (;;) {
		if (j->s >= j->e) {
			rc = jfail(j, "unterminated string");
			break;
		}
		unsigned char c = (unsigned char)*j->s++;
		if (c == '"')
			break;
		if (c < 0x20) {
			rc = jfail(j, "control character in a string");
			break;
		}
		if (c != '\\') {
			if (out && (rc = buf_add(&b, &c, 1)) < 0)
				break;
			continue;
		}
		if (j->s >= j->e) {
			rc = jfail(j, "unterminated escape");
			break;
		}
		char e = *j->s++;
		const char *map = "\"\\/bfnrt", *rep = "\"\\/\b\f\n\r\t";
		const char *m = strchr(map, e);
		if (e && m) {
			if (out && (rc = buf_add(&b, rep + (m - map), 1)) < 0)
				break;
			continue;
		}
		unsigned cp, lo;
		if (e != 'u' || j->e - j->s < 4 || hex4(j->s, &cp) < 0) {
			rc = jfail(j, "bad escape in a string");
			break;
		}
		j->s += 4;
		if (cp >= 0xd800 && cp < 0xdc00 && j->e - j->s >= 6 &&
		    j->s[0] == '\\' && j->s[1] == 'u' && hex4(j->s + 2, &lo) == 0 &&
		    lo >= 0xdc00 && lo < 0xe000) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			j->s += 6;
		}
		if (cp == 0) {
			rc = jfail(j, "NUL character in a string");
			break;
		}
		if (out && (rc = put_utf8(&b, cp)) < 0)
			break;
	}
	if (rc < 0 || !out) {
		free(b.p);
		return rc;
	}
	*out = b.p ? b.p : strdup("");
	return *out ? 0 : -ENOMEM;
}

static int jnumber(struct jp *j, double *v)
{
	char tmp[64];
	const char *st;
	size_t n;
	char *end;

	jws(j);
	st = j->s;
	while (j->s < j->e && strchr("+-0123456789.eE", *j->s))
		j->s++;
	n = j->s - st;
	if (!n || n >= sizeof(tmp))
		return jfail(j, "expected a number");
	memcpy(tmp, st, n);
	tmp[n] = 0;
	*v = strtod(tmp, &end);
	if (*end || !isfinite(*v))
		return jfail(j, "malformed number");
	return 0;
}

static int jint(struct jp *j, long long lo, long long hi, long long *v,
		const char *what)
{
	double d;
	int rc = jnumber(j, &d);

	if (rc < 0)
		return rc;
	if (d != ring_floor(d) || d < (double)lo || d > (double)hi) {
		errf(j->err, j->errlen, "ring metadata: %s %g is out of range",
		     what, d);
		return -EINVAL;
	}
	*v = (long long)d;
	return 0;
}

static int jskip(struct jp *j)
{
	int rc = 0;

	jws(j);
	if (j->s >= j->e)
		return jfail(j, "unexpected end");
	if (++j->depth > JSON_MAX_DEPTH)
		return jfail(j, "nested too deeply");
	char c = *j->s;
	if (c == '"') {
		rc = jstring(j, NULL);
	} else if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		j->s++;
		jws(j);
		if (j->s < j->e && *j->s == close) {
			j->s++;
		} else {
			for (;;) {
				if (c == '{') {
					if ((rc = jstring(j, NULL)) < 0)
						break;
					jws(j);
					if (j->s >= j->e || *j->s++ != ':') {
						rc = jfail(j, "expected ':'");
						break;
					}
				}
				if ((rc = jskip(j)) < 0)
					break;
				jws(j);
				if (j->s < j->e && *j->s == ',') {
					j->s++;
					continue;
				}
				if (j->s < j->e && *j->s == close) {
					j->s++;
					break;
				}
				rc = jfail(j, "expected ',' or a closing bracket");
				break;
			}
		}
	} else if (jlit(j, "null") || jlit(j, "true") || jlit(j, "false")) {
		rc = 0;
	} else {
		double d;
		rc = jnumber(j, &d);
	}
	j->depth--;
	return rc;
}

/* Iterate an object's members: calls fn(key) positioned at the value. */
typedef int (*jmember_fn)(struct jp *j, const char *key, void *ctx);

static int jobject(struct jp *j, jmember_fn fn, void *ctx)
{
	int rc = 0;

	jws(j);
	if (j->s >= j->e || *j->s != '{')
		return jfail(j, "expected an object");
	j->s++;
	jws(j);
	if (j->s < j->e && *j->s == '}') {
		j->s++;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		if ((rc = jstring(j, &key)) < 0)
			return rc;
		jws(j);
		if (j->s >= j->e || *j->s++ != ':') {
			free(key);
			return jfail(j, "expected ':'");
		}
		rc = fn(j, key, ctx);
		free(key);
		if (rc < 0)
			return rc;
		jws(j);
		if (j->s < j->e && *j->s == ',') {
			j->s++;
			continue;
		}
		if (j->s < j->e && *j->s == '}') {
			j->s++;
			return 0;
		}
		return jfail(j, "expected ',' or '}'");
	}
}

static int jnull(struct jp *j)
{
	jws(j);
	return jlit(j, "null");
}

static int dev_member(struct jp *j, const char *key, void *ctx)
{
	struct ring_dev *d = ctx;
	long long v;
	int rc;
	char **str = NULL;

	if (!strcmp(key, "ip"))
		str = &d->ip;
	else if (!strcmp(key, "replication_ip"))
		str = &d->repl_ip;
	else if (!strcmp(key, "device"))
		str = &d->device;
	else if (!strcmp(key, "meta"))
		str = &d->meta;
	if (str) {
		if (jnull(j))
			return 0;
		free(*str);
		*str = NULL;
		return jstring(j, str);
	}
	if (!strcmp(key, "weight")) {
		if (jnull(j))
			return 0;
		rc = jnumber(j, &d->weight);
		if (rc == 0 && d->weight < 0)
			return jfail(j, "negative device weight");
		return rc;
	}
	int *iv = !strcmp(key, "region") ? &d->region :
		  !strcmp(key, "zone") ? &d->zone :
		  !strcmp(key, "port") ? &d->port :
		  !strcmp(key, "replication_port") ? &d->repl_port : NULL;
	if (iv) {
		if (jnull(j))
			return 0;
		if ((rc = jint(j, INT_MIN, INT_MAX, &v, key)) < 0)
			return rc;
		*iv = (int)v;
		return 0;
	}
	if (!strcmp(key, "id")) {
		if ((rc = jint(j, 0, RING_MAX_DEVS, &v, "device id")) < 0)
			return rc;
		d->id = (uint32_t)v;
		return 0;
	}
	return jskip(j);
}

struct hdr_ctx {
	struct ring *r;
	long long part_shift, replica_count;
	int little;
	int have_shift, have_count, have_devs;
};

static int hdr_member(struct jp *j, const char *key, void *vctx)
{
	struct hdr_ctx *h = vctx;
	struct ring *r = h->r;
	long long v;
	int rc;

	if (!strcmp(key, "part_shift")) {
		h->have_shift = 1;
		return jint(j, 0, 32, &h->part_shift, "part_shift");
	}
	if (!strcmp(key, "replica_count")) {
		h->have_count = 1;
		return jint(j, 0, (long long)RING_MAX_REPLICAS,
			    &h->replica_count, "replica_count");
	}
	if (!strcmp(key, "version")) {
		if (jnull(j))
			return 0;
		if ((rc = jint(j, 0, LLONG_MAX / 2, &v, "version")) < 0)
			return rc;
		r->version = v;
		return 0;
	}
	if (!strcmp(key, "next_part_power")) {
		if (jnull(j))
			return 0;
		if ((rc = jint(j, 0, 32, &v, "next_part_power")) < 0)
			return rc;
		r->next_part_power = (int)v;
		return 0;
	}
	if (!strcmp(key, "byteorder")) {
		char *s = NULL;
		if ((rc = jstring(j, &s)) < 0)
			return rc;
		if (!strcmp(s, "little"))
			h->little = 1;
		else if (!strcmp(s, "big"))
			h->little = 0;
		else
			rc = jfail(j, "byteorder is neither \"little\" nor \"big\"");
		free(s);
		return rc;
	}
	if (strcmp(key, "devs"))
		return jskip(j);
	/* the device list, indexed by position; null marks a hole */
	h->have_devs = 1;
	jws(j);
	if (j->s >= j->e || *j->s != '[')
		return jfail(j, "devs is not a list");
	j->s++;
	jws(j);
	if (j->s < j->e && *j->s == ']') {
		j->s++;
		return 0;
	}
	for (uint32_t idx = 0;; idx++) {
		if (idx >= RING_MAX_DEVS + 1)
			return jfail(j, "more than 65535 devices");
		if (!jnull(j)) {
			struct ring_dev d = {0};
			rc = jobject(j, dev_member, &d);
			if (rc == 0 && (!d.ip || !d.device)) {
				rc = jfail(j, "a device lacks ip or device");
			}
			if (rc == 0 && (rc = ring_reserve_dev(r, idx)) == 0) {
				d.id = idx;
				d.present = 1;
				if (!d.repl_ip)
					d.repl_ip = strdup(d.ip);
				if (!d.meta)
					d.meta = strdup("");
				if (!d.repl_port)
					d.repl_port = d.port;
				r->devs[idx] = d;
				if (!d.repl_ip || !d.meta)
					rc = -ENOMEM;
			} else {
				ring_dev_clear(&d);
			}
			if (rc < 0)
				return rc == -ERANGE ? jfail(j, "too many devices") : rc;
		} else if ((rc = ring_reserve_dev(r, idx)) < 0) {
			return jfail(j, "too many devices");
		}
		jws(j);
		if (j->s < j->e && *j->s == ',') {
			j->s++;
			continue;
		}
		if (j->s < j->e && *j->s == ']') {
			j->s++;
			return 0;
		}
		return jfail(j, "expected ',' or ']' in devs");
	}
}

int ring_load_mem(const void *data, size_t len, struct ring **out, char *err,
		  size_t errlen)
{
	struct buf raw = {0};
	struct ring *r = NULL;
	struct hdr_ctx h = {0};
	struct jp j = {0};
	const unsigned char *p;
	size_t json_len, rest;
	int rc;

	*out = NULL;
	if ((rc = inflate_all(data, len, &raw, err, errlen)) < 0)
		goto fail;
	p = (const unsigned char *)raw.p;
	if (raw.n < 10 || memcmp(p, "R1NG", 4) != 0) {
		errf(err, errlen, "not a ring file: the R1NG magic is missing "
		     "(old pickled rings are not supported)");
		rc = -EINVAL;
		goto fail;
	}
	if (p[4] != 0 || p[5] != 1) {
		errf(err, errlen, "unknown ring format version %u",
		     (unsigned)p[4] << 8 | p[5]);
		rc = -EINVAL;
		goto fail;
	}
	json_len = (size_t)p[6] << 24 | (size_t)p[7] << 16 | (size_t)p[8] << 8 |
		   p[9];
	if (json_len > JSON_MAX_LEN || json_len > raw.n - 10) {
		errf(err, errlen, "ring file is truncated: metadata of %zu "
		     "bytes announced, %zu present", json_len, raw.n - 10);
		rc = -EINVAL;
		goto fail;
	}
	r = ring_new(0, 0);
	if (!r) {
		rc = -ENOMEM;
		goto fail;
	}
	h.r = r;
	h.little = 1;
	j = (struct jp){(const char *)p + 10, (const char *)p + 10 + json_len,
			0, err, errlen};
	if ((rc = jobject(&j, hdr_member, &h)) < 0)
		goto fail;
	jws(&j);
	if (j.s != j.e) {
		rc = jfail(&j, "trailing data after the object");
		goto fail;
	}
	if (!h.have_shift || !h.have_count || !h.have_devs) {
		errf(err, errlen, "ring metadata lacks %s",
		     !h.have_shift ? "part_shift" :
		     !h.have_count ? "replica_count" : "devs");
		rc = -EINVAL;
		goto fail;
	}
	r->part_power = 32 - (unsigned)h.part_shift;
	if (r->part_power > 31) {
		errf(err, errlen, "part_shift 0 (part power 32) cannot be "
		     "loaded: a row would hold 2^32 entries");
		rc = -EFBIG;
		goto fail;
	}
	/* rows: replica_count rows of 2^part_power entries; the last may end
	 * early (fractional replicas), exactly as Swift reads them */
	{
		uint64_t P = ring_partitions(r);
		const unsigned char *rp = p + 10 + json_len;
		rest = raw.n - 10 - json_len;
		if (rest % 2) {
			errf(err, errlen, "ring file is truncated: odd number "
			     "of table bytes");
			rc = -EINVAL;
			goto fail;
		}
		r->rows = calloc(h.replica_count ? h.replica_count : 1,
				 sizeof(*r->rows));
		r->row_len = calloc(h.replica_count ? h.replica_count : 1,
				    sizeof(*r->row_len));
		if (!r->rows || !r->row_len) {
			rc = -ENOMEM;
			goto fail;
		}
		for (long long i = 0; i < h.replica_count; i++) {
			uint64_t n = rest / 2 < P ? rest / 2 : P;
			if (n == 0 || (n < P && i + 1 < h.replica_count)) {
				errf(err, errlen, "ring file is truncated: row "
				     "%lld has %llu of %llu entries", i,
				     (unsigned long long)n,
				     (unsigned long long)P);
				rc = -EINVAL;
				goto fail;
			}
			r->rows[i] = malloc(n * 2);
			if (!r->rows[i]) {
				rc = -ENOMEM;
				goto fail;
			}
			memcpy(r->rows[i], rp, n * 2);
			if ((h.little != 0) != host_little())
				swap16(r->rows[i], n);
			r->row_len[i] = (uint32_t)n;
			r->nrows++;
			rp += n * 2;
			rest -= n * 2;
			for (uint64_t k = 0; k < n; k++) {
				uint16_t d = r->rows[i][k];
				if (d >= r->ndevs || !r->devs[d].present) {
					errf(err, errlen, "ring table refers to "
					     "device %u, which is not in the "
					     "device list", d);
					rc = -EINVAL;
					goto fail;
				}
			}
		}
		if (!r->nrows) {
			errf(err, errlen, "ring file has no replica rows");
			rc = -EINVAL;
			goto fail;
		}
	}
	r->replicas = ring_effective_replicas(r);
	ring_update_bookkeeping(r);
	free(raw.p);
	*out = r;
	return 0;
fail:
	if (rc == -ENOMEM)
		errf(err, errlen, "out of memory reading the ring");
	free(raw.p);
	ring_free(r);
	return rc;
}

int ring_load(const char *path, struct ring **out, char *err, size_t errlen)
{
	char *data = NULL, e2[RING_ERRLEN];
	size_t len = 0;
	int rc = read_file(path, &data, &len, err, errlen);

	if (rc < 0)
		return rc;
	rc = ring_load_mem(data, len, out, e2, sizeof(e2));
	if (rc < 0)
		errf(err, errlen, "cannot load ring %s: %s", path, e2);
	free(data);
	return rc;
}

/* ---- builder file ---- */

/* Strings are written percent-encoded after '=' so that spaces, newlines
 * and empty strings survive the line format. */
static void put_str(struct out *o, const char *s)
{
	char tmp[4];

	out_write(o, " =", 2);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '%') {
			snprintf(tmp, sizeof(tmp), "%%%02X", c);
			out_write(o, tmp, 3);
		} else {
			out_write(o, s, 1);
		}
	}
}

static void put_line(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_write(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

int ring_builder_save(const struct ring_builder *b, const char *path,
		      char *err, size_t errlen)
{
	const struct ring *r = b->r;
	struct out o = {0};
	char tmp[PATH_MAX];
	unsigned char le[4];
	uint32_t ndev = 0;
	int fd, rc;

	fd = tmp_open(path, tmp, sizeof(tmp));
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return rc;
	}
	o.f = fdopen(fd, "wb");
	if (!o.f) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		errf(err, errlen, "cannot write %s: %s", tmp, strerror(-rc));
		return rc;
	}
	setvbuf(o.f, NULL, _IOFBF, 1 << 17);
	o.crc = crc32(0, NULL, 0);
	for (uint32_t i = 0; i < r->ndevs; i++)
		ndev += r->devs[i].present;
	out_write(&o, BUILDER_MAGIC, strlen(BUILDER_MAGIC));
	put_line(&o, "part_power %u\nreplicas %.17g\nmin_part_hours %u\n"
		 "overload %.17g\nversion %lld\n", r->part_power, r->replicas,
		 b->min_part_hours, b->overload, r->version);
	put_line(&o, "last_part_moves_epoch %lld\ndevs_changed %d\n"
		 "last_balance %.17g\nlast_dispersion %.17g\ndevs %u\n",
		 (long long)b->last_part_moves_epoch, b->devs_changed,
		 b->last_balance, b->last_dispersion, ndev);
	for (uint32_t i = 0; i < r->ndevs; i++) {
		const struct ring_dev *d = &r->devs[i];
		if (!d->present)
			continue;
		put_line(&o, "dev %u %d %d", d->id, d->region, d->zone);
		put_str(&o, d->ip);
		put_line(&o, " %d", d->port);
		put_str(&o, d->repl_ip);
		put_line(&o, " %d", d->repl_port);
		put_str(&o, d->device);
		put_line(&o, " %.17g %d", d->weight, d->removing);
		put_str(&o, d->meta);
		out_write(&o, "\n", 1);
	}
	put_line(&o, "table %u %d\n", r->nrows, b->last_part_moves ? 1 : 0);
	for (unsigned i = 0; i < r->nrows; i++) {
		le[0] = (unsigned char)r->row_len[i];
		le[1] = (unsigned char)(r->row_len[i] >> 8);
		le[2] = (unsigned char)(r->row_len[i] >> 16);
		le[3] = (unsigned char)(r->row_len[i] >> 24);
		out_write(&o, le, 4);
	}
	out_rows(&o, r, 1);
	if (b->last_part_moves)
		out_write(&o, b->last_part_moves, ring_partitions(r));
	{
		uLong c = o.crc;
		le[0] = (unsigned char)c;
		le[1] = (unsigned char)(c >> 8);
		le[2] = (unsigned char)(c >> 16);
		le[3] = (unsigned char)(c >> 24);
		out_write(&o, le, 4);
	}
	if (!o.failed && fflush(o.f) != 0)
		o.failed = errno;
	if (!o.failed && fsync(fileno(o.f)) < 0)
		o.failed = errno;
	if (fclose(o.f) != 0 && !o.failed)
		o.failed = errno;
	if (o.failed) {
		unlink(tmp);
		errf(err, errlen, "cannot write %s: %s", tmp, strerror(o.failed));
		return -o.failed;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		errf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
		     strerror(-rc));
		return rc;
	}
	fsync_dir_of(path);
	return 0;
}

struct rd {
	const char *s, *e;
	char *err;
	size_t errlen;
	unsigned line;
};

static int rd_fail(struct rd *c, const char *what)
{
	errf(c->err, c->errlen, "builder file is corrupt at line %u: %s",
	     c->line, what);
	return -EINVAL;
}

/* One space-separated token of the current line. */
static int rd_tok(struct rd *c, const char **t, size_t *n)
{
	while (c->s < c->e && *c->s == ' ')
		c->s++;
	*t = c->s;
	while (c->s < c->e && *c->s != ' ' && *c->s != '\n')
		c->s++;
	*n = c->s - *t;
	return *n ? 0 : rd_fail(c, "a field is missing");
}

static int rd_eol(struct rd *c)
{
	while (c->s < c->e && *c->s == ' ')
		c->s++;
	if (c->s >= c->e || *c->s != '\n')
		return rd_fail(c, "extra data at the end of the line");
	c->s++;
	c->line++;
	return 0;
}

static int rd_key(struct rd *c, const char *key)
{
	const char *t;
	size_t n;
	int rc = rd_tok(c, &t, &n);

	if (rc < 0)
		return rc;
	if (n != strlen(key) || memcmp(t, key, n)) {
		char m[128];
		snprintf(m, sizeof(m), "expected \"%s\"", key);
		return rd_fail(c, m);
	}
	return 0;
}

static int rd_ll(struct rd *c, long long lo, long long hi, long long *v)
{
	const char *t;
	size_t n;
	char tmp[32], *end;
	int rc = rd_tok(c, &t, &n);

	if (rc < 0)
		return rc;
	if (n >= sizeof(tmp))
		return rd_fail(c, "number too long");
	memcpy(tmp, t, n);
	tmp[n] = 0;
	errno = 0;
	*v = strtoll(tmp, &end, 10);
	if (*end || errno || *v < lo || *v > hi)
		return rd_fail(c, "number malformed or out of range");
	return 0;
}

static int rd_dbl(struct rd *c, double *v)
{
	const char *t;
	size_t n;
	char tmp[64], *end;
	int rc = rd_tok(c, &t, &n);

	if (rc < 0)
		return rc;
	if (n >= sizeof(tmp))
		return rd_fail(c, "number too long");
	memcpy(tmp, t, n);
	tmp[n] = 0;
	*v = strtod(tmp, &end);
	if (*end || isnan(*v) || isinf(*v))
		return rd_fail(c, "malformed number");
	return 0;
}

static int rd_str(struct rd *c, char **out)
{
	const char *t;
	size_t n;
	unsigned v;
	char *s, *w;
	int rc = rd_tok(c, &t, &n);

	if (rc < 0)
		return rc;
	if (t[0] != '=')
		return rd_fail(c, "a string field lacks its '='");
	s = w = malloc(n);
	if (!s)
		return -ENOMEM;
	for (size_t i = 1; i < n; i++) {
		if (t[i] != '%') {
			*w++ = t[i];
			continue;
		}
		if (i + 2 >= n) {
			free(s);
			return rd_fail(c, "truncated %-escape");
		}
		char hx[3] = {t[i + 1], t[i + 2], 0}, *end;
		v = (unsigned)strtoul(hx, &end, 16);
		if (*end || v == 0 || !hx[0] || hx[0] == '-' || hx[0] == '+') {
			free(s);
			return rd_fail(c, "bad %-escape");
		}
		*w++ = (char)v;
		i += 2;
	}
	*w = 0;
	*out = s;
	return 0;
}

int ring_builder_parse(const void *data, size_t len, struct ring_builder **out,
		       char *err, size_t errlen)
{
	const unsigned char *u = data;
	struct rd c = {(const char *)data, NULL, err, errlen, 1};
	struct ring_builder *b = NULL;
	struct ring *r;
	long long v, ndev, nrows, has_moves;
	double dv;
	int rc;
	uint32_t crc_file;
	uLong crc;

	*out = NULL;
	if (len < strlen(BUILDER_MAGIC) + 4 ||
	    memcmp(data, BUILDER_MAGIC, strlen(BUILDER_MAGIC)) != 0) {
		errf(err, errlen, "not a CassaFS ring builder file (magic "
		     "\"CASSAFS-RING-BUILDER 1\" missing)");
		return -EINVAL;
	}
	crc_file = (uint32_t)u[len - 4] | (uint32_t)u[len - 3] << 8 |
		   (uint32_t)u[len - 2] << 16 | (uint32_t)u[len - 1] << 24;
	crc = crc32(crc32(0, NULL, 0), data, (uInt)(len - 4));
	if (len - 4 > UINT_MAX || crc != crc_file) {
		errf(err, errlen, "builder file is truncated or corrupt "
		     "(checksum mismatch)");
		return -EINVAL;
	}
	c.e = (const char *)data + len - 4;
	c.s += strlen(BUILDER_MAGIC);
	c.line = 2;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->r = ring_new(0, 1))) {
		free(b);
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = b->r;
#define NEED(x) do { if ((rc = (x)) < 0) goto fail; } while (0)
	NEED(rd_key(&c, "part_power"));
	NEED(rd_ll(&c, 0, 32, &v));
	NEED(rd_eol(&c));
	r->part_power = (unsigned)v;
	NEED(rd_key(&c, "replicas"));
	NEED(rd_dbl(&c, &dv));
	NEED(rd_eol(&c));
	if (!(dv >= 1 && dv <= RING_MAX_REPLICAS)) {
		rc = rd_fail(&c, "replica count out of range");
		goto fail;
	}
	r->replicas = dv;
	NEED(rd_key(&c, "min_part_hours"));
	NEED(rd_ll(&c, 0, 255, &v));
	NEED(rd_eol(&c));
	b->min_part_hours = (unsigned)v;
	NEED(rd_key(&c, "overload"));
	NEED(rd_dbl(&c, &b->overload));
	NEED(rd_eol(&c));
	if (b->overload < 0) {
		rc = rd_fail(&c, "negative overload");
		goto fail;
	}
	NEED(rd_key(&c, "version"));
	NEED(rd_ll(&c, 0, LLONG_MAX / 2, &r->version));
	NEED(rd_eol(&c));
	NEED(rd_key(&c, "last_part_moves_epoch"));
	NEED(rd_ll(&c, 0, LLONG_MAX / 2, &v));
	NEED(rd_eol(&c));
	b->last_part_moves_epoch = v;
	NEED(rd_key(&c, "devs_changed"));
	NEED(rd_ll(&c, 0, 1, &v));
	NEED(rd_eol(&c));
	b->devs_changed = (int)v;
	NEED(rd_key(&c, "last_balance"));
	NEED(rd_dbl(&c, &b->last_balance));
	NEED(rd_eol(&c));
	NEED(rd_key(&c, "last_dispersion"));
	NEED(rd_dbl(&c, &b->last_dispersion));
	NEED(rd_eol(&c));
	NEED(rd_key(&c, "devs"));
	NEED(rd_ll(&c, 0, RING_MAX_DEVS, &ndev));
	NEED(rd_eol(&c));
	for (long long i = 0; i < ndev; i++) {
		struct ring_dev d = {0};
		long long id, reg, zone, port, rport, removing;
		NEED(rd_key(&c, "dev"));
		NEED(rd_ll(&c, 0, RING_MAX_DEVS - 1, &id));
		NEED(rd_ll(&c, INT_MIN, INT_MAX, &reg));
		NEED(rd_ll(&c, INT_MIN, INT_MAX, &zone));
		if ((rc = rd_str(&c, &d.ip)) < 0 ||
		    (rc = rd_ll(&c, 0, 65535, &port)) < 0 ||
		    (rc = rd_str(&c, &d.repl_ip)) < 0 ||
		    (rc = rd_ll(&c, 0, 65535, &rport)) < 0 ||
		    (rc = rd_str(&c, &d.device)) < 0 ||
		    (rc = rd_dbl(&c, &d.weight)) < 0 ||
		    (rc = rd_ll(&c, 0, 1, &removing)) < 0 ||
		    (rc = rd_str(&c, &d.meta)) < 0 || (rc = rd_eol(&c)) < 0) {
			ring_dev_clear(&d);
			goto fail;
		}
		if (d.weight < 0 || (id < r->ndevs && r->devs[id].present)) {
			ring_dev_clear(&d);
			rc = rd_fail(&c, "negative weight or duplicate device id");
			goto fail;
		}
		if ((rc = ring_reserve_dev(r, (uint32_t)id)) < 0) {
			ring_dev_clear(&d);
			goto fail;
		}
		d.id = (uint32_t)id;
		d.region = (int)reg;
		d.zone = (int)zone;
		d.port = (int)port;
		d.repl_port = (int)rport;
		d.removing = (int)removing;
		d.present = 1;
		r->devs[id] = d;
	}
	NEED(rd_key(&c, "table"));
	NEED(rd_ll(&c, 0, (long long)RING_MAX_REPLICAS, &nrows));
	NEED(rd_ll(&c, 0, 1, &has_moves));
	NEED(rd_eol(&c));
	{
		uint64_t P = ring_partitions(r), need;
		size_t left = (size_t)(c.e - c.s);
		const unsigned char *p = (const unsigned char *)c.s;
		if (left < (size_t)nrows * 4) {
			rc = rd_fail(&c, "table is truncated");
			goto fail;
		}
		r->rows = calloc(nrows ? nrows : 1, sizeof(*r->rows));
		r->row_len = calloc(nrows ? nrows : 1, sizeof(*r->row_len));
		if (!r->rows || !r->row_len) {
			rc = -ENOMEM;
			goto fail;
		}
		need = (uint64_t)nrows * 4 + (has_moves ? P : 0);
		for (long long i = 0; i < nrows; i++) {
			uint32_t n = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 |
				     (uint32_t)p[i * 4 + 2] << 16 |
				     (uint32_t)p[i * 4 + 3] << 24;
			if (n == 0 || n > P) {
				rc = rd_fail(&c, "a table row has a bad length");
				goto fail;
			}
			r->row_len[i] = n;
			need += (uint64_t)n * 2;
		}
		if (need != left) {
			rc = rd_fail(&c, "table size does not match its header");
			goto fail;
		}
		p += nrows * 4;
		for (long long i = 0; i < nrows; i++) {
			uint32_t n = r->row_len[i];
			r->rows[i] = malloc((size_t)n * 2 + 2);
			if (!r->rows[i]) {
				rc = -ENOMEM;
				goto fail;
			}
			r->nrows++;
			memcpy(r->rows[i], p, (size_t)n * 2);
			if (!host_little())
				swap16(r->rows[i], n);
			p += (size_t)n * 2;
			for (uint32_t k = 0; k < n; k++) {
				uint16_t d = r->rows[i][k];
				if (d != RING_NONE_DEV &&
				    (d >= r->ndevs || !r->devs[d].present)) {
					rc = rd_fail(&c, "table refers to a "
						     "device that does not exist");
					goto fail;
				}
			}
		}
		if (has_moves) {
			b->last_part_moves = malloc(P);
			if (!b->last_part_moves) {
				rc = -ENOMEM;
				goto fail;
			}
			memcpy(b->last_part_moves, p, P);
		}
	}
#undef NEED
	*out = b;
	return 0;
fail:
	if (rc == -ENOMEM)
		errf(err, errlen, "out of memory reading the builder file");
	ring_builder_free(b);
	return rc;
}

int ring_builder_load(const char *path, struct ring_builder **out, char *err,
		      size_t errlen)
{
	char *data = NULL, e2[RING_ERRLEN];
	size_t len = 0;
	int rc = read_file(path, &data, &len, err, errlen);

	if (rc < 0)
		return rc;
	rc = ring_builder_parse(data, len, out, e2, sizeof(e2));
	if (rc < 0)
		errf(err, errlen, "cannot load builder %s: %s", path, e2);
	free(data);
	return rc;
}
