/*
 * metrics.c — the counters behind metrics.h.  Relaxed atomics: a scrape
 * may see a count without its latency sum for a moment, which no reader of
 * rates and percentiles notices.
 */
#include <string.h>
#include <time.h>

#include "metrics.h"

const char *const metrics_op_names[MOP_COUNT] = {
	"init", "destroy", "lookup", "forget", "forget_multi", "getattr",
	"setattr", "readlink", "mknod", "mkdir", "symlink", "link", "unlink",
	"rmdir", "rename", "open", "create", "read", "write", "flush",
	"release", "fsync", "opendir", "readdir", "readdirplus", "releasedir",
	"fsyncdir", "statfs", "setxattr", "getxattr", "listxattr",
	"removexattr", "access", "fallocate", "getlk", "setlk", "flock",
};

const char *const metrics_counter_names[MC_COUNT] = {
	"read_bytes_total", "written_bytes_total",
	"store_read_transactions_total", "store_write_transactions_total",
	"store_conflicts_total", "store_failed_transactions_total",
	"store_round_trips_total", "notices_sent_total",
	"notices_received_total", "notices_lost_total",
	"coordinator_session_events_total", "store_write_conflicts_total",
	"data_gets_total", "data_get_bytes_total", "read_cache_hits_total",
	"read_cache_misses_total", "read_cache_dropped_total",
};

const char *const metrics_gauge_names[MG_COUNT] = {
	"coordinator_session_state", "open_handles", "dirty_bytes",
	"read_cache_bytes", "read_cache_files",
};

const char *const metrics_gauge_help[MG_COUNT] = {
	"ZooKeeper session: 1 connected, 0 connecting, -1 expired or refused.",
	"Open files and directories.",
	"Write buffers (whole blocks) holding data not yet committed to the store, in bytes.",
	"Bytes the local read cache (-o cache_dir) holds on disk.",
	"Object copies the local read cache holds.",
};

const char *const metrics_counter_help[MC_COUNT] = {
	"Bytes returned by FUSE read requests.",
	"Bytes accepted by FUSE write requests.",
	"Read-only store transactions run (each retry counts).",
	"Read-write store transactions run (each retry counts).",
	"Store transactions run again because another writer conflicted.",
	"Store transactions whose commit failed (not counting conflicts).",
	"Round trips to the store server (pipelines to Redis).",
	"Change notices published for other mounts.",
	"Change notices from other mounts applied to this mount's caches.",
	"Times notices were missed, so every cache was dropped.",
	"Coordinator session state changes (connect, loss, expiry).",
	"Read-write store transactions run again after a conflict (of store_conflicts_total).",
	"Object reads (ranged gets) sent to the data tier.",
	"Bytes the data tier returned to object reads.",
	"Object reads served from the local read cache (-o cache_dir).",
	"Object reads the local read cache could not serve (sent to the tier).",
	"Read cache copies dropped because they failed their check (length, CRC).",
};

const uint64_t metrics_bucket_ns[METRICS_BUCKETS - 1] = {
	10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000, 25000000, 50000000, 100000000, 250000000,
	500000000, 1000000000,
};

static struct metrics_snapshot live;
static int enabled;
static __thread int cur_op = MOP_COUNT;

void metrics_enable(void)
{
	enabled = 1;
	/* kept from the start even while 0 */
	live.gauge_set[MG_OPEN_HANDLES] = live.gauge_set[MG_DIRTY_BYTES] = 1;
}

int metrics_enabled(void)
{
	return enabled;
}

uint64_t metrics_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void observe(struct metrics_op_stat *s, uint64_t ns);

void metrics_op_done(enum metrics_op op, uint64_t ns)
{
	observe(&live.op[op], ns);
}

void metrics_op_begin(enum metrics_op op)
{
	cur_op = op;
}

void metrics_round_trip(uint64_t ns)
{
	observe(&live.round_trip, ns);
	__atomic_fetch_add(&live.op_round_trips[cur_op], 1, __ATOMIC_RELAXED);
	metrics_add(MC_ROUND_TRIPS, 1);
}

static void observe(struct metrics_op_stat *s, uint64_t ns)
{
	int b = 0;
	while (b < METRICS_BUCKETS - 1 && ns > metrics_bucket_ns[b])
		b++;
	__atomic_fetch_add(&s->count, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->sum_ns, ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->bucket[b], 1, __ATOMIC_RELAXED);
}

void metrics_add(enum metrics_counter c, uint64_t n)
{
	__atomic_fetch_add(&live.counter[c], n, __ATOMIC_RELAXED);
}

void metrics_gauge_set(enum metrics_gauge g, int64_t v)
{
	__atomic_store_n(&live.gauge[g], v, __ATOMIC_RELAXED);
	__atomic_store_n(&live.gauge_set[g], 1, __ATOMIC_RELAXED);
}

void metrics_gauge_add(enum metrics_gauge g, int64_t delta)
{
	__atomic_fetch_add(&live.gauge[g], delta, __ATOMIC_RELAXED);
}

void metrics_snapshot(struct metrics_snapshot *out)
{
	const uint64_t *src = (const uint64_t *)&live;
	uint64_t *dst = (uint64_t *)out;
	for (size_t i = 0; i < sizeof(live) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
