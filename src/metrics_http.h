/*
 * metrics_http.h — a mount's metrics endpoint (libmicrohttpd):
 *   /metrics     Prometheus text format
 *   /stats.json  the same figures as JSON (for `cassafs stats` and the page)
 *   /            an HTML status page that refreshes itself
 */
#ifndef CASSAFS_METRICS_HTTP_H
#define CASSAFS_METRICS_HTTP_H

#include <stddef.h>

#include "coord.h"
#include "meta.h"

struct metrics_http;

/*
 * Serve on addr ("PORT" or "HOST:PORT"; HOST defaults to 127.0.0.1 and
 * must be a numeric IPv4 address) for the mount of m at mountpoint, and
 * record the address where `cassafs stats MOUNTPOINT` finds it.
 */
int metrics_http_start(const char *addr, struct meta *m, struct coord *c,
		       const char *mountpoint, struct metrics_http **out,
		       char *err, size_t err_len);
void metrics_http_stop(struct metrics_http *h);

/* Where a mount records its metrics address ("HOST:PORT\n"). */
void metrics_addr_file(const char *mountpoint, char *out, size_t len);

#endif
