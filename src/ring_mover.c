/*
 * ring_mover.c — `cassafs move --old OLD.ring.gz URL`: after a ring change
 * (`cassafs ring B add/set_weight/remove`, `rebalance`, the new ring file
 * written where URL names it), put every object's replicas where the new
 * ring says.
 *
 * For each object of the listing and each replica row whose device changed
 * (old device A → new device B): copy the object to B (from A if its copy
 * is good, else from any good copy) under its original X-Timestamp, check
 * B's copy (HEAD: ETag and size), and only then remove A's copy (unless A
 * is still a primary of the partition in another row).  Rows are done one
 * after the other, so at most one replica of any partition is in motion at
 * a time; the builder's min_part_hours already moves one replica of a
 * partition per rebalance.  Reads keep working throughout: mounts reload
 * the new ring within a second, and a new primary that has no copy yet
 * answers 404, so the read goes on to the next primary (unmoved) or a
 * handoff.
 *
 * Removing a copy over HTTP leaves a tombstone on A (the object server has
 * no other way).  Swift's object-replicator would push that tombstone from
 * A, no longer a primary, to the primaries and delete the object: with
 * Swift's replicator running, let the replicator move partitions itself
 * and do not use this command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "data_ring.h"
#include "ring.h"

static uint32_t row_dev(const struct ring *r, unsigned row, uint32_t part)
{
	return row < r->nrows && part < r->row_len[row] ? r->rows[row][part]
							: RING_NONE_DEV;
}

struct mstats {
	uint64_t objects, copied, present, removed, failed;
};

/* Move one replica row of one object: 0 done (or nothing to do), < 0 left
 * where it was. */
static int move_one(struct data_ring *dr, const struct ring *old,
		    const struct ring *nw, const struct data_ring_obj *o, uint32_t part,
		    unsigned row, int dry, struct mstats *st)
{
	uint32_t a = row_dev(old, row, part), b = row_dev(nw, row, part);
	struct data_ring_copy c;
	void *buf = NULL;
	size_t len = 0;
	char ts[64] = "";
	int rc;

	if (a == b || b == RING_NONE_DEV)
		return 0;
	if (dry) {
		printf("would move %s row %u: device %u -> %u\n", o->key, row,
		       a, b);
		return 0;
	}
	data_ring_probe(dr, nw, o->key, part, &b, 1, o->etag, o->size, 0, &c);
	if (c.state != DR_GOOD) {
		/* the copy to send: the old device's, else any good one */
		uint32_t src[2 * 16 + 1];
		int n = 0;
		if (a != RING_NONE_DEV && a < old->ndevs && old->devs[a].present)
			src[n++] = a;
		for (unsigned i = 0; i < nw->nrows && n < 32; i++) {
			uint32_t d = row_dev(nw, i, part);
			if (d != RING_NONE_DEV && d != a && d != b)
				src[n++] = d;
		}
		rc = -ENOENT;
		for (int i = 0; i < n && rc < 0; i++)
			rc = data_ring_fetch(dr, src[i] == a ? old : nw, o->key,
					     part, src[i], o->etag, &buf, &len, ts);
		if (rc < 0) {
			fprintf(stderr, "move: %s: no good copy to send to device "
				"%u: %s\n", o->key, b, strerror(-rc));
			st->failed++;
			return rc;
		}
		rc = data_ring_store(dr, nw, o->key, part, b, (int)row, buf, len,
				     ts);
		free(buf);
		if (rc == -EEXIST)
			rc = 0; /* the same or a newer copy got there first */
		if (rc == 0) {
			data_ring_probe(dr, nw, o->key, part, &b, 1, o->etag,
					o->size, 0, &c);
			if (c.state != DR_GOOD)
				rc = -EIO;
		}
		if (rc < 0) {
			fprintf(stderr, "move: %s: copy to device %u failed: %s\n",
				o->key, b, strerror(-rc));
			st->failed++;
			return rc;
		}
		st->copied++;
	} else {
		st->present++;
	}
	if (c.ts[0])
		snprintf(ts, sizeof(ts), "%s", c.ts); /* the version now on B */
	/* the new copy is in place: only now the old one goes, unless the old
	 * device still holds another replica row of this partition */
	for (unsigned i = 0; i < nw->nrows; i++)
		if (row_dev(nw, i, part) == a)
			return 0;
	if (a == RING_NONE_DEV || a >= old->ndevs || !old->devs[a].present)
		return 0;
	rc = data_ring_remove(dr, old, o->key, part, a, ts);
	if (rc < 0) {
		fprintf(stderr, "move: %s: the old copy on device %u stays: %s\n",
			o->key, a, strerror(-rc));
		st->failed++;
		return rc;
	}
	st->removed++;
	return 0;
}

static const char move_usage[] =
	"usage: cassafs move --old OLD.ring.gz [--dry-run] [--settle S] URL\n"
	"\n"
	"After a rebalance of the ring that URL (ring:///PATH/object.ring.gz)\n"
	"names, copy every moved replica to its new device, check it, and only\n"
	"then remove the copy on the device it left; one replica of a\n"
	"partition at a time.  OLD.ring.gz is the ring before the rebalance\n"
	"(cassafs ring keeps copies in backups/ beside the builder).\n"
	"\n"
	"  --settle S  a put that started before a process reloaded the new\n"
	"              ring still goes where the old ring says: the objects are\n"
	"              listed again once S seconds have passed since the ring\n"
	"              file changed, and the new ones moved.  Default: the\n"
	"              URL's reload + (R + 1) x timeout, the longest such a put\n"
	"              can take.\n"
	"Do not run it while Swift's object-replicator runs (docs/ring.md).\n"
	"Exit status: 0 all moved, 1 some replicas left behind, 2 usage.\n";

#define MOVE_LISTINGS 3 /* the first, and one started after the settle
			   time (a failed listing aside) */

static double real_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int obj_cmp(const void *a, const void *b)
{
	return strcmp(((const struct data_ring_obj *)a)->key,
		      ((const struct data_ring_obj *)b)->key);
}

/* Was o (name and ETag) in the listing l (sorted by name)? */
static int listed(const struct data_ring_objs *l, const struct data_ring_obj *o)
{
	const struct data_ring_obj *f =
		l->n ? bsearch(o, l->v, l->n, sizeof(*o), obj_cmp) : NULL;
	return f && !strcmp(f->etag, o->etag);
}

struct mwalk {
	struct data_ring *dr;
	const struct ring *old, *nw;
	int dry;
	struct mstats st;
	struct data_ring_progress pr;
};

/* Move every object of l, or (seen not NULL) those not in seen. */
static size_t move_listing(struct mwalk *m, const struct data_ring_objs *l,
			   const struct data_ring_objs *seen)
{
	size_t done = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (seen && listed(seen, &l->v[i]))
			continue;
		uint32_t part = data_ring_part(m->dr, m->nw, l->v[i].key);
		uint64_t f0 = m->st.failed;
		m->st.objects++;
		done++;
		for (int t = 0; t < 2; t++) {
			/* a failure may be passing (a 500 from a server busy
			 * with the partition's lock): once more, shortly after */
			if (t) {
				fprintf(stderr, "move: %s: trying again\n",
					l->v[i].key);
				m->st.failed = f0;
				usleep(300000);
			}
			for (unsigned row = 0; row < m->nw->nrows; row++)
				move_one(m->dr, m->old, m->nw, &l->v[i], part,
					 row, m->dry, &m->st);
			if (m->st.failed == f0)
				break;
		}
		if (data_ring_progress_due(&m->pr, i + 1 == l->n))
			fprintf(stderr, "%smove: %zu/%zu objects, %llu replicas "
				"copied, %llu old copies removed, %llu failed%s",
				data_ring_progress_lead(&m->pr), i + 1, l->n,
				(unsigned long long)m->st.copied,
				(unsigned long long)m->st.removed,
				(unsigned long long)m->st.failed,
				data_ring_progress_tail(&m->pr));
	}
	if (m->pr.tty && done)
		fputc('\n', stderr);
	return done;
}

int cmd_move(int argc, char **argv)
{
	static const struct option opts[] = {
		{"old", required_argument, NULL, 'o'},
		{"dry-run", no_argument, NULL, 'n'},
		{"settle", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	const char *oldp = NULL;
	int dry = 0, ch, r;
	double settle = -1;
	char err[1024], *e;
	struct data_ring *dr;
	struct ring *old = NULL;
	struct data_ring_objs l = {0}, l2 = {0};

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'o')
			oldp = optarg;
		else if (ch == 'n')
			dry = 1;
		else if (ch == 's') {
			settle = strtod(optarg, &e);
			if (e == optarg || *e || !(settle >= 0) || settle > 86400) {
				fprintf(stderr, "cassafs move: --settle %s: "
					"expected seconds (0 to 86400)\n", optarg);
				return 2;
			}
		} else if (ch == 'h') {
			fputs(move_usage, stdout);
			return 0;
		} else {
			fputs(move_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1 || !oldp) {
		fputs(move_usage, stderr);
		return 2;
	}
	const char *url = argv[optind];
	if (strncmp(url, "ring:", 5)) {
		fprintf(stderr, "cassafs move: %s: not a ring:// data tier\n", url);
		return 2;
	}
	if (ring_load(oldp, &old, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs move: %s\n", err);
		return 2;
	}
	ring_update_bookkeeping(old);
	if (data_ring_open(url, &dr, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs move: %s\n", err);
		ring_free(old);
		return 2;
	}
	struct ringref *rr = data_ring_hold(dr);
	const struct ring *nw = data_ring_held(rr);
	int rc = 2;
	if (nw->part_power != old->part_power || nw->nrows != old->nrows) {
		fprintf(stderr, "cassafs move: %s has part power %u and %u "
			"replica rows, %s has %u and %u: only device changes "
			"are moved\n", url, nw->part_power, nw->nrows, oldp,
			old->part_power, old->nrows);
		goto out;
	}
	uint64_t moved = 0, parts = ring_partitions(nw);
	for (unsigned i = 0; i < nw->nrows; i++)
		for (uint32_t p = 0; p < parts; p++)
			if (row_dev(old, i, (uint32_t)p) != row_dev(nw, i, (uint32_t)p))
				moved++;
	printf("move: the ring moved %llu part-replicas\n",
	       (unsigned long long)moved);
	fflush(stdout);
	if (settle < 0)
		settle = data_ring_put_bound(dr, nw);
	/* puts that may still use the old ring end before this time */
	double quiet = data_ring_held_mtime(rr) + settle, t_list = real_now();
	if ((r = data_ring_collect(dr, "", &l)) < 0) {
		fprintf(stderr, "cassafs move: cannot list the objects of %s: %s\n",
			url, strerror(-r));
		goto out;
	}
	struct mwalk m = {.dr = dr, .old = old, .nw = nw, .dry = dry};
	data_ring_progress_start(&m.pr);
	move_listing(&m, &l, NULL);
	/* A put that took the old ring before its process reloaded the new
	 * one lands where the old ring says, perhaps after the listing above:
	 * list again once such puts are over (a listing started after that
	 * names every one of them; what it adds was put with the new ring or
	 * is such a put), and move what is new. */
	int listings = 1, settled = t_list >= quiet;
	while (!settled && listings < MOVE_LISTINGS) {
		double wait = quiet - real_now();
		if (wait > 0) {
			fprintf(stderr, "move: waiting %.1f s for puts that may "
				"still use the old ring\n", wait);
			struct timespec ts = {(time_t)wait,
				(long)((wait - (time_t)wait) * 1e9)};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		t_list = real_now();
		if ((r = data_ring_collect(dr, "", &l2)) < 0) {
			fprintf(stderr, "cassafs move: cannot list the objects of "
				"%s again: %s\n", url, strerror(-r));
			m.st.failed++;
			break;
		}
		listings++;
		size_t nnew = move_listing(&m, &l2, &l);
		fprintf(stderr, "move: listing %d: %zu objects, %zu new since "
			"the last listing\n", listings, l2.n, nnew);
		settled = t_list >= quiet;
		data_ring_objs_free(&l);
		l = l2;
		memset(&l2, 0, sizeof(l2));
	}
	printf("move: %llu objects, %llu replicas copied (%llu already in "
	       "place), %llu old copies removed, %llu failed, %d listings "
	       "(%.1f s)\n",
	       (unsigned long long)m.st.objects, (unsigned long long)m.st.copied,
	       (unsigned long long)m.st.present, (unsigned long long)m.st.removed,
	       (unsigned long long)m.st.failed, listings,
	       data_ring_progress_elapsed(&m.pr));
	rc = m.st.failed ? 1 : 0;
out:
	data_ring_objs_free(&l);
	data_ring_objs_free(&l2);
	data_ring_release(dr, rr);
	data_ring_close(dr);
	ring_free(old);
	return rc;
}
