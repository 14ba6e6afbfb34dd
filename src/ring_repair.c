/*
 * ring_repair.c — the ring data tier's maintenance: `cassafs repair URL`
 * (restore every object to R good replicas where the ring says) and the
 * per-device status view.  Built on data_ring.h; the objects come from the
 * container listing the object servers keep up to date.
 *
 * Repair, object by object: look at the copies on the R primaries (GET and
 * MD5 by default, HEAD with --quick); a primary that has no copy (device
 * lost or replaced) or a bad one (MD5 or size wrong) gets a copy of a good
 * one — from another primary, else from a handoff — under the original
 * X-Timestamp (a bad copy is replaced under that timestamp plus one Swift
 * offset, so the server takes it).  A primary that does not answer is left
 * alone and a handoff gets the copy instead, so R good copies exist; Swift's
 * replicator (or the next repair, once the device is back) returns it.
 *
 * Coexistence with Swift's object-replicator: repair writes what the
 * replicator would, the same object under the same timestamp, so both may
 * run; repair never deletes, so it never races a replicator's tombstone.
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

struct rstats {
	uint64_t objects, good, restored, on_handoff, failed, lost, down;
	uint64_t home;		/* primaries restored from a handoff's copy */
	uint64_t hremoved;	/* handoff copies removed once home */
	uint64_t deletes;	/* copies a delete had missed, now deleted */
	uint64_t hints, hints_left;
};

static const char *devname(const struct ring *r, uint32_t id, char *buf,
			   size_t len)
{
	const struct ring_dev *d = &r->devs[id];
	snprintf(buf, len, "d%u %s:%d/%s", id, d->ip, d->port, d->device);
	return buf;
}

static int has_data(const struct data_ring_copy *c)
{
	return c->state == DR_GOOD || c->state == DR_BAD;
}

/* Newest wins: the newest delete's tombstone among the copies if it is
 * newer than every copy of the data (then the object is deleted), else
 * NULL. */
static const char *newer_delete(const struct data_ring_copy *c, int n)
{
	const char *del = NULL, *data = NULL;
	for (int i = 0; i < n; i++) {
		if (c[i].state == DR_DELETED &&
		    (!del || data_ring_ts_cmp(c[i].ts, del) > 0))
			del = c[i].ts;
		if (has_data(&c[i]) &&
		    (!data || data_ring_ts_cmp(c[i].ts, data) > 0))
			data = c[i].ts;
	}
	return del && (!data || data_ring_ts_cmp(del, data) > 0) ? del : NULL;
}

/* Put the delete stamped del on every device of ids[0..n) that missed
 * it: its copy goes (older than the delete: the server takes the
 * tombstone), and a primary with no tombstone of it gets one, as Swift's
 * replicator would push it.  Returns how many primaries still lack the
 * tombstone (down, or failed). */
static int propagate_delete(struct data_ring *dr, const struct ring *r,
			    const char *key, uint32_t part, const uint32_t *ids,
			    int nprim, int n, struct data_ring_copy *c,
			    const char *del, int dry, struct rstats *st)
{
	char dn[300], dts[64];
	int left = 0;

	snprintf(dts, sizeof(dts), "%s", del); /* c[] is not ours to keep */
	for (int i = 0; i < n; i++) {
		int data = has_data(&c[i]) && data_ring_ts_cmp(c[i].ts, dts) < 0;
		int prim_lacks = i < nprim && (c[i].state == DR_MISSING ||
			(c[i].state == DR_DELETED &&
			 data_ring_ts_cmp(c[i].ts, dts) < 0));
		if (c[i].state == DR_DOWN && i < nprim) {
			left++;
			st->down++;
			continue;
		}
		if (!data && !prim_lacks)
			continue;
		if (dry) {
			printf("would delete %s (deleted at %s) on %s\n", key,
			       dts, devname(r, ids[i], dn, sizeof(dn)));
			continue;
		}
		int rc = data_ring_delete_copy(dr, r, key, part, ids[i],
					       i < nprim ? i : -1, dts);
		if (rc < 0 && rc != -EEXIST) {
			fprintf(stderr, "repair: %s: delete on %s: %s\n", key,
				devname(r, ids[i], dn, sizeof(dn)), strerror(-rc));
			st->failed++;
			left += i < nprim;
		} else if (data) {
			st->deletes++;
		}
	}
	return left;
}

static int keep_handoffs; /* --keep-handoffs */

static void repair_one(struct data_ring *dr, const struct ring *r,
		       const struct data_ring_obj *o, int verify, int dry,
		       struct rstats *st)
{
	uint32_t ids[64], part = data_ring_part(dr, r, o->key);
	struct data_ring_copy c[64];
	int nprim, n = data_ring_devices(r, part, ids, 64, &nprim,
					 (int)r->nrows);
	int good = 0, src = -1, now_good = 0, inhand = 0;
	void *buf = NULL;
	size_t len = 0;
	char ts[64] = "", dn[300];
	const char *del;

	st->objects++;
	data_ring_probe(dr, r, o->key, part, ids, nprim, o->etag, o->size,
			verify, c);
	/* the handoffs a put would have used: copies left there come home
	 * (HEAD: a copy taken from there is read with its MD5 checked) */
	if (n > nprim)
		data_ring_probe(dr, r, o->key, part, ids + nprim, n - nprim,
				o->etag, o->size, 0, c + nprim);
	if ((del = newer_delete(c, n))) {
		/* listed, but deleted after the copies were made: a listing
		 * replica missed the delete's update; the delete stands */
		propagate_delete(dr, r, o->key, part, ids, nprim, n, c, del, dry,
				 st);
		if (!dry)
			data_ring_unlist(dr, o->key, del);
		return;
	}
	for (int i = 0; i < nprim; i++)
		if (c[i].state == DR_GOOD)
			good++;
	for (int i = nprim; i < n; i++) {
		if (has_data(&c[i]))
			inhand++;
		if (c[i].state == DR_GOOD && src < 0)
			src = i; /* a copy on a handoff goes home first */
	}
	for (int i = 0; i < nprim && src < 0; i++)
		if (c[i].state == DR_GOOD)
			src = i;
	st->good += good;
	now_good = good;
	if (good == nprim)
		goto handoffs;
	if (src < 0) {
		int all404 = 1;
		for (int i = 0; i < n; i++)
			if (c[i].state != DR_MISSING)
				all404 = 0;
		fprintf(stderr, "repair: %s: no good copy on any device%s\n",
			o->key, all404 ? " (deleted? the listing may be stale)"
				       : "");
		st->lost++;
		return;
	}
	if (dry) {
		for (int i = 0; i < nprim; i++)
			if (c[i].state != DR_GOOD)
				printf("would restore %s on %s%s\n", o->key,
				       devname(r, ids[i], dn, sizeof(dn)),
				       src >= nprim ? " from a handoff" : "");
		return;
	}
	int fr = data_ring_fetch(dr, r, o->key, part, ids[src], o->etag, &buf,
				 &len, ts);
	if (fr < 0) {
		fprintf(stderr, "repair: %s: cannot read the good copy on %s: %s\n",
			o->key, devname(r, ids[src], dn, sizeof(dn)), strerror(-fr));
		st->failed++;
		return;
	}
	int next_hand = nprim;
	for (int i = 0; i < nprim; i++) {
		char pts[80];
		int rc = 0;
		uint32_t dst = ids[i];
		if (c[i].state == DR_GOOD)
			continue;
		if (c[i].state == DR_BAD && !data_ring_ts_cmp(c[i].ts, ts))
			data_ring_ts_bump(ts, pts, sizeof(pts));
		else
			snprintf(pts, sizeof(pts), "%s", ts);
		if (c[i].state == DR_DOWN) {
			st->down++;
			/* the next handoff that answers and lacks a good copy */
			rc = -ENODEV;
			while (next_hand < n) {
				int h = next_hand++;
				if (c[h].state == DR_GOOD) {
					rc = 1; /* already there */
					break;
				}
				if (c[h].state == DR_DOWN)
					continue;
				dst = ids[h];
				rc = 0;
				break;
			}
			if (rc == 1) {
				st->on_handoff++;
				continue;
			}
			if (rc < 0) {
				fprintf(stderr, "repair: %s: %s does not answer "
					"and no handoff does\n", o->key,
					devname(r, ids[i], dn, sizeof(dn)));
				st->failed++;
				continue;
			}
		}
		rc = data_ring_store(dr, r, o->key, part, dst, i, buf, len, pts);
		if (rc == -EEXIST && c[i].state == DR_MISSING) {
			/* a tombstone or a newer copy exists there */
			fprintf(stderr, "repair: %s on %s: the server holds a "
				"newer version (deleted?)\n", o->key,
				devname(r, dst, dn, sizeof(dn)));
			st->failed++;
		} else if (rc < 0) {
			fprintf(stderr, "repair: %s on %s: %s\n", o->key,
				devname(r, dst, dn, sizeof(dn)), strerror(-rc));
			st->failed++;
		} else if (dst != ids[i]) {
			st->on_handoff++;
			inhand++;
		} else {
			st->restored++;
			st->home += src >= nprim;
			now_good++;
		}
	}
	free(buf);
handoffs:
	/* Every primary holds the object: a copy on a handoff is an extra
	 * now, and goes once the primaries' copies check out (HEAD: ETag and
	 * size).  While a primary is missing, the handoff stands in for it. */
	if (dry || keep_handoffs || now_good < nprim || !inhand)
		return;
	if (now_good > good) {
		data_ring_probe(dr, r, o->key, part, ids, nprim, o->etag, o->size,
				0, c);
		for (int i = 0; i < nprim; i++)
			if (c[i].state != DR_GOOD)
				return;
	}
	for (int h = nprim; h < n; h++) {
		if (!has_data(&c[h]))
			continue;
		int rc = data_ring_remove(dr, r, o->key, part, ids[h], c[h].ts);
		if (rc < 0) {
			fprintf(stderr, "repair: %s: the copy on handoff %s stays: "
				"%s\n", o->key, devname(r, ids[h], dn, sizeof(dn)),
				rc == -EEXIST ? "a newer copy is there"
					      : strerror(-rc));
			st->failed++;
		} else {
			st->hremoved++;
		}
	}
}

/* A delete that missed a primary (a hint row): put its tombstone where it
 * is missing; the hint goes once every primary has it. */
struct hintwalk {
	struct data_ring *dr;
	int dry;
	struct rstats *st;
};

static int hint_one(void *arg, const char *key, uint64_t size,
		    const char *del_ts)
{
	struct hintwalk *hw = arg;
	struct ringref *rr = data_ring_hold(hw->dr);
	const struct ring *r = data_ring_held(rr);
	uint32_t ids[64], part = data_ring_part(hw->dr, r, key);
	struct data_ring_copy c[64];
	int nprim, n = data_ring_devices(r, part, ids, 64, &nprim,
					 (int)r->nrows);

	(void)size;
	hw->st->hints++;
	data_ring_probe(hw->dr, r, key, part, ids, n, NULL, 0, 0, c);
	/* a copy newer than the delete (the key written again) stays */
	int left = propagate_delete(hw->dr, r, key, part, ids, nprim, n, c,
				    del_ts, hw->dry, hw->st);
	if (!hw->dry && !left && data_ring_hint_done(hw->dr, key) < 0)
		left = 1;
	if (left)
		hw->st->hints_left++;
	data_ring_release(hw->dr, rr);
	return 0;
}

static const char repair_usage[] =
	"usage: cassafs repair [--quick] [--dry-run] [--keep-handoffs] [--prefix P] URL\n"
	"\n"
	"Give every object of a ring data tier (URL ring:///PATH/object.ring.gz)\n"
	"R good replicas where the ring says: a copy missing (device lost or\n"
	"replaced) or bad (MD5 or size wrong) is restored from a good one; for\n"
	"a device that does not answer, a handoff device gets the copy.\n"
	"\n"
	"  --quick     HEAD each copy (ETag and size) instead of reading it\n"
	"  --dry-run   say what would be restored, change nothing\n"
	"  --keep-handoffs  leave copies on handoffs once the primaries hold\n"
	"              the object (for Swift's object-replicator to clean up)\n"
	"  --prefix P  only objects whose key starts with P\n"
	"Progress goes to stderr.  Exit status: 0 every object has R good\n"
	"copies (some perhaps on handoffs), 1 some could not be restored,\n"
	"2 usage or the tier cannot be opened.\n";

int cmd_repair(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"dry-run", no_argument, NULL, 'n'},
		{"keep-handoffs", no_argument, NULL, 'k'},
		{"prefix", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	int verify = 1, dry = 0, ch, r;
	const char *prefix = "";
	char err[1024];
	struct data_ring *dr;
	struct data_ring_objs l = {0};
	struct rstats st = {0};

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'q')
			verify = 0;
		else if (ch == 'n')
			dry = 1;
		else if (ch == 'p')
			prefix = optarg;
		else if (ch == 'k')
			keep_handoffs = 1;
		else if (ch == 'h') {
			fputs(repair_usage, stdout);
			return 0;
		} else {
			fputs(repair_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(repair_usage, stderr);
		return 2;
	}
	const char *url = argv[optind];
	if (strncmp(url, "ring:", 5)) {
		fprintf(stderr, "cassafs repair: %s: only ring:// data tiers are "
			"repaired (others keep no replicas of their own)\n", url);
		return 2;
	}
	if (data_ring_open(url, &dr, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs repair: %s\n", err);
		return 2;
	}
	r = data_ring_collect(dr, prefix, &l);
	if (r < 0) {
		fprintf(stderr, "cassafs repair: cannot list the objects of %s: %s%s\n",
			url, strerror(-r), r == -EOPNOTSUPP ?
			" (no container ring: the tier keeps no listing)" : "");
		data_ring_close(dr);
		data_ring_objs_free(&l);
		return 2;
	}
	struct data_ring_progress pr;
	data_ring_progress_start(&pr);
	for (size_t i = 0; i < l.n; i++) {
		/* the ring in force for each object: a rebalance during the
		 * repair is followed */
		struct ringref *rr = data_ring_hold(dr);
		repair_one(dr, data_ring_held(rr), &l.v[i], verify, dry, &st);
		data_ring_release(dr, rr);
		if (data_ring_progress_due(&pr, i + 1 == l.n))
			fprintf(stderr, "%srepair: %zu/%zu objects checked, %llu "
				"replicas restored (%llu from handoffs), %llu on "
				"handoffs, %llu handoff copies removed, %llu "
				"deleted copies removed, %llu failed%s",
				data_ring_progress_lead(&pr), i + 1, l.n,
				(unsigned long long)st.restored,
				(unsigned long long)st.home,
				(unsigned long long)st.on_handoff,
				(unsigned long long)st.hremoved,
				(unsigned long long)st.deletes,
				(unsigned long long)(st.failed + st.lost),
				data_ring_progress_tail(&pr));
	}
	if (pr.tty && l.n)
		fputc('\n', stderr);
	/* deletes that missed a primary */
	struct hintwalk hw = {dr, dry, &st};
	r = data_ring_list_hints(dr, hint_one, &hw);
	if (r < 0 && r != -EOPNOTSUPP) {
		fprintf(stderr, "cassafs repair: cannot list the delete hints of "
			"%s: %s\n", url, strerror(-r));
		st.failed++;
	}
	if (st.hints)
		fprintf(stderr, "repair: %llu deletes that missed a device "
			"looked at, %llu copies deleted, %llu still missed\n",
			(unsigned long long)st.hints,
			(unsigned long long)st.deletes,
			(unsigned long long)st.hints_left);
	printf("repair: %llu objects, %llu good replicas found, %llu restored, "
	       "%llu placed on handoffs (%llu replicas on devices that did not "
	       "answer), %llu brought home from handoffs, %llu handoff copies "
	       "removed, %llu deleted copies removed (%llu deletes still "
	       "pending), %llu failed, %llu objects with no good copy "
	       "(%.1f s)\n",
	       (unsigned long long)st.objects, (unsigned long long)st.good,
	       (unsigned long long)st.restored,
	       (unsigned long long)st.on_handoff, (unsigned long long)st.down,
	       (unsigned long long)st.home, (unsigned long long)st.hremoved,
	       (unsigned long long)st.deletes,
	       (unsigned long long)st.hints_left,
	       (unsigned long long)st.failed, (unsigned long long)st.lost,
	       data_ring_progress_elapsed(&pr));
	data_ring_close(dr);
	data_ring_objs_free(&l);
	return st.failed || st.lost ? 1 : 0;
}

/* ---- status ---- */

struct tally {
	struct data_ring *dr;
	const struct ring *r;
	uint64_t *objs, *bytes, n, total;
};

static int tally_one(void *arg, const char *key, uint64_t size,
		     const char *etag)
{
	struct tally *t = arg;
	uint32_t ids[64];
	int nprim;
	data_ring_devices(t->r, data_ring_part(t->dr, t->r, key), ids, 64,
			  &nprim, 0);
	for (int i = 0; i < nprim; i++) {
		t->objs[ids[i]]++;
		t->bytes[ids[i]] += size;
	}
	t->n++;
	t->total += size;
	return 0;
}

json_t *data_ring_status_json(const char *url, char *err, size_t err_len)
{
	struct data_ring *dr;
	json_t *o = NULL, *devs;
	if (data_ring_open(url, &dr, err, err_len) < 0)
		return NULL;
	struct ringref *rr = data_ring_hold(dr);
	const struct ring *r = data_ring_held(rr);
	struct tally t = {dr, r, calloc(r->ndevs + 1, 8), calloc(r->ndevs + 1, 8)};
	uint64_t *parts = ring_dev_parts(r);
	if (!t.objs || !t.bytes || !parts) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	int lr = data_ring_list_all(dr, "", tally_one, &t);
	double tw = ring_total_weight(r);
	o = json_pack("{s:s, s:i, s:f, s:i, s:f}", "tier", url,
		      "part_power", (json_int_t)r->part_power,
		      "replicas", r->replicas,
		      "partitions", (json_int_t)ring_partitions(r),
		      "balance", ring_balance(r));
	if (!o)
		goto out;
	if (lr < 0) {
		json_object_set_new(o, "objects", json_null());
		json_object_set_new(o, "listing_error", json_string(strerror(-lr)));
	} else {
		json_object_set_new(o, "objects", json_integer((json_int_t)t.n));
		json_object_set_new(o, "bytes", json_integer((json_int_t)t.total));
	}
	devs = json_array();
	for (uint32_t i = 0; i < r->ndevs; i++) {
		const struct ring_dev *d = &r->devs[i];
		if (!d->present)
			continue;
		int st = data_ring_dev_check(dr, r, i);
		json_t *dj = json_pack("{s:i, s:i, s:i, s:s, s:i, s:s, s:f, s:I, s:f, s:s}",
			"id", (int)i, "region", d->region, "zone", d->zone,
			"ip", d->ip, "port", d->port, "device", d->device,
			"weight", d->weight, "partitions", (json_int_t)parts[i],
			"balance", ring_dev_balance(r, d, parts[i], tw),
			"state", st == 0 ? "up" : st == -ENODEV ? "missing" : "down");
		if (!dj)
			continue;
		json_object_set_new(dj, "objects", lr < 0 ? json_null()
				    : json_integer((json_int_t)t.objs[i]));
		json_object_set_new(dj, "bytes", lr < 0 ? json_null()
				    : json_integer((json_int_t)t.bytes[i]));
		json_array_append_new(devs, dj);
	}
	json_object_set_new(o, "devices", devs);
out:
	free(t.objs);
	free(t.bytes);
	free(parts);
	data_ring_release(dr, rr);
	data_ring_close(dr);
	return o;
}

void data_ring_status_print(const json_t *st, FILE *out)
{
	size_t i;
	json_t *d;
	const json_t *objs = json_object_get(st, "objects");
	fprintf(out, "data tier    %s\n", json_string_value(json_object_get(st, "tier")));
	fprintf(out, "ring         part power %lld, %.2f replicas, balance %.2f\n",
		(long long)json_integer_value(json_object_get(st, "part_power")),
		json_real_value(json_object_get(st, "replicas")),
		json_real_value(json_object_get(st, "balance")));
	if (json_is_integer(objs))
		fprintf(out, "objects      %lld (%lld bytes)\n",
			(long long)json_integer_value(objs),
			(long long)json_integer_value(json_object_get(st, "bytes")));
	else
		fprintf(out, "objects      unknown (%s)\n",
			json_string_value(json_object_get(st, "listing_error")));
	fprintf(out, "%4s %6s %4s %-22s %-10s %8s %10s %8s %10s %14s %s\n", "id",
		"region", "zone", "address", "device", "weight", "partitions",
		"balance", "objects", "bytes", "state");
	json_array_foreach(json_object_get(st, "devices"), i, d) {
		char addr[300];
		snprintf(addr, sizeof(addr), "%s:%lld",
			 json_string_value(json_object_get(d, "ip")),
			 (long long)json_integer_value(json_object_get(d, "port")));
		fprintf(out, "%4lld %6lld %4lld %-22s %-10s %8.2f %10lld %8.2f %10lld %14lld %s\n",
			(long long)json_integer_value(json_object_get(d, "id")),
			(long long)json_integer_value(json_object_get(d, "region")),
			(long long)json_integer_value(json_object_get(d, "zone")),
			addr, json_string_value(json_object_get(d, "device")),
			json_real_value(json_object_get(d, "weight")),
			(long long)json_integer_value(json_object_get(d, "partitions")),
			json_real_value(json_object_get(d, "balance")),
			(long long)json_integer_value(json_object_get(d, "objects")),
			(long long)json_integer_value(json_object_get(d, "bytes")),
			json_string_value(json_object_get(d, "state")));
	}
}
