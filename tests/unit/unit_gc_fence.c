/*
 * unit_gc_fence — the online sweep's fence (layout_sweep_fence,
 * layout_gc_fenced, layout_floor_txn) on a real LMDB store and file://
 * tier.  A "mount" here is a layout whose upload floor is published in a
 * mount record, as vfs's keeper does every 5 s.  Checked: an upload in
 * flight (uploaded, not committed) is never swept while its mount is live,
 * a leak below the fence is; an upload whose commit outcome is unknown
 * (-EIO) stays fenced for the grace period, then goes; a cancelled upload
 * frees the floor; a stale record does not fence; a live mount without a
 * floor, or a coordinator session without a record, fences everything.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "data.h"
#include "layout.h"
#include "meta.h"
#include "store.h"
#include "test.h"

static struct meta *m;
static struct layout *l;
static char prefix[64];

struct rec_args {
	uint64_t id;
	int64_t seen;
	int with_floor;
};

/* What vfs's keeper writes: this process's record with the floor. */
static int record_txn(struct store_txn *t, void *arg)
{
	struct rec_args *a = arg;
	struct coord_mount_info mi = {0};
	snprintf(mi.host, sizeof(mi.host), "test");
	snprintf(mi.mountpoint, sizeof(mi.mountpoint), "/mnt");
	mi.pid = getpid();
	mi.id = a->id;
	mi.seen = a->seen;
	if (a->with_floor) {
		int r = layout_floor_txn(t, l, &mi.floor);
		if (r < 0)
			return r;
	}
	char rec[2048];
	int n = coord_format_mount_info(rec, sizeof(rec), &mi);
	return meta_session_put(t, a->id, rec, (size_t)n);
}

static int del_txn(struct store_txn *t, void *arg)
{
	return meta_session_del(t, *(uint64_t *)arg);
}

static void publish(uint64_t id, int64_t seen, int with_floor)
{
	struct rec_args a = {id, seen, with_floor};
	CHECK_EQ(meta_write(m, record_txn, &a), 0);
}

static int exists(uint64_t id)
{
	char key[80], b[8];
	size_t got;
	snprintf(key, sizeof(key), "%s%016" PRIx64, prefix, id);
	return data_get(layout_data(l), key, 0, b, sizeof(b), &got) == 0;
}

static void put_obj(uint64_t id)
{
	char key[80];
	snprintf(key, sizeof(key), "%s%016" PRIx64, prefix, id);
	CHECK_EQ(data_put(layout_data(l), key, "leaked", 6), 0);
}

static uint64_t fence_now(const uint64_t *live, size_t n)
{
	uint64_t f = 12345;
	CHECK_EQ(layout_sweep_fence(l, live, n, 30, &f), 0);
	return f;
}

static void sweep(uint64_t fence, struct layout_gc_report *rep)
{
	CHECK_EQ(layout_gc_fenced(l, 1, fence, 0, rep), 0);
}

int main(void)
{
	char dir[] = "/tmp/unit_gc_fence.XXXXXX", url[300], durl[320], err[512];
	struct store *s;
	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "lmdb://%s/store", dir);
	snprintf(durl, sizeof(durl), "file://%s/objects", dir);
	struct data *d;
	struct data_opts dopt = {0};
	if (store_open(url, STORE_CREATE, &s, err, sizeof(err)) ||
	    data_open(durl, &dopt, &d, err, sizeof(err)) ||
	    data_prepare(d, err, sizeof(err)) ||
	    meta_mkfs_data(s, 4096, 0, 0, durl, err, sizeof(err)) ||
	    meta_open(s, &m, err, sizeof(err)) ||
	    layout_open(m, durl, NULL, &l, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	data_close(d);
	snprintf(prefix, sizeof(prefix), "%s/", meta_super(m)->uuid);
	int64_t now = (int64_t)time(NULL);
	struct layout_gc_report rep;

	/* no mount record at all: the fence is the id counter */
	uint64_t f0 = fence_now(NULL, 0);
	CHECK(f0 >= 1, "fence %" PRIu64, f0);

	/* an upload in flight (its mount live, the commit not made yet),
	 * and a leak below it (id 0 is never handed out) */
	static uint8_t bytes[10000];
	struct layout_piece p = {0, bytes, sizeof(bytes)};
	struct layout_batch *b = NULL;
	CHECK_EQ(layout_upload(l, 2, &p, 1, &b), 0);
	publish(7, now, 1);
	put_obj(0);
	uint64_t f1 = fence_now(NULL, 0);
	uint64_t up = f1; /* the upload's object: the lowest id in flight */
	CHECK(exists(up), "the upload is in the tier (id %" PRIu64 ")", up);
	sweep(f1, &rep);
	CHECK_EQ(rep.leaked, 1);
	CHECK(!exists(0), "the leak below the fence is gone");
	CHECK(exists(up), "the upload in flight is kept");
	CHECK_EQ(rep.fenced, 1);
	/* a new upload's id is above the fence too */
	struct layout_batch *b2 = NULL;
	CHECK_EQ(layout_upload(l, 3, &p, 1, &b2), 0);
	sweep(fence_now(NULL, 0), &rep);
	CHECK_EQ(rep.leaked, 0);
	CHECK_EQ(rep.fenced, 2);

	/* cancelled: its objects are deleted and the floor moves on */
	layout_batch_done(l, b2, -ECANCELED);
	/* the commit outcome unknown: kept, fenced for the grace period */
	layout_set_grace(l, 2);
	layout_batch_done(l, b, -EIO);
	publish(7, now, 1);
	CHECK_EQ(fence_now(NULL, 0), up);
	sweep(fence_now(NULL, 0), &rep);
	CHECK(exists(up), "an unknown outcome is kept during the grace");
	CHECK_EQ(rep.leaked, 0);
	sleep(3);
	publish(7, (int64_t)time(NULL), 1);
	uint64_t f2 = fence_now(NULL, 0);
	CHECK(f2 > up, "fence %" PRIu64 " past %" PRIu64 " after the grace", f2, up);
	sweep(f2, &rep);
	CHECK_EQ(rep.leaked, 1);
	CHECK(!exists(up), "after the grace the uncommitted object goes");

	/* a live record without a floor (an older mount): nothing goes */
	publish(8, (int64_t)time(NULL), 0);
	CHECK_EQ(fence_now(NULL, 0), 0);
	uint64_t id8 = 8;
	CHECK_EQ(meta_write(m, del_txn, &id8), 0);
	/* a stale record does not fence (that mount died) */
	publish(9, (int64_t)time(NULL) - 100, 0);
	CHECK(fence_now(NULL, 0) > 0, "a dead mount's record is ignored");
	/* the coordinator lists a session with a record with a floor: fine;
	 * one with none (9 is stale, 10 absent): nothing goes */
	uint64_t live7 = 7, live9[2] = {7, 9}, live10 = 10;
	CHECK(fence_now(&live7, 1) > 0, "a coordinator session with a record");
	CHECK_EQ(fence_now(live9, 2), 0);
	CHECK_EQ(fence_now(&live10, 1), 0);
	/* with no mount live the sweep takes everything unreferenced */
	put_obj(UINT64_MAX - 5);
	sweep(fence_now(NULL, 0), &rep);
	CHECK(exists(UINT64_MAX - 5), "above the counter: fenced");
	sweep(UINT64_MAX, &rep);
	CHECK(!exists(UINT64_MAX - 5), "offline: gone");

	layout_close(l);
	meta_close(m);
	store_close(s);
	char cmd[100];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cleanup failed\n");
	return test_done();
}
