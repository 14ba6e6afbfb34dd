/*
 * metrics.h — process-wide counters and latency histograms, lock-free
 * (relaxed atomic adds), read by the metrics HTTP endpoint
 * (metrics_http.c) and `cassafs stats`.
 *
 * Counting is always on for the plain counters (an atomic add each); the
 * per-request timing in the FUSE adapter is installed only when a mount
 * serves metrics (metrics_enable before fuse_ll_mount).
 */
#ifndef CASSAFS_METRICS_H
#define CASSAFS_METRICS_H

#include <stdint.h>

/* FUSE request types (names in metrics_op_names, Prometheus label op=) */
enum metrics_op {
	MOP_INIT, MOP_DESTROY, MOP_LOOKUP, MOP_FORGET, MOP_FORGET_MULTI,
	MOP_GETATTR, MOP_SETATTR, MOP_READLINK, MOP_MKNOD, MOP_MKDIR,
	MOP_SYMLINK, MOP_LINK, MOP_UNLINK, MOP_RMDIR, MOP_RENAME, MOP_OPEN,
	MOP_CREATE, MOP_READ, MOP_WRITE, MOP_FLUSH, MOP_RELEASE, MOP_FSYNC,
	MOP_OPENDIR, MOP_READDIR, MOP_READDIRPLUS, MOP_RELEASEDIR,
	MOP_FSYNCDIR, MOP_STATFS, MOP_SETXATTR, MOP_GETXATTR, MOP_LISTXATTR,
	MOP_REMOVEXATTR, MOP_ACCESS, MOP_FALLOCATE, MOP_GETLK, MOP_SETLK,
	MOP_FLOCK,
	MOP_COUNT
};
extern const char *const metrics_op_names[MOP_COUNT];

/* Plain counters */
enum metrics_counter {
	MC_READ_BYTES,     /* bytes returned by read requests */
	MC_WRITE_BYTES,    /* bytes accepted by write requests */
	MC_TXN_READ,       /* read-only store transactions run */
	MC_TXN_WRITE,      /* read-write store transactions run */
	MC_TXN_CONFLICT,   /* transactions run again after a conflict */
	MC_TXN_FAILED,     /* transactions that ended in an error */
	MC_ROUND_TRIPS,    /* requests to a store server answered (Redis) */
	MC_NOTICES_SENT,   /* change notices published to other mounts */
	MC_NOTICES_RECEIVED, /* change notices from other mounts applied */
	MC_NOTICES_LOST,   /* times notices were missed: every cache dropped */
	MC_COORD_SESSION_EVENTS, /* coordinator session state changes */
	MC_TXN_WRITE_CONFLICT, /* of MC_TXN_CONFLICT: read-write ones */
	MC_DATA_GETS,      /* object reads sent to the data tier */
	MC_DATA_GET_BYTES, /* bytes they returned */
	MC_CACHE_HITS,     /* object reads served by the local read cache */
	MC_CACHE_MISSES,   /* object reads the read cache could not serve */
	MC_CACHE_DROPPED,  /* read cache copies that failed their check */
	MC_COUNT
};
extern const char *const metrics_counter_names[MC_COUNT];
extern const char *const metrics_counter_help[MC_COUNT];

/* Gauges: exported only once set */
enum metrics_gauge {
	MG_COORD_SESSION, /* 1 connected, 0 connecting, -1 expired / refused */
	MG_OPEN_HANDLES,  /* open files and directories (vfs) */
	MG_DIRTY_BYTES,   /* bytes written but not yet committed (vfs) */
	MG_CACHE_BYTES,   /* bytes the local read cache holds (data_cache) */
	MG_CACHE_FILES,   /* copies it holds */
	MG_COUNT
};
extern const char *const metrics_gauge_names[MG_COUNT];
extern const char *const metrics_gauge_help[MG_COUNT];

/* Latency buckets: upper bounds in ns; the last bucket is +Inf. */
#define METRICS_BUCKETS 17
extern const uint64_t metrics_bucket_ns[METRICS_BUCKETS - 1];

struct metrics_op_stat {
	uint64_t count, sum_ns;
	uint64_t bucket[METRICS_BUCKETS]; /* not cumulative */
};

struct metrics_snapshot {
	struct metrics_op_stat op[MOP_COUNT];
	struct metrics_op_stat round_trip;
	/* store round trips made while serving each request type; the last
	 * slot counts those made outside any request (keepers, notices) */
	uint64_t op_round_trips[MOP_COUNT + 1];
	uint64_t counter[MC_COUNT];
	int64_t gauge[MG_COUNT];
	uint64_t gauge_set[MG_COUNT];
};

void metrics_enable(void);
int metrics_enabled(void);
void metrics_op_done(enum metrics_op op, uint64_t ns);
/* The calling thread now serves a request of type op (MOP_COUNT: none),
 * so that the store's round trips are counted against it. */
void metrics_op_begin(enum metrics_op op);
/* One round trip to a store server took ns (counts MC_ROUND_TRIPS and
 * the round trips of the request the thread serves). */
void metrics_round_trip(uint64_t ns);
void metrics_add(enum metrics_counter c, uint64_t n);
void metrics_gauge_set(enum metrics_gauge g, int64_t v);
void metrics_gauge_add(enum metrics_gauge g, int64_t delta);
void metrics_snapshot(struct metrics_snapshot *out);
uint64_t metrics_now_ns(void);

/* Replace every handler in a struct fuse_lowlevel_ops with one that times
 * it (metrics_fuse.c); the struct is passed as void * so that this header
 * needs no FUSE include. */
void metrics_wrap_fuse_ops(void *fuse_lowlevel_ops);

#endif
