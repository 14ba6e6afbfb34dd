/*
 * data_conformance.c — every promise of src/data.h, checked against one
 * data-tier engine named by a URL:
 *
 *     data_conformance DATA_URL [STORE_URL]
 *
 * STORE_URL is the metadata store the `store` engine keeps its objects in
 * (a scratch lmdb:// directory); other engines ignore it.  Everything the
 * program writes is under one prefix of its own ("conf-PID-TIME/"), and it
 * deletes what it wrote, so it can run against a shared container or
 * bucket.  Credentials come as for a mount (CASSAFS_DATA_SECRETS names a
 * secrets file, else the environment).  Nothing here asks which engine
 * it talks to.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data.h"
#include "store.h"
#include "test.h"

static struct data *d;
static char pfx[64];

static const char *K(const char *name)
{
	static __thread char buf[8][DATA_MAX_KEY + 1];
	static __thread int i;
	char *b = buf[i++ % 8];
	snprintf(b, DATA_MAX_KEY + 1, "%s%s", pfx, name);
	return b;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

static void check_missing_and_small(void)
{
	uint8_t buf[64];
	size_t got = 99;
	CHECK_EQ(data_get(d, K("none"), 0, buf, sizeof(buf), &got), -ENOENT);
	CHECK_EQ(data_del(d, K("none")), 0);

	const char *msg = "hello, immutable world";
	size_t n = strlen(msg);
	CHECK_EQ(data_put(d, K("small"), msg, n), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(data_get(d, K("small"), 0, buf, n, &got), 0);
	CHECK_EQ(got, n);
	CHECK(!memcmp(buf, msg, n), "contents differ");
	/* a range inside */
	CHECK_EQ(data_get(d, K("small"), 7, buf, 9, &got), 0);
	CHECK_EQ(got, 9);
	CHECK(!memcmp(buf, msg + 7, 9), "range differs");
	/* a short read at the end */
	CHECK_EQ(data_get(d, K("small"), n - 5, buf, 50, &got), 0);
	CHECK_EQ(got, 5);
	CHECK(!memcmp(buf, msg + n - 5, 5), "tail differs");
	/* at and past the end: nothing, no error */
	CHECK_EQ(data_get(d, K("small"), n, buf, 10, &got), 0);
	CHECK_EQ(got, 0);
	CHECK_EQ(data_get(d, K("small"), n + 1000, buf, 10, &got), 0);
	CHECK_EQ(got, 0);

	/* an empty object exists and reads nothing */
	CHECK_EQ(data_put(d, K("empty"), "", 0), 0);
	got = 99;
	CHECK_EQ(data_get(d, K("empty"), 0, buf, 10, &got), 0);
	CHECK_EQ(got, 0);

	/* a key with slashes, dots, plus and percent signs is kept as is */
	const char *odd = K(".a/b+c%d/.e");
	CHECK_EQ(data_put(d, odd, "x", 1), 0);
	CHECK_EQ(data_get(d, odd, 0, buf, 1, &got), 0);
	CHECK(got == 1 && buf[0] == 'x', "odd key");

	/* bad keys are refused */
	CHECK_EQ(data_put(d, "", "x", 1), -EINVAL);
	CHECK_EQ(data_put(d, K("has space"), "x", 1), -EINVAL);
	char longkey[DATA_MAX_KEY + 20];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = 0;
	CHECK_EQ(data_put(d, longkey, "x", 1), -EINVAL);

	CHECK_EQ(data_del(d, K("small")), 0);
	CHECK_EQ(data_get(d, K("small"), 0, buf, 1, &got), -ENOENT);
	CHECK_EQ(data_del(d, K("small")), 0);
}

static void check_large(void)
{
	size_t n = 3 * 1024 * 1024 + 17;
	uint8_t *a = malloc(n), *b = malloc(n);
	fill(a, n, 7);
	size_t got = 0;
	CHECK_EQ(data_put(d, K("large"), a, n), 0);
	memset(b, 0, n);
	CHECK_EQ(data_get(d, K("large"), 0, b, n, &got), 0);
	CHECK_EQ(got, n);
	CHECK(!memcmp(a, b, n), "large object differs");
	/* ranges across any internal part boundary */
	uint64_t offs[] = {0, 1, 65535, 262143, 262144, 1048575, 2097152 + 3,
			   n - 4096, n - 1};
	for (size_t i = 0; i < sizeof(offs) / sizeof(*offs); i++) {
		size_t want = 300000;
		size_t exp = offs[i] + want > n ? n - offs[i] : want;
		CHECK_EQ(data_get(d, K("large"), offs[i], b, want, &got), 0);
		CHECK_EQ(got, exp);
		CHECK(!memcmp(a + offs[i], b, exp), "range at %llu differs",
		      (unsigned long long)offs[i]);
	}
	/* a second put of the same key (smaller) replaces it whole */
	CHECK_EQ(data_put(d, K("large"), "short", 5), 0);
	memset(b, 0, 16);
	CHECK_EQ(data_get(d, K("large"), 0, b, n, &got), 0);
	CHECK_EQ(got, 5);
	CHECK(!memcmp(b, "short", 5), "replaced object differs");
	CHECK_EQ(data_del(d, K("large")), 0);
	free(a);
	free(b);
}

struct seen {
	int n;
	uint64_t bytes;
	int bad;
	int stop_after;
};

static int count_fn(void *arg, const char *key, uint64_t size)
{
	struct seen *s = arg;
	if (strncmp(key, pfx, strlen(pfx)))
		s->bad++;
	s->n++;
	s->bytes += size;
	if (s->stop_after && s->n == s->stop_after)
		return 42;
	return 0;
}

static void check_list(void)
{
	char name[64];
	uint64_t total = 0;
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "l/a/%03d", i);
		CHECK_EQ(data_put(d, K(name), name, (size_t)i), 0);
		total += (uint64_t)i;
	}
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "l/b/%03d", i);
		CHECK_EQ(data_put(d, K(name), "bb", 2), 0);
	}
	struct seen s = {0};
	CHECK_EQ(data_list(d, K("l/a/"), count_fn, &s), 0);
	CHECK_EQ(s.n, 20);
	CHECK_EQ(s.bytes, total);
	CHECK_EQ(s.bad, 0);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(data_list(d, K("l/b/"), count_fn, &s), 0);
	CHECK_EQ(s.n, 5);
	CHECK_EQ(s.bytes, 10);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(data_list(d, K("l/"), count_fn, &s), 0);
	CHECK_EQ(s.n, 25);
	memset(&s, 0, sizeof(s));
	CHECK_EQ(data_list(d, K("l/c"), count_fn, &s), 0);
	CHECK_EQ(s.n, 0);
	/* a callback's positive answer stops the listing and is returned */
	memset(&s, 0, sizeof(s));
	s.stop_after = 3;
	CHECK_EQ(data_list(d, K("l/"), count_fn, &s), 42);
	CHECK_EQ(s.n, 3);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "l/a/%03d", i);
		CHECK_EQ(data_del(d, K(name)), 0);
	}
	memset(&s, 0, sizeof(s));
	CHECK_EQ(data_list(d, K("l/"), count_fn, &s), 0);
	CHECK_EQ(s.n, 5);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "l/b/%03d", i);
		CHECK_EQ(data_del(d, K(name)), 0);
	}
}

static void check_batches(void)
{
	enum { N = 16, SZ = 100000 };
	struct data_io io[N + 1];
	char keys[N + 1][DATA_MAX_KEY + 1];
	uint8_t *src = malloc((size_t)N * SZ), *dst = malloc((size_t)(N + 1) * SZ);
	fill(src, (size_t)N * SZ, 3);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%sb/%02d", pfx, i);
		io[i] = (struct data_io){keys[i], src + (size_t)i * SZ,
					 SZ - (size_t)i, 0, 0, 1};
	}
	CHECK_EQ(data_put_batch(d, io, N), 0);
	for (int i = 0; i < N; i++)
		CHECK_EQ(io[i].res, 0);
	/* get a range of each, plus one missing key */
	for (int i = 0; i < N; i++)
		io[i] = (struct data_io){keys[i], dst + (size_t)i * SZ, 5000,
					 (uint64_t)i * 1000, 0, 1};
	snprintf(keys[N], sizeof(keys[N]), "%sb/missing", pfx);
	io[N] = (struct data_io){keys[N], dst + (size_t)N * SZ, 10, 0, 0, 1};
	CHECK_EQ(data_get_batch(d, io, N + 1), -ENOENT);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(io[i].res, 0);
		CHECK_EQ(io[i].got, 5000);
		CHECK(!memcmp(dst + (size_t)i * SZ,
			      src + (size_t)i * SZ + (size_t)i * 1000, 5000),
		      "batch get %d differs", i);
	}
	CHECK_EQ(io[N].res, -ENOENT);
	/* a short read inside a batch */
	io[0] = (struct data_io){keys[0], dst, 50, SZ - 20, 0, 1};
	CHECK_EQ(data_get_batch(d, io, 1), 0);
	CHECK_EQ(io[0].got, 20);
	for (int i = 0; i < N; i++)
		CHECK_EQ(data_del(d, keys[i]), 0);
	free(src);
	free(dst);
}

struct worker {
	int id, errors;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t a[20000], b[20000];
	char key[DATA_MAX_KEY + 1];
	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "%st/%d/%d", pfx, w->id, i);
		fill(a, sizeof(a), (unsigned)(w->id * 100 + i));
		size_t got = 0;
		if (data_put(d, key, a, sizeof(a)) ||
		    data_get(d, key, 0, b, sizeof(b), &got) ||
		    got != sizeof(a) || memcmp(a, b, sizeof(a)) ||
		    data_del(d, key))
			w->errors++;
	}
	return NULL;
}

static void check_threads(void)
{
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){i, 0};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(w[i].errors, 0);
	}
}

static int del_fn(void *arg, const char *key, uint64_t size)
{
	data_del(d, key);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: data_conformance DATA_URL [STORE_URL]\n");
		return 2;
	}
	char err[512] = "";
	struct store *st = NULL;
	if (argc > 2) {
		store_destroy(argv[2], err, sizeof(err));
		int r = store_open(argv[2], STORE_CREATE, &st, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
	}
	snprintf(pfx, sizeof(pfx), "conf-%d-%ld/", (int)getpid(),
		 (long)time(NULL));
	struct data_opts o = {.store = st,
			      .secrets_file = getenv("CASSAFS_DATA_SECRETS")};

	/* credentials in the URL are refused, whatever the engine */
	struct data *bad = NULL;
	CHECK_EQ(data_open("s3://key:secret@127.0.0.1:1/bucket", &o, &bad, err,
			   sizeof(err)), -EINVAL);
	CHECK(strstr(err, "secrets") != NULL, "message: %s", err);
	CHECK_EQ(data_open("nosuch:///x", &o, &bad, err, sizeof(err)), -EINVAL);

	int r = data_open(argv[1], &o, &d, err, sizeof(err));
	CHECK(r == 0, "data_open %s: %s", argv[1], err);
	if (r < 0)
		return test_done();
	CHECK(data_url(d) && !strncmp(data_url(d), argv[1], 4), "url");
	r = data_prepare(d, err, sizeof(err));
	CHECK(r == 0, "prepare: %s", err);
	r = data_prepare(d, err, sizeof(err));
	CHECK(r == 0, "second prepare: %s", err);

	check_missing_and_small();
	check_large();
	check_list();
	check_batches();
	check_threads();

	/* nothing of ours is left */
	data_list(d, pfx, del_fn, NULL);
	struct seen s = {0};
	CHECK_EQ(data_list(d, pfx, count_fn, &s), 0);
	CHECK_EQ(s.n, 0);
	data_close(d);
	if (st) {
		store_close(st);
		store_destroy(argv[2], err, sizeof(err));
	}
	return test_done();
}
