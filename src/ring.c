/*
 * ring.c — the ring model, key → partition, primaries, handoffs and Swift's
 * balance/dispersion metrics.  Behaviour follows Swift 2.30's Ring and
 * RingBuilder (see shared/reference/swift-ring.md); the code is our own.
 */
#define _GNU_SOURCE	/* qsort_r */
#include "ring.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct ring *ring_new(unsigned part_power, double replicas)
{
	struct ring *r;

	if (part_power > RING_MAX_PART_POWER)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->part_power = part_power;
	r->replicas = replicas;
	r->version = -1;
	r->next_part_power = -1;
	return r;
}

void ring_dev_clear(struct ring_dev *d)
{
	free(d->ip);
	free(d->repl_ip);
	free(d->device);
	free(d->meta);
	memset(d, 0, sizeof(*d));
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

int ring_dev_copy(struct ring_dev *dst, const struct ring_dev *src)
{
	struct ring_dev d = *src;

	d.ip = dup_or_empty(src->ip);
	d.repl_ip = dup_or_empty(src->repl_ip ? src->repl_ip : src->ip);
	d.device = dup_or_empty(src->device);
	d.meta = dup_or_empty(src->meta);
	if (!d.ip || !d.repl_ip || !d.device || !d.meta) {
		ring_dev_clear(&d);
		return -ENOMEM;
	}
	*dst = d;
	return 0;
}

void ring_free(struct ring *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->ndevs; i++)
		ring_dev_clear(&r->devs[i]);
	free(r->devs);
	for (unsigned i = 0; i < r->nrows; i++)
		free(r->rows[i]);
	free(r->rows);
	free(r->row_len);
	free(r);
}

int ring_reserve_dev(struct ring *r, uint32_t id)
{
	struct ring_dev *nd;

	if (id >= RING_MAX_DEVS)
		return -ERANGE;
	if (id < r->ndevs)
		return 0;
	nd = realloc(r->devs, (size_t)(id + 1) * sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	memset(nd + r->ndevs, 0, (size_t)(id + 1 - r->ndevs) * sizeof(*nd));
	r->devs = nd;
	r->ndevs = id + 1;
	return 0;
}

uint64_t ring_partitions(const struct ring *r)
{
	return (uint64_t)1 << r->part_power;
}

uint64_t ring_slots(const struct ring *r)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < r->nrows; i++)
		n += r->row_len[i];
	return n;
}

double ring_effective_replicas(const struct ring *r)
{
	if (!r->nrows)
		return r->replicas;
	return (double)ring_slots(r) / (double)ring_partitions(r);
}

/* ---- lookup ---- */

int ring_hash_path(const char *prefix, const char *suffix, const char *account,
		   const char *container, const char *object,
		   unsigned char digest[16])
{
	EVP_MD_CTX *ctx;
	unsigned int len = 16;
	int rc = -EIO;

	if (!account || (object && !container))
		return -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_md5(), NULL))
		goto out;
	EVP_DigestUpdate(ctx, prefix ? prefix : "", prefix ? strlen(prefix) : 0);
	EVP_DigestUpdate(ctx, "/", 1);
	EVP_DigestUpdate(ctx, account, strlen(account));
	if (container) {
		EVP_DigestUpdate(ctx, "/", 1);
		EVP_DigestUpdate(ctx, container, strlen(container));
	}
	if (object) {
		EVP_DigestUpdate(ctx, "/", 1);
		EVP_DigestUpdate(ctx, object, strlen(object));
	}
	EVP_DigestUpdate(ctx, suffix ? suffix : "", suffix ? strlen(suffix) : 0);
	if (EVP_DigestFinal_ex(ctx, digest, &len))
		rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

uint32_t ring_part_from_digest(const unsigned char d[16], unsigned part_power)
{
	uint32_t top = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
		       (uint32_t)d[2] << 8 | d[3];

	/* part_shift = 32 - part_power; a shift by 32 is undefined in C */
	if (part_power == 0)
		return 0;
	return top >> (32 - part_power);
}

int ring_get_part(const struct ring *r, const char *prefix, const char *suffix,
		  const char *account, const char *container,
		  const char *object, uint32_t *part)
{
	unsigned char d[16];
	int rc = ring_hash_path(prefix, suffix, account, container, object, d);

	if (rc < 0)
		return rc;
	*part = ring_part_from_digest(d, r->part_power);
	return 0;
}

static int id_in(const uint32_t *ids, int n, uint32_t id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

int ring_part_nodes(const struct ring *r, uint32_t part, uint32_t *ids,
		    int max)
{
	int n = 0;

	for (unsigned i = 0; i < r->nrows && n < max; i++) {
		if (part >= r->row_len[i])
			continue;
		uint32_t id = r->rows[i][part];
		if (id == RING_NONE_DEV || id_in(ids, n, id))
			continue;
		ids[n++] = id;
	}
	return n;
}

/* Small open-addressing-free sets: the number of regions/zones/ips touched
 * by one handoff walk is tiny, so linear arrays are fastest. */
struct seen {
	const struct ring_dev **d;
	int n, cap;
};

static int seen_add(struct seen *s, const struct ring_dev *d)
{
	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 16;
		const struct ring_dev **nd = realloc(s->d, cap * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		s->d = nd;
		s->cap = cap;
	}
	s->d[s->n++] = d;
	return 0;
}

/* level 1: same region, 2: same region+zone, 3: same region+zone+ip */
static int same_tier(const struct ring_dev *a, const struct ring_dev *b,
		     int level)
{
	if (a->region != b->region)
		return 0;
	if (level >= 2 && a->zone != b->zone)
		return 0;
	if (level >= 3 && strcmp(a->ip, b->ip) != 0)
		return 0;
	return 1;
}

static int seen_has(const struct seen *s, const struct ring_dev *d, int level)
{
	for (int i = 0; i < s->n; i++)
		if (same_tier(s->d[i], d, level))
			return 1;
	return 0;
}

/* Count distinct tiers at a level among the seen devices. */
static unsigned seen_distinct(const struct seen *s, int level)
{
	unsigned n = 0;

	for (int i = 0; i < s->n; i++) {
		int dup = 0;
		for (int j = 0; j < i && !dup; j++)
			dup = same_tier(s->d[j], s->d[i], level);
		n += !dup;
	}
	return n;
}

int ring_more_nodes(const struct ring *r, uint32_t part, uint32_t *ids,
		    int max)
{
	uint32_t prim[512];
	int nprim, n = 0, rc = 0;
	struct seen tiers = {0};
	unsigned char dg[16];
	char buf[16];
	uint64_t parts, start, inc;
	unsigned num_used;
	unsigned char *used = NULL;

	if (!r->nrows || max <= 0)
		return 0;
	used = calloc(r->ndevs ? r->ndevs : 1, 1);
	if (!used)
		return -ENOMEM;
	nprim = ring_part_nodes(r, part, prim, 512);
	num_used = nprim;
	for (int i = 0; i < nprim; i++) {
		used[prim[i]] = 1;
		if ((rc = seen_add(&tiers, &r->devs[prim[i]])) < 0)
			goto out;
	}
	parts = r->row_len[0];
	snprintf(buf, sizeof(buf), "%u", part);
	{
		/* Swift hashes the bare decimal partition number */
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		unsigned int l = 16;
		if (!ctx) {
			rc = -ENOMEM;
			goto out;
		}
		EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
		EVP_DigestUpdate(ctx, buf, strlen(buf));
		EVP_DigestFinal_ex(ctx, dg, &l);
		EVP_MD_CTX_free(ctx);
	}
	start = ring_part_from_digest(dg, r->part_power);
	inc = parts / 65536;
	if (!inc)
		inc = 1;
	/* Four passes, as Swift: a new region, a new zone, a new ip, then any
	 * unused device.  Each pass walks start, start+inc, … < parts, then
	 * wraps to inc - ((parts - start) % inc), … < start (Swift's exact
	 * ranges, including their skipping of partition 0 when inc is 1). */
	for (int level = 1; level <= 4 && n < max; level++) {
		unsigned want = level == 1 ? r->num_regions :
				level == 2 ? r->num_zones :
				level == 3 ? r->num_ips : r->num_assigned_devs;
		unsigned have = level == 4 ? num_used : seen_distinct(&tiers, level);
		int done = have >= want;
		for (int seg = 0; seg < 2 && !done; seg++) {
			uint64_t lo = seg == 0 ? start : inc - ((parts - start) % inc);
			uint64_t hi = seg == 0 ? parts : start;
			for (uint64_t hp = lo; hp < hi && !done; hp += inc) {
				for (unsigned ri = 0; ri < r->nrows; ri++) {
					if (hp >= r->row_len[ri])
						continue;
					uint32_t id = r->rows[ri][hp];
					if (id == RING_NONE_DEV || id >= r->ndevs || used[id])
						continue;
					const struct ring_dev *d = &r->devs[id];
					if (level < 4 && seen_has(&tiers, d, level))
						continue;
					ids[n++] = id;
					used[id] = 1;
					num_used++;
					if ((rc = seen_add(&tiers, d)) < 0)
						goto out;
					if (level < 4)
						have++;
					else
						have = num_used;
					if (have >= want || n >= max) {
						done = 1;
						break;
					}
				}
			}
		}
	}
	rc = n;
out:
	free(tiers.d);
	free(used);
	return rc;
}

void ring_update_bookkeeping(struct ring *r)
{
	unsigned char *has = calloc(r->ndevs ? r->ndevs : 1, 1);
	struct seen s = {0};

	r->num_regions = r->num_zones = r->num_ips = r->num_assigned_devs = 0;
	if (!has)
		return;
	for (unsigned i = 0; i < r->nrows; i++)
		for (uint32_t p = 0; p < r->row_len[i]; p++) {
			uint32_t id = r->rows[i][p];
			if (id < r->ndevs)
				has[id] = 1;
		}
	for (uint32_t id = 0; id < r->ndevs; id++) {
		if (!r->devs[id].present || !has[id])
			continue;
		r->num_assigned_devs++;
		if (seen_add(&s, &r->devs[id]) < 0)
			break;
	}
	r->num_regions = seen_distinct(&s, 1);
	r->num_zones = seen_distinct(&s, 2);
	r->num_ips = seen_distinct(&s, 3);
	free(s.d);
	free(has);
}

/* ---- tiers ---- */

/* qsort_r comparator (reentrant: rings may be used from many threads) */
static int cmp_dev(const void *a, const void *b, void *ctx)
{
	const struct ring *r = ctx;
	const struct ring_dev *x = &r->devs[*(const uint32_t *)a];
	const struct ring_dev *y = &r->devs[*(const uint32_t *)b];
	int c;

	if (x->region != y->region)
		return x->region < y->region ? -1 : 1;
	if (x->zone != y->zone)
		return x->zone < y->zone ? -1 : 1;
	if ((c = strcmp(x->ip, y->ip)) != 0)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int tier_key_differs(const struct ring_dev *a, const struct ring_dev *b,
			    int depth)
{
	if (depth >= 1 && a->region != b->region)
		return 1;
	if (depth >= 2 && a->zone != b->zone)
		return 1;
	if (depth >= 3 && strcmp(a->ip, b->ip) != 0)
		return 1;
	if (depth >= 4 && a->id != b->id)
		return 1;
	return 0;
}

/* Build the tree level by level: devices sorted by (region, zone, ip, id)
 * make every level's nodes contiguous and every node's children a run. */
int ring_tiers_build(const struct ring *r, struct ring_tiers *tt)
{
	uint32_t *order = NULL, n = 0;
	int rc = -ENOMEM, *cur = NULL;

	memset(tt, 0, sizeof(*tt));
	tt->ndevs = r->ndevs;
	order = malloc((r->ndevs + 1) * sizeof(*order));
	tt->t = calloc(1 + 4 * (size_t)r->ndevs, sizeof(*tt->t));
	tt->dev_path = malloc((r->ndevs * 5 + 1) * sizeof(int32_t));
	cur = malloc((r->ndevs + 1) * sizeof(int) * 5);
	if (!order || !tt->t || !tt->dev_path || !cur)
		goto fail;
	for (uint32_t i = 0; i < r->ndevs * 5; i++)
		tt->dev_path[i] = -1;
	for (uint32_t i = 0; i < r->ndevs; i++)
		if (r->devs[i].present)
			order[n++] = i;
	qsort_r(order, n, sizeof(*order), cmp_dev, (void *)r);
	tt->n = 1;
	tt->t[0] = (struct ring_tier){.depth = 0, .parent = -1};
	for (int depth = 1; depth <= 4; depth++) {
		int node = -1;
		for (uint32_t i = 0; i < n; i++) {
			const struct ring_dev *d = &r->devs[order[i]];
			if (i == 0 || tier_key_differs(&r->devs[order[i - 1]], d, depth)) {
				node = tt->n++;
				struct ring_tier *t = &tt->t[node];
				t->depth = depth;
				t->parent = tt->dev_path[order[i] * 5 + depth - 1];
				if (depth == 1)
					t->parent = 0;
				t->region = d->region;
				t->zone = d->zone;
				t->ip = d->ip;
				t->dev = d->id;
				struct ring_tier *p = &tt->t[t->parent];
				if (!p->nchild)
					p->first_child = node;
				p->nchild++;
			}
			tt->dev_path[order[i] * 5] = 0;
			tt->dev_path[order[i] * 5 + depth] = node;
		}
	}
	/* weights bottom-up (children always follow parents) */
	for (int i = tt->n - 1; i >= 1; i--) {
		struct ring_tier *t = &tt->t[i];
		if (t->depth == 4) {
			double w = r->devs[t->dev].weight;
			t->weight = w > 0 ? w : 0;
			t->weighted_devs = w > 0;
		}
		tt->t[t->parent].weight += t->weight;
		tt->t[t->parent].weighted_devs += t->weighted_devs;
	}
	/* Swift's M(t): ring_ceil(M(parent)/weighted children), devices capped at
	 * 1, tiers without weighted devices 0 (absent from Swift's dict). */
	tt->t[0].max_replicas = (int)ring_ceil(ring_effective_replicas(r) - 1e-9);
	{
		/* M(root) is the float replica count; children use ring_ceil(R/n) */
		double R = ring_effective_replicas(r);
		for (int i = 1; i < tt->n; i++)
			if (tt->t[i].weighted_devs)
				tt->t[tt->t[i].parent].weighted_children++;
		for (int i = 1; i < tt->n; i++) {
			struct ring_tier *t = &tt->t[i];
			struct ring_tier *p = &tt->t[t->parent];
			if (!t->weighted_devs) {
				t->max_replicas = 0;
				continue;
			}
			double pm = t->parent == 0 ? R : p->max_replicas;
			t->max_replicas = (int)ring_ceil(pm / p->weighted_children);
			if (t->depth == 4 && t->max_replicas > 1)
				t->max_replicas = 1;
		}
	}
	rc = 0;
	goto out;
fail:
	ring_tiers_free(tt);
out:
	free(order);
	free(cur);
	return rc;
}

void ring_tiers_free(struct ring_tiers *tt)
{
	free(tt->t);
	free(tt->dev_path);
	memset(tt, 0, sizeof(*tt));
}

const char *ring_tier_name(const struct ring_tiers *tt, int node, char *buf,
			   size_t len)
{
	const struct ring_tier *t = &tt->t[node];

	switch (t->depth) {
	case 0: snprintf(buf, len, "()"); break;
	case 1: snprintf(buf, len, "r%d", t->region); break;
	case 2: snprintf(buf, len, "r%dz%d", t->region, t->zone); break;
	case 3: snprintf(buf, len, "r%dz%d-%s", t->region, t->zone, t->ip); break;
	default:
		snprintf(buf, len, "r%dz%d-%s/d%u", t->region, t->zone, t->ip,
			 t->dev);
	}
	return buf;
}

/* ---- metrics ---- */

uint64_t *ring_dev_parts(const struct ring *r)
{
	uint64_t *c = calloc(r->ndevs ? r->ndevs : 1, sizeof(*c));

	if (!c)
		return NULL;
	for (unsigned i = 0; i < r->nrows; i++)
		for (uint32_t p = 0; p < r->row_len[i]; p++) {
			uint32_t id = r->rows[i][p];
			if (id < r->ndevs)
				c[id]++;
		}
	return c;
}

double ring_total_weight(const struct ring *r)
{
	double w = 0;

	for (uint32_t i = 0; i < r->ndevs; i++)
		if (r->devs[i].present)
			w += r->devs[i].weight;
	return w;
}

double ring_dev_balance(const struct ring *r, const struct ring_dev *d,
			uint64_t parts, double tw)
{
	double w1;

	if (d->weight <= 0)
		return parts ? 999.99 : 0.0;
	w1 = (double)ring_partitions(r) * r->replicas / tw;
	return 100.0 * (double)parts / (d->weight * w1) - 100.0;
}

double ring_balance(const struct ring *r)
{
	uint64_t *parts = ring_dev_parts(r);
	double tw = ring_total_weight(r), best = 0, w1;

	if (!parts)
		return NAN;
	w1 = tw > 0 ? (double)ring_partitions(r) * r->replicas / tw : 0;
	for (uint32_t i = 0; i < r->ndevs; i++) {
		const struct ring_dev *d = &r->devs[i];
		double b;
		if (!d->present)
			continue;
		if (d->weight <= 0) {
			if (parts[i])
				return free(parts), 999.99;
			continue;
		}
		b = fabs(100.0 * (double)parts[i] / (d->weight * w1) - 100.0);
		if (b > best)
			best = b;
	}
	free(parts);
	return best;
}

double ring_dispersion(const struct ring *r, const struct ring_tiers *tt,
		       uint64_t *hist)
{
	uint32_t minlen = UINT32_MAX;
	unsigned R = r->nrows;
	uint64_t at_risk = 0;
	int32_t nodes[64];
	unsigned char cnt[64];

	if (!R || R > 64)
		return 0.0;
	for (unsigned i = 0; i < R; i++)
		if (r->row_len[i] < minlen)
			minlen = r->row_len[i];
	/* Fast path: replicas on weighted devices in pairwise different
	 * regions are within every tier's maximum (M >= 1 below a weighted
	 * root), so only other partitions need the full count. */
	unsigned char *wdev = calloc(tt->ndevs ? tt->ndevs : 1, 1);
	if (!wdev)
		return NAN;
	for (uint32_t d = 0; d < tt->ndevs; d++) {
		int32_t dn = tt->dev_path[d * 5 + 4];
		wdev[d] = dn >= 0 && tt->t[dn].max_replicas >= 1;
	}
	for (uint32_t p = 0; p < minlen; p++) {
		unsigned risk_max = 0;
		if (!hist) {
			int fast = 1;
			for (unsigned i = 0; i < R && fast; i++) {
				uint32_t id = r->rows[i][p];
				fast = id < tt->ndevs && wdev[id];
				for (unsigned j = 0; j < i && fast; j++)
					fast = tt->dev_path[id * 5 + 1] !=
					       tt->dev_path[r->rows[j][p] * 5 + 1];
			}
			if (fast)
				continue;
		}
		for (int depth = 1; depth <= 4; depth++) {
			int k = 0;
			unsigned risk = 0;
			for (unsigned i = 0; i < R; i++) {
				uint32_t id = r->rows[i][p];
				int32_t node;
				if (id >= tt->ndevs)
					continue;
				node = tt->dev_path[id * 5 + depth];
				if (node < 0)
					continue;
				int j;
				for (j = 0; j < k && nodes[j] != node; j++)
					;
				if (j == k) {
					nodes[k] = node;
					cnt[k++] = 0;
				}
				cnt[j]++;
			}
			for (int j = 0; j < k; j++) {
				int m = tt->t[nodes[j]].max_replicas;
				if (cnt[j] > m)
					risk += cnt[j] - m;
				if (hist)
					hist[(size_t)nodes[j] * (R + 1) + cnt[j]]++;
			}
			if (risk > risk_max)
				risk_max = risk;
		}
		at_risk += risk_max;
	}
	free(wdev);
	if (hist) {
		/* parts with no replica in a tier */
		for (int n = 1; n < tt->n; n++) {
			uint64_t s = 0;
			for (unsigned c = 1; c <= R; c++)
				s += hist[(size_t)n * (R + 1) + c];
			hist[(size_t)n * (R + 1)] = minlen - s;
		}
	}
	return 100.0 * (double)at_risk / (double)ring_partitions(r) /
	       r->replicas;
}

/* ---- swift.conf ---- */

char *ring_conf_value(const char *path, const char *section, const char *key)
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
