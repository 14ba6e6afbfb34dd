/*
 * store_probe.c — a small driver for the store failure tests
 * (tests/t_store_redis.sh), usable against any engine:
 *
 *   store_probe URL open        open (creating) the store; on failure print
 *                               the error and exit 1
 *   store_probe URL loop SECS   increment one counter with read-modify-write
 *                               transactions for SECS seconds, printing one
 *                               line per operation: "T_MS RC DUR_MS VALUE"
 *                               (T since start, RC 0 or -errno)
 *   store_probe URL get         print the counter
 *   store_probe URL fill        write 1 MiB blocks until an error; print it
 *   store_probe URL stall N     one increment (fills the pool), print
 *                               "ready", wait for a line on stdin, then N
 *                               threads each try one increment at once;
 *                               prints "RC DUR_MS" per thread and
 *                               "max DUR_MS" (how long the slowest waited)
 *
 * Exit status 0 when the command worked.  It prints no RESULT line: the
 * script that runs it does the checking.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One increment; returns 0 or -errno, *val = the value written. */
static int incr(struct store *s, long long *val)
{
	struct store_txn *t;
	int r = store_txn_begin(s, 0, &t);
	if (r)
		return r;
	const void *v;
	size_t vl;
	long long cur = 0;
	r = store_get(t, STORE_SUPER, 9, "probe", 5, &v, &vl);
	if (r == 0 && vl == 8)
		cur = (long long)store_get_be64(v);
	else if (r && r != -ENOENT)
		goto fail;
	uint8_t b[8];
	store_be64(b, (uint64_t)(cur + 1));
	if ((r = store_put(t, STORE_SUPER, 9, "probe", 5, b, 8)))
		goto fail;
	*val = cur + 1;
	return store_commit(t);
fail:
	store_abort(t);
	return r;
}

struct staller {
	struct store *s;
	int rc;
	double ms;
};

static void *stall_one(void *arg)
{
	struct staller *w = arg;
	long long val;
	double a = now_ms();
	w->rc = incr(w->s, &val);
	w->ms = now_ms() - a;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s URL open|loop SECS|get|fill\n", argv[0]);
		return 2;
	}
	char err[1024] = "";
	struct store *s;
	int r = store_open(argv[1], STORE_CREATE, &s, err, sizeof(err));
	if (r) {
		fprintf(stderr, "store_probe: %s\n", err);
		return 1;
	}
	int rc = 0;
	if (!strcmp(argv[2], "open")) {
		printf("opened %s\n", s->url);
	} else if (!strcmp(argv[2], "get")) {
		struct store_txn *t;
		const void *v;
		size_t vl;
		r = store_txn_begin(s, STORE_RDONLY, &t);
		if (!r) {
			r = store_get(t, STORE_SUPER, 9, "probe", 5, &v, &vl);
			if (r == 0)
				printf("%lld\n", (long long)store_get_be64(v));
			store_abort(t);
		}
		if (r) {
			fprintf(stderr, "store_probe: get: %s\n", strerror(-r));
			rc = 1;
		}
	} else if (!strcmp(argv[2], "loop") && argc > 3) {
		double start = now_ms(), secs = atof(argv[3]);
		setvbuf(stdout, NULL, _IOLBF, 0);
		while (now_ms() - start < secs * 1000) {
			double a = now_ms();
			long long val = 0;
			int tries = 0;
			/* retried as meta.c's run_txn does (backoff growing
			 * to 5 ms, 1,000 attempts): a slot being migrated
			 * answers TRYAGAIN/ASK (-EAGAIN) until the move ends */
			while ((r = incr(s, &val)) == -EAGAIN && ++tries < 1000) {
				if (tries > 2)
					usleep(tries < 50 ? tries * 100 : 5000);
				else
					sched_yield();
			}
			double b = now_ms();
			printf("%.0f %d %.0f %lld\n", a - start, r, b - a, r ? -1 : val);
			usleep(50000);
		}
	} else if (!strcmp(argv[2], "stall") && argc > 3) {
		int n = atoi(argv[3]);
		long long val;
		char line[16];
		struct staller w[64];
		pthread_t th[64];
		if (n < 1 || n > 64 || (r = incr(s, &val))) {
			fprintf(stderr, "store_probe: stall: %s\n", strerror(-r));
			rc = 1;
		} else {
			printf("ready\n");
			fflush(stdout);
			if (!fgets(line, sizeof(line), stdin))
				rc = 1;
			double max = 0;
			for (int i = 0; i < n; i++) {
				w[i].s = s;
				pthread_create(&th[i], NULL, stall_one, &w[i]);
			}
			for (int i = 0; i < n; i++) {
				pthread_join(th[i], NULL);
				printf("%d %.0f\n", w[i].rc, w[i].ms);
				if (w[i].ms > max)
					max = w[i].ms;
			}
			printf("max %.0f\n", max);
		}
	} else if (!strcmp(argv[2], "fill")) {
		/* 1 MiB values, one per transaction, until an error (at most
		 * 1 GiB): prints the error code */
		size_t len = STORE_MAX_VALUE;
		uint8_t *buf = calloc(1, len);
		r = buf ? 0 : -ENOMEM;
		for (uint64_t i = 0; i < 1024 && !r; i++) {
			struct store_txn *t;
			uint8_t col[8];
			store_be64(col, i);
			memset(buf, (int)i, len);
			if ((r = store_txn_begin(s, 0, &t)))
				break;
			if ((r = store_put(t, STORE_BLOCK, 9, col, 8, buf, len))) {
				store_abort(t);
				break;
			}
			r = store_commit(t);
		}
		printf("%d\n", r);
		free(buf);
	} else {
		fprintf(stderr, "store_probe: unknown command '%s'\n", argv[2]);
		rc = 2;
	}
	store_close(s);
	return rc;
}
