/*
 * ring_builder.c — devices, weights and the rebalance.
 *
 * The rebalance follows the goals of Swift 2.30's RingBuilder (same target
 * shares, same overload semantics, same locks) with our own, much cheaper
 * procedure:
 *
 *  1. targets: every tier (region, zone, ip, device) gets a "weighted"
 *     replica share (by weight, no device above one replica) and a "wanted"
 *     share (as evenly dispersed as the topology allows); the overload
 *     interpolates between them exactly as Swift does, so with enough
 *     overload dispersion wins and with none weight wins;
 *  2. gather: slots on removed devices (always), on zero-weight devices,
 *     replicas that break a tier's dispersion cap, then just enough replicas
 *     from devices above their target to lift every device to the floor of
 *     its target.  Only partitions not moved within min_part_hours, and at
 *     most one replica per partition (except replicas on removed devices);
 *  3. place: each free slot descends root → region → zone → ip → device,
 *     at every level taking the child that is furthest below its target
 *     among the children that still have room for another replica of this
 *     partition.
 *
 * Every step is a linear pass over the table, so a part power 20 ring
 * (3 M slots) rebalances in well under a second with memory ≈ the table.
 */
#define _GNU_SOURCE	/* qsort_r */
#include "ring_builder.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EPS 1e-9

static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

struct ring_builder *ring_builder_new(unsigned part_power, double replicas,
				      unsigned min_part_hours, char *err,
				      size_t errlen)
{
	struct ring_builder *b;

	if (part_power > RING_MAX_PART_POWER) {
		errf(err, errlen, "part power %u is out of range (0-32)",
		     part_power);
		return NULL;
	}
	if (!(replicas >= 1.0) || replicas > RING_MAX_REPLICAS) {
		errf(err, errlen, "replica count %g is out of range (1-%g)",
		     replicas, RING_MAX_REPLICAS);
		return NULL;
	}
	if (min_part_hours > 255) {
		/* last_part_moves counts hours in a byte, as Swift's does */
		errf(err, errlen, "min_part_hours %u is out of range (0-255)",
		     min_part_hours);
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->r = ring_new(part_power, replicas))) {
		free(b);
		errf(err, errlen, "out of memory");
		return NULL;
	}
	b->r->version = 0;
	b->min_part_hours = min_part_hours;
	b->last_balance = b->last_dispersion = -1;
	return b;
}

void ring_builder_free(struct ring_builder *b)
{
	if (!b)
		return;
	ring_free(b->r);
	free(b->last_part_moves);
	free(b);
}

int ring_builder_add_dev(struct ring_builder *b, const struct ring_dev *d,
			 int id_given, uint32_t *id_out, char *err,
			 size_t errlen)
{
	struct ring *r = b->r;
	uint32_t id;
	int rc;

	if (id_given) {
		id = d->id;
		if (id >= RING_MAX_DEVS) {
			errf(err, errlen, "device id %u is out of range (0-%u)",
			     id, RING_MAX_DEVS - 1);
			return -ERANGE;
		}
		if (id < r->ndevs && r->devs[id].present) {
			errf(err, errlen, "device id %u is already in use", id);
			return -EEXIST;
		}
	} else {
		/* the lowest free id, as Swift picks it */
		for (id = 0; id < r->ndevs && r->devs[id].present; id++)
			;
		if (id >= RING_MAX_DEVS) {
			errf(err, errlen, "too many devices: a ring holds at "
			     "most %u", RING_MAX_DEVS);
			return -ENOSPC;
		}
	}
	if (!(d->weight >= 0) || isinf(d->weight)) {
		errf(err, errlen, "device weight %g is invalid (must be a "
		     "number >= 0)", d->weight);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < r->ndevs; i++) {
		const struct ring_dev *o = &r->devs[i];
		if (o->present && o->region == d->region &&
		    o->zone == d->zone && o->port == d->port &&
		    !strcmp(o->ip, d->ip) && !strcmp(o->device, d->device)) {
			errf(err, errlen, "device r%dz%d-%s:%d/%s already "
			     "exists as id %u", d->region, d->zone, d->ip,
			     d->port, d->device, i);
			return -EEXIST;
		}
	}
	if ((rc = ring_reserve_dev(r, id)) < 0) {
		errf(err, errlen, "cannot add device %u: %s", id, strerror(-rc));
		return rc;
	}
	if ((rc = ring_dev_copy(&r->devs[id], d)) < 0) {
		errf(err, errlen, "out of memory");
		return rc;
	}
	r->devs[id].id = id;
	r->devs[id].present = 1;
	r->devs[id].removing = 0;
	if (id_out)
		*id_out = id;
	b->devs_changed = 1;
	r->version++;
	return 0;
}

int ring_builder_remove_dev(struct ring_builder *b, uint32_t id)
{
	if (id >= b->r->ndevs || !b->r->devs[id].present)
		return -ENOENT;
	/* Like Swift: weight 0 now, dropped from the list once drained. */
	b->r->devs[id].weight = 0;
	b->r->devs[id].removing = 1;
	b->devs_changed = 1;
	b->r->version++;
	return 0;
}

int ring_builder_set_weight(struct ring_builder *b, uint32_t id, double w)
{
	if (id >= b->r->ndevs || !b->r->devs[id].present)
		return -ENOENT;
	if (!(w >= 0) || isinf(w))
		return -EINVAL;
	if (b->r->devs[id].removing)
		return -EBUSY;
	b->r->devs[id].weight = w;
	b->devs_changed = 1;
	b->r->version++;
	return 0;
}

int64_t ring_builder_min_part_seconds_left(const struct ring_builder *b)
{
	int64_t left = (int64_t)b->min_part_hours * 3600 -
		       ((int64_t)time(NULL) - b->last_part_moves_epoch);

	if (!b->last_part_moves)
		return 0;
	return left > 0 ? left : 0;
}

void ring_builder_pretend_min_part_hours_passed(struct ring_builder *b)
{
	if (b->last_part_moves)
		memset(b->last_part_moves, 0xff, ring_partitions(b->r));
	b->last_part_moves_epoch = 0;
}

/* ---- targets ---- */

struct node_st {
	double weighted, wanted, target;	/* replicas */
	double fmax;			/* float dispersion bound */
	double target_parts;
	int64_t have;
	double need;		/* target_parts - have, kept in step */
	int cap_lo, cap_hi;
	double tol;		/* need slack for random choice (explore) */
	int64_t tint;		/* integer target parts (initial placement) */
};

/* What placement reads for every slot, packed in one array so the tree
 * walk touches a few cache lines only. */
struct hot {
	double need, tol;	/* copies of node_st's, need kept in step */
	double jit;		/* random bonus in [0, tol) for explore */
	int32_t first_child, nchild;
	int32_t cap_lo, cap_hi;
	int32_t weighted, dev;	/* weighted devices below; device id */
};

struct rb {
	struct ring_builder *b;
	struct ring *r;
	struct ring_tiers tt;
	struct node_st *st;
	double R;		/* replica count */
	uint64_t P, S;		/* partitions, slots */
	char *err;
	size_t errlen;
	struct hot *hot;
	uint8_t *fresh;		/* bitmap of slots unassigned at the start */
	uint64_t rng;		/* seeded; orders and randomises placement */
};

static int is_fresh(const struct rb *c, unsigned row, uint64_t p)
{
	uint64_t i = (uint64_t)row * c->P + p;
	return c->fresh && (c->fresh[i >> 3] >> (i & 7)) & 1;
}

/* Weighted replica share per device: weight share, but no device above one
 * replica; the excess is spread over devices with room by weight. */
static void build_weighted(struct rb *c)
{
	struct ring *r = c->r;
	struct ring_tiers *tt = &c->tt;
	double tw = tt->t[0].weight;

	for (int i = 0; i < tt->n; i++)
		c->st[i].weighted = 0;
	for (int i = 1; i < tt->n; i++) {
		struct ring_tier *t = &tt->t[i];
		if (t->depth != 4 || t->weight <= 0)
			continue;
		double w = c->R * t->weight / tw;
		c->st[i].weighted = w < 1 ? w : 1;
	}
	for (int iter = 0; iter < 1000; iter++) {
		double sum = 0, room_w = 0;
		for (int i = 1; i < tt->n; i++)
			if (tt->t[i].depth == 4) {
				sum += c->st[i].weighted;
				if (tt->t[i].weight > 0 && c->st[i].weighted < 1)
					room_w += tt->t[i].weight;
			}
		double remaining = c->R - sum;
		if (remaining < 1e-10 || room_w <= 0)
			break;
		for (int i = 1; i < tt->n; i++) {
			struct ring_tier *t = &tt->t[i];
			if (t->depth != 4 || t->weight <= 0 ||
			    c->st[i].weighted >= 1)
				continue;
			double w = c->st[i].weighted + t->weight * remaining / room_w;
			c->st[i].weighted = w < 1 ? w : 1;
		}
	}
	(void)r;
	/* sums up the tree, devices first (deepest nodes are last) */
	for (int i = tt->n - 1; i >= 1; i--)
		if (tt->t[i].depth < 4)
			c->st[i].weighted = 0;
	c->st[0].weighted = 0;
	for (int i = tt->n - 1; i >= 1; i--)
		c->st[tt->t[i].parent].weighted += c->st[i].weighted;
}

/* Wanted replicas: spread a tier's replicas over its children as evenly as
 * dispersion asks (between floor and ceil of the even share), following
 * the weights inside those bounds and never above a child's device count. */
static int place_wanted(struct rb *c, int node, double reps)
{
	struct ring_tiers *tt = &c->tt;
	struct ring_tier *t = &tt->t[node];
	int n = t->nchild, rc = 0, device_limited = 0;
	double *to = NULL;
	unsigned char *spread = NULL;
	char name[300];

	if (reps > t->weighted_devs + 1e-6) {
		errf(c->err, c->errlen, "more replicas (%g) than devices with "
		     "weight (%d) in tier %s: add devices or lower the "
		     "replica count", reps, t->weighted_devs,
		     ring_tier_name(tt, node, name, sizeof(name)));
		return -EINVAL;
	}
	c->st[node].wanted = reps;
	if (t->depth == 4 || n == 0)
		return 0;
	to = calloc(n, sizeof(*to));
	spread = calloc(n, 1);
	if (!to || !spread) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++)
		spread[i] = tt->t[t->first_child + i].weighted_devs > 0;
	for (int iter = 0; iter < 1000; iter++) {
		double sw = 0, sum = 0, remaining;
		int any = 0;
		for (int i = 0; i < n; i++)
			if (spread[i])
				sw += c->st[t->first_child + i].weighted;
		if (sw <= 0)
			break;
		for (int i = 0; i < n; i++)
			sum += to[i];
		double rel = (reps - sum) / sw;
		for (int i = 0; i < n; i++) {
			if (!spread[i])
				continue;
			int ch = t->first_child + i;
			double dmin = ring_floor(c->st[ch].fmax), dmax = ring_ceil(c->st[ch].fmax);
			double x = to[i] + c->st[ch].weighted * rel;
			if (x < dmin)
				x = dmin;
			else if (x > dmax && !device_limited)
				x = dmax;
			if (x > tt->t[ch].weighted_devs)
				x = tt->t[ch].weighted_devs;
			to[i] = x;
		}
		sum = 0;
		for (int i = 0; i < n; i++)
			sum += to[i];
		remaining = reps - sum;
		if (remaining < -1e-10) {
			for (int i = 0; i < n; i++) {
				int ch = t->first_child + i;
				spread[i] = tt->t[ch].weighted_devs > 0 &&
					    to[i] > ring_floor(c->st[ch].fmax);
				any |= spread[i];
			}
		} else if (remaining > 1e-10) {
			for (int i = 0; i < n; i++) {
				int ch = t->first_child + i;
				spread[i] = tt->t[ch].weighted_devs > to[i] &&
					    to[i] < ring_ceil(c->st[ch].fmax);
				any |= spread[i];
			}
			if (!any) {
				device_limited = 1;
				for (int i = 0; i < n; i++) {
					int ch = t->first_child + i;
					spread[i] = tt->t[ch].weighted_devs > to[i];
					any |= spread[i];
				}
			}
		} else {
			break;
		}
		if (!any)
			break;
	}
	for (int i = 0; i < n && rc == 0; i++)
		if (tt->t[t->first_child + i].weighted_devs > 0)
			rc = place_wanted(c, t->first_child + i, to[i]);
out:
	free(to);
	free(spread);
	return rc;
}

static double required_overload(const struct rb *c)
{
	double m = 0;

	for (int i = 1; i < c->tt.n; i++) {
		const struct node_st *s = &c->st[i];
		if (c->tt.t[i].depth != 4 || s->weighted <= 0)
			continue;
		if (s->wanted > s->weighted) {
			double o = (s->wanted - s->weighted) / s->weighted;
			if (o > m)
				m = o;
		}
	}
	return m;
}

static int build_targets(struct rb *c, double *req_out)
{
	struct ring_tiers *tt = &c->tt;
	double req, ov;
	int rc;

	build_weighted(c);
	/* float dispersion bounds: R at the root, split evenly downwards */
	c->st[0].fmax = c->R;
	for (int i = 1; i < tt->n; i++) {
		struct ring_tier *t = &tt->t[i], *p = &tt->t[t->parent];
		int nw = p->weighted_children;
		double f = nw ? c->st[t->parent].fmax / nw : 0;
		if (t->depth == 4 && f > 1)
			f = 1;
		c->st[i].fmax = f;
	}
	if ((rc = place_wanted(c, 0, c->R)) < 0)
		return rc;
	req = required_overload(c);
	ov = c->b->overload < req ? c->b->overload : req;
	for (int i = 0; i < tt->n; i++) {
		struct node_st *s = &c->st[i];
		if (req <= 0)
			s->target = s->wanted;
		else
			s->target = s->weighted +
				    (s->wanted - s->weighted) * ov / req;
		if (tt->t[i].weighted_devs == 0)
			s->target = 0;
		s->target_parts = s->target * (double)c->S / c->R;
		s->tol = 1 + 0.02 * s->target_parts;
		s->cap_lo = (int)ring_floor(s->target + EPS);
		s->cap_hi = (int)ring_ceil(s->target - EPS);
		if (tt->t[i].weighted_devs > 0 && s->cap_hi < 1)
			s->cap_hi = 1;
	}
	if (req_out)
		*req_out = req;
	return 0;
}

double ring_builder_required_overload(const struct ring_builder *b)
{
	struct rb c = {.b = (struct ring_builder *)b, .r = b->r};
	double req = 0;

	c.R = b->r->replicas;
	c.P = ring_partitions(b->r);
	c.S = (uint64_t)ring_floor(c.R * (double)c.P);
	if (ring_tiers_build(b->r, &c.tt) < 0)
		return NAN;
	c.st = calloc(c.tt.n, sizeof(*c.st));
	if (c.st && c.tt.t[0].weight > 0 && build_targets(&c, &req) < 0)
		req = NAN;
	free(c.st);
	ring_tiers_free(&c.tt);
	return req;
}

/* ---- table ---- */

/* Give the table the shape replicas × 2^part_power asks for: whole rows
 * plus a short last row for a fractional replica count.  New slots start
 * unassigned; slots of dropped rows are simply gone. */
static int shape_table(struct ring *r)
{
	uint64_t P = ring_partitions(r);
	unsigned whole = (unsigned)ring_floor(r->replicas);
	double frac = r->replicas - whole;
	/* a fraction too small to give the last row one entry adds no row */
	unsigned nrows = whole + (frac > EPS && (uint64_t)((double)P * frac) > 0);
	uint32_t *len = calloc(nrows, sizeof(*len));
	uint16_t **rows = calloc(nrows, sizeof(*rows));

	if (!len || !rows)
		goto fail;
	if (P > UINT32_MAX) {
		/* part power 32: 2^32 entries per row cannot be indexed by the
		 * u32 lengths of a row (refused earlier; kept as a guard) */
		errno = EFBIG;
		goto fail_keep;
	}
	for (unsigned i = 0; i < nrows; i++) {
		len[i] = i < whole ? (uint32_t)P : (uint32_t)((double)P * frac);
		if (i < r->nrows && r->row_len[i] == len[i]) {
			rows[i] = r->rows[i];
			r->rows[i] = NULL;
			continue;
		}
		rows[i] = malloc((size_t)len[i] * 2 + 2);
		if (!rows[i])
			goto fail;
		uint32_t keep = 0;
		if (i < r->nrows) {
			keep = r->row_len[i] < len[i] ? r->row_len[i] : len[i];
			memcpy(rows[i], r->rows[i], (size_t)keep * 2);
		}
		for (uint32_t p = keep; p < len[i]; p++)
			rows[i][p] = RING_NONE_DEV;
	}
	for (unsigned i = 0; i < r->nrows; i++)
		free(r->rows[i]);
	free(r->rows);
	free(r->row_len);
	r->rows = rows;
	r->row_len = len;
	r->nrows = nrows;
	return 0;
fail:
	errno = ENOMEM;
fail_keep:
	if (rows)
		for (unsigned i = 0; i < nrows; i++)
			if (!(i < r->nrows && r->rows[i] == NULL))
				free(rows[i]);
	/* give back rows we took over */
	if (rows)
		for (unsigned i = 0; i < nrows && i < r->nrows; i++)
			if (r->rows[i] == NULL)
				r->rows[i] = rows[i];
	free(rows);
	free(len);
	return -errno;
}

/* splitmix64: small, seedable, good enough to order partitions */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A seeded visiting order of all partitions: blocks of 4096 consecutive
 * partitions (cache-friendly) taken in a strided, seeded block order. */
struct porder {
	uint64_t P, nblk, bstart, bstride, blk;
};

static void porder_init(struct porder *o, uint64_t P, uint64_t *seed)
{
	o->P = P;
	o->blk = P >= 8192 ? 4096 : 1;
	o->nblk = P / o->blk;
	o->bstart = mix(seed) & (o->nblk - 1);
	o->bstride = o->nblk == 1 ? 1 : ((mix(seed) & (o->nblk - 1)) | 1);
}

static inline uint64_t porder_at(const struct porder *o, uint64_t i)
{
	uint64_t b = (o->bstart + (i / o->blk) * o->bstride) & (o->nblk - 1);
	return b * o->blk + i % o->blk;
}

struct moved {
	uint32_t part;
	uint16_t row, old;
};

struct gathered {
	struct moved *v;
	size_t n, cap;
};

static int gather_slot(struct rb *c, struct gathered *g, uint32_t p,
		       unsigned row)
{
	uint16_t old = c->r->rows[row][p];

	if (old == RING_NONE_DEV)
		return 0;
	if (is_fresh(c, row, p))
		goto unassign;	/* placed in this very rebalance: not a move */
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 1024;
		struct moved *nv = realloc(g->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		g->v = nv;
		g->cap = cap;
	}
	g->v[g->n++] = (struct moved){p, (uint16_t)row, old};
unassign:
	if (old < c->tt.ndevs)
		for (int k = 0; k <= 4; k++) {
			int32_t node = c->tt.dev_path[old * 5 + k];
			if (node >= 0) {
				c->st[node].have--;
				c->hot[node].need += 1;
			}
		}
	c->r->rows[row][p] = RING_NONE_DEV;
	return 0;
}

/* The partition's assigned replicas: each one's tier path (5 nodes). */
struct part_ctx {
	int n;
	const int32_t *path[256];
};

static void part_load(const struct rb *c, uint32_t p, struct part_ctx *pc)
{
	pc->n = 0;
	for (unsigned i = 0; i < c->r->nrows; i++) {
		if (p >= c->r->row_len[i])
			continue;
		uint16_t d = c->r->rows[i][p];
		if (d == RING_NONE_DEV || d >= c->tt.ndevs)
			continue;
		pc->path[pc->n++] = &c->tt.dev_path[d * 5];
	}
}

static int part_count(const struct part_ctx *pc, int node, int depth)
{
	int n = 0;

	for (int i = 0; i < pc->n; i++)
		n += pc->path[i][depth] == node;
	return n;
}

/* Choose a device for one more replica of the partition described by pc:
 * at each level the children with room for another replica of it (below
 * the floor of their target replicas first, then below the ceiling, then
 * the least used), and among those the one furthest below its target
 * parts.  With explore set (initial placement) each node's need gets a
 * random bonus below 2 % of its target, redrawn whenever it is chosen:
 * strict need order places partitions in lock-step, so every device
 * shares its partitions with the same two or three others (Swift's own
 * builder does so in scenario b); spread partners make a failed device's
 * recovery draw on many devices and a double failure hit few partitions.
 * fixup() evens out the noise. */
static int choose_dev(struct rb *c, const struct part_ctx *pc, int explore)
{
	struct hot *hot = c->hot;
	int node = 0, depth = 0, inside = pc->n;

	/* inside = replicas of the partition below the current node; once it
	 * is 0 no child holds one and the counting can be skipped */
	while (hot[node].nchild) {
		const struct hot *t = &hot[node];
		int best = -1, best_key = INT32_MAX, nc = t->nchild;
		double best_score = -1e300;
		depth++;
		for (int i = 0; i < nc; i++) {
			int ch = t->first_child + i;
			const struct hot *s = &hot[ch];
			int n = 0, kk;
			if (inside)
				for (int k = 0; k < pc->n; k++)
					n += pc->path[k][depth] == ch;
			kk = n < s->cap_lo ? 0 : n < s->cap_hi ? 1 : 2 + n;
			if (!s->weighted)
				kk = INT32_MAX - 1;
			double sc = explore ? s->need + s->jit : s->need;
			if (kk < best_key || (kk == best_key && sc > best_score)) {
				best = ch;
				best_key = kk;
				best_score = sc;
			}
		}
		if (best < 0 || !hot[best].weighted)
			return -1;
		if (explore)
			hot[best].jit = hot[best].tol *
				(double)(mix(&c->rng) >> 11) * 0x1p-53;
		if (inside) {
			inside = 0;
			for (int k = 0; k < pc->n; k++)
				inside += pc->path[k][depth] == best;
		}
		node = best;
	}
	return hot[node].dev;
}

static int movable(const struct ring_builder *b, const uint8_t *touched,
		   uint64_t p)
{
	return !touched[p] && b->last_part_moves[p] >= b->min_part_hours;
}

static void assign(struct rb *c, uint32_t p, unsigned row, uint16_t dev)
{
	c->r->rows[row][p] = dev;
	for (int k = 0; k <= 4; k++) {
		int32_t node = c->tt.dev_path[dev * 5 + k];
		if (node >= 0) {
			c->st[node].have++;
			c->hot[node].need -= 1;
		}
	}
}

/* Replicas that break a tier's dispersion cap (target rounded up): gather
 * one per partition, from the device furthest above its target. */
static int gather_dispersion(struct rb *c, struct gathered *g,
			     uint8_t *touched)
{
	struct part_ctx *pc = malloc(sizeof(*pc));
	int rc = 0;

	if (!pc)
		return -ENOMEM;
	for (uint64_t p = 0; p < c->P && rc == 0; p++) {
		if (!movable(c->b, touched, p))
			continue;
		part_load(c, (uint32_t)p, pc);
		int over = 0;
		for (int depth = 1; depth <= 4 && !over; depth++)
			for (int i = 0; i < pc->n && !over; i++) {
				int32_t node = pc->path[i][depth];
				if (node >= 0 &&
				    part_count(pc, node, depth) > c->st[node].cap_hi)
					over = depth;
			}
		if (!over)
			continue;
		int best_row = -1;
		double best_excess = -1e300;
		for (unsigned row = 0; row < c->r->nrows; row++) {
			if (p >= c->r->row_len[row])
				continue;
			uint16_t d = c->r->rows[row][p];
			if (d == RING_NONE_DEV || d >= c->tt.ndevs)
				continue;
			int32_t node = c->tt.dev_path[d * 5 + over];
			if (node < 0 || part_count(pc, node, over) <= c->st[node].cap_hi)
				continue;
			int32_t dn = c->tt.dev_path[d * 5 + 4];
			double ex = (double)c->st[dn].have - c->st[dn].target_parts;
			if (ex > best_excess) {
				best_excess = ex;
				best_row = (int)row;
			}
		}
		if (best_row >= 0) {
			touched[p] = 1;
			rc = gather_slot(c, g, (uint32_t)p, best_row);
		}
	}
	free(pc);
	return rc;
}

/* Replicas above the ceiling of each device's target.  Devices still
 * below the floor of theirs afterwards are served by fixup(), which moves
 * single replicas directly between devices and so moves no more than it
 * must. */
static int gather_balance(struct rb *c, struct gathered *g, uint8_t *touched,
			  uint64_t *seed)
{
	struct ring_tiers *tt = &c->tt;
	struct ring *r = c->r;
	int64_t *quota = calloc(r->ndevs ? r->ndevs : 1, sizeof(*quota));
	int64_t total = 0;
	int rc = 0;

	if (!quota)
		return -ENOMEM;
	for (int i = 1; i < tt->n; i++) {
		if (tt->t[i].depth != 4 || !tt->t[i].weighted_devs)
			continue;
		const struct node_st *s = &c->st[i];
		int64_t lo = (int64_t)ring_floor(s->target_parts + EPS);
		int64_t hi = (int64_t)ring_ceil(s->target_parts - EPS);
		if (s->have > hi)
			quota[tt->t[i].dev] = s->have - hi;
		(void)lo;
	}
	for (uint32_t id = 0; id < r->ndevs; id++)
		total += quota[id];
	if (total > 0) {
		/* walk partitions in a seeded order so repeated rebalances and
		 * different seeds pick different, but reproducible, replicas */
		struct porder o;
		porder_init(&o, c->P, seed);
		for (uint64_t i = 0; i < c->P && total > 0 && rc == 0; i++) {
			uint64_t p = porder_at(&o, i);
			if (!movable(c->b, touched, p))
				continue;
			for (unsigned row = 0; row < r->nrows; row++) {
				if (p >= r->row_len[row])
					continue;
				uint16_t d = r->rows[row][p];
				if (d == RING_NONE_DEV || d >= r->ndevs || quota[d] <= 0)
					continue;
				quota[d]--;
				total--;
				touched[p] = 1;
				rc = gather_slot(c, g, (uint32_t)p, row);
				break;
			}
		}
	}
	free(quota);
	return rc;
}

/* Integer targets that add up at every tier: each tier's integer total
 * is split over its children by their float targets, floors first, and
 * the remainder goes to the children that gain most, in relative error,
 * from the ceiling — which keeps Swift's balance (the worst relative
 * error) low while every region, zone and ip stays consistent. */
struct loss_ctx {
	const double *f;
};

static int cmp_loss(const void *a, const void *b, void *ctx)
{
	const double *f = ((const struct loss_ctx *)ctx)->f;
	int i = *(const int *)a, j = *(const int *)b;
	/* gain of rounding up: relative error at the floor (frac / f) minus
	 * relative error at the ceiling ((1 - frac) / f) */
	double li = f[i] > 0 ? (2 * (f[i] - ring_floor(f[i] + EPS)) - 1) / f[i] : -1e300;
	double lj = f[j] > 0 ? (2 * (f[j] - ring_floor(f[j] + EPS)) - 1) / f[j] : -1e300;

	return li > lj ? -1 : li < lj ? 1 : i - j;
}

static void apportion(struct rb *c, int node, int64_t total, double *f,
		      int *idx)
{
	const struct ring_tier *t = &c->tt.t[node];
	double sum = 0;
	int64_t given = 0;
	int n = 0;

	c->st[node].tint = total;
	if (t->depth == 4 || !t->nchild)
		return;
	for (int i = 0; i < t->nchild; i++) {
		int ch = t->first_child + i;
		if (c->tt.t[ch].weighted_devs)
			sum += c->st[ch].target_parts;
	}
	for (int i = 0; i < t->nchild; i++) {
		int ch = t->first_child + i;
		f[i] = c->tt.t[ch].weighted_devs && sum > 0 ?
		       c->st[ch].target_parts * (double)total / sum : 0;
		c->st[ch].tint = (int64_t)ring_floor(f[i] + EPS);
		given += c->st[ch].tint;
		if (f[i] > 0)
			idx[n++] = i;
	}
	struct loss_ctx lc = {f};
	qsort_r(idx, n, sizeof(*idx), cmp_loss, &lc);
	for (int k = 0; given < total && n > 0; k = (k + 1) % n) {
		c->st[t->first_child + idx[k]].tint++;
		given++;
	}
	for (int i = 0; i < t->nchild; i++) {
		int ch = t->first_child + i;
		/* children's scratch space lives past this level's */
		apportion(c, ch, c->st[ch].tint, f + t->nchild, idx + t->nchild);
	}
}

static void integer_targets(struct rb *c)
{
	double *f = malloc((size_t)c->tt.n * 2 * sizeof(*f));
	int *idx = malloc((size_t)c->tt.n * 2 * sizeof(*idx));

	if (f && idx)
		apportion(c, 0, (int64_t)c->S, f, idx);
	free(f);
	free(idx);
}

/* Move single replicas straight from devices above a donor limit to
 * devices below a receiver limit, keeping every tier within its dispersion
 * cap.  Runs after placement to settle the last rounding differences with
 * the fewest moves.  Modes (receiver < limit, donor > limit):
 *   0: floor of target, ceiling    1: floor, floor
 *   2: ceiling, ceiling            3: integer target, integer target */
enum { FIX_FLOOR_FROM_CEIL, FIX_FLOOR, FIX_CEIL, FIX_INT };

static int64_t fix_lim(const struct rb *c, int node, int mode, int donor)
{
	const struct node_st *s = &c->st[node];

	if (mode == FIX_INT)
		return s->tint;
	if (mode == FIX_CEIL || (mode == FIX_FLOOR_FROM_CEIL && donor))
		return (int64_t)ring_ceil(s->target_parts - EPS);
	return (int64_t)ring_floor(s->target_parts + EPS);
}

static int fixup(struct rb *c, struct gathered *g, uint8_t *touched,
		 uint64_t *seed, int mode)
{
	struct ring_tiers *tt = &c->tt;
	struct ring *r = c->r;
	struct part_ctx *pc = NULL;
	int32_t *recv = NULL;
	int nrecv = 0, rc = 0;
	struct porder o;

#define RLIM(node) fix_lim(c, node, mode, 0)
#define DLIM(node) fix_lim(c, node, mode, 1)
	recv = malloc(tt->n * sizeof(*recv));
	pc = malloc(sizeof(*pc));
	if (!recv || !pc) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 1; i < tt->n; i++)
		if (tt->t[i].depth == 4 && tt->t[i].weighted_devs &&
		    c->st[i].have < RLIM(i))
			recv[nrecv++] = i;
	porder_init(&o, c->P, seed);
	for (uint64_t i = 0; i < c->P && nrecv > 0; i++) {
		uint64_t p = porder_at(&o, i);
		int done = 0, donor = 0;
		if (!movable(c->b, touched, p))
			continue;
		for (unsigned row = 0; row < r->nrows && !donor; row++) {
			if (p >= r->row_len[row])
				continue;
			uint16_t e = r->rows[row][p];
			int32_t ne = e < tt->ndevs ? tt->dev_path[e * 5 + 4] : -1;
			donor = ne >= 0 && c->st[ne].have > DLIM(ne);
		}
		if (!donor)
			continue;
		part_load(c, (uint32_t)p, pc);
		for (unsigned row = 0; row < r->nrows && !done; row++) {
			if (p >= r->row_len[row])
				continue;
			uint16_t e = r->rows[row][p];
			if (e == RING_NONE_DEV || e >= tt->ndevs)
				continue;
			int32_t ne = tt->dev_path[e * 5 + 4];
			if (ne < 0 || c->st[ne].have <= DLIM(ne))
				continue;
			for (int k = 0; k < nrecv && !done; k++) {
				int32_t nd = recv[k];
				uint32_t d = tt->t[nd].dev;
				int ok = 1;
				for (int depth = 1; depth <= 4 && ok; depth++) {
					int32_t node = tt->dev_path[d * 5 + depth];
					int cnt = part_count(pc, node, depth) + 1 -
						  (tt->dev_path[e * 5 + depth] == node);
					ok = cnt <= c->st[node].cap_hi;
				}
				if (!ok)
					continue;
				if ((rc = gather_slot(c, g, (uint32_t)p, row)) < 0)
					goto out;
				assign(c, (uint32_t)p, row, (uint16_t)d);
				touched[p] = 1;
				done = 1;
				if (c->st[nd].have >= RLIM(nd))
					recv[k] = recv[--nrecv];
			}
		}
	}
#undef RLIM
#undef DLIM
out:
	free(recv);
	free(pc);
	return rc;
}

static int place_all(struct rb *c, uint64_t *seed)
{
	struct ring *r = c->r;
	struct part_ctx *pc = malloc(sizeof(*pc));
	struct porder o;

	if (!pc)
		return -ENOMEM;
	porder_init(&o, c->P, seed);
	for (uint64_t i = 0; i < c->P; i++) {
		uint64_t p = porder_at(&o, i);
		int loaded = 0;
		for (unsigned row = 0; row < r->nrows; row++) {
			if (p >= r->row_len[row] || r->rows[row][p] != RING_NONE_DEV)
				continue;
			if (!loaded) {
				part_load(c, (uint32_t)p, pc);
				loaded = 1;
			}
			int d = choose_dev(c, pc, is_fresh(c, row, p));
			if (d < 0) {
				free(pc);
				return -EINVAL;
			}
			assign(c, (uint32_t)p, row, (uint16_t)d);
			pc->path[pc->n++] = &c->tt.dev_path[d * 5];
		}
	}
	free(pc);
	return 0;
}

int ring_builder_rebalance(struct ring_builder *b, uint64_t seed,
			   struct ring_rebalance_result *res, char *err,
			   size_t errlen)
{
	struct ring *r = b->r;
	struct rb c = {.b = b, .r = r, .err = err, .errlen = errlen};
	struct gathered g = {0};
	uint8_t *touched = NULL, *orig_free = NULL;
	uint64_t rng = seed;
	int rc, any_assigned = 0;
	int64_t now = time(NULL);

	memset(res, 0, sizeof(*res));
	c.R = r->replicas;
	c.P = ring_partitions(r);
	c.rng = seed ^ 0x5bd1e995a5a5a5a5ULL;
	{
		int weighted = 0;
		for (uint32_t i = 0; i < r->ndevs; i++)
			weighted |= r->devs[i].present && r->devs[i].weight > 0;
		if (!weighted) {
			errf(err, errlen, "the ring has no devices with weight "
			     "> 0 (add devices first)");
			return -EINVAL;
		}
	}
	if (r->part_power >= 32) {
		errf(err, errlen, "part power 32 cannot be rebalanced: a "
		     "row of 2^32 entries (8 GiB per replica) does not fit the "
		     "u32-indexed table; use part power 31 or less");
		return -EFBIG;
	}
	{
		/* a table that cannot fit in memory would be killed by the OOM
		 * killer half-way (malloc overcommits): refuse it up front */
		long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
		double need = r->replicas * (double)c.P * 2 + (double)c.P * 5;
		if (pages > 0 && psz > 0 && need > 0.8 * (double)pages * psz) {
			errf(err, errlen, "part power %u with %g replicas needs "
			     "about %.1f GiB for the partition table, more than "
			     "this machine's memory (%.1f GiB)", r->part_power,
			     r->replicas, need / 1073741824.0,
			     (double)pages * psz / 1073741824.0);
			rc = -ENOMEM;
			return rc;
		}
	}
	if ((rc = shape_table(r)) < 0) {
		errf(err, errlen, "cannot allocate the partition table "
		     "(%g replicas x 2^%u partitions): %s", r->replicas,
		     r->part_power, strerror(-rc));
		return rc;
	}
	c.S = ring_slots(r);
	if ((rc = ring_tiers_build(r, &c.tt)) < 0)
		goto nomem;
	if (c.tt.t[0].weight <= 0) {
		errf(err, errlen, "the ring has no devices with weight > 0 "
		     "(add devices first)");
		rc = -EINVAL;
		goto out;
	}
	c.st = calloc(c.tt.n, sizeof(*c.st));
	touched = calloc(c.P, 1);
	orig_free = calloc(c.P, 1);
	if (!c.st || !touched || !orig_free)
		goto nomem;
	if ((rc = build_targets(&c, &res->required_overload)) < 0) {
		if (rc == -ENOMEM)
			goto nomem;
		goto out;
	}
	/* hours since the partitions last moved */
	if (!b->last_part_moves) {
		b->last_part_moves = malloc(c.P);
		if (!b->last_part_moves)
			goto nomem;
		memset(b->last_part_moves, 0xff, c.P);
		b->last_part_moves_epoch = now;
	} else if (now - b->last_part_moves_epoch >= 3600) {
		int64_t h = (now - b->last_part_moves_epoch) / 3600;
		for (uint64_t p = 0; p < c.P; p++) {
			int64_t v = b->last_part_moves[p] + h;
			b->last_part_moves[p] = v > 255 ? 255 : (uint8_t)v;
		}
		b->last_part_moves_epoch = now;
	}
	/* current load of every tier */
	for (unsigned row = 0; row < r->nrows; row++)
		for (uint32_t p = 0; p < r->row_len[row]; p++) {
			uint16_t d = r->rows[row][p];
			if (d == RING_NONE_DEV)
				continue;
			if (d >= r->ndevs || !r->devs[d].present) {
				/* a dangling id is treated as a removed device */
				r->rows[row][p] = RING_NONE_DEV;
				continue;
			}
			for (int k = 0; k <= 4; k++)
				c.st[c.tt.dev_path[d * 5 + k]].have++;
		}
	c.hot = calloc(c.tt.n, sizeof(*c.hot));
	if (!c.hot)
		goto nomem;
	for (int i = 0; i < c.tt.n; i++) {
		struct hot *h = &c.hot[i];
		h->need = c.st[i].target_parts - (double)c.st[i].have;
		h->tol = c.st[i].tol;
		h->jit = h->tol * (double)(mix(&c.rng) >> 11) * 0x1p-53;
		h->first_child = c.tt.t[i].first_child;
		h->nchild = c.tt.t[i].depth < 4 ? c.tt.t[i].nchild : 0;
		h->cap_lo = c.st[i].cap_lo;
		h->cap_hi = c.st[i].cap_hi;
		h->weighted = c.tt.t[i].weighted_devs;
		h->dev = c.tt.t[i].depth == 4 ? (int32_t)c.tt.t[i].dev : -1;
	}
	c.fresh = calloc((c.P * r->nrows + 7) / 8 + 1, 1);
	if (!c.fresh)
		goto nomem;
	for (unsigned row = 0; row < r->nrows; row++)
		for (uint32_t p = 0; p < r->row_len[row]; p++)
			if (r->rows[row][p] == RING_NONE_DEV) {
				uint64_t i = (uint64_t)row * c.P + p;
				orig_free[p] = 1;
				c.fresh[i >> 3] |= (uint8_t)(1u << (i & 7));
				res->reassigned++;
			} else {
				any_assigned = 1;
			}
	/* removed devices: always drained; zero-weight ones: when unlocked */
	for (uint64_t p = 0; p < c.P; p++) {
		for (unsigned row = 0; row < r->nrows; row++) {
			if (p >= r->row_len[row])
				continue;
			uint16_t d = r->rows[row][p];
			if (d == RING_NONE_DEV)
				continue;
			const struct ring_dev *dv = &r->devs[d];
			if (dv->removing) {
				touched[p] = 1;
				if ((rc = gather_slot(&c, &g, (uint32_t)p, row)) < 0)
					goto nomem;
			} else if (dv->weight <= 0 && movable(b, touched, p)) {
				touched[p] = 1;
				if ((rc = gather_slot(&c, &g, (uint32_t)p, row)) < 0)
					goto nomem;
			}
		}
	}
	/* the same slot twice on one device counts as a dispersion break and
	 * is handled with the other dispersion fixes */
	for (int round = 0; round < 3; round++) {
		size_t before = g.n;
		if (round == 0 && any_assigned &&
		    (rc = gather_dispersion(&c, &g, touched)) < 0)
			goto nomem;
		if ((rc = gather_balance(&c, &g, touched, &rng)) < 0)
			goto nomem;
		if ((rc = place_all(&c, &rng)) < 0) {
			errf(err, errlen, "no device can take a replica (all "
			     "weighted devices are excluded)");
			goto out;
		}
		if (g.n == before && round > 0)
			break;
	}
	if ((rc = fixup(&c, &g, touched, &rng, FIX_FLOOR_FROM_CEIL)) < 0 ||
	    (rc = fixup(&c, &g, touched, &rng, FIX_FLOOR)) < 0 ||
	    (rc = fixup(&c, &g, touched, &rng, FIX_CEIL)) < 0)
		goto nomem;
	/* A first placement moves no data, so settle the rounding for the
	 * best balance too: the devices that would lose most, relative to
	 * their target, by staying at the floor get the ceiling. */
	if (!any_assigned) {
		integer_targets(&c);
		if ((rc = fixup(&c, &g, touched, &rng, FIX_INT)) < 0)
			goto nomem;
	}
	/* results: moved slots, changed partitions, min_part_hours clocks.
	 * A partition changed when a slot got a new device or when it had an
	 * unassigned slot (initial placement), as Swift counts it. */
	for (size_t i = 0; i < g.n; i++) {
		const struct moved *m = &g.v[i];
		if (r->rows[m->row][m->part] != m->old) {
			res->moved_slots++;
			res->reassigned++;
			orig_free[m->part] = 1;
		}
	}
	for (uint64_t p = 0; p < c.P; p++)
		if (orig_free[p]) {
			res->changed_parts++;
			b->last_part_moves[p] = 0;
		}
	/* drop drained removed devices */
	{
		uint64_t *parts = ring_dev_parts(r);
		if (!parts)
			goto nomem;
		for (uint32_t id = 0; id < r->ndevs; id++)
			if (r->devs[id].present && r->devs[id].removing &&
			    !parts[id]) {
				ring_dev_clear(&r->devs[id]);
				res->removed_devs++;
			}
		free(parts);
		while (r->ndevs && !r->devs[r->ndevs - 1].present)
			r->ndevs--;
	}
	r->version++;
	res->balance = ring_balance(r);
	{
		struct ring_tiers tt2;
		if (ring_tiers_build(r, &tt2) < 0)
			goto nomem;
		res->dispersion = ring_dispersion(r, &tt2, NULL);
		ring_tiers_free(&tt2);
	}
	rc = 0;
	goto out;
nomem:
	rc = -ENOMEM;
	errf(err, errlen, "out of memory during rebalance");
out:
	free(g.v);
	free(touched);
	free(orig_free);
	free(c.fresh);
	free(c.hot);
	free(c.st);
	ring_tiers_free(&c.tt);
	return rc;
}

int ring_builder_validate(const struct ring_builder *b, char *err,
			  size_t errlen)
{
	const struct ring *r = b->r;
	uint64_t P = ring_partitions(r);
	int have_dev = 0;

	for (uint32_t i = 0; i < r->ndevs; i++)
		have_dev |= r->devs[i].present;
	if (!have_dev) {
		errf(err, errlen, "the ring is empty: it has no devices");
		return -EINVAL;
	}
	if (!r->nrows) {
		errf(err, errlen, "the ring has not been rebalanced yet: no "
		     "partition is assigned");
		return -EINVAL;
	}
	for (uint64_t p = 0; p < P; p++) {
		uint16_t seen[256];
		int n = 0;
		for (unsigned row = 0; row < r->nrows; row++) {
			if (p >= r->row_len[row])
				continue;
			uint16_t d = r->rows[row][p];
			if (d == RING_NONE_DEV) {
				errf(err, errlen, "partition %llu replica %u is "
				     "not assigned to any device",
				     (unsigned long long)p, row);
				return -EINVAL;
			}
			if (d >= r->ndevs || !r->devs[d].present) {
				errf(err, errlen, "partition %llu replica %u is "
				     "assigned to device %u, which does not "
				     "exist", (unsigned long long)p, row, d);
				return -EINVAL;
			}
			for (int k = 0; k < n; k++)
				if (seen[k] == d) {
					errf(err, errlen, "partition %llu has "
					     "two replicas on device %u",
					     (unsigned long long)p, d);
					return -EINVAL;
				}
			seen[n++] = d;
		}
	}
	return 0;
}
