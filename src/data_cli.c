/*
 * data_cli.c — `cassafs gc`: the data tier's garbage, by hand.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "coord.h"
#include "layout.h"
#include "meta.h"
#include "store.h"

static const char gc_usage[] =
	"usage: cassafs gc [--dry-run] [--coord URL] URL\n"
	"\n"
	"Delete the data tier's objects that no file refers to any more:\n"
	"those of purged files, overwritten or truncated ranges and\n"
	"compactions (mounts do this in the background too), and, when no\n"
	"mount is live, objects a crash left between upload and commit\n"
	"(found by listing the tier against the references).\n"
	"\n"
	"  -n, --dry-run  only count what would be deleted\n"
	"  --coord URL    coordinator to ask for live mounts\n"
	"  -h, --help     show this help\n"
	"Credentials of the tier: CASSAFS_DATA_SECRETS=FILE or the\n"
	"environment.  Exit status: 0 done, 1 failed, 2 usage.\n";

static int count_mount(void *arg, const struct coord_mount_info *mi)
{
	(*(int *)arg)++;
	return 0;
}

int cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"coord", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	const char *coord_url = NULL;
	int dry = 0, ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
		if (ch == 'n')
			dry = 1;
		else if (ch == 'c')
			coord_url = optarg;
		else if (ch == 'h') {
			fputs(gc_usage, stdout);
			return 0;
		} else {
			fputs(gc_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(gc_usage, stderr);
		return 2;
	}
	const char *url = argv[optind];
	struct store *s;
	struct meta *m;
	struct coord *c;
	if (cli_open_fs("gc", url, coord_url, &s, &m, &c) < 0)
		return 1;
	if (!meta_super(m)->data_url[0]) {
		fprintf(stderr, "cassafs gc: %s keeps its blocks in the store "
			"(format 1): there is no data tier to collect\n", url);
		cli_close_fs(s, m, c);
		return 1;
	}
	/* Leaked objects are told from uploads in flight only when nobody
	 * uploads: no live mount (coordinator) and no fresh mount record. */
	int mounts = 0;
	char who[256] = "";
	int r = coord_list_mounts(c, count_mount, &mounts);
	int live = r < 0 || mounts > 0 || cli_live_mount_record(m, who, sizeof(who)) != 0;
	char err[512];
	struct layout *l;
	struct data_opts o = {.secrets_file = getenv("CASSAFS_DATA_SECRETS")};
	if ((r = layout_open(m, meta_super(m)->data_url, &o, &l, err,
			     sizeof(err))) < 0) {
		fprintf(stderr, "cassafs gc: %s\n", err);
		cli_close_fs(s, m, c);
		return 1;
	}
	struct layout_gc_report g;
	r = layout_gc(l, 1, dry || live, &g);
	if (r == 0 && live && !dry) {
		/* released and dead objects can go while mounted; only the
		 * sweep is a count */
		struct layout_gc_report g2;
		if ((r = layout_gc(l, 0, 0, &g2)) == 0) {
			g.released = g2.released;
			g.deleted = g2.deleted;
			g.objects = g2.objects;
			g.bytes = g2.bytes;
		}
	}
	layout_close(l);
	cli_close_fs(s, m, c);
	if (r < 0) {
		fprintf(stderr, "cassafs gc: %s: %s\n", url, strerror(-r));
		return 1;
	}
	printf("%s%llu released records, %llu unreferenced objects deleted; "
	       "%llu objects (%llu bytes) without references %s; %llu objects "
	       "(%llu bytes) referenced\n", dry ? "dry run: " : "",
	       (unsigned long long)g.released, (unsigned long long)g.deleted,
	       (unsigned long long)g.leaked, (unsigned long long)g.leaked_bytes,
	       dry ? "would be deleted"
		   : live ? "left (a mount is live: they may be uploads in flight)"
			  : "deleted",
	       (unsigned long long)g.objects, (unsigned long long)g.bytes);
	if (g.missing)
		printf("warning: %llu referenced objects are missing from the "
		       "tier (run cassafs fsck)\n", (unsigned long long)g.missing);
	return 0;
}
