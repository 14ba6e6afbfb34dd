/*
 * ring_builder.h — building a Swift-compatible ring: devices and weights,
 * rebalance with dispersion, overload, minimal movement and min_part_hours,
 * and our own builder file (format documented in docs/ring.md).
 */
#ifndef CASSAFS_RING_BUILDER_H
#define CASSAFS_RING_BUILDER_H

#include "ring.h"

struct ring_builder {
	struct ring *r;		/* devices, replicas, part power, table */
	unsigned min_part_hours;
	double overload;	/* a fraction: 0.1 = 10 % */
	uint8_t *last_part_moves;	/* hours since each partition moved */
	int64_t last_part_moves_epoch;	/* unix time the hours refer to */
	int devs_changed;	/* devices added/removed/reweighted since save */
	double last_balance, last_dispersion;	/* < 0: never rebalanced */
	uint32_t next_id;	/* lowest id never handed out */
};

struct ring_rebalance_result {
	uint64_t moved_slots;	/* part-replicas whose device changed */
	uint64_t reassigned;	/* moved + newly assigned part-replicas (what
				 * Swift reports as "Reassigned N partitions") */
	uint64_t changed_parts;	/* partitions with any changed replica */
	unsigned removed_devs;	/* devices drained and dropped */
	double balance, dispersion;
	double required_overload;
};

struct ring_builder *ring_builder_new(unsigned part_power, double replicas,
				      unsigned min_part_hours, char *err,
				      size_t errlen);
void ring_builder_free(struct ring_builder *b);

/* Add a device; d->id is used when id_given, else the next free id. */
int ring_builder_add_dev(struct ring_builder *b, const struct ring_dev *d,
			 int id_given, uint32_t *id_out, char *err,
			 size_t errlen);
int ring_builder_remove_dev(struct ring_builder *b, uint32_t id);
int ring_builder_set_weight(struct ring_builder *b, uint32_t id, double w);

/* Seconds until min_part_hours have passed since the last move. */
int64_t ring_builder_min_part_seconds_left(const struct ring_builder *b);
void ring_builder_pretend_min_part_hours_passed(struct ring_builder *b);

/* Rebalance.  Returns 0, or a negative errno with err filled (no weighted
 * devices, more replicas than devices, out of memory). */
int ring_builder_rebalance(struct ring_builder *b, uint64_t seed,
			   struct ring_rebalance_result *res, char *err,
			   size_t errlen);

/* Swift's "required overload": the overload at which every tier can hold
 * its dispersion-wanted share. */
double ring_builder_required_overload(const struct ring_builder *b);

/* Check the table: every slot assigned to a present device, no partition
 * twice on one device.  0 or -EINVAL with err filled. */
int ring_builder_validate(const struct ring_builder *b, char *err,
			  size_t errlen);

/* Builder file (ring_file.c): atomic save, load, in-memory parse. */
int ring_builder_save(const struct ring_builder *b, const char *path,
		      char *err, size_t errlen);
int ring_builder_load(const char *path, struct ring_builder **out, char *err,
		      size_t errlen);
int ring_builder_parse(const void *buf, size_t len, struct ring_builder **out,
		       char *err, size_t errlen);

/* Save with a copy kept in <dir>/backups/<unix-time>.<name>, as Swift's
 * swift-ring-builder does for create and rebalance. */
int ring_save_backup_copy(const char *path, char *err, size_t errlen);

#endif
