/*
 * cli.c — the filesystem subcommands: mkfs, mount, umount, status, fsck.
 * Exit codes: 0 ok, 1 failure, 2 usage error (fsck: see its --help).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "cli.h"
#include "coord.h"
#include "data.h"
#include "data_ring.h"
#include "fsck.h"
#include "fuse_ll.h"
#include "layout.h"
#include "log.h"
#include "mountinfo.h"
#include "meta.h"
#include "metrics.h"
#include "metrics_http.h"
#include "store.h"
#include "vfs.h"

#define ERRLEN 1024

static void die_msg(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void die_msg(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "cassafs %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/*
 * The coordinator of a store when none is given: the embedded engine
 * keeps its mount lock beside the data.  Other stores need --coord.
 */
static int default_coord_url(const char *store_url, char *out, size_t len)
{
	if (strncmp(store_url, "lmdb:///", 8))
		return -1;
	const char *p = store_url + 7;
	size_t n = strcspn(p, "?");
	snprintf(out, len, "local://%.*s", (int)n, p);
	return 0;
}

/* Open store + meta (+ coord when coord_out is given). */
static int open_fs(const char *cmd, const char *url, const char *coord_url,
		   struct store **s, struct meta **m, struct coord **c)
{
	char err[ERRLEN], curl[PATH_MAX + 16];
	int r = store_open(url, 0, s, err, sizeof(err));
	if (r < 0) {
		die_msg(cmd, "%s", err);
		return r;
	}
	if ((r = meta_open(*s, m, err, sizeof(err))) < 0) {
		die_msg(cmd, "%s", err);
		store_close(*s);
		*s = NULL;
		*m = NULL;
		return r;
	}
	if (!c)
		return 0;
	if (!coord_url) {
		if (default_coord_url(url, curl, sizeof(curl)) < 0) {
			die_msg(cmd, "%s needs a coordinator: add --coord "
				     "zk://HOST:PORT/CHROOT", url);
			r = -EINVAL;
			goto fail;
		}
		coord_url = curl;
	}
	if ((r = coord_open(coord_url, meta_super(*m)->uuid, c, err,
			    sizeof(err))) < 0) {
		die_msg(cmd, "%s", err);
		goto fail;
	}
	return 0;
fail:
	meta_close(*m);
	store_close(*s);
	*s = NULL;
	*m = NULL;
	*c = NULL;
	return r;
}

static void close_fs(struct store *s, struct meta *m, struct coord *c)
{
	coord_close(c);
	meta_close(m);
	store_close(s);
}

static int count_mount(void *arg, const struct coord_mount_info *mi)
{
	(*(int *)arg)++;
	return 0;
}

/*
 * The mounts a store knows of (each mount keeps a record there, refreshed
 * every few seconds), for the commands that must not need the coordinator
 * to know whether the filesystem is in use.
 */
#define SESSION_STALE CLI_SESSION_STALE /* the mount died */

/* The first 64 records (for display), how many more, and the first live
 * one among all of them (mkfs and load must not miss one). */
struct session_list {
	struct coord_mount_info m[64];
	int n, more;
	struct coord_mount_info live;
	int has_live;
};

static int collect_record(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct session_list *l = arg;
	struct coord_mount_info mi;
	char buf[2048];
	snprintf(buf, sizeof(buf), "%.*s", (int)len, rec);
	coord_parse_mount_info(buf, &mi);
	mi.id = id;
	if (!l->has_live && mi.seen + SESSION_STALE >= (int64_t)time(NULL)) {
		l->live = mi;
		l->has_live = 1;
	}
	if (l->n < 64)
		l->m[l->n++] = mi;
	else
		l->more++;
	return 0;
}

static int sessions_txn(struct store_txn *t, void *arg)
{
	struct session_list *l = arg;
	l->n = l->more = l->has_live = 0;
	return meta_session_scan(t, collect_record, l);
}

int cli_live_mount_record(struct meta *m, char *who, size_t len)
{
	static struct session_list l;
	int r = meta_read(m, sessions_txn, &l);
	if (r < 0 || !l.has_live)
		return r;
	snprintf(who, len, "host %s pid %d at %s (seen %lld s ago; a mount that "
			   "died is forgotten %d s after its last sign of life)",
		 l.live.host, (int)l.live.pid, l.live.mountpoint,
		 (long long)(time(NULL) - l.live.seen), SESSION_STALE);
	return 1;
}

/*
 * mkfs --force: refuse to wipe a filesystem that is mounted anywhere.  The
 * store's own mount records say so without a coordinator URL; the embedded
 * store's lock file says so too.  A store that holds no filesystem is
 * "unmounted".  Prints why and returns -1 if it must not be wiped.
 */
static int check_unmounted(const char *url)
{
	char err[ERRLEN], curl[PATH_MAX + 16];
	struct store *s;
	struct meta *m;
	struct coord *c;
	int r, mounts = 0;
	if (store_open(url, 0, &s, err, sizeof(err)) < 0)
		return 0;
	if (meta_open(s, &m, err, sizeof(err)) < 0) {
		store_close(s);
		return 0;
	}
	char who[600];
	if ((r = cli_live_mount_record(m, who, sizeof(who))) < 0)
		die_msg("mkfs", "cannot tell whether %s is mounted: %s; nothing "
				"changed", url, strerror(-r));
	else if (r > 0) {
		die_msg("mkfs", "%s is mounted by %s; unmount it first", s->url,
			who);
		r = -EBUSY;
	}
	if (r == 0 && default_coord_url(url, curl, sizeof(curl)) == 0 &&
	    coord_open(curl, meta_super(m)->uuid, &c, err, sizeof(err)) == 0) {
		coord_list_mounts(c, count_mount, &mounts);
		coord_close(c);
		if (mounts) {
			die_msg("mkfs", "%s is mounted; unmount it first", url);
			r = -EBUSY;
		}
	}
	meta_close(m);
	store_close(s);
	return r < 0 ? -1 : 0;
}

/* ---- mkfs ---- */

static const char mkfs_usage[] =
	"usage: cassafs mkfs [--block-size N] [--data URL] [--force] URL\n"
	"\n"
	"Create a new, empty CassaFS filesystem in the store named by URL\n"
	"(lmdb:///ABSOLUTE/DIR creates DIR).\n"
	"\n"
	"  -b, --block-size N  unit of allocation (st_blocks, fallocate): a\n"
	"                      power of two from 4K to 1M (suffixes K, M);\n"
	"                      default 64K\n"
	"  -d, --data URL      where file contents live, as objects: store\n"
	"                      (in the metadata store; the default),\n"
	"                      file:///DIR, or an object store (swift://,\n"
	"                      s3://, ring://); recorded in the superblock\n"
	"                      without credentials (give those to each mount\n"
	"                      with -o data_secrets=FILE or the environment);\n"
	"                      blocks: format 1, blocks in the store as before\n"
	"                      the data tier ('cassafs migrate-data' moves them)\n"
	"  -f, --force         replace a filesystem already in the store\n"
	"                      (refused while it is mounted); the objects of\n"
	"                      its file, swift, s3 or ring data tier are\n"
	"                      deleted first (refused if that tier cannot be\n"
	"                      opened: CASSAFS_DATA_SECRETS=FILE)\n"
	"  --keep-data         with --force: leave the old tier's objects\n"
	"  -h, --help          show this help\n";

/*
 * mkfs --force: the filesystem in url is about to go, with the map of its
 * objects.  If they live in a remote tier, delete them now (while the
 * metadata still says which they are) so that they are not left there for
 * ever; a failure leaves the metadata as it is, so mkfs --force can be run
 * again.  keep: only say what is left behind.
 */
static int drop_old_tier(const char *url, int keep)
{
	char err[ERRLEN];
	struct store *s;
	struct meta *m;
	if (store_open(url, 0, &s, err, sizeof(err)) < 0)
		return 0; /* no store: nothing there */
	if (meta_open(s, &m, err, sizeof(err)) < 0) {
		store_close(s);
		return 0; /* no filesystem (or not ours to read) */
	}
	const char *tier = meta_super(m)->data_url;
	int r = 0;
	if (!tier[0] || !strcmp(tier, "store")) {
		/* its contents go with the store */
	} else if (keep) {
		fprintf(stderr, "cassafs mkfs: --keep-data: the objects of %s "
			"(keys %s/…) stay in %s\n", meta_super(m)->uuid,
			meta_super(m)->uuid, tier);
	} else {
		struct layout *l;
		struct data_opts o = {.store = s,
				      .secrets_file = getenv("CASSAFS_DATA_SECRETS")};
		uint64_t n = 0;
		r = layout_open(m, tier, &o, &l, err, sizeof(err));
		if (r < 0) {
			die_msg("mkfs", "cannot open %s, the data tier of the "
				"filesystem being replaced (%s), to delete its "
				"objects; nothing changed.  Make it reachable "
				"(credentials: CASSAFS_DATA_SECRETS=FILE), or give "
				"--keep-data to leave them there", tier, err);
		} else {
			r = layout_destroy(l, &n);
			layout_close(l);
			if (r < 0)
				die_msg("mkfs", "deleting the objects of the old "
					"filesystem from %s: %s (%" PRIu64 " deleted); "
					"nothing else changed: run mkfs --force again, "
					"or give --keep-data", tier, strerror(-r), n);
			else
				printf("deleted %" PRIu64 " objects of the old "
				       "filesystem %s from %s\n", n,
				       meta_super(m)->uuid, tier);
		}
	}
	meta_close(m);
	store_close(s);
	return r < 0 ? -1 : 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10, end++;
	else if (*end == 'M' || *end == 'm')
		shift = 20, end++;
	else if (*end == 'G' || *end == 'g')
		shift = 30, end++;
	/* past 2^64 bytes once scaled: refused, not wrapped */
	if (*end || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int cmd_mkfs(int argc, char **argv)
{
	static const struct option opts[] = {
		{"block-size", required_argument, NULL, 'b'},
		{"data", required_argument, NULL, 'd'},
		{"force", no_argument, NULL, 'f'},
		{"keep-data", no_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	uint64_t bs = META_DEFAULT_BLOCK_SIZE;
	int force = 0, keep_data = 0, ch;
	const char *data_arg = "store";
	char err[ERRLEN];
	optind = 1;
	while ((ch = getopt_long(argc, argv, "b:d:fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			data_arg = optarg;
			break;
		case 'b':
			if (parse_size(optarg, &bs) < 0 || bs > UINT32_MAX) {
				die_msg("mkfs", "bad block size '%s'", optarg);
				return 2;
			}
			break;
		case 'f':
			force = 1;
			break;
		case 'K':
			keep_data = 1;
			break;
		case 'h':
			fputs(mkfs_usage, stdout);
			return 0;
		default:
			fputs(mkfs_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(mkfs_usage, stderr);
		return 2;
	}
	const char *url = argv[optind];
	struct store *s;
	if (keep_data && !force) {
		die_msg("mkfs", "--keep-data goes with --force");
		return 2;
	}
	if (force) {
		if (check_unmounted(url) < 0 || drop_old_tier(url, keep_data) < 0)
			return 1;
		if (store_destroy(url, err, sizeof(err)) < 0) {
			die_msg("mkfs", "%s", err);
			return 1;
		}
	}
	if (store_open(url, STORE_CREATE, &s, err, sizeof(err)) < 0) {
		die_msg("mkfs", "%s", err);
		return 1;
	}
	/* the tier first: a URL that does not work makes no filesystem */
	struct data *d = NULL;
	struct data_opts dopt = {.store = s,
				 .secrets_file = getenv("CASSAFS_DATA_SECRETS")};
	int blocks = !strcmp(data_arg, "blocks"); /* format 1 */
	int r = blocks ? 0 : data_open(data_arg, &dopt, &d, err, sizeof(err));
	if (r == 0 && d && (r = data_prepare(d, err, sizeof(err))) < 0)
		data_close(d);
	if (r < 0) {
		die_msg("mkfs", "%s", err);
		store_close(s);
		return r == -EINVAL ? 2 : 1;
	}
	r = meta_mkfs_data(s, (uint32_t)bs, getuid(), getgid(),
			   d ? data_url(d) : NULL, err, sizeof(err));
	data_close(d);
	if (r < 0) {
		die_msg("mkfs", "%s", err);
		store_close(s);
		return r == -EINVAL ? 2 : 1;
	}
	struct meta *m;
	if (meta_open(s, &m, err, sizeof(err)) == 0) {
		printf("created CassaFS filesystem %s in %s (block size %u, "
		       "data in %s)\n", meta_super(m)->uuid, s->url,
		       meta_super(m)->block_size,
		       blocks ? "the store's blocks, format 1"
			      : meta_super(m)->data_url);
		meta_close(m);
	}
	store_close(s);
	return 0;
}

/* ---- mount ---- */

static const char mount_usage[] =
	"usage: cassafs mount [-f] [-o OPTIONS] [--coord URL] URL MOUNTPOINT\n"
	"       cassafs mount -o remount,ro|rw[,FLAGS] [URL] MOUNTPOINT\n"
	"\n"
	"Mount the filesystem in URL at MOUNTPOINT.  Detaches and logs to\n"
	"syslog unless -f is given; errors found while mounting are printed\n"
	"here either way.\n"
	"\n"
	"  -f, --foreground     stay in the foreground, log to stderr\n"
	"  --coord URL          coordinator (default for lmdb:///DIR: a lock\n"
	"                       file in DIR, one mount at a time)\n"
	"  -o OPTIONS           comma-separated:\n"
	"     allow_other, allow_root, ro, rw, nosuid, suid, nodev, dev,\n"
	"     noexec, exec, noatime, atime, sync, async, dirsync,\n"
	"     auto_unmount        passed to the kernel mount (a mount is\n"
	"                         nosuid,nodev unless suid,dev are given)\n"
	"     relatime (default), noatime, strictatime\n"
	"                         a read updates atime: if it is older than\n"
	"                         mtime/ctime or a day; never; always\n"
	"     remount             change ro/rw, nosuid, nodev, noexec of a\n"
	"                         live mount (root; also mount -o\n"
	"                         remount,ro MOUNTPOINT)\n"
	"     attr_timeout=S      seconds the kernel caches attributes\n"
	"                         (60; with a distributed coordinator 0,\n"
	"                         and more is refused unless the Redis\n"
	"                         store tracks changes: tracking=on)\n"
	"     entry_timeout=S     seconds the kernel caches names (60;\n"
	"                         distributed: 1 at most)\n"
	"     negative_timeout=S  seconds it caches \"no such name\" (60;\n"
	"                         distributed: 0)\n"
	"     max_threads=N       request threads (2: the kernel wakes idle\n"
	"                         FUSE threads in turn, and on 2 cores more\n"
	"                         threads halved serial create/unlink rates)\n"
	"     max_dirty=BYTES     write buffer per open file (32M)\n"
	"     data_secrets=FILE   credentials of the data tier (KEY=VALUE\n"
	"                         lines; default: CASSAFS_DATA_* variables)\n"
	"     cache_dir=DIR       keep a local copy of the objects read from a\n"
	"                         remote data tier (file, swift, s3, ring) in\n"
	"                         DIR, one mount per DIR; kept across mounts\n"
	"     cache_size=BYTES    bound of cache_dir (K, M, G; default 1G);\n"
	"                         least recently used copies go first\n"
	"     acl, noacl          POSIX ACLs (system.posix_acl_*, getfacl,\n"
	"                         setfacl; default acl) or mode bits only\n"
	"     log_level=L         error, warn, info (default) or debug\n"
	"     log_file=PATH       log to PATH instead of syslog; SIGHUP reopens it\n"
	"     coord=URL           same as --coord\n"
	"     metrics=[HOST:]PORT serve Prometheus metrics (/metrics), JSON\n"
	"                         (/stats.json) and a status page (/) on\n"
	"                         HOST (127.0.0.1 unless given; port 0 picks\n"
	"                         one); 'cassafs stats MOUNTPOINT' reads it\n"
	"     debug               print every FUSE request (implies -f)\n"
	"     defaults, auto, noauto, user, users, nofail, _netdev, x-*:\n"
	"                         accepted for /etc/fstab and ignored\n"
	"  -h, --help           show this help\n"
	"\n"
	"/etc/fstab: URL MOUNTPOINT cassafs defaults 0 0  (uses /sbin/mount.cassafs)\n"
	"        or: URL MOUNTPOINT fuse.cassafs defaults 0 0  (mount.fuse3 runs\n"
	"            'cassafs URL MOUNTPOINT -o OPTIONS', cassafs from /usr/local/bin\n"
	"            or /usr/bin)\n";

struct mount_cfg {
	const char *url, *mountpoint, *coord_url;
	int foreground;
	struct fuse_ll_options fo;
	struct vfs_options vo;
	enum log_level level;
	const char *log_file;
	const char *metrics; /* -o metrics=[HOST:]PORT */
	char cache_dir[PATH_MAX]; /* -o cache_dir=, made absolute */
	char fuse_opts[1024];
	int threads_set;
};

static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int parse_mount_opts(char *list, struct mount_cfg *cfg)
{
	static const char *const kernel_opts[] = {
		"allow_other", "allow_root", "ro", "rw", "nosuid", "suid",
		"nodev", "dev", "noexec", "exec", "noatime", "atime",
		"sync", "async", "dirsync", "auto_unmount", NULL};
	static const char *const ignored[] = {"defaults", "auto", "noauto",
					      "user", "users", "nofail",
					      "_netdev", NULL};
	char *save = NULL;
	for (char *o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		const char *val = eq ? eq + 1 : NULL;
		size_t klen = eq ? (size_t)(eq - o) : strlen(o);
		int known = 0;
#define KEY(k) (strlen(k) == klen && !strncmp(o, k, klen))
		for (int i = 0; kernel_opts[i]; i++)
			if (!val && !strcmp(o, kernel_opts[i])) {
				size_t n = strlen(cfg->fuse_opts);
				snprintf(cfg->fuse_opts + n, sizeof(cfg->fuse_opts) - n,
					 "%s%s", n ? "," : "", o);
				known = 1;
			}
		for (int i = 0; ignored[i]; i++)
			if (!strcmp(o, ignored[i]))
				known = 1;
		if (!strncmp(o, "x-", 2))
			known = 1;
		/* FUSE leaves atime to the filesystem: the vfs applies these */
		if (!strcmp(o, "noatime")) {
			cfg->vo.atime = VFS_ATIME_NOATIME;
		} else if (!strcmp(o, "relatime") || !strcmp(o, "atime")) {
			cfg->vo.atime = VFS_ATIME_RELATIME;
			known = 1; /* libfuse refuses relatime: vfs only */
		} else if (!strcmp(o, "strictatime")) {
			cfg->vo.atime = VFS_ATIME_STRICT;
			known = 1;
		}
		if (known)
			continue;
		if (val && KEY("max_threads"))
			cfg->threads_set = 1;
		if (val && KEY("attr_timeout")) {
			if (parse_double(val, &cfg->fo.attr_timeout) < 0)
				goto bad;
		} else if (val && KEY("entry_timeout")) {
			if (parse_double(val, &cfg->fo.entry_timeout) < 0)
				goto bad;
		} else if (val && KEY("negative_timeout")) {
			if (parse_double(val, &cfg->fo.negative_timeout) < 0)
				goto bad;
		} else if (val && KEY("max_threads")) {
			cfg->fo.max_threads = atoi(val);
			if (cfg->fo.max_threads < 1 || cfg->fo.max_threads > 1024)
				goto bad;
		} else if (val && KEY("data_secrets")) {
			cfg->vo.data_secrets = val;
		} else if (val && KEY("cache_dir")) {
			/* the daemon leaves the working directory */
			char cwd[PATH_MAX] = "";
			if (!*val || (*val != '/' && !getcwd(cwd, sizeof(cwd))) ||
			    (size_t)snprintf(cfg->cache_dir, sizeof(cfg->cache_dir),
					     "%s%s%s", cwd, *cwd ? "/" : "", val) >=
				    sizeof(cfg->cache_dir))
				goto bad;
			cfg->vo.cache_dir = cfg->cache_dir;
		} else if (val && KEY("cache_size")) {
			if (parse_size(val, &cfg->vo.cache_size) < 0 ||
			    cfg->vo.cache_size < (1u << 20))
				goto bad;
		} else if (val && KEY("max_dirty")) {
			uint64_t v;
			if (parse_size(val, &v) < 0 || v < 4096)
				goto bad;
			cfg->vo.max_dirty_per_file = v;
		} else if (val && KEY("log_level")) {
			if (log_parse_level(val, &cfg->level) < 0)
				goto bad;
		} else if (val && KEY("log_file")) {
			cfg->log_file = val;
		} else if (val && KEY("metrics")) {
			cfg->metrics = val;
		} else if (val && KEY("coord")) {
			/* zk://h1:p,h2:p/CHROOT holds commas: take the
			 * following pieces until the path starts. */
			const char *hosts = strstr(val, "://");
			while (hosts && !strchr(hosts + 3, '/') && save && *save) {
				char *next = strtok_r(NULL, ",", &save);
				if (!next)
					break;
				next[-1] = ','; /* undo strtok's cut */
			}
			cfg->coord_url = val;
		} else if (!val && (KEY("acl") || KEY("noacl"))) {
			cfg->fo.no_acl = KEY("noacl");
		} else if (!val && KEY("debug")) {
			cfg->fo.debug = 1;
			cfg->foreground = 1;
		} else {
			die_msg("mount", "unknown mount option '%s' (see "
					 "'cassafs mount --help')", o);
			return -1;
		}
		continue;
bad:
		die_msg("mount", "bad value in mount option '%s'", o);
		return -1;
#undef KEY
	}
	return 0;
}

/* 1 if path is already a mount point. */
static int is_mount_point(const char *path)
{
	return mountinfo_find(0, path, NULL, 0) > 0;
}

/*
 * `ps` shows every process's arguments to every user: once the store is
 * open, overwrite a password given inside the URL (scheme://[USER]:PASSWORD@…)
 * with '*' in place, in the daemon's own argv.  The url is not parsed again.
 * A password_file= or the environment (docs/redis.md) never shows at all.
 */
static void hide_url_password(char *url)
{
	char *p = strstr(url, "://");
	if (!p)
		return;
	p += 3;
	char *at = strchr(p, '@'), *slash = strchr(p, '/');
	if (!at || (slash && slash < at))
		return;
	char *colon = memchr(p, ':', (size_t)(at - p));
	for (char *q = colon ? colon + 1 : at; q < at; q++)
		*q = '*';
}

/*
 * Where a daemon records its pid for `cassafs umount` to wait on: root's
 * in /run/cassafs; another user's in $XDG_RUNTIME_DIR/cassafs, else
 * /run/user/UID/cassafs, else /tmp/cassafs-UID.  /tmp is writable by all:
 * the directory must be a real directory (no symlink), owned by the user,
 * writable by nobody else (0700; 0755 for root's), or there is no pid
 * file (-EPERM; umount then cannot wait for the daemon).
 */
static int pid_file_path(const char *mountpoint, char *out, size_t len)
{
	char dir[PATH_MAX];
	uid_t uid = getuid();
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	if (uid == 0) {
		snprintf(dir, sizeof(dir), "/run/cassafs");
	} else if (xdg && xdg[0] == '/') {
		snprintf(dir, sizeof(dir), "%s/cassafs", xdg);
	} else {
		snprintf(dir, sizeof(dir), "/run/user/%u", (unsigned)uid);
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid)
			snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir),
				 "/cassafs");
		else
			snprintf(dir, sizeof(dir), "/tmp/cassafs-%u", (unsigned)uid);
	}
	snprintf(out, len, "%s/%016llx.pid", dir,
		 (unsigned long long)meta_name_cookie(mountpoint,
						      strlen(mountpoint)));
	if (mkdir(dir, uid == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid ||
	    (st.st_mode & (uid == 0 ? 022 : 077)))
		return -EPERM;
	return 0;
}

/* The pid file itself: never through a symlink. */
static FILE *pid_file_open(const char *path, int write)
{
	int fd = open(path, write ? O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC
				  : O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
		      0644);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, write ? "w" : "r");
	if (!f)
		close(fd);
	return f;
}

/* Tell the waiting parent how the mount went: "" = success. */
static void report_parent(int fd, const char *msg)
{
	if (fd < 0)
		return;
	size_t n = strlen(msg);
	if (write(fd, msg, n + 1) < 0) {
		/* the parent is gone: nothing to tell */
	}
	close(fd);
}

static int serve(struct mount_cfg *cfg, int status_fd)
{
	char err[ERRLEN], msg[ERRLEN + 64], pidfile[PATH_MAX];
	struct store *s = NULL;
	struct meta *m = NULL;
	struct coord *c = NULL;
	struct vfs *v = NULL;
	struct fuse_ll *f = NULL;
	struct metrics_http *mh = NULL;
	int r, exit_code = 1;

	if (!cfg->foreground && !cfg->log_file)
		log_open("syslog", cfg->level);
	else if (cfg->log_file && log_open(cfg->log_file, cfg->level) < 0) {
		snprintf(msg, sizeof(msg), "cannot open log file %s: %s",
			 cfg->log_file, strerror(errno));
		goto fail_msg;
	} else
		log_set_level(cfg->level);

	/* Errors here go to the terminal through stderr (still ours). */
	if ((r = open_fs("mount", cfg->url, cfg->coord_url, &s, &m, &c)) < 0) {
		msg[0] = 0; /* open_fs printed the reason */
		goto fail_msg;
	}
	hide_url_password((char *)cfg->url); /* it points into argv */
	char warn[ERRLEN];
	if (store_durability(s, warn, sizeof(warn)) > 0) {
		log_warn("%s: %s", s->url, warn);
		if (status_fd >= 0 || cfg->log_file) /* else log_warn said it */
			fprintf(stderr, "cassafs mount: warning: %s: %s\n",
				s->url, warn);
	}
	if ((r = vfs_new_why(m, c, &cfg->vo, &v, err, sizeof(err))) < 0) {
		snprintf(msg, sizeof(msg), "%s", err);
		goto fail_msg;
	}
	if ((r = vfs_mount(v, cfg->mountpoint, err, sizeof(err))) < 0) {
		snprintf(msg, sizeof(msg), "cannot mount %s: %s", s->url, err);
		goto fail_msg;
	}
	cfg->fo.fsname = s->url; /* the engine's form hides any password */
	cfg->fo.fuse_opts = cfg->fuse_opts;
	/* Over a network each request waits for round trips: more request
	 * threads keep several in flight. */
	if (coord_has_notices(c) && !cfg->threads_set)
		cfg->fo.max_threads = 32;
	if (cfg->metrics) {
		metrics_enable(); /* before fuse_ll_mount: it times requests */
		if ((r = metrics_http_start(cfg->metrics, m, c, cfg->mountpoint,
					    &mh, err, sizeof(err))) < 0) {
			snprintf(msg, sizeof(msg), "%s", err);
			goto fail_msg;
		}
	}
	if ((r = fuse_ll_mount(v, cfg->mountpoint, &cfg->fo, &f, err,
			       sizeof(err))) < 0) {
		snprintf(msg, sizeof(msg), "%s", err);
		goto fail_msg;
	}
	/* after libfuse's handlers, which end the session on SIGHUP too */
	if ((r = log_reopen_on_hup()) < 0)
		log_warn("SIGHUP will unmount, not reopen the log: %s",
			 strerror(-r));
	FILE *pf = NULL;
	if ((r = pid_file_path(cfg->mountpoint, pidfile, sizeof(pidfile))) < 0 ||
	    !(pf = pid_file_open(pidfile, 1))) {
		log_warn("no pid file %s (%s): cassafs umount will not wait "
			 "for this daemon", pidfile,
			 r == -EPERM ? "its directory is not the user's own, "
				       "mode 0700, or is a symlink"
				     : strerror(r < 0 ? -r : errno));
		pidfile[0] = 0;
	} else {
		fprintf(pf, "%d\n%s\n", (int)getpid(), cfg->mountpoint);
		fclose(pf);
	}
	log_info("mounted %s at %s (block size %u)", s->url, cfg->mountpoint,
		 meta_super(m)->block_size);
	/* systemd (Type=notify): the kernel mount exists and the loop starts
	 * next; a request sent now waits for it rather than failing.  No-op
	 * without $NOTIFY_SOCKET. */
	sd_notifyf(0, "READY=1\nMAINPID=%d\nSTATUS=mounted %s at %s",
		   (int)getpid(), s->url, cfg->mountpoint);
	if (status_fd >= 0) {
		report_parent(status_fd, "");
		status_fd = -1;
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		if (chdir("/") < 0) {
			/* not fatal: all our paths are absolute */
		}
	}
	r = fuse_ll_run(f);
	exit_code = r < 0 ? 1 : 0;
	sd_notifyf(0, "STOPPING=1\nSTATUS=unmounted from %s, writing buffered data",
		   cfg->mountpoint);
	if (pidfile[0])
		unlink(pidfile);
	if ((r = vfs_flush_all(v)) < 0 || (r = store_sync(s)) < 0) {
		log_error("unmount of %s: could not write buffered data: %s",
			  s->url, strerror(-r));
		exit_code = 1;
	}
	log_info("unmounted %s from %s", s->url, cfg->mountpoint);
	metrics_http_stop(mh);
	/*
	 * Tear down in this order: the adapter first (fuse_session_destroy
	 * calls the destroy operation, which flushes through the vfs; no
	 * notice reaches the adapter after fuse_ll_run), then the vfs, then
	 * the coordinator and the store.
	 */
	fuse_ll_free(f);
	vfs_free(v);
	close_fs(s, m, c);
	return exit_code;
fail_msg:
	if (msg[0]) {
		log_error("%s", msg);
		if (status_fd < 0)
			die_msg("mount", "%s", msg);
	}
	/* "\n" tells the parent it failed when the reason is already out */
	report_parent(status_fd, msg[0] ? msg : "\n");
	metrics_http_stop(mh);
	vfs_free(v);
	if (c)
		close_fs(s, m, c);
	else if (s) {
		meta_close(m);
		store_close(s);
	}
	return exit_code;
}

/* The fstype of the mount at path ("" if none). */
static void mount_fstype(const char *path, char *type, size_t len)
{
	if (mountinfo_find(0, path, type, len) <= 0)
		type[0] = 0;
}

/*
 * `-o remount,…`: change the per-mount and read-only flags of a live
 * mount; the daemon keeps running.  The kernel applies MS_RDONLY to the
 * FUSE superblock, so every write then fails with EROFS, and takes it
 * back on remount,rw.  mount(8) reaches here through mount.fuse3
 * (`cassafs URL MOUNTPOINT -o remount,…` with the mount's current options,
 * user_id=… included) or mount.cassafs.  Options the daemon fixed at
 * mount time cannot change.
 */
static int do_remount(char *olist, const char *path)
{
	static const struct {
		const char *name;
		unsigned long set, clear;
	} flags[] = {
		{"ro", MS_RDONLY, 0},          {"rw", 0, MS_RDONLY},
		{"nosuid", MS_NOSUID, 0},      {"suid", 0, MS_NOSUID},
		{"nodev", MS_NODEV, 0},        {"dev", 0, MS_NODEV},
		{"noexec", MS_NOEXEC, 0},      {"exec", 0, MS_NOEXEC},
		{"sync", MS_SYNCHRONOUS, 0},   {"async", 0, MS_SYNCHRONOUS},
		{"dirsync", MS_DIRSYNC, 0},    {"nodiratime", MS_NODIRATIME, 0},
		{"diratime", 0, MS_NODIRATIME},
		{"noatime", MS_NOATIME, MS_RELATIME | MS_STRICTATIME},
		{"relatime", MS_RELATIME, MS_NOATIME | MS_STRICTATIME},
		{"strictatime", MS_STRICTATIME, MS_NOATIME | MS_RELATIME},
		{"atime", 0, MS_NOATIME},      {"remount", 0, 0},
	};
	/* What mount(8) repeats from the current mount, or fstab noise. */
	static const char *const same[] = {
		"user_id", "group_id", "default_permissions", "allow_other",
		"allow_root", "fsname", "subtype", "max_read", "blksize",
		"defaults", "auto", "noauto", "user", "users", "nofail",
		"_netdev", "auto_unmount", NULL};
	char mp[PATH_MAX], type[256];
	struct statvfs sv;
	if (!realpath(path, mp) || statvfs(mp, &sv) < 0) {
		die_msg("mount", "remount: %s: %s", path, strerror(errno));
		return 1;
	}
	mount_fstype(mp, type, sizeof(type));
	if (strcmp(type, "fuse.cassafs")) {
		die_msg("mount", "remount: %s is not a CassaFS mount point%s%s%s", mp,
			type[0] ? " (it is " : "", type, type[0] ? ")" : "");
		return 1;
	}
	unsigned long fl = MS_REMOUNT;
	static const struct { unsigned long st, ms; } cur[] = {
		{ST_RDONLY, MS_RDONLY},   {ST_NOSUID, MS_NOSUID},
		{ST_NODEV, MS_NODEV},     {ST_NOEXEC, MS_NOEXEC},
		{ST_SYNCHRONOUS, MS_SYNCHRONOUS}, {ST_NOATIME, MS_NOATIME},
		{ST_NODIRATIME, MS_NODIRATIME},   {ST_RELATIME, MS_RELATIME},
	};
	for (size_t i = 0; i < sizeof(cur) / sizeof(cur[0]); i++)
		if (sv.f_flag & cur[i].st)
			fl |= cur[i].ms;
	char *save = NULL;
	for (char *o = strtok_r(olist, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		size_t klen = strcspn(o, "=");
		int known = !strncmp(o, "x-", 2);
		for (size_t i = 0; !known && i < sizeof(flags) / sizeof(flags[0]); i++)
			if (!strcmp(o, flags[i].name)) {
				fl = (fl & ~flags[i].clear) | flags[i].set;
				known = 1;
			}
		for (int i = 0; !known && same[i]; i++)
			known = strlen(same[i]) == klen && !strncmp(o, same[i], klen);
		if (!known) {
			die_msg("mount", "remount of %s: option '%s' cannot be changed "
					 "on a live mount (unmount and mount again)", mp, o);
			return 2;
		}
	}
	if (mount(NULL, mp, NULL, fl, NULL) < 0) {
		int e = errno;
		die_msg("mount", "cannot remount %s %s: %s%s", mp,
			(fl & MS_RDONLY) ? "read-only" : "read-write", strerror(e),
			e == EPERM ? " (remounting needs root; fusermount3 "
				     "cannot remount)" : "");
		return 1;
	}
	return 0;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"coord", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	struct mount_cfg cfg = {
		.fo = {.attr_timeout = -1, .entry_timeout = -1,
		       .negative_timeout = -1, .max_threads = 2},
		.vo = {.max_dirty_per_file = 32 << 20,
		       .max_dirty_total = 256 << 20},
		.level = LOG_LVL_INFO,
	};
	char olist[4096] = "";
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+fo:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			cfg.foreground = 1;
			break;
		case 'o': {
			size_t n = strlen(olist);
			snprintf(olist + n, sizeof(olist) - n, "%s%s", n ? "," : "",
				 optarg);
			break;
		}
		case 'c':
			cfg.coord_url = optarg;
			break;
		case 'h':
			fputs(mount_usage, stdout);
			return 0;
		default:
			fputs(mount_usage, stderr);
			return 2;
		}
	}
	/* mount(8) helpers put -o after the positional arguments. */
	if (argc - optind == 4 && !strcmp(argv[optind + 2], "-o")) {
		size_t n = strlen(olist);
		snprintf(olist + n, sizeof(olist) - n, "%s%s", n ? "," : "",
			 argv[optind + 3]);
		argc -= 2;
	}
	/* -o remount,…: one MOUNTPOINT, or URL MOUNTPOINT as mount(8) gives */
	if (strstr(olist, "remount") && argc - optind >= 1 && argc - optind <= 2) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), ",%s,", olist);
		if (strstr(tmp, ",remount,"))
			return do_remount(olist, argv[argc - 1]);
	}
	if (argc - optind != 2) {
		fputs(mount_usage, stderr);
		return 2;
	}
	if (parse_mount_opts(olist, &cfg) < 0)
		return 2;
	if (cfg.vo.cache_size && !cfg.vo.cache_dir) {
		die_msg("mount", "cache_size= needs cache_dir=DIR");
		return 2;
	}
	cfg.url = argv[optind];
	char mp[PATH_MAX];
	struct stat st;
	if (!realpath(argv[optind + 1], mp) || stat(mp, &st) < 0) {
		die_msg("mount", "mountpoint %s: %s", argv[optind + 1],
			strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		die_msg("mount", "mountpoint %s is not a directory", mp);
		return 1;
	}
	if (is_mount_point(mp)) {
		die_msg("mount", "mountpoint %s is busy: something is already "
				 "mounted there", mp);
		return 1;
	}
	cfg.mountpoint = mp;
	if (cfg.foreground)
		return serve(&cfg, -1);

	/* Detach: the child mounts and reports back through a pipe, so that
	 * every error the user must act on still reaches this terminal. */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		die_msg("mount", "pipe: %s", strerror(errno));
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		die_msg("mount", "fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(pfd[0]);
		setsid();
		_exit(serve(&cfg, pfd[1]));
	}
	close(pfd[1]);
	char msg[ERRLEN + 64];
	ssize_t n = 0, got;
	while ((got = read(pfd[0], msg + n, sizeof(msg) - 1 - (size_t)n)) > 0)
		if ((n += got) > 0 && msg[n - 1] == 0)
			break;
	close(pfd[0]);
	if (n > 0 && msg[0] == 0)
		return 0; /* mounted */
	int status;
	waitpid(pid, &status, 0);
	if (n > 0) {
		msg[n] = 0;
		if (msg[0] != '\n')
			die_msg("mount", "%s", msg);
		return 1;
	}
	die_msg("mount", "the mount process ended without a word (status %d)",
		status);
	return 1;
}

/* ---- umount ---- */

static const char umount_usage[] =
	"usage: cassafs umount MOUNTPOINT\n"
	"\n"
	"Unmount a CassaFS mount and wait until its daemon has written\n"
	"everything and exited (the daemon's pid file is in /run/cassafs for\n"
	"root, else in $XDG_RUNTIME_DIR/cassafs, /run/user/UID/cassafs or\n"
	"/tmp/cassafs-UID, a directory of the user's own with mode 0700).\n";

int cmd_umount(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(umount_usage, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(umount_usage, stderr);
		return 2;
	}
	char mp[PATH_MAX], pidfile[PATH_MAX];
	if (!realpath(argv[1], mp)) {
		/* A dead daemon leaves ENOTCONN: unmount by name anyway. */
		if (errno != ENOTCONN) {
			die_msg("umount", "%s: %s", argv[1], strerror(errno));
			return 1;
		}
		snprintf(mp, sizeof(mp), "%s", argv[1]);
	}
	int pid = 0;
	FILE *pf = pid_file_path(mp, pidfile, sizeof(pidfile)) < 0
			   ? NULL
			   : pid_file_open(pidfile, 0);
	if (pf) {
		if (fscanf(pf, "%d", &pid) != 1)
			pid = 0;
		fclose(pf);
	}
	if (umount2(mp, 0) < 0) {
		int e = errno;
		if (e == EPERM) {
			/* unprivileged: the setuid helper does it */
			char *args[] = {"fusermount3", "-u", mp, NULL};
			pid_t h = fork();
			if (h == 0) {
				execvp("fusermount3", args);
				_exit(127);
			}
			int st;
			waitpid(h, &st, 0);
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				die_msg("umount", "fusermount3 -u %s failed", mp);
				return 1;
			}
		} else {
			die_msg("umount", "cannot unmount %s: %s%s", mp, strerror(e),
				e == EBUSY ? " (files are open there)" : "");
			return 1;
		}
	}
	/* Wait (bounded) for the daemon to finish writing and exit. */
	for (int i = 0; pid > 0 && i < 1200 && kill(pid, 0) == 0; i++)
		usleep(100 * 1000);
	if (pid > 0 && kill(pid, 0) == 0) {
		die_msg("umount", "unmounted %s, but daemon %d is still running",
			mp, pid);
		return 1;
	}
	if (pid > 0) /* read from a safe directory */
		unlink(pidfile);
	return 0;
}

/* ---- status ---- */

static const char status_usage[] =
	"usage: cassafs status [--json] [--coord URL] URL\n"
	"       cassafs status [--json] ring:///PATH/object.ring.gz  (per device)\n"
	"\n"
	"Show the filesystem's format, block size, usage and live mounts.\n"
	"\n"
	"  --json      the same facts as one JSON object (docs/status-json.md)\n"
	"  --coord URL coordinator to ask for live mounts\n"
	"  -h, --help  show this help\n";

static int print_mount(void *arg, const struct coord_mount_info *mi)
{
	char when[64];
	time_t t = (time_t)mi->since;
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	printf("mounted      host %s pid %d at %s since %s (cassafs %s)\n",
	       mi->host, (int)mi->pid, mi->mountpoint, when, mi->version);
	(*(int *)arg)++;
	return 0;
}

struct usage {
	uint64_t inodes, blocks, next_ino;
	uint64_t objects, obj_bytes; /* the data tier's referenced objects */
};

static int count_orphan(void *arg, uint64_t ino)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static int count_orphans_txn(struct store_txn *t, void *arg)
{
	*(uint64_t *)arg = 0;
	return meta_orphan_scan(t, count_orphan, arg);
}

static int usage_txn(struct store_txn *t, void *arg)
{
	struct usage *u = arg;
	int r = meta_usage(t, &u->inodes, &u->blocks, &u->next_ino);
	return r < 0 ? r : layout_usage_txn(t, &u->objects, &u->obj_bytes);
}

static int parse_url_cmd(int argc, char **argv, const char *usage,
			 const char **coord, int *flag, const char *flag_name)
{
	static const struct option opts[] = {
		{"coord", required_argument, NULL, 'c'},
		{"repair", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'c')
			*coord = optarg;
		else if (ch == 'r' && flag_name)
			*flag = 1;
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

/* A JSON string of text that may hold bytes that are not UTF-8 (a
 * mount point's name): those become '?'. */
static json_t *text_json(const char *text)
{
	json_t *j = json_string(text);
	if (j)
		return j;
	char *copy = strdup(text);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static int json_mount(void *arg, const struct coord_mount_info *mi)
{
	json_t *o = json_pack("{s:o, s:i, s:o, s:I, s:o}", "host",
			      text_json(mi->host), "pid", (int)mi->pid,
			      "mountpoint", text_json(mi->mountpoint), "since",
			      (json_int_t)mi->since, "version",
			      text_json(mi->version));
	if (!o || json_array_append_new(arg, o) < 0)
		return -ENOMEM;
	return 0;
}

static void iso_time(int64_t secs, char *out, size_t len)
{
	time_t t = (time_t)secs;
	struct tm tm;
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

/* status --json: one object, keys documented in docs/status-json.md. */
static int print_status_json(struct store *s, struct meta *m, struct coord *c,
			     const struct usage *u)
{
	const struct meta_super *sb = meta_super(m);
	char created[32];
	iso_time(sb->created, created, sizeof(created));
	json_t *mounts = json_array();
	json_t *o = json_pack(
		"{s:i, s:o, s:s, s:i, s:i, s:I, s:s, s:I, s:I, s:I, s:I}",
		"status_version", 1, "filesystem", text_json(s->url), "uuid", sb->uuid,
		"format", (int)sb->format, "block_size", (int)sb->block_size,
		"created", (json_int_t)sb->created, "created_utc", created,
		"inodes_used", (json_int_t)u->inodes, "bytes_used",
		(json_int_t)(u->blocks * sb->block_size), "blocks_used",
		(json_int_t)u->blocks, "next_inode", (json_int_t)u->next_ino);
	if (!o || !mounts) {
		json_decref(o);
		json_decref(mounts);
		return -ENOMEM;
	}
	int r = coord_list_mounts(c, json_mount, mounts);
	if (r < 0) {
		json_decref(mounts);
		json_object_set_new(o, "mounted", json_null());
		json_object_set_new(o, "mounts", json_null());
		json_object_set_new(o, "mounts_error", json_string(strerror(-r)));
	} else {
		json_object_set_new(o, "mounted",
				    json_boolean(json_array_size(mounts) > 0));
		json_object_set_new(o, "mounts", mounts);
	}
	if (sb->data_url[0]) {
		json_object_set_new(o, "data_tier", text_json(sb->data_url));
		json_object_set_new(o, "data_objects",
				    json_integer((json_int_t)u->objects));
		json_object_set_new(o, "data_bytes",
				    json_integer((json_int_t)u->obj_bytes));
	} else {
		json_object_set_new(o, "data_tier", json_null());
	}
	uint64_t orphans = 0;
	if (meta_read(m, count_orphans_txn, &orphans) == 0)
		json_object_set_new(o, "orphans", json_integer((json_int_t)orphans));
	char warn[ERRLEN];
	json_object_set_new(o, "durability_warning",
			    store_durability(s, warn, sizeof(warn)) > 0
				    ? text_json(warn)
				    : json_null());
	static struct session_list l;
	json_t *recs = json_array();
	if (recs && meta_read(m, sessions_txn, &l) == 0) {
		for (int i = 0; i < l.n; i++) {
			json_t *rec = json_pack(
				"{s:o, s:i, s:o, s:I, s:b}", "host",
				text_json(l.m[i].host), "pid", (int)l.m[i].pid,
				"mountpoint", text_json(l.m[i].mountpoint), "seen",
				(json_int_t)l.m[i].seen, "ended",
				(int64_t)time(NULL) - l.m[i].seen > SESSION_STALE);
			if (rec)
				json_array_append_new(recs, rec);
		}
		json_object_set_new(o, "mount_records", recs);
	} else {
		json_decref(recs);
	}
	r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
	return r < 0 ? -EIO : 0;
}

/* A ring data tier's per-device view (data_ring.h). */
static int status_ring_tier(const char *url, int json)
{
	char err[1024] = "";
	json_t *st = data_ring_status_json(url, err, sizeof(err));
	if (!st) {
		die_msg("status", "%s", err);
		return 1;
	}
	if (json) {
		json_dumpf(st, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		data_ring_status_print(st, stdout);
	}
	json_decref(st);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"coord", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	const char *coord_url = NULL;
	int json = 0, ch, r;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'c')
			coord_url = optarg;
		else if (ch == 'j')
			json = 1;
		else if (ch == 'h') {
			fputs(status_usage, stdout);
			return 0;
		} else {
			fputs(status_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(status_usage, stderr);
		return 2;
	}
	const char *url = argv[optind];
	if (!strncmp(url, "ring:", 5))
		return status_ring_tier(url, json);
	struct store *s;
	struct meta *m;
	struct coord *c;
	if (open_fs("status", url, coord_url, &s, &m, &c) < 0)
		return 1;
	const struct meta_super *sb = meta_super(m);
	struct usage u;
	if ((r = meta_read(m, usage_txn, &u)) < 0) {
		die_msg("status", "cannot read usage of %s: %s", url, strerror(-r));
		close_fs(s, m, c);
		return 1;
	}
	if (json) {
		r = print_status_json(s, m, c, &u);
		close_fs(s, m, c);
		if (r < 0)
			die_msg("status", "cannot write JSON: %s", strerror(-r));
		return r < 0;
	}
	char when[64];
	time_t t = (time_t)sb->created;
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	printf("filesystem   %s\n", s->url); /* the engine's form: no password */
	printf("uuid         %s\n", sb->uuid);
	printf("format       %u\n", sb->format);
	printf("block size   %u\n", sb->block_size);
	printf("created      %s\n", when);
	printf("inodes used  %llu\n", (unsigned long long)u.inodes);
	printf("bytes used   %llu (%llu blocks)\n",
	       (unsigned long long)(u.blocks * sb->block_size),
	       (unsigned long long)u.blocks);
	if (sb->data_url[0])
		printf("data tier    %s: %llu objects, %llu bytes%s\n",
		       sb->data_url, (unsigned long long)u.objects,
		       (unsigned long long)u.obj_bytes,
		       sb->migrating ? " (migrate-data not finished: run it "
				       "again)" : "");
	else
		printf("data tier    none: blocks in the store (format 1; "
		       "'cassafs migrate-data' moves them)\n");
	uint64_t orphans = 0;
	if (meta_read(m, count_orphans_txn, &orphans) == 0)
		printf("orphans      %llu (unlinked, still open on a mount)\n",
		       (unsigned long long)orphans);
	char warn[ERRLEN];
	if (store_durability(s, warn, sizeof(warn)) > 0)
		printf("durability   warning: %s\n", warn);
	int mounts = 0;
	if ((r = coord_list_mounts(c, print_mount, &mounts)) < 0)
		printf("mounted      unknown (%s)\n", strerror(-r));
	else if (!mounts)
		printf("mounted      no\n");
	static struct session_list l;
	if (meta_read(m, sessions_txn, &l) == 0)
		for (int i = 0; i < l.n; i++) {
			long ago = (long)((int64_t)time(NULL) - l.m[i].seen);
			printf("mount record host %s pid %d at %s, seen %ld s ago%s\n",
			       l.m[i].host, (int)l.m[i].pid, l.m[i].mountpoint, ago,
			       ago > SESSION_STALE ? " (ended without unmounting)"
						   : "");
		}
	if (l.more)
		printf("mount record %d more not shown\n", l.more);
	close_fs(s, m, c);
	return 0;
}

/* ---- fsck ---- */

static const char fsck_usage[] =
	"usage: cassafs fsck [--repair] [--coord URL] URL\n"
	"\n"
	"Check the filesystem: dangling entries, wrong link counts, orphans,\n"
	"blocks past end of file, unreachable inodes, usage counters; with a\n"
	"data tier, objects referenced but missing, objects nothing refers\n"
	"to, and reference counts.\n"
	"--repair fixes them (refused while the filesystem is mounted).\n"
	"Exit status: 0 clean, 1 problems repaired, 4 problems left,\n"
	"8 the check could not run.  Progress goes to stderr when it is a\n"
	"terminal.\n";

/*
 * The data tier against the references: objects referenced but missing
 * (their ranges read as EIO), objects nothing refers to (left by a crash
 * between upload and commit: 'cassafs gc' deletes them; not counted as a
 * problem, like orphans), and reference counts that differ from the
 * slices (repaired).
 */
static int fsck_data(struct meta *m, int repair, struct fsck_report *rep)
{
	char err[ERRLEN];
	struct layout *l;
	struct data_opts o = {.secrets_file = getenv("CASSAFS_DATA_SECRETS")};
	int r = layout_open(m, meta_super(m)->data_url, &o, &l, err, sizeof(err));
	if (r < 0) {
		printf("cannot open the data tier: %s\n", err);
		return r;
	}
	struct layout_gc_report g;
	r = layout_check(l, repair, &g);
	layout_close(l);
	if (r < 0)
		return r;
	if (g.missing) {
		printf("%llu referenced objects are missing from the data tier "
		       "%s (their bytes are lost)\n",
		       (unsigned long long)g.missing, meta_super(m)->data_url);
		rep->problems += g.missing;
	}
	if (g.bad_refs) {
		printf("%llu objects have a wrong reference count%s\n",
		       (unsigned long long)g.bad_refs, repair ? " (repaired)" : "");
		rep->problems += g.bad_refs;
		if (repair)
			rep->repaired += g.bad_refs;
	}
	printf("data tier %s: %llu objects, %llu bytes referenced",
	       meta_super(m)->data_url, (unsigned long long)g.objects,
	       (unsigned long long)g.bytes);
	if (g.leaked)
		printf("; %llu objects (%llu bytes) without references "
		       "('cassafs gc' deletes them)",
		       (unsigned long long)g.leaked,
		       (unsigned long long)g.leaked_bytes);
	printf("\n");
	return 0;
}

int cmd_fsck(int argc, char **argv)
{
	const char *coord_url = NULL;
	int repair = 0;
	int r = parse_url_cmd(argc, argv, fsck_usage, &coord_url, &repair, "repair");
	if (r >= 0)
		return r == 2 ? 8 : r;
	const char *url = argv[optind];
	struct store *s;
	struct meta *m;
	struct coord *c;
	if (open_fs("fsck", url, coord_url, &s, &m, &c) < 0)
		return 8;
	int mounts = 0;
	if ((r = coord_list_mounts(c, count_mount, &mounts)) < 0) {
		die_msg("fsck", "cannot tell whether %s is mounted (%s); not "
				"checking", url, strerror(-r));
		close_fs(s, m, c);
		return 8;
	}
	if (mounts && repair) {
		die_msg("fsck", "%s is mounted; unmount it before --repair", url);
		close_fs(s, m, c);
		return 8;
	}
	if (mounts)
		fprintf(stderr, "cassafs fsck: warning: %s is mounted; results "
				"may be out of date\n", url);
	struct fsck_report rep;
	fsck_set_progress(isatty(2));
	r = fsck_run(m, repair, stdout, &rep);
	if (r == 0 && meta_super(m)->data_url[0])
		r = fsck_data(m, repair, &rep);
	close_fs(s, m, c);
	if (r < 0) {
		die_msg("fsck", "cannot check %s: %s", url, strerror(-r));
		return 8;
	}
	printf("%llu inodes (%llu directories, %llu files), %llu blocks; "
	       "%llu problems, %llu repaired",
	       rep.inodes, rep.dirs, rep.files, rep.blocks, rep.problems,
	       rep.repaired);
	if (rep.orphans)
		printf("; %llu unlinked-but-open inodes %s", rep.orphans,
		       repair ? "reclaimed" : "to reclaim at the next mount");
	printf("\n");
	if (rep.problems == 0)
		return 0;
	return rep.repaired >= rep.problems ? 1 : 4;
}

/* ---- shared with the other command files (dump_cli.c) ---- */

int cli_open_fs(const char *cmd, const char *url, const char *coord_url,
		struct store **s, struct meta **m, struct coord **c)
{
	return open_fs(cmd, url, coord_url, s, m, c);
}

void cli_close_fs(struct store *s, struct meta *m, struct coord *c)
{
	close_fs(s, m, c);
}

int cli_default_coord_url(const char *store_url, char *out, size_t len)
{
	return default_coord_url(store_url, out, len);
}
