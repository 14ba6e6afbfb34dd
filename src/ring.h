/*
 * ring.h — a consistent-hashing ring compatible with OpenStack Swift 2.30.
 *
 * A ring maps a key (account[/container[/object]]) to a partition (the top
 * part_power bits of an MD5 of the path) and a partition to devices through
 * the replica → partition → device table ("device lookup table", u16 ids).
 * The device list is indexed by id; removed ids leave holes.
 *
 * Three pieces, all independent of the rest of CassaFS:
 *   ring.c          model, key → partition, primaries, handoffs, metrics
 *   ring_builder.c  the builder: devices, weights, rebalance, validate
 *   ring_file.c     Swift's R1NG v1 ring file and our builder file format
 *   ring_cli.c      `cassafs ring …`
 *
 * Errors are negative errno values; functions that can fail on user input
 * also fill a caller-supplied message buffer that names the object and the
 * cause.
 */
#ifndef CASSAFS_RING_H
#define CASSAFS_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_NONE_DEV      0xFFFFu	/* "unassigned" in the table */
#define RING_MAX_DEVS      65534u	/* ids 0..65533; 65535 is NONE */
#define RING_MAX_PART_POWER 32u
#define RING_MAX_REPLICAS  256.0	/* sanity bound for files and input */
#define RING_ERRLEN        512

struct ring_dev {
	int present;		/* 0: a hole left by a removed id */
	uint32_t id;
	int region, zone;
	char *ip;
	int port;
	char *repl_ip;
	int repl_port;
	char *device;
	double weight;
	char *meta;
	/* builder only: marked by `remove`, drained and dropped at rebalance */
	int removing;
};

struct ring {
	unsigned part_power;	/* partitions = 2^part_power */
	double replicas;	/* may be fractional; rows = ceil(replicas) */
	unsigned nrows;
	uint32_t *row_len;	/* entries in each row (last may be short) */
	uint16_t **rows;	/* rows[r][part] = device id */
	struct ring_dev *devs;	/* indexed by id */
	uint32_t ndevs;		/* length of devs, holes included */
	long long version;	/* -1 when unknown */
	int next_part_power;	/* -1 when no increase is in progress */
	/* Lookup bookkeeping (ring_update_bookkeeping), as Swift's Ring keeps:
	 * counts over devices that hold at least one partition. */
	unsigned num_regions, num_zones, num_ips, num_assigned_devs;
};

/* floor/ceil for the bounded values the ring uses (|x| < 2^62): the
 * project links without libm. */
static inline double ring_floor(double x)
{
	double t = (double)(long long)x;
	return t > x ? t - 1 : t;
}
static inline double ring_ceil(double x)
{
	double t = (double)(long long)x;
	return t < x ? t + 1 : t;
}

/* ---- model ---- */
struct ring *ring_new(unsigned part_power, double replicas);
void ring_free(struct ring *r);
void ring_dev_clear(struct ring_dev *d);
int ring_dev_copy(struct ring_dev *dst, const struct ring_dev *src);
/* Grow the device list so that id `id` exists (as a hole). */
int ring_reserve_dev(struct ring *r, uint32_t id);
uint64_t ring_partitions(const struct ring *r);
/* Total slots (Σ row lengths) and the replica count they represent. */
uint64_t ring_slots(const struct ring *r);
double ring_effective_replicas(const struct ring *r);
void ring_update_bookkeeping(struct ring *r);

/* ---- lookup ---- */
/* MD5(prefix "/" account ["/" container ["/" object]] suffix); -EINVAL when
 * an object is given without a container. */
int ring_hash_path(const char *prefix, const char *suffix, const char *account,
		   const char *container, const char *object,
		   unsigned char digest[16]);
uint32_t ring_part_from_digest(const unsigned char digest[16],
			       unsigned part_power);
int ring_get_part(const struct ring *r, const char *prefix, const char *suffix,
		  const char *account, const char *container,
		  const char *object, uint32_t *part);
/* Primary device ids of a partition in Swift's order; returns the count. */
int ring_part_nodes(const struct ring *r, uint32_t part, uint32_t *ids,
		    int max);
/* Handoff device ids in the order of Swift's Ring.get_more_nodes; returns
 * the count (at most max). Needs ring_update_bookkeeping() first. */
int ring_more_nodes(const struct ring *r, uint32_t part, uint32_t *ids,
		    int max);

/* ---- tiers and metrics ---- */
/* The tier tree region → zone → ip → device over present devices.  Nodes
 * of a level are contiguous; each device maps to its four tier nodes. */
struct ring_tier {
	int depth;		/* 0 root, 1 region, 2 zone, 3 ip, 4 device */
	int parent, first_child, nchild;
	int region, zone;
	const char *ip;
	uint32_t dev;		/* device id, depth 4 only */
	double weight;		/* Σ weight below */
	int weighted_devs;	/* devices with weight > 0 below */
	int weighted_children;	/* children with weighted devices */
	int max_replicas;	/* Swift's M(t); 0 for tiers without weight */
};
struct ring_tiers {
	struct ring_tier *t;
	int n;
	int32_t *dev_path;	/* dev_path[id*5 + depth] = node, -1 if absent */
	uint32_t ndevs;
};
int ring_tiers_build(const struct ring *r, struct ring_tiers *tt);
void ring_tiers_free(struct ring_tiers *tt);
const char *ring_tier_name(const struct ring_tiers *tt, int node, char *buf,
			   size_t len);

/* parts per device id (array of r->ndevs), or NULL on ENOMEM */
uint64_t *ring_dev_parts(const struct ring *r);
/* Swift's balance: max over devices of |100·parts/(weight·W1) − 100|. */
double ring_balance(const struct ring *r);
/* One device's balance; tw = ring_total_weight(r), passed in so that a
 * listing of n devices costs O(n). */
double ring_total_weight(const struct ring *r);
double ring_dev_balance(const struct ring *r, const struct ring_dev *d,
			uint64_t parts, double tw);
/* Swift's dispersion (percent of part-replicas at risk); optionally the
 * per-tier histogram hist[node*(maxrep+1) + n] = parts with n replicas in
 * the tier, with maxrep = number of rows. */
double ring_dispersion(const struct ring *r, const struct ring_tiers *tt,
		       uint64_t *hist);

/* The value of key in [section] of an ini file such as Swift's
 * /etc/swift/swift.conf (where the hash path prefix and suffix live), the
 * last one if repeated; malloc'ed, NULL if absent or unreadable. */
char *ring_conf_value(const char *path, const char *section, const char *key);

/* ---- ring file (Swift R1NG v1, gzip) ---- */
int ring_load(const char *path, struct ring **out, char *err, size_t errlen);
int ring_load_mem(const void *buf, size_t len, struct ring **out, char *err,
		  size_t errlen);
int ring_save(const struct ring *r, const char *path, char *err,
	      size_t errlen);

#endif
