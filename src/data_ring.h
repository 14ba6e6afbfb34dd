/*
 * data_ring.h — what the ring data engine (data_ring.c) offers its own
 * tools beyond data.h: `cassafs repair` and the per-device status view
 * (ring_repair.c) need to see replicas one by one.  Nothing above data.h
 * uses this header.
 */
#ifndef CASSAFS_DATA_RING_H
#define CASSAFS_DATA_RING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct ring;
struct data_ring;

/* Open a ring:// URL as a tool (the same parsing as data_open). */
int data_ring_open(const char *url, struct data_ring **out, char *err,
		   size_t err_len);
void data_ring_close(struct data_ring *dr);

/* The object ring in force (reloaded when its file changed), held until
 * data_ring_release. */
struct ringref;
struct ringref *data_ring_hold(struct data_ring *dr);
const struct ring *data_ring_held(const struct ringref *rr);
void data_ring_release(struct data_ring *dr, struct ringref *rr);
/* When the held ring's file was last changed (CLOCK_REALTIME s). */
double data_ring_held_mtime(const struct ringref *rr);
/* How long after the ring file changes a put may still use the ring from
 * before, in a process opened with the same URL options (s). */
double data_ring_put_bound(const struct data_ring *dr, const struct ring *r);
/* Partition of a key in ring r. */
uint32_t data_ring_part(struct data_ring *dr, const struct ring *r,
			const char *key);
/* Primaries of a partition, then up to nhand handoffs; returns the count
 * (*nprim the primaries). */
int data_ring_devices(const struct ring *r, uint32_t part, uint32_t *ids,
		      int max, int *nprim, int nhand);

/* Every listed object (container listing, all container replicas merged):
 * name, size and MD5 (hex) as the object servers reported them. */
typedef int (*data_ring_list_fn)(void *arg, const char *key, uint64_t size,
				 const char *etag);
int data_ring_list_all(struct data_ring *dr, const char *prefix,
		       data_ring_list_fn fn, void *arg);

/* The listing collected in memory (repair and move walk it while the
 * listing may change). */
struct data_ring_obj {
	char *key;
	uint64_t size;
	char etag[40];
};
struct data_ring_objs {
	struct data_ring_obj *v;
	size_t n, cap;
};
int data_ring_collect(struct data_ring *dr, const char *prefix,
		      struct data_ring_objs *l);
void data_ring_objs_free(struct data_ring_objs *l);

/* Progress of a walk: a line is due every 0.5 s on a terminal, every 5 s
 * otherwise, and after the last item. */
struct data_ring_progress {
	double t0, last;
	int tty;
};
void data_ring_progress_start(struct data_ring_progress *p);
int data_ring_progress_due(struct data_ring_progress *p, int last_item);
/* "\r" on a terminal (the line is rewritten), "" otherwise; and the end */
const char *data_ring_progress_lead(const struct data_ring_progress *p);
const char *data_ring_progress_tail(const struct data_ring_progress *p);
double data_ring_progress_elapsed(const struct data_ring_progress *p);

/* The state of one copy of an object on one device. */
enum { DR_GOOD, DR_MISSING, DR_BAD, DR_DOWN, DR_DELETED };
struct data_ring_copy {
	uint32_t dev;
	int state;		/* DR_*; DR_DELETED: a delete's tombstone */
	long http;		/* last HTTP status, 0 if none */
	char ts[64];		/* timestamp of the copy (DR_GOOD, DR_BAD) or of
				   the tombstone (DR_DELETED), Swift's internal
				   form (X-Backend-Timestamp) */
	uint64_t size;
};
/* Look at the copies of key on devs[0..n) in parallel: with verify, GET the
 * whole object and check its MD5 against etag (and the server's ETag);
 * else HEAD and compare ETag and size only. */
int data_ring_probe(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, const uint32_t *devs,
		    int n, const char *etag, uint64_t size, int verify,
		    struct data_ring_copy *out);
/* GET the whole object from one device (buf malloc'ed, MD5 checked
 * against etag when given); ts gets its X-Timestamp. */
int data_ring_fetch(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, uint32_t dev,
		    const char *etag, void **buf, size_t *len, char ts[64]);
/* PUT a copy to one device with the given X-Timestamp and the container
 * update headers of replica slot `slot`. */
int data_ring_store(struct data_ring *dr, const struct ring *r,
		    const char *key, uint32_t part, uint32_t dev, int slot,
		    const void *buf, size_t len, const char *ts);
/* Is the device's object server answering for that device?  0 yes,
 * -EHOSTDOWN no answer, -ENODEV the server says the device is missing
 * (507). */
int data_ring_dev_check(struct data_ring *dr, const struct ring *r,
			uint32_t dev);



/* ---- ring_repair.c ---- */
/* The per-device view of a ring tier (docs/ring.md, "Status"): a JSON
 * object for `cassafs status` (NULL on error, err says why); objects and
 * bytes per device count the listed objects the ring places there. */
json_t *data_ring_status_json(const char *url, char *err, size_t err_len);
/* The same as text. */
void data_ring_status_print(const json_t *st, FILE *out);
/* DELETE the copy on one device only (a tombstone there, newer than the
 * data), without touching the container listing: the mover's "remove the
 * old copy".  A missing copy is not an error. */
int data_ring_remove(struct data_ring *dr, const struct ring *r,
		     const char *key, uint32_t part, uint32_t dev,
		     const char *copy_ts);
/* copy_ts is the removed copy's timestamp: the tombstone is stamped with
 * it and an offset that marks a removal (data_ring_ts_removal), so it is
 * newer than that copy (a newer copy there stays: -EEXIST) and never reads
 * as a delete of the object.  Removal tombstones count as no copy. */

/* Propagate a delete: DELETE on one device with the delete's own
 * timestamp (-EEXIST: the device holds something newer), with the
 * container update headers of replica slot `slot` (slot < 0: none). */
int data_ring_delete_copy(struct data_ring *dr, const struct ring *r,
			  const char *key, uint32_t part, uint32_t dev,
			  int slot, const char *del_ts);

/* Swift timestamps (internal form, with offsets): <0, 0, >0 like strcmp;
 * a missing or unparsable one is older than any. */
int data_ring_ts_cmp(const char *a, const char *b);
/* Is ts the tombstone of a removed copy (not of a delete)? */
int data_ring_ts_is_removal(const char *ts);
void data_ring_ts_removal(const char *ts, char *out, size_t len);
void data_ring_ts_bump(const char *ts, char *out, size_t len);

/* Delete hints (deletes that missed a primary): each hinted key, with the
 * delete's timestamp in the etag argument; and the hint's removal once
 * every primary holds the tombstone. */
int data_ring_list_hints(struct data_ring *dr, data_ring_list_fn fn,
			 void *arg);
int data_ring_hint_done(struct data_ring *dr, const char *key);
/* Remove key's row from every replica of the container listing, as of
 * the delete at del_ts (a replica that missed the delete's update). */
int data_ring_unlist(struct data_ring *dr, const char *key,
		     const char *del_ts);
#endif
