/*
 * layout.c — file ranges ↔ immutable objects (see layout.h for the model).
 *
 * Records (family STORE_LAYOUT, row ino, column be64(chunk)):
 *     header  "L1", be16 0, be32 slices, be32 blocks, be32 base    16 bytes
 *     slice   be64 object id (0: none), be32 offset in the object,
 *             be32 position in the chunk, be32 length, u8 kind, 3 × 0
 *                                                                  24 bytes
 *   "blocks" is how many block-size blocks of the chunk hold data or
 *   allocation (st_blocks and the usage counter add these up); "base" is
 *   the slice count the last compaction left (a chunk is compacted again
 *   when LAYOUT_COMPACT_SLICES more have been added since, so a chunk of
 *   many separate runs is not rewritten at every write).
 *
 * Object references (family STORE_OBJREF):
 *     row 0  be64(id) → be32 references, be32 object size
 *     row 1  be64(ino) ‖ be64(chunk) ‖ nonce → a released record (purge)
 *     row 2  be64(id) → be32 size: unreferenced, to delete from the tier
 *   SUPER counters "objects", "obj_bytes" (referenced) and "next_obj".
 *
 * Object keys in the tier: "<filesystem uuid>/<16 hex digits of the id>".
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytes.h"
#include "coord.h"
#include "layout.h"
#include "log.h"
#include "store.h"
#include "u64vec.h"

#define HDR_SIZE 16
#define SLICE_SIZE 24
#define ID_RANGE 1024
#define MAX_SLICES ((STORE_MAX_VALUE - HDR_SIZE) / SLICE_SIZE)
#define KEY_LEN 64
#define GC_PAGE 256
#define GC_PERIOD_S 2
/* Read-ahead: a sequential reader's piece of an object is fetched up to
 * RA_BYTES at once (to the end of its slice), and the rest of the slice up
 * to RA_WINDOW from there in RA_BYTES pieces in the same batch (the tier
 * fetches them in parallel: one wait per window instead of one per MiB),
 * each kept in one of RA_SLOTS buffers (objects never change, so a buffer
 * is never stale): 8 MiB at most per mount. */
#define RA_BYTES (1u << 20)
#define RA_WINDOW (4u << 20)
#define RA_SLOTS 8
#define RA_STREAMS 64

enum { K_DATA = 0, K_ZERO = 1, K_HOLE = 2 };

struct slice {
	uint64_t obj;
	uint32_t off, pos, len;
	uint8_t kind;
};

/*
 * An upload in flight: from its first object id until its commit is
 * settled (applied or not), or for GRACE_S more after an outcome nobody
 * knows (-EIO: the server may still apply it).  The lowest id any pin
 * holds is this mount's upload floor, published in its mount record; an
 * online sweep deletes only unreferenced objects below every live mount's
 * floor (layout_sweep_fence), so never an upload about to be committed.
 */
struct pin {
	uint64_t low; /* lowest id taken (UINT64_MAX: none yet) */
	time_t until; /* 0: in flight; else kept until then */
	struct pin *next;
};
#define GRACE_S 120

struct layout {
	struct meta *meta;
	struct data *data;
	uint32_t bs;
	char prefix[48]; /* "<uuid>/" */
	pthread_mutex_t id_lock;
	uint64_t next_id, end_id; /* id_lock */
	struct pin *pins;         /* id_lock: uploads not settled */
	int grace_s;              /* how long an unknown outcome pins */
	pthread_mutex_t compact_lock; /* one compaction at a time (memory) */
	pthread_mutex_t gc_lock;
	pthread_cond_t gc_cond;
	int gc_running, gc_stop, gc_kicked; /* gc_lock */
	pthread_t gc_thread;
	pthread_mutex_t ra_lock; /* the fields below */
	struct {
		uint64_t obj, off, used;
		size_t len;
		uint8_t *buf;
	} ra[RA_SLOTS];
	uint64_t ra_tick;
	struct {
		uint64_t ino, next;
		uint64_t ahead; /* file bytes below this are fetched or asked */
	} streams[RA_STREAMS];
};

/* ---- encoding ---- */

/* A decoded chunk record. */
struct rec {
	struct slice *s;
	uint32_t n, cap;
	uint32_t blocks;
	uint32_t base; /* slices right after the last compaction */
};

static int rec_decode(const void *val, size_t len, struct rec *r)
{
	const uint8_t *p = val;
	r->n = 0;
	r->blocks = 0;
	if (len < HDR_SIZE || p[0] != 'L' || p[1] != '1')
		return -EIO;
	uint32_t n = get_be32(p + 4);
	if (len != HDR_SIZE + (size_t)n * SLICE_SIZE)
		return -EIO;
	if (n > r->cap) {
		struct slice *s = realloc(r->s, n * sizeof(*s));
		if (!s)
			return -ENOMEM;
		r->s = s;
		r->cap = n;
	}
	r->blocks = get_be32(p + 8);
	r->base = get_be32(p + 12);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *q = p + HDR_SIZE + (size_t)i * SLICE_SIZE;
		struct slice *s = &r->s[i];
		s->obj = store_get_be64(q);
		s->off = get_be32(q + 8);
		s->pos = get_be32(q + 12);
		s->len = get_be32(q + 16);
		s->kind = q[20];
		if (s->kind > K_HOLE || (uint64_t)s->pos + s->len > LAYOUT_CHUNK ||
		    (s->kind == K_DATA) != (s->obj != 0))
			return -EIO;
	}
	r->n = n;
	return 0;
}

static uint8_t *rec_encode(const struct rec *r, size_t *len)
{
	*len = HDR_SIZE + (size_t)r->n * SLICE_SIZE;
	uint8_t *p = calloc(1, *len);
	if (!p)
		return NULL;
	p[0] = 'L';
	p[1] = '1';
	put_be32(p + 4, r->n);
	put_be32(p + 8, r->blocks);
	put_be32(p + 12, r->base);
	for (uint32_t i = 0; i < r->n; i++) {
		uint8_t *q = p + HDR_SIZE + (size_t)i * SLICE_SIZE;
		const struct slice *s = &r->s[i];
		store_be64(q, s->obj);
		put_be32(q + 8, s->off);
		put_be32(q + 12, s->pos);
		put_be32(q + 16, s->len);
		q[20] = s->kind;
	}
	return p;
}

static int rec_push(struct rec *r, const struct slice *s)
{
	if (r->n == r->cap) {
		uint32_t cap = r->cap ? r->cap * 2 : 8;
		struct slice *n = realloc(r->s, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->s = n;
		r->cap = cap;
	}
	r->s[r->n++] = *s;
	return 0;
}

/* ---- resolving: which slice shows at each byte ---- */

/* A visible segment [lo, hi) of the chunk, from slice s (NULL: nothing
 * was ever written there). */
typedef int (*seg_fn)(void *arg, uint32_t lo, uint32_t hi,
		      const struct slice *s);

struct ivl {
	uint32_t a, b;
};

/*
 * Walk the slices newest first, keeping the set of bytes already decided
 * (sorted, disjoint, merged intervals); each slice shows where nothing
 * newer was decided.  O(n · intervals), and compaction keeps n small.
 */
static int resolve(const struct rec *r, uint32_t lo, uint32_t hi, seg_fn fn,
		   void *arg)
{
	struct ivl *d = NULL;
	size_t nd = 0, cap = 0;
	int ret = 0;
	for (uint32_t i = r->n; i-- > 0 && ret == 0;) {
		const struct slice *s = &r->s[i];
		uint32_t a = s->pos > lo ? s->pos : lo;
		uint32_t b = s->pos + s->len < hi ? s->pos + s->len : hi;
		if (a >= b)
			continue;
		size_t k = 0, lo_i = 0, hi_i = nd;
		while (lo_i < hi_i) { /* first interval with end >= a */
			size_t mid = (lo_i + hi_i) / 2;
			if (d[mid].b < a)
				lo_i = mid + 1;
			else
				hi_i = mid;
		}
		k = lo_i;
		uint32_t cur = a;
		for (size_t j = k; cur < b && ret == 0;) {
			if (j < nd && d[j].a <= cur) {
				if (d[j].b > cur)
					cur = d[j].b;
				j++;
				continue;
			}
			uint32_t next = j < nd && d[j].a < b ? d[j].a : b;
			ret = fn(arg, cur, next, s);
			cur = next;
		}
		/* merge [a, b) into the decided set */
		size_t j = k;
		uint32_t na = a, nb = b;
		while (j < nd && d[j].a <= b) {
			if (d[j].a < na)
				na = d[j].a;
			if (d[j].b > nb)
				nb = d[j].b;
			j++;
		}
		if (j == k) { /* insert at k */
			if (nd == cap) {
				size_t c = cap ? cap * 2 : 16;
				struct ivl *x = realloc(d, c * sizeof(*x));
				if (!x) {
					ret = -ENOMEM;
					break;
				}
				d = x;
				cap = c;
			}
			memmove(d + k + 1, d + k, (nd - k) * sizeof(*d));
			nd++;
		} else if (j > k + 1) {
			memmove(d + k + 1, d + j, (nd - j) * sizeof(*d));
			nd -= j - k - 1;
		}
		d[k].a = na;
		d[k].b = nb;
	}
	/* what no slice covers */
	uint32_t cur = lo;
	for (size_t j = 0; j <= nd && ret == 0; j++) {
		uint32_t next = j < nd ? d[j].a : hi;
		if (next > hi)
			next = hi;
		if (next > cur)
			ret = fn(arg, cur, next, NULL);
		if (j < nd && d[j].b > cur)
			cur = d[j].b;
	}
	free(d);
	return ret;
}

struct count_args {
	uint8_t *map;
	uint32_t bs;
};

static int count_seg(void *arg, uint32_t lo, uint32_t hi, const struct slice *s)
{
	struct count_args *c = arg;
	if (!s || s->kind == K_HOLE)
		return 0;
	for (uint32_t b = lo / c->bs; b <= (hi - 1) / c->bs; b++)
		c->map[b >> 3] |= (uint8_t)(1u << (b & 7));
	return 0;
}

/* Blocks of the chunk that hold data or allocation. */
static int rec_count_blocks(const struct rec *r, uint32_t bs, uint32_t *out)
{
	uint32_t nb = LAYOUT_CHUNK / bs;
	uint8_t map[LAYOUT_CHUNK / META_MIN_BLOCK_SIZE / 8];
	memset(map, 0, (nb + 7) / 8);
	struct count_args c = {map, bs};
	int e = resolve(r, 0, LAYOUT_CHUNK, count_seg, &c);
	if (e < 0)
		return e;
	uint32_t n = 0;
	for (uint32_t i = 0; i < (nb + 7) / 8; i++)
		n += (uint32_t)__builtin_popcount(map[i]);
	*out = n;
	return 0;
}

/* ---- object ids, keys, references ---- */

static void obj_key(const struct layout *l, uint64_t id, char *out)
{
	snprintf(out, KEY_LEN, "%s%016" PRIx64, l->prefix, id);
}

/* The object id counter: the next id to hand out (1 when never set). */
static int next_obj_get(struct store_txn *t, uint64_t *next)
{
	const void *v;
	size_t len;
	*next = 1;
	int r = store_get(t, STORE_SUPER, 0, "next_obj", 8, &v, &len);
	if (r == 0 && len == 8)
		*next = store_get_be64(v);
	else if (r < 0 && r != -ENOENT)
		return r;
	return 0;
}

static int take_ids_txn(struct store_txn *t, void *arg)
{
	uint64_t *first = arg;
	uint64_t next;
	int r = next_obj_get(t, &next);
	if (r < 0)
		return r;
	if (next == 0)
		next = 1;
	uint8_t buf[8];
	store_be64(buf, next + ID_RANGE);
	*first = next;
	return store_put(t, STORE_SUPER, 0, "next_obj", 8, buf, 8);
}

static struct pin *pin_begin(struct layout *l)
{
	struct pin *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->low = UINT64_MAX;
	pthread_mutex_lock(&l->id_lock);
	p->next = l->pins;
	l->pins = p;
	pthread_mutex_unlock(&l->id_lock);
	return p;
}

/* The upload of p is settled (unknown: maybe applied later, keep it for
 * the grace period). */
static void pin_end(struct layout *l, struct pin *p, int unknown)
{
	if (!p)
		return;
	pthread_mutex_lock(&l->id_lock);
	if (unknown && p->low != UINT64_MAX) {
		p->until = time(NULL) + l->grace_s;
	} else {
		for (struct pin **q = &l->pins; *q; q = &(*q)->next)
			if (*q == p) {
				*q = p->next;
				break;
			}
		free(p);
	}
	pthread_mutex_unlock(&l->id_lock);
}

static int new_id(struct layout *l, uint64_t *id, struct pin *pin)
{
	pthread_mutex_lock(&l->id_lock);
	int r = 0;
	if (l->next_id == l->end_id) {
		uint64_t first = 0;
		r = meta_write(l->meta, take_ids_txn, &first);
		if (r == 0) {
			l->next_id = first;
			l->end_id = first + ID_RANGE;
		}
	}
	if (r == 0) {
		*id = l->next_id++;
		if (pin && *id < pin->low)
			pin->low = *id;
	}
	pthread_mutex_unlock(&l->id_lock);
	return r;
}

int layout_floor_txn(struct store_txn *t, struct layout *l, uint64_t *floor)
{
	/* ids handed out later come from the counter as it is now or later */
	uint64_t next;
	int r = next_obj_get(t, &next);
	if (r < 0)
		return r;
	time_t now = time(NULL);
	pthread_mutex_lock(&l->id_lock);
	uint64_t f = l->next_id < l->end_id ? l->next_id : next;
	for (struct pin **q = &l->pins; *q;) {
		struct pin *p = *q;
		if (p->until && p->until <= now) {
			*q = p->next;
			free(p);
			continue;
		}
		if (p->low < f)
			f = p->low;
		q = &p->next;
	}
	pthread_mutex_unlock(&l->id_lock);
	*floor = f ? f : 1;
	return 0;
}

void layout_set_grace(struct layout *l, int seconds) { l->grace_s = seconds; }

/* Add delta references to object id (size: its bytes, for a new one). */
static int ref_add(struct store_txn *t, uint64_t id, int64_t delta,
		   uint32_t size)
{
	uint8_t col[8], val[8];
	const void *v;
	size_t len;
	store_be64(col, id);
	int64_t refs = 0;
	int r = store_get(t, STORE_OBJREF, 0, col, 8, &v, &len);
	if (r == 0 && len == 8) {
		refs = get_be32(v);
		size = get_be32((const uint8_t *)v + 4);
	} else if (r < 0 && r != -ENOENT) {
		return r;
	}
	int created = refs == 0;
	refs += delta;
	if (refs < 0) {
		log_error("object %016" PRIx64 " lost more references than it "
			  "had (run cassafs fsck)", id);
		refs = 0;
	}
	if (refs == 0) {
		if (created)
			return 0;
		put_be32(val, size);
		if ((r = store_del(t, STORE_OBJREF, 0, col, 8)) < 0 ||
		    (r = store_put(t, STORE_OBJREF, 2, col, 8, val, 4)) < 0 ||
		    (r = store_add(t, STORE_SUPER, 0, "objects", 7, -1)) < 0)
			return r;
		return store_add(t, STORE_SUPER, 0, "obj_bytes", 9, -(int64_t)size);
	}
	put_be32(val, (uint32_t)refs);
	put_be32(val + 4, size);
	if ((r = store_put(t, STORE_OBJREF, 0, col, 8, val, 8)) < 0)
		return r;
	if (created &&
	    ((r = store_add(t, STORE_SUPER, 0, "objects", 7, 1)) < 0 ||
	     (r = store_add(t, STORE_SUPER, 0, "obj_bytes", 9, size)) < 0))
		return r;
	return 0;
}

/* ---- chunk edits inside one transaction ---- */

struct cedit {
	uint64_t chunk;
	struct rec rec;
	int changed;
	uint32_t blocks_before;
};

struct edits {
	struct store_txn *t;
	struct layout *l;
	uint64_t ino;
	struct cedit *e;
	size_t n, cap;
};

static void edits_free(struct edits *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->e[i].rec.s);
	free(x->e);
	x->e = NULL;
	x->n = x->cap = 0;
}

static int edits_get(struct edits *x, uint64_t chunk, struct cedit **out)
{
	for (size_t i = x->n; i-- > 0;)
		if (x->e[i].chunk == chunk) {
			*out = &x->e[i];
			return 0;
		}
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 8;
		struct cedit *e = realloc(x->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		x->e = e;
		x->cap = cap;
	}
	struct cedit *c = &x->e[x->n];
	memset(c, 0, sizeof(*c));
	c->chunk = chunk;
	uint8_t col[8];
	const void *v;
	size_t len;
	store_be64(col, chunk);
	int r = store_get(x->t, STORE_LAYOUT, x->ino, col, 8, &v, &len);
	if (r == 0)
		r = rec_decode(v, len, &c->rec);
	if (r == -EIO)
		log_error("inode %" PRIu64 ": layout record of chunk %" PRIu64
			  " is corrupt (run cassafs fsck)", x->ino, chunk);
	if (r < 0 && r != -ENOENT) {
		free(c->rec.s);
		return r;
	}
	c->blocks_before = c->rec.blocks;
	x->n++;
	*out = c;
	return 0;
}

/* Append a slice covering file bytes [off, off+len), split at chunks. */
static int edits_add(struct edits *x, uint64_t off, uint64_t len, uint8_t kind,
		     uint64_t obj, uint64_t obj_off, int count_refs)
{
	while (len) {
		uint64_t chunk = off / LAYOUT_CHUNK;
		uint32_t pos = (uint32_t)(off % LAYOUT_CHUNK);
		uint64_t n = LAYOUT_CHUNK - pos < len ? LAYOUT_CHUNK - pos : len;
		struct cedit *c;
		int r = edits_get(x, chunk, &c);
		if (r < 0)
			return r;
		if (c->rec.n >= MAX_SLICES)
			return -EIO; /* compaction failed for long: refuse */
		struct slice s = {kind == K_DATA ? obj : 0,
				  kind == K_DATA ? (uint32_t)obj_off : 0, pos,
				  (uint32_t)n, kind};
		if ((r = rec_push(&c->rec, &s)) < 0)
			return r;
		if (kind == K_DATA && count_refs &&
		    (r = ref_add(x->t, obj, 1, 0)) < 0)
			return r;
		c->changed = 1;
		off += n;
		len -= n;
		if (kind == K_DATA)
			obj_off += n;
	}
	return 0;
}

/* Write the changed records; adjust in->blocks and the counter. */
static int edits_finish(struct edits *x, struct meta_inode *in,
		        struct u64vec *compact)
{
	int64_t delta = 0;
	for (size_t i = 0; i < x->n; i++) {
		struct cedit *c = &x->e[i];
		if (!c->changed)
			continue;
		int r = rec_count_blocks(&c->rec, x->l->bs, &c->rec.blocks);
		if (r < 0)
			return r;
		delta += (int64_t)c->rec.blocks - (int64_t)c->blocks_before;
		uint8_t col[8];
		store_be64(col, c->chunk);
		if (c->rec.n == 0) {
			r = store_del(x->t, STORE_LAYOUT, x->ino, col, 8);
		} else {
			size_t len;
			uint8_t *v = rec_encode(&c->rec, &len);
			if (!v)
				return -ENOMEM;
			r = store_put(x->t, STORE_LAYOUT, x->ino, col, 8, v, len);
			free(v);
		}
		if (r < 0)
			return r;
		if (compact && c->rec.n > c->rec.base + LAYOUT_COMPACT_SLICES &&
		    (r = u64vec_push(compact, c->chunk)) < 0)
			return r;
	}
	if (in) {
		if (delta < 0 && (uint64_t)-delta > in->blocks)
			delta = -(int64_t)in->blocks;
		in->blocks = (uint64_t)((int64_t)in->blocks + delta);
	}
	return meta_count_blocks(x->t, delta);
}

/* ---- open / close ---- */

int layout_open(struct meta *m, const char *data_url,
		const struct data_opts *o, struct layout **out, char *err,
		size_t err_len)
{
	struct layout *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	struct data_opts opts = o ? *o : (struct data_opts){0};
	if (!opts.store)
		opts.store = meta_store(m);
	int r = data_open(data_url, &opts, &l->data, err, err_len);
	if (r < 0) {
		free(l);
		return r;
	}
	l->meta = m;
	l->bs = meta_super(m)->block_size;
	snprintf(l->prefix, sizeof(l->prefix), "%s/", meta_super(m)->uuid);
	pthread_mutex_init(&l->id_lock, NULL);
	l->grace_s = GRACE_S;
	pthread_mutex_init(&l->compact_lock, NULL);
	pthread_mutex_init(&l->gc_lock, NULL);
	pthread_cond_init(&l->gc_cond, NULL);
	pthread_mutex_init(&l->ra_lock, NULL);
	*out = l;
	return 0;
}

struct data *layout_data(const struct layout *l) { return l->data; }
struct meta *layout_meta(const struct layout *l) { return l->meta; }

static void *gc_main(void *arg)
{
	struct layout *l = arg;
	pthread_mutex_lock(&l->gc_lock);
	while (!l->gc_stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += GC_PERIOD_S;
		while (!l->gc_stop && !l->gc_kicked)
			if (pthread_cond_timedwait(&l->gc_cond, &l->gc_lock,
						   &until))
				break;
		l->gc_kicked = 0;
		pthread_mutex_unlock(&l->gc_lock);
		struct layout_gc_report rep;
		int r = layout_gc(l, 0, 0, &rep);
		if (r < 0)
			log_error("data gc: %s (retried later)", strerror(-r));
		pthread_mutex_lock(&l->gc_lock);
	}
	pthread_mutex_unlock(&l->gc_lock);
	return NULL;
}

int layout_start_gc(struct layout *l)
{
	int r = pthread_create(&l->gc_thread, NULL, gc_main, l);
	if (r)
		return -r;
	l->gc_running = 1;
	return 0;
}

void layout_kick_gc(struct layout *l)
{
	pthread_mutex_lock(&l->gc_lock);
	l->gc_kicked = 1;
	pthread_cond_signal(&l->gc_cond);
	pthread_mutex_unlock(&l->gc_lock);
}

void layout_close(struct layout *l)
{
	if (!l)
		return;
	if (l->gc_running) {
		pthread_mutex_lock(&l->gc_lock);
		l->gc_stop = 1;
		pthread_cond_signal(&l->gc_cond);
		pthread_mutex_unlock(&l->gc_lock);
		pthread_join(l->gc_thread, NULL);
		struct layout_gc_report rep;
		layout_gc(l, 0, 0, &rep);
	}
	data_close(l->data);
	while (l->pins) {
		struct pin *p = l->pins;
		l->pins = p->next;
		free(p);
	}
	for (int i = 0; i < RA_SLOTS; i++)
		free(l->ra[i].buf);
	pthread_mutex_destroy(&l->ra_lock);
	pthread_mutex_destroy(&l->id_lock);
	pthread_mutex_destroy(&l->compact_lock);
	pthread_mutex_destroy(&l->gc_lock);
	pthread_cond_destroy(&l->gc_cond);
	free(l);
}

/* ---- writes ---- */

struct bslice {
	uint64_t off, len; /* file range */
	uint64_t obj;
	uint32_t obj_off;
};

struct layout_batch {
	uint64_t ino;
	struct bslice *s;
	size_t n, cap;
	uint64_t *objs; /* uploaded objects */
	uint32_t *obj_size;
	size_t nobj;
	struct u64vec compact; /* chunks to compact (set by the commit) */
	struct pin *pin;
};

static int batch_add(struct layout_batch *b, uint64_t off, uint64_t len,
		     uint64_t obj, uint32_t obj_off)
{
	if (b->n) {
		/* a range that goes on where the last one ended, in the same
		 * object, is one slice (a sequential write: one per object) */
		struct bslice *l = &b->s[b->n - 1];
		if (l->obj == obj && l->off + l->len == off &&
		    l->obj_off + l->len == obj_off) {
			l->len += len;
			return 0;
		}
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct bslice *s = realloc(b->s, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->n++] = (struct bslice){off, len, obj, obj_off};
	return 0;
}

static void batch_free(struct layout_batch *b)
{
	if (!b)
		return;
	free(b->s);
	free(b->objs);
	free(b->obj_size);
	u64vec_free(&b->compact);
	free(b);
}

/* Upload the packs gathered so far (bufs[i], lens[i]) as objects ids[i]. */
static int put_packs(struct layout *l, uint8_t **bufs, size_t *lens,
		     const uint64_t *ids, size_t n)
{
	struct data_io io[8];
	char keys[8][KEY_LEN];
	for (size_t i = 0; i < n; i++) {
		obj_key(l, ids[i], keys[i]);
		io[i] = (struct data_io){keys[i], bufs[i], lens[i], 0, 0, 0};
	}
	return n ? data_put_batch(l->data, io, n) : 0;
}

#define PACKS 4 /* objects uploaded at once: 16 MiB of copies at most */

int layout_upload(struct layout *l, uint64_t ino,
		  const struct layout_piece *p, size_t n,
		  struct layout_batch **out)
{
	struct layout_batch *b = calloc(1, sizeof(*b));
	uint8_t *bufs[PACKS] = {0};
	size_t lens[PACKS] = {0};
	uint64_t ids[PACKS];
	size_t np = 0;
	int r = 0;
	if (!b || !(b->pin = pin_begin(l))) {
		free(b);
		return -ENOMEM;
	}
	b->ino = ino;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += p[i].len;
	size_t maxobj = total < LAYOUT_OBJECT_MAX ? total : LAYOUT_OBJECT_MAX;
	size_t nobj_max = total / LAYOUT_OBJECT_MAX + 2;
	b->objs = malloc(nobj_max * sizeof(*b->objs));
	b->obj_size = malloc(nobj_max * sizeof(*b->obj_size));
	if (!b->objs || !b->obj_size) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		size_t done = 0;
		while (done < p[i].len) {
			if (np == 0 || lens[np - 1] == maxobj) {
				if (np == PACKS) {
					if ((r = put_packs(l, bufs, lens, ids, np)) < 0)
						goto fail;
					for (size_t k = 0; k < np; k++)
						lens[k] = 0;
					np = 0;
				}
				if (!bufs[np] && !(bufs[np] = malloc(maxobj))) {
					r = -ENOMEM;
					goto fail;
				}
				if ((r = new_id(l, &ids[np], b->pin)) < 0)
					goto fail;
				b->objs[b->nobj] = ids[np];
				b->obj_size[b->nobj++] = 0;
				lens[np] = 0;
				np++;
			}
			size_t room = maxobj - lens[np - 1];
			size_t k = p[i].len - done < room ? p[i].len - done : room;
			memcpy(bufs[np - 1] + lens[np - 1], p[i].buf + done, k);
			if ((r = batch_add(b, p[i].off + done, k, ids[np - 1],
					   (uint32_t)lens[np - 1])) < 0)
				goto fail;
			lens[np - 1] += k;
			b->obj_size[b->nobj - 1] = (uint32_t)lens[np - 1];
			done += k;
		}
	}
	if ((r = put_packs(l, bufs, lens, ids, np)) < 0)
		goto fail;
	for (size_t k = 0; k < PACKS; k++)
		free(bufs[k]);
	*out = b;
	return 0;
fail:
	for (size_t k = 0; k < PACKS; k++)
		free(bufs[k]);
	layout_batch_done(l, b, -ECANCELED); /* never committed */
	return r;
}

int layout_commit_txn(struct store_txn *t, struct layout *l,
		      struct layout_batch *b, struct meta_inode *in)
{
	struct edits x = {t, l, in->ino};
	int r = 0;
	b->compact.n = 0;
	/* every object counts the slices that use it (one per chunk a piece
	 * spans); its size comes with its first reference */
	for (size_t i = 0; i < b->n && r == 0; i++) {
		const struct bslice *s = &b->s[i];
		/* the size of a new object comes with its first reference */
		size_t k;
		for (k = 0; k < b->nobj && b->objs[k] != s->obj; k++)
			;
		uint64_t off = s->off, len = s->len, ooff = s->obj_off;
		while (len && r == 0) {
			uint64_t room = LAYOUT_CHUNK - off % LAYOUT_CHUNK;
			uint64_t m = room < len ? room : len;
			r = edits_add(&x, off, m, K_DATA, s->obj, ooff, 0);
			if (r == 0)
				r = ref_add(t, s->obj, 1, b->obj_size[k]);
			off += m;
			ooff += m;
			len -= m;
		}
	}
	if (r == 0)
		r = edits_finish(&x, in, &b->compact);
	edits_free(&x);
	return r;
}

static int compact_chunk(struct layout *l, uint64_t ino, uint64_t chunk);

void layout_batch_done(struct layout *l, struct layout_batch *b, int result)
{
	if (!b)
		return;
	if (result == -EIO) {
		/* e.g. Redis applied EXEC and the reply was lost: deleting
		 * could leave committed slices (and the data they replaced)
		 * pointing at nothing */
		log_warn("inode %llu: commit outcome unknown; keeping its %zu "
			 "new objects (cassafs gc removes them if unreferenced)",
			 (unsigned long long)b->ino, b->nobj);
	} else if (result < 0) {
		for (size_t i = 0; i < b->nobj; i++) {
			char key[KEY_LEN];
			obj_key(l, b->objs[i], key);
			data_del(l->data, key);
		}
	}
	/* (after the deletes: a sweep must not see them as ours to take
	 * while they are still being deleted here — harmless either way) */
	pin_end(l, b->pin, result == -EIO);
	b->pin = NULL;
	if (result >= 0) {
		for (size_t i = 0; i < b->compact.n; i++)
			compact_chunk(l, b->ino, b->compact.v[i]);
	}
	batch_free(b);
}

/* ---- reads ---- */

struct snap {
	uint64_t first; /* first chunk */
	size_t n;
	struct rec *recs; /* n records (n == 0 slices: nothing stored) */
};

struct snap_args {
	uint64_t ino, first, last;
	struct snap *sn;
};

static int snap_col(void *arg, const void *col, size_t col_len,
		    const void *val, size_t val_len)
{
	struct snap_args *a = arg;
	if (col_len != 8)
		return 0;
	uint64_t chunk = store_get_be64(col);
	if (chunk > a->last)
		return 1;
	if (chunk < a->first)
		return 0;
	int r = rec_decode(val, val_len, &a->sn->recs[chunk - a->first]);
	if (r == -EIO)
		log_error("inode %" PRIu64 ": layout record of chunk %" PRIu64
			  " is corrupt (run cassafs fsck)", a->ino, chunk);
	return r;
}

/* The records of chunks first..last: a get of the one column when the
 * read falls in one chunk (a value the store's client cache can hold, so
 * a STORE_CACHED read of it costs no round trip), else a scan. */
static int snap_txn(struct store_txn *t, void *arg)
{
	struct snap_args *a = arg;
	for (size_t i = 0; i < a->sn->n; i++)
		a->sn->recs[i].n = 0;
	uint8_t start[8];
	store_be64(start, a->first);
	if (a->first == a->last) {
		const void *v;
		size_t vl;
		int r = store_get(t, STORE_LAYOUT, a->ino, start, 8, &v, &vl);
		if (r == -ENOENT)
			return 0;
		return r < 0 ? r : snap_col(a, start, 8, v, vl);
	}
	int r = store_scan(t, STORE_LAYOUT, a->ino, start, 8, snap_col, a);
	return r < 0 ? r : 0;
}

static void snap_free(struct snap *sn)
{
	for (size_t i = 0; i < sn->n; i++)
		free(sn->recs[i].s);
	free(sn->recs);
}

struct fetch {
	struct layout *l;
	uint8_t *buf;      /* the read's buffer */
	uint64_t base;     /* file offset of buf[0] */
	uint64_t chunk_off;
	struct data_io *io;
	char (*keys)[KEY_LEN];
	struct ra_want {
		uint64_t obj, end; /* the object; where its slice ends in it */
		uint8_t *dst;      /* read-ahead: where the asked bytes go */
		size_t want;
		int ahead;         /* a piece past the asked bytes, only kept */
	} *w;
	size_t n, cap;
};

/* Is this read where the inode's last read ended?  Notes where it ends. */
static int ra_sequential(struct layout *l, uint64_t ino, uint64_t off,
			 size_t len)
{
	size_t h = (size_t)(ino * 0x9E3779B97F4A7C15ull >> 58) % RA_STREAMS;
	pthread_mutex_lock(&l->ra_lock);
	int seq = l->streams[h].ino == ino && l->streams[h].next == off;
	if (!seq)
		l->streams[h].ahead = 0;
	l->streams[h].ino = ino;
	l->streams[h].next = off + len;
	pthread_mutex_unlock(&l->ra_lock);
	return seq;
}

/* A sequential reader of ino is about to fetch file bytes up to "to":
 * where pieces past "from" are not asked for yet (by this reader or a
 * parallel read of the same stream), so at most one fetch asks for each. */
static uint64_t ra_claim(struct layout *l, uint64_t ino, uint64_t from,
			 uint64_t to)
{
	size_t h = (size_t)(ino * 0x9E3779B97F4A7C15ull >> 58) % RA_STREAMS;
	pthread_mutex_lock(&l->ra_lock);
	uint64_t start = to;
	if (l->streams[h].ino == ino) {
		start = l->streams[h].ahead > from ? l->streams[h].ahead : from;
		if (to > l->streams[h].ahead)
			l->streams[h].ahead = to;
	}
	pthread_mutex_unlock(&l->ra_lock);
	return start;
}

/* Copy [off, off+len) of object obj from a read-ahead buffer: 1 if it
 * was there. */
static int ra_lookup(struct layout *l, uint64_t obj, uint64_t off, size_t len,
		     uint8_t *dst)
{
	int hit = 0;
	pthread_mutex_lock(&l->ra_lock);
	for (int i = 0; i < RA_SLOTS && !hit; i++)
		if (l->ra[i].buf && l->ra[i].obj == obj && l->ra[i].off <= off &&
		    off + len <= l->ra[i].off + l->ra[i].len) {
			memcpy(dst, l->ra[i].buf + (off - l->ra[i].off), len);
			l->ra[i].used = ++l->ra_tick;
			hit = 1;
		}
	pthread_mutex_unlock(&l->ra_lock);
	return hit;
}

/* Keep buf (len bytes of obj from off) in the least recently used slot. */
static void ra_keep(struct layout *l, uint64_t obj, uint64_t off,
		    uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&l->ra_lock);
	int v = 0;
	for (int i = 1; i < RA_SLOTS; i++)
		if (l->ra[i].used < l->ra[v].used)
			v = i;
	free(l->ra[v].buf);
	l->ra[v].obj = obj;
	l->ra[v].off = off;
	l->ra[v].len = len;
	l->ra[v].buf = buf;
	l->ra[v].used = ++l->ra_tick;
	pthread_mutex_unlock(&l->ra_lock);
}

/* Room for extra more entries in f. */
static int fetch_reserve(struct fetch *f, size_t extra)
{
	if (f->n + extra <= f->cap)
		return 0;
	size_t cap = f->cap ? f->cap * 2 : 16;
	while (cap < f->n + extra)
		cap *= 2;
	struct data_io *io = realloc(f->io, cap * sizeof(*io));
	if (!io)
		return -ENOMEM;
	f->io = io;
	char (*k)[KEY_LEN] = realloc(f->keys, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	f->keys = k;
	struct ra_want *w = realloc(f->w, cap * sizeof(*w));
	if (!w)
		return -ENOMEM;
	f->w = w;
	f->cap = cap;
	return 0;
}

static int fetch_seg(void *arg, uint32_t lo, uint32_t hi, const struct slice *s)
{
	struct fetch *f = arg;
	uint8_t *dst = f->buf + (f->chunk_off + lo - f->base);
	if (!s || s->kind != K_DATA) {
		memset(dst, 0, hi - lo);
		return 0;
	}
	int r = fetch_reserve(f, 1);
	if (r < 0)
		return r;
	obj_key(f->l, s->obj, f->keys[f->n]);
	f->io[f->n] = (struct data_io){NULL, dst, hi - lo,
				       (uint64_t)s->off + (lo - s->pos), 0, 0};
	f->w[f->n] = (struct ra_want){s->obj, (uint64_t)s->off + s->len, NULL,
				      0, 0};
	f->n++;
	return 0;
}

/* A sequential reader's piece io (file offset fo) of an object whose
 * slice goes on past it: the next pieces of that slice, up to RA_WINDOW
 * from fo, that no buffer holds and no other read asked for, go to ex. */
static int fetch_ahead(struct fetch *ex, uint64_t ino, uint64_t fo,
		       const struct data_io *io, const struct ra_want *w,
		       const char *key)
{
	uint64_t p = io->off + io->len; /* object offset */
	uint64_t end = w->end - io->off > RA_WINDOW ? io->off + RA_WINDOW : w->end;
	if (p >= end)
		return 0;
	uint64_t from = ra_claim(ex->l, ino, fo + io->len, fo + (end - io->off));
	p = io->off + (from - fo);
	for (; p < end; p += RA_BYTES) {
		size_t n = end - p < RA_BYTES ? (size_t)(end - p) : RA_BYTES;
		uint8_t probe;
		if (ra_lookup(ex->l, w->obj, p, 1, &probe))
			continue; /* held already (from p on, most likely) */
		int r = fetch_reserve(ex, 1);
		if (r < 0)
			return r;
		uint8_t *b = malloc(n);
		if (!b)
			return -ENOMEM;
		memcpy(ex->keys[ex->n], key, KEY_LEN);
		ex->io[ex->n] = (struct data_io){NULL, b, n, p, 0, 0};
		ex->w[ex->n] = (struct ra_want){w->obj, w->end, NULL, 0, 1};
		ex->n++;
	}
	return 0;
}

/* Append ex's entries to f: all of them (f owns their buffers then), or
 * none (-ENOMEM). */
static int fetch_append(struct fetch *f, struct fetch *ex)
{
	int r = fetch_reserve(f, ex->n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ex->n; i++) {
		f->io[f->n] = ex->io[i];
		f->w[f->n] = ex->w[i];
		memcpy(f->keys[f->n], ex->keys[i], KEY_LEN);
		f->n++;
	}
	return 0;
}

/* cached: take the records from the store's client cache (STORE_CACHED) */
static int read_once(struct layout *l, uint64_t ino, uint64_t off,
		     uint8_t *buf, size_t len, int cached)
{
	uint64_t first = off / LAYOUT_CHUNK, last = (off + len - 1) / LAYOUT_CHUNK;
	struct snap sn = {first, (size_t)(last - first + 1), NULL};
	sn.recs = calloc(sn.n, sizeof(*sn.recs));
	if (!sn.recs)
		return -ENOMEM;
	struct snap_args a = {ino, first, last, &sn};
	struct fetch f = {l, buf, off};
	int r = cached ? meta_read_cached(l->meta, snap_txn, &a)
		       : meta_read(l->meta, snap_txn, &a);
	for (size_t i = 0; r == 0 && i < sn.n; i++) {
		uint64_t c0 = (first + i) * LAYOUT_CHUNK;
		uint64_t lo = off > c0 ? off - c0 : 0;
		uint64_t hi = off + len - c0 < LAYOUT_CHUNK ? off + len - c0
							    : LAYOUT_CHUNK;
		f.chunk_off = c0;
		r = resolve(&sn.recs[i], (uint32_t)lo, (uint32_t)hi, fetch_seg, &f);
	}
	/* pieces a read-ahead buffer holds are copied; a sequential reader's
	 * other pieces are fetched further, to a buffer kept for the next
	 * reads */
	int seq = r == 0 && ra_sequential(l, ino, off, len);
	size_t k = 0;
	struct fetch ex = {l}; /* pieces fetched ahead */
	for (size_t i = 0; r == 0 && i < f.n; i++) {
		struct data_io *io = &f.io[i];
		if (ra_lookup(l, f.w[i].obj, io->off, io->len, io->buf))
			continue;
		if (seq && io->len < RA_BYTES && f.w[i].end > io->off + io->len) {
			size_t n = f.w[i].end - io->off < RA_BYTES
					   ? (size_t)(f.w[i].end - io->off) : RA_BYTES;
			uint8_t *b = malloc(n);
			if (b) {
				/* this piece's file offset: where it goes
				 * in the caller's buffer */
				uint64_t fo = off + (uint64_t)((uint8_t *)io->buf - buf);
				f.w[i].dst = io->buf;
				f.w[i].want = io->len;
				io->buf = b;
				io->len = n;
				/* optional: out of memory, fewer pieces */
				fetch_ahead(&ex, ino, fo, io, &f.w[i], f.keys[i]);
			}
		}
		f.io[k] = *io;
		f.w[k] = f.w[i];
		memcpy(f.keys[k], f.keys[i], KEY_LEN);
		k++;
	}
	f.n = r == 0 ? k : f.n;
	if (r < 0 || (ex.n && fetch_append(&f, &ex) < 0))
		for (size_t i = 0; i < ex.n; i++)
			free(ex.io[i].buf);
	free(ex.io);
	free(ex.keys);
	free(ex.w);
	for (size_t i = 0; i < f.n; i++)
		f.io[i].key = f.keys[i];
	if (r == 0 && f.n)
		r = data_get_batch(l->data, f.io, f.n);
	for (size_t i = 0; i < f.n; i++) {
		struct data_io *io = &f.io[i];
		if (f.w[i].ahead) {
			if (r == 0 && io->got)
				ra_keep(l, f.w[i].obj, io->off, io->buf, io->got);
			else
				free(io->buf);
			continue;
		}
		size_t need = f.w[i].dst ? f.w[i].want : io->len;
		if (r == 0 && io->got < need) {
			log_error("inode %" PRIu64 ": object %s is shorter than "
				  "its layout says (run cassafs fsck)", ino,
				  io->key);
			r = -EIO;
		}
		if (!f.w[i].dst)
			continue;
		if (r == 0) {
			memcpy(f.w[i].dst, io->buf, need);
			ra_keep(l, f.w[i].obj, io->off, io->buf, io->got);
		} else {
			free(io->buf);
		}
	}
	free(f.io);
	free(f.keys);
	free(f.w);
	snap_free(&sn);
	return r;
}

static int read_range(struct layout *l, uint64_t ino, uint64_t off,
		      uint8_t *buf, size_t len, int cached)
{
	if (!len)
		return 0;
	int r = -ENOENT;
	/* an object may go between reading the record and the object (the
	 * record changed and gc ran), or the record came from the client
	 * cache a moment before that change reached it: read the record
	 * again, checked */
	for (int i = 0; i < 4 && r == -ENOENT; i++)
		r = read_once(l, ino, off, buf, len, cached && i == 0);
	if (r == -ENOENT) {
		log_error("inode %" PRIu64 ": an object of bytes %" PRIu64
			  "..%" PRIu64 " is missing from the data tier (run "
			  "cassafs fsck)", ino, off, off + len);
		r = -EIO;
	}
	return r;
}

int layout_read(struct layout *l, uint64_t ino, uint64_t off, uint8_t *buf,
		size_t len)
{
	return read_range(l, ino, off, buf, len, 0);
}

int layout_read_cached(struct layout *l, uint64_t ino, uint64_t off,
		       uint8_t *buf, size_t len)
{
	return read_range(l, ino, off, buf, len, 1);
}

/* ---- truncate, fallocate, copy ---- */

/* Drop the slices of a chunk at and past pos: release their references. */
static int cut_chunk(struct edits *x, struct cedit *c, uint32_t pos)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->rec.n; i++) {
		struct slice s = c->rec.s[i];
		if (s.pos >= pos) {
			if (s.kind == K_DATA) {
				int r = ref_add(x->t, s.obj, -1, 0);
				if (r < 0)
					return r;
			}
			continue;
		}
		if (s.pos + s.len > pos)
			s.len = pos - s.pos;
		c->rec.s[k++] = s;
	}
	c->rec.n = k;
	c->changed = 1;
	return 0;
}

struct chunk_list {
	struct u64vec v;
	uint64_t from;
};

static int list_chunk(void *arg, const void *col, size_t col_len,
		      const void *val, size_t val_len)
{
	struct chunk_list *c = arg;
	if (col_len != 8)
		return 0;
	uint64_t chunk = store_get_be64(col);
	return chunk >= c->from ? u64vec_push(&c->v, chunk) : 0;
}

int layout_truncate_txn(struct store_txn *t, struct layout *l,
			struct meta_inode *in, uint64_t new_size)
{
	struct chunk_list cl = {{0}, new_size / LAYOUT_CHUNK};
	uint8_t start[8];
	store_be64(start, cl.from);
	int r = store_scan(t, STORE_LAYOUT, in->ino, start, 8, list_chunk, &cl);
	struct edits x = {t, l, in->ino};
	for (size_t i = 0; r >= 0 && i < cl.v.n; i++) {
		struct cedit *c;
		uint64_t c0 = cl.v.v[i] * LAYOUT_CHUNK;
		if ((r = edits_get(&x, cl.v.v[i], &c)) < 0)
			break;
		r = cut_chunk(&x, c, new_size > c0 ? (uint32_t)(new_size - c0) : 0);
	}
	if (r >= 0)
		r = edits_finish(&x, in, NULL);
	edits_free(&x);
	u64vec_free(&cl.v);
	return r < 0 ? r : 0;
}

struct holes_args {
	uint32_t bs;
	uint64_t c0;
	uint64_t lo, hi;    /* the range asked */
	uint8_t *map;       /* blocks of the chunk with data or allocation */
	struct u64vec gaps; /* (start, end) file offsets shown as holes */
};

static int hole_seg(void *arg, uint32_t lo, uint32_t hi, const struct slice *s)
{
	struct holes_args *h = arg;
	if (s && s->kind != K_HOLE) {
		for (uint32_t b = lo / h->bs; b <= (hi - 1) / h->bs; b++)
			h->map[b >> 3] |= (uint8_t)(1u << (b & 7));
		return 0;
	}
	int r = u64vec_push(&h->gaps, h->c0 + lo);
	return r < 0 ? r : u64vec_push(&h->gaps, h->c0 + hi);
}

/* The holes of [off, off+len) in chunk c, as file ranges, and the count
 * of whole hole blocks. */
static int chunk_holes(struct cedit *c, uint32_t bs, uint64_t off,
		       uint64_t len, struct holes_args *h, uint64_t *blocks)
{
	uint64_t c0 = c->chunk * LAYOUT_CHUNK;
	uint64_t lo = off > c0 ? off - c0 : 0;
	uint64_t hi = off + len - c0 < LAYOUT_CHUNK ? off + len - c0 : LAYOUT_CHUNK;
	uint8_t map[LAYOUT_CHUNK / META_MIN_BLOCK_SIZE / 8];
	memset(map, 0, sizeof(map));
	h->bs = bs;
	h->c0 = c0;
	h->map = map;
	h->gaps.n = 0;
	/* blocks are counted whole: resolve over the blocks the range
	 * touches, so a block with data beside the range is not a hole */
	uint32_t blo = (uint32_t)(lo / bs * bs);
	uint32_t bhi = (uint32_t)((hi + bs - 1) / bs * bs);
	if (bhi > LAYOUT_CHUNK)
		bhi = LAYOUT_CHUNK;
	int r = resolve(&c->rec, blo, bhi, hole_seg, h);
	if (r < 0)
		return r;
	if (blocks) {
		uint64_t n = 0;
		for (uint32_t b = blo / bs; b < bhi / bs; b++)
			if (!(map[b >> 3] & (1u << (b & 7))))
				n++;
		*blocks += n;
	}
	/* keep only the gaps inside the range asked */
	size_t k = 0;
	for (size_t i = 0; i + 1 < h->gaps.n; i += 2) {
		uint64_t a = h->gaps.v[i], b = h->gaps.v[i + 1];
		if (a < c0 + lo)
			a = c0 + lo;
		if (b > c0 + hi)
			b = c0 + hi;
		if (a < b) {
			h->gaps.v[k++] = a;
			h->gaps.v[k++] = b;
		}
	}
	h->gaps.n = k;
	return 0;
}

int layout_holes_txn(struct store_txn *t, struct layout *l, uint64_t ino,
		     uint64_t off, uint64_t len, uint64_t *holes)
{
	struct edits x = {t, l, ino};
	struct holes_args h = {0};
	int r = 0;
	*holes = 0;
	for (uint64_t c = off / LAYOUT_CHUNK; len && r == 0 &&
	     c <= (off + len - 1) / LAYOUT_CHUNK; c++) {
		struct cedit *ce;
		if ((r = edits_get(&x, c, &ce)) == 0)
			r = chunk_holes(ce, l->bs, off, len, &h, holes);
	}
	u64vec_free(&h.gaps);
	edits_free(&x);
	return r;
}

int layout_alloc_txn(struct store_txn *t, struct layout *l,
		     struct meta_inode *in, uint64_t off, uint64_t len,
		     enum layout_alloc how)
{
	struct edits x = {t, l, in->ino};
	struct holes_args h = {0};
	int r = 0;
	if (how == LAYOUT_ALLOC_ZERO || how == LAYOUT_ALLOC_PUNCH) {
		r = edits_add(&x, off, len,
			      how == LAYOUT_ALLOC_ZERO ? K_ZERO : K_HOLE, 0, 0, 0);
	} else {
		/* only the holes become allocated: data stays visible */
		for (uint64_t c = off / LAYOUT_CHUNK; len && r == 0 &&
		     c <= (off + len - 1) / LAYOUT_CHUNK; c++) {
			struct cedit *ce;
			if ((r = edits_get(&x, c, &ce)) < 0 ||
			    (r = chunk_holes(ce, l->bs, off, len, &h, NULL)) < 0)
				break;
			for (size_t i = 0; r == 0 && i + 1 < h.gaps.n; i += 2)
				r = edits_add(&x, h.gaps.v[i],
					      h.gaps.v[i + 1] - h.gaps.v[i],
					      K_ZERO, 0, 0, 0);
		}
	}
	struct u64vec compact = {0};
	if (r == 0)
		r = edits_finish(&x, in, &compact);
	/* fallocate adds few slices; a chunk past the threshold is compacted
	 * by its next write */
	u64vec_free(&compact);
	u64vec_free(&h.gaps);
	edits_free(&x);
	return r;
}

struct copy_args {
	struct edits *x;
	uint64_t delta; /* destination offset - source offset */
	uint64_t c0;
};

static int copy_seg(void *arg, uint32_t lo, uint32_t hi, const struct slice *s)
{
	struct copy_args *c = arg;
	uint64_t dst = c->c0 + lo + c->delta;
	if (!s || s->kind == K_HOLE)
		return edits_add(c->x, dst, hi - lo, K_HOLE, 0, 0, 0);
	if (s->kind == K_ZERO)
		return edits_add(c->x, dst, hi - lo, K_ZERO, 0, 0, 0);
	return edits_add(c->x, dst, hi - lo, K_DATA, s->obj,
			 (uint64_t)s->off + (lo - s->pos), 1);
}

int layout_copy_txn(struct store_txn *t, struct layout *l,
		    const struct meta_inode *src, uint64_t off_in,
		    struct meta_inode *out, uint64_t off_out, uint64_t len)
{
	/* The source's records are read (a copy) before the destination's
	 * change: with src == out and overlapping ranges the source is
	 * what it was before the copy, as a read-then-write would see it. */
	uint64_t first = off_in / LAYOUT_CHUNK;
	uint64_t last = (off_in + len - 1) / LAYOUT_CHUNK;
	struct snap sn = {first, (size_t)(last - first + 1), NULL};
	if (!len)
		return 0;
	if (!(sn.recs = calloc(sn.n, sizeof(*sn.recs))))
		return -ENOMEM;
	struct snap_args sa = {src->ino, first, last, &sn};
	int r = snap_txn(t, &sa);
	struct edits x = {t, l, out->ino};
	struct copy_args ca = {&x, off_out - off_in, 0};
	for (size_t i = 0; r == 0 && i < sn.n; i++) {
		uint64_t c0 = (first + i) * LAYOUT_CHUNK;
		uint64_t lo = off_in > c0 ? off_in - c0 : 0;
		uint64_t hi = off_in + len - c0 < LAYOUT_CHUNK
				      ? off_in + len - c0 : LAYOUT_CHUNK;
		ca.c0 = c0;
		r = resolve(&sn.recs[i], (uint32_t)lo, (uint32_t)hi, copy_seg, &ca);
	}
	struct u64vec compact = {0};
	if (r == 0)
		r = edits_finish(&x, out, &compact);
	u64vec_free(&compact);
	edits_free(&x);
	snap_free(&sn);
	return r;
}

/* ---- compaction ---- */

struct seglist {
	struct {
		uint32_t lo, hi;
		struct slice s; /* kind K_HOLE for nothing */
	} *v;
	size_t n, cap;
};

static int collect_seg(void *arg, uint32_t lo, uint32_t hi,
		       const struct slice *s)
{
	struct seglist *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].lo = lo;
	l->v[l->n].hi = hi;
	if (s)
		l->v[l->n].s = *s;
	else
		l->v[l->n].s = (struct slice){0, 0, 0, 0, K_HOLE};
	l->n++;
	return 0;
}

static int seg_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct compact_args {
	uint64_t ino, chunk;
	uint8_t *val; /* the record as read */
	size_t len;
	const uint8_t *want; /* commit only if the record is still this */
	struct rec *old, *neu;
	int changed;
};

static int compact_read_txn(struct store_txn *t, void *arg)
{
	struct compact_args *a = arg;
	uint8_t col[8];
	const void *v;
	size_t len;
	store_be64(col, a->chunk);
	free(a->val);
	a->val = NULL;
	int r = store_get(t, STORE_LAYOUT, a->ino, col, 8, &v, &len);
	if (r < 0)
		return r;
	if (!(a->val = malloc(len)))
		return -ENOMEM;
	memcpy(a->val, v, len);
	a->len = len;
	return 0;
}

/* Bytes of object id: the end of its last slice in r (packed in order). */
static uint32_t obj_size_of(const struct rec *r, uint64_t id)
{
	uint32_t end = 0;
	for (uint32_t i = 0; i < r->n; i++)
		if (r->s[i].obj == id && r->s[i].off + r->s[i].len > end)
			end = r->s[i].off + r->s[i].len;
	return end;
}

static int put_pack(struct layout *l, uint64_t id, const uint8_t *buf,
		    size_t len)
{
	char key[KEY_LEN];
	obj_key(l, id, key);
	return data_put(l->data, key, buf, len);
}

static int compact_commit_txn(struct store_txn *t, void *arg)
{
	struct compact_args *a = arg;
	uint8_t col[8];
	const void *v;
	size_t len;
	store_be64(col, a->chunk);
	a->changed = 0;
	int r = store_get(t, STORE_LAYOUT, a->ino, col, 8, &v, &len);
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == -ENOENT || len != a->len || memcmp(v, a->want, len)) {
		a->changed = 1; /* written meanwhile: try again at a later write */
		return 0;
	}
	for (uint32_t i = 0; i < a->neu->n; i++)
		if (a->neu->s[i].kind == K_DATA &&
		    (r = ref_add(t, a->neu->s[i].obj, 1,
				 obj_size_of(a->neu, a->neu->s[i].obj))) < 0)
			return r;
	for (uint32_t i = 0; i < a->old->n; i++)
		if (a->old->s[i].kind == K_DATA &&
		    (r = ref_add(t, a->old->s[i].obj, -1, 0)) < 0)
			return r;
	a->neu->blocks = a->old->blocks; /* the same bytes show */
	size_t elen;
	uint8_t *enc = rec_encode(a->neu, &elen);
	if (!enc)
		return -ENOMEM;
	r = store_put(t, STORE_LAYOUT, a->ino, col, 8, enc, elen);
	free(enc);
	return r;
}

/*
 * Rewrite a chunk's visible bytes as few objects.  Runs after a commit,
 * outside transactions, one at a time (it holds up to a chunk of data).
 */
static int compact_chunk(struct layout *l, uint64_t ino, uint64_t chunk)
{
	struct compact_args a = {ino, chunk};
	struct rec old = {0}, neu = {0};
	struct seglist sl = {0};
	uint8_t *data = NULL;
	struct data_io *io = NULL;
	char (*keys)[KEY_LEN] = NULL;
	uint64_t *ids = NULL;
	uint8_t *pack = NULL;
	size_t nids = 0;
	int unknown = 0;
	pthread_mutex_lock(&l->compact_lock);
	struct pin *pin = pin_begin(l);
	int r = pin ? meta_read(l->meta, compact_read_txn, &a) : -ENOMEM;
	if (r < 0 || (r = rec_decode(a.val, a.len, &old)) < 0)
		goto out;
	if (old.n <= old.base + LAYOUT_COMPACT_SLICES)
		goto out; /* done by someone else */
	if ((r = resolve(&old, 0, LAYOUT_CHUNK, collect_seg, &sl)) < 0)
		goto out;
	qsort(sl.v, sl.n, sizeof(*sl.v), seg_cmp);
	/* read every data segment into its place in one chunk buffer */
	uint32_t lo_all = LAYOUT_CHUNK, hi_all = 0;
	size_t ndata = 0;
	for (size_t i = 0; i < sl.n; i++)
		if (sl.v[i].s.kind == K_DATA) {
			if (sl.v[i].lo < lo_all)
				lo_all = sl.v[i].lo;
			if (sl.v[i].hi > hi_all)
				hi_all = sl.v[i].hi;
			ndata++;
		}
	if (ndata) {
		data = malloc(hi_all - lo_all);
		io = calloc(ndata, sizeof(*io));
		keys = malloc(ndata * sizeof(*keys));
		if (!data || !io || !keys) {
			r = -ENOMEM;
			goto out;
		}
		size_t k = 0;
		for (size_t i = 0; i < sl.n; i++) {
			const struct slice *s = &sl.v[i].s;
			if (s->kind != K_DATA)
				continue;
			obj_key(l, s->obj, keys[k]);
			io[k] = (struct data_io){keys[k],
				data + (sl.v[i].lo - lo_all),
				sl.v[i].hi - sl.v[i].lo,
				(uint64_t)s->off + (sl.v[i].lo - s->pos), 0, 0};
			k++;
		}
		if ((r = data_get_batch(l->data, io, ndata)) < 0)
			goto out; /* changed under us (gc), or the tier fails */
	}
	/* new slices: the data runs packed into objects of up to
	 * LAYOUT_OBJECT_MAX, allocation as zero slices, nothing for holes */
	ids = malloc((sl.n + (LAYOUT_CHUNK / LAYOUT_OBJECT_MAX) + 2) *
		     sizeof(*ids));
	if (!ids || (ndata && !(pack = malloc(LAYOUT_OBJECT_MAX)))) {
		r = -ENOMEM;
		goto out;
	}
	size_t plen = 0;
	for (size_t i = 0; i < sl.n;) {
		uint8_t kind = sl.v[i].s.kind;
		size_t j = i + 1;
		while (j < sl.n && sl.v[j].s.kind == kind &&
		       sl.v[j].lo == sl.v[j - 1].hi)
			j++;
		uint32_t lo = sl.v[i].lo, hi = sl.v[j - 1].hi;
		if (kind == K_ZERO) {
			struct slice s = {0, 0, lo, hi - lo, K_ZERO};
			if ((r = rec_push(&neu, &s)) < 0)
				goto out;
		} else if (kind == K_DATA) {
			for (uint32_t p = lo; p < hi;) {
				if (!nids || plen == LAYOUT_OBJECT_MAX) {
					if (nids && (r = put_pack(l, ids[nids - 1],
								  pack, plen)) < 0)
						goto out;
					if ((r = new_id(l, &ids[nids], pin)) < 0)
						goto out;
					nids++;
					plen = 0;
				}
				uint32_t n = hi - p;
				if (n > LAYOUT_OBJECT_MAX - plen)
					n = (uint32_t)(LAYOUT_OBJECT_MAX - plen);
				memcpy(pack + plen, data + (p - lo_all), n);
				struct slice s = {ids[nids - 1], (uint32_t)plen, p,
						  n, K_DATA};
				if ((r = rec_push(&neu, &s)) < 0)
					goto out;
				plen += n;
				p += n;
			}
		}
		i = j;
	}
	if (nids && (r = put_pack(l, ids[nids - 1], pack, plen)) < 0)
		goto out;
	neu.base = neu.n;
	a.want = a.val;
	a.old = &old;
	a.neu = &neu;
	r = meta_write(l->meta, compact_commit_txn, &a);
	if (r == 0 && !a.changed) {
		nids = 0; /* referenced now */
		layout_kick_gc(l);
	} else if (r == -EIO) {
		/* the outcome is unknown (as in layout_batch_done): the commit
		 * may have applied, so the objects stay; gc's sweep removes
		 * them if nothing refers to them */
		nids = 0;
		unknown = 1;
	}
out:
	for (size_t i = 0; i < nids; i++) {
		char key[KEY_LEN];
		obj_key(l, ids[i], key);
		data_del(l->data, key);
	}
	pin_end(l, pin, unknown);
	pthread_mutex_unlock(&l->compact_lock);
	if (r < 0 && r != -ENOENT)
		log_error("inode %" PRIu64 ": compaction of chunk %" PRIu64
			  " failed: %s (tried again at a later write)", ino,
			  chunk, strerror(-r));
	free(a.val);
	free(old.s);
	free(neu.s);
	free(sl.v);
	free(data);
	free(io);
	free(keys);
	free(ids);
	free(pack);
	return r;
}

/* ---- gc ---- */

struct gc_page {
	uint8_t (*cols)[24];
	uint8_t **vals;
	size_t *lens;
	size_t n;
};

static int gc_collect(void *arg, const void *col, size_t col_len,
		      const void *val, size_t val_len)
{
	struct gc_page *p = arg;
	if (p->n == GC_PAGE)
		return 1;
	if (col_len > 24)
		return 0;
	memset(p->cols[p->n], 0, 24);
	memcpy(p->cols[p->n], col, col_len);
	p->lens[p->n] = val_len;
	if (!(p->vals[p->n] = malloc(val_len ? val_len : 1)))
		return -ENOMEM;
	memcpy(p->vals[p->n], val, val_len);
	p->n++;
	return 0;
}

static void gc_page_clear(struct gc_page *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->vals[i]);
	p->n = 0;
}

struct release_args {
	struct gc_page *p;
	uint64_t done;
};

/* Released records: take their references back (one page per txn). */
static int release_txn(struct store_txn *t, void *arg)
{
	struct release_args *a = arg;
	gc_page_clear(a->p);
	a->done = 0;
	int r = store_scan(t, STORE_OBJREF, 1, NULL, 0, gc_collect, a->p);
	if (r < 0)
		return r;
	struct rec rec = {0};
	for (size_t i = 0; i < a->p->n; i++) {
		r = rec_decode(a->p->vals[i], a->p->lens[i], &rec);
		if (r == 0)
			for (uint32_t k = 0; k < rec.n && r == 0; k++)
				if (rec.s[k].kind == K_DATA)
					r = ref_add(t, rec.s[k].obj, -1, 0);
		if (r == -EIO) {
			log_error("a released layout record is corrupt; its "
				  "objects are left to cassafs gc");
			r = 0;
		}
		if (r == 0)
			r = store_del(t, STORE_OBJREF, 1, a->p->cols[i], 24);
		if (r < 0)
			break;
		a->done++;
	}
	free(rec.s);
	return r;
}

static int first_col(void *arg, const void *col, size_t col_len,
		     const void *val, size_t val_len)
{
	*(int *)arg = 1;
	return 1;
}

static int any_released_txn(struct store_txn *t, void *arg)
{
	*(int *)arg = 0;
	int r = store_scan(t, STORE_OBJREF, 1, NULL, 0, first_col, arg);
	return r < 0 ? r : 0;
}

static int dead_list_txn(struct store_txn *t, void *arg)
{
	struct gc_page *p = arg;
	gc_page_clear(p);
	int r = store_scan(t, STORE_OBJREF, 2, NULL, 0, gc_collect, p);
	return r < 0 ? r : 0;
}

static int dead_del_txn(struct store_txn *t, void *arg)
{
	struct gc_page *p = arg;
	for (size_t i = 0; i < p->n; i++) {
		int r = store_del(t, STORE_OBJREF, 2, p->cols[i], 8);
		if (r < 0)
			return r;
	}
	return 0;
}

struct sweep {
	struct layout *l;
	struct u64vec ids;
	uint64_t *sizes;
	size_t cap;
};

/* A tier key's object id: 1 if it is one of ours (<prefix><16 hex>). */
static int key_obj_id(const struct layout *l, const char *key, uint64_t *id)
{
	const char *hex = key + strlen(l->prefix);
	char *end;
	*id = strtoull(hex, &end, 16);
	return !*end && strlen(hex) == 16;
}

static int sweep_list(void *arg, const char *key, uint64_t size)
{
	struct sweep *s = arg;
	uint64_t id;
	if (!key_obj_id(s->l, key, &id))
		return 0; /* not one of ours */
	if (s->ids.n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *z = realloc(s->sizes, cap * sizeof(*z));
		if (!z)
			return -ENOMEM;
		s->sizes = z;
		s->cap = cap;
	}
	s->sizes[s->ids.n] = size;
	return u64vec_push(&s->ids, id);
}

struct known_args {
	struct sweep *s;
	uint8_t *known; /* per listed object: 1 referenced, 2 dead */
	uint64_t missing;
	struct u64vec *refs; /* referenced ids (for the missing check) */
};

static int known_col(void *arg, const void *col, size_t col_len,
		     const void *val, size_t val_len)
{
	struct u64vec *v = arg;
	return col_len == 8 ? u64vec_push(v, store_get_be64(col)) : 0;
}

struct ref_sets {
	struct u64vec refs, dead;
};

static int ref_sets_txn(struct store_txn *t, void *arg)
{
	struct ref_sets *r = arg;
	r->refs.n = r->dead.n = 0;
	int e = store_scan(t, STORE_OBJREF, 0, NULL, 0, known_col, &r->refs);
	if (e >= 0)
		e = store_scan(t, STORE_OBJREF, 2, NULL, 0, known_col, &r->dead);
	return e < 0 ? e : 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int has(const struct u64vec *v, uint64_t id)
{
	return v->n && bsearch(&id, v->v, v->n, sizeof(*v->v), u64_cmp);
}

/* List the tier against the references; only ids below fence may go. */
static int sweep_tier(struct layout *l, int del, uint64_t fence,
		      struct layout_gc_report *rep)
{
	struct sweep s = {l};
	struct ref_sets rs = {{0}, {0}};
	int r = meta_read_live(l->meta, ref_sets_txn, &rs);
	if (r < 0)
		goto out;
	qsort(rs.refs.v, rs.refs.n, sizeof(uint64_t), u64_cmp);
	qsort(rs.dead.v, rs.dead.n, sizeof(uint64_t), u64_cmp);
	if ((r = data_list(l->data, l->prefix, sweep_list, &s)) < 0)
		goto out;
	struct u64vec listed = {0};
	for (size_t i = 0; i < s.ids.n; i++) {
		uint64_t id = s.ids.v[i];
		if ((r = u64vec_push(&listed, id)) < 0)
			break;
		if (has(&rs.refs, id) || has(&rs.dead, id))
			continue;
		if (id >= fence) {
			/* may be an upload a live mount is about to commit */
			rep->fenced++;
			rep->fenced_bytes += s.sizes[i];
			continue;
		}
		rep->leaked++;
		rep->leaked_bytes += s.sizes[i];
		if (del) {
			char key[KEY_LEN];
			obj_key(l, id, key);
			if ((r = data_del(l->data, key)) < 0)
				break;
		}
	}
	if (r >= 0) {
		qsort(listed.v, listed.n, sizeof(uint64_t), u64_cmp);
		for (size_t i = 0; i < rs.refs.n; i++)
			if (!has(&listed, rs.refs.v[i]))
				rep->missing++;
	}
	u64vec_free(&listed);
out:
	u64vec_free(&s.ids);
	free(s.sizes);
	u64vec_free(&rs.refs);
	u64vec_free(&rs.dead);
	return r;
}

/* ---- the whole filesystem's objects (mkfs --force) ---- */

struct destroy_list {
	struct layout *l;
	struct u64vec ids;   /* ours: <prefix><16 hex> */
	char **other;        /* anything else under the prefix */
	size_t nother;
};

static int destroy_collect(void *arg, const char *key, uint64_t size)
{
	struct destroy_list *d = arg;
	uint64_t id;
	if (key_obj_id(d->l, key, &id))
		return u64vec_push(&d->ids, id);
	char **o = realloc(d->other, (d->nother + 1) * sizeof(*o));
	if (!o)
		return -ENOMEM;
	d->other = o;
	if (!(o[d->nother] = strdup(key)))
		return -ENOMEM;
	d->nother++;
	return 0;
}

int layout_destroy(struct layout *l, uint64_t *deleted)
{
	struct destroy_list d = {l, {0}, NULL, 0};
	struct ref_sets rs = {{0}, {0}};
	*deleted = 0;
	/* the tier's listing, and what the metadata names (a listing may
	 * lag behind: Swift's container listings are updated later) */
	int r = data_list(l->data, l->prefix, destroy_collect, &d);
	if (r >= 0)
		r = meta_read_live(l->meta, ref_sets_txn, &rs);
	for (size_t i = 0; r >= 0 && i < rs.refs.n; i++)
		r = u64vec_push(&d.ids, rs.refs.v[i]);
	for (size_t i = 0; r >= 0 && i < rs.dead.n; i++)
		r = u64vec_push(&d.ids, rs.dead.v[i]);
	if (r >= 0) {
		qsort(d.ids.v, d.ids.n, sizeof(uint64_t), u64_cmp);
		r = 0;
	}
	for (size_t i = 0; r == 0 && i < d.ids.n; i++) {
		if (i && d.ids.v[i] == d.ids.v[i - 1])
			continue;
		char key[KEY_LEN];
		obj_key(l, d.ids.v[i], key);
		if ((r = data_del(l->data, key)) == 0)
			(*deleted)++;
	}
	for (size_t i = 0; r == 0 && i < d.nother; i++)
		if ((r = data_del(l->data, d.other[i])) == 0)
			(*deleted)++;
	for (size_t i = 0; i < d.nother; i++)
		free(d.other[i]);
	free(d.other);
	u64vec_free(&d.ids);
	u64vec_free(&rs.refs);
	u64vec_free(&rs.dead);
	return r;
}

static int usage_txn(struct store_txn *t, void *arg)
{
	uint64_t *u = arg;
	return layout_usage_txn(t, &u[0], &u[1]);
}

int layout_gc(struct layout *l, int sweep, int dry_run,
	      struct layout_gc_report *rep)
{
	return layout_gc_fenced(l, sweep, sweep ? UINT64_MAX : 0, dry_run, rep);
}

/* ---- the online sweep's fence ---- */

struct fence_args {
	const uint64_t *live; /* coordinator's live session ids */
	size_t nlive;
	uint8_t *seen;        /* per live id: a fresh record with a floor */
	int64_t now, stale;
	uint64_t fence;
};

static int fence_record(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct fence_args *a = arg;
	struct coord_mount_info mi;
	char buf[2048];
	snprintf(buf, sizeof(buf), "%.*s", (int)len, rec);
	coord_parse_mount_info(buf, &mi);
	if (mi.seen + a->stale < a->now)
		return 0; /* a mount that died: its uploads are over */
	/* a live mount that publishes no floor (an older version): nothing
	 * it may upload can be told from a leak */
	uint64_t f = mi.floor ? mi.floor : 0;
	if (f < a->fence)
		a->fence = f;
	for (size_t i = 0; i < a->nlive; i++)
		if (a->live[i] == id && mi.floor)
			a->seen[i] = 1;
	return 0;
}

static int fence_txn(struct store_txn *t, void *arg)
{
	struct fence_args *a = arg;
	const void *v;
	size_t len;
	a->fence = 1;
	memset(a->seen, 0, a->nlive ? a->nlive : 1);
	int r = store_get(t, STORE_SUPER, 0, "next_obj", 8, &v, &len);
	if (r == 0 && len == 8)
		a->fence = store_get_be64(v);
	else if (r < 0 && r != -ENOENT)
		return r;
	return meta_session_scan(t, fence_record, a);
}

int layout_sweep_fence(struct layout *l, const uint64_t *live, size_t nlive,
		       int stale_s, uint64_t *fence)
{
	struct fence_args a = {live, nlive, calloc(nlive ? nlive : 1, 1),
			       (int64_t)time(NULL), stale_s, 0};
	if (!a.seen)
		return -ENOMEM;
	int r = meta_read_live(l->meta, fence_txn, &a);
	for (size_t i = 0; r == 0 && i < nlive; i++)
		if (!a.seen[i])
			a.fence = 0; /* live, and no floor known */
	free(a.seen);
	*fence = r == 0 ? a.fence : 0;
	return r;
}

int layout_gc_fenced(struct layout *l, int sweep, uint64_t fence, int dry_run,
		     struct layout_gc_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	struct gc_page p = {0};
	p.cols = malloc(GC_PAGE * sizeof(*p.cols));
	p.vals = calloc(GC_PAGE, sizeof(*p.vals));
	p.lens = malloc(GC_PAGE * sizeof(*p.lens));
	int r = 0;
	if (!p.cols || !p.vals || !p.lens) {
		r = -ENOMEM;
		goto out;
	}
	int any = 0;
	if (!dry_run && (r = meta_read_live(l->meta, any_released_txn, &any)) < 0)
		goto out;
	if (!dry_run) {
		struct release_args ra = {&p, 0};
		/* (an idle mount's gc writes nothing: no empty transactions
		 * for the store to commit) */
		while (any) {
			if ((r = meta_write(l->meta, release_txn, &ra)) < 0)
				goto out;
			rep->released += ra.done;
			any = ra.done == GC_PAGE;
		}
		gc_page_clear(&p);
		for (;;) {
			if ((r = meta_read_live(l->meta, dead_list_txn, &p)) < 0)
				goto out;
			if (!p.n)
				break;
			/* An object goes from the tier only once the state that
			 * let it go is durable: the embedded store commits in
			 * batches, and a crash that undid the release would
			 * leave references to deleted objects (t_crash_file). */
			if ((r = store_sync(meta_store(l->meta))) < 0)
				goto out;
			for (size_t i = 0; i < p.n; i++) {
				char key[KEY_LEN];
				obj_key(l, store_get_be64(p.cols[i]), key);
				if ((r = data_del(l->data, key)) < 0)
					goto out;
			}
			if ((r = meta_write(l->meta, dead_del_txn, &p)) < 0)
				goto out;
			rep->deleted += p.n;
			if (p.n < GC_PAGE)
				break;
		}
	}
	if (sweep && (r = sweep_tier(l, !dry_run, fence, rep)) < 0)
		goto out;
	uint64_t u[2] = {0, 0};
	if ((r = meta_read_live(l->meta, usage_txn, u)) < 0)
		goto out;
	rep->objects = u[0];
	rep->bytes = u[1];
out:
	gc_page_clear(&p);
	free(p.cols);
	free(p.vals);
	free(p.lens);
	return r;
}

int layout_usage_txn(struct store_txn *t, uint64_t *objects, uint64_t *bytes)
{
	const void *v;
	size_t len;
	*objects = *bytes = 0;
	int r = store_get(t, STORE_SUPER, 0, "objects", 7, &v, &len);
	if (r == 0 && len == 8)
		*objects = store_get_be64(v);
	else if (r < 0 && r != -ENOENT)
		return r;
	r = store_get(t, STORE_SUPER, 0, "obj_bytes", 9, &v, &len);
	if (r == 0 && len == 8)
		*bytes = store_get_be64(v);
	else if (r < 0 && r != -ENOENT)
		return r;
	return 0;
}

/* ---- fsck ---- */

static int sum_blocks(void *arg, const void *col, size_t col_len,
		      const void *val, size_t val_len)
{
	const uint8_t *p = val;
	if (col_len == 8 && val_len >= HDR_SIZE)
		*(uint64_t *)arg += get_be32(p + 8);
	return 0;
}

int layout_blocks_txn(struct store_txn *t, uint64_t ino, uint64_t *blocks)
{
	*blocks = 0;
	int r = store_scan(t, STORE_LAYOUT, ino, NULL, 0, sum_blocks, blocks);
	return r < 0 ? r : 0;
}

struct count_refs {
	struct u64vec ids; /* one entry per slice reference */
	int bad;
};

static int count_rec(struct count_refs *c, const void *val, size_t len)
{
	struct rec rec = {0};
	int r = rec_decode(val, len, &rec);
	if (r == -EIO) {
		c->bad++;
		r = 0;
	}
	for (uint32_t i = 0; r == 0 && i < rec.n; i++)
		if (rec.s[i].kind == K_DATA)
			r = u64vec_push(&c->ids, rec.s[i].obj);
	free(rec.s);
	return r;
}

static int count_layout_col(void *arg, const void *col, size_t col_len,
			    const void *val, size_t val_len)
{
	return count_rec(arg, val, val_len);
}

struct check_args {
	struct layout *l;
	uint64_t max_ino;
	struct count_refs c;
	struct u64vec ref_ids, ref_counts, ref_sizes;
	int repair;
	uint64_t fixed;
};

static int ref_col(void *arg, const void *col, size_t col_len,
		   const void *val, size_t val_len)
{
	struct check_args *a = arg;
	if (col_len != 8 || val_len != 8)
		return 0;
	int r = u64vec_push(&a->ref_ids, store_get_be64(col));
	if (r == 0)
		r = u64vec_push(&a->ref_counts, get_be32(val));
	if (r == 0)
		r = u64vec_push(&a->ref_sizes, get_be32((const uint8_t *)val + 4));
	return r;
}

struct ino_list {
	struct u64vec v;
};

static int push_ino(void *arg, uint64_t ino)
{
	return u64vec_push(&((struct ino_list *)arg)->v, ino);
}

static int check_txn(struct store_txn *t, void *arg)
{
	struct check_args *a = arg;
	struct ino_list il = {{0}};
	uint64_t inodes, blocks, next_ino;
	a->c.ids.n = 0;
	a->c.bad = 0;
	a->ref_ids.n = a->ref_counts.n = a->ref_sizes.n = 0;
	a->fixed = 0;
	int r = meta_usage(t, &inodes, &blocks, &next_ino);
	if (r == 0)
		r = meta_inode_scan_all(t, next_ino, push_ino, &il);
	/* layout rows of every inode there is, and of inodes that are not
	 * (fsck reports those rows separately; their references count) */
	for (size_t i = 0; r >= 0 && i < il.v.n; i++)
		r = store_scan(t, STORE_LAYOUT, il.v.v[i], NULL, 0,
			       count_layout_col, &a->c);
	if (r >= 0)
		r = store_scan(t, STORE_OBJREF, 1, NULL, 0, count_layout_col,
			       &a->c);
	if (r >= 0)
		r = store_scan(t, STORE_OBJREF, 0, NULL, 0, ref_col, a);
	u64vec_free(&il.v);
	if (r < 0)
		return r;
	qsort(a->c.ids.v, a->c.ids.n, sizeof(uint64_t), u64_cmp);
	/* compare: counted references against stored counts */
	for (size_t i = 0; i < a->ref_ids.n; i++) {
		uint64_t id = a->ref_ids.v[i], n = 0;
		uint64_t *p = a->c.ids.n ? bsearch(&id, a->c.ids.v, a->c.ids.n,
						   sizeof(uint64_t), u64_cmp)
					 : NULL;
		if (p) {
			while (p > a->c.ids.v && p[-1] == id)
				p--;
			while (p < a->c.ids.v + a->c.ids.n && *p == id) {
				n++;
				p++;
			}
		}
		if (n != a->ref_counts.v[i]) {
			a->fixed++;
			if (a->repair) {
				int64_t d = (int64_t)n - (int64_t)a->ref_counts.v[i];
				if ((r = ref_add(t, id, d, 0)) < 0)
					return r;
			}
		}
	}
	/* slices whose object has no count at all */
	qsort(a->ref_ids.v, a->ref_ids.n, sizeof(uint64_t), u64_cmp);
	for (size_t i = 0; i < a->c.ids.n; i++) {
		uint64_t id = a->c.ids.v[i];
		if (i && a->c.ids.v[i - 1] == id)
			continue;
		if (!has(&a->ref_ids, id)) {
			a->fixed++;
			if (a->repair) {
				size_t n = 0;
				for (size_t k = i; k < a->c.ids.n &&
				     a->c.ids.v[k] == id; k++)
					n++;
				if ((r = ref_add(t, id, (int64_t)n, 0)) < 0)
					return r;
			}
		}
	}
	return 0;
}

int layout_check(struct layout *l, int repair, struct layout_gc_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	struct check_args a = {.l = l, .repair = repair};
	int r = repair ? meta_write(l->meta, check_txn, &a)
		       : meta_read(l->meta, check_txn, &a);
	if (r == 0) {
		rep->bad_refs = a.fixed + (uint64_t)a.c.bad;
		r = sweep_tier(l, 0, UINT64_MAX, rep);
	}
	if (r == 0) {
		uint64_t u[2];
		if ((r = meta_read_live(l->meta, usage_txn, u)) == 0) {
			rep->objects = u[0];
			rep->bytes = u[1];
		}
	}
	u64vec_free(&a.c.ids);
	u64vec_free(&a.ref_ids);
	u64vec_free(&a.ref_counts);
	u64vec_free(&a.ref_sizes);
	return r;
}

/* ---- dump ---- */

int layout_scan_blocks(struct layout *l, uint64_t ino, uint64_t size,
		       layout_block_fn fn, void *arg)
{
	uint32_t bs = l->bs;
	/* 1 MiB at a time (a whole number of blocks): a dump's memory does
	 * not grow with the chunk or object size */
	size_t step = bs >= (1u << 20) ? bs : ((1u << 20) / bs) * bs;
	uint8_t *buf = malloc(step);
	if (!buf)
		return -ENOMEM;
	int r = 0;
	for (uint64_t c0 = 0; c0 < size && r == 0; c0 += step) {
		size_t n = size - c0 < step ? (size_t)(size - c0) : step;
		if ((r = layout_read(l, ino, c0, buf, n)) < 0)
			break;
		for (size_t o = 0; o < n && r == 0; o += bs) {
			size_t len = n - o < bs ? n - o : bs;
			while (len && !buf[o + len - 1])
				len--;
			if (len)
				r = fn(arg, (c0 + o) / bs, buf + o, len);
		}
	}
	free(buf);
	return r < 0 ? r : 0;
}
