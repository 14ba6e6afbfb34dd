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
 * HTTP through libcurl's multi interface; connections are kept alive in a
 * cache shared by every call (CURLSH).  Bounds: every request ends within
 * `timeout` (default 10 s; connect 1 s); a get tries at most 2R devices, a
 * put or delete at most R primaries plus R handoffs, in two waves at most
 * of parallel requests.
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

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "data_engine.h"
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

	pthread_mutex_t lock;		/* the two rings and their checks */
	struct ringref *obj, *cont;
	struct timespec checked;

	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	/* error limiting: a device that failed to answer is tried last (reads)
	 * or skipped for a handoff (writes) until this time (CLOCK_MONOTONIC s) */
	pthread_mutex_t err_lock;
	double *suppress;
	uint32_t nsuppress;
};

/* ---- options, swift.conf ---- */

static char *conf_value(const char *path, const char *section, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[4096], cur[256] = "";
	char *val = NULL;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *e;
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = 0;
		if (*s == '[' && e > s && e[-1] == ']') {
			snprintf(cur, sizeof(cur), "%.*s", (int)(e - s - 2), s + 1);
			continue;
		}
		if (strcmp(cur, section) || *s == '#' || *s == ';')
			continue;
		char *eq = strpbrk(s, "=:");
		if (!eq)
			continue;
		char *k = s, *ke = eq;
		while (ke > k && isspace((unsigned char)ke[-1]))
			ke--;
		if ((size_t)(ke - k) != strlen(key) || strncmp(k, key, ke - k))
			continue;
		char *v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		free(val);
		val = strdup(v);
	}
	fclose(f);
	return val;
}

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

/* ---- HTTP requests on libcurl's multi interface ---- */

enum { M_GET, M_HEAD, M_PUT, M_DELETE };

struct hreq {
	CURL *e;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	/* request body (PUT) */
	const unsigned char *body;
	size_t blen, bpos;
	/* response body: into out[0..cap) (grow: realloc'ed as it comes) */
	unsigned char *out;
	size_t cap, got;
	int grow;
	uint64_t skip;		/* bytes to drop first (a 200 to a Range) */
	uint64_t range_off;	/* the Range asked for starts here */
	long status;
	CURLcode cc;
	char etag[40];
	char ts[64];
	int64_t clen, total;	/* Content-Length; Content-Range's /N */
	/* owner's bookkeeping */
	int job, slot;
	uint32_t dev;
	int handoff;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct hreq *q = arg;
	size_t want = size * n, left = q->blen - q->bpos;
	if (want > left)
		want = left;
	memcpy(buf, q->body + q->bpos, want);
	q->bpos += want;
	return want;
}

static size_t on_write(char *buf, size_t size, size_t n, void *arg)
{
	struct hreq *q = arg;
	size_t len = size * n;
	const char *p = buf;

	if (q->skip) {
		size_t s = q->skip < len ? (size_t)q->skip : len;
		q->skip -= s;
		p += s;
		len -= s;
	}
	if (q->grow && q->got + len > q->cap) {
		size_t nc = q->cap ? q->cap : 65536;
		while (nc < q->got + len)
			nc *= 2;
		unsigned char *o = realloc(q->out, nc);
		if (!o)
			return 0; /* aborts the transfer */
		q->out = o;
		q->cap = nc;
	}
	size_t take = q->cap - q->got < len ? q->cap - q->got : len;
	if (take)
		memcpy(q->out + q->got, p, take);
	q->got += take;
	return size * n;
}

static void header_value(const char *h, size_t n, const char *name, char *out,
			 size_t outlen)
{
	size_t k = strlen(name);
	if (n <= k || strncasecmp(h, name, k) || h[k] != ':')
		return;
	h += k + 1;
	n -= k + 1;
	while (n && (*h == ' ' || *h == '\t'))
		h++, n--;
	while (n && (h[n - 1] == '\r' || h[n - 1] == '\n' || h[n - 1] == ' '))
		n--;
	if (n >= 2 && h[0] == '"' && h[n - 1] == '"')
		h++, n -= 2;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, h, n);
	out[n] = 0;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct hreq *q = arg;
	size_t len = size * n;
	char v[80] = "";

	if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
		/* a new response (after a 100 Continue, say) */
		q->etag[0] = q->ts[0] = 0;
		q->clen = q->total = -1;
		const char *sp = memchr(buf, ' ', len);
		/* a server that ignores Range sends the whole object */
		q->skip = sp && !strncmp(sp + 1, "200", 3) ? q->range_off : 0;
		return len;
	}
	header_value(buf, len, "Etag", q->etag, sizeof(q->etag));
	header_value(buf, len, "X-Timestamp", q->ts, sizeof(q->ts));
	header_value(buf, len, "Content-Length", v, sizeof(v));
	if (*v) {
		q->clen = strtoll(v, NULL, 10);
		*v = 0;
	}
	header_value(buf, len, "Content-Range", v, sizeof(v));
	if (*v) {
		const char *sl = strchr(v, '/');
		if (sl && isdigit((unsigned char)sl[1]))
			q->total = strtoll(sl + 1, NULL, 10);
	}
	return len;
}

static void share_lock_cb(CURL *h, curl_lock_data d, curl_lock_access a,
			  void *arg)
{
	struct data_ring *dr = arg;
	pthread_mutex_lock(&dr->share_lock[d]);
}

static void share_unlock_cb(CURL *h, curl_lock_data d, void *arg)
{
	struct data_ring *dr = arg;
	pthread_mutex_unlock(&dr->share_lock[d]);
}

/* Path segment encoding: everything but unreserved characters and '/'. */
static void pct_encode(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-._~/", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
}

static void swift_timestamp(char *out, size_t len)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	/* Swift's normal form: seconds with five decimals */
	snprintf(out, len, "%010lld.%05ld", (long long)t.tv_sec,
		 t.tv_nsec / 10000);
}

static void md5_hex(const void *buf, size_t len, char out[33])
{
	unsigned char dg[16];
	unsigned int dl = 0;
	EVP_Digest(buf, len, dg, &dl, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", dg[i]);
}

static void hreq_free(struct hreq *q)
{
	if (!q)
		return;
	if (q->e)
		curl_easy_cleanup(q->e);
	curl_slist_free_all(q->hdrs);
	if (q->grow)
		free(q->out);
	free(q);
}

static int add_header(struct hreq *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_header(struct hreq *q, const char *fmt, ...)
{
	char h[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h, sizeof(h), fmt, ap);
	va_end(ap);
	struct curl_slist *l = curl_slist_append(q->hdrs, h);
	if (!l)
		return -ENOMEM;
	q->hdrs = l;
	return 0;
}

/* A request to device dev of ring r: /DEVICE/PART[/PATH] (path already
 * encoded, with its leading '/'; "" for a device probe). */
static struct hreq *hreq_new(struct data_ring *dr, const struct ring *r,
			     uint32_t dev, uint32_t part, const char *path,
			     int method)
{
	const struct ring_dev *d = &r->devs[dev];
	struct hreq *q = calloc(1, sizeof(*q));
	char url[4096], host[300];

	if (!q)
		return NULL;
	q->e = curl_easy_init();
	if (!q->e) {
		free(q);
		return NULL;
	}
	q->dev = dev;
	q->clen = q->total = -1;
	if (strchr(d->ip, ':'))
		snprintf(host, sizeof(host), "[%s]", d->ip);
	else
		snprintf(host, sizeof(host), "%s", d->ip);
	char edev[600];
	pct_encode(d->device, edev, sizeof(edev));
	snprintf(url, sizeof(url), "http://%s:%d/%s/%u%s", host, d->port, edev,
		 part, path);
	curl_easy_setopt(q->e, CURLOPT_URL, url);
	curl_easy_setopt(q->e, CURLOPT_SHARE, dr->share);
	curl_easy_setopt(q->e, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->e, CURLOPT_TIMEOUT_MS, dr->timeout_ms);
	curl_easy_setopt(q->e, CURLOPT_CONNECTTIMEOUT_MS, dr->conn_timeout_ms);
	curl_easy_setopt(q->e, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(q->e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(q->e, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(q->e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(q->e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->e, CURLOPT_PROTOCOLS_STR, "http");
	switch (method) {
	case M_HEAD:
		curl_easy_setopt(q->e, CURLOPT_NOBODY, 1L);
		break;
	case M_PUT:
		curl_easy_setopt(q->e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(q->e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(q->e, CURLOPT_READDATA, q);
		/* no "Expect: 100-continue" round trip */
		add_header(q, "Expect:");
		break;
	case M_DELETE:
		curl_easy_setopt(q->e, CURLOPT_CUSTOMREQUEST, "DELETE");
		break;
	}
	return q;
}

static void hreq_body(struct hreq *q, const void *buf, size_t len)
{
	q->body = buf;
	q->blen = len;
	curl_easy_setopt(q->e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
}

/* A set of requests running together. */
struct hset {
	CURLM *m;
	int active;
};

static int hset_init(struct data_ring *dr, struct hset *h)
{
	h->m = curl_multi_init();
	h->active = 0;
	if (!h->m)
		return -ENOMEM;
	if (dr->max_conns)
		curl_multi_setopt(h->m, CURLMOPT_MAX_TOTAL_CONNECTIONS,
				  (long)dr->max_conns);
	return 0;
}

static int hset_add(struct hset *h, struct hreq *q)
{
	curl_easy_setopt(q->e, CURLOPT_HTTPHEADER, q->hdrs);
	if (curl_multi_add_handle(h->m, q->e) != CURLM_OK)
		return -ENOMEM;
	h->active++;
	return 0;
}

static struct hreq *hset_take(struct hset *h)
{
	int left;
	CURLMsg *msg;
	while ((msg = curl_multi_info_read(h->m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct hreq *q = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		q->cc = msg->data.result;
		curl_easy_getinfo(q->e, CURLINFO_RESPONSE_CODE, &q->status);
		if (q->cc != CURLE_OK)
			q->status = 0;
		curl_multi_remove_handle(h->m, q->e);
		h->active--;
		return q;
	}
	return NULL;
}

/* Wait for the next request of the set to finish; NULL once none runs.
 * Each request carries its own timeout, so this returns in bounded time. */
static struct hreq *hset_next(struct hset *h)
{
	while (h->active > 0) {
		struct hreq *q = hset_take(h);
		int running;
		if (q)
			return q;
		if (curl_multi_perform(h->m, &running) != CURLM_OK)
			return NULL;
		if ((q = hset_take(h)))
			return q;
		curl_multi_poll(h->m, NULL, 0, 200, NULL);
	}
	return NULL;
}

static void hset_done(struct hset *h)
{
	if (h->m)
		curl_multi_cleanup(h->m);
	h->m = NULL;
}

/* ---- placement ---- */

static int object_path(struct data_ring *dr, const char *key, char *out,
		       size_t len)
{
	char ek[3 * DATA_MAX_KEY + 1], ea[800], ec[800];
	if (!key || !*key || strlen(key) > DATA_MAX_KEY)
		return -EINVAL;
	pct_encode(key, ek, sizeof(ek));
	pct_encode(dr->account, ea, sizeof(ea));
	pct_encode(dr->container, ec, sizeof(ec));
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
			     struct hreq *q, int slot, int nrep)
{
	uint32_t ids[MAX_REPL], part;
	char hosts[1024] = "", devs[1024] = "";
	int n;

	if (!cr)
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
	if (add_header(q, "X-Container-Host: %s", hosts) ||
	    add_header(q, "X-Container-Partition: %u", part) ||
	    add_header(q, "X-Container-Device: %s", devs))
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

static int is_conn_error(const struct hreq *q)
{
	return q->status == 0 || q->status == 507 || q->status >= 500;
}

/* ---- put and delete: a job per object, R slots, handoffs on failure ---- */

struct wjob {
	const char *key;
	const void *buf;
	size_t len;
	char path[4 * DATA_MAX_KEY + 1700];
	char etag[33];
	char ts[64];
	uint32_t part, ids[MAX_TRY];
	int nprim, nids, next;	/* next handoff index in ids */
	int ok, nospace, inflight, res;
};

static struct hreq *wjob_req(struct data_ring *dr, struct ringref *rr,
			     struct ringref *cr, struct wjob *j, int jn,
			     int slot, uint32_t dev, int method)
{
	struct hreq *q = hreq_new(dr, rr->r, dev, j->part, j->path, method);
	if (!q)
		return NULL;
	q->job = jn;
	q->slot = slot;
	if (add_header(q, "X-Timestamp: %s", j->ts) ||
	    container_headers(dr, cr, q, slot, j->nprim) < 0)
		goto fail;
	if (method == M_PUT) {
		if (add_header(q, "Content-Type: application/octet-stream") ||
		    add_header(q, "ETag: %s", j->etag))
			goto fail;
		hreq_body(q, j->buf, j->len);
	}
	return q;
fail:
	hreq_free(q);
	return NULL;
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


static int write_jobs(struct data_ring *dr, struct wjob *jobs, size_t n,
		      int method)
{
	struct ringref *rr = get_ref(dr, 0), *cr = get_ref(dr, 1);
	struct hset h = {0};
	struct hreq *q;
	int r = 0;

	if (!rr)
		return -EIO;
	if ((r = hset_init(dr, &h)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct wjob *j = &jobs[i];
		j->res = j->ok = j->nospace = j->inflight = 0;
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
			md5_hex(j->buf, j->len, j->etag);
		swift_timestamp(j->ts, sizeof(j->ts));
		for (int s = 0; s < j->nprim; s++) {
			uint32_t dev = j->ids[s];
			/* a primary that just failed: straight to a handoff */
			if (dev_suppressed(dr, dev))
				wjob_handoff(dr, j, &dev);
			q = wjob_req(dr, rr, cr, j, (int)i, s, dev, method);
			if (!q || hset_add(&h, q) < 0) {
				hreq_free(q);
				j->res = -ENOMEM;
				continue;
			}
			q->handoff = dev != j->ids[s];
			j->inflight++;
		}
	}
	while ((q = hset_next(&h))) {
		struct wjob *j = &jobs[q->job];
		int good = q->status >= 200 && q->status < 300;
		if (method == M_DELETE && (q->status == 404 || q->status == 409))
			good = 1; /* gone already, or a newer write/delete */
		j->inflight--;
		if (good) {
			j->ok++;
			dev_ok(dr, q->dev);
		} else {
			uint32_t dev;
			if (is_conn_error(q))
				dev_failed(dr, q->dev);
			if (q->status == 507)
				j->nospace++;
			log_info("ring data tier: %s %s on device %u: %s",
				 method == M_PUT ? "PUT" : "DELETE", j->key,
				 q->dev, q->status ? "" : q->errbuf);
			if (wjob_handoff(dr, j, &dev)) {
				struct hreq *nq = wjob_req(dr, rr, cr, j, q->job,
							   q->slot, dev, method);
				if (nq && hset_add(&h, nq) == 0) {
					nq->handoff = 1;
					j->inflight++;
				} else {
					hreq_free(nq);
				}
			}
		}
		hreq_free(q);
	}
	for (size_t i = 0; i < n; i++) {
		struct wjob *j = &jobs[i];
		if (j->res < 0)
			continue;
		if (j->ok < j->nprim / 2 + 1)
			j->res = j->nospace > j->nprim - j->ok - 1 ? -ENOSPC
								 : -EIO;
	}
out:
	hset_done(&h);
	put_ref(dr, rr);
	put_ref(dr, cr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (jobs[i].res < 0)
			return jobs[i].res;
	return 0;
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
		ios[i].res = r == -ENOMEM && !jobs[i].res ? r : jobs[i].res;
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
	int done;
};

static struct hreq *rjob_req(struct data_ring *dr, struct ringref *rr,
			     struct rjob *j, int jn)
{
	struct data_io *io = j->io;
	struct hreq *q;
	uint32_t dev = j->ids[j->next++];

	q = hreq_new(dr, rr->r, dev, j->part, j->path,
		     io->len ? M_GET : M_HEAD);
	if (!q)
		return NULL;
	q->job = jn;
	q->handoff = j->next > j->nprim;
	if (io->len) {
		q->out = io->buf;
		q->cap = io->len;
		q->range_off = io->off;
		if (add_header(q, "Range: bytes=%llu-%llu",
			       (unsigned long long)io->off,
			       (unsigned long long)(io->off + io->len - 1))) {
			hreq_free(q);
			return NULL;
		}
	}
	return q;
}

/* Reads go to the primaries in an order that spreads load (a rotation
 * picked by the key's partition and the time), the ones that failed
 * lately last, then to handoffs. */
static void read_order(struct data_ring *dr, struct rjob *j)
{
	uint32_t tmp[MAX_TRY];
	int n = 0, np = j->nprim;
	unsigned rot = np ? (unsigned)(j->part + (unsigned)random()) % np : 0;

	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < np; k++) {
			uint32_t d = j->ids[(k + rot) % np];
			if (dev_suppressed(dr, d) == pass)
				tmp[n++] = d;
		}
	memcpy(j->ids, tmp, n * sizeof(*tmp));
}

static int ring_get_batch(void *priv, struct data_io *ios, size_t n)
{
	struct data_ring *dr = priv;
	struct ringref *rr = get_ref(dr, 0);
	struct rjob *jobs = calloc(n ? n : 1, sizeof(*jobs));
	struct hset h = {0};
	struct hreq *q;
	int r = 0;

	if (!rr || !jobs) {
		r = rr ? -ENOMEM : -EIO;
		goto out;
	}
	if ((r = hset_init(dr, &h)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct rjob *j = &jobs[i];
		j->io = &ios[i];
		ios[i].got = 0;
		ios[i].res = 0;
		if (object_path(dr, ios[i].key, j->path, sizeof(j->path)) < 0) {
			ios[i].res = -EINVAL;
			j->done = 1;
			continue;
		}
		j->part = data_ring_part(dr, rr->r, ios[i].key);
		j->nids = part_devices(rr->r, j->part, j->ids, &j->nprim,
				       (int)rr->r->nrows);
		read_order(dr, j);
		if (!j->nids || !(q = rjob_req(dr, rr, j, (int)i)) ||
		    hset_add(&h, q) < 0) {
			ios[i].res = j->nids ? -ENOMEM : -EIO;
			j->done = 1;
		}
	}
	while ((q = hset_next(&h))) {
		struct rjob *j = &jobs[q->job];
		struct data_io *io = j->io;
		int good = 0;

		if (q->status == 200 || q->status == 206) {
			int64_t total = q->status == 206 ? q->total
				      : q->clen >= 0 ? q->clen + (int64_t)io->off
						     : -1;
			good = 1;
			if (io->off == 0 && total >= 0 && (int64_t)q->got == total &&
			    io->len && strlen(q->etag) == 32) {
				char md5[33];
				md5_hex(io->buf, q->got, md5);
				if (strcasecmp(md5, q->etag)) {
					log_warn("ring data tier: %s on device %u: "
						 "MD5 %s, expected %s; trying "
						 "another replica", io->key,
						 q->dev, md5, q->etag);
					good = 0;
					j->nbad++;
				}
			}
			if (good) {
				io->got = q->got;
				if (total >= 0 && io->off + q->got < (uint64_t)total &&
				    q->got < io->len) {
					good = 0; /* short body */
					j->nerr++;
				}
			}
		} else if (q->status == 416) {
			good = 1; /* offset past the end */
			io->got = 0;
		} else if (q->status == 404) {
			j->n404++;
		} else {
			j->nerr++;
			if (is_conn_error(q))
				dev_failed(dr, q->dev);
			log_info("ring data tier: GET %s on device %u: %ld %s",
				 io->key, q->dev, q->status, q->errbuf);
		}
		if (good) {
			dev_ok(dr, q->dev);
			io->res = 0;
			j->done = 1;
		} else if (j->next < j->nids) {
			struct hreq *nq = rjob_req(dr, rr, j, q->job);
			if (!nq || hset_add(&h, nq) < 0) {
				hreq_free(nq);
				io->res = -ENOMEM;
				j->done = 1;
			}
		} else {
			io->got = 0;
			io->res = j->nbad ? -EBADMSG
				: j->n404 >= j->nprim / 2 + 1 ? -ENOENT : -EIO;
			j->done = 1;
		}
		hreq_free(q);
	}
out:
	hset_done(&h);
	put_ref(dr, rr);
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

static int container_path(struct data_ring *dr, char *out, size_t len)
{
	char ea[800], ec[800];
	pct_encode(dr->account, ea, sizeof(ea));
	pct_encode(dr->container, ec, sizeof(ec));
	return snprintf(out, len, "/%s/%s", ea, ec) >= (int)len ? -EINVAL : 0;
}

static int fetch_page(struct data_ring *dr, struct ringref *cr, uint32_t part,
		      const char *prefix, struct lcur *c)
{
	char path[4096], cp[1700];
	char *ep = curl_easy_escape(NULL, prefix ? prefix : "", 0);
	char *em = curl_easy_escape(NULL, c->marker, 0);
	struct hset h = {0};
	struct hreq *q = NULL;
	int r = -ENOMEM;

	json_decref(c->page);
	c->page = NULL;
	c->i = 0;
	if (!ep || !em || container_path(dr, cp, sizeof(cp)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s?format=json&limit=%d&prefix=%s&marker=%s",
		 cp, LIST_PAGE, ep, em);
	if (!(q = hreq_new(dr, cr->r, c->dev, part, path, M_GET)))
		goto out;
	q->grow = 1;
	if (hset_init(dr, &h) < 0 || hset_add(&h, q) < 0)
		goto out;
	hset_next(&h);
	if (q->status == 404 || q->status == 204) {
		/* no container there (yet): an empty listing */
		c->page = json_array();
		c->more = 0;
		r = 0;
	} else if (q->status == 200) {
		json_error_t je;
		c->page = json_loadb((const char *)q->out, q->got, 0, &je);
		if (!c->page || !json_is_array(c->page)) {
			log_warn("ring data tier: container listing from device "
				 "%u is not JSON: %s", c->dev, je.text);
			r = -EIO;
		} else {
			c->more = json_array_size(c->page) == LIST_PAGE;
			r = 0;
		}
	} else {
		log_info("ring data tier: listing from container device %u: "
			 "%ld %s", c->dev, q->status, q->errbuf);
		r = -EIO;
	}
out:
	if (h.m && q && h.active)
		hset_next(&h);
	hset_done(&h);
	hreq_free(q);
	curl_free(ep);
	curl_free(em);
	return r;
}

static const char *cur_name(struct lcur *c)
{
	json_t *e = json_array_get(c->page, c->i);
	return e ? json_string_value(json_object_get(e, "name")) : NULL;
}

/* The current entry of c, refilling its page; NULL at its end. */
static json_t *cur_entry(struct data_ring *dr, struct ringref *cr,
			 uint32_t part, const char *prefix, struct lcur *c)
{
	if (c->dead)
		return NULL;
	if (c->page && c->i < json_array_size(c->page))
		return json_array_get(c->page, c->i);
	if (c->page && !c->more)
		return NULL;
	if (fetch_page(dr, cr, part, prefix, c) < 0) {
		c->dead = 1;
		return NULL;
	}
	return c->i < json_array_size(c->page) ? json_array_get(c->page, c->i)
					       : NULL;
}

int data_ring_list_all(struct data_ring *dr, const char *prefix,
		       data_ring_list_fn fn, void *arg)
{
	struct ringref *cr = get_ref(dr, 1);
	struct lcur cur[MAX_REPL];
	uint32_t ids[MAX_REPL], part;
	int n = 0, r = 0;

	memset(cur, 0, sizeof(cur));
	if (!cr)
		return -EOPNOTSUPP;
	if (ring_get_part(cr->r, dr->prefix, dr->suffix, dr->account,
			  dr->container, NULL, &part) < 0) {
		r = -EINVAL;
		goto out;
	}
	n = ring_part_nodes(cr->r, part, ids, MAX_REPL);
	for (int i = 0; i < n; i++)
		cur[i].dev = ids[i];
	for (;;) {
		const char *min = NULL;
		json_t *me = NULL;
		int live = 0;
		for (int i = 0; i < n; i++) {
			json_t *e = cur_entry(dr, cr, part, prefix, &cur[i]);
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
	struct hset h = {0};
	struct hreq *q;
	int n, ok = 0, r = 0;

	if (!cr)
		return 0; /* no listing kept: nothing to create */
	if (ring_get_part(cr->r, dr->prefix, dr->suffix, dr->account,
			  dr->container, NULL, &part) < 0 ||
	    container_path(dr, cp, sizeof(cp)) < 0) {
		r = -EINVAL;
		goto out;
	}
	if ((r = hset_init(dr, &h)) < 0)
		goto out;
	n = ring_part_nodes(cr->r, part, ids, MAX_REPL);
	swift_timestamp(ts, sizeof(ts));
	for (int i = 0; i < n; i++) {
		q = hreq_new(dr, cr->r, ids[i], part, cp, M_PUT);
		if (!q || add_header(q, "X-Timestamp: %s", ts) ||
		    hset_add(&h, q) < 0) {
			hreq_free(q);
			continue;
		}
		hreq_body(q, "", 0);
	}
	while ((q = hset_next(&h))) {
		if (q->status >= 200 && q->status < 300)
			ok++;
		else
			snprintf(err, err_len, "container %s/%s on %s:%d/%s: %s",
				 dr->account, dr->container,
				 cr->r->devs[q->dev].ip, cr->r->devs[q->dev].port,
				 cr->r->devs[q->dev].device,
				 q->status ? "HTTP error" : q->errbuf);
		hreq_free(q);
	}
	if (ok < n / 2 + 1)
		r = -EIO;
out:
	hset_done(&h);
	put_ref(dr, cr);
	return r;
}

/* ---- open, close ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void ring_close(void *priv)
{
	struct data_ring *dr = priv;
	if (!dr)
		return;
	unref(dr->obj);
	unref(dr->cont);
	if (dr->share)
		curl_share_cleanup(dr->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&dr->share_lock[i]);
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
	"PATH|none&swift_conf=PATH&timeout=S&conn_timeout=S&reload=S]";

static int ring_open(const char *url, const struct data_opts *o, void **priv,
		     char *err, size_t err_len)
{
	struct data_ring *dr = calloc(1, sizeof(*dr));
	char *spec = NULL, *conf = NULL, *cring = NULL;
	int r = -EINVAL;

	pthread_once(&curl_once, curl_init_once);
	if (!dr)
		return -ENOMEM;
	pthread_mutex_init(&dr->lock, NULL);
	pthread_mutex_init(&dr->err_lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&dr->share_lock[i], NULL);
	dr->timeout_ms = 10000;
	dr->conn_timeout_ms = 1000;
	dr->reload_s = 1.0;
	dr->max_conns = o ? o->max_conns : 0;
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
	dr->prefix = conf_value(cp, "swift-hash", "swift_hash_path_prefix");
	dr->suffix = conf_value(cp, "swift-hash", "swift_hash_path_suffix");
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
	dr->share = curl_share_init();
	if (!dr->share)
		goto nomem;
	curl_share_setopt(dr->share, CURLSHOPT_LOCKFUNC, share_lock_cb);
	curl_share_setopt(dr->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb);
	curl_share_setopt(dr->share, CURLSHOPT_USERDATA, dr);
	curl_share_setopt(dr->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(dr->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
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

static struct ringref *ref_of(struct data_ring *dr, const struct ring *r,
			      struct ringref *tmp)
{
	tmp->r = (struct ring *)r;
	return tmp;
}

int data_ring_probe(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, const uint32_t *devs,
		    int n, const char *etag, uint64_t size, int verify,
		    struct data_ring_copy *out)
{
	char path[4 * DATA_MAX_KEY + 1700];
	struct hset h = {0};
	struct hreq *q;
	int rc;

	if ((rc = object_path(dr, key, path, sizeof(path))) < 0)
		return rc;
	if ((rc = hset_init(dr, &h)) < 0)
		return rc;
	for (int i = 0; i < n; i++) {
		out[i] = (struct data_ring_copy){.dev = devs[i], .state = DR_DOWN};
		q = hreq_new(dr, r, devs[i], part, path, verify ? M_GET : M_HEAD);
		if (!q)
			continue;
		q->job = i;
		q->grow = verify;
		if (hset_add(&h, q) < 0)
			hreq_free(q);
	}
	while ((q = hset_next(&h))) {
		struct data_ring_copy *c = &out[q->job];
		c->http = q->status;
		snprintf(c->ts, sizeof(c->ts), "%s", q->ts);
		if (q->status == 200) {
			int good = (!etag || !*etag || !strcasecmp(q->etag, etag));
			if (verify) {
				char md5[33];
				md5_hex(q->out ? q->out : (unsigned char *)"", q->got, md5);
				good = good && !strcasecmp(md5, q->etag);
				c->size = q->got;
			} else {
				c->size = q->clen >= 0 ? (uint64_t)q->clen : 0;
			}
			good = good && c->size == size;
			c->state = good ? DR_GOOD : DR_BAD;
		} else if (q->status == 404) {
			c->state = DR_MISSING;
		} else {
			c->state = DR_DOWN;
		}
		hreq_free(q);
	}
	hset_done(&h);
	return 0;
}

int data_ring_fetch(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, uint32_t dev,
		    const char *etag, void **buf, size_t *len, char ts[64])
{
	char path[4 * DATA_MAX_KEY + 1700];
	struct hset h = {0};
	struct hreq *q = NULL;
	int rc;

	if ((rc = object_path(dr, key, path, sizeof(path))) < 0)
		return rc;
	if ((rc = hset_init(dr, &h)) < 0)
		return rc;
	rc = -ENOMEM;
	if (!(q = hreq_new(dr, r, dev, part, path, M_GET)))
		goto out;
	q->grow = 1;
	if (hset_add(&h, q) < 0)
		goto out;
	hset_next(&h);
	if (q->status == 404) {
		rc = -ENOENT;
	} else if (q->status != 200) {
		rc = -EIO;
	} else {
		char md5[33];
		md5_hex(q->out ? q->out : (unsigned char *)"", q->got, md5);
		if (strcasecmp(md5, q->etag) || (etag && *etag && strcasecmp(md5, etag))) {
			rc = -EBADMSG;
		} else {
			*buf = q->out ? q->out : malloc(1);
			q->out = NULL;
			*len = q->got;
			snprintf(ts, 64, "%s", q->ts);
			rc = *buf ? 0 : -ENOMEM;
		}
	}
out:
	hset_done(&h);
	hreq_free(q);
	return rc;
}

int data_ring_store(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, uint32_t dev, int slot,
		    const void *buf, size_t len, const char *ts)
{
	struct wjob *j = calloc(1, sizeof(*j));
	struct ringref tmp, *cr = get_ref(dr, 1);
	struct hset h = {0};
	struct hreq *q = NULL;
	int rc = -ENOMEM;

	if (!j)
		goto out;
	j->key = key;
	j->buf = buf;
	j->len = len;
	j->part = part;
	j->nprim = (int)r->nrows;
	snprintf(j->ts, sizeof(j->ts), "%s", ts);
	md5_hex(buf, len, j->etag);
	if ((rc = object_path(dr, key, j->path, sizeof(j->path))) < 0 ||
	    (rc = hset_init(dr, &h)) < 0)
		goto out;
	rc = -ENOMEM;
	q = wjob_req(dr, ref_of(dr, r, &tmp), cr, j, 0, slot, dev, M_PUT);
	if (!q || hset_add(&h, q) < 0)
		goto out;
	hset_next(&h);
	rc = q->status == 201 ? 0 : q->status == 409 ? -EEXIST
	   : q->status == 507 ? -ENOSPC : -EIO;
out:
	hset_done(&h);
	hreq_free(q);
	put_ref(dr, cr);
	free(j);
	return rc;
}

int data_ring_dev_check(struct data_ring *dr, const struct ring *r,
			uint32_t dev)
{
	struct hset h = {0};
	struct hreq *q;
	int rc;

	if ((rc = hset_init(dr, &h)) < 0)
		return rc;
	/* any object name: 404 means the device is there, 507 that it is not */
	q = hreq_new(dr, r, dev, 0, "/cassafs-probe/probe/probe", M_HEAD);
	if (!q || hset_add(&h, q) < 0) {
		hreq_free(q);
		hset_done(&h);
		return -ENOMEM;
	}
	hset_next(&h);
	rc = q->status == 507 ? -ENODEV
	   : q->status >= 200 && q->status < 500 ? 0 : -EHOSTDOWN;
	hreq_free(q);
	hset_done(&h);
	return rc;
}
