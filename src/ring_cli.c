/*
 * ring_cli.c — `cassafs ring …`, modelled on swift-ring-builder:
 *
 *   cassafs ring BUILDER create PART_POWER REPLICAS MIN_PART_HOURS
 *   cassafs ring BUILDER add r<R>z<Z>-<ip>:<port>[R<ip>:<port>]/<dev>[_<meta>] WEIGHT …
 *   cassafs ring BUILDER remove SEARCH… [--yes]
 *   cassafs ring BUILDER set_weight SEARCH WEIGHT … [--yes]
 *   cassafs ring BUILDER set_overload OVERLOAD[%]
 *   cassafs ring BUILDER set_min_part_hours HOURS
 *   cassafs ring BUILDER rebalance [--seed S] [--force]
 *   cassafs ring BUILDER pretend_min_part_hours_passed
 *   cassafs ring BUILDER [show]
 *   cassafs ring BUILDER dispersion [--verbose]
 *   cassafs ring BUILDER validate
 *   cassafs ring BUILDER write_ring
 *   cassafs ring lookup RINGFILE ACCOUNT [CONTAINER [OBJECT]]
 *   cassafs ring info RINGFILE
 *
 * Exit codes as Swift's: 0 success, 1 warning (nothing to do, dispersion or
 * balance not yet good), 2 error (bad input, unreadable file, validation).
 */
#include "cli.h"
#include "ring_builder.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_OK      0
#define EXIT_WARNING 1
#define EXIT_ERR     2

static void usage(FILE *f)
{
	fprintf(f,
"usage: cassafs ring BUILDER VERB [ARGS…]\n"
"       cassafs ring lookup RINGFILE ACCOUNT [CONTAINER [OBJECT]]\n"
"                [--prefix P] [--suffix S] [--handoffs N|--all-handoffs]\n"
"       cassafs ring info RINGFILE\n"
"\n"
"verbs:\n"
"  create PART_POWER REPLICAS MIN_PART_HOURS\n"
"  add r<region>z<zone>-<ip>:<port>[R<ip>:<port>]/<device>[_<meta>] WEIGHT […]\n"
"  remove SEARCH […] [--yes]        drain and drop devices at next rebalance\n"
"  set_weight SEARCH WEIGHT […] [--yes]\n"
"  set_overload OVERLOAD[%%]\n"
"  set_min_part_hours HOURS\n"
"  rebalance [--seed S] [--force]   also writes BUILDER's .ring.gz\n"
"  pretend_min_part_hours_passed\n"
"  show                             (default) devices, balance, dispersion\n"
"  dispersion [--verbose]           per-tier dispersion report\n"
"  validate\n"
"  write_ring\n"
"\n"
"SEARCH: d<id>r<region>z<zone>-<ip>:<port>R<ip>:<port>/<device>_<meta>,\n"
"any part optional (e.g. d3, r1z2, z1-10.0.0.1, /sdb).\n"
"Exit codes: 0 ok, 1 warning, 2 error.\n");
}

static int parse_u(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (*end || errno || *v > max)
		return -1;
	return 0;
}

static int parse_weight(const char *s, double *w)
{
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	*w = strtod(s, &end);
	if (*end || errno || !isfinite(*w) || *w < 0)
		return -1;
	return 0;
}

/* "<ip>:<port>" with the ip in brackets for IPv6; returns chars used. */
static int parse_ip_port(const char *s, char **ip, int *port)
{
	const char *p = s, *ip_end;
	unsigned long long v;
	char num[8];
	int n = 0;

	if (*p == '[') {
		ip_end = strchr(p, ']');
		if (!ip_end)
			return -1;
		*ip = strndup(p + 1, ip_end - p - 1);
		p = ip_end + 1;
	} else {
		ip_end = p;
		while (*ip_end && *ip_end != ':' && *ip_end != '/')
			ip_end++;
		*ip = strndup(p, ip_end - p);
		p = ip_end;
	}
	if (!*ip || !**ip || *p != ':')
		return -1;
	p++;
	while (isdigit((unsigned char)p[n]) && n < 7)
		n++;
	if (!n || n >= 7)
		return -1;
	memcpy(num, p, n);
	num[n] = 0;
	if (parse_u(num, 65535, &v) < 0 || v == 0)
		return -1;
	*port = (int)v;
	return (int)(p + n - s);
}

static int valid_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		int n = *u < 0x80 ? 0 : (*u & 0xe0) == 0xc0 ? 1 :
			(*u & 0xf0) == 0xe0 ? 2 : (*u & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0)
			return 0;
		u++;
		for (int i = 0; i < n; i++, u++)
			if ((*u & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* Swift's device syntax: r1z1-10.0.0.1:6200[R10.0.1.1:6300]/sdb[_meta] */
static int parse_dev(const char *s, struct ring_dev *d)
{
	const char *p = s;
	unsigned long long v;
	char *end;
	int n;

	memset(d, 0, sizeof(*d));
	d->region = 1;
	if (*p == 'r') {
		p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno || v > INT_MAX)
			goto bad;
		d->region = (int)v;
		p = end;
	}
	if (*p != 'z' || !isdigit((unsigned char)p[1]))
		goto bad;
	errno = 0;
	v = strtoull(p + 1, &end, 10);
	if (errno || v > INT_MAX)
		goto bad;
	d->zone = (int)v;
	p = end;
	if (*p++ != '-')
		goto bad;
	if ((n = parse_ip_port(p, &d->ip, &d->port)) < 0)
		goto bad;
	p += n;
	if (*p == 'R') {
		p++;
		if ((n = parse_ip_port(p, &d->repl_ip, &d->repl_port)) < 0)
			goto bad;
		p += n;
	} else {
		d->repl_ip = strdup(d->ip);
		d->repl_port = d->port;
	}
	if (*p++ != '/' || !*p || *p == '_')
		goto bad;
	{
		const char *us = strchr(p, '_');
		d->device = us ? strndup(p, us - p) : strdup(p);
		d->meta = strdup(us ? us + 1 : "");
	}
	if (!d->device || !d->meta || !d->repl_ip || strchr(d->device, '/') ||
	    !valid_utf8(d->device) || !valid_utf8(d->meta) ||
	    !valid_utf8(d->ip))
		goto bad;
	return 0;
bad:
	ring_dev_clear(d);
	return -1;
}

struct search {
	int has_id, has_region, has_zone, has_port, has_rport;
	uint32_t id;
	int region, zone, port, rport;
	char *ip, *rip, *device, *meta;
};

static void search_free(struct search *q)
{
	free(q->ip);
	free(q->rip);
	free(q->device);
	free(q->meta);
}

static int search_num(const char **p, int *v)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)**p))
		return -1;
	errno = 0;
	x = strtoull(*p, &end, 10);
	if (errno || x > INT_MAX)
		return -1;
	*v = (int)x;
	*p = end;
	return 0;
}

/* d<id>r<region>z<zone>-<ip>:<port>R<ip>:<port>/<device>_<meta>, each
 * part optional but in this order (Swift's search value syntax). */
static int parse_search(const char *s, struct search *q)
{
	const char *p = s;
	int v;

	memset(q, 0, sizeof(*q));
	if (!*s)
		return -1;
	if (*p == 'd') {
		p++;
		if (search_num(&p, &v) < 0)
			return -1;
		q->has_id = 1;
		q->id = (uint32_t)v;
	}
	if (*p == 'r') {
		p++;
		if (search_num(&p, &q->region) < 0)
			return -1;
		q->has_region = 1;
	}
	if (*p == 'z') {
		p++;
		if (search_num(&p, &q->zone) < 0)
			return -1;
		q->has_zone = 1;
	}
	if (*p == '-') {
		const char *e;
		p++;
		if (*p == '[') {
			e = strchr(p, ']');
			if (!e)
				return -1;
			q->ip = strndup(p + 1, e - p - 1);
			p = e + 1;
		} else {
			e = p;
			while (*e && !strchr(":R/_", *e))
				e++;
			q->ip = strndup(p, e - p);
			p = e;
		}
		if (*p == ':') {
			p++;
			if (search_num(&p, &q->port) < 0)
				return -1;
			q->has_port = 1;
		}
	}
	if (*p == 'R') {
		const char *e = ++p;
		while (*e && !strchr(":/_", *e))
			e++;
		q->rip = strndup(p, e - p);
		p = e;
		if (*p == ':') {
			p++;
			if (search_num(&p, &q->rport) < 0)
				return -1;
			q->has_rport = 1;
		}
	}
	if (*p == '/') {
		const char *e = ++p;
		while (*e && *e != '_')
			e++;
		q->device = strndup(p, e - p);
		p = e;
	}
	if (*p == '_') {
		q->meta = strdup(p + 1);
		p += strlen(p);
	}
	return *p ? -1 : 0;
}

static int search_match(const struct search *q, const struct ring_dev *d)
{
	return d->present && (!q->has_id || d->id == q->id) &&
	       (!q->has_region || d->region == q->region) &&
	       (!q->has_zone || d->zone == q->zone) &&
	       (!q->ip || !strcmp(q->ip, d->ip)) &&
	       (!q->has_port || q->port == d->port) &&
	       (!q->rip || !strcmp(q->rip, d->repl_ip)) &&
	       (!q->has_rport || q->rport == d->repl_port) &&
	       (!q->device || !strcmp(q->device, d->device)) &&
	       (!q->meta || !strcmp(q->meta, d->meta));
}

static char *ring_path_for(const char *builder)
{
	size_t n = strlen(builder);
	const char *suf = ".builder";
	size_t sn = strlen(suf);
	char *out = malloc(n + 16);

	if (!out)
		return NULL;
	if (n > sn && !strcmp(builder + n - sn, suf))
		snprintf(out, n + 16, "%.*s.ring.gz", (int)(n - sn), builder);
	else
		snprintf(out, n + 16, "%s.ring.gz", builder);
	return out;
}

static int load_builder(const char *path, struct ring_builder **b)
{
	char err[RING_ERRLEN];

	if (ring_builder_load(path, b, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs ring: %s\n", err);
		if (access(path, F_OK) < 0)
			fprintf(stderr, "cassafs ring: create it first with "
				"'cassafs ring %s create PART_POWER REPLICAS "
				"MIN_PART_HOURS'\n", path);
		return -1;
	}
	return 0;
}

static int save_builder(const struct ring_builder *b, const char *path,
			int backup)
{
	char err[RING_ERRLEN];

	if (ring_builder_save(b, path, err, sizeof(err)) < 0 ||
	    (backup && ring_save_backup_copy(path, err, sizeof(err)) < 0)) {
		fprintf(stderr, "cassafs ring: %s\n", err);
		return -1;
	}
	return 0;
}

static int write_ring_file(const struct ring_builder *b, const char *ring_path)
{
	char err[RING_ERRLEN];

	if (ring_save(b->r, ring_path, err, sizeof(err)) < 0 ||
	    ring_save_backup_copy(ring_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs ring: %s\n", err);
		return -1;
	}
	return 0;
}

/* ---- verbs ---- */

static int do_create(const char *path, int argc, char **argv)
{
	unsigned long long pp, mph;
	double reps;
	char *end, err[RING_ERRLEN];
	struct ring_builder *b;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "cassafs ring: usage: cassafs ring %s create "
			"PART_POWER REPLICAS MIN_PART_HOURS\n", path);
		return EXIT_ERR;
	}
	if (parse_u(argv[0], ULLONG_MAX, &pp) < 0 || pp > 32) {
		fprintf(stderr, "cassafs ring: part power '%s' is invalid: it "
			"must be an integer from 0 to 32\n", argv[0]);
		return EXIT_ERR;
	}
	errno = 0;
	reps = strtod(argv[1], &end);
	if (!*argv[1] || *end || errno || !(reps >= 1) ||
	    reps > RING_MAX_REPLICAS) {
		fprintf(stderr, "cassafs ring: replica count '%s' is invalid: "
			"it must be a number from 1 to %g\n", argv[1],
			RING_MAX_REPLICAS);
		return EXIT_ERR;
	}
	if (parse_u(argv[2], 255, &mph) < 0) {
		fprintf(stderr, "cassafs ring: min_part_hours '%s' is invalid:"
			" it must be an integer from 0 to 255\n", argv[2]);
		return EXIT_ERR;
	}
	b = ring_builder_new((unsigned)pp, reps, (unsigned)mph, err,
			     sizeof(err));
	if (!b) {
		fprintf(stderr, "cassafs ring: %s\n", err);
		return EXIT_ERR;
	}
	rc = save_builder(b, path, 1) < 0 ? EXIT_ERR : EXIT_OK;
	ring_builder_free(b);
	return rc;
}

static int do_add(struct ring_builder *b, const char *path, int argc,
		  char **argv)
{
	char err[RING_ERRLEN];

	if (argc == 0 || argc % 2) {
		fprintf(stderr, "cassafs ring: usage: cassafs ring %s add "
			"r<region>z<zone>-<ip>:<port>[R<ip>:<port>]/<device>"
			"[_<meta>] <weight> […]\n", path);
		return EXIT_ERR;
	}
	for (int i = 0; i < argc; i += 2) {
		struct ring_dev d;
		double w;
		uint32_t id;
		if (parse_dev(argv[i], &d) < 0) {
			fprintf(stderr, "cassafs ring: invalid device string "
				"'%s': expected r<region>z<zone>-<ip>:<port>"
				"[R<ip>:<port>]/<device>[_<meta>]\n", argv[i]);
			return EXIT_ERR;
		}
		if (parse_weight(argv[i + 1], &w) < 0) {
			fprintf(stderr, "cassafs ring: invalid weight '%s' for "
				"device %s: it must be a number >= 0\n",
				argv[i + 1], argv[i]);
			ring_dev_clear(&d);
			return EXIT_ERR;
		}
		d.weight = w;
		if (ring_builder_add_dev(b, &d, 0, &id, err, sizeof(err)) < 0) {
			fprintf(stderr, "cassafs ring: cannot add %s: %s\n",
				argv[i], err);
			ring_dev_clear(&d);
			return EXIT_ERR;
		}
		printf("Device d%u r%dz%d-%s:%d/%s_\"%s\" with %s weight got "
		       "id %u\n", id, d.region, d.zone, d.ip, d.port, d.device,
		       d.meta, argv[i + 1], id);
		ring_dev_clear(&d);
	}
	return save_builder(b, path, 0) < 0 ? EXIT_ERR : EXIT_OK;
}

/* Resolve a search value to device ids; several only with --yes. */
static int match_devs(struct ring_builder *b, const char *sv, int yes,
		      uint32_t **ids, int *n)
{
	struct search q;
	struct ring *r = b->r;

	*n = 0;
	*ids = NULL;
	if (parse_search(sv, &q) < 0) {
		fprintf(stderr, "cassafs ring: invalid search value '%s': "
			"expected d<id>r<region>z<zone>-<ip>:<port>"
			"R<ip>:<port>/<device>_<meta>\n", sv);
		search_free(&q);
		return -1;
	}
	*ids = malloc((r->ndevs + 1) * sizeof(**ids));
	for (uint32_t i = 0; *ids && i < r->ndevs; i++)
		if (search_match(&q, &r->devs[i]))
			(*ids)[(*n)++] = i;
	search_free(&q);
	if (!*n) {
		fprintf(stderr, "cassafs ring: search value '%s' matched 0 "
			"devices.\nThe on-disk ring builder is unchanged.\n",
			sv);
		return -1;
	}
	if (*n > 1 && !yes) {
		fprintf(stderr, "cassafs ring: search value '%s' matched %d "
			"devices; add --yes to change them all.\nThe on-disk "
			"ring builder is unchanged.\n", sv, *n);
		return -1;
	}
	return 0;
}

static int strip_flag(int *argc, char **argv, const char *flag)
{
	int found = 0, j = 0;

	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], flag) ||
		    (!strcmp(flag, "--yes") && !strcmp(argv[i], "-y")))
			found = 1;
		else
			argv[j++] = argv[i];
	}
	*argc = j;
	return found;
}

static int do_remove(struct ring_builder *b, const char *path, int argc,
		     char **argv)
{
	int yes = strip_flag(&argc, argv, "--yes");

	if (argc < 1) {
		fprintf(stderr, "cassafs ring: usage: cassafs ring %s remove "
			"SEARCH […] [--yes]\n", path);
		return EXIT_ERR;
	}
	for (int i = 0; i < argc; i++) {
		uint32_t *ids;
		int n;
		if (match_devs(b, argv[i], yes, &ids, &n) < 0) {
			free(ids);
			return EXIT_ERR;
		}
		for (int k = 0; k < n; k++) {
			printf("d%u r%dz%d-%s:%d/%s_\"%s\" marked for removal "
			       "and will be removed next rebalance.\n", ids[k],
			       b->r->devs[ids[k]].region,
			       b->r->devs[ids[k]].zone, b->r->devs[ids[k]].ip,
			       b->r->devs[ids[k]].port,
			       b->r->devs[ids[k]].device,
			       b->r->devs[ids[k]].meta);
			ring_builder_remove_dev(b, ids[k]);
		}
		free(ids);
	}
	return save_builder(b, path, 0) < 0 ? EXIT_ERR : EXIT_OK;
}

static int do_set_weight(struct ring_builder *b, const char *path, int argc,
			 char **argv)
{
	int yes = strip_flag(&argc, argv, "--yes");

	if (argc < 2 || argc % 2) {
		fprintf(stderr, "cassafs ring: usage: cassafs ring %s "
			"set_weight SEARCH WEIGHT […] [--yes]\n", path);
		return EXIT_ERR;
	}
	for (int i = 0; i < argc; i += 2) {
		uint32_t *ids;
		int n;
		double w;
		if (parse_weight(argv[i + 1], &w) < 0) {
			fprintf(stderr, "cassafs ring: invalid weight '%s': it "
				"must be a number >= 0\n", argv[i + 1]);
			return EXIT_ERR;
		}
		if (match_devs(b, argv[i], yes, &ids, &n) < 0) {
			free(ids);
			return EXIT_ERR;
		}
		for (int k = 0; k < n; k++) {
			if (ring_builder_set_weight(b, ids[k], w) < 0) {
				fprintf(stderr, "cassafs ring: device d%u is "
					"marked for removal; its weight cannot "
					"change\n", ids[k]);
				free(ids);
				return EXIT_ERR;
			}
			printf("d%u r%dz%d-%s:%d/%s_\"%s\" weight set to %s\n",
			       ids[k], b->r->devs[ids[k]].region,
			       b->r->devs[ids[k]].zone, b->r->devs[ids[k]].ip,
			       b->r->devs[ids[k]].port,
			       b->r->devs[ids[k]].device,
			       b->r->devs[ids[k]].meta, argv[i + 1]);
		}
		free(ids);
	}
	return save_builder(b, path, 0) < 0 ? EXIT_ERR : EXIT_OK;
}

static int do_set_overload(struct ring_builder *b, const char *path,
			   int argc, char **argv)
{
	char tmp[64], *end;
	double v;
	int pct = 0;
	size_t n;

	if (argc != 1 || (n = strlen(argv[0])) == 0 || n >= sizeof(tmp)) {
		fprintf(stderr, "cassafs ring: usage: cassafs ring %s "
			"set_overload OVERLOAD[%%]\n", path);
		return EXIT_ERR;
	}
	strcpy(tmp, argv[0]);
	if (tmp[n - 1] == '%') {
		tmp[n - 1] = 0;
		pct = 1;
	}
	errno = 0;
	v = strtod(tmp, &end);
	if (!*tmp || *end || errno || !isfinite(v) || v < 0) {
		fprintf(stderr, "cassafs ring: invalid overload '%s': it must "
			"be a number >= 0, optionally with %%\n", argv[0]);
		return EXIT_ERR;
	}
	if (pct)
		v /= 100.0;
	b->overload = v;
	printf("The overload factor is now %.2f%% (%.6f)\n", v * 100, v);
	return save_builder(b, path, 0) < 0 ? EXIT_ERR : EXIT_OK;
}

static int do_set_mph(struct ring_builder *b, const char *path, int argc,
		      char **argv)
{
	unsigned long long v;

	if (argc != 1 || parse_u(argv[0], 255, &v) < 0) {
		fprintf(stderr, "cassafs ring: usage: cassafs ring %s "
			"set_min_part_hours HOURS (an integer from 0 to 255)\n",
			path);
		return EXIT_ERR;
	}
	b->min_part_hours = (unsigned)v;
	printf("The minimum number of hours before a partition can be "
	       "reassigned is now set to %llu\n", v);
	return save_builder(b, path, 0) < 0 ? EXIT_ERR : EXIT_OK;
}

static void fmt_left(int64_t s, char *buf, size_t len)
{
	snprintf(buf, len, "%lld:%02lld:%02lld", (long long)(s / 3600),
		 (long long)(s / 60 % 60), (long long)(s % 60));
}

static int do_rebalance(struct ring_builder *b, const char *path, int argc,
			char **argv)
{
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	int force = 0, status = EXIT_OK;
	struct ring_rebalance_result res;
	char err[RING_ERRLEN], *ring_path;
	double last_balance = b->last_balance, last_disp = b->last_dispersion;
	int devs_changed = b->devs_changed;

	for (int i = 0; i < argc; i++) {
		unsigned long long v;
		if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")) {
			force = 1;
		} else if ((!strcmp(argv[i], "--seed") || !strcmp(argv[i], "-s"))
			   && i + 1 < argc) {
			if (parse_u(argv[++i], UINT64_MAX, &v) < 0) {
				fprintf(stderr, "cassafs ring: invalid seed "
					"'%s': it must be a non-negative "
					"integer\n", argv[i]);
				return EXIT_ERR;
			}
			seed = v;
		} else {
			fprintf(stderr, "cassafs ring: usage: cassafs ring %s "
				"rebalance [--seed S] [--force]\n", path);
			return EXIT_ERR;
		}
	}
	if (ring_builder_rebalance(b, seed, &res, err, sizeof(err)) < 0) {
		printf("-------------------------------------------------------"
		       "------------------------\n");
		printf("An error has occurred during ring validation. Common\n"
		       "causes of failure are rings that are empty or do not\n"
		       "have enough devices to accommodate the replica count.\n"
		       "Original exception message:\n %s\n", err);
		printf("-------------------------------------------------------"
		       "------------------------\n");
		return EXIT_ERR;
	}
	if (!res.reassigned && !res.removed_devs && !force) {
		int64_t left = ring_builder_min_part_seconds_left(b);
		printf("No partitions could be reassigned.\n");
		if (left > 0) {
			char t[32];
			fmt_left(left, t, sizeof(t));
			printf("The time between rebalances must be at least "
			       "min_part_hours: %u hours (%s remaining)\n",
			       b->min_part_hours, t);
		} else {
			printf("There is no need to do so at this time\n");
		}
		return EXIT_WARNING;
	}
	if (!force && !devs_changed && last_balance >= 0 &&
	    fabs(last_balance - res.balance) < 1 &&
	    !(last_balance == 999.99 && res.balance == 999.99) &&
	    last_disp >= 0 && fabs(last_disp - res.dispersion) < 1) {
		printf("Cowardly refusing to save rebalance as it did not "
		       "change at least 1%%.\n");
		return EXIT_WARNING;
	}
	if (ring_builder_validate(b, err, sizeof(err)) < 0) {
		printf("An error has occurred during ring validation.\n"
		       "Original exception message:\n %s\n", err);
		return EXIT_ERR;
	}
	b->devs_changed = 0;
	b->last_balance = res.balance;
	b->last_dispersion = res.dispersion;
	/* Swift counts part-replicas here, so 3 replicas show up to 300 % */
	printf("Reassigned %" PRIu64 " (%.02f%%) partitions. Balance is now "
	       "%.02f.  Dispersion is now %.02f\n", res.reassigned,
	       100.0 * (double)res.reassigned /
	       (double)ring_partitions(b->r), res.balance, res.dispersion);
	printf("Moved %" PRIu64 " part-replicas of %" PRIu64 " partitions; "
	       "removed %u devices; seed %" PRIu64 "\n", res.moved_slots,
	       res.changed_parts, res.removed_devs, seed);
	if (res.dispersion > 0) {
		printf("-------------------------------------------------------"
		       "------------------------\n");
		printf("NOTE: Dispersion of %.06f indicates some parts are not\n"
		       "      optimally dispersed.\n\n"
		       "      You may want to adjust some device weights, "
		       "increase\n      the overload or review the dispersion "
		       "report.\n", res.dispersion);
		printf("-------------------------------------------------------"
		       "------------------------\n");
		status = EXIT_WARNING;
	} else if (res.balance > 5 && res.balance / 100.0 > b->overload) {
		printf("-------------------------------------------------------"
		       "------------------------\n");
		printf("NOTE: Balance of %.02f indicates you should push this \n"
		       "      ring, wait at least %u hours, and "
		       "rebalance/repush.\n", res.balance, b->min_part_hours);
		printf("-------------------------------------------------------"
		       "------------------------\n");
		status = EXIT_WARNING;
	}
	ring_path = ring_path_for(path);
	if (!ring_path || write_ring_file(b, ring_path) < 0 ||
	    save_builder(b, path, 1) < 0)
		status = EXIT_ERR;
	free(ring_path);
	return status;
}

/* Regions (level 1) or zones (level 2) among present devices. */
static int count_distinct(const struct ring *r, int level)
{
	struct ring_tiers tt;
	int n = 0;

	if (ring_tiers_build(r, &tt) < 0)
		return -1;
	for (int i = 1; i < tt.n; i++)
		n += tt.t[i].depth == level;
	ring_tiers_free(&tt);
	return n;
}

static double builder_dispersion(const struct ring *r)
{
	struct ring_tiers tt;
	double d = 0;

	if (!r->nrows || ring_tiers_build(r, &tt) < 0)
		return 0;
	d = ring_dispersion(r, &tt, NULL);
	ring_tiers_free(&tt);
	return d;
}

static int do_show(struct ring_builder *b, const char *path)
{
	struct ring *r = b->r;
	uint64_t *parts = ring_dev_parts(r);
	int ndev = 0;
	char t[32], *ring_path = ring_path_for(path);
	struct ring *onfile = NULL;
	char err[RING_ERRLEN];

	for (uint32_t i = 0; i < r->ndevs; i++)
		ndev += r->devs[i].present;
	printf("%s, build version %lld\n", path, r->version);
	printf("%" PRIu64 " partitions, %.6f replicas, %d regions, %d zones, "
	       "%d devices, %.02f balance, %.02f dispersion\n",
	       ring_partitions(r), r->replicas, count_distinct(r, 1),
	       count_distinct(r, 2), ndev, r->nrows ? ring_balance(r) : 0.0,
	       builder_dispersion(r));
	fmt_left(ring_builder_min_part_seconds_left(b), t, sizeof(t));
	printf("The minimum number of hours before a partition can be "
	       "reassigned is %u (%s remaining)\n", b->min_part_hours, t);
	printf("The overload factor is %.2f%% (%.6f)\n", b->overload * 100,
	       b->overload);
	if (ring_path && ring_load(ring_path, &onfile, err, sizeof(err)) == 0) {
		printf("Ring file %s is %s\n", ring_path,
		       onfile->version == r->version ? "up-to-date" :
		       "obsolete");
		ring_free(onfile);
	} else if (ring_path) {
		printf("Ring file %s not found, probably it hasn't been "
		       "written yet\n", ring_path);
	}
	free(ring_path);
	double tw = ring_total_weight(r);
	printf("Devices:   id region zone      ip address:port "
	       "replication ip:port  name weight partitions balance flags "
	       "meta\n");
	for (uint32_t i = 0; parts && i < r->ndevs; i++) {
		const struct ring_dev *d = &r->devs[i];
		char a[300], ra[300];
		if (!d->present)
			continue;
		snprintf(a, sizeof(a), strchr(d->ip, ':') ? "[%s]:%d" : "%s:%d",
			 d->ip, d->port);
		snprintf(ra, sizeof(ra), strchr(d->repl_ip, ':') ? "[%s]:%d" :
			 "%s:%d", d->repl_ip, d->repl_port);
		printf("         %5u %6d %4d %22s %22s %5s %6.2f %10" PRIu64
		       " %7.2f %5s %s\n", d->id, d->region, d->zone, a, ra,
		       d->device, d->weight, parts[i],
		       r->nrows ? ring_dev_balance(r, d, parts[i], tw) : 0.0,
		       d->removing ? "DEL" : "", d->meta);
	}
	free(parts);
	return EXIT_OK;
}

static int print_dispersion(const struct ring *r, int verbose,
			    double overload, double required)
{
	struct ring_tiers tt;
	uint64_t *hist;
	unsigned R = r->nrows;
	double disp;

	if (!R) {
		fprintf(stderr, "cassafs ring: the ring has not been "
			"rebalanced yet: no dispersion to report\n");
		return EXIT_ERR;
	}
	if (ring_tiers_build(r, &tt) < 0)
		return EXIT_ERR;
	hist = calloc((size_t)tt.n * (R + 1), sizeof(*hist));
	if (!hist) {
		ring_tiers_free(&tt);
		return EXIT_ERR;
	}
	disp = ring_dispersion(r, &tt, hist);
	printf("Dispersion is %.06f, Balance is %.06f, Overload is %0.2f%%\n",
	       disp, ring_balance(r), overload * 100);
	if (!isnan(required))
		printf("Required overload is %.6f%%\n", required * 100);
	printf("%-36s %10s %8s %4s", "Tier", "Parts", "%", "Max");
	for (unsigned c = 0; c <= R; c++)
		printf(" %10u", c);
	printf("\n");
	for (int n = 1; n < tt.n; n++) {
		const uint64_t *h = hist + (size_t)n * (R + 1);
		uint64_t over = 0, tot = 0;
		char name[300];
		for (unsigned c = 1; c <= R; c++) {
			tot += h[c] * c;
			if ((int)c > tt.t[n].max_replicas)
				over += h[c];
		}
		if (!verbose && !over)
			continue;
		printf("%-36s %10" PRIu64 " %8.2f %4d", ring_tier_name(&tt, n,
		       name, sizeof(name)), over, 100.0 * (double)over /
		       (double)ring_partitions(r), tt.t[n].max_replicas);
		for (unsigned c = 0; c <= R; c++)
			printf(" %10" PRIu64, h[c]);
		printf("\n");
		(void)tot;
	}
	free(hist);
	ring_tiers_free(&tt);
	return EXIT_OK;
}

/* ---- ring files: lookup and info ---- */

static int do_lookup(int argc, char **argv)
{
	const char *pos[4] = {0};
	char *prefix = NULL, *suffix = NULL, *cprefix = NULL, *csuffix = NULL;
	int npos = 0, handoffs = -1, rc = EXIT_ERR;
	struct ring *r = NULL;
	char err[RING_ERRLEN], hex[33];
	unsigned char dg[16];
	uint32_t part, *ids = NULL;
	int n, m;

	for (int i = 0; i < argc; i++) {
		unsigned long long v;
		if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--suffix") && i + 1 < argc)
			suffix = argv[++i];
		else if (!strcmp(argv[i], "--all-handoffs"))
			handoffs = INT_MAX;
		else if (!strcmp(argv[i], "--handoffs") && i + 1 < argc &&
			 parse_u(argv[i + 1], 1000000, &v) == 0) {
			handoffs = (int)v;
			i++;
		} else if (argv[i][0] == '-' && argv[i][1] && npos >= 1) {
			fprintf(stderr, "cassafs ring: unknown option '%s'\n",
				argv[i]);
			return EXIT_ERR;
		} else if (npos < 4) {
			pos[npos++] = argv[i];
		} else {
			npos++;
		}
	}
	if (npos < 2 || npos > 4) {
		fprintf(stderr, "usage: cassafs ring lookup RINGFILE ACCOUNT "
			"[CONTAINER [OBJECT]] [--prefix P] [--suffix S] "
			"[--handoffs N|--all-handoffs]\n");
		return EXIT_ERR;
	}
	if (!prefix && !suffix) {
		/* as Swift's tools do: the cluster's hash path secrets */
		prefix = cprefix = ring_conf_value("/etc/swift/swift.conf", "swift-hash",
					      "swift_hash_path_prefix");
		suffix = csuffix = ring_conf_value("/etc/swift/swift.conf", "swift-hash",
					      "swift_hash_path_suffix");
		if ((!prefix || !*prefix) && (!suffix || !*suffix)) {
			fprintf(stderr, "cassafs ring: no hash path prefix or "
				"suffix: pass --prefix/--suffix or set "
				"swift_hash_path_suffix in [swift-hash] of "
				"/etc/swift/swift.conf\n");
			goto out;
		}
	}
	if (ring_load(pos[0], &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs ring: %s\n", err);
		goto out;
	}
	if (ring_hash_path(prefix, suffix, pos[1], pos[2], pos[3], dg) < 0) {
		fprintf(stderr, "cassafs ring: an object needs a container\n");
		goto out;
	}
	part = ring_part_from_digest(dg, r->part_power);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", dg[i]);
	if (handoffs < 0)
		handoffs = (int)r->nrows;
	ids = malloc(((size_t)r->ndevs + r->nrows + 1) * sizeof(*ids));
	if (!ids)
		goto out;
	printf("Account  \t%s\n", pos[1]);
	printf("Container\t%s\n", pos[2] ? pos[2] : "None");
	printf("Object   \t%s\n\n", pos[3] ? pos[3] : "None");
	printf("Partition\t%u\n", part);
	printf("Hash     \t%s\n\n", hex);
	n = ring_part_nodes(r, part, ids, (int)r->nrows);
	m = ring_more_nodes(r, part, ids + n,
			    handoffs < (int)r->ndevs ? handoffs : (int)r->ndevs);
	if (m < 0)
		m = 0;
	for (int i = 0; i < n + m; i++) {
		const struct ring_dev *d = &r->devs[ids[i]];
		printf("Server:Port Device\t%s:%d %s\t[d%u]%s\n", d->ip,
		       d->port, d->device, d->id, i >= n ? " [Handoff]" : "");
	}
	printf("\nPrimary ids\t");
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", ids[i]);
	printf("\nHandoff ids\t");
	for (int i = n; i < n + m; i++)
		printf("%s%u", i > n ? "," : "", ids[i]);
	printf("\n");
	rc = EXIT_OK;
out:
	free(ids);
	free(cprefix);
	free(csuffix);
	ring_free(r);
	return rc;
}

static int do_info(int argc, char **argv)
{
	struct ring *r = NULL;
	char err[RING_ERRLEN];
	int verbose = argc > 1 && !strcmp(argv[1], "--verbose");
	int ndev = 0;

	if (argc < 1) {
		fprintf(stderr, "usage: cassafs ring info RINGFILE [--verbose]\n");
		return EXIT_ERR;
	}
	if (ring_load(argv[0], &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs ring: %s\n", err);
		return EXIT_ERR;
	}
	for (uint32_t i = 0; i < r->ndevs; i++)
		ndev += r->devs[i].present;
	printf("%s: version %lld, %" PRIu64 " partitions, %.6f replicas, "
	       "%d devices\n", argv[0], r->version, ring_partitions(r),
	       r->replicas, ndev);
	printf("balance %.6f\n", ring_balance(r));
	print_dispersion(r, verbose, 0, NAN);
	ring_free(r);
	return EXIT_OK;
}

int cmd_ring(int argc, char **argv)
{
	struct ring_builder *b = NULL;
	const char *path, *verb;
	char err[RING_ERRLEN];
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_ERR : EXIT_OK;
	}
	if (!strcmp(argv[1], "lookup"))
		return do_lookup(argc - 2, argv + 2);
	if (!strcmp(argv[1], "info"))
		return do_info(argc - 2, argv + 2);
	path = argv[1];
	verb = argc > 2 ? argv[2] : "show";
	argc = argc > 2 ? argc - 3 : 0;
	argv += 3;
	if (!strcmp(verb, "create"))
		return do_create(path, argc, argv);
	static const char *verbs[] = {"add", "remove", "set_weight",
		"set_overload", "set_min_part_hours", "rebalance",
		"pretend_min_part_hours_passed", "show", "dispersion",
		"validate", "write_ring", NULL};
	int known = 0;
	for (int i = 0; verbs[i]; i++)
		known |= !strcmp(verb, verbs[i]);
	if (!known) {
		fprintf(stderr, "cassafs ring: unknown verb '%s'\n", verb);
		usage(stderr);
		return EXIT_ERR;
	}
	if (load_builder(path, &b) < 0)
		return EXIT_ERR;
	if (!strcmp(verb, "add"))
		rc = do_add(b, path, argc, argv);
	else if (!strcmp(verb, "remove"))
		rc = do_remove(b, path, argc, argv);
	else if (!strcmp(verb, "set_weight"))
		rc = do_set_weight(b, path, argc, argv);
	else if (!strcmp(verb, "set_overload"))
		rc = do_set_overload(b, path, argc, argv);
	else if (!strcmp(verb, "set_min_part_hours"))
		rc = do_set_mph(b, path, argc, argv);
	else if (!strcmp(verb, "rebalance"))
		rc = do_rebalance(b, path, argc, argv);
	else if (!strcmp(verb, "pretend_min_part_hours_passed")) {
		ring_builder_pretend_min_part_hours_passed(b);
		rc = save_builder(b, path, 0) < 0 ? EXIT_ERR : EXIT_OK;
	} else if (!strcmp(verb, "show"))
		rc = do_show(b, path);
	else if (!strcmp(verb, "dispersion")) {
		int verbose = argc > 0 && (!strcmp(argv[0], "--verbose") ||
					   !strcmp(argv[0], "-v"));
		rc = print_dispersion(b->r, verbose, b->overload,
				      ring_builder_required_overload(b));
	} else if (!strcmp(verb, "validate")) {
		if (ring_builder_validate(b, err, sizeof(err)) < 0) {
			fprintf(stderr, "cassafs ring: %s is not valid: %s\n",
				path, err);
			rc = EXIT_ERR;
		} else {
			rc = EXIT_OK;
		}
	} else {
		char *ring_path = ring_path_for(path);
		if (!b->r->nrows) {
			fprintf(stderr, "cassafs ring: cannot write a ring from "
				"%s: it has not been rebalanced (no partition "
				"is assigned)\n", path);
			rc = EXIT_ERR;
		} else {
			rc = ring_path && write_ring_file(b, ring_path) == 0 ?
			     EXIT_OK : EXIT_ERR;
		}
		free(ring_path);
	}
	ring_builder_free(b);
	return rc;
}
