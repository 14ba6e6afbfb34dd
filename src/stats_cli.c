/*
 * stats_cli.c — `cassafs stats MOUNTPOINT`: live per-operation counters of
 * a mount, read from its metrics endpoint (-o metrics=…) with libcurl,
 * one table per interval (like `juicefs stats`).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "metrics_http.h"

static const char stats_usage[] =
	"usage: cassafs stats [--interval S] [--count N] [--json] MOUNTPOINT\n"
	"\n"
	"Show a mount's live per-operation counters: every interval, each FUSE\n"
	"operation's requests per second and mean latency in that interval,\n"
	"and the bytes read and written and store transactions per second.\n"
	"The mount must serve metrics: mount with -o metrics=127.0.0.1:PORT\n"
	"(port 0 picks a free one).\n"
	"\n"
	"  -i, --interval S  seconds between samples (1)\n"
	"  -c, --count N     stop after N intervals (default: until interrupted)\n"
	"  --json            print the mount's raw figures once, as JSON\n"
	"  -h, --help        show this help\n";

struct buf {
	char *p;
	size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	char *p = realloc(b->p, b->len + size * n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, data, size * n);
	b->p = p;
	b->len += size * n;
	b->p[b->len] = 0;
	return size * n;
}

static json_t *fetch(CURL *curl, const char *url, char *err, size_t err_len)
{
	struct buf b = {0};
	char cerr[CURL_ERROR_SIZE] = "";
	long code = 0;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	CURLcode rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	json_t *o = NULL;
	if (rc != CURLE_OK)
		snprintf(err, err_len, "cannot read %s: %s", url,
			 cerr[0] ? cerr : curl_easy_strerror(rc));
	else if (code != 200)
		snprintf(err, err_len, "%s answered HTTP %ld", url, code);
	else if (!(o = json_loads(b.p ? b.p : "", 0, NULL)))
		snprintf(err, err_len, "%s did not answer JSON", url);
	free(b.p);
	return o;
}

static uint64_t num(json_t *o, const char *path1, const char *path2)
{
	json_t *j = json_object_get(o, path1);
	if (path2)
		j = json_object_get(j, path2);
	return json_is_integer(j) ? (uint64_t)json_integer_value(j) : 0;
}

static void print_interval(json_t *now, json_t *old, double dt)
{
	json_t *ops = json_object_get(now, "ops"), *oops = json_object_get(old, "ops");
	const char *k;
	json_t *v;
	printf("%-14s %10s %12s %12s %12s\n", "operation", "per second",
	       "mean latency", "round trips", "total");
	int any = 0;
	json_object_foreach(ops, k, v) {
		uint64_t c = num(v, "count", NULL), s = num(v, "sum_ns", NULL);
		json_t *ov = json_object_get(oops, k);
		uint64_t oc = num(ov, "count", NULL), os = num(ov, "sum_ns", NULL);
		uint64_t rt = num(v, "round_trips", NULL),
			 ort = num(ov, "round_trips", NULL);
		if (c == oc)
			continue;
		any = 1;
		/* store round trips per request in the interval */
		printf("%-14s %10.1f %9.3f ms %12.2f %12llu\n", k,
		       (double)(c - oc) / dt,
		       (double)(s - os) / (double)(c - oc) / 1e6,
		       (double)(rt - ort) / (double)(c - oc),
		       (unsigned long long)c);
	}
	if (!any)
		printf("%-14s\n", "(idle)");
	printf("%-14s %10.2f MiB/s read, %.2f MiB/s written\n", "data",
	       (double)(num(now, "counters", "read_bytes_total") -
			num(old, "counters", "read_bytes_total")) / dt / (1 << 20),
	       (double)(num(now, "counters", "written_bytes_total") -
			num(old, "counters", "written_bytes_total")) / dt / (1 << 20));
	printf("%-14s %10.1f /s, %.1f conflicts/s\n\n", "store txns",
	       (double)(num(now, "counters", "store_read_transactions_total") +
			num(now, "counters", "store_write_transactions_total") -
			num(old, "counters", "store_read_transactions_total") -
			num(old, "counters", "store_write_transactions_total")) / dt,
	       (double)(num(now, "counters", "store_conflicts_total") -
			num(old, "counters", "store_conflicts_total")) / dt);
	fflush(stdout);
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	double interval = 1;
	long count = -1;
	int json = 0, ch;
	char *end;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "i:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.1 && interval <= 3600)) {
				fprintf(stderr, "cassafs stats: bad interval '%s' "
						"(0.1 to 3600 seconds)\n", optarg);
				return 2;
			}
			break;
		case 'c':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "cassafs stats: bad count '%s'\n", optarg);
				return 2;
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return 0;
		default:
			fputs(stats_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(stats_usage, stderr);
		return 2;
	}
	char mp[PATH_MAX], file[PATH_MAX], addr[128], url[256], err[1024];
	if (!realpath(argv[optind], mp)) {
		fprintf(stderr, "cassafs stats: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	metrics_addr_file(mp, file, sizeof(file));
	FILE *f = fopen(file, "r");
	if (!f || !fgets(addr, sizeof(addr), f)) {
		fprintf(stderr, "cassafs stats: %s has no metrics endpoint (no %s): "
				"is it a CassaFS mount made with -o metrics=127.0.0.1:PORT?\n",
			mp, file);
		if (f)
			fclose(f);
		return 1;
	}
	fclose(f);
	addr[strcspn(addr, "\n")] = 0;
	snprintf(url, sizeof(url), "http://%s/stats.json", addr);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *curl = curl_easy_init();
	int code = 1;
	json_t *old = curl ? fetch(curl, url, err, sizeof(err)) : NULL;
	if (!old)
		goto fail;
	if (json) {
		json_dumpf(old, stdout, JSON_INDENT(2));
		putchar('\n');
		code = 0;
		goto out;
	}
	printf("%s (%s), every %g s\n\n",
	       mp, json_string_value(json_object_get(old, "filesystem")), interval);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; count < 0 || i < count; i++) {
		usleep((useconds_t)(interval * 1e6));
		json_t *now = fetch(curl, url, err, sizeof(err));
		if (!now)
			goto fail;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double dt = (double)(t1.tv_sec - t0.tv_sec) +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		print_interval(now, old, dt > 0 ? dt : interval);
		json_decref(old);
		old = now;
		t0 = t1;
	}
	code = 0;
	goto out;
fail:
	fprintf(stderr, "cassafs stats: %s\n", err);
out:
	json_decref(old);
	if (curl)
		curl_easy_cleanup(curl);
	curl_global_cleanup();
	return code;
}
