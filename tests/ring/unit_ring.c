/*
 * unit_ring — the ring module without Swift: key → partition against the
 * vectors Swift computed (tests/ring/data), builder limits and errors,
 * rebalance properties (balance, dispersion, minimal and one-replica moves,
 * min_part_hours, draining, seeded reproducibility), file round trips and
 * every truncation / corruption of builder and ring files.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ring_builder.h"
#include "test.h"

/* CHECK(cond) without a message expands to an empty format string */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

static char tmpdir[] = "/tmp/unit_ring.XXXXXX";

static struct ring_dev mkdev(int region, int zone, const char *ip,
			     const char *name, double weight)
{
	struct ring_dev d = {0};

	d.region = region;
	d.zone = zone;
	d.ip = (char *)ip;
	d.port = 6200;
	d.repl_ip = (char *)ip;
	d.repl_port = 6200;
	d.device = (char *)name;
	d.meta = (char *)"";
	d.weight = weight;
	return d;
}

static int add(struct ring_builder *b, int region, int zone, const char *ip,
	       const char *name, double weight)
{
	struct ring_dev d = mkdev(region, zone, ip, name, weight);
	char err[RING_ERRLEN];
	uint32_t id;

	return ring_builder_add_dev(b, &d, 0, &id, err, sizeof(err));
}

/* ---- vectors computed by Swift's own Ring.get_part ---- */

static void test_vectors(const char *file)
{
	FILE *f = fopen(file, "r");
	char line[4096], prefix[64] = "", suffix[64] = "";
	unsigned pp = 0;
	int n = 0;

	CHECK(f != NULL, "cannot open %s", file);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "#prefix=", 8)) {
			sscanf(line, "#prefix='%63[^']' suffix='%63[^']' part_power=%u",
			       prefix, suffix, &pp);
			if (!strncmp(line, "#prefix=''", 10)) {
				prefix[0] = 0;
				sscanf(line, "#prefix='' suffix='%63[^']' part_power=%u",
				       suffix, &pp);
			}
			continue;
		}
		if (line[0] == '#' || !line[0])
			continue;
		char *path = strtok(line, "\t"), *md5 = strtok(NULL, "\t");
		char *part = strtok(NULL, "\t");
		char *a = path + 1, *c = strchr(a, '/'), *o = NULL;
		unsigned char dg[16];
		char hex[33];
		if (c) {
			*c++ = 0;
			if ((o = strchr(c, '/')))
				*o++ = 0;
		}
		CHECK_EQ(ring_hash_path(prefix, suffix, a, c, o, dg), 0);
		for (int i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", dg[i]);
		CHECK(!strcmp(hex, md5), "%s: md5 %s, Swift %s", a, hex, md5);
		CHECK_EQ(ring_part_from_digest(dg, pp), strtoul(part, NULL, 10));
		n++;
	}
	fclose(f);
	CHECK(n >= 30, "only %d vectors in %s", n, file);
}

static void test_hash_edges(void)
{
	unsigned char dg[16] = {0xde, 0xad, 0xbe, 0xef};

	CHECK_EQ(ring_part_from_digest(dg, 0), 0);
	CHECK_EQ(ring_part_from_digest(dg, 32), 0xdeadbeefu);
	CHECK_EQ(ring_part_from_digest(dg, 1), 1);
	CHECK_EQ(ring_part_from_digest(dg, 8), 0xde);
	CHECK_EQ(ring_hash_path("", "x", "a", NULL, "o", dg), -EINVAL);
	CHECK_EQ(ring_hash_path("", "x", NULL, NULL, NULL, dg), -EINVAL);
}

/* ---- builder limits ---- */

static void test_limits(void)
{
	char err[RING_ERRLEN];
	struct ring_builder *b;
	struct ring_rebalance_result res;

	CHECK(ring_builder_new(33, 3, 1, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "part power") != NULL, "message: %s", err);
	CHECK(ring_builder_new(10, 0.99, 1, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "replica") != NULL, "message: %s", err);
	CHECK(ring_builder_new(10, NAN, 1, err, sizeof(err)) == NULL);
	CHECK(ring_builder_new(10, 3, 256, err, sizeof(err)) == NULL);
	b = ring_builder_new(8, 3, 1, err, sizeof(err));
	CHECK(b != NULL);
	if (!b)
		return;
	/* empty ring */
	CHECK_EQ(ring_builder_rebalance(b, 1, &res, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no devices") != NULL, "message: %s", err);
	CHECK_EQ(ring_builder_validate(b, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "empty") != NULL, "message: %s", err);
	/* duplicates and bad values */
	CHECK_EQ(add(b, 1, 1, "10.0.0.1", "sdb", 100), 0);
	CHECK_EQ(add(b, 1, 1, "10.0.0.1", "sdb", 50), -EEXIST);
	CHECK_EQ(add(b, 1, 1, "10.0.0.1", "sdc", -1), -EINVAL);
	CHECK_EQ(add(b, 1, 1, "10.0.0.1", "sdc", INFINITY), -EINVAL);
	{
		struct ring_dev d = mkdev(1, 2, "10.0.0.2", "sdb", 1);
		d.id = 0;
		CHECK_EQ(ring_builder_add_dev(b, &d, 1, NULL, err, sizeof(err)),
			 -EEXIST);
		d.id = RING_MAX_DEVS;
		CHECK_EQ(ring_builder_add_dev(b, &d, 1, NULL, err, sizeof(err)),
			 -ERANGE);
	}
	/* more replicas than devices */
	CHECK_EQ(add(b, 1, 2, "10.0.0.2", "sdb", 100), 0);
	CHECK(ring_builder_rebalance(b, 1, &res, err, sizeof(err)) < 0);
	CHECK(strstr(err, "more replicas") != NULL, "message: %s", err);
	CHECK_EQ(ring_builder_remove_dev(b, 99), -ENOENT);
	CHECK_EQ(ring_builder_set_weight(b, 99, 1), -ENOENT);
	CHECK_EQ(ring_builder_set_weight(b, 0, -5), -EINVAL);
	ring_builder_free(b);

	/* the 65,534-device ceiling, filled directly (add is O(n) each) */
	b = ring_builder_new(8, 1, 1, err, sizeof(err));
	CHECK_EQ(ring_reserve_dev(b->r, RING_MAX_DEVS - 1), 0);
	CHECK_EQ(ring_reserve_dev(b->r, RING_MAX_DEVS), -ERANGE);
	for (uint32_t i = 0; i < RING_MAX_DEVS; i++) {
		b->r->devs[i].present = 1;
		b->r->devs[i].id = i;
		b->r->devs[i].region = (int)i;	/* keeps the dup scan cheap */
		b->r->devs[i].ip = strdup("10.9.9.9");
		b->r->devs[i].repl_ip = strdup("10.9.9.9");
		b->r->devs[i].device = strdup("d");
		b->r->devs[i].meta = strdup("");
	}
	CHECK_EQ(add(b, -1, 1, "10.0.0.1", "sdb", 1), -ENOSPC);
	ring_builder_free(b);
}

/* ---- rebalance properties ---- */

static struct ring_builder *scenario_b(unsigned pp, uint64_t seed)
{
	char err[RING_ERRLEN], ip[32];
	struct ring_builder *b = ring_builder_new(pp, 3, 1, err, sizeof(err));
	struct ring_rebalance_result res;
	static const char *names[] = {"sdb", "sdc", "sdd", "sde"};

	for (int r = 1; r <= 3; r++)
		for (int z = 1; z <= 3; z++)
			for (int s = 1; s <= 4; s++)
				for (int d = 0; d < 4; d++) {
					snprintf(ip, sizeof(ip), "10.%d.%d.%d", r, z, s);
					add(b, r, z, ip, names[d], d < 2 ? 100 : 200);
				}
	CHECK_EQ(ring_builder_rebalance(b, seed, &res, err, sizeof(err)), 0);
	return b;
}

static uint16_t **copy_rows(const struct ring *r)
{
	uint16_t **c = calloc(r->nrows, sizeof(*c));

	for (unsigned i = 0; i < r->nrows; i++) {
		c[i] = malloc((size_t)r->row_len[i] * 2);
		memcpy(c[i], r->rows[i], (size_t)r->row_len[i] * 2);
	}
	return c;
}

static void free_rows(uint16_t **c, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(c[i]);
	free(c);
}

/* Most slots of one partition that changed, ignoring slots whose old
 * device is in `gone` (removed devices may all move). */
static int max_moved_per_part(const struct ring *r, uint16_t **old,
			      uint64_t *moved, int gone)
{
	int worst = 0;

	*moved = 0;
	for (uint32_t p = 0; p < r->row_len[0]; p++) {
		int n = 0;
		for (unsigned i = 0; i < r->nrows; i++)
			if (p < r->row_len[i] && old[i][p] != r->rows[i][p]) {
				(*moved)++;
				n += old[i][p] != gone;
			}
		if (n > worst)
			worst = n;
	}
	return worst;
}

static void test_scenario_a(void)
{
	char err[RING_ERRLEN];
	struct ring_builder *b = ring_builder_new(10, 3, 1, err, sizeof(err));
	struct ring_rebalance_result res;
	uint64_t *parts;

	for (int z = 1; z <= 4; z++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.0.0.%d", z);
		add(b, 1, z, ip, "sdb", 100);
	}
	CHECK_EQ(ring_builder_rebalance(b, 1, &res, err, sizeof(err)), 0);
	CHECK_EQ(ring_builder_validate(b, err, sizeof(err)), 0);
	CHECK(res.balance < 1e-9, "balance %f", res.balance);
	CHECK(res.dispersion < 1e-9, "dispersion %f", res.dispersion);
	CHECK_EQ(res.changed_parts, 1024);
	parts = ring_dev_parts(b->r);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(parts[i], 768);
	free(parts);
	ring_builder_free(b);
}

static void test_scenario_e(void)
{
	char err[RING_ERRLEN];
	struct ring_builder *b = ring_builder_new(10, 3, 0, err, sizeof(err));
	struct ring_rebalance_result res;

	add(b, 1, 1, "10.0.0.1", "sdb", 100);
	add(b, 1, 2, "10.0.0.2", "sdb", 100);
	add(b, 1, 3, "10.0.0.3", "sdb", 100);
	add(b, 1, 3, "10.0.0.4", "sdb", 100);
	CHECK_EQ(ring_builder_rebalance(b, 1, &res, err, sizeof(err)), 0);
	/* Swift: overload 0 → balance 0, dispersion 16.67, needs 33.33 % */
	CHECK(res.balance < 1e-9, "balance %f", res.balance);
	CHECK(fabs(res.dispersion - 100.0 / 6) < 1e-6, "disp %f", res.dispersion);
	CHECK(fabs(res.required_overload - 1.0 / 3) < 1e-9, "req %f",
	      res.required_overload);
	CHECK(fabs(ring_builder_required_overload(b) - 1.0 / 3) < 1e-9);
	b->overload = 0.5;
	CHECK_EQ(ring_builder_rebalance(b, 1, &res, err, sizeof(err)), 0);
	CHECK(fabs(res.balance - 100.0 / 3) < 1e-6, "balance %f", res.balance);
	CHECK(res.dispersion < 1e-9, "disp %f", res.dispersion);
	CHECK_EQ(res.moved_slots, 512);
	CHECK_EQ(ring_builder_validate(b, err, sizeof(err)), 0);
	ring_builder_free(b);
}

static int same_table(const struct ring *a, const struct ring *b)
{
	if (a->nrows != b->nrows)
		return 0;
	for (unsigned i = 0; i < a->nrows; i++)
		if (a->row_len[i] != b->row_len[i] ||
		    memcmp(a->rows[i], b->rows[i], (size_t)a->row_len[i] * 2))
			return 0;
	return 1;
}

static void test_scenario_bc(void)
{
	char err[RING_ERRLEN];
	struct ring_builder *b = scenario_b(16, 42), *b2 = scenario_b(16, 42);
	struct ring_builder *b3 = scenario_b(16, 43);
	struct ring_rebalance_result res;
	uint16_t **old;
	uint64_t moved;
	double bal = ring_balance(b->r);

	CHECK(same_table(b->r, b2->r), "same seed gave different rings");
	CHECK(!same_table(b->r, b3->r), "different seeds gave the same ring");
	CHECK(bal <= 0.09 + 1e-9 && bal < 0.0855, "scenario b balance %f", bal);
	CHECK_EQ(ring_builder_validate(b, err, sizeof(err)), 0);
	{
		/* no lock-step placement: a device shares partitions with
		 * many devices of the other regions, not with two */
		unsigned char seen[144] = {0};
		int partners = 0;
		for (uint32_t p = 0; p < b->r->row_len[0]; p++)
			for (unsigned i = 0; i < 3; i++)
				if (b->r->rows[i][p] == 0)
					for (unsigned j = 0; j < 3; j++)
						seen[b->r->rows[j][p]] = 1;
		for (int d = 1; d < 144; d++)
			partners += seen[d];
		CHECK(partners >= 48, "device 0 has only %d partners", partners);
	}
	/* c: add a fifth server per region (zone 1) */
	old = copy_rows(b->r);
	for (int r = 1; r <= 3; r++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.%d.1.5", r);
		add(b, r, 1, ip, "sdb", 100);
		add(b, r, 1, ip, "sdc", 100);
		add(b, r, 1, ip, "sdd", 200);
		add(b, r, 1, ip, "sde", 200);
	}
	/* min_part_hours: everything moved less than an hour ago */
	CHECK_EQ(ring_builder_rebalance(b, 1, &res, err, sizeof(err)), 0);
	CHECK_EQ(res.moved_slots, 0);
	CHECK_EQ(res.changed_parts, 0);
	CHECK(ring_builder_min_part_seconds_left(b) > 3500);
	ring_builder_pretend_min_part_hours_passed(b);
	CHECK_EQ(ring_builder_min_part_seconds_left(b), 0);
	CHECK_EQ(ring_builder_rebalance(b, 1, &res, err, sizeof(err)), 0);
	CHECK(res.moved_slots > 15000 && res.moved_slots <= 15123,
	      "scenario c moved %llu", (unsigned long long)res.moved_slots);
	CHECK(res.balance <= 0.0947, "scenario c balance %f", res.balance);
	CHECK(res.dispersion < 1e-9, "scenario c dispersion %f", res.dispersion);
	CHECK_EQ(max_moved_per_part(b->r, old, &moved, -1), 1);
	CHECK_EQ(moved, res.moved_slots);
	CHECK_EQ(ring_builder_validate(b, err, sizeof(err)), 0);
	/* and the moved partitions are locked again */
	free_rows(old, b->r->nrows);
	old = copy_rows(b->r);
	b->r->devs[0].weight = 0;
	b->devs_changed = 1;
	CHECK_EQ(ring_builder_rebalance(b, 1, &res, err, sizeof(err)), 0);
	CHECK_EQ(max_moved_per_part(b->r, old, &moved, -1) <= 1, 1);
	{
		/* only partitions not moved in the last rebalance moved now */
		uint64_t *parts = ring_dev_parts(b->r);
		CHECK(parts[0] > 0, "locked partitions left d0 within the hour");
		free(parts);
	}
	free_rows(old, b->r->nrows);
	/* drain: zero weight and removal */
	old = copy_rows(b->r);
	CHECK_EQ(ring_builder_remove_dev(b, 7), 0);
	ring_builder_pretend_min_part_hours_passed(b);
	CHECK_EQ(ring_builder_rebalance(b, 5, &res, err, sizeof(err)), 0);
	CHECK_EQ(res.removed_devs, 1);
	CHECK(!b->r->devs[7].present, "removed device still listed");
	{
		uint64_t *parts = ring_dev_parts(b->r);
		CHECK_EQ(parts[0], 0);
		CHECK_EQ(parts[7], 0);
		free(parts);
	}
	CHECK_EQ(max_moved_per_part(b->r, old, &moved, 7), 1);
	CHECK_EQ(ring_builder_validate(b, err, sizeof(err)), 0);
	free_rows(old, b->r->nrows);
	ring_builder_free(b);
	ring_builder_free(b2);
	ring_builder_free(b3);
}

/* Random topologies and changes: every rebalance gives a valid table,
 * weights are honoured within a few partitions when dispersion allows,
 * and at most one replica of a partition moves (removed devices aside). */
static void test_random(void)
{
	uint64_t s = 12345;

	for (int t = 0; t < 40; t++) {
		char err[RING_ERRLEN];
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		unsigned pp = 4 + (unsigned)((s >> 33) % 7);
		double reps = 1 + (double)((s >> 40) % 4) +
			      ((s >> 50) % 3 == 0 ? 0.5 : 0);
		struct ring_builder *b = ring_builder_new(pp, reps, 1, err,
							  sizeof(err));
		struct ring_rebalance_result res;
		int ndev = 0;
		for (int i = 0; i < 6 + (int)((s >> 20) % 20); i++) {
			char ip[32], name[16];
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			snprintf(ip, sizeof(ip), "10.%d.0.%d", (int)((s >> 30) % 3),
				 (int)((s >> 35) % 4));
			snprintf(name, sizeof(name), "d%d", i);
			ndev += add(b, 1 + (int)((s >> 30) % 3),
				    1 + (int)((s >> 40) % 3), ip, name,
				    (double)(50 + (s >> 45) % 4 * 50)) == 0;
		}
		int rc = ring_builder_rebalance(b, s, &res, err, sizeof(err));
		if (reps > ndev) {
			CHECK(rc < 0, "%d devices, %g replicas accepted", ndev, reps);
			ring_builder_free(b);
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(ring_builder_validate(b, err, sizeof(err)), 0);
		if (rc == 0 && ring_builder_validate(b, err, sizeof(err)))
			fprintf(stderr, "topology %d: %s\n", t, err);
		for (int round = 0; round < 3; round++) {
			uint16_t **old = copy_rows(b->r);
			unsigned nrows = b->r->nrows;
			uint64_t moved;
			uint32_t victim = (uint32_t)((s >> 17) % b->r->ndevs);
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			int gone = -1;
			if (round == 0)
				ring_builder_set_weight(b, victim, 300);
			else if (round == 1)
				ring_builder_set_weight(b, victim, 0);
			else if (b->r->devs[victim].present) {
				ring_builder_remove_dev(b, victim);
				gone = (int)victim;
			}
			ring_builder_pretend_min_part_hours_passed(b);
			rc = ring_builder_rebalance(b, s, &res, err, sizeof(err));
			if (rc == 0) {
				CHECK_EQ(ring_builder_validate(b, err, sizeof(err)), 0);
				CHECK(max_moved_per_part(b->r, old, &moved, gone) <= 1,
				      "topology %d round %d moved 2 replicas", t, round);
			}
			free_rows(old, nrows);
		}
		ring_builder_free(b);
	}
}

/* ---- files ---- */

static void test_builder_file(void)
{
	char err[RING_ERRLEN], path[512];
	struct ring_builder *b = scenario_b(8, 9), *l = NULL;
	FILE *f;
	char *data;
	long len;

	b->overload = 0.125;
	free(b->r->devs[3].meta);
	b->r->devs[3].meta = strdup("rack 7, 100% \"odd\"\nmeta ü");
	snprintf(path, sizeof(path), "%s/x.builder", tmpdir);
	CHECK_EQ(ring_builder_save(b, path, err, sizeof(err)), 0);
	CHECK_EQ(ring_builder_load(path, &l, err, sizeof(err)), 0);
	if (!l)
		return;
	CHECK(same_table(b->r, l->r), "table differs after reload");
	CHECK_EQ(l->r->part_power, 8);
	CHECK(l->r->replicas == 3 && l->overload == 0.125);
	CHECK(!strcmp(l->r->devs[3].meta, b->r->devs[3].meta), "meta '%s'",
	      l->r->devs[3].meta);
	CHECK(!memcmp(l->last_part_moves, b->last_part_moves, 256));
	CHECK_EQ(l->r->ndevs, b->r->ndevs);
	CHECK(l->r->devs[143].weight == 200);
	CHECK_EQ(ring_save_backup_copy(path, err, sizeof(err)), 0);
	ring_builder_free(l);

	/* every truncation and every single-byte corruption is refused */
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	data = malloc(len);
	CHECK_EQ(fread(data, 1, len, f), len);
	fclose(f);
	int refused = 0, tries = 0;
	for (long n = 0; n < len; n += (n < 4096 ? 1 : 97)) {
		tries++;
		refused += ring_builder_parse(data, n, &l, err, sizeof(err)) < 0;
	}
	CHECK_EQ(refused, tries);
	refused = tries = 0;
	for (long i = 0; i < len; i += (i < 4096 ? 1 : 89)) {
		data[i] ^= 0x20;
		tries++;
		refused += ring_builder_parse(data, len, &l, err, sizeof(err)) < 0;
		data[i] ^= 0x20;
	}
	CHECK_EQ(refused, tries);
	CHECK_EQ(ring_builder_parse(data, len, &l, err, sizeof(err)), 0);
	ring_builder_free(l);
	free(data);
	CHECK(ring_builder_load("/nonexistent/x.builder", &l, err,
				sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "/nonexistent/x.builder") != NULL, "message %s", err);
	ring_builder_free(b);
}

static unsigned char *gz(const void *raw, size_t n, size_t *out, int gzip)
{
	z_stream z = {0};
	unsigned char *buf = malloc(n + 1024);

	deflateInit2(&z, 6, Z_DEFLATED, gzip ? 31 : 15, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (unsigned char *)raw;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)(n + 1024);
	deflate(&z, Z_FINISH);
	*out = z.total_out;
	deflateEnd(&z);
	return buf;
}

static void test_ring_file(void)
{
	char err[RING_ERRLEN], path[512];
	struct ring_builder *b = scenario_b(8, 9);
	struct ring *r = NULL;
	FILE *f;
	unsigned char *data;
	long len;

	snprintf(path, sizeof(path), "%s/x.ring.gz", tmpdir);
	CHECK_EQ(ring_save(b->r, path, err, sizeof(err)), 0);
	CHECK_EQ(ring_load(path, &r, err, sizeof(err)), 0);
	if (!r)
		return;
	CHECK(same_table(b->r, r), "ring table differs after reload");
	CHECK_EQ(r->ndevs, 144);
	CHECK(!strcmp(r->devs[5].ip, "10.1.1.2") && r->devs[5].port == 6200);
	CHECK(fabs(ring_balance(r) - ring_balance(b->r)) < 1e-12);
	/* handoffs: distinct, disjoint from primaries, all devices in total */
	{
		uint32_t ids[200];
		ring_update_bookkeeping(r);
		int n = ring_part_nodes(r, 17, ids, 3);
		int m = ring_more_nodes(r, 17, ids + n, 200 - n);
		CHECK_EQ(n, 3);
		CHECK_EQ(n + m, 144);
		int dup = 0;
		for (int i = 0; i < n + m; i++)
			for (int j = 0; j < i; j++)
				dup += ids[i] == ids[j];
		CHECK_EQ(dup, 0);
	}
	ring_free(r);

	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	data = malloc(len);
	CHECK_EQ(fread(data, 1, len, f), len);
	fclose(f);
	int refused = 0, tries = 0;
	for (long n = 0; n < len; n++) {
		tries++;
		if (ring_load_mem(data, n, &r, err, sizeof(err)) < 0)
			refused++;
		else
			ring_free(r);
	}
	CHECK_EQ(refused, tries);
	free(data);

	/* hand-made rings: raw zlib, big-endian rows, short last row, and
	 * broken ones */
	{
		const char *js = "{\"devs\":[{\"id\":0,\"region\":1,\"zone\":1,"
			"\"ip\":\"10.0.0.1\",\"port\":6200,\"device\":\"a\","
			"\"weight\":1.0},null,{\"id\":2,\"region\":1,\"zone\":2,"
			"\"ip\":\"10.0.0.2\",\"port\":6200,\"device\":\"\\u00fc\","
			"\"weight\":1}],\"part_shift\":30,\"replica_count\":2,"
			"\"byteorder\":\"big\"}";
		unsigned char raw[4096];
		size_t jl = strlen(js), n, zl;
		memcpy(raw, "R1NG\0\1", 6);
		raw[6] = raw[7] = 0;
		raw[8] = (unsigned char)(jl >> 8);
		raw[9] = (unsigned char)jl;
		memcpy(raw + 10, js, jl);
		n = 10 + jl;
		uint16_t ids[6] = {0, 2, 0, 2, 2, 0};	/* rows: 4 + 2 entries */
		for (int i = 0; i < 6; i++) {
			raw[n++] = (unsigned char)(ids[i] >> 8);
			raw[n++] = (unsigned char)ids[i];
		}
		unsigned char *z = gz(raw, n, &zl, 0);
		CHECK_EQ(ring_load_mem(z, zl, &r, err, sizeof(err)), 0);
		if (r) {
			CHECK_EQ(r->nrows, 2);
			CHECK_EQ(r->row_len[1], 2);
			CHECK_EQ(r->rows[0][1], 2);
			CHECK(!strcmp(r->devs[2].device, "\xc3\xbc"), "utf-8");
			CHECK(!r->devs[1].present);
			CHECK(fabs(r->replicas - 1.5) < 1e-12);
			ring_free(r);
		}
		free(z);
		/* a table that names a hole */
		raw[n - 1] = 1;
		z = gz(raw, n, &zl, 1);
		CHECK_EQ(ring_load_mem(z, zl, &r, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "device 1") != NULL, "message %s", err);
		free(z);
		/* odd table length */
		z = gz(raw, n - 1, &zl, 1);
		CHECK_EQ(ring_load_mem(z, zl, &r, err, sizeof(err)), -EINVAL);
		free(z);
		/* wrong magic, version, JSON */
		raw[0] = 'X';
		z = gz(raw, n, &zl, 1);
		CHECK_EQ(ring_load_mem(z, zl, &r, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "R1NG") != NULL, "message %s", err);
		free(z);
		raw[0] = 'R';
		raw[5] = 2;
		z = gz(raw, n, &zl, 1);
		CHECK_EQ(ring_load_mem(z, zl, &r, err, sizeof(err)), -EINVAL);
		free(z);
		raw[5] = 1;
		raw[10] = '[';
		z = gz(raw, n, &zl, 1);
		CHECK_EQ(ring_load_mem(z, zl, &r, err, sizeof(err)), -EINVAL);
		free(z);
		CHECK_EQ(ring_load_mem("garbage", 7, &r, err, sizeof(err)), -EINVAL);
	}
	ring_builder_free(b);
}

/* ---- metrics against hand-computed values ---- */

static void test_metrics(void)
{
	struct ring *r = ring_new(2, 3);
	struct ring_tiers tt;
	const char *ips[4] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"};
	int zones[4] = {1, 2, 3, 3};
	/* 4 partitions x 3 rows; partition 3 has two replicas in zone 3 and
	 * partition 2 has two on device 0 */
	uint16_t t[3][4] = {{0, 1, 0, 2}, {1, 2, 0, 3}, {2, 3, 1, 0}};

	for (uint32_t i = 0; i < 4; i++) {
		struct ring_dev d = mkdev(1, zones[i], ips[i], "sdb", 100);
		ring_reserve_dev(r, i);
		ring_dev_copy(&r->devs[i], &d);
		r->devs[i].id = i;
		r->devs[i].present = 1;
	}
	r->nrows = 3;
	r->rows = calloc(3, sizeof(*r->rows));
	r->row_len = calloc(3, sizeof(*r->row_len));
	for (int i = 0; i < 3; i++) {
		r->row_len[i] = 4;
		r->rows[i] = malloc(8);
		memcpy(r->rows[i], t[i], 8);
	}
	/* parts: d0 4, d1 3, d2 3, d3 2; fair share 3 → balance 33.33 */
	CHECK(fabs(ring_balance(r) - 100.0 / 3) < 1e-9, "balance %f",
	      ring_balance(r));
	CHECK_EQ(ring_tiers_build(r, &tt), 0);
	/* M: zones ceil(3/3)=1, devices 1.  p1 (d1,d2,d3) and p3 (d2,d3,d0):
	 * zone 3 twice → risk 1 each; p2 (d0,d0,d1): zone, ip and device 0
	 * twice → risk 1 (the worst depth counts once).  3 of 12. */
	CHECK(fabs(ring_dispersion(r, &tt, NULL) - 100.0 * 3 / 12) < 1e-9,
	      "dispersion %f", ring_dispersion(r, &tt, NULL));
	ring_tiers_free(&tt);
	/* a zero-weight device holding parts: Swift's 999.99 */
	r->devs[3].weight = 0;
	CHECK(fabs(ring_balance(r) - 999.99) < 1e-9);
	ring_free(r);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_vectors("tests/ring/data/vectors_a.tsv");
	test_vectors("tests/ring/data/vectors_b.tsv");
	test_hash_edges();
	test_limits();
	test_scenario_a();
	test_scenario_e();
	test_scenario_bc();
	test_random();
	test_builder_file();
	test_ring_file();
	test_metrics();
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
	return test_done();
}
