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
	char ts[64];
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
	/* the new copy is in place: only now the old one goes, unless the old
	 * device still holds another replica row of this partition */
	for (unsigned i = 0; i < nw->nrows; i++)
		if (row_dev(nw, i, part) == a)
			return 0;
	if (a == RING_NONE_DEV || a >= old->ndevs || !old->devs[a].present)
		return 0;
	rc = data_ring_remove(dr, old, o->key, part, a);
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
	"usage: cassafs move --old OLD.ring.gz [--dry-run] URL\n"
	"\n"
	"After a rebalance of the ring that URL (ring:///PATH/object.ring.gz)\n"
	"names, copy every moved replica to its new device, check it, and only\n"
	"then remove the copy on the device it left; one replica of a\n"
	"partition at a time.  OLD.ring.gz is the ring before the rebalance\n"
	"(cassafs ring keeps copies in backups/ beside the builder).\n"
	"Do not run it while Swift's object-replicator runs (docs/ring.md).\n"
	"Exit status: 0 all moved, 1 some replicas left behind, 2 usage.\n";

int cmd_move(int argc, char **argv)
{
	static const struct option opts[] = {
		{"old", required_argument, NULL, 'o'},
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	const char *oldp = NULL;
	int dry = 0, ch, r;
	char err[1024];
	struct data_ring *dr;
	struct ring *old = NULL;
	struct data_ring_objs l = {0};
	struct mstats st = {0};

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'o')
			oldp = optarg;
		else if (ch == 'n')
			dry = 1;
		else if (ch == 'h') {
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
	if ((r = data_ring_collect(dr, "", &l)) < 0) {
		fprintf(stderr, "cassafs move: cannot list the objects of %s: %s\n",
			url, strerror(-r));
		goto out;
	}
	struct data_ring_progress pr;
	data_ring_progress_start(&pr);
	for (size_t i = 0; i < l.n; i++) {
		uint32_t part = data_ring_part(dr, nw, l.v[i].key);
		st.objects++;
		for (unsigned row = 0; row < nw->nrows; row++)
			move_one(dr, old, nw, &l.v[i], part, row, dry, &st);
		if (data_ring_progress_due(&pr, i + 1 == l.n))
			fprintf(stderr, "%smove: %zu/%zu objects, %llu replicas "
				"copied, %llu old copies removed, %llu failed%s",
				data_ring_progress_lead(&pr), i + 1, l.n,
				(unsigned long long)st.copied,
				(unsigned long long)st.removed,
				(unsigned long long)st.failed,
				data_ring_progress_tail(&pr));
	}
	if (pr.tty && l.n)
		fputc('\n', stderr);
	printf("move: %llu objects, %llu replicas copied (%llu already in "
	       "place), %llu old copies removed, %llu failed (%.1f s)\n",
	       (unsigned long long)st.objects, (unsigned long long)st.copied,
	       (unsigned long long)st.present, (unsigned long long)st.removed,
	       (unsigned long long)st.failed, data_ring_progress_elapsed(&pr));
	rc = st.failed ? 1 : 0;
out:
	data_ring_objs_free(&l);
	data_ring_release(dr, rr);
	data_ring_close(dr);
	ring_free(old);
	return rc;
}
