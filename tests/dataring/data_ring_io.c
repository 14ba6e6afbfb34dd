/*
 * data_ring_io — drives a data tier through data.h, for tests/t_data_ring.sh
 * (any engine's URL works; the tests use ring://).
 *
 *   data_ring_io URL prepare
 *   data_ring_io URL put KEY FILE          (FILE "-" is stdin)
 *   data_ring_io URL get KEY [OFF LEN]     (to stdout)
 *   data_ring_io URL del KEY
 *   data_ring_io URL list [PREFIX]         ("KEY SIZE" lines)
 *   data_ring_io URL workload SECONDS LOG [STOPFILE]  (writers and readers
 *        at once, for SECONDS or until STOPFILE exists; every acknowledged
 *        object goes to LOG as "KEY MD5 SIZE"; each read of an
 *        acknowledged object is checked; exit 1 on any failure)
 *   data_ring_io URL verify LOG            (every object of LOG reads back
 *        whole with its MD5; exit 1 otherwise)
 *   data_ring_io URL bench NOBJ SIZE BATCH TAG  (writes NOBJ objects of SIZE
 *        bytes, BATCH at a time through data_put_batch, reads them back
 *        the same way, deletes them; prints "write MiB/s read MiB/s")
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "data.h"

static struct data *D;

static void md5_hex(const void *buf, size_t len, char out[33])
{
	unsigned char dg[16];
	unsigned int dl;
	EVP_Digest(buf, len, dg, &dl, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", dg[i]);
}

static void *slurp(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, k;
	char *b = malloc(cap);
	while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	*len = n;
	return b;
}

/* ---- workload ---- */

#define MAXOBJ 100000
static struct obj {
	char key[64];
	char md5[33];
	size_t size;
} objs[MAXOBJ];
static int nobj;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *logf;
static volatile int stop;
static long writes, wfail, reads, rfail;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919 + getpid();
	long n = 0;
	while (!stop) {
		struct data_io io[4];
		char keys[4][64];
		size_t k = 0;
		for (; k < 4; k++) {
			size_t sz = 1 + rand_r(&seed) % (128 * 1024);
			unsigned char *b = malloc(sz);
			for (size_t i = 0; i < sz; i++)
				b[i] = (unsigned char)rand_r(&seed);
			snprintf(keys[k], 64, "w/%d-%lu-%ld", getpid(),
				 (unsigned long)(uintptr_t)arg, n++);
			io[k] = (struct data_io){.key = keys[k], .buf = b, .len = sz};
		}
		data_put_batch(D, io, k);
		pthread_mutex_lock(&mu);
		for (size_t i = 0; i < k; i++) {
			writes++;
			if (io[i].res < 0) {
				wfail++;
				fprintf(stderr, "put %s: %s\n", io[i].key,
					strerror(-io[i].res));
			} else if (nobj < MAXOBJ) {
				struct obj *o = &objs[nobj];
				snprintf(o->key, sizeof(o->key), "%s", io[i].key);
				md5_hex(io[i].buf, io[i].len, o->md5);
				o->size = io[i].len;
				fprintf(logf, "%s %s %zu\n", o->key, o->md5, o->size);
				fflush(logf);
				nobj++;
			}
			free(io[i].buf);
		}
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static int check_one(const struct obj *o)
{
	unsigned char *b = malloc(o->size + 1);
	size_t got = 0;
	char md5[33];
	int r = data_get(D, o->key, 0, b, o->size + 1, &got);
	if (r == 0) {
		md5_hex(b, got, md5);
		if (got != o->size || strcmp(md5, o->md5)) {
			fprintf(stderr, "get %s: %zu bytes, MD5 %s; expected %zu, %s\n",
				o->key, got, md5, o->size, o->md5);
			r = -EBADMSG;
		}
	} else {
		fprintf(stderr, "get %s: %s\n", o->key, strerror(-r));
	}
	free(b);
	return r;
}

static void *reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 104729;
	while (!stop) {
		struct obj o;
		pthread_mutex_lock(&mu);
		int n = nobj;
		if (n)
			o = objs[rand_r(&seed) % n];
		pthread_mutex_unlock(&mu);
		if (!n) {
			usleep(10000);
			continue;
		}
		int r = check_one(&o);
		pthread_mutex_lock(&mu);
		reads++;
		if (r < 0)
			rfail++;
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static int workload(double secs, const char *log, const char *stopfile)
{
	pthread_t t[4];
	if (!(logf = fopen(log, "a"))) {
		perror(log);
		return 2;
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, writer, (void *)(uintptr_t)i);
	for (int i = 2; i < 4; i++)
		pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)i);
	double end = now() + secs;
	while (now() < end && !(stopfile && access(stopfile, F_OK) == 0))
		usleep(50000);
	stop = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	fclose(logf);
	printf("writes %ld failed %ld reads %ld failed %ld\n", writes, wfail,
	       reads, rfail);
	return wfail || rfail || !reads ? 1 : 0;
}

static int verify(const char *log)
{
	FILE *f = fopen(log, "r");
	struct obj o;
	long n = 0, bad = 0;
	if (!f) {
		perror(log);
		return 2;
	}
	while (fscanf(f, "%63s %32s %zu", o.key, o.md5, &o.size) == 3) {
		n++;
		if (check_one(&o) < 0)
			bad++;
	}
	fclose(f);
	printf("verified %ld objects, %ld bad\n", n, bad);
	return bad || !n ? 1 : 0;
}

static int bench(int nobj, size_t size, int batch, const char *tag)
{
	unsigned char *buf = malloc(size * batch);
	struct data_io *io = calloc(batch, sizeof(*io));
	char (*keys)[64] = calloc(batch, 64);
	double t, tw = 0, tr = 0;
	int bad = 0;
	for (size_t i = 0; i < size * batch; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	for (int pass = 0; pass < 3; pass++) {
		for (int i = 0; i < nobj; i += batch) {
			int k = nobj - i < batch ? nobj - i : batch;
			for (int j = 0; j < k; j++) {
				snprintf(keys[j], 64, "bench/%s-%d-%d", tag,
					 getpid(), i + j);
				io[j] = (struct data_io){.key = keys[j],
					.buf = buf + j * size, .len = size};
			}
			t = now();
			int r = pass == 0 ? data_put_batch(D, io, k)
			      : pass == 1 ? data_get_batch(D, io, k) : 0;
			if (pass == 2)
				for (int j = 0; j < k; j++)
					r |= data_del(D, keys[j]);
			t = now() - t;
			if (pass == 0)
				tw += t;
			else if (pass == 1)
				tr += t;
			for (int j = 0; j < k && pass == 1; j++)
				if (io[j].got != size)
					r = -EIO;
			if (r)
				bad++;
		}
	}
	double mib = (double)nobj * size / 1048576.0;
	printf("write %.1f read %.1f failures %d\n", mib / tw, mib / tr, bad);
	free(buf);
	free(io);
	free(keys);
	return bad ? 1 : 0;
}

static int print_entry(void *arg, const char *key, uint64_t size)
{
	printf("%s %llu\n", key, (unsigned long long)size);
	return 0;
}

int main(int argc, char **argv)
{
	char err[512];
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: data_ring_io URL prepare|put|get|del|"
			"list|workload|verify ...\n");
		return 2;
	}
	if ((r = data_open(argv[1], NULL, &D, err, sizeof(err))) < 0) {
		fprintf(stderr, "data_ring_io: %s\n", err);
		return 2;
	}
	const char *cmd = argv[2];
	int rc = 0;
	if (!strcmp(cmd, "prepare")) {
		err[0] = 0;
		if ((r = data_prepare(D, err, sizeof(err))) < 0) {
			fprintf(stderr, "prepare: %s (%s)\n", strerror(-r), err);
			rc = 1;
		}
	} else if (!strcmp(cmd, "put") && argc == 5) {
		FILE *f = strcmp(argv[4], "-") ? fopen(argv[4], "rb") : stdin;
		size_t len;
		void *b = f ? slurp(f, &len) : NULL;
		if (!b) {
			perror(argv[4]);
			return 2;
		}
		if ((r = data_put(D, argv[3], b, len)) < 0) {
			fprintf(stderr, "put %s: %s\n", argv[3], strerror(-r));
			rc = 1;
		}
		free(b);
	} else if (!strcmp(cmd, "get") && (argc == 4 || argc == 6)) {
		uint64_t off = argc == 6 ? strtoull(argv[4], NULL, 10) : 0;
		size_t len = argc == 6 ? strtoull(argv[5], NULL, 10) : 64 << 20;
		void *b = malloc(len ? len : 1);
		size_t got = 0;
		if ((r = data_get(D, argv[3], off, b, len, &got)) < 0) {
			fprintf(stderr, "get %s: %s\n", argv[3], strerror(-r));
			rc = 1;
		} else {
			fwrite(b, 1, got, stdout);
		}
		free(b);
	} else if (!strcmp(cmd, "del") && argc == 4) {
		if ((r = data_del(D, argv[3])) < 0) {
			fprintf(stderr, "del %s: %s\n", argv[3], strerror(-r));
			rc = 1;
		}
	} else if (!strcmp(cmd, "list") && argc <= 4) {
		if ((r = data_list(D, argc == 4 ? argv[3] : "", print_entry,
				   NULL)) < 0) {
			fprintf(stderr, "list: %s\n", strerror(-r));
			rc = 1;
		}
	} else if (!strcmp(cmd, "workload") && (argc == 5 || argc == 6)) {
		rc = workload(atof(argv[3]), argv[4], argc == 6 ? argv[5] : NULL);
	} else if (!strcmp(cmd, "bench") && argc == 7) {
		rc = bench(atoi(argv[3]), strtoull(argv[4], NULL, 10),
			   atoi(argv[5]) > 0 ? atoi(argv[5]) : 1, argv[6]);
	} else if (!strcmp(cmd, "verify") && argc == 4) {
		rc = verify(argv[3]);
	} else {
		fprintf(stderr, "data_ring_io: bad command\n");
		rc = 2;
	}
	data_close(D);
	return rc;
}
