/*
 * data_cli.c — `cassafs gc`: the data tier's garbage, by hand.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "coord.h"
#include "data.h"
#include "layout.h"
#include "meta.h"
#include "store.h"

static const char gc_usage[] =
	"usage: cassafs gc [--dry-run] [--coord URL] URL\n"
	"\n"
	"Delete the data tier's objects that no file refers to any more:\n"
	"those of purged files, overwritten or truncated ranges and\n"
	"compactions (mounts do this in the background too), and objects a\n"
	"crash left between upload and commit (found by listing the tier\n"
	"against the references).  While mounts are live, only objects below\n"
	"every live mount's upload floor (in its mount record) are taken as\n"
	"leaks: an upload in flight, or one whose commit outcome is unknown\n"
	"(for 120 s), is never deleted.\n"
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

/* The coordinator's live sessions; an id of 0 (a mount without a store
 * record) is kept: it makes the fence 0. */
struct live_ids {
	uint64_t v[256];
	size_t n;
	int unknown;
};

static int collect_live(void *arg, const struct coord_mount_info *mi)
{
	struct live_ids *l = arg;
	if (!mi->id || l->n == sizeof(l->v) / sizeof(l->v[0]))
		l->unknown = 1;
	else
		l->v[l->n++] = mi->id;
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
	/* With no mount live (coordinator, fresh mount records) every
	 * unreferenced object is a leak.  With mounts live, only those below
	 * the fence: every live mount publishes the lowest object id it may
	 * still commit (its upload floor) in its record. */
	static struct live_ids ids;
	char who[256] = "";
	int r = coord_list_mounts(c, collect_live, &ids);
	int live = r < 0 || ids.n > 0 || ids.unknown ||
		   cli_live_mount_record(m, who, sizeof(who)) != 0;
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
	uint64_t fence = UINT64_MAX;
	if (live && (r < 0 || ids.unknown ||
		     layout_sweep_fence(l, ids.v, ids.n, CLI_SESSION_STALE,
					&fence) < 0))
		fence = 0;
	r = layout_gc_fenced(l, 1, fence, dry, &g);
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
	       dry ? "would be deleted" : "deleted",
	       (unsigned long long)g.objects, (unsigned long long)g.bytes);
	if (g.fenced)
		printf("%llu objects (%llu bytes) without references left: a "
		       "live mount may still commit them (uploads in flight, "
		       "or commits of unknown outcome, for 2 minutes); gc "
		       "again later\n", (unsigned long long)g.fenced,
		       (unsigned long long)g.fenced_bytes);
	if (g.missing)
		printf("warning: %llu referenced objects are missing from the "
		       "tier (run cassafs fsck)\n", (unsigned long long)g.missing);
	return 0;
}

/* ---- migrate-data ---- */

static const char migrate_usage[] =
	"usage: cassafs migrate-data [--data URL] [--coord URL] URL\n"
	"\n"
	"Move the blocks of a format-1 filesystem (kept in the store) into a\n"
	"data tier and make it format 2.  Offline: refused while mounted.\n"
	"Each piece of a file (up to 64 blocks) moves in one transaction, so\n"
	"an interrupted run loses nothing; run it again to finish (until\n"
	"then the filesystem cannot be mounted).  Progress goes to stderr\n"
	"when it is a terminal.\n"
	"\n"
	"  -d, --data URL  the tier (default store: objects in the store)\n"
	"  --coord URL     coordinator to ask for live mounts\n"
	"  -h, --help      show this help\n";

#define MIG_BLOCKS 64

struct mig {
	struct layout *l;
	uint32_t bs;
	uint64_t ino, from;
	uint8_t *buf; /* MIG_BLOCKS blocks */
	uint64_t idx[MIG_BLOCKS];
	size_t len[MIG_BLOCKS];
	int mark[MIG_BLOCKS];
	size_t n;
	int more;
	struct layout_batch *b;
	uint64_t files, blocks, bytes;
};

static int mig_block(void *arg, uint64_t idx, const void *data, size_t len)
{
	struct mig *g = arg;
	if (g->n == MIG_BLOCKS) {
		g->more = 1;
		return 1;
	}
	if (len > g->bs)
		return -EIO;
	memcpy(g->buf + g->n * (size_t)g->bs, data, len);
	g->idx[g->n] = idx;
	g->len[g->n] = len;
	g->mark[g->n] = meta_block_is_mark(data, len);
	g->n++;
	return 0;
}

static int mig_read_txn(struct store_txn *t, void *arg)
{
	struct mig *g = arg;
	g->n = 0;
	g->more = 0;
	int r = meta_block_scan(t, g->ino, g->from, mig_block, g);
	return r < 0 ? r : 0;
}

/* The moved blocks go, their slices come, in one transaction. */
static int mig_commit_txn(struct store_txn *t, void *arg)
{
	struct mig *g = arg;
	struct meta_inode in;
	int r = meta_inode_get(t, g->ino, &in);
	if (r < 0)
		return r;
	for (size_t i = 0; i < g->n && r == 0; i++)
		r = meta_block_put(t, &in, g->idx[i], NULL, 0);
	if (r == 0 && g->b)
		r = layout_commit_txn(t, g->l, g->b, &in);
	for (size_t i = 0; i < g->n && r == 0; i++)
		if (g->mark[i])
			r = layout_alloc_txn(t, g->l, &in, g->idx[i] * g->bs, g->bs,
					     LAYOUT_ALLOC_ZERO);
	return r < 0 ? r : meta_inode_put(t, &in);
}

static int mig_file(struct mig *g)
{
	g->from = 0;
	for (;;) {
		int r = meta_read(layout_meta(g->l), mig_read_txn, g);
		if (r < 0 || g->n == 0)
			return r;
		struct layout_piece p[MIG_BLOCKS];
		size_t np = 0;
		for (size_t i = 0; i < g->n; i++)
			if (!g->mark[i]) {
				p[np++] = (struct layout_piece){
					g->idx[i] * g->bs,
					g->buf + i * (size_t)g->bs, g->len[i]};
				g->bytes += g->len[i];
			}
		g->b = NULL;
		if (np && (r = layout_upload(g->l, g->ino, p, np, &g->b)) < 0)
			return r;
		r = meta_write(layout_meta(g->l), mig_commit_txn, g);
		layout_batch_done(g->l, g->b, r);
		g->b = NULL;
		if (r < 0)
			return r;
		g->blocks += g->n;
		if (!g->more)
			return 0;
		g->from = g->idx[g->n - 1] + 1;
	}
}

struct ino_list {
	struct meta *m;
	uint64_t *v;
	size_t n, cap;
};

static int collect_file(void *arg, uint64_t ino)
{
	struct ino_list *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ino;
	return 0;
}

static int list_inos_txn(struct store_txn *t, void *arg)
{
	struct ino_list *l = arg;
	uint64_t inodes, blocks, next;
	l->n = 0;
	int r = meta_usage(t, &inodes, &blocks, &next);
	return r < 0 ? r : meta_inode_scan_all(t, next, collect_file, l);
}

struct set_data {
	const char *url;
	uint32_t format;
};

static int set_data_txn(struct store_txn *t, void *arg)
{
	struct set_data *s = arg;
	return meta_super_set_data(t, s->url, s->format);
}

int cmd_migrate_data(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"coord", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	const char *coord_url = NULL, *data_arg = "store";
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		if (ch == 'd')
			data_arg = optarg;
		else if (ch == 'c')
			coord_url = optarg;
		else if (ch == 'h') {
			fputs(migrate_usage, stdout);
			return 0;
		} else {
			fputs(migrate_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(migrate_usage, stderr);
		return 2;
	}
	const char *url = argv[optind];
	struct store *s;
	struct meta *m;
	struct coord *c;
	if (cli_open_fs("migrate-data", url, coord_url, &s, &m, &c) < 0)
		return 1;
	const struct meta_super *sb = meta_super(m);
	int mounts = 0, rc = 1, r;
	char who[256] = "", err[512];
	struct layout *l = NULL;
	struct ino_list il = {m};
	struct mig g = {0};
	if (sb->format != META_FORMAT_BLOCKS) {
		fprintf(stderr, "cassafs migrate-data: %s keeps its contents in "
			"the data tier %s already\n", url, sb->data_url);
		goto out;
	}
	if (sb->migrating && strcmp(sb->data_url, data_arg)) {
		if (!strcmp(data_arg, "store"))
			data_arg = sb->data_url; /* resume with the recorded tier */
		else {
			fprintf(stderr, "cassafs migrate-data: a migration into %s "
				"was started; finish it with --data %s\n",
				sb->data_url, sb->data_url);
			goto out;
		}
	}
	if ((r = coord_list_mounts(c, count_mount, &mounts)) < 0 || mounts ||
	    cli_live_mount_record(m, who, sizeof(who)) != 0) {
		fprintf(stderr, "cassafs migrate-data: %s is mounted%s%s (or its "
			"mounts cannot be listed); unmount it first\n", url,
			who[0] ? " by " : "", who);
		goto out;
	}
	struct data_opts o = {.secrets_file = getenv("CASSAFS_DATA_SECRETS")};
	struct data *d = NULL;
	if ((r = data_open(data_arg, &(struct data_opts){.store = s,
		.secrets_file = o.secrets_file}, &d, err, sizeof(err))) < 0 ||
	    (r = data_prepare(d, err, sizeof(err))) < 0) {
		if (r < 0 && d)
			data_close(d);
		fprintf(stderr, "cassafs migrate-data: %s\n", err);
		goto out;
	}
	static char tier[META_DATA_URL_MAX];
	snprintf(tier, sizeof(tier), "%s", data_url(d));
	struct set_data sd = {tier, META_FORMAT_BLOCKS};
	r = meta_write(m, set_data_txn, &sd);
	if (r == 0)
		r = layout_open(m, tier, &o, &l, err, sizeof(err));
	data_close(d);
	if (r < 0) {
		fprintf(stderr, "cassafs migrate-data: %s\n",
			err[0] ? err : strerror(-r));
		goto out;
	}
	g.l = l;
	g.bs = sb->block_size;
	if (!(g.buf = malloc((size_t)MIG_BLOCKS * g.bs)) ||
	    (r = meta_read(m, list_inos_txn, &il)) < 0) {
		fprintf(stderr, "cassafs migrate-data: cannot list inodes: %s\n",
			strerror(g.buf ? -r : ENOMEM));
		goto out;
	}
	int tty = isatty(2);
	time_t last = 0;
	for (size_t i = 0; i < il.n; i++) {
		g.ino = il.v[i];
		uint64_t before = g.blocks;
		if ((r = mig_file(&g)) < 0) {
			fprintf(stderr, "cassafs migrate-data: inode %llu: %s "
				"(nothing lost; run it again)\n",
				(unsigned long long)g.ino, strerror(-r));
			goto out;
		}
		if (g.blocks != before)
			g.files++;
		if (tty && time(NULL) != last) {
			last = time(NULL);
			fprintf(stderr, "\rmigrate-data: %zu of %zu inodes, %llu "
				"blocks, %llu bytes moved", i + 1, il.n,
				(unsigned long long)g.blocks,
				(unsigned long long)g.bytes);
		}
	}
	if (tty)
		fputc('\n', stderr);
	sd.format = META_FORMAT;
	if ((r = meta_write(m, set_data_txn, &sd)) < 0 ||
	    (r = store_sync(s)) < 0) {
		fprintf(stderr, "cassafs migrate-data: cannot finish: %s\n",
			strerror(-r));
		goto out;
	}
	printf("moved %llu blocks (%llu bytes) of %llu files into %s; %s is "
	       "format %d now\n", (unsigned long long)g.blocks,
	       (unsigned long long)g.bytes, (unsigned long long)g.files,
	       sd.url, url, META_FORMAT);
	rc = 0;
out:
	free(g.buf);
	free(il.v);
	layout_close(l);
	cli_close_fs(s, m, c);
	return rc;
}
