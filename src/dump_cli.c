/*
 * dump_cli.c — `cassafs dump URL > FILE` and `cassafs load URL < FILE`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "coord.h"
#include "dump.h"
#include "meta.h"
#include "store.h"

#define ERRLEN 1024

static const char dump_usage[] =
	"usage: cassafs dump [--coord URL] [--progress|--quiet] URL > FILE\n"
	"\n"
	"Write the whole filesystem in URL to stdout: every name, attribute,\n"
	"extended attribute, hard link, symlink and byte, as JSON lines\n"
	"(versioned format, docs/dump-format.md).  Everything is read in one\n"
	"read transaction; a dump of a mounted filesystem holds what its\n"
	"mounts had committed (LMDB: at most commit_ms old; fsync or unmount\n"
	"first for the latest), and on Redis a write by a mount during the\n"
	"dump makes it fail rather than mix two states.  The last line is an\n"
	"end record: a dump without it is refused by load.  Progress goes to\n"
	"stderr when it is a terminal.\n"
	"\n"
	"  --coord URL  coordinator (not needed to dump)\n"
	"  --progress   report progress on stderr even if it is no terminal\n"
	"  --quiet      never report progress\n"
	"  -h, --help   show this help\n";

static const char load_usage[] =
	"usage: cassafs load [--coord URL] [--progress|--quiet] URL < FILE\n"
	"\n"
	"Fill an empty filesystem from a dump made by 'cassafs dump' (any\n"
	"store to any store: lmdb:// to redis:// and back).  When URL holds no\n"
	"filesystem yet, load creates one with the dump's block size; an\n"
	"existing one must be empty (only an empty root, as mkfs leaves it),\n"
	"unmounted and have the dump's block size.  Inode numbers,\n"
	"timestamps, owners and modes are kept; the filesystem keeps its own\n"
	"uuid.  Not atomic: after a failure run 'cassafs mkfs --force URL' and\n"
	"load again.  Progress goes to stderr when it is a terminal.\n"
	"\n"
	"  --coord URL  coordinator, to refuse a mounted filesystem (the\n"
	"               store's own mount records are checked without it;\n"
	"               default for lmdb:///DIR: its lock file)\n"
	"  --progress   report progress on stderr even if it is no terminal\n"
	"  --quiet      never report progress\n"
	"  -h, --help   show this help\n";

static int parse(int argc, char **argv, const char *usage, const char **coord,
		 int *progress)
{
	static const struct option opts[] = {
		{"coord", required_argument, NULL, 'c'},
		{"progress", no_argument, NULL, 'p'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	int ch;
	*progress = isatty(2);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'c')
			*coord = optarg;
		else if (ch == 'p')
			*progress = 1;
		else if (ch == 'q')
			*progress = 0;
		else if (ch == 'h') {
			fputs(usage, stdout);
			return 0;
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(usage, stderr);
		return 2;
	}
	return -1;
}

int cmd_dump(int argc, char **argv)
{
	const char *coord_url = NULL;
	int progress, r = parse(argc, argv, dump_usage, &coord_url, &progress);
	if (r >= 0)
		return r;
	const char *url = argv[optind];
	char err[ERRLEN];
	if (isatty(1)) {
		fprintf(stderr, "cassafs dump: stdout is a terminal; redirect it "
				"to a file (cassafs dump %s > FILE)\n", url);
		return 2;
	}
	struct store *s;
	struct meta *m;
	if (store_open(url, 0, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs dump: %s\n", err);
		return 1;
	}
	if (meta_open(s, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs dump: %s\n", err);
		store_close(s);
		return 1;
	}
	struct dump_counts c;
	r = dump_write(m, stdout, progress, &c, err, sizeof(err));
	meta_close(m);
	store_close(s);
	if (r < 0) {
		fprintf(stderr, "cassafs dump: %s\n", err);
		return 1;
	}
	return 0;
}

static int count_mount(void *arg, const struct coord_mount_info *mi)
{
	(*(int *)arg)++;
	return 0;
}

int cmd_load(int argc, char **argv)
{
	const char *coord_url = NULL;
	int progress, r = parse(argc, argv, load_usage, &coord_url, &progress);
	if (r >= 0)
		return r;
	const char *url = argv[optind];
	char err[ERRLEN], curl[PATH_MAX + 16];
	struct store *s = NULL;
	struct meta *m = NULL;
	struct coord *c = NULL;
	struct dump_reader *rd = NULL;
	struct dump_header h;
	int code = 1;
	if (isatty(0)) {
		fprintf(stderr, "cassafs load: stdin is a terminal; give the dump "
				"on it (cassafs load %s < FILE)\n", url);
		return 2;
	}
	if (dump_reader_open(stdin, &rd, &h, err, sizeof(err)) < 0) {
		fprintf(stderr, "cassafs load: %s\n", err);
		return 1;
	}
	if (store_open(url, STORE_CREATE, &s, err, sizeof(err)) < 0)
		goto fail;
	r = meta_open(s, &m, err, sizeof(err));
	if (r == -ENOENT) {
		/* no filesystem yet: make one like the dumped one */
		if (meta_mkfs(s, h.block_size, getuid(), getgid(), err,
			      sizeof(err)) < 0 ||
		    meta_open(s, &m, err, sizeof(err)) < 0)
			goto fail;
	} else if (r < 0) {
		goto fail;
	}
	char who[600];
	if ((r = cli_live_mount_record(m, who, sizeof(who))) != 0) {
		if (r < 0)
			snprintf(err, sizeof(err), "cannot tell whether %s is "
				 "mounted: %s", url, strerror(-r));
		else
			snprintf(err, sizeof(err), "%s is mounted by %s; unmount "
				 "it before loading into it", url, who);
		goto fail;
	}
	if (!coord_url && cli_default_coord_url(url, curl, sizeof(curl)) == 0)
		coord_url = curl;
	if (coord_url) {
		int mounts = 0;
		if (coord_open(coord_url, meta_super(m)->uuid, &c, err,
			       sizeof(err)) < 0)
			goto fail;
		if ((r = coord_list_mounts(c, count_mount, &mounts)) < 0) {
			snprintf(err, sizeof(err), "cannot tell whether %s is "
						   "mounted: %s", url, strerror(-r));
			goto fail;
		}
		if (mounts) {
			snprintf(err, sizeof(err), "%s is mounted; unmount it "
						   "before loading into it", url);
			goto fail;
		}
	}
	uint64_t inodes;
	if ((r = dump_fs_is_empty(m, &inodes)) < 0) {
		snprintf(err, sizeof(err), "cannot read %s: %s", url, strerror(-r));
		goto fail;
	}
	if (r == 0) {
		snprintf(err, sizeof(err),
			 "%s is not empty (%llu inodes): load fills only an empty "
			 "filesystem; make one with 'cassafs mkfs --force %s' "
			 "(which deletes everything in it)",
			 url, (unsigned long long)inodes, url);
		goto fail;
	}
	struct dump_counts n;
	if (dump_load(m, rd, progress, &n, err, sizeof(err)) < 0) {
		size_t len = strlen(err);
		snprintf(err + len, sizeof(err) - len,
			 "; %s now holds part of the dump: run 'cassafs mkfs "
			 "--force %s' and load again", url, url);
		goto fail;
	}
	code = 0;
	goto out;
fail:
	fprintf(stderr, "cassafs load: %s\n", err);
out:
	dump_reader_close(rd);
	coord_close(c);
	meta_close(m);
	if (s)
		store_close(s);
	return code;
}
