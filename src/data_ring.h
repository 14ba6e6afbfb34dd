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
enum { DR_GOOD, DR_MISSING, DR_BAD, DR_DOWN };
struct data_ring_copy {
	uint32_t dev;
	int state;		/* DR_* */
	long http;		/* last HTTP status, 0 if none */
	char ts[64];		/* X-Timestamp of the copy (DR_GOOD, DR_BAD) */
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
		     const char *key, uint32_t part, uint32_t dev);
#endif
