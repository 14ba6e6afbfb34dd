/*
 * data_probe.c — drives one data-tier engine from commands on stdin, one
 * per line, for tests that change the server between calls (stop the
 * proxy, flush its tokens) and for bench/data_remote.sh:
 *
 *     data_probe [--prepare] DATA_URL
 *
 *   put KEY SIZE SEED            one object of SIZE pseudo-random bytes
 *   get KEY OFF LEN SEED         read and check against put's bytes
 *   del KEY
 *   list PREFIX                  prints count= and bytes=
 *   putn PREFIX N SIZE           a batch of N objects PREFIX0..N-1
 *   getn PREFIX N SIZE           a batch get of them, checked
 *
 * Each command prints one line "rc=R got=G ms=T" (R is 0 or -errno; G the
 * bytes read, or the count); putn and getn also print xfer_ms=, the time
 * of the transfer alone (without making or checking the bytes); data_open failing prints "open rc=R: reason"
 * and exits 1.  Credentials as for a mount: CASSAFS_DATA_SECRETS names a
 * secrets file, else the environment.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* byte i of object seed: cheap, position-dependent, seed-dependent */
static uint8_t pat(unsigned seed, uint64_t i)
{
	uint64_t x = (i / 8 + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xBF58476D1CE4E5B9ull;
	x ^= x >> 31;
	return (uint8_t)(x >> (8 * (i % 8)));
}

static void fill(uint8_t *p, size_t n, unsigned seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(seed, off + i);
}

static int same(const uint8_t *p, size_t n, unsigned seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(seed, off + i))
			return 0;
	return 1;
}

struct tally {
	unsigned long n;
	uint64_t bytes;
};

static int count_fn(void *arg, const char *key, uint64_t size)
{
	struct tally *t = arg;
	t->n++;
	t->bytes += size;
	return 0;
}

static double xfer_ms;

static int batch(struct data *d, int put, const char *prefix, size_t n,
		 size_t size, size_t *got_total)
{
	struct data_io *io = calloc(n, sizeof(*io));
	char (*keys)[DATA_MAX_KEY + 1] = calloc(n, sizeof(*keys));
	uint8_t *buf = malloc(n * size + 1);
	if (!io || !keys || !buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s%zu", prefix, i);
		io[i] = (struct data_io){.key = keys[i], .buf = buf + i * size,
					 .len = size};
		if (put)
			fill(buf + i * size, size, (unsigned)i, 0);
	}
	double t0 = now_ms();
	int r = put ? data_put_batch(d, io, n) : data_get_batch(d, io, n);
	xfer_ms = now_ms() - t0;
	*got_total = 0;
	for (size_t i = 0; i < n && !put; i++) {
		*got_total += io[i].got;
		if (!io[i].res && (io[i].got != size ||
				   !same(buf + i * size, size, (unsigned)i, 0))) {
			fprintf(stderr, "data_probe: %s: wrong contents\n", keys[i]);
			r = -EBADMSG;
		}
	}
	free(io);
	free(keys);
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	int prepare = argc > 2 && !strcmp(argv[1], "--prepare");
	if (argc != 2 + prepare) {
		fprintf(stderr, "usage: data_probe [--prepare] DATA_URL <commands\n");
		return 2;
	}
	const char *url = argv[1 + prepare];
	char err[1024] = "";
	struct data_opts o = {.secrets_file = getenv("CASSAFS_DATA_SECRETS")};
	struct data *d;
	double t0 = now_ms();
	int r = data_open(url, &o, &d, err, sizeof(err));
	if (r < 0) {
		printf("open rc=%d ms=%.0f: %s\n", r, now_ms() - t0, err);
		return 1;
	}
	if (prepare && (r = data_prepare(d, err, sizeof(err))) < 0) {
		printf("prepare rc=%d: %s\n", r, err);
		return 1;
	}
	printf("open rc=0 ms=%.0f\n", now_ms() - t0);
	fflush(stdout);
	char line[1024], cmd[16], key[DATA_MAX_KEY + 1];
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long long a = 0, b = 0, c = 0;
		size_t got = 0;
		key[0] = 0;
		int k = sscanf(line, "%15s %255s %llu %llu %llu", cmd, key, &a, &b, &c);
		if (k < 1)
			continue;
		t0 = now_ms();
		if (!strcmp(cmd, "put") && k == 4) {
			uint8_t *p = malloc(a ? a : 1);
			fill(p, a, (unsigned)b, 0);
			r = data_put(d, key, p, a);
			free(p);
		} else if (!strcmp(cmd, "get") && k == 5) {
			uint8_t *p = malloc(b ? b : 1);
			r = data_get(d, key, a, p, b, &got);
			if (!r && !same(p, got, (unsigned)c, a)) {
				fprintf(stderr, "data_probe: %s: wrong contents\n", key);
				r = -EBADMSG;
			}
			free(p);
		} else if (!strcmp(cmd, "del") && k == 2) {
			r = data_del(d, key);
		} else if (!strcmp(cmd, "list")) {
			struct tally t = {0};
			r = data_list(d, k >= 2 ? key : "", count_fn, &t);
			got = t.n;
			printf("count=%lu bytes=%llu ", t.n, (unsigned long long)t.bytes);
		} else if ((!strcmp(cmd, "putn") || !strcmp(cmd, "getn")) && k == 4) {
			r = batch(d, cmd[0] == 'p', key, a, b, &got);
			printf("xfer_ms=%.0f ", xfer_ms);
		} else {
			printf("bad command: %s", line);
			fflush(stdout);
			continue;
		}
		printf("rc=%d got=%zu ms=%.0f\n", r, got, now_ms() - t0);
		fflush(stdout);
	}
	data_close(d);
	return 0;
}
