/*
 * data_ring.c — the `ring` data engine: CassaFS is its own Swift proxy.
 *
 *   ring:///PATH/object.ring.gz[?OPTION=VALUE&…]
 *
 * Each object is stored as ACCOUNT/CONTAINER/KEY straight on the Swift
 * object servers that the ring names for its partition, as Swift's proxy
 * does: PUT to the R primaries in parallel (X-Timestamp, Content-Type,
 * ETag = MD5 that the server verifies), success at a quorum (R/2 + 1),
 * a handoff device taking the place of each primary that fails; GET from
 * one primary after the other (then handoffs) until one answers, checking
 * the MD5 of whole-object reads; DELETE to every replica.  The hash path
 * prefix and suffix come from [swift-hash] in swift.conf, so Swift's own
 * tools (swift-get-nodes, the replicator, the auditor) agree on placement.
 *
 * Listing: object servers cannot list.  Every PUT and DELETE carries
 * Swift's container-update headers (X-Container-Host/-Partition/-Device,
 * from the container ring), so real swift-container-servers keep the
 * listing, exactly as behind Swift's proxy; list merges the listings of
 * all container replicas (a replica that missed an update while it was
 * down does not hide an object).
 *
 * The ring file is checked once a second (Swift's proxy: every 15 s) and
 * reloaded when it changed, so a rebalance reaches live mounts.
 *
 * No authentication: the storage network is trusted, as Swift's object
 * servers assume (they sit behind the proxy on a private network).
 *
 * HTTP through http.h (libcurl's multi interface, connections kept alive
 * and shared by every thread), with one try per request: on a failure the
 * engine moves to another device, as Swift's proxy does, instead of
 * retrying the same one.  Bounds: every request ends within `timeout`
 * (default 10 s; connect 1 s); a get tries at most 2R devices one after
 * the other, a put or delete the R primaries at once and then at most R
 * handoffs, one wave of parallel requests per round of failures.
 */
#define _GNU_SOURCE
#include "data_ring.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "data_engine.h"
#include "http.h"
#include "log.h"
#include "ring.h"

#define MAX_REPL 16		/* replicas the engine handles */
#define MAX_TRY (4 * MAX_REPL)

struct ringref {
	struct ring *r;
	int refs;
	struct stat st;
};

struct data_ring {
	char *ring_path, *cring_path;
	char *account, *container;
	char *prefix, *suffix;
	long timeout_ms, conn_timeout_ms;
	unsigned max_conns;
	double reload_s;
	int verify;		/* MD5 of whole-object reads checked */
	int nhashers;		/* hasher threads (-1: one per core, up to 4;
				   0: hash on the transfer thread) */

	pthread_mutex_t lock;		/* the two rings and their checks */
	struct ringref *obj, *cont;
	struct timespec checked;

	struct http *http;	/* connections kept alive, shared by threads */
	struct hashers *hashers; /* MD5 of reads off the transfer thread */
	/* error limiting: a device that failed to answer is tried last (reads)
	 * or skipped for a handoff (writes) until this time (CLOCK_MONOTONIC s) */
	pthread_mutex_t err_lock;
	double *suppress;
	uint32_t nsuppress;
};

/* ---- options, swift.conf ---- */

static int unhex(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* %XX-decode in place */
static void pct_decode(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '%' && unhex((unsigned char)s[1]) >= 0 &&
		    unhex((unsigned char)s[2]) >= 0) {
			*o++ = (char)(unhex((unsigned char)s[1]) * 16 +
				      unhex((unsigned char)s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

static int parse_secs(const char *v, long *ms)
{
	char *e;
	double d = strtod(v, &e);
	if (e == v || *e || !(d > 0) || d > 3600)
		return -1;
	*ms = (long)(d * 1000 + 0.5);
	return 0;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- rings ---- */

static int load_ref(const char *path, struct ringref **out, char *err,
		    size_t err_len)
{
	struct ringref *rr = calloc(1, sizeof(*rr));
	char e[RING_ERRLEN];

	if (!rr)
		return -ENOMEM;
	if (stat(path, &rr->st) < 0) {
		int r = -errno;
		snprintf(err, err_len, "ring %s: %s", path, strerror(errno));
		free(rr);
		return r;
	}
	int r = ring_load(path, &rr->r, e, sizeof(e));
	if (r < 0) {
		snprintf(err, err_len, "%s", e);
		free(rr);
		return r;
	}
	ring_update_bookkeeping(rr->r);
	if (rr->r->nrows > MAX_REPL) {
		snprintf(err, err_len, "ring %s: %u replicas (at most %d)",
			 path, rr->r->nrows, MAX_REPL);
		ring_free(rr->r);
		free(rr);
		return -EINVAL;
	}
	rr->refs = 1;
	*out = rr;
	return 0;
}

static void unref(struct ringref *rr)
{
	if (rr && --rr->refs == 0) {
		ring_free(rr->r);
		free(rr);
	}
}

static int changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev ||
	       a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

/* Reload a ring whose file changed; a file that does not load (being
 * written by hand, say) leaves the old ring in force, with a warning. */
static void maybe_reload(struct data_ring *dr, const char *path,
			 struct ringref **slot)
{
	struct stat st;
	char err[RING_ERRLEN];
	struct ringref *nr;

	if (!path || !*slot || stat(path, &st) < 0 || !changed(&st, &(*slot)->st))
		return;
	if (load_ref(path, &nr, err, sizeof(err)) < 0) {
		log_warn("ring data tier: %s changed but does not load (%s); "
			 "keeping the ring loaded before", path, err);
		(*slot)->st = st; /* do not retry every second */
		return;
	}
	log_info("ring data tier: reloaded %s (%u devices, part power %u)",
		 path, nr->r->ndevs, nr->r->part_power);
	unref(*slot);
	*slot = nr;
}

static struct ringref *get_ref(struct data_ring *dr, int cont)
{
	struct timespec t;
	struct ringref *rr;

	clock_gettime(CLOCK_MONOTONIC, &t);
	pthread_mutex_lock(&dr->lock);
	if ((t.tv_sec - dr->checked.tv_sec) + (t.tv_nsec - dr->checked.tv_nsec) / 1e9 >=
	    dr->reload_s) {
		dr->checked = t;
		maybe_reload(dr, dr->ring_path, &dr->obj);
		maybe_reload(dr, dr->cring_path, &dr->cont);
	}
	rr = cont ? dr->cont : dr->obj;
	if (rr)
		rr->refs++;
	pthread_mutex_unlock(&dr->lock);
	return rr;
}

static void put_ref(struct data_ring *dr, struct ringref *rr)
{
	if (!rr)
		return;
	pthread_mutex_lock(&dr->lock);
	unref(rr);
	pthread_mutex_unlock(&dr->lock);
}

/* ---- error limiting ---- */

#define SUPPRESS_S 10.0

static void dev_failed(struct data_ring *dr, uint32_t dev)
{
	pthread_mutex_lock(&dr->err_lock);
	if (dev >= dr->nsuppress) {
		uint32_t n = dev + 64;
		double *s = realloc(dr->suppress, n * sizeof(*s));
		if (s) {
			for (uint32_t i = dr->nsuppress; i < n; i++)
				s[i] = 0;
			dr->suppress = s;
			dr->nsuppress = n;
		}
	}
	if (dev < dr->nsuppress)
		dr->suppress[dev] = now_s() + SUPPRESS_S;
	pthread_mutex_unlock(&dr->err_lock);
}

static void dev_ok(struct data_ring *dr, uint32_t dev)
{
	pthread_mutex_lock(&dr->err_lock);
	if (dev < dr->nsuppress)
		dr->suppress[dev] = 0;
	pthread_mutex_unlock(&dr->err_lock);
}

static int dev_suppressed(struct data_ring *dr, uint32_t dev)
{
	int s = 0;
	pthread_mutex_lock(&dr->err_lock);
	if (dev < dr->nsuppress && dr->suppress[dev] > now_s())
		s = 1;
	pthread_mutex_unlock(&dr->err_lock);
	return s;
}

/* ---- requests (http.h), one try each ---- */

enum { M_GET, M_HEAD, M_PUT, M_DELETE };
static const char *const method_name[] = {"GET", "HEAD", "PUT", "DELETE"};

#define RQ_HDRS 8

/* What a request needs beside its struct http_req (which http_run wants in
 * a contiguous array): its URL and header lines, and whose it is. */
struct rqx {
	char url[8192];
	char hdr[RQ_HDRS][1100];
	const char *hp[RQ_HDRS + 1];
	int nh;
	int job, slot;
	uint32_t dev;
};

/* A wave: requests run together by one http_run. */
struct wave {
	struct http_req *r;
	struct rqx *x;
	size_t n, cap;
};

static void wave_free(struct wave *w)
{
	for (size_t i = 0; i < w->n; i++)
		http_req_clear(&w->r[i]);
	free(w->r);
	free(w->x);
	memset(w, 0, sizeof(*w));
}

static void wave_reset(struct wave *w)
{
	for (size_t i = 0; i < w->n; i++)
		http_req_clear(&w->r[i]);
	w->n = 0;
}

static void swift_timestamp(char *out, size_t len)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	/* Swift's normal form: seconds with five decimals */
	snprintf(out, len, "%010lld.%05ld", (long long)t.tv_sec,
		 t.tv_nsec / 10000);
}

/* ---- Swift timestamps: "SSSSSSSSSS.FFFFF[_OOOOOOOOOOOOOOOO]" ----
 *
 * Newest wins, as in Swift: a copy or tombstone is ordered by its time,
 * then by its offset (hex, Swift's internal form).  A DELETE leaves a
 * tombstone; a real delete (data_del) is stamped with the current time.
 * Removing one copy that is no longer needed where it is (the mover's old
 * copy, repair's copy on a handoff once the primaries hold the object)
 * also has to leave a tombstone — an object server has no other way — but
 * that tombstone must not read as a delete of the object: it is stamped
 * with the removed copy's own time and an offset with RM_BIT set, newer
 * than that copy and older than any later write or delete. */
#define RM_BIT 0x8000000000000000ULL

struct sts {
	long long sec, frac;	/* frac in 1e-5 s */
	unsigned long long off;
};

static int ts_parse(const char *s, struct sts *t)
{
	char *e;
	memset(t, 0, sizeof(*t));
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	t->sec = strtoll(s, &e, 10);
	if (*e == '.') {
		const char *f = e + 1;
		int n = 0;
		for (; isdigit((unsigned char)*f) && n < 5; f++, n++)
			t->frac = t->frac * 10 + (*f - '0');
		for (; n < 5; n++)
			t->frac *= 10;
		while (isdigit((unsigned char)*f))
			f++;
		e = (char *)f;
	}
	if (*e == '_')
		t->off = strtoull(e + 1, &e, 16);
	return *e ? -1 : 0;
}

int data_ring_ts_cmp(const char *a, const char *b)
{
	struct sts x, y;
	int ha = ts_parse(a, &x) == 0, hb = ts_parse(b, &y) == 0;
	if (!ha || !hb)
		return ha - hb; /* no timestamp is older than any */
	if (x.sec != y.sec)
		return x.sec < y.sec ? -1 : 1;
	if (x.frac != y.frac)
		return x.frac < y.frac ? -1 : 1;
	return x.off < y.off ? -1 : x.off > y.off;
}

int data_ring_ts_is_removal(const char *ts)
{
	struct sts t;
	return ts_parse(ts, &t) == 0 && (t.off & RM_BIT);
}

static void ts_format(const struct sts *t, char *out, size_t len)
{
	if (t->off)
		snprintf(out, len, "%010lld.%05lld_%016llx", t->sec, t->frac,
			 t->off);
	else
		snprintf(out, len, "%010lld.%05lld", t->sec, t->frac);
}

/* 1 if a and b have the same time (offsets aside), 0 if not, -1 if one
 * does not parse. */
static int ts_same_time(const char *a, const char *b)
{
	struct sts x, y;
	if (ts_parse(a, &x) < 0 || ts_parse(b, &y) < 0)
		return -1;
	return x.sec == y.sec && x.frac == y.frac;
}

/* The timestamp of a tombstone that removes the copy stamped ts. */
void data_ring_ts_removal(const char *ts, char *out, size_t len)
{
	struct sts t;
	if (ts_parse(ts, &t) < 0)
		memset(&t, 0, sizeof(t));
	t.off = RM_BIT | ((t.off & ~RM_BIT) + 1);
	ts_format(&t, out, len);
}

/* One step newer than ts, same time (Swift's offset). */
void data_ring_ts_bump(const char *ts, char *out, size_t len)
{
	struct sts t;
	if (ts_parse(ts, &t) < 0)
		memset(&t, 0, sizeof(t));
	t.off++;
	ts_format(&t, out, len);
}

/* A response's timestamp in Swift's internal form (with its offset):
 * X-Backend-Timestamp, else X-Timestamp; "" if neither. */
static void resp_ts(const struct http_req *q, char *out, size_t len)
{
	if (!http_header(q, "X-Backend-Timestamp", out, len) &&
	    !http_header(q, "X-Timestamp", out, len))
		out[0] = 0;
}

/* A 404 that names a tombstone of a real delete (not a removed copy):
 * its timestamp in ts, else ts is "". */
static int resp_deleted(const struct http_req *q, char *ts, size_t len)
{
	ts[0] = 0;
	if (q->status != 404 || !http_header(q, "X-Backend-Timestamp", ts, len))
		return 0;
	if (data_ring_ts_is_removal(ts) || data_ring_ts_cmp(ts, "0") <= 0) {
		ts[0] = 0;
		return 0;
	}
	return 1;
}

static void md5_hex(const void *buf, size_t len, char out[33])
{
	unsigned char dg[16];
	unsigned int dl = 0;
	EVP_Digest(buf, len, dg, &dl, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", dg[i]);
}

static int rq_header(struct rqx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int rq_header(struct rqx *x, const char *fmt, ...)
{
	va_list ap;
	if (x->nh >= RQ_HDRS)
		return -ENOMEM;
	va_start(ap, fmt);
	int n = vsnprintf(x->hdr[x->nh], sizeof(x->hdr[0]), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(x->hdr[0]))
		return -EINVAL;
	x->hp[x->nh] = x->hdr[x->nh];
	x->nh++;
	x->hp[x->nh] = NULL;
	return 0;
}

/* A new request of wave w to device dev of ring r: /DEVICE/PART[PATH]
 * (path already escaped, with its leading '/'; "" for a device probe). */
static struct http_req *rq_new(struct wave *w, const struct ring *r,
			       uint32_t dev, uint32_t part, const char *path,
			       int method, struct rqx **xo)
{
	const struct ring_dev *d = &r->devs[dev];
	char edev[600];

	if (w->n == w->cap) {
		size_t nc = w->cap ? 2 * w->cap : 8;
		struct http_req *nr = realloc(w->r, nc * sizeof(*nr));
		if (!nr)
			return NULL;
		w->r = nr;
		struct rqx *nx = realloc(w->x, nc * sizeof(*nx));
		if (!nx)
			return NULL;
		w->x = nx;
		w->cap = nc;
		/* the requests point at their rqx: fix them after a move */
		for (size_t i = 0; i < w->n; i++) {
			w->r[i].url = w->x[i].url;
			w->r[i].headers = w->x[i].hp;
			for (int k = 0; k < w->x[i].nh; k++)
				w->x[i].hp[k] = w->x[i].hdr[k];
		}
	}
	struct http_req *q = &w->r[w->n];
	struct rqx *x = &w->x[w->n];
	memset(q, 0, sizeof(*q));
	x->url[0] = 0;
	x->nh = 0;
	x->hp[0] = NULL;
	x->job = x->slot = 0;
	if (http_escape(d->device, 0, edev, sizeof(edev)) < 0)
		return NULL;
	int n = snprintf(x->url, sizeof(x->url), "http://%s%s%s:%d/%s/%u%s",
			 strchr(d->ip, ':') ? "[" : "", d->ip,
			 strchr(d->ip, ':') ? "]" : "", d->port, edev, part, path);
	if (n < 0 || (size_t)n >= sizeof(x->url))
		return NULL;
	x->dev = dev;
	q->method = method_name[method];
	q->url = x->url;
	q->headers = x->hp;
	w->n++;
	*xo = x;
	return q;
}

static void wave_run(struct data_ring *dr, struct wave *w)
{
	if (w->n)
		http_run(dr->http, w->r, w->n);
}

/* Run wave w, hand each answer to fn (which may add follow-up requests to
 * the next wave), then run that wave, until one is empty.  Each wave is
 * bounded by the request timeout; fn bounds how many follow. */
typedef void (*answer_fn)(void *arg, struct http_req *q, struct rqx *x,
			  struct wave *next);
static void run_waves(struct data_ring *dr, struct wave *w, answer_fn fn,
		      void *arg)
{
	struct wave nw = {0};
	while (w->n) {
		wave_run(dr, w);
		wave_reset(&nw);
		for (size_t k = 0; k < w->n; k++)
			fn(arg, &w->r[k], &w->x[k], &nw);
		struct wave t = *w;
		*w = nw;
		nw = t;
	}
	wave_free(&nw);
}

/* Response header value, without the quotes Swift puts around ETags. */
static void resp_header(const struct http_req *q, const char *name, char *out,
			size_t len)
{
	if (!http_header(q, name, out, len)) {
		out[0] = 0;
		return;
	}
	size_t n = strlen(out);
	if (n >= 2 && out[0] == '"' && out[n - 1] == '"') {
		memmove(out, out + 1, n - 2);
		out[n - 2] = 0;
	}
}

static int64_t header_int(const struct http_req *q, const char *name)
{
	char v[80];
	if (!http_header(q, name, v, sizeof(v)) || !isdigit((unsigned char)v[0]))
		return -1;
	return strtoll(v, NULL, 10);
}

/* The N of Content-Range "bytes A-B/N", -1 if absent. */
static int64_t range_total(const struct http_req *q)
{
	char v[80];
	const char *sl;
	if (!http_header(q, "Content-Range", v, sizeof(v)) ||
	    !(sl = strchr(v, '/')) || !isdigit((unsigned char)sl[1]))
		return -1;
	return strtoll(sl + 1, NULL, 10);
}

/* No answer, or the server or its device failing: worth an error limit. */
static int is_conn_error(const struct http_req *q)
{
	return q->status == 0 || q->status >= 500;
}

/* ---- placement ---- */

static int object_path(struct data_ring *dr, const char *key, char *out,
		       size_t len)
{
	char ek[3 * DATA_MAX_KEY + 1], ea[800], ec[800];
	/* data.h's keys: printable ASCII (no space), no "//" */
	if (!key || !*key || strlen(key) > DATA_MAX_KEY || strstr(key, "//"))
		return -EINVAL;
	for (const char *p = key; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return -EINVAL;
	if (http_escape(key, 1, ek, sizeof(ek)) < 0 ||
	    http_escape(dr->account, 0, ea, sizeof(ea)) < 0 ||
	    http_escape(dr->container, 0, ec, sizeof(ec)) < 0)
		return -EINVAL;
	snprintf(out, len, "/%s/%s/%s", ea, ec, ek);
	return 0;
}

uint32_t data_ring_part(struct data_ring *dr, const struct ring *r,
			const char *key)
{
	uint32_t part = 0;
	ring_get_part(r, dr->prefix, dr->suffix, dr->account, dr->container,
		      key, &part);
	return part;
}

/* The container servers' X-Container-* headers for replica slot `slot` of
 * an object with nrep replicas: container replica j goes with object
 * replica j mod nrep (Swift's proxy spreads them the same way). */
static int container_headers(struct data_ring *dr, struct ringref *cr,
			     struct rqx *x, int slot, int nrep)
{
	uint32_t ids[MAX_REPL], part;
	char hosts[1024] = "", devs[1024] = "";
	int n;

	if (!cr || nrep <= 0)
		return 0;
	if (ring_get_part(cr->r, dr->prefix, dr->suffix, dr->account,
			  dr->container, NULL, &part) < 0)
		return 0;
	n = ring_part_nodes(cr->r, part, ids, MAX_REPL);
	for (int j = 0; j < n; j++) {
		if (j % nrep != slot % nrep)
			continue;
		const struct ring_dev *d = &cr->r->devs[ids[j]];
		size_t hl = strlen(hosts), dl = strlen(devs);
		snprintf(hosts + hl, sizeof(hosts) - hl, "%s%s%s%s:%d",
			 hl ? "," : "", strchr(d->ip, ':') ? "[" : "", d->ip,
			 strchr(d->ip, ':') ? "]" : "", d->port);
		snprintf(devs + dl, sizeof(devs) - dl, "%s%s", dl ? "," : "",
			 d->device);
	}
	if (!*hosts)
		return 0;
	if (rq_header(x, "X-Container-Host: %s", hosts) ||
	    rq_header(x, "X-Container-Partition: %u", part) ||
	    rq_header(x, "X-Container-Device: %s", devs))
		return -ENOMEM;
	return 0;
}

/* Devices to try for a partition: primaries, then up to nhand handoffs. */
static int part_devices(const struct ring *r, uint32_t part, uint32_t *ids,
			int *nprim, int nhand)
{
	int np = ring_part_nodes(r, part, ids, MAX_REPL);
	int nh = nhand > 0 ? ring_more_nodes(r, part, ids + np,
					     nhand < MAX_TRY - np ? nhand
								  : MAX_TRY - np)
			   : 0;
	*nprim = np;
	return np + (nh > 0 ? nh : 0);
}

/* ---- put and delete: a job per object, R slots, handoffs on failure ---- */

static void hint_write(struct data_ring *dr, struct ringref *cr,
		       const char *key, const char *ts);
static int rows_wave(struct data_ring *dr, struct ringref *cr,
		     const char *hc, int method, const char *key,
		     const char *ts, int *n404);

struct wjob {
	const char *key;
	const void *buf;
	size_t len;
	char path[4 * DATA_MAX_KEY + 1700];
	char etag[33];
	char ts[64];
	uint32_t part, ids[MAX_TRY];
	int nprim, nids, next;	/* next handoff index in ids */
	int ok, nospace, res;
	int hok; /* a delete: handoffs that answered (their copies gone) */
	int missed; /* a delete: primaries it did not reach */
};

static int wjob_req(struct data_ring *dr, struct wave *w, const struct ring *r,
		    struct ringref *cr, struct wjob *j, int jn, int slot,
		    uint32_t dev, int method)
{
	struct rqx *x;
	struct http_req *q = rq_new(w, r, dev, j->part, j->path, method, &x);
	if (!q)
		return -ENOMEM;
	x->job = jn;
	x->slot = slot;
	if (rq_header(x, "X-Timestamp: %s", j->ts) ||
	    container_headers(dr, cr, x, slot, j->nprim) < 0)
		goto fail;
	if (method == M_PUT) {
		if (rq_header(x, "Content-Type: application/octet-stream") ||
		    rq_header(x, "ETag: %s", j->etag))
			goto fail;
		q->body = j->buf ? j->buf : "";
		q->body_len = j->len;
	}
	return 0;
fail:
	w->n--;
	return -ENOMEM;
}

/* Next handoff for a failed slot (skipping devices under error
 * suppression while others remain). */
static int wjob_handoff(struct data_ring *dr, struct wjob *j, uint32_t *dev)
{
	while (j->next < j->nids) {
		uint32_t d = j->ids[j->next++];
		if (!dev_suppressed(dr, d) || j->next == j->nids) {
			*dev = d;
			return 1;
		}
	}
	return 0;
}

struct wctx {
	struct data_ring *dr;
	struct ringref *rr, *cr;
	struct wjob *jobs;
	int method;
};

/* One answer to a put or delete: count it, or send the slot to a handoff. */
static void write_answer(void *arg, struct http_req *q, struct rqx *x,
			 struct wave *next)
{
	struct wctx *c = arg;
	struct wjob *j = &c->jobs[x->job];
	int good = q->res == 0;
	uint32_t dev;

	if (c->method == M_DELETE && (q->status == 404 || q->status == 409))
		good = 1; /* gone already, or a newer write/delete */
	if (x->slot < 0) {
		/* a delete's extra request to a handoff: counted apart, no
		 * failover of its own */
		if (good) {
			j->hok++;
			dev_ok(c->dr, x->dev);
		} else if (is_conn_error(q)) {
			dev_failed(c->dr, x->dev);
		}
		return;
	}
	if (good) {
		j->ok++;
		dev_ok(c->dr, x->dev);
		return;
	}
	if (is_conn_error(q))
		dev_failed(c->dr, x->dev);
	if (q->status == 507)
		j->nospace++;
	if (c->method == M_DELETE && x->dev == j->ids[x->slot])
		j->missed++;
	log_info("ring data tier: %s %s on device %u: %s",
		 method_name[c->method], j->key, x->dev, q->err);
	if (wjob_handoff(c->dr, j, &dev) &&
	    wjob_req(c->dr, next, c->rr->r, c->cr, j, x->job, x->slot, dev,
		     c->method) < 0)
		j->res = -ENOMEM;
}

static int write_jobs(struct data_ring *dr, struct wjob *jobs, size_t n,
		      int method)
{
	struct ringref *rr = get_ref(dr, 0), *cr = get_ref(dr, 1);
	struct wave w = {0};
	int r = 0;

	if (!rr)
		return -EIO;
	for (size_t i = 0; i < n; i++) {
		struct wjob *j = &jobs[i];
		j->res = j->ok = j->nospace = j->hok = j->missed = 0;
		if (object_path(dr, j->key, j->path, sizeof(j->path)) < 0) {
			j->res = -EINVAL;
			continue;
		}
		j->part = data_ring_part(dr, rr->r, j->key);
		j->nids = part_devices(rr->r, j->part, j->ids, &j->nprim,
				       (int)rr->r->nrows);
		j->next = j->nprim;
		if (!j->nprim) {
			j->res = -EIO;
			continue;
		}
		if (method == M_PUT)
			md5_hex(j->buf ? j->buf : "", j->len, j->etag);
		swift_timestamp(j->ts, sizeof(j->ts));
		for (int s = 0; s < j->nprim; s++) {
			uint32_t dev = j->ids[s];
			/* a primary that just failed: straight to a handoff */
			if (dev_suppressed(dr, dev)) {
				wjob_handoff(dr, j, &dev);
				j->missed += method == M_DELETE;
			}
			if (wjob_req(dr, &w, rr->r, cr, j, (int)i, s, dev,
				     method) < 0)
				j->res = -ENOMEM;
		}
		/* A delete goes to the handoffs too, at once: a put while a
		 * primary was down left its copy on one, and a read that finds
		 * no copy on the primaries goes on to the handoffs — it must
		 * not find the deleted object there. */
		if (method == M_DELETE) {
			for (; j->next < j->nids; j->next++)
				if (wjob_req(dr, &w, rr->r, cr, j, (int)i, -1,
					     j->ids[j->next], method) < 0)
					j->res = -ENOMEM;
		}
	}
	struct wctx wc = {dr, rr, cr, jobs, method};
	run_waves(dr, &w, write_answer, &wc);
	for (size_t i = 0; i < n; i++) {
		struct wjob *j = &jobs[i];
		if (j->res < 0)
			continue;
		if (method == M_DELETE) { /* a handoff stands for a failed primary */
			j->ok += j->hok < j->nprim - j->ok ? j->hok
							   : j->nprim - j->ok;
			if (j->missed) {
				hint_write(dr, cr, j->key, j->ts);
				/* the missed primary's slot carried the update
				 * of one listing replica: send it straight */
				if (cr)
					rows_wave(dr, cr, dr->container, M_DELETE,
						  j->key, j->ts, NULL);
			}
		}
		if (j->ok < j->nprim / 2 + 1)
			j->res = j->nospace > j->nprim - j->ok - 1 ? -ENOSPC
								 : -EIO;
	}
	wave_free(&w);
	put_ref(dr, rr);
	put_ref(dr, cr);
	for (size_t i = 0; i < n && !r; i++)
		r = jobs[i].res;
	return r;
}

static int ring_put_batch(void *priv, struct data_io *ios, size_t n)
{
	struct data_ring *dr = priv;
	struct wjob *jobs = calloc(n ? n : 1, sizeof(*jobs));
	if (!jobs) {
		for (size_t i = 0; i < n; i++)
			ios[i].res = -ENOMEM;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		jobs[i].key = ios[i].key;
		jobs[i].buf = ios[i].buf;
		jobs[i].len = ios[i].len;
	}
	int r = write_jobs(dr, jobs, n, M_PUT);
	for (size_t i = 0; i < n; i++)
		ios[i].res = jobs[i].res;
	free(jobs);
	return r;
}

static int ring_put(void *priv, const char *key, const void *buf, size_t len)
{
	struct data_io io = {.key = key, .buf = (void *)buf, .len = len};
	return ring_put_batch(priv, &io, 1);
}

static int ring_del(void *priv, const char *key)
{
	struct wjob *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->key = key;
	int r = write_jobs(priv, j, 1, M_DELETE);
	free(j);
	return r;
}

/* ---- get: one device after the other, every object of a batch at once */

struct rjob {
	struct data_io *io;
	char path[4 * DATA_MAX_KEY + 1700];
	uint32_t part, ids[MAX_TRY];
	int nprim, nids, next;
	int n404, nbad, nerr;
	int verify;
	char del_ts[64]; /* the newest delete's tombstone an answer named: an
			    older copy found after it is not the object */
	EVP_MD_CTX *md; /* the MD5 of a whole-object read, taken as the
			   bytes arrive (http's on_body hook) … */
	/* … by a hasher thread (struct hashers), not the thread running the
	 * transfers: buf[done, avail) has arrived and is not hashed yet */
	struct hashers *hs;
	const unsigned char *base;
	size_t avail, done;
	int queued, busy;
	struct rjob *qnext;
};

/* ---- hashing reads off the transfer thread ----
 *
 * MD5 runs at ~765 MiB/s on one core here, about what the transfers of a
 * batch deliver: hashed on the thread that runs libcurl, it halves that
 * thread's rate.  The bytes land in the caller's buffer in order, so a
 * hasher thread can hash buf[done, avail) while more arrive; on_body only
 * advances avail and, once HASH_STEP bytes wait, queues the job.  The read
 * check then waits for the hasher and hashes the last few bytes itself. */
#define HASH_STEP (256 * 1024)
#define MAX_HASHERS 4

struct hashers {
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	struct rjob *head, *tail;
	pthread_t th[MAX_HASHERS];
	int n, stop;
};

static void *hasher_main(void *arg)
{
	struct hashers *hs = arg;
	pthread_mutex_lock(&hs->lock);
	for (;;) {
		while (!hs->head && !hs->stop)
			pthread_cond_wait(&hs->work, &hs->lock);
		if (!hs->head)
			break;
		struct rjob *j = hs->head;
		hs->head = j->qnext;
		if (!hs->head)
			hs->tail = NULL;
		j->queued = 0;
		j->busy = 1;
		while (j->done < j->avail) {
			size_t from = j->done, to = j->avail;
			pthread_mutex_unlock(&hs->lock);
			EVP_DigestUpdate(j->md, j->base + from, to - from);
			pthread_mutex_lock(&hs->lock);
			j->done = to;
		}
		j->busy = 0;
		pthread_cond_broadcast(&hs->idle);
	}
	pthread_mutex_unlock(&hs->lock);
	return NULL;
}

static struct hashers *hashers_new(int want)
{
	struct hashers *hs = calloc(1, sizeof(*hs));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (want < 0)
		want = ncpu > MAX_HASHERS ? MAX_HASHERS : ncpu > 1 ? (int)ncpu : 1;

	if (!hs)
		return NULL;
	pthread_mutex_init(&hs->lock, NULL);
	pthread_cond_init(&hs->work, NULL);
	pthread_cond_init(&hs->idle, NULL);
	for (; hs->n < want; hs->n++)
		if (pthread_create(&hs->th[hs->n], NULL, hasher_main, hs))
			break;
	return hs; /* no thread at all: jobs are hashed by hasher_finish */
}

static void hashers_free(struct hashers *hs)
{
	if (!hs)
		return;
	pthread_mutex_lock(&hs->lock);
	hs->stop = 1;
	pthread_cond_broadcast(&hs->work);
	pthread_mutex_unlock(&hs->lock);
	for (int i = 0; i < hs->n; i++)
		pthread_join(hs->th[i], NULL);
	pthread_mutex_destroy(&hs->lock);
	pthread_cond_destroy(&hs->work);
	pthread_cond_destroy(&hs->idle);
	free(hs);
}

/* Wait until no hasher holds j (queued or at work); lock held. */
static void hasher_quiesce_locked(struct rjob *j)
{
	while (j->busy || j->queued)
		pthread_cond_wait(&j->hs->idle, &j->hs->lock);
}

/* The job's hash is complete up to avail (the hasher done with it). */
static void hasher_finish(struct rjob *j)
{
	if (!j->hs)
		return;
	pthread_mutex_lock(&j->hs->lock);
	hasher_quiesce_locked(j);
	if (j->done < j->avail)
		EVP_DigestUpdate(j->md, j->base + j->done, j->avail - j->done);
	j->done = j->avail;
	pthread_mutex_unlock(&j->hs->lock);
}

static struct hashers *get_hashers(struct data_ring *dr)
{
	pthread_mutex_lock(&dr->lock);
	if (!dr->hashers && dr->nhashers)
		dr->hashers = hashers_new(dr->nhashers); /* NULL: inline */
	struct hashers *hs = dr->hashers;
	pthread_mutex_unlock(&dr->lock);
	return hs;
}

static void rjob_md5(void *arg, const void *p, size_t n)
{
	struct rjob *j = arg;
	struct hashers *hs = j->hs;
	if (!hs) {
		if (!p)
			EVP_DigestInit_ex(j->md, EVP_md5(), NULL);
		else
			EVP_DigestUpdate(j->md, p, n);
		return;
	}
	pthread_mutex_lock(&hs->lock);
	if (!p) {
		/* a try starts (again): the hasher lets go of the old bytes */
		hasher_quiesce_locked(j);
		EVP_DigestInit_ex(j->md, EVP_md5(), NULL);
		j->base = j->io->buf;
		j->avail = j->done = 0;
	} else {
		j->avail += n; /* the bytes are at base + avail - n (http.h) */
		if (hs->n && !j->queued && !j->busy &&
		    j->avail - j->done >= HASH_STEP) {
			j->queued = 1;
			j->qnext = NULL;
			if (hs->tail)
				hs->tail->qnext = j;
			else
				hs->head = j;
			hs->tail = j;
			pthread_cond_signal(&hs->work);
		}
	}
	pthread_mutex_unlock(&hs->lock);
}

static int rjob_req(struct wave *w, const struct ring *r, struct rjob *j,
		    int jn)
{
	struct data_io *io = j->io;
	struct rqx *x;
	struct http_req *q = rq_new(w, r, j->ids[j->next++], j->part, j->path,
				    io->len ? M_GET : M_HEAD, &x);
	if (!q)
		return -ENOMEM;
	x->job = jn;
	if (io->len) {
		q->buf = io->buf;
		q->buf_len = io->len;
		if (j->verify && io->off == 0) {
			if (!j->md && !(j->md = EVP_MD_CTX_new())) {
				w->n--;
				return -ENOMEM;
			}

			q->on_body = rjob_md5;
			q->on_body_arg = j;
		}
		if (rq_header(x, "Range: bytes=%llu-%llu",
			      (unsigned long long)io->off,
			      (unsigned long long)(io->off + io->len - 1))) {
			w->n--;
			return -ENOMEM;
		}
	}
	return 0;
}

/* Reads go to the primaries in an order that spreads load (a random
 * rotation), the ones that failed lately last, then to handoffs. */
static void read_order(struct data_ring *dr, struct rjob *j)
{
	uint32_t tmp[MAX_TRY];
	int n = 0, np = j->nprim;
	unsigned rot = np ? (unsigned)random() % np : 0;

	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < np; k++) {
			uint32_t d = j->ids[(k + rot) % np];
			if (dev_suppressed(dr, d) == pass)
				tmp[n++] = d;
		}
	memcpy(j->ids, tmp, n * sizeof(*tmp));
}

/* Did request q (for io) read what io asked?  1 good, 0 try elsewhere. */
static int read_ok(struct rjob *j, struct http_req *q, uint32_t dev)
{
	struct data_io *io = j->io;
	char etag[48], ts[64];

	if (q->res == -ENOENT && resp_deleted(q, ts, sizeof(ts)) &&
	    data_ring_ts_cmp(ts, j->del_ts) > 0)
		snprintf(j->del_ts, sizeof(j->del_ts), "%s", ts);
	if (j->del_ts[0] && (q->status == 416 || q->status / 100 == 2)) {
		/* newest wins: a copy older than a delete another device
		 * answered with (a device that missed the delete) is stale */
		resp_ts(q, ts, sizeof(ts));
		if (data_ring_ts_cmp(ts, j->del_ts) < 0) {
			log_info("ring data tier: %s on device %u: copy %s is "
				 "older than the delete at %s", io->key, dev,
				 ts, j->del_ts);
			j->n404++;
			return 0;
		}
	}
	if (q->status == 416 || (q->res == -ERANGE)) {
		io->got = 0; /* offset past the end */
		return 1;
	}
	if (q->res == -ENOENT) {
		j->n404++;
		return 0;
	}
	if (q->res < 0 || (q->status != 200 && q->status != 206) ||
	    (q->status == 200 && io->off > 0 && io->len)) {
		j->nerr++;
		return 0;
	}
	if (!io->len) {
		io->got = 0;
		return 1;
	}
	int64_t total = q->status == 206 ? range_total(q) : header_int(q, "Content-Length");
	if (total >= 0 && io->off + q->got < (uint64_t)total && q->got < io->len) {
		j->nerr++; /* short body */
		return 0;
	}
	resp_header(q, "Etag", etag, sizeof(etag));
	if (j->verify && j->md && io->off == 0 && total >= 0 &&
	    (int64_t)q->got == total && strlen(etag) == 32) {
		unsigned char dg[EVP_MAX_MD_SIZE];
		unsigned dl = 0;
		char md5[33];
		hasher_finish(j);
		EVP_DigestFinal_ex(j->md, dg, &dl);
		for (unsigned i = 0; i < dl && i < 16; i++)
			snprintf(md5 + 2 * i, 3, "%02x", dg[i]);
		md5[32] = 0;
		if (strcasecmp(md5, etag)) {
			log_warn("ring data tier: %s on device %u: MD5 %s, "
				 "expected %s; trying another replica", io->key,
				 dev, md5, etag);
			j->nbad++;
			return 0;
		}
	}
	io->got = q->got;
	return 1;
}

struct rctx {
	struct data_ring *dr;
	struct ringref *rr;
	struct rjob *jobs;
};

/* One answer to a get: done, or on to the next device. */
static void read_answer(void *arg, struct http_req *q, struct rqx *x,
			struct wave *next)
{
	struct rctx *c = arg;
	struct rjob *j = &c->jobs[x->job];
	struct data_io *io = j->io;

	if (read_ok(j, q, x->dev)) {
		dev_ok(c->dr, x->dev);
		io->res = 0;
		return;
	}
	if (is_conn_error(q)) {
		dev_failed(c->dr, x->dev);
		log_info("ring data tier: GET %s on device %u: %s", io->key,
			 x->dev, q->err);
	}
	if (j->next < j->nids) {
		if (rjob_req(next, c->rr->r, j, x->job) < 0)
			io->res = -ENOMEM;
	} else {
		io->got = 0;
		io->res = j->del_ts[0] ? -ENOENT : j->nbad ? -EBADMSG
			: j->n404 >= j->nprim / 2 + 1 ? -ENOENT : -EIO;
	}
}

static int ring_get_batch(void *priv, struct data_io *ios, size_t n)
{
	struct data_ring *dr = priv;
	struct ringref *rr = get_ref(dr, 0);
	struct rjob *jobs = calloc(n ? n : 1, sizeof(*jobs));
	struct hashers *hs = dr->verify ? get_hashers(dr) : NULL;
	struct wave w = {0};
	int r = 0;

	if (!rr || !jobs) {
		r = rr ? -ENOMEM : -EIO;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct rjob *j = &jobs[i];
		j->io = &ios[i];
		j->verify = dr->verify;
		j->hs = j->verify && ios[i].len && ios[i].off == 0 ? hs : NULL;
		ios[i].got = 0;
		ios[i].res = 0;
		if (object_path(dr, ios[i].key, j->path, sizeof(j->path)) < 0) {
			ios[i].res = -EINVAL;
			continue;
		}
		j->part = data_ring_part(dr, rr->r, ios[i].key);
		j->nids = part_devices(rr->r, j->part, j->ids, &j->nprim,
				       (int)rr->r->nrows);
		read_order(dr, j);
		if (!j->nids)
			ios[i].res = -EIO;
		else if (rjob_req(&w, rr->r, j, (int)i) < 0)
			ios[i].res = -ENOMEM;
	}
	struct rctx rc = {dr, rr, jobs};
	run_waves(dr, &w, read_answer, &rc);
out:
	wave_free(&w);
	put_ref(dr, rr);
	for (size_t i = 0; jobs && i < n; i++) {
		if (jobs[i].hs) {
			/* the caller's buffers are theirs again */
			pthread_mutex_lock(&jobs[i].hs->lock);
			hasher_quiesce_locked(&jobs[i]);
			pthread_mutex_unlock(&jobs[i].hs->lock);
		}
		EVP_MD_CTX_free(jobs[i].md);
	}
	free(jobs);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			ios[i].res = r;
		return r;
	}
	for (size_t i = 0; i < n; i++)
		if (ios[i].res < 0)
			return ios[i].res;
	return 0;
}

static int ring_get(void *priv, const char *key, uint64_t off, void *buf,
		    size_t len, size_t *got)
{
	struct data_io io = {.key = key, .buf = buf, .len = len, .off = off};
	int r = ring_get_batch(priv, &io, 1);
	if (got)
		*got = io.got;
	return r;
}

/* ---- the container listing ---- */

#define LIST_PAGE 1000

struct lcur {
	uint32_t dev;
	json_t *page;
	size_t i;
	int more, dead;
	char marker[DATA_MAX_KEY * 4 + 1];
};

static int container_path_of(struct data_ring *dr, const char *cont,
			     char *out, size_t len)
{
	char ea[800], ec[800];
	if (http_escape(dr->account, 0, ea, sizeof(ea)) < 0 ||
	    http_escape(cont, 0, ec, sizeof(ec)) < 0)
		return -EINVAL;
	return snprintf(out, len, "/%s/%s", ea, ec) >= (int)len ? -EINVAL : 0;
}

static int container_path(struct data_ring *dr, char *out, size_t len)
{
	return container_path_of(dr, dr->container, out, len);
}

static int fetch_page(struct data_ring *dr, struct ringref *cr, uint32_t part,
		      const char *cont, const char *prefix, struct lcur *c)
{
	char path[8192], cp[1700], ep[4 * DATA_MAX_KEY + 1], em[4 * DATA_MAX_KEY * 3 + 1];
	struct wave w = {0};
	struct rqx *x;
	struct http_req *q;
	int r = -ENOMEM;

	json_decref(c->page);
	c->page = NULL;
	c->i = 0;
	if (http_escape(prefix ? prefix : "", 0, ep, sizeof(ep)) < 0 ||
	    http_escape(c->marker, 0, em, sizeof(em)) < 0 ||
	    container_path_of(dr, cont, cp, sizeof(cp)) < 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s?format=json&limit=%d&prefix=%s&marker=%s",
		 cp, LIST_PAGE, ep, em);
	if (!(q = rq_new(&w, cr->r, c->dev, part, path, M_GET, &x)))
		goto out;
	wave_run(dr, &w);
	q = &w.r[0];
	if (q->status == 404 || q->status == 204) {
		/* no container there (yet): an empty listing */
		c->page = json_array();
		c->more = 0;
		r = 0;
	} else if (q->status == 200) {
		json_error_t je;
		c->page = json_loadb(q->resp ? q->resp : "", q->resp_len, 0, &je);
		if (!c->page || !json_is_array(c->page)) {
			log_warn("ring data tier: container listing from device "
				 "%u is not JSON: %s", c->dev, je.text);
			r = -EIO;
		} else {
			c->more = json_array_size(c->page) == LIST_PAGE;
			r = 0;
		}
	} else {
		log_info("ring data tier: listing from container device %u: %s",
			 c->dev, q->err);
		r = -EIO;
	}
out:
	wave_free(&w);
	return r;
}

static const char *cur_name(struct lcur *c)
{
	json_t *e = json_array_get(c->page, c->i);
	return e ? json_string_value(json_object_get(e, "name")) : NULL;
}

/* The current entry of c, refilling its page; NULL at its end. */
static json_t *cur_entry(struct data_ring *dr, struct ringref *cr,
			 uint32_t part, const char *cont, const char *prefix,
			 struct lcur *c)
{
	if (c->dead)
		return NULL;
	if (c->page && c->i < json_array_size(c->page))
		return json_array_get(c->page, c->i);
	if (c->page && !c->more)
		return NULL;
	if (fetch_page(dr, cr, part, cont, prefix, c) < 0) {
		c->dead = 1;
		return NULL;
	}
	return c->i < json_array_size(c->page) ? json_array_get(c->page, c->i)
					       : NULL;
}

static int list_container(struct data_ring *dr, const char *cont,
			  const char *prefix, data_ring_list_fn fn, void *arg)
{
	struct ringref *cr = get_ref(dr, 1);
	struct lcur cur[MAX_REPL];
	uint32_t ids[MAX_REPL], part;
	int n = 0, r = 0;

	memset(cur, 0, sizeof(cur));
	if (!cr)
		return -EOPNOTSUPP;
	if (ring_get_part(cr->r, dr->prefix, dr->suffix, dr->account,
			  cont, NULL, &part) < 0) {
		r = -EINVAL;
		goto out;
	}
	n = ring_part_nodes(cr->r, part, ids, MAX_REPL);
	for (int i = 0; i < n; i++)
		cur[i].dev = ids[i];
	/* a merge of the replicas' sorted listings: a name any of them has
	 * is listed once */
	for (;;) {
		const char *min = NULL;
		json_t *me = NULL;
		int live = 0;
		for (int i = 0; i < n; i++) {
			json_t *e = cur_entry(dr, cr, part, cont, prefix,
					      &cur[i]);
			if (!cur[i].dead)
				live++;
			const char *nm = e ? cur_name(&cur[i]) : NULL;
			if (nm && (!min || strcmp(nm, min) < 0)) {
				min = nm;
				me = e;
			}
		}
		if (!live) {
			r = -EIO;
			break;
		}
		if (!min)
			break;
		char name[DATA_MAX_KEY * 4 + 1], etag[40] = "";
		snprintf(name, sizeof(name), "%s", min);
		json_t *b = json_object_get(me, "bytes");
		const char *hs = json_string_value(json_object_get(me, "hash"));
		if (hs)
			snprintf(etag, sizeof(etag), "%s", hs);
		uint64_t size = json_is_integer(b) ? (uint64_t)json_integer_value(b) : 0;
		/* step every cursor past this name before calling out */
		for (int i = 0; i < n; i++) {
			const char *nm = cur[i].dead ? NULL : cur_name(&cur[i]);
			if (nm && !strcmp(nm, name)) {
				snprintf(cur[i].marker, sizeof(cur[i].marker),
					 "%s", name);
				cur[i].i++;
			}
		}
		r = fn(arg, name, size, etag);
		if (r)
			break;
	}
out:
	for (int i = 0; i < n; i++)
		json_decref(cur[i].page);
	put_ref(dr, cr);
	return r;
}

int data_ring_list_all(struct data_ring *dr, const char *prefix,
		       data_ring_list_fn fn, void *arg)
{
	return list_container(dr, dr->container, prefix, fn, arg);
}

/* ---- delete hints ----
 *
 * A delete that could not reach one of the primaries (down, error-limited)
 * leaves that primary with the old copy, and no listing names the object
 * any more: nothing would ever tell repair to look at it.  Swift's answer
 * is the tombstone on the handoff, which the handoff's replicator pushes to
 * the primary; we cannot list what a handoff holds over HTTP, so the
 * delete also writes a hint: a row named after the key in the container
 * CONTAINER-deletes on the container servers (no object data; the row's
 * ETag field carries the delete's timestamp).  `cassafs repair` walks those
 * rows, puts the tombstone on every device that missed it, and removes the
 * row once every primary has it. */

static int hints_container(struct data_ring *dr, char *out, size_t len)
{
	return snprintf(out, len, "%s-deletes", dr->container) >= (int)len
		       ? -EINVAL : 0;
}

/* One request with headers to every container replica of the hints
 * container: PUT or DELETE of path below it ("" for the container
 * itself).  Returns how many answered 2xx, or -errno. */
static int rows_wave(struct data_ring *dr, struct ringref *cr,
		     const char *hc, int method, const char *key,
		     const char *ts, int *n404)
{
	char cp[1700], path[4 * DATA_MAX_KEY + 1800];
	char ek[3 * DATA_MAX_KEY + 1];
	uint32_t ids[MAX_REPL], part;
	struct wave w = {0};
	int n, ok = 0;

	if (container_path_of(dr, hc, cp, sizeof(cp)) < 0 ||
	    ring_get_part(cr->r, dr->prefix, dr->suffix, dr->account, hc, NULL,
			  &part) < 0)
		return -EINVAL;
	if (key) {
		if (http_escape(key, 1, ek, sizeof(ek)) < 0)
			return -EINVAL;
		snprintf(path, sizeof(path), "%s/%s", cp, ek);
	} else {
		snprintf(path, sizeof(path), "%s", cp);
	}
	n = ring_part_nodes(cr->r, part, ids, MAX_REPL);
	for (int i = 0; i < n; i++) {
		struct rqx *x;
		struct http_req *q = rq_new(&w, cr->r, ids[i], part, path,
					    method, &x);
		if (!q || rq_header(x, "X-Timestamp: %s", ts)) {
			wave_free(&w);
			return -ENOMEM;
		}
		if (method == M_PUT) {
			q->body = "";
			if (key && (rq_header(x, "X-Size: 0") ||
				    rq_header(x, "X-Content-Type: "
					      "application/x-cassafs-deleted") ||
				    rq_header(x, "X-Etag: %s", ts))) {
				wave_free(&w);
				return -ENOMEM;
			}
		}
	}
	wave_run(dr, &w);
	if (n404)
		*n404 = 0;
	for (size_t k = 0; k < w.n; k++) {
		if (w.r[k].status / 100 == 2)
			ok++;
		else if (w.r[k].status == 404 && n404)
			(*n404)++;
		else
			log_info("ring data tier: container %s, row %s: %s",
				 hc, key ? key : "(container)", w.r[k].err);
	}
	wave_free(&w);
	return ok;
}

static int hints_wave(struct data_ring *dr, struct ringref *cr, int method,
		      const char *key, const char *ts, int *n404)
{
	char hc[800];
	if (hints_container(dr, hc, sizeof(hc)) < 0)
		return -EINVAL;
	return rows_wave(dr, cr, hc, method, key, ts, n404);
}

int data_ring_unlist(struct data_ring *dr, const char *key,
		     const char *del_ts)
{
	struct ringref *cr = get_ref(dr, 1);
	int r;

	if (!cr)
		return -EOPNOTSUPP;
	r = rows_wave(dr, cr, dr->container, M_DELETE, key, del_ts, NULL);
	put_ref(dr, cr);
	return r > 0 ? 0 : r < 0 ? r : -EIO;
}

/* Record that key was deleted at ts while a primary missed it. */
static void hint_write(struct data_ring *dr, struct ringref *cr,
		       const char *key, const char *ts)
{
	char now[64];
	int ok;

	if (!cr) {
		log_warn("ring data tier: delete of %s missed a primary and "
			 "there is no container ring to note it in: repair "
			 "will not find the copy left there", key);
		return;
	}
	/* the hints container first (an existing one just answers 202) */
	swift_timestamp(now, sizeof(now));
	hints_wave(dr, cr, M_PUT, NULL, now, NULL);
	ok = hints_wave(dr, cr, M_PUT, key, ts, NULL);
	if (ok <= 0)
		log_warn("ring data tier: delete of %s missed a primary and "
			 "no container server took the hint: repair will not "
			 "find the copy left there", key);
}

int data_ring_list_hints(struct data_ring *dr, data_ring_list_fn fn,
			 void *arg)
{
	char hc[800];
	if (hints_container(dr, hc, sizeof(hc)) < 0)
		return -EINVAL;
	return list_container(dr, hc, "", fn, arg);
}

int data_ring_hint_done(struct data_ring *dr, const char *key)
{
	struct ringref *cr = get_ref(dr, 1);
	char now[64];
	int r;

	if (!cr)
		return -EOPNOTSUPP;
	swift_timestamp(now, sizeof(now));
	r = hints_wave(dr, cr, M_DELETE, key, now, NULL);
	put_ref(dr, cr);
	return r > 0 ? 0 : r < 0 ? r : -EIO;
}

struct list_adapt {
	data_list_fn fn;
	void *arg;
};

static int list_adapt_cb(void *arg, const char *key, uint64_t size,
			 const char *etag)
{
	struct list_adapt *a = arg;
	return a->fn(a->arg, key, size);
}

static int ring_list(void *priv, const char *prefix, data_list_fn fn,
		     void *arg)
{
	struct list_adapt a = {fn, arg};
	return data_ring_list_all(priv, prefix, list_adapt_cb, &a);
}

/* ---- prepare: the container on its container servers ---- */

static int ring_prepare(void *priv, char *err, size_t err_len)
{
	struct data_ring *dr = priv;
	struct ringref *cr = get_ref(dr, 1);
	uint32_t ids[MAX_REPL], part;
	char cp[1700], ts[64];
	struct wave w = {0};
	int n, ok = 0, r = 0;

	if (!cr)
		return 0; /* no listing kept: nothing to create */
	if (ring_get_part(cr->r, dr->prefix, dr->suffix, dr->account,
			  dr->container, NULL, &part) < 0 ||
	    container_path(dr, cp, sizeof(cp)) < 0) {
		r = -EINVAL;
		goto out;
	}
	n = ring_part_nodes(cr->r, part, ids, MAX_REPL);
	swift_timestamp(ts, sizeof(ts));
	for (int i = 0; i < n; i++) {
		struct rqx *x;
		struct http_req *q = rq_new(&w, cr->r, ids[i], part, cp, M_PUT, &x);
		if (!q || rq_header(x, "X-Timestamp: %s", ts)) {
			r = -ENOMEM;
			goto out;
		}
		q->body = "";
	}
	wave_run(dr, &w);
	for (size_t k = 0; k < w.n; k++) {
		if (w.r[k].res == 0)
			ok++;
		else
			snprintf(err, err_len, "container %s/%s: %s", dr->account,
				 dr->container, w.r[k].err);
	}
	if (ok < n / 2 + 1)
		r = -EIO;
out:
	wave_free(&w);
	put_ref(dr, cr);
	return r;
}

/* ---- open, close ---- */

static void ring_close(void *priv)
{
	struct data_ring *dr = priv;
	if (!dr)
		return;
	unref(dr->obj);
	unref(dr->cont);
	http_free(dr->http);
	hashers_free(dr->hashers);
	pthread_mutex_destroy(&dr->lock);
	pthread_mutex_destroy(&dr->err_lock);
	free(dr->suppress);
	free(dr->ring_path);
	free(dr->cring_path);
	free(dr->account);
	free(dr->container);
	free(dr->prefix);
	free(dr->suffix);
	free(dr);
}

static const char url_help[] =
	"ring:///PATH/object.ring.gz[?account=A&container=C&container_ring="
	"PATH|none&swift_conf=PATH&timeout=S&conn_timeout=S&reload=S&verify=0|1&"
	"hashers=N]";

static int ring_open(const char *url, const struct data_opts *o, void **priv,
		     char *err, size_t err_len)
{
	struct data_ring *dr = calloc(1, sizeof(*dr));
	char *spec = NULL, *conf = NULL, *cring = NULL;
	int r = -EINVAL;

	if (!dr)
		return -ENOMEM;
	pthread_mutex_init(&dr->lock, NULL);
	pthread_mutex_init(&dr->err_lock, NULL);
	dr->timeout_ms = 10000;
	dr->conn_timeout_ms = 1000;
	dr->reload_s = 1.0;
	dr->verify = 1;
	dr->nhashers = -1;
	dr->max_conns = o && o->max_conns ? o->max_conns : 64;
	if (strncmp(url, "ring://", 7) || url[7] != '/') {
		snprintf(err, err_len, "%s: expected %s (an absolute path)", url,
			 url_help);
		goto fail;
	}
	if (!(spec = strdup(url + 7)))
		goto nomem;
	char *qs = strchr(spec, '?');
	if (qs)
		*qs++ = 0;
	pct_decode(spec);
	dr->ring_path = strdup(spec);
	dr->account = strdup("cassafs");
	dr->container = strdup("data");
	if (!dr->ring_path || !dr->account || !dr->container)
		goto nomem;
	for (char *save = NULL, *kv = qs ? strtok_r(qs, "&", &save) : NULL; kv;
	     kv = strtok_r(NULL, "&", &save)) {
		char *v = strchr(kv, '=');
		long ms;
		if (!v) {
			snprintf(err, err_len, "%s: option '%s' has no value (%s)",
				 url, kv, url_help);
			goto fail;
		}
		*v++ = 0;
		pct_decode(v);
		char **dst = !strcmp(kv, "account") ? &dr->account
			   : !strcmp(kv, "container") ? &dr->container
			   : !strcmp(kv, "container_ring") ? &cring
			   : !strcmp(kv, "swift_conf") ? &conf : NULL;
		if (dst) {
			if (!*v || (strchr(v, '/') && dst != &cring && dst != &conf)) {
				snprintf(err, err_len, "%s: bad value for %s",
					 url, kv);
				goto fail;
			}
			free(*dst);
			if (!(*dst = strdup(v)))
				goto nomem;
		} else if (!strcmp(kv, "verify")) {
			if (strcmp(v, "0") && strcmp(v, "1")) {
				snprintf(err, err_len, "%s: verify=%s: expected 0 "
					 "or 1", url, v);
				goto fail;
			}
			dr->verify = *v == '1';
		} else if (!strcmp(kv, "hashers")) {
			char *e;
			long h = strtol(v, &e, 10);
			if (e == v || *e || h < 0 || h > MAX_HASHERS) {
				snprintf(err, err_len, "%s: hashers=%s: expected "
					 "0 to %d", url, v, MAX_HASHERS);
				goto fail;
			}
			dr->nhashers = (int)h;
		} else if (!strcmp(kv, "timeout") || !strcmp(kv, "conn_timeout") ||
			   !strcmp(kv, "reload")) {
			if (parse_secs(v, &ms) < 0) {
				snprintf(err, err_len, "%s: %s=%s: expected "
					 "seconds (0 < S <= 3600)", url, kv, v);
				goto fail;
			}
			if (!strcmp(kv, "timeout"))
				dr->timeout_ms = ms;
			else if (!strcmp(kv, "conn_timeout"))
				dr->conn_timeout_ms = ms;
			else
				dr->reload_s = ms / 1000.0;
		} else {
			snprintf(err, err_len, "%s: unknown option '%s' (%s)",
				 url, kv, url_help);
			goto fail;
		}
	}
	/* the cluster's hash path secrets, from where Swift reads them */
	const char *cp = conf ? conf : "/etc/swift/swift.conf";
	dr->prefix = ring_conf_value(cp, "swift-hash", "swift_hash_path_prefix");
	dr->suffix = ring_conf_value(cp, "swift-hash", "swift_hash_path_suffix");
	if ((!dr->prefix || !*dr->prefix) && (!dr->suffix || !*dr->suffix)) {
		snprintf(err, err_len, "%s: no swift_hash_path_prefix or "
			 "swift_hash_path_suffix in [swift-hash] of %s (Swift's "
			 "object servers need the same file)", url, cp);
		goto fail;
	}
	if (!dr->prefix)
		dr->prefix = strdup("");
	if (!dr->suffix)
		dr->suffix = strdup("");
	if (!dr->prefix || !dr->suffix)
		goto nomem;
	if ((r = load_ref(dr->ring_path, &dr->obj, err, err_len)) < 0)
		goto fail;
	if (!cring) {
		/* Swift's layout: container.ring.gz beside object.ring.gz */
		const char *sl = strrchr(dr->ring_path, '/');
		if (asprintf(&cring, "%.*s/container.ring.gz",
			     (int)(sl - dr->ring_path), dr->ring_path) < 0) {
			cring = NULL;
			goto nomem;
		}
		if (access(cring, F_OK) < 0) {
			free(cring);
			cring = NULL;
		}
	} else if (!strcmp(cring, "none")) {
		free(cring);
		cring = NULL;
	}
	if (cring) {
		if ((r = load_ref(cring, &dr->cont, err, err_len)) < 0)
			goto fail;
		dr->cring_path = cring;
		cring = NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &dr->checked);
	struct http_opts ho = {
		.max_conns = dr->max_conns,
		.timeout_ms = (unsigned)dr->timeout_ms,
		.connect_ms = (unsigned)dr->conn_timeout_ms,
		.stall_ms = (unsigned)dr->timeout_ms,
		.max_tries = 1, /* failover to another device is ours */
	};
	if (!(dr->http = http_new(&ho)))
		goto nomem;
	free(spec);
	free(conf);
	*priv = dr;
	return 0;
nomem:
	r = -ENOMEM;
	snprintf(err, err_len, "%s: out of memory", url);
fail:
	free(spec);
	free(conf);
	free(cring);
	ring_close(dr);
	return r;
}

const struct data_ops data_ring_ops = {
	.scheme = "ring",
	.open = ring_open,
	.close = ring_close,
	.prepare = ring_prepare,
	.put = ring_put,
	.get = ring_get,
	.del = ring_del,
	.list = ring_list,
	.put_batch = ring_put_batch,
	.get_batch = ring_get_batch,
};

/* ---- for the ring tier's own tools (data_ring.h) ---- */

int data_ring_open(const char *url, struct data_ring **out, char *err,
		   size_t err_len)
{
	void *p = NULL;
	int r = ring_open(url, NULL, &p, err, err_len);
	*out = p;
	return r;
}

void data_ring_close(struct data_ring *dr) { ring_close(dr); }

struct ringref *data_ring_hold(struct data_ring *dr) { return get_ref(dr, 0); }

const struct ring *data_ring_held(const struct ringref *rr) { return rr->r; }

double data_ring_held_mtime(const struct ringref *rr)
{
	return rr->st.st_mtim.tv_sec + rr->st.st_mtim.tv_nsec / 1e9;
}

double data_ring_put_bound(const struct data_ring *dr, const struct ring *r)
{
	/* a put takes the ring at its start (reloaded at most reload_s after
	 * the file changed) and runs at most R + 1 waves of requests */
	return dr->reload_s + (r->nrows + 1) * (dr->timeout_ms / 1000.0);
}

void data_ring_release(struct data_ring *dr, struct ringref *rr)
{
	put_ref(dr, rr);
}

int data_ring_devices(const struct ring *r, uint32_t part, uint32_t *ids,
		      int max, int *nprim, int nhand)
{
	uint32_t all[MAX_TRY];
	int n = part_devices(r, part, all, nprim, nhand);
	if (n > max)
		n = max;
	if (*nprim > n)
		*nprim = n;
	memcpy(ids, all, n * sizeof(*ids));
	return n;
}

int data_ring_probe(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, const uint32_t *devs,
		    int n, const char *etag, uint64_t size, int verify,
		    struct data_ring_copy *out)
{
	char path[4 * DATA_MAX_KEY + 1700], et[48];
	struct wave w = {0};
	int rc;

	for (int i = 0; i < n; i++)
		out[i] = (struct data_ring_copy){.dev = devs[i], .state = DR_DOWN};
	if ((rc = object_path(dr, key, path, sizeof(path))) < 0)
		return rc;
	for (int i = 0; i < n; i++) {
		struct rqx *x;
		if (!rq_new(&w, r, devs[i], part, path, verify ? M_GET : M_HEAD, &x)) {
			wave_free(&w);
			return -ENOMEM;
		}
		x->job = i;
	}
	wave_run(dr, &w);
	for (size_t k = 0; k < w.n; k++) {
		struct http_req *q = &w.r[k];
		struct data_ring_copy *c = &out[w.x[k].job];
		c->http = q->status;
		resp_ts(q, c->ts, sizeof(c->ts));
		resp_header(q, "Etag", et, sizeof(et));
		if (q->status == 200) {
			int good = !etag || !*etag || !strcasecmp(et, etag);
			if (verify) {
				char md5[33];
				md5_hex(q->resp ? q->resp : "", q->resp_len, md5);
				good = good && !strcasecmp(md5, et);
				c->size = q->resp_len;
			} else {
				int64_t cl = header_int(q, "Content-Length");
				c->size = cl >= 0 ? (uint64_t)cl : 0;
			}
			c->state = good && c->size == size ? DR_GOOD : DR_BAD;
		} else if (q->status == 404) {
			/* a tombstone of a delete, or nothing (a removed
			 * copy's tombstone is as good as nothing) */
			c->state = resp_deleted(q, c->ts, sizeof(c->ts))
				 ? DR_DELETED : DR_MISSING;
		} else {
			c->state = DR_DOWN;
		}
	}
	wave_free(&w);
	return 0;
}

int data_ring_fetch(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, uint32_t dev,
		    const char *etag, void **buf, size_t *len, char ts[64])
{
	char path[4 * DATA_MAX_KEY + 1700], et[48], md5[33];
	struct wave w = {0};
	struct rqx *x;
	int rc;

	if ((rc = object_path(dr, key, path, sizeof(path))) < 0)
		return rc;
	if (!rq_new(&w, r, dev, part, path, M_GET, &x))
		return -ENOMEM;
	wave_run(dr, &w);
	struct http_req *q = &w.r[0];
	if (q->res < 0) {
		rc = q->res == -ENOENT ? -ENOENT : -EIO;
	} else {
		resp_header(q, "Etag", et, sizeof(et));
		md5_hex(q->resp ? q->resp : "", q->resp_len, md5);
		if (strcasecmp(md5, et) || (etag && *etag && strcasecmp(md5, etag))) {
			rc = -EBADMSG;
		} else {
			*buf = q->resp ? (void *)q->resp : malloc(1);
			q->resp = NULL;
			*len = q->resp_len;
			resp_ts(q, ts, 64);
			rc = *buf ? 0 : -ENOMEM;
		}
	}
	wave_free(&w);
	return rc;
}

int data_ring_store(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, uint32_t dev, int slot,
		    const void *buf, size_t len, const char *ts)
{
	struct wjob *j = calloc(1, sizeof(*j));
	struct ringref *cr = get_ref(dr, 1);
	struct wave w = {0};
	int rc = -ENOMEM;

	if (!j)
		goto out;
	j->key = key;
	j->buf = buf;
	j->len = len;
	j->part = part;
	j->nprim = (int)r->nrows;
	snprintf(j->ts, sizeof(j->ts), "%s", ts);
	md5_hex(buf ? buf : "", len, j->etag);
	if ((rc = object_path(dr, key, j->path, sizeof(j->path))) < 0)
		goto out;
	for (int tries = 0; tries < 2; tries++) {
		char old[64];
		wave_reset(&w);
		if ((rc = wjob_req(dr, &w, r, cr, j, 0, slot, dev, M_PUT)) < 0)
			goto out;
		wave_run(dr, &w);
		rc = w.r[0].status == 201 ? 0 : w.r[0].res < 0 ? w.r[0].res : -EIO;
		/* 409: the device holds something at least as new.  If that is
		 * the tombstone of a removed copy of this very version (the
		 * mover or repair took a copy away from there before), the
		 * copy goes back one offset step newer than the tombstone. */
		if (rc != -EEXIST || !http_header(&w.r[0], "X-Backend-Timestamp",
						  old, sizeof(old)) ||
		    !data_ring_ts_is_removal(old) ||
		    ts_same_time(old, j->ts) != 1)
			break;
		data_ring_ts_bump(old, j->ts, sizeof(j->ts));
	}
	if (rc < 0 && rc != -EEXIST)
		log_warn("ring data tier: %s", w.r[0].err);
out:
	wave_free(&w);
	put_ref(dr, cr);
	free(j);
	return rc;
}

int data_ring_dev_check(struct data_ring *dr, const struct ring *r,
			uint32_t dev)
{
	struct wave w = {0};
	struct rqx *x;
	int rc;

	/* any object name: 404 means the device is there, 507 that it is not */
	if (!rq_new(&w, r, dev, 0, "/cassafs-probe/probe/probe", M_HEAD, &x))
		return -ENOMEM;
	wave_run(dr, &w);
	long st = w.r[0].status;
	rc = st == 507 ? -ENODEV : st >= 200 && st < 500 ? 0 : -EHOSTDOWN;
	wave_free(&w);
	return rc;
}

/* DELETE key on one device with X-Timestamp ts, and the container update
 * headers of replica slot `slot` if slot >= 0. */
static int delete_on(struct data_ring *dr, const struct ring *r,
		     const char *key, uint32_t part, uint32_t dev, int slot,
		     const char *ts)
{
	char path[4 * DATA_MAX_KEY + 1700];
	struct ringref *cr = slot >= 0 ? get_ref(dr, 1) : NULL;
	struct wave w = {0};
	struct rqx *x;
	int rc;

	if ((rc = object_path(dr, key, path, sizeof(path))) < 0)
		goto out;
	rc = -ENOMEM;
	if (!rq_new(&w, r, dev, part, path, M_DELETE, &x) ||
	    rq_header(x, "X-Timestamp: %s", ts) ||
	    (slot >= 0 && container_headers(dr, cr, x, slot, (int)r->nrows) < 0))
		goto out;
	wave_run(dr, &w);
	long st = w.r[0].status;
	rc = (st >= 200 && st < 300) || st == 404 ? 0 : w.r[0].res < 0 ? w.r[0].res : -EIO;
	if (rc < 0 && rc != -EEXIST)
		log_warn("ring data tier: %s", w.r[0].err);
out:
	wave_free(&w);
	put_ref(dr, cr);
	return rc;
}

int data_ring_remove(struct data_ring *dr, const struct ring *r,
		     const char *key, uint32_t part, uint32_t dev,
		     const char *copy_ts)
{
	char ts[80];
	data_ring_ts_removal(copy_ts, ts, sizeof(ts));
	return delete_on(dr, r, key, part, dev, -1, ts);
}

int data_ring_delete_copy(struct data_ring *dr, const struct ring *r,
			  const char *key, uint32_t part, uint32_t dev,
			  int slot, const char *del_ts)
{
	return delete_on(dr, r, key, part, dev, slot, del_ts);
}

/* ---- walks over the listing (repair, move) ---- */

static int collect_one(void *arg, const char *key, uint64_t size,
		       const char *etag)
{
	struct data_ring_objs *l = arg;
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 1024;
		struct data_ring_obj *v = realloc(l->v, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = nc;
	}
	struct data_ring_obj *o = &l->v[l->n];
	if (!(o->key = strdup(key)))
		return -ENOMEM;
	o->size = size;
	snprintf(o->etag, sizeof(o->etag), "%s", etag);
	l->n++;
	return 0;
}

int data_ring_collect(struct data_ring *dr, const char *prefix,
		      struct data_ring_objs *l)
{
	return data_ring_list_all(dr, prefix, collect_one, l);
}

void data_ring_objs_free(struct data_ring_objs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void data_ring_progress_start(struct data_ring_progress *p)
{
	p->t0 = p->last = now_s();
	p->tty = isatty(2);
}

int data_ring_progress_due(struct data_ring_progress *p, int last_item)
{
	double t = now_s();
	if (!last_item && t - p->last < (p->tty ? 0.5 : 5.0))
		return 0;
	p->last = t;
	return 1;
}

const char *data_ring_progress_lead(const struct data_ring_progress *p)
{
	return p->tty ? "\r" : "";
}

const char *data_ring_progress_tail(const struct data_ring_progress *p)
{
	return p->tty ? "" : "\n";
}

double data_ring_progress_elapsed(const struct data_ring_progress *p)
{
	return now_s() - p->t0;
}
