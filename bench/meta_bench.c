/*
 * meta_bench: single-threaded metadata rates over N files in one directory.
 *
 *   meta_bench [-n FILES] [-o OPS] [-k] DIR
 *
 * Works in a fresh subdirectory DIR/mb.<pid> so that readdir sees exactly
 * the files this run created, and removes it afterwards (unless -k).
 * Phases, in this order, each over all N names:
 *
 *   create   open(O_CREAT|O_EXCL|O_WRONLY) + close     f0000000…
 *   stat     stat()
 *   open     open(O_RDONLY) + close of an existing file
 *   readdir  full listing of the directory, repeated until >= 0.25 s;
 *            the rate is entries/s and every pass must see all N entries
 *   rename   f… -> g… in the same directory
 *   unlink   g…
 *   mkdir    d0000000…
 *   rmdir    d…
 *
 * and only when asked for with -o (run after open, before readdir):
 *
 *   lookup   open(O_PATH) + close: the kernel resolves the name (a FUSE
 *            LOOKUP unless its entry cache answers) but sends no OPEN or
 *            RELEASE, so this is the cost of resolving one name
 *   getattr  fstat() of an O_PATH descriptor (a FUSE GETATTR unless the
 *            attribute cache answers); the open and close are not timed
 *
 * One line per phase on stdout, key=value, for scripts:
 *
 *   meta_bench op=create n=10000 secs=0.143210 rate=69827.1 unit=ops/s
 *
 * -x CMD runs CMD with /bin/sh once before the first timed phase and after
 * every phase, with MB_PHASE set to "start" or the phase just ended and
 * the work directory as the current one, so that a script can read
 * server-side counters per phase (run_dist.sh does); it is outside the
 * timed parts, and a CMD that fails stops the run.
 *
 * -w NAME works in DIR/NAME, made unless it exists, and kept: several runs
 * at once (from several mounts) share one directory, each with its pid in
 * its names; readdir is refused there (it would count the others' names).
 *
 * -o create,stat,… runs a subset (a phase that needs files creates them
 * untimed first); -k keeps the directory and whatever the last phase left
 * (used by rss_check.sh to leave a million files behind).  Any failure
 * prints the file and the errno text and exits 1: a benchmark that
 * silently skips errors measures nothing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OP_CREATE, OP_STAT, OP_OPEN, OP_READDIR, OP_RENAME, OP_UNLINK,
       OP_MKDIR, OP_RMDIR, OP_LOOKUP, OP_GETATTR, OP_COUNT };
/* the operations run when -o is not given */
#define OP_DEFAULT_COUNT OP_LOOKUP

static const char *op_names[OP_COUNT] = {
	"create", "stat", "open", "readdir", "rename", "unlink", "mkdir", "rmdir",
	"lookup", "getattr",
};

static char workdir[4096];
static const char *hook;	/* -x CMD */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die_errno(const char *what, const char *name)
{
	fprintf(stderr, "meta_bench: %s %s/%s: %s\n", what, workdir, name,
		strerror(errno));
	exit(1);
}

static char tag[16]; /* -w: this run's names carry its pid */

static void name_of(char *buf, char prefix, long i)
{
	snprintf(buf, 48, "%c%s%07ld", prefix, tag, i);
}

static void run_hook(const char *phase)
{
	if (!hook)
		return;
	fflush(stdout);
	setenv("MB_PHASE", phase, 1);
	int rc = system(hook);
	if (rc != 0) {
		fprintf(stderr, "meta_bench: -x '%s' failed after phase %s "
			"(status %d)\n", hook, phase, rc);
		exit(1);
	}
}

static void report(int op, long n, double secs, const char *unit)
{
	printf("meta_bench op=%s n=%ld secs=%.6f rate=%.1f unit=%s\n",
	       op_names[op], n, secs, secs > 0 ? n / secs : 0.0, unit);
	fflush(stdout);
	run_hook(op_names[op]);
}

static void do_create(long n, char prefix)
{
	char name[48];
	for (long i = 0; i < n; i++) {
		name_of(name, prefix, i);
		int fd = open(name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			die_errno("create", name);
		if (close(fd) < 0)
			die_errno("close", name);
	}
}

static void do_stat(long n, char prefix)
{
	char name[48];
	struct stat st;
	for (long i = 0; i < n; i++) {
		name_of(name, prefix, i);
		if (stat(name, &st) < 0)
			die_errno("stat", name);
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "meta_bench: stat %s/%s: not a regular file "
				"(mode %o)\n", workdir, name, st.st_mode);
			exit(1);
		}
	}
}

static void do_open(long n, char prefix)
{
	char name[48];
	for (long i = 0; i < n; i++) {
		name_of(name, prefix, i);
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die_errno("open", name);
		if (close(fd) < 0)
			die_errno("close", name);
	}
}

static void do_lookup(long n, char prefix)
{
	char name[48];
	for (long i = 0; i < n; i++) {
		name_of(name, prefix, i);
		int fd = open(name, O_PATH | O_CLOEXEC);
		if (fd < 0)
			die_errno("lookup (open O_PATH)", name);
		if (close(fd) < 0)
			die_errno("close", name);
	}
}

/* Returns the seconds spent in fstat() alone. */
static double do_getattr(long n, char prefix)
{
	char name[48];
	struct stat st;
	double secs = 0;
	for (long i = 0; i < n; i++) {
		name_of(name, prefix, i);
		int fd = open(name, O_PATH | O_CLOEXEC);
		if (fd < 0)
			die_errno("open O_PATH", name);
		double t = now();
		if (fstat(fd, &st) < 0)
			die_errno("fstat", name);
		secs += now() - t;
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "meta_bench: fstat %s/%s: not a regular file "
				"(mode %o)\n", workdir, name, st.st_mode);
			exit(1);
		}
		close(fd);
	}
	return secs;
}

/* One full listing; returns the number of entries other than . and .. */
static long list_once(void)
{
	DIR *d = opendir(".");
	if (!d)
		die_errno("opendir", ".");
	long count = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			count++;
		errno = 0;
	}
	if (errno)
		die_errno("readdir", ".");
	closedir(d);
	return count;
}

/* A single listing of 10,000 entries takes only milliseconds on ext4, too
 * short to time well, so repeat it for at least 0.25 s (at most 1000 passes). */
static void do_readdir(long n, long *entries, double *secs)
{
	double t0 = now(), t;
	long total = 0;
	int passes = 0;
	do {
		long c = list_once();
		if (c != n) {
			fprintf(stderr, "meta_bench: readdir %s: listed %ld entries, "
				"expected %ld\n", workdir, c, n);
			exit(1);
		}
		total += c;
		passes++;
		t = now();
	} while (t - t0 < 0.25 && passes < 1000);
	*entries = total;
	*secs = t - t0;
}

static void do_rename(long n, char from, char to)
{
	char a[32], b[32];
	for (long i = 0; i < n; i++) {
		name_of(a, from, i);
		name_of(b, to, i);
		if (rename(a, b) < 0)
			die_errno("rename", a);
	}
}

static void do_unlink(long n, char prefix)
{
	char name[48];
	for (long i = 0; i < n; i++) {
		name_of(name, prefix, i);
		if (unlink(name) < 0)
			die_errno("unlink", name);
	}
}

static void do_mkdir(long n)
{
	char name[48];
	for (long i = 0; i < n; i++) {
		name_of(name, 'd', i);
		if (mkdir(name, 0755) < 0)
			die_errno("mkdir", name);
	}
}

static void do_rmdir(long n)
{
	char name[48];
	for (long i = 0; i < n; i++) {
		name_of(name, 'd', i);
		if (rmdir(name) < 0)
			die_errno("rmdir", name);
	}
}

static int parse_ops(const char *list, int *want)
{
	char *copy = strdup(list), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int found = 0;
		for (int op = 0; op < OP_COUNT; op++)
			if (!strcmp(tok, op_names[op]))
				want[op] = found = 1;
		if (!found) {
			fprintf(stderr, "meta_bench: unknown operation '%s' "
				"(known: create,stat,open,readdir,rename,unlink,"
				"mkdir,rmdir,lookup,getattr)\n", tok);
			free(copy);
			return -1;
		}
	}
	free(copy);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: meta_bench [-n FILES] [-o OPS] [-k] [-x CMD] DIR\n"
		"  Measures single-threaded metadata rates in a new subdirectory of DIR.\n"
		"  -n FILES  number of files (default 10000)\n"
		"  -o OPS    comma-separated subset of create,stat,open,readdir,rename,\n"
		"            unlink,mkdir,rmdir (default: these eight) and lookup,\n"
		"            getattr (only when named)\n"
		"  -k        keep the work directory and its files\n"
		"  -w NAME   work in DIR/NAME, shared with other runs (names carry the\n"
		"            pid; the directory is kept; no readdir)\n"
		"  -x CMD    run CMD (sh) before the first phase and after each, with\n"
		"            MB_PHASE=start or the phase just ended\n"
		"  Output: one line per operation,\n"
		"  'meta_bench op=NAME n=COUNT secs=S rate=R unit=ops/s|entries/s'\n");
}

int main(int argc, char **argv)
{
	long n = 10000;
	int want[OP_COUNT] = { 0 }, any = 0, keep = 0, c;
	const char *shared = NULL;

	while ((c = getopt(argc, argv, "n:o:x:w:kh")) != -1) {
		switch (c) {
		case 'n': {
			char *end;
			n = strtol(optarg, &end, 10);
			if (*end || n <= 0 || n > 9999999) {
				fprintf(stderr, "meta_bench: -n %s: not a count between 1 "
					"and 9999999\n", optarg);
				return 2;
			}
			break;
		}
		case 'o':
			if (parse_ops(optarg, want) < 0)
				return 2;
			break;
		case 'x':
			hook = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'w':
			if (!*optarg || strchr(optarg, '/')) {
				fprintf(stderr, "meta_bench: -w %s: a name, not a path\n", optarg);
				return 2;
			}
			shared = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	for (int op = 0; op < OP_COUNT; op++)
		any |= want[op];
	if (!any)
		for (int op = 0; op < OP_DEFAULT_COUNT; op++)
			want[op] = 1;

	/* a reader that stops early (| head) must not leave the files behind */
	signal(SIGPIPE, SIG_IGN);
	if (shared && want[OP_READDIR]) {
		fprintf(stderr, "meta_bench: -w: readdir would count other runs' names\n");
		return 2;
	}
	if (shared) {
		snprintf(tag, sizeof tag, "%ld-", (long)getpid());
		snprintf(workdir, sizeof workdir, "%s/%s", argv[optind], shared);
	} else {
		snprintf(workdir, sizeof workdir, "%s/mb.%ld", argv[optind], (long)getpid());
	}
	if (mkdir(workdir, 0755) < 0 && !(shared && errno == EEXIST)) {
		fprintf(stderr, "meta_bench: mkdir %s: %s\n", workdir, strerror(errno));
		return 1;
	}
	if (chdir(workdir) < 0) {
		fprintf(stderr, "meta_bench: chdir %s: %s\n", workdir, strerror(errno));
		return 1;
	}

	/* state: which prefix the files currently carry ('f', 'g' or none) */
	char files = 0;
	double t;
	int need_files = want[OP_STAT] || want[OP_OPEN] || want[OP_READDIR] ||
			 want[OP_RENAME] || want[OP_UNLINK] || want[OP_LOOKUP] ||
			 want[OP_GETATTR];

	if (want[OP_CREATE]) {
		run_hook("start");
		t = now();
		do_create(n, 'f');
		report(OP_CREATE, n, now() - t, "ops/s");
		files = 'f';
	} else {
		if (need_files) {
			do_create(n, 'f');
			files = 'f';
		}
		run_hook("start");
	}
	if (want[OP_STAT]) {
		t = now();
		do_stat(n, files);
		report(OP_STAT, n, now() - t, "ops/s");
	}
	if (want[OP_OPEN]) {
		t = now();
		do_open(n, files);
		report(OP_OPEN, n, now() - t, "ops/s");
	}
	if (want[OP_LOOKUP]) {
		t = now();
		do_lookup(n, files);
		report(OP_LOOKUP, n, now() - t, "ops/s");
	}
	if (want[OP_GETATTR])
		report(OP_GETATTR, n, do_getattr(n, files), "ops/s");
	if (want[OP_READDIR]) {
		long entries;
		double secs;
		do_readdir(n, &entries, &secs);
		report(OP_READDIR, entries, secs, "entries/s");
	}
	if (want[OP_RENAME]) {
		t = now();
		do_rename(n, files, 'g');
		report(OP_RENAME, n, now() - t, "ops/s");
		files = 'g';
	}
	if (want[OP_UNLINK]) {
		t = now();
		do_unlink(n, files);
		report(OP_UNLINK, n, now() - t, "ops/s");
		files = 0;
	}
	if (want[OP_MKDIR] || want[OP_RMDIR]) {
		t = now();
		do_mkdir(n);
		if (want[OP_MKDIR])
			report(OP_MKDIR, n, now() - t, "ops/s");
		if (want[OP_RMDIR] || !keep) {
			t = now();
			do_rmdir(n);
			if (want[OP_RMDIR])
				report(OP_RMDIR, n, now() - t, "ops/s");
		}
	}
	if (keep)
		return 0;

	if (files)
		do_unlink(n, files);
	if (shared)
		return 0;
	/* by its own name: workdir may be relative to where we started */
	if (chdir("..") < 0 || rmdir(strrchr(workdir, '/') + 1) < 0) {
		fprintf(stderr, "meta_bench: rmdir %s: %s\n", workdir, strerror(errno));
		return 1;
	}
	return 0;
}
